//! The incident job, [`Client::purge_senders`]: see the [`crate::purge`] module for what it does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::report::{Earlier, ReportFile, StepKey};
use super::{JoinedGroup, MAX_PAGE_SIZE, wanted_types};
use crate::batch::{MAX_CONCURRENCY, PROGRESS_TICK, abandoning};
use crate::client::{Client, DeleteBySender};
use crate::error::{Error, ErrorKind, Result};
use crate::moderation::{HistoryRequest, MAX_HISTORY_PAGE, MAX_RECALL_SEQS, MAX_REMOVE_MEMBERS, PERMANENT, commands};

/// `delete_group_msg_by_sender` reaches the messages with this many highest `MsgSeq`.
pub const DELETE_WINDOW: u64 = 1000;

/// Settings of one [`Client::purge_senders`] job.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// Mute each account everywhere, permanently, before cleaning (`timrest ban` sets it).
    pub mute: bool,
    /// Also end each account's login state (`kick`).
    pub kick: bool,
    /// Remove each account from each of its groups before deleting there.
    pub remove: bool,
    /// Read each group's history below the latest 1000 and recall the accounts' messages there.
    pub deep: bool,
    /// With `deep`, leave messages sent before this Unix time alone.
    pub since: Option<u64>,
    /// Send only reads; report every write as `planned`.
    pub dry_run: bool,
    /// Write every step to this JSON-lines report as it ends (a new file, unless `resume`).
    pub report: Option<PathBuf>,
    /// Go on with the job of `report`: redo only the steps that are not `ok` there.
    pub resume: bool,
    /// Only groups of these types (`Public`, `Private`/`Work`, …); `None`: every type.
    pub group_types: Option<Vec<String>>,
    /// Also clean the topics of topic-enabled Communities (default true).
    pub include_topics: bool,
    /// Groups per `get_joined_group_list` page (1 to 5000; default 1000).
    pub page_size: u32,
    /// Requests in flight per command, at most (1 to 1024; default 16).
    pub concurrency: usize,
    /// Set to true (by the observer, or from any thread), the job stops and returns without
    /// waiting for its calls in flight: [`JobReport::abandoned`] counts them (default None).
    pub abandon: Option<Arc<AtomicBool>>,
}

impl Default for JobOptions {
    fn default() -> JobOptions {
        JobOptions {
            mute: false,
            kick: false,
            remove: false,
            deep: false,
            since: None,
            dry_run: false,
            report: None,
            resume: false,
            group_types: None,
            include_topics: true,
            page_size: 1000,
            concurrency: 16,
            abandon: None,
        }
    }
}

/// A step of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// `setnospeaking`, both times permanent.
    Mute,
    /// `kick`.
    Kick,
    /// `delete_group_member` (silent).
    Remove,
    /// `delete_group_msg_by_sender` (silent).
    Delete,
    /// The deep pass's `group_msg_recall` (visible).
    Recall,
}

impl Step {
    /// The name in reports: `mute`, `kick`, `remove`, `delete`, `recall`.
    pub fn name(self) -> &'static str {
        match self {
            Step::Mute => "mute",
            Step::Kick => "kick",
            Step::Remove => "remove",
            Step::Delete => "delete",
            Step::Recall => "recall",
        }
    }

    /// The step of a report name.
    pub fn from_name(name: &str) -> Option<Step> {
        [Step::Mute, Step::Kick, Step::Remove, Step::Delete, Step::Recall].into_iter().find(|s| s.name() == name)
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Done.
    Ok,
    /// The call failed; `code` and `detail` say how. `resume` redoes it.
    Failed,
    /// Not done, for the reason in `detail` (a group that keeps no history, one dissolved
    /// during the job, an account whose stop step failed).
    Skipped,
    /// A dry run's write, not sent.
    Planned,
}

impl Outcome {
    /// The name in reports: `ok`, `failed`, `skipped`, `planned`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Planned => "planned",
        }
    }

    /// The outcome of a report name.
    pub fn from_name(name: &str) -> Option<Outcome> {
        [Outcome::Ok, Outcome::Failed, Outcome::Skipped, Outcome::Planned].into_iter().find(|o| o.name() == name)
    }
}

/// One step of a job, as it ended: also one line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    /// The account.
    pub account: String,
    /// The group (None for `mute` and `kick`).
    pub group_id: Option<String>,
    /// The topic, for a step in a topic of a Community.
    pub topic_id: Option<String>,
    /// Which step.
    pub step: Step,
    /// How it ended.
    pub outcome: Outcome,
    /// The TIM `ErrorCode` of a failure, when the server gave one.
    pub code: Option<i64>,
    /// Why it failed or was skipped (empty when `ok`); a recall notes what it could not recall.
    pub detail: String,
    /// Messages recalled by this step (planned: would be recalled).
    pub recalled: u64,
    /// The kind of a failure (not in the report line: `detail` starts with its name).
    pub error_kind: Option<ErrorKind>,
}

impl StepResult {
    fn new(account: &str, group: Option<&str>, topic: Option<&str>, step: Step, outcome: Outcome) -> StepResult {
        StepResult {
            account: account.to_owned(),
            group_id: group.map(str::to_owned),
            topic_id: topic.map(str::to_owned),
            step,
            outcome,
            code: None,
            detail: String::new(),
            recalled: 0,
            error_kind: None,
        }
    }

    fn skipped(mut self, why: impl Into<String>) -> StepResult {
        self.outcome = Outcome::Skipped;
        self.detail = why.into();
        self
    }

    fn failed(mut self, e: &Error) -> StepResult {
        self.outcome = Outcome::Failed;
        self.code = e.code();
        self.detail = format!("{}: {}", e.kind().name(), e.info());
        self.error_kind = Some(e.kind());
        self
    }

    fn ended(self, result: &Result<()>) -> StepResult {
        match result {
            Ok(()) => self,
            Err(e) if e.kind() == ErrorKind::GroupNotFound => self.skipped(DISSOLVED),
            Err(e) => self.failed(e),
        }
    }
}

/// One place the plan cleans: a group, or a topic of a Community, of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The account.
    pub account: String,
    /// The group.
    pub group_id: String,
    /// The group's type, as the listing named it.
    pub group_type: String,
    /// A topic of the group (None for the group itself).
    pub topic_id: Option<String>,
}

impl Target {
    fn stores_messages(&self) -> bool {
        JoinedGroup { group_id: String::new(), group_type: self.group_type.clone(), support_topic: None }
            .stores_messages()
    }
}

/// Where a job stands, handed to its observer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobProgress {
    /// Steps ended.
    pub done: usize,
    /// Steps `ok` (or `planned`, in a dry run).
    pub ok: usize,
    /// Steps `failed`.
    pub failed: usize,
    /// Steps `skipped`.
    pub skipped: usize,
    /// Steps this run expects, once the plan is known (the deep pass can add a few: accounts
    /// found in the history of groups they no longer belong to).
    pub total: Option<usize>,
}

/// What the observer of [`Client::purge_senders`] is told, on the calling thread.
#[derive(Debug, Clone, Copy)]
pub enum JobEvent<'a> {
    /// The plan is known (and, with a report, written): every (account, group or topic).
    Planned(&'a [Target]),
    /// One step ended; the progress already counts it.
    Step(&'a StepResult, &'a JobProgress),
    /// Nothing ended for [`PROGRESS_TICK`].
    Tick(&'a JobProgress),
}

/// What a job did.
#[derive(Debug, Clone, Default)]
pub struct JobReport {
    /// Every step this run ended, in the order they ended.
    pub steps: Vec<StepResult>,
    /// The plan the job cleaned (read from the report when resumed).
    pub plan: Vec<Target>,
    /// Calls per command (`service/command`), this run's; in a dry run, with the planned writes.
    pub calls: BTreeMap<String, u64>,
    /// Steps already `ok` in the report, not done again by this run.
    pub resumed: usize,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// True when the job stopped before its end (the observer asked, or the report could not be written).
    pub stopped_early: bool,
    /// Calls that were running when [`JobOptions::abandon`] was set, and that the job did not
    /// wait for: they may or may not have reached the server, and the report does not
    /// hold them (resume does them again).
    pub abandoned: usize,
}

impl JobReport {
    fn count(&self, outcome: Outcome) -> usize {
        self.steps.iter().filter(|s| s.outcome == outcome).count()
    }

    /// Steps `ok`.
    pub fn ok(&self) -> usize {
        self.count(Outcome::Ok)
    }

    /// Steps `failed`.
    pub fn failed(&self) -> usize {
        self.count(Outcome::Failed)
    }

    /// Steps `skipped`.
    pub fn skipped(&self) -> usize {
        self.count(Outcome::Skipped)
    }

    /// Steps `planned` (a dry run).
    pub fn planned(&self) -> usize {
        self.count(Outcome::Planned)
    }

    /// Messages recalled (or, in a dry run, to recall).
    pub fn recalled(&self) -> u64 {
        self.steps.iter().map(|s| s.recalled).sum()
    }

    /// True when the job ran to its end and no step failed.
    pub fn is_success(&self) -> bool {
        !self.stopped_early && self.failed() == 0
    }

    /// The least time these calls take at `rate` requests per second per command: the
    /// command with the most calls, over the rate (what a job running its commands side by side
    /// approaches).
    pub fn bound(&self, rate: f64) -> Duration {
        let most = self.calls.values().copied().max().unwrap_or(0) as f64;
        Duration::try_from_secs_f64(most / rate).unwrap_or(Duration::MAX)
    }
}

const DISSOLVED: &str = "the group was dissolved during the job";

/// Work for a lane's workers.
enum Task {
    Mute(usize, String),
    Kick(usize, String),
    List(usize, String, u32),
    Topics(usize, String),
    Remove { group: usize, id: String, accounts: Vec<(usize, String)> },
    Delete { stream: usize, account: usize, request: DeleteBySender },
    History { stream: usize, request: HistoryRequest, since: Option<u64>, wanted: Arc<HashMap<String, usize>> },
    Recall { stream: usize, group: String, topic: Option<String>, seqs: Vec<(usize, u64)> },
}

/// What a worker hands back.
enum Done {
    Mute(usize, Result<()>),
    Kick(usize, Result<()>),
    List(usize, Result<Vec<JoinedGroup>>, u64),
    Topics(usize, Result<Vec<String>>),
    Remove {
        group: usize,
        accounts: Vec<(usize, String)>,
        result: Result<()>,
    },
    Delete {
        stream: usize,
        account: usize,
        result: Result<()>,
    },
    History {
        stream: usize,
        result: Result<Vec<(usize, u64)>>,
        calls: u64,
    },
    Recall {
        stream: usize,
        seqs: Vec<(usize, u64)>,
        result: Result<Vec<crate::moderation::RecallResult>>,
    },
    /// The job was stopping when a worker took the task: it was not sent (resume does it).
    NotStarted,
}

const LANES: usize = 8;

impl Task {
    fn lane(&self) -> usize {
        match self {
            Task::Mute(..) => 0,
            Task::Kick(..) => 1,
            Task::List(..) => 2,
            Task::Topics(..) => 3,
            Task::Remove { .. } => 4,
            Task::Delete { .. } => 5,
            Task::History { .. } => 6,
            Task::Recall { .. } => 7,
        }
    }

    fn run(self, client: &Client) -> Done {
        match self {
            Task::Mute(i, account) => Done::Mute(i, client.set_no_speaking(&account, Some(PERMANENT), Some(PERMANENT))),
            Task::Kick(i, account) => Done::Kick(i, client.kick(&account)),
            Task::List(i, account, page_size) => {
                let mut calls = 0;
                let result = client.joined_groups_counted(&account, page_size, &mut calls);
                Done::List(i, result, calls)
            }
            Task::Topics(g, id) => Done::Topics(g, client.topics(&id)),
            Task::Remove { group, id, accounts } => {
                let names: Vec<&str> = accounts.iter().map(|(_, a)| a.as_str()).collect();
                let result = client.delete_group_member(&id, &names, true, None);
                Done::Remove { group, accounts, result }
            }
            Task::Delete { stream, account, request } => {
                Done::Delete { stream, account, result: client.delete_by_sender(&request).map(|_| ()) }
            }
            Task::History { stream, request, since, wanted } => {
                let mut calls = 0;
                let result = read_below_window(client, request, since, &wanted, &mut calls);
                Done::History { stream, result, calls }
            }
            Task::Recall { stream, group, topic, seqs } => {
                let list: Vec<u64> = seqs.iter().map(|(_, s)| *s).collect();
                let result = client.group_msg_recall(&group, &list, None, topic.as_deref());
                Done::Recall { stream, seqs, result }
            }
        }
    }
}

/// The deep read of one group or topic: the newest `MsgSeq` (one call, place markers included),
/// then every visible message below the delete's window, newest first, back to `since` or the
/// end of the history. Returns `(account, MsgSeq)` of each message of a `wanted` account.
fn read_below_window(
    client: &Client,
    mut request: HistoryRequest,
    since: Option<u64>,
    wanted: &HashMap<String, usize>,
    calls: &mut u64,
) -> Result<Vec<(usize, u64)>> {
    request.req_msg_number = 1;
    request.req_msg_seq = None;
    request.with_recalled = true;
    *calls += 1;
    let newest = match client.group_msg_get_simple(&request)?.messages.first() {
        Some(m) => m.msg_seq,
        None => return Ok(Vec::new()),
    };
    let mut found = Vec::new();
    let Some(mut upto) = newest.checked_sub(DELETE_WINDOW).filter(|s| *s > 0) else { return Ok(found) };
    request.req_msg_number = MAX_HISTORY_PAGE;
    request.with_recalled = false;
    loop {
        request.req_msg_seq = Some(upto);
        *calls += 1;
        let page = client.group_msg_get_simple(&request)?;
        let mut smallest = upto;
        for m in &page.messages {
            if since.is_some_and(|s| m.msg_time_stamp < s) {
                return Ok(found);
            }
            smallest = smallest.min(m.msg_seq);
            if m.is_place_msg == 0
                && let Some(&account) = wanted.get(&m.from_account)
            {
                found.push((account, m.msg_seq));
            }
        }
        // A server that answers a page at or above what was asked would loop for ever.
        if page.is_finished || page.messages.is_empty() || smallest <= 1 || smallest > upto {
            return Ok(found);
        }
        upto = smallest - 1;
    }
}

/// The worker threads, per lane, started as work arrives (up to `concurrency` per lane).
/// The job's workers: one queue per kind of call ("lane"), each served by up to `concurrency`
/// threads, spawned as tasks arrive. The threads own a clone of the client, so that an abandoned
/// job can return without waiting for its calls in flight (they end on their own, unread).
struct Lanes {
    client: Client,
    senders: Vec<mpsc::Sender<Task>>,
    receivers: Vec<Arc<Mutex<mpsc::Receiver<Task>>>>,
    spawned: [usize; LANES],
    submitted: [usize; LANES],
    concurrency: usize,
    done_tx: mpsc::Sender<Done>,
    /// Tasks submitted and not come back yet (queued or running).
    in_flight: usize,
    /// Set when the job stops: the workers hand back the tasks still queued as `NotStarted`.
    cancelled: Arc<AtomicBool>,
    /// Tasks a worker is running now (sent, or about to be).
    running: Arc<AtomicUsize>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Lanes {
    fn new(client: &Client, concurrency: usize, done_tx: mpsc::Sender<Done>) -> Lanes {
        let (mut senders, mut receivers) = (Vec::new(), Vec::new());
        for _ in 0..LANES {
            let (tx, rx) = mpsc::channel();
            senders.push(tx);
            receivers.push(Arc::new(Mutex::new(rx)));
        }
        Lanes {
            client: client.clone(),
            senders,
            receivers,
            spawned: [0; LANES],
            submitted: [0; LANES],
            concurrency,
            done_tx,
            in_flight: 0,
            cancelled: Arc::new(AtomicBool::new(false)),
            running: Arc::new(AtomicUsize::new(0)),
            workers: Vec::new(),
        }
    }

    fn submit(&mut self, task: Task) {
        let lane = task.lane();
        self.submitted[lane] += 1;
        self.in_flight += 1;
        if self.spawned[lane] < self.concurrency && self.spawned[lane] < self.submitted[lane] {
            self.spawned[lane] += 1;
            let (client, work, done) = (self.client.clone(), self.receivers[lane].clone(), self.done_tx.clone());
            let (cancelled, running) = (self.cancelled.clone(), self.running.clone());
            self.workers.push(crate::observe::spawn_worker("timrest-job", move || {
                loop {
                    // The lock is held only to take a task, never while calling the server.
                    let task = match work.lock() {
                        Ok(rx) => rx.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    let Ok(task) = task else { return };
                    // Counted as running before the check: a count read after `cancel` is never short.
                    running.fetch_add(1, Ordering::SeqCst);
                    let done_now = if cancelled.load(Ordering::SeqCst) { Done::NotStarted } else { task.run(&client) };
                    running.fetch_sub(1, Ordering::SeqCst);
                    if done.send(done_now).is_err() {
                        return; // the job has returned (it abandoned this call)
                    }
                }
            }));
        }
        // The receiver lives as long as the lanes: a send cannot fail.
        let _ = self.senders[lane].send(task);
    }

    /// No queued task starts from now on.
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Ends the workers: waits for them, unless the job abandons its calls in flight.
    fn finish(self, wait: bool) {
        let Lanes { senders, workers, done_tx, .. } = self;
        drop((senders, done_tx)); // the workers end when their queues close
        if wait {
            for worker in workers {
                // A worker's panic goes on to the caller, as it did from scoped threads.
                if let Err(panic) = worker.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }
}

struct GroupState {
    id: String,
    accounts: Vec<usize>,
    streams: Vec<usize>,
    removes_pending: usize,
    dissolved: bool,
}

struct StreamState {
    group: usize,
    topic: Option<String>,
    /// The planned accounts of this stream that are cleaned.
    accounts: Vec<usize>,
    deletes_pending: usize,
    recalls_pending: usize,
    /// Per account found in the history: (recalled, not recalled, the first refusal).
    recalled: BTreeMap<usize, (u64, u64, Option<i64>)>,
    /// Accounts whose recall step is still to do (not `ok` in the report).
    recall_wanted: Vec<usize>,
}

/// The running job: the coordinator's state, on the calling thread.
struct Run<'a, F> {
    options: &'a JobOptions,
    accounts: Vec<String>,
    /// Why an account is not cleaned (its stop step failed), or None.
    not_cleaned: Vec<Option<String>>,
    earlier: Earlier,
    report: Option<ReportFile>,
    observe: F,
    out: JobReport,
    progress: JobProgress,
    stop: bool,
    write_error: Option<Error>,
    // Planning.
    listed: Vec<Option<Vec<JoinedGroup>>>,
    list_error: Option<Error>,
    topic_groups: Vec<String>,
    topics: HashMap<String, Vec<String>>,
    // Cleaning.
    groups: Vec<GroupState>,
    streams: Vec<StreamState>,
}

impl<F: FnMut(JobEvent<'_>) -> ControlFlow<()>> Run<'_, F> {
    fn count_call(&mut self, (service, command): (&str, &str), n: u64) {
        if n > 0 {
            *self.out.calls.entry(format!("{service}/{command}")).or_insert(0) += n;
        }
    }

    fn is_done(&self, key: &StepKey) -> bool {
        self.earlier.ok.contains_key(key)
    }

    fn done(&self, account: usize, group: Option<&str>, topic: Option<&str>, step: Step) -> bool {
        self.is_done(&(self.accounts[account].clone(), group.map(str::to_owned), topic.map(str::to_owned), step))
    }

    /// Records a step: report line, progress, observer.
    fn emit(&mut self, step: StepResult) {
        if let Some(report) = &mut self.report
            && self.write_error.is_none()
            && let Err(e) = report.step(&step)
        {
            self.write_error = Some(e);
            self.stop = true;
        }
        self.progress.done += 1;
        match step.outcome {
            Outcome::Ok | Outcome::Planned => self.progress.ok += 1,
            Outcome::Failed => self.progress.failed += 1,
            Outcome::Skipped => self.progress.skipped += 1,
        }
        let asked = (self.observe)(JobEvent::Step(&step, &self.progress));
        self.ask(asked);
        self.out.steps.push(step);
    }

    /// What the observer answered: `Break` stops the job.
    fn ask(&mut self, answer: ControlFlow<()>) {
        self.stop |= answer.is_break();
    }

    /// Waits until every submitted task has come back, handling each as it does; once the job
    /// stops, the tasks still queued come back not started. Told to abandon them, it returns at once.
    fn drain(&mut self, lanes: &mut Lanes, done_rx: &mpsc::Receiver<Done>) {
        while lanes.in_flight > 0 {
            if abandoning(self.options.abandon.as_ref()) {
                self.stop = true;
                break;
            }
            if self.stop {
                lanes.cancel();
            }
            match done_rx.recv_timeout(PROGRESS_TICK) {
                Ok(done) => {
                    lanes.in_flight -= 1;
                    self.handle(lanes, done);
                }
                Err(RecvTimeoutError::Timeout) => {
                    let asked = (self.observe)(JobEvent::Tick(&self.progress));
                    self.ask(asked);
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        if self.stop {
            lanes.cancel();
        }
    }

    fn stop_step(&mut self, account: usize, step: Step, result: Result<()>) {
        let (service_command, name) = match step {
            Step::Mute => (commands::SET_NO_SPEAKING, "mute"),
            _ => (commands::KICK, "kick"),
        };
        self.count_call(service_command, 1);
        let account_name = self.accounts[account].clone();
        let line = StepResult::new(&account_name, None, None, step, Outcome::Ok);
        let line = match &result {
            Ok(()) => line,
            Err(e) => line.failed(e),
        };
        if let Err(e) = &result {
            self.not_cleaned[account].get_or_insert_with(|| {
                format!("not cleaned: its {name} failed ({}); resume tries again", e.kind().name())
            });
        }
        self.emit(line);
    }

    fn handle(&mut self, lanes: &mut Lanes, done: Done) {
        match done {
            // Not sent: the step stays undone in the report, and resume does it.
            Done::NotStarted => {}
            Done::Mute(i, result) => self.stop_step(i, Step::Mute, result),
            Done::Kick(i, result) => self.stop_step(i, Step::Kick, result),
            Done::List(i, result, calls) => {
                self.count_call(super::JOINED_GROUPS, calls);
                match result {
                    Ok(groups) => {
                        for g in &groups {
                            let wants_topics = self.options.include_topics
                                && g.group_type == "Community"
                                && g.support_topic != Some(false);
                            if wants_topics && !self.topics.contains_key(&g.group_id) {
                                self.topics.insert(g.group_id.clone(), Vec::new());
                                self.topic_groups.push(g.group_id.clone());
                                let index = self.topic_groups.len() - 1;
                                lanes.submit(Task::Topics(index, g.group_id.clone()));
                            }
                        }
                        self.listed[i] = Some(groups);
                    }
                    Err(e) => {
                        self.list_error.get_or_insert(e);
                    }
                }
            }
            Done::Topics(index, result) => {
                self.count_call(super::TOPICS, 1);
                let id = self.topic_groups[index].clone();
                match result {
                    Ok(list) => {
                        self.topics.insert(id, list);
                    }
                    // Dissolved since it was listed (its delete will say so), or a Community the
                    // listing did not say has topics, and has none.
                    Err(e) if matches!(e.kind(), ErrorKind::GroupNotFound | ErrorKind::PermissionDenied) => {}
                    Err(e) => {
                        self.list_error.get_or_insert(e);
                    }
                }
            }
            Done::Remove { group, accounts, result } => {
                self.count_call(commands::DELETE_GROUP_MEMBER, 1);
                if matches!(&result, Err(e) if e.kind() == ErrorKind::GroupNotFound) {
                    self.groups[group].dissolved = true;
                }
                let id = self.groups[group].id.clone();
                for (_, name) in &accounts {
                    self.emit(StepResult::new(name, Some(&id), None, Step::Remove, Outcome::Ok).ended(&result));
                }
                self.groups[group].removes_pending -= 1;
                if self.groups[group].removes_pending == 0 {
                    self.start_deletes(lanes, group);
                }
            }
            Done::Delete { stream, account, result } => {
                self.count_call(commands::DELETE_BY_SENDER, 1);
                let group = self.streams[stream].group;
                if matches!(&result, Err(e) if e.kind() == ErrorKind::GroupNotFound) {
                    self.groups[group].dissolved = true;
                }
                let (id, topic) = (self.groups[group].id.clone(), self.streams[stream].topic.clone());
                let name = self.accounts[account].clone();
                self.emit(
                    StepResult::new(&name, Some(&id), topic.as_deref(), Step::Delete, Outcome::Ok).ended(&result),
                );
                self.streams[stream].deletes_pending -= 1;
                if self.streams[stream].deletes_pending == 0 {
                    self.start_deep(lanes, stream);
                }
            }
            Done::History { stream, result, calls } => {
                self.count_call(commands::GROUP_MSG_GET_SIMPLE, calls);
                match result {
                    Ok(found) => self.start_recalls(lanes, stream, found),
                    Err(e) => {
                        if e.kind() == ErrorKind::GroupNotFound {
                            let group = self.streams[stream].group;
                            self.groups[group].dissolved = true;
                        }
                        let accounts = self.streams[stream].recall_wanted.clone();
                        self.finish_recall(stream, &accounts, Some(&e));
                    }
                }
            }
            Done::Recall { stream, seqs, result } => {
                self.count_call(commands::GROUP_MSG_RECALL, 1);
                let state = &mut self.streams[stream];
                match &result {
                    Ok(results) => {
                        for ((account, _), r) in seqs.iter().zip(results) {
                            let entry = state.recalled.entry(*account).or_insert((0, 0, None));
                            if r.ok() {
                                entry.0 += 1;
                            } else {
                                entry.1 += 1;
                                entry.2.get_or_insert(r.ret_code);
                            }
                        }
                    }
                    Err(e) => {
                        for (account, _) in &seqs {
                            let entry = state.recalled.entry(*account).or_insert((0, 0, None));
                            entry.1 += 1;
                            if entry.2.is_none() {
                                entry.2 = Some(e.code().unwrap_or(-1));
                            }
                        }
                    }
                }
                if let Err(e) = &result
                    && e.kind() == ErrorKind::GroupNotFound
                {
                    let group = state.group;
                    self.groups[group].dissolved = true;
                }
                self.streams[stream].recalls_pending -= 1;
                if self.streams[stream].recalls_pending == 0 {
                    let accounts = self.streams[stream].recall_wanted.clone();
                    let error = result.err();
                    self.finish_recall(stream, &accounts, error.as_ref());
                }
            }
        }
    }

    /// After a group's removals: the deletes of each of its streams (or straight to the deep
    /// pass of a stream with nothing left to delete).
    fn start_deletes(&mut self, lanes: &mut Lanes, group: usize) {
        for stream in self.groups[group].streams.clone() {
            let (id, topic) = (self.groups[group].id.clone(), self.streams[stream].topic.clone());
            for account in self.streams[stream].accounts.clone() {
                if self.done(account, Some(&id), topic.as_deref(), Step::Delete) {
                    continue;
                }
                let name = self.accounts[account].clone();
                let line = StepResult::new(&name, Some(&id), topic.as_deref(), Step::Delete, Outcome::Ok);
                if self.groups[group].dissolved {
                    self.emit(line.skipped(DISSOLVED));
                } else if self.stop {
                    // Not started: resume does it.
                } else if self.options.dry_run {
                    self.count_call(commands::DELETE_BY_SENDER, 1);
                    self.emit(StepResult { outcome: Outcome::Planned, ..line });
                } else {
                    let mut request = DeleteBySender::new(id.clone(), name);
                    request.topic_id = topic.clone();
                    self.streams[stream].deletes_pending += 1;
                    lanes.submit(Task::Delete { stream, account, request });
                }
            }
            if self.streams[stream].deletes_pending == 0 {
                self.start_deep(lanes, stream);
            }
        }
    }

    /// After a stream's deletes: its history read, when the deep pass has work there.
    fn start_deep(&mut self, lanes: &mut Lanes, stream: usize) {
        if !self.options.deep || self.stop {
            return;
        }
        let group = self.streams[stream].group;
        let (id, topic) = (self.groups[group].id.clone(), self.streams[stream].topic.clone());
        let wanted_accounts: Vec<usize> = self.streams[stream]
            .accounts
            .iter()
            .copied()
            .filter(|&a| !self.done(a, Some(&id), topic.as_deref(), Step::Recall))
            .collect();
        if wanted_accounts.is_empty() {
            return;
        }
        self.streams[stream].recall_wanted = wanted_accounts;
        if self.groups[group].dissolved {
            let accounts = self.streams[stream].recall_wanted.clone();
            self.finish_recall(stream, &accounts, None);
            return;
        }
        // Every job account still to recall here, planned here or not: spam outlives membership.
        let wanted: HashMap<String, usize> = (0..self.accounts.len())
            .filter(|&a| self.not_cleaned[a].is_none() && !self.done(a, Some(&id), topic.as_deref(), Step::Recall))
            .map(|a| (self.accounts[a].clone(), a))
            .collect();
        let mut request = HistoryRequest::new(id);
        request.topic_id = topic;
        lanes.submit(Task::History { stream, request, since: self.options.since, wanted: Arc::new(wanted) });
    }

    fn start_recalls(&mut self, lanes: &mut Lanes, stream: usize, mut found: Vec<(usize, u64)>) {
        // Accounts found here that the plan did not put here get a recall step too.
        let mut extra: Vec<usize> = Vec::new();
        for (account, _) in &found {
            if !self.streams[stream].recall_wanted.contains(account) && !extra.contains(account) {
                extra.push(*account);
            }
        }
        self.streams[stream].recall_wanted.extend(extra);
        found.sort_unstable_by_key(|(account, seq)| (*account, std::cmp::Reverse(*seq)));
        let group = self.streams[stream].group;
        let (id, topic) = (self.groups[group].id.clone(), self.streams[stream].topic.clone());
        if self.options.dry_run {
            let state = &mut self.streams[stream];
            for (account, _) in &found {
                state.recalled.entry(*account).or_insert((0, 0, None)).0 += 1;
            }
            let calls = found.len().div_ceil(MAX_RECALL_SEQS) as u64;
            self.count_call(commands::GROUP_MSG_RECALL, calls);
        } else if !self.stop {
            for chunk in found.chunks(MAX_RECALL_SEQS) {
                self.streams[stream].recalls_pending += 1;
                lanes.submit(Task::Recall { stream, group: id.clone(), topic: topic.clone(), seqs: chunk.to_vec() });
            }
        }
        if self.streams[stream].recalls_pending == 0 && !(self.stop && !found.is_empty() && !self.options.dry_run) {
            let accounts = self.streams[stream].recall_wanted.clone();
            self.finish_recall(stream, &accounts, None);
        }
    }

    /// One recall step per account of the stream, once its history was read and its recalls ended.
    fn finish_recall(&mut self, stream: usize, accounts: &[usize], error: Option<&Error>) {
        let group = self.streams[stream].group;
        let (id, topic) = (self.groups[group].id.clone(), self.streams[stream].topic.clone());
        let dissolved = self.groups[group].dissolved;
        for &account in accounts {
            let name = self.accounts[account].clone();
            let (recalled, missed, refusal) =
                self.streams[stream].recalled.get(&account).copied().unwrap_or((0, 0, None));
            let mut line = StepResult::new(&name, Some(&id), topic.as_deref(), Step::Recall, Outcome::Ok);
            line.recalled = recalled;
            if self.options.dry_run {
                line.outcome = Outcome::Planned;
                line.detail = if recalled > 0 { "visible to clients when run".into() } else { String::new() };
            } else if dissolved {
                line = line.skipped(DISSOLVED);
                line.recalled = recalled;
            } else if let Some(e) = error.filter(|_| missed > 0 || recalled == 0) {
                line = line.failed(e);
                line.recalled = recalled;
            } else if missed > 0 {
                line.outcome = Outcome::Failed;
                line.code = refusal;
                line.detail = format!("{missed} message(s) not recalled (RetCode {})", refusal.unwrap_or(-1));
            }
            self.emit(line);
        }
    }
}

impl Client {
    /// Stops `senders`, then purges them from every group they joined, in one job: see the
    /// [`crate::purge`] module for the order, the deep pass, skips and the dry run.
    ///
    /// `observe` runs on the calling thread: once with the plan, once per step as it ends (each
    /// step exactly once), and at least every [`PROGRESS_TICK`]; returning
    /// `ControlFlow::Break(())` stops the job (the calls in flight end and are reported; resume
    /// does the rest); [`JobOptions::abandon`] abandons the calls in flight. Errors before any step when the arguments or the report are bad, and
    /// after the stop steps when a listing fails (nothing was cleaned then; resume lists again).
    pub fn purge_senders<S, F>(&self, senders: &[S], options: &JobOptions, observe: F) -> Result<JobReport>
    where
        S: AsRef<str>,
        F: FnMut(JobEvent<'_>) -> ControlFlow<()>,
    {
        let started = Instant::now();
        let accounts = check(senders, options)?;
        let wanted = wanted_types(options.group_types.as_deref())?;
        let header = json!({
            "version": super::REPORT_VERSION,
            "job": "purge_senders",
            "sdkappid": self.config().sdkappid,
            "senders": accounts,
            "mute": options.mute,
            "kick": options.kick,
            "remove": options.remove,
            "deep": options.deep,
            "since": options.since,
            "dry_run": options.dry_run,
            "group_types": wanted,
            "include_topics": options.include_topics,
        });
        let (report, earlier) = match (&options.report, options.resume) {
            (None, _) => (None, Earlier::default()),
            (Some(path), false) => (Some(ReportFile::create(path, &header)?), Earlier::default()),
            (Some(path), true) => {
                let (file, earlier) = ReportFile::resume(path, &header)?;
                (Some(file), earlier)
            }
        };
        let n = accounts.len();
        let mut run = Run {
            options,
            not_cleaned: vec![None; n],
            listed: vec![None; n],
            accounts,
            out: JobReport { resumed: earlier.ok.len(), ..JobReport::default() },
            earlier,
            report,
            observe,
            progress: JobProgress::default(),
            stop: false,
            write_error: None,
            list_error: None,
            topic_groups: Vec::new(),
            topics: HashMap::new(),
            groups: Vec::new(),
            streams: Vec::new(),
        };
        let (done_tx, done_rx) = mpsc::channel();
        let mut lanes = Lanes::new(self, options.concurrency, done_tx);
        let outcome = run.execute(&mut lanes, &done_rx, wanted.as_deref());
        // Whatever happened, wait for the calls in flight and record them (unless told to stop twice).
        run.drain(&mut lanes, &done_rx);
        let abandon = abandoning(options.abandon.as_ref()) && lanes.in_flight > 0;
        if abandon {
            run.out.abandoned = lanes.running.load(Ordering::SeqCst);
        }
        lanes.finish(!abandon);
        if let Some(report) = &mut run.report {
            report.sync();
        }
        outcome?;
        if let Some(e) = run.write_error {
            return Err(e);
        }
        let mut out = run.out;
        out.elapsed = started.elapsed();
        out.stopped_early = run.stop;
        Ok(out)
    }
}

/// The senders, checked and without duplicates (first occurrence kept), and the options.
fn check<S: AsRef<str>>(senders: &[S], options: &JobOptions) -> Result<Vec<String>> {
    if senders.is_empty() {
        return Err(Error::invalid_argument("no senders: give at least one account to purge"));
    }
    let mut seen = HashSet::new();
    let mut accounts = Vec::new();
    for sender in senders {
        let sender = sender.as_ref();
        crate::validate::user_id("sender", sender)?;
        if seen.insert(sender) {
            accounts.push(sender.to_owned());
        }
    }
    if !(1..=MAX_CONCURRENCY).contains(&options.concurrency) {
        return Err(Error::invalid_argument(format!(
            "concurrency must be between 1 and {MAX_CONCURRENCY}, not {}",
            options.concurrency
        )));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&options.page_size) {
        return Err(Error::invalid_argument(format!(
            "page_size must be 1 to {MAX_PAGE_SIZE}, not {}",
            options.page_size
        )));
    }
    if options.resume && options.report.is_none() {
        return Err(Error::invalid_argument("resume needs the report of the job to go on with"));
    }
    if options.since.is_some() && !options.deep {
        return Err(Error::invalid_argument("since applies to the deep pass: set deep too"));
    }
    Ok(accounts)
}

impl<F: FnMut(JobEvent<'_>) -> ControlFlow<()>> Run<'_, F> {
    fn execute(
        &mut self,
        lanes: &mut Lanes,
        done_rx: &mpsc::Receiver<Done>,
        wanted: Option<&[&'static str]>,
    ) -> Result<()> {
        // 1. Stop.
        for (i, account) in self.accounts.clone().into_iter().enumerate() {
            for (step, asked) in [(Step::Mute, self.options.mute), (Step::Kick, self.options.kick)] {
                if !asked || self.done(i, None, None, step) {
                    continue;
                }
                if self.options.dry_run {
                    let command = if step == Step::Mute { commands::SET_NO_SPEAKING } else { commands::KICK };
                    self.count_call(command, 1);
                    self.emit(StepResult::new(&account, None, None, step, Outcome::Planned));
                } else if !self.stop {
                    lanes.submit(if step == Step::Mute {
                        Task::Mute(i, account.clone())
                    } else {
                        Task::Kick(i, account.clone())
                    });
                }
            }
        }
        self.drain(lanes, done_rx);
        if self.stop {
            return Ok(());
        }

        // 2. Plan: from the report when it holds one, else from the listings.
        let plan = match self.earlier.plan.take() {
            Some(plan) => plan,
            None => {
                for (i, account) in self.accounts.clone().into_iter().enumerate() {
                    lanes.submit(Task::List(i, account, self.options.page_size));
                }
                self.drain(lanes, done_rx);
                if let Some(e) = self.list_error.take() {
                    return Err(e);
                }
                if self.stop {
                    return Ok(());
                }
                let plan = self.build_plan(wanted);
                if let Some(report) = &mut self.report {
                    report.plan(&plan)?;
                }
                plan
            }
        };
        let asked = (self.observe)(JobEvent::Planned(&plan));
        self.ask(asked);
        self.out.plan = plan;
        if self.stop {
            return Ok(());
        }

        // 3. Clean.
        self.build_groups();
        self.progress.total = Some(self.progress.done + self.expected_steps());
        for group in 0..self.groups.len() {
            if self.stop {
                break;
            }
            self.start_group(lanes, group);
        }
        self.drain(lanes, done_rx);
        Ok(())
    }

    /// The plan from the listings: per account, each group it joined (of the wanted types), and
    /// each topic of its topic-enabled Communities.
    fn build_plan(&mut self, wanted: Option<&[&'static str]>) -> Vec<Target> {
        let mut plan = Vec::new();
        for (i, account) in self.accounts.iter().enumerate() {
            for g in self.listed[i].iter().flatten() {
                if wanted.is_some_and(|w| !w.contains(&g.group_type.as_str())) {
                    continue;
                }
                let target = |topic: Option<String>| Target {
                    account: account.clone(),
                    group_id: g.group_id.clone(),
                    group_type: g.group_type.clone(),
                    topic_id: topic,
                };
                plan.push(target(None));
                if g.stores_messages() {
                    for topic in self.topics.get(&g.group_id).into_iter().flatten() {
                        plan.push(target(Some(topic.clone())));
                    }
                }
            }
        }
        plan
    }

    /// Groups and streams from the plan; skipped steps for groups that keep no history and
    /// for accounts that were not stopped.
    fn build_groups(&mut self) {
        let index: HashMap<&str, usize> = self.accounts.iter().enumerate().map(|(i, a)| (a.as_str(), i)).collect();
        let mut group_of: HashMap<String, usize> = HashMap::new();
        let mut stream_of: HashMap<(usize, Option<String>), usize> = HashMap::new();
        let mut skips = Vec::new();
        for t in &self.out.plan {
            let Some(&account) = index.get(t.account.as_str()) else { continue };
            if !t.stores_messages() {
                let reason = format!("{} groups keep no history and cannot remove members", t.group_type);
                if self.options.remove {
                    skips.push(
                        StepResult::new(&t.account, Some(&t.group_id), None, Step::Remove, Outcome::Ok)
                            .skipped(&reason),
                    );
                }
                skips.push(
                    StepResult::new(&t.account, Some(&t.group_id), None, Step::Delete, Outcome::Ok).skipped(&reason),
                );
                continue;
            }
            let group = *group_of.entry(t.group_id.clone()).or_insert_with(|| {
                self.groups.push(GroupState {
                    id: t.group_id.clone(),
                    accounts: Vec::new(),
                    streams: Vec::new(),
                    removes_pending: 0,
                    dissolved: false,
                });
                self.groups.len() - 1
            });
            let stream = *stream_of.entry((group, t.topic_id.clone())).or_insert_with(|| {
                self.streams.push(StreamState {
                    group,
                    topic: t.topic_id.clone(),
                    accounts: Vec::new(),
                    deletes_pending: 0,
                    recalls_pending: 0,
                    recalled: BTreeMap::new(),
                    recall_wanted: Vec::new(),
                });
                self.groups[group].streams.push(self.streams.len() - 1);
                self.streams.len() - 1
            });
            if let Some(why) = self.not_cleaned[account].clone() {
                let steps = [
                    (t.topic_id.is_none() && self.options.remove, Step::Remove),
                    (true, Step::Delete),
                    (self.options.deep, Step::Recall),
                ];
                for (asked, step) in steps {
                    let key = (t.account.clone(), Some(t.group_id.clone()), t.topic_id.clone(), step);
                    if asked && !self.is_done(&key) {
                        skips.push(
                            StepResult::new(&t.account, Some(&t.group_id), t.topic_id.as_deref(), step, Outcome::Ok)
                                .skipped(&why),
                        );
                    }
                }
                continue;
            }
            if !self.groups[group].accounts.contains(&account) {
                self.groups[group].accounts.push(account);
            }
            self.streams[stream].accounts.push(account);
        }
        for step in skips {
            self.emit(step);
        }
    }

    /// How many steps the cleaning will end, as far as the plan tells.
    fn expected_steps(&self) -> usize {
        let mut n = 0;
        for g in &self.groups {
            if self.options.remove {
                n += g.accounts.iter().filter(|&&a| !self.done(a, Some(&g.id), None, Step::Remove)).count();
            }
            for &s in &g.streams {
                let topic = self.streams[s].topic.as_deref();
                for &a in &self.streams[s].accounts {
                    n += usize::from(!self.done(a, Some(&g.id), topic, Step::Delete));
                    n += usize::from(self.options.deep && !self.done(a, Some(&g.id), topic, Step::Recall));
                }
            }
        }
        n
    }

    /// A group's first steps: its removals (up to 100 accounts a call), or its deletes.
    fn start_group(&mut self, lanes: &mut Lanes, group: usize) {
        let id = self.groups[group].id.clone();
        if self.options.remove {
            let todo: Vec<(usize, String)> = self.groups[group]
                .accounts
                .iter()
                .filter(|&&a| !self.done(a, Some(&id), None, Step::Remove))
                .map(|&a| (a, self.accounts[a].clone()))
                .collect();
            if self.options.dry_run {
                self.count_call(commands::DELETE_GROUP_MEMBER, todo.len().div_ceil(MAX_REMOVE_MEMBERS) as u64);
                for (_, name) in &todo {
                    self.emit(StepResult::new(name, Some(&id), None, Step::Remove, Outcome::Planned));
                }
            } else {
                for chunk in todo.chunks(MAX_REMOVE_MEMBERS) {
                    self.groups[group].removes_pending += 1;
                    lanes.submit(Task::Remove { group, id: id.clone(), accounts: chunk.to_vec() });
                }
            }
        }
        if self.groups[group].removes_pending == 0 {
            self.start_deletes(lanes, group);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for step in [Step::Mute, Step::Kick, Step::Remove, Step::Delete, Step::Recall] {
            assert_eq!(Step::from_name(step.name()), Some(step));
        }
        for outcome in [Outcome::Ok, Outcome::Failed, Outcome::Skipped, Outcome::Planned] {
            assert_eq!(Outcome::from_name(outcome.name()), Some(outcome));
        }
        assert_eq!(Step::from_name("ban"), None);
    }

    #[test]
    fn senders_are_checked_and_deduplicated() {
        let options = JobOptions::default();
        assert_eq!(check(&["a", "b", "a"], &options).unwrap(), ["a", "b"]);
        assert_eq!(check::<&str>(&[], &options).unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(check(&[""], &options).unwrap_err().kind(), ErrorKind::InvalidArgument);
        let resume = JobOptions { resume: true, ..JobOptions::default() };
        assert!(check(&["a"], &resume).unwrap_err().info().contains("report"));
        let since = JobOptions { since: Some(1), ..JobOptions::default() };
        assert!(check(&["a"], &since).unwrap_err().info().contains("deep"));
    }

    #[test]
    fn the_bound_is_the_busiest_command_over_the_rate() {
        let mut report = JobReport::default();
        report.calls.insert("a/x".into(), 300);
        report.calls.insert("a/y".into(), 1000);
        assert_eq!(report.bound(100.0), Duration::from_secs(10));
    }
}
