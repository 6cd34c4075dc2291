//! What a client does, seen from outside: [`Stats`] (counters, always on) and [`Event`]s handed to
//! an [`Observer`] (one per step of a call, built only when someone listens).
//!
//! One internal stream feeds both. Each step of a call is reported once, where it happens:
//!
//! | step | event kind | stats |
//! |---|---|---|
//! | the limiter granted a start (after a wait, possibly none) | `limiter_wait` | `limiter_waits`, `limiter_wait_seconds` |
//! | the limiter refused: no start before the deadline, or the shared limiter failed | `limiter_refused` | — |
//! | an attempt finished | `attempt` | `attempts`, `retries` (every attempt after a call's first), `rate_limited` (60007, 60011 …) |
//! | the call finished | `call` | `calls`, `ok`, `failed`, `failed_by_kind` |
//! | the adaptive limiter cut a lane's rate | `rate_adapted` | — (`effective_rate_limit` shows the rate) |
//! | an exchange with the shared limiter (Redis) failed | `backend_error` | `limiter_backend_errors` |
//! | the shared limiter became unavailable, the fallback serves | `fallback_entered` | `fallback_active` = 1 |
//! | the shared limiter answers again | `fallback_left` | `fallback_active` = 0 |
//! | a request opened a new TCP connection | `connection_opened` | `connections_opened` |
//!
//! Observers run on the thread that made the step happen: the thread that makes the call (a batch's
//! or an async client's worker thread). They must be quick and must not call the client back. A
//! panic in one is caught and logged; it never breaks the call.
//!
//! Never in an event: the UserSig, the secret key, the limiter's URL (it may hold a password), a
//! request URL, a request body, an account or group id. Events carry the command, the numbers of
//! the attempt, and the `random` the request was sent with.

#[cfg(feature = "metrics")]
pub(crate) mod metrics;
#[cfg(feature = "tracing")]
pub(crate) mod tracing;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::error::ErrorKind;

/// The kind of an [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// The limiter granted a start; `duration` is how long the call waited for it (often zero).
    LimiterWait,
    /// The limiter allowed no start: none before the call's deadline, or the shared limiter failed
    /// with `rate_limit_fallback = "fail"` (`error_kind` says which: `timeout` or `limiter`).
    LimiterRefused,
    /// One request and its answer.
    Attempt,
    /// A whole call: every wait and attempt.
    Call,
    /// The server refused for its rate and the adaptive limiter cut the lane (`rate`: the new rate).
    RateAdapted,
    /// An exchange with the shared limiter failed (no answer in time, a broken connection …).
    BackendError,
    /// The shared limiter is unavailable: this client's fallback serves until it answers.
    FallbackEntered,
    /// The shared limiter answers again (`duration`: how long it was out).
    FallbackLeft,
    /// A request opened a new connection (TCP; TLS on top when `https`).
    ConnectionOpened,
}

impl EventKind {
    /// Every kind, in the order of the table above.
    pub const ALL: [EventKind; 9] = [
        EventKind::LimiterWait,
        EventKind::LimiterRefused,
        EventKind::Attempt,
        EventKind::Call,
        EventKind::RateAdapted,
        EventKind::BackendError,
        EventKind::FallbackEntered,
        EventKind::FallbackLeft,
        EventKind::ConnectionOpened,
    ];

    /// The kind's name in every face: `"limiter_wait"`, `"attempt"`, `"call"` …
    pub fn name(self) -> &'static str {
        match self {
            EventKind::LimiterWait => "limiter_wait",
            EventKind::LimiterRefused => "limiter_refused",
            EventKind::Attempt => "attempt",
            EventKind::Call => "call",
            EventKind::RateAdapted => "rate_adapted",
            EventKind::BackendError => "backend_error",
            EventKind::FallbackEntered => "fallback_entered",
            EventKind::FallbackLeft => "fallback_left",
            EventKind::ConnectionOpened => "connection_opened",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One step of a call. Borrowed: valid during [`Observer::on_event`] only (copy what you keep).
/// Fields that do not apply to a kind are `None`; more fields may come.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event<'a> {
    /// What happened.
    pub kind: EventKind,
    /// The TIM service of the call (`group_open_http_svc`).
    pub service: &'a str,
    /// The command (`delete_group_msg_by_sender`).
    pub command: &'a str,
    /// The host the client sends to (`adminapisgp.im.qcloud.com`, `127.0.0.1`).
    pub server_address: &'a str,
    /// Its port.
    pub server_port: u16,
    /// For `attempt` and `connection_opened`: the attempt's number, from 1. For `call`: how many
    /// attempts the call made.
    pub attempt: Option<u32>,
    /// For `attempt` and `call`: the HTTP status of the answer (none when no answer came).
    pub http_status: Option<u16>,
    /// For `attempt` and `call`: TIM's `ErrorCode` (0 on success; none without an envelope).
    pub code: Option<i64>,
    /// The kind of the failure ([`ErrorKind::name`]: `"rate_limited"`, `"timeout"` …); none on success.
    pub error_kind: Option<ErrorKind>,
    /// How long it took: the limiter's wait, the attempt, the call, or the outage that ended.
    pub duration: Option<Duration>,
    /// For `attempt` and `call`: the request's `random` (the id to quote to Tencent support).
    pub random: Option<u32>,
    /// For `rate_adapted`: the lane's new rate, requests per second.
    pub rate: Option<f64>,
    /// For `limiter_wait`, `limiter_refused` and the backend's events: `"local"` or `"redis"`.
    pub limiter_backend: Option<&'static str>,
}

impl<'a> Event<'a> {
    /// An event with only its kind and command set.
    pub fn new(kind: EventKind, service: &'a str, command: &'a str) -> Event<'a> {
        Event {
            kind,
            service,
            command,
            server_address: "",
            server_port: 0,
            attempt: None,
            http_status: None,
            code: None,
            error_kind: None,
            duration: None,
            random: None,
            rate: None,
            limiter_backend: None,
        }
    }
}

/// Receives a client's [`Event`]s. Set one with
/// [`ClientBuilder::observer`](crate::ClientBuilder::observer); a closure
/// `Fn(&Event<'_>) + Send + Sync` is one.
pub trait Observer: Send + Sync + 'static {
    /// Called once per step, on the thread of the step. Must not block for long.
    fn on_event(&self, event: &Event<'_>);
}

impl<F: Fn(&Event<'_>) + Send + Sync + 'static> Observer for F {
    fn on_event(&self, event: &Event<'_>) {
        self(event)
    }
}

/// A client's counters at one moment. All count since the client was built, for it and its clones.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls finished (argument errors caught before sending are not calls).
    pub calls: u64,
    /// Calls that succeeded.
    pub ok: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Failed calls by kind name (`"timeout"` → 2); kinds with none are left out.
    pub failed_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// Requests sent.
    pub attempts: u64,
    /// Requests sent again (every attempt after a call's first).
    pub retries: u64,
    /// Answers refusing for a rate (60007, 60011 …: the kind `rate_limited`).
    pub rate_limited: u64,
    /// Time calls spent waiting for the limiter, seconds, summed.
    pub limiter_wait_seconds: f64,
    /// Starts the limiter granted (the waits summed above; many are of zero length).
    pub limiter_waits: u64,
    /// Failed exchanges with the shared limiter.
    pub limiter_backend_errors: u64,
    /// Whether the shared limiter is out and the fallback serves now.
    pub fallback_active: bool,
    /// New connections opened to the server.
    pub connections_opened: u64,
    /// The rate in force for `delete_group_msg_by_sender` now ([`Client::effective_rate_limit`](crate::Client::effective_rate_limit)); none without a limiter.
    pub effective_rate_limit: Option<f64>,
}

impl Stats {
    /// The stats as one JSON object, with the keys of the fields (`failed_by_kind` nested,
    /// `fallback_active` 0 or 1, `effective_rate_limit` null without a limiter).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "calls": self.calls,
            "ok": self.ok,
            "failed": self.failed,
            "failed_by_kind": self.failed_by_kind,
            "attempts": self.attempts,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "limiter_wait_seconds": self.limiter_wait_seconds,
            "limiter_waits": self.limiter_waits,
            "limiter_backend_errors": self.limiter_backend_errors,
            "fallback_active": u8::from(self.fallback_active),
            "connections_opened": self.connections_opened,
            "effective_rate_limit": self.effective_rate_limit.filter(|r| r.is_finite()),
        })
    }
}

/// Starts one of the client's own worker threads (`delete_many`'s, the incident job's), named
/// `name` (`timrest-…`, for debuggers and profilers). It inherits the starting thread's scope, so
/// that the events of the calls it makes reach observers with the scope of the bulk call they serve.
pub(crate) fn spawn_worker<T: Send + 'static>(
    name: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let scope = current_scope();
    // As `std::thread::spawn` does, a thread that cannot be had is a panic (caught at the boundaries).
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || with_scope(scope, f))
        .expect("failed to spawn a worker thread")
}

/// Something a face attaches to the calls made on a thread, for its own observer to read back
/// ([`current_scope`]): the Python face keeps the caller's `contextvars` context there. The
/// worker threads a call starts ([`spawn_worker`]) inherit it.
pub(crate) type Scope = Arc<dyn std::any::Any + Send + Sync>;

thread_local! {
    static SCOPE: std::cell::RefCell<Option<Scope>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with `scope` as this thread's scope, then puts the previous one back.
pub(crate) fn with_scope<R>(scope: Option<Scope>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Scope>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SCOPE.with(|s| *s.borrow_mut() = previous);
        }
    }
    let previous = SCOPE.with(|s| std::mem::replace(&mut *s.borrow_mut(), scope));
    let _restore = Restore(previous);
    f()
}

/// This thread's scope (see [`with_scope`]).
pub(crate) fn current_scope() -> Option<Scope> {
    SCOPE.with(|s| s.borrow().clone())
}

/// How many kinds a call can fail with: one counter each, in the order of the error table.
const KINDS: usize = crate::error::KINDS.len();

fn kind_index(kind: ErrorKind) -> usize {
    // The table has a row per kind (a test of the error module checks it).
    crate::error::KINDS.iter().position(|k| k.kind == kind).unwrap_or(KINDS - 1)
}

/// The counters and the observers of one client (shared by its clones, its limiter and its
/// connector).
pub(crate) struct Telemetry {
    calls: AtomicU64,
    ok: AtomicU64,
    failed_by_kind: [AtomicU64; KINDS],
    attempts: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    limiter_wait_nanos: AtomicU64,
    limiter_waits: AtomicU64,
    limiter_backend_errors: AtomicU64,
    fallback_active: AtomicBool,
    connections_opened: AtomicU64,
    /// The host and port of the base URL, for events.
    server_address: String,
    server_port: u16,
    /// The observer of the config.
    observer: Option<Arc<dyn Observer>>,
    /// One more, set and replaced at run time (the C face's `timrest_set_event_callback`).
    extra: RwLock<Option<Arc<dyn Observer>>>,
    has_extra: AtomicBool,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry").field("calls", &self.calls).finish_non_exhaustive()
    }
}

impl Telemetry {
    pub(crate) fn new(base_url: &str, observer: Option<Arc<dyn Observer>>) -> Telemetry {
        let (server_address, server_port) = address_of(base_url);
        #[cfg(feature = "metrics")]
        metrics::describe();
        Telemetry {
            calls: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            failed_by_kind: std::array::from_fn(|_| AtomicU64::new(0)),
            attempts: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            limiter_wait_nanos: AtomicU64::new(0),
            limiter_waits: AtomicU64::new(0),
            limiter_backend_errors: AtomicU64::new(0),
            fallback_active: AtomicBool::new(false),
            connections_opened: AtomicU64::new(0),
            server_address,
            server_port,
            observer,
            extra: RwLock::new(None),
            has_extra: AtomicBool::new(false),
        }
    }

    /// Whether anyone listens: events are built only then (always with the `metrics` feature,
    /// which observes every event).
    #[inline]
    pub(crate) fn listening(&self) -> bool {
        cfg!(feature = "metrics") || self.observer.is_some() || self.has_extra.load(Ordering::Relaxed)
    }

    /// The host the client sends to, and its port.
    #[cfg(feature = "tracing")]
    pub(crate) fn server(&self) -> (&str, u16) {
        (&self.server_address, self.server_port)
    }

    /// Replaces the run-time observer (`None` removes it).
    pub(crate) fn set_extra(&self, observer: Option<Arc<dyn Observer>>) {
        let mut slot = self.extra.write().unwrap_or_else(|p| p.into_inner());
        self.has_extra.store(observer.is_some(), Ordering::Relaxed);
        *slot = observer;
    }

    /// Hands `event` to the observers, with the server's address filled in. A panic in one is
    /// logged, never passed on.
    pub(crate) fn emit<'a>(&'a self, mut event: Event<'a>) {
        event.server_address = &self.server_address;
        event.server_port = self.server_port;
        #[cfg(feature = "metrics")]
        metrics::record(&event);
        let deliver = |observer: &dyn Observer| {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| observer.on_event(&event)));
            if outcome.is_err() {
                log::warn!(target: "timrest", "an event observer panicked on a {} event; the call goes on", event.kind);
            }
        };
        if let Some(observer) = &self.observer {
            deliver(observer.as_ref());
        }
        if self.has_extra.load(Ordering::Relaxed) {
            let extra = self.extra.read().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(observer) = extra {
                deliver(observer.as_ref());
            }
        }
    }

    /// The limiter granted a start after `waited`.
    pub(crate) fn limiter_waited(&self, service: &str, command: &str, waited: Duration, backend: &'static str) {
        self.limiter_waits.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        if nanos > 0 {
            self.limiter_wait_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
        if self.listening() {
            let mut e = Event::new(EventKind::LimiterWait, service, command);
            e.duration = Some(waited);
            e.limiter_backend = Some(backend);
            self.emit(e);
        }
    }

    /// An attempt's outcome: counted, and an event when someone listens.
    pub(crate) fn attempted<'a>(&'a self, event: Event<'a>) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if event.attempt.is_some_and(|n| n > 1) {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
        if event.error_kind == Some(ErrorKind::RateLimited) {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        if self.listening() {
            self.emit(event);
        }
    }

    /// A call's end.
    pub(crate) fn called<'a>(&'a self, event: Event<'a>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match event.error_kind {
            None => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Some(kind) => {
                self.failed_by_kind[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
            }
        }
        if self.listening() {
            self.emit(event);
        }
    }

    /// A request opened a connection.
    pub(crate) fn connection_opened(&self, service: &str, command: &str, attempt: u32) {
        self.connections_opened.fetch_add(1, Ordering::Relaxed);
        if self.listening() {
            let mut e = Event::new(EventKind::ConnectionOpened, service, command);
            e.attempt = Some(attempt);
            self.emit(e);
        }
    }

    /// A failed exchange with the shared limiter, for `lane` (`service/command`).
    pub(crate) fn backend_error(&self, lane: &str) {
        self.limiter_backend_errors.fetch_add(1, Ordering::Relaxed);
        if self.listening() {
            let (service, command) = lane.split_once('/').unwrap_or(("", lane));
            let mut e = Event::new(EventKind::BackendError, service, command);
            e.limiter_backend = Some("redis");
            self.emit(e);
        }
    }

    /// The fallback started serving (`true`) or stopped (`false`, after an outage of `outage`).
    pub(crate) fn fallback(&self, lane: &str, active: bool, outage: Option<Duration>) {
        self.fallback_active.store(active, Ordering::Relaxed);
        if self.listening() {
            let (service, command) = lane.split_once('/').unwrap_or(("", lane));
            let kind = if active { EventKind::FallbackEntered } else { EventKind::FallbackLeft };
            let mut e = Event::new(kind, service, command);
            e.duration = outage;
            e.limiter_backend = Some("redis");
            self.emit(e);
        }
    }

    /// The counters now; `effective_rate_limit` is the caller's to fill in.
    pub(crate) fn snapshot(&self) -> Stats {
        let mut failed_by_kind = std::collections::BTreeMap::new();
        let mut failed = 0;
        for (info, count) in crate::error::KINDS.iter().zip(&self.failed_by_kind) {
            let n = count.load(Ordering::Relaxed);
            if n > 0 {
                failed_by_kind.insert(info.name, n);
                failed += n;
            }
        }
        Stats {
            calls: self.calls.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            failed,
            failed_by_kind,
            attempts: self.attempts.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            limiter_wait_seconds: Duration::from_nanos(self.limiter_wait_nanos.load(Ordering::Relaxed)).as_secs_f64(),
            limiter_waits: self.limiter_waits.load(Ordering::Relaxed),
            limiter_backend_errors: self.limiter_backend_errors.load(Ordering::Relaxed),
            fallback_active: self.fallback_active.load(Ordering::Relaxed),
            connections_opened: self.connections_opened.load(Ordering::Relaxed),
            effective_rate_limit: None,
        }
    }
}

/// The host and port of a base URL (`https://host[:port][/…]`); the scheme's port when none is given.
fn address_of(base_url: &str) -> (String, u16) {
    let (scheme, rest) = base_url.split_once("://").unwrap_or(("https", base_url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let default = if scheme.eq_ignore_ascii_case("http") { 80 } else { 443 };
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(default);
        return (host.to_owned(), port);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().unwrap_or(default)),
        None => (authority.to_owned(), default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_counter_of_its_own() {
        assert_eq!(crate::error::KINDS.len(), KINDS, "KINDS must follow the error table");
        let indices: std::collections::BTreeSet<_> = crate::error::KINDS.iter().map(|k| kind_index(k.kind)).collect();
        assert_eq!(indices.len(), KINDS);
    }

    #[test]
    fn the_server_address_comes_from_the_base_url_without_credentials() {
        assert_eq!(address_of("https://adminapisgp.im.qcloud.com"), ("adminapisgp.im.qcloud.com".into(), 443));
        assert_eq!(address_of("http://127.0.0.1:8080/x"), ("127.0.0.1".into(), 8080));
        assert_eq!(address_of("http://[::1]:9/"), ("::1".into(), 9));
        assert_eq!(address_of("http://user:pw@host:81"), ("host".into(), 81));
    }

    #[test]
    fn a_panicking_observer_is_logged_and_the_others_still_run() {
        let seen = Arc::new(AtomicU64::new(0));
        let t = Telemetry::new("http://127.0.0.1:1", Some(Arc::new(|_: &Event<'_>| panic!("hook"))));
        let counter = seen.clone();
        t.set_extra(Some(Arc::new(move |_: &Event<'_>| {
            counter.fetch_add(1, Ordering::Relaxed);
        })));
        t.called(Event::new(EventKind::Call, "s", "c"));
        assert_eq!(seen.load(Ordering::Relaxed), 1);
        assert_eq!(t.snapshot().ok, 1);
    }
}
