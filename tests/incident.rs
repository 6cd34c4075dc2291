//! The moderation commands and the incident job (`Client::purge_senders`), over real loopback
//! HTTP to the emulator (issue "A spam incident in one job").

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use serde_json::json;
use timrest::emulator::{Emulator, EmulatorConfig, GroupSpec};
use timrest::moderation::{HistoryRequest, PERMANENT};
use timrest::purge::{JobEvent, JobOptions, Outcome, Step};
use timrest::{Client, ErrorKind};

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() }).expect("emulator starts")
}

fn client(emu: &Emulator) -> Client {
    Client::builder()
        .sdkappid(emu.sdkappid())
        .secret_key(emu.secret_key())
        .base_url(emu.base_url())
        .rate_limit(None)
        .build()
        .expect("client builds")
}

fn group(emu: &Emulator, kind: &str, members: &[&str]) -> String {
    let spec = GroupSpec { members: members.iter().map(|m| (*m).to_owned()).collect(), ..GroupSpec::new(kind) };
    emu.create_group(&spec).expect("group")
}

fn visible_from(emu: &Emulator, gid: &str, topic: Option<&str>, who: &str) -> usize {
    emu.messages(gid, topic, false).expect("history").iter().filter(|m| m["From_Account"] == who).count()
}

fn writes(emu: &Emulator) -> Vec<String> {
    const READS: [&str; 3] = ["get_joined_group_list", "get_topic", "group_msg_get_simple"];
    emu.requests().into_iter().map(|r| r.command).filter(|c| !READS.contains(&c.as_str())).collect()
}

#[test]
fn a_global_mute_stops_group_messages_until_lifted() {
    let emu = emulator();
    let client = client(&emu);
    let gid = group(&emu, "Public", &["spam"]);
    client.set_no_speaking("spam", Some(PERMANENT), Some(PERMANENT)).unwrap();
    let state = client.get_no_speaking("spam").unwrap();
    assert_eq!((state.c2c_seconds, state.group_seconds), (PERMANENT, PERMANENT));
    let e = emu.send_group_msg(&gid, "spam", "buy", None).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::PermissionDenied, Some(10017)));
    client.set_no_speaking("spam", None, Some(0)).unwrap();
    assert_eq!(client.get_no_speaking("spam").unwrap().group_seconds, 0);
    emu.send_group_msg(&gid, "spam", "again", None).unwrap();
    // Our limits, before any request.
    let before = emu.requests().len();
    assert_eq!(client.set_no_speaking("spam", None, None).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        client.set_no_speaking("spam", Some(PERMANENT + 1), None).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(emu.requests().len(), before, "nothing was sent");
}

#[test]
fn kick_is_recorded_and_group_mutes_and_removals_hold() {
    let emu = emulator();
    let client = client(&emu);
    client.kick("spam").unwrap();
    client.kick("spam").unwrap();
    assert_eq!(emu.kick_count("spam"), 2);

    let gid = group(&emu, "Public", &["spam", "alice"]);
    client.forbid_send_msg(&gid, &["spam"], 3600, None).unwrap();
    assert_eq!(emu.send_group_msg(&gid, "spam", "x", None).unwrap_err().code(), Some(10017));
    emu.send_group_msg(&gid, "alice", "fine", None).unwrap();
    let other = group(&emu, "Public", &["spam"]);
    emu.send_group_msg(&other, "spam", "elsewhere", None).expect("the group mute is per group");

    client.delete_group_member(&gid, &["spam", "nobody"], true, Some("spam")).unwrap();
    assert_eq!(emu.members(&gid).unwrap(), ["alice"]);
    let live = group(&emu, "AVChatRoom", &["spam"]);
    let e = client.delete_group_member(&live, &["spam"], true, None).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::InvalidParameter, Some(10004)));
    let work = group(&emu, "Private", &["spam"]);
    assert_eq!(client.forbid_send_msg(&work, &["spam"], 60, None).unwrap_err().code(), Some(10007));

    let before = emu.requests().len();
    let many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    assert_eq!(client.forbid_send_msg(&gid, &many, 60, None).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        client.delete_group_member(&gid, &many[..101], true, None).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        client.delete_group_member::<&str>(&gid, &[], true, None).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(emu.requests().len(), before, "nothing was sent");
}

#[test]
fn history_pages_backward_and_recall_answers_per_seq() {
    let emu = emulator();
    let client = client(&emu);
    let gid = group(&emu, "Public", &["spam", "alice"]);
    for i in 0..45 {
        emu.send_group_msg(&gid, if i % 3 == 0 { "spam" } else { "alice" }, &format!("m{i}"), None).unwrap();
    }
    let mut seen = Vec::new();
    let mut request = HistoryRequest::new(gid.clone());
    loop {
        let page = client.group_msg_get_simple(&request).unwrap();
        assert!(page.messages.len() <= 20);
        seen.extend(page.messages.iter().map(|m| m.msg_seq));
        if page.is_finished {
            break;
        }
        request.req_msg_seq = Some(page.messages.last().unwrap().msg_seq - 1);
    }
    assert_eq!(seen, (1..=45).rev().collect::<Vec<u64>>());
    let results = client.group_msg_recall(&gid, &[1, 4, 9999], Some("spam"), None).unwrap();
    assert_eq!(results.iter().map(|r| (r.msg_seq, r.ok())).collect::<Vec<_>>(), [(1, true), (4, true), (9999, false)]);
    assert_eq!(visible_from(&emu, &gid, None, "spam"), 13);
    let before = emu.requests().len();
    assert_eq!(client.group_msg_recall(&gid, &[1; 11], None, None).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let wide = HistoryRequest { req_msg_number: 21, ..HistoryRequest::new(gid.clone()) };
    assert_eq!(client.group_msg_get_simple(&wide).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(emu.requests().len(), before, "nothing was sent");
}

/// An incident: `spam0..spamN` in groups of every type, alice everywhere; in the deep groups the
/// spam is older than the latest 1000 messages.
struct Incident {
    spammers: Vec<String>,
    /// (group, topic) streams that keep history.
    streams: Vec<(String, Option<String>)>,
    avchatrooms: Vec<String>,
    alice_messages: usize,
}

fn incident(emu: &Emulator, spammers: usize, groups: usize, deep_every: usize) -> Incident {
    const TYPES: [&str; 5] = ["Public", "Private", "ChatRoom", "Community", "AVChatRoom"];
    let names: Vec<String> = (0..spammers).map(|i| format!("spam{i}")).collect();
    let mut out = Incident { spammers: names.clone(), streams: Vec::new(), avchatrooms: Vec::new(), alice_messages: 0 };
    for g in 0..groups {
        let kind = TYPES[g % TYPES.len()];
        let mut members = vec!["alice".to_owned()];
        members.extend(names.iter().filter(|_| true).skip(g % 2).step_by(2).cloned());
        let spec = GroupSpec { members: members.clone(), support_topic: kind == "Community", ..GroupSpec::new(kind) };
        let gid = emu.create_group(&spec).unwrap();
        if kind == "AVChatRoom" {
            out.avchatrooms.push(gid);
            continue;
        }
        let mut streams = vec![None];
        if kind == "Community" {
            streams.push(Some(emu.create_topic(&gid, "news", None).unwrap()));
        }
        for topic in streams {
            let deep = g % deep_every == 0;
            // Old spam, then (in the deep groups) 1200 of alice's messages on top of it.
            for spammer in &members[1..] {
                for i in 0..3 {
                    emu.send_group_msg(&gid, spammer, &format!("old {i}"), topic.as_deref()).unwrap();
                }
            }
            let filler = if deep { 1200 } else { 5 };
            for i in 0..filler {
                emu.send_group_msg(&gid, "alice", &format!("hi {i}"), topic.as_deref()).unwrap();
            }
            for spammer in &members[1..] {
                emu.send_group_msg(&gid, spammer, "new", topic.as_deref()).unwrap();
            }
            out.alice_messages += filler;
            out.streams.push((gid.clone(), topic));
        }
    }
    out
}

fn spam_left(emu: &Emulator, incident: &Incident) -> usize {
    let mut left = 0;
    for (gid, topic) in &incident.streams {
        for m in emu.messages(gid, topic.as_deref(), false).unwrap() {
            if m["From_Account"] != "alice" {
                left += 1;
            }
        }
    }
    left
}

fn alice_left(emu: &Emulator, incident: &Incident) -> usize {
    incident.streams.iter().map(|(g, t)| visible_from(emu, g, t.as_deref(), "alice")).sum()
}

#[test]
fn a_ban_with_deep_leaves_no_spam_and_mutes_first() {
    let emu = emulator();
    let client = client(&emu);
    let incident = incident(&emu, 6, 10, 2);
    emu.clear_requests();
    let options = JobOptions { mute: true, kick: true, remove: true, deep: true, ..JobOptions::default() };
    let mut planned = 0;
    let report = client
        .purge_senders(&incident.spammers, &options, |event| {
            if let JobEvent::Planned(plan) = event {
                planned = plan.len();
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(
        report.is_success(),
        "{:#?}",
        report.steps.iter().filter(|s| s.outcome == Outcome::Failed).collect::<Vec<_>>()
    );
    assert_eq!(spam_left(&emu, &incident), 0, "no visible spam anywhere");
    assert_eq!(alice_left(&emu, &incident), incident.alice_messages, "nobody else's messages touched");
    assert!(planned > 0 && planned == report.plan.len());
    assert!(report.recalled() > 0, "the deep pass recalled what the delete could not reach");
    for spammer in &incident.spammers {
        assert_eq!(emu.kick_count(spammer), 1);
        assert_eq!(client.get_no_speaking(spammer).unwrap().group_seconds, PERMANENT);
    }
    // Every account was muted before its first write in a group.
    let log = emu.requests();
    for spammer in &incident.spammers {
        let muted = log
            .iter()
            .position(|r| r.command == "setnospeaking" && r.body.as_ref().unwrap()["Set_Account"] == **spammer);
        let first_write = log.iter().position(|r| {
            let body = r.body.as_ref().unwrap();
            (r.command == "delete_group_msg_by_sender" && body["Sender_Account"] == **spammer)
                || (r.command == "delete_group_member"
                    && body["MemberToDel_Account"].as_array().unwrap().iter().any(|m| m == spammer))
        });
        assert!(muted.unwrap() < first_write.unwrap(), "{spammer} muted first");
    }
    // AVChatRoom groups are skipped, with the reason.
    let skipped: BTreeSet<&str> =
        report.steps.iter().filter(|s| s.outcome == Outcome::Skipped).map(|s| s.group_id.as_deref().unwrap()).collect();
    assert_eq!(skipped, incident.avchatrooms.iter().map(String::as_str).collect());
    assert!(report.steps.iter().filter(|s| s.outcome == Outcome::Skipped).all(|s| s.detail.contains("AVChatRoom")));
    // The history of each group was read once for all its accounts: one probe per stream, then pages.
    let probes = log
        .iter()
        .filter(|r| r.command == "group_msg_get_simple" && r.body.as_ref().unwrap()["ReqMsgNumber"] == 1)
        .count();
    assert_eq!(probes, incident.streams.len());
    assert_eq!(
        report.calls["group_open_http_svc/group_msg_get_simple"],
        log.iter().filter(|r| r.command == "group_msg_get_simple").count() as u64
    );
}

#[test]
fn a_dry_run_writes_nothing_and_counts_what_the_run_does() {
    let emu = emulator();
    let client = client(&emu);
    let incident = incident(&emu, 4, 6, 1);
    emu.clear_requests();
    let options = JobOptions { mute: true, remove: true, deep: true, dry_run: true, ..JobOptions::default() };
    let dry = client.purge_senders(&incident.spammers, &options, |_| ControlFlow::Continue(())).unwrap();
    assert!(writes(&emu).is_empty(), "a dry run sends reads only: {:?}", writes(&emu));
    assert!(dry.steps.iter().all(|s| matches!(s.outcome, Outcome::Planned | Outcome::Skipped)));
    assert!(spam_left(&emu, &incident) > 0);

    let real = client
        .purge_senders(&incident.spammers, &JobOptions { dry_run: false, ..options.clone() }, |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(real.is_success());
    assert_eq!(spam_left(&emu, &incident), 0);
    assert_eq!(dry.calls, real.calls, "the dry run's counts are the run's");
    assert_eq!(dry.recalled(), real.recalled());
    let shape = |r: &timrest::purge::JobReport| {
        let mut v: Vec<_> = r
            .steps
            .iter()
            .map(|s| (s.account.clone(), s.group_id.clone(), s.topic_id.clone(), s.step, s.recalled))
            .collect();
        v.sort();
        v
    };
    assert_eq!(shape(&dry), shape(&real));
}

#[test]
fn a_resumed_job_redoes_only_what_was_not_ok() {
    let emu = emulator();
    let client = client(&emu);
    let incident = incident(&emu, 5, 8, 2);
    let dir = std::env::temp_dir().join(format!("timrest-incident-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("r.jsonl");
    let _ = std::fs::remove_file(&path);
    let options = JobOptions {
        mute: true,
        remove: true,
        deep: true,
        report: Some(path.clone()),
        concurrency: 2,
        ..JobOptions::default()
    };
    // Stop after three deletes, as Ctrl-C would (the steps in flight still end and are written).
    let mut deletes = 0;
    let first = client
        .purge_senders(&incident.spammers, &options, |event| {
            if let JobEvent::Step(step, _) = event
                && step.step == Step::Delete
                && step.outcome == Outcome::Ok
            {
                deletes += 1;
            }
            if deletes >= 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
    assert!(first.stopped_early);
    let ok_first: BTreeSet<_> = first
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::Ok && s.step == Step::Delete)
        .map(|s| (s.group_id.clone().unwrap(), s.account.clone(), s.topic_id.clone()))
        .collect();
    assert!(!ok_first.is_empty());

    // A new run on the same report is refused, and so is another job's resume.
    let again = JobOptions { resume: false, ..options.clone() };
    assert!(
        client
            .purge_senders(&incident.spammers, &again, |_| ControlFlow::Continue(()))
            .unwrap_err()
            .info()
            .contains("already exists")
    );
    let bytes = std::fs::read(&path).unwrap();
    let other = JobOptions { resume: true, kick: true, ..options.clone() };
    let e = client.purge_senders(&incident.spammers, &other, |_| ControlFlow::Continue(())).unwrap_err();
    assert!(e.info().contains("another job"), "{}", e.info());
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing in it was changed");

    // While another holder has the report locked (here: this test, through std's lock, the one
    // the job takes), a resume is refused and changes nothing.
    let resume = JobOptions { resume: true, ..options.clone() };
    let holder = std::fs::File::open(&path).unwrap();
    holder.try_lock().unwrap();
    let e = client.purge_senders(&incident.spammers, &resume, |_| ControlFlow::Continue(())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.info().contains("in use by another running job"), "{}", e.info());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    drop(holder);

    emu.clear_requests();
    let second = client.purge_senders(&incident.spammers, &resume, |_| ControlFlow::Continue(())).unwrap();
    assert!(second.is_success());
    assert_eq!(second.resumed, first.steps.iter().filter(|s| s.outcome == Outcome::Ok).count());
    assert_eq!(spam_left(&emu, &incident), 0);
    assert_eq!(alice_left(&emu, &incident), incident.alice_messages);
    let log = emu.requests();
    assert!(!log.iter().any(|r| r.command == "get_joined_group_list"), "the plan came from the report");
    for r in log.iter().filter(|r| r.command == "delete_group_msg_by_sender") {
        let b = r.body.as_ref().unwrap();
        let key = (
            b["GroupId"].as_str().unwrap().to_owned(),
            b["Sender_Account"].as_str().unwrap().to_owned(),
            b["TopicId"].as_str().map(str::to_owned),
        );
        assert!(!ok_first.contains(&key), "an ok delete was sent again: {key:?}");
    }
    let muted_again = log.iter().filter(|r| r.command == "setnospeaking").count();
    let muted_first = first.steps.iter().filter(|s| s.step == Step::Mute && s.outcome == Outcome::Ok).count();
    assert_eq!(muted_again, incident.spammers.len() - muted_first);

    // Resuming a finished job does nothing; a corrupt report is refused untouched.
    emu.clear_requests();
    let third = client.purge_senders(&incident.spammers, &resume, |_| ControlFlow::Continue(())).unwrap();
    // (Skipped steps are not ok: they are looked at again, and skipped again, without a write.)
    assert!(third.steps.iter().all(|s| s.outcome == Outcome::Skipped) && writes(&emu).is_empty(), "{:?}", third.steps);
    let mut corrupt = std::fs::read(&path).unwrap();
    let middle = corrupt.len() / 2;
    corrupt[middle] = b'{';
    corrupt.splice(middle..middle, b"\n{oops\n".iter().copied());
    std::fs::write(&path, &corrupt).unwrap();
    let e = client.purge_senders(&incident.spammers, &resume, |_| ControlFlow::Continue(())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.info().contains("cannot be resumed"), "{}", e.info());
    assert_eq!(std::fs::read(&path).unwrap(), corrupt);
    let missing = JobOptions { report: Some(dir.join("nope.jsonl")), ..resume };
    assert!(
        client
            .purge_senders(&incident.spammers, &missing, |_| ControlFlow::Continue(()))
            .unwrap_err()
            .info()
            .contains("nothing to resume")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn dissolved_groups_and_accounts_in_no_group_do_not_stop_the_job() {
    let emu = emulator();
    let client = client(&emu);
    let keep = group(&emu, "Public", &["spam", "alice"]);
    let gone = group(&emu, "Public", &["spam"]);
    emu.send_group_msg(&keep, "spam", "x", None).unwrap();
    // The group is dissolved after the plan is made and before its delete.
    let mut dissolved = false;
    let report = client
        .purge_senders(&["spam", "lonely"], &JobOptions { concurrency: 1, ..JobOptions::default() }, |event| {
            if let JobEvent::Planned(_) = event
                && !dissolved
            {
                emu.destroy_group(&gone).unwrap();
                dissolved = true;
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    let by_group: BTreeMap<&str, Outcome> =
        report.steps.iter().map(|s| (s.group_id.as_deref().unwrap(), s.outcome)).collect();
    assert_eq!(by_group[keep.as_str()], Outcome::Ok);
    assert_eq!(by_group[gone.as_str()], Outcome::Skipped);
    assert!(report.steps.iter().any(|s| s.detail.contains("dissolved")));
    assert!(!report.steps.iter().any(|s| s.account == "lonely"), "an account in no group has nothing to clean");
    assert_eq!(visible_from(&emu, &keep, None, "spam"), 0);
    assert_eq!(
        client.purge_senders::<&str, _>(&[], &JobOptions::default(), |_| ControlFlow::Continue(())).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn since_leaves_older_messages_alone() {
    let emu = emulator();
    let client = client(&emu);
    let gid = group(&emu, "Public", &["spam", "alice"]);
    // Two old spam messages (imported with their times), then 1000 of alice's on top.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let old = |t: u64| json!({"From_Account": "spam", "SendTime": t, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "old"}}]});
    client
        .call(
            "group_open_http_svc",
            "import_group_msg",
            &json!({"GroupId": gid, "MsgList": [old(now - 86_400 * 30), old(now - 3600)]}),
        )
        .unwrap();
    for i in 0..1000 {
        emu.send_group_msg(&gid, "alice", &format!("{i}"), None).unwrap();
    }
    let options = JobOptions { deep: true, since: Some(now - 86_400), ..JobOptions::default() };
    let report = client.purge_senders(&["spam"], &options, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(report.recalled(), 1, "only the message newer than since");
    assert_eq!(visible_from(&emu, &gid, None, "spam"), 1);
}

#[test]
fn an_account_whose_mute_failed_is_not_cleaned_and_resume_finishes_it() {
    let emu = emulator();
    let client = client(&emu);
    let gid = group(&emu, "Public", &["spam1", "spam2", "alice"]);
    for who in ["spam1", "spam2", "alice"] {
        emu.send_group_msg(&gid, who, "x", None).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("timrest-mute-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("r.jsonl");
    let _ = std::fs::remove_file(&path);
    // One mute fails for good (an account Tencent does not know), with the concurrency of 1 the first.
    emu.inject("setnospeaking", timrest::emulator::Fault { times: 1, error_code: Some(70107), ..Default::default() });
    let options = JobOptions { mute: true, concurrency: 1, report: Some(path.clone()), ..JobOptions::default() };
    let first = client.purge_senders(&["spam1", "spam2"], &options, |_| ControlFlow::Continue(())).unwrap();
    let mute = first.steps.iter().find(|s| s.step == Step::Mute && s.account == "spam1").unwrap();
    assert_eq!((mute.outcome, mute.code), (Outcome::Failed, Some(70107)));
    let skipped = first.steps.iter().find(|s| s.step == Step::Delete && s.account == "spam1").unwrap();
    assert_eq!(skipped.outcome, Outcome::Skipped);
    assert!(skipped.detail.contains("not cleaned"), "{}", skipped.detail);
    assert_eq!(visible_from(&emu, &gid, None, "spam1"), 1, "not cleaned while it could still post");
    assert_eq!(visible_from(&emu, &gid, None, "spam2"), 0);

    let second = client
        .purge_senders(&["spam1", "spam2"], &JobOptions { resume: true, ..options }, |_| ControlFlow::Continue(()))
        .unwrap();
    assert!(second.is_success());
    assert_eq!(visible_from(&emu, &gid, None, "spam1"), 0);
    assert_eq!(visible_from(&emu, &gid, None, "alice"), 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_new_command_has_its_own_quota_and_log_line() {
    let emu = Emulator::start(EmulatorConfig { rate_limit: Some(5.0), ..EmulatorConfig::default() }).unwrap();
    let client = Client::builder()
        .sdkappid(emu.sdkappid())
        .secret_key(emu.secret_key())
        .base_url(emu.base_url())
        .rate_limit(None)
        .max_retries(0)
        .build()
        .unwrap();
    let refused = (0..10).filter(|_| client.kick("spam").is_err_and(|e| e.code() == Some(60007))).count();
    assert!(refused >= 4, "kick is over its quota: {refused} refusals");
    client.set_no_speaking("spam", Some(60), None).expect("another command, another quota");
    let kicks = emu.requests().iter().filter(|r| r.command == "kick").count();
    assert_eq!(kicks, 10, "every call is in the request log");
}
