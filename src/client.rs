//! The client: URL building, a fresh `random` per request, the request/response cycle, the
//! deadline, retries and the shared rate limiter.
//!
//! One call goes like this:
//!
//! 1. the arguments are checked ([`crate::validate`]); a bad one is [`ErrorKind::InvalidArgument`]
//!    and nothing is sent;
//! 2. for each attempt: wait for the rate limiter (never past the deadline), pick a fresh
//!    `random`, take the current UserSig (signed and cached by the client when it holds the key),
//!    `POST {base_url}/v4/{service}/{command}?sdkappid=…&identifier=…&usersig=…&random=…&contenttype=json`
//!    with a compact JSON body, and read the answer with [`parse_response`];
//! 3. a failure is retried as [`RetryPolicy`] says, while the deadline allows.
//!
//! Time: the connect timeout applies to each connection, the per-attempt timeout to each
//! request (cut to what is left of the deadline), and the deadline to the whole call: limiter
//! waits, attempts and backoff sleeps together. A wait that would end past the deadline is not
//! started: the call returns the last error at once.
//!
//! Each attempt logs one `debug` line to the `log` target `"timrest"` (command, random, outcome,
//! elapsed). No URL, message or log line carries the UserSig or the key: URLs are shown with
//! `usersig=<redacted>` ([`redact_usersig`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Auth, ClientBuilder, Config, Defaults, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::limit::{Denied, Lane, Limiter};
use crate::observe::{Event, EventKind, Stats, Telemetry};
pub use crate::redact::redact_usersig;
use crate::retry::{Decision, RetryPolicy};
use crate::transport::{PLACEHOLDER, from_ureq, is_timeout, percent_encode, with_usersig};
use crate::usersig::Signer;

/// The service of `delete_group_msg_by_sender` and of the group commands.
const GROUP_SERVICE: &str = "group_open_http_svc";
/// How much of a body an error message quotes.
const SNIPPET_CHARS: usize = 120;

/// One `delete_group_msg_by_sender` request: a group, a sender, and optionally a topic.
///
/// It serializes as the request body TIM expects ([`DeleteBySender::to_body`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct DeleteBySender {
    /// The group (`GroupId`).
    #[serde(rename = "GroupId")]
    pub group_id: String,
    /// The UserID whose messages go (`Sender_Account`).
    #[serde(rename = "Sender_Account")]
    pub sender: String,
    /// A topic of a topic-enabled Community group (`TopicId`).
    #[serde(rename = "TopicId", skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
}

impl DeleteBySender {
    /// A request for `sender`'s messages in `group_id`.
    pub fn new(group_id: impl Into<String>, sender: impl Into<String>) -> DeleteBySender {
        DeleteBySender { group_id: group_id.into(), sender: sender.into(), topic_id: None }
    }

    /// Restricts the deletion to one topic.
    pub fn topic(mut self, topic_id: impl Into<String>) -> DeleteBySender {
        self.topic_id = Some(topic_id.into());
        self
    }

    /// Checks the request as the client does before sending it ([`crate::validate::delete_by_sender`]).
    pub fn validate(&self) -> Result<()> {
        crate::validate::delete_by_sender(&self.group_id, &self.sender, self.topic_id.as_deref())
    }

    /// The JSON body sent to TIM (`GroupId`, `Sender_Account`, and `TopicId` when set).
    pub fn to_body(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// What a successful call cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallInfo {
    /// The `random` of the attempt that succeeded.
    pub random: u32,
    /// Requests sent (1 when the first attempt succeeded).
    pub attempts: u32,
    /// Time spent, waits and retries included.
    pub elapsed: Duration,
}

/// A TIM REST client. `Send + Sync`, cheap to clone (clones share the connection pool, the
/// signer and the rate limiter).
///
/// Create one per process and share it between threads; create it after `fork()`, not before
/// (the connection pool must not be shared between processes).
///
/// ```no_run
/// let client = timrest::Client::builder()
///     .sdkappid(1400000000)
///     .secret_key("your secret key")
///     .build()?;
/// client.delete_group_msg_by_sender("@TGS#2C5SZEAEF", "leckie")?;
/// # Ok::<(), timrest::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// What the clones of one client share.
/// How the client gets the UserSig of each request.
enum Credentials {
    /// Signs (and caches, and renews) its own with the secret key.
    Signer(Signer),
    /// A ready UserSig, sent as is.
    UserSig(Secret),
}

struct Inner {
    config: Config,
    /// The connection pool of the process that built the client.
    agent: ureq::Agent,
    /// That process's [`crate::fork::generation`]: a call from a forked child must not use the
    /// parent's pooled connections, which the child shares with it.
    generation: u64,
    /// The pool of the current process when it is not the one that built the client.
    forked: std::sync::Mutex<Option<(u64, ureq::Agent)>>,
    /// `?sdkappid=…&identifier=…&usersig=<placeholder>&random=`: the part of every request URL
    /// that only the client's settings decide, encoded once.
    query: String,
    credentials: Credentials,
    limiter: Option<Limiter>,
    policy: RetryPolicy,
    /// The counters and observers (shared with the limiter).
    telemetry: Arc<Telemetry>,
}

impl Client {
    /// A builder with every setting at its default.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client from checked settings.
    ///
    /// The settings are checked again (they are public fields): a zero timeout, a bad rate, plain
    /// `http://` to a host other than loopback, or a bad CA bundle or proxy are
    /// [`ErrorKind::Config`] errors.
    pub fn new(config: Config) -> Result<Client> {
        let config = config.check()?;
        let agent = crate::transport::agent(&config)?;
        let telemetry = Arc::new(Telemetry::new(&config.base_url, config.observer.clone()));
        let limiter = Limiter::from_config(&config, &telemetry)?;
        let credentials = match &config.auth {
            Auth::SecretKey(key) => Credentials::Signer(Signer::new(
                config.sdkappid,
                key.clone(),
                config.identifier.clone(),
                config.usersig_ttl,
            )),
            Auth::UserSig(sig) => Credentials::UserSig(sig.clone()),
        };
        let inner = Inner {
            agent,
            generation: crate::fork::generation(),
            forked: std::sync::Mutex::new(None),
            query: query(config.sdkappid, &config.identifier),
            credentials,
            limiter,
            policy: RetryPolicy::new(config.max_retries),
            telemetry,
            config,
        };
        Ok(Client { inner: Arc::new(inner) })
    }

    /// A client from the `TIM_*` environment variables.
    pub fn from_env() -> Result<Client> {
        ClientBuilder::from_env()?.build()
    }

    /// The settings this client runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The rate in force for `delete_group_msg_by_sender` now, requests per second: the configured
    /// `rate_limit`, less after the server refused requests for their rate (with a shared limiter,
    /// the fleet's rate, read from Redis). `None` when the limiter is off.
    pub fn effective_rate_limit(&self) -> Option<f64> {
        self.effective_rate_limit_of(GROUP_SERVICE, "delete_group_msg_by_sender")
    }

    /// [`Client::effective_rate_limit`] for any command's lane.
    pub fn effective_rate_limit_of(&self, service: &str, command: &str) -> Option<f64> {
        self.inner.limiter.as_ref().map(|l| l.rate(Lane { service, command }))
    }

    /// The counters of this client and its clones since it was built: calls, attempts, retries,
    /// rate-limit answers, limiter waits, the shared limiter's state. Cheap (atomic loads; with a
    /// shared limiter, `effective_rate_limit` asks Redis once, within `rate_limit_timeout`).
    pub fn stats(&self) -> Stats {
        let mut stats = self.inner.telemetry.snapshot();
        stats.effective_rate_limit = self.effective_rate_limit();
        stats
    }

    /// Sets (or with `None` removes) an observer besides the config's one, while the client runs:
    /// the C face's `timrest_set_event_callback`.
    pub(crate) fn set_observer(&self, observer: Option<Arc<dyn crate::Observer>>) {
        self.inner.telemetry.set_extra(observer);
    }

    /// The retry policy this client follows.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.policy
    }

    /// Deletes the messages `sender` sent among the latest 1000 of `group_id`.
    pub fn delete_group_msg_by_sender(&self, group_id: &str, sender: &str) -> Result<()> {
        self.delete_by_sender(&DeleteBySender::new(group_id, sender)).map(|_| ())
    }

    /// Deletes by sender, with the optional topic; returns what the call cost.
    ///
    /// A bad argument is an [`ErrorKind::InvalidArgument`] error and nothing is sent.
    pub fn delete_by_sender(&self, request: &DeleteBySender) -> Result<CallInfo> {
        request.validate()?;
        // Serialized straight from the request (no JSON tree in between); strings always serialize.
        let body = serde_json::to_vec(request).map_err(|e| Error::invalid_argument(format!("body: {e}")))?;
        // The answer of a deletion says nothing but its code: checked, not kept.
        self.execute(GROUP_SERVICE, "delete_group_msg_by_sender", &body, check_success).map(|((), info)| info)
    }

    /// Any TIM REST command: `POST /v4/{service}/{command}` with `body`; the whole answer on success.
    ///
    /// The body is sent as given (TIM expects a JSON object). Retries, the deadline and the rate
    /// limiter apply as for every call; only retry commands that are safe to repeat. `service` and
    /// `command` are Tencent's words (`[A-Za-z0-9_]+`); anything else, `..` included, is
    /// [`ErrorKind::InvalidArgument`] and nothing is sent.
    pub fn call(
        &self,
        service: &str,
        command: &str,
        body: &serde_json::Value,
    ) -> Result<(serde_json::Value, CallInfo)> {
        for (name, value) in [("service", service), ("command", command)] {
            if value.is_empty() || value.len() > 64 || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(Error::invalid_argument(format!(
                    "{name} {:?} must be 1 to 64 of Tencent's command characters: A-Z a-z 0-9 _",
                    crate::error::shown(value)
                )));
            }
        }
        let body = serde_json::to_vec(body).map_err(|e| Error::invalid_argument(format!("body: {e}")))?;
        self.execute(service, command, &body, parse_response)
    }

    /// One call: the attempt loop, then its end counted and reported.
    fn execute<T>(
        &self,
        service: &str,
        command: &str,
        body: &[u8],
        read: fn(u16, &[u8]) -> Result<T>,
    ) -> Result<(T, CallInfo)> {
        let start = Instant::now();
        #[cfg(feature = "metrics")]
        crate::observe::metrics::call_started(service, command);
        #[cfg(feature = "tracing")]
        let span = {
            let (address, port) = self.inner.telemetry.server();
            crate::observe::tracing::call_span(service, command, address, port)
        };
        #[cfg(feature = "tracing")]
        let _entered = span.enter();
        let outcome = self.attempts(service, command, body, read, start);
        let mut e = Event::new(EventKind::Call, service, command);
        e.duration = Some(start.elapsed());
        match &outcome {
            Ok((_, info)) => {
                e.attempt = Some(info.attempts);
                e.http_status = Some(200);
                e.code = Some(0);
                e.random = Some(info.random);
            }
            Err(error) => {
                e.attempt = Some(error.attempts());
                e.http_status = error.http_status().or(error.code().map(|_| 200));
                e.code = error.code();
                e.error_kind = Some(error.kind());
                e.random = error.random();
            }
        }
        #[cfg(feature = "tracing")]
        crate::observe::tracing::finish(&span, &e);
        self.inner.telemetry.called(e);
        outcome
    }

    /// The attempt loop: limiter, attempt, retry decision, deadline. `read` turns a status and
    /// body into the answer ([`parse_response`], or a cheaper check when only success matters).
    fn attempts<T>(
        &self,
        service: &str,
        command: &str,
        body: &[u8],
        read: fn(u16, &[u8]) -> Result<T>,
        start: Instant,
    ) -> Result<(T, CallInfo)> {
        let inner = &*self.inner;
        let cfg = &inner.config;
        let telemetry = &*inner.telemetry;
        let deadline = start.checked_add(cfg.deadline);
        let mut attempts = 0u32;
        let mut resigned = false;
        let mut last_error: Option<Error> = None;
        let lane = Lane { service, command };
        #[cfg(feature = "tracing")]
        let mut waited = Duration::ZERO;

        loop {
            // The deadline also bounds the wait for the limiter; a refused wait ends the call now.
            if let Some(limiter) = &inner.limiter {
                let asked = Instant::now();
                let acquired = limiter.acquire(lane, deadline);
                #[cfg(feature = "tracing")]
                {
                    waited += asked.elapsed();
                    crate::observe::tracing::waited(&tracing::Span::current(), waited);
                }
                match &acquired {
                    Ok(()) => telemetry.limiter_waited(service, command, asked.elapsed(), limiter.backend_name()),
                    Err(denied) if telemetry.listening() => {
                        let mut e = Event::new(EventKind::LimiterRefused, service, command);
                        e.duration = Some(asked.elapsed());
                        e.limiter_backend = Some(limiter.backend_name());
                        e.error_kind = Some(match denied {
                            Denied::Deadline { .. } => ErrorKind::Timeout,
                            Denied::Error(error) => error.kind(),
                        });
                        telemetry.emit(e);
                    }
                    Err(_) => {}
                }
                match acquired {
                    Ok(()) => {}
                    Err(Denied::Deadline { wait }) => {
                        return Err(last_error.unwrap_or_else(|| {
                            Error::new(
                                ErrorKind::Timeout,
                                format!(
                                    "the rate limit ({}/s) allows no request before the {:?} deadline (next slot in {wait:?})",
                                    limiter.per_second(),
                                    cfg.deadline
                                ),
                            )
                            .with_elapsed(start.elapsed())
                        }));
                    }
                    Err(Denied::Error(e)) => return Err(e.with_attempts(attempts).with_elapsed(start.elapsed())),
                }
            }
            let remaining = deadline.map_or(cfg.timeout, |d| d.saturating_duration_since(Instant::now()));
            if remaining < Duration::from_millis(1) {
                return Err(last_error.unwrap_or_else(|| {
                    Error::new(ErrorKind::Timeout, format!("the {:?} deadline ran out", cfg.deadline))
                        .with_elapsed(start.elapsed())
                }));
            }
            let attempt_timeout = cfg.timeout.min(remaining);

            let random = fresh_random();
            let signed;
            let usersig: &str = match &inner.credentials {
                Credentials::Signer(signer) => {
                    signed = signer.current(crate::usersig::unix_now());
                    &signed
                }
                Credentials::UserSig(sig) => sig.expose(),
            };
            let url = request_url(&cfg.base_url, service, command, &inner.query, random);
            attempts += 1;
            #[cfg(feature = "tracing")]
            let attempt_span = {
                let (address, port) = telemetry.server();
                crate::observe::tracing::attempt_span(attempts, random, address, port)
            };
            let attempt_start = Instant::now();
            let outcome = {
                #[cfg(feature = "tracing")]
                let _entered = attempt_span.enter();
                with_usersig(usersig, || inner.attempt(&url, body, attempt_timeout, read))
            };
            let attempt_elapsed = attempt_start.elapsed();
            if crate::transport::take_opened() > 0 {
                telemetry.connection_opened(service, command, attempts);
            }
            // A server may echo what we sent, secrets included: the client knows them exactly.
            let outcome = outcome
                .map_err(|e| e.without(&[usersig, inner.secret_key()]).with_random(random).with_attempts(attempts));
            let mut e = Event::new(EventKind::Attempt, service, command);
            e.attempt = Some(attempts);
            e.duration = Some(attempt_elapsed);
            e.random = Some(random);
            match &outcome {
                Ok(_) => {
                    e.http_status = Some(200);
                    e.code = Some(0);
                }
                Err(error) => {
                    e.http_status = error.http_status().or(error.code().map(|_| 200));
                    e.code = error.code();
                    e.error_kind = Some(error.kind());
                }
            }
            #[cfg(feature = "tracing")]
            crate::observe::tracing::finish(&attempt_span, &e);
            telemetry.attempted(e);

            let error = match outcome {
                Ok(answer) => {
                    log::debug!(
                        target: "timrest",
                        "{service}/{command} attempt {attempts} random={random}: ok in {attempt_elapsed:?}"
                    );
                    return Ok((answer, CallInfo { random, attempts, elapsed: start.elapsed() }));
                }
                Err(e) => e,
            };
            // The server refused for its rate despite our limiter: slow the lane down (70050 is a
            // UserSig lockout, not a rate).
            if error.kind() == ErrorKind::RateLimited
                && error.code() != Some(70050)
                && let Some(limiter) = &inner.limiter
            {
                limiter.refused(lane);
            }

            let can_resign = matches!(inner.credentials, Credentials::Signer(_)) && !resigned;
            let mut decision = inner.policy.decide(error.kind(), attempts - 1, can_resign);
            if let Decision::Wait(delay) = decision {
                // Never sleep past the deadline: give up now instead.
                if deadline.is_some_and(|d| Instant::now() + delay >= d) {
                    decision = Decision::Stop;
                }
            }
            let next = match decision {
                Decision::Stop => "giving up".to_owned(),
                Decision::Resign => "signing a fresh UserSig and retrying".to_owned(),
                Decision::Wait(delay) => format!("retrying in {delay:?}"),
            };
            log::debug!(
                target: "timrest",
                "{service}/{command} attempt {attempts} random={random}: {} in {attempt_elapsed:?}; {next}",
                describe(&error)
            );
            match decision {
                Decision::Stop => return Err(error.with_elapsed(start.elapsed())),
                Decision::Resign => {
                    if let Credentials::Signer(signer) = &inner.credentials {
                        signer.invalidate();
                    }
                    resigned = true;
                }
                Decision::Wait(delay) => std::thread::sleep(delay),
            }
            last_error = Some(error.with_elapsed(start.elapsed()));
        }
    }
}

impl Inner {
    /// The secret key, or "" when the client holds a ready UserSig.
    fn secret_key(&self) -> &str {
        match &self.config.auth {
            Auth::SecretKey(key) => key.expose(),
            Auth::UserSig(_) => "",
        }
    }

    /// The connection pool for this process. A client used on both sides of a `fork()` would
    /// otherwise send the parent's and the child's requests on the same pooled sockets (their
    /// bodies interleave, answers go to the wrong side): a child gets a fresh pool of its own, once,
    /// transparently. (The check is one atomic load: [`crate::fork`].)
    fn agent(&self) -> std::borrow::Cow<'_, ureq::Agent> {
        let generation = crate::fork::generation();
        if generation == self.generation {
            return std::borrow::Cow::Borrowed(&self.agent);
        }
        let mut forked = self.forked.lock().unwrap_or_else(|p| p.into_inner());
        match &*forked {
            Some((owner, agent)) if *owner == generation => std::borrow::Cow::Owned(agent.clone()),
            _ => {
                // The config was checked when the client was built; building the same agent again
                // cannot fail differently, but if it does, the shared pool is still better than none.
                let agent = crate::transport::agent(&self.config).unwrap_or_else(|_| self.agent.clone());
                if let Some((_, old)) = forked.replace((generation, agent.clone())) {
                    // A grandparent's pool: its sockets belong to other processes too. Never closed
                    // here (a TLS close would write to them): leaked, once per fork.
                    std::mem::forget(old);
                }
                std::borrow::Cow::Owned(agent)
            }
        }
    }

    /// One request and its answer.
    fn attempt<T>(&self, url: &str, body: &[u8], timeout: Duration, read: fn(u16, &[u8]) -> Result<T>) -> Result<T> {
        use std::io::Read as _;
        use ureq::http::header::{CONTENT_TYPE, HeaderValue};

        let connect_timeout = self.config.connect_timeout.min(timeout);
        let agent = self.agent();
        let mut request = agent.post(url).header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // The agent carries the client's timeouts. Only an attempt cut short by the deadline
        // needs its own: a request-level config copies all of the agent's settings, a cost
        // not worth paying on every call.
        if timeout != self.config.timeout {
            request = request.config().timeout_global(Some(timeout)).timeout_connect(Some(connect_timeout)).build();
        }
        let mut response = request.send(body).map_err(|e| from_ureq(e, timeout, connect_timeout))?;
        let status = response.status().as_u16();
        let body = response.body_mut();
        // Room for the whole answer at once when its length is announced (TIM's always is):
        // one read instead of a few growing ones.
        let expected = body.content_length().unwrap_or(0).min(Defaults::MAX_RESPONSE_BYTES);
        let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        let outcome = body
            .with_config()
            .limit(Defaults::MAX_RESPONSE_BYTES)
            .reader()
            .read_to_end(&mut bytes)
            .map(|_| bytes)
            .map_err(ureq::Error::from);
        match outcome {
            Ok(bytes) => read(status, &bytes),
            Err(e) if status == 200 => Err(match e {
                ureq::Error::BodyExceedsLimit(limit) => Error::new(
                    ErrorKind::Protocol,
                    format!("HTTP 200 with a body over {limit} bytes; that is not the TIM envelope"),
                ),
                e if is_timeout(&e) => from_ureq(e, timeout, connect_timeout),
                // The connection ended (reset, or closed) before the whole body arrived: ureq
                // reports both as "peer disconnected" (UnexpectedEof). A network failure, as
                // for a dropped connection: transport, retried (design §3: "reset").
                ureq::Error::Io(io) => Error::new(
                    ErrorKind::Transport,
                    format!(
                        "HTTP 200, then the connection broke before the whole body arrived: {}",
                        redact_usersig(&io.to_string())
                    ),
                ),
                e => Error::new(
                    ErrorKind::Protocol,
                    format!("HTTP 200 with a body that could not be read: {}", redact_usersig(&e.to_string())),
                ),
            }),
            // Not 200 anyway: report the status, without a quote of the body.
            Err(_) => read(status, b""),
        }
    }
}

/// A fresh `random` for a request: ChaCha12 (rand's `StdRng`), one per thread, seeded from the
/// operating system, and seeded again in a forked child. A generator copied into the children
/// of a pre-fork server would make them send the same `random`s, the value users quote to
/// Tencent support; [`crate::fork`] tells the child without a system call per request (the
/// `getrandom(2)` per request this replaces cost one).
fn fresh_random() -> u32 {
    use rand::{RngCore as _, SeedableRng as _, rngs::StdRng};
    use std::cell::RefCell;

    thread_local! {
        static RNG: RefCell<Option<(u64, StdRng)>> = const { RefCell::new(None) };
    }
    let generation = crate::fork::generation();
    RNG.with(|cell| {
        let mut slot = cell.borrow_mut();
        match &mut *slot {
            Some((seen, rng)) if *seen == generation => rng.next_u32(),
            _ => {
                let mut rng = StdRng::try_from_os_rng().unwrap_or_else(|_| StdRng::from_rng(&mut rand::rng()));
                let value = rng.next_u32();
                *slot = Some((generation, rng));
                value
            }
        }
    })
}

/// Reads TIM's answer: an HTTP status and a body.
///
/// - 200 and a JSON object with an integer `ErrorCode`: `0` is success (and `ActionStatus`, when
///   present, must then be `"OK"`), the whole object is returned; another code is
///   [`Error::api`] with the `ErrorInfo` text.
/// - 200 and anything else (not JSON, not an object, no integer `ErrorCode`, truncated, an
///   `ActionStatus` that contradicts the code): [`ErrorKind::Protocol`].
/// - Any other status: [`ErrorKind::Transport`] with the status.
///
/// Never panics, whatever the bytes.
///
/// ```
/// use timrest::{client::parse_response, ErrorKind};
/// let ok = parse_response(200, br#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#).unwrap();
/// assert_eq!(ok["ErrorCode"], 0);
/// let e = parse_response(200, br#"{"ActionStatus":"FAIL","ErrorInfo":"no group","ErrorCode":10010}"#).unwrap_err();
/// assert_eq!((e.kind(), e.code()), (ErrorKind::GroupNotFound, Some(10010)));
/// assert_eq!(parse_response(200, b"<html>").unwrap_err().kind(), ErrorKind::Protocol);
/// assert_eq!(parse_response(502, b"<html>").unwrap_err().http_status(), Some(502));
/// ```
pub fn parse_response(status: u16, body: &[u8]) -> Result<serde_json::Value> {
    if status != 200 {
        let mut info = format!("HTTP status {status} (TIM answers every request with 200)");
        let quote = snippet(body);
        if !quote.is_empty() {
            info.push_str(&format!("; body starts with: {quote}"));
        }
        return Err(Error::new(ErrorKind::Transport, info).with_http_status(status));
    }
    let protocol = |what: &str| {
        Error::new(ErrorKind::Protocol, format!("HTTP 200 with {what}; body starts with: {}", snippet(body)))
    };
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) if e.is_eof() => return Err(protocol("a truncated JSON body")),
        Err(_) => return Err(protocol("a body that is not JSON")),
    };
    let Some(object) = value.as_object() else {
        return Err(protocol("JSON that is not an object"));
    };
    let code = match object.get("ErrorCode") {
        None => return Err(protocol("no ErrorCode in the answer")),
        Some(code) => match code.as_i64() {
            Some(code) => code,
            None => return Err(protocol("an ErrorCode that is not an integer")),
        },
    };
    // serde_json keeps the last of two equal keys: `{"ErrorCode":10010,"ErrorCode":0}` would read
    // as success. A field of the envelope given twice is no envelope we can trust.
    for (field, quoted) in [("ErrorCode", "\"ErrorCode\""), ("ActionStatus", "\"ActionStatus\"")] {
        if appears_twice(body, field, quoted) {
            return Err(protocol(&format!("{field} given twice in one answer")));
        }
    }
    let action = object.get("ActionStatus");
    if code != 0 {
        if action.is_some_and(|a| a.as_str() == Some("OK")) {
            return Err(protocol(&format!("ErrorCode {code} but ActionStatus \"OK\"")));
        }
        let info = match object.get("ErrorInfo") {
            Some(serde_json::Value::String(s)) => redact_usersig(s),
            None | Some(serde_json::Value::Null) => String::new(),
            Some(other) => redact_usersig(&other.to_string()),
        };
        return Err(Error::api(code, info));
    }
    match action {
        None => Ok(value),
        Some(serde_json::Value::String(s)) if s == "OK" => Ok(value),
        Some(other) => Err(protocol(&format!("ErrorCode 0 but ActionStatus {other}"))),
    }
}

/// [`parse_response`] for an answer whose content does not matter, only its success: the same
/// verdict, without building a JSON tree when the answer is a plain success (TIM's exact bytes,
/// or an envelope read into two borrowed fields); anything else goes through [`parse_response`]
/// for its exact error.
fn check_success(status: u16, body: &[u8]) -> Result<()> {
    use std::borrow::Cow;

    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(rename = "ErrorCode")]
        code: Option<i64>,
        // Not `Option`'s own: `null` must not pass for an absent field.
        #[serde(rename = "ActionStatus", borrow, default, deserialize_with = "present")]
        action: Option<Cow<'a, str>>,
    }
    fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Cow<'de, str>>, D::Error> {
        <Cow<'de, str> as serde::Deserialize>::deserialize(d).map(Some)
    }

    // TIM's success, byte for byte, as it answers a deletion.
    const SUCCESS: &[u8] = br#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#;
    if status == 200 && body == SUCCESS {
        return Ok(());
    }
    // An object (a struct also reads from a JSON array), holding each field at most once (a
    // repeated field is an error here), code 0, and no other ActionStatus than "OK".
    if status == 200
        && body.trim_ascii_start().first() == Some(&b'{')
        && let Ok(Envelope { code: Some(0), action }) = serde_json::from_slice::<Envelope<'_>>(body)
        && action.as_deref().is_none_or(|a| a == "OK")
    {
        return Ok(());
    }
    parse_response(status, body).map(|_| ())
}

/// Whether the top-level object in `body` has the key `field` (`quoted`: the same in double
/// quotes) more than once. A quick scan first (a real envelope names it once), then an exact one
/// that reads only the top level's keys.
fn appears_twice(body: &[u8], field: &str, quoted: &str) -> bool {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

    let mut hits = body.windows(quoted.len()).filter(|w| *w == quoted.as_bytes());
    if hits.nth(1).is_none() {
        return false;
    }
    struct Count<'a>(&'a str);
    impl<'de> Visitor<'de> for Count<'_> {
        type Value = usize;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<usize, A::Error> {
            let mut n = 0;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                n += usize::from(key == self.0);
                map.next_value::<IgnoredAny>()?;
            }
            Ok(n)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    de.deserialize_map(Count(field)).is_ok_and(|n| n > 1)
}

/// `?sdkappid=…&identifier=…&usersig=…&random=`: the query up to the `random`, with a
/// placeholder where the UserSig goes. The real one is put in on the wire only
/// ([`crate::transport`]), so the URL that ureq handles, logs or quotes in errors never holds it.
fn query(sdkappid: u64, identifier: &str) -> String {
    format!("?sdkappid={sdkappid}&identifier={}&{PLACEHOLDER}random=", percent_encode(identifier))
}

/// `{base_url}/v4/{service}/{command}{query}{random}&contenttype=json`, `query` from [`query`].
/// `service` and `command` are Tencent's words (`[A-Za-z0-9_]`, checked by [`Client::call`]):
/// nothing to encode.
fn request_url(base_url: &str, service: &str, command: &str, query: &str, random: u32) -> String {
    use std::fmt::Write as _;
    debug_assert!(service.bytes().chain(command.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    // Pieces pushed one by one: `format!` with its argument machinery costs more than the rest.
    let mut url = String::with_capacity(base_url.len() + service.len() + command.len() + query.len() + 32);
    url.push_str(base_url);
    url.push_str("/v4/");
    url.push_str(service);
    url.push('/');
    url.push_str(command);
    url.push_str(query);
    let _ = write!(url, "{random}");
    url.push_str("&contenttype=json");
    url
}

/// The start of a body, printable and short, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut quote: String = text.chars().take(SNIPPET_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().count() > SNIPPET_CHARS {
        quote.push('…');
    }
    redact_usersig(quote.trim())
}

/// The outcome of a failed attempt, for the log line.
fn describe(e: &Error) -> String {
    match (e.code(), e.http_status()) {
        (Some(code), _) => format!("{} {code}", e.kind()),
        (None, Some(status)) => format!("{} (HTTP {status})", e.kind()),
        (None, None) => format!("{}: {}", e.kind(), e.info()),
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cfg = &self.inner.config;
        let auth = match cfg.auth {
            Auth::SecretKey(_) => "secret key",
            Auth::UserSig(_) => "usersig",
        };
        f.debug_struct("Client")
            .field("sdkappid", &cfg.sdkappid)
            .field("identifier", &cfg.identifier)
            .field("base_url", &cfg.base_url)
            .field("auth", &auth)
            .field("rate_limit", &cfg.rate_limit)
            .field("rate_limit_backend", &self.inner.limiter.as_ref().map(Limiter::backend_name))
            .field("timeout", &cfg.timeout)
            .field("deadline", &cfg.deadline)
            .field("max_retries", &cfg.max_retries)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client> {
        Client::new(self.into_config()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "canary-secret-key-do-not-leak";

    fn client() -> Client {
        Client::builder().sdkappid(1400000000).secret_key(KEY).base_url("http://127.0.0.1:9").build().unwrap()
    }

    #[test]
    fn client_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<Client>();
    }

    #[test]
    fn urls_carry_every_parameter_and_encode_the_identifier() {
        let url = request_url("https://h", "group_open_http_svc", "cmd", &query(1400000000, "a b&c"), 42);
        assert_eq!(
            url,
            "https://h/v4/group_open_http_svc/cmd?sdkappid=1400000000&identifier=a%20b%26c\
             &usersig=timrest-usersig-placeholder&random=42&contenttype=json"
        );
        assert_eq!(percent_encode("é/%?"), "%C3%A9%2F%25%3F");
    }

    #[test]
    fn the_envelope_decides_success() {
        let ok = parse_response(200, br#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"Extra":[1]}"#).unwrap();
        assert_eq!(ok["Extra"][0], 1);
        parse_response(200, br#"{"ErrorCode":0}"#).unwrap();
        let e =
            parse_response(200, br#"{"ActionStatus":"FAIL","ErrorInfo":"internal","ErrorCode":10002}"#).unwrap_err();
        assert_eq!((e.kind(), e.code(), e.info()), (ErrorKind::Server, Some(10002), "internal"));
        let e = parse_response(200, br#"{"ErrorCode":99999}"#).unwrap_err();
        assert_eq!((e.kind(), e.code(), e.info()), (ErrorKind::Api, Some(99999), ""));
    }

    #[test]
    fn anything_else_on_200_is_a_protocol_error() {
        let bodies: &[&[u8]] = &[
            b"",
            b"<html>oops</html>",
            b"[1,2]",
            b"\"text\"",
            b"null",
            br#"{"ActionStatus":"OK"}"#,
            br#"{"ErrorCode":"0"}"#,
            br#"{"ErrorCode":0.5}"#,
            br#"{"ErrorCode":1e30}"#,
            br#"{"ErrorCode":0,"ActionStatus":"FAIL"}"#,
            br#"{"ActionStatus":"OK","ErrorInfo":"","Erro"#,
        ];
        for body in bodies {
            let e = parse_response(200, body).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{}", String::from_utf8_lossy(body));
            assert_eq!(e.code(), None);
        }
        let e = parse_response(200, br#"{"ErrorCode":0,"#).unwrap_err();
        assert!(e.info().contains("truncated"), "{e}");
    }

    #[test]
    fn an_envelope_field_given_twice_or_contradicted_is_a_protocol_error() {
        let bodies: &[&[u8]] = &[
            br#"{"ActionStatus":"FAIL","ErrorCode":10010,"ErrorInfo":"","ErrorCode":0,"ActionStatus":"OK"}"#,
            br#"{"ErrorCode":10010,"ErrorCode":0}"#,
            br#"{"ActionStatus":"OK","ErrorCode":0,"ActionStatus":"OK"}"#,
            br#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":10010}"#,
        ];
        for body in bodies {
            let e = parse_response(200, body).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{}", String::from_utf8_lossy(body));
        }
        // The names inside a value or a nested object are not the envelope's fields.
        let ok = br#"{"ActionStatus":"OK","ErrorInfo":"\"ErrorCode\" twice: \"ErrorCode\"","ErrorCode":0,"X":{"ErrorCode":1}}"#;
        parse_response(200, ok).unwrap();
    }

    #[test]
    fn call_takes_only_tencents_command_alphabet() {
        let c = client();
        for (service, command) in [
            ("..", "x"),
            (".", "x"),
            ("group_open_http_svc", ".."),
            ("a/b", "c"),
            ("a b", "c"),
            ("svc", "cmd?x=1"),
            ("svc", "cmd%2F"),
            ("svc", "é"),
            ("", "c"),
            ("svc", &"x".repeat(65)),
        ] {
            let e = c.call(service, command, &serde_json::json!({})).unwrap_err();
            assert_eq!((e.kind(), e.attempts()), (ErrorKind::InvalidArgument, 0), "{service}/{command}");
        }
    }

    #[test]
    fn randoms_are_spread() {
        let draws: std::collections::HashSet<u32> = (0..1000).map(|_| fresh_random()).collect();
        assert!(draws.len() > 990, "1000 draws, {} distinct", draws.len());
    }

    #[test]
    fn other_statuses_are_transport_errors_with_the_status() {
        for status in [201, 204, 301, 400, 404, 500, 502, 503] {
            let e = parse_response(status, br#"{"ErrorCode":0}"#).unwrap_err();
            assert_eq!((e.kind(), e.http_status()), (ErrorKind::Transport, Some(status)));
        }
        let e = parse_response(502, b"<html>bad gateway usersig=SECRET</html>").unwrap_err();
        assert!(e.info().contains("bad gateway") && !e.info().contains("SECRET"), "{e}");
    }

    #[test]
    fn bad_tls_and_proxy_settings_are_config_errors() {
        let base = || Client::builder().sdkappid(1).secret_key(KEY);
        let cases = [
            base().ca_pem(b"not a pem".to_vec()),
            base().ca_pem(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".to_vec()),
            base().ca_pem(b"x".to_vec()).platform_verifier(true),
            base().proxy("http://user:pw@[bad"),
        ];
        for b in cases {
            let e = b.build().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(!e.to_string().contains("pw"), "{e}");
        }
        base().platform_verifier(true).build().unwrap();
        base().proxy("socks5://127.0.0.1:1080").build().unwrap();
    }

    #[test]
    fn new_checks_what_the_builder_checks() {
        let good = client().config().clone();
        let mut plain_http = good.clone();
        plain_http.base_url = "http://example.com".into();
        let mut zero = good.clone();
        zero.timeout = Duration::ZERO;
        let mut rate = good.clone();
        rate.rate_limit = Some(f64::INFINITY);
        for cfg in [plain_http, zero, rate] {
            assert_eq!(Client::new(cfg).unwrap_err().kind(), ErrorKind::Config);
        }
        Client::new(good).unwrap();
    }

    #[test]
    fn debug_shows_who_and_where_but_no_secret() {
        let c = client();
        let dbg = format!("{c:?}");
        assert!(dbg.contains("1400000000") && dbg.contains("administrator") && dbg.contains("127.0.0.1:9"), "{dbg}");
        assert!(!dbg.contains(KEY), "{dbg}");
    }

    #[test]
    fn bad_arguments_send_nothing() {
        // Port 9 (discard) is never reached: validation fails first, so attempts stay 0.
        let c = client();
        let e = c.delete_group_msg_by_sender("", "leckie").unwrap_err();
        assert_eq!((e.kind(), e.attempts(), e.random()), (ErrorKind::InvalidArgument, 0, None));
        let e = c.delete_by_sender(&DeleteBySender::new("@TGS#_a", "s").topic("@TGS#_b@TOPIC#_x")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        let e = c.call("group_open_http_svc", "a/b", &serde_json::json!({})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn request_bodies_are_compact_and_carry_the_topic_only_when_set() {
        let r = DeleteBySender::new("g", "s");
        assert_eq!(serde_json::to_string(&r.to_body()).unwrap(), r#"{"GroupId":"g","Sender_Account":"s"}"#);
        let t = r.topic("g@TOPIC#_x").to_body();
        assert_eq!(t["TopicId"], "g@TOPIC#_x");
    }

    proptest::proptest! {
        #[test]
        fn the_parser_never_panics_on_arbitrary_bytes(
            status in proptest::prop_oneof![proptest::strategy::Just(200u16), 100u16..600],
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
        ) {
            match parse_response(status, &body) {
                Ok(v) => {
                    // Only a real envelope with code 0 may pass.
                    proptest::prop_assert_eq!(status, 200);
                    proptest::prop_assert_eq!(v["ErrorCode"].as_i64(), Some(0));
                }
                Err(e) if status != 200 => proptest::prop_assert_eq!(e.kind(), ErrorKind::Transport),
                Err(e) => {
                    let code = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v.get("ErrorCode").and_then(|c| c.as_i64()));
                    match code {
                        Some(code) if code != 0 => proptest::prop_assert_eq!(e.code(), Some(code)),
                        _ => proptest::prop_assert_eq!(e.kind(), ErrorKind::Protocol),
                    }
                }
            }
        }

        #[test]
        fn the_parser_reads_every_code_of_a_real_envelope(code in proptest::num::i64::ANY, info in "\\PC{0,40}") {
            let status = if code == 0 { "OK" } else { "FAIL" };
            let body = serde_json::json!({"ActionStatus": status, "ErrorInfo": info, "ErrorCode": code}).to_string();
            match parse_response(200, body.as_bytes()) {
                Ok(_) => proptest::prop_assert_eq!(code, 0),
                Err(e) => {
                    proptest::prop_assert_eq!(e.code(), Some(code));
                    proptest::prop_assert_eq!(e.kind(), ErrorKind::from_code(code));
                }
            }
        }

        #[test]
        fn the_success_check_agrees_with_the_parser(
            status in proptest::prop_oneof![proptest::strategy::Just(200u16), 100u16..600],
            body in "[ ]?(\\{|\\[)((\"(ErrorCode|ActionStatus|ErrorInfo|X)\":(0|-0|1|10010|null|0.0|1e3|\"OK\"|\"FAIL\"|\"O\\\\u004b\"|\\[\\]|\\{\"ErrorCode\":1\\}))(,|)){0,4}(\\}|\\]|)[ ]?",
        ) {
            // Whatever the body, the cheap check and the full parser give the same verdict, and
            // on a failure the same error.
            let full = parse_response(status, body.as_bytes());
            match (check_success(status, body.as_bytes()), full) {
                (Ok(()), Ok(_)) => {}
                (Err(a), Err(b)) => proptest::prop_assert_eq!((a.kind(), a.code(), a.info()), (b.kind(), b.code(), b.info())),
                (a, b) => proptest::prop_assert!(false, "{body}: check {a:?}, parser {b:?}"),
            }
        }

        #[test]
        fn the_parser_refuses_every_truncation_of_an_envelope(cut in 0usize..50) {
            let body = br#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#;
            let cut = cut.min(body.len() - 1);
            proptest::prop_assert_eq!(parse_response(200, &body[..cut]).unwrap_err().kind(), ErrorKind::Protocol);
        }

    }
}
