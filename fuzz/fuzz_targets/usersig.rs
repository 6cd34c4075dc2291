//! `inspect` and `verify` of a UserSig pasted in by a user: base64url (TIM's alphabet), a zlib
//! stream (a decompression bomb must stay bounded), then JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

const KEY: &str = "fuzz-secret-key";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match timrest::usersig::inspect(text) {
        Ok(info) => {
            let _ = (info.expires_at(), info.is_expired(0), format!("{info:?}"));
            // verify agrees with inspect on what it read, and never accepts a wrong key.
            let checked = timrest::usersig::verify(text, info.sdkappid, KEY, &info.identifier, info.time);
            if let Ok(good) = checked {
                let again = timrest::usersig::generate(good.sdkappid, KEY, &good.identifier, good.expire, good.time);
                assert!(timrest::usersig::verify(&again, good.sdkappid, KEY, &good.identifier, good.time).is_ok());
            }
        }
        Err(e) => {
            let _ = (e.to_string(), e.code());
        }
    }
});
