//! `timrest_error`: the detail of a failed call, read through accessors (after hyper's C API).

use std::ffi::{CString, c_char};

use super::boundary;
use super::status::timrest_status;

/// The detail of one failed call: its status, the TIM `ErrorCode` when the server gave one, a
/// message, the `random` of the last attempt, the number of attempts, the HTTP status, and
/// whether trying again may help.
///
/// Ownership: a call that fails hands one to the caller through its optional
/// `timrest_error **err_out` argument (when that is not NULL); the caller owns it and releases it
/// with `timrest_error_free`. Calls never free or reuse what `*err_out` held before: pass a pointer
/// to NULL. On success `*err_out` is left untouched.
///
/// Thread safety: immutable; its accessors may be called from any thread, concurrently.
/// The message never contains the secret key or a UserSig.
pub struct timrest_error {
    status: timrest_status,
    code: Option<i64>,
    message: CString,
    random: Option<u32>,
    attempts: u32,
    http_status: Option<u16>,
    retryable: bool,
}

impl timrest_error {
    /// An error of the C layer itself (NULL argument, bad UTF-8, small buffer, panic).
    pub(crate) fn c_layer(status: timrest_status, message: impl Into<String>) -> Box<timrest_error> {
        Box::new(timrest_error {
            status,
            code: None,
            message: c_string(message.into()),
            random: None,
            attempts: 0,
            http_status: None,
            retryable: false,
        })
    }

    /// The C view of a core error: its status comes from the code table, every detail is kept.
    pub(crate) fn from_core(error: &crate::Error) -> Box<timrest_error> {
        Box::new(timrest_error {
            status: timrest_status::from_kind(error.kind()),
            code: error.code(),
            message: c_string(error.to_string()),
            random: error.random(),
            attempts: error.attempts(),
            http_status: error.http_status(),
            retryable: error.is_retryable(),
        })
    }

    /// The message, as text.
    pub(crate) fn text(&self) -> &str {
        self.message.to_str().unwrap_or_default()
    }

    /// The status this error stands for.
    pub(crate) fn status(&self) -> timrest_status {
        self.status
    }
}

impl From<crate::Error> for Box<timrest_error> {
    fn from(error: crate::Error) -> Box<timrest_error> {
        timrest_error::from_core(&error)
    }
}

/// A C string of `text`; an interior NUL (from a server's `ErrorInfo`) is shown as `\0`.
fn c_string(text: String) -> CString {
    CString::new(text).unwrap_or_else(|e| {
        let escaped = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\\0");
        CString::new(escaped).unwrap_or_default()
    })
}

/// The status of the failed call this error describes (never `TIMREST_OK`).
/// `TIMREST_NULL_ARGUMENT` when `err` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_error_status(err: *const timrest_error) -> timrest_status {
    boundary::catch(timrest_status::TIMREST_PANIC, || {
        // SAFETY: the caller passes NULL or a live timrest_error.
        unsafe { err.as_ref() }.map_or(timrest_status::TIMREST_NULL_ARGUMENT, |e| e.status)
    })
}

/// The TIM `ErrorCode` the server answered with (e.g. 10010), or 0 when there is none: the failure
/// happened on the client side, or `err` is NULL. (0 is never an error code: it means success.)
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_error_code(err: *const timrest_error) -> i64 {
    boundary::catch(0, || {
        // SAFETY: the caller passes NULL or a live timrest_error.
        unsafe { err.as_ref() }.and_then(|e| e.code).unwrap_or(0)
    })
}

/// A human-readable, NUL-terminated UTF-8 description: the kind, the code, the server's
/// `ErrorInfo` or the client's explanation, the HTTP status, the `random` and the number of
/// attempts. Never contains a secret.
///
/// The string belongs to `err` and stays valid until `timrest_error_free(err)`; do not free it.
/// An empty static string when `err` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_error_message(err: *const timrest_error) -> *const c_char {
    boundary::catch(c"".as_ptr(), || {
        // SAFETY: the caller passes NULL or a live timrest_error.
        unsafe { err.as_ref() }.map_or(c"".as_ptr(), |e| e.message.as_ptr())
    })
}

/// The `random` query parameter of the last attempt (0 … 4294967295): quote it to Tencent
/// support. -1 when no request was sent (the failure came before sending) or `err` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_error_random(err: *const timrest_error) -> i64 {
    boundary::catch(-1, || {
        // SAFETY: the caller passes NULL or a live timrest_error.
        unsafe { err.as_ref() }.and_then(|e| e.random).map_or(-1, i64::from)
    })
}

/// How many requests the call sent, retries included (0 when it failed before sending, or `err`
/// is NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_error_attempts(err: *const timrest_error) -> u32 {
    boundary::catch(0, || {
        // SAFETY: the caller passes NULL or a live timrest_error.
        unsafe { err.as_ref() }.map_or(0, |e| e.attempts)
    })
}

/// The HTTP status of the last answer when it was not 200 (e.g. 502, with `TIMREST_TRANSPORT`);
/// 0 otherwise, or when `err` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_error_http_status(err: *const timrest_error) -> u16 {
    boundary::catch(0, || {
        // SAFETY: the caller passes NULL or a live timrest_error.
        unsafe { err.as_ref() }.and_then(|e| e.http_status).unwrap_or(0)
    })
}

/// Whether this kind of failure may succeed if the call is made again later (transport errors,
/// timeouts, server trouble, rate limits, an expired UserSig). The client already retried within
/// its settings before giving up. False when `err` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_error_retryable(err: *const timrest_error) -> bool {
    boundary::catch(false, || {
        // SAFETY: the caller passes NULL or a live timrest_error.
        unsafe { err.as_ref() }.is_some_and(|e| e.retryable)
    })
}

/// Releases an error object. NULL does nothing. `err` must not be used afterwards, and must not
/// be freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_error_free(err: *mut timrest_error) {
    boundary::catch((), || {
        // SAFETY: the caller passes NULL or an error object that timrest handed out.
        unsafe { boundary::free(err) }
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr;

    use super::*;
    use crate::ErrorKind;

    #[test]
    fn accessors_show_every_detail_of_a_core_error() {
        let core = crate::Error::api(10010, "group not found").with_random(4_000_000_000).with_attempts(2);
        let err = Box::into_raw(timrest_error::from_core(&core));
        unsafe {
            assert_eq!(timrest_error_status(err), timrest_status::TIMREST_GROUP_NOT_FOUND);
            assert_eq!(timrest_error_code(err), 10010);
            assert_eq!(timrest_error_random(err), 4_000_000_000);
            assert_eq!(timrest_error_attempts(err), 2);
            assert_eq!(timrest_error_http_status(err), 0);
            assert!(!timrest_error_retryable(err));
            let message = CStr::from_ptr(timrest_error_message(err)).to_string_lossy().into_owned();
            assert_eq!(message, core.to_string());
            timrest_error_free(err);
        }
    }

    #[test]
    fn transport_errors_keep_the_http_status_and_are_retryable() {
        let core = crate::Error::new(ErrorKind::Transport, "bad gateway").with_http_status(502);
        let err = Box::into_raw(timrest_error::from_core(&core));
        unsafe {
            assert_eq!(timrest_error_status(err), timrest_status::TIMREST_TRANSPORT);
            assert_eq!(timrest_error_code(err), 0);
            assert_eq!(timrest_error_random(err), -1);
            assert_eq!(timrest_error_http_status(err), 502);
            assert!(timrest_error_retryable(err));
            timrest_error_free(err);
        }
    }

    #[test]
    fn null_error_objects_are_harmless() {
        unsafe {
            assert_eq!(timrest_error_status(ptr::null()), timrest_status::TIMREST_NULL_ARGUMENT);
            assert_eq!(timrest_error_code(ptr::null()), 0);
            assert_eq!(timrest_error_random(ptr::null()), -1);
            assert_eq!(timrest_error_attempts(ptr::null()), 0);
            assert_eq!(timrest_error_http_status(ptr::null()), 0);
            assert!(!timrest_error_retryable(ptr::null()));
            assert_eq!(CStr::from_ptr(timrest_error_message(ptr::null())).to_bytes(), b"");
            timrest_error_free(ptr::null_mut());
        }
    }

    #[test]
    fn interior_nul_in_server_text_is_escaped() {
        let core = crate::Error::api(99999, "bad\0text");
        let err = timrest_error::from_core(&core);
        let message = err.message.to_string_lossy();
        assert!(message.contains("bad\\u{0}text"), "{message}");
    }
}
