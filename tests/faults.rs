//! Reliability of the Rust face: the fault matrix of `tests/faults.json` (the one table that the
//! C and Python faces and `docs/faults.md` also use), bad arguments and absurd settings, and the
//! emulator under load.
//!
//! Every case talks real HTTP to the emulator on loopback (or to a port where nothing listens).
//! Times are asserted only as upper bounds with a generous slack: a call must come back, within
//! its deadline plus `settings.slack_ms`, however loaded the machine.
//!
//! `UPDATE_DOCS=1 cargo test --features emulator --test faults` rewrites the matrix in
//! `docs/faults.md` from `tests/faults.json`.
//!
//! `TIMREST_STRESS_SECS=20` makes the load test run 20 s instead of 3 (`scripts/stress.sh`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use timrest::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, Fault, GroupSpec};
use timrest::error::KINDS;
use timrest::{Client, ClientBuilder, Defaults, DeleteBySender, ErrorKind};

const DELETE: &str = "delete_group_msg_by_sender";
const SERVICE: &str = "group_open_http_svc";

// ---------------------------------------------------------------------------------------------
// The shared table

#[path = "support/fault_table.rs"]
mod fault_table;

use fault_table::{Case, cases, fault_of, kind_by_name, refused_port, setting, table};

/// Waits until the log holds at least `n` deletions (a delayed answer is logged when it is
/// written, which may be after the client gave up on it), then returns them.
fn deletions_at_least(emu: &Emulator, n: usize) -> Vec<timrest::emulator::RequestRecord> {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let sent: Vec<_> = emu.requests().into_iter().filter(|r| r.command == DELETE).collect();
        if sent.len() >= n || Instant::now() > give_up {
            return sent;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs one case; returns what went wrong (empty when it passed).
fn run_case(table: &Value, case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(format!("{}: {what}", case.id));
        }
    };
    let ms = |name: &str| Duration::from_millis(setting(table, name));
    let deadline = ms("deadline_ms");
    let fault = fault_of(&case.setup, setting(table, "max_response_bytes"));
    let emu = Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() }).expect("emulator");
    let group = emu.create_group(&GroupSpec::new("Public")).expect("group");
    emu.send_group_msg(&group, "spammer", "spam", None).expect("seed");
    let base_url = match &fault {
        Some(fault) => {
            emu.inject(DELETE, fault.clone());
            emu.base_url()
        }
        None => format!("http://127.0.0.1:{}", refused_port()),
    };
    let client = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url(base_url)
        .rate_limit(None)
        .max_retries(setting(table, "max_retries") as u32)
        .timeout(ms("timeout_ms"))
        .connect_timeout(ms("connect_timeout_ms"))
        .deadline(deadline)
        .build()
        .expect("client");

    let started = Instant::now();
    let result = client.delete_group_msg_by_sender(&group, "spammer");
    let took = started.elapsed();
    let Err(e) = result else {
        check(false, "the call succeeded".into());
        return problems;
    };
    let kind = kind_by_name(&case.kind);
    check(e.kind() == kind, format!("kind {} (expected {}): {e}", e.kind(), case.kind));
    check(e.code() == case.code, format!("code {:?} (expected {:?}): {e}", e.code(), case.code));
    check(e.http_status() == case.http, format!("http {:?} (expected {:?})", e.http_status(), case.http));
    check(e.attempts() == case.attempts, format!("attempts {} (expected {}): {e}", e.attempts(), case.attempts));
    check(e.is_retryable() == case.retried, format!("retryable {} (expected {})", e.is_retryable(), case.retried));
    check(!e.info().is_empty(), "empty message".into());
    // Hostile servers: no control character in the message, no secret anywhere in the error.
    let shown = e.to_string();
    check(!shown.chars().any(char::is_control), format!("a control character in the message: {shown:?}"));
    let everything = format!("{shown} {e:?} {}", e.info());
    check(
        !everything.contains(timrest::emulator::DEMO_SECRET_KEY) && !everything.contains("eJ"),
        format!("a secret in the error: {everything}"),
    );
    check(took <= deadline + ms("slack_ms"), format!("took {took:?}, deadline {deadline:?}"));
    check(e.elapsed().is_some_and(|d| d <= took), format!("elapsed {:?} > {took:?}", e.elapsed()));
    if fault.is_some() {
        // The emulator saw exactly the attempts the error reports; the error's random is the last one's.
        let sent = deletions_at_least(&emu, case.attempts as usize);
        check(sent.len() == case.attempts as usize, format!("emulator saw {} requests", sent.len()));
        check(sent.iter().all(|r| r.fault.is_some()), "a request met no fault".into());
        check(
            e.random() == sent.last().and_then(|r| r.random),
            format!("random {:?}, log {:?}", e.random(), sent.last().map(|r| r.random)),
        );
        let randoms: HashSet<_> = sent.iter().filter_map(|r| r.random).collect();
        check(randoms.len() == sent.len(), "a random was sent twice".into());
    } else {
        check(e.random().is_some(), "no random kept for a request that was never answered".into());
    }
    problems
}

#[test]
fn the_table_is_consistent_with_the_code_table() {
    let table = table();
    let cases = cases(&table);
    assert_eq!(setting(&table, "max_response_bytes"), Defaults::MAX_RESPONSE_BYTES);
    let mut ids = HashSet::new();
    for case in &cases {
        assert!(ids.insert(case.id.clone()), "{} twice", case.id);
        let kind = kind_by_name(&case.kind);
        assert_eq!(kind.info().python_class, case.python, "{}", case.id);
        assert_eq!(kind.is_retryable(), case.retried, "{}", case.id);
        let max = 1 + setting(&table, "max_retries") as u32;
        let expected_attempts = match kind.retry() {
            timrest::Retry::No => 1,
            timrest::Retry::AfterResign => 2,
            _ => max,
        };
        assert_eq!(case.attempts, expected_attempts, "{}", case.id);
        if let Some(code) = case.code {
            assert_eq!(ErrorKind::from_code(code), kind, "{}", case.id);
        }
    }
    // Every class of server code has a row.
    for row in KINDS.iter().filter(|r| !r.codes.is_empty() || r.kind == ErrorKind::Api) {
        assert!(cases.iter().any(|c| c.kind == row.name && c.code.is_some()), "no code case for {}", row.name);
    }
    for kind in [ErrorKind::Transport, ErrorKind::Timeout, ErrorKind::Protocol] {
        assert!(cases.iter().any(|c| c.kind == kind.name()), "no case for {kind}");
    }
}

#[test]
fn fault_matrix() {
    let table = table();
    let cases = cases(&table);
    // Each case has its own emulator: run them side by side (the slow ones take a few seconds).
    let problems: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases.iter().map(|case| s.spawn(|| run_case(&table, case))).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|_| vec!["a case panicked".into()])).collect()
    });
    assert!(problems.is_empty(), "{} of {} cases failed:\n{}", problems.len(), cases.len(), problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// docs/faults.md shows the same table

const BEGIN: &str = "<!-- fault-matrix:begin (generated from tests/faults.json by tests/faults.rs) -->";
const END: &str = "<!-- fault-matrix:end -->";

fn matrix_markdown(table: &Value) -> String {
    let mut out = String::new();
    out.push_str("| id | fault | Rust `ErrorKind` / C `timrest_status` | Python exception | `code` | HTTP | retried | attempts |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for case in cases(table) {
        let kind = kind_by_name(&case.kind);
        let c_status = timrest::ffi::status::timrest_status::from_kind(kind);
        let dash = || "—".to_owned();
        out.push_str(&format!(
            "| `{}` | {} | `{:?}` / `TIMREST_{}` | `{}` | {} | {} | {} | {} |\n",
            case.id,
            case.fault,
            kind,
            c_status.name().to_uppercase(),
            case.python,
            case.code.map_or_else(dash, |c| c.to_string()),
            case.http.map_or_else(dash, |h| h.to_string()),
            if case.retried { "yes" } else { "no" },
            case.attempts,
        ));
    }
    out
}

#[test]
fn docs_show_the_same_matrix() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/faults.md");
    let doc = std::fs::read_to_string(&path).expect("docs/faults.md");
    let (before, rest) = doc.split_once(BEGIN).expect("begin marker in docs/faults.md");
    let (current, after) = rest.split_once(END).expect("end marker in docs/faults.md");
    let wanted = format!("\n{}", matrix_markdown(&table()));
    if current != wanted {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, format!("{before}{BEGIN}{wanted}{END}{after}")).expect("write docs/faults.md");
        } else {
            panic!(
                "docs/faults.md's matrix differs from tests/faults.json; run UPDATE_DOCS=1 cargo test --features \
                 emulator --test faults\n--- wanted\n{wanted}\n--- found\n{current}"
            );
        }
    }
    let settings = &table()["settings"];
    for name in ["max_retries", "timeout_ms", "deadline_ms"] {
        let shown = format!("`{name}` = {}", settings[name]);
        assert!(doc.contains(&shown), "docs/faults.md should state {shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bad arguments and absurd settings: refused before anything is sent

fn quiet_emulator() -> Emulator {
    Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() }).expect("emulator")
}

fn good_builder(emu: &Emulator) -> ClientBuilder {
    Client::builder().sdkappid(DEMO_SDKAPPID).secret_key(DEMO_SECRET_KEY).base_url(emu.base_url()).rate_limit(None)
}

#[test]
fn bad_arguments_are_refused_before_sending() {
    let emu = quiet_emulator();
    let client = good_builder(&emu).build().expect("client");
    let long_group = "g".repeat(49);
    let long_sender = "s".repeat(33);
    let long_topic = format!("@TGS#_g@TOPIC#_{}", "t".repeat(120));
    // (group, sender, topic, a word the message must hold)
    let cases: Vec<(&str, &str, Option<&str>, &str)> = vec![
        ("", "s", None, "group_id"),
        ("g", "", None, "sender"),
        ("g\0x", "s", None, "group_id"),
        ("g", "s\0", None, "sender"),
        ("g\n", "s", None, "group_id"),
        ("g", "s\r", None, "sender"),
        ("g\t", "s", None, "group_id"),
        ("g", "s\u{1b}[31m", None, "sender"),
        ("g", "s\u{7f}", None, "sender"),
        ("g", "s\u{85}", None, "sender"),
        (&long_group, "s", None, "group_id"),
        ("g", &long_sender, None, "sender"),
        ("@TGS#_a", "s", Some(""), "topic_id"),
        ("@TGS#_a", "s", Some("@TGS#_b@TOPIC#_x"), "topic_id"),
        ("@TGS#_a", "s", Some("@TGS#_a"), "topic_id"),
        ("@TGS#_a", "s", Some("@TGS#_a@TOPIC#_\0"), "topic_id"),
        ("@TGS#_g", "s", Some(&long_topic), "topic_id"),
    ];
    for (group, sender, topic, word) in &cases {
        let mut request = DeleteBySender::new(*group, *sender);
        if let Some(t) = topic {
            request = request.topic(*t);
        }
        let e = client.delete_by_sender(&request).expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{request:?}: {e}");
        assert_eq!((e.attempts(), e.random(), e.code()), (0, None, None), "{request:?}");
        assert!(e.info().contains(word), "{request:?}: the message should name {word}: {e}");
        // The message quotes control characters escaped, never raw.
        assert!(!e.to_string().chars().any(|c| c.is_control()), "{e:?}");
    }
    // Through the generic call too: bad service or command names.
    for (service, command) in [("", DELETE), (SERVICE, ""), (SERVICE, "a/b"), ("svc\n", DELETE), (SERVICE, "x\0")] {
        let e = client.call(service, command, &json!({})).expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{service:?}/{command:?}");
    }
    assert!(emu.requests().is_empty(), "something was sent: {:?}", emu.requests());
    eprintln!("rust bad arguments: {} refused before sending", cases.len() + 5);
}

#[test]
fn absurd_settings_are_config_errors_before_sending() {
    let emu = quiet_emulator();
    let b = || good_builder(&emu);
    let cases: Vec<(ClientBuilder, &str)> = vec![
        (b().timeout(Duration::ZERO), "timeout"),
        (b().connect_timeout(Duration::ZERO), "connect_timeout"),
        (b().deadline(Duration::ZERO), "deadline"),
        (b().rate_limit(Some(0.0)), "rate_limit"),
        (b().rate_limit(Some(-5.0)), "rate_limit"),
        (b().rate_limit(Some(f64::NAN)), "rate_limit"),
        (b().rate_limit(Some(f64::INFINITY)), "rate_limit"),
        (b().usersig_ttl(Duration::from_secs(1)), "usersig_ttl"),
        (b().sdkappid(0), "sdkappid"),
        (b().identifier(""), "identifier"),
        (b().identifier("admin\0"), "identifier"),
        (b().identifier("x".repeat(33)), "identifier"),
        (b().secret_key(""), "secret_key"),
        (b().usersig("not a usersig"), "either"),
        (b().base_url("http://example.com"), "loopback"),
        (b().base_url("ftp://127.0.0.1"), "scheme"),
        (b().base_url("127.0.0.1:80"), "scheme"),
        (b().base_url("https://user:pw@127.0.0.1"), "credentials"),
        (b().proxy("http://user:pw@[bad"), "proxy"),
        (b().ca_pem(b"not a pem".to_vec()), "ca_pem"),
    ];
    let n = cases.len();
    for (builder, word) in cases {
        let shown = format!("{builder:?}");
        let e = builder.build().expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::Config, "{shown}: {e}");
        assert!(e.info().contains(word), "{shown}: the message should name {word}: {e}");
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
    assert!(emu.requests().is_empty());
    eprintln!("rust absurd settings: {n} refused");
}

// ---------------------------------------------------------------------------------------------
// The emulator under load

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// What was sent to one group: `(sender, MsgSeq)` of each message, and which were deleted.
#[derive(Default)]
struct Ledger {
    alive: HashSet<(String, u64)>,
    deleted: HashSet<(String, u64)>,
}

impl Ledger {
    fn merge(&mut self, other: Ledger) {
        self.alive.extend(other.alive);
        self.deleted.extend(other.deleted);
    }

    /// The group's history is exactly what was sent minus what was deleted: nothing lost, nothing
    /// twice, every `MsgSeq` once, deleted ones shown as such with `WithRecalledMsg`.
    fn check(&self, emu: &Emulator, group: &str) {
        let seen = |include_deleted: bool| -> Vec<(String, u64, u64)> {
            emu.messages(group, None, include_deleted)
                .unwrap_or_else(|e| panic!("messages of {group}: {e}"))
                .iter()
                .map(|m| {
                    let from = m["From_Account"].as_str().unwrap_or_default().to_owned();
                    (from, m["MsgSeq"].as_u64().unwrap_or(0), m["IsPlaceMsg"].as_u64().unwrap_or(9))
                })
                .collect()
        };
        let visible = seen(false);
        let visible_set: HashSet<(String, u64)> = visible.iter().map(|(f, s, _)| (f.clone(), *s)).collect();
        assert_eq!(visible.len(), visible_set.len(), "{group}: a message shows twice");
        assert_eq!(visible_set, self.alive, "{group}: history differs from what was sent minus what was deleted");
        let everything = seen(true);
        assert_eq!(everything.len(), self.alive.len() + self.deleted.len(), "{group}: a message was lost");
        let seqs: HashSet<u64> = everything.iter().map(|(_, s, _)| *s).collect();
        assert_eq!(seqs.len(), everything.len(), "{group}: a MsgSeq appears twice");
        for (from, seq, place) in &everything {
            let was_deleted = self.deleted.contains(&(from.clone(), *seq));
            assert_eq!(*place == 2, was_deleted, "{group}: message {seq} from {from}");
        }
    }
}

fn send(client: &Client, group: &str, sender: &str, text: &str) -> u64 {
    let body = json!({
        "GroupId": group,
        "From_Account": sender,
        "Random": rand::random::<u32>(),
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}],
    });
    let (answer, _) = client.call(SERVICE, "send_group_msg", &body).unwrap_or_else(|e| panic!("send_group_msg: {e}"));
    answer["MsgSeq"].as_u64().expect("MsgSeq")
}

/// Totals of one load thread.
#[derive(Default)]
struct LoadCount {
    requests: u64,
    groups: u64,
    kept: u64,
    deleted: u64,
}

/// 8 client threads against one emulator for `TIMREST_STRESS_SECS` (default 3) seconds, all over
/// HTTP: each creates a group of its own, posts 600 messages into it from 4 senders while deleting
/// one sender's messages every 7th step, checks the group's history against what it sent and
/// deleted, destroys it and starts over; every 5th message goes instead to one group that all
/// threads share (100 per thread), checked at the end. Nothing may fail, and since the groups
/// are destroyed and the log is capped, the process's RSS must level off: the growth after the
/// first second is bounded.
#[test]
fn emulator_under_load_loses_and_duplicates_nothing() {
    let secs: u64 = std::env::var("TIMREST_STRESS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    const THREADS: usize = 8;
    const PER_GROUP: usize = 600;
    const SHARED_PER_THREAD: usize = 100;
    let emu = Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() }).expect("emulator");
    emu.set_log_capacity(10_000);
    let client = good_builder(&emu).max_retries(0).build().expect("client");
    let shared_group = emu.create_group(&GroupSpec::new("Public")).expect("group");
    let rss_start = rss_kib();
    let barrier = Barrier::new(THREADS + 1);
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(secs);
    let warm_at = started + Duration::from_secs(1).min(Duration::from_secs(secs) / 3);
    let rss_peak = AtomicU64::new(0);
    let rss_warm = AtomicU64::new(0);

    let (counts, shared_ledgers): (Vec<LoadCount>, Vec<Ledger>) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (client, emu, shared_group, barrier) = (&client, &emu, &shared_group, &barrier);
                s.spawn(move || {
                    let mut count = LoadCount::default();
                    let mut shared = Ledger::default();
                    let senders: Vec<String> = (0..4).map(|i| format!("t{t}_s{i}")).collect();
                    let mut group: Option<(String, Ledger)> = None;
                    let mut in_group = 0;
                    let mut shared_sent = 0;
                    barrier.wait();
                    let mut i = 0usize;
                    while Instant::now() < stop_at || shared_sent < SHARED_PER_THREAD {
                        i += 1;
                        if group.is_none() {
                            let (answer, _) = client
                                .call(SERVICE, "create_group", &json!({"Type": "Public", "Name": format!("t{t}")}))
                                .unwrap_or_else(|e| panic!("create_group: {e}"));
                            let id = answer["GroupId"].as_str().expect("GroupId").to_owned();
                            group = Some((id, Ledger::default()));
                            count.requests += 1;
                            count.groups += 1;
                            in_group = 0;
                        }
                        let Some((own_id, own)) = group.as_mut() else { unreachable!() };
                        let sender = &senders[i % senders.len()];
                        let to_shared = shared_sent < SHARED_PER_THREAD && i.is_multiple_of(5);
                        let (target, ledger) = if to_shared { (&*shared_group, &mut shared) } else { (&*own_id, own) };
                        if i.is_multiple_of(7) {
                            client.delete_group_msg_by_sender(target, sender).unwrap_or_else(|e| panic!("delete: {e}"));
                            let gone: Vec<_> = ledger.alive.iter().filter(|(s, _)| s == sender).cloned().collect();
                            for m in gone {
                                ledger.alive.remove(&m);
                                ledger.deleted.insert(m);
                            }
                        } else {
                            let seq = send(client, target, sender, &format!("m{i}"));
                            let m = (sender.clone(), seq);
                            assert!(!ledger.alive.contains(&m) && !ledger.deleted.contains(&m), "MsgSeq {seq} twice");
                            ledger.alive.insert(m);
                        }
                        count.requests += 1;
                        if to_shared {
                            shared_sent += 1;
                        } else {
                            in_group += 1;
                        }
                        if (in_group >= PER_GROUP || (Instant::now() >= stop_at && shared_sent >= SHARED_PER_THREAD))
                            && let Some((id, ledger)) = group.take()
                        {
                            ledger.check(emu, &id);
                            count.kept += ledger.alive.len() as u64;
                            count.deleted += ledger.deleted.len() as u64;
                            client
                                .call(SERVICE, "destroy_group", &json!({"GroupId": id}))
                                .unwrap_or_else(|e| panic!("destroy_group: {e}"));
                            count.requests += 1;
                        }
                    }
                    (count, shared)
                })
            })
            .collect();
        // Sample the RSS while the threads run.
        barrier.wait();
        while Instant::now() < stop_at && !handles.iter().all(|h| h.is_finished()) {
            let rss = rss_kib();
            rss_peak.fetch_max(rss, Ordering::Relaxed);
            if Instant::now() >= warm_at && rss_warm.load(Ordering::Relaxed) == 0 {
                rss_warm.store(rss, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        handles.into_iter().map(|h| h.join().expect("a load thread failed")).unzip()
    });
    let elapsed = started.elapsed();
    let rss_end = rss_kib();
    let mut shared = Ledger::default();
    for ledger in shared_ledgers {
        shared.merge(ledger);
    }
    shared.check(&emu, &shared_group);
    let total: u64 = counts.iter().map(|c| c.requests).sum();
    let groups: u64 = counts.iter().map(|c| c.groups).sum();
    let kept = counts.iter().map(|c| c.kept).sum::<u64>() + shared.alive.len() as u64;
    let deleted = counts.iter().map(|c| c.deleted).sum::<u64>() + shared.deleted.len() as u64;
    let failed: Vec<_> = emu.requests().into_iter().filter(|r| r.error_code != Some(0)).collect();
    assert!(failed.is_empty(), "unexpected failures: {:?}", &failed[..failed.len().min(5)]);
    let warm = match rss_warm.load(Ordering::Relaxed) {
        0 => rss_start,
        w => w,
    };
    let peak = rss_peak.load(Ordering::Relaxed).max(rss_end);
    eprintln!(
        "load: {THREADS} threads, {:.1} s, {total} requests ({:.0}/s), {groups} groups checked and destroyed + 1 \
         shared, {kept} messages kept, {deleted} deleted; RSS KiB: start {rss_start}, after warm-up {warm}, \
         peak {peak}, end {rss_end}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
    );
    assert!(groups >= THREADS as u64 && total > 1000, "too little load to say anything");
    // Bounded: after warm-up only the capped log (10 000 records) and allocator slack may grow.
    let grown = peak.saturating_sub(warm);
    assert!(grown < 128 * 1024, "RSS grew {} MiB after warm-up", grown / 1024);
}

// ---------------------------------------------------------------------------------------------
// The two faults added for this matrix, seen on the wire

/// Sends one raw deletion request (its UserSig is not even checked: the fault comes first).
fn raw_request(emu: &Emulator) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", emu.port())).expect("connect");
    let body = r#"{"GroupId":"g","Sender_Account":"s"}"#;
    let head = format!(
        "POST /v4/{SERVICE}/{DELETE}?sdkappid={DEMO_SDKAPPID}&identifier=administrator&usersig=x&random=7&contenttype=json \
         HTTP/1.1\r\nHost: e\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    stream
}

/// Reads until the end of the head; returns the head and the body bytes read with it.
fn read_head(stream: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("read head");
        assert!(n > 0, "closed before the head ended: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let body = got.split_off(at + 4);
            return (String::from_utf8_lossy(&got).into_owned(), body);
        }
    }
}

#[test]
fn reset_fault_sends_half_a_body_then_a_tcp_reset() {
    use std::io::Read;
    let emu = quiet_emulator();
    emu.inject(DELETE, Fault::reset());
    let mut stream = raw_request(&emu);
    let (head, mut body) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let promised: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("Content-Length");
    let mut buf = [0u8; 4096];
    let error = loop {
        match stream.read(&mut buf) {
            Ok(0) => panic!("a clean end of stream after {} of {promised} bytes, not a reset", body.len()),
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    assert!(body.len() < promised, "{} of {promised}", body.len());
    assert_eq!(emu.requests()[0].fault.as_deref(), Some("reset"));
}

#[test]
fn slow_body_fault_sends_the_head_at_once_then_trickles_the_body() {
    use std::io::Read;
    let emu = quiet_emulator();
    emu.inject(DELETE, Fault { error_code: Some(10002), ..Fault::slow_body(Duration::from_millis(20)) });
    let mut stream = raw_request(&emu);
    let (head, mut body) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The body comes in many small reads (one byte each, 20 ms apart), never all at once.
    let mut reads = usize::from(!body.is_empty());
    let mut buf = [0u8; 4096];
    while !body.ends_with(b"}") {
        let n = stream.read(&mut buf).expect("read body");
        assert!(n > 0, "closed early");
        body.extend_from_slice(&buf[..n]);
        reads += 1;
    }
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("\"ErrorCode\":10002"), "{text}");
    assert!(reads > body.len() / 4, "{reads} reads for {} bytes", body.len());
    assert_eq!(emu.requests()[0].fault.as_deref(), Some("error_code:10002+slow_body:20ms"));
}

/// Chaos (`fault_rate`): about that share of requests answers a fault, every kind of the list
/// turns up, the request log names each, and a client with retries still deletes every item.
#[test]
fn chaos_answers_a_share_of_requests_with_random_faults() {
    let emu = Emulator::start(EmulatorConfig { rate_limit: None, fault_rate: 0.3, ..EmulatorConfig::default() })
        .expect("emulator");
    // Seeding goes through the emulator's own methods: no request, no chaos.
    let groups: Vec<String> = (0..200)
        .map(|_| {
            let gid = emu.create_group(&GroupSpec::new("Public")).unwrap();
            emu.send_group_msg(&gid, "spammer", "spam", None).unwrap();
            gid
        })
        .collect();
    let client = good_builder(&emu)
        .max_retries(10)
        .timeout(Duration::from_secs(2))
        .deadline(Duration::from_secs(60))
        .build()
        .expect("client");
    let items: Vec<(String, &str)> = groups.iter().map(|g| (g.clone(), "spammer")).collect();
    let options = timrest::batch::BatchOptions { concurrency: 8, ..Default::default() };
    let report = client.delete_many(items, &options, |_| std::ops::ControlFlow::Continue(())).expect("batch");
    assert_eq!((report.ok(), report.failed()), (200, 0), "retries get through chaos");
    let log = emu.requests();
    let faulted: Vec<&str> = log.iter().filter_map(|r| r.fault.as_deref()).collect();
    let share = faulted.len() as f64 / log.len() as f64;
    assert!((0.2..0.4).contains(&share), "{} of {} requests faulted", faulted.len(), log.len());
    let kinds: HashSet<&str> = faulted.iter().copied().collect();
    let expected =
        ["drop", "reset", "truncate", "http_status:502", "slow_body:2ms", "error_code:60007", "error_code:10002"];
    assert_eq!(kinds, expected.into_iter().collect(), "each kind of the list turns up");
    assert!(emu.set_fault_rate(1.5).is_err() && emu.set_fault_rate(f64::NAN).is_err());
    assert!(Emulator::start(EmulatorConfig { fault_rate: -0.1, ..EmulatorConfig::default() }).is_err());
}
