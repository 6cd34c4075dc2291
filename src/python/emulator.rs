//! `timrest._native.Emulator`: the Rust TIM server emulator, served in this process.
//!
//! `timrest.testing.Emulator` is the public, documented wrapper. Every method releases the GIL:
//! the server's threads never need it, and a method waiting on the emulator's state must not
//! hold up the Python threads of a test.

use std::net::IpAddr;
use std::sync::RwLock;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::errors::IntoPyResult;
use super::json;
use crate::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, Fault, GroupSpec};

/// A seeded group as `timrest.testing.SeededGroup` takes it: ID, type, name, messages, spam.
type SeededTuple = (String, String, String, usize, usize);

/// The native emulator. Started on construction; `shutdown()` stops it (dropping it does too).
#[pyclass(frozen, module = "timrest._native", name = "Emulator")]
pub(crate) struct PyEmulator {
    /// `None` once shut down.
    inner: RwLock<Option<Emulator>>,
    /// Kept to answer `base_url` and `port` after shutdown as before it.
    base_url: String,
    port: u16,
}

/// Seconds as a `Duration` of at most a day; anything else is a `timrest.ConfigError` naming it.
fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    let d = Duration::try_from_secs_f64(value)
        .map_err(|_| config_error(format!("{name} must be a number of seconds from 0 to 86400, not {value}")))?;
    crate::emulator::check_delay(name, d).map_err(config_error)?;
    Ok(d)
}

/// A rate limit the emulator takes, or a `timrest.ConfigError` naming the setting.
fn rate(name: &str, limit: Option<f64>) -> PyResult<Option<f64>> {
    crate::emulator::check_rate(name, limit).map_err(config_error)?;
    Ok(limit)
}

fn config_error(message: String) -> PyErr {
    Python::attach(|py| super::errors::to_py_err(py, &crate::Error::config(message)))
}

fn stopped() -> PyErr {
    PyValueError::new_err("the emulator was shut down")
}

impl PyEmulator {
    /// Runs `f` on the running emulator with the GIL released.
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&Emulator) -> T + Send) -> PyResult<T> {
        py.detach(|| {
            let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
            guard.as_ref().map(f)
        })
        .ok_or_else(stopped)
    }
}

#[pymethods]
impl PyEmulator {
    #[new]
    #[pyo3(signature = (
        *, sdkappid=DEMO_SDKAPPID, secret_key=DEMO_SECRET_KEY.to_owned(), admins=vec!["administrator".to_owned()],
        rate_limit=Some(100.0), latency=0.0, host="127.0.0.1", port=0, app_rate_limit=None, fault_rate=0.0,
    ))]
    #[pyo3(text_signature = "(*, sdkappid=1400000000, secret_key=..., admins=..., rate_limit=100.0, \\
        latency=0.0, host='127.0.0.1', port=0, app_rate_limit=None, fault_rate=0.0)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        sdkappid: u64,
        secret_key: String,
        admins: Vec<String>,
        rate_limit: Option<f64>,
        latency: f64,
        host: &str,
        port: u16,
        app_rate_limit: Option<f64>,
        fault_rate: f64,
    ) -> PyResult<PyEmulator> {
        let host: IpAddr =
            host.parse().map_err(|_| PyValueError::new_err(format!("host {host:?} is not an IP address")))?;
        let rate_limit = rate("rate_limit", rate_limit)?;
        let app_rate_limit = rate("app_rate_limit", app_rate_limit)?;
        let config = EmulatorConfig {
            sdkappid,
            secret_key,
            admins,
            rate_limit,
            app_rate_limit,
            latency: seconds("latency", latency)?,
            host,
            port,
            fault_rate,
            ..EmulatorConfig::default()
        };
        let emulator = py.detach(|| Emulator::start(config)).map_err(|e| PyOSError::new_err(e.to_string()))?;
        let (base_url, port) = (emulator.base_url(), emulator.port());
        Ok(PyEmulator { inner: RwLock::new(Some(emulator)), base_url, port })
    }

    /// `http://127.0.0.1:PORT`.
    #[getter]
    fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The port it listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// Whether it still serves.
    #[getter]
    fn running(&self) -> bool {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Creates a group; returns its ID. Raises the API's typed error (e.g. 10021 for a used ID).
    #[allow(clippy::too_many_arguments)]
    fn create_group(
        &self,
        py: Python<'_>,
        group_type: String,
        group_id: Option<String>,
        name: String,
        owner: Option<String>,
        members: Vec<String>,
        support_topic: bool,
    ) -> PyResult<String> {
        let spec = GroupSpec { group_type, group_id, name, owner, members, support_topic };
        self.with(py, |emu| emu.create_group(&spec))?.into_py_result(py)
    }

    /// Creates a topic in a topic-enabled Community group; returns its ID.
    #[pyo3(signature = (group_id, name, topic_id=None))]
    fn create_topic(&self, py: Python<'_>, group_id: &str, name: &str, topic_id: Option<&str>) -> PyResult<String> {
        self.with(py, |emu| emu.create_topic(group_id, name, topic_id))?.into_py_result(py)
    }

    /// Creates the demo groups (see `crate::emulator::serve`); returns one
    /// `(group_id, group_type, name, messages, spam)` tuple for each.
    fn seed_demo(&self, py: Python<'_>, named_ids: bool) -> PyResult<Vec<SeededTuple>> {
        let groups = self.with(py, |emu| emu.seed_demo(named_ids))?.into_py_result(py)?;
        Ok(groups.into_iter().map(|g| (g.group_id, g.group_type, g.name, g.messages, g.spam)).collect())
    }

    /// Dissolves a group.
    fn destroy_group(&self, py: Python<'_>, group_id: &str) -> PyResult<()> {
        self.with(py, |emu| emu.destroy_group(group_id))?.into_py_result(py)
    }

    /// Posts a text message; returns its `MsgSeq`.
    fn send_group_msg(
        &self,
        py: Python<'_>,
        group_id: &str,
        sender: &str,
        text: &str,
        topic_id: Option<&str>,
    ) -> PyResult<u64> {
        self.with(py, |emu| emu.send_group_msg(group_id, sender, text, topic_id))?.into_py_result(py)
    }

    /// How many times `kick` ended the account's login state.
    fn kick_count(&self, py: Python<'_>, account: &str) -> PyResult<u64> {
        self.with(py, |emu| emu.kick_count(account))
    }

    /// The group's owner (first) and members.
    fn members(&self, py: Python<'_>, group_id: &str) -> PyResult<Vec<String>> {
        self.with(py, |emu| emu.members(group_id))?.into_py_result(py)
    }

    /// The stored messages, oldest first, as dicts.
    fn messages<'py>(
        &self,
        py: Python<'py>,
        group_id: &str,
        topic_id: Option<&str>,
        include_deleted: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let messages = self.with(py, |emu| emu.messages(group_id, topic_id, include_deleted))?.into_py_result(py)?;
        json::to_py(py, &serde_json::Value::Array(messages))
    }

    /// Scripts a fault for the next `times` requests of `command`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (command, times, error_code, error_info, http_status, delay, drop, body, truncate, reset,
        slow_body, echo_secrets=false, endless_headers=false))]
    fn inject(
        &self,
        py: Python<'_>,
        command: &str,
        times: u32,
        error_code: Option<i64>,
        error_info: Option<String>,
        http_status: Option<u16>,
        delay: Option<f64>,
        drop: bool,
        body: Option<Vec<u8>>,
        truncate: bool,
        reset: bool,
        slow_body: Option<f64>,
        echo_secrets: bool,
        endless_headers: bool,
    ) -> PyResult<()> {
        if http_status.is_some_and(|s| !(100..=999).contains(&s)) {
            return Err(PyValueError::new_err("http_status must be between 100 and 999"));
        }
        let delay = delay.map(|d| seconds("delay", d)).transpose()?;
        let slow_body = slow_body.map(|d| seconds("slow_body", d)).transpose()?;
        let fault = Fault {
            times,
            error_code,
            error_info,
            http_status,
            delay,
            drop,
            body,
            truncate,
            reset,
            slow_body,
            echo_secrets,
            endless_headers,
        };
        self.with(py, |emu| emu.inject(command, fault))
    }

    /// Forgets every fault not yet used.
    fn clear_faults(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, Emulator::clear_faults)
    }

    /// Changes the delay before every answer.
    fn set_latency(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let latency = self::seconds("latency", seconds)?;
        self.with(py, |emu| emu.set_latency(latency))
    }

    /// Chaos: the share of requests (0 to 1) that answer a random fault from now on.
    fn set_fault_rate(&self, py: Python<'_>, rate: f64) -> PyResult<()> {
        self.with(py, |emu| emu.set_fault_rate(rate))?.map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Changes the per-command rate limit (None: no limit).
    fn set_rate_limit(&self, py: Python<'_>, per_second: Option<f64>) -> PyResult<()> {
        let per_second = rate("rate_limit", per_second)?;
        self.with(py, |emu| emu.set_rate_limit(per_second))
    }

    /// Changes the app-wide rate limit, every command together (None: none; over it, 60011).
    fn set_app_rate_limit(&self, py: Python<'_>, per_second: Option<f64>) -> PyResult<()> {
        let per_second = rate("app_rate_limit", per_second)?;
        self.with(py, |emu| emu.set_app_rate_limit(per_second))
    }

    /// The request log, oldest first, as dicts.
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let records = self.with(py, |emu| emu.requests())?;
        let list = PyList::empty(py);
        for record in records {
            let value = serde_json::to_value(&record).map_err(|e| PyValueError::new_err(e.to_string()))?;
            list.append(json::to_py(py, &value)?)?;
        }
        Ok(list)
    }

    /// The records logged since `cursor` (start with 0), in the order they were logged, and the
    /// cursor for the next call: follows the log without copying it whole each time.
    fn requests_since<'py>(&self, py: Python<'py>, cursor: u64) -> PyResult<(Bound<'py, PyList>, u64)> {
        let (records, next) = self.with(py, |emu| emu.requests_since(cursor))?;
        let list = PyList::empty(py);
        for record in records {
            let value = serde_json::to_value(&record).map_err(|e| PyValueError::new_err(e.to_string()))?;
            list.append(json::to_py(py, &value)?)?;
        }
        Ok((list, next))
    }

    /// Empties the request log.
    fn clear_requests(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, Emulator::clear_requests)
    }

    /// Stops serving and joins the server's threads (idempotent).
    fn shutdown(&self, py: Python<'_>) {
        py.detach(|| {
            let emulator = self.inner.write().unwrap_or_else(|p| p.into_inner()).take();
            drop(emulator);
        });
    }

    fn __repr__(&self) -> String {
        format!("_native.Emulator(base_url={:?}, running={})", self.base_url, self.running())
    }
}

impl Drop for PyEmulator {
    fn drop(&mut self) {
        let emulator = self.inner.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(emulator) = emulator {
            if super::finalizing() {
                // At exit, keep the GIL while the server stops: a thread waiting for it now would
                // be ended inside Rust by the interpreter (an abort), and none needs to run.
                drop(emulator);
            } else {
                // Joining the server's threads may take a moment: let other Python threads run meanwhile.
                Python::attach(|py| py.detach(|| drop(emulator)));
            }
        }
    }
}

/// Runs the emulator command (`timrest emulator`, the same code as the `timrest-emulator` binary)
/// with the GIL released; it stops when a signal handler raises (Ctrl-C, or SIGTERM where the
/// caller installed a handler). Returns the exit status.
#[pyfunction]
pub(crate) fn serve_emulator(py: Python<'_>, prog: &str, args: Vec<String>) -> i32 {
    py.detach(|| {
        crate::emulator::serve::run(prog, args, &|| {
            Python::attach(|py| match py.check_signals() {
                Ok(()) => false,
                // The handler's exception (KeyboardInterrupt) only asks to stop: the command
                // reports it as a clean stop, as the binary does for its signals.
                Err(_) => true,
            })
        })
    })
}
