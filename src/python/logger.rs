//! The bridge from Rust's `log` facade to Python's `logging` (logger `timrest`).
//!
//! Only records whose target is in this crate are forwarded: the HTTP and TLS crates underneath
//! may log request URLs, and a request URL carries the UserSig. The emulator's records stay out
//! too: its server threads must never wait for the interpreter (the interpreter may be waiting for
//! them to stop). The core never logs a secret (design §2).

use std::cell::Cell;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;

/// The `logging.Logger` named `timrest`.
static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

thread_local! {
    /// Whether the `timrest` logger took DEBUG records when the call running on this thread began
    /// (None: no call of a `Client` method is running here, so ask Python). A DEBUG or TRACE
    /// record then costs nothing when DEBUG is off: no interpreter lock is taken for it.
    static DEBUG_ON: Cell<Option<bool>> = const { Cell::new(None) };
}

/// The `logging.Logger` named `timrest`.
fn logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    LOGGER
        .get_or_try_init(py, || py.import("logging")?.call_method1("getLogger", ("timrest",)).map(Bound::unbind))
        .map(|l| l.bind(py))
}

/// `logger.isEnabledFor` (bound once) and the argument tuple `(logging.DEBUG,)`: asked on every call.
static DEBUG_QUERY: PyOnceLock<(Py<PyAny>, Py<PyTuple>)> = PyOnceLock::new();

/// Whether the `timrest` logger takes DEBUG records now (true when Python cannot say): asked with
/// the lock held before a call runs without it, here or on an `AsyncClient` worker ([`with_debug`]).
pub(crate) fn debug_enabled(py: Python<'_>) -> bool {
    let query = DEBUG_QUERY.get_or_try_init(py, || -> PyResult<_> {
        let method = logger(py)?.getattr("isEnabledFor")?.unbind();
        Ok((method, PyTuple::new(py, [10])?.unbind()))
    });
    match query {
        Ok((method, args)) => method.bind(py).call1(args.bind(py)).and_then(|r| r.is_truthy()).unwrap_or(true),
        Err(_) => true,
    }
}

/// Runs `f` (one call of the core) with the interpreter lock released, as `py.detach` does, having
/// asked the `timrest` logger once, with the lock held, whether it takes DEBUG records: the core's
/// one DEBUG record per attempt then needs the lock only when it will be shown.
pub(crate) fn detach<T, F>(py: Python<'_>, f: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    let debug = debug_enabled(py);
    py.detach(move || with_debug(debug, f))
}

/// Runs `f` (one call of the core, on a thread without the interpreter lock) knowing whether the
/// `timrest` logger takes DEBUG records, as [`detach`] does on the caller's thread: the worker then
/// takes the lock for a DEBUG record only when it will be shown.
pub(crate) fn with_debug<T>(debug: bool, f: impl FnOnce() -> T) -> T {
    let previous = DEBUG_ON.replace(Some(debug));
    let out = f();
    DEBUG_ON.set(previous);
    out
}

/// Forwards `timrest::*` records to `logging.getLogger("timrest")`.
struct Bridge;

/// Python's numeric level for a `log` level.
fn python_level(level: log::Level) -> u32 {
    match level {
        log::Level::Error => 40,
        log::Level::Warn => 30,
        log::Level::Info => 20,
        log::Level::Debug => 10,
        log::Level::Trace => 5,
    }
}

fn forwarded(target: &str) -> bool {
    let ours = target == "timrest" || target.starts_with("timrest::");
    ours && !target.starts_with("timrest::emulator")
}

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        forwarded(metadata.target())
    }

    fn log(&self, record: &log::Record<'_>) {
        if !forwarded(record.target()) {
            return;
        }
        if record.level() >= log::Level::Debug && DEBUG_ON.get() == Some(false) {
            return;
        }
        let level = python_level(record.level());
        // No interpreter, or one shutting down: drop the record rather than block or abort.
        if super::finalizing() {
            return;
        }
        let _ = Python::try_attach(|py| -> PyResult<()> {
            let logger = logger(py)?;
            if logger.call_method1("isEnabledFor", (level,))?.is_truthy()? {
                let message = record.args().to_string();
                logger.call_method1("log", (level, "%s", message))?;
            }
            Ok(())
        });
    }

    fn flush(&self) {}
}

/// Installs the bridge (once per process; if another `log` logger is already installed, it stays).
pub(crate) fn install() {
    static BRIDGE: Bridge = Bridge;
    if log::set_logger(&BRIDGE).is_ok() {
        // Python decides what is shown; the filter here only saves work for trace lines.
        log::set_max_level(log::LevelFilter::Debug);
    }
}
