//! UserSig generation into a caller's buffer.

use std::ffi::c_char;

use super::boundary::{self, Outcome};
use super::error::timrest_error;
use super::status::timrest_status;

/// A buffer of this many bytes always holds a UserSig made by `timrest_gen_usersig` and its NUL
/// (identifiers are at most 32 bytes; real UserSigs are about 200 bytes).
pub const TIMREST_USERSIG_MAX_LEN: usize = 512;

/// Signs a UserSig (version 2, HMAC-SHA256) for `identifier` of app `sdkappid` with the app's
/// `secret_key`, valid for `expire_secs` seconds from now, as the official libraries do. The
/// client signs its own UserSigs: this is for handing one to another program or an SDK.
///
/// Writes the UserSig and a terminating NUL into `buf` (`buf_len` bytes; a buffer of
/// `TIMREST_USERSIG_MAX_LEN` bytes is always enough) and, when `len_out` is not NULL, its length
/// without the NUL into `*len_out`. Both are written only on success.
///
/// Fails with `TIMREST_NULL_ARGUMENT` (`secret_key`, `identifier` or `buf` NULL),
/// `TIMREST_INVALID_UTF8`, `TIMREST_INVALID_ARGUMENT` (sdkappid 0, empty key, an identifier that
/// is empty, over 32 bytes or holds control characters) or `TIMREST_BUFFER_TOO_SMALL` (the message
/// says how many bytes are needed). Thread safe; no network.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_gen_usersig(
    sdkappid: u64,
    secret_key: *const c_char,
    identifier: *const c_char,
    expire_secs: u64,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_gen_usersig", err_out, || {
            let now = crate::usersig::unix_now();
            gen_into(sdkappid, secret_key, identifier, expire_secs, now, buf, buf_len, len_out)
        })
    }
}

/// `timrest_gen_usersig` signed as if the time were `now_unix_secs` (Unix seconds) instead of
/// now: for tests and for reproducing a UserSig. Same arguments, outputs and failures.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_gen_usersig_at(
    sdkappid: u64,
    secret_key: *const c_char,
    identifier: *const c_char,
    expire_secs: u64,
    now_unix_secs: u64,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_gen_usersig_at", err_out, || {
            gen_into(sdkappid, secret_key, identifier, expire_secs, now_unix_secs, buf, buf_len, len_out)
        })
    }
}

/// The shared body of the two exports.
///
/// # Safety
/// The C contract of `timrest_gen_usersig`: strings NUL-terminated, `buf` writable for `buf_len`
/// bytes, `len_out` NULL or writable.
#[allow(clippy::too_many_arguments)]
unsafe fn gen_into(
    sdkappid: u64,
    secret_key: *const c_char,
    identifier: *const c_char,
    expire_secs: u64,
    now: u64,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> Outcome {
    let secret_key = unsafe { boundary::str_arg("secret_key", secret_key) }?;
    let identifier = unsafe { boundary::str_arg("identifier", identifier) }?;
    let buf = boundary::out_arg("buf", buf)?;
    if sdkappid == 0 {
        return Err(crate::Error::invalid_argument("sdkappid must be a positive integer").into());
    }
    if secret_key.is_empty() {
        return Err(crate::Error::invalid_argument("secret_key is empty").into());
    }
    crate::validate::user_id("identifier", identifier)?;
    let usersig = crate::usersig::generate(sdkappid, secret_key, identifier, expire_secs, now);
    let needed = usersig.len() + 1;
    if buf_len < needed {
        return Err(timrest_error::c_layer(
            timrest_status::TIMREST_BUFFER_TOO_SMALL,
            format!("the buffer holds {buf_len} bytes; this UserSig needs {needed} (its NUL included)"),
        ));
    }
    // SAFETY: buf is not NULL and writable for buf_len >= needed bytes; the UserSig is ASCII
    // without NUL, and a fresh String cannot overlap the caller's buffer.
    unsafe {
        std::ptr::copy_nonoverlapping(usersig.as_ptr(), buf.cast::<u8>(), usersig.len());
        buf.add(usersig.len()).write(0);
    }
    if !len_out.is_null() {
        unsafe { boundary::write_out(len_out, usersig.len()) };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr;

    use super::*;
    use crate::ffi::error::*;
    use crate::ffi::status::timrest_status::*;

    const KEY: &CStr = c"5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

    /// The key as Rust text.
    fn key() -> String {
        KEY.to_string_lossy().into_owned()
    }

    #[test]
    fn writes_the_same_usersig_as_the_core_and_verifies() {
        let mut buf = [0 as c_char; TIMREST_USERSIG_MAX_LEN];
        let mut len = 0usize;
        let status = unsafe {
            timrest_gen_usersig_at(
                1400000000,
                KEY.as_ptr(),
                c"administrator".as_ptr(),
                86400,
                1_600_000_000,
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
                ptr::null_mut(),
            )
        };
        assert_eq!(status, TIMREST_OK);
        let written = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned();
        assert_eq!(written.len(), len);
        let expected = crate::usersig::generate(1400000000, &key(), "administrator", 86400, 1_600_000_000);
        assert_eq!(written, expected);
        let verified = crate::usersig::verify(&written, 1400000000, &key(), "administrator", 1_600_000_001);
        assert!(verified.is_ok(), "{verified:?}");
    }

    #[test]
    fn the_largest_usersig_fits_the_advertised_buffer() {
        // Worst case: a 32-byte identifier of characters JSON must escape, the largest numbers.
        let identifier = "\"\\".repeat(16);
        let usersig = crate::usersig::generate(u64::MAX, "k", &identifier, u64::MAX, u64::MAX);
        assert!(usersig.len() < TIMREST_USERSIG_MAX_LEN, "{}", usersig.len());
    }

    #[test]
    fn a_small_buffer_is_refused_untouched_and_says_what_it_needs() {
        let mut buf = [b'x' as c_char; 16];
        let mut len = 7usize;
        let mut err = ptr::null_mut();
        let status = unsafe {
            timrest_gen_usersig(
                1400000000,
                KEY.as_ptr(),
                c"administrator".as_ptr(),
                86400,
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
                &mut err,
            )
        };
        assert_eq!(status, TIMREST_BUFFER_TOO_SMALL);
        assert!(buf.iter().all(|c| *c == b'x' as c_char));
        assert_eq!(len, 7);
        let message = unsafe { CStr::from_ptr(timrest_error_message(err)) }.to_string_lossy().into_owned();
        assert!(message.contains("needs"), "{message}");
        assert!(!message.contains(&key()));
        unsafe { timrest_error_free(err) };
    }

    #[test]
    fn bad_arguments() {
        let mut buf = [0 as c_char; TIMREST_USERSIG_MAX_LEN];
        let gen_ = |sdkappid, key: *const c_char, id: *const c_char, buf: *mut c_char| unsafe {
            timrest_gen_usersig(sdkappid, key, id, 60, buf, TIMREST_USERSIG_MAX_LEN, ptr::null_mut(), ptr::null_mut())
        };
        let id = c"administrator".as_ptr();
        let b = buf.as_mut_ptr();
        assert_eq!(gen_(1, ptr::null(), id, b), TIMREST_NULL_ARGUMENT);
        assert_eq!(gen_(1, KEY.as_ptr(), ptr::null(), b), TIMREST_NULL_ARGUMENT);
        assert_eq!(gen_(1, KEY.as_ptr(), id, ptr::null_mut()), TIMREST_NULL_ARGUMENT);
        assert_eq!(gen_(1, c"\xfe".as_ptr(), id, b), TIMREST_INVALID_UTF8);
        assert_eq!(gen_(0, KEY.as_ptr(), id, b), TIMREST_INVALID_ARGUMENT);
        assert_eq!(gen_(1, c"".as_ptr(), id, b), TIMREST_INVALID_ARGUMENT);
        assert_eq!(gen_(1, KEY.as_ptr(), c"".as_ptr(), b), TIMREST_INVALID_ARGUMENT);
        assert_eq!(gen_(1, KEY.as_ptr(), c"a\tb".as_ptr(), b), TIMREST_INVALID_ARGUMENT);
        assert_eq!(gen_(1, KEY.as_ptr(), c"x".as_ptr(), b), TIMREST_OK);
    }
}
