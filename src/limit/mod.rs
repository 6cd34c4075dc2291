//! The rate limiter, behind one interface, with two backends (design §11).
//!
//! Tencent counts its quota per app and per command, so the limiter keeps one *lane* per command
//! (`group_open_http_svc/delete_group_msg_by_sender` …), each allowed `rate_limit` starts per
//! second:
//!
//! - [`local`]: paces the starts of this process (the default);
//! - [`redis`]: one lane in Redis shared by every process and host that names the same Redis
//!   (`rate_limit_url`), with a fallback for when Redis does not answer.
//!
//! Both backends *reserve* a start and sleep until it, refuse at once a start that would come after
//! the caller's deadline, and adapt: a rate-limit answer from the server cuts the lane's rate
//! ([`adaptive`]), in this process or, with Redis, for the whole fleet.

pub(crate) mod adaptive;
mod local;
pub(crate) mod redis;
mod target;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, RateLimitFallback};
use crate::error::{Error, ErrorKind, Result};
use crate::observe::{Event, EventKind, Telemetry};

use self::local::Pacer;
use self::redis::{RedisLanes, Trouble};
use self::target::TlsFiles;

/// The part of its share a client keeps to, on top of Redis, just after an outage or a failover.
const GRACE_SHARE: f64 = 0.8;

/// One lane: a service and a command (`group_open_http_svc`, `delete_group_msg_by_sender`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lane<'a> {
    pub(crate) service: &'a str,
    pub(crate) command: &'a str,
}

impl Lane<'_> {
    /// `service/command`, the lane's name in keys and logs.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.service, self.command)
    }

    /// Whether `name` is this lane's name (compared in place: no allocation on the hot path).
    pub(crate) fn is(&self, name: &str) -> bool {
        name.len() == self.service.len() + 1 + self.command.len()
            && name.starts_with(self.service)
            && name.ends_with(self.command)
            && name.as_bytes()[self.service.len()] == b'/'
    }
}

/// Why a caller may not start now.
#[derive(Debug)]
pub(crate) enum Denied {
    /// The earliest start is `wait` away, after the caller's deadline; nothing was reserved.
    Deadline {
        /// How long the caller would have had to wait.
        wait: Duration,
    },
    /// The shared limiter is unavailable (with `rate_limit_fallback="fail"`) or refuses us.
    Error(Error),
}

enum Backend {
    Local(Pacer),
    Redis {
        lanes: Box<RedisLanes>,
        fallback: RateLimitFallback,
        /// The pacer used while Redis is out (with the `local` fallback), at this client's share
        /// of the rate; while Redis answers it keeps the latest start Redis gave, so that the
        /// fallback starts after it.
        local: Pacer,
        /// `rate_limit_fallback_fraction`: the largest share of the rate the fallback takes.
        fraction: f64,
    },
}

/// The limiter of one client (shared by its clones and threads).
pub(crate) struct Limiter {
    configured: f64,
    adaptive: bool,
    backend: Backend,
    telemetry: Arc<Telemetry>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("per_second", &self.configured).field("backend", &self.backend_name()).finish()
    }
}

impl Limiter {
    /// The limiter a checked config asks for; `None` when `rate_limit` is off.
    pub(crate) fn from_config(cfg: &Config, telemetry: &Arc<Telemetry>) -> Result<Option<Limiter>> {
        let Some(rate) = cfg.rate_limit else { return Ok(None) };
        let backend = match &cfg.rate_limit_url {
            None => Backend::Local(Pacer::new(rate)),
            Some(url) => Backend::Redis {
                lanes: Box::new(RedisLanes::new(
                    url.expose(),
                    &TlsFiles {
                        ca_pem: cfg.rate_limit_ca_pem.clone(),
                        client: cfg
                            .rate_limit_client_cert_pem
                            .as_ref()
                            .zip(cfg.rate_limit_client_key_pem.as_ref())
                            .map(|(cert, key)| (cert.clone(), key.expose().as_bytes().to_vec())),
                    },
                    &cfg.rate_limit_prefix,
                    cfg.sdkappid,
                    cfg.rate_limit_timeout,
                    cfg.rate_limit_clock,
                    cfg.rate_limit_adaptive,
                    telemetry.clone(),
                )?),
                fallback: cfg.rate_limit_fallback,
                local: Pacer::new(rate * cfg.rate_limit_fallback_fraction),
                fraction: cfg.rate_limit_fallback_fraction,
            },
        };
        Ok(Some(Limiter { configured: rate, adaptive: cfg.rate_limit_adaptive, backend, telemetry: telemetry.clone() }))
    }

    /// The configured rate of each lane.
    pub(crate) fn per_second(&self) -> f64 {
        self.configured
    }

    /// `"local"` or `"redis"`.
    pub(crate) fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Local(_) => "local",
            Backend::Redis { .. } => "redis",
        }
    }

    /// Blocks until the caller may start a request in `lane`, never past `deadline`.
    pub(crate) fn acquire(&self, lane: Lane<'_>, deadline: Option<Instant>) -> std::result::Result<(), Denied> {
        match &self.backend {
            Backend::Local(pacer) => pacer.acquire(lane, deadline).map_err(|wait| Denied::Deadline { wait }),
            Backend::Redis { lanes, fallback, local, fraction } => {
                let mut backoff = Duration::from_millis(20);
                let waited_from = Instant::now();
                loop {
                    match self.acquire_shared(lane, deadline, lanes, local, *fraction) {
                        Ok(result) => return result,
                        Err(Trouble::Refused(e)) => return Err(Denied::Error(e)),
                        Err(Trouble::Unavailable { cause, why }) => match fallback {
                            RateLimitFallback::Local => {
                                local.set_rate(self.fallback_rate(lanes, *fraction));
                                return local.acquire(lane, deadline).map_err(|wait| Denied::Deadline { wait });
                            }
                            RateLimitFallback::Open => return Ok(()),
                            RateLimitFallback::Fail => {
                                // Wait for Redis, within the call's deadline: an outage shorter
                                // than the deadline fails nothing. A cause that waiting cannot
                                // cure (a Cluster node that is not the slot's, a replica, TLS)
                                // fails at once.
                                let now = Instant::now();
                                let left = deadline.map_or(Duration::ZERO, |d| d.saturating_duration_since(now));
                                if cause.lasting() || left.is_zero() {
                                    let waited = if left.is_zero() && !cause.lasting() {
                                        format!(
                                            ", waited {:.1} s until the call's deadline",
                                            waited_from.elapsed().as_secs_f64()
                                        )
                                    } else {
                                        String::new()
                                    };
                                    return Err(Denied::Error(Error::new(
                                        ErrorKind::Limiter,
                                        format!(
                                            "the shared rate limiter at {} is unavailable ({}: {why}){waited}; \
                                             rate_limit_fallback is \"fail\"",
                                            lanes.shown_url(),
                                            cause.name()
                                        ),
                                    )));
                                }
                                let turn =
                                    lanes.next_probe().map_or(Duration::ZERO, |at| at.saturating_duration_since(now));
                                let jitter = Duration::from_micros(rand::random::<u64>() % 10_000);
                                std::thread::sleep(backoff.max(turn).min(left) + jitter.min(left / 2));
                                backoff = (backoff * 2).min(Duration::from_millis(500));
                            }
                        },
                    }
                }
            }
        }
    }

    /// One try of the shared limiter: `Ok` with the answer's meaning, `Err` when Redis gave none.
    fn acquire_shared(
        &self,
        lane: Lane<'_>,
        deadline: Option<Instant>,
        lanes: &RedisLanes,
        local: &Pacer,
        fraction: f64,
    ) -> std::result::Result<std::result::Result<(), Denied>, Trouble> {
        let now = Instant::now();
        let max_wait = deadline.map_or(Duration::from_secs(86_400), |d| d.saturating_duration_since(now));
        // Just back from an outage (or on a new master after a failover): the rest of the fleet
        // may still be on its fallback (or the old master) until its next probe. Keep to the
        // fallback's pace as well for a moment: take the fallback's next start first, and ask
        // Redis for a start no earlier, so that Redis's lane holds the real starts.
        let grace = lanes.in_grace();
        let share_rate = self.fallback_rate(lanes, fraction);
        local.set_rate(share_rate);
        let not_before = if grace {
            // A little under the share: the starts the lost lane promised, and those of clients
            // still on their fallback, overlap the first of the new lane.
            local.set_rate(share_rate * GRACE_SHARE);
            let next = match local.reserve(lane, Instant::now, deadline) {
                Ok((_, start)) => start.saturating_duration_since(now),
                Err(_) => Duration::ZERO,
            };
            (next, next)
        } else {
            // Never before this client's own latest start. A Redis that lost its state (a
            // restart) must not hand out starts among those it promised before, which the
            // callers sleeping on them still make: those of the other clients fall up to one
            // share's gap after this client's own. (While Redis keeps its state, its lane is past
            // every client's latest start anyway.)
            match local.last_start(lane) {
                Some(last) => {
                    let own = last.saturating_duration_since(now);
                    let lost = (last + local::interval(share_rate)).saturating_duration_since(now);
                    (own, if own.is_zero() { Duration::ZERO } else { lost })
                }
                None => (Duration::ZERO, Duration::ZERO),
            }
        };
        let answer = lanes.run("acquire", &lane.name(), self.configured, max_wait, deadline, not_before)?;
        if !answer.granted {
            return Ok(Err(Denied::Deadline { wait: answer.wait }));
        }
        let start = now + answer.wait;
        if !grace {
            // The fallback, if it is needed, starts after the starts Redis has promised.
            local.not_before(lane, start);
        }
        let wait = start.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        Ok(Ok(()))
    }

    /// The fallback's rate: the rate shared by the clients last seen, at most
    /// `rate_limit_fallback_fraction` of it.
    fn fallback_rate(&self, lanes: &RedisLanes, fraction: f64) -> f64 {
        let share = match lanes.clients_seen() {
            0 => fraction,
            n => fraction.min(1.0 / f64::from(n)),
        };
        self.configured * share
    }

    /// The server refused a request of `lane` for its rate: slows the lane down (for the whole
    /// fleet with Redis), at most once per window. Does nothing when adaptation is off.
    pub(crate) fn refused(&self, lane: Lane<'_>) {
        if !self.adaptive {
            return;
        }
        let cut = match &self.backend {
            Backend::Local(pacer) => pacer.refused(lane),
            Backend::Redis { lanes, .. } if lanes.in_grace() => {
                // Just after an outage or a failover, part of the fleet was on its fallback (or
                // on the old master) for a moment: the refusal tells of that moment, not of a
                // rate set too high. Cutting would halve the fleet for many seconds.
                log::debug!(
                    target: "timrest",
                    "{}: a rate-limit answer just after the shared limiter came back; the rate is not cut",
                    lane.name()
                );
                None
            }
            Backend::Redis { lanes, local, .. } => {
                match lanes.run(
                    "refused",
                    &lane.name(),
                    self.configured,
                    Duration::ZERO,
                    None,
                    (Duration::ZERO, Duration::ZERO),
                ) {
                    Ok(answer) => answer.granted.then_some(answer.rate),
                    Err(_) => local.refused(lane),
                }
            }
        };
        if let Some(rate) = cut {
            if self.telemetry.listening() {
                let mut e = Event::new(EventKind::RateAdapted, lane.service, lane.command);
                e.rate = Some(rate);
                e.limiter_backend = Some(self.backend_name());
                self.telemetry.emit(e);
            }
            log::debug!(
                target: "timrest",
                "{}: the server refused a request for its rate; the lane now paces at {rate:.2}/s",
                lane.name()
            );
        }
    }

    /// The rate in force in `lane` now: the configured one, less after refusals; with Redis the
    /// fleet's, or, while Redis is out, the fallback's (this client's share, infinity for `open`,
    /// 0 for `fail`). Reading it during an outage does not probe Redis.
    pub(crate) fn rate(&self, lane: Lane<'_>) -> f64 {
        match &self.backend {
            Backend::Local(pacer) => pacer.rate(lane),
            Backend::Redis { lanes, fallback, local, fraction } => {
                let peeked = if lanes.is_down() {
                    None
                } else {
                    lanes
                        .run(
                            "peek",
                            &lane.name(),
                            self.configured,
                            Duration::ZERO,
                            None,
                            (Duration::ZERO, Duration::ZERO),
                        )
                        .ok()
                };
                match (peeked, fallback) {
                    (Some(answer), _) => answer.rate,
                    (None, RateLimitFallback::Local) => {
                        local.set_rate(self.fallback_rate(lanes, *fraction));
                        local.rate(lane)
                    }
                    (None, RateLimitFallback::Open) => f64::INFINITY,
                    (None, RateLimitFallback::Fail) => 0.0,
                }
            }
        }
    }
}
