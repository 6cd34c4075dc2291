//! `on_event=` and `stats()` for Python: the core's events as immutable `timrest.Event` objects
//! handed to the user's hooks, and the core's counters as a dict.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::observe::{Event, Observer, Stats};

/// One step of a call, as an `on_event` hook receives it. Immutable; fields that do not apply to
/// the kind are None, and more fields may come.
#[pyclass(frozen, module = "timrest._native", name = "Event")]
pub(crate) struct PyEvent {
    /// `"limiter_wait"`, `"limiter_refused"`, `"attempt"`, `"call"`, `"rate_adapted"`,
    /// `"backend_error"`, `"fallback_entered"`, `"fallback_left"` or `"connection_opened"`.
    #[pyo3(get)]
    kind: &'static str,
    /// The TIM service (`"group_open_http_svc"`).
    #[pyo3(get)]
    service: String,
    /// The command (`"delete_group_msg_by_sender"`).
    #[pyo3(get)]
    command: String,
    /// The host the client sends to.
    #[pyo3(get)]
    server_address: String,
    /// Its port.
    #[pyo3(get)]
    server_port: u16,
    /// The attempt's number, from 1 (for `"call"`: the attempts the call made).
    #[pyo3(get)]
    attempt: Option<u32>,
    /// The answer's HTTP status (None when no answer came).
    #[pyo3(get)]
    http_status: Option<u16>,
    /// TIM's `ErrorCode` (0 on success; None without an envelope).
    #[pyo3(get)]
    code: Option<i64>,
    /// The failure's kind name (`"rate_limited"`, `"timeout"` …); None on success.
    #[pyo3(get)]
    error_kind: Option<&'static str>,
    /// Seconds: the limiter's wait, the attempt, the call, or the outage that ended.
    #[pyo3(get)]
    duration: Option<f64>,
    /// The request's `random` (the id to quote to Tencent support).
    #[pyo3(get)]
    random: Option<u32>,
    /// For `"rate_adapted"`: the lane's new rate, requests per second.
    #[pyo3(get)]
    rate: Option<f64>,
    /// For the limiter's events: `"local"` or `"redis"`.
    #[pyo3(get)]
    limiter_backend: Option<&'static str>,
}

impl PyEvent {
    fn from_core(e: &Event<'_>) -> PyEvent {
        PyEvent {
            kind: e.kind.name(),
            service: e.service.to_owned(),
            command: e.command.to_owned(),
            server_address: e.server_address.to_owned(),
            server_port: e.server_port,
            attempt: e.attempt,
            http_status: e.http_status,
            code: e.code,
            error_kind: e.error_kind.map(|k| k.name()),
            duration: e.duration.map(|d| d.as_secs_f64()),
            random: e.random,
            rate: e.rate,
            limiter_backend: e.limiter_backend,
        }
    }
}

#[pymethods]
impl PyEvent {
    fn __repr__(&self) -> String {
        let mut parts = vec![format!("kind={:?}", self.kind), format!("command={:?}", self.command)];
        if let Some(n) = self.attempt {
            parts.push(format!("attempt={n}"));
        }
        if let Some(s) = self.http_status {
            parts.push(format!("http_status={s}"));
        }
        if let Some(c) = self.code {
            parts.push(format!("code={c}"));
        }
        if let Some(k) = self.error_kind {
            parts.push(format!("error_kind={k:?}"));
        }
        if let Some(d) = self.duration {
            parts.push(format!("duration={d:.6}"));
        }
        if let Some(r) = self.random {
            parts.push(format!("random={r}"));
        }
        if let Some(r) = self.rate {
            parts.push(format!("rate={r}"));
        }
        if let Some(b) = self.limiter_backend {
            parts.push(format!("limiter_backend={b:?}"));
        }
        format!("timrest.Event({})", parts.join(", "))
    }
}

/// The user's hooks: each gets every event, on the thread of the step (a worker thread for
/// `delete_many` and `AsyncClient`), with the GIL held. An exception in one is logged on the
/// `timrest` logger, with its traceback, and the call goes on.
///
/// Hooks run in the `contextvars` context of the Python code that made the call, so that what a
/// hook reads there (OpenTelemetry's current span, above all) is the caller's:
/// - a plain call runs on the caller's thread, in its context;
/// - an `AsyncClient` call carries a copy of the awaiting task's context to its worker thread, and
///   a bulk method a copy of its caller's to the core's worker threads ([`in_caller_context`]).
pub(crate) struct PyObserver {
    hooks: Vec<Py<PyAny>>,
}

/// The caller's context, as the core's scope of a call ([`crate::observe::with_scope`]).
struct CallerContext(Py<PyAny>);

/// The current `contextvars` context, copied (cheap: contexts are immutable maps).
fn copy_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    static COPY: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let copy = COPY.get_or_try_init(py, || py.import("contextvars")?.getattr("copy_context").map(Bound::unbind))?;
    copy.call0(py)
}

/// The caller's context, to hand to [`in_caller_context`]: only when `observed` (the client has
/// hooks), since nobody else reads it.
pub(crate) fn caller_context(py: Python<'_>, observed: bool) -> Option<Py<PyAny>> {
    if observed { copy_context(py).ok() } else { None }
}

/// Runs `f` (calls of the core: one on an async worker thread, or a bulk method's on the worker
/// threads it starts) with `context` as the context their hooks run in.
pub(crate) fn in_caller_context<R>(context: Option<Py<PyAny>>, f: impl FnOnce() -> R) -> R {
    match context {
        Some(context) => crate::observe::with_scope(Some(Arc::new(CallerContext(context))), f),
        None => f(),
    }
}

impl PyObserver {
    /// `on_event`: one callable, or a list or tuple of them; None or empty: no observer.
    pub(crate) fn from_arg(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<PyObserver>> {
        let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(None) };
        let hooks: Vec<Bound<'_, PyAny>> = if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
            value.try_iter()?.collect::<PyResult<_>>()?
        } else {
            vec![value.clone()]
        };
        for hook in &hooks {
            if !hook.is_callable() {
                let type_name = hook.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string());
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "on_event takes a callable or a list of callables, not {type_name}"
                )));
            }
        }
        if hooks.is_empty() {
            return Ok(None);
        }
        Ok(Some(PyObserver { hooks: hooks.into_iter().map(Bound::unbind).collect() }))
    }

    /// The context this thread's hooks run in: the caller's, carried to this thread, or none
    /// (the current one: a plain call on its caller's thread).
    fn context(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let scope = crate::observe::current_scope()?;
        scope.downcast_ref::<CallerContext>().map(|c| c.0.clone_ref(py))
    }
}

impl Observer for PyObserver {
    fn on_event(&self, e: &Event<'_>) {
        super::attach_from_worker(|py| {
            let event = match Py::new(py, PyEvent::from_core(e)) {
                Ok(event) => event,
                Err(err) => return report(py, None, err),
            };
            let context = self.context(py);
            for hook in &self.hooks {
                let called = match &context {
                    // A copy for each hook call: a context can be entered by one thread at a time.
                    Some(context) => context
                        .call_method0(py, "copy")
                        .and_then(|copy| copy.call_method1(py, "run", (hook, event.clone_ref(py)))),
                    None => hook.call1(py, (event.clone_ref(py),)),
                };
                if let Err(err) = called {
                    report(py, Some(hook), err);
                }
            }
        });
    }
}

/// Logs a hook's exception on the `timrest` logger, with its traceback.
fn report(py: Python<'_>, hook: Option<&Py<PyAny>>, err: PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = py.import("logging")?.call_method1("getLogger", ("timrest",))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", err.value(py))?;
        let hook = match hook {
            Some(h) => h.bind(py).repr()?.to_string(),
            None => "?".to_owned(),
        };
        logger.call_method("error", ("the on_event hook %s raised; the call goes on", hook), Some(&kwargs))?;
        Ok(())
    })();
    if let Err(e) = logged {
        // Logging itself failed (a broken handler): say so on stderr, never into the call.
        e.print(py);
    }
}

/// `stats()`: the counters as a dict with exactly the keys of [`Stats`]; `failed_by_kind` nested,
/// `fallback_active` 0 or 1, `effective_rate_limit` None without a limiter.
pub(crate) fn stats_dict<'py>(py: Python<'py>, s: &Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("calls", s.calls)?;
    d.set_item("ok", s.ok)?;
    d.set_item("failed", s.failed)?;
    let by_kind = PyDict::new(py);
    for (kind, n) in &s.failed_by_kind {
        by_kind.set_item(*kind, *n)?;
    }
    d.set_item("failed_by_kind", by_kind)?;
    d.set_item("attempts", s.attempts)?;
    d.set_item("retries", s.retries)?;
    d.set_item("rate_limited", s.rate_limited)?;
    d.set_item("limiter_wait_seconds", s.limiter_wait_seconds)?;
    d.set_item("limiter_waits", s.limiter_waits)?;
    d.set_item("limiter_backend_errors", s.limiter_backend_errors)?;
    d.set_item("fallback_active", u8::from(s.fallback_active))?;
    d.set_item("connections_opened", s.connections_opened)?;
    d.set_item("effective_rate_limit", s.effective_rate_limit)?;
    Ok(d)
}
