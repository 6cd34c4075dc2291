//! `Client.delete_many` for Python: the Rust batch (`crate::batch`) over any Python iterable.
//!
//! The batch runs with the GIL released. The calling thread re-attaches only for a moment: to
//! pull the next item from the Python iterable (lazily: one item when a worker is free), and to
//! report progress and check for Ctrl-C (after each finished item, and every
//! `crate::batch::PROGRESS_TICK` otherwise). Ctrl-C stops scheduling; in-flight items finish and
//! the partial report is returned with `interrupted` set.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyList, PyMapping, PyString, PyTuple};

use super::errors::to_py_err;
use crate::batch::{BatchEvent, BatchItem, BatchOptions, ItemOutcome};
use crate::client::DeleteBySender;

/// The outcome of one item of `Client.delete_many`.
#[pyclass(frozen, module = "timrest._native", name = "ItemResult")]
pub(crate) struct PyItemResult {
    /// Position in the input, from 0.
    #[pyo3(get)]
    index: usize,
    /// The group (None when the input item could not be read).
    #[pyo3(get)]
    group_id: Option<String>,
    /// The sender (None when the input item could not be read).
    #[pyo3(get)]
    sender: Option<String>,
    /// The topic, if any.
    #[pyo3(get)]
    topic_id: Option<String>,
    /// The typed exception (a `timrest.TimError`), or None when the deletion succeeded.
    #[pyo3(get)]
    error: Option<Py<PyAny>>,
    /// The `random` of the last attempt (None when nothing was sent).
    #[pyo3(get)]
    random: Option<u32>,
    /// Requests sent for this item.
    #[pyo3(get)]
    attempts: u32,
    /// Seconds spent on this item, waits and retries included.
    #[pyo3(get)]
    elapsed: f64,
}

#[pymethods]
impl PyItemResult {
    /// True when the deletion succeeded.
    #[getter]
    fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// This outcome as one flat dict of scalars: a row of `BatchReport.to_records()`, ready to
    /// be written as a JSON line the moment the item finishes.
    fn to_record<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.record(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let error = match &self.error {
            Some(e) => e.bind(py).get_type().name()?.to_string(),
            None => "None".to_owned(),
        };
        let text = |v: &Option<String>| -> PyResult<String> {
            Ok(match v {
                Some(s) => PyString::new(py, s).repr()?.to_string(),
                None => "None".to_owned(),
            })
        };
        Ok(format!(
            "ItemResult(index={}, group_id={}, sender={}, topic_id={}, error={error}, attempts={})",
            self.index,
            text(&self.group_id)?,
            text(&self.sender)?,
            text(&self.topic_id)?,
            self.attempts
        ))
    }
}

impl PyItemResult {
    /// Position in the input.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Whether the deletion succeeded.
    pub(crate) fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    pub(crate) fn new(py: Python<'_>, outcome: &ItemOutcome) -> PyItemResult {
        let request = outcome.request.as_ref();
        let (error, random) = match &outcome.result {
            Ok(info) => (None, Some(info.random)),
            Err(e) => (Some(to_py_err(py, e).into_value(py).into_any()), e.random()),
        };
        PyItemResult {
            index: outcome.index,
            group_id: request.map(|r| r.group_id.clone()),
            sender: request.map(|r| r.sender.clone()),
            topic_id: request.and_then(|r| r.topic_id.clone()),
            error,
            random,
            attempts: outcome.attempts(),
            elapsed: outcome.elapsed().as_secs_f64(),
        }
    }

    /// A flat dict of scalars (a row for `pandas.DataFrame`).
    fn record<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let row = PyDict::new(py);
        row.set_item("index", self.index)?;
        row.set_item("group_id", &self.group_id)?;
        row.set_item("sender", &self.sender)?;
        row.set_item("topic_id", &self.topic_id)?;
        row.set_item("ok", self.error.is_none())?;
        match &self.error {
            Some(e) => {
                let e = e.bind(py);
                row.set_item("error", e.get_type().name()?)?;
                row.set_item("kind", e.getattr("kind")?)?;
                row.set_item("code", e.getattr("code")?)?;
                row.set_item("message", e.str()?)?;
            }
            None => {
                for key in ["error", "kind", "code", "message"] {
                    row.set_item(key, py.None())?;
                }
            }
        }
        row.set_item("random", self.random)?;
        row.set_item("attempts", self.attempts)?;
        row.set_item("elapsed", self.elapsed)?;
        Ok(row)
    }
}

/// What `Client.delete_many` did: every scheduled item in input order, and totals.
#[pyclass(frozen, module = "timrest._native", name = "BatchReport")]
pub(crate) struct PyBatchReport {
    /// One `ItemResult` per scheduled item, in input order.
    #[pyo3(get)]
    results: Py<PyList>,
    /// Items that succeeded.
    #[pyo3(get)]
    ok: usize,
    /// Items that failed.
    #[pyo3(get)]
    failed: usize,
    /// Seconds the whole batch took.
    #[pyo3(get)]
    elapsed: f64,
    /// True when the batch stopped before its input ran out (`stop_on_error`, or Ctrl-C).
    #[pyo3(get)]
    stopped_early: bool,
    /// True when Ctrl-C (KeyboardInterrupt) stopped the batch: `delete_many` caught it, let the
    /// in-flight items finish, and returned this partial report instead of raising.
    #[pyo3(get)]
    interrupted: bool,
    /// Items in flight when a second Ctrl-C came: `delete_many` returned without waiting for
    /// them. They may or may not have reached the server, and `on_result` never saw them.
    #[pyo3(get)]
    abandoned: usize,
    /// `(group_id, group_type)` of each group `purge_sender` left alone because its type keeps
    /// no history (AVChatRoom, BChatRoom); empty for `delete_many`.
    #[pyo3(get)]
    skipped: Py<PyList>,
}

impl PyBatchReport {
    /// A report from its parts (the async `delete_many` builds one in Python).
    pub(crate) fn from_parts(
        results: Py<PyList>,
        ok: usize,
        failed: usize,
        elapsed: f64,
        stopped_early: bool,
        interrupted: bool,
        skipped: Py<PyList>,
    ) -> PyBatchReport {
        PyBatchReport { results, ok, failed, elapsed, stopped_early, interrupted, abandoned: 0, skipped }
    }
}

#[pymethods]
impl PyBatchReport {
    /// One flat dict per item (`index`, `group_id`, `sender`, `topic_id`, `ok`, `error` (the class
    /// name), `kind`, `code`, `message`, `random`, `attempts`, `elapsed`): `pandas.DataFrame` takes it as is.
    fn to_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = PyList::empty(py);
        for item in self.results.bind(py).iter() {
            rows.append(item.cast::<PyItemResult>()?.get().record(py)?)?;
        }
        Ok(rows)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.results.bind(py).len()
    }

    /// The summary Jupyter shows for a report: totals, failures counted by error class, and the
    /// first failed items (the whole table is `pandas.DataFrame(report.to_records())`).
    fn _repr_html_(&self, py: Python<'_>) -> PyResult<String> {
        let mut by_class: Vec<(String, usize)> = Vec::new();
        let mut first_failures = String::new();
        let mut shown = 0usize;
        for item in self.results.bind(py).iter() {
            let item = item.cast::<PyItemResult>()?;
            let item = item.get();
            let Some(error) = &item.error else { continue };
            let error = error.bind(py);
            let class = error.get_type().name()?.to_string();
            match by_class.iter_mut().find(|(c, _)| *c == class) {
                Some((_, n)) => *n += 1,
                None => by_class.push((class.clone(), 1)),
            }
            if shown < HTML_FAILURES_SHOWN {
                shown += 1;
                let cell = |v: &Option<String>| v.as_deref().map(html_escape).unwrap_or_default();
                let code: Option<i64> = error.getattr("code")?.extract()?;
                first_failures.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    item.index,
                    cell(&item.group_id),
                    cell(&item.sender),
                    cell(&item.topic_id),
                    html_escape(&class),
                    code.map(|c| c.to_string()).unwrap_or_default(),
                    html_escape(&error.str()?.to_string()),
                ));
            }
        }
        let total = self.ok + self.failed;
        let mut html = format!(
            "<div class=\"timrest-report\"><p><b>timrest BatchReport</b>: {total} item{} in {:.2} s \
             &mdash; <b>{}</b> ok, <b>{}</b> failed",
            if total == 1 { "" } else { "s" },
            self.elapsed,
            self.ok,
            self.failed
        );
        if self.interrupted {
            html.push_str(" &mdash; <b>interrupted</b> (Ctrl-C): the rest of the input was not scheduled");
        } else if self.stopped_early {
            html.push_str(" &mdash; <b>stopped early</b>: the rest of the input was not scheduled");
        }
        if self.abandoned > 0 {
            html.push_str(&format!(
                " &mdash; <b>{} abandoned</b> in flight by a second Ctrl-C (they may or may not have reached the server)",
                self.abandoned
            ));
        }
        html.push_str("</p>");
        let skipped = self.skipped.bind(py).len();
        if skipped > 0 {
            html.push_str(&format!(
                "<p>{skipped} group{} skipped: {} keep no message history.</p>",
                if skipped == 1 { "" } else { "s" },
                if skipped == 1 { "its type does" } else { "their types" },
            ));
        }
        if !by_class.is_empty() {
            html.push_str("<table><thead><tr><th>error</th><th>items</th></tr></thead><tbody>");
            for (class, n) in &by_class {
                html.push_str(&format!("<tr><td>{}</td><td>{n}</td></tr>", html_escape(class)));
            }
            html.push_str("</tbody></table>");
            html.push_str(&format!(
                "<p>First {shown} of {} failure{}:</p><table><thead><tr><th>index</th><th>group_id</th>\
                 <th>sender</th><th>topic_id</th><th>error</th><th>code</th><th>message</th></tr></thead>\
                 <tbody>{first_failures}</tbody></table>",
                self.failed,
                if self.failed == 1 { "" } else { "s" },
            ));
        }
        html.push_str("</div>");
        Ok(html)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "BatchReport(ok={}, failed={}, skipped={}, elapsed={:.3}, stopped_early={}, interrupted={}, abandoned={})",
            self.ok,
            self.failed,
            self.skipped.bind(py).len(),
            self.elapsed,
            if self.stopped_early { "True" } else { "False" },
            if self.interrupted { "True" } else { "False" },
            self.abandoned
        )
    }
}

/// Failed items listed by `BatchReport._repr_html_` (the rest are counted).
const HTML_FAILURES_SHOWN: usize = 10;

/// Text made safe for HTML element content and attribute values.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What every malformed item is told.
const ITEM_SHAPE: &str = "an item must be (group_id, sender), (group_id, sender, topic_id) \
    or a dict with the keys group_id, sender and optionally topic_id";

/// One Python item as a request: `(group_id, sender)`, `(group_id, sender, topic_id or None)`, or a
/// mapping `{"group_id": ..., "sender": ..., "topic_id": ... (optional)}`.
pub(crate) fn read_item(item: &Bound<'_, PyAny>) -> crate::Result<DeleteBySender> {
    let shape = || crate::Error::invalid_argument(ITEM_SHAPE);
    if item.is_instance_of::<PyString>() {
        return Err(shape());
    }
    // Tuples and dicts first, by their C type checks: the Mapping check runs Python code (an ABC's
    // `__instancecheck__`), where a pending Ctrl-C would be raised and then dropped by the cast.
    let parts: Vec<Option<String>> = if item.is_instance_of::<PyTuple>() || item.is_instance_of::<PyList>() {
        item.extract().map_err(|_| shape())?
    } else if let Ok(dict) = item.cast::<PyDict>() {
        return read_mapping(dict.as_mapping());
    } else if let Ok(mapping) = item.cast::<PyMapping>() {
        return read_mapping(mapping);
    } else {
        item.extract().map_err(|_| shape())?
    };
    match parts.as_slice() {
        [Some(g), Some(s)] | [Some(g), Some(s), None] => Ok(DeleteBySender::new(g.clone(), s.clone())),
        [Some(g), Some(s), Some(t)] => Ok(DeleteBySender::new(g.clone(), s.clone()).topic(t.clone())),
        _ => Err(shape()),
    }
}

/// A mapping item. Unknown keys are refused rather than ignored: a misspelt `topic_id` would
/// otherwise widen a deletion from one topic to the whole group.
fn read_mapping(mapping: &Bound<'_, PyMapping>) -> crate::Result<DeleteBySender> {
    let shape = || crate::Error::invalid_argument(ITEM_SHAPE);
    let (mut group_id, mut sender, mut topic_id) = (None, None, None);
    for pair in mapping.items().map_err(|_| shape())?.iter() {
        let (key, value): (String, Bound<'_, PyAny>) = pair.extract().map_err(|_| shape())?;
        let text = |value: &Bound<'_, PyAny>| -> crate::Result<Option<String>> {
            if value.is_none() {
                return Ok(None);
            }
            value
                .extract::<String>()
                .map(Some)
                .map_err(|_| crate::Error::invalid_argument(format!("the item's {key:?} must be a string")))
        };
        match key.as_str() {
            "group_id" => group_id = text(&value)?,
            "sender" => sender = text(&value)?,
            "topic_id" => topic_id = text(&value)?,
            _ => {
                return Err(crate::Error::invalid_argument(format!(
                    "unknown key {key:?} in an item (the keys are group_id, sender and topic_id)"
                )));
            }
        }
    }
    match (group_id, sender) {
        (Some(g), Some(s)) => {
            let request = DeleteBySender::new(g, s);
            Ok(match topic_id {
                Some(t) => request.topic(t),
                None => request,
            })
        }
        (None, _) => Err(crate::Error::invalid_argument("the item has no \"group_id\"")),
        (_, None) => Err(crate::Error::invalid_argument("the item has no \"sender\"")),
    }
}

/// Pulls items from a Python iterator, attaching to the interpreter for each one.
struct PyItems<'a> {
    iter: Py<PyIterator>,
    remaining: Option<usize>,
    /// The first exception the iterable raised (the batch then sees the end of its input).
    error: &'a Mutex<Option<PyErr>>,
}

impl Iterator for PyItems<'_> {
    type Item = BatchItem;

    fn next(&mut self) -> Option<BatchItem> {
        let item = Python::attach(|py| match self.iter.bind(py).clone().next()? {
            Ok(obj) => Some(BatchItem(read_item(&obj))),
            Err(e) => {
                *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                None
            }
        });
        match item {
            Some(_) => self.remaining = self.remaining.map(|n| n.saturating_sub(1)),
            None => self.remaining = Some(0),
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.remaining {
            Some(n) => (n, Some(n)),
            None => (0, None),
        }
    }
}

/// A `str` or `bytes` is iterable, one character at a time: `delete_many("g,spammer")` would be
/// that many one-character failures. It is a `TypeError` instead.
pub(crate) fn refuse_text(items: &Bound<'_, PyAny>) -> PyResult<()> {
    if items.is_instance_of::<pyo3::types::PyString>() || items.is_instance_of::<pyo3::types::PyBytes>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "items must be an iterable of (group_id, sender[, topic_id]) tuples or mappings, not a {}; \
             for one item: [(group_id, sender)]",
            items.get_type().name()?
        )));
    }
    Ok(())
}

/// Runs the batch. `reporter` is what `timrest._progress.reporter(progress)` made: None, or an
/// object with `update(done, ok, failed, total)` and `close()`. `on_result` is called with each
/// `ItemResult` as its item finishes, on this (the calling) thread; `skipped` goes into the report.
#[allow(clippy::too_many_arguments)]
pub(crate) fn delete_many(
    py: Python<'_>,
    client: &crate::Client,
    items: &Bound<'_, PyAny>,
    options: BatchOptions,
    reporter: Option<Bound<'_, PyAny>>,
    on_result: Option<Bound<'_, PyAny>>,
    skipped: Bound<'_, PyList>,
) -> PyResult<PyBatchReport> {
    options.check().map_err(|e| to_py_err(py, &e))?;
    refuse_text(items)?;
    let remaining = items.len().ok();
    let iter = items.try_iter()?.unbind();
    let reporter = reporter.map(Bound::unbind);
    let on_result = on_result.map(Bound::unbind);
    let input_error: Mutex<Option<PyErr>> = Mutex::new(None);
    let mut callback_error: Option<PyErr> = None;
    let mut on_result_error: Option<PyErr> = None;
    let mut interrupted = false;
    // The first Ctrl-C stops scheduling (the items in flight finish and are handed over); a
    // second one abandons the items in flight.
    let mut asked = false;
    let abandon = Arc::new(AtomicBool::new(false));
    let options = BatchOptions { abandon: Some(abandon.clone()), ..options };
    let mut last_done = None;
    let mut finished: Vec<Py<PyItemResult>> = Vec::new();

    let outcome = py.detach(|| {
        let input = PyItems { iter, remaining, error: &input_error };
        client.delete_many_with_events(input, &options, |event: BatchEvent<'_>| {
            Python::attach(|py| {
                let mut stop = false;
                let mut ctrl_c = false;
                // A Ctrl-C that came while the GIL was released is raised here, first: raised by
                // the call to `on_result` below, it would stop that call before its first line,
                // and a finished item would be in the report but never handed over.
                if let Err(e) = py.check_signals() {
                    stop = true;
                    if e.is_instance_of::<PyKeyboardInterrupt>(py) {
                        (interrupted, ctrl_c) = (true, true);
                    } else {
                        callback_error.get_or_insert(e);
                    }
                }
                if let BatchEvent::Finished(outcome, _) = event {
                    match Py::new(py, PyItemResult::new(py, outcome)) {
                        Ok(item) => {
                            // Called for every item, also after an earlier call raised: each item
                            // is handed over exactly once, so that what it persists is complete.
                            if let Some(f) = &on_result
                                && let Err(e) = f.bind(py).call1((item.clone_ref(py),))
                            {
                                stop = true;
                                if e.is_instance_of::<PyKeyboardInterrupt>(py) {
                                    (interrupted, ctrl_c) = (true, true);
                                } else if on_result_error.is_none() {
                                    on_result_error = Some(e);
                                }
                            }
                            if options.keep_results {
                                finished.push(item);
                            }
                        }
                        Err(e) => {
                            stop = true;
                            callback_error.get_or_insert(e);
                        }
                    }
                }
                let p = event.progress();
                let mut result = py.check_signals();
                if result.is_ok() && last_done != Some(p.done) {
                    last_done = Some(p.done);
                    if let Some(r) = &reporter {
                        result = r.bind(py).call_method1("update", (p.done, p.ok, p.failed, p.total)).map(|_| ());
                    }
                }
                if let Err(e) = result {
                    stop = true;
                    if e.is_instance_of::<PyKeyboardInterrupt>(py) {
                        (interrupted, ctrl_c) = (true, true);
                    } else if callback_error.is_none() {
                        callback_error = Some(e);
                    }
                }
                if ctrl_c && asked {
                    abandon.store(true, Ordering::SeqCst);
                }
                asked |= stop;
                if stop { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            })
        })
    });
    if let Some(r) = &reporter {
        r.bind(py).call_method0("close")?;
    }
    let report = outcome.map_err(|e| to_py_err(py, &e))?;
    finished.sort_by_key(|item| item.get().index());
    let results = PyList::new(py, finished)?;
    let partial = PyBatchReport {
        results: results.unbind(),
        ok: report.ok(),
        failed: report.failed(),
        elapsed: report.elapsed.as_secs_f64(),
        stopped_early: report.stopped_early,
        interrupted,
        abandoned: report.abandoned,
        skipped: skipped.unbind(),
    };
    // The batch stopped cleanly (in-flight items finished and were handed to `on_result`); the
    // caller gets the exception that stopped it, with the partial report on it as `.report`.
    let input_error = input_error.into_inner().unwrap_or_else(|p| p.into_inner());
    let (error, what) = match (callback_error, input_error, on_result_error) {
        (Some(e), _, _) => (e, "the progress callback raised"),
        (None, Some(e), _) => (e, "reading the next item raised"),
        (None, None, Some(e)) => (e, "on_result raised"),
        (None, None, None) => return Ok(partial),
    };
    let value = error.value(py);
    let _ = value.setattr("report", Py::new(py, partial)?);
    if value.hasattr("add_note")? {
        let _ = value.call_method1(
            "add_note",
            (format!(
                "timrest: {what}, so the batch stopped scheduling; the in-flight items finished, and the \
                 partial BatchReport is this exception's .report"
            ),),
        );
    }
    Err(error)
}
