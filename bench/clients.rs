//! The Rust side of `scripts/bench.sh`: the Rust core, the raw HTTP floor, and the emulator's
//! throughput, each against an emulator that runs as its own process (its URL on the command
//! line). Prints one JSON object per run on stdout; `bench/run.py` turns them into the table.
//!
//! ```text
//! cargo bench --bench clients -- per-call core|floor|floor-split URL GROUP SENDER N WARMUP
//! cargo bench --bench clients -- throughput URL GROUP SENDER THREADS SECONDS
//! ```
//!
//! The floor is std's `TcpStream`: one keep-alive connection with `TCP_NODELAY`, the request
//! written with one `write`, the answer read up to its `Content-Length`, with a UserSig signed
//! once before the loop. No HTTP library, no JSON parsing (a substring test for `"ErrorCode":0`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use timrest::Client;

/// The demo app of the emulator (its defaults), as every client of the benchmark uses.
const SDKAPPID: u64 = 1400000000;
const SECRET_KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
const IDENTIFIER: &str = "administrator";

type BoxError = Box<dyn std::error::Error>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        // `cargo bench` / `cargo test --benches` with no arguments: nothing to measure here.
        [] => {
            eprintln!("clients: driven by scripts/bench.sh (see bench/clients.rs); no arguments, nothing to run");
            return;
        }
        ["per-call", which, url, group, sender, n, warmup] => per_call(which, url, group, sender, n, warmup),
        ["throughput", url, group, sender, threads, seconds] => throughput(url, group, sender, threads, seconds),
        _ => Err("usage: see the module docs of bench/clients.rs".into()),
    };
    if let Err(e) = result {
        eprintln!("clients: {e}");
        std::process::exit(1);
    }
}

/// CPU time of the whole process (every thread), from `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`.
fn process_cpu() -> Duration {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec (64-bit Linux layout) for the duration of the call.
    let rc = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A field of `/proc/self/status` in KiB (VmRSS, VmHWM).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().split(' ').next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Median, p99 and mean (µs) of per-call latencies in ns.
fn latency_stats(mut ns: Vec<u64>) -> serde_json::Value {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64 / 1000.0;
    json!({ "median_us": at(0.5), "p99_us": at(0.99), "mean_us": mean })
}

fn per_call(which: &str, url: &str, group: &str, sender: &str, n: &str, warmup: &str) -> Result<(), BoxError> {
    let (n, warmup): (usize, usize) = (n.parse()?, warmup.parse()?);
    let mut call: Box<dyn FnMut() -> Result<(), BoxError>> = match which {
        "core" => {
            let client = Client::builder()
                .sdkappid(SDKAPPID)
                .secret_key(SECRET_KEY)
                .identifier(IDENTIFIER)
                .base_url(url)
                .rate_limit(None)
                .build()?;
            let (group, sender) = (group.to_owned(), sender.to_owned());
            Box::new(move || Ok(client.delete_group_msg_by_sender(&group, &sender)?))
        }
        "floor" => {
            let mut floor = Floor::connect(url, group, sender)?;
            Box::new(move || floor.call())
        }
        // Diagnostic: the floor writing the head and the body with two writes, as ureq does.
        "floor-split" => {
            let mut floor = Floor::connect(url, group, sender)?;
            floor.split = true;
            Box::new(move || floor.call())
        }
        other => return Err(format!("unknown client {other:?}").into()),
    };
    for _ in 0..warmup {
        call()?;
    }
    let mut ns = Vec::with_capacity(n);
    let (cpu0, wall0) = (process_cpu(), Instant::now());
    for _ in 0..n {
        let t = Instant::now();
        call()?;
        ns.push(t.elapsed().as_nanos() as u64);
    }
    let (cpu, wall) = (process_cpu() - cpu0, wall0.elapsed());
    let mut out = latency_stats(ns);
    out["client"] = json!(which);
    out["n"] = json!(n);
    out["cpu_us"] = json!(cpu.as_secs_f64() * 1e6 / n as f64);
    out["wall_s"] = json!(wall.as_secs_f64());
    out["rss_kib"] = json!(status_kib("VmRSS"));
    out["hwm_kib"] = json!(status_kib("VmHWM"));
    println!("{out}");
    Ok(())
}

/// The floor: hand-written HTTP/1.1 over one keep-alive `TcpStream`, UserSig signed once.
struct Floor {
    stream: TcpStream,
    /// The request up to the value of `random`.
    head: Vec<u8>,
    /// The rest of the request after `random`: the other headers and the body.
    tail: Vec<u8>,
    request: Vec<u8>,
    buf: Vec<u8>,
    random: u32,
    /// Write the head and the body separately (two `send`s, as ureq does).
    split: bool,
    body_len: usize,
}

impl Floor {
    fn connect(url: &str, group: &str, sender: &str) -> Result<Floor, BoxError> {
        let host = url.strip_prefix("http://").ok_or("the floor speaks plain http:// only")?.trim_end_matches('/');
        let stream = TcpStream::connect(host)?;
        stream.set_nodelay(true)?;
        let usersig = timrest::usersig::generate(SDKAPPID, SECRET_KEY, IDENTIFIER, 86400, timrest::usersig::unix_now());
        let body = serde_json::to_vec(&json!({ "GroupId": group, "Sender_Account": sender }))?;
        let head = format!(
            "POST /v4/group_open_http_svc/delete_group_msg_by_sender?sdkappid={SDKAPPID}&identifier={IDENTIFIER}&usersig={usersig}&contenttype=json&random="
        )
        .into_bytes();
        let mut tail = format!(
            " HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        tail.extend_from_slice(&body);
        Ok(Floor {
            stream,
            head,
            tail,
            request: Vec::new(),
            buf: vec![0; 64 * 1024],
            random: 0x9E37_79B9,
            split: false,
            body_len: body.len(),
        })
    }

    fn call(&mut self) -> Result<(), BoxError> {
        // xorshift32: a fresh `random` per request, as the real clients send.
        self.random ^= self.random << 13;
        self.random ^= self.random >> 17;
        self.random ^= self.random << 5;
        self.request.clear();
        self.request.extend_from_slice(&self.head);
        write!(self.request, "{}", self.random)?;
        self.request.extend_from_slice(&self.tail);
        if self.split {
            let at = self.request.len() - self.body_len;
            self.stream.write_all(&self.request[..at])?;
            self.stream.write_all(&self.request[at..])?;
        } else {
            self.stream.write_all(&self.request)?;
        }
        let body = read_answer(&mut self.stream, &mut self.buf)?;
        if !contains(body, b"\"ErrorCode\":0") {
            return Err(format!("not a success: {}", String::from_utf8_lossy(body)).into());
        }
        Ok(())
    }
}

/// Reads one HTTP answer (head, then `Content-Length` bytes of body) into `buf`; returns the body.
fn read_answer<'a>(stream: &mut TcpStream, buf: &'a mut [u8]) -> Result<&'a [u8], BoxError> {
    let mut len = 0;
    loop {
        let got = stream.read(&mut buf[len..])?;
        if got == 0 {
            return Err("the server closed the connection".into());
        }
        len += got;
        if let Some(end) = find(&buf[..len], b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end])?;
            let body_len: usize = head
                .split("\r\n")
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
                })
                .ok_or("no Content-Length")?;
            let total = end + 4 + body_len;
            if total > buf.len() {
                return Err("answer too long".into());
            }
            while len < total {
                let got = stream.read(&mut buf[len..total])?;
                if got == 0 {
                    return Err("the server closed the connection mid-answer".into());
                }
                len += got;
            }
            return Ok(&buf[end + 4..total]);
        }
        if len == buf.len() {
            return Err("answer head too long".into());
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// `threads` raw keep-alive clients (the floor's loop) for `seconds`: requests/s the emulator answers.
fn throughput(url: &str, group: &str, sender: &str, threads: &str, seconds: &str) -> Result<(), BoxError> {
    let (threads, seconds): (usize, f64) = (threads.parse()?, seconds.parse()?);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut floors = Vec::new();
    for _ in 0..threads {
        floors.push(Floor::connect(url, group, sender)?);
    }
    let (cpu0, started) = (process_cpu(), Instant::now());
    let workers: Vec<_> = floors
        .into_iter()
        .enumerate()
        .map(|(i, mut floor)| {
            floor.random = floor.random.wrapping_add(i as u32 * 7919);
            let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if floor.call().is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        // The connection may be out of step now: count it and stop this client.
                        failed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let (elapsed, cpu) = (started.elapsed().as_secs_f64(), (process_cpu() - cpu0).as_secs_f64());
    let ok = done.load(Ordering::Relaxed);
    let out = json!({
        "threads": threads,
        "ok": ok,
        "failed": failed.load(Ordering::Relaxed),
        "elapsed_s": elapsed,
        "rps": ok as f64 / elapsed,
        "client_cpu_s": cpu,
    });
    println!("{out}");
    Ok(())
}
