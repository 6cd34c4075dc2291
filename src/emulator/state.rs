//! The emulator's state — groups, topics, messages — and the commands that read and change it.
//!
//! Every rule lives here once: the REST handlers and the Rust seeding helpers both call
//! [`State::execute`] with a JSON body, so a group made by a test helper obeys exactly the rules a
//! group made over HTTP does. Nothing here knows about HTTP, UserSigs or rate limits.

use std::collections::{BTreeMap, HashMap};

use rand::Rng;
use serde_json::{Map, Value, json};

/// A refusal: the TIM `ErrorCode` and `ErrorInfo` of an answer that is not OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: i64,
    pub(crate) info: String,
}

impl Refusal {
    pub(crate) fn new(code: i64, info: impl Into<String>) -> Refusal {
        Refusal { code, info: info.into() }
    }
}

/// The extra fields of an OK answer (the envelope is added by the caller), or a refusal.
pub(crate) type Answer = Result<Map<String, Value>, Refusal>;

/// `delete_group_msg_by_sender` reaches the messages with the this many highest `MsgSeq`.
pub(crate) const WINDOW: u64 = 1000;
/// Longest group name, in bytes.
pub(crate) const MAX_GROUP_NAME_BYTES: usize = 30;
/// Longest topic name, in bytes.
pub(crate) const MAX_TOPIC_NAME_BYTES: usize = 150;
/// Most messages `group_msg_get_simple` returns at once.
pub(crate) const MAX_REQ_MSG_NUMBER: u64 = 20;
/// Most messages one `import_group_msg` takes.
pub(crate) const MAX_IMPORT: usize = 7;
/// Most sequence numbers one `group_msg_recall` takes.
pub(crate) const MAX_RECALL: usize = 10;
/// `RetCode` of a recall whose `MsgSeq` names no stored message (emulator's choice).
pub(crate) const RECALL_NOT_FOUND: i64 = 10030;
/// `RetCode` of a recall whose message was already deleted or recalled (emulator's choice).
pub(crate) const RECALL_ALREADY_GONE: i64 = 10031;

/// The service of the group commands.
pub(crate) const SERVICE: &str = "group_open_http_svc";
/// The service of Community topics (`get_topic`; `create_topic` is served under both).
pub(crate) const TOPIC_SERVICE: &str = "million_group_open_http_svc";
/// The service of the global mute (`setnospeaking`, `getnospeaking`).
pub(crate) const CONFIG_SERVICE: &str = "openconfigsvr";
/// The service of `kick`.
pub(crate) const LOGIN_SERVICE: &str = "im_open_login_svc";
/// A mute of this many seconds never ends.
pub(crate) const PERMANENT: u64 = u32::MAX as u64;
/// Most members one `forbid_send_msg` takes.
pub(crate) const MAX_MUTE_MEMBERS: usize = 500;
/// Most members one `delete_group_member` takes.
pub(crate) const MAX_REMOVE_MEMBERS: usize = 100;
/// Most groups one `get_joined_group_list` page may ask for (`Limit`).
pub(crate) const MAX_JOINED_LIMIT: u64 = 5000;

/// A command of `group_open_http_svc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    DeleteGroupMsgBySender,
    CreateGroup,
    DestroyGroup,
    SendGroupMsg,
    ImportGroupMsg,
    GroupMsgGetSimple,
    CreateTopic,
    GroupMsgRecall,
    GetJoinedGroupList,
    GetTopic,
    SetNoSpeaking,
    GetNoSpeaking,
    Kick,
    ForbidSendMsg,
    DeleteGroupMember,
}

impl Command {
    /// The command named by the URL's service and command: 60009 for an unknown service,
    /// 10003 for an unknown command of `group_open_http_svc`.
    pub(crate) fn resolve(service: &str, command: &str) -> Result<Command, Refusal> {
        if service == TOPIC_SERVICE {
            return match command {
                "get_topic" => Ok(Command::GetTopic),
                "create_topic" => Ok(Command::CreateTopic),
                _ => Err(Refusal::new(10003, format!("invalid command {command:?} of {TOPIC_SERVICE}"))),
            };
        }
        if service == CONFIG_SERVICE {
            return match command {
                "setnospeaking" => Ok(Command::SetNoSpeaking),
                "getnospeaking" => Ok(Command::GetNoSpeaking),
                _ => Err(Refusal::new(10003, format!("invalid command {command:?} of {CONFIG_SERVICE}"))),
            };
        }
        if service == LOGIN_SERVICE {
            return match command {
                "kick" => Ok(Command::Kick),
                _ => Err(Refusal::new(10003, format!("invalid command {command:?} of {LOGIN_SERVICE}"))),
            };
        }
        if service != SERVICE {
            return Err(Refusal::new(60009, format!("unknown service {service:?}: check the URL (wrong resource)")));
        }
        Ok(match command {
            "get_joined_group_list" => Command::GetJoinedGroupList,
            "delete_group_msg_by_sender" => Command::DeleteGroupMsgBySender,
            "create_group" => Command::CreateGroup,
            "destroy_group" => Command::DestroyGroup,
            "send_group_msg" => Command::SendGroupMsg,
            "import_group_msg" => Command::ImportGroupMsg,
            "group_msg_get_simple" => Command::GroupMsgGetSimple,
            "create_topic" => Command::CreateTopic,
            "group_msg_recall" => Command::GroupMsgRecall,
            "forbid_send_msg" => Command::ForbidSendMsg,
            "delete_group_member" => Command::DeleteGroupMember,
            _ => return Err(Refusal::new(10003, format!("invalid command {command:?} of {SERVICE}"))),
        })
    }

    /// The fields without which the command is refused with 10004, in the order they are checked.
    fn required_fields(self) -> &'static [&'static str] {
        match self {
            Command::DeleteGroupMsgBySender => &["GroupId", "Sender_Account"],
            Command::CreateGroup => &["Type", "Name"],
            Command::DestroyGroup => &["GroupId"],
            Command::SendGroupMsg => &["GroupId", "Random", "MsgBody"],
            Command::ImportGroupMsg => &["GroupId", "MsgList"],
            Command::GroupMsgGetSimple => &["GroupId", "ReqMsgNumber"],
            Command::CreateTopic => &["GroupId", "TopicName"],
            Command::GroupMsgRecall => &["GroupId", "MsgSeqList"],
            Command::GetJoinedGroupList => &["Member_Account"],
            Command::GetTopic => &["GroupId"],
            // Tencent answers its own codes for these (130004, 70402): checked by the command.
            Command::SetNoSpeaking | Command::GetNoSpeaking | Command::Kick => &[],
            Command::ForbidSendMsg => &["GroupId", "Members_Account", "MuteTime"],
            Command::DeleteGroupMember => &["GroupId", "MemberToDel_Account"],
        }
    }
}

/// Who calls, and when.
pub(crate) struct Caller<'a> {
    /// The `identifier` of the request (an App admin; the default sender).
    pub(crate) identifier: &'a str,
    /// The App admins (only they may post in a BChatRoom).
    pub(crate) admins: &'a [String],
    /// Unix seconds now (`MsgTime`, `MsgTimeStamp`).
    pub(crate) now: u64,
}

/// The group types, by their REST names (`Work` and `Meeting` are aliases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupType {
    Private,
    Public,
    ChatRoom,
    AvChatRoom,
    BChatRoom,
    Community,
}

impl GroupType {
    /// The type named in a request (`Work` and `Meeting` are the newer names of two of them).
    pub(crate) fn parse(name: &str) -> Option<GroupType> {
        Some(match name {
            "Private" | "Work" => GroupType::Private,
            "Public" => GroupType::Public,
            "ChatRoom" | "Meeting" => GroupType::ChatRoom,
            "AVChatRoom" => GroupType::AvChatRoom,
            "BChatRoom" => GroupType::BChatRoom,
            "Community" => GroupType::Community,
            _ => return None,
        })
    }

    /// Live-stream and broadcast groups keep no history.
    fn stores_messages(self) -> bool {
        !matches!(self, GroupType::AvChatRoom | GroupType::BChatRoom)
    }

    /// The name `get_joined_group_list` shows in `Type` (the classic names, as Tencent's examples do).
    fn name(self) -> &'static str {
        match self {
            GroupType::Private => "Private",
            GroupType::Public => "Public",
            GroupType::ChatRoom => "ChatRoom",
            GroupType::AvChatRoom => "AVChatRoom",
            GroupType::BChatRoom => "BChatRoom",
            GroupType::Community => "Community",
        }
    }

    /// The start of a server-made ID (the emulator's choice: a type character after `@TGS#`).
    fn id_prefix(self) -> &'static str {
        match self {
            GroupType::Private => "@TGS#1",
            GroupType::Public => "@TGS#2",
            GroupType::ChatRoom => "@TGS#3",
            GroupType::AvChatRoom => "@TGS#a",
            GroupType::BChatRoom => "@TGS#b",
            GroupType::Community => "@TGS#_@TGS#c",
        }
    }
}

#[derive(Debug, Clone)]
struct Message {
    seq: u64,
    from: String,
    random: u32,
    time: u64,
    body: Value,
    /// Deleted by sender or recalled: kept as a placeholder in history.
    removed: bool,
}

impl Message {
    /// The message as a `RspMsgList` item of `group_msg_get_simple`.
    fn render(&self) -> Value {
        json!({
            "From_Account": self.from,
            "IsPlaceMsg": if self.removed { 2 } else { 0 },
            "MsgBody": if self.removed { json!([]) } else { self.body.clone() },
            "MsgPriority": 1,
            "MsgRandom": self.random,
            "MsgSeq": self.seq,
            "MsgTimeStamp": self.time,
        })
    }
}

/// The messages of a group or of one topic: `MsgSeq` starts at 1 and only grows.
#[derive(Debug, Clone)]
struct Stream {
    next_seq: u64,
    /// Sorted by `seq`, ascending. Empty for types that store no history.
    messages: Vec<Message>,
}

impl Stream {
    fn new() -> Stream {
        Stream { next_seq: 1, messages: Vec::new() }
    }

    fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Takes the next `MsgSeq`, storing the message when the group type keeps history.
    fn append(&mut self, store: bool, from: &str, random: u32, time: u64, body: &Value) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if store {
            self.messages.push(Message {
                seq,
                from: from.to_owned(),
                random,
                time,
                body: body.clone(),
                removed: false,
            });
        }
        seq
    }

    /// The stored messages among the `WINDOW` highest `MsgSeq` (deleted ones included).
    fn window_mut(&mut self) -> &mut [Message] {
        let lowest = self.last_seq().saturating_sub(WINDOW);
        let start = self.messages.partition_point(|m| m.seq <= lowest);
        &mut self.messages[start..]
    }

    fn find_mut(&mut self, seq: u64) -> Option<&mut Message> {
        self.messages.binary_search_by_key(&seq, |m| m.seq).ok().map(|i| &mut self.messages[i])
    }
}

#[derive(Debug, Clone)]
struct Topic {
    name: String,
    stream: Stream,
}

#[derive(Debug, Clone)]
struct Group {
    kind: GroupType,
    name: String,
    owner: Option<String>,
    members: Vec<String>,
    /// Creation order: `get_joined_group_list` lists groups in it, so paging is stable.
    order: u64,
    /// A Private (Work) group is "not active" until its first message; every other type always is.
    active: bool,
    support_topic: bool,
    main: Stream,
    topics: BTreeMap<String, Topic>,
    /// `forbid_send_msg`: (topic or None for the group, account) → muted until (Unix seconds).
    muted: HashMap<(Option<String>, String), u64>,
}

impl Group {
    /// The stream a request addresses: the group itself, or one of its topics.
    fn stream_mut(&mut self, topic: Option<&str>) -> Result<&mut Stream, Refusal> {
        match topic {
            None => Ok(&mut self.main),
            Some(id) => {
                if !self.support_topic {
                    return Err(no_topic_support());
                }
                self.topics.get_mut(id).map(|t| &mut t.stream).ok_or_else(|| topic_not_found(id))
            }
        }
    }

    /// Whether `account` joined the group: its owner or one of its members.
    fn has_member(&self, account: &str) -> bool {
        self.owner.as_deref() == Some(account) || self.members.iter().any(|m| m == account)
    }

    fn stream(&self, topic: Option<&str>) -> Result<&Stream, Refusal> {
        match topic {
            None => Ok(&self.main),
            Some(id) => {
                if !self.support_topic {
                    return Err(no_topic_support());
                }
                self.topics.get(id).map(|t| &t.stream).ok_or_else(|| topic_not_found(id))
            }
        }
    }
}

fn no_topic_support() -> Refusal {
    Refusal::new(10007, "the group does not support topics (only a Community created with SupportTopic 1 does)")
}

fn topic_not_found(id: &str) -> Refusal {
    Refusal::new(10010, format!("topic {id:?} does not exist in this group"))
}

/// All groups of the app.
#[derive(Debug, Default)]
pub(crate) struct State {
    groups: HashMap<String, Group>,
    /// The `order` of the next group created.
    created: u64,
    /// `setnospeaking`: account → (one-to-one muted until, group muted until), Unix seconds
    /// (`u64::MAX` for a permanent mute).
    no_speaking: HashMap<String, (u64, u64)>,
    /// `kick`: account → how many times its login state was ended.
    kicks: HashMap<String, u64>,
}

/// When a mute of `seconds` from `now` ends (never for [`PERMANENT`]; 0 when lifted).
fn mute_until(now: u64, seconds: u64) -> u64 {
    match seconds {
        0 => 0,
        PERMANENT => u64::MAX,
        s => now.saturating_add(s),
    }
}

/// Seconds left of a mute ending at `until` ([`PERMANENT`] for one that never ends).
fn mute_left(now: u64, until: u64) -> u64 {
    if until == u64::MAX { PERMANENT } else { until.saturating_sub(now) }
}

fn muted_refusal(account: &str, scope: &str) -> Refusal {
    Refusal::new(10017, format!("{account:?} is muted {scope} and cannot send messages"))
}

// ---- reading fields of a request body, with the codes of spec §7 ----

/// A field's value; `null` counts as absent.
fn field<'b>(body: &'b Map<String, Value>, name: &str) -> Option<&'b Value> {
    body.get(name).filter(|v| !v.is_null())
}

fn missing(name: &str) -> Refusal {
    Refusal::new(10004, format!("invalid parameter: {name} is required"))
}

fn invalid(name: &str, why: &str) -> Refusal {
    Refusal::new(10004, format!("invalid parameter: {name} {why}"))
}

/// An account field (`Sender_Account`, `From_Account`, …): must be a JSON string (60015).
fn account<'b>(body: &'b Map<String, Value>, name: &str) -> Result<Option<&'b str>, Refusal> {
    match field(body, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Refusal::new(60015, format!("{name} must be a JSON string"))),
    }
}

/// Whether a group ID is well-formed: 1..=48 bytes, no control characters (else 10015).
fn check_group_id(id: &str) -> Result<(), Refusal> {
    if id.is_empty() {
        return Err(Refusal::new(10015, "invalid group ID: GroupId is empty"));
    }
    if id.len() > crate::validate::MAX_GROUP_ID_BYTES {
        return Err(Refusal::new(
            10015,
            format!(
                "invalid group ID: {} bytes long, at most {} allowed",
                id.len(),
                crate::validate::MAX_GROUP_ID_BYTES
            ),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(Refusal::new(10015, "invalid group ID: it contains control characters"));
    }
    Ok(())
}

/// The `GroupId` of a request that names an existing group: a string (10004), well-formed (10015).
fn group_id(body: &Map<String, Value>) -> Result<&str, Refusal> {
    match field(body, "GroupId") {
        None => Err(missing("GroupId")),
        Some(Value::String(id)) => {
            check_group_id(id)?;
            Ok(id)
        }
        Some(_) => Err(invalid("GroupId", "must be a string")),
    }
}

/// The optional `TopicId`: a non-empty string (10004).
fn topic_id(body: &Map<String, Value>) -> Result<Option<&str>, Refusal> {
    match field(body, "TopicId") {
        None => Ok(None),
        Some(Value::String(id)) if id.is_empty() => Err(invalid("TopicId", "is empty")),
        Some(Value::String(id)) => Ok(Some(id)),
        Some(_) => Err(invalid("TopicId", "must be a string")),
    }
}

fn unsigned(body: &Map<String, Value>, name: &str) -> Result<Option<u64>, Refusal> {
    match field(body, name) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| invalid(name, "must be an unsigned integer")),
    }
}

fn random_of(body: &Map<String, Value>, name: &str) -> Result<Option<u32>, Refusal> {
    match unsigned(body, name)? {
        None => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| invalid(name, "must be a 32-bit unsigned integer")),
    }
}

fn flag(body: &Map<String, Value>, name: &str) -> Result<bool, Refusal> {
    match field(body, name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => match v.as_u64() {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err(invalid(name, "must be 0 or 1")),
        },
    }
}

fn msg_body<'b>(value: &'b Value, name: &str) -> Result<&'b Value, Refusal> {
    match value.as_array() {
        Some(elems) if !elems.is_empty() && elems.iter().all(|e| e.get("MsgType").is_some_and(Value::is_string)) => {
            Ok(value)
        }
        _ => Err(invalid(name, "must be a non-empty array of message elements, each with a MsgType")),
    }
}

/// The names in `ResponseFilter.GroupBaseInfoFilter` (an array of strings; absent → none).
fn base_info_filter(body: &Map<String, Value>) -> Result<Vec<String>, Refusal> {
    let Some(filter) = field(body, "ResponseFilter") else { return Ok(Vec::new()) };
    let filter = filter.as_object().ok_or_else(|| invalid("ResponseFilter", "must be an object"))?;
    match field(filter, "GroupBaseInfoFilter") {
        None => Ok(Vec::new()),
        Some(Value::Array(names)) => names
            .iter()
            .map(|n| n.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| invalid("ResponseFilter.GroupBaseInfoFilter", "must be an array of strings")),
        Some(_) => Err(invalid("ResponseFilter.GroupBaseInfoFilter", "must be an array")),
    }
}

/// An account ID: 1 to 32 bytes, no control characters.
fn valid_account(a: &str) -> bool {
    !a.is_empty() && a.len() <= crate::validate::MAX_USER_ID_BYTES && !a.chars().any(char::is_control)
}

/// A list of 1 to `max` account IDs (10004 otherwise).
fn account_list(body: &Map<String, Value>, name: &str, max: usize) -> Result<Vec<String>, Refusal> {
    let list = field(body, name).and_then(Value::as_array).ok_or_else(|| invalid(name, "must be an array"))?;
    if list.is_empty() || list.len() > max {
        return Err(invalid(name, &format!("must hold 1 to {max} accounts")));
    }
    list.iter()
        .map(|v| match v.as_str() {
            Some(a) if valid_account(a) => Ok(a.to_owned()),
            _ => Err(invalid(name, "must hold account IDs")),
        })
        .collect()
}

fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

fn ok() -> Answer {
    Ok(Map::new())
}

impl State {
    /// Runs `command` with a JSON object `body` on behalf of `caller` (already checked as an admin).
    pub(crate) fn execute(&mut self, command: Command, body: &Map<String, Value>, caller: &Caller<'_>) -> Answer {
        if let Some(name) = command.required_fields().iter().find(|name| field(body, name).is_none()) {
            return Err(missing(name));
        }
        match command {
            Command::DeleteGroupMsgBySender => self.delete_by_sender(body),
            Command::CreateGroup => self.create_group(body),
            Command::DestroyGroup => self.destroy_group(body),
            Command::SendGroupMsg => self.send(body, caller),
            Command::ImportGroupMsg => self.import(body, caller.now),
            Command::GroupMsgGetSimple => self.get_simple(body),
            Command::CreateTopic => self.create_topic(body),
            Command::GroupMsgRecall => self.recall(body),
            Command::GetJoinedGroupList => self.joined_groups(body),
            Command::GetTopic => self.get_topic(body),
            Command::SetNoSpeaking => self.set_no_speaking(body, caller.now),
            Command::GetNoSpeaking => self.get_no_speaking(body, caller.now),
            Command::Kick => self.kick(body),
            Command::ForbidSendMsg => self.forbid_send_msg(body, caller.now),
            Command::DeleteGroupMember => self.delete_group_member(body),
        }
    }

    /// Refuses a group message from `from` when it is muted everywhere or in this group/topic.
    fn check_not_muted(&self, group: &Group, topic: Option<&str>, from: &str, now: u64) -> Result<(), Refusal> {
        if self.no_speaking.get(from).is_some_and(|(_, until)| *until > now) {
            return Err(muted_refusal(from, "in every group (setnospeaking)"));
        }
        let key = (topic.map(str::to_owned), from.to_owned());
        if group.muted.get(&key).is_some_and(|until| *until > now) {
            return Err(muted_refusal(from, "in this group (forbid_send_msg)"));
        }
        Ok(())
    }

    /// `setnospeaking`: Tencent's own codes — 130004 without `Set_Account`, 130005 for one that
    /// is not an account, 130008 when neither time is given; a time over 4294967295 is 130005 too
    /// (the emulator's choice).
    fn set_no_speaking(&mut self, body: &Map<String, Value>, now: u64) -> Answer {
        let account = match field(body, "Set_Account") {
            None => return Err(Refusal::new(130004, "Set_Account is missing from the request")),
            Some(Value::String(a)) if valid_account(a) => a.clone(),
            Some(_) => return Err(Refusal::new(130005, "Set_Account is not a valid account")),
        };
        let time = |name: &str| match field(body, name) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n <= PERMANENT => Ok(Some(n)),
                _ => Err(Refusal::new(130005, format!("{name} must be 0 to 4294967295 seconds"))),
            },
        };
        let (c2c, group) = (time("C2CmsgNospeakingTime")?, time("GroupmsgNospeakingTime")?);
        if c2c.is_none() && group.is_none() {
            return Err(Refusal::new(130008, "neither C2CmsgNospeakingTime nor GroupmsgNospeakingTime is given"));
        }
        let entry = self.no_speaking.entry(account).or_insert((0, 0));
        if let Some(s) = c2c {
            entry.0 = mute_until(now, s);
        }
        if let Some(s) = group {
            entry.1 = mute_until(now, s);
        }
        ok()
    }

    fn get_no_speaking(&self, body: &Map<String, Value>, now: u64) -> Answer {
        let account = match field(body, "Get_Account") {
            None => return Err(Refusal::new(130004, "Get_Account is missing from the request")),
            Some(Value::String(a)) if valid_account(a) => a,
            Some(_) => return Err(Refusal::new(130005, "Get_Account is not a valid account")),
        };
        let (c2c, group) = self.no_speaking.get(account.as_str()).copied().unwrap_or((0, 0));
        let mut answer = Map::new();
        answer.insert("C2CmsgNospeakingTime".into(), json!(mute_left(now, c2c)));
        answer.insert("GroupmsgNospeakingTime".into(), json!(mute_left(now, group)));
        Ok(answer)
    }

    /// `kick`: recorded (the emulator has no login state to end). 70402 without a `UserID`.
    fn kick(&mut self, body: &Map<String, Value>) -> Answer {
        match field(body, "UserID") {
            Some(Value::String(a)) if valid_account(a) => {
                *self.kicks.entry(a.clone()).or_insert(0) += 1;
                ok()
            }
            _ => Err(Refusal::new(70402, "invalid parameter: UserID must be an account ID")),
        }
    }

    /// How many times `account` was kicked.
    pub(crate) fn kick_count(&self, account: &str) -> u64 {
        self.kicks.get(account).copied().unwrap_or(0)
    }

    /// `forbid_send_msg`: mutes members in one group or topic. A Private (Work) group answers
    /// 10007 (Tencent: not supported for that type; the code is the emulator's choice).
    fn forbid_send_msg(&mut self, body: &Map<String, Value>, now: u64) -> Answer {
        let gid = group_id(body)?;
        let list = account_list(body, "Members_Account", MAX_MUTE_MEMBERS)?;
        let seconds = match unsigned(body, "MuteTime")? {
            Some(n) if n <= PERMANENT => n,
            _ => return Err(invalid("MuteTime", "must be 0 to 4294967295 seconds")),
        };
        let topic = topic_id(body)?.map(str::to_owned);
        let group = self.group_mut(gid)?;
        if group.kind == GroupType::Private {
            return Err(Refusal::new(10007, "Private (Work) groups do not support muting members"));
        }
        group.stream(topic.as_deref())?;
        let until = mute_until(now, seconds);
        for account in list {
            group.muted.insert((topic.clone(), account), until);
        }
        ok()
    }

    /// `delete_group_member`: takes the accounts out of the member list (non-members are no
    /// error). An AVChatRoom answers 10004, as Tencent documents. An owner stays the owner
    /// (the emulator's choice: Tencent removes no owner this way).
    fn delete_group_member(&mut self, body: &Map<String, Value>) -> Answer {
        let gid = group_id(body)?;
        let list = account_list(body, "MemberToDel_Account", MAX_REMOVE_MEMBERS)?;
        flag(body, "Silence")?;
        if field(body, "Reason").is_some_and(|r| !r.is_string()) {
            return Err(invalid("Reason", "must be a string"));
        }
        let group = self.group_mut(gid)?;
        if group.kind == GroupType::AvChatRoom {
            return Err(Refusal::new(10004, "invalid parameter: members cannot be removed from an AVChatRoom"));
        }
        group.members.retain(|m| !list.contains(m));
        ok()
    }

    /// An existing group (10010 when unknown or destroyed).
    fn group_mut(&mut self, id: &str) -> Result<&mut Group, Refusal> {
        self.groups
            .get_mut(id)
            .ok_or_else(|| Refusal::new(10010, format!("group {id:?} does not exist or was dissolved")))
    }

    fn group(&self, id: &str) -> Result<&Group, Refusal> {
        self.groups.get(id).ok_or_else(|| Refusal::new(10010, format!("group {id:?} does not exist or was dissolved")))
    }

    fn delete_by_sender(&mut self, body: &Map<String, Value>) -> Answer {
        let sender = account(body, "Sender_Account")?.unwrap_or_default();
        let gid = group_id(body)?;
        let group = self.group_mut(gid)?;
        let topic = topic_id(body)?;
        if sender.is_empty() {
            return Err(invalid("Sender_Account", "is empty"));
        }
        let stores = group.kind.stores_messages();
        let stream = group.stream_mut(topic)?;
        if stores {
            for m in stream.window_mut().iter_mut().filter(|m| m.from == sender) {
                m.removed = true;
            }
        }
        ok()
    }

    fn create_group(&mut self, body: &Map<String, Value>) -> Answer {
        let kind = match field(body, "Type") {
            Some(Value::String(t)) => GroupType::parse(t).ok_or_else(|| {
                invalid(
                    "Type",
                    "must be one of Private, Public, ChatRoom, AVChatRoom, BChatRoom, Community, Work, Meeting",
                )
            })?,
            _ => return Err(invalid("Type", "must be a string")),
        };
        let name = match field(body, "Name") {
            Some(Value::String(n)) if n.is_empty() => return Err(invalid("Name", "is empty")),
            Some(Value::String(n)) if n.len() > MAX_GROUP_NAME_BYTES => {
                return Err(invalid("Name", &format!("is longer than {MAX_GROUP_NAME_BYTES} bytes")));
            }
            Some(Value::String(n)) => n.clone(),
            _ => return Err(invalid("Name", "must be a string")),
        };
        let owner = account(body, "Owner_Account")?.map(str::to_owned);
        let mut members = Vec::new();
        if let Some(list) = field(body, "MemberList") {
            let list = list.as_array().ok_or_else(|| invalid("MemberList", "must be an array"))?;
            for item in list {
                let item = item.as_object().ok_or_else(|| invalid("MemberList", "items must be objects"))?;
                let member = account(item, "Member_Account")?.ok_or_else(|| missing("MemberList[].Member_Account"))?;
                members.push(member.to_owned());
            }
        }
        let support_topic = flag(body, "SupportTopic")?;
        if support_topic && kind != GroupType::Community {
            return Err(invalid("SupportTopic", "is only for Community groups"));
        }
        let id = match field(body, "GroupId") {
            None => loop {
                let id =
                    format!("{}{}", kind.id_prefix(), random_suffix(if kind == GroupType::Community { 11 } else { 8 }));
                if !self.groups.contains_key(&id) {
                    break id;
                }
            },
            Some(Value::String(id)) => {
                check_group_id(id)?;
                if !id.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                    return Err(Refusal::new(10015, "invalid group ID: a custom GroupId is printable ASCII"));
                }
                if kind == GroupType::Community && !id.starts_with("@TGS#_") {
                    return Err(Refusal::new(10015, "invalid group ID: a custom Community GroupId starts with @TGS#_"));
                }
                if kind != GroupType::Community && id.starts_with("@TGS#") {
                    return Err(Refusal::new(10015, "invalid group ID: a custom GroupId must not start with @TGS#"));
                }
                if self.groups.contains_key(id) {
                    return Err(Refusal::new(10021, format!("group ID {id:?} is already used")));
                }
                id.clone()
            }
            Some(_) => return Err(invalid("GroupId", "must be a string")),
        };
        self.created += 1;
        let group = Group {
            kind,
            name,
            owner,
            members,
            order: self.created,
            active: kind != GroupType::Private,
            support_topic,
            main: Stream::new(),
            topics: BTreeMap::new(),
            muted: HashMap::new(),
        };
        self.groups.insert(id.clone(), group);
        let mut answer = Map::new();
        answer.insert("GroupId".into(), Value::String(id));
        Ok(answer)
    }

    fn destroy_group(&mut self, body: &Map<String, Value>) -> Answer {
        let gid = group_id(body)?;
        self.group(gid)?;
        self.groups.remove(gid);
        ok()
    }

    fn send(&mut self, body: &Map<String, Value>, caller: &Caller<'_>) -> Answer {
        let from = account(body, "From_Account")?.unwrap_or(caller.identifier);
        let gid = group_id(body)?;
        let random = random_of(body, "Random")?.unwrap_or_default();
        let content = msg_body(field(body, "MsgBody").unwrap_or(&Value::Null), "MsgBody")?;
        let topic = topic_id(body)?;
        self.check_not_muted(self.group(gid)?, topic, from, caller.now)?;
        let group = self.group_mut(gid)?;
        if group.kind == GroupType::BChatRoom && !caller.admins.iter().any(|a| a == from) {
            return Err(Refusal::new(10007, "only an App admin may post in a BChatRoom"));
        }
        let stores = group.kind.stores_messages();
        let stream = group.stream_mut(topic)?;
        let seq = stream.append(stores, from, random, caller.now, content);
        group.active = true;
        let mut answer = Map::new();
        answer.insert("MsgTime".into(), json!(caller.now));
        answer.insert("MsgSeq".into(), json!(seq));
        Ok(answer)
    }

    fn import(&mut self, body: &Map<String, Value>, now: u64) -> Answer {
        let gid = group_id(body)?;
        let list =
            field(body, "MsgList").and_then(Value::as_array).ok_or_else(|| invalid("MsgList", "must be an array"))?;
        if list.is_empty() || list.len() > MAX_IMPORT {
            return Err(invalid("MsgList", &format!("must hold 1 to {MAX_IMPORT} messages")));
        }
        // Check everything before changing anything: an import is all or nothing.
        let mut items = Vec::with_capacity(list.len());
        let mut last_time = 0;
        for item in list {
            let item = item.as_object().ok_or_else(|| invalid("MsgList", "items must be objects"))?;
            let from = account(item, "From_Account")?.ok_or_else(|| missing("MsgList[].From_Account"))?;
            let time = unsigned(item, "SendTime")?.ok_or_else(|| missing("MsgList[].SendTime"))?;
            if time < last_time {
                return Err(invalid("MsgList", "must be in increasing SendTime"));
            }
            last_time = time;
            let random = random_of(item, "Random")?.unwrap_or_else(|| rand::rng().random());
            let content = msg_body(field(item, "MsgBody").unwrap_or(&Value::Null), "MsgList[].MsgBody")?;
            items.push((from, time, random, content));
        }
        let topic = topic_id(body)?;
        for (from, ..) in &items {
            self.check_not_muted(self.group(gid)?, topic, from, now)?;
        }
        let group = self.group_mut(gid)?;
        if !group.kind.stores_messages() {
            return Err(Refusal::new(10007, "AVChatRoom and BChatRoom groups keep no history to import into"));
        }
        let stream = group.stream_mut(topic)?;
        let results: Vec<Value> = items
            .into_iter()
            .map(|(from, time, random, content)| {
                let seq = stream.append(true, from, random, time, content);
                json!({"Result": 0, "MsgSeq": seq, "MsgTime": time})
            })
            .collect();
        group.active = true;
        let mut answer = Map::new();
        answer.insert("ImportMsgResult".into(), Value::Array(results));
        Ok(answer)
    }

    fn get_simple(&mut self, body: &Map<String, Value>) -> Answer {
        let gid = group_id(body)?;
        let number = unsigned(body, "ReqMsgNumber")?.unwrap_or_default();
        if number == 0 || number > MAX_REQ_MSG_NUMBER {
            return Err(invalid("ReqMsgNumber", &format!("must be 1 to {MAX_REQ_MSG_NUMBER}")));
        }
        let upto = unsigned(body, "ReqMsgSeq")?;
        let with_removed = flag(body, "WithRecalledMsg")?;
        let topic = topic_id(body)?;
        let stream = self.group(gid)?.stream(topic)?;
        let upto = upto.unwrap_or(u64::MAX);
        let end = stream.messages.partition_point(|m| m.seq <= upto);
        let mut visible = stream.messages[..end].iter().rev().filter(|m| with_removed || !m.removed);
        let list: Vec<Value> = visible.by_ref().take(number as usize).map(Message::render).collect();
        let finished = visible.next().is_none();
        let mut answer = Map::new();
        answer.insert("GroupId".into(), json!(gid));
        answer.insert("IsFinished".into(), json!(u8::from(finished)));
        answer.insert("RspMsgList".into(), Value::Array(list));
        Ok(answer)
    }

    fn create_topic(&mut self, body: &Map<String, Value>) -> Answer {
        let gid = group_id(body)?.to_owned();
        let name = match field(body, "TopicName") {
            Some(Value::String(n)) if n.is_empty() => return Err(invalid("TopicName", "is empty")),
            Some(Value::String(n)) if n.len() > MAX_TOPIC_NAME_BYTES => {
                return Err(invalid("TopicName", &format!("is longer than {MAX_TOPIC_NAME_BYTES} bytes")));
            }
            Some(Value::String(n)) => n.clone(),
            _ => return Err(invalid("TopicName", "must be a string")),
        };
        let custom = topic_id(body)?;
        let group = self.group_mut(&gid)?;
        if !group.support_topic {
            return Err(no_topic_support());
        }
        let prefix = format!("{gid}@TOPIC#_");
        let id = match custom {
            Some(id) => {
                if id.len() <= prefix.len()
                    || !id.starts_with(&prefix)
                    || id.len() > crate::validate::MAX_TOPIC_ID_BYTES
                    || id.chars().any(char::is_control)
                {
                    return Err(invalid("TopicId", &format!("must be {prefix:?} followed by a name")));
                }
                if group.topics.contains_key(id) {
                    return Err(Refusal::new(10021, format!("topic ID {id:?} is already used")));
                }
                id.to_owned()
            }
            None => loop {
                let id = format!("{prefix}@TOPIC#c{}", random_suffix(11));
                if !group.topics.contains_key(&id) {
                    break id;
                }
            },
        };
        group.topics.insert(id.clone(), Topic { name, stream: Stream::new() });
        let mut answer = Map::new();
        answer.insert("TopicId".into(), Value::String(id));
        Ok(answer)
    }

    fn recall(&mut self, body: &Map<String, Value>) -> Answer {
        let gid = group_id(body)?;
        let list = field(body, "MsgSeqList")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("MsgSeqList", "must be an array"))?;
        if list.is_empty() || list.len() > MAX_RECALL {
            return Err(invalid("MsgSeqList", &format!("must hold 1 to {MAX_RECALL} items")));
        }
        let seqs = list
            .iter()
            .map(|item| item.as_object().and_then(|o| unsigned(o, "MsgSeq").ok().flatten()))
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| invalid("MsgSeqList", "items must be {\"MsgSeq\": n}"))?;
        let topic = topic_id(body)?;
        let stream = self.group_mut(gid)?.stream_mut(topic)?;
        let results: Vec<Value> = seqs
            .into_iter()
            .map(|seq| {
                let code = match stream.find_mut(seq) {
                    None => RECALL_NOT_FOUND,
                    Some(m) if m.removed => RECALL_ALREADY_GONE,
                    Some(m) => {
                        m.removed = true;
                        0
                    }
                };
                json!({"MsgSeq": seq, "RetCode": code})
            })
            .collect();
        let mut answer = Map::new();
        answer.insert("RecallRetList".into(), Value::Array(results));
        Ok(answer)
    }

    /// `get_joined_group_list`: the groups an account owns or is a member of, in creation order,
    /// paged by `Limit` and `Offset`. Like Tencent, it leaves out AVChatRoom (and BChatRoom)
    /// groups unless `WithHugeGroups` is 1, and Private (Work) groups that are not active yet
    /// unless `WithNoActiveGroups` is 1; `GroupType` keeps one type (naming AVChatRoom lists them
    /// too). `TotalCount` counts every group that matches, whatever the page.
    fn joined_groups(&self, body: &Map<String, Value>) -> Answer {
        let account = account(body, "Member_Account")?.unwrap_or_default();
        if account.is_empty() {
            return Err(invalid("Member_Account", "is empty"));
        }
        let max = crate::validate::MAX_USER_ID_BYTES;
        if account.len() > max || account.chars().any(char::is_control) {
            return Err(invalid(
                "Member_Account",
                &format!("is not an account ID (at most {max} bytes, no control characters)"),
            ));
        }
        let limit = match unsigned(body, "Limit")? {
            Some(n) if n == 0 || n > MAX_JOINED_LIMIT => {
                return Err(invalid("Limit", &format!("must be 1 to {MAX_JOINED_LIMIT}")));
            }
            limit => limit,
        };
        let offset = unsigned(body, "Offset")?.unwrap_or(0);
        let only = match field(body, "GroupType") {
            None => None,
            Some(Value::String(name)) => Some(GroupType::parse(name).ok_or_else(|| {
                invalid("GroupType", "must be one of Private, Public, ChatRoom, AVChatRoom, Community, Work, Meeting")
            })?),
            Some(_) => return Err(invalid("GroupType", "must be a string")),
        };
        let with_huge = flag(body, "WithHugeGroups")?;
        let with_inactive = flag(body, "WithNoActiveGroups")?;
        let topics_only = flag(body, "SupportTopic")?;
        let shown = base_info_filter(body)?;

        let mut joined: Vec<(&String, &Group)> = self
            .groups
            .iter()
            .filter(|(_, g)| g.has_member(account))
            .filter(|(_, g)| match only {
                Some(kind) => g.kind == kind,
                None => with_huge || g.kind.stores_messages(),
            })
            .filter(|(_, g)| with_inactive || g.active)
            .filter(|(_, g)| !topics_only || g.support_topic)
            .collect();
        joined.sort_by_key(|(_, g)| g.order);
        let total = joined.len();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
        let end = limit.map_or(total, |n| start.saturating_add(usize::try_from(n).unwrap_or(usize::MAX)).min(total));
        let list: Vec<Value> = joined[start..end]
            .iter()
            .map(|(id, g)| {
                let mut item = Map::new();
                item.insert("GroupId".into(), json!(id));
                for name in &shown {
                    match name.as_str() {
                        "Type" => {
                            item.insert("Type".into(), json!(g.kind.name()));
                        }
                        "Name" => {
                            item.insert("Name".into(), json!(g.name));
                        }
                        "Owner_Account" => {
                            item.insert("Owner_Account".into(), json!(g.owner.as_deref().unwrap_or("")));
                        }
                        "MemberNum" => {
                            item.insert("MemberNum".into(), json!(g.members.len()));
                        }
                        "NextMsgSeq" => {
                            item.insert("NextMsgSeq".into(), json!(g.main.next_seq));
                        }
                        _ => {}
                    }
                }
                if g.kind == GroupType::Community && shown.iter().any(|n| n == "Type" || n == "SupportTopic") {
                    item.insert("SupportTopic".into(), json!(u8::from(g.support_topic)));
                }
                Value::Object(item)
            })
            .collect();
        let mut answer = Map::new();
        answer.insert("TotalCount".into(), json!(total));
        answer.insert("GroupIdList".into(), Value::Array(list));
        Ok(answer)
    }

    /// `get_topic`: the topics of a topic-enabled Community, all of them or those of `TopicIdList`
    /// (an unknown ID there is an item with its own `ErrorCode` 10010).
    fn get_topic(&self, body: &Map<String, Value>) -> Answer {
        let gid = group_id(body)?;
        account(body, "From_Account")?;
        let wanted: Option<Vec<&str>> = match field(body, "TopicIdList") {
            None => None,
            Some(Value::Array(ids)) => Some(
                ids.iter()
                    .map(|v| v.as_str().filter(|s| !s.is_empty()))
                    .collect::<Option<Vec<&str>>>()
                    .ok_or_else(|| invalid("TopicIdList", "must be an array of non-empty strings"))?,
            ),
            Some(_) => return Err(invalid("TopicIdList", "must be an array")),
        };
        let group = self.group(gid)?;
        if !group.support_topic {
            return Err(no_topic_support());
        }
        let info = |id: &str, topic: &Topic| {
            json!({"ErrorCode": 0, "ErrorInfo": "",
                   "TopicInfo": {"TopicId": id, "TopicName": topic.name, "NextMsgSeq": topic.stream.next_seq}})
        };
        let list: Vec<Value> = match wanted {
            None => group.topics.iter().map(|(id, t)| info(id, t)).collect(),
            Some(ids) => ids
                .into_iter()
                .map(|id| match group.topics.get(id) {
                    Some(t) => info(id, t),
                    None => {
                        let missing = topic_not_found(id);
                        json!({"ErrorCode": missing.code, "ErrorInfo": missing.info, "TopicInfo": {"TopicId": id}})
                    }
                })
                .collect(),
        };
        let mut answer = Map::new();
        answer.insert("TopicAndSelfInfo".into(), Value::Array(list));
        Ok(answer)
    }

    /// The owner (first) and members of a group.
    pub(crate) fn members(&self, group: &str) -> Result<Vec<String>, Refusal> {
        check_group_id(group)?;
        let g = self.group(group)?;
        Ok(g.owner.iter().chain(g.members.iter().filter(|m| Some(*m) != g.owner.as_ref())).cloned().collect())
    }

    /// Every stored message of a group (or topic), oldest first, as `RspMsgList` items; deleted
    /// and recalled ones only when `include_removed` (then with `IsPlaceMsg` 2 and an empty body).
    pub(crate) fn messages(
        &self,
        group: &str,
        topic: Option<&str>,
        include_removed: bool,
    ) -> Result<Vec<Value>, Refusal> {
        check_group_id(group)?;
        let stream = self.group(group)?.stream(topic)?;
        Ok(stream.messages.iter().filter(|m| include_removed || !m.removed).map(Message::render).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(state: &mut State, command: Command, body: Value) -> Answer {
        let admins = vec!["administrator".to_owned()];
        let caller = Caller { identifier: "administrator", admins: &admins, now: 1_700_000_000 };
        let Value::Object(body) = body else { panic!("test bodies are objects") };
        state.execute(command, &body, &caller)
    }

    fn group(state: &mut State, kind: &str) -> String {
        let answer = run(state, Command::CreateGroup, json!({"Type": kind, "Name": "g"})).unwrap();
        answer["GroupId"].as_str().unwrap().to_owned()
    }

    fn send(state: &mut State, gid: &str, from: &str, topic: Option<&str>) -> u64 {
        let mut body = json!({"GroupId": gid, "From_Account": from, "Random": 7,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]});
        if let Some(t) = topic {
            body["TopicId"] = json!(t);
        }
        run(state, Command::SendGroupMsg, body).unwrap()["MsgSeq"].as_u64().unwrap()
    }

    /// A topic-enabled Community and its topic "news".
    fn community_with_topic(state: &mut State) -> (String, String) {
        let answer = run(state, Command::CreateGroup, json!({"Type": "Community", "Name": "c", "SupportTopic": 1}));
        let g = answer.unwrap()["GroupId"].as_str().unwrap().to_owned();
        let answer = run(state, Command::CreateTopic, json!({"GroupId": g, "TopicName": "news"})).unwrap();
        let t = answer["TopicId"].as_str().unwrap().to_owned();
        (g, t)
    }

    fn senders(state: &State, gid: &str, topic: Option<&str>) -> Vec<String> {
        state.messages(gid, topic, false).unwrap().iter().map(|m| m["From_Account"].as_str().unwrap().into()).collect()
    }

    #[test]
    fn server_made_ids_follow_the_type() {
        let mut s = State::default();
        assert!(group(&mut s, "Public").starts_with("@TGS#2"));
        assert!(group(&mut s, "Work").starts_with("@TGS#1"));
        let community = group(&mut s, "Community");
        assert!(community.starts_with("@TGS#_@TGS#c"), "{community}");
        assert!(community.len() <= 48);
        assert_eq!(run(&mut s, Command::CreateGroup, json!({"Type": "Nope", "Name": "g"})).unwrap_err().code, 10004);
    }

    #[test]
    fn window_is_the_1000_highest_seqs_deleted_ones_included() {
        let mut s = State::default();
        let g = group(&mut s, "Public");
        send(&mut s, &g, "spammer", None); // seq 1: will fall outside the window
        for _ in 0..999 {
            send(&mut s, &g, "other", None);
        }
        send(&mut s, &g, "spammer", None); // seq 1001: the window is now 2..=1001
        run(&mut s, Command::DeleteGroupMsgBySender, json!({"GroupId": g, "Sender_Account": "spammer"})).unwrap();
        let left = senders(&s, &g, None);
        assert_eq!(left.iter().filter(|f| *f == "spammer").count(), 1, "seq 1 is outside the window and survives");
        assert_eq!(s.messages(&g, None, false).unwrap()[0]["MsgSeq"], 1);
        assert_eq!(left.len(), 1000);
    }

    #[test]
    fn topics_have_their_own_seqs_and_deletions() {
        let mut s = State::default();
        let (g, t) = community_with_topic(&mut s);
        assert!(t.starts_with(&format!("{g}@TOPIC#_")));
        assert_eq!(send(&mut s, &g, "a", None), 1);
        assert_eq!(send(&mut s, &g, "a", Some(&t)), 1);
        assert_eq!(send(&mut s, &g, "a", Some(&t)), 2);
        run(&mut s, Command::DeleteGroupMsgBySender, json!({"GroupId": g, "Sender_Account": "a", "TopicId": t}))
            .unwrap();
        assert_eq!(senders(&s, &g, Some(&t)), Vec::<String>::new());
        assert_eq!(senders(&s, &g, None), vec!["a"]);
        let other = format!("{g}@TOPIC#_none");
        let err = run(
            &mut s,
            Command::DeleteGroupMsgBySender,
            json!({"GroupId": g, "Sender_Account": "a", "TopicId": other}),
        );
        assert_eq!(err.unwrap_err().code, 10010);
    }

    #[test]
    fn get_simple_pages_newest_first_and_hides_removed() {
        let mut s = State::default();
        let g = group(&mut s, "Private");
        for from in ["a", "b", "a", "b", "a"] {
            send(&mut s, &g, from, None);
        }
        run(&mut s, Command::DeleteGroupMsgBySender, json!({"GroupId": g, "Sender_Account": "b"})).unwrap();
        let page = run(&mut s, Command::GroupMsgGetSimple, json!({"GroupId": g, "ReqMsgNumber": 2})).unwrap();
        let seqs: Vec<u64> =
            page["RspMsgList"].as_array().unwrap().iter().map(|m| m["MsgSeq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, [5, 3]);
        assert_eq!(page["IsFinished"], 0);
        let page =
            run(&mut s, Command::GroupMsgGetSimple, json!({"GroupId": g, "ReqMsgNumber": 20, "ReqMsgSeq": 2})).unwrap();
        assert_eq!(page["RspMsgList"].as_array().unwrap().len(), 1);
        assert_eq!(page["IsFinished"], 1);
        let page =
            run(&mut s, Command::GroupMsgGetSimple, json!({"GroupId": g, "ReqMsgNumber": 20, "WithRecalledMsg": 1}))
                .unwrap();
        let list = page["RspMsgList"].as_array().unwrap();
        assert_eq!(list.len(), 5);
        assert_eq!(list[1]["IsPlaceMsg"], 2);
        assert_eq!(list[1]["MsgBody"], json!([]));
        assert_eq!(list[0]["IsPlaceMsg"], 0);
    }

    #[test]
    fn recall_marks_and_reports_each_seq() {
        let mut s = State::default();
        let g = group(&mut s, "Public");
        send(&mut s, &g, "a", None);
        let answer =
            run(&mut s, Command::GroupMsgRecall, json!({"GroupId": g, "MsgSeqList": [{"MsgSeq": 1}, {"MsgSeq": 9}]}));
        assert_eq!(
            answer.unwrap()["RecallRetList"],
            json!([{"MsgSeq": 1, "RetCode": 0}, {"MsgSeq": 9, "RetCode": RECALL_NOT_FOUND}])
        );
        assert!(senders(&s, &g, None).is_empty());
    }

    #[test]
    fn import_is_all_or_nothing() {
        let mut s = State::default();
        let g = group(&mut s, "Public");
        let item = |t: u64| json!({"From_Account": "a", "SendTime": t, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]});
        let bad = run(&mut s, Command::ImportGroupMsg, json!({"GroupId": g, "MsgList": [item(5), item(4)]}));
        assert_eq!(bad.unwrap_err().code, 10004);
        assert!(senders(&s, &g, None).is_empty());
        let good = run(&mut s, Command::ImportGroupMsg, json!({"GroupId": g, "MsgList": [item(4), item(5)]})).unwrap();
        assert_eq!(good["ImportMsgResult"][1]["MsgSeq"], 2);
    }

    fn joined(state: &mut State, body: Value) -> Answer {
        run(state, Command::GetJoinedGroupList, body)
    }

    fn ids(answer: &Map<String, Value>) -> Vec<String> {
        answer["GroupIdList"].as_array().unwrap().iter().map(|g| g["GroupId"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn joined_groups_page_in_creation_order_and_count_them_all() {
        let mut s = State::default();
        let mine: Vec<String> = (0..7)
            .map(|i| {
                let body = json!({"Type": "Public", "Name": format!("g{i}"), "MemberList": [{"Member_Account": "m"}]});
                run(&mut s, Command::CreateGroup, body).unwrap()["GroupId"].as_str().unwrap().to_owned()
            })
            .collect();
        group(&mut s, "Public"); // m is not in it
        let owned = run(&mut s, Command::CreateGroup, json!({"Type": "Public", "Name": "o", "Owner_Account": "m"}));
        let owned = owned.unwrap()["GroupId"].as_str().unwrap().to_owned();
        let all = joined(&mut s, json!({"Member_Account": "m"})).unwrap();
        assert_eq!(all["TotalCount"], 8);
        assert_eq!(ids(&all), [mine.clone(), vec![owned]].concat());
        let page = joined(&mut s, json!({"Member_Account": "m", "Limit": 3, "Offset": 6})).unwrap();
        assert_eq!(page["TotalCount"], 8, "TotalCount ignores the page");
        assert_eq!(ids(&page).len(), 2);
        let beyond = joined(&mut s, json!({"Member_Account": "m", "Limit": 3, "Offset": 80})).unwrap();
        assert!(ids(&beyond).is_empty());
        assert_eq!(joined(&mut s, json!({"Member_Account": "nobody"})).unwrap()["TotalCount"], 0);
    }

    #[test]
    fn joined_groups_leave_out_what_tencent_leaves_out_by_default() {
        let mut s = State::default();
        let make = |s: &mut State, kind: &str| {
            let body = json!({"Type": kind, "Name": "g", "MemberList": [{"Member_Account": "m"}]});
            run(s, Command::CreateGroup, body).unwrap()["GroupId"].as_str().unwrap().to_owned()
        };
        let public = make(&mut s, "Public");
        let live = make(&mut s, "AVChatRoom");
        let work = make(&mut s, "Work");
        let listed = |s: &mut State, body: Value| ids(&joined(s, body).unwrap());
        assert_eq!(listed(&mut s, json!({"Member_Account": "m"})), std::slice::from_ref(&public));
        assert_eq!(listed(&mut s, json!({"Member_Account": "m", "WithHugeGroups": 1})), [public.clone(), live.clone()]);
        assert_eq!(
            listed(&mut s, json!({"Member_Account": "m", "WithNoActiveGroups": 1})),
            [public.clone(), work.clone()]
        );
        send(&mut s, &work, "m", None); // the first message makes the Work group active
        assert_eq!(listed(&mut s, json!({"Member_Account": "m"})), [public, work.clone()]);
        assert_eq!(listed(&mut s, json!({"Member_Account": "m", "GroupType": "AVChatRoom"})), [live]);
        assert_eq!(listed(&mut s, json!({"Member_Account": "m", "GroupType": "Private"})), [work]);
        let typed = joined(
            &mut s,
            json!({"Member_Account": "m", "Limit": 1, "ResponseFilter": {"GroupBaseInfoFilter": ["Type", "Name"]}}),
        );
        assert_eq!(typed.unwrap()["GroupIdList"][0]["Type"], "Public");
    }

    #[test]
    fn joined_groups_refuse_bad_accounts_and_paging() {
        let mut s = State::default();
        for (body, code) in [
            (json!({}), 10004),
            (json!({"Member_Account": ""}), 10004),
            (json!({"Member_Account": 7}), 60015),
            (json!({"Member_Account": "x".repeat(33)}), 10004),
            (json!({"Member_Account": "m", "Limit": 0}), 10004),
            (json!({"Member_Account": "m", "Limit": 5001}), 10004),
            (json!({"Member_Account": "m", "Limit": -1}), 10004),
            (json!({"Member_Account": "m", "Offset": "0"}), 10004),
            (json!({"Member_Account": "m", "GroupType": "Nope"}), 10004),
            (json!({"Member_Account": "m", "WithHugeGroups": 2}), 10004),
        ] {
            assert_eq!(joined(&mut s, body.clone()).unwrap_err().code, code, "{body}");
        }
        assert!(joined(&mut s, json!({"Member_Account": "m", "Limit": 5000})).is_ok());
    }

    #[test]
    fn get_topic_lists_a_communitys_topics() {
        let mut s = State::default();
        let (g, t) = community_with_topic(&mut s);
        let all = run(&mut s, Command::GetTopic, json!({"GroupId": g})).unwrap();
        assert_eq!(all["TopicAndSelfInfo"][0]["TopicInfo"]["TopicId"], t.as_str());
        assert_eq!(all["TopicAndSelfInfo"][0]["TopicInfo"]["TopicName"], "news");
        let some = run(&mut s, Command::GetTopic, json!({"GroupId": g, "TopicIdList": [t, "nope"]})).unwrap();
        assert_eq!(some["TopicAndSelfInfo"][1]["ErrorCode"], 10010);
        let plain = group(&mut s, "Community");
        assert_eq!(run(&mut s, Command::GetTopic, json!({"GroupId": plain})).unwrap_err().code, 10007);
        assert_eq!(run(&mut s, Command::GetTopic, json!({"GroupId": "nope"})).unwrap_err().code, 10010);
        assert_eq!(Command::resolve(TOPIC_SERVICE, "get_topic"), Ok(Command::GetTopic));
        assert_eq!(Command::resolve(TOPIC_SERVICE, "nope").unwrap_err().code, 10003);
    }
}
