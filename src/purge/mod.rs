//! Purging accounts: delete what one account sent in every group it joined (design §13), and the
//! incident job for many accounts at once (design §15).
//!
//! [`Client::purge_plan`] lists the account's groups with `group_open_http_svc/get_joined_group_list`
//! (paged by `Limit`/`Offset`, with `WithHugeGroups` and `WithNoActiveGroups` so that nothing is
//! left out, and `Type` asked for each group), then the topics of each topic-enabled Community with
//! `million_group_open_http_svc/get_topic`. Groups whose type keeps no history (AVChatRoom,
//! BChatRoom) become [`SkippedGroup`]s. [`Client::purge_sender`] runs the plan through
//! [`Client::delete_many_with_events`]: the same pool, limiter, retries and report as any batch.
//!
//! The listing is a snapshot. A group dissolved after it was listed fails its deletion with
//! [`ErrorKind::GroupNotFound`] in the report, and the rest goes
//! on. If the account joins or leaves groups while the pages are read, offset paging can shift:
//! a group listed twice is planned once.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use timrest::{Client, purge::PurgeOptions};
//! # fn main() -> timrest::Result<()> {
//! let client = Client::from_env()?;
//! let report = client.purge_sender("spammer", &PurgeOptions::default(), |_| ControlFlow::Continue(()))?;
//! println!("{} ok, {} failed, {} skipped", report.ok(), report.failed(), report.skipped.len());
//! # Ok(()) }
//! ```
//!
//! ## Many accounts at once: the incident job
//!
//! [`Client::purge_senders`] stops many accounts, plans, then purges them everywhere, past the
//! latest 1000 (design §15, spec/moderation.md, docs/incident.md).
//!
//! **Order.** Stop first: each account is muted (`setnospeaking`, both permanent) and, with
//! `kick`, kicked; an account whose stop step failed is not cleaned (its steps are `skipped`,
//! and `resume` tries again). Then the plan: the groups and topics of every account, from
//! `get_joined_group_list` and `get_topic`, written to the report before the first write to any
//! group. Then clean, per group: `remove` (`delete_group_member`, silent, up to 100 accounts a
//! call), then `delete_group_msg_by_sender` in the group and each of its topics (silent), then,
//! with `deep`, one read of the history **for all the job's accounts**, from just below the
//! 1000-message window the deletes covered back to `since` (or the end of roaming), and a recall
//! of every visible message of a job account found there, 10 per call (**visible** to clients).
//!
//! **Side by side.** Each command runs on workers of its own (`concurrency` per command) and
//! waits only for its own limiter lane, so while one group's history is read, other groups'
//! deletes and recalls go on: the wall time approaches `max over commands (calls / rate)`.
//!
//! **Skips.** AVChatRoom and BChatRoom keep no history and refuse removal: `skipped`, with the
//! reason. A group dissolved during the job: its steps are `skipped`, and the job goes on.
//!
//! **Dry run.** Only reads are sent (listings, and with `deep` the history); every write is a
//! step with the outcome `planned`, and a planned recall step's `recalled` is how many messages
//! it would recall. [`JobReport::calls`] counts the calls of every command, planned ones included.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use timrest::{Client, purge::JobOptions};
//! # fn main() -> timrest::Result<()> {
//! let client = Client::from_env()?;
//! let options = JobOptions { mute: true, deep: true, report: Some("r.jsonl".into()), ..JobOptions::default() };
//! let job = client.purge_senders(&["spam1", "spam2"], &options, |_| ControlFlow::Continue(()))?;
//! println!("{} ok, {} failed, {} recalled", job.ok(), job.failed(), job.recalled());
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::ops::ControlFlow;

use serde_json::{Value, json};

use crate::batch::{BatchEvent, BatchOptions, Report, SkippedGroup};
use crate::client::{Client, DeleteBySender};
use crate::error::{Error, ErrorKind, Result};
use crate::moderation::malformed;

mod job;
pub(crate) mod report;

pub use job::{JobEvent, JobOptions, JobProgress, JobReport, Outcome, Step, StepResult, Target};
pub use report::REPORT_VERSION;

/// The service and command that list an account's groups.
pub const JOINED_GROUPS: (&str, &str) = ("group_open_http_svc", "get_joined_group_list");
/// The service and command that list a Community's topics.
pub const TOPICS: (&str, &str) = ("million_group_open_http_svc", "get_topic");
/// The most groups Tencent returns in one page (`Limit`).
pub const MAX_PAGE_SIZE: u32 = 5000;
/// The group types a purge knows, by the names Tencent answers with (`Work` is `Private`,
/// `Meeting` is `ChatRoom`).
pub const GROUP_TYPES: [&str; 6] = ["Private", "Public", "ChatRoom", "AVChatRoom", "BChatRoom", "Community"];

/// Settings of one purge.
#[derive(Debug, Clone)]
pub struct PurgeOptions {
    /// Only groups of these types (names of [`GROUP_TYPES`], or `Work`/`Meeting`); `None`: every type.
    pub group_types: Option<Vec<String>>,
    /// Also delete inside each topic of topic-enabled Communities (default true).
    pub include_topics: bool,
    /// Groups asked for per `get_joined_group_list` page (1 to [`MAX_PAGE_SIZE`]; default 1000).
    pub page_size: u32,
    /// Concurrency and `stop_on_error` of the deletions.
    pub batch: BatchOptions,
}

impl Default for PurgeOptions {
    fn default() -> PurgeOptions {
        PurgeOptions { group_types: None, include_topics: true, page_size: 1000, batch: BatchOptions::default() }
    }
}

/// A group the account joined, as `get_joined_group_list` showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedGroup {
    /// The group.
    pub group_id: String,
    /// Its type (`Type`, with `Work`/`Meeting` read as `Private`/`ChatRoom`); empty when the
    /// server did not say.
    pub group_type: String,
    /// `Some(true)` for a topic-enabled Community, `Some(false)` when the server said it is not,
    /// `None` when it did not say.
    pub support_topic: Option<bool>,
}

impl JoinedGroup {
    /// False for the types that keep no message history (AVChatRoom, BChatRoom).
    pub fn stores_messages(&self) -> bool {
        !matches!(self.group_type.as_str(), "AVChatRoom" | "BChatRoom")
    }
}

/// What a purge will do: one deletion per group (and per topic), and the groups it leaves alone.
#[derive(Debug, Clone, Default)]
pub struct PurgePlan {
    /// The deletions, in listing order: each group, then its topics.
    pub items: Vec<DeleteBySender>,
    /// Groups of a type that keeps no history.
    pub skipped: Vec<SkippedGroup>,
}

/// The canonical name of a group type, or None for a name we do not know.
fn canonical_type(name: &str) -> Option<&'static str> {
    match name {
        "Work" => Some("Private"),
        "Meeting" => Some("ChatRoom"),
        _ => GROUP_TYPES.iter().copied().find(|t| *t == name),
    }
}

/// The canonical names of `group_types` (`None`: every type); an unknown name is an
/// [`ErrorKind::InvalidArgument`] error.
pub(crate) fn wanted_types(group_types: Option<&[String]>) -> Result<Option<Vec<&'static str>>> {
    let Some(names) = group_types else { return Ok(None) };
    names
        .iter()
        .map(|n| {
            canonical_type(n).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "unknown group type {:?}: the types are {} (or Work, Meeting)",
                    crate::error::shown(n),
                    GROUP_TYPES.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

impl Client {
    /// Every group `account` joined, all pages of `get_joined_group_list` read, AVChatRoom and
    /// inactive Work groups included. `page_size` is the `Limit` of each page (1 to
    /// [`MAX_PAGE_SIZE`]). A group that shows up twice (membership changing under the paging)
    /// is listed once.
    pub fn joined_groups(&self, account: &str, page_size: u32) -> Result<Vec<JoinedGroup>> {
        self.joined_groups_counted(account, page_size, &mut 0)
    }

    /// [`Client::joined_groups`], adding the calls it made to `calls`.
    pub(crate) fn joined_groups_counted(
        &self,
        account: &str,
        page_size: u32,
        calls: &mut u64,
    ) -> Result<Vec<JoinedGroup>> {
        crate::validate::user_id("Member_Account", account)?;
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(Error::invalid_argument(format!("page_size must be 1 to {MAX_PAGE_SIZE}, not {page_size}")));
        }
        let (service, command) = JOINED_GROUPS;
        let mut groups = Vec::new();
        let mut seen = HashSet::new();
        let mut offset: u64 = 0;
        loop {
            let body = json!({
                "Member_Account": account,
                "Limit": page_size,
                "Offset": offset,
                "WithHugeGroups": 1,
                "WithNoActiveGroups": 1,
                "ResponseFilter": {"GroupBaseInfoFilter": ["Type"]},
            });
            *calls += 1;
            let (answer, _) = self.call(service, command, &body)?;
            let page =
                answer.get("GroupIdList").and_then(Value::as_array).ok_or_else(|| malformed(command, "GroupIdList"))?;
            let total =
                answer.get("TotalCount").and_then(Value::as_u64).ok_or_else(|| malformed(command, "TotalCount"))?;
            for item in page {
                let id = item.get("GroupId").and_then(Value::as_str).ok_or_else(|| malformed(command, "GroupId"))?;
                if !seen.insert(id.to_owned()) {
                    continue;
                }
                let named = item.get("Type").and_then(Value::as_str).unwrap_or("");
                groups.push(JoinedGroup {
                    group_id: id.to_owned(),
                    group_type: canonical_type(named).unwrap_or(named).to_owned(),
                    support_topic: item.get("SupportTopic").and_then(Value::as_u64).map(|n| n == 1),
                });
            }
            offset += page.len() as u64;
            if page.is_empty() || offset >= total {
                return Ok(groups);
            }
        }
    }

    /// The topic IDs of a topic-enabled Community (`get_topic` with no `TopicIdList`).
    pub fn topics(&self, group_id: &str) -> Result<Vec<String>> {
        crate::validate::group_id(group_id)?;
        let (service, command) = TOPICS;
        let (answer, _) = self.call(service, command, &json!({ "GroupId": group_id }))?;
        let list = answer
            .get("TopicAndSelfInfo")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(command, "TopicAndSelfInfo"))?;
        list.iter()
            .filter(|item| item.get("ErrorCode").and_then(Value::as_i64).unwrap_or(0) == 0)
            .map(|item| {
                item.pointer("/TopicInfo/TopicId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| malformed(command, "TopicInfo.TopicId"))
            })
            .collect()
    }

    /// What [`Client::purge_sender`] would delete, without deleting anything (a dry run).
    ///
    /// Errors when a listing call fails (nothing has been deleted then), except a Community
    /// dissolved between the two listings, which stays in the plan and fails its deletion
    /// with [`ErrorKind::GroupNotFound`].
    pub fn purge_plan(&self, sender: &str, options: &PurgeOptions) -> Result<PurgePlan> {
        crate::validate::user_id("sender", sender)?;
        let wanted = wanted_types(options.group_types.as_deref())?;
        let mut plan = PurgePlan::default();
        for group in self.joined_groups(sender, options.page_size)? {
            if wanted.as_ref().is_some_and(|w| !w.contains(&group.group_type.as_str())) {
                continue;
            }
            if !group.stores_messages() {
                plan.skipped.push(SkippedGroup { group_id: group.group_id, group_type: group.group_type });
                continue;
            }
            let topics = if options.include_topics
                && group.group_type == "Community"
                && group.support_topic != Some(false)
            {
                match self.topics(&group.group_id) {
                    Ok(topics) => topics,
                    // Dissolved since it was listed: its own deletion will say so.
                    Err(e) if e.kind() == ErrorKind::GroupNotFound => Vec::new(),
                    // The server did not say whether it has topics, and it has none.
                    Err(e) if group.support_topic.is_none() && e.kind() == ErrorKind::PermissionDenied => Vec::new(),
                    Err(e) => return Err(e),
                }
            } else {
                Vec::new()
            };
            plan.items.push(DeleteBySender::new(group.group_id.clone(), sender));
            plan.items.extend(topics.into_iter().map(|t| DeleteBySender::new(group.group_id.clone(), sender).topic(t)));
        }
        Ok(plan)
    }

    /// Deletes what `sender` sent in every group it joined (and in their topics): the
    /// [`Client::purge_plan`], run by [`Client::delete_many_with_events`]. The report's
    /// `skipped` lists the groups left alone. Errors only when the listing fails or the
    /// options are bad; failed deletions are in the report.
    pub fn purge_sender<F>(&self, sender: &str, options: &PurgeOptions, observe: F) -> Result<Report>
    where
        F: FnMut(BatchEvent<'_>) -> ControlFlow<()>,
    {
        options.batch.check()?; // before the listing calls, not after them
        let plan = self.purge_plan(sender, options)?;
        let mut report = self.delete_many_with_events(plan.items, &options.batch, observe)?;
        report.skipped = plan.skipped;
        Ok(report)
    }
}
