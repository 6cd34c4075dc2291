//! The splice that puts the UserSig into the request line ureq wrote: any head, any amount,
//! any value (a UserSig is user input), with or without room in the buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timrest::fuzzing::{USERSIG_PLACEHOLDER, splice_usersig};

fuzz_target!(|data: &[u8]| {
    // [room, amount, value length, value..., head...]
    let [room, amount, value_len, rest @ ..] = data else { return };
    let value_len = usize::from(*value_len).min(rest.len());
    let (value, head) = rest.split_at(value_len);
    let mut buf = head.to_vec();
    buf.resize(head.len() + usize::from(*room), 0);
    let amount = usize::from(*amount) * head.len() / 255;
    let before = buf.clone();
    let written = splice_usersig(&mut buf, amount, value);
    assert!(written <= buf.len(), "wrote past the buffer");
    if written == amount.min(before.len()) && buf == before {
        return; // left alone
    }
    // Changed: the placeholder was in the request line, and the value took its place.
    let placeholder = USERSIG_PLACEHOLDER.as_bytes();
    let at = before[..amount].windows(placeholder.len()).position(|w| w == placeholder).expect("placeholder");
    assert_eq!(&buf[..at], &before[..at], "the bytes before it stay");
    assert_eq!(written, amount - placeholder.len() + value.len());
    assert_eq!(&buf[at + value.len()..written], &before[at + placeholder.len()..amount], "the rest moves");
});
