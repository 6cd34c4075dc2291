//! The client-side rate limiter, shared by every call (and every clone) of one client.
//!
//! Guarantee: at most `N` request starts in any window of `W`, where for a rate `r` per second
//! `N = max(1, ⌊r⌋)` and `W = max(1 s, N / r)`. So for `r ≥ 1` at most `⌊r⌋` starts in any
//! 1-second window (a fractional part is given up rather than risk a burst over the quota), and
//! for `r < 1` one start every `1 / r` seconds. There is never a burst above `N`.
//!
//! Design: a sliding log of the last `N` *reserved* start times. A caller reserves the earliest
//! time `t ≥ now` such that the `N`-th most recent reservation is at least `W` before `t`, records
//! it under the lock, releases the lock, and sleeps until `t`. Reservations are handed out in
//! order, so waiters are served first come, first served, and nobody sleeps while holding the
//! lock. A caller whose reservation would fall after its deadline reserves nothing and gets an
//! error at once (it does not sleep until the deadline for nothing).
//!
//! A start is counted when its slot is reserved; a thread that wakes late only makes the real
//! spacing wider. What the server sees also depends on network jitter, so leave a small margin
//! under the server's quota (95/s against 100/s).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A sliding-log limiter: at most `limit` starts in any `window`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: usize,
    window: Duration,
    per_second: f64,
    /// The last `limit` reserved start times, oldest first (never more than `limit`).
    log: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    /// A limiter for `per_second` requests per second (`per_second` must be positive and finite;
    /// the config checks it).
    pub(crate) fn new(per_second: f64) -> RateLimiter {
        let per_second = if per_second.is_finite() && per_second > 0.0 { per_second } else { 1.0 };
        // Capped so that an absurd rate does not allocate an absurd log; such a rate is "no limit" in practice.
        let limit = per_second.floor().clamp(1.0, 1_000_000.0) as usize;
        let window = Duration::from_secs_f64((limit as f64 / per_second).max(1.0));
        RateLimiter { limit, window, per_second, log: Mutex::new(VecDeque::with_capacity(limit)) }
    }

    /// The configured rate.
    pub(crate) fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Reserves the earliest start at or after `now`. `Ok(t)`: the caller may start at `t` (the
    /// slot is taken). `Err(t)`: `t` would be after `deadline`; nothing was reserved.
    pub(crate) fn reserve(&self, now: Instant, deadline: Option<Instant>) -> Result<Instant, Instant> {
        let mut log = self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let start = if log.len() < self.limit {
            now
        } else {
            // The oldest of the last `limit` starts must be at least a window before ours.
            log.front().map_or(now, |oldest| now.max(*oldest + self.window))
        };
        if deadline.is_some_and(|d| start > d) {
            return Err(start);
        }
        if log.len() == self.limit {
            log.pop_front();
        }
        log.push_back(start);
        Ok(start)
    }

    /// Blocks until this caller may start a request (without holding the lock while asleep).
    /// `Err(wait)` when the slot would come after `deadline`: `wait` is how long it would have taken.
    pub(crate) fn acquire(&self, deadline: Option<Instant>) -> Result<(), Duration> {
        let now = Instant::now();
        match self.reserve(now, deadline) {
            Ok(start) => {
                let wait = start.saturating_duration_since(now);
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
                Ok(())
            }
            Err(start) => Err(start.saturating_duration_since(now)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Checks the guarantee on a list of start times: at most `n` in any `w`.
    fn at_most_n_in_any_window(starts: &[Instant], n: usize, w: Duration) {
        for (i, s) in starts.iter().enumerate() {
            let inside = starts[i..].iter().take_while(|t| **t < *s + w).count();
            assert!(inside <= n, "{inside} starts within {w:?} of start #{i}");
        }
    }

    #[test]
    fn a_burst_gets_the_first_n_at_once_then_one_per_freed_slot() {
        let l = RateLimiter::new(3.0);
        let t0 = Instant::now();
        let starts: Vec<_> = (0..7).map(|_| l.reserve(t0, None).unwrap()).collect();
        let offsets: Vec<_> = starts.iter().map(|s| s.duration_since(t0).as_millis()).collect();
        assert_eq!(offsets, [0, 0, 0, 1000, 1000, 1000, 2000]);
        at_most_n_in_any_window(&starts, 3, Duration::from_secs(1));
    }

    #[test]
    fn spaced_requests_are_not_delayed() {
        let l = RateLimiter::new(10.0);
        let t0 = Instant::now();
        for i in 0..100u32 {
            let now = t0 + 100 * MS * i;
            assert_eq!(l.reserve(now, None).unwrap(), now);
        }
    }

    #[test]
    fn the_window_slides() {
        let l = RateLimiter::new(2.0);
        let t0 = Instant::now();
        assert_eq!(l.reserve(t0, None).unwrap(), t0);
        assert_eq!(l.reserve(t0 + 600 * MS, None).unwrap(), t0 + 600 * MS);
        // Third start: the oldest of the last two is t0, so not before t0 + 1 s.
        assert_eq!(l.reserve(t0 + 700 * MS, None).unwrap(), t0 + 1000 * MS);
        // Fourth: the oldest of the last two is now t0 + 600 ms.
        assert_eq!(l.reserve(t0 + 700 * MS, None).unwrap(), t0 + 1600 * MS);
    }

    #[test]
    fn fractional_rates_never_burst_above_the_floor() {
        let l = RateLimiter::new(2.5);
        assert_eq!((l.limit, l.window), (2, Duration::from_secs(1)));
        let slow = RateLimiter::new(0.5);
        assert_eq!((slow.limit, slow.window), (1, Duration::from_secs(2)));
        let t0 = Instant::now();
        let starts: Vec<_> = (0..5).map(|_| slow.reserve(t0, None).unwrap()).collect();
        at_most_n_in_any_window(&starts, 1, Duration::from_secs(2));
        assert_eq!(starts[4].duration_since(t0), Duration::from_secs(8));
    }

    #[test]
    fn a_slot_past_the_deadline_is_refused_and_not_taken() {
        let l = RateLimiter::new(1.0);
        let t0 = Instant::now();
        l.reserve(t0, None).unwrap();
        assert_eq!(l.reserve(t0, Some(t0 + 500 * MS)), Err(t0 + 1000 * MS));
        // The refused caller took nothing: the next one still gets t0 + 1 s.
        assert_eq!(l.reserve(t0, Some(t0 + 1000 * MS)), Ok(t0 + 1000 * MS));
    }

    #[test]
    fn many_uneven_callers_keep_the_guarantee() {
        let l = RateLimiter::new(7.0);
        let t0 = Instant::now();
        let mut now = t0;
        let mut starts = Vec::new();
        for i in 0..300u32 {
            now += MS * ((i * 37) % 190); // irregular arrivals, sometimes faster than the limit
            let s = l.reserve(now, None).unwrap();
            assert!(s >= now);
            starts.push(s);
        }
        starts.sort();
        at_most_n_in_any_window(&starts, 7, Duration::from_secs(1));
    }

    #[test]
    fn threads_sharing_a_limiter_start_within_the_limit() {
        let l = std::sync::Arc::new(RateLimiter::new(20.0));
        let started = std::sync::Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (l, started) = (l.clone(), started.clone());
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        l.acquire(None).unwrap();
                        started.lock().unwrap().push(Instant::now());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let starts = started.lock().unwrap();
        assert_eq!(starts.len(), 40);
        // Real sleeps only ever end late, so the log's guarantee bounds the spread from below:
        // 40 starts at 20 per second need at least one full window after the first 20.
        let first = starts.iter().min().unwrap();
        let last = starts.iter().max().unwrap();
        assert!(last.duration_since(*first) >= Duration::from_millis(950));
    }
}
