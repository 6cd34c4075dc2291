//! A faithful local emulator of the TIM REST server (feature `emulator`).
//!
//! It serves `POST /v4/group_open_http_svc/{command}` (and `million_group_open_http_svc/get_topic`)
//! over plain HTTP on a loopback port, with the rules of `spec/tim-rest-api.md` §1, §2, §6 and the
//! choices of §7 (and of `docs/listing-endpoints.md`): UserSig verification (any
//! official library's format), the sdkappid and App admin checks, group types, per-group and
//! per-topic `MsgSeq`, the 1000-message window of `delete_group_msg_by_sender`, deleted messages
//! in history, the rate limit and the error codes. Besides that it has what tests need:
//! scripted [`Fault`]s, a fixed latency, a [`RequestRecord`] log (no secrets in it), and seeding
//! helpers that go through the same rules as the REST handlers.
//!
//! ```
//! use timrest::emulator::{Emulator, EmulatorConfig, GroupSpec};
//!
//! let emu = Emulator::start(EmulatorConfig::default())?;
//! let group = emu.create_group(&GroupSpec::new("Public"))?;
//! assert_eq!(emu.send_group_msg(&group, "spammer", "buy now", None)?, 1);
//! assert_eq!(emu.send_group_msg(&group, "alice", "hello", None)?, 2);
//! assert_eq!(emu.messages(&group, None, false)?.len(), 2);
//! println!("serving on {}", emu.base_url());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Checks, in order
//!
//! Every API outcome is HTTP 200 with `{"ActionStatus","ErrorInfo","ErrorCode"}`:
//! 1. a scripted fault for this command, if any (after its `delay`, it may answer instead);
//! 2. the method (`POST`, else 60002) and the query: `sdkappid` missing → 60012, not this app's →
//!    70020; `random` not a u32 or `contenttype` not `json` → 60002; `usersig` missing or empty → 70002;
//! 3. the UserSig (70003 undecodable, 70009 wrong key, 70013 identifier, 70014 sdkappid, 70001 expired);
//! 4. the rate limit (60007);
//! 5. the path: unknown service → 60009, unknown command → 10003;
//! 6. the identifier must be an App admin (10007);
//! 7. the body: not JSON → 60003, not an object or a required field missing → 10004, longer than
//!    1 MiB → 80002; then the command's own checks.
//!
//! ## Serving
//!
//! Plain HTTP/1.1 on `std::net` (parsing by `httparse`): one thread per connection, keep-alive,
//! pipelined requests answered in order, `Content-Length` or chunked bodies, no `Content-Type`
//! required. The latency and fault delays are slept on the connection's own thread, so requests
//! on different connections wait side by side (a client needs one connection per request in
//! flight, as HTTP/1.1 has it). At most 1024 connections at once; an idle one is closed after
//! 120 s. State sits behind one mutex held only while a command runs, never across a sleep.
//! UserSigs that verified are remembered (by a hash, never in clear), so a warm request costs
//! no zlib or HMAC work: tens of thousands of requests per second on loopback
//! (`examples/emulator_throughput.rs`).
//!
//! A scripted fault is looked up right after the query is read, before any check, so even a
//! request with a bad UserSig gets it and the log still shows its `random`.
//!
//! ## Emulator choices beyond spec §7
//!
//! - Server-made group IDs are `@TGS#` and a type character (`1` Private, `2` Public,
//!   `3` ChatRoom, `a` AVChatRoom, `b` BChatRoom) and 8 characters; Community IDs are
//!   `@TGS#_@TGS#c` and 11. Topic IDs are `{group}@TOPIC#_@TOPIC#c` and 11.
//! - A custom Community ID must start with `@TGS#_`; any other custom ID must not start with `@TGS#`;
//!   custom IDs are printable ASCII (else 10015). A destroyed group's ID may be used again.
//! - `TopicId` on a group without topic support → 10007; an unknown topic → 10010. Without
//!   `TopicId`, a command addresses the group's own messages, never its topics'.
//! - Senders need not be members. Only an App admin may post in a BChatRoom (10007). AVChatRoom and
//!   BChatRoom take `MsgSeq`s but store nothing: history is empty, deletion answers OK,
//!   import is refused with 10007.
//! - `group_msg_get_simple` lists newest first; `IsPlaceMsg` is 2 for deleted and recalled messages.
//!   `group_msg_recall` answers `RetCode` 10030 for a `MsgSeq` with no stored message, 10031 for
//!   one already deleted or recalled.
//! - `get_joined_group_list` and `get_topic` follow `docs/listing-endpoints.md`: members are the
//!   owner and the `MemberList`, groups are listed in creation order, AVChatRoom/BChatRoom and
//!   not-yet-active Work groups only when asked for.
//! - The log keeps the latest 100 000 requests ([`Emulator::set_log_capacity`] changes that).
//!   Bytes that are not HTTP get a 400 page and are not logged.

mod faults;
mod http;
mod limiter;
mod pipeline;
pub mod serve;
mod state;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

pub use faults::Fault;
use pipeline::Shared;
use state::Command;

/// The SDKAppID the emulator (and every official example) uses by default.
pub const DEMO_SDKAPPID: u64 = 1400000000;
/// The secret key of every official example (spec §4); the emulator's default.
pub const DEMO_SECRET_KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

/// How to start an [`Emulator`]. The default: demo sdkappid and key, the admin `administrator`,
/// 100 requests/s, no latency, `127.0.0.1`, a free port.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// The app's SDKAppID.
    pub sdkappid: u64,
    /// The app's secret key (UserSigs are checked against it). Never shown by `Debug`.
    pub secret_key: String,
    /// The App admin accounts (the only identifiers allowed to call).
    pub admins: Vec<String>,
    /// Requests admitted per second *for each command* (as Tencent counts its quota: per SDKAppID
    /// and API), in a sliding window of arrivals; over it, 60007. `None` = no limit.
    pub rate_limit: Option<f64>,
    /// Requests admitted per second for the whole app, every command together; over it, 60011.
    /// `None` (the default) = no app-wide limit.
    pub app_rate_limit: Option<f64>,
    /// A fixed delay before every answer (a far server). Requests wait concurrently.
    pub latency: Duration,
    /// How long a client may take to send a whole request head once it started one (a slow
    /// client cannot hold a connection slot for long: slowloris). Default 5 s.
    pub head_timeout: Duration,
    /// How long an idle keep-alive connection is kept between requests. Default 30 s.
    pub idle_timeout: Duration,
    /// The address to listen on.
    pub host: IpAddr,
    /// The port; 0 picks a free one.
    pub port: u16,
    /// Chaos: the share of requests (0 to 1; default 0) that answer a random fault instead of
    /// their answer: a dropped connection, a reset, a truncated body, HTTP 502, a slow body,
    /// 60007 or 10002, each as likely. Scripted faults ([`Emulator::inject`]) come first. The
    /// request log names the fault of each request.
    pub fault_rate: f64,
}

impl Default for EmulatorConfig {
    fn default() -> EmulatorConfig {
        EmulatorConfig {
            sdkappid: DEMO_SDKAPPID,
            secret_key: DEMO_SECRET_KEY.to_owned(),
            admins: vec!["administrator".to_owned()],
            rate_limit: Some(100.0),
            app_rate_limit: None,
            latency: Duration::ZERO,
            head_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            fault_rate: 0.0,
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("sdkappid", &self.sdkappid)
            .field("secret_key", &"<redacted>")
            .field("admins", &self.admins)
            .field("rate_limit", &self.rate_limit)
            .field("app_rate_limit", &self.app_rate_limit)
            .field("latency", &self.latency)
            .field("head_timeout", &self.head_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("fault_rate", &self.fault_rate)
            .finish()
    }
}

/// A group to create with [`Emulator::create_group`] (the fields of `create_group`).
#[derive(Clone, Debug, Default)]
pub struct GroupSpec {
    /// `Type`: Private, Public, ChatRoom, AVChatRoom, BChatRoom, Community (or Work, Meeting).
    pub group_type: String,
    /// A custom `GroupId`; `None` lets the emulator make one.
    pub group_id: Option<String>,
    /// `Name` (at most 30 bytes); empty means `"group"`.
    pub name: String,
    /// `Owner_Account`.
    pub owner: Option<String>,
    /// `MemberList`.
    pub members: Vec<String>,
    /// `SupportTopic` (Community only).
    pub support_topic: bool,
}

impl GroupSpec {
    /// A group of `group_type` named `"group"`, with a server-made ID.
    pub fn new(group_type: impl Into<String>) -> GroupSpec {
        GroupSpec { group_type: group_type.into(), name: "group".into(), ..GroupSpec::default() }
    }

    /// A Community group with topic support.
    pub fn community_with_topics() -> GroupSpec {
        GroupSpec { support_topic: true, ..GroupSpec::new("Community") }
    }

    /// The same spec with a custom group ID.
    pub fn with_id(mut self, group_id: impl Into<String>) -> GroupSpec {
        self.group_id = Some(group_id.into());
        self
    }
}

/// One request as the emulator saw it. Holds no secret: never the UserSig.
///
/// Serializes with `arrived` and `finished` as seconds (floats) since the emulator started.
#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    /// Arrival order, from 0.
    pub id: u64,
    /// The service of the path (`group_open_http_svc`), or what stood there.
    pub service: String,
    /// The command of the path (`delete_group_msg_by_sender`), or what stood there.
    pub command: String,
    /// The `random` query parameter, when it was a u32.
    pub random: Option<u32>,
    /// The `identifier` query parameter.
    pub identifier: Option<String>,
    /// The `sdkappid` query parameter, when it was a number.
    pub sdkappid: Option<u64>,
    /// The envelope's `ErrorCode` (0 for OK); `None` when no envelope was sent.
    pub error_code: Option<i64>,
    /// The envelope's `ErrorInfo`; `None` when no envelope was sent.
    pub error_info: Option<String>,
    /// The HTTP status sent; `None` when the connection was dropped.
    pub http_status: Option<u16>,
    /// The fault applied, described: `"error_code:10002"`, `"delay:200ms+drop"`, …
    pub fault: Option<String>,
    /// When the request was taken in (read in full, its UserSig checked), since the emulator
    /// started. For requests that reach the rate limit this is the very instant it counted, so
    /// the log shows exactly what the limit saw; a request with a fault is stamped before the
    /// fault's delay (and, for a delay alone, counted by the limit when the delay ends).
    #[serde(serialize_with = "as_seconds")]
    pub arrived: Duration,
    /// When the answer was ready and handed to the connection (after any delay and the latency),
    /// since the emulator started. The record is in the log before the client can read the answer.
    #[serde(serialize_with = "as_seconds")]
    pub finished: Duration,
    /// The request body, when it was JSON.
    pub body: Option<Value>,
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A running emulator: a TIM REST server on a local port, with its state in memory.
///
/// `Send + Sync`; share it by reference or in an `Arc`. Dropping it (or [`Emulator::shutdown`])
/// stops the server, closes its connections and joins its threads.
pub struct Emulator {
    shared: Arc<Shared>,
    server: Mutex<http::Server>,
    base_url: String,
    port: u16,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .field("sdkappid", &self.shared.sdkappid)
            .field("admins", &self.shared.admins)
            .finish_non_exhaustive()
    }
}

/// The longest latency, delay or timeout the emulator takes (one day).
pub const MAX_DELAY: Duration = Duration::from_secs(86_400);

/// A rate limit the emulator takes: None, 0 (admit nothing), or 0.001 to 1e9 per second.
pub fn check_rate(name: &str, limit: Option<f64>) -> Result<(), String> {
    match limit {
        Some(n) if !(n == 0.0 || (n.is_finite() && (0.001..=1e9).contains(&n))) => Err(format!(
            "{name} must be 0 or a number of requests per second from 0.001 to 1e9 (None: no limit), not {n}"
        )),
        _ => Ok(()),
    }
}

/// A delay the emulator takes: at most [`MAX_DELAY`].
pub fn check_delay(name: &str, d: Duration) -> Result<(), String> {
    if d > MAX_DELAY { Err(format!("{name} must be at most one day, not {d:?}")) } else { Ok(()) }
}

/// A seed for chaos: the clock, so that each run meets other faults.
fn chaos_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
}

fn check_share(name: &str, share: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&share) { Ok(()) } else { Err(format!("{name} must be from 0 to 1, not {share}")) }
}

fn check_settings(config: &EmulatorConfig) -> Result<(), String> {
    check_rate("rate_limit", config.rate_limit)?;
    check_rate("app_rate_limit", config.app_rate_limit)?;
    check_delay("latency", config.latency)?;
    check_share("fault_rate", config.fault_rate)?;
    for (name, d) in [("head_timeout", config.head_timeout), ("idle_timeout", config.idle_timeout)] {
        check_delay(name, d)?;
        if d.is_zero() {
            return Err(format!("{name} must be more than zero"));
        }
    }
    Ok(())
}

impl Emulator {
    /// Binds `config.host:config.port` and starts serving.
    ///
    /// Fails with `InvalidInput` for a rate limit that is negative, NaN or below 0.001/s (but not
    /// 0), a latency or timeout over a day, and with the bind error when the address is taken.
    pub fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        check_settings(&config).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind((config.host, config.port))?;
        let shared = Arc::new(Shared::new(&config));
        shared.faults.set_chaos(config.fault_rate, chaos_seed());
        let server = http::Server::start(listener, shared.clone())?;
        let addr = server.addr();
        let host = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
            IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let base_url = format!("http://{host}:{}", addr.port());
        Ok(Emulator { shared, server: Mutex::new(server), base_url, port: addr.port() })
    }

    /// `http://127.0.0.1:PORT` (the address to give a client as its base URL).
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The app's SDKAppID.
    pub fn sdkappid(&self) -> u64 {
        self.shared.sdkappid
    }

    /// The app's secret key (to make UserSigs for it).
    pub fn secret_key(&self) -> &str {
        &self.shared.secret_key
    }

    /// The App admin accounts.
    pub fn admins(&self) -> Vec<String> {
        self.shared.admins.clone()
    }

    /// Creates a group (as `create_group` would); returns its ID.
    ///
    /// Errors are the API's: 10004 for a bad type or name, 10015 for a malformed custom ID,
    /// 10021 for a custom ID already used.
    pub fn create_group(&self, spec: &GroupSpec) -> crate::Result<String> {
        let mut body = json!({
            "Type": spec.group_type,
            "Name": if spec.name.is_empty() { "group" } else { spec.name.as_str() },
        });
        if let Some(id) = &spec.group_id {
            body["GroupId"] = json!(id);
        }
        if let Some(owner) = &spec.owner {
            body["Owner_Account"] = json!(owner);
        }
        if !spec.members.is_empty() {
            body["MemberList"] = spec.members.iter().map(|m| json!({"Member_Account": m})).collect();
        }
        if spec.support_topic {
            body["SupportTopic"] = json!(1);
        }
        let answer = self.shared.execute_as_admin(Command::CreateGroup, &body)?;
        Ok(answer.get("GroupId").and_then(Value::as_str).unwrap_or_default().to_owned())
    }

    /// Creates a topic in a Community group made with topic support (as `create_topic` would);
    /// returns its ID. `topic_id` must be the group ID, `@TOPIC#_` and a name.
    pub fn create_topic(&self, group_id: &str, name: &str, topic_id: Option<&str>) -> crate::Result<String> {
        let mut body = json!({"GroupId": group_id, "TopicName": name});
        if let Some(id) = topic_id {
            body["TopicId"] = json!(id);
        }
        let answer = self.shared.execute_as_admin(Command::CreateTopic, &body)?;
        Ok(answer.get("TopicId").and_then(Value::as_str).unwrap_or_default().to_owned())
    }

    /// Dissolves a group (as `destroy_group` would); later calls on it answer 10010.
    pub fn destroy_group(&self, group_id: &str) -> crate::Result<()> {
        self.shared.execute_as_admin(Command::DestroyGroup, &json!({"GroupId": group_id})).map(|_| ())
    }

    /// Posts a text message from `from` (as `send_group_msg` would); returns its `MsgSeq`.
    pub fn send_group_msg(&self, group_id: &str, from: &str, text: &str, topic_id: Option<&str>) -> crate::Result<u64> {
        let mut body = json!({
            "GroupId": group_id,
            "From_Account": from,
            "Random": rand::random::<u32>(),
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}],
        });
        if let Some(id) = topic_id {
            body["TopicId"] = json!(id);
        }
        let answer = self.shared.execute_as_admin(Command::SendGroupMsg, &body)?;
        Ok(answer.get("MsgSeq").and_then(Value::as_u64).unwrap_or_default())
    }

    /// Every stored message of a group (or of one topic), **oldest first**, each shaped like a
    /// `group_msg_get_simple` `RspMsgList` item (`From_Account`, `IsPlaceMsg`, `MsgBody`,
    /// `MsgPriority`, `MsgRandom`, `MsgSeq`, `MsgTimeStamp`). Deleted and recalled messages
    /// appear only with `include_deleted` (then with `IsPlaceMsg` 2 and an empty `MsgBody`).
    pub fn messages(&self, group_id: &str, topic_id: Option<&str>, include_deleted: bool) -> crate::Result<Vec<Value>> {
        self.shared.state().messages(group_id, topic_id, include_deleted).map_err(|r| crate::Error::api(r.code, r.info))
    }

    /// How many times `kick` ended `account`'s login state.
    pub fn kick_count(&self, account: &str) -> u64 {
        self.shared.state().kick_count(account)
    }

    /// The members of a group (its owner first, when it has one), as `delete_group_member` and
    /// `get_joined_group_list` see them.
    pub fn members(&self, group_id: &str) -> crate::Result<Vec<String>> {
        self.shared.state().members(group_id).map_err(|r| crate::Error::api(r.code, r.info))
    }

    /// Scripts `fault` for the next `fault.times` requests of `command` (`"delete_group_msg_by_sender"`,
    /// `"group_open_http_svc/create_group"`, or `"*"` for any). Faults apply in the order they were
    /// injected; see [`Fault`] for what each field does.
    pub fn inject(&self, command: &str, fault: Fault) {
        self.shared.faults.inject(command, fault);
    }

    /// Sets the chaos share ([`EmulatorConfig::fault_rate`]) for requests arriving from now on.
    /// Fails for a share outside 0 to 1.
    pub fn set_fault_rate(&self, rate: f64) -> std::io::Result<()> {
        check_share("fault_rate", rate).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        self.shared.faults.set_chaos(rate, chaos_seed());
        Ok(())
    }

    /// Forgets every scripted fault not yet used.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Changes the delay before every answer (for requests arriving from now on).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_latency(latency);
    }

    /// Changes the per-command rate limit (`None` = no limit). 0, a negative number or NaN admits
    /// nothing.
    pub fn set_rate_limit(&self, per_second: Option<f64>) {
        self.shared.set_rate_limit(per_second);
    }

    /// Changes the app-wide rate limit, every command together (`None` = none; over it, 60011).
    pub fn set_app_rate_limit(&self, per_second: Option<f64>) {
        self.shared.set_app_rate_limit(per_second);
    }

    /// The request log, in arrival order (the latest 100 000 requests, or as set by
    /// [`Emulator::set_log_capacity`]). A request is in the log before its client can read the answer.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }

    /// How many requests the log keeps (the latest ones; default 100 000, 0 keeps none).
    /// Long benchmarks against an in-process emulator may want less memory spent on it.
    pub fn set_log_capacity(&self, capacity: usize) {
        self.shared.set_log_capacity(capacity);
    }

    /// The records logged since `cursor`, in the order they were logged (requests finish out of
    /// arrival order), and the cursor for the next call: start with 0, then pass what the last
    /// call returned, to follow the log without reading it whole (`timrest emulator --log`).
    pub fn requests_since(&self, cursor: u64) -> (Vec<RequestRecord>, u64) {
        self.shared.requests_since(cursor)
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Stops the server, closes its connections and joins its threads (as dropping it does).
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.stop();
        self.server.lock().unwrap_or_else(|p| p.into_inner()).stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_is_send_and_sync_and_debug_hides_the_key() {
        fn check<T: Send + Sync>() {}
        check::<Emulator>();
        let text = format!("{:?}", EmulatorConfig::default());
        assert!(!text.contains(DEMO_SECRET_KEY));
        assert!(text.contains("redacted"));
    }

    #[test]
    fn seeding_goes_through_the_rules() {
        let emu = Emulator::start(EmulatorConfig::default()).unwrap();
        let g = emu.create_group(&GroupSpec::new("Public").with_id("custom")).unwrap();
        assert_eq!(g, "custom");
        assert_eq!(emu.create_group(&GroupSpec::new("Public").with_id("custom")).unwrap_err().code(), Some(10021));
        assert_eq!(emu.create_group(&GroupSpec::new("Public").with_id("@TGS#x")).unwrap_err().code(), Some(10015));
        assert_eq!(emu.create_topic(&g, "t", None).unwrap_err().code(), Some(10007));
        let c = emu.create_group(&GroupSpec::community_with_topics()).unwrap();
        let t = emu.create_topic(&c, "news", Some(&format!("{c}@TOPIC#_news"))).unwrap();
        assert_eq!(emu.send_group_msg(&c, "a", "x", Some(&t)).unwrap(), 1);
        emu.destroy_group(&g).unwrap();
        assert_eq!(emu.messages(&g, None, false).unwrap_err().code(), Some(10010));
        let b = emu.create_group(&GroupSpec::new("BChatRoom")).unwrap();
        assert_eq!(emu.send_group_msg(&b, "someone", "x", None).unwrap_err().code(), Some(10007));
        assert_eq!(emu.send_group_msg(&b, "administrator", "x", None).unwrap(), 1);
        assert!(emu.messages(&b, None, true).unwrap().is_empty());
    }
}
