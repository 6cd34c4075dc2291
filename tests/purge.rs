//! `Client::purge_sender` and the listing endpoints behind it, over real loopback HTTP to the
//! emulator (design §13, issue "Cleanup that survives a crash, and purging one account").

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use serde_json::json;
use timrest::batch::{BatchEvent, BatchOptions};
use timrest::emulator::{Emulator, EmulatorConfig, GroupSpec};
use timrest::purge::PurgeOptions;
use timrest::{Client, ErrorKind};

const SPAMMER: &str = "spammer";

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig { rate_limit: Some(1000.0), ..EmulatorConfig::default() }).expect("emulator starts")
}

fn client(emu: &Emulator) -> Client {
    Client::builder()
        .sdkappid(emu.sdkappid())
        .secret_key(emu.secret_key())
        .base_url(emu.base_url())
        .rate_limit(Some(950.0))
        .build()
        .expect("client builds")
}

/// Every (group, topic) stream and who still has messages in it.
#[derive(Debug)]
struct Seeded {
    /// (group, topic) → the group's type.
    streams: BTreeMap<(String, Option<String>), &'static str>,
    /// Groups the spammer joined, by type.
    joined: BTreeMap<String, &'static str>,
}

/// 250 groups the spammer joined — every type, some topic-enabled Communities with 3 topics —
/// plus 20 it did not join. In each stream that stores history, a message from the spammer
/// and one from alice.
fn seed(emu: &Emulator) -> Seeded {
    const TYPES: [&str; 7] = ["Public", "Private", "ChatRoom", "Community", "AVChatRoom", "BChatRoom", "Work"];
    let mut seeded = Seeded { streams: BTreeMap::new(), joined: BTreeMap::new() };
    for i in 0..270 {
        let kind = TYPES[i % TYPES.len()];
        let joined = i < 250;
        let topics = kind == "Community" && i % 2 == 1;
        let spec = GroupSpec {
            members: if joined { vec![SPAMMER.into(), "alice".into()] } else { vec!["alice".into()] },
            support_topic: topics,
            ..GroupSpec::new(kind)
        };
        let gid = emu.create_group(&spec).expect("group");
        let canonical = if kind == "Work" { "Private" } else { kind };
        let mut streams = vec![None];
        if topics {
            for t in 0..3 {
                streams.push(Some(emu.create_topic(&gid, &format!("t{t}"), None).expect("topic")));
            }
        }
        for topic in streams {
            if !matches!(kind, "AVChatRoom" | "BChatRoom") {
                emu.send_group_msg(&gid, SPAMMER, "spam", topic.as_deref()).expect("spam");
                emu.send_group_msg(&gid, "alice", "hello", topic.as_deref()).expect("hello");
            }
            seeded.streams.insert((gid.clone(), topic), canonical);
        }
        if joined {
            seeded.joined.insert(gid, canonical);
        }
    }
    seeded
}

fn senders(emu: &Emulator, gid: &str, topic: Option<&str>) -> Vec<String> {
    emu.messages(gid, topic, false)
        .expect("history")
        .iter()
        .map(|m| m["From_Account"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn purge_removes_every_message_of_the_account_and_nobody_elses() {
    let emu = emulator();
    let seeded = seed(&emu);
    let client = client(&emu);
    let options = PurgeOptions {
        page_size: 60,
        batch: BatchOptions { concurrency: 8, ..BatchOptions::default() },
        ..PurgeOptions::default()
    };

    let mut finished = BTreeSet::new();
    let report = client
        .purge_sender(SPAMMER, &options, |event| {
            if let BatchEvent::Finished(outcome, _) = event {
                assert!(finished.insert(outcome.index), "item {} seen twice", outcome.index);
            }
            ControlFlow::Continue(())
        })
        .expect("purge");

    assert_eq!(report.failed(), 0, "{:?}", report.results.iter().find(|r| r.result.is_err()));
    assert_eq!(finished.len(), report.results.len());
    let skipped: BTreeMap<String, String> =
        report.skipped.iter().map(|s| (s.group_id.clone(), s.group_type.clone())).collect();
    let expected_skipped: BTreeMap<String, String> = seeded
        .joined
        .iter()
        .filter(|(_, t)| matches!(**t, "AVChatRoom" | "BChatRoom"))
        .map(|(g, t)| (g.clone(), (*t).to_owned()))
        .collect();
    assert_eq!(skipped, expected_skipped);
    assert!(!skipped.is_empty());

    for (gid, topic) in seeded.streams.keys() {
        let left = senders(&emu, gid, topic.as_deref());
        if seeded.joined.contains_key(gid) {
            assert!(!left.iter().any(|s| s == SPAMMER), "{gid} {topic:?} still has spam: {left:?}");
        } else if !left.is_empty() {
            assert!(left.iter().any(|s| s == SPAMMER), "{gid}: not joined, so untouched");
        }
        assert_eq!(left.iter().filter(|s| *s == "alice").count(), usize::from(!left.is_empty()), "alice keeps hers");
    }
    // Each stored stream of a joined group was deleted in once; the skipped ones never.
    let log = emu.requests();
    let deletions: BTreeSet<(String, Option<String>)> = log
        .iter()
        .filter(|r| r.command == "delete_group_msg_by_sender")
        .map(|r| {
            let body = r.body.as_ref().expect("json");
            (
                body["GroupId"].as_str().unwrap().to_owned(),
                body.get("TopicId").and_then(|t| t.as_str()).map(str::to_owned),
            )
        })
        .collect();
    let expected: BTreeSet<(String, Option<String>)> = seeded
        .streams
        .iter()
        .filter(|((g, _), t)| seeded.joined.contains_key(g) && !matches!(**t, "AVChatRoom" | "BChatRoom"))
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(deletions, expected);
    assert_eq!(report.results.len(), expected.len());
    let pages = log.iter().filter(|r| r.command == "get_joined_group_list").count();
    assert_eq!(pages, 250usize.div_ceil(60), "250 groups in pages of 60");
    assert!(log.iter().any(|r| r.service == "million_group_open_http_svc" && r.command == "get_topic"));
}

#[test]
fn a_group_dissolved_after_listing_fails_alone_and_the_rest_goes_on() {
    let emu = emulator();
    let groups: Vec<String> = (0..30)
        .map(|_| {
            let gid =
                emu.create_group(&GroupSpec { members: vec![SPAMMER.into()], ..GroupSpec::new("Public") }).unwrap();
            emu.send_group_msg(&gid, SPAMMER, "spam", None).unwrap();
            gid
        })
        .collect();
    let client = client(&emu);
    let doomed = groups.last().unwrap().clone();
    let options =
        PurgeOptions { batch: BatchOptions { concurrency: 2, ..BatchOptions::default() }, ..PurgeOptions::default() };
    let mut dissolved = false;
    let report = client
        .purge_sender(SPAMMER, &options, |_| {
            // The first event comes after the listing, with the last group still to be deleted.
            if !dissolved {
                emu.destroy_group(&doomed).expect("dissolve");
                dissolved = true;
            }
            ControlFlow::Continue(())
        })
        .expect("purge");
    assert_eq!(report.results.len(), 30);
    let failed: Vec<_> = report.results.iter().filter(|r| r.result.is_err()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].request.as_ref().unwrap().group_id, doomed);
    assert_eq!(failed[0].result.as_ref().unwrap_err().kind(), ErrorKind::GroupNotFound);
    for gid in &groups[..29] {
        assert!(senders(&emu, gid, None).is_empty(), "{gid}");
    }
}

#[test]
fn the_plan_filters_types_and_topics_and_sends_no_deletion() {
    let emu = emulator();
    let public = emu.create_group(&GroupSpec { members: vec![SPAMMER.into()], ..GroupSpec::new("Public") }).unwrap();
    let community =
        emu.create_group(&GroupSpec { members: vec![SPAMMER.into()], ..GroupSpec::community_with_topics() }).unwrap();
    let topic = emu.create_topic(&community, "news", None).unwrap();
    let live = emu.create_group(&GroupSpec { members: vec![SPAMMER.into()], ..GroupSpec::new("AVChatRoom") }).unwrap();
    let client = client(&emu);

    let plan = client.purge_plan(SPAMMER, &PurgeOptions::default()).unwrap();
    let items: Vec<(String, Option<String>)> =
        plan.items.iter().map(|i| (i.group_id.clone(), i.topic_id.clone())).collect();
    assert_eq!(items, [(public.clone(), None), (community.clone(), None), (community.clone(), Some(topic))]);
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!((plan.skipped[0].group_id.as_str(), plan.skipped[0].group_type.as_str()), (live.as_str(), "AVChatRoom"));

    let no_topics = PurgeOptions { include_topics: false, ..PurgeOptions::default() };
    assert_eq!(client.purge_plan(SPAMMER, &no_topics).unwrap().items.len(), 2);
    let only = PurgeOptions { group_types: Some(vec!["Community".into()]), ..PurgeOptions::default() };
    let plan = client.purge_plan(SPAMMER, &only).unwrap();
    assert!(plan.items.iter().all(|i| i.group_id == community) && plan.skipped.is_empty());
    let bad = PurgeOptions { group_types: Some(vec!["Channel".into()]), ..PurgeOptions::default() };
    assert_eq!(client.purge_plan(SPAMMER, &bad).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(client.purge_plan("", &PurgeOptions::default()).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let zero = PurgeOptions { page_size: 0, ..PurgeOptions::default() };
    assert_eq!(client.purge_plan(SPAMMER, &zero).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert!(emu.requests().iter().all(|r| r.command != "delete_group_msg_by_sender"), "a plan deletes nothing");
}

#[test]
fn the_listing_endpoints_answer_over_http_with_tencents_fields_and_codes() {
    let emu = emulator();
    let community =
        emu.create_group(&GroupSpec { members: vec!["m".into()], ..GroupSpec::community_with_topics() }).unwrap();
    let client = client(&emu);
    let (answer, _) = client
        .call(
            "group_open_http_svc",
            "get_joined_group_list",
            &json!({"Member_Account": "m", "ResponseFilter": {"GroupBaseInfoFilter": ["Type"]}}),
        )
        .unwrap();
    assert_eq!(answer["TotalCount"], 1);
    assert_eq!(answer["GroupIdList"], json!([{"GroupId": community, "Type": "Community", "SupportTopic": 1}]));
    let err =
        client.call("group_open_http_svc", "get_joined_group_list", &json!({"Member_Account": "m", "Limit": 5001}));
    assert_eq!(err.unwrap_err().code(), Some(10004));
    let err = client.call("group_open_http_svc", "get_joined_group_list", &json!({"Limit": 10}));
    assert_eq!(err.unwrap_err().code(), Some(10004));
    let (answer, _) = client.call("million_group_open_http_svc", "get_topic", &json!({"GroupId": community})).unwrap();
    assert_eq!(answer["TopicAndSelfInfo"], json!([]));
    let err = client.call("million_group_open_http_svc", "get_topic", &json!({"GroupId": "@TGS#_nope"}));
    assert_eq!(err.unwrap_err().kind(), ErrorKind::GroupNotFound);
}
