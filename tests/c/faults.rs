//! The C face of the reliability tests (a module of `tests/c_abi.rs`, which builds the library
//! and `tests/c/faults.c`): the fault matrix of `tests/faults.json`, bad inputs, and 16 threads ×
//! 200 calls with faults injected at random. The secret key of every case is a canary that the
//! C program looks for in every error message.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use timrest::emulator::{Emulator, EmulatorConfig, Fault, GroupSpec, RequestRecord};

use super::{RUNNERS, Runner, built, run};

#[path = "../support/fault_table.rs"]
mod fault_table;

use fault_table::{Case, cases, fault_of, refused_port, setting, table};

const DELETE: &str = "delete_group_msg_by_sender";
const CANARY_KEY: &str = "c-canary-key-5d1e0b7a-never-print";

fn emulator(rate_limit: Option<f64>) -> (Emulator, String) {
    let emu = Emulator::start(EmulatorConfig { secret_key: CANARY_KEY.to_owned(), rate_limit, ..Default::default() })
        .unwrap_or_else(|e| panic!("emulator: {e}"));
    let group = emu.create_group(&GroupSpec::new("Public")).unwrap_or_else(|e| panic!("create_group: {e}"));
    (emu, group)
}

fn base_env(emu: &Emulator, group: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TIM_BASE_URL", emu.base_url()),
        ("TIM_SDKAPPID", emu.sdkappid().to_string()),
        ("TIM_SECRET_KEY", CANARY_KEY.to_owned()),
        ("TEST_GROUP", group.to_owned()),
    ]
}

fn deletions(emu: &Emulator) -> Vec<RequestRecord> {
    emu.requests().into_iter().filter(|r| r.command == DELETE).collect()
}

fn deletions_at_least(emu: &Emulator, n: usize) -> Vec<RequestRecord> {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let sent = deletions(emu);
        if sent.len() >= n || Instant::now() > give_up {
            return sent;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `name=value` fields of the line starting with `first=`.
fn fields(stdout: &str, first: &str) -> HashMap<String, String> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{first}=")))
        .unwrap_or_else(|| panic!("no {first}= line in {stdout}"));
    line.split_whitespace().filter_map(|f| f.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fn number(fields: &HashMap<String, String>, name: &str) -> i64 {
    fields.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// One row of the matrix, run by the C program; `scale` stretches the timeouts (valgrind).
fn matrix_case(runner: Runner, case: &Case, scale: u64) {
    let table = table();
    let (emu, group) = emulator(None);
    emu.send_group_msg(&group, "spammer", "spam", None).unwrap_or_else(|e| panic!("seed: {e}"));
    let mut env = base_env(&emu, &group);
    match fault_of(&case.setup, setting(&table, "max_response_bytes")) {
        Some(fault) => emu.inject(DELETE, fault),
        None => env[0].1 = format!("http://127.0.0.1:{}", refused_port()),
    }
    let ms = |name: &str| (setting(&table, name) * scale).to_string();
    env.extend([
        ("TEST_MAX_RETRIES", setting(&table, "max_retries").to_string()),
        ("TEST_TIMEOUT_MS", ms("timeout_ms")),
        ("TEST_CONNECT_TIMEOUT_MS", ms("connect_timeout_ms")),
        ("TEST_DEADLINE_MS", ms("deadline_ms")),
        ("TEST_SLACK_MS", ms("slack_ms")),
        ("TEST_EXPECT", case.kind.clone()),
        ("TEST_EXPECT_CODE", case.code.unwrap_or(0).to_string()),
        ("TEST_EXPECT_HTTP", case.http.unwrap_or(0).to_string()),
        ("TEST_EXPECT_ATTEMPTS", case.attempts.to_string()),
        ("TEST_EXPECT_RETRYABLE", u8::from(case.retried).to_string()),
    ]);
    let stdout = run(runner, &built().program("faults"), &["matrix"], &env);
    let got = fields(&stdout, "random");
    assert_eq!(number(&got, "attempts"), i64::from(case.attempts), "{runner:?} {}: {stdout}", case.id);
    if case.setup["refused"].as_bool() != Some(true) {
        let sent = deletions_at_least(&emu, case.attempts as usize);
        assert_eq!(sent.len(), case.attempts as usize, "{runner:?} {}: the emulator's log", case.id);
        assert_eq!(sent.last().and_then(|r| r.random).map(i64::from), Some(number(&got, "random")), "{}", case.id);
    }
}

#[test]
fn c_fault_matrix_natively() {
    let cases = cases(&table());
    // Side by side: each case has its own emulator; the slow ones take a few seconds.
    let failed: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> =
            cases.iter().map(|case| (case.id.clone(), s.spawn(|| matrix_case(Runner::Native, case, 1)))).collect();
        handles.into_iter().filter_map(|(id, h)| h.join().err().map(|_| id)).collect()
    });
    assert!(failed.is_empty(), "C matrix cases failed (see their panics above): {failed:?}");
    eprintln!("c fault matrix: {} cases passed natively", cases.len());
}

#[test]
fn c_fault_matrix_under_valgrind() {
    // One case per way of failing, with the timeouts stretched 5×: valgrind runs the client ~20×
    // slower. The timing cases (slow_body, no_answer) run natively only.
    let wanted =
        ["refused", "drop", "reset", "http_502", "cut_short", "huge_body", "code_server", "code_usersig_expired"];
    let cases: Vec<Case> = cases(&table()).into_iter().filter(|c| wanted.contains(&c.id.as_str())).collect();
    assert_eq!(cases.len(), wanted.len());
    for pair in cases.chunks(2) {
        std::thread::scope(|s| {
            for case in pair {
                s.spawn(|| matrix_case(Runner::Valgrind, case, 5));
            }
        });
    }
    eprintln!("c fault matrix: {} cases passed under valgrind", cases.len());
}

#[test]
fn c_bad_inputs_are_refused_before_sending() {
    for runner in RUNNERS {
        let (emu, group) = emulator(None);
        let stdout = run(runner, &built().program("faults"), &["bad_inputs"], &base_env(&emu, &group));
        let count = number(&fields(&stdout, "bad_inputs"), "bad_inputs");
        assert!(count >= 40, "{runner:?}: only {count} bad inputs: {stdout}");
        assert!(emu.requests().is_empty(), "{runner:?}: something was sent: {:?}", emu.requests());
        eprintln!("c bad inputs ({runner:?}): {count} refused before sending");
    }
}

/// Scripts a fault (or none) for each of the next `n` deletions, at random from `seed`: 10 % each
/// retryable (10002, 502, a dropped connection), 3 % a refusal (10010). Returns nothing: the
/// log tells which request met which.
pub(crate) fn inject_random_faults(emu: &Emulator, seed: u64, n: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..n {
        let roll: f64 = rng.random();
        let fault = if roll < 0.04 {
            Fault::error_code(10002)
        } else if roll < 0.07 {
            Fault::http_status(502)
        } else if roll < 0.10 {
            Fault::drop_connection()
        } else if roll < 0.13 {
            Fault::error_code(10010)
        } else {
            Fault::default() // answered normally
        };
        emu.inject(DELETE, fault);
    }
}

/// Threads × calls on one client at 950/s against an emulator limited to 1000/s, with random
/// faults: every call is accounted for, the attempts add up to the emulator's log, the server's
/// limit is never hit.
fn concurrency(runner: Runner, threads: usize, calls: usize, seed: u64) {
    let (emu, group) = emulator(Some(1000.0));
    inject_random_faults(&emu, seed, threads * calls * 2);
    let mut env = base_env(&emu, &group);
    env.extend([
        ("TEST_THREADS", threads.to_string()),
        ("TEST_CALLS", calls.to_string()),
        ("TEST_RATE", "950".to_owned()),
        ("TEST_MAX_RETRIES", "3".to_owned()),
        ("TEST_DEADLINE_MS", "120000".to_owned()),
        ("TEST_TIMEOUT_MS", "20000".to_owned()),
    ]);
    let started = Instant::now();
    let stdout = run(runner, &built().program("faults"), &["concurrency"], &env);
    let took = started.elapsed();
    let got = fields(&stdout, "calls");
    let total = (threads * calls) as i64;
    let ok = number(&got, "ok");
    let (server, transport, not_found) =
        (number(&got, "server"), number(&got, "transport"), number(&got, "group_not_found"));
    assert_eq!(number(&got, "calls"), total, "{runner:?}: {stdout}");
    assert_eq!(ok + server + transport + not_found, total, "{runner:?}: an unexpected status: {stdout}");

    let log = deletions(&emu);
    let fault_count = |f: &str| log.iter().filter(|r| r.fault.as_deref() == Some(f)).count() as i64;
    let retryable_faults = fault_count("error_code:10002") + fault_count("http_status:502") + fault_count("drop");
    // Each call's attempts: retryable faults, then its last answer. A call that failed on a
    // retryable fault had all of its 4 attempts fail that way.
    assert_eq!(log.len() as i64, total + retryable_faults - (server + transport), "{runner:?}: {stdout}");
    // Failed calls: 4 attempts each when retries ran out; 1 to 4 when a 10010 ended them.
    let failed_attempts = number(&got, "failed_attempts");
    let floor = 4 * (server + transport) + not_found;
    assert!((floor..=floor + 3 * not_found).contains(&failed_attempts), "{runner:?}: {stdout}");
    assert_eq!(not_found, fault_count("error_code:10010"), "{runner:?}: every 10010 ended one call");
    let limited = log.iter().filter(|r| r.error_code == Some(60007)).count();
    assert_eq!(limited, 0, "{runner:?}: the emulator's rate limit was hit");
    assert!(log.iter().all(|r| r.fault.is_some()), "{runner:?}: more requests than scripted entries");
    eprintln!(
        "c concurrency ({runner:?}): {threads} threads × {calls} calls in {:.1} s: {ok} ok, {server} server, \
         {transport} transport, {not_found} group_not_found; {} requests, {retryable_faults} retryable faults, 0 × 60007",
        took.as_secs_f64(),
        log.len()
    );
}

#[test]
fn c_sixteen_threads_two_hundred_calls_with_random_faults() {
    concurrency(Runner::Native, 16, 200, 0x5eed_c0de);
}

#[test]
fn c_concurrency_with_random_faults_under_valgrind() {
    concurrency(Runner::Valgrind, 4, 25, 0x5eed_0001);
}
