//! The shared rate limiter against a real `redis-server` (started by the tests on a free loopback
//! port, persistence off) and the emulator over real HTTP: the Lua script on a fake clock, one
//! quota for separate clients, the keys, reloading a flushed script, a refused password, the
//! fallbacks while Redis is gone, the client's clock, and the fleet-wide adaptation.

use std::time::{Duration, Instant};

use timrest::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, Fault, GroupSpec};
use timrest::{Client, ClientBuilder, ErrorKind, RateLimitClock, RateLimitFallback};

#[path = "support/redis_server.rs"]
mod redis_server;
use redis_server::RedisServer;

const LANE_KEY: &str = "timrest:{1400000000}:group_open_http_svc/delete_group_msg_by_sender";

fn emulator(rate_limit: Option<f64>) -> Emulator {
    Emulator::start(EmulatorConfig { rate_limit, ..EmulatorConfig::default() }).expect("emulator")
}

fn builder(emu: &Emulator, redis_url: &str, rate: f64) -> ClientBuilder {
    Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url(emu.base_url())
        .rate_limit(Some(rate))
        .rate_limit_url(redis_url)
}

/// One run of the limiter's script on a fake clock, as the client calls it (10/s, the adaptive
/// constants, a 4 s presence): `(granted, wait µs, rate, clients counted, lane lost)`.
fn gcra(
    con: &mut redis::Connection,
    op: &str,
    now_us: u64,
    max_wait_us: u64,
    token: &str,
    not_before_us: (u64, u64),
) -> (i64, i64, f64, i64, i64) {
    let (granted, wait, rate, clients, lost): (i64, i64, String, i64, i64) =
        redis::Script::new(include_str!("../src/limit/gcra.lua"))
            .key("t:{1}:lane")
            .key("t:{1}:clients")
            .arg(op)
            .arg(10.0)
            .arg(max_wait_us)
            .arg(now_us)
            .arg(0.5)
            .arg(0.02)
            .arg(0.05)
            .arg(1.0)
            .arg("1")
            .arg(token)
            .arg(4_000_000u64)
            .arg(not_before_us.0)
            .arg(not_before_us.1)
            .invoke(con)
            .unwrap();
    (granted, wait, rate.parse().unwrap(), clients, lost)
}

/// The script itself, on a fake clock (explicit `now`), as the client calls it.
#[test]
fn the_script_reserves_cuts_and_recovers_on_a_fake_clock() {
    let redis = RedisServer::start(None);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let mut run = |op: &str, now_us: u64, max_wait_us: u64| -> (i64, i64, f64) {
        let (granted, wait, rate, _, _) = gcra(&mut con, op, now_us, max_wait_us, "", (0, 0));
        (granted, wait, rate)
    };
    let base = 1_000_000_000u64;
    // 10/s: starts 100 ms apart, reserved in order, each caller told how long to wait.
    assert_eq!(run("acquire", base, u64::MAX >> 12), (1, 0, 10.0));
    assert_eq!(run("acquire", base, u64::MAX >> 12), (1, 100_000, 10.0));
    assert_eq!(run("acquire", base + 50_000, u64::MAX >> 12), (1, 150_000, 10.0));
    // A caller that cannot wait that long is refused and takes nothing.
    assert_eq!(run("acquire", base + 50_000, 1_000), (0, 250_000, 10.0));
    assert_eq!(run("acquire", base + 50_000, u64::MAX >> 12), (1, 250_000, 10.0));
    // Spaced callers are not delayed.
    assert_eq!(run("acquire", base + 5_000_000, 0), (1, 0, 10.0));
    // The server refused: one cut per window, then +1 % of the configured rate per second.
    assert_eq!(run("refused", base + 5_000_000, 0), (1, 0, 5.0));
    assert_eq!(run("refused", base + 5_500_000, 0).0, 0, "one cut per window");
    let (_, _, rate) = run("peek", base + 7_000_000, 0);
    assert!((rate - 5.4).abs() < 1e-9, "{rate}");
    // Paced at the cut rate: 1/5 s apart.
    run("acquire", base + 7_000_000, 0);
    let (_, wait, _) = run("acquire", base + 7_000_000, u64::MAX >> 12);
    assert_eq!(wait, 200_000);
    // Idle keys expire by themselves.
    let pttl: i64 = redis.command(&["PTTL", "t:{1}:lane"]).unwrap().trim_start_matches(':').parse().unwrap();
    assert!(pttl > 0, "{pttl}");
}

/// The presence count the fallback shares the rate by, and the start after an outage that keeps
/// clear of the fallback's last start.
#[test]
fn the_script_counts_the_clients_present_and_honours_not_before() {
    let redis = RedisServer::start(None);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let mut call = |now_us: u64, token: &str, not_before_us: u64| -> (i64, i64, i64) {
        let (granted, wait, _, clients, _) =
            gcra(&mut con, "acquire", now_us, u64::MAX >> 12, token, (not_before_us, 0));
        (granted, wait, clients)
    };
    let base = 1_000_000_000u64;
    assert_eq!(call(base, "a", 0).2, 1);
    assert_eq!(call(base + 1_000_000, "b", 0).2, 2);
    assert_eq!(call(base + 2_000_000, "c", 0).2, 3);
    assert_eq!(call(base + 2_100_000, "", 0).2, 0, "a call that does not renew does not count");
    // `a` renewed nothing for 4 s: gone; `b` and `c` remain.
    assert_eq!(call(base + 4_500_000, "b", 0).2, 2);
    assert_eq!(redis.command(&["HLEN", "t:{1}:clients"]).unwrap(), ":2");
    // not_before: the start is at least that far away even on an idle lane.
    assert_eq!(call(base + 60_000_000, "", 300_000), (1, 300_000, 0));
    assert_eq!(call(base + 60_000_000, "", 0), (1, 400_000, 0), "the next one keeps the gap after it");
}

/// Two clients (as two processes would have) on one Redis share one quota: the emulator never
/// sees more than the rate in any second.
#[test]
fn separate_clients_on_one_redis_share_one_quota() {
    let redis = RedisServer::start(None);
    let emu = emulator(None);
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let clients: Vec<Client> = (0..2).map(|_| builder(&emu, &redis.url(), 10.0).build().unwrap()).collect();
    std::thread::scope(|s| {
        for client in &clients {
            for _ in 0..2 {
                let group = &group;
                s.spawn(move || {
                    for _ in 0..5 {
                        client.delete_group_msg_by_sender(group, "spammer").unwrap();
                    }
                });
            }
        }
    });
    let mut arrivals: Vec<Duration> =
        emu.requests().iter().filter(|r| r.command == "delete_group_msg_by_sender").map(|r| r.arrived).collect();
    arrivals.sort();
    assert_eq!(arrivals.len(), 20);
    for (i, t) in arrivals.iter().enumerate() {
        let within = arrivals[i..].iter().take_while(|u| **u < *t + Duration::from_millis(950)).count();
        assert!(within <= 10, "{within} arrivals within 950 ms of #{i}: {arrivals:?}");
    }
    // The lane's key is there, with the prefix and the SDKAppID's hash tag.
    assert_eq!(redis.command(&["EXISTS", LANE_KEY]).unwrap(), ":1");
}

#[test]
fn the_prefix_is_settable_and_each_command_has_its_own_key() {
    let redis = RedisServer::start(None);
    let emu = emulator(None);
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let client = builder(&emu, &redis.url(), 50.0).rate_limit_prefix("app-a").build().unwrap();
    client.delete_group_msg_by_sender(&group, "spammer").unwrap();
    client
        .call("group_open_http_svc", "group_msg_get_simple", &serde_json::json!({"GroupId": group, "ReqMsgNumber": 1}))
        .unwrap();
    assert_eq!(
        redis.command(&["EXISTS", "app-a:{1400000000}:group_open_http_svc/delete_group_msg_by_sender"]).unwrap(),
        ":1"
    );
    assert_eq!(
        redis.command(&["EXISTS", "app-a:{1400000000}:group_open_http_svc/group_msg_get_simple"]).unwrap(),
        ":1"
    );
    assert_eq!(redis.command(&["EXISTS", LANE_KEY]).unwrap(), ":0");
}

/// `SCRIPT FLUSH` (what a restart or a failover to an empty replica does): the next call loads
/// the script again by itself.
#[test]
fn a_flushed_script_is_loaded_again() {
    let redis = RedisServer::start(None);
    let emu = emulator(None);
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let client = builder(&emu, &redis.url(), 50.0).rate_limit_fallback(RateLimitFallback::Fail).build().unwrap();
    client.delete_group_msg_by_sender(&group, "spammer").unwrap();
    let sha = redis::Script::new(include_str!("../src/limit/gcra.lua")).get_hash().to_owned();
    assert_eq!(redis.command(&["SCRIPT", "EXISTS", &sha]).unwrap(), ":1");
    assert_eq!(redis.command(&["SCRIPT", "FLUSH"]).unwrap(), "+OK");
    assert_eq!(redis.command(&["SCRIPT", "EXISTS", &sha]).unwrap(), ":0");
    client.delete_group_msg_by_sender(&group, "spammer").unwrap();
    assert_eq!(redis.command(&["SCRIPT", "EXISTS", &sha]).unwrap(), ":1", "loaded again after NOSCRIPT");
}

#[test]
fn a_wrong_password_is_a_limiter_error_that_does_not_show_it() {
    const CANARY: &str = "CANARY-redis-password-4b1d";
    let redis = RedisServer::start(Some("the-right-one"));
    let emu = emulator(None);
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let url = format!("redis://:{CANARY}@127.0.0.1:{}/0", redis.port);
    // Whatever the fallback: a refused password is said, never hidden behind it.
    for fallback in [RateLimitFallback::Local, RateLimitFallback::Open, RateLimitFallback::Fail] {
        let b = builder(&emu, &url, 50.0).rate_limit_fallback(fallback);
        assert!(!format!("{b:?}").contains(CANARY));
        let client = b.build().unwrap();
        assert!(!format!("{client:?}").contains(CANARY) && !format!("{:?}", client.config()).contains(CANARY));
        let e = client.delete_group_msg_by_sender(&group, "spammer").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Limiter, "{e}");
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(CANARY), "{shown}");
        assert!(shown.contains("authentication") || shown.contains("WRONGPASS"), "{shown}");
        assert!(shown.contains(&format!("127.0.0.1:{}", redis.port)), "{shown}");
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
    // The right password works.
    let good = format!("redis://:the-right-one@127.0.0.1:{}/0", redis.port);
    builder(&emu, &good, 50.0).build().unwrap().delete_group_msg_by_sender(&group, "spammer").unwrap();
}

#[test]
fn a_url_that_is_not_redis_is_a_config_error() {
    let emu = emulator(None);
    for bad in ["http://127.0.0.1:6379", "127.0.0.1:6379", "redis://[::1", "redis://:pw@host:notaport/0"] {
        let e = builder(&emu, bad, 50.0).build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{bad}: {e}");
        assert!(!e.to_string().contains(":pw@"), "{e}");
    }
    let e = builder(&emu, "redis://127.0.0.1:1/0", 50.0).rate_limit(None).build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}

/// With Redis gone: `fail` is a typed error within the deadline and sends nothing; `open` and
/// `local` send. When Redis is back, the shared limiter is used again.
#[test]
fn fallbacks_while_redis_is_gone_and_recovery_when_it_is_back() {
    let mut redis = RedisServer::start(None);
    let emu = emulator(None);
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let make = |fallback| {
        builder(&emu, &redis.url(), 50.0)
            .rate_limit_fallback(fallback)
            .deadline(Duration::from_secs(2))
            .build()
            .unwrap()
    };
    let (fail, open, local) =
        (make(RateLimitFallback::Fail), make(RateLimitFallback::Open), make(RateLimitFallback::Local));
    for c in [&fail, &open, &local] {
        c.delete_group_msg_by_sender(&group, "spammer").unwrap();
    }
    redis.kill();
    emu.clear_requests();

    // `fail` waits for Redis until the call's deadline (2 s), then says so.
    let started = Instant::now();
    let e = fail.delete_group_msg_by_sender(&group, "spammer").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Limiter, "{e}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4), "{waited:?}");
    assert!(e.to_string().contains("unavailable") && e.to_string().contains("deadline"), "{e}");
    assert!(emu.requests().is_empty(), "fail sends nothing");
    open.delete_group_msg_by_sender(&group, "spammer").unwrap();
    local.delete_group_msg_by_sender(&group, "spammer").unwrap();
    // The local fallback paces at a quarter of the rate (three clients were seen: a third each,
    // capped by rate_limit_fallback_fraction).
    assert_eq!(local.effective_rate_limit(), Some(12.5));
    assert_eq!(emu.requests().len(), 2);

    redis.restart();
    // Outage probes happen at most every 250 ms: within a second, Redis is used again.
    std::thread::sleep(Duration::from_millis(600));
    fail.delete_group_msg_by_sender(&group, "spammer").unwrap();
    assert_eq!(redis.command(&["EXISTS", LANE_KEY]).unwrap(), ":1", "the lane lives in Redis again");
    // A client that has not called since is still on its fallback, and says so; its next call
    // finds Redis again.
    assert_eq!(local.effective_rate_limit(), Some(12.5));
    local.delete_group_msg_by_sender(&group, "spammer").unwrap();
    assert_eq!(local.effective_rate_limit(), Some(50.0));
}

#[test]
fn the_clients_clock_can_replace_redis_time() {
    let redis = RedisServer::start(None);
    let emu = emulator(None);
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let client = builder(&emu, &redis.url(), 50.0)
        .rate_limit_clock(RateLimitClock::Local)
        .rate_limit_fallback(RateLimitFallback::Fail)
        .build()
        .unwrap();
    for _ in 0..3 {
        client.delete_group_msg_by_sender(&group, "spammer").unwrap();
    }
    // `last` is on the script's scale (µs since 1.7e9 s after the epoch), close to this clock.
    let last: f64 = redis.command(&["HGET", LANE_KEY, "last"]).unwrap().parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let ours = (now - 1_700_000_000.0) * 1e6;
    assert!((ours - last).abs() < 5e6, "last {last} vs our clock {ours}");
}

/// A rate-limit answer seen by one client slows every client of the fleet down.
#[test]
fn a_refusal_seen_by_one_client_slows_the_whole_fleet() {
    let redis = RedisServer::start(None);
    let emu = emulator(None);
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let a = builder(&emu, &redis.url(), 80.0).max_retries(0).build().unwrap();
    let b = builder(&emu, &redis.url(), 80.0).build().unwrap();
    assert_eq!(b.effective_rate_limit(), Some(80.0));
    emu.inject("delete_group_msg_by_sender", Fault::error_code(60007).times(1));
    let e = a.delete_group_msg_by_sender(&group, "spammer").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    let seen_by_b = b.effective_rate_limit().unwrap();
    assert!((40.0..41.5).contains(&seen_by_b), "80 × 0.5 = 40, recovering: {seen_by_b}");
    // Without adaptation, a refusal changes nothing.
    let fixed = builder(&emu, &redis.url(), 80.0).rate_limit_prefix("fixed").rate_limit_adaptive(false);
    let fixed = fixed.max_retries(0).build().unwrap();
    emu.inject("delete_group_msg_by_sender", Fault::error_code(60007).times(1));
    fixed.delete_group_msg_by_sender(&group, "spammer").unwrap_err();
    assert_eq!(fixed.effective_rate_limit(), Some(80.0));
}

/// Against an emulator whose real quota is below the configured rate, the rejections stop after
/// the first windows and the rate settles near the real quota (the local backend here; the
/// fleet test in Python does the same through Redis).
#[test]
fn the_limiter_finds_a_quota_below_its_setting() {
    let emu = emulator(Some(40.0));
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let client = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url(emu.base_url())
        .rate_limit(Some(95.0))
        .build()
        .unwrap();
    let items: Vec<_> = (0..250).map(|_| timrest::DeleteBySender::new(group.clone(), "spammer")).collect();
    let options = timrest::batch::BatchOptions { concurrency: 8, ..Default::default() };
    let report = client.delete_many(items, &options, |_| std::ops::ControlFlow::Continue(())).unwrap();
    assert_eq!(report.failed(), 0, "every item succeeded (with retries)");
    let log = emu.requests();
    let rejected: Vec<Duration> = log.iter().filter(|r| r.error_code == Some(60007)).map(|r| r.arrived).collect();
    let first = log.first().map(|r| r.arrived).unwrap_or_default();
    let late = rejected.iter().filter(|t| **t > first + Duration::from_millis(2500)).count();
    println!(
        "quota 40/s, configured 95/s: {} rejections, {late} after the first 2.5 s; effective rate now {:?}",
        rejected.len(),
        client.effective_rate_limit()
    );
    println!("rejections at {:?}", rejected.iter().map(|t| (*t - first).as_millis()).collect::<Vec<_>>());
    assert!(!rejected.is_empty(), "the quota really was below the setting");
    assert!(late <= 3, "rejections stop after the first windows: {late} late of {}", rejected.len());
    let rate = client.effective_rate_limit().unwrap();
    assert!((20.0..=42.0).contains(&rate), "settled near the real quota: {rate}");
}
