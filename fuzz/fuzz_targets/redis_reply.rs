//! The Redis limiter's reading of its script's reply, from RESP bytes: whatever sits at the
//! Redis address (a proxy, another script under our key, a reply cut short) answers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, wait, rate)) = timrest::fuzzing::read_redis_reply(data, 95.0) {
        // What the limiter then computes with: a positive finite rate and a bounded wait.
        assert!(rate.is_finite() && rate > 0.0, "rate {rate}");
        assert!(wait <= std::time::Duration::from_secs(86_400), "wait {wait:?}");
        let _ = std::time::Instant::now() + wait;
        let _ = std::time::Duration::from_secs_f64(1.0 / rate);
    }
});
