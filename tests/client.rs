//! The Rust client against the emulator, over real loopback HTTP: every outcome of
//! `delete_group_msg_by_sender`, the auth codes, retries, timeouts, re-signing, the rate limiter,
//! and that no secret leaks into errors, `Debug` or log records.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use timrest::client::parse_response;
use timrest::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, Fault, GroupSpec, RequestRecord};
use timrest::{Client, ClientBuilder, DeleteBySender, ErrorKind, Region, usersig};

const DELETE: &str = "delete_group_msg_by_sender";
const SERVICE: &str = "group_open_http_svc";
const CANARY_KEY: &str = "canary-secret-key-do-not-leak";

// ---------------------------------------------------------------------------------------------
// Helpers

#[path = "support/log_capture.rs"]
mod log_capture;
use log_capture::records;

/// Starts an emulator with the defaults (and installs the capturing logger once).
fn emulator() -> Emulator {
    emulator_with(EmulatorConfig::default())
}

fn emulator_with(config: EmulatorConfig) -> Emulator {
    log_capture::install();
    Emulator::start(config).expect("emulator starts")
}

/// A builder for `emu` with the demo key, the admin, no limiter and quick retries.
fn builder(emu: &Emulator) -> ClientBuilder {
    Client::builder().sdkappid(DEMO_SDKAPPID).secret_key(DEMO_SECRET_KEY).base_url(emu.base_url()).rate_limit(None)
}

fn client(emu: &Emulator) -> Client {
    builder(emu).build().expect("client")
}

fn group(emu: &Emulator, group_type: &str) -> String {
    emu.create_group(&GroupSpec { group_type: group_type.into(), name: "g".into(), ..Default::default() })
        .expect("group")
}

/// Posts one message per sender, in order.
fn post(emu: &Emulator, gid: &str, topic: Option<&str>, senders: &[&str]) {
    for (i, s) in senders.iter().enumerate() {
        emu.send_group_msg(gid, s, &format!("message {i} from {s}"), topic).expect("send");
    }
}

/// The senders of the messages still in history, oldest first.
fn senders(emu: &Emulator, gid: &str, topic: Option<&str>) -> Vec<String> {
    let mut msgs = emu.messages(gid, topic, false).expect("messages");
    msgs.sort_by_key(|m| m["MsgSeq"].as_u64());
    msgs.iter().map(|m| m["From_Account"].as_str().unwrap_or("?").to_owned()).collect()
}

/// The request log entries of one command, in arrival order.
fn logged(emu: &Emulator, command: &str) -> Vec<RequestRecord> {
    emu.requests().into_iter().filter(|r| r.command == command).collect()
}

fn randoms(records: &[RequestRecord]) -> Vec<u32> {
    records.iter().map(|r| r.random.expect("every request carries a random")).collect()
}

fn distinct(values: &[u32]) -> bool {
    values.iter().collect::<HashSet<_>>().len() == values.len()
}

/// A raw request to the emulator (for the bad requests the client itself cannot make), written
/// by hand on a plain socket (no HTTP library, so nothing of it is logged), read with the
/// client's own parser.
fn raw(emu: &Emulator, query: &str, body: &str) -> timrest::Result<Value> {
    use std::io::{Read, Write};
    let addr = emu.base_url().trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    let request = format!(
        "POST /v4/{SERVICE}/{DELETE}?{query} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    parse_response(status, &answer[split + 4..])
}

fn admin_sig(sdkappid: u64, key: &str, identifier: &str) -> String {
    usersig::generate(sdkappid, key, identifier, 86_400, usersig::unix_now())
}

#[test]
fn client_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<Client>();
    shared::<timrest::Error>();
}

// ---------------------------------------------------------------------------------------------
// Success and its effect

#[test]
fn delete_removes_exactly_that_senders_messages() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    post(&emu, &gid, None, &["alice", "bob", "alice", "carol", "alice"]);
    let c = client(&emu);

    let info = c.delete_by_sender(&DeleteBySender::new(&gid, "alice")).unwrap();
    assert_eq!(info.attempts, 1);
    assert_eq!(senders(&emu, &gid, None), ["bob", "carol"]);
    // Deleted messages stay in history as placeholders when asked for.
    assert_eq!(emu.messages(&gid, None, true).unwrap().len(), 5);

    let log = logged(&emu, DELETE);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].service, SERVICE);
    assert_eq!(log[0].random, Some(info.random));
    assert_eq!(log[0].identifier.as_deref(), Some("administrator"));
    assert_eq!(log[0].error_code, Some(0));

    // Again: nothing left to delete, still OK (idempotent); an unknown sender is OK too.
    c.delete_group_msg_by_sender(&gid, "alice").unwrap();
    c.delete_group_msg_by_sender(&gid, "nobody").unwrap();
    assert_eq!(senders(&emu, &gid, None), ["bob", "carol"]);
}

#[test]
fn every_group_type_that_stores_history_is_cleaned() {
    let emu = emulator();
    let c = client(&emu);
    for group_type in ["Private", "Public", "ChatRoom", "Community"] {
        let gid = group(&emu, group_type);
        post(&emu, &gid, None, &["spam", "ham", "spam"]);
        c.delete_group_msg_by_sender(&gid, "spam").unwrap();
        assert_eq!(senders(&emu, &gid, None), ["ham"], "{group_type}");
    }
}

#[test]
fn avchatroom_answers_ok_and_changes_nothing() {
    let emu = emulator();
    let gid = group(&emu, "AVChatRoom");
    post(&emu, &gid, None, &["spam", "ham"]);
    let before = emu.messages(&gid, None, true).unwrap();
    let info = client(&emu).delete_by_sender(&DeleteBySender::new(&gid, "spam")).unwrap();
    assert_eq!(info.attempts, 1);
    assert_eq!(emu.messages(&gid, None, true).unwrap(), before);
    assert_eq!(logged(&emu, DELETE)[0].error_code, Some(0));
}

#[test]
fn only_the_latest_1000_messages_are_in_reach() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    // seq 1 and 2 from the spammer, then 999 from bob: the window is seq 2..=1001.
    post(&emu, &gid, None, &["spammer", "spammer"]);
    for i in 0..999 {
        emu.send_group_msg(&gid, "bob", &format!("b{i}"), None).unwrap();
    }
    client(&emu).delete_group_msg_by_sender(&gid, "spammer").unwrap();

    let left = emu.messages(&gid, None, false).unwrap();
    let spam: Vec<_> = left.iter().filter(|m| m["From_Account"] == "spammer").collect();
    assert_eq!(spam.len(), 1, "the message just outside the window survives");
    assert_eq!(spam[0]["MsgSeq"], 1);
    assert_eq!(left.len(), 1000);
}

#[test]
fn a_topic_id_limits_the_deletion_to_that_topic() {
    let emu = emulator();
    let gid = emu
        .create_group(&GroupSpec {
            group_type: "Community".into(),
            name: "c".into(),
            support_topic: true,
            ..Default::default()
        })
        .unwrap();
    let news = emu.create_topic(&gid, "news", None).unwrap();
    let chat = emu.create_topic(&gid, "chat", None).unwrap();
    post(&emu, &gid, Some(&news), &["spam", "ham", "spam"]);
    post(&emu, &gid, Some(&chat), &["spam", "ham"]);

    let info = client(&emu).delete_by_sender(&DeleteBySender::new(&gid, "spam").topic(&news)).unwrap();
    assert_eq!(info.attempts, 1);
    assert_eq!(senders(&emu, &gid, Some(&news)), ["ham"]);
    assert_eq!(senders(&emu, &gid, Some(&chat)), ["spam", "ham"]);
}

#[test]
fn call_returns_the_whole_answer() {
    let emu = emulator();
    let c = client(&emu);
    let (answer, info) = c.call(SERVICE, "create_group", &json!({"Type": "Public", "Name": "made over REST"})).unwrap();
    let gid = answer["GroupId"].as_str().expect("GroupId in the answer");
    assert_eq!(answer["ActionStatus"], "OK");
    assert_eq!(info.attempts, 1);
    emu.send_group_msg(gid, "x", "hi", None).unwrap();
    assert_eq!(senders(&emu, gid, None), ["x"]);
}

// ---------------------------------------------------------------------------------------------
// The endpoint's error table

#[test]
fn code_10002_is_a_server_error() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    emu.inject(DELETE, Fault { error_code: Some(10002), error_info: Some("boom".into()), ..Default::default() });
    let e = builder(&emu).max_retries(0).build().unwrap().delete_group_msg_by_sender(&gid, "s").unwrap_err();
    assert_eq!((e.kind(), e.code(), e.info()), (ErrorKind::Server, Some(10002), "boom"));
    assert!(e.is_retryable());
    assert_eq!(e.attempts(), 1);
}

#[test]
fn code_10003_for_an_unknown_command() {
    let emu = emulator();
    let e = client(&emu).call(SERVICE, "no_such_command", &json!({})).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::InvalidCommand, Some(10003)));
    assert_eq!(e.attempts(), 1);
}

#[test]
fn code_10004_names_the_missing_field() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    let e = client(&emu).call(SERVICE, DELETE, &json!({ "GroupId": gid })).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::InvalidParameter, Some(10004)));
    assert!(e.info().contains("Sender_Account"), "{e}");
}

#[test]
fn code_10007_for_an_identifier_that_is_not_an_admin() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    post(&emu, &gid, None, &["spam"]);
    // A valid UserSig for an ordinary account; the space also proves the identifier is encoded.
    let c = builder(&emu).identifier("plain user").build().unwrap();
    let e = c.delete_group_msg_by_sender(&gid, "spam").unwrap_err();
    assert_eq!((e.kind(), e.code(), e.attempts()), (ErrorKind::PermissionDenied, Some(10007), 1));
    assert_eq!(logged(&emu, DELETE)[0].identifier.as_deref(), Some("plain user"));
    assert_eq!(senders(&emu, &gid, None), ["spam"]);
}

#[test]
fn code_10010_for_an_unknown_group_is_not_retried() {
    let emu = emulator();
    let e = client(&emu).delete_group_msg_by_sender("@TGS#NOSUCHGROUP", "s").unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::GroupNotFound, Some(10010)));
    assert_eq!(e.attempts(), 1);
    let log = logged(&emu, DELETE);
    assert_eq!(log.len(), 1);
    assert_eq!(e.random(), log[0].random);
}

#[test]
fn code_10015_for_a_malformed_group_id_sent_through_call() {
    let emu = emulator();
    let c = client(&emu);
    let long = "g".repeat(49);
    // The typed method refuses it before sending...
    let e = c.delete_group_msg_by_sender(&long, "s").unwrap_err();
    assert_eq!((e.kind(), e.attempts(), e.random()), (ErrorKind::InvalidArgument, 0, None));
    assert!(emu.requests().is_empty(), "nothing was sent");
    // ...the generic call sends it, and the server refuses it.
    let e = c.call(SERVICE, DELETE, &json!({"GroupId": long, "Sender_Account": "s"})).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::InvalidGroupId, Some(10015)));
}

#[test]
fn invalid_arguments_send_nothing() {
    let emu = emulator();
    let c = client(&emu);
    let bad = [
        DeleteBySender::new("", "s"),
        DeleteBySender::new("@TGS#a", ""),
        DeleteBySender::new("@TGS#a", "s".repeat(33)),
        DeleteBySender::new("@TGS#a\n", "s"),
        DeleteBySender::new("@TGS#_a", "s").topic("@TGS#_b@TOPIC#_x"),
    ];
    for request in &bad {
        let e = c.delete_by_sender(request).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{request:?}");
        assert_eq!(e.attempts(), 0);
    }
    assert!(emu.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Auth and the other common codes, each from a real bad request

#[test]
fn a_wrong_secret_key_is_70009() {
    let emu = emulator();
    let e = builder(&emu).secret_key("not the key").build().unwrap().delete_group_msg_by_sender("@TGS#x", "s");
    let e = e.unwrap_err();
    assert_eq!((e.kind(), e.code(), e.attempts()), (ErrorKind::Auth, Some(70009), 1));
}

#[test]
fn an_unknown_sdkappid_is_70020() {
    let emu = emulator();
    let c = builder(&emu).sdkappid(1_400_000_001).build().unwrap();
    let e = c.delete_group_msg_by_sender("@TGS#x", "s").unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Auth, Some(70020)));
}

#[test]
fn an_expired_ready_usersig_is_70001_and_not_retried() {
    let emu = emulator();
    let expired = usersig::generate(DEMO_SDKAPPID, DEMO_SECRET_KEY, "administrator", 120, usersig::unix_now() - 3600);
    let c = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .usersig(expired)
        .base_url(emu.base_url())
        .rate_limit(None)
        .build()
        .unwrap();
    let e = c.delete_group_msg_by_sender("@TGS#x", "s").unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::UserSigExpired, Some(70001)));
    assert_eq!(e.attempts(), 1, "a ready UserSig cannot be renewed: no retry");
    assert_eq!(logged(&emu, DELETE).len(), 1);
}

#[test]
fn a_ready_usersig_works() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    post(&emu, &gid, None, &["spam", "ham"]);
    let c = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .usersig(admin_sig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "administrator"))
        .base_url(emu.base_url())
        .build()
        .unwrap();
    c.delete_group_msg_by_sender(&gid, "spam").unwrap();
    assert_eq!(senders(&emu, &gid, None), ["ham"]);
}

#[test]
fn auth_codes_the_client_cannot_cause_come_from_raw_requests() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    let body = json!({"GroupId": gid, "Sender_Account": "s"}).to_string();
    let admin = admin_sig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "administrator");
    let query = |sdkappid: &str, identifier: &str, sig: &str, random: &str, contenttype: &str| {
        let mut q = Vec::new();
        for (k, v) in [
            ("sdkappid", sdkappid),
            ("identifier", identifier),
            ("usersig", sig),
            ("random", random),
            ("contenttype", contenttype),
        ] {
            if v != "<absent>" {
                q.push(format!("{k}={v}"));
            }
        }
        q.join("&")
    };
    let other_user = admin_sig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "someone_else");
    let other_app = admin_sig(1_400_000_001, DEMO_SECRET_KEY, "administrator");
    let sdkappid = DEMO_SDKAPPID.to_string();
    let cases: &[(String, &str, i64, ErrorKind)] = &[
        (query(&sdkappid, "administrator", &admin, "7", "json"), &body, 0, ErrorKind::Api),
        (query(&sdkappid, "administrator", &other_user, "7", "json"), &body, 70013, ErrorKind::Auth),
        (query(&sdkappid, "administrator", &other_app, "7", "json"), &body, 70014, ErrorKind::Auth),
        (query(&sdkappid, "administrator", "", "7", "json"), &body, 70002, ErrorKind::Auth),
        (query(&sdkappid, "administrator", "<absent>", "7", "json"), &body, 70002, ErrorKind::Auth),
        (query(&sdkappid, "administrator", "garbage", "7", "json"), &body, 70003, ErrorKind::Auth),
        (query("<absent>", "administrator", &admin, "7", "json"), &body, 60012, ErrorKind::Auth),
        (query(&sdkappid, "administrator", &admin, "<absent>", "json"), &body, 60002, ErrorKind::InvalidParameter),
        (query(&sdkappid, "administrator", &admin, "4294967296", "json"), &body, 60002, ErrorKind::InvalidParameter),
        (query(&sdkappid, "administrator", &admin, "7", "xml"), &body, 60002, ErrorKind::InvalidParameter),
        (query(&sdkappid, "administrator", &admin, "7", "json"), "{not json", 60003, ErrorKind::InvalidParameter),
    ];
    for (q, body, code, kind) in cases {
        match raw(&emu, q, body) {
            Ok(answer) => assert_eq!((*code, answer["ErrorCode"].as_i64()), (0, Some(0)), "{q}"),
            Err(e) => assert_eq!((e.kind(), e.code()), (*kind, Some(*code)), "{q}: {e}"),
        }
    }
}

#[test]
fn other_common_codes_reached_through_call() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    let c = client(&emu);
    let e = c.call("no_such_service", "anything", &json!({})).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::InvalidCommand, Some(60009)));
    let e = c.call(SERVICE, DELETE, &json!({"GroupId": gid, "Sender_Account": 42})).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::InvalidParameter, Some(60015)));
}

#[test]
fn over_the_servers_rate_limit_is_60007() {
    let emu = emulator_with(EmulatorConfig { rate_limit: Some(5.0), ..Default::default() });
    let gid = group(&emu, "Public");
    let c = builder(&emu).max_retries(0).build().unwrap();
    let errors: Vec<_> = (0..20).filter_map(|_| c.delete_group_msg_by_sender(&gid, "s").err()).collect();
    assert!(!errors.is_empty(), "20 quick calls against 5/s must meet the limit");
    for e in &errors {
        assert_eq!((e.kind(), e.code()), (ErrorKind::RateLimited, Some(60007)), "{e}");
        assert!(e.info().contains('5'), "the ErrorInfo says the limit: {e}");
    }
}

#[test]
fn a_rate_limit_answer_is_retried_after_a_longer_wait() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    emu.inject(DELETE, Fault { error_code: Some(60007), ..Default::default() });
    let started = Instant::now();
    let info = client(&emu).delete_by_sender(&DeleteBySender::new(&gid, "s")).unwrap();
    assert_eq!(info.attempts, 2);
    // Sleeps never end early: the slow-down wait is at least half of its 1 s ceiling.
    assert!(started.elapsed() >= Duration::from_millis(500));
}

// ---------------------------------------------------------------------------------------------
// Faults, retries and time

#[test]
fn code_10002_is_retried_with_a_fresh_random_each_time() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    post(&emu, &gid, None, &["spam"]);
    emu.inject(DELETE, Fault { error_code: Some(10002), times: 2, ..Default::default() });
    let info = client(&emu).delete_by_sender(&DeleteBySender::new(&gid, "spam")).unwrap();
    assert_eq!(info.attempts, 3);
    let log = logged(&emu, DELETE);
    let rs = randoms(&log);
    assert_eq!(rs.len(), 3);
    assert!(distinct(&rs), "{rs:?}");
    assert_eq!(rs.last(), Some(&info.random));
    assert_eq!(log.iter().map(|r| r.error_code).collect::<Vec<_>>(), [Some(10002), Some(10002), Some(0)]);
    assert!(senders(&emu, &gid, None).is_empty());
}

#[test]
fn retries_stop_after_max_retries_and_keep_the_last_random() {
    let emu = emulator();
    emu.inject(DELETE, Fault { error_code: Some(10002), times: 100, ..Default::default() });
    let e = builder(&emu).max_retries(3).build().unwrap().delete_group_msg_by_sender("@TGS#x", "s").unwrap_err();
    assert_eq!((e.kind(), e.code(), e.attempts()), (ErrorKind::Server, Some(10002), 4));
    let rs = randoms(&logged(&emu, DELETE));
    assert_eq!(rs.len(), 4);
    assert!(distinct(&rs), "{rs:?}");
    assert_eq!(e.random(), rs.last().copied());
    assert!(e.elapsed().is_some());
}

#[test]
fn http_502_is_a_retried_transport_error() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    emu.inject(DELETE, Fault { http_status: Some(502), times: 2, ..Default::default() });
    let info = client(&emu).delete_by_sender(&DeleteBySender::new(&gid, "s")).unwrap();
    assert_eq!(info.attempts, 3);
    assert!(distinct(&randoms(&logged(&emu, DELETE))));

    emu.inject(DELETE, Fault { http_status: Some(502), times: 100, ..Default::default() });
    let e = builder(&emu).max_retries(2).build().unwrap().delete_group_msg_by_sender(&gid, "s").unwrap_err();
    assert_eq!((e.kind(), e.http_status(), e.code(), e.attempts()), (ErrorKind::Transport, Some(502), None, 3));
    assert_eq!(e.random(), randoms(&logged(&emu, DELETE)).last().copied());
}

#[test]
fn a_dropped_connection_is_retried() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    post(&emu, &gid, None, &["spam"]);
    emu.inject(DELETE, Fault { drop: true, times: 1, ..Default::default() });
    let info = client(&emu).delete_by_sender(&DeleteBySender::new(&gid, "spam")).unwrap();
    assert_eq!(info.attempts, 2);
    let rs = randoms(&logged(&emu, DELETE));
    assert_eq!(rs.len(), 2);
    assert!(distinct(&rs));
    assert_eq!(rs.last(), Some(&info.random));
    assert!(senders(&emu, &gid, None).is_empty());

    emu.inject(DELETE, Fault { drop: true, times: 100, ..Default::default() });
    let e = builder(&emu).max_retries(1).build().unwrap().delete_group_msg_by_sender(&gid, "spam").unwrap_err();
    assert_eq!((e.kind(), e.http_status(), e.attempts()), (ErrorKind::Transport, None, 2));
    assert_eq!(e.random(), randoms(&logged(&emu, DELETE)).last().copied());
}

#[test]
fn bodies_that_are_not_the_envelope_are_protocol_errors_and_not_retried() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    let c = client(&emu);
    let faults = [
        Fault { body: Some(b"<html>hello</html>".to_vec()), ..Default::default() },
        Fault { body: Some(br#"{"ErrorCode":"0"}"#.to_vec()), ..Default::default() },
        Fault { body: Some(b"[]".to_vec()), ..Default::default() },
    ];
    for fault in faults {
        let described = format!("{fault:?}");
        emu.inject(DELETE, fault);
        let e = c.delete_group_msg_by_sender(&gid, "s").unwrap_err();
        assert_eq!((e.kind(), e.attempts(), e.code()), (ErrorKind::Protocol, 1, None), "{described}: {e}");
    }
}

#[test]
fn a_delay_longer_than_the_attempt_timeout_is_a_timeout_within_the_deadline() {
    let emu = emulator();
    emu.inject(DELETE, Fault { delay: Some(Duration::from_secs(6)), times: 100, ..Default::default() });
    let deadline = Duration::from_secs(2);
    let c = builder(&emu).timeout(Duration::from_millis(300)).deadline(deadline).max_retries(50).build().unwrap();
    let started = Instant::now();
    let e = c.delete_group_msg_by_sender("@TGS#x", "s").unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.attempts() >= 2, "timeouts are retried while the deadline allows: {e}");
    assert!(e.random().is_some());
    // Generous slack for a loaded machine; the 6 s delay would blow well past it without a deadline.
    assert!(took < deadline + Duration::from_secs(2), "took {took:?}");
    assert!(e.elapsed().is_some_and(|d| d <= took));
}

#[test]
fn a_single_attempt_times_out_at_the_attempt_timeout() {
    let emu = emulator();
    emu.inject(DELETE, Fault { delay: Some(Duration::from_secs(6)), ..Default::default() });
    let c = builder(&emu).timeout(Duration::from_millis(300)).max_retries(0).build().unwrap();
    let started = Instant::now();
    let e = c.delete_group_msg_by_sender("@TGS#x", "s").unwrap_err();
    assert_eq!((e.kind(), e.attempts()), (ErrorKind::Timeout, 1));
    assert!(started.elapsed() < Duration::from_secs(5), "the 6 s delay was not waited out");
}

#[test]
fn a_refused_connection_is_a_retried_transport_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(CANARY_KEY)
        .base_url(format!("http://127.0.0.1:{port}"))
        .max_retries(1)
        .build()
        .unwrap();
    let e = c.delete_group_msg_by_sender("@TGS#x", "s").unwrap_err();
    assert_eq!((e.kind(), e.attempts(), e.http_status()), (ErrorKind::Transport, 2, None), "{e}");
    assert!(e.random().is_some());
    assert_no_secret(&format!("{e} {e:?}"));
}

#[test]
fn an_expired_usersig_answer_makes_the_client_sign_again_once() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    post(&emu, &gid, None, &["spam"]);
    emu.inject(DELETE, Fault { error_code: Some(70001), times: 1, ..Default::default() });
    let c = client(&emu);
    let info = c.delete_by_sender(&DeleteBySender::new(&gid, "spam")).unwrap();
    assert_eq!(info.attempts, 2);
    assert!(senders(&emu, &gid, None).is_empty());

    emu.inject(DELETE, Fault { error_code: Some(70052), times: 1, ..Default::default() });
    assert_eq!(c.delete_by_sender(&DeleteBySender::new(&gid, "spam")).unwrap().attempts, 2);

    // Only once per call: a second 70001 is the answer.
    emu.inject(DELETE, Fault { error_code: Some(70001), times: 2, ..Default::default() });
    let e = c.delete_group_msg_by_sender(&gid, "spam").unwrap_err();
    assert_eq!((e.kind(), e.code(), e.attempts()), (ErrorKind::UserSigExpired, Some(70001), 2));
    // The next call signs afresh and goes through.
    assert_eq!(c.delete_by_sender(&DeleteBySender::new(&gid, "spam")).unwrap().attempts, 1);
}

#[test]
fn a_ready_usersig_is_not_re_signed() {
    let emu = emulator();
    emu.inject(DELETE, Fault { error_code: Some(70001), times: 1, ..Default::default() });
    let c = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .usersig(admin_sig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "administrator"))
        .base_url(emu.base_url())
        .build()
        .unwrap();
    let e = c.delete_group_msg_by_sender("@TGS#x", "s").unwrap_err();
    assert_eq!((e.kind(), e.attempts()), (ErrorKind::UserSigExpired, 1));
}

// ---------------------------------------------------------------------------------------------
// Rate limiting

#[test]
fn a_burst_from_8_threads_through_a_95_per_second_client_meets_no_60007() {
    let emu = emulator_with(EmulatorConfig { rate_limit: Some(100.0), ..Default::default() });
    let gid = group(&emu, "Public");
    let c = builder(&emu).rate_limit(Some(95.0)).max_retries(0).build().unwrap();
    let per_thread = [38, 38, 38, 38, 37, 37, 37, 37];
    assert_eq!(per_thread.iter().sum::<usize>(), 300);
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = per_thread
            .iter()
            .map(|&n| {
                let (c, gid) = (c.clone(), gid.clone());
                s.spawn(move || {
                    (0..n)
                        .filter_map(|_| c.delete_group_msg_by_sender(&gid, "s").err().map(|e| e.to_string()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let log = logged(&emu, DELETE);
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(log.len(), 300);
    assert_eq!(log.iter().filter(|r| r.error_code == Some(60007)).count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Secrets, Debug, logging, configuration

fn assert_no_secret(text: &str) {
    assert!(!text.contains(CANARY_KEY), "secret key leaked: {text}");
    assert!(!text.contains(DEMO_SECRET_KEY), "secret key leaked: {text}");
    // Any UserSig starts with the base64 of a zlib header ("eJ").
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || "*-_".contains(c))) {
        assert!(!(word.starts_with("eJ") && word.len() > 40), "a UserSig leaked: {text}");
    }
}

#[test]
fn no_secret_in_errors_debug_or_log_records() {
    let emu = emulator();
    let gid = group(&emu, "Public");
    let now = usersig::unix_now();
    let canary_sig = usersig::generate(DEMO_SDKAPPID, CANARY_KEY, "administrator", 86_400, now);

    let with_key = builder(&emu).secret_key(CANARY_KEY).max_retries(1).build().unwrap();
    let with_sig = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .usersig(canary_sig.clone())
        .base_url(emu.base_url())
        .max_retries(1)
        .build()
        .unwrap();

    let mut errors = Vec::new();
    for c in [&with_key, &with_sig] {
        errors.push(c.delete_group_msg_by_sender(&gid, "s").unwrap_err()); // 70009
        emu.inject(DELETE, Fault { http_status: Some(502), times: 2, ..Default::default() });
        errors.push(c.delete_group_msg_by_sender(&gid, "s").unwrap_err());
        emu.inject(DELETE, Fault { drop: true, times: 2, ..Default::default() });
        errors.push(c.delete_group_msg_by_sender(&gid, "s").unwrap_err());
        emu.inject(DELETE, Fault { body: Some(b"not json usersig=leak".to_vec()), ..Default::default() });
        errors.push(c.delete_group_msg_by_sender(&gid, "s").unwrap_err());
        assert_no_secret(&format!("{c:?} {:?}", c.config()));
    }
    let kinds: Vec<_> = errors.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        [ErrorKind::Auth, ErrorKind::Transport, ErrorKind::Transport, ErrorKind::Protocol].repeat(2),
        "{errors:?}"
    );
    for e in &errors {
        let mut text = format!("{e} {e:?}");
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(&format!(" {s} {s:?}"));
            source = s.source();
        }
        assert_no_secret(&text);
        assert!(!text.contains(&canary_sig));
        assert!(!text.contains("usersig=leak"), "{text}");
    }

    // Every attempt was logged (one debug line each, with its random), and no line holds a secret.
    let lines = records();
    let ours: Vec<_> = lines.iter().filter(|l| l.starts_with("DEBUG timrest ")).collect();
    for r in randoms(&logged(&emu, DELETE)) {
        let needle = format!("random={r}:");
        assert_eq!(ours.iter().filter(|l| l.contains(&needle)).count(), 1, "{needle} in {ours:#?}");
    }
    for line in &lines {
        assert_no_secret(line);
        assert!(!line.contains(&canary_sig));
    }
}

#[test]
fn debug_shows_who_and_where() {
    let emu = emulator();
    let c = builder(&emu).secret_key(CANARY_KEY).identifier("ops_admin").build().unwrap();
    let dbg = format!("{c:?}");
    for part in [DEMO_SDKAPPID.to_string().as_str(), "ops_admin", emu.base_url().as_str()] {
        assert!(dbg.contains(part), "{part} missing from {dbg}");
    }
    assert_no_secret(&dbg);
}

#[test]
fn regions_and_base_urls() {
    let b = || Client::builder().sdkappid(DEMO_SDKAPPID).secret_key(CANARY_KEY);
    assert_eq!(b().build().unwrap().config().base_url, "https://console.tim.qq.com");
    assert_eq!(b().region(Region::Frankfurt).build().unwrap().config().base_url, "https://adminapiger.im.qcloud.com");
    assert_eq!(
        b().base_url("https://gw.example.com/tim/").build().unwrap().config().base_url,
        "https://gw.example.com/tim"
    );
    assert_eq!(b().base_url("http://gw.example.com").build().unwrap_err().kind(), ErrorKind::Config);
}

/// Runs in a child process (environment variables are process-wide): the parent starts the
/// emulator and passes everything through `TIM_*`.
#[test]
fn from_env_reads_the_tim_variables() {
    if let Ok(gid) = std::env::var("TIMREST_TEST_FROM_ENV_GROUP") {
        let c = Client::from_env().expect("client from the environment");
        c.delete_group_msg_by_sender(&gid, "spam").expect("delete");
        return;
    }
    let emu = emulator();
    let gid = group(&emu, "Public");
    post(&emu, &gid, None, &["spam", "ham"]);
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "from_env_reads_the_tim_variables", "--quiet", "--test-threads=1"])
        .env("TIMREST_TEST_FROM_ENV_GROUP", &gid)
        .env("TIM_SDKAPPID", DEMO_SDKAPPID.to_string())
        .env("TIM_SECRET_KEY", DEMO_SECRET_KEY)
        .env("TIM_IDENTIFIER", "administrator")
        .env("TIM_BASE_URL", emu.base_url())
        .env_remove("TIM_USERSIG")
        .env_remove("TIM_REGION")
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    assert_eq!(senders(&emu, &gid, None), ["ham"]);
    assert_eq!(logged(&emu, DELETE)[0].identifier.as_deref(), Some("administrator"));
}
