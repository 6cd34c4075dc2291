//! `timrest_set_log_callback`: timrest's log records (one per attempt at DEBUG, warnings about the
//! shared limiter, ...) into the host program's own logger.

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::RwLock;

use super::boundary;
use super::error::timrest_error;
use super::status::timrest_status;

/// No records (`timrest_set_log_callback` with this level, or a NULL callback, turns logging off).
pub const TIMREST_LOG_OFF: c_int = 0;
/// Errors only.
pub const TIMREST_LOG_ERROR: c_int = 1;
/// Warnings and errors (for example the shared limiter falling back while Redis is out).
pub const TIMREST_LOG_WARN: c_int = 2;
/// Informational records and above.
pub const TIMREST_LOG_INFO: c_int = 3;
/// One record per attempt (command, random, outcome, elapsed) and above.
pub const TIMREST_LOG_DEBUG: c_int = 4;
/// Everything timrest logs.
pub const TIMREST_LOG_TRACE: c_int = 5;

/// Receives one log record: its level (`TIMREST_LOG_ERROR` ... `TIMREST_LOG_TRACE`), its target
/// (the timrest module, e.g. `timrest::client`) and its message, both NUL-terminated and valid only
/// during the call. Called from any thread that runs a timrest call, possibly from several at once.
pub type timrest_log_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: c_int, target: *const c_char, message: *const c_char)>;

#[derive(Clone, Copy)]
struct Sink {
    callback: unsafe extern "C" fn(*mut c_void, c_int, *const c_char, *const c_char),
    /// The caller's pointer, as an integer: it is only handed back, never dereferenced here.
    userdata: usize,
}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// The `log` logger of the C library: forwards timrest's own records to the sink.
struct CLogger;

/// Only timrest's records: the HTTP and TLS crates underneath may log request URLs, and a request
/// URL carries the UserSig. The core never logs a secret (design §2).
fn forwarded(target: &str) -> bool {
    target == "timrest" || target.starts_with("timrest::")
}

fn c_level(level: log::Level) -> c_int {
    match level {
        log::Level::Error => TIMREST_LOG_ERROR,
        log::Level::Warn => TIMREST_LOG_WARN,
        log::Level::Info => TIMREST_LOG_INFO,
        log::Level::Debug => TIMREST_LOG_DEBUG,
        log::Level::Trace => TIMREST_LOG_TRACE,
    }
}

fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

impl log::Log for CLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        forwarded(metadata.target())
    }

    fn log(&self, record: &log::Record<'_>) {
        if !forwarded(record.target()) || !log::max_level().ge(&record.level()) {
            return;
        }
        let sink = *SINK.read().unwrap_or_else(|p| p.into_inner());
        let Some(sink) = sink else { return };
        // Defence in depth: a URL that reached a message never shows its UserSig.
        let message = crate::redact::redact_usersig(&record.args().to_string());
        let (target, message) = (c_text(record.target()), c_text(&message));
        // SAFETY: the function and userdata the caller registered, with strings that outlive the call.
        unsafe {
            (sink.callback)(sink.userdata as *mut c_void, c_level(record.level()), target.as_ptr(), message.as_ptr())
        };
    }

    fn flush(&self) {}
}

static LOGGER: CLogger = CLogger;

/// Sends timrest's log records at `level` and above (`TIMREST_LOG_ERROR` ... `TIMREST_LOG_TRACE`)
/// to `callback`, with `userdata`; `TIMREST_LOG_OFF` or a NULL callback turns them off. At
/// `TIMREST_LOG_DEBUG` there is one record per attempt: command, random, outcome, elapsed time.
/// Records never contain the secret key or a UserSig.
///
/// Process-wide: one callback for every client, replaced by the next call. The callback is called
/// from whichever thread runs a timrest call, possibly from several threads at once, so it must be
/// thread safe, and it must not call back into timrest. After this function returns (also when it
/// turns logging off), records may still reach the previous callback from calls already running:
/// keep its `userdata` alive until those calls have returned.
///
/// Returns `TIMREST_INVALID_ARGUMENT` for an unknown level, and `TIMREST_CONFIG` when the program
/// has already installed another logger for Rust's `log` crate (then the records are its); nothing
/// changes then.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_set_log_callback(
    level: c_int,
    callback: timrest_log_callback,
    userdata: *mut c_void,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_set_log_callback", std::ptr::null_mut(), || {
            let filter = match level {
                TIMREST_LOG_OFF => log::LevelFilter::Off,
                TIMREST_LOG_ERROR => log::LevelFilter::Error,
                TIMREST_LOG_WARN => log::LevelFilter::Warn,
                TIMREST_LOG_INFO => log::LevelFilter::Info,
                TIMREST_LOG_DEBUG => log::LevelFilter::Debug,
                TIMREST_LOG_TRACE => log::LevelFilter::Trace,
                n => {
                    return Err(timrest_error::c_layer(
                        timrest_status::TIMREST_INVALID_ARGUMENT,
                        format!("unknown log level {n}: use TIMREST_LOG_OFF (0) to TIMREST_LOG_TRACE (5)"),
                    ));
                }
            };
            if log::set_logger(&LOGGER).is_err() && !std::ptr::addr_eq(log::logger(), &LOGGER) {
                return Err(timrest_error::c_layer(
                    timrest_status::TIMREST_CONFIG,
                    "another logger is installed for Rust's `log` crate in this process: timrest's records go there",
                ));
            }
            let sink = callback.map(|callback| Sink { callback, userdata: userdata as usize });
            *SINK.write().unwrap_or_else(|p| p.into_inner()) = sink;
            log::set_max_level(if sink.is_some() { filter } else { log::LevelFilter::Off });
            Ok(())
        })
    }
}
