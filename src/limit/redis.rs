//! The Redis backend: one quota for every process and host that points at the same Redis.
//!
//! Each lane is one hash in Redis, `{prefix}:{{sdkappid}}:{service}/{command}` (the SDKAppID is
//! the hash tag, so a Redis Cluster keeps every lane of an app on one slot), and one Lua script
//! (`gcra.lua`, run with `EVALSHA` and loaded again on `NOSCRIPT`, so a restarted or failed-over
//! Redis is used again without help) reserves starts exactly as the local pacer does. The Redis
//! may be one node, a Cluster or a master found through Sentinel, with or without TLS
//! ([`super::target`]); the `redis` crate does the work of each.
//!
//! Redis must answer within `rate_limit_timeout` (50 ms by default). When it does not, or is not
//! there, the lane is served by the fallback (`rate_limit_fallback`, see [`super::Limiter`]).
//! One warning goes to the log when an outage starts or its cause changes (timeout, refused,
//! connection, moved, readonly, tls), and one line when Redis answers again; while it is out, one
//! caller every [`PROBE_EVERY`] tries it again. A refused password is no outage: it is a `Limiter`
//! error every time, whatever the fallback, since falling back would hide it.
//!
//! While Redis answers, each client renews its presence in the app's hash
//! `{prefix}:{{sdkappid}}:clients` once per [`PRESENCE_EVERY`], and the script counts the clients
//! present: the fallback shares the rate among them.
//!
//! Connections are pooled (one per concurrent caller at most), each with the timeout set on its
//! socket; when one fails, the pool is emptied (the others lead to the same server). The URL shown
//! in messages and logs has no password.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::redis::{ErrorKind as RedisErrorKind, RedisError, Script, ServerErrorKind};

use super::adaptive;
use super::target::{Conn, Kind, Source, Target, TlsFiles};
use crate::config::RateLimitClock;
use crate::error::{Error, ErrorKind, Result};
use crate::observe::Telemetry;

/// While Redis is out, how often one caller tries it again.
pub(crate) const PROBE_EVERY: Duration = Duration::from_millis(250);
/// How often a client renews its presence in the app's hash while Redis answers.
pub(crate) const PRESENCE_EVERY: Duration = Duration::from_secs(1);
/// A client not renewed for this long is no longer counted.
const PRESENCE_TTL: Duration = Duration::from_secs(4);
/// After an outage, how long a client keeps the fallback's pace on top of Redis's: the other
/// clients of the fleet may still be on their fallback until their next probe.
pub(crate) const GRACE: Duration = Duration::from_secs(1);
/// A new connection (TCP, TLS handshake, AUTH) may take this many answer timeouts, at least
/// [`MIN_CONNECT`]: it happens once per pooled connection, and a TLS handshake on a busy host
/// takes longer than one script's answer.
const CONNECT_FACTOR: u32 = 10;
/// The least time a new connection is given.
const MIN_CONNECT: Duration = Duration::from_millis(500);
/// Connections kept for reuse at most.
const MAX_IDLE: usize = 64;
/// The script's epoch, in Unix seconds (keeps microsecond timestamps exact in a double).
const EPOCH_SECS: u64 = 1_700_000_000;

/// What the script answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// Whether the reservation was made (for `acquire`) or the cut applied (for `refused`).
    pub(crate) granted: bool,
    /// How long the caller must wait before its start.
    pub(crate) wait: Duration,
    /// The lane's rate in force.
    pub(crate) rate: f64,
}

/// Why Redis gave no answer we can use, in the words of the one log line per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// No answer within `rate_limit_timeout`.
    Timeout,
    /// Nothing listens (connection refused).
    Refused,
    /// The connection broke, or another I/O failure.
    Connection,
    /// A plain URL names a Cluster node that does not hold the app's slot (`MOVED`/`ASK`).
    Moved,
    /// With a Cluster URL: the redirections did not settle within the answer's time (the app's
    /// slot is moving between nodes, or the nodes disagree about its owner for a moment).
    Resharding,
    /// The server is a read-only replica (a URL at a replica, or at the old master after a failover).
    ReadOnly,
    /// TLS failed: an unknown CA, a wrong client certificate, or a server that does not speak TLS.
    Tls,
}

impl Cause {
    /// The cause's name in logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cause::Timeout => "timeout",
            Cause::Refused => "refused",
            Cause::Connection => "connection",
            Cause::Moved => "moved",
            Cause::Resharding => "resharding",
            Cause::ReadOnly => "readonly",
            Cause::Tls => "tls",
        }
    }

    /// Whether waiting cannot cure it (it needs a change of settings or of the deployment).
    pub(crate) fn lasting(self) -> bool {
        matches!(self, Cause::Moved | Cause::ReadOnly | Cause::Tls)
    }

    /// What to do about it, for the log line and the error.
    fn fix(self, kind: &Kind) -> &'static str {
        match (self, kind) {
            (Cause::Resharding, _) => {
                "; the Cluster is moving this app's slot between nodes, and its redirections did not settle \
                 within rate_limit_timeout; the shared limiter is tried again shortly"
            }
            (Cause::Moved, _) => {
                "; it is a Redis Cluster node and this app's slot lives on another node: use \
                 rate_limit_url=\"redis+cluster://host:port\" (rediss+cluster:// with TLS)"
            }
            (Cause::ReadOnly, Kind::Node) => {
                "; it is a read-only replica: name the master, or find it through Sentinel with \
                 rate_limit_url=\"redis+sentinel://host:port/service_name\""
            }
            (Cause::Tls, _) => {
                "; if the server's certificate comes from a private CA, give it with rate_limit_ca_pem \
                 (TIM_RATE_LIMIT_CA_PEM); if it asks for a client certificate, with rate_limit_client_cert_pem \
                 and rate_limit_client_key_pem"
            }
            _ => "",
        }
    }
}

/// Why Redis gave no answer.
#[derive(Debug)]
pub(crate) enum Trouble {
    /// Not reachable, too slow, broke the connection, or not the right server: served by the fallback.
    Unavailable {
        /// The cause, as logged.
        cause: Cause,
        /// The cause in words (Redis's own, the fix for a lasting cause).
        why: String,
    },
    /// Reachable, but refuses us (a wrong password, a forbidden command): an error every time.
    Refused(Error),
}

#[derive(Debug, Default)]
struct Health {
    /// When the current outage began, and why (None: Redis answers).
    down: Option<(Instant, Cause)>,
    /// During an outage, when the next caller may try Redis again.
    probe_at: Option<Instant>,
    /// When Redis last answered again after an outage.
    recovered_at: Option<Instant>,
    /// When this client next renews its presence.
    presence_at: Option<Instant>,
}

/// Idle connections, for one process ([`crate::fork::generation`]) and one server epoch
/// ([`Source::epoch`]: a new master after a failover).
struct Pool {
    generation: u64,
    epoch: u64,
    conns: Vec<Conn>,
}

/// A Redis lane store with a connection pool and outage tracking.
pub(crate) struct RedisLanes {
    target: Target,
    source: Source,
    /// The URL without its password, for messages.
    shown_url: String,
    /// `{prefix}:{{sdkappid}}:`
    key_prefix: String,
    /// This client's field in the presence hash.
    token: String,
    script: Script,
    timeout: Duration,
    clock: RateLimitClock,
    adaptive: bool,
    /// Pooled connections, and the process they belong to ([`crate::fork::generation`]): a
    /// forked child must not take the parent's (both would read each other's answers).
    idle: Mutex<Pool>,
    health: Mutex<Health>,
    /// The clients present at the last count (0: never counted).
    clients_seen: AtomicU32,
    /// The server epoch of the last call ([`Source::epoch`]).
    epoch_seen: AtomicU64,
    /// Backend errors and the fallback's state, counted and reported.
    telemetry: Arc<Telemetry>,
}

impl std::fmt::Debug for RedisLanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLanes")
            .field("url", &self.shown_url)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisLanes {
    /// Parses the URL (a bad one is a configuration error); connects lazily, on first use.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        url: &str,
        tls_files: &TlsFiles,
        prefix: &str,
        sdkappid: u64,
        timeout: Duration,
        clock: RateLimitClock,
        adaptive: bool,
        telemetry: Arc<Telemetry>,
    ) -> Result<RedisLanes> {
        let shown = crate::redact::redact_userinfo(url);
        let target = Target::parse(url, &shown)?;
        let source = target.source(tls_files, (timeout * CONNECT_FACTOR).max(MIN_CONNECT), timeout, &shown)?;
        Ok(RedisLanes {
            target,
            source,
            shown_url: shown,
            key_prefix: format!("{prefix}:{{{sdkappid}}}:"),
            token: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            script: Script::new(include_str!("gcra.lua")),
            timeout,
            clock,
            adaptive,
            idle: Mutex::new(Pool { generation: crate::fork::generation(), epoch: 0, conns: Vec::new() }),
            health: Mutex::new(Health::default()),
            clients_seen: AtomicU32::new(0),
            epoch_seen: AtomicU64::new(0),
            telemetry,
        })
    }

    /// The URL as shown in messages (no password).
    pub(crate) fn shown_url(&self) -> &str {
        &self.shown_url
    }

    /// The Redis key of a lane.
    pub(crate) fn key(&self, lane: &str) -> String {
        format!("{}{lane}", self.key_prefix)
    }

    /// How many clients of this app were present at the last count (0: never counted).
    pub(crate) fn clients_seen(&self) -> u32 {
        self.clients_seen.load(Ordering::Relaxed)
    }

    /// Whether an outage is on (the fallback serves).
    pub(crate) fn is_down(&self) -> bool {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).down.is_some()
    }

    /// Whether Redis answered again less than [`GRACE`] ago.
    pub(crate) fn in_grace(&self) -> bool {
        let h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        h.recovered_at.is_some_and(|at| at.elapsed() < GRACE)
    }

    /// During an outage, when this caller may next try Redis (now when it may at once).
    pub(crate) fn next_probe(&self) -> Option<Instant> {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).probe_at
    }

    /// Whether this caller may talk to Redis now: always while it answers; during an outage, one
    /// caller per [`PROBE_EVERY`] (the others go to the fallback at once, without waiting).
    fn may_try(&self) -> bool {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        match h.probe_at {
            None => true,
            Some(at) => {
                let now = Instant::now();
                if now < at {
                    return false;
                }
                h.probe_at = Some(now + PROBE_EVERY);
                true
            }
        }
    }

    /// Whether this call should renew the presence (once per [`PRESENCE_EVERY`]).
    fn presence_due(&self) -> bool {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if h.presence_at.is_some_and(|at| now < at) {
            return false;
        }
        h.presence_at = Some(now + PRESENCE_EVERY);
        true
    }

    fn mark_down(&self, cause: Cause, why: &str, lane: &str) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let entered = h.down.is_none();
        let changed = h.down.is_none_or(|(_, was)| was != cause);
        if changed {
            let since = h.down.map_or(now, |(since, _)| since);
            h.down = Some((since, cause));
            log::warn!(
                target: "timrest",
                "the shared rate limiter at {} is unavailable ({}: {why}); using the fallback until it answers again",
                self.shown_url,
                cause.name()
            );
        }
        h.probe_at = Some(now + PROBE_EVERY);
        // The presence is renewed on the first answer after the outage.
        h.presence_at = None;
        drop(h);
        if entered {
            // Outside the lock: an observer may take its time.
            self.telemetry.fallback(lane, true, None);
        }
    }

    fn mark_up(&self, lane: &str) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let mut left = None;
        if let Some((since, _)) = h.down.take() {
            left = Some(since.elapsed());
            h.recovered_at = Some(Instant::now());
            log::warn!(
                target: "timrest",
                "the shared rate limiter at {} answers again after {:.1} s; using it again",
                self.shown_url,
                since.elapsed().as_secs_f64()
            );
        }
        h.probe_at = None;
        drop(h);
        if let Some(outage) = left {
            self.telemetry.fallback(lane, false, Some(outage));
        }
    }

    /// Runs one step of the script for `lane`, within `timeout` and before `deadline`;
    /// `not_before`: the start must be at least that far away; the first one when the lane is
    /// there, the second when Redis lost it.
    /// `Err(Unavailable)` without trying when an outage is on and it is not this caller's turn.
    pub(crate) fn run(
        &self,
        op: &str,
        lane: &str,
        configured: f64,
        max_wait: Duration,
        deadline: Option<Instant>,
        not_before: (Duration, Duration),
    ) -> std::result::Result<Answer, Trouble> {
        if !self.may_try() {
            let cause = self.health.lock().unwrap_or_else(|p| p.into_inner()).down.map_or(Cause::Connection, |d| d.1);
            return Err(Trouble::Unavailable { cause, why: "still out".to_owned() });
        }
        let mut timeout = self.timeout;
        if let Some(d) = deadline {
            timeout = timeout.min(d.saturating_duration_since(Instant::now())).max(Duration::from_millis(1));
        }
        let epoch = self.source.epoch();
        let before = self.epoch_seen.swap(epoch, Ordering::Relaxed);
        if before != 0 && before != epoch {
            // A new master (a failover): the other clients may still be on the old one until
            // they ask the sentinels again. Keep to the fallback's pace as well for a moment,
            // as after an outage.
            self.health.lock().unwrap_or_else(|p| p.into_inner()).recovered_at = Some(Instant::now());
        }
        let presence = op == "acquire" && self.presence_due();
        let mut outcome = self.invoke(op, lane, configured, max_wait, timeout, deadline, not_before, presence, epoch);
        if let Err(e) = &outcome
            && classify(e) == Some(Cause::ReadOnly)
            && !matches!(self.target.kind, Kind::Node)
        {
            // A failover: the master we knew is a replica now. Ask the sentinels (or the
            // Cluster's slot map, on a new connection) again, once.
            self.source.forget_master();
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).conns.clear();
            let epoch = self.source.epoch();
            outcome = self.invoke(op, lane, configured, max_wait, timeout, deadline, not_before, presence, epoch);
        }
        match outcome {
            Ok(answer) => {
                self.mark_up(lane);
                Ok(answer)
            }
            Err(e) if is_refusal(&e) => {
                // Reachable: not an outage. Said every time, never hidden behind the fallback.
                self.mark_up(lane);
                Err(Trouble::Refused(Error::new(ErrorKind::Limiter, self.refusal_message(&e))))
            }
            Err(e) => {
                // The pooled connections go to the same server, which just failed: drop them all,
                // or each later probe would spend its turn on another dead socket.
                self.idle.lock().unwrap_or_else(|p| p.into_inner()).conns.clear();
                self.source.forget_master();
                let cause = match classify(&e).unwrap_or(Cause::Connection) {
                    // The cluster client follows MOVED and ASK itself: one that reaches us means
                    // they did not settle in time, not a URL at the wrong kind of server.
                    Cause::Moved if matches!(self.target.kind, Kind::Cluster) => Cause::Resharding,
                    cause => cause,
                };
                let why = format!("{}{}", self.describe(&e), cause.fix(&self.target.kind));
                if presence {
                    self.health.lock().unwrap_or_else(|p| p.into_inner()).presence_at = None;
                }
                self.telemetry.backend_error(lane);
                self.mark_down(cause, &why, lane);
                Err(Trouble::Unavailable { cause, why })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn invoke(
        &self,
        op: &str,
        lane: &str,
        configured: f64,
        max_wait: Duration,
        timeout: Duration,
        deadline: Option<Instant>,
        not_before: (Duration, Duration),
        presence: bool,
        epoch: u64,
    ) -> std::result::Result<Answer, RedisError> {
        let mut con = self.connection(timeout, deadline, epoch)?;
        con.set_timeouts(timeout)?;
        let now = match self.clock {
            RateLimitClock::Redis => String::new(),
            RateLimitClock::Local => local_now_micros().to_string(),
        };
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).min(1 << 52);
        let reply: redis::Value = self
            .script
            .key(self.key(lane))
            .key(format!("{}clients", self.key_prefix))
            .arg(op)
            .arg(configured)
            .arg(micros(max_wait))
            .arg(now)
            .arg(adaptive::DECREASE)
            .arg(adaptive::RECOVERY)
            .arg(adaptive::MIN_SHARE)
            .arg(adaptive::WINDOW)
            .arg(if self.adaptive { "1" } else { "0" })
            .arg(if presence { self.token.as_str() } else { "" })
            .arg(micros(PRESENCE_TTL))
            .arg(micros(not_before.0))
            .arg(micros(not_before.1))
            .invoke(con.like())?;
        let (answer, clients, lost) = read_answer(reply, configured)?;
        // Only a connection that answered goes back to the pool, and only to the pool of the
        // epoch it was taken in (a newer epoch empties the pool on the next take).
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.generation == crate::fork::generation() && idle.epoch == epoch && idle.conns.len() < MAX_IDLE {
            idle.conns.push(con);
        }
        if let Ok(n @ 1..) = u32::try_from(clients) {
            self.clients_seen.store(n, Ordering::Relaxed);
        }
        if lost {
            // Redis lost the lane (a restart, a flush, a failover to a replica that lagged)
            // while this client had starts pending: as after an outage, keep to the fallback's
            // pace as well for a moment, and take no rate-limit answer of the moment for a
            // reason to cut the rate.
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            if h.recovered_at.is_none_or(|at| at.elapsed() >= GRACE) {
                h.recovered_at = Some(Instant::now());
            }
        }
        Ok(answer)
    }

    fn connection(
        &self,
        timeout: Duration,
        deadline: Option<Instant>,
        epoch: u64,
    ) -> std::result::Result<Conn, RedisError> {
        let pooled = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let generation = crate::fork::generation();
            if idle.generation != generation || idle.epoch != epoch {
                // Forked: the pooled sockets are the parent's too (closing our copies is
                // harmless). A new epoch: they lead to the old master.
                *idle = Pool { generation, epoch, conns: Vec::new() };
            }
            idle.conns.pop()
        };
        match pooled {
            Some(con) => Ok(con),
            None => {
                let mut connect = (self.timeout * CONNECT_FACTOR).max(MIN_CONNECT);
                if let Some(d) = deadline {
                    connect = connect.min(d.saturating_duration_since(Instant::now())).max(timeout);
                }
                self.source.connect(connect)
            }
        }
    }

    /// What a refusing Redis said, with the user it refused and what to do.
    fn refusal_message(&self, e: &RedisError) -> String {
        let url = &self.shown_url;
        let user = &self.target.user;
        let text = self.describe(e);
        if self.target.password.is_none() && (e.code() == Some("NOAUTH") || text.contains("unauthenticated")) {
            return format!(
                "the shared rate limiter at {url} wants a password, and rate_limit_url gives none: put the user and \
                 password in it, redis://user:password@host:port (the server said: {text})"
            );
        }
        if e.kind() == RedisErrorKind::AuthenticationFailed || matches!(e.code(), Some("WRONGPASS" | "NOAUTH")) {
            return format!(
                "the shared rate limiter at {url} refused the Redis user {user:?}: a wrong password, or the user is \
                 disabled ({text})"
            );
        }
        if e.code() == Some("NOPERM")
            || ["NOPERM", "can't run this command", "no permissions"].iter().any(|w| text.contains(w))
        {
            return format!(
                "the shared rate limiter at {url} refused timrest: the Redis user {user:?} may not run what the \
                 limiter needs; grant it: ACL SETUSER {user} ~timrest:* +@scripting +@hash +@connection +time \
                 +pexpire +expire ({text})"
            );
        }
        format!("the shared rate limiter at {url} refused timrest: {text}")
    }

    /// Redis's words about a failure, scrubbed of the password in case a server echoes it.
    fn describe(&self, e: &RedisError) -> String {
        if e.is_timeout() {
            return "no answer in time".to_owned();
        }
        let mut text = e.to_string().trim().to_owned();
        if let Some(password) = self.target.password.as_deref().filter(|p| p.len() >= 3) {
            text = text.replace(password, "<redacted>");
        }
        match text.char_indices().nth(300) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }
}

/// Microseconds since the script's epoch on this machine's clock (`rate_limit_clock="local"`).
/// The script's reply: `{granted, wait in µs, the lane's rate, clients seen, lost}`, read as
/// the script writes it. Redis is a server we do not control (a proxy, a wrong script under our
/// name, a reply cut short): anything else is a typed error, and a rate that is not a positive
/// finite number, or a wait past [`MAX_WAIT_ANSWER`], is not taken as it is.
pub(crate) fn read_answer(
    reply: redis::Value,
    configured: f64,
) -> std::result::Result<(Answer, i64, bool), RedisError> {
    let (granted, wait_us, rate, clients, lost): (i64, i64, String, i64, i64) = redis::from_redis_value(reply)?;
    let rate = rate.trim().parse::<f64>().ok().filter(|r| r.is_finite() && *r > 0.0).unwrap_or(configured);
    let wait = Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)).min(MAX_WAIT_ANSWER);
    Ok((Answer { granted: granted == 1, wait, rate }, clients, lost == 1))
}

/// The longest wait a reply is taken at: a day (the script never answers more than the caller's
/// `max_wait`, which is the call's deadline at most).
const MAX_WAIT_ANSWER: Duration = Duration::from_secs(86_400);

fn local_now_micros() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let micros = since.saturating_sub(Duration::from_secs(EPOCH_SECS)).as_micros();
    u64::try_from(micros).unwrap_or(u64::MAX)
}

/// A Redis that answers but will not serve us: a wrong or missing password, an ACL that forbids
/// the script, a script error.
fn is_refusal(e: &RedisError) -> bool {
    if e.kind() == RedisErrorKind::AuthenticationFailed {
        return true;
    }
    if e.to_string().contains("unauthenticated") {
        // Redis closes an unauthenticated connection that sends a long command.
        return true;
    }
    matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM" | "ERR"))
}

/// The cause of an outage, when it is one we name.
fn classify(e: &RedisError) -> Option<Cause> {
    match e.kind() {
        RedisErrorKind::Server(ServerErrorKind::Moved | ServerErrorKind::Ask) => return Some(Cause::Moved),
        RedisErrorKind::Server(ServerErrorKind::ReadOnly) => return Some(Cause::ReadOnly),
        _ => {}
    }
    if matches!(e.code(), Some("MOVED" | "ASK")) {
        return Some(Cause::Moved);
    }
    if e.code() == Some("READONLY") {
        return Some(Cause::ReadOnly);
    }
    if e.is_timeout() {
        return Some(Cause::Timeout);
    }
    if e.is_connection_refusal() {
        return Some(Cause::Refused);
    }
    let text = e.to_string().to_ascii_lowercase();
    if ["certificate", "tls", "handshake", "alert", "invalidcontenttype", "unknownissuer"]
        .iter()
        .any(|w| text.contains(w))
    {
        return Some(Cause::Tls);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn reply(rate: &str, wait_us: i64) -> Value {
        let int = Value::Int;
        Value::Array(vec![int(1), int(wait_us), Value::BulkString(rate.as_bytes().to_vec()), int(3), int(0)])
    }

    #[test]
    fn the_scripts_reply_is_read_as_it_writes_it() {
        let (answer, clients, lost) = read_answer(reply("47.5", 250_000), 95.0).unwrap();
        assert_eq!(answer, Answer { granted: true, wait: Duration::from_millis(250), rate: 47.5 });
        assert_eq!((clients, lost), (3, false));
    }

    /// Found by review while writing the `redis_reply` fuzz target: a rate of "nan", "inf", 0 or
    /// below was taken as the lane's rate in force, and reported as such (a rate limit of NaN).
    #[test]
    fn a_rate_that_is_not_a_positive_number_is_the_configured_one() {
        for bad in ["nan", "NaN", "inf", "-inf", "0", "-5", "", "fast", "1e400"] {
            assert_eq!(read_answer(reply(bad, 0), 95.0).unwrap().0.rate, 95.0, "{bad:?}");
        }
    }

    #[test]
    fn a_wait_is_bounded_and_never_negative() {
        assert_eq!(read_answer(reply("95", -1), 95.0).unwrap().0.wait, Duration::ZERO);
        assert_eq!(read_answer(reply("95", i64::MAX), 95.0).unwrap().0.wait, MAX_WAIT_ANSWER);
    }

    #[test]
    fn any_other_reply_is_an_error() {
        for other in [
            Value::Okay,
            Value::Nil,
            Value::Array(vec![Value::Int(1)]),
            Value::BulkString(b"1".to_vec()),
            Value::Array(vec![Value::Nil; 5]),
        ] {
            assert!(read_answer(other.clone(), 95.0).is_err(), "{other:?}");
        }
    }
}
