//! `Client::delete_many` over real loopback HTTP to the emulator (design §5, issue "Bulk cleanup").

use std::cell::Cell;
use std::ops::ControlFlow;
use std::time::Duration;

use timrest::batch::{BatchItem, BatchOptions, Progress};
use timrest::emulator::{Emulator, EmulatorConfig, GroupSpec, RequestRecord};
use timrest::{Client, DeleteBySender, ErrorKind};

const SPAMMER: &str = "spammer";

fn emulator(rate_limit: Option<f64>, latency: Duration) -> Emulator {
    Emulator::start(EmulatorConfig { rate_limit, latency, ..EmulatorConfig::default() }).expect("emulator starts")
}

fn client(emu: &Emulator, rate_limit: Option<f64>) -> Client {
    Client::builder()
        .sdkappid(emu.sdkappid())
        .secret_key(emu.secret_key())
        .base_url(emu.base_url())
        .rate_limit(rate_limit)
        .build()
        .expect("client builds")
}

/// `n` Public groups, each with a message from the spammer and one from alice.
fn seed(emu: &Emulator, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let gid = emu.create_group(&GroupSpec::new("Public")).expect("group");
            emu.send_group_msg(&gid, SPAMMER, &format!("spam {i}"), None).expect("spam");
            emu.send_group_msg(&gid, "alice", "hello", None).expect("hello");
            gid
        })
        .collect()
}

fn senders(emu: &Emulator, gid: &str) -> Vec<String> {
    emu.messages(gid, None, false)
        .expect("history")
        .iter()
        .map(|m| m["From_Account"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn deletions(log: &[RequestRecord]) -> Vec<&RequestRecord> {
    log.iter().filter(|r| r.command == "delete_group_msg_by_sender").collect()
}

/// The most requests the emulator was serving at one instant, from the log's arrival and finish times.
fn max_overlap(log: &[&RequestRecord]) -> usize {
    let mut events: Vec<(Duration, i32)> = log.iter().flat_map(|r| [(r.arrived, 1), (r.finished, -1)]).collect();
    events.sort(); // at equal times a finish (-1) sorts before an arrival (+1)
    let (mut now, mut max) = (0i32, 0i32);
    for (_, step) in events {
        now += step;
        max = max.max(now);
    }
    max as usize
}

fn keep_going(_: &Progress) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

#[test]
fn bulk_deletion_reaches_the_quota_without_a_single_rejection() {
    // A far server (150 ms) limited to 100/s; the client keeps a margin at 95/s.
    let emu = emulator(None, Duration::ZERO);
    let groups = seed(&emu, 100);
    emu.set_rate_limit(Some(100.0));
    emu.set_latency(Duration::from_millis(150));
    emu.clear_requests();

    let client = client(&emu, Some(95.0));
    let items = (0..500)
        .map(|i| (groups[i % groups.len()].clone(), if i < 100 { SPAMMER.to_owned() } else { format!("user{i}") }));
    let report =
        client.delete_many(items, &BatchOptions { concurrency: 32, ..BatchOptions::default() }, keep_going).unwrap();

    assert_eq!(
        (report.ok(), report.failed(), report.results.len()),
        (500, 0, 500),
        "{:?}",
        report.results.iter().find(|r| r.result.is_err())
    );
    assert!(report.is_success());
    assert!(report.results.iter().enumerate().all(|(i, r)| r.index == i), "results come back in input order");
    let log = emu.requests();
    let deletes = deletions(&log);
    assert_eq!(deletes.len(), 500, "one request per item: no retries were needed");
    assert_eq!(deletes.iter().filter(|r| r.error_code == Some(60007)).count(), 0, "no rate-limit rejection");
    let overlap = max_overlap(&deletes);
    assert!(overlap >= 4, "requests overlapped at the emulator (max in flight {overlap})");
    for gid in &groups {
        assert_eq!(senders(&emu, gid), ["alice"], "the spam in {gid} is gone, the rest stays");
    }
}

#[test]
fn missing_groups_are_reported_and_the_rest_deleted() {
    let emu = emulator(None, Duration::ZERO);
    let groups = seed(&emu, 6);
    let mut items: Vec<(String, String)> = groups.iter().map(|g| (g.clone(), SPAMMER.to_owned())).collect();
    items.insert(2, ("@TGS#2NOSUCHGRP".to_owned(), SPAMMER.to_owned()));
    items.push(("custom-gone".to_owned(), SPAMMER.to_owned()));

    let report = client(&emu, None).delete_many(items, &BatchOptions::default(), keep_going).unwrap();

    assert_eq!((report.ok(), report.failed()), (6, 2));
    assert!(!report.is_success());
    let failed: Vec<_> = report.results.iter().filter(|r| r.result.is_err()).collect();
    assert_eq!(failed.iter().map(|r| r.index).collect::<Vec<_>>(), [2, 7]);
    for outcome in failed {
        let err = outcome.result.as_ref().unwrap_err();
        assert_eq!((err.kind(), err.code(), err.attempts()), (ErrorKind::GroupNotFound, Some(10010), 1), "not retried");
        assert!(err.random().is_some());
        assert_eq!(outcome.attempts(), 1);
    }
    for gid in &groups {
        assert_eq!(senders(&emu, gid), ["alice"]);
    }
}

#[test]
fn stop_on_error_stops_scheduling_after_the_first_failure() {
    let emu = emulator(None, Duration::ZERO);
    let groups = seed(&emu, 5);
    let mut items = vec![("@TGS#2NOSUCHGRP".to_owned(), SPAMMER.to_owned())];
    items.extend(groups.iter().map(|g| (g.clone(), SPAMMER.to_owned())));

    let options = BatchOptions { concurrency: 1, stop_on_error: true, ..BatchOptions::default() };
    let report = client(&emu, None).delete_many(items, &options, keep_going).unwrap();

    assert!(report.stopped_early);
    assert_eq!(report.results.len(), 1, "nothing after the failure was scheduled");
    assert_eq!(report.results[0].result.as_ref().unwrap_err().kind(), ErrorKind::GroupNotFound);
    for gid in &groups {
        assert_eq!(senders(&emu, gid), [SPAMMER, "alice"], "untouched");
    }
}

#[test]
fn lazy_input_is_pulled_only_as_workers_free_up() {
    let emu = emulator(None, Duration::from_millis(20));
    let groups = seed(&emu, 4);
    let pulled = Cell::new(0usize);
    let total = 60usize;
    let items = std::iter::from_fn(|| {
        let i = pulled.get();
        (i < total).then(|| {
            pulled.set(i + 1);
            DeleteBySender::new(groups[i % groups.len()].clone(), format!("user{i}"))
        })
    });
    let concurrency = 4;
    let mut most_ahead = 0usize;
    let mut calls = 0usize;
    let report = client(&emu, None)
        .delete_many(items, &BatchOptions { concurrency, ..BatchOptions::default() }, |p| {
            calls += 1;
            assert_eq!(p.total, None, "a generator does not know its length");
            most_ahead = most_ahead.max(pulled.get() - p.done);
            ControlFlow::Continue(())
        })
        .unwrap();

    assert_eq!((report.ok(), pulled.get()), (total, total));
    assert!(calls >= total, "progress after every item");
    // In flight (≤ concurrency) plus the one item waiting for a worker.
    assert!(most_ahead <= concurrency + 1, "pulled {most_ahead} items ahead of completion");
}

#[test]
fn progress_can_stop_a_batch_and_in_flight_items_finish() {
    let emu = emulator(None, Duration::from_millis(10));
    let groups = seed(&emu, 3);
    let items: Vec<_> = (0..200).map(|i| (groups[i % 3].clone(), format!("user{i}"))).collect();
    let mut last = None;
    let report = client(&emu, None)
        .delete_many(items, &BatchOptions { concurrency: 4, ..BatchOptions::default() }, |p| {
            assert_eq!(p.total, Some(200));
            last = Some(*p);
            if p.done >= 10 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();

    assert!(report.stopped_early);
    assert!(report.results.len() >= 10 && report.results.len() < 200, "{}", report.results.len());
    assert_eq!(report.ok(), report.results.len(), "in-flight items finished and were reported");
    let logged = deletions(&emu.requests()).len();
    assert_eq!(logged, report.results.len(), "every request sent is in the report");
    assert!(last.is_some_and(|p| p.done == report.results.len()));
}

#[test]
fn unreadable_items_and_bad_arguments_fail_alone() {
    let emu = emulator(None, Duration::ZERO);
    let groups = seed(&emu, 2);
    let items: Vec<BatchItem> = vec![
        (groups[0].clone(), SPAMMER.to_owned()).into(),
        BatchItem(Err(timrest::Error::invalid_argument("line 2: expected group,sender[,topic]"))),
        (groups[1].clone(), "").into(),
        (groups[1].clone(), SPAMMER.to_owned()).into(),
    ];
    let report = client(&emu, None).delete_many(items, &BatchOptions::default(), keep_going).unwrap();

    let kinds: Vec<_> = report.results.iter().map(|r| r.result.as_ref().err().map(|e| e.kind())).collect();
    assert_eq!(kinds, [None, Some(ErrorKind::InvalidArgument), Some(ErrorKind::InvalidArgument), None]);
    assert!(report.results[1].request.is_none());
    assert_eq!(report.results[2].attempts(), 0, "caught before sending");
    assert_eq!(deletions(&emu.requests()).len(), 2);
}

#[test]
fn zero_concurrency_is_an_invalid_argument() {
    let emu = emulator(None, Duration::ZERO);
    let err = client(&emu, None)
        .delete_many([("g", "s")], &BatchOptions { concurrency: 0, ..BatchOptions::default() }, keep_going)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(emu.requests().is_empty(), "nothing was sent");
}

/// `abandon` set while items are in flight: the batch returns at once, counting them, and starts
/// nothing more; the abandoned calls still end in their own threads (and here reach the server).
#[test]
fn abandon_returns_without_waiting_for_the_items_in_flight() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let emu = emulator(None, Duration::from_secs(3));
    let groups = seed(&emu, 9);
    let c = Client::builder()
        .sdkappid(emu.sdkappid())
        .secret_key(emu.secret_key())
        .base_url(emu.base_url())
        .rate_limit(None)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds");
    let abandon = Arc::new(AtomicBool::new(false));
    let options = BatchOptions { concurrency: 3, abandon: Some(abandon.clone()), ..BatchOptions::default() };
    let mut finished = 0;
    let items: Vec<(String, &str)> = groups.iter().map(|g| (g.clone(), SPAMMER)).collect();
    let report = c
        .delete_many_with_events(items, &options, |event| {
            match event {
                timrest::batch::BatchEvent::Finished(..) => finished += 1,
                // The first quiet tick: three items are in flight, none can have finished.
                timrest::batch::BatchEvent::Tick(_) => abandon.store(true, Ordering::SeqCst),
            }
            ControlFlow::Continue(())
        })
        .expect("a batch");
    assert_eq!((report.abandoned, report.ok(), report.failed(), finished), (3, 0, 0, 0), "{report:?}");
    assert!(report.stopped_early && report.elapsed < Duration::from_secs(3), "{report:?}");
    // Nothing more was sent: after the abandoned calls end, the server saw exactly three.
    std::thread::sleep(Duration::from_millis(3500));
    let deletes = emu.requests().into_iter().filter(|r| r.command == "delete_group_msg_by_sender").count();
    assert_eq!(deletes, 3);
}
