//! How many requests per second the emulator answers on loopback, with keep-alive clients.
//!
//! ```text
//! cargo run --release --example emulator_throughput --features emulator -- [threads=4] [seconds=3]
//! ```
//!
//! Each client thread has its own `ureq` agent (one keep-alive connection) and sends
//! `delete_group_msg_by_sender` to a group holding 1000 messages, with no rate limit and no latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use timrest::emulator::{Emulator, EmulatorConfig, GroupSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(4);
    let seconds: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3.0);

    let emu = Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() })?;
    let group = emu.create_group(&GroupSpec::new("Public"))?;
    for i in 0..1000 {
        emu.send_group_msg(&group, if i % 10 == 0 { "spammer" } else { "alice" }, "hello", None)?;
    }
    let usersig = timrest::usersig::generate(
        emu.sdkappid(),
        emu.secret_key(),
        "administrator",
        86400,
        timrest::usersig::unix_now(),
    );
    let body = serde_json::to_vec(&serde_json::json!({"GroupId": group, "Sender_Account": "spammer"}))?;

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
            let prefix = format!(
                "{}/v4/group_open_http_svc/delete_group_msg_by_sender?sdkappid={}&identifier=administrator&usersig={usersig}&contenttype=json&random=",
                emu.base_url(),
                emu.sdkappid()
            );
            let body = body.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let mut random = t as u32 * 1_000_000_000;
                while !stop.load(Ordering::Relaxed) {
                    random = random.wrapping_add(1);
                    let ok = agent
                        .post(format!("{prefix}{random}"))
                        .send(&body[..])
                        .ok()
                        .and_then(|r| r.into_body().read_to_string().ok())
                        .is_some_and(|text| text.contains("\"ErrorCode\":0"));
                    if ok { &done } else { &failed }.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);
    println!(
        "{threads} keep-alive client threads, {elapsed:.1} s: {ok} OK answers ({:.0} requests/s), {} failures",
        ok as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
    Ok(())
}
