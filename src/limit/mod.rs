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
mod redis;

use std::time::{Duration, Instant};

use crate::config::{Config, RateLimitFallback};
use crate::error::{Error, ErrorKind, Result};

use self::local::Pacer;
use self::redis::{RedisLanes, Trouble};

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
        /// The pacer used while Redis is out (with the `local` fallback), at a fraction of the rate.
        local: Pacer,
    },
}

/// The limiter of one client (shared by its clones and threads).
pub(crate) struct Limiter {
    configured: f64,
    adaptive: bool,
    backend: Backend,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("per_second", &self.configured).field("backend", &self.backend_name()).finish()
    }
}

impl Limiter {
    /// The limiter a checked config asks for; `None` when `rate_limit` is off.
    pub(crate) fn from_config(cfg: &Config) -> Result<Option<Limiter>> {
        let Some(rate) = cfg.rate_limit else { return Ok(None) };
        let backend = match &cfg.rate_limit_url {
            None => Backend::Local(Pacer::new(rate)),
            Some(url) => Backend::Redis {
                lanes: Box::new(RedisLanes::new(
                    url.expose(),
                    &cfg.rate_limit_prefix,
                    cfg.sdkappid,
                    cfg.rate_limit_timeout,
                    cfg.rate_limit_clock,
                    cfg.rate_limit_adaptive,
                )?),
                fallback: cfg.rate_limit_fallback,
                local: Pacer::new(rate * cfg.rate_limit_fallback_fraction),
            },
        };
        Ok(Some(Limiter { configured: rate, adaptive: cfg.rate_limit_adaptive, backend }))
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
            Backend::Redis { lanes, fallback, local } => {
                let max_wait =
                    deadline.map_or(Duration::from_secs(86_400), |d| d.saturating_duration_since(Instant::now()));
                match lanes.run("acquire", &lane.name(), self.configured, max_wait, deadline) {
                    Ok(answer) if answer.granted => {
                        if !answer.wait.is_zero() {
                            std::thread::sleep(answer.wait);
                        }
                        Ok(())
                    }
                    Ok(answer) => Err(Denied::Deadline { wait: answer.wait }),
                    Err(Trouble::Refused(e)) => Err(Denied::Error(e)),
                    Err(Trouble::Unavailable(why)) => match fallback {
                        RateLimitFallback::Local => {
                            local.acquire(lane, deadline).map_err(|wait| Denied::Deadline { wait })
                        }
                        RateLimitFallback::Open => Ok(()),
                        RateLimitFallback::Fail => Err(Denied::Error(Error::new(
                            ErrorKind::Limiter,
                            format!(
                                "the shared rate limiter at {} is unavailable ({why}); rate_limit_fallback is \"fail\"",
                                lanes.shown_url()
                            ),
                        ))),
                    },
                }
            }
        }
    }

    /// The server refused a request of `lane` for its rate: slows the lane down (for the whole
    /// fleet with Redis), at most once per window. Does nothing when adaptation is off.
    pub(crate) fn refused(&self, lane: Lane<'_>) {
        if !self.adaptive {
            return;
        }
        let cut = match &self.backend {
            Backend::Local(pacer) => pacer.refused(lane),
            Backend::Redis { lanes, local, .. } => {
                match lanes.run("refused", &lane.name(), self.configured, Duration::ZERO, None) {
                    Ok(answer) => answer.granted.then_some(answer.rate),
                    Err(_) => local.refused(lane),
                }
            }
        };
        if let Some(rate) = cut {
            log::debug!(
                target: "timrest",
                "{}: the server refused a request for its rate; the lane now paces at {rate:.2}/s",
                lane.name()
            );
        }
    }

    /// The rate in force in `lane` now: the configured one, less after refusals; with Redis the
    /// fleet's (or, while Redis is out, the fallback's: a fraction, infinity for `open`, 0 for
    /// `fail`).
    pub(crate) fn rate(&self, lane: Lane<'_>) -> f64 {
        match &self.backend {
            Backend::Local(pacer) => pacer.rate(lane),
            Backend::Redis { lanes, fallback, local } => {
                match lanes.run("peek", &lane.name(), self.configured, Duration::ZERO, None) {
                    Ok(answer) => answer.rate,
                    Err(_) => match fallback {
                        RateLimitFallback::Local => local.rate(lane),
                        RateLimitFallback::Open => f64::INFINITY,
                        RateLimitFallback::Fail => 0.0,
                    },
                }
            }
        }
    }
}
