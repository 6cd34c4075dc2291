//! The edge between C and Rust, in one place: the panic guard, NULL checks, C strings, boxes.
//!
//! Every export runs its body in [`guard`] (calls that return a `timrest_status`) or [`catch`]
//! (accessors and `_free`), so no panic unwinds into C. Every pointer from C is checked for NULL
//! and converted here; the exports themselves never dereference a raw pointer.

use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::error::timrest_error;
use super::status::timrest_status;

/// What a failing export body returns: the error object handed to C (it holds the status).
pub(crate) type Outcome<T = ()> = Result<T, Box<timrest_error>>;

/// Runs `body`; a panic becomes `on_panic`. For exports that do not return a status.
pub(crate) fn catch<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    // AssertUnwindSafe: after a panic we touch nothing `body` may have left half-updated; the
    // handles it used stay owned by C, which can only free them.
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// Runs `body` for an export that returns a status: `Ok` gives `TIMREST_OK`; an error gives its
/// status and, when `err_out` is not NULL, hands the error object to C through it. A panic becomes
/// `TIMREST_PANIC` with an error object that says so (without the panic's message, which could
/// quote an argument).
///
/// # Safety
/// `err_out` is NULL or valid for writing one pointer.
pub(crate) unsafe fn guard(
    function: &'static str,
    err_out: *mut *mut timrest_error,
    body: impl FnOnce() -> Outcome,
) -> timrest_status {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        Err(timrest_error::c_layer(
            timrest_status::TIMREST_PANIC,
            format!("a bug in timrest: {function} panicked; the call did not complete"),
        ))
    });
    match outcome {
        Ok(()) => timrest_status::TIMREST_OK,
        Err(error) => {
            let status = error.status();
            if !err_out.is_null() {
                // SAFETY: the caller promises err_out is valid for writing when not NULL.
                unsafe { err_out.write(Box::into_raw(error)) };
            }
            status
        }
    }
}

/// The error for a NULL pointer given for argument `name`.
pub(crate) fn null_argument(name: &str) -> Box<timrest_error> {
    timrest_error::c_layer(timrest_status::TIMREST_NULL_ARGUMENT, format!("argument `{name}` is NULL"))
}

/// A required C string argument as `&str`.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a` and is not written meanwhile.
pub(crate) unsafe fn str_arg<'a>(name: &str, ptr: *const c_char) -> Outcome<&'a str> {
    if ptr.is_null() {
        return Err(null_argument(name));
    }
    // SAFETY: not NULL, and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|e| {
        // The position only, never the content: the argument may be a secret.
        timrest_error::c_layer(
            timrest_status::TIMREST_INVALID_UTF8,
            format!("argument `{name}` is not valid UTF-8 (bad byte at offset {})", e.valid_up_to()),
        )
    })
}

/// An optional C string argument: NULL means absent.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(name: &str, ptr: *const c_char) -> Outcome<Option<&'a str>> {
    if ptr.is_null() { Ok(None) } else { unsafe { str_arg(name, ptr) }.map(Some) }
}

/// A required `const T *` argument as `&T`.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that outlives `'a` and is not freed meanwhile.
pub(crate) unsafe fn ref_arg<'a, T>(name: &str, ptr: *const T) -> Outcome<&'a T> {
    // SAFETY: by the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| null_argument(name))
}

/// A required `T *` argument as `&mut T`.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that nobody else uses during `'a`.
pub(crate) unsafe fn mut_arg<'a, T>(name: &str, ptr: *mut T) -> Outcome<&'a mut T> {
    // SAFETY: by the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| null_argument(name))
}

/// Checks that a required out-parameter is not NULL; write it with [`write_out`] once the call
/// has succeeded.
pub(crate) fn out_arg<T>(name: &str, ptr: *mut T) -> Outcome<*mut T> {
    if ptr.is_null() { Err(null_argument(name)) } else { Ok(ptr) }
}

/// Writes an out-parameter checked by [`out_arg`].
///
/// # Safety
/// `ptr` came from [`out_arg`] and is valid for writing a `T`.
pub(crate) unsafe fn write_out<T>(ptr: *mut T, value: T) {
    // SAFETY: not NULL (checked by out_arg) and writable by the caller's contract.
    unsafe { ptr.write(value) }
}

/// Moves `value` to the heap and hands ownership to C.
pub(crate) fn to_c<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back and drops what [`to_c`] handed out; NULL does nothing.
///
/// # Safety
/// `ptr` is NULL or came from [`to_c`] with the same `T` and was not freed before.
pub(crate) unsafe fn free<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: by the caller's contract, we own it again.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::ffi::error::{timrest_error_free, timrest_error_message, timrest_error_status};

    #[test]
    fn a_panic_becomes_a_status_and_an_error_object_without_its_payload() {
        let mut err = std::ptr::null_mut();
        let status = unsafe { guard("timrest_test_export", &mut err, || panic!("payload with a secret")) };
        assert_eq!(status, timrest_status::TIMREST_PANIC);
        assert_eq!(unsafe { timrest_error_status(err) }, timrest_status::TIMREST_PANIC);
        let message = unsafe { CStr::from_ptr(timrest_error_message(err)) }.to_string_lossy().into_owned();
        assert!(message.contains("timrest_test_export"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        unsafe { timrest_error_free(err) };
        // Without err_out, the status alone.
        let status = unsafe { guard("timrest_test_export", std::ptr::null_mut(), || panic!("again")) };
        assert_eq!(status, timrest_status::TIMREST_PANIC);
        assert_eq!(catch(7, || panic!("in an accessor")), 7);
    }

    #[test]
    fn success_leaves_err_out_untouched() {
        let sentinel = 0x10 as *mut timrest_error;
        let mut err = sentinel;
        assert_eq!(unsafe { guard("f", &mut err, || Ok(())) }, timrest_status::TIMREST_OK);
        assert_eq!(err, sentinel);
    }
}
