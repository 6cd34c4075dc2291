//! One request's way through the emulator: faults, then the checks in the order of spec §7
//! (query, UserSig, rate limit, command, admin, body), then the command; plus latency and the log.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::RequestRecord;
use super::faults::{Action, FaultBook};
use super::limiter::Limiter;
use super::state::{Caller, Command, Refusal, State};

/// Requests kept in the log by default; older ones are dropped first.
pub(crate) const MAX_LOG_RECORDS: usize = 100_000;
/// The longest request body the log keeps (parsed); a longer one is logged by its size.
pub(crate) const MAX_LOGGED_BODY_BYTES: usize = 64 * 1024;
/// The bodies the log keeps, in raw bytes all together; the oldest records go first beyond it.
pub(crate) const MAX_LOG_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Verified UserSigs remembered (then the memory is cleared and refilled).
const MAX_CACHED_SIGS: usize = 4096;

/// The answer the connection writes.
pub(crate) enum Reply {
    /// HTTP 200, the TIM envelope.
    Envelope { code: i64, info: String, json: Vec<u8> },
    /// Any status, any bytes.
    Raw { status: u16, content_type: &'static str, body: Vec<u8> },
    /// HTTP 200 announcing `promised` bytes, sending `body` (fewer), then closing.
    Truncated { body: Vec<u8>, promised: usize },
    /// HTTP 200 announcing `promised` bytes, sending `body` (fewer), then a TCP reset.
    Reset { body: Vec<u8>, promised: usize },
    /// HTTP 200, then header lines without end.
    EndlessHeaders,
    /// Any status: the head at once, then the body one byte per `pause`.
    Trickled { status: u16, content_type: &'static str, body: Vec<u8>, pause: Duration },
    /// Close the connection without a word.
    Drop,
}

impl Reply {
    /// The HTTP status this reply sends (None when the connection is dropped).
    pub(crate) fn http_status(&self) -> Option<u16> {
        match self {
            Reply::Envelope { .. } | Reply::Truncated { .. } | Reply::Reset { .. } => Some(200),
            Reply::Raw { status, .. } | Reply::Trickled { status, .. } => Some(*status),
            Reply::EndlessHeaders => Some(200),
            Reply::Drop => None,
        }
    }
}

/// The request body as read from the connection.
pub(crate) enum Body {
    Bytes(Vec<u8>),
    /// Longer than the connection accepts; not read.
    TooLong,
}

/// Everything the server threads share.
pub(crate) struct Shared {
    pub(crate) sdkappid: u64,
    pub(crate) secret_key: String,
    pub(crate) admins: Vec<String>,
    pub(crate) started: Instant,
    pub(crate) head_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    latency_nanos: AtomicU64,
    limits: Mutex<Limits>,
    pub(crate) faults: FaultBook,
    state: Mutex<State>,
    log: Mutex<Log>,
    log_capacity: std::sync::atomic::AtomicUsize,
    next_id: AtomicU64,
    /// SHA-256 of (identifier, UserSig) → when it expires. Holds no UserSig.
    verified: Mutex<HashMap<[u8; 32], u64>>,
    stopping: AtomicBool,
    stop_lock: Mutex<()>,
    stop_signal: Condvar,
}

/// The quotas: one per command (60007), and one for the app (60011).
struct Limits {
    per_command: Option<f64>,
    commands: HashMap<String, Limiter>,
    app: Limiter,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fields of the query string that matter (first occurrence of each, percent-decoded).
#[derive(Default)]
struct Query {
    sdkappid: Option<String>,
    identifier: Option<String>,
    usersig: Option<String>,
    random: Option<String>,
    contenttype: Option<String>,
}

impl Query {
    fn parse(query: &str) -> Query {
        let mut q = Query::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                "sdkappid" => &mut q.sdkappid,
                "identifier" => &mut q.identifier,
                "usersig" => &mut q.usersig,
                "random" => &mut q.random,
                "contenttype" => &mut q.contenttype,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(percent_decode(value));
            }
        }
        q
    }

    /// `random` as a u32: digits only, in range.
    fn random(&self) -> Option<u32> {
        let r = self.random.as_deref()?;
        if r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        r.parse().ok()
    }
}

/// Decodes `%XX` and `+` (as a space). Invalid escapes stay as they are.
fn percent_decode(s: &str) -> String {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `/v4/{service}/{command}` (anything else gives what it can, for the log).
fn service_and_command(path: &str) -> (String, String, bool) {
    let mut parts = path.trim_start_matches('/').split('/');
    let (v4, service, command, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
    let well_formed = v4 == Some("v4")
        && service.is_some_and(|s| !s.is_empty())
        && command.is_some_and(|c| !c.is_empty())
        && rest.is_none();
    (service.unwrap_or("").to_owned(), command.unwrap_or("").to_owned(), well_formed)
}

/// The envelope, with the extra fields of the answer after it.
fn envelope(code: i64, info: &str, extra: &serde_json::Map<String, Value>) -> Vec<u8> {
    let status = if code == 0 { "OK" } else { "FAIL" };
    let mut out = format!("{{\"ActionStatus\":\"{status}\",\"ErrorInfo\":");
    out.push_str(&Value::String(info.to_owned()).to_string());
    out.push_str(&format!(",\"ErrorCode\":{code}"));
    for (name, value) in extra {
        out.push(',');
        out.push_str(&Value::String(name.clone()).to_string());
        out.push(':');
        out.push_str(&value.to_string());
    }
    out.push('}');
    out.into_bytes()
}

/// What a request carries, for the checks.
struct Request<'a> {
    method: &'a str,
    well_formed: bool,
    query: &'a Query,
    body: &'a Body,
    json: Option<&'a Value>,
}

fn outcome_reply(outcome: Result<serde_json::Map<String, Value>, Refusal>) -> Reply {
    match outcome {
        Ok(extra) => Reply::Envelope { code: 0, info: String::new(), json: envelope(0, "", &extra) },
        Err(r) => refusal_reply(r),
    }
}

fn refusal_reply(r: Refusal) -> Reply {
    let json = envelope(r.code, &r.info, &serde_json::Map::new());
    Reply::Envelope { code: r.code, info: r.info, json }
}

/// The page a gateway sends with an error status.
pub(crate) fn html_page(status: u16) -> Vec<u8> {
    let title = format!("{status} {}", super::http::reason(status));
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n\
         <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    .into_bytes()
}

impl Shared {
    pub(crate) fn new(config: &super::EmulatorConfig) -> Shared {
        Shared {
            sdkappid: config.sdkappid,
            secret_key: config.secret_key.clone(),
            admins: config.admins.clone(),
            started: Instant::now(),
            head_timeout: config.head_timeout,
            idle_timeout: config.idle_timeout,
            latency_nanos: AtomicU64::new(duration_nanos(config.latency)),
            limits: Mutex::new(Limits {
                per_command: config.rate_limit,
                commands: HashMap::new(),
                app: Limiter::new(config.app_rate_limit),
            }),
            faults: FaultBook::default(),
            state: Mutex::new(State::default()),
            log: Mutex::new(Log::default()),
            log_capacity: std::sync::atomic::AtomicUsize::new(MAX_LOG_RECORDS),
            next_id: AtomicU64::new(0),
            verified: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            stop_lock: Mutex::new(()),
            stop_signal: Condvar::new(),
        }
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        self.latency_nanos.store(duration_nanos(latency), Ordering::Relaxed);
    }

    pub(crate) fn set_rate_limit(&self, per_second: Option<f64>) {
        let mut limits = lock(&self.limits);
        limits.per_command = per_second;
        for limiter in limits.commands.values_mut() {
            limiter.set(per_second);
        }
    }

    pub(crate) fn set_app_rate_limit(&self, per_second: Option<f64>) {
        lock(&self.limits).app.set(per_second);
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Runs a command for a seeding helper: same rules as over HTTP, as the first admin.
    pub(crate) fn execute_as_admin(
        &self,
        command: Command,
        body: &Value,
    ) -> crate::Result<serde_json::Map<String, Value>> {
        let identifier = self.admins.first().map_or("administrator", String::as_str);
        let caller = Caller { identifier, admins: &self.admins, now: crate::usersig::unix_now() };
        let Value::Object(body) = body else {
            return Err(crate::Error::api(10004, "the request body must be a JSON object"));
        };
        self.state().execute(command, body, &caller).map_err(|r| crate::Error::api(r.code, r.info))
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    pub(crate) fn stop(&self) {
        let _guard = lock(&self.stop_lock);
        self.stopping.store(true, Ordering::Release);
        self.stop_signal.notify_all();
    }

    /// Sleeps `d`, or less when the emulator stops. Returns whether it is still running.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        if d.is_zero() {
            return !self.stopping();
        }
        let guard = lock(&self.stop_lock);
        // A delay too long to add to now lasts until the emulator stops.
        let deadline = Instant::now().checked_add(d);
        let mut guard = guard;
        while !self.stopping() {
            let now = Instant::now();
            let left = match deadline {
                Some(deadline) if now >= deadline => break,
                Some(deadline) => deadline - now,
                None => Duration::from_secs(3600),
            };
            guard = self.stop_signal.wait_timeout(guard, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        !self.stopping()
    }

    pub(crate) fn since_start(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.started)
    }

    /// Stamps an arrival under the limiters' lock (so stamps and the limiters' decisions come in
    /// the same order); counts it against the app's and the command's quota when `count` names
    /// the command. Returns the stamp and whether the request is admitted. A request refused by
    /// one quota is counted by neither.
    fn stamp_arrival(&self, count: Option<&str>) -> (Instant, Result<(), Refusal>) {
        let mut guard = lock(&self.limits);
        let now = Instant::now();
        let Some(command) = count else { return (now, Ok(())) };
        let limits = &mut *guard;
        if !limits.app.has_room(now) {
            let limit = limits.app.per_second().unwrap_or(0.0);
            let info = format!("app frequency over limit: at most {limit} requests per second for this SDKAppID");
            return (now, Err(Refusal::new(60011, info)));
        }
        let per_command = limits.per_command;
        let lane = match limits.commands.get_mut(command) {
            Some(lane) => lane,
            None => limits.commands.entry(command.to_owned()).or_insert_with(|| Limiter::new(per_command)),
        };
        if !lane.has_room(now) {
            let limit = lane.per_second().unwrap_or(0.0);
            let info = format!(
                "REST API call frequency over limit: at most {limit} requests per second for {command} in this app"
            );
            return (now, Err(Refusal::new(60007, info)));
        }
        lane.admit(now);
        limits.app.admit(now);
        (now, Ok(()))
    }

    /// Handles one request read in full: faults, checks, command, latency. Returns the reply to
    /// write and the log record (without `finished` and `http_status`).
    pub(crate) fn handle(&self, method: &str, target: &str, body: &Body) -> (Reply, RequestRecord) {
        let latency = self.latency();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = Query::parse(query);
        let (service, command, well_formed) = service_and_command(path);
        let json: Option<Value> = match body {
            Body::Bytes(bytes) => serde_json::from_slice(bytes).ok(),
            Body::TooLong => None,
        };
        let mut record = RequestRecord {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            service,
            command,
            random: query.random(),
            identifier: query.identifier.clone(),
            sdkappid: query.sdkappid.as_deref().and_then(|s| s.parse().ok()),
            error_code: None,
            error_info: None,
            http_status: None,
            fault: None,
            arrived: Duration::ZERO,
            finished: Duration::ZERO,
            body: None,
        };
        let request = Request { method, well_formed, query: &query, body, json: json.as_ref() };

        let mut slow_body = None;
        let reply = match self.faults.take(&record.service, &record.command) {
            None => {
                let (arrived, outcome) = self.process(&request, &record);
                record.arrived = self.since_start(arrived);
                outcome_reply(outcome)
            }
            Some(fault) => {
                record.arrived = self.since_start(self.stamp_arrival(None).0);
                record.fault = Some(fault.describe());
                slow_body = fault.slow_body;
                if let Some(delay) = fault.delay {
                    self.sleep(delay);
                }
                match fault.action() {
                    Action::Drop => Reply::Drop,
                    Action::Reset => {
                        let full = envelope(0, "", &serde_json::Map::new());
                        Reply::Reset { body: full[..full.len() / 2].to_vec(), promised: full.len() }
                    }
                    Action::HttpStatus(status) => {
                        Reply::Raw { status, content_type: "text/html", body: html_page(status) }
                    }
                    Action::Truncate(bytes) => {
                        let full = bytes.map_or_else(|| envelope(0, "", &serde_json::Map::new()), <[u8]>::to_vec);
                        let promised = full.len().max(2);
                        Reply::Truncated { body: full[..full.len() / 2].to_vec(), promised }
                    }
                    Action::Body(bytes) => {
                        Reply::Raw { status: 200, content_type: "application/json", body: bytes.to_vec() }
                    }
                    Action::ErrorCode(code, info) => {
                        let json = envelope(code, info, &serde_json::Map::new());
                        Reply::Envelope { code, info: info.to_owned(), json }
                    }
                    Action::EchoSecrets => {
                        let sig = query.usersig.as_deref().unwrap_or("");
                        let info = format!(
                            "bad request usersig: {sig} {{\"usersig\":\"{sig}\"}} {sig} (key {})",
                            self.secret_key
                        );
                        let json = envelope(10004, &info, &serde_json::Map::new());
                        // The log keeps no secret: it records the code only.
                        Reply::Envelope { code: 10004, info: "echoed the request's secrets".to_owned(), json }
                    }
                    Action::EndlessHeaders => Reply::EndlessHeaders,
                    // A delay alone: handled normally once it is over (and counted then by the limit).
                    Action::None => outcome_reply(self.process(&request, &record).1),
                }
            }
        };
        if let Reply::Envelope { code, info, .. } = &reply {
            record.error_code = Some(*code);
            record.error_info = Some(info.clone());
        }
        let reply = match (slow_body, reply) {
            (Some(pause), Reply::Envelope { json, .. }) => {
                Reply::Trickled { status: 200, content_type: "application/json", body: json, pause }
            }
            (Some(pause), Reply::Raw { status, content_type, body }) => {
                Reply::Trickled { status, content_type, body, pause }
            }
            (_, reply) => reply,
        };
        // A large body is not kept in the log: its size is (a 1 MiB body parsed is ~16 MB).
        record.body = match body {
            Body::Bytes(bytes) if bytes.len() > MAX_LOGGED_BODY_BYTES => Some(serde_json::json!({
                "_omitted": format!("{} bytes, over the {MAX_LOGGED_BODY_BYTES} bytes the log keeps of a body", bytes.len())
            })),
            _ => json,
        };
        self.sleep(latency);
        (reply, record)
    }

    /// The checks of spec §7, in order, then the command. Returns the arrival stamp too.
    fn process(
        &self,
        request: &Request<'_>,
        record: &RequestRecord,
    ) -> (Instant, Result<serde_json::Map<String, Value>, Refusal>) {
        // The checks before the rate limit depend on the request alone.
        let identity = self.check_query_and_usersig(request, record);
        let (arrived, admitted) = self.stamp_arrival(identity.is_ok().then_some(record.command.as_str()));
        let outcome = identity.and_then(|identifier| {
            admitted?;
            self.run_command(request, record, &identifier)
        });
        (arrived, outcome)
    }

    /// Method, query and UserSig; returns the identifier.
    fn check_query_and_usersig(&self, request: &Request<'_>, record: &RequestRecord) -> Result<String, Refusal> {
        let (method, query) = (request.method, request.query);
        if method != "POST" {
            return Err(Refusal::new(60002, format!("HTTP parse error: method {method} (TIM REST calls are POST)")));
        }
        match query.sdkappid.as_deref() {
            None | Some("") => return Err(Refusal::new(60012, "sdkappid is missing from the URL")),
            Some(s) if s.parse::<u64>().ok() != Some(self.sdkappid) => {
                return Err(Refusal::new(70020, format!("SDKAppID {s} not found")));
            }
            Some(_) => {}
        }
        if record.random.is_none() {
            return Err(Refusal::new(60002, "URL parse error: random must be a 32-bit unsigned integer"));
        }
        if query.contenttype.as_deref() != Some("json") {
            return Err(Refusal::new(60002, "URL parse error: contenttype must be json"));
        }
        let usersig = match query.usersig.as_deref() {
            None | Some("") => return Err(Refusal::new(70002, "UserSig is empty")),
            Some(sig) => sig,
        };
        let identifier = query.identifier.as_deref().unwrap_or("");
        self.verify_usersig(usersig, identifier)?;
        Ok(identifier.to_owned())
    }

    /// Path, admin, body, then the command itself.
    fn run_command(
        &self,
        request: &Request<'_>,
        record: &RequestRecord,
        identifier: &str,
    ) -> Result<serde_json::Map<String, Value>, Refusal> {
        if !request.well_formed {
            return Err(Refusal::new(60009, "wrong resource: the path must be /v4/{service}/{command}"));
        }
        let command = Command::resolve(&record.service, &record.command)?;
        if !self.admins.iter().any(|a| a == identifier) {
            return Err(Refusal::new(10007, format!("{identifier:?} is not an App admin; this command requires one")));
        }
        let body = match (request.body, request.json) {
            (Body::TooLong, _) => return Err(Refusal::new(80002, "request body too long")),
            (Body::Bytes(_), None) => return Err(Refusal::new(60003, "request JSON parse error")),
            (Body::Bytes(_), Some(Value::Object(object))) => object,
            (Body::Bytes(_), Some(_)) => {
                return Err(Refusal::new(10004, "invalid parameter: the request body must be a JSON object"));
            }
        };
        let caller = Caller { identifier, admins: &self.admins, now: crate::usersig::unix_now() };
        self.state().execute(command, body, &caller)
    }

    /// Verifies a UserSig, remembering good ones (only their expiry is checked again).
    fn verify_usersig(&self, usersig: &str, identifier: &str) -> Result<(), Refusal> {
        let now = crate::usersig::unix_now();
        let mut hasher = Sha256::new();
        hasher.update(identifier.as_bytes());
        hasher.update([0u8]);
        hasher.update(usersig.as_bytes());
        let key: [u8; 32] = hasher.finalize().into();
        if let Some(expires_at) = lock(&self.verified).get(&key).copied() {
            if now > expires_at {
                let e = crate::usersig::UserSigError::Expired { expires_at, now };
                return Err(Refusal::new(e.code(), e.to_string()));
            }
            return Ok(());
        }
        match crate::usersig::verify(usersig, self.sdkappid, &self.secret_key, identifier, now) {
            Ok(info) => {
                let mut verified = lock(&self.verified);
                if verified.len() >= MAX_CACHED_SIGS {
                    verified.clear();
                }
                verified.insert(key, info.expires_at());
                Ok(())
            }
            Err(e) => Err(Refusal::new(e.code(), e.to_string())),
        }
    }

    /// Logs a record whose request body had `body_bytes` bytes: the log keeps at most its capacity
    /// of records and [`MAX_LOG_BODY_BYTES`] of (kept) bodies, dropping the oldest first.
    pub(crate) fn record(&self, record: RequestRecord, body_bytes: usize) {
        let capacity = self.log_capacity.load(Ordering::Relaxed);
        let kept = if body_bytes > MAX_LOGGED_BODY_BYTES { 0 } else { body_bytes };
        let mut log = lock(&self.log);
        while log.records.len() >= capacity.max(1)
            || (!log.records.is_empty() && log.body_bytes + kept > MAX_LOG_BODY_BYTES)
        {
            log.pop_oldest();
        }
        if capacity > 0 {
            log.records.push_back(record);
            log.sizes.push_back(kept);
            log.body_bytes += kept;
        }
        log.written += 1;
    }

    pub(crate) fn set_log_capacity(&self, capacity: usize) {
        self.log_capacity.store(capacity, Ordering::Relaxed);
        let mut log = lock(&self.log);
        while log.records.len() > capacity {
            log.pop_oldest();
        }
    }

    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        let mut all: Vec<RequestRecord> = lock(&self.log).records.iter().cloned().collect();
        all.sort_by_key(|r| r.id);
        all
    }

    /// The records logged since `cursor` (a count of records ever logged, in the order they were
    /// logged), and the cursor to pass next time. Records that fell out of the log are gone.
    pub(crate) fn requests_since(&self, cursor: u64) -> (Vec<RequestRecord>, u64) {
        let log = lock(&self.log);
        let first = log.written - log.records.len() as u64; // the cursor of records[0]
        let skip = usize::try_from(cursor.saturating_sub(first)).unwrap_or(usize::MAX);
        (log.records.iter().skip(skip).cloned().collect(), log.written)
    }

    pub(crate) fn clear_requests(&self) {
        let mut log = lock(&self.log);
        log.records.clear();
        log.sizes.clear();
        log.body_bytes = 0;
    }
}

/// The request log: the latest records, the body bytes each keeps, and how many were ever logged.
#[derive(Default)]
struct Log {
    records: VecDeque<RequestRecord>,
    sizes: VecDeque<usize>,
    body_bytes: usize,
    written: u64,
}

impl Log {
    fn pop_oldest(&mut self) {
        self.records.pop_front();
        self.body_bytes -= self.sizes.pop_front().unwrap_or(0);
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_takes_the_first_of_each_and_decodes() {
        let q = Query::parse("random=12&sdkappid=1&identifier=a%20b+c&random=13&contenttype=json&x");
        assert_eq!(q.random(), Some(12));
        assert_eq!(q.identifier.as_deref(), Some("a b c"));
        assert_eq!(q.sdkappid.as_deref(), Some("1"));
        for bad in ["random=", "random=-1", "random=+1", "random=4294967296", "random=1.5", "random=%31"] {
            assert_eq!(Query::parse(bad).random(), if bad == "random=%31" { Some(1) } else { None }, "{bad}");
        }
        assert_eq!(Query::parse("random=4294967295").random(), Some(u32::MAX));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn paths() {
        assert_eq!(
            service_and_command("/v4/group_open_http_svc/create_group"),
            ("group_open_http_svc".into(), "create_group".into(), true)
        );
        assert!(!service_and_command("/v4/group_open_http_svc/create_group/").2);
        assert!(!service_and_command("/v5/a/b").2);
        assert!(!service_and_command("/").2);
    }

    #[test]
    fn envelope_keeps_its_order_then_extras() {
        let mut extra = serde_json::Map::new();
        extra.insert("GroupId".into(), Value::String("g\"".into()));
        let text = String::from_utf8(envelope(0, "", &extra)).unwrap();
        assert_eq!(text, r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"GroupId":"g\""}"#);
        let text = String::from_utf8(envelope(10010, "no", &serde_json::Map::new())).unwrap();
        assert_eq!(text, r#"{"ActionStatus":"FAIL","ErrorInfo":"no","ErrorCode":10010}"#);
    }
}
