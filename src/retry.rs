//! The retry policy: which failures are tried again, and how long to wait first.
//!
//! There is one policy, and it follows the code table: [`ErrorKind::retry`] says whether a kind
//! is retried at all ([`Retry`]); this module says when.
//!
//! - [`Retry::Backoff`] (transport errors, timeouts, server-side codes) means exponential backoff with
//!   *full jitter*, a delay drawn uniformly from `[0, min(cap, base · 2ⁿ)]` with base 100 ms and
//!   cap 2 s, `n` being the number of retries already made.
//! - [`Retry::SlowDown`] (rate-limit codes) means longer, and never close to zero, since the server
//!   counts requests over a whole second: *equal jitter*, a delay drawn from `[c/2, c]` with
//!   `c = min(8 s, 1 s · 2ⁿ)`.
//! - [`Retry::AfterResign`] (70001, 70052) means once, at once, after signing a fresh UserSig, and
//!   only when the client holds the secret key.
//! - [`Retry::No`] means never.
//!
//! Every retry, the re-signing one included, counts against `max_retries`: a call sends at most
//! `1 + max_retries` requests. The caller (the client) also stops when a wait would end past the
//! call's deadline. Deleting by sender is idempotent, so trying it again is safe.
//!
//! ```
//! use std::time::Duration;
//! use timrest::retry::{Decision, RetryPolicy};
//! use timrest::ErrorKind;
//!
//! let policy = RetryPolicy::new(3);
//! assert_eq!(policy.decide(ErrorKind::GroupNotFound, 0, true), Decision::Stop);
//! assert_eq!(policy.decide(ErrorKind::UserSigExpired, 0, true), Decision::Resign);
//! match policy.decide(ErrorKind::Server, 0, false) {
//!     Decision::Wait(d) => assert!(d <= Duration::from_millis(100)),
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(policy.decide(ErrorKind::Server, 3, false), Decision::Stop, "3 retries already made");
//! ```

use std::time::Duration;

use rand::Rng;

use crate::error::{ErrorKind, Retry};

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Give up and report the error.
    Stop,
    /// Sign a fresh UserSig and try again at once.
    Resign,
    /// Wait this long, then try again.
    Wait(Duration),
}

/// The retry policy of a client: how many retries, and the backoff numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (re-signing included).
    pub max_retries: u32,
    /// First ceiling of the [`Retry::Backoff`] delay.
    pub base: Duration,
    /// Largest [`Retry::Backoff`] delay.
    pub cap: Duration,
    /// First ceiling of the [`Retry::SlowDown`] delay.
    pub slow_base: Duration,
    /// Largest [`Retry::SlowDown`] delay.
    pub slow_cap: Duration,
}

impl RetryPolicy {
    /// Base of the exponential backoff.
    pub const BASE: Duration = Duration::from_millis(100);
    /// Cap of the exponential backoff.
    pub const CAP: Duration = Duration::from_secs(2);
    /// Base of the backoff after a rate-limit code.
    pub const SLOW_BASE: Duration = Duration::from_secs(1);
    /// Cap of the backoff after a rate-limit code.
    pub const SLOW_CAP: Duration = Duration::from_secs(8);

    /// The policy with `max_retries` and the standard backoff numbers.
    pub fn new(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            base: Self::BASE,
            cap: Self::CAP,
            slow_base: Self::SLOW_BASE,
            slow_cap: Self::SLOW_CAP,
        }
    }

    /// What to do after an attempt failed with `kind`, when `retries` retries were already made.
    /// `can_resign`: the client holds the secret key and has not re-signed during this call yet.
    pub fn decide(&self, kind: ErrorKind, retries: u32, can_resign: bool) -> Decision {
        self.decide_with(kind, retries, can_resign, &mut rand::rng())
    }

    /// [`RetryPolicy::decide`] with a given source of randomness (for tests).
    pub fn decide_with(&self, kind: ErrorKind, retries: u32, can_resign: bool, rng: &mut impl Rng) -> Decision {
        if retries >= self.max_retries {
            return Decision::Stop;
        }
        match kind.retry() {
            Retry::No => Decision::Stop,
            Retry::AfterResign if can_resign => Decision::Resign,
            Retry::AfterResign => Decision::Stop,
            Retry::Backoff => {
                let ceiling = ceiling(self.base, self.cap, retries);
                Decision::Wait(rng.random_range(Duration::ZERO..=ceiling))
            }
            Retry::SlowDown => {
                let ceiling = ceiling(self.slow_base, self.slow_cap, retries);
                Decision::Wait(rng.random_range(ceiling / 2..=ceiling))
            }
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy::new(crate::config::Defaults::MAX_RETRIES)
    }
}

/// `min(cap, base · 2ⁿ)`, without overflow.
fn ceiling(base: Duration, cap: Duration, n: u32) -> Duration {
    base.checked_mul(1u32.checked_shl(n).unwrap_or(u32::MAX)).map_or(cap, |d| d.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn wait(d: Decision) -> Duration {
        match d {
            Decision::Wait(d) => d,
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    #[test]
    fn ceilings_grow_then_stop_at_the_cap() {
        let p = RetryPolicy::new(100);
        let got: Vec<_> = (0..7).map(|n| ceiling(p.base, p.cap, n).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(ceiling(p.base, p.cap, 40), p.cap);
        assert_eq!(ceiling(p.slow_base, p.slow_cap, 2), Duration::from_secs(4));
        assert_eq!(ceiling(p.slow_base, p.slow_cap, 99), Duration::from_secs(8));
    }

    #[test]
    fn delays_stay_within_their_jitter_bounds() {
        let p = RetryPolicy::new(10);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for n in 0..10 {
            let c = ceiling(p.base, p.cap, n);
            let s = ceiling(p.slow_base, p.slow_cap, n);
            for _ in 0..200 {
                assert!(wait(p.decide_with(ErrorKind::Transport, n, false, &mut rng)) <= c);
                let slow = wait(p.decide_with(ErrorKind::RateLimited, n, false, &mut rng));
                assert!(slow >= s / 2 && slow <= s, "{slow:?} outside [{:?}, {s:?}]", s / 2);
            }
        }
    }

    #[test]
    fn full_jitter_spreads_over_the_whole_range() {
        let p = RetryPolicy::new(10);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let delays: Vec<_> = (0..500).map(|_| wait(p.decide_with(ErrorKind::Server, 4, false, &mut rng))).collect();
        assert!(delays.iter().any(|d| *d < Duration::from_millis(200)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(1400)));
    }

    #[test]
    fn only_what_the_table_marks_is_retried() {
        let p = RetryPolicy::new(3);
        for kind in ErrorKind::all() {
            let d = p.decide(kind, 0, true);
            match kind.retry() {
                Retry::No => assert_eq!(d, Decision::Stop, "{kind}"),
                Retry::AfterResign => assert_eq!(d, Decision::Resign, "{kind}"),
                Retry::Backoff | Retry::SlowDown => assert!(matches!(d, Decision::Wait(_)), "{kind}"),
            }
        }
    }

    #[test]
    fn resigning_needs_the_key_and_happens_once() {
        let p = RetryPolicy::new(3);
        assert_eq!(p.decide(ErrorKind::UserSigExpired, 0, false), Decision::Stop);
        assert_eq!(p.decide(ErrorKind::UserSigExpired, 1, true), Decision::Resign);
    }

    #[test]
    fn max_retries_bounds_every_retry() {
        let p = RetryPolicy::new(2);
        assert!(matches!(p.decide(ErrorKind::Transport, 1, false), Decision::Wait(_)));
        assert_eq!(p.decide(ErrorKind::Transport, 2, false), Decision::Stop);
        assert_eq!(p.decide(ErrorKind::UserSigExpired, 2, true), Decision::Stop);
        let never = RetryPolicy::new(0);
        for kind in ErrorKind::all() {
            assert_eq!(never.decide(kind, 0, true), Decision::Stop);
        }
    }
}
