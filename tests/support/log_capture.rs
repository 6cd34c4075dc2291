//! A `log::Log` that keeps every record of a test binary (every target, every level, ureq's
//! included), for the tests that check no secret reaches a log line.

use std::sync::{Mutex, Once};

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        RECORDS.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

/// Installs the capturing logger at `trace` (once per test binary).
pub fn install() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Every record so far, formatted as `LEVEL target message`.
pub fn records() -> Vec<String> {
    RECORDS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}
