//! What a client reports about itself, for C: the stats (pulled, `timrest_client_stats` and
//! `timrest_client_stats_json`) and the events (pushed, `timrest_set_event_callback`). See
//! [`crate::observe`] for what each counter and event means.

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;

use super::boundary;
use super::client::timrest_client;
use super::error::timrest_error;
use super::status::timrest_status;
use crate::observe::{Event, Observer};

/// A client's counters, since it was built. Set `struct_size` to `sizeof(timrest_stats)` before
/// the call: the struct may grow at its end, and timrest fills only what the caller's size holds.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct timrest_stats {
    /// Set by the caller: `sizeof(timrest_stats)`.
    pub struct_size: usize,
    /// Calls finished (argument errors caught before sending are not calls).
    pub calls: u64,
    /// Calls that succeeded.
    pub ok: u64,
    /// Calls that failed (by kind: `timrest_client_stats_json`'s `failed_by_kind`).
    pub failed: u64,
    /// Requests sent.
    pub attempts: u64,
    /// Requests sent again (every attempt after a call's first).
    pub retries: u64,
    /// Answers refusing for a rate (60007, 60011 …).
    pub rate_limited: u64,
    /// Time calls spent waiting for the limiter, summed, in microseconds.
    pub limiter_wait_us: u64,
    /// Starts the limiter granted.
    pub limiter_waits: u64,
    /// Failed exchanges with the shared limiter (Redis).
    pub limiter_backend_errors: u64,
    /// 1 while the shared limiter is out and the fallback serves, else 0.
    pub fallback_active: u64,
    /// New connections opened to the server.
    pub connections_opened: u64,
    /// The rate in force for `delete_group_msg_by_sender` now, requests per second; 0 without a
    /// limiter, and with `rate_limit_fallback` "open" during an outage.
    pub effective_rate_limit: f64,
}

/// Fills `*stats_out` with the client's counters. Set `stats_out->struct_size` first; a size
/// smaller than this version's struct is `TIMREST_INVALID_ARGUMENT`. Thread safe; cheap (with a
/// shared limiter, the rate is read from Redis, within `rate_limit_timeout`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_client_stats(
    client: *const timrest_client,
    stats_out: *mut timrest_stats,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_client_stats", err_out, || {
            let client = boundary::ref_arg("client", client)?.core();
            let out = boundary::out_arg("stats_out", stats_out)?;
            let size = (*out).struct_size;
            if size < std::mem::size_of::<timrest_stats>() {
                return Err(timrest_error::c_layer(
                    timrest_status::TIMREST_INVALID_ARGUMENT,
                    format!(
                        "stats_out->struct_size is {size}: set it to sizeof(timrest_stats) ({})",
                        std::mem::size_of::<timrest_stats>()
                    ),
                ));
            }
            let s = client.stats();
            let us = |seconds: f64| (seconds * 1e6).round() as u64;
            *out = timrest_stats {
                struct_size: size,
                calls: s.calls,
                ok: s.ok,
                failed: s.failed,
                attempts: s.attempts,
                retries: s.retries,
                rate_limited: s.rate_limited,
                limiter_wait_us: us(s.limiter_wait_seconds),
                limiter_waits: s.limiter_waits,
                limiter_backend_errors: s.limiter_backend_errors,
                fallback_active: u64::from(s.fallback_active),
                connections_opened: s.connections_opened,
                effective_rate_limit: s.effective_rate_limit.filter(|r| r.is_finite()).unwrap_or(0.0),
            };
            Ok(())
        })
    }
}

/// The client's counters as a JSON object (the keys of Python's `Client.stats()`, with
/// `failed_by_kind` nested: `{"timeout": 2}`), in `*json_out`; free it with `timrest_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_client_stats_json(
    client: *const timrest_client,
    json_out: *mut *mut c_char,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_client_stats_json", err_out, || {
            let client = boundary::ref_arg("client", client)?.core();
            let out = boundary::out_arg("json_out", json_out)?;
            let text = client.stats().to_json().to_string();
            boundary::write_out(out, CString::new(text).unwrap_or_default().into_raw());
            Ok(())
        })
    }
}

/// One step of a call, handed to the event callback. Every pointer and the struct itself are
/// valid during the callback only: copy what you keep. Fields that do not apply are NULL, 0 or -1
/// as each says; the struct may grow at its end (`struct_size` is the size timrest filled).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct timrest_event {
    /// `sizeof(timrest_event)` of the library that filled it.
    pub struct_size: usize,
    /// `"limiter_wait"`, `"limiter_refused"`, `"attempt"`, `"call"`, `"rate_adapted"`,
    /// `"backend_error"`, `"fallback_entered"`, `"fallback_left"` or `"connection_opened"`.
    pub kind: *const c_char,
    /// The TIM service (`"group_open_http_svc"`).
    pub service: *const c_char,
    /// The command (`"delete_group_msg_by_sender"`).
    pub command: *const c_char,
    /// The host the client sends to.
    pub server_address: *const c_char,
    /// Its port.
    pub server_port: u16,
    /// The attempt's number, from 1 (for `call`: the attempts made); 0 when it does not apply.
    pub attempt: u32,
    /// The HTTP status of the answer; 0 when no answer came or it does not apply.
    pub http_status: u32,
    /// TIM's `ErrorCode` (0 on success); -1 without an envelope or when it does not apply.
    pub code: i64,
    /// The failure's kind name (`"rate_limited"`, `"timeout"` …, as `timrest_status_name`); NULL on success.
    pub error_kind: *const c_char,
    /// How long it took, in microseconds; -1 when it does not apply.
    pub duration_us: i64,
    /// The request's `random`; -1 when it does not apply.
    pub random: i64,
    /// For `rate_adapted`: the new rate, requests per second; 0 otherwise.
    pub rate: f64,
    /// For the limiter's events: `"local"` or `"redis"`; NULL otherwise.
    pub limiter_backend: *const c_char,
}

/// Receives one event, with the `userdata` given to `timrest_set_event_callback`. Called on the
/// thread of the step, which is the thread that made the call (possibly several at once), so it
/// must be thread safe and quick, and must not call back into timrest with this client.
pub type timrest_event_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const timrest_event)>;

struct CObserver {
    callback: unsafe extern "C" fn(*mut c_void, *const timrest_event),
    /// The caller's pointer, as an integer: only handed back, never dereferenced here.
    userdata: usize,
}

fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

impl Observer for CObserver {
    fn on_event(&self, e: &Event<'_>) {
        let kind = c_text(e.kind.name());
        let service = c_text(e.service);
        let command = c_text(e.command);
        let address = c_text(e.server_address);
        let error_kind = e.error_kind.map(|k| c_text(k.name()));
        let backend = e.limiter_backend.map(c_text);
        let event = timrest_event {
            struct_size: std::mem::size_of::<timrest_event>(),
            kind: kind.as_ptr(),
            service: service.as_ptr(),
            command: command.as_ptr(),
            server_address: address.as_ptr(),
            server_port: e.server_port,
            attempt: e.attempt.unwrap_or(0),
            http_status: e.http_status.map_or(0, u32::from),
            code: e.code.unwrap_or(-1),
            error_kind: error_kind.as_ref().map_or(std::ptr::null(), |k| k.as_ptr()),
            duration_us: e.duration.map_or(-1, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            random: e.random.map_or(-1, i64::from),
            rate: e.rate.unwrap_or(0.0),
            limiter_backend: backend.as_ref().map_or(std::ptr::null(), |b| b.as_ptr()),
        };
        // SAFETY: the function and userdata the caller registered; the event and its strings
        // outlive the call.
        unsafe { (self.callback)(self.userdata as *mut c_void, &event) };
    }
}

/// Sends every step of every call on `client` to `callback`, with `userdata`; a NULL callback
/// turns the events off. Replaces the previous callback of this client. Events never contain the
/// secret key, a UserSig, the limiter's URL, a request URL or body, or an account or group id.
///
/// After this function returns, events may still reach the previous callback from calls already
/// running: keep its `userdata` alive until they return. Events cost nothing while no callback is set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_set_event_callback(
    client: *const timrest_client,
    callback: timrest_event_callback,
    userdata: *mut c_void,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_set_event_callback", err_out, || {
            let client = boundary::ref_arg("client", client)?.core();
            let observer: Option<Arc<dyn Observer>> = callback
                .map(|callback| Arc::new(CObserver { callback, userdata: userdata as usize }) as Arc<dyn Observer>);
            client.set_observer(observer);
            Ok(())
        })
    }
}
