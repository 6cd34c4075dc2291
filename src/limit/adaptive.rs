//! Adapting the rate to what the server accepts (AIMD), the same rule for every backend.
//!
//! The configured rate is a ceiling, not a promise: another tool may spend the same quota, or the
//! app's real quota may be lower than configured. When the server still answers with a rate-limit
//! code, the lane's rate is cut to [`DECREASE`] of what it was (at most once per [`WINDOW`]: one
//! overfull window yields many refusals, and they all describe the same excess), then grows back
//! by [`RECOVERY`] of the configured rate per second until it reaches the configured rate again.
//!
//! The state is two numbers, when the last cut happened and the rate it cut to, and the rate at
//! any moment is derived from them. `src/limit/gcra.lua` applies the same rule to the state it
//! keeps in Redis (with these constants passed in as arguments), so every process of a fleet sees
//! one rate.

/// A cut keeps this share of the rate in force.
pub(crate) const DECREASE: f64 = 0.5;
/// Share of the configured rate regained per second after a cut.
pub(crate) const RECOVERY: f64 = 0.02;
/// The rate never falls below this share of the configured rate.
pub(crate) const MIN_SHARE: f64 = 0.05;
/// Seconds: at most one cut per window.
pub(crate) const WINDOW: f64 = 1.0;

/// The state of one lane: the last cut (when, in seconds on the limiter's clock, and to what rate).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Adaptive {
    cut: Option<(f64, f64)>,
}

impl Adaptive {
    /// The rate in force at `now` for a configured rate of `configured`.
    pub(crate) fn rate(&self, configured: f64, now: f64) -> f64 {
        match self.cut {
            None => configured,
            Some((at, floor)) => (floor + configured * RECOVERY * (now - at).max(0.0)).min(configured),
        }
    }

    /// The server refused a request for its rate at `now`: cuts the rate unless a cut happened
    /// less than a window ago. Returns the new rate when it cut.
    pub(crate) fn refused(&mut self, configured: f64, now: f64) -> Option<f64> {
        if self.cut.is_some_and(|(at, _)| now - at < WINDOW) {
            return None;
        }
        let floor = (self.rate(configured, now) * DECREASE).max(configured * MIN_SHARE);
        self.cut = Some((now, floor));
        Some(floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn untouched_lanes_run_at_the_configured_rate() {
        let a = Adaptive::default();
        assert_eq!(a.rate(95.0, 0.0), 95.0);
        assert_eq!(a.rate(95.0, 1e6), 95.0);
    }

    #[test]
    fn one_cut_per_window_then_additive_recovery() {
        let mut a = Adaptive::default();
        // A burst of refusals in one window: one cut.
        assert!(close(a.refused(100.0, 10.0).unwrap(), 50.0));
        for t in [10.0, 10.2, 10.5, 10.999] {
            assert_eq!(a.refused(100.0, t), None, "refusal at {t} is in the same window");
        }
        // Recovery: +2 per second at a configured 100/s.
        assert!(close(a.rate(100.0, 10.5), 51.0));
        assert!(close(a.rate(100.0, 15.0), 60.0));
        // The next window's refusal cuts what is in force then (52 × 0.5).
        assert!(close(a.refused(100.0, 11.0).unwrap(), 26.0));
        // Back at the configured rate after enough time, never above it.
        assert_eq!(a.rate(100.0, 1000.0), 100.0);
    }

    #[test]
    fn cuts_stop_at_the_floor() {
        let mut a = Adaptive::default();
        for i in 0..100 {
            a.refused(100.0, f64::from(i) * 2.0);
        }
        assert!(close(a.rate(100.0, 198.0), 100.0 * MIN_SHARE));
    }

    #[test]
    fn a_quota_below_the_setting_is_found_in_a_few_windows() {
        // The server admits 40/s; the client is configured for 95/s and is refused whenever its
        // rate is above 40. Simulated on a fake clock in steps of 10 ms.
        let (configured, quota) = (95.0, 40.0);
        let mut a = Adaptive::default();
        let mut windows_with_refusals = std::collections::BTreeSet::new();
        for step in 0..2000 {
            let now = f64::from(step) * 0.01;
            if a.rate(configured, now) > quota && a.refused(configured, now).is_some() {
                windows_with_refusals.insert(now.floor() as i64);
            }
        }
        let cuts: Vec<_> = windows_with_refusals.iter().copied().collect();
        assert_eq!(&cuts[..2], &[0, 1], "two cuts in the first two windows: 95 → 47.5 → 23.75");
        assert!(cuts[2..].iter().all(|w| *w >= 9), "then none until the rate has grown back: {cuts:?}");
        // After finding the quota the rate stays near it: between the floor after a cut and the quota.
        for step in 1200..2000 {
            let r = a.rate(configured, f64::from(step) * 0.01);
            assert!((quota * DECREASE * 0.99..=quota + 1.0).contains(&r), "rate {r} at step {step}");
        }
    }
}
