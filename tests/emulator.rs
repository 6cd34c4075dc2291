//! The emulator over real loopback HTTP: every code of spec §7 from a real bad request or real
//! state, the command rules, the rate limit, each fault kind on the wire, latency, the log.
//!
//! Talks raw HTTP (ureq, and plain TCP where the exact bytes matter); never uses `timrest::Client`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Barrier;
use std::time::Duration;

use serde_json::{Value, json};
use timrest::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, Fault, GroupSpec};
use timrest::usersig;
use timrest::{Client, ErrorKind};

const ADMIN: &str = "administrator";
const DELETE: &str = "delete_group_msg_by_sender";

fn start() -> Emulator {
    start_with(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() })
}

fn start_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).expect("the emulator starts on a free loopback port")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn sig(identifier: &str) -> String {
    usersig::generate(DEMO_SDKAPPID, DEMO_SECRET_KEY, identifier, 86400, usersig::unix_now())
}

/// The URL of a well-formed call of `command` by `identifier`.
fn url(emu: &Emulator, command: &str, identifier: &str, random: u32) -> String {
    format!(
        "{}/v4/group_open_http_svc/{command}?sdkappid={DEMO_SDKAPPID}&identifier={identifier}&usersig={}&random={random}&contenttype=json",
        emu.base_url(),
        sig(identifier)
    )
}

/// POSTs `body` to `url`; returns the status and the body text.
fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> (u16, String) {
    let response = agent.post(url).send(body).expect("an HTTP answer");
    let status = response.status().as_u16();
    (status, response.into_body().read_to_string().expect("a readable body"))
}

/// POSTs `body` to a well-formed URL of `command` as the admin; returns the envelope.
fn call(emu: &Emulator, command: &str, body: &Value) -> Value {
    call_as(emu, command, ADMIN, body)
}

fn call_as(emu: &Emulator, command: &str, identifier: &str, body: &Value) -> Value {
    let (status, text) = post(&agent(), &url(emu, command, identifier, 7), &serde_json::to_vec(body).unwrap());
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn code(envelope: &Value) -> i64 {
    envelope["ErrorCode"].as_i64().expect("ErrorCode is a number")
}

fn assert_ok(envelope: &Value) {
    assert_eq!((envelope["ActionStatus"].as_str(), code(envelope)), (Some("OK"), 0), "{envelope}");
    assert_eq!(envelope["ErrorInfo"], "");
}

fn assert_fail(envelope: &Value, expected: i64) {
    assert_eq!(code(envelope), expected, "{envelope}");
    assert_eq!(envelope["ActionStatus"], "FAIL", "{envelope}");
    assert!(!envelope["ErrorInfo"].as_str().unwrap_or("").is_empty(), "ErrorInfo says why: {envelope}");
}

fn senders(emu: &Emulator, group: &str, topic: Option<&str>) -> Vec<String> {
    emu.messages(group, topic, false).unwrap().iter().map(|m| m["From_Account"].as_str().unwrap().to_owned()).collect()
}

/// Sends raw bytes on a fresh connection and reads until the server closes it.
fn raw_exchange(emu: &Emulator, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", emu.port())).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("the server closes the connection");
    answer
}

/// A raw response: status, lowercase headers, body.
fn split_response(bytes: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = std::str::from_utf8(&bytes[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    (status, headers, bytes[end + 4..].to_vec())
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn public_group_with(emu: &Emulator, senders: &[&str]) -> String {
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    for (i, from) in senders.iter().enumerate() {
        emu.send_group_msg(&group, from, &format!("message {i}"), None).unwrap();
    }
    group
}

// ---------------------------------------------------------------- the checks of spec §7

#[test]
fn query_and_usersig_codes_from_real_requests() {
    let emu = start();
    let agent = agent();
    let base = format!("{}/v4/group_open_http_svc/{DELETE}", emu.base_url());
    let group = public_group_with(&emu, &["a"]);
    let body = serde_json::to_vec(&json!({"GroupId": group, "Sender_Account": "a"})).unwrap();
    let good = sig(ADMIN);
    let expired = usersig::generate(DEMO_SDKAPPID, DEMO_SECRET_KEY, ADMIN, 100, 1_600_000_000);
    let wrong_key = usersig::generate(DEMO_SDKAPPID, "another key", ADMIN, 86400, usersig::unix_now());
    let other_app = usersig::generate(1400000001, DEMO_SECRET_KEY, ADMIN, 86400, usersig::unix_now());
    let cases: Vec<(String, i64)> = vec![
        (format!("identifier={ADMIN}&usersig={good}&random=1&contenttype=json"), 60012),
        (format!("sdkappid=&identifier={ADMIN}&usersig={good}&random=1&contenttype=json"), 60012),
        (format!("sdkappid=1400000001&identifier={ADMIN}&usersig={good}&random=1&contenttype=json"), 70020),
        (format!("sdkappid=abc&identifier={ADMIN}&usersig={good}&random=1&contenttype=json"), 70020),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig={good}&contenttype=json"), 60002),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig={good}&random=abc&contenttype=json"), 60002),
        (
            format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig={good}&random=4294967296&contenttype=json"),
            60002,
        ),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig={good}&random=-1&contenttype=json"), 60002),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig={good}&random=1&contenttype=xml"), 60002),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig={good}&random=1"), 60002),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&random=1&contenttype=json"), 70002),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig=&random=1&contenttype=json"), 70002),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig=garbage!&random=1&contenttype=json"), 70003),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig={wrong_key}&random=1&contenttype=json"), 70009),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier=someone&usersig={good}&random=1&contenttype=json"), 70013),
        (format!("sdkappid={DEMO_SDKAPPID}&usersig={good}&random=1&contenttype=json"), 70013),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig={other_app}&random=1&contenttype=json"), 70014),
        (format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig={expired}&random=1&contenttype=json"), 70001),
        // Any order of parameters, and the maximal random, are fine.
        (format!("contenttype=json&random=4294967295&usersig={good}&identifier={ADMIN}&sdkappid={DEMO_SDKAPPID}"), 0),
    ];
    for (query, expected) in cases {
        let (status, text) = post(&agent, &format!("{base}?{query}"), &body);
        assert_eq!(status, 200, "{query}");
        let envelope: Value = serde_json::from_str(&text).unwrap();
        if expected == 0 {
            assert_ok(&envelope);
        } else {
            assert_fail(&envelope, expected);
        }
    }
    // A second call with the same (now remembered) good UserSig, and the expired one again.
    for (sig, expected) in [(&good, 0), (&expired, 70001)] {
        let query = format!("sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig={sig}&random=2&contenttype=json");
        let envelope: Value = serde_json::from_str(&post(&agent, &format!("{base}?{query}"), &body).1).unwrap();
        assert_eq!(code(&envelope), expected);
    }
    // GET is not a REST call.
    let response = agent.get(url(&emu, DELETE, ADMIN, 3)).call().unwrap();
    let envelope: Value = serde_json::from_str(&response.into_body().read_to_string().unwrap()).unwrap();
    assert_fail(&envelope, 60002);
}

#[test]
fn command_admin_and_body_codes_from_real_requests() {
    let emu = start();
    let group = public_group_with(&emu, &["a"]);
    // Unknown command, unknown service, malformed path.
    assert_fail(&call(&emu, "no_such_command", &json!({})), 10003);
    let agent = agent();
    let query = url(&emu, DELETE, ADMIN, 1);
    let query = query.split_once('?').unwrap().1;
    for path in ["/v4/no_such_svc/delete_group_msg_by_sender", "/v4/group_open_http_svc", "/other"] {
        let (_, text) = post(&agent, &format!("{}{path}?{query}", emu.base_url()), b"{}");
        assert_fail(&serde_json::from_str(&text).unwrap(), 60009);
    }
    // A valid UserSig of an account that is not an App admin.
    assert_fail(&call_as(&emu, DELETE, "leckie", &json!({"GroupId": group, "Sender_Account": "a"})), 10007);

    let send_raw = |body: &[u8]| -> Value {
        let (_, text) = post(&agent, &url(&emu, DELETE, ADMIN, 1), body);
        serde_json::from_str(&text).unwrap()
    };
    assert_fail(&send_raw(b"not json"), 60003);
    assert_fail(&send_raw(b""), 60003);
    assert_fail(&send_raw(b"{\"GroupId\": "), 60003);
    assert_fail(&send_raw(b"[1, 2]"), 10004);
    let cases = [
        (json!({"Sender_Account": "a"}), 10004, "GroupId"),
        (json!({"GroupId": group}), 10004, "Sender_Account"),
        (json!({"GroupId": group, "Sender_Account": null}), 10004, "Sender_Account"),
        (json!({"GroupId": group, "Sender_Account": 42}), 60015, "Sender_Account"),
        (json!({"GroupId": 42, "Sender_Account": "a"}), 10004, "GroupId"),
        (json!({"GroupId": "", "Sender_Account": "a"}), 10015, ""),
        (json!({"GroupId": "g".repeat(49), "Sender_Account": "a"}), 10015, ""),
        (json!({"GroupId": "bad\u{1}id", "Sender_Account": "a"}), 10015, ""),
        (json!({"GroupId": "no-such-group", "Sender_Account": "a"}), 10010, ""),
        (json!({"GroupId": group, "Sender_Account": "a", "TopicId": 5}), 10004, "TopicId"),
        (json!({"GroupId": group, "Sender_Account": ""}), 10004, "Sender_Account"),
    ];
    for (body, expected, named) in cases {
        let envelope = call(&emu, DELETE, &body);
        assert_fail(&envelope, expected);
        assert!(envelope["ErrorInfo"].as_str().unwrap().contains(named), "{envelope} names {named}");
    }
    assert_eq!(senders(&emu, &group, None), ["a"], "no refused request changed anything");
}

#[test]
fn checks_come_in_the_documented_order() {
    let emu = start();
    let agent = agent();
    let base = format!("{}/v4/no_such_svc/nothing", emu.base_url());
    // Every check would fail; the first in spec order answers.
    let q = |sdk: &str, random: &str, sig: &str, ident: &str| {
        format!("{base}?sdkappid={sdk}&identifier={ident}&usersig={sig}&random={random}&contenttype=json")
    };
    let good = sig(ADMIN);
    let stranger = sig("stranger");
    for (url, expected) in [
        (q("", "x", "", "stranger"), 60012),
        (q("1", "x", "", "stranger"), 70020),
        (q(&DEMO_SDKAPPID.to_string(), "x", "", "stranger"), 60002),
        (q(&DEMO_SDKAPPID.to_string(), "1", "", "stranger"), 70002),
        (q(&DEMO_SDKAPPID.to_string(), "1", &good, "stranger"), 70013),
        (q(&DEMO_SDKAPPID.to_string(), "1", &stranger, "stranger"), 60009),
    ] {
        let envelope: Value = serde_json::from_str(&post(&agent, &url, b"not json").1).unwrap();
        assert_fail(&envelope, expected);
    }
    // Known command, stranger, bad body: the admin check comes before the body.
    let envelope = call_as(&emu, DELETE, "stranger", &json!([]));
    assert_fail(&envelope, 10007);
    // The rate limit comes after the UserSig and before the command.
    emu.set_rate_limit(Some(0.0));
    assert_fail(
        &serde_json::from_str(&post(&agent, &q(&DEMO_SDKAPPID.to_string(), "1", "x", ADMIN), b"").1).unwrap(),
        70003,
    );
    assert_fail(
        &serde_json::from_str(&post(&agent, &q(&DEMO_SDKAPPID.to_string(), "1", &good, ADMIN), b"").1).unwrap(),
        60007,
    );
}

#[test]
fn body_too_long_is_refused_without_reading_it() {
    let emu = start();
    let target = url(&emu, DELETE, ADMIN, 5);
    let target = &target[emu.base_url().len()..];
    let request = format!("POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
    let (status, headers, body) = split_response(&raw_exchange(&emu, request.as_bytes()));
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "connection"), Some("close"));
    assert_fail(&serde_json::from_slice(&body).unwrap(), 80002);
}

#[test]
fn no_content_type_header_chunked_bodies_and_pipelining_are_served() {
    let emu = start();
    let group = public_group_with(&emu, &["a", "b"]);
    let target = url(&emu, DELETE, ADMIN, 9);
    let target = &target[emu.base_url().len()..];
    let body = json!({"GroupId": group, "Sender_Account": "a"}).to_string();
    // Two pipelined requests without Content-Type: one chunked, the second closing the connection.
    let request = format!(
        "POST {target} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n\
         POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        body.len()
    );
    let answer = raw_exchange(&emu, request.as_bytes());
    let text = String::from_utf8(answer).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert_eq!(text.matches(r#""ErrorCode":0"#).count(), 2, "{text}");
    assert_eq!(senders(&emu, &group, None), ["b"]);
    // Garbage that is not HTTP gets a 400 page and a closed connection.
    let (status, _, _) = split_response(&raw_exchange(&emu, b"HELLO\r\n\r\n"));
    assert_eq!(status, 400);
}

// ---------------------------------------------------------------- the commands

#[test]
fn delete_by_sender_hides_messages_and_history_shows_placeholders_on_request() {
    let emu = start();
    let group = public_group_with(&emu, &["spammer", "alice", "spammer", "bob"]);
    assert_ok(&call(&emu, DELETE, &json!({"GroupId": group, "Sender_Account": "spammer"})));
    assert_eq!(senders(&emu, &group, None), ["alice", "bob"]);
    // Unknown sender: OK, nothing changes.
    assert_ok(&call(&emu, DELETE, &json!({"GroupId": group, "Sender_Account": "nobody"})));
    assert_eq!(senders(&emu, &group, None), ["alice", "bob"]);

    let page = call(&emu, "group_msg_get_simple", &json!({"GroupId": group, "ReqMsgNumber": 20}));
    assert_ok(&page);
    let seqs: Vec<u64> = page["RspMsgList"].as_array().unwrap().iter().map(|m| m["MsgSeq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [4, 2], "newest first, deleted ones absent");
    assert_eq!(page["IsFinished"], 1);
    let page = call(&emu, "group_msg_get_simple", &json!({"GroupId": group, "ReqMsgNumber": 20, "WithRecalledMsg": 1}));
    let list = page["RspMsgList"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    for m in list {
        let deleted = m["From_Account"] == "spammer";
        assert_eq!(m["IsPlaceMsg"], if deleted { 2 } else { 0 }, "{m}");
        assert_eq!(m["MsgBody"].as_array().unwrap().is_empty(), deleted, "{m}");
        for name in ["MsgPriority", "MsgRandom", "MsgSeq", "MsgTimeStamp"] {
            assert!(m.get(name).is_some(), "{name} in {m}");
        }
    }
    let all = emu.messages(&group, None, true).unwrap();
    assert_eq!(all.iter().map(|m| m["MsgSeq"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4], "oldest first");
}

#[test]
fn only_the_1000_highest_msgseq_are_reached() {
    let emu = start();
    let group = emu.create_group(&GroupSpec::new("Private")).unwrap();
    emu.send_group_msg(&group, "spammer", "old", None).unwrap(); // MsgSeq 1
    for _ in 0..998 {
        emu.send_group_msg(&group, "alice", "x", None).unwrap();
    }
    emu.send_group_msg(&group, "spammer", "recent", None).unwrap(); // 1000
    emu.send_group_msg(&group, "spammer", "newest", None).unwrap(); // 1001: window is 2..=1001
    assert_ok(&call(&emu, DELETE, &json!({"GroupId": group, "Sender_Account": "spammer"})));
    let left = emu.messages(&group, None, false).unwrap();
    let spam: Vec<u64> =
        left.iter().filter(|m| m["From_Account"] == "spammer").map(|m| m["MsgSeq"].as_u64().unwrap()).collect();
    assert_eq!(spam, [1], "the message just outside the window survives");
    // Deleted messages still count in the window: after 999 more, MsgSeq 1 stays out of reach.
    assert_ok(&call(&emu, DELETE, &json!({"GroupId": group, "Sender_Account": "spammer"})));
    assert_eq!(emu.messages(&group, None, false).unwrap().len(), 999);
}

#[test]
fn msgseq_counts_per_group_and_per_topic() {
    let emu = start();
    let g1 = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let g2 = emu.create_group(&GroupSpec::new("ChatRoom")).unwrap();
    let send = |group: &str, topic: Option<&str>| -> Value {
        let mut body = json!({"GroupId": group, "Random": 1, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]});
        if let Some(t) = topic {
            body["TopicId"] = json!(t);
        }
        call(&emu, "send_group_msg", &body)
    };
    let first = send(&g1, None);
    assert_ok(&first);
    assert_eq!(first["MsgSeq"], 1);
    assert!(first["MsgTime"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(send(&g1, None)["MsgSeq"], 2);
    assert_eq!(send(&g2, None)["MsgSeq"], 1);
    assert_eq!(emu.messages(&g1, None, false).unwrap()[0]["From_Account"], ADMIN, "From_Account defaults to the admin");

    let community = call(&emu, "create_group", &json!({"Type": "Community", "Name": "c", "SupportTopic": 1}));
    assert_ok(&community);
    let c = community["GroupId"].as_str().unwrap().to_owned();
    assert!(c.starts_with("@TGS#_"), "{c}");
    let t1 = call(&emu, "create_topic", &json!({"GroupId": c, "TopicName": "one"}));
    assert_ok(&t1);
    let t1 = t1["TopicId"].as_str().unwrap().to_owned();
    let t2 = emu.create_topic(&c, "two", Some(&format!("{c}@TOPIC#_two"))).unwrap();
    assert_eq!(t2, format!("{c}@TOPIC#_two"));
    assert_fail(&call(&emu, "create_topic", &json!({"GroupId": c, "TopicName": "x", "TopicId": t2})), 10021);
    assert_eq!(send(&c, Some(&t1))["MsgSeq"], 1);
    assert_eq!(send(&c, Some(&t1))["MsgSeq"], 2);
    assert_eq!(send(&c, Some(&t2))["MsgSeq"], 1);
    assert_eq!(send(&c, None)["MsgSeq"], 1);
}

#[test]
fn topic_deletion_stays_inside_its_topic() {
    let emu = start();
    let c = emu.create_group(&GroupSpec::community_with_topics()).unwrap();
    let t1 = emu.create_topic(&c, "one", None).unwrap();
    let t2 = emu.create_topic(&c, "two", None).unwrap();
    for topic in [Some(t1.as_str()), Some(t2.as_str()), None] {
        emu.send_group_msg(&c, "spammer", "x", topic).unwrap();
        emu.send_group_msg(&c, "alice", "y", topic).unwrap();
    }
    assert_ok(&call(&emu, DELETE, &json!({"GroupId": c, "Sender_Account": "spammer", "TopicId": t1})));
    assert_eq!(senders(&emu, &c, Some(&t1)), ["alice"]);
    assert_eq!(senders(&emu, &c, Some(&t2)), ["spammer", "alice"]);
    assert_eq!(senders(&emu, &c, None), ["spammer", "alice"]);
    let unknown = format!("{c}@TOPIC#_nothing");
    assert_fail(&call(&emu, DELETE, &json!({"GroupId": c, "Sender_Account": "spammer", "TopicId": unknown})), 10010);
    let public = public_group_with(&emu, &["spammer"]);
    let topic = format!("{public}@TOPIC#_x");
    assert_fail(&call(&emu, DELETE, &json!({"GroupId": public, "Sender_Account": "spammer", "TopicId": topic})), 10007);
    assert_fail(&call(&emu, "create_topic", &json!({"GroupId": public, "TopicName": "x"})), 10007);
}

#[test]
fn live_and_broadcast_groups_store_nothing_and_deletion_answers_ok() {
    let emu = start();
    for kind in ["AVChatRoom", "BChatRoom"] {
        let created = call(&emu, "create_group", &json!({"Type": kind, "Name": "live"}));
        assert_ok(&created);
        let g = created["GroupId"].as_str().unwrap().to_owned();
        assert_eq!(emu.send_group_msg(&g, ADMIN, "x", None).unwrap(), 1);
        assert_eq!(emu.send_group_msg(&g, ADMIN, "y", None).unwrap(), 2);
        assert!(emu.messages(&g, None, true).unwrap().is_empty(), "{kind} keeps no history");
        assert_ok(&call(&emu, DELETE, &json!({"GroupId": g, "Sender_Account": ADMIN})));
        let page = call(&emu, "group_msg_get_simple", &json!({"GroupId": g, "ReqMsgNumber": 5}));
        assert_ok(&page);
        assert_eq!(page["RspMsgList"], json!([]));
    }
    let b = emu.create_group(&GroupSpec::new("BChatRoom")).unwrap();
    let body = json!({"GroupId": b, "From_Account": "fan", "Random": 1, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]});
    assert_fail(&call(&emu, "send_group_msg", &body), 10007);
}

#[test]
fn group_ids_custom_taken_and_destroyed() {
    let emu = start();
    for (kind, prefix) in [("Private", "@TGS#"), ("Work", "@TGS#"), ("Public", "@TGS#"), ("Meeting", "@TGS#")] {
        let answer = call(&emu, "create_group", &json!({"Type": kind, "Name": "n"}));
        assert_ok(&answer);
        let id = answer["GroupId"].as_str().unwrap();
        assert!(id.starts_with(prefix) && !id.starts_with("@TGS#_"), "{kind}: {id}");
    }
    assert_ok(&call(&emu, "create_group", &json!({"Type": "Public", "Name": "n", "GroupId": "my-group"})));
    assert_fail(&call(&emu, "create_group", &json!({"Type": "Public", "Name": "n", "GroupId": "my-group"})), 10021);
    assert_fail(&call(&emu, "create_group", &json!({"Type": "Public", "Name": "n", "GroupId": "@TGS#mine"})), 10015);
    assert_fail(&call(&emu, "create_group", &json!({"Type": "Community", "Name": "n", "GroupId": "plain"})), 10015);
    assert_fail(&call(&emu, "create_group", &json!({"Type": "Public", "Name": "x".repeat(31)})), 10004);
    assert_fail(&call(&emu, "create_group", &json!({"Type": "Castle", "Name": "n"})), 10004);
    assert_fail(&call(&emu, "create_group", &json!({"Name": "n"})), 10004);
    assert_fail(&call(&emu, "create_group", &json!({"Type": "Public", "Name": "n", "Owner_Account": 1})), 60015);
    assert_fail(&call(&emu, "create_group", &json!({"Type": "Public", "Name": "n", "SupportTopic": 1})), 10004);

    emu.send_group_msg("my-group", "a", "x", None).unwrap();
    assert_ok(&call(&emu, "destroy_group", &json!({"GroupId": "my-group"})));
    assert_fail(&call(&emu, DELETE, &json!({"GroupId": "my-group", "Sender_Account": "a"})), 10010);
    assert_fail(&call(&emu, "destroy_group", &json!({"GroupId": "my-group"})), 10010);
    assert_eq!(emu.destroy_group("my-group").unwrap_err().code(), Some(10010));
}

#[test]
fn import_and_recall_over_http() {
    let emu = start();
    let g = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let item = |from: &str, t: u64| json!({"From_Account": from, "SendTime": t, "Random": 3, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "old"}}]});
    let answer = call(&emu, "import_group_msg", &json!({"GroupId": g, "MsgList": [item("a", 100), item("b", 200)]}));
    assert_ok(&answer);
    assert_eq!(
        answer["ImportMsgResult"],
        json!([{"Result": 0, "MsgSeq": 1, "MsgTime": 100}, {"Result": 0, "MsgSeq": 2, "MsgTime": 200}])
    );
    let eight: Vec<Value> = (0..8).map(|t| item("a", t)).collect();
    assert_fail(&call(&emu, "import_group_msg", &json!({"GroupId": g, "MsgList": eight})), 10004);
    assert_eq!(emu.send_group_msg(&g, "c", "new", None).unwrap(), 3);

    let answer = call(&emu, "group_msg_recall", &json!({"GroupId": g, "MsgSeqList": [{"MsgSeq": 2}, {"MsgSeq": 42}]}));
    assert_ok(&answer);
    assert_eq!(answer["RecallRetList"][0], json!({"MsgSeq": 2, "RetCode": 0}));
    assert_ne!(answer["RecallRetList"][1]["RetCode"], 0);
    assert_eq!(senders(&emu, &g, None), ["a", "c"]);
    let placeholder = &emu.messages(&g, None, true).unwrap()[1];
    assert_eq!((placeholder["MsgSeq"].as_u64(), placeholder["IsPlaceMsg"].as_u64()), (Some(2), Some(2)));
}

// ---------------------------------------------------------------- rate limit

#[test]
fn a_burst_over_the_limit_gets_60007_and_is_logged() {
    // 0.01/s: one request per 100 s, so the burst's outcome does not depend on timing.
    let emu = start_with(EmulatorConfig { rate_limit: Some(0.01), ..EmulatorConfig::default() });
    let group = public_group_with(&emu, &["a"]);
    let body = json!({"GroupId": group, "Sender_Account": "a"});
    assert_ok(&call(&emu, DELETE, &body));
    for _ in 0..5 {
        let envelope = call(&emu, DELETE, &body);
        assert_fail(&envelope, 60007);
        assert!(envelope["ErrorInfo"].as_str().unwrap().contains("0.01"), "{envelope}");
    }
    let log = emu.requests();
    assert_eq!(
        log.iter().map(|r| r.error_code).collect::<Vec<_>>(),
        [Some(0), Some(60007), Some(60007), Some(60007), Some(60007), Some(60007)]
    );
    emu.set_rate_limit(None);
    assert_ok(&call(&emu, DELETE, &body));
}

#[test]
fn the_limit_is_a_sliding_second_of_admitted_arrivals() {
    let limit = 4;
    let emu = start_with(EmulatorConfig { rate_limit: Some(limit as f64), ..EmulatorConfig::default() });
    let group = public_group_with(&emu, &["a"]);
    let url = url(&emu, DELETE, ADMIN, 1);
    let body = serde_json::to_vec(&json!({"GroupId": group, "Sender_Account": "a"})).unwrap();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                // Long enough for the window to slide (a loop bound, not an assertion).
                let agent = agent();
                let started = std::time::Instant::now();
                while started.elapsed() < Duration::from_millis(2500) {
                    post(&agent, &url, &body);
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
        }
    });
    let log = emu.requests();
    let admitted: Vec<Duration> = log.iter().filter(|r| r.error_code == Some(0)).map(|r| r.arrived).collect();
    let mut sorted = admitted.clone();
    sorted.sort();
    assert!(!sorted.is_empty());
    for (i, t) in sorted.iter().enumerate() {
        let in_window = sorted[i..].iter().take_while(|u| **u - *t < Duration::from_secs(1)).count();
        assert!(in_window <= limit, "{in_window} admitted within one second from {t:?}");
    }
    // Every refusal had `limit` admitted arrivals in the second before it.
    for refused in log.iter().filter(|r| r.error_code == Some(60007)) {
        let before =
            sorted.iter().filter(|t| **t <= refused.arrived && refused.arrived - **t < Duration::from_secs(1)).count();
        assert_eq!(before, limit, "refused at {:?}", refused.arrived);
    }
    assert!(log.iter().any(|r| r.error_code == Some(60007)), "{} requests in 2.5 s exceed 4/s", log.len());
    assert!(sorted.len() > limit, "the window slid: {} admitted", sorted.len());
    assert_eq!(log.iter().filter(|r| r.error_code != Some(0) && r.error_code != Some(60007)).count(), 0);
}

// ---------------------------------------------------------------- faults

#[test]
fn drop_closes_the_connection_without_an_answer() {
    let emu = start();
    let group = public_group_with(&emu, &["a"]);
    emu.inject(DELETE, Fault::drop_connection());
    let target = url(&emu, DELETE, ADMIN, 77);
    let target = &target[emu.base_url().len()..];
    let body = json!({"GroupId": group, "Sender_Account": "a"}).to_string();
    let request = format!("POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    assert!(raw_exchange(&emu, request.as_bytes()).is_empty(), "not a byte before the close");
    assert_eq!(senders(&emu, &group, None), ["a"], "the dropped request did nothing");
    let log = emu.requests();
    let r = &log[0];
    assert_eq!((r.random, r.fault.as_deref(), r.http_status, r.error_code), (Some(77), Some("drop"), None, None));
    // ureq sees a transport error; the next request is served normally.
    emu.inject(DELETE, Fault::drop_connection());
    assert!(agent().post(url(&emu, DELETE, ADMIN, 78)).send(body.as_bytes()).is_err());
    assert_ok(&call(&emu, DELETE, &json!({"GroupId": group, "Sender_Account": "a"})));
}

#[test]
fn truncate_sends_less_than_content_length_then_closes() {
    let emu = start();
    emu.inject("*", Fault::truncate());
    let target = url(&emu, DELETE, ADMIN, 1);
    let target = &target[emu.base_url().len()..];
    let request = format!("POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}");
    let (status, headers, body) = split_response(&raw_exchange(&emu, request.as_bytes()));
    assert_eq!(status, 200);
    let promised: usize = header(&headers, "content-length").unwrap().parse().unwrap();
    assert!(!body.is_empty() && body.len() < promised, "{} of {promised} bytes", body.len());
    // With a body of our own, half of it is sent; ureq fails reading it.
    emu.inject(DELETE, Fault { body: Some(b"0123456789".to_vec()), truncate: true, ..Fault::default() });
    let response = agent().post(url(&emu, DELETE, ADMIN, 2)).send(&b"{}"[..]).unwrap();
    assert_eq!(response.headers()["content-length"], "10");
    assert!(response.into_body().read_to_vec().is_err(), "the body ends early");
    let faults: Vec<_> = emu.requests().into_iter().map(|r| (r.fault, r.http_status, r.error_code)).collect();
    assert_eq!(faults, [(Some("truncate".into()), Some(200), None), (Some("truncate".into()), Some(200), None)]);
}

#[test]
fn http_status_sends_an_html_page_and_body_sends_exact_bytes() {
    let emu = start();
    let group = public_group_with(&emu, &["a"]);
    let request = json!({"GroupId": group, "Sender_Account": "a"}).to_string();
    emu.inject(DELETE, Fault::http_status(502));
    let response = agent().post(url(&emu, DELETE, ADMIN, 1)).send(request.as_bytes()).unwrap();
    assert_eq!(response.status().as_u16(), 502);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = response.into_body().read_to_string().unwrap();
    assert!(page.contains("<html>") && page.contains("502 Bad Gateway"), "{page}");

    emu.inject(DELETE, Fault::body(&b"\x00not the envelope"[..]));
    let (status, text) = post(&agent(), &url(&emu, DELETE, ADMIN, 2), request.as_bytes());
    assert_eq!((status, text.as_str()), (200, "\u{0}not the envelope"));

    emu.inject(DELETE, Fault { error_code: Some(10002), error_info: Some("busy".into()), ..Fault::default() });
    let envelope = call(&emu, DELETE, &json!({"GroupId": group, "Sender_Account": "a"}));
    assert_eq!(envelope, json!({"ActionStatus": "FAIL", "ErrorInfo": "busy", "ErrorCode": 10002}));
    assert_eq!(senders(&emu, &group, None), ["a"], "no faulted request reached the command");

    let log = emu.requests();
    let seen: Vec<_> = log.iter().map(|r| (r.fault.clone(), r.http_status, r.error_code)).collect();
    assert_eq!(
        seen,
        [
            (Some("http_status:502".into()), Some(502), None),
            (Some("body".into()), Some(200), None),
            (Some("error_code:10002".into()), Some(200), Some(10002)),
        ]
    );
}

#[test]
fn faults_count_down_match_by_command_and_can_be_cleared() {
    let emu = start();
    let group = public_group_with(&emu, &["a"]);
    let body = json!({"GroupId": group, "Sender_Account": "nobody"});
    emu.inject(DELETE, Fault::error_code(70500).times(2));
    assert_fail(&call(&emu, "create_group", &json!({"Type": "Castle", "Name": "n"})), 10004); // other command
    assert_fail(&call(&emu, DELETE, &body), 70500);
    assert_fail(&call(&emu, DELETE, &body), 70500);
    assert_ok(&call(&emu, DELETE, &body));

    emu.inject("*", Fault::error_code(60008).times(3));
    assert_fail(&call(&emu, "group_msg_get_simple", &json!({})), 60008);
    assert_fail(&call(&emu, DELETE, &body), 60008);
    emu.clear_faults();
    assert_ok(&call(&emu, DELETE, &body));

    // A fault applies before the checks: even a request with a bad UserSig gets it, and the log
    // still has its random.
    emu.inject(DELETE, Fault::error_code(10002));
    let bad = url(&emu, DELETE, ADMIN, 4242).replace("usersig=", "usersig=x");
    let envelope: Value = serde_json::from_str(&post(&agent(), &bad, b"{}").1).unwrap();
    assert_fail(&envelope, 10002);
    assert_eq!(emu.requests().last().unwrap().random, Some(4242));
}

#[test]
fn a_delay_alone_then_answers_normally() {
    let emu = start();
    let group = public_group_with(&emu, &["a", "b"]);
    let delay = Duration::from_millis(150);
    emu.inject(DELETE, Fault::delay(delay));
    assert_ok(&call(&emu, DELETE, &json!({"GroupId": group, "Sender_Account": "a"})));
    assert_eq!(senders(&emu, &group, None), ["b"]);
    let r = &emu.requests()[0];
    assert_eq!(r.fault.as_deref(), Some("delay:150ms"));
    assert!(r.finished - r.arrived >= delay, "{:?}", r.finished - r.arrived);
    // Delay then drop.
    emu.inject(DELETE, Fault { delay: Some(delay), drop: true, ..Fault::default() });
    assert!(agent().post(url(&emu, DELETE, ADMIN, 1)).send(&b"{}"[..]).is_err());
    assert_eq!(emu.requests()[1].fault.as_deref(), Some("delay:150ms+drop"));
}

// ---------------------------------------------------------------- latency and concurrency

#[test]
fn latency_is_served_concurrently() {
    let n = 16;
    let latency = Duration::from_millis(1000);
    let emu = start_with(EmulatorConfig { latency, rate_limit: None, ..EmulatorConfig::default() });
    let group = public_group_with(&emu, &["a"]);
    let url = url(&emu, DELETE, ADMIN, 1);
    let body = serde_json::to_vec(&json!({"GroupId": group, "Sender_Account": "nobody"})).unwrap();
    let barrier = Barrier::new(n);
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                let agent = agent();
                barrier.wait();
                let (status, text) = post(&agent, &url, &body);
                assert_eq!(status, 200);
                assert_ok(&serde_json::from_str(&text).unwrap());
            });
        }
    });
    let log = emu.requests();
    assert_eq!(log.len(), n);
    for r in &log {
        assert!(r.finished - r.arrived >= latency, "each answer waited the latency: {:?}", r.finished - r.arrived);
    }
    // The most requests in flight at one moment (a request is in flight from arrival to finish).
    let peak =
        log.iter().map(|r| log.iter().filter(|o| o.arrived <= r.arrived && r.arrived < o.finished).count()).max();
    assert!(peak.unwrap() >= n / 2, "requests overlapped: peak {peak:?} of {n}");
    emu.set_latency(Duration::ZERO);
    emu.clear_requests();
    assert_ok(&call(&emu, DELETE, &json!({"GroupId": group, "Sender_Account": "nobody"})));
    assert!(emu.requests()[0].finished - emu.requests()[0].arrived < latency);
}

#[test]
fn concurrent_sends_get_unique_complete_msgseqs() {
    let emu = start();
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let threads = 6;
    let per_thread = 40;
    let url = url(&emu, "send_group_msg", ADMIN, 1);
    let seqs: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (url, group) = (&url, &group);
                s.spawn(move || {
                    let agent = agent();
                    (0..per_thread)
                        .map(|i| {
                            let body = json!({"GroupId": group, "From_Account": format!("user{t}"), "Random": i,
                                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("{t}/{i}")}}]});
                            let (_, text) = post(&agent, url, &serde_json::to_vec(&body).unwrap());
                            let envelope: Value = serde_json::from_str(&text).unwrap();
                            assert_ok(&envelope);
                            envelope["MsgSeq"].as_u64().unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    let total = (threads * per_thread) as u64;
    assert_eq!(sorted, (1..=total).collect::<Vec<_>>(), "unique and without gaps");
    assert_eq!(emu.messages(&group, None, false).unwrap().len() as u64, total);
}

// ---------------------------------------------------------------- the request log

#[test]
fn the_log_has_every_field_and_never_the_usersig() {
    let emu = start();
    let group = public_group_with(&emu, &["a"]);
    let body = json!({"GroupId": group, "Sender_Account": "a"});
    let target = url(&emu, DELETE, ADMIN, 31337);
    let usersig = target.split("usersig=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let (status, _) = post(&agent(), &target, &serde_json::to_vec(&body).unwrap());
    assert_eq!(status, 200);
    call_as(&emu, DELETE, "stranger", &body);
    let log = emu.requests();
    assert_eq!(log.len(), 2);
    let r = &log[0];
    assert_eq!(r.service, "group_open_http_svc");
    assert_eq!(r.command, DELETE);
    assert_eq!(r.random, Some(31337));
    assert_eq!(r.identifier.as_deref(), Some(ADMIN));
    assert_eq!(r.sdkappid, Some(DEMO_SDKAPPID));
    assert_eq!((r.error_code, r.error_info.as_deref(), r.http_status), (Some(0), Some(""), Some(200)));
    assert_eq!(r.fault, None);
    assert_eq!(r.body.as_ref(), Some(&body));
    assert!(r.arrived <= r.finished);
    assert_eq!((log[1].error_code, log[1].identifier.as_deref()), (Some(10007), Some("stranger")));
    assert!(log[0].id < log[1].id);

    let serialized = serde_json::to_string(&log).unwrap();
    let debug = format!("{log:?}");
    for text in [&serialized, &debug] {
        assert!(!text.contains(&usersig), "the UserSig is never logged");
        assert!(!text.contains(DEMO_SECRET_KEY));
    }
    let as_dict: Value = serde_json::to_value(&log[0]).unwrap();
    assert!(as_dict["arrived"].is_f64() && as_dict["finished"].is_f64(), "{as_dict}");
    emu.clear_requests();
    assert!(emu.requests().is_empty());
    // A bounded log keeps the latest requests.
    emu.set_log_capacity(2);
    for random in [1, 2, 3] {
        post(&agent(), &url(&emu, DELETE, ADMIN, random), &serde_json::to_vec(&body).unwrap());
    }
    assert_eq!(emu.requests().iter().map(|r| r.random).collect::<Vec<_>>(), [Some(2), Some(3)]);
    emu.set_log_capacity(0);
    post(&agent(), &url(&emu, DELETE, ADMIN, 4), &serde_json::to_vec(&body).unwrap());
    assert!(emu.requests().is_empty());
}

#[test]
fn shutdown_closes_open_connections_and_frees_the_port() {
    let emu = start_with(EmulatorConfig { latency: Duration::from_secs(30), ..EmulatorConfig::default() });
    let port = emu.port();
    // A request held in a 30 s latency, and an idle keep-alive connection.
    let idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let waiting = {
        let url = url(&emu, DELETE, ADMIN, 1);
        std::thread::spawn(move || agent().post(url).send(&b"{}"[..]).map(|r| r.status().as_u16()))
    };
    // Whether or not the request has reached the server yet, it must end in an error, not in 30 s.
    std::thread::sleep(Duration::from_millis(200));
    emu.shutdown(); // returns without waiting 30 s
    assert!(waiting.join().unwrap().is_err(), "the waiting request's connection was closed");
    let mut idle = idle;
    idle.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(idle.read(&mut [0u8; 16]).unwrap_or(0), 0, "the idle connection was closed");
    // The port is free again.
    let again = Emulator::start(EmulatorConfig { port, ..EmulatorConfig::default() });
    assert!(again.is_ok(), "{again:?}");
}

// ---------------------------------------------------------------- the standalone binary

#[test]
fn the_binary_prints_one_line_serves_and_stops_when_stdin_closes() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_timrest-emulator"))
        .args(["--port", "0", "--rate-limit", "off", "--admin", "ops", "--latency", "0", "--seed-demo"])
        .arg("--stop-on-stdin-eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base_url = line.trim().strip_prefix("timrest-emulator listening on ").expect(&line).to_owned();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");

    // The demo groups have their names as IDs, and the spammer is a member of each; `ops` is
    // the only admin.
    let call = |identifier: &str, command: &str, body: &str| -> Value {
        let url = format!(
            "{base_url}/v4/group_open_http_svc/{command}?sdkappid={DEMO_SDKAPPID}&identifier={identifier}&usersig={}&random=1&contenttype=json",
            sig(identifier)
        );
        serde_json::from_str(&post(&agent(), &url, body.as_bytes()).1).unwrap()
    };
    let joined = call("ops", "get_joined_group_list", r#"{"Member_Account":"spammer42"}"#);
    assert_ok(&joined);
    let ids: Vec<&str> =
        joined["GroupIdList"].as_array().unwrap().iter().map(|g| g["GroupId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["release-team", "ops-oncall", "friday-meetup"], "{joined}");
    let delete = r#"{"GroupId":"release-team","Sender_Account":"spammer42"}"#;
    assert_fail(&call(ADMIN, DELETE, delete), 10007);
    assert_ok(&call("ops", DELETE, delete));
    let history = call("ops", "group_msg_get_simple", r#"{"GroupId":"release-team","ReqMsgNumber":20}"#);
    let live: Vec<&str> = history["RspMsgList"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["IsPlaceMsg"] == 0)
        .map(|m| m["From_Account"].as_str().unwrap())
        .collect();
    assert_eq!(live.len(), 4, "{history}");
    assert!(!live.contains(&"spammer42"), "{history}");

    drop(child.stdin.take()); // EOF on stdin: the emulator stops
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "exactly one line on stdout");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    for group in ["Public group release-team", "Work group ops-oncall", "ChatRoom group friday-meetup"] {
        assert!(stderr.contains(group), "{stderr}");
    }
}

/// SIGTERM stops it the orderly way: every request served is in the `--log` file, one JSON line
/// each, with no secret.
#[cfg(unix)]
#[test]
fn the_binary_writes_its_whole_log_when_terminated() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let dir = std::env::temp_dir().join(format!("timrest-emulator-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("requests.jsonl");
    let _ = std::fs::remove_file(&log);
    let mut child = Command::new(env!("CARGO_BIN_EXE_timrest-emulator"))
        .args(["--rate-limit", "off", "--log"])
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base_url = line.trim().strip_prefix("timrest-emulator listening on ").expect(&line).to_owned();
    for i in 0..5 {
        let url = format!(
            "{base_url}/v4/group_open_http_svc/{DELETE}?sdkappid={DEMO_SDKAPPID}&identifier={ADMIN}&usersig={}&random={i}&contenttype=json",
            sig(ADMIN)
        );
        assert_fail(
            &serde_json::from_str(&post(&agent(), &url, br#"{"GroupId":"none","Sender_Account":"s"}"#).1).unwrap(),
            10010,
        );
    }
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(&log).unwrap();
    let randoms: Vec<u64> =
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["random"].as_u64().unwrap()).collect();
    assert_eq!(randoms, [0, 1, 2, 3, 4], "{text}");
    assert!(!text.contains(&sig(ADMIN)) && !text.contains(DEMO_SECRET_KEY), "no secret in the log");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_binary_refuses_bad_arguments() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_timrest-emulator"))
        .args(["--secret-key", "do-not-echo-me", "--rate-limit", "fast"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--rate-limit"), "{stderr}");
    assert!(!stderr.contains("do-not-echo-me"), "the secret key is never echoed: {stderr}");
}

/// Tencent counts its quota per app and per command: each command's quota is held apart (60007),
/// and an app-wide quota counts every command together (60011).
#[test]
fn each_command_has_its_own_quota_and_the_app_one_counts_them_all() {
    let emu = Emulator::start(EmulatorConfig { rate_limit: Some(2.0), ..EmulatorConfig::default() }).unwrap();
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let client = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url(emu.base_url())
        .rate_limit(None)
        .max_retries(0)
        .build()
        .unwrap();
    let get = || {
        client.call(
            "group_open_http_svc",
            "group_msg_get_simple",
            &serde_json::json!({"GroupId": group, "ReqMsgNumber": 1}),
        )
    };
    client.delete_group_msg_by_sender(&group, "s").unwrap();
    client.delete_group_msg_by_sender(&group, "s").unwrap();
    let e = client.delete_group_msg_by_sender(&group, "s").unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::RateLimited, Some(60007)));
    assert!(e.info().contains("delete_group_msg_by_sender"), "{e}");
    // Another command still has its whole quota.
    get().unwrap();
    get().unwrap();
    assert_eq!(get().unwrap_err().code(), Some(60007));

    emu.set_rate_limit(None);
    emu.set_app_rate_limit(Some(3.0));
    std::thread::sleep(Duration::from_millis(1100));
    client.delete_group_msg_by_sender(&group, "s").unwrap();
    get().unwrap();
    client.delete_group_msg_by_sender(&group, "s").unwrap();
    let e = get().unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::RateLimited, Some(60011)));
}

/// The standalone binary's help names the demo app and key a client needs.
#[test]
fn the_emulator_binary_help_shows_the_demo_key() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_timrest-emulator")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(help.contains(DEMO_SECRET_KEY) && help.contains(&DEMO_SDKAPPID.to_string()), "{help}");
}

/// The request log keeps no large body and a bounded total of bodies (issue 28, item 17): a
/// client sending 1 MiB bodies could otherwise grow the emulator by ~16 MB per request.
#[test]
fn the_request_log_keeps_large_bodies_by_their_size_and_bodies_within_a_budget() {
    let emu = Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() }).unwrap();
    let client = Client::builder()
        .sdkappid(emu.sdkappid())
        .secret_key(emu.secret_key())
        .base_url(emu.base_url())
        .rate_limit(None)
        .build()
        .unwrap();
    let big = "x".repeat(1000 * 1024);
    for _ in 0..3 {
        let e =
            client.call("group_open_http_svc", "create_group", &json!({"Type": "Public", "Name": big})).unwrap_err();
        assert_eq!(e.code(), Some(10004));
    }
    for record in emu.requests() {
        let shown = record.body.unwrap().to_string();
        assert!(shown.contains("_omitted") && shown.len() < 200, "{shown:.200}");
    }
    // 60 KiB bodies are kept, up to 64 MiB of them: the oldest records go first.
    emu.clear_requests();
    let name = "y".repeat(60 * 1024);
    let sent = 1200;
    for _ in 0..sent {
        let _ = client.call("group_open_http_svc", "create_group", &json!({"Type": "Public", "Name": name}));
    }
    let kept = emu.requests();
    assert!(kept.len() < sent && kept.len() > 1000, "{} of {sent} kept", kept.len());
    assert!(kept.iter().all(|r| r.body.as_ref().is_some_and(|b| b["Name"].as_str().map(str::len) == Some(60 * 1024))));
    let ids: Vec<u64> = kept.iter().map(|r| r.id).collect();
    assert_eq!(*ids.last().unwrap(), 3 + sent as u64 - 1, "the newest are the ones kept");
}
