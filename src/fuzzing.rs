//! Entry points into the parsers that are not public, for the fuzz targets under `fuzz/` (the
//! `fuzzing` feature). Each runs the real code on bytes we do not control; none is an interface.

use std::time::Duration;

/// The request-line splice that puts the UserSig on the wire: `buf[..amount]` as ureq wrote it,
/// with `value` in place of the placeholder when the request line holds it. Returns the new amount.
pub fn splice_usersig(buf: &mut [u8], amount: usize, value: &[u8]) -> usize {
    crate::transport::substitute(buf, amount, value)
}

/// The placeholder the splice looks for.
pub const USERSIG_PLACEHOLDER: &str = crate::transport::PLACEHOLDER;

/// What a report that resume reads says: `(ok steps, plan targets if whole, bytes kept)`, or why
/// it cannot be resumed.
pub fn read_job_report(bytes: &[u8], header: &serde_json::Value) -> Result<(usize, Option<usize>, usize), String> {
    let (earlier, keep) = crate::purge::report::read(bytes, header)?;
    Ok((earlier.ok.len(), earlier.plan.map(|p| p.len()), keep))
}

/// The Redis limiter's reading of its script's reply, from RESP bytes as Redis (or anything in
/// its place) sends them: `(granted, wait, rate)`, or the error the limiter would log.
pub fn read_redis_reply(resp: &[u8], configured: f64) -> Result<(bool, Duration, f64), String> {
    let value = redis::parse_redis_value(resp).map_err(|e| e.to_string())?;
    let (answer, _, _) = crate::limit::redis::read_answer(value, configured).map_err(|e| e.to_string())?;
    Ok((answer.granted, answer.wait, answer.rate))
}
