//! The emulator's request path: any bytes from any local program, over a real loopback
//! connection to one running emulator. The server answers (or closes) and never panics (a panic
//! in any of its threads aborts the process: libFuzzer's hook), and it keeps serving.
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use timrest::emulator::{Emulator, EmulatorConfig};

static EMULATOR: LazyLock<Emulator> = LazyLock::new(|| {
    let emu = Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() }).expect("emulator");
    emu.create_group(&timrest::emulator::GroupSpec::new("Public")).expect("a group");
    emu
});
static RUNS: AtomicU64 = AtomicU64::new(0);

fn exchange(bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", EMULATOR.port())).expect("the emulator accepts");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before it has read everything: a reset then is fine.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    match stream.take(4 << 20).read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
            panic!("no answer and no close within 10 s of the client's end of the request")
        }
        Err(_) => {} // reset
    }
    answer
}

fuzz_target!(|data: &[u8]| {
    let answer = exchange(data);
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 "),
        "not an HTTP answer: {:?}",
        &answer[..answer.len().min(64)]
    );
    // Every so often: still serving a well-formed request.
    if RUNS.fetch_add(1, Ordering::Relaxed) % 512 == 0 {
        let ok = exchange(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(ok.starts_with(b"HTTP/1.1 "), "the emulator stopped answering");
    }
});
