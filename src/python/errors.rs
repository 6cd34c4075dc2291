//! `crate::Error` → the Python exception classes of `timrest.exceptions`.
//!
//! The class comes from the one code table (`err.kind().info().python_class`); nothing here
//! maps codes by hand. The module is imported once and kept.

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};

static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn exceptions_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    EXCEPTIONS.get_or_try_init(py, || py.import("timrest.exceptions").map(Bound::unbind)).map(|module| module.bind(py))
}

/// The typed Python exception for `err`, with `.code`, `.info`, `.random`, `.attempts`,
/// `.retryable`, `.http_status`, `.kind` and `.elapsed` set. Its message is the error's `Display`,
/// which never holds a secret.
///
/// Building it runs Python code (the class's `__init__`), where a pending Ctrl-C is raised. That
/// KeyboardInterrupt is not this error: the error is built again, and the interrupt is raised
/// again for the caller's next signal check, so that Ctrl-C always interrupts.
pub(crate) fn to_py_err(py: Python<'_>, err: &crate::Error) -> PyErr {
    match build(py, err) {
        Ok(e) => e,
        Err(e) if e.is_instance_of::<PyKeyboardInterrupt>(py) => {
            let built = build(py, err).unwrap_or_else(|e| e);
            // SAFETY: called with the GIL held; it only marks SIGINT as pending for the interpreter.
            unsafe { pyo3::ffi::PyErr_SetInterrupt() };
            built
        }
        Err(e) => e,
    }
}

fn build(py: Python<'_>, err: &crate::Error) -> Result<PyErr, PyErr> {
    let info = err.kind().info();
    let class = exceptions_module(py)?.getattr(info.python_class)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("kind", info.name)?;
    kwargs.set_item("code", err.code())?;
    kwargs.set_item("info", err.info())?;
    kwargs.set_item("random", err.random())?;
    kwargs.set_item("attempts", err.attempts())?;
    kwargs.set_item("retryable", err.is_retryable())?;
    kwargs.set_item("http_status", err.http_status())?;
    kwargs.set_item("elapsed", err.elapsed().map(|d| d.as_secs_f64()))?;
    let exc = class.call((err.to_string(),), Some(&kwargs))?;
    if exc.is_instance_of::<pyo3::exceptions::PyBaseException>() {
        Ok(PyErr::from_value(exc))
    } else {
        Err(PyRuntimeError::new_err(format!("timrest.exceptions.{} is not an exception class", info.python_class)))
    }
}

/// `Result<T, crate::Error>` → `PyResult<T>`.
pub(crate) trait IntoPyResult<T> {
    /// Converts the error with [`to_py_err`].
    fn into_py_result(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for crate::Result<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py_err(py, &e))
    }
}
