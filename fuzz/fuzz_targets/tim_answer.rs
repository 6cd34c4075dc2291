//! The TIM answer: an HTTP status and a body, as any proxy or hostile server may send them,
//! through the envelope check and parse that every call runs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timrest::ErrorKind;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data {
        [a, b, body @ ..] => (u16::from_le_bytes([*a, *b]) % 600, body),
        _ => (200, data),
    };
    match timrest::client::parse_response(status, body) {
        Ok(answer) => {
            // Success is a 200 whose ErrorCode is 0.
            assert_eq!(status, 200);
            assert_eq!(answer.get("ErrorCode").and_then(|c| c.as_i64()), Some(0));
        }
        Err(e) => {
            // Every failure is typed, and its text and Debug can be shown.
            let _ = (e.to_string(), format!("{e:?}"), e.code(), e.http_status());
            if status == 200 && e.kind() == ErrorKind::Transport {
                panic!("a 200 answer is never a transport error: {e}");
            }
        }
    }
});
