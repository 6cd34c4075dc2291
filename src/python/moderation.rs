//! The moderation commands' results and the incident job (`Client.purge_senders`) for Python.
//!
//! The job runs with the GIL released. The calling thread attaches only for its events: the
//! plan, each step as it ends (`on_result`, `progress`), and every `PROGRESS_TICK` (Ctrl-C is
//! checked then). Ctrl-C stops the job: the calls in flight end and are reported, and the partial
//! `JobReport` comes back with `interrupted` set; `resume` does the rest.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::{PyKeyboardInterrupt, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use super::errors::to_py_err;
use crate::moderation::{HistoryPage, NoSpeaking, RecallResult};
use crate::purge::{JobEvent, JobOptions, JobReport, StepResult};

/// An account's global mute: seconds left of each (0: none; `timrest.PERMANENT`: for ever).
#[pyclass(frozen, module = "timrest._native", name = "NoSpeaking")]
pub(crate) struct PyNoSpeaking {
    /// Seconds left of the one-to-one (C2C) mute.
    #[pyo3(get)]
    c2c_seconds: u64,
    /// Seconds left of the group mute.
    #[pyo3(get)]
    group_seconds: u64,
}

impl From<NoSpeaking> for PyNoSpeaking {
    fn from(n: NoSpeaking) -> PyNoSpeaking {
        PyNoSpeaking { c2c_seconds: n.c2c_seconds, group_seconds: n.group_seconds }
    }
}

#[pymethods]
impl PyNoSpeaking {
    fn __repr__(&self) -> String {
        format!("NoSpeaking(c2c_seconds={}, group_seconds={})", self.c2c_seconds, self.group_seconds)
    }
}

/// One message of a history page.
#[pyclass(frozen, module = "timrest._native", name = "HistoryMessage")]
pub(crate) struct PyHistoryMessage {
    /// The sender.
    #[pyo3(get)]
    from_account: String,
    /// Its sequence number in the group or topic.
    #[pyo3(get)]
    msg_seq: u64,
    /// When it was sent, Unix seconds.
    #[pyo3(get)]
    msg_time_stamp: u64,
    /// `MsgRandom`.
    #[pyo3(get)]
    msg_random: u64,
    /// 0 for a message; nonzero for the place marker of a deleted or recalled one.
    #[pyo3(get)]
    is_place_msg: u64,
    /// The message elements (`MsgBody`), as sent.
    #[pyo3(get)]
    msg_body: Py<PyAny>,
}

#[pymethods]
impl PyHistoryMessage {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "HistoryMessage(from_account={}, msg_seq={}, msg_time_stamp={}, is_place_msg={})",
            PyString::new(py, &self.from_account).repr()?,
            self.msg_seq,
            self.msg_time_stamp,
            self.is_place_msg
        ))
    }
}

/// One page of `group_msg_get_simple`: newest first.
#[pyclass(frozen, module = "timrest._native", name = "HistoryPage")]
pub(crate) struct PyHistoryPage {
    /// True when nothing older is left.
    #[pyo3(get)]
    is_finished: bool,
    /// `HistoryMessage`s, newest first.
    #[pyo3(get)]
    messages: Py<PyList>,
}

impl PyHistoryPage {
    pub(crate) fn new(py: Python<'_>, page: HistoryPage) -> PyResult<PyHistoryPage> {
        let messages = PyList::empty(py);
        for m in page.messages {
            let body = super::json::to_py(py, &m.msg_body)?.unbind();
            messages.append(Py::new(
                py,
                PyHistoryMessage {
                    from_account: m.from_account,
                    msg_seq: m.msg_seq,
                    msg_time_stamp: m.msg_time_stamp,
                    msg_random: m.msg_random,
                    is_place_msg: m.is_place_msg,
                    msg_body: body,
                },
            )?)?;
        }
        Ok(PyHistoryPage { is_finished: page.is_finished, messages: messages.unbind() })
    }
}

#[pymethods]
impl PyHistoryPage {
    fn __len__(&self, py: Python<'_>) -> usize {
        self.messages.bind(py).len()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "HistoryPage(messages={}, is_finished={})",
            self.messages.bind(py).len(),
            if self.is_finished { "True" } else { "False" }
        )
    }
}

/// What `group_msg_recall` said of one sequence number.
#[pyclass(frozen, module = "timrest._native", name = "RecallResult")]
pub(crate) struct PyRecallResult {
    /// The sequence number.
    #[pyo3(get)]
    msg_seq: u64,
    /// 0 when it was recalled; otherwise why not (10030: no such message …).
    #[pyo3(get)]
    ret_code: i64,
}

impl From<RecallResult> for PyRecallResult {
    fn from(r: RecallResult) -> PyRecallResult {
        PyRecallResult { msg_seq: r.msg_seq, ret_code: r.ret_code }
    }
}

#[pymethods]
impl PyRecallResult {
    /// True when the message was recalled.
    #[getter]
    fn ok(&self) -> bool {
        self.ret_code == 0
    }

    fn __repr__(&self) -> String {
        format!("RecallResult(msg_seq={}, ret_code={})", self.msg_seq, self.ret_code)
    }
}

/// One step of a `purge_senders` job, as it ended: also one line of its report.
#[pyclass(frozen, module = "timrest._native", name = "StepResult")]
pub(crate) struct PyStepResult {
    /// The account.
    #[pyo3(get)]
    account: String,
    /// The group (None for `mute` and `kick`).
    #[pyo3(get)]
    group_id: Option<String>,
    /// The topic, for a step in a topic.
    #[pyo3(get)]
    topic_id: Option<String>,
    /// `"mute"`, `"kick"`, `"remove"`, `"delete"` or `"recall"`.
    #[pyo3(get)]
    step: &'static str,
    /// `"ok"`, `"failed"`, `"skipped"` or (a dry run) `"planned"`.
    #[pyo3(get)]
    outcome: &'static str,
    /// The TIM `ErrorCode` of a failure, when the server gave one.
    #[pyo3(get)]
    code: Option<i64>,
    /// Why it failed or was skipped ("" when ok).
    #[pyo3(get)]
    detail: String,
    /// Messages recalled (a dry run: that would be).
    #[pyo3(get)]
    recalled: u64,
    /// The error kind of a failure (`"rate_limited"` …), or None.
    #[pyo3(get)]
    error_kind: Option<&'static str>,
}

impl From<&StepResult> for PyStepResult {
    fn from(s: &StepResult) -> PyStepResult {
        PyStepResult {
            account: s.account.clone(),
            group_id: s.group_id.clone(),
            topic_id: s.topic_id.clone(),
            step: s.step.name(),
            outcome: s.outcome.name(),
            code: s.code,
            detail: s.detail.clone(),
            recalled: s.recalled,
            error_kind: s.error_kind.map(|k| k.name()),
        }
    }
}

impl PyStepResult {
    fn record<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let row = PyDict::new(py);
        row.set_item("account", &self.account)?;
        row.set_item("group_id", &self.group_id)?;
        row.set_item("topic_id", &self.topic_id)?;
        row.set_item("step", self.step)?;
        row.set_item("outcome", self.outcome)?;
        row.set_item("code", self.code)?;
        row.set_item("detail", &self.detail)?;
        row.set_item("recalled", self.recalled)?;
        Ok(row)
    }
}

#[pymethods]
impl PyStepResult {
    /// True when the step is done (`ok`, or `planned` in a dry run).
    #[getter]
    fn ok(&self) -> bool {
        matches!(self.outcome, "ok" | "planned")
    }

    /// The step as a dict with the keys of its report line.
    fn to_record<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.record(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let text = |v: &Option<String>| -> PyResult<String> {
            Ok(match v {
                Some(s) => PyString::new(py, s).repr()?.to_string(),
                None => "None".to_owned(),
            })
        };
        Ok(format!(
            "StepResult(account={}, group_id={}, topic_id={}, step={:?}, outcome={:?}, code={}, recalled={})",
            PyString::new(py, &self.account).repr()?,
            text(&self.group_id)?,
            text(&self.topic_id)?,
            self.step,
            self.outcome,
            self.code.map_or("None".to_owned(), |c| c.to_string()),
            self.recalled
        ))
    }
}

/// What a `purge_senders` job did.
#[pyclass(frozen, module = "timrest._native", name = "JobReport")]
pub(crate) struct PyJobReport {
    /// Every `StepResult` of this run, in the order the steps ended.
    #[pyo3(get)]
    steps: Py<PyList>,
    /// The plan: `(account, group_id, group_type, topic_id)` per group or topic cleaned.
    #[pyo3(get)]
    plan: Py<PyList>,
    /// Calls per command (`"service/command"`); a dry run counts the planned writes too.
    #[pyo3(get)]
    calls: Py<PyDict>,
    /// Steps `ok` (a dry run: `planned`).
    #[pyo3(get)]
    ok: usize,
    /// Steps `failed`.
    #[pyo3(get)]
    failed: usize,
    /// Steps `skipped`.
    #[pyo3(get)]
    skipped: usize,
    /// Messages recalled (a dry run: that would be).
    #[pyo3(get)]
    recalled: u64,
    /// Steps already ok in the report (a resumed job), not done again.
    #[pyo3(get)]
    resumed: usize,
    /// Seconds the job took.
    #[pyo3(get)]
    elapsed: f64,
    /// True when the job stopped before its end (Ctrl-C, `on_result` raised, or the report
    /// could not be written); `resume=True` does the rest.
    #[pyo3(get)]
    stopped_early: bool,
    /// True when Ctrl-C stopped it.
    #[pyo3(get)]
    interrupted: bool,
    /// Calls running when a second Ctrl-C came: the job returned without waiting for them. They
    /// may or may not have reached the server; the report does not hold them (resume does them).
    #[pyo3(get)]
    abandoned: usize,
    /// True for a dry run.
    #[pyo3(get)]
    dry_run: bool,
}

impl PyJobReport {
    fn new(py: Python<'_>, report: &JobReport, dry_run: bool, interrupted: bool) -> PyResult<PyJobReport> {
        let steps = PyList::empty(py);
        for s in &report.steps {
            steps.append(Py::new(py, PyStepResult::from(s))?)?;
        }
        let plan = PyList::empty(py);
        for t in &report.plan {
            plan.append((&t.account, &t.group_id, &t.group_type, &t.topic_id))?;
        }
        let calls = PyDict::new(py);
        for (command, n) in &report.calls {
            calls.set_item(command, n)?;
        }
        Ok(PyJobReport {
            steps: steps.unbind(),
            plan: plan.unbind(),
            calls: calls.unbind(),
            ok: report.ok() + report.planned(),
            failed: report.failed(),
            skipped: report.skipped(),
            recalled: report.recalled(),
            resumed: report.resumed,
            elapsed: report.elapsed.as_secs_f64(),
            stopped_early: report.stopped_early,
            interrupted,
            abandoned: report.abandoned,
            dry_run,
        })
    }
}

#[pymethods]
impl PyJobReport {
    /// One dict per step, with the keys of the report lines: `pandas.DataFrame` takes it as is.
    fn to_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = PyList::empty(py);
        for step in self.steps.bind(py).iter() {
            rows.append(step.cast::<PyStepResult>()?.get().record(py)?)?;
        }
        Ok(rows)
    }

    /// Seconds the calls take at `rate` requests per second per command, at least: the busiest
    /// command's calls over the rate (a job runs its commands side by side).
    fn bound(&self, py: Python<'_>, rate: f64) -> PyResult<f64> {
        let mut most = 0u64;
        for (_, n) in self.calls.bind(py).iter() {
            most = most.max(n.extract()?);
        }
        Ok(most as f64 / rate)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.steps.bind(py).len()
    }

    fn __repr__(&self) -> String {
        format!(
            "JobReport(ok={}, failed={}, skipped={}, recalled={}, resumed={}, elapsed={:.3}, stopped_early={}, dry_run={})",
            self.ok,
            self.failed,
            self.skipped,
            self.recalled,
            self.resumed,
            self.elapsed,
            if self.stopped_early { "True" } else { "False" },
            if self.dry_run { "True" } else { "False" }
        )
    }
}

/// A handle that stops a running job from another thread (what `AsyncClient` cancels with).
#[pyclass(frozen, module = "timrest._native", name = "JobControl")]
#[derive(Default)]
pub(crate) struct PyJobControl {
    stop: Arc<AtomicBool>,
}

#[pymethods]
impl PyJobControl {
    #[new]
    fn new() -> PyJobControl {
        PyJobControl::default()
    }

    /// Asks the job to stop: the calls in flight end and are reported.
    fn cancel(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// `since=`: None, Unix seconds (int or float), a `datetime`, or a `timedelta` back from now.
pub(crate) fn since_seconds(since: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    let Some(since) = since.filter(|s| !s.is_none()) else { return Ok(None) };
    let seconds: f64 = if since.hasattr("timestamp")? {
        since.call_method0("timestamp")?.extract()?
    } else if since.hasattr("total_seconds")? {
        let back: f64 = since.call_method0("total_seconds")?.extract()?;
        crate::usersig::unix_now() as f64 - back
    } else if since.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err("since must be Unix seconds, a datetime or a timedelta, not a bool"));
    } else {
        since.extract().map_err(|_| PyTypeError::new_err("since must be Unix seconds, a datetime or a timedelta"))?
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(PyTypeError::new_err(format!("since must be a time after 1970, not {seconds}")));
    }
    Ok(Some(seconds as u64))
}

/// `senders=`: any iterable of account IDs, but not one string (its characters would be accounts).
pub(crate) fn senders_of(senders: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if senders.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "senders must be a list of account IDs, not one string: write [\"spammer\"], not \"spammer\"",
        ));
    }
    let mut out = Vec::new();
    for item in senders.try_iter()? {
        let item = item?;
        out.push(item.extract::<String>().map_err(|_| {
            PyTypeError::new_err(format!(
                "senders must hold strings, not {}",
                item.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?);
    }
    Ok(out)
}

/// Everything `purge_senders` takes besides the client.
pub(crate) struct JobArgs {
    pub(crate) senders: Vec<String>,
    pub(crate) options: JobOptions,
    pub(crate) reporter: Option<Py<PyAny>>,
    pub(crate) on_result: Option<Py<PyAny>>,
    pub(crate) control: Option<Arc<AtomicBool>>,
}

impl JobArgs {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        py: Python<'_>,
        senders: &Bound<'_, PyAny>,
        options: JobOptions,
        since: Option<&Bound<'_, PyAny>>,
        report: Option<PathBuf>,
        progress: Option<&Bound<'_, PyAny>>,
        on_result: Option<Bound<'_, PyAny>>,
        control: Option<&Bound<'_, PyJobControl>>,
    ) -> PyResult<JobArgs> {
        let options = JobOptions { since: since_seconds(since)?, report, ..options };
        let reporter = super::client::reporter(py, progress)?.map(Bound::unbind);
        Ok(JobArgs {
            senders: senders_of(senders)?,
            options,
            reporter,
            on_result: on_result.map(Bound::unbind),
            control: control.map(|c| c.get().stop.clone()),
        })
    }
}

/// Runs the job on this thread with the GIL released, attaching for each event.
pub(crate) fn run_job(py: Python<'_>, client: &crate::Client, args: JobArgs) -> PyResult<Py<PyJobReport>> {
    let JobArgs { senders, options, reporter, on_result, control } = args;
    let mut raised: Option<PyErr> = None;
    let mut interrupted = false;
    // The first Ctrl-C stops the job (the calls in flight end and are handed over); a second one
    // abandons the calls in flight.
    let mut asked = false;
    let abandon = Arc::new(AtomicBool::new(false));
    let options = JobOptions { abandon: Some(abandon.clone()), ..options };
    let mut last_done = None;
    let outcome = py.detach(|| {
        client.purge_senders(&senders, &options, |event| {
            if control.as_ref().is_some_and(|c| c.load(Ordering::Acquire)) {
                return ControlFlow::Break(());
            }
            Python::attach(|py| {
                // A Ctrl-C that came while the GIL was released is raised here, before `on_result`
                // (raised by that call, it would stop it before its first line: a step not handed over).
                let mut result = py.check_signals();
                if let JobEvent::Step(step, _) = event
                    && let Some(f) = &on_result
                {
                    // Every step is handed over, also after an earlier call raised.
                    let handed = Py::new(py, PyStepResult::from(step)).and_then(|s| f.bind(py).call1((s,)).map(|_| ()));
                    if let Err(e) = handed {
                        if result.is_ok() {
                            result = Err(e);
                        } else if !e.is_instance_of::<PyKeyboardInterrupt>(py) && raised.is_none() {
                            raised = Some(e);
                        }
                    }
                }
                let progress = match event {
                    JobEvent::Step(_, p) | JobEvent::Tick(p) => Some(*p),
                    JobEvent::Planned(_) => None,
                };
                let signals = py.check_signals();
                let result = result.and(signals);
                let shown = match (progress, &reporter) {
                    (Some(p), Some(r)) if last_done != Some(p.done) => {
                        last_done = Some(p.done);
                        r.bind(py).call_method1("update", (p.done, p.ok, p.failed + p.skipped, p.total)).map(|_| ())
                    }
                    _ => Ok(()),
                };
                match result.and(shown) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        let ctrl_c = e.is_instance_of::<PyKeyboardInterrupt>(py);
                        if ctrl_c {
                            interrupted = true;
                        } else if raised.is_none() {
                            raised = Some(e);
                        }
                        if ctrl_c && asked {
                            abandon.store(true, Ordering::SeqCst);
                        }
                        asked = true;
                        ControlFlow::Break(())
                    }
                }
            })
        })
    });
    if let Some(r) = &reporter {
        r.bind(py).call_method0("close")?;
    }
    let report = outcome.map_err(|e| to_py_err(py, &e))?;
    let report = Py::new(py, PyJobReport::new(py, &report, options.dry_run, interrupted)?)?;
    match raised {
        None => Ok(report),
        Some(e) => {
            let value = e.value(py);
            let _ = value.setattr("report", report);
            if value.hasattr("add_note")? {
                let _ = value.call_method1(
                    "add_note",
                    ("timrest: a callback raised, so the job stopped; the calls in flight ended and were \
                      reported, and the partial JobReport is this exception's .report (resume=True does the rest)",),
                );
            }
            Err(e)
        }
    }
}
