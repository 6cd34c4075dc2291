//! Bulk deletion: many (group, sender[, topic]) items on a bounded pool of worker threads that
//! share the client's rate limiter and retry policy (design §5).
//!
//! The calling thread pulls items from the input one at a time, only when a worker is about to be
//! free, so a lazy iterator stays lazy and a million-line input is never held in memory twice. It
//! also collects the outcomes and calls the progress callback, so the callback never needs to be
//! `Send`. Failures do not stop the batch unless [`BatchOptions::stop_on_error`] is set; the
//! callback can stop it too (Ctrl-C in Python), and in-flight items always finish.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use timrest::{Client, batch::BatchOptions};
//! # fn main() -> timrest::Result<()> {
//! let client = Client::from_env()?;
//! let items = [("@TGS#1", "spammer"), ("@TGS#2", "spammer")];
//! let report = client.delete_many(items, &BatchOptions::default(), |p| {
//!     eprintln!("{}/{:?} done", p.done, p.total);
//!     ControlFlow::Continue(())
//! })?;
//! println!("{} ok, {} failed", report.ok(), report.failed());
//! # Ok(()) }
//! ```

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::client::{CallInfo, Client, DeleteBySender};
use crate::error::{Error, Result};

/// How long the calling thread waits for an outcome before calling the progress callback anyway
/// (so that a host language can check for Ctrl-C while every worker is busy).
pub const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// The most worker threads one batch starts: far beyond any quota's need (100 to 200 requests/s
/// at a few seconds each), and far below what would fail to spawn.
pub const MAX_CONCURRENCY: usize = 1024;

/// Settings of one [`Client::delete_many`] run.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Worker threads, i.e. requests in flight at most (default 16), 1 to [`MAX_CONCURRENCY`].
    pub concurrency: usize,
    /// Stop scheduling new items after the first failure (default false: keep going).
    pub stop_on_error: bool,
    /// Keep every outcome in the report's `results` (default true). Off, a batch of any size
    /// holds only the items in flight: each outcome is seen once by the observer, and the report
    /// keeps the counts ([`Report::progress`]).
    pub keep_results: bool,
    /// Set to true (by the observer, or from any thread), the batch stops scheduling and returns
    /// without waiting for the items in flight: [`Report::abandoned`] counts them (default None).
    /// What Python does on a second Ctrl-C.
    pub abandon: Option<Arc<AtomicBool>>,
}

impl Default for BatchOptions {
    fn default() -> BatchOptions {
        BatchOptions { concurrency: 16, stop_on_error: false, keep_results: true, abandon: None }
    }
}

/// True once `flag` (an `abandon` option) is set.
pub(crate) fn abandoning(flag: Option<&Arc<AtomicBool>>) -> bool {
    flag.is_some_and(|f| f.load(Ordering::SeqCst))
}

impl BatchOptions {
    /// Checks the options as a batch does before it starts: an
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) error when they are bad.
    pub fn check(&self) -> Result<()> {
        if (1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            Ok(())
        } else {
            Err(Error::invalid_argument(format!(
                "concurrency must be between 1 and {MAX_CONCURRENCY}, not {}",
                self.concurrency
            )))
        }
    }
}

/// One input item: a request, or the reason the input could not be turned into one
/// (reported as that item's failure, so a bad line does not stop a batch).
#[derive(Debug)]
pub struct BatchItem(pub Result<DeleteBySender>);

impl From<DeleteBySender> for BatchItem {
    fn from(request: DeleteBySender) -> BatchItem {
        BatchItem(Ok(request))
    }
}

impl From<Result<DeleteBySender>> for BatchItem {
    fn from(request: Result<DeleteBySender>) -> BatchItem {
        BatchItem(request)
    }
}

impl<G: Into<String>, S: Into<String>> From<(G, S)> for BatchItem {
    fn from((group_id, sender): (G, S)) -> BatchItem {
        BatchItem(Ok(DeleteBySender::new(group_id, sender)))
    }
}

impl<G: Into<String>, S: Into<String>, T: Into<String>> From<(G, S, T)> for BatchItem {
    fn from((group_id, sender, topic_id): (G, S, T)) -> BatchItem {
        BatchItem(Ok(DeleteBySender::new(group_id, sender).topic(topic_id)))
    }
}

/// Where a batch stands, handed to the progress callback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Items finished (ok or failed).
    pub done: usize,
    /// Items that succeeded.
    pub ok: usize,
    /// Items that failed.
    pub failed: usize,
    /// The number of items, when the input knows it (an exact `size_hint`).
    pub total: Option<usize>,
}

/// What the observer of [`Client::delete_many_with_events`] is told, on the calling thread.
#[derive(Debug, Clone, Copy)]
pub enum BatchEvent<'a> {
    /// One item finished, ok or failed; the progress already counts it. Each item is seen here
    /// exactly once, in the order items finish (not input order).
    Finished(&'a ItemOutcome, &'a Progress),
    /// Nothing finished for [`PROGRESS_TICK`]: a chance to check for Ctrl-C or to redraw.
    Tick(&'a Progress),
}

impl BatchEvent<'_> {
    /// Where the batch stands.
    pub fn progress(&self) -> &Progress {
        match self {
            BatchEvent::Finished(_, p) | BatchEvent::Tick(p) => p,
        }
    }
}

/// A group that a purge listed but did not touch: its type keeps no message history
/// (AVChatRoom, BChatRoom), so there is nothing to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedGroup {
    /// The group.
    pub group_id: String,
    /// Its type, as the server named it.
    pub group_type: String,
}

/// The outcome of one item.
#[derive(Debug)]
pub struct ItemOutcome {
    /// Position in the input, from 0.
    pub index: usize,
    /// The request (None when the input item could not be read as one).
    pub request: Option<DeleteBySender>,
    /// What the call cost, or the typed error.
    pub result: Result<CallInfo>,
}

impl ItemOutcome {
    /// Requests sent for this item.
    pub fn attempts(&self) -> u32 {
        match &self.result {
            Ok(info) => info.attempts,
            Err(e) => e.attempts(),
        }
    }

    /// Time spent on this item, waits and retries included.
    pub fn elapsed(&self) -> Duration {
        match &self.result {
            Ok(info) => info.elapsed,
            Err(e) => e.elapsed().unwrap_or_default(),
        }
    }
}

/// What [`Client::delete_many`] did: every item it scheduled, in input order, and totals.
#[derive(Debug, Default)]
pub struct Report {
    /// One outcome per scheduled item, in input order.
    pub results: Vec<ItemOutcome>,
    /// Wall-clock time of the whole batch.
    pub elapsed: Duration,
    /// True when the batch stopped before the input ran out (`stop_on_error`, or the callback asked).
    pub stopped_early: bool,
    /// Groups left alone because they keep no history ([`Client::purge_sender`]; empty otherwise).
    pub skipped: Vec<SkippedGroup>,
    /// Where the batch ended: items finished, ok and failed (also when `results` was not kept).
    pub progress: Progress,
    /// Items that were in flight when [`BatchOptions::abandon`] was set, and that the batch did
    /// not wait for: they may or may not have reached the server, and no outcome of
    /// theirs is reported.
    pub abandoned: usize,
}

impl Report {
    /// Items that succeeded.
    pub fn ok(&self) -> usize {
        self.progress.ok
    }

    /// Items that failed.
    pub fn failed(&self) -> usize {
        self.progress.failed
    }

    /// True when every scheduled item succeeded and the batch ran to the end of its input.
    pub fn is_success(&self) -> bool {
        !self.stopped_early && self.failed() == 0
    }
}

impl Client {
    /// Deletes by sender for every item, `options.concurrency` at a time, sharing this client's
    /// rate limiter and retry policy.
    ///
    /// `progress` runs on the calling thread after each finished item and at least every
    /// [`PROGRESS_TICK`] while items are in flight; returning `ControlFlow::Break(())` stops
    /// scheduling (in-flight items finish and are reported); [`BatchOptions::abandon`] abandons
    /// them. Errors only for bad options; failed items are in the report.
    pub fn delete_many<I, F>(&self, items: I, options: &BatchOptions, mut progress: F) -> Result<Report>
    where
        I: IntoIterator,
        I::Item: Into<BatchItem>,
        F: FnMut(&Progress) -> ControlFlow<()>,
    {
        self.delete_many_with_events(items, options, |event| progress(event.progress()))
    }

    /// [`Client::delete_many`], telling `observe` of each item as it finishes
    /// ([`BatchEvent::Finished`], exactly once per item) and of each quiet [`PROGRESS_TICK`]
    /// ([`BatchEvent::Tick`]): what a durable report needs, written as the batch goes.
    ///
    /// `observe` runs on the calling thread. Returning `ControlFlow::Break(())` stops
    /// scheduling; the items in flight still finish, and `observe` still sees each of them.
    /// Setting [`BatchOptions::abandon`] abandons them: the batch returns at once, with their
    /// number in [`Report::abandoned`] (their worker threads end with their calls, within the timeout).
    pub fn delete_many_with_events<I, F>(&self, items: I, options: &BatchOptions, mut observe: F) -> Result<Report>
    where
        I: IntoIterator,
        I::Item: Into<BatchItem>,
        F: FnMut(BatchEvent<'_>) -> ControlFlow<()>,
    {
        options.check()?;
        let started = Instant::now();
        let mut items = items.into_iter();
        let total = match items.size_hint() {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        let mut state = Collector { outcomes: Vec::new(), progress: Progress { done: 0, ok: 0, failed: 0, total } };
        let abandon = options.abandon.as_ref();
        let mut stop = false;

        // A rendezvous channel: an item leaves the input only when a worker is waiting for it.
        // The workers own a clone of the client (not scoped threads): an abandoned batch returns
        // without waiting for its calls in flight, which end on their own, unread.
        let (work_tx, work_rx) = mpsc::sync_channel::<(usize, BatchItem)>(0);
        let (done_tx, done_rx) = mpsc::channel::<ItemOutcome>();
        let work_rx = Arc::new(Mutex::new(work_rx));
        let workers: Vec<_> = (0..options.concurrency)
            .map(|_| {
                let (client, work_rx, done_tx) = (self.clone(), work_rx.clone(), done_tx.clone());
                crate::observe::spawn_worker("timrest-batch", move || worker(&client, &work_rx, done_tx))
            })
            .collect();
        drop(done_tx);

        let mut in_flight = 0usize;
        let mut index = 0usize;
        'schedule: while !stop {
            // Wait until a worker is free, so that an item leaves the input only when it can start.
            while in_flight >= options.concurrency {
                let got = done_rx.recv_timeout(PROGRESS_TICK);
                in_flight -= usize::from(got.is_ok());
                if state.take(got, options, &mut observe) || abandoning(abandon) {
                    stop = true;
                    break 'schedule;
                }
            }
            let Some(item) = items.next() else { break };
            // A worker is free (or about to take the lock): this blocks only for a moment.
            if work_tx.send((index, item.into())).is_err() {
                break; // every worker is gone: cannot happen while they live
            }
            index += 1;
            in_flight += 1;
            // Record what else has finished, without waiting.
            while let Ok(outcome) = done_rx.try_recv() {
                in_flight -= 1;
                stop |= state.take(Ok(outcome), options, &mut observe);
            }
            stop |= abandoning(abandon);
        }
        drop(work_tx); // workers exit once the queue is empty
        // The items in flight finish and are reported, unless the batch is told to abandon them.
        while in_flight > 0 && !abandoning(abandon) {
            match done_rx.recv_timeout(PROGRESS_TICK) {
                Err(RecvTimeoutError::Disconnected) => break,
                got => {
                    in_flight -= usize::from(got.is_ok());
                    // Nothing is left to schedule; a stop request changes nothing now.
                    let _ = state.take(got, options, &mut observe);
                }
            }
        }
        let abandoned = in_flight;
        if abandoned == 0 {
            for worker in workers {
                // A worker's panic goes on to the caller, as it did from scoped threads: an item
                // without an outcome is never passed over in silence.
                if let Err(panic) = worker.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        }

        state.outcomes.sort_by_key(|o| o.index);
        Ok(Report {
            results: state.outcomes,
            elapsed: started.elapsed(),
            stopped_early: stop,
            skipped: Vec::new(),
            progress: state.progress,
            abandoned,
        })
    }
}

struct Collector {
    outcomes: Vec<ItemOutcome>,
    progress: Progress,
}

impl Collector {
    /// Records an outcome (or a tick) and tells the observer; true when the batch should stop.
    fn take<F>(&mut self, got: Result<ItemOutcome, RecvTimeoutError>, options: &BatchOptions, observe: &mut F) -> bool
    where
        F: FnMut(BatchEvent<'_>) -> ControlFlow<()>,
    {
        let Ok(outcome) = got else {
            return observe(BatchEvent::Tick(&self.progress)).is_break();
        };
        self.progress.done += 1;
        let mut stop = false;
        if outcome.result.is_ok() {
            self.progress.ok += 1;
        } else {
            self.progress.failed += 1;
            stop = options.stop_on_error;
        }
        let asked = observe(BatchEvent::Finished(&outcome, &self.progress)).is_break();
        if options.keep_results {
            self.outcomes.push(outcome);
        }
        asked || stop
    }
}

fn worker(client: &Client, work: &Mutex<mpsc::Receiver<(usize, BatchItem)>>, done: mpsc::Sender<ItemOutcome>) {
    loop {
        // Hold the lock only to take the next job, never while calling the server.
        let job = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok((index, BatchItem(request))) = job else { return };
        let outcome = match request {
            Ok(request) => {
                let result = client.delete_by_sender(&request);
                ItemOutcome { index, request: Some(request), result }
            }
            Err(e) => ItemOutcome { index, request: None, result: Err(e) },
        };
        if done.send(outcome).is_err() {
            return;
        }
    }
}
