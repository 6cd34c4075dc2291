//! The local backend: paces the request starts of one process, per lane (one lane per command).
//!
//! Guarantee: at most `N` request starts in any window of `W`, where for a rate `r` per second
//! `N = max(1, ⌊r⌋)` and `W = max(1 s, N / r)`. So for `r ≥ 1` at most `⌊r⌋` starts in any
//! 1-second window (a fractional part is given up rather than risk going over the quota), and for
//! `r < 1` one start every `1 / r` seconds.
//!
//! Design: starts are *paced*, never closer together than `W / N` (10.5 ms at 95/s). Any window
//! of `W` then holds at most `N` of them, and the load is smooth. Pacing rather than a sliding log
//! that lets `N` starts go at once: a server counts *arrivals*, and arrivals jitter. After a burst
//! of `N`, the next burst is released exactly one window later; if the first requests of the
//! first burst were a few milliseconds slower to arrive (a new connection, a busy core) than
//! those of the second, the server sees more than `N` in one second. Measured against the
//! emulator: 95/s bursts from 8 threads gave 102 arrivals within one second and two 60007
//! answers at a 100/s quota; paced starts absorb up to `(quota − N) / r` seconds of jitter
//! (50 ms for 95/s against 100/s).
//!
//! A caller reserves the next free start time under a lock, releases the lock, and sleeps until
//! it. Reservations are handed out in order, so waiters are served first come, first served,
//! and nobody sleeps while holding the lock. A caller whose start would fall after its deadline
//! reserves nothing and gets an error at once (it does not sleep until the deadline for nothing).
//!
//! The rate of a lane is the configured one, or less after the server refused requests for their
//! rate ([`super::adaptive`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Lane;
use super::adaptive::Adaptive;

/// The smallest gap between two starts at `per_second`: `W / N` as above, `1 / ⌊r⌋` for `r ≥ 1`.
pub(crate) fn interval(per_second: f64) -> Duration {
    let limit = per_second.floor().max(1.0);
    let window = (limit / per_second).max(1.0);
    // The config keeps rates within [0.001, 1e6]; the adaptive floor within 5 % of that.
    Duration::try_from_secs_f64(window / limit).unwrap_or(Duration::MAX)
}

/// One lane: the latest reserved start and the adaptation state.
#[derive(Debug, Default)]
struct LaneState {
    last: Option<Instant>,
    adaptive: Adaptive,
}

/// Paces request starts per lane: at most `⌊rate⌋` in any second, at least `interval` apart.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// The rate (an `f64`'s bits): settable, for the shared limiter's fallback, whose share
    /// follows the number of clients seen.
    per_second: AtomicU64,
    origin: Instant,
    /// Few lanes (one per command a client uses), so a list searched in place, with no key to
    /// allocate on the hot path.
    lanes: Mutex<Vec<(String, LaneState)>>,
}

impl Pacer {
    /// A pacer for `per_second` requests per second in each lane (positive and finite; the config
    /// checks it).
    pub(crate) fn new(per_second: f64) -> Pacer {
        let per_second = if per_second.is_finite() && per_second > 0.0 { per_second } else { 1.0 };
        Pacer {
            per_second: AtomicU64::new(per_second.to_bits()),
            origin: Instant::now(),
            lanes: Mutex::new(Vec::new()),
        }
    }

    fn per_second(&self) -> f64 {
        f64::from_bits(self.per_second.load(Ordering::Relaxed))
    }

    /// Changes the rate of every lane (positive and finite; anything else is ignored).
    pub(crate) fn set_rate(&self, per_second: f64) {
        if per_second.is_finite() && per_second > 0.0 {
            self.per_second.store(per_second.to_bits(), Ordering::Relaxed);
        }
    }

    /// No start in `lane` before `not_before` (starts already promised elsewhere, by the shared
    /// limiter, must not be crowded).
    pub(crate) fn not_before(&self, lane: Lane<'_>, not_before: Instant) {
        self.with_lane(lane, |l| {
            if l.last.is_none_or(|last| last < not_before) {
                l.last = Some(not_before);
            }
        });
    }

    /// The latest start reserved in `lane`, if any.
    pub(crate) fn last_start(&self, lane: Lane<'_>) -> Option<Instant> {
        self.with_lane(lane, |l| l.last)
    }

    fn seconds(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.origin).as_secs_f64()
    }

    fn with_lane<T>(&self, lane: Lane<'_>, f: impl FnOnce(&mut LaneState) -> T) -> T {
        let mut lanes = self.lanes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = match lanes.iter().position(|(name, _)| lane.is(name)) {
            Some(at) => at,
            None => {
                lanes.push((lane.name(), LaneState::default()));
                lanes.len() - 1
            }
        };
        f(&mut lanes[at].1)
    }

    /// Reserves the earliest start at or after now in `lane`, reading the clock `now` once the
    /// lock is held (so that reservations are made in time order). `Ok((now, start))`: the caller
    /// may start at `start` (the slot is taken). `Err(start)`: `start` would be after `deadline`;
    /// nothing was reserved.
    pub(crate) fn reserve(
        &self,
        lane: Lane<'_>,
        now: impl FnOnce() -> Instant,
        deadline: Option<Instant>,
    ) -> Result<(Instant, Instant), Instant> {
        self.with_lane(lane, |l| {
            let now = now();
            let gap = interval(l.adaptive.rate(self.per_second(), self.seconds(now)));
            let start = match l.last {
                Some(previous) => now.max(previous.checked_add(gap).unwrap_or(now)),
                None => now,
            };
            if deadline.is_some_and(|d| start > d) {
                return Err(start);
            }
            l.last = Some(start);
            Ok((now, start))
        })
    }

    /// Blocks until this caller may start a request in `lane` (without holding the lock while
    /// asleep). `Err(wait)` when the slot would come after `deadline`: `wait` is how long it
    /// would have taken.
    pub(crate) fn acquire(&self, lane: Lane<'_>, deadline: Option<Instant>) -> Result<(), Duration> {
        match self.reserve(lane, Instant::now, deadline) {
            Ok((now, start)) => {
                let wait = start.saturating_duration_since(now);
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
                Ok(())
            }
            Err(start) => Err(start.saturating_duration_since(Instant::now())),
        }
    }

    /// The server refused a request of `lane` for its rate: slows the lane down (once per window).
    pub(crate) fn refused(&self, lane: Lane<'_>) -> Option<f64> {
        let now = self.seconds(Instant::now());
        self.with_lane(lane, |l| l.adaptive.refused(self.per_second(), now))
    }

    /// The rate in force in `lane` now.
    pub(crate) fn rate(&self, lane: Lane<'_>) -> f64 {
        let now = self.seconds(Instant::now());
        self.with_lane(lane, |l| l.adaptive.rate(self.per_second(), now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const LANE: Lane<'static> = Lane { service: "group_open_http_svc", command: "delete_group_msg_by_sender" };
    const OTHER: Lane<'static> = Lane { service: "group_open_http_svc", command: "get_joined_group_list" };

    /// Reserves at a fixed `now`; returns the start.
    fn at(l: &Pacer, now: Instant, deadline: Option<Instant>) -> Result<Instant, Instant> {
        l.reserve(LANE, || now, deadline).map(|(_, start)| start)
    }

    /// Checks the guarantee on sorted start times: at most `n` in any half-open window `[t, t + w)`.
    fn at_most_n_in_any_window(starts: &[Instant], n: usize, w: Duration) {
        for (i, s) in starts.iter().enumerate() {
            let inside = starts[i..].iter().take_while(|t| **t < *s + w).count();
            assert!(inside <= n, "{inside} starts within {w:?} of start #{i}");
        }
    }

    #[test]
    fn a_burst_is_paced_evenly() {
        let l = Pacer::new(4.0);
        let t0 = Instant::now();
        let starts: Vec<_> = (0..9).map(|_| at(&l, t0, None).unwrap()).collect();
        let offsets: Vec<_> = starts.iter().map(|s| s.duration_since(t0).as_millis()).collect();
        assert_eq!(offsets, [0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000]);
        at_most_n_in_any_window(&starts, 4, Duration::from_secs(1));
    }

    #[test]
    fn spaced_requests_are_not_delayed() {
        let l = Pacer::new(10.0);
        let t0 = Instant::now();
        for i in 0..100u32 {
            let now = t0 + 100 * MS * i;
            assert_eq!(at(&l, now, None).unwrap(), now);
        }
    }

    #[test]
    fn a_start_waits_only_for_what_is_left_of_the_interval() {
        let l = Pacer::new(2.0);
        let t0 = Instant::now();
        assert_eq!(at(&l, t0, None).unwrap(), t0);
        assert_eq!(at(&l, t0 + 300 * MS, None).unwrap(), t0 + 500 * MS);
        assert_eq!(at(&l, t0 + 1200 * MS, None).unwrap(), t0 + 1200 * MS);
        assert_eq!(at(&l, t0 + 1200 * MS, None).unwrap(), t0 + 1700 * MS);
    }

    #[test]
    fn fractional_rates_never_exceed_the_floor_per_second() {
        assert_eq!(interval(2.5), Duration::from_millis(500), "2 per second, not 2.5");
        let slow = Pacer::new(0.5);
        assert_eq!(interval(0.5), Duration::from_secs(2));
        let t0 = Instant::now();
        let starts: Vec<_> = (0..5).map(|_| at(&slow, t0, None).unwrap()).collect();
        at_most_n_in_any_window(&starts, 1, Duration::from_secs(2));
        assert_eq!(starts[4].duration_since(t0), Duration::from_secs(8));
        let odd = Pacer::new(95.5);
        let starts: Vec<_> = (0..500).map(|_| at(&odd, t0, None).unwrap()).collect();
        at_most_n_in_any_window(&starts, 95, Duration::from_secs(1));
    }

    #[test]
    fn a_slot_past_the_deadline_is_refused_and_not_taken() {
        let l = Pacer::new(1.0);
        let t0 = Instant::now();
        at(&l, t0, None).unwrap();
        assert_eq!(at(&l, t0, Some(t0 + 500 * MS)), Err(t0 + 1000 * MS));
        // The refused caller took nothing: the next one still gets t0 + 1 s.
        assert_eq!(at(&l, t0, Some(t0 + 1000 * MS)), Ok(t0 + 1000 * MS));
    }

    #[test]
    fn many_uneven_callers_keep_the_guarantee() {
        let l = Pacer::new(7.0);
        let t0 = Instant::now();
        let mut now = t0;
        let mut starts = Vec::new();
        for i in 0..300u32 {
            now += MS * ((i * 37) % 190); // irregular arrivals, sometimes faster than the limit
            let s = at(&l, now, None).unwrap();
            assert!(s >= now);
            starts.push(s);
        }
        assert!(starts.windows(2).all(|w| w[0] <= w[1]), "handed out in order");
        at_most_n_in_any_window(&starts, 7, Duration::from_secs(1));
    }

    #[test]
    fn threads_sharing_a_limiter_never_reserve_closer_than_the_interval() {
        let l = std::sync::Arc::new(Pacer::new(40.0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    (0..25).map(|_| l.reserve(LANE, Instant::now, None).unwrap().1).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut starts: Vec<Instant> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        starts.sort();
        assert_eq!(starts.len(), 100);
        for pair in starts.windows(2) {
            assert!(pair[1].duration_since(pair[0]) >= 25 * MS);
        }
    }

    #[test]
    fn acquire_sleeps_until_the_reserved_start() {
        let l = Pacer::new(10.0);
        let before = Instant::now();
        l.acquire(LANE, None).unwrap();
        l.acquire(LANE, None).unwrap();
        // The second start is reserved 100 ms after the first, which was not before `before`.
        assert!(before.elapsed() >= 100 * MS);
        assert!(l.acquire(LANE, Some(Instant::now())).is_err(), "the next slot is 100 ms away");
    }

    #[test]
    fn lanes_are_paced_apart() {
        let l = Pacer::new(1.0);
        let t0 = Instant::now();
        assert_eq!(l.reserve(LANE, || t0, None).unwrap().1, t0);
        assert_eq!(l.reserve(OTHER, || t0, None).unwrap().1, t0, "another command has its own quota");
        assert_eq!(l.reserve(LANE, || t0, None).unwrap().1, t0 + 1000 * MS);
    }

    #[test]
    fn a_refusal_slows_only_its_lane() {
        let l = Pacer::new(100.0);
        assert_eq!(l.refused(LANE), Some(50.0));
        assert_eq!(l.refused(LANE), None, "one cut per window");
        assert!((49.9..51.0).contains(&l.rate(LANE)));
        assert_eq!(l.rate(OTHER), 100.0);
        let t0 = Instant::now();
        let a = l.reserve(LANE, || t0, None).unwrap().1;
        let b = l.reserve(LANE, || t0, None).unwrap().1;
        assert!(b.duration_since(a) >= Duration::from_millis(20), "paced at about 50/s, not 100/s");
    }
}
