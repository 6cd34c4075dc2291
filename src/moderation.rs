//! The moderation commands: stop an account, mute or remove it in a group, read a group's history
//! and recall messages from it (spec/moderation.md). Each is a [`Client`] method that checks its
//! documented limits before sending (a broken limit is [`ErrorKind::InvalidArgument`] and nothing
//! is sent), calls the command through the client's limiter lane, retries and deadline, and reads
//! the answer into a typed result.
//!
//! | method | TIM command | limits checked |
//! |---|---|---|
//! | [`Client::set_no_speaking`] | `openconfigsvr/setnospeaking` | seconds ≤ [`PERMANENT`], at least one given |
//! | [`Client::get_no_speaking`] | `openconfigsvr/getnospeaking` | — |
//! | [`Client::kick`] | `im_open_login_svc/kick` | — |
//! | [`Client::forbid_send_msg`] | `group_open_http_svc/forbid_send_msg` | 1 to [`MAX_MUTE_MEMBERS`] members |
//! | [`Client::delete_group_member`] | `group_open_http_svc/delete_group_member` | 1 to [`MAX_REMOVE_MEMBERS`] members |
//! | [`Client::group_msg_get_simple`] | `group_open_http_svc/group_msg_get_simple` | 1 to [`MAX_HISTORY_PAGE`] messages |
//! | [`Client::group_msg_recall`] | `group_open_http_svc/group_msg_recall` | 1 to [`MAX_RECALL_SEQS`] seqs |
//!
//! Deleting (`delete_group_msg_by_sender`) is silent: clients learn of it only when they pull
//! history again. Recalling is visible: the recall reaches every client's cache, and cannot be
//! undone. TIM has no account ban; see `docs/incident.md`.
//!
//! ```no_run
//! use timrest::{Client, moderation::PERMANENT};
//! # fn main() -> timrest::Result<()> {
//! let client = Client::from_env()?;
//! client.set_no_speaking("spammer", Some(PERMANENT), Some(PERMANENT))?;
//! client.kick("spammer")?;
//! let page = client.group_msg_get_simple(&timrest::moderation::HistoryRequest::new("@TGS#2C5SZEAEF"))?;
//! let seqs: Vec<u64> = page.messages.iter().filter(|m| m.from_account == "spammer").map(|m| m.msg_seq).collect();
//! if !seqs.is_empty() {
//!     for r in client.group_msg_recall("@TGS#2C5SZEAEF", &seqs[..seqs.len().min(10)], None, None)? {
//!         println!("{}: RetCode {}", r.msg_seq, r.ret_code);
//!     }
//! }
//! # Ok(()) }
//! ```

use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::validate;

/// A mute that never ends: 4294967295 seconds, TIM's "permanent".
pub const PERMANENT: u64 = u32::MAX as u64;
/// Most members one `forbid_send_msg` takes.
pub const MAX_MUTE_MEMBERS: usize = 500;
/// Most members one `delete_group_member` takes.
pub const MAX_REMOVE_MEMBERS: usize = 100;
/// Most messages one `group_msg_get_simple` answers with.
pub const MAX_HISTORY_PAGE: u32 = 20;
/// Most sequence numbers one `group_msg_recall` takes.
pub const MAX_RECALL_SEQS: usize = 10;
/// Longest `Reason` we send, in bytes (Tencent documents no limit; a reason is a short note).
pub const MAX_REASON_BYTES: usize = 1024;

/// The `(service, command)` of each moderation command.
pub mod commands {
    /// Global mute of an account.
    pub const SET_NO_SPEAKING: (&str, &str) = ("openconfigsvr", "setnospeaking");
    /// Read an account's global mute.
    pub const GET_NO_SPEAKING: (&str, &str) = ("openconfigsvr", "getnospeaking");
    /// End an account's login state.
    pub const KICK: (&str, &str) = ("im_open_login_svc", "kick");
    /// Mute members in one group (or topic).
    pub const FORBID_SEND_MSG: (&str, &str) = ("group_open_http_svc", "forbid_send_msg");
    /// Remove members from a group.
    pub const DELETE_GROUP_MEMBER: (&str, &str) = ("group_open_http_svc", "delete_group_member");
    /// Read a group's history, newest first.
    pub const GROUP_MSG_GET_SIMPLE: (&str, &str) = ("group_open_http_svc", "group_msg_get_simple");
    /// Recall messages by sequence number.
    pub const GROUP_MSG_RECALL: (&str, &str) = ("group_open_http_svc", "group_msg_recall");
    /// Delete one sender's messages among a group's latest 1000.
    pub const DELETE_BY_SENDER: (&str, &str) = ("group_open_http_svc", "delete_group_msg_by_sender");
}

/// An account's global mute, as `getnospeaking` answers it: seconds left, 0 for none,
/// [`PERMANENT`] for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSpeaking {
    /// Seconds left of the one-to-one (C2C) mute.
    pub c2c_seconds: u64,
    /// Seconds left of the group mute.
    pub group_seconds: u64,
}

/// One `group_msg_get_simple` request: up to 20 messages with `MsgSeq` ≤ `req_msg_seq` (the
/// newest when `None`), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRequest {
    /// The group.
    pub group_id: String,
    /// How many messages (1 to [`MAX_HISTORY_PAGE`]; default 20).
    pub req_msg_number: u32,
    /// Only messages with a `MsgSeq` up to this one; `None`: from the newest.
    pub req_msg_seq: Option<u64>,
    /// Also show deleted and recalled messages, as place markers (`WithRecalledMsg: 1`).
    pub with_recalled: bool,
    /// A topic of a topic-enabled Community.
    pub topic_id: Option<String>,
}

impl HistoryRequest {
    /// The newest 20 messages of `group_id`.
    pub fn new(group_id: impl Into<String>) -> HistoryRequest {
        HistoryRequest {
            group_id: group_id.into(),
            req_msg_number: MAX_HISTORY_PAGE,
            req_msg_seq: None,
            with_recalled: false,
            topic_id: None,
        }
    }
}

/// One message of a history page (`RspMsgList` item).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryMessage {
    /// The sender (`From_Account`).
    pub from_account: String,
    /// Its sequence number in the group or topic.
    pub msg_seq: u64,
    /// When it was sent, Unix seconds (`MsgTimeStamp`; 0 when absent).
    pub msg_time_stamp: u64,
    /// `MsgRandom` (0 when absent).
    pub msg_random: u64,
    /// `IsPlaceMsg`: 0 for a message, nonzero for the place marker of a deleted or recalled one.
    pub is_place_msg: u64,
    /// The message elements (`MsgBody`), as sent.
    pub msg_body: Value,
}

/// One page of history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// True when there is nothing older (`IsFinished: 1`).
    pub is_finished: bool,
    /// Newest first.
    pub messages: Vec<HistoryMessage>,
}

/// What `group_msg_recall` said of one sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecallResult {
    /// The sequence number.
    pub msg_seq: u64,
    /// 0 when it was recalled; otherwise why not (10030: no such message …).
    pub ret_code: i64,
}

impl RecallResult {
    /// True when the message was recalled.
    pub fn ok(&self) -> bool {
        self.ret_code == 0
    }
}

/// A protocol error for an answer that lacks what the command documents.
pub(crate) fn malformed(command: &str, what: &str) -> Error {
    Error::new(ErrorKind::Protocol, format!("{command}: the answer has no valid {what}"))
}

fn seconds(name: &str, value: u64) -> Result<u64> {
    if value > PERMANENT {
        return Err(Error::invalid_argument(format!(
            "{name} is {value}; it must be 0 (lift) to 4294967295 (permanent)"
        )));
    }
    Ok(value)
}

fn members<'a, S: AsRef<str>>(field: &str, list: &'a [S], max: usize) -> Result<Vec<&'a str>> {
    if list.is_empty() || list.len() > max {
        return Err(Error::invalid_argument(format!(
            "{field} holds {} accounts; one call takes 1 to {max}",
            list.len()
        )));
    }
    list.iter()
        .map(|m| {
            let m = m.as_ref();
            validate::user_id(field, m).map(|()| m)
        })
        .collect()
}

fn reason(value: Option<&str>) -> Result<()> {
    match value {
        Some(r) if r.len() > MAX_REASON_BYTES => {
            Err(Error::invalid_argument(format!("reason is {} bytes long; at most {MAX_REASON_BYTES}", r.len())))
        }
        Some(r) if r.contains('\0') => Err(Error::invalid_argument("reason contains a NUL character")),
        _ => Ok(()),
    }
}

fn group_and_topic(group_id: &str, topic_id: Option<&str>) -> Result<()> {
    validate::group_id(group_id)?;
    if let Some(topic) = topic_id {
        validate::topic_id(group_id, topic)?;
    }
    Ok(())
}

fn set_topic(body: &mut Map<String, Value>, topic_id: Option<&str>) {
    if let Some(topic) = topic_id {
        body.insert("TopicId".into(), json!(topic));
    }
}

impl Client {
    /// Mutes `account` everywhere: one-to-one messages for `c2c_seconds`, group messages for
    /// `group_seconds` (0 lifts a mute, [`PERMANENT`] never ends; `None` leaves that one as it
    /// is, and at least one must be given). While the group mute holds, the account's group
    /// messages fail with 10017.
    pub fn set_no_speaking(&self, account: &str, c2c_seconds: Option<u64>, group_seconds: Option<u64>) -> Result<()> {
        validate::user_id("account", account)?;
        let mut body = Map::new();
        body.insert("Set_Account".into(), json!(account));
        if let Some(s) = c2c_seconds {
            body.insert("C2CmsgNospeakingTime".into(), json!(seconds("c2c_seconds", s)?));
        }
        if let Some(s) = group_seconds {
            body.insert("GroupmsgNospeakingTime".into(), json!(seconds("group_seconds", s)?));
        }
        if body.len() == 1 {
            return Err(Error::invalid_argument("set_no_speaking needs c2c_seconds, group_seconds or both"));
        }
        let (service, command) = commands::SET_NO_SPEAKING;
        self.call(service, command, &Value::Object(body)).map(|_| ())
    }

    /// The global mute of `account`: seconds left of each.
    pub fn get_no_speaking(&self, account: &str) -> Result<NoSpeaking> {
        validate::user_id("account", account)?;
        let (service, command) = commands::GET_NO_SPEAKING;
        let (answer, _) = self.call(service, command, &json!({ "Get_Account": account }))?;
        let read = |field: &str| answer.get(field).and_then(Value::as_u64).ok_or_else(|| malformed(command, field));
        Ok(NoSpeaking { c2c_seconds: read("C2CmsgNospeakingTime")?, group_seconds: read("GroupmsgNospeakingTime")? })
    }

    /// Ends the login state of `account`: its current UserSigs stop working. A newly signed
    /// UserSig logs in again, so the app server must also stop issuing them (TIM has no ban).
    pub fn kick(&self, account: &str) -> Result<()> {
        validate::user_id("account", account)?;
        let (service, command) = commands::KICK;
        self.call(service, command, &json!({ "UserID": account })).map(|_| ())
    }

    /// Mutes `members` (1 to [`MAX_MUTE_MEMBERS`]) in one group, or in one topic, for
    /// `mute_time` seconds (0 lifts it, [`PERMANENT`] never ends). Not for Private (Work) groups.
    pub fn forbid_send_msg<S: AsRef<str>>(
        &self,
        group_id: &str,
        members: &[S],
        mute_time: u64,
        topic_id: Option<&str>,
    ) -> Result<()> {
        group_and_topic(group_id, topic_id)?;
        let list = self::members("members", members, MAX_MUTE_MEMBERS)?;
        let mut body = Map::new();
        body.insert("GroupId".into(), json!(group_id));
        body.insert("Members_Account".into(), json!(list));
        body.insert("MuteTime".into(), json!(seconds("mute_time", mute_time)?));
        set_topic(&mut body, topic_id);
        let (service, command) = commands::FORBID_SEND_MSG;
        self.call(service, command, &Value::Object(body)).map(|_| ())
    }

    /// Removes `members` (1 to [`MAX_REMOVE_MEMBERS`]) from a group. With `silence` only the
    /// removed members are told. Accounts that are not members are no error. An AVChatRoom
    /// answers 10004 (Tencent's rule: its members cannot be removed).
    pub fn delete_group_member<S: AsRef<str>>(
        &self,
        group_id: &str,
        members: &[S],
        silence: bool,
        reason: Option<&str>,
    ) -> Result<()> {
        validate::group_id(group_id)?;
        let list = self::members("members", members, MAX_REMOVE_MEMBERS)?;
        self::reason(reason)?;
        let mut body = Map::new();
        body.insert("GroupId".into(), json!(group_id));
        body.insert("MemberToDel_Account".into(), json!(list));
        if silence {
            body.insert("Silence".into(), json!(1));
        }
        if let Some(r) = reason {
            body.insert("Reason".into(), json!(r));
        }
        let (service, command) = commands::DELETE_GROUP_MEMBER;
        self.call(service, command, &Value::Object(body)).map(|_| ())
    }

    /// One page of a group's (or topic's) history, newest first. Paging goes backward: the next
    /// page asks for `req_msg_seq` = the smallest `MsgSeq` seen − 1. AVChatRoom keeps none.
    pub fn group_msg_get_simple(&self, request: &HistoryRequest) -> Result<HistoryPage> {
        group_and_topic(&request.group_id, request.topic_id.as_deref())?;
        if !(1..=MAX_HISTORY_PAGE).contains(&request.req_msg_number) {
            return Err(Error::invalid_argument(format!(
                "req_msg_number is {}; one page holds 1 to {MAX_HISTORY_PAGE} messages",
                request.req_msg_number
            )));
        }
        let mut body = Map::new();
        body.insert("GroupId".into(), json!(request.group_id));
        body.insert("ReqMsgNumber".into(), json!(request.req_msg_number));
        if let Some(seq) = request.req_msg_seq {
            body.insert("ReqMsgSeq".into(), json!(seq));
        }
        if request.with_recalled {
            body.insert("WithRecalledMsg".into(), json!(1));
        }
        set_topic(&mut body, request.topic_id.as_deref());
        let (service, command) = commands::GROUP_MSG_GET_SIMPLE;
        let (answer, _) = self.call(service, command, &Value::Object(body))?;
        parse_history(&answer)
    }

    /// Recalls the messages with these sequence numbers (1 to [`MAX_RECALL_SEQS`]) from a group
    /// or topic: **visible** to every client, and final. Each seq gets its own `RetCode`.
    pub fn group_msg_recall(
        &self,
        group_id: &str,
        msg_seqs: &[u64],
        reason: Option<&str>,
        topic_id: Option<&str>,
    ) -> Result<Vec<RecallResult>> {
        group_and_topic(group_id, topic_id)?;
        if msg_seqs.is_empty() || msg_seqs.len() > MAX_RECALL_SEQS {
            return Err(Error::invalid_argument(format!(
                "msg_seqs holds {} sequence numbers; one call takes 1 to {MAX_RECALL_SEQS}",
                msg_seqs.len()
            )));
        }
        self::reason(reason)?;
        let mut body = Map::new();
        body.insert("GroupId".into(), json!(group_id));
        body.insert("MsgSeqList".into(), Value::Array(msg_seqs.iter().map(|s| json!({ "MsgSeq": s })).collect()));
        if let Some(r) = reason {
            body.insert("Reason".into(), json!(r));
        }
        set_topic(&mut body, topic_id);
        let (service, command) = commands::GROUP_MSG_RECALL;
        let (answer, _) = self.call(service, command, &Value::Object(body))?;
        parse_recall(&answer, msg_seqs)
    }
}

/// Reads a `group_msg_get_simple` answer.
fn parse_history(answer: &Value) -> Result<HistoryPage> {
    let command = commands::GROUP_MSG_GET_SIMPLE.1;
    let list = match answer.get("RspMsgList") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(list)) => list.as_slice(),
        Some(_) => return Err(malformed(command, "RspMsgList")),
    };
    let is_finished = match answer.get("IsFinished") {
        Some(v) => v.as_u64().ok_or_else(|| malformed(command, "IsFinished"))? != 0,
        None => list.is_empty(),
    };
    let messages = list
        .iter()
        .map(|m| {
            let number = |field: &str| m.get(field).and_then(Value::as_u64);
            Ok(HistoryMessage {
                from_account: m
                    .get("From_Account")
                    .and_then(Value::as_str)
                    .ok_or_else(|| malformed(command, "RspMsgList[].From_Account"))?
                    .to_owned(),
                msg_seq: number("MsgSeq").ok_or_else(|| malformed(command, "RspMsgList[].MsgSeq"))?,
                msg_time_stamp: number("MsgTimeStamp").unwrap_or(0),
                msg_random: number("MsgRandom").unwrap_or(0),
                is_place_msg: number("IsPlaceMsg").unwrap_or(0),
                msg_body: m.get("MsgBody").cloned().unwrap_or(Value::Null),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(HistoryPage { is_finished, messages })
}

/// Reads a `group_msg_recall` answer: one result per seq asked for, in the order asked. A seq
/// the answer does not mention is reported with the RetCode -1 (not confirmed).
fn parse_recall(answer: &Value, asked: &[u64]) -> Result<Vec<RecallResult>> {
    let command = commands::GROUP_MSG_RECALL.1;
    let list =
        answer.get("RecallRetList").and_then(Value::as_array).ok_or_else(|| malformed(command, "RecallRetList"))?;
    let mut said = std::collections::HashMap::new();
    for item in list {
        let seq =
            item.get("MsgSeq").and_then(Value::as_u64).ok_or_else(|| malformed(command, "RecallRetList[].MsgSeq"))?;
        let code =
            item.get("RetCode").and_then(Value::as_i64).ok_or_else(|| malformed(command, "RecallRetList[].RetCode"))?;
        said.insert(seq, code);
    }
    Ok(asked
        .iter()
        .map(|&seq| RecallResult { msg_seq: seq, ret_code: said.get(&seq).copied().unwrap_or(-1) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_answers_are_read_or_refused() {
        let page = parse_history(&json!({"IsFinished": 0, "RspMsgList": [
            {"From_Account": "a", "MsgSeq": 7, "MsgTimeStamp": 10, "IsPlaceMsg": 0, "MsgBody": []}
        ]}))
        .unwrap();
        assert_eq!(
            (page.is_finished, page.messages[0].msg_seq, page.messages[0].from_account.as_str()),
            (false, 7, "a")
        );
        assert!(parse_history(&json!({"IsFinished": 1})).unwrap().messages.is_empty());
        for bad in [json!({"RspMsgList": 3}), json!({"RspMsgList": [{"MsgSeq": 1}]}), json!({"IsFinished": "x"})] {
            assert_eq!(parse_history(&bad).unwrap_err().kind(), ErrorKind::Protocol, "{bad}");
        }
    }

    #[test]
    fn recall_answers_give_one_result_per_seq_asked() {
        let got = parse_recall(
            &json!({"RecallRetList": [{"MsgSeq": 2, "RetCode": 10030}, {"MsgSeq": 1, "RetCode": 0}]}),
            &[1, 2, 3],
        )
        .unwrap();
        assert_eq!(got.iter().map(|r| (r.msg_seq, r.ret_code)).collect::<Vec<_>>(), [(1, 0), (2, 10030), (3, -1)]);
        assert_eq!(parse_recall(&json!({}), &[1]).unwrap_err().kind(), ErrorKind::Protocol);
    }
}
