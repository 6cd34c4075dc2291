//! The bridge from Rust's `log` facade to Python's `logging` (logger `timrest`).
//!
//! Only records whose target is in this crate are forwarded: the HTTP and TLS crates underneath
//! may log request URLs, and a request URL carries the UserSig. The emulator's records stay out
//! too: its server threads must never wait for the interpreter (the interpreter may be waiting for
//! them to stop). The core never logs a secret (design §2).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// The `logging.Logger` named `timrest`.
static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

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
        let level = python_level(record.level());
        // No interpreter (shutting down): drop the record rather than block or panic.
        let _ = Python::try_attach(|py| -> PyResult<()> {
            let logger = LOGGER.get_or_try_init(py, || {
                py.import("logging")?.call_method1("getLogger", ("timrest",)).map(Bound::unbind)
            })?;
            let logger = logger.bind(py);
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
