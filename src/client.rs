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
use crate::retry::{Decision, RetryPolicy};
use crate::usersig::Signer;

/// The service of `delete_group_msg_by_sender` and of the group commands.
const GROUP_SERVICE: &str = "group_open_http_svc";
/// How much of a body an error message quotes.
const SNIPPET_CHARS: usize = 120;

/// One `delete_group_msg_by_sender` request: a group, a sender, and optionally a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeleteBySender {
    /// The group (`GroupId`).
    pub group_id: String,
    /// The UserID whose messages go (`Sender_Account`).
    pub sender: String,
    /// A topic of a topic-enabled Community group (`TopicId`).
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
        let mut body = serde_json::json!({ "GroupId": self.group_id, "Sender_Account": self.sender });
        if let (Some(topic), Some(map)) = (&self.topic_id, body.as_object_mut()) {
            map.insert("TopicId".to_owned(), serde_json::Value::String(topic.clone()));
        }
        body
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
    /// That process's id: a call from a forked child (another pid) must not use the parent's
    /// pooled connections, which the child shares with it.
    pid: u32,
    /// The pool of the current process when it is not the one that built the client.
    forked: std::sync::Mutex<Option<(u32, ureq::Agent)>>,
    credentials: Credentials,
    limiter: Option<Limiter>,
    policy: RetryPolicy,
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
        let agent = build_agent(&config)?;
        let limiter = Limiter::from_config(&config)?;
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
            pid: std::process::id(),
            forked: std::sync::Mutex::new(None),
            credentials,
            limiter,
            policy: RetryPolicy::new(config.max_retries),
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
        self.execute(GROUP_SERVICE, "delete_group_msg_by_sender", &request.to_body()).map(|(_, info)| info)
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
        self.execute(service, command, body)
    }

    /// The attempt loop: limiter, attempt, retry decision, deadline.
    fn execute(&self, service: &str, command: &str, body: &serde_json::Value) -> Result<(serde_json::Value, CallInfo)> {
        let inner = &*self.inner;
        let cfg = &inner.config;
        let start = Instant::now();
        let deadline = start.checked_add(cfg.deadline);
        let body = serde_json::to_vec(body).map_err(|e| Error::invalid_argument(format!("body: {e}")))?;
        let mut attempts = 0u32;
        let mut resigned = false;
        let mut last_error: Option<Error> = None;
        let lane = Lane { service, command };

        loop {
            // The deadline also bounds the wait for the limiter; a refused wait ends the call now.
            if let Some(limiter) = &inner.limiter {
                match limiter.acquire(lane, deadline) {
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
            let usersig = match &inner.credentials {
                Credentials::Signer(signer) => signer.current(crate::usersig::unix_now()),
                Credentials::UserSig(sig) => sig.expose().to_owned(),
            };
            let url = request_url(&cfg.base_url, service, command, cfg.sdkappid, &cfg.identifier, random);
            attempts += 1;
            let attempt_start = Instant::now();
            let outcome = wire::with_usersig(&usersig, || inner.attempt(&url, &body, attempt_timeout));
            let attempt_elapsed = attempt_start.elapsed();

            let error = match outcome {
                Ok(answer) => {
                    log::debug!(
                        target: "timrest",
                        "{service}/{command} attempt {attempts} random={random}: ok in {attempt_elapsed:?}"
                    );
                    return Ok((answer, CallInfo { random, attempts, elapsed: start.elapsed() }));
                }
                // A server may echo what we sent, secrets included: the client knows them exactly.
                Err(e) => e.without(&[&usersig, inner.secret_key()]).with_random(random).with_attempts(attempts),
            };
            // The server refused for its rate despite our limiter: slow the lane down (70050 is a
            // UserSig lockout, not a rate).
            if error.kind() == ErrorKind::RateLimited && error.code() != Some(70050) {
                if let Some(limiter) = &inner.limiter {
                    limiter.refused(lane);
                }
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
    /// transparently. (The pid check is one `getpid` per call.)
    fn agent(&self) -> std::borrow::Cow<'_, ureq::Agent> {
        let pid = std::process::id();
        if pid == self.pid {
            return std::borrow::Cow::Borrowed(&self.agent);
        }
        let mut forked = self.forked.lock().unwrap_or_else(|p| p.into_inner());
        match &*forked {
            Some((owner, agent)) if *owner == pid => std::borrow::Cow::Owned(agent.clone()),
            _ => {
                // The config was checked when the client was built; building the same agent again
                // cannot fail differently, but if it does, the shared pool is still better than none.
                let agent = build_agent(&self.config).unwrap_or_else(|_| self.agent.clone());
                if let Some((_, old)) = forked.replace((pid, agent.clone())) {
                    // A grandparent's pool: its sockets belong to other processes too. Never closed
                    // here (a TLS close would write to them): leaked, once per fork.
                    std::mem::forget(old);
                }
                std::borrow::Cow::Owned(agent)
            }
        }
    }

    /// One request and its answer.
    fn attempt(&self, url: &str, body: &[u8], timeout: Duration) -> Result<serde_json::Value> {
        let connect_timeout = self.config.connect_timeout.min(timeout);
        let request = self
            .agent()
            .post(url)
            .config()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(connect_timeout))
            .build()
            .header("Content-Type", "application/json");
        let mut response = request.send(body).map_err(|e| from_ureq(e, timeout, connect_timeout))?;
        let status = response.status().as_u16();
        let read = response.body_mut().with_config().limit(Defaults::MAX_RESPONSE_BYTES).read_to_vec();
        match read {
            Ok(bytes) => parse_response(status, &bytes),
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
            Err(_) => parse_response(status, b""),
        }
    }
}

/// A fresh `random` for a request, from the operating system (`getrandom(2)`). Not a thread-local
/// generator: its state would be copied into every child of a pre-fork server, and the children
/// would send the same `random`s, the value users quote to Tencent support. One system call, about
/// 0.3 µs (measured in the closing note of the hardening issue).
fn fresh_random() -> u32 {
    getrandom::u32().unwrap_or_else(|_| rand::random())
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

/// Replaces the value of every `usersig=` query parameter in `text` by `<redacted>`
/// (case-insensitive). Use it on anything that may contain a request URL before showing it.
///
/// ```
/// let url = "https://h/v4/s/c?sdkappid=1&identifier=admin&usersig=eJyrVg*-_&random=7";
/// assert_eq!(
///     timrest::client::redact_usersig(url),
///     "https://h/v4/s/c?sdkappid=1&identifier=admin&usersig=<redacted>&random=7"
/// );
/// ```
pub fn redact_usersig(text: &str) -> String {
    const NEEDLE: &str = "usersig=";
    const MASK: &str = "<redacted>";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(NEEDLE) {
        let value_start = pos + found + NEEDLE.len();
        out.push_str(&text[pos..value_start]);
        let value_len = text[value_start..]
            .find(|c: char| c == '&' || c == '#' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(text.len() - value_start);
        let value = &text[value_start..value_start + value_len];
        out.push_str(if value == MASK || value.is_empty() { value } else { MASK });
        pos = value_start + value_len;
    }
    out.push_str(&text[pos..]);
    out
}

/// `{base_url}/v4/{service}/{command}?sdkappid=…&identifier=…&usersig=…&random=…&contenttype=json`,
/// with a placeholder where the UserSig goes: the real one is put in on the wire only
/// (see [`wire`]), so the URL that ureq handles, logs or quotes in errors never holds it.
fn request_url(base_url: &str, service: &str, command: &str, sdkappid: u64, identifier: &str, random: u32) -> String {
    use std::fmt::Write as _;
    // Pieces pushed one by one: `format!` with its argument machinery costs more than the rest.
    let mut url = String::with_capacity(base_url.len() + service.len() + command.len() + identifier.len() + 110);
    url.push_str(base_url);
    url.push_str("/v4/");
    url.push_str(&percent_encode(service));
    url.push('/');
    url.push_str(&percent_encode(command));
    url.push_str("?sdkappid=");
    let _ = write!(url, "{sdkappid}");
    url.push_str("&identifier=");
    url.push_str(&percent_encode(identifier));
    url.push('&');
    url.push_str(wire::PLACEHOLDER);
    url.push_str("random=");
    let _ = write!(url, "{random}");
    url.push_str("&contenttype=json");
    url
}

/// Percent-encodes everything but RFC 3986's unreserved characters (`A-Za-z0-9-._~`) and `*`
/// (which UserSigs use and URLs allow).
fn percent_encode(s: &str) -> std::borrow::Cow<'_, str> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~*".contains(&b);
    // UserSigs and Tencent's names are URL-safe as they are: one scan, no copy.
    if s.bytes().all(unreserved) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    std::borrow::Cow::Owned(out)
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

fn is_timeout(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock),
        _ => false,
    }
}

/// Maps a ureq failure to our kinds. Messages are redacted: ureq may quote the URL.
fn from_ureq(e: ureq::Error, timeout: Duration, connect_timeout: Duration) -> Error {
    let text = redact_usersig(&e.to_string());
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect) => {
            Error::new(ErrorKind::Timeout, format!("could not connect within {connect_timeout:?} (connect timeout)"))
        }
        e if is_timeout(&e) => Error::new(
            ErrorKind::Timeout,
            format!("no complete answer within {timeout:?} (per-attempt timeout, cut to the deadline) ({text})"),
        ),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::InvalidProxyUrl | ureq::Error::Pem(_) => {
            Error::new(ErrorKind::Config, format!("cannot make the request: {text}"))
        }
        ureq::Error::HostNotFound => Error::new(ErrorKind::Transport, "host not found (DNS)"),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => Error::new(ErrorKind::Transport, format!("TLS: {text}")),
        ureq::Error::Protocol(_) => {
            Error::new(ErrorKind::Transport, format!("the server's answer is not valid HTTP/1.1: {text}"))
        }
        // Over 64 KiB of headers: no gateway does that by accident, and asking again would get the
        // same. Like a body over the limit, it is not TIM's answer.
        ureq::Error::LargeResponseHeader(..) => {
            Error::new(ErrorKind::Protocol, format!("the server's answer has a head that never ends ({text})"))
        }
        ureq::Error::Io(_) | ureq::Error::ConnectionFailed => {
            Error::new(ErrorKind::Transport, format!("connection failed: {text}"))
        }
        _ => Error::new(ErrorKind::Transport, text),
    }
}

/// One ureq agent per client: the keep-alive pool, TLS roots, proxy and connect timeout.
fn build_agent(config: &Config) -> Result<ureq::Agent> {
    use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

    let mut tls = TlsConfig::builder().provider(TlsProvider::Rustls);
    match (&config.ca_pem, config.platform_verifier) {
        (Some(_), true) => return Err(Error::config("give either ca_pem or platform_verifier, not both")),
        (Some(pem), false) => {
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert),
                    Ok(_) => {}
                    Err(e) => return Err(Error::config(format!("ca_pem cannot be read: {e}"))),
                }
            }
            if certs.is_empty() {
                return Err(Error::config("ca_pem holds no PEM certificate"));
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        (None, true) => tls = tls.root_certs(RootCerts::PlatformVerifier),
        (None, false) => tls = tls.root_certs(RootCerts::WebPki),
    }
    let proxy = match &config.proxy {
        Some(url) => Some(ureq::Proxy::new(url).map_err(|_| {
            // The proxy URL may hold credentials: do not quote it.
            Error::config("proxy is not a valid proxy URL (http://, https://, socks4://, socks5://)")
        })?),
        None => proxy_from_env(&config.base_url, |name| std::env::var(name).ok()),
    };
    let agent_config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(config.connect_timeout))
        .tls_config(tls.build())
        .proxy(proxy)
        .user_agent(format!("timrest/{}", env!("CARGO_PKG_VERSION")))
        // A redirect of a POST carrying the UserSig is never followed; it is reported as a status.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .max_idle_connections(256)
        .max_idle_connections_per_host(256)
        .build();
    Ok(wire::agent(agent_config))
}

/// The proxy from `HTTPS_PROXY` or `ALL_PROXY` (either case), unless `NO_PROXY` names the host
/// or the host is loopback.
fn proxy_from_env(base_url: &str, var: impl Fn(&str) -> Option<String>) -> Option<ureq::Proxy> {
    let host = host_of(base_url);
    if crate::config::is_loopback(host) {
        return None;
    }
    let value = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .into_iter()
        .find_map(|name| var(name).filter(|v| !v.trim().is_empty()))?;
    let no_proxy = var("NO_PROXY").or_else(|| var("no_proxy")).unwrap_or_default();
    if no_proxy_matches(&no_proxy, host) {
        return None;
    }
    ureq::Proxy::new(value.trim()).ok()
}

/// The `host[:port]` part of a base URL.
fn host_of(base_url: &str) -> &str {
    let rest = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

/// Whether a `NO_PROXY` list (`a.com,.b.com,*.c.com,*`) covers `authority`.
fn no_proxy_matches(no_proxy: &str, authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    }
    .to_ascii_lowercase();
    no_proxy.split(',').map(|e| e.trim().to_ascii_lowercase()).any(|entry| {
        let entry = entry.strip_prefix("*.").map(|s| format!(".{s}")).unwrap_or(entry);
        match entry.as_str() {
            "" => false,
            "*" => true,
            e if e.starts_with('.') => host.ends_with(e) || host == e[1..],
            e => host == e,
        }
    })
}

/// Puts the UserSig into the request line on its way to the socket, and nowhere else.
///
/// ureq logs request URLs (in full at `trace` level) and quotes them in some errors; a UserSig
/// in the URL would end up in log files. So the URL handed to ureq carries [`PLACEHOLDER`], and
/// the agent's connector chain ends in [`InjectUserSig`], a transport wrapper that replaces the
/// placeholder in the request line (and only there) with the attempt's UserSig just before the
/// bytes are sent, below ureq's logging, above TLS. The UserSig of the attempt is handed over in
/// a thread-local variable for the duration of the blocking call ([`with_usersig`]); without
/// one, the placeholder goes out as is and the server refuses it (it never sees a wrong secret).
mod wire {
    use std::cell::RefCell;
    use std::rc::Rc;

    use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
    use ureq::unversioned::transport::{
        Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
    };

    /// The query parameter as ureq sees it (a syntactically valid value that is not a UserSig).
    pub(super) const PLACEHOLDER: &str = "usersig=timrest-usersig-placeholder&";

    thread_local! {
        static CURRENT: RefCell<Option<Rc<str>>> = const { RefCell::new(None) };
        /// The last UserSig this thread put on the wire, and its `usersig=…&` parameter: a
        /// UserSig lives for hours, so encoding it once per signature, not per call, is enough.
        static ENCODED: RefCell<Option<(String, Rc<str>)>> = const { RefCell::new(None) };
    }

    /// The query parameter for `usersig`, encoded once per distinct UserSig on this thread.
    fn parameter(usersig: &str) -> Rc<str> {
        ENCODED.with(|cache| {
            let mut cache = cache.borrow_mut();
            match &*cache {
                Some((raw, encoded)) if raw == usersig => encoded.clone(),
                _ => {
                    let encoded: Rc<str> = format!("usersig={}&", super::percent_encode(usersig)).into();
                    *cache = Some((usersig.to_owned(), encoded.clone()));
                    encoded
                }
            }
        })
    }

    /// Runs `f` (one blocking request) with `usersig` as the UserSig to put on the wire.
    /// Restores what was there before (a logger that itself makes a call, on this thread, while
    /// ureq logs, must not take the outer request's UserSig away).
    pub(super) fn with_usersig<R>(usersig: &str, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Rc<str>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let value = parameter(usersig);
        let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(value)));
        f()
    }

    /// An agent whose connections put the UserSig in.
    pub(super) fn agent(config: ureq::config::Config) -> ureq::Agent {
        ureq::Agent::with_parts(config, DefaultConnector::new().chain(InjectUserSig), CachingResolver::default())
    }

    /// How long [`CachingResolver`] reuses an answer.
    const RESOLVE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

    /// ureq resolves the host before every request, even one that then goes out on a pooled
    /// connection, and with a timeout set (ours always are) it resolves on a new thread: one
    /// thread spawned and joined per call, about half of a call's CPU time on loopback
    /// (docs/benchmarks.md). This keeps the last successful answer for [`RESOLVE_TTL`]; failures
    /// are not kept.
    #[derive(Debug, Default)]
    pub(super) struct CachingResolver {
        inner: DefaultResolver,
        /// `scheme://authority`, when it was resolved, and the addresses.
        last: std::sync::Mutex<Option<(String, std::time::Instant, ResolvedSocketAddrs)>>,
    }

    impl Resolver for CachingResolver {
        fn resolve(
            &self,
            uri: &ureq::http::Uri,
            config: &ureq::config::Config,
            timeout: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            let (scheme, authority) = (uri.scheme_str().unwrap_or(""), uri.authority().map_or("", |a| a.as_str()));
            // `scheme://authority`, compared without building it: this runs on every request.
            let same = |k: &str| {
                k.len() == scheme.len() + 3 + authority.len()
                    && k.starts_with(scheme)
                    && k[scheme.len()..].starts_with("://")
                    && k.ends_with(authority)
            };
            let now = std::time::Instant::now();
            let lock = || self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((k, at, addrs)) = lock().as_ref() {
                if same(k) && now.duration_since(*at) < RESOLVE_TTL {
                    return Ok(addrs.clone());
                }
            }
            let key = format!("{scheme}://{authority}");
            let addrs = self.inner.resolve(uri, config, timeout)?;
            *lock() = Some((key, now, addrs.clone()));
            Ok(addrs)
        }
    }

    /// The last link of the connector chain: wraps each connection in [`Injecting`].
    #[derive(Debug)]
    pub(super) struct InjectUserSig;

    impl Connector<Box<dyn Transport>> for InjectUserSig {
        type Out = Injecting;

        fn connect(
            &self,
            _: &ConnectionDetails,
            chained: Option<Box<dyn Transport>>,
        ) -> Result<Option<Injecting>, ureq::Error> {
            Ok(chained.map(|inner| Injecting { inner, held: Vec::new() }))
        }
    }

    /// A connection that replaces the placeholder in outgoing request lines, and sends a request's
    /// head together with its body.
    ///
    /// ureq hands the head and the body over in two writes; sent as they come, the server wakes
    /// and reads twice per request (about a third of a loopback call's cost, measured in
    /// docs/benchmarks.md). So a complete request head is held back and goes out with the first
    /// body bytes, or before anything is read or awaited (a request without a body), so nothing
    /// held can outlive the request.
    #[derive(Debug)]
    pub(super) struct Injecting {
        inner: Box<dyn Transport>,
        held: Vec<u8>,
    }

    impl Injecting {
        /// Sends the held-back head on its own (nothing followed it).
        fn release(&mut self, timeout: NextTimeout) -> Result<(), ureq::Error> {
            if self.held.is_empty() {
                return Ok(());
            }
            let n = self.held.len();
            self.inner.buffers().output()[..n].copy_from_slice(&self.held);
            self.held.clear();
            self.inner.transmit_output(n, timeout)
        }
    }

    impl Transport for Injecting {
        fn buffers(&mut self) -> &mut dyn Buffers {
            self.inner.buffers()
        }

        fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
            let amount = CURRENT.with(|c| match c.borrow().as_deref() {
                Some(value) => substitute(self.inner.buffers().output(), amount, value.as_bytes()),
                None => amount,
            });
            let out = self.inner.buffers().output();
            let amount = amount.min(out.len());
            if self.held.is_empty() && is_request_head(&out[..amount]) {
                self.held.extend_from_slice(&out[..amount]);
                return Ok(());
            }
            let held = self.held.len();
            if held > 0 && held + amount <= out.len() {
                // Head and body in one write.
                out.copy_within(..amount, held);
                out[..held].copy_from_slice(&self.held);
                self.held.clear();
                return self.inner.transmit_output(held + amount, timeout);
            }
            if held > 0 {
                // No room for both: the head first, then the body.
                let body = out[..amount].to_vec();
                self.release(timeout)?;
                self.inner.buffers().output()[..amount].copy_from_slice(&body);
            }
            self.inner.transmit_output(amount, timeout)
        }

        fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
            self.release(timeout)?;
            self.inner.maybe_await_input(timeout)
        }

        fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
            self.release(timeout)?;
            self.inner.await_input(timeout)
        }

        fn is_open(&mut self) -> bool {
            self.inner.is_open()
        }

        fn is_tls(&self) -> bool {
            self.inner.is_tls()
        }
    }

    /// Replaces [`PLACEHOLDER`] in the request line at the start of `buf[..amount]` by `value`,
    /// moving the rest; returns the new amount. Leaves the buffer alone when it does not start
    /// with a request line holding the placeholder, or has no room.
    pub(super) fn substitute(buf: &mut [u8], amount: usize, value: &[u8]) -> usize {
        let amount = amount.min(buf.len());
        // A request line ends in " HTTP/1.1\r\n"; our JSON bodies never hold a raw CR LF.
        let Some(line_end) = find(&buf[..amount], b"\r\n") else {
            return amount;
        };
        if !buf[..line_end].ends_with(b" HTTP/1.1") {
            return amount;
        }
        let Some(at) = find(&buf[..line_end], PLACEHOLDER.as_bytes()) else {
            return amount;
        };
        let new_amount = amount - PLACEHOLDER.len() + value.len();
        if new_amount > buf.len() {
            return amount;
        }
        buf.copy_within(at + PLACEHOLDER.len()..amount, at + value.len());
        buf[at..at + value.len()].copy_from_slice(value);
        new_amount
    }

    /// A whole HTTP/1.1 request head, and nothing after it.
    fn is_request_head(bytes: &[u8]) -> bool {
        bytes.starts_with(b"POST ") && bytes.ends_with(b"\r\n\r\n") && find(bytes, b"\r\n\r\n") == Some(bytes.len() - 4)
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        memchr::memmem::find(haystack, needle)
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
        let url = request_url("https://h", "group_open_http_svc", "cmd", 1400000000, "a b&c", 42);
        assert_eq!(
            url,
            "https://h/v4/group_open_http_svc/cmd?sdkappid=1400000000&identifier=a%20b%26c\
             &usersig=timrest-usersig-placeholder&random=42&contenttype=json"
        );
        assert_eq!(percent_encode("é/%?"), "%C3%A9%2F%25%3F");
    }

    #[test]
    fn the_usersig_goes_into_the_request_line_only() {
        let head =
            format!("POST /v4/s/c?a=1&{}random=2 HTTP/1.1\r\nX: {}\r\n\r\n", wire::PLACEHOLDER, wire::PLACEHOLDER);
        let expected = head.replacen(wire::PLACEHOLDER, "usersig=eJy*-_&", 1);
        let mut buf = head.clone().into_bytes();
        buf.resize(1000, 0);
        let n = wire::substitute(&mut buf, head.len(), b"usersig=eJy*-_&");
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), expected);
        // A longer UserSig moves the rest of the head along.
        let long = format!("usersig={}&", "x".repeat(300));
        let mut buf = head.clone().into_bytes();
        buf.resize(1000, 0);
        let n = wire::substitute(&mut buf, head.len(), long.as_bytes());
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), head.replacen(wire::PLACEHOLDER, &long, 1));
        // No room: left alone (the server then refuses the placeholder).
        let mut tight = head.clone().into_bytes();
        assert_eq!(wire::substitute(&mut tight, head.len(), long.as_bytes()), head.len());
        assert_eq!(tight, head.as_bytes());
        // A body that happens to hold the placeholder is not touched, whatever its lines.
        for body in [
            serde_json::json!({ "text": wire::PLACEHOLDER }).to_string(),
            serde_json::json!({ "text": format!("{} HTTP/1.1\r\n", wire::PLACEHOLDER) }).to_string(),
        ] {
            let mut buf = body.clone().into_bytes();
            buf.resize(1000, 0);
            assert_eq!(wire::substitute(&mut buf, body.len(), b"usersig=S&"), body.len());
            assert_eq!(&buf[..body.len()], body.as_bytes());
        }
    }

    #[test]
    fn redaction_hides_every_usersig_value() {
        let cases = [
            ("a?usersig=SECRET&b=1", "a?usersig=<redacted>&b=1"),
            ("USERSIG=SECRET", "USERSIG=<redacted>"),
            ("x usersig=S1 y UserSig=S2\"z", "x usersig=<redacted> y UserSig=<redacted>\"z"),
            ("usersig=", "usersig="),
            ("usersig=<redacted>", "usersig=<redacted>"),
            ("no secret here", "no secret here"),
            ("é usersig=é&", "é usersig=<redacted>&"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_usersig(input), expected, "{input}");
        }
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
    fn randoms_come_from_the_os() {
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
    fn no_proxy_rules() {
        assert!(no_proxy_matches("*", "a.com"));
        assert!(no_proxy_matches("x.org, a.com", "a.com:443"));
        assert!(no_proxy_matches(".qq.com", "console.tim.qq.com"));
        assert!(no_proxy_matches("*.qq.com", "console.tim.qq.com"));
        assert!(no_proxy_matches(".qq.com", "qq.com"));
        assert!(!no_proxy_matches("tim.qq.com", "console.tim.qq.com"));
        assert!(!no_proxy_matches("", "a.com"));
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
        };
        let proxied = env(&[("HTTPS_PROXY", "http://proxy.local:3128")]);
        assert!(proxy_from_env("https://console.tim.qq.com", proxied).is_some());
        assert!(proxy_from_env("http://127.0.0.1:8080", proxied).is_none(), "loopback goes direct");
        let excluded = env(&[("ALL_PROXY", "socks5://p:1080"), ("NO_PROXY", ".qq.com")]);
        assert!(proxy_from_env("https://console.tim.qq.com", excluded).is_none());
        assert!(proxy_from_env("https://adminapikr.im.qcloud.com", excluded).is_some());
        assert!(proxy_from_env("https://console.tim.qq.com", env(&[("HTTP_PROXY", "http://p:1")])).is_none());
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
        fn the_parser_refuses_every_truncation_of_an_envelope(cut in 0usize..50) {
            let body = br#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#;
            let cut = cut.min(body.len() - 1);
            proptest::prop_assert_eq!(parse_response(200, &body[..cut]).unwrap_err().kind(), ErrorKind::Protocol);
        }

        #[test]
        fn redaction_removes_any_usersig_value(prefix in "\\PC{0,20}", sig in "[A-Za-z0-9*_-]{1,40}", suffix in "(&\\PC{0,10})?") {
            let text = format!("{prefix}?usersig={sig}{suffix}");
            let red = redact_usersig(&text);
            let shown = red.contains(&format!("usersig={sig}"));
            proptest::prop_assert!(!shown || sig == "<redacted>", "{}", red);
        }
    }
}
