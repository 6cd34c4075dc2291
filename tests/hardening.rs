//! What a hostile client or odd settings must not break in the emulator (the hostile *server*
//! cases are rows of the fault matrix, tests/faults.json): a slow request head (slowloris) and
//! idle keep-alive connections cannot hold connection slots, absurd rates and delays are refused
//! up front, and a secret echoed by a server never reaches an error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use timrest::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, Fault, GroupSpec};
use timrest::{Client, ErrorKind};

fn emulator(head: Duration, idle: Duration) -> Emulator {
    Emulator::start(EmulatorConfig { head_timeout: head, idle_timeout: idle, ..EmulatorConfig::default() })
        .expect("emulator")
}

fn connect(emu: &Emulator) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", emu.port())).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads until the server closes; returns what it sent.
fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_request_head_sent_a_byte_at_a_time_is_cut_off_at_the_head_deadline() {
    let emu = emulator(Duration::from_millis(400), Duration::from_secs(30));
    let mut s = connect(&emu);
    let head = b"POST /v4/group_open_http_svc/delete_group_msg_by_sender?sdkappid=1 HTTP/1.1\r\nHost: x\r\n";
    // One byte every 50 ms: each read is quick, the whole head would take 4 s.
    let started = Instant::now();
    let mut written = 0;
    for b in head {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        written += 1;
        std::thread::sleep(Duration::from_millis(50));
        if started.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    let answer = read_to_close(&mut s);
    assert!(written < head.len(), "the server let a slow head run to its end");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let emu = emulator(Duration::from_secs(5), Duration::from_millis(300));
    let mut s = connect(&emu);
    let started = Instant::now();
    assert_eq!(read_to_close(&mut s), "", "closed without a word");
    assert!(started.elapsed() < Duration::from_secs(9), "closed by the idle limit, not the test's timeout");
    // A client still works: a fresh connection, and the pool's stale one is replaced.
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let client =
        Client::builder().sdkappid(DEMO_SDKAPPID).secret_key(DEMO_SECRET_KEY).base_url(emu.base_url()).build().unwrap();
    let request = timrest::DeleteBySender::new(&group, "s");
    client.delete_by_sender(&request).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    // The server closed the pooled connection meanwhile. The pool's check (one peek at the
    // socket, src/transport.rs) finds that out and the call goes out on a fresh connection at
    // its first attempt; a dead socket taken for a live one would fail and be retried.
    let info = client.delete_by_sender(&request).unwrap();
    assert_eq!(info.attempts, 1, "the closed connection was reused");
}

#[test]
fn absurd_emulator_settings_are_refused_up_front() {
    for config in [
        EmulatorConfig { rate_limit: Some(1e-20), ..EmulatorConfig::default() },
        EmulatorConfig { app_rate_limit: Some(f64::NAN), ..EmulatorConfig::default() },
        EmulatorConfig { latency: Duration::MAX, ..EmulatorConfig::default() },
        EmulatorConfig { head_timeout: Duration::ZERO, ..EmulatorConfig::default() },
    ] {
        let shown = format!("{config:?}");
        let e = Emulator::start(config).err().unwrap_or_else(|| panic!("accepted {shown}"));
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{shown}");
    }
    // Set later, a tiny rate does not panic either: it admits one request, then nothing.
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    emu.set_rate_limit(Some(1e-20));
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let client = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url(emu.base_url())
        .max_retries(0)
        .build()
        .unwrap();
    client.delete_group_msg_by_sender(&group, "s").unwrap();
    assert_eq!(client.delete_group_msg_by_sender(&group, "s").unwrap_err().code(), Some(60007));
}

#[test]
fn a_client_with_a_tiny_rate_is_a_config_error_not_a_panic() {
    let e = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url("http://127.0.0.1:9")
        .rate_limit(Some(1e-20))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("rate_limit"), "{e}");
}

/// A ready UserSig echoed by the server (not only the key the client signs with).
#[test]
fn an_echoed_ready_usersig_is_removed_from_the_error() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap();
    let sig = timrest::usersig::generate(
        DEMO_SDKAPPID,
        DEMO_SECRET_KEY,
        "administrator",
        86_400,
        timrest::usersig::unix_now(),
    );
    let client = Client::builder().sdkappid(DEMO_SDKAPPID).usersig(&sig).base_url(emu.base_url()).build().unwrap();
    emu.inject("delete_group_msg_by_sender", Fault { echo_secrets: true, ..Fault::default() });
    let e = client.delete_group_msg_by_sender(&group, "s").unwrap_err();
    assert_eq!(e.code(), Some(10004));
    let everything = format!("{e} {e:?} {}", e.info());
    assert!(!everything.contains(&sig), "{everything}");
    assert!(e.info().contains("<redacted>"), "{}", e.info());
}
