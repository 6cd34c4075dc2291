//! The fault matrix of `tests/faults.json`, read for the Rust and C drivers
//! (`tests/faults.rs`, `tests/c/faults.rs`); Python reads the same file in `tests/python/test_faults.py`.

#![allow(dead_code)] // each driver uses its part

use std::time::Duration;

use serde_json::Value;
use timrest::ErrorKind;
use timrest::emulator::Fault;

pub fn table() -> Value {
    serde_json::from_str(include_str!("../faults.json")).expect("tests/faults.json is JSON")
}

pub fn setting(table: &Value, name: &str) -> u64 {
    table["settings"][name].as_u64().unwrap_or_else(|| panic!("settings.{name} missing"))
}

/// One row of the matrix.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub fault: String,
    pub setup: Value,
    pub kind: String,
    pub python: String,
    pub code: Option<i64>,
    pub http: Option<u16>,
    pub retried: bool,
    pub attempts: u32,
}

pub fn cases(table: &Value) -> Vec<Case> {
    let rows = table["cases"].as_array().expect("cases is a list");
    rows.iter()
        .map(|row| {
            let text = |name: &str| row[name].as_str().unwrap_or_else(|| panic!("{name} in {row}")).to_owned();
            Case {
                id: text("id"),
                fault: text("fault"),
                setup: row["setup"].clone(),
                kind: text("kind"),
                python: text("python"),
                code: row["code"].as_i64(),
                http: row["http"].as_u64().map(|h| h as u16),
                retried: row["retried"].as_bool().expect("retried"),
                attempts: row["attempts"].as_u64().expect("attempts") as u32,
            }
        })
        .collect()
}

/// The emulator fault a case scripts (`None` for `refused`: no emulator at all).
pub fn fault_of(setup: &Value, max_response_bytes: u64) -> Option<Fault> {
    if setup["refused"].as_bool() == Some(true) {
        return None;
    }
    let ms = |name: &str| setup[name].as_u64().map(Duration::from_millis);
    let mut fault = Fault {
        // Every attempt meets the fault: the attempts then show what the retry policy does.
        times: 1000,
        error_code: setup["error_code"].as_i64(),
        http_status: setup["http_status"].as_u64().map(|s| s as u16),
        delay: ms("delay_ms"),
        drop: setup["drop"].as_bool().unwrap_or(false),
        body: setup["body"].as_str().map(|b| b.as_bytes().to_vec()),
        truncate: setup["truncate"].as_bool().unwrap_or(false),
        reset: setup["reset"].as_bool().unwrap_or(false),
        slow_body: ms("slow_body_ms"),
        error_info: setup["error_info"].as_str().map(str::to_owned),
        echo_secrets: setup["echo_secrets"].as_bool().unwrap_or(false),
        endless_headers: setup["endless_headers"].as_bool().unwrap_or(false),
    };
    if setup["huge_body"].as_bool() == Some(true) {
        fault.body = Some(huge_envelope(max_response_bytes as usize + 1));
    }
    Some(fault)
}

/// A valid OK envelope of exactly `len` bytes: a client without a size limit would accept it.
pub fn huge_envelope(len: usize) -> Vec<u8> {
    let head = br#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""#;
    let tail = br#""}"#;
    let mut body = head.to_vec();
    body.resize(len - tail.len(), b'x');
    body.extend_from_slice(tail);
    body
}

/// A loopback port where nothing listens (bound, then released).
pub fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

pub fn kind_by_name(name: &str) -> ErrorKind {
    ErrorKind::all().find(|k| k.name() == name).unwrap_or_else(|| panic!("no kind named {name}"))
}
