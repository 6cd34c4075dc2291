//! What a client reports about itself: `Client::stats()` and the events an `Observer` receives,
//! checked against the emulator's own request log over real loopback HTTP.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use timrest::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, Fault, GroupSpec, RequestRecord};
use timrest::{Client, ErrorKind, Event, EventKind};

const DELETE: &str = "delete_group_msg_by_sender";

/// An event, copied out of the callback.
#[derive(Debug, Clone)]
struct Seen {
    kind: EventKind,
    command: String,
    server_address: String,
    attempt: Option<u32>,
    http_status: Option<u16>,
    code: Option<i64>,
    error_kind: Option<ErrorKind>,
    random: Option<u32>,
    duration: Option<Duration>,
    thread: std::thread::ThreadId,
}

fn recorder() -> (Arc<Mutex<Vec<Seen>>>, impl Fn(&Event<'_>) + Send + Sync + 'static) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let observer = move |e: &Event<'_>| {
        sink.lock().unwrap().push(Seen {
            kind: e.kind,
            command: e.command.to_owned(),
            server_address: e.server_address.to_owned(),
            attempt: e.attempt,
            http_status: e.http_status,
            code: e.code,
            error_kind: e.error_kind,
            random: e.random,
            duration: e.duration,
            thread: std::thread::current().id(),
        });
    };
    (seen, observer)
}

fn deletions_at_least(emu: &Emulator, n: usize) -> Vec<RequestRecord> {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let sent: Vec<_> = emu.requests().into_iter().filter(|r| r.command == DELETE).collect();
        if sent.len() >= n || Instant::now() > give_up {
            return sent;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stats_and_events_match_the_servers_log_through_retries_a_timeout_and_a_502() {
    let emu = Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() }).expect("emulator");
    let group = emu.create_group(&GroupSpec::new("Public")).expect("group");
    let (seen, observer) = recorder();
    let client = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url(emu.base_url())
        .rate_limit(Some(50.0))
        .timeout(Duration::from_millis(400))
        .observer(observer)
        .build()
        .expect("client");

    // Two rate-limit answers, then success: one call, three attempts.
    emu.inject(DELETE, Fault::error_code(60007).times(2));
    let info = client.delete_by_sender(&timrest::DeleteBySender::new(&group, "spammer")).expect("third attempt");
    assert_eq!(info.attempts, 3);
    // An answer slower than the timeout, and no retry for it: a timeout.
    let once = client.clone();
    emu.inject(DELETE, Fault::delay(Duration::from_secs(2)).times(4));
    let slow = Client::new(timrest::Config { max_retries: 0, ..once.config().clone() }).expect("client");
    let e = slow.delete_group_msg_by_sender(&group, "spammer").expect_err("timeout");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    emu.clear_faults();
    // A 502 on every attempt: the retries run out.
    emu.inject(DELETE, Fault::http_status(502).times(10));
    let e = client.delete_group_msg_by_sender(&group, "spammer").expect_err("502");
    assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
    emu.clear_faults();

    let stats = client.stats();
    let slow_stats = slow.stats();
    let log = deletions_at_least(&emu, 3 + 1 + e.attempts() as usize);
    let seen = seen.lock().unwrap().clone();

    // Every attempt the server logged is one attempt event, in order, with its random; and the
    // two clients (the second is built from the first's config, observer included) count apart.
    let attempts: Vec<&Seen> = seen.iter().filter(|s| s.kind == EventKind::Attempt).collect();
    let logged: Vec<Option<u32>> = log.iter().map(|r| r.random).collect();
    assert_eq!(attempts.iter().map(|s| s.random).collect::<Vec<_>>(), logged, "one event per request sent");
    assert_eq!(stats.attempts + slow_stats.attempts, log.len() as u64);
    for (event, record) in attempts.iter().zip(&log) {
        match event.error_kind {
            None => assert_eq!((event.http_status, event.code), (Some(200), Some(0)), "{event:?}"),
            Some(ErrorKind::RateLimited) => {
                assert_eq!(event.code, record.error_code, "{event:?} {record:?}");
                assert_eq!(event.http_status, Some(200));
            }
            Some(ErrorKind::Transport) => assert_eq!(event.http_status, record.http_status, "{event:?} {record:?}"),
            Some(ErrorKind::Timeout) => assert_eq!((event.http_status, event.code), (None, None), "{event:?}"),
            Some(other) => panic!("unexpected attempt kind {other}: {event:?}"),
        }
        assert_eq!(event.command, DELETE);
        assert_eq!(event.server_address, "127.0.0.1");
        assert!(event.duration.is_some());
    }
    let rate_limited_logged = log.iter().filter(|r| r.error_code == Some(60007)).count() as u64;
    assert_eq!(stats.rate_limited, rate_limited_logged);
    assert_eq!(stats.rate_limited, 2);
    let numbers: Vec<u32> = attempts.iter().filter_map(|s| s.attempt).collect();
    assert_eq!(&numbers[..4], &[1, 2, 3, 1], "attempts count from 1 in each call");

    // The calls: one ok, one timeout (the other client), one transport failure.
    let calls: Vec<&Seen> = seen.iter().filter(|s| s.kind == EventKind::Call).collect();
    assert_eq!(calls.len(), 3);
    assert_eq!((calls[0].error_kind, calls[0].attempt, calls[0].random), (None, Some(3), Some(info.random)));
    assert_eq!(calls[1].error_kind, Some(ErrorKind::Timeout));
    assert_eq!((calls[2].error_kind, calls[2].http_status), (Some(ErrorKind::Transport), Some(502)));
    assert_eq!((stats.calls, stats.ok, stats.failed), (2, 1, 1));
    assert_eq!(stats.failed_by_kind.get("transport"), Some(&1));
    assert_eq!(slow_stats.failed_by_kind.get("timeout"), Some(&1));
    assert_eq!(stats.retries, stats.attempts - stats.calls, "every attempt after a call's first");
    // One limiter grant per attempt, each an event.
    assert_eq!(stats.limiter_waits, stats.attempts);
    let waits = seen.iter().filter(|s| s.kind == EventKind::LimiterWait).count() as u64;
    assert_eq!(waits, stats.limiter_waits + slow_stats.limiter_waits);
    // Connections: the first attempt opened one; so did each attempt after a broken one.
    let opened = seen.iter().filter(|s| s.kind == EventKind::ConnectionOpened).count() as u64;
    assert!(stats.connections_opened >= 1);
    assert_eq!(opened, stats.connections_opened + slow_stats.connections_opened);
    assert!(!stats.fallback_active);
    // The 60007s cut the lane's rate once (one cut per window), and it grows back from there.
    let adapted: Vec<&Seen> = seen.iter().filter(|s| s.kind == EventKind::RateAdapted).collect();
    assert_eq!(adapted.len(), 1, "{adapted:?}");
    let rate = stats.effective_rate_limit.expect("a limiter");
    assert!(rate > 0.0 && rate < 50.0, "{rate}");
    // Observers run on the calling thread.
    assert!(seen.iter().all(|s| s.thread == std::thread::current().id()));

    // The JSON form has exactly the keys of the struct.
    let json = stats.to_json();
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 13, "{keys:?}");
    assert_eq!(json["failed_by_kind"]["transport"], 1);
    assert_eq!(json["fallback_active"], 0);
}

#[test]
fn a_panicking_observer_never_breaks_the_call() {
    let emu = Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() }).expect("emulator");
    let group = emu.create_group(&GroupSpec::new("Public")).expect("group");
    let client = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url(emu.base_url())
        .observer(|_: &Event<'_>| panic!("a broken hook"))
        .build()
        .expect("client");
    client.delete_group_msg_by_sender(&group, "spammer").expect("the call goes on");
    assert_eq!(client.stats().ok, 1);
}

#[test]
fn events_carry_no_secret_even_from_a_server_that_echoes_them() {
    let emu = Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() }).expect("emulator");
    let group = emu.create_group(&GroupSpec::new("Public")).expect("group");
    let texts = Arc::new(Mutex::new(String::new()));
    let sink = texts.clone();
    let client = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url(emu.base_url())
        .max_retries(0)
        .observer(move |e: &Event<'_>| sink.lock().unwrap().push_str(&format!("{e:?}\n")))
        .build()
        .expect("client");
    emu.inject(DELETE, Fault { echo_secrets: true, ..Fault::default() });
    let _ = client.delete_group_msg_by_sender(&group, "spammer");
    let texts = texts.lock().unwrap().clone();
    let stats = format!("{:?} {}", client.stats(), client.stats().to_json());
    assert!(texts.contains("Call"), "{texts}");
    for text in [&texts, &stats] {
        assert!(!text.contains(DEMO_SECRET_KEY), "{text}");
        assert!(!text.contains("usersig") && !text.contains("eJ"), "no UserSig: {text}");
        assert!(!text.contains(&group) && !text.contains("spammer"), "no account or group id: {text}");
    }
}
