//! The asyncio bridge of `timrest.AsyncClient` (design §12): a bounded pool of Rust worker
//! threads, owned by the client, runs the blocking core; each call's asyncio future is completed
//! through the loop's `call_soon_threadsafe`.
//!
//! The event loop's thread only queues a job (a mutex held for a push): it never waits on the
//! network, the limiter or a backoff. A worker holds no GIL while the core runs. When it is done it
//! queues the outcome for its loop and, if no drain is pending there, schedules one with
//! `loop.call_soon_threadsafe(drain, key)`: the only moment a worker attaches to Python, and one
//! call serves every result that arrives before the loop runs it. The drain runs on the loop's
//! thread, makes the Python objects and completes each future that is not already done: a
//! cancelled task's future is, and its late result is dropped. A loop that is closed by then
//! refuses the callback; the results are dropped too.
//!
//! Workers start on demand, up to `max_workers`, and stay until the pool closes: a client that
//! is never used has no thread, and `close` joins every thread it started.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::batch::{PyBatchReport, PyItemResult};
use super::client::{PyCallInfo, PyClient, PyPurgePlan};
use super::errors::to_py_err;
use super::json;
use super::observe;
use crate::batch::ItemOutcome;
use crate::client::DeleteBySender;
use crate::purge::PurgeOptions;

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
    /// Workers started that have not yet taken the lock (each will take a job).
    starting: usize,
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

/// Why a call could not be queued.
enum SubmitError {
    Closed,
    NoThread,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pool {
    fn submit(self: &Arc<Pool>, job: Job) -> Result<(), SubmitError> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(SubmitError::Closed);
        }
        state.queue.push_back(job);
        state.pending += 1;
        // Only a waiting worker needs waking (a notify is a futex system call even with nobody
        // waiting, and a burst of submissions would pay one each on the loop's thread).
        if state.idle > 0 {
            self.work.notify_one();
        }
        // A call starts at once while fewer than `max_workers` are busy: a worker is started when
        // no idle one is left to take it (a worker busy on a slow call must not hold up the next).
        // The loop's thread starts one at a time: a starting worker starts the next when it takes
        // a job and more wait, so that a burst of calls does not spawn every thread on the loop.
        if state.starting == 0
            && state.queue.len() > state.idle
            && state.threads.len() < self.max_workers
            && !self.spawn_worker(&mut state)
            && state.threads.is_empty()
        {
            state.queue.pop_back();
            state.pending -= 1;
            return Err(SubmitError::NoThread);
        }
        Ok(())
    }

    /// Starts one more worker; false when no thread could be had.
    fn spawn_worker(self: &Arc<Pool>, state: &mut State) -> bool {
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name("timrest-async".into())
            .stack_size(512 * 1024)
            .spawn(move || pool.work_loop());
        match spawned {
            Ok(handle) => {
                state.threads.push(handle);
                state.starting += 1;
                true
            }
            Err(_) => false,
        }
    }

    fn work_loop(self: Arc<Pool>) {
        let mut state = lock(&self.state);
        state.starting -= 1;
        loop {
            if let Some(job) = state.queue.pop_front() {
                // More waiting than idle or starting workers to take them: up to two more
                // workers, up to the bound. The loop's thread starts one; each starts two, so a
                // burst of n calls has its workers after log2(n) thread starts, none on the loop.
                for _ in 0..2 {
                    if state.queue.len() <= state.idle + state.starting
                        || state.threads.len() >= self.max_workers
                        || !self.spawn_worker(&mut state)
                    {
                        break;
                    }
                }
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
    /// Whether the client has `on_event` hooks: then each call carries its task's context to them.
    observed: bool,
    pool: Arc<Pool>,
    finished: Arc<Finished>,
}

/// What a finished job hands to its loop: the future, and how to make its outcome once the loop's
/// thread holds the GIL.
struct Done {
    future: Py<PyAny>,
    finish: Finish,
}

/// Makes a job's outcome into Python objects (run on the loop's thread, with the GIL).
type Finish = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// Finished jobs waiting for their loop, by loop. An entry exists while a drain is scheduled on
/// that loop: a worker that adds the first item schedules one; the others just add theirs.
type Finished = Mutex<std::collections::HashMap<usize, (Py<PyAny>, Vec<Done>)>>;

/// Queues `done` for `loop_`, and schedules `drain(key)` on the loop when no drain is pending.
/// Workers attach to Python only for that call, once per batch of results: under load one
/// `call_soon_threadsafe` serves many completions, and the conversions to Python objects run on
/// the loop's thread, which holds the GIL anyway.
fn hand_over(finished: &Finished, loop_: Py<PyAny>, drain: &Py<PyAny>, done: Done) {
    let key = loop_.as_ptr() as usize;
    let schedule = {
        let mut map = finished.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(&key) {
            Some((_, items)) => {
                items.push(done);
                None
            }
            None => {
                map.insert(key, (loop_, vec![done]));
                Some(key)
            }
        }
    };
    if let Some(key) = schedule {
        super::attach_from_worker(|py| {
            let loop_ = finished.lock().unwrap_or_else(|p| p.into_inner()).get(&key).map(|(l, _)| l.clone_ref(py));
            let scheduled = loop_.map(|l| l.call_method1(py, "call_soon_threadsafe", (drain, key)));
            if !matches!(scheduled, Some(Ok(_))) {
                // The loop is closed: nobody awaits these any more.
                finished.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
            }
        });
    }
}

/// A queued call: `cancel()` (the awaiting task was cancelled) makes a call that has not started
/// yet never start, so it never reaches the server.
#[pyclass(frozen, module = "timrest._native", name = "JobHandle")]
pub(crate) struct PyJobHandle {
    cancelled: Arc<AtomicBool>,
}

#[pymethods]
impl PyJobHandle {
    /// Drops the call if it has not started (one that has runs to its end, its result dropped).
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }
}

impl PyAsyncRunner {
    /// Queues `work` (run without the GIL) and completes `future` with what `finish` makes of it.
    fn spawn<T: Send + 'static>(
        &self,
        targets: (Py<PyAny>, Py<PyAny>, Py<PyAny>),
        work: impl FnOnce(&crate::Client) -> T + Send + 'static,
        finish: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    ) -> PyResult<PyJobHandle> {
        let client = self.client.clone();
        let finished = self.finished.clone();
        let cancelled = Arc::new(AtomicBool::new(false));
        let seen = cancelled.clone();
        // Called from the loop's thread, which holds the GIL: the awaiting task's context, and
        // whether DEBUG records are wanted (else the worker would take the GIL for each attempt's
        // record only to learn that they are not).
        let (context, debug) =
            Python::attach(|py| (observe::caller_context(py, self.observed), super::logger::debug_enabled(py)));
        let job: Job = Box::new(move || {
            let (loop_, drain, future) = targets;
            if seen.load(Ordering::Acquire) {
                // Its task was cancelled before a worker took it: nothing is sent, and nobody
                // awaits the future. Dropping the Python objects needs the GIL.
                // At exit, the objects go with the closure, their release deferred by pyo3.
                super::attach_from_worker(move |_| drop((loop_, drain, future, context)));
                return;
            }
            let value = super::logger::with_debug(debug, || observe::in_caller_context(context, || work(&client)));
            let done = Done { future, finish: Box::new(move |py| finish(py, value)) };
            hand_over(&finished, loop_, &drain, done);
        });
        // The pool's lock is held only to push and pop jobs, never while waiting for the GIL.
        self.pool.submit(job).map_err(|e| match e {
            // A use after `aclose()`: a TimError (a ConfigError: nothing was sent) that says what to do.
            SubmitError::Closed => Python::attach(|py| {
                super::errors::to_py_err(
                    py,
                    &crate::Error::config(
                        "the AsyncClient is closed (aclose() was called, or its `async with` block ended): \
                         make a new AsyncClient for more calls",
                    ),
                )
            }),
            SubmitError::NoThread => PyRuntimeError::new_err("could not start a worker thread"),
        })?;
        Ok(PyJobHandle { cancelled })
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
        Ok(PyAsyncRunner {
            client: client.get().core().clone(),
            observed: client.get().observed(),
            pool: Arc::new(pool),
            finished: Arc::new(Mutex::new(std::collections::HashMap::new())),
        })
    }

    /// Queues `delete_by_sender`; completes `future` with a `CallInfo` or the typed exception.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (group_id, sender, topic_id, loop_, resolve, future))]
    fn delete_by_sender(
        &self,
        group_id: String,
        sender: String,
        topic_id: Option<String>,
        loop_: Py<PyAny>,
        resolve: Py<PyAny>,
        future: Py<PyAny>,
    ) -> PyResult<PyJobHandle> {
        let mut request = DeleteBySender::new(group_id, sender);
        if let Some(topic) = topic_id {
            request = request.topic(topic);
        }
        self.spawn(
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
        index: usize,
        item: &Bound<'_, PyAny>,
        loop_: Py<PyAny>,
        resolve: Py<PyAny>,
        future: Py<PyAny>,
    ) -> PyResult<PyJobHandle> {
        let request = super::batch::read_item(item);
        self.spawn(
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

    /// Queues `purge_plan(sender, ...)`; completes `future` with a `PurgePlan` or the typed exception.
    #[pyo3(signature = (sender, group_types, include_topics, page_size, loop_, resolve, future))]
    #[allow(clippy::too_many_arguments)]
    fn purge_plan(
        &self,
        sender: String,
        group_types: Option<Vec<String>>,
        include_topics: bool,
        page_size: u32,
        loop_: Py<PyAny>,
        resolve: Py<PyAny>,
        future: Py<PyAny>,
    ) -> PyResult<PyJobHandle> {
        let options = PurgeOptions { group_types, include_topics, page_size, ..PurgeOptions::default() };
        self.spawn(
            (loop_, resolve, future),
            move |client| client.purge_plan(&sender, &options).map(|plan| (sender, plan)),
            |py, result| match result {
                Ok((sender, plan)) => Ok(Py::new(py, PyPurgePlan::new(py, &sender, plan)?)?.into_any()),
                Err(e) => Err(to_py_err(py, &e)),
            },
        )
    }

    /// Queues `f(*args, **kwargs)`, a method of the sync client, on a worker thread (it releases
    /// the GIL while it waits on the network); completes `future` with what it returns or raises.
    #[pyo3(signature = (f, args, kwargs, loop_, resolve, future))]
    #[allow(clippy::too_many_arguments)]
    fn invoke(
        &self,
        f: Py<PyAny>,
        args: Py<pyo3::types::PyTuple>,
        kwargs: Option<Py<PyDict>>,
        loop_: Py<PyAny>,
        resolve: Py<PyAny>,
        future: Py<PyAny>,
    ) -> PyResult<PyJobHandle> {
        self.spawn(
            (loop_, resolve, future),
            move |_| {
                super::attach_from_worker(|py| f.call(py, args.bind(py), kwargs.as_ref().map(|k| k.bind(py))))
                    .unwrap_or_else(|| Err(PyRuntimeError::new_err("the interpreter is shutting down")))
            },
            |_, result| result,
        )
    }

    /// Queues `call(service, command, body)`; completes `future` with the answer as a dict.
    #[pyo3(signature = (service, command, body, loop_, resolve, future))]
    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        service: String,
        command: String,
        body: Option<&Bound<'_, PyDict>>,
        loop_: Py<PyAny>,
        resolve: Py<PyAny>,
        future: Py<PyAny>,
    ) -> PyResult<PyJobHandle> {
        let body = match body {
            Some(dict) => json::to_value(dict.as_any())?,
            None => serde_json::Value::Object(serde_json::Map::new()),
        };
        self.spawn(
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

    /// Completes the futures of the jobs finished for the loop `key` (scheduled on that loop by a
    /// worker). A future already done, as a cancelled task's is, is left alone.
    fn drain(&self, py: Python<'_>, key: usize) -> PyResult<()> {
        let batch = self.finished.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        let Some((_, items)) = batch else { return Ok(()) };
        for Done { future, finish } in items {
            let future = future.bind(py);
            if future.call_method0("done")?.is_truthy()? {
                continue;
            }
            match finish(py) {
                Ok(value) => future.call_method1("set_result", (value,))?,
                Err(e) => future.call_method1("set_exception", (e.into_value(py),))?,
            };
        }
        Ok(())
    }

    /// `close` on a thread of its own; completes `future` with whether all finished in time.
    fn close_async(&self, timeout: f64, loop_: Py<PyAny>, resolve: Py<PyAny>, future: Py<PyAny>) -> PyResult<()> {
        let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
        let pool = self.pool.clone();
        let finished = self.finished.clone();
        std::thread::Builder::new()
            .name("timrest-async-close".into())
            .spawn(move || {
                let all = pool.close(timeout);
                let finish = Box::new(move |py: Python<'_>| {
                    Ok(pyo3::types::PyBool::new(py, all).to_owned().into_any().unbind())
                });
                hand_over(&finished, loop_, &resolve, Done { future, finish });
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

/// A `BatchReport` from `ItemResult`s (the async `delete_many` gathers them in Python), with the
/// `(group_id, group_type)` pairs of a purge's skipped groups.
#[pyfunction]
#[pyo3(signature = (results, elapsed, stopped_early, interrupted, skipped=None, counts=None))]
pub(crate) fn batch_report(
    py: Python<'_>,
    results: Vec<Py<PyItemResult>>,
    elapsed: f64,
    stopped_early: bool,
    interrupted: bool,
    skipped: Option<Vec<(String, String)>>,
    counts: Option<(usize, usize)>,
) -> PyResult<PyBatchReport> {
    let mut sorted = results;
    sorted.sort_by_key(|r| r.get().index());
    // `counts` (ok, failed): for a batch that kept no results.
    let (ok, failed) = counts.unwrap_or_else(|| {
        let failed = sorted.iter().filter(|r| !r.get().succeeded()).count();
        (sorted.len() - failed, failed)
    });
    let list = PyList::new(py, sorted)?;
    let skipped = PyList::new(py, skipped.unwrap_or_default())?;
    Ok(PyBatchReport::from_parts(list.unbind(), ok, failed, elapsed, stopped_early, interrupted, skipped.unbind()))
}
