//! The asyncio bridge of `timrest.AsyncClient` (design §12): a bounded pool of Rust worker
//! threads, owned by the client, runs the blocking core; each call's asyncio future is completed
//! from its worker through `loop.call_soon_threadsafe(resolve, future, result, exception)`.
//!
//! The event loop's thread only queues a job (a mutex held for a push): it never waits on the
//! network, the limiter or a backoff. A worker holds no GIL while the core runs; it attaches only
//! to build the result and hand it to the loop. `resolve` (Python, `timrest._async`) checks
//! `future.done()` first: a cancelled task's future is already done, and its late result is dropped.
//! A loop that is closed by then refuses the callback; the result is dropped too.
//!
//! Workers start on demand, up to `max_workers`, and stay until the pool closes: a client that
//! is never used has no thread, and `close` joins every thread it started.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::batch::{PyBatchReport, PyItemResult};
use super::client::{PyCallInfo, PyClient};
use super::errors::to_py_err;
use super::json;
use crate::batch::ItemOutcome;
use crate::client::DeleteBySender;

/// The most worker threads one async client may have.
const MAX_WORKERS: usize = 1024;

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Jobs queued or running.
    pending: usize,
    /// Workers waiting for a job.
    idle: usize,
    threads: Vec<JoinHandle<()>>,
    closed: bool,
}

struct Pool {
    state: Mutex<State>,
    /// A job was queued, or the pool closed.
    work: Condvar,
    /// `pending` reached zero.
    drained: Condvar,
    max_workers: usize,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pool {
    fn submit(self: &Arc<Pool>, job: Job) -> Result<(), &'static str> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err("the AsyncClient is closed");
        }
        state.queue.push_back(job);
        state.pending += 1;
        if state.idle == 0 && state.threads.len() < self.max_workers {
            let pool = self.clone();
            let spawned = std::thread::Builder::new()
                .name("timrest-async".into())
                .stack_size(512 * 1024)
                .spawn(move || pool.work_loop());
            match spawned {
                Ok(handle) => state.threads.push(handle),
                // No thread to be had: the job waits for a running worker (there is one unless
                // this was the first; then the call fails rather than hang).
                Err(_) if state.threads.is_empty() => {
                    state.queue.pop_back();
                    state.pending -= 1;
                    return Err("could not start a worker thread");
                }
                Err(_) => self.work.notify_one(),
            }
        } else {
            self.work.notify_one();
        }
        Ok(())
    }

    fn work_loop(&self) {
        let mut state = lock(&self.state);
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // A job never unwinds into the pool: a panic is caught and the job is lost
                // (its future then never completes; the bridge's own code does not panic).
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                state = lock(&self.state);
                state.pending -= 1;
                if state.pending == 0 {
                    self.drained.notify_all();
                }
                continue;
            }
            if state.closed {
                return;
            }
            state.idle += 1;
            state = self.work.wait(state).unwrap_or_else(|p| p.into_inner());
            state.idle -= 1;
        }
    }

    /// Refuses new jobs, waits up to `timeout` for the pending ones, then joins the workers if
    /// they are done. Returns whether everything finished in time.
    fn close(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = lock(&self.state);
        state.closed = true;
        self.work.notify_all();
        while state.pending > 0 {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return false;
            }
            state = self.drained.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        let threads = std::mem::take(&mut state.threads);
        drop(state);
        for t in threads {
            let _ = t.join();
        }
        true
    }
}

/// The worker pool and the core client of one `timrest.AsyncClient`.
#[pyclass(frozen, module = "timrest._native", name = "AsyncRunner")]
pub(crate) struct PyAsyncRunner {
    client: crate::Client,
    pool: Arc<Pool>,
}

/// Hands `result` (or `exception`) to the loop; a closed loop's refusal is ignored.
fn complete(loop_: &Py<PyAny>, resolve: &Py<PyAny>, future: &Py<PyAny>, outcome: PyResult<Py<PyAny>>) {
    Python::attach(|py| {
        let (result, exception) = match outcome {
            Ok(value) => (value, py.None()),
            Err(e) => (py.None(), e.into_value(py).into_any()),
        };
        let _ = loop_.call_method1(py, "call_soon_threadsafe", (resolve, future, result, exception));
    });
}

impl PyAsyncRunner {
    /// Queues `work` (run without the GIL) and completes `future` with what `finish` makes of it.
    fn spawn<T: Send + 'static>(
        &self,
        py: Python<'_>,
        targets: (Py<PyAny>, Py<PyAny>, Py<PyAny>),
        work: impl FnOnce(&crate::Client) -> T + Send + 'static,
        finish: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    ) -> PyResult<()> {
        let client = self.client.clone();
        let job: Job = Box::new(move || {
            let (loop_, resolve, future) = targets;
            let value = work(&client);
            let outcome = Python::attach(|py| finish(py, value));
            complete(&loop_, &resolve, &future, outcome);
        });
        // Queuing may wait for the pool's lock (held only for pushes and pops): not on the GIL.
        let pool = self.pool.clone();
        py.detach(move || pool.submit(job)).map_err(PyRuntimeError::new_err)
    }
}

#[pymethods]
impl PyAsyncRunner {
    #[new]
    fn new(client: &Bound<'_, PyClient>, max_workers: usize) -> PyResult<PyAsyncRunner> {
        if !(1..=MAX_WORKERS).contains(&max_workers) {
            let message = format!("max_workers must be between 1 and {MAX_WORKERS}, not {max_workers}");
            return Err(to_py_err(client.py(), &crate::Error::config(message)));
        }
        let pool =
            Pool { state: Mutex::new(State::default()), work: Condvar::new(), drained: Condvar::new(), max_workers };
        Ok(PyAsyncRunner { client: client.get().core().clone(), pool: Arc::new(pool) })
    }

    /// Queues `delete_by_sender`; completes `future` with a `CallInfo` or the typed exception.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (group_id, sender, topic_id, loop_, resolve, future))]
    fn delete_by_sender(
        &self,
        py: Python<'_>,
        group_id: String,
        sender: String,
        topic_id: Option<String>,
        loop_: Py<PyAny>,
        resolve: Py<PyAny>,
        future: Py<PyAny>,
    ) -> PyResult<()> {
        let mut request = DeleteBySender::new(group_id, sender);
        if let Some(topic) = topic_id {
            request = request.topic(topic);
        }
        self.spawn(
            py,
            (loop_, resolve, future),
            move |client| client.delete_by_sender(&request),
            |py, result| match result {
                Ok(info) => Ok(Py::new(py, PyCallInfo::from(info))?.into_any()),
                Err(e) => Err(to_py_err(py, &e)),
            },
        )
    }

    /// Queues one item of `delete_many` (a tuple or dict, read as the sync `delete_many` reads
    /// it); completes `future` with its `ItemResult`, failed or not (never an exception).
    fn delete_item(
        &self,
        py: Python<'_>,
        index: usize,
        item: &Bound<'_, PyAny>,
        loop_: Py<PyAny>,
        resolve: Py<PyAny>,
        future: Py<PyAny>,
    ) -> PyResult<()> {
        let request = super::batch::read_item(item);
        self.spawn(
            py,
            (loop_, resolve, future),
            move |client| {
                let result = match &request {
                    Ok(r) => client.delete_by_sender(r),
                    Err(e) => Err(crate::Error::new(e.kind(), e.info().to_owned())),
                };
                ItemOutcome { index, request: request.ok(), result }
            },
            |py, outcome| Ok(Py::new(py, PyItemResult::new(py, &outcome))?.into_any()),
        )
    }

    /// Queues `call(service, command, body)`; completes `future` with the answer as a dict.
    #[pyo3(signature = (service, command, body, loop_, resolve, future))]
    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        py: Python<'_>,
        service: String,
        command: String,
        body: Option<&Bound<'_, PyDict>>,
        loop_: Py<PyAny>,
        resolve: Py<PyAny>,
        future: Py<PyAny>,
    ) -> PyResult<()> {
        let body = match body {
            Some(dict) => json::to_value(dict.as_any())?,
            None => serde_json::Value::Object(serde_json::Map::new()),
        };
        self.spawn(
            py,
            (loop_, resolve, future),
            move |client| client.call(&service, &command, &body),
            |py, result| match result {
                Ok((answer, _)) => Ok(json::to_py(py, &answer)?.unbind()),
                Err(e) => Err(to_py_err(py, &e)),
            },
        )
    }

    /// Refuses new calls, waits up to `timeout` seconds for those in flight, joins the workers.
    /// Blocks: `AsyncClient.aclose` calls `close_async` instead. Returns whether all finished.
    fn close(&self, py: Python<'_>, timeout: f64) -> bool {
        let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
        let pool = self.pool.clone();
        py.detach(move || pool.close(timeout))
    }

    /// `close` on a thread of its own; completes `future` with whether all finished in time.
    fn close_async(&self, timeout: f64, loop_: Py<PyAny>, resolve: Py<PyAny>, future: Py<PyAny>) -> PyResult<()> {
        let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
        let pool = self.pool.clone();
        std::thread::Builder::new()
            .name("timrest-async-close".into())
            .spawn(move || {
                let finished = pool.close(timeout);
                let outcome =
                    Python::attach(|py| Ok(pyo3::types::PyBool::new(py, finished).to_owned().into_any().unbind()));
                complete(&loop_, &resolve, &future, outcome);
            })
            .map(|_| ())
            .map_err(|e| PyRuntimeError::new_err(format!("could not start the closing thread: {e}")))
    }

    /// The most worker threads (calls in flight at once).
    #[getter]
    fn max_workers(&self) -> usize {
        self.pool.max_workers
    }

    /// Worker threads started and not yet joined.
    #[getter]
    fn threads(&self) -> usize {
        lock(&self.pool.state).threads.len()
    }

    /// Calls queued or running.
    #[getter]
    fn pending(&self) -> usize {
        lock(&self.pool.state).pending
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        lock(&self.pool.state).closed
    }
}

impl Drop for PyAsyncRunner {
    /// A client dropped without `aclose`: its workers finish what is queued, then exit by
    /// themselves (not joined here: a drop must not block).
    fn drop(&mut self) {
        let mut state = lock(&self.pool.state);
        state.closed = true;
        self.pool.work.notify_all();
    }
}

/// A `BatchReport` from `ItemResult`s (the async `delete_many` gathers them in Python).
#[pyfunction]
pub(crate) fn batch_report(
    py: Python<'_>,
    results: Vec<Py<PyItemResult>>,
    elapsed: f64,
    stopped_early: bool,
    interrupted: bool,
) -> PyResult<PyBatchReport> {
    let mut sorted = results;
    sorted.sort_by_key(|r| r.get().index());
    let failed = sorted.iter().filter(|r| !r.get().succeeded()).count();
    let ok = sorted.len() - failed;
    let list = PyList::new(py, sorted)?;
    Ok(PyBatchReport::from_parts(list.unbind(), ok, failed, elapsed, stopped_early, interrupted))
}
