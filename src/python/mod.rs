//! The pyo3 layer (feature `python`): the private extension module `timrest._native`.
//!
//! Thin by design: it converts arguments, releases the GIL around every network wait, and turns
//! [`crate::Error`] into the Python classes of `timrest.exceptions` by the name the code table
//! gives. The public Python API is the pure-Python package `timrest`, which re-exports from here.

#![deny(clippy::unwrap_used, clippy::expect_used)]

mod aio;
mod batch;
mod client;
mod emulator;
mod errors;
mod json;
mod logger;
mod moderation;
mod observe;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::config::Defaults;
use crate::error::{KINDS, Retry};
use crate::usersig;
use errors::IntoPyResult;

/// A UserSig (version 2) for `identifier`, valid `expire` seconds from `now` (Unix seconds;
/// default: the current time). Same output as the official `tls-sig-api-v2` package.
#[pyfunction]
#[pyo3(signature = (sdkappid, secret_key, identifier, expire=86400, *, now=None))]
fn gen_usersig(
    py: Python<'_>,
    sdkappid: u64,
    secret_key: &str,
    identifier: &str,
    expire: u64,
    now: Option<u64>,
) -> PyResult<String> {
    if secret_key.is_empty() {
        return Err(errors::to_py_err(py, &crate::Error::invalid_argument("secret_key is empty")));
    }
    crate::validate::user_id("identifier", identifier).into_py_result(py)?;
    let now = now.unwrap_or_else(usersig::unix_now);
    Ok(usersig::generate(sdkappid, secret_key, identifier, expire, now))
}

/// The fields of a UserSig, read without the key: `identifier`, `sdkappid`, `time`, `expire`,
/// `expires_at` (and `userbuf` as bytes when present). Raises `InvalidArgumentError` when it
/// cannot be decoded.
#[pyfunction]
fn inspect_usersig<'py>(py: Python<'py>, usersig: &str) -> PyResult<Bound<'py, PyDict>> {
    let info =
        usersig::inspect(usersig).map_err(|e| crate::Error::invalid_argument(e.to_string())).into_py_result(py)?;
    let dict = PyDict::new(py);
    dict.set_item("identifier", &info.identifier)?;
    dict.set_item("sdkappid", info.sdkappid)?;
    dict.set_item("time", info.time)?;
    dict.set_item("expire", info.expire)?;
    dict.set_item("expires_at", info.expires_at())?;
    if let Some(buf) = &info.userbuf {
        dict.set_item("userbuf", pyo3::types::PyBytes::new(py, buf))?;
    }
    Ok(dict)
}

/// Checks a UserSig as the TIM server does (sdkappid, identifier, expiry at `now`, then the HMAC).
/// Returns None; raises `UserSigExpiredError` when expired, `AuthError` for anything else.
#[pyfunction]
#[pyo3(signature = (usersig, sdkappid, secret_key, identifier, *, now=None))]
fn verify_usersig(
    py: Python<'_>,
    usersig: &str,
    sdkappid: u64,
    secret_key: &str,
    identifier: &str,
    now: Option<u64>,
) -> PyResult<()> {
    let now = now.unwrap_or_else(usersig::unix_now);
    usersig::verify(usersig, sdkappid, secret_key, identifier, now)
        .map(|_| ())
        .map_err(crate::Error::from)
        .into_py_result(py)
}

/// The code table (design §3) as a list of dicts: `name`, `python_class`, `codes`, `retry`
/// (`"no"`, `"backoff"`, `"slow_down"`, `"after_resign"`) and `retryable`.
#[pyfunction]
fn error_kinds(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for row in KINDS {
        let dict = PyDict::new(py);
        dict.set_item("name", row.name)?;
        dict.set_item("python_class", row.python_class)?;
        dict.set_item("codes", row.codes.to_vec())?;
        let retry = match row.retry {
            Retry::No => "no",
            Retry::Backoff => "backoff",
            Retry::SlowDown => "slow_down",
            Retry::AfterResign => "after_resign",
        };
        dict.set_item("retry", retry)?;
        dict.set_item("retryable", row.kind.is_retryable())?;
        list.append(dict)?;
    }
    Ok(list)
}

/// The client defaults of the Rust core (`timeout` etc. in seconds), to check the Python ones against.
#[pyfunction]
fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("identifier", Defaults::IDENTIFIER)?;
    dict.set_item("connect_timeout", Defaults::CONNECT_TIMEOUT.as_secs_f64())?;
    dict.set_item("timeout", Defaults::TIMEOUT.as_secs_f64())?;
    dict.set_item("deadline", Defaults::DEADLINE.as_secs_f64())?;
    dict.set_item("max_retries", Defaults::MAX_RETRIES)?;
    dict.set_item("rate_limit", Defaults::RATE_LIMIT)?;
    dict.set_item("usersig_ttl", Defaults::USERSIG_TTL)?;
    dict.set_item("region", crate::Region::China.name())?;
    Ok(dict)
}

/// Set by an `atexit` hook: the interpreter is finalizing. From then on, Python 3.11 to 3.13 end
/// a thread that asks for the GIL with `pthread_exit`, whose forced unwinding through Rust frames
/// aborts the process ("FATAL: exception not rethrown"). Threads that Python did not start (the
/// async workers, the core's bulk workers, the log bridge on any of them) check it first.
static FINALIZING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[pyfunction]
fn _finalizing() {
    FINALIZING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether the interpreter is finalizing (see [`FINALIZING`]).
pub(crate) fn finalizing() -> bool {
    FINALIZING.load(std::sync::atomic::Ordering::SeqCst)
}

/// `Python::attach` for a thread that Python did not start: None, and nothing done, once the
/// interpreter is finalizing (what the thread wanted to hand over has nobody left to take it).
pub(crate) fn attach_from_worker<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    if finalizing() {
        return None;
    }
    Some(Python::attach(f))
}

/// `timrest._native`: the compiled half of the `timrest` package.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logger::install();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let finalizing = wrap_pyfunction!(_finalizing, m)?;
    m.py().import("atexit")?.call_method1("register", (finalizing,))?;
    m.add_class::<client::PyClient>()?;
    m.add_class::<aio::PyAsyncRunner>()?;
    m.add_class::<aio::PyJobHandle>()?;
    m.add_function(wrap_pyfunction!(aio::batch_report, m)?)?;
    m.add_class::<client::PyCallInfo>()?;
    m.add_class::<observe::PyEvent>()?;
    m.add_class::<client::PyPurgePlan>()?;
    m.add_class::<batch::PyBatchReport>()?;
    m.add_class::<batch::PyItemResult>()?;
    m.add_class::<moderation::PyNoSpeaking>()?;
    m.add_class::<moderation::PyHistoryMessage>()?;
    m.add_class::<moderation::PyHistoryPage>()?;
    m.add_class::<moderation::PyRecallResult>()?;
    m.add_class::<moderation::PyStepResult>()?;
    m.add_class::<moderation::PyJobReport>()?;
    m.add_class::<moderation::PyJobControl>()?;
    m.add("PERMANENT", crate::moderation::PERMANENT)?;
    m.add_class::<emulator::PyEmulator>()?;
    m.add("DEMO_SDKAPPID", crate::emulator::DEMO_SDKAPPID)?;
    m.add("DEMO_SECRET_KEY", crate::emulator::DEMO_SECRET_KEY)?;
    m.add("DEMO_SPAMMER", crate::emulator::serve::DEMO_SPAMMER)?;
    m.add("EMULATOR_READY_PREFIX", crate::emulator::serve::READY_PREFIX)?;
    m.add_function(wrap_pyfunction!(emulator::serve_emulator, m)?)?;
    m.add_function(wrap_pyfunction!(gen_usersig, m)?)?;
    m.add_function(wrap_pyfunction!(inspect_usersig, m)?)?;
    m.add_function(wrap_pyfunction!(verify_usersig, m)?)?;
    m.add_function(wrap_pyfunction!(error_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(defaults, m)?)?;
    Ok(())
}
