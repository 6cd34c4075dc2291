//! The server-side rate limit: admitted requests counted in a sliding window of arrivals.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// At most `capacity` admitted arrivals in any `window`. For a limit of N per second with N ≥ 1
/// that is ⌊N⌋ arrivals in ⌊N⌋/N seconds (exactly one second for a whole N); below 1 per
/// second, one arrival in 1/N seconds. A limit of 0 (or less, or NaN) admits nothing; `None`
/// or infinity admits everything.
#[derive(Debug)]
pub(crate) struct Limiter {
    per_second: Option<f64>,
    capacity: usize,
    window: Duration,
    arrivals: VecDeque<Instant>,
}

impl Limiter {
    pub(crate) fn new(per_second: Option<f64>) -> Limiter {
        let mut limiter = Limiter { per_second: None, capacity: 0, window: Duration::ZERO, arrivals: VecDeque::new() };
        limiter.set(per_second);
        limiter
    }

    /// Changes the limit; arrivals already counted stay counted.
    pub(crate) fn set(&mut self, per_second: Option<f64>) {
        self.per_second = per_second.filter(|n| *n != f64::INFINITY);
        match self.per_second {
            None => self.arrivals.clear(),
            Some(n) if n.is_nan() || n <= 0.0 => {
                self.capacity = 0;
                self.window = Duration::from_secs(1);
            }
            Some(n) if n < 1.0 => {
                self.capacity = 1;
                // A rate so small that its window does not fit a Duration admits one, ever.
                self.window = Duration::try_from_secs_f64(1.0 / n).unwrap_or(Duration::MAX);
            }
            Some(n) => {
                let capacity = n.floor();
                self.capacity = capacity as usize;
                self.window = Duration::try_from_secs_f64(capacity / n).unwrap_or(Duration::MAX);
            }
        }
    }

    pub(crate) fn per_second(&self) -> Option<f64> {
        self.per_second
    }

    /// Whether a request arriving at `now` would be admitted (counts nothing).
    pub(crate) fn has_room(&mut self, now: Instant) -> bool {
        if self.per_second.is_none() {
            return true;
        }
        while self.arrivals.front().is_some_and(|t| now.saturating_duration_since(*t) >= self.window) {
            self.arrivals.pop_front();
        }
        self.arrivals.len() < self.capacity
    }

    /// Whether a request arriving at `now` is admitted (and then counted).
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        if !self.has_room(now) {
            return false;
        }
        if self.per_second.is_some() {
            self.arrivals.push_back(now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_n_per_sliding_second() {
        let t0 = Instant::now();
        let mut l = Limiter::new(Some(3.0));
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(l.admit(at(0)));
        assert!(l.admit(at(100)));
        assert!(l.admit(at(900)));
        assert!(!l.admit(at(950)), "4th within a second");
        assert!(!l.admit(at(999)));
        assert!(l.admit(at(1000)), "the first arrival left the window");
        assert!(!l.admit(at(1050)));
        assert!(l.admit(at(1100)));
    }

    #[test]
    fn fractional_zero_and_off() {
        let t0 = Instant::now();
        let mut half = Limiter::new(Some(0.5));
        assert!(half.admit(t0));
        assert!(!half.admit(t0 + Duration::from_millis(1999)));
        assert!(half.admit(t0 + Duration::from_millis(2000)));
        let mut zero = Limiter::new(Some(0.0));
        assert!(!zero.admit(t0));
        let mut off = Limiter::new(None);
        assert!((0..10_000).all(|_| off.admit(t0)));
        off.set(Some(f64::INFINITY));
        assert_eq!(off.per_second(), None);
    }
}
