//! `timrest_client`: the C face of [`Client`], and the deletion call.

use std::ffi::c_char;

use crate::client::{Client, DeleteBySender};

use super::boundary;
use super::config::timrest_config;
use super::error::timrest_error;
use super::status::timrest_status;

/// A TIM REST client: settings, the connection pool, the UserSig signer and the rate limiter.
///
/// Ownership: created by `timrest_client_new` or `timrest_client_from_env`, released by
/// `timrest_client_free` once no call on it is running any more.
///
/// Thread safety: fully thread safe. Create one client and share it between all the threads of the
/// process: every function that takes a `const timrest_client *` may run on many threads at once,
/// and the threads share one connection pool and one rate limit. Create clients after `fork()`,
/// never before: a child must not use its parent's client.
pub struct timrest_client {
    client: Client,
}

impl timrest_client {
    /// The core client.
    pub(crate) fn core(&self) -> &Client {
        &self.client
    }
}

// The C handle is shared by threads: the core client must stay Send + Sync.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Client>();
    shareable::<timrest_client>();
};

/// Creates a client from `config`, which is checked as a whole, and stores it in `*client_out`.
///
/// `config` is only read: it stays owned by the caller. Fails with `TIMREST_CONFIG` when a setting
/// is missing or wrong (no SDKAppID, neither or both of secret key and UserSig, a UserSig made for
/// another identifier or SDKAppID, `http://` to a host that is not loopback, a zero timeout …);
/// the error message says which. No request is sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_client_new(
    config: *const timrest_config,
    client_out: *mut *mut timrest_client,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_client_new", err_out, || {
            let config = boundary::ref_arg("config", config)?;
            let out = boundary::out_arg("client_out", client_out)?;
            let client = config.builder.clone().build()?;
            boundary::write_out(out, boundary::to_c(timrest_client { client }));
            Ok(())
        })
    }
}

/// Creates a client from the environment variables shared by every face of timrest:
/// `TIM_SDKAPPID`, `TIM_SECRET_KEY` or `TIM_USERSIG`, `TIM_IDENTIFIER` (default `administrator`),
/// `TIM_REGION`, `TIM_BASE_URL`. Fails like `timrest_client_new` (`TIMREST_CONFIG`).
///
/// Reads the environment: do not call it while another thread changes it (`setenv`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_client_from_env(
    client_out: *mut *mut timrest_client,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_client_from_env", err_out, || {
            let out = boundary::out_arg("client_out", client_out)?;
            let client = Client::from_env()?;
            boundary::write_out(out, boundary::to_c(timrest_client { client }));
            Ok(())
        })
    }
}

/// Releases a client, its connections and its signer. NULL does nothing. No call on `client` may
/// be running, and it must not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_client_free(client: *mut timrest_client) {
    boundary::catch((), || {
        // SAFETY: the caller passes NULL or a client that timrest handed out, no longer in use.
        unsafe { boundary::free(client) }
    })
}

/// Deletes the messages that `sender` sent among the latest 1000 messages of group `group_id`
/// (`group_open_http_svc/delete_group_msg_by_sender`). With a non-NULL `topic_id`, the deletion
/// applies inside that topic of a topic-enabled Community group; the topic ID starts with the
/// group ID.
///
/// Blocks until the server answered, retrying within the client's settings (transport errors,
/// server trouble, rate limits; never a refusal). Deleting is idempotent: a sender with no
/// messages, or messages already deleted, is a success.
///
/// Returns `TIMREST_OK` on success. The arguments are checked first (`TIMREST_NULL_ARGUMENT`,
/// `TIMREST_INVALID_UTF8`, `TIMREST_INVALID_ARGUMENT` for an empty or too long ID or one with
/// control characters, or a topic of another group): then nothing is sent. Otherwise the status
/// says how the call failed, and `*err_out` (when `err_out` is not NULL) has the detail.
///
/// Thread safe: call it from any number of threads on one client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_delete_group_msg_by_sender(
    client: *const timrest_client,
    group_id: *const c_char,
    sender: *const c_char,
    topic_id: *const c_char,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_delete_group_msg_by_sender", err_out, || {
            delete_by_sender(client, group_id, sender, topic_id, || Ok(())).map(|_| ())
        })
    }
}

/// The body of both deletion exports: the arguments checked in order, then `before_sending` (the
/// checks of the caller's own arguments), then the call.
///
/// # Safety
/// As the exports': pointers NULL or valid, strings NUL-terminated.
pub(crate) unsafe fn delete_by_sender(
    client: *const timrest_client,
    group_id: *const c_char,
    sender: *const c_char,
    topic_id: *const c_char,
    before_sending: impl FnOnce() -> boundary::Outcome,
) -> boundary::Outcome<crate::CallInfo> {
    unsafe {
        let client = boundary::ref_arg("client", client)?;
        let group_id = boundary::str_arg("group_id", group_id)?;
        let sender = boundary::str_arg("sender", sender)?;
        let topic_id = boundary::opt_str_arg("topic_id", topic_id)?;
        before_sending()?;
        let mut request = DeleteBySender::new(group_id, sender);
        if let Some(topic_id) = topic_id {
            request = request.topic(topic_id);
        }
        Ok(client.client.delete_by_sender(&request)?)
    }
}

/// Writes the rate in force now for `delete_group_msg_by_sender` to `*per_second_out`, in requests
/// per second: the configured rate, or less after the server refused requests for their rate
/// (with a shared limiter, the fleet's rate, read from Redis; while Redis is out, the fallback's).
/// Writes a negative value when the client has no rate limiter.
///
/// Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_client_effective_rate_limit(
    client: *const timrest_client,
    per_second_out: *mut f64,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_client_effective_rate_limit", std::ptr::null_mut(), || {
            let client = boundary::ref_arg("client", client)?;
            let out = boundary::out_arg("per_second_out", per_second_out)?;
            boundary::write_out(out, client.client.effective_rate_limit().unwrap_or(-1.0));
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr;

    use super::*;
    use crate::ffi::config::*;
    use crate::ffi::error::*;
    use crate::ffi::status::timrest_status::*;

    #[test]
    fn a_bad_config_is_reported_with_its_reason_and_no_client() {
        unsafe {
            let mut config = ptr::null_mut();
            assert_eq!(timrest_config_new(&mut config), TIMREST_OK);
            assert_eq!(timrest_config_set_secret_key(config, c"k".as_ptr()), TIMREST_OK);
            let mut client = ptr::null_mut();
            let mut err = ptr::null_mut();
            assert_eq!(timrest_client_new(config, &mut client, &mut err), TIMREST_CONFIG);
            assert!(client.is_null(), "the out-parameter is written only on success");
            assert_eq!(timrest_error_status(err), TIMREST_CONFIG);
            let message = CStr::from_ptr(timrest_error_message(err)).to_string_lossy();
            assert!(message.contains("sdkappid"), "{message}");
            timrest_error_free(err);
            // Without err_out, the status alone.
            assert_eq!(timrest_client_new(config, &mut client, ptr::null_mut()), TIMREST_CONFIG);
            timrest_config_free(config);
        }
    }

    #[test]
    fn arguments_are_checked_before_anything_is_sent() {
        unsafe {
            let mut config = ptr::null_mut();
            assert_eq!(timrest_config_new(&mut config), TIMREST_OK);
            assert_eq!(timrest_config_set_sdkappid(config, 1400000000), TIMREST_OK);
            assert_eq!(timrest_config_set_secret_key(config, c"k".as_ptr()), TIMREST_OK);
            // A closed port: if anything were sent, the status would be a transport error.
            assert_eq!(timrest_config_set_base_url(config, c"http://127.0.0.1:9".as_ptr()), TIMREST_OK);
            let mut client = ptr::null_mut();
            assert_eq!(timrest_client_new(config, &mut client, ptr::null_mut()), TIMREST_OK);
            timrest_config_free(config);
            let g = c"@TGS#1".as_ptr();
            let s = c"leckie".as_ptr();
            let del =
                |c: *const timrest_client, g, s, t| timrest_delete_group_msg_by_sender(c, g, s, t, ptr::null_mut());
            assert_eq!(del(ptr::null(), g, s, ptr::null()), TIMREST_NULL_ARGUMENT);
            assert_eq!(del(client, ptr::null(), s, ptr::null()), TIMREST_NULL_ARGUMENT);
            assert_eq!(del(client, g, ptr::null(), ptr::null()), TIMREST_NULL_ARGUMENT);
            assert_eq!(del(client, c"@TGS#\xc3".as_ptr(), s, ptr::null()), TIMREST_INVALID_UTF8);
            assert_eq!(del(client, g, s, c"\xff".as_ptr()), TIMREST_INVALID_UTF8);
            let mut err = ptr::null_mut();
            let status = timrest_delete_group_msg_by_sender(client, g, c"".as_ptr(), ptr::null(), &mut err);
            assert_eq!(status, TIMREST_INVALID_ARGUMENT);
            assert_eq!(timrest_error_attempts(err), 0);
            assert_eq!(timrest_error_random(err), -1);
            timrest_error_free(err);
            timrest_client_free(client);
            timrest_client_free(ptr::null_mut());
        }
    }
}
