//! The Redis backend: one quota for every process and host that points at the same Redis.
//!
//! Each lane is one hash in Redis, `{prefix}:{{sdkappid}}:{service}/{command}` (the SDKAppID is
//! the hash tag, so a Redis Cluster keeps every lane of an app on one slot), and one Lua script
//! (`gcra.lua`, run with `EVALSHA` and loaded again on `NOSCRIPT`, so a restarted or failed-over
//! Redis is used again without help) reserves starts exactly as the local pacer does.
//!
//! Redis must answer within `rate_limit_timeout` (50 ms by default). When it does not, or is not
//! there, the lane is served by the fallback (`rate_limit_fallback`): a local pacer at a fraction
//! of the rate, a [`ErrorKind::Limiter`](crate::ErrorKind::Limiter) error, or no limit. One
//! warning goes to the log when an outage starts and one line when Redis answers again; while it
//! is out, one caller every [`PROBE_EVERY`] tries it again. A refused password is no outage: it
//! is a `Limiter` error every time, whatever the fallback, since falling back would hide it.
//!
//! Connections are pooled (one per concurrent caller at most), each with the timeout set on its
//! socket; when one fails, the pool is emptied (the others lead to the same server). The URL shown in messages and
//! logs has no password.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::redis::{Client as RedisClient, Connection, ErrorKind as RedisErrorKind, RedisError, Script};

use super::adaptive;
use crate::config::RateLimitClock;
use crate::error::{Error, ErrorKind, Result};

/// While Redis is out, how often one caller tries it again.
pub(crate) const PROBE_EVERY: Duration = Duration::from_millis(500);
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

/// Why Redis gave no answer.
#[derive(Debug)]
pub(crate) enum Trouble {
    /// Not reachable, too slow, or broke the connection: an outage, served by the fallback.
    Unavailable(String),
    /// Reachable, but refuses us (a wrong password, a forbidden command): an error every time.
    Refused(Error),
}

#[derive(Debug, Default)]
struct Health {
    /// When the current outage began (None: Redis answers).
    down_since: Option<Instant>,
    /// During an outage, when the next caller may try Redis again.
    probe_at: Option<Instant>,
}

/// A Redis lane store with a connection pool and outage tracking.
pub(crate) struct RedisLanes {
    client: RedisClient,
    /// The URL without its password, for messages.
    shown_url: String,
    /// `{prefix}:{{sdkappid}}:`
    key_prefix: String,
    script: Script,
    timeout: Duration,
    clock: RateLimitClock,
    adaptive: bool,
    /// Pooled connections, and the process they belong to ([`crate::fork::generation`]): a
    /// forked child must not take the parent's (both would read each other's answers).
    idle: Mutex<(u64, Vec<Connection>)>,
    health: Mutex<Health>,
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
    pub(crate) fn new(
        url: &str,
        prefix: &str,
        sdkappid: u64,
        timeout: Duration,
        clock: RateLimitClock,
        adaptive: bool,
    ) -> Result<RedisLanes> {
        // `redis://user:pass@host/0` → `redis://<redacted>@host/0`, as for proxy URLs.
        let shown = crate::redact::redact_userinfo(url);
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("redis" | "rediss")) {
            return Err(Error::config(format!(
                "rate_limit_url {shown:?} must be a redis:// or rediss:// URL (redis://[:password@]host:port/db)"
            )));
        }
        // The redis crate's own words about a bad URL quote nothing of it.
        let client = RedisClient::open(url)
            .map_err(|e| Error::config(format!("rate_limit_url {shown:?} is not a valid Redis URL: {e}")))?;
        Ok(RedisLanes {
            client,
            shown_url: shown,
            key_prefix: format!("{prefix}:{{{sdkappid}}}:"),
            script: Script::new(include_str!("gcra.lua")),
            timeout,
            clock,
            adaptive,
            idle: Mutex::new((crate::fork::generation(), Vec::new())),
            health: Mutex::new(Health::default()),
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

    fn mark_down(&self, why: &str) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if h.down_since.is_none() {
            h.down_since = Some(now);
            log::warn!(
                target: "timrest",
                "the shared rate limiter at {} is unavailable ({why}); using the fallback until it answers again",
                self.shown_url
            );
        }
        h.probe_at = Some(now + PROBE_EVERY);
    }

    fn mark_up(&self) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(since) = h.down_since.take() {
            log::warn!(
                target: "timrest",
                "the shared rate limiter at {} answers again after {:.1} s; using it again",
                self.shown_url,
                since.elapsed().as_secs_f64()
            );
        }
        h.probe_at = None;
    }

    /// Runs one step of the script for `lane`, within `timeout` and before `deadline`.
    /// `Err(Unavailable)` without trying when an outage is on and it is not this caller's turn.
    pub(crate) fn run(
        &self,
        op: &str,
        lane: &str,
        configured: f64,
        max_wait: Duration,
        deadline: Option<Instant>,
    ) -> std::result::Result<Answer, Trouble> {
        if !self.may_try() {
            return Err(Trouble::Unavailable("still out".to_owned()));
        }
        let mut timeout = self.timeout;
        if let Some(d) = deadline {
            timeout = timeout.min(d.saturating_duration_since(Instant::now())).max(Duration::from_millis(1));
        }
        let outcome = self.invoke(op, lane, configured, max_wait, timeout);
        match outcome {
            Ok(answer) => {
                self.mark_up();
                Ok(answer)
            }
            Err(e) if is_refusal(&e) => {
                // Reachable: not an outage. Said every time, never hidden behind the fallback.
                self.mark_up();
                Err(Trouble::Refused(Error::new(
                    ErrorKind::Limiter,
                    format!("the shared rate limiter at {} refused timrest: {}", self.shown_url, describe(&e)),
                )))
            }
            Err(e) => {
                // The pooled connections go to the same server, which just failed: drop them all,
                // or each later probe would spend its turn on another dead socket.
                self.idle.lock().unwrap_or_else(|p| p.into_inner()).1.clear();
                let why = describe(&e);
                self.mark_down(&why);
                Err(Trouble::Unavailable(why))
            }
        }
    }

    fn invoke(
        &self,
        op: &str,
        lane: &str,
        configured: f64,
        max_wait: Duration,
        timeout: Duration,
    ) -> std::result::Result<Answer, RedisError> {
        let mut con = self.connection(timeout)?;
        con.set_read_timeout(Some(timeout))?;
        con.set_write_timeout(Some(timeout))?;
        let now = match self.clock {
            RateLimitClock::Redis => String::new(),
            RateLimitClock::Local => local_now_micros().to_string(),
        };
        let max_wait_us = u64::try_from(max_wait.as_micros()).unwrap_or(u64::MAX).min(1 << 52);
        let (granted, wait_us, rate): (i64, i64, String) = self
            .script
            .key(self.key(lane))
            .arg(op)
            .arg(configured)
            .arg(max_wait_us)
            .arg(now)
            .arg(adaptive::DECREASE)
            .arg(adaptive::RECOVERY)
            .arg(adaptive::MIN_SHARE)
            .arg(adaptive::WINDOW)
            .arg(if self.adaptive { "1" } else { "0" })
            .invoke(&mut con)?;
        // Only a connection that answered goes back to the pool.
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.0 == crate::fork::generation() && idle.1.len() < MAX_IDLE {
            idle.1.push(con);
        }
        Ok(Answer {
            granted: granted == 1,
            wait: Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)),
            rate: rate.parse().unwrap_or(configured),
        })
    }

    fn connection(&self, timeout: Duration) -> std::result::Result<Connection, RedisError> {
        let pooled = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let generation = crate::fork::generation();
            if idle.0 != generation {
                // Forked: the pooled sockets are the parent's too. Closing our copies is harmless.
                *idle = (generation, Vec::new());
            }
            idle.1.pop()
        };
        match pooled {
            Some(con) => Ok(con),
            None => self.client.get_connection_with_timeout(timeout),
        }
    }
}

/// Microseconds since the script's epoch on this machine's clock (`rate_limit_clock="local"`).
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
    matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM" | "ERR"))
}

/// Redis's words about a failure (they never hold the URL or the password).
fn describe(e: &RedisError) -> String {
    if e.is_timeout() {
        return "no answer in time".to_owned();
    }
    let text = e.to_string();
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
