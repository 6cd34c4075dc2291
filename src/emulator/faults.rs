//! Scripted faults: what the emulator does instead of (or before) answering normally.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A scripted fault for the next `times` requests of one command (see [`Emulator::inject`]).
///
/// The optional `delay` comes first. Then the first of these that is set decides the answer:
/// `endless_headers`, `echo_secrets` (two hostile servers), `drop` (close the connection without answering), `reset` (HTTP 200 headers and half of the
/// body, then a TCP reset), `http_status` (that status with an HTML page, like a gateway's 502),
/// `truncate` (HTTP 200 whose `Content-Length` promises more than is sent — half of `body`, or
/// half of an OK envelope — then the connection closes), `body` (HTTP 200 with exactly these
/// bytes), `error_code` (the TIM envelope with that code and `error_info`). A fault with only a
/// `delay` (or `slow_body`) then answers normally. `error_info` alone does nothing.
///
/// `slow_body` changes how an answer that is sent in full (normal, `http_status`, `body`,
/// `error_code`) is written: the head at once, then the body one byte at a time with this pause
/// before each byte — a server that starts answering and then stalls.
///
/// [`Emulator::inject`]: super::Emulator::inject
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// How many matching requests this fault applies to (default 1; 0 never applies).
    pub times: u32,
    /// Answer the TIM envelope with this `ErrorCode` (`ActionStatus` `FAIL`, or `OK` for 0).
    pub error_code: Option<i64>,
    /// The `ErrorInfo` sent with `error_code` (default: "injected fault").
    pub error_info: Option<String>,
    /// Answer this HTTP status with an HTML body instead of the envelope.
    pub http_status: Option<u16>,
    /// Wait this long before doing anything (the emulator's latency comes on top).
    pub delay: Option<Duration>,
    /// Close the connection without answering.
    pub drop: bool,
    /// Answer HTTP 200 with exactly these bytes.
    pub body: Option<Vec<u8>>,
    /// Answer HTTP 200 with a body cut short of its `Content-Length`, then close.
    pub truncate: bool,
    /// Answer HTTP 200 headers and half of an OK envelope, then reset the connection (TCP RST).
    pub reset: bool,
    /// Send the answer's head at once, then its body one byte at a time, this long before each byte.
    pub slow_body: Option<Duration>,
    /// A hostile server: answer `ErrorCode` 10004 with an `ErrorInfo` that echoes the request's
    /// UserSig (as `usersig: …`, as a JSON field, bare) and the app's secret key.
    pub echo_secrets: bool,
    /// A hostile server: HTTP 200, then header lines without end (up to 16 MiB, or until the
    /// client closes).
    pub endless_headers: bool,
}

impl Default for Fault {
    fn default() -> Fault {
        Fault {
            times: 1,
            error_code: None,
            error_info: None,
            http_status: None,
            delay: None,
            drop: false,
            body: None,
            truncate: false,
            reset: false,
            slow_body: None,
            echo_secrets: false,
            endless_headers: false,
        }
    }
}

impl Fault {
    /// A fault answering the envelope with `code` once.
    pub fn error_code(code: i64) -> Fault {
        Fault { error_code: Some(code), ..Fault::default() }
    }

    /// A fault answering HTTP `status` with an HTML page once.
    pub fn http_status(status: u16) -> Fault {
        Fault { http_status: Some(status), ..Fault::default() }
    }

    /// A fault waiting `delay` once, then answering normally.
    pub fn delay(delay: Duration) -> Fault {
        Fault { delay: Some(delay), ..Fault::default() }
    }

    /// A fault closing the connection without an answer once.
    pub fn drop_connection() -> Fault {
        Fault { drop: true, ..Fault::default() }
    }

    /// A fault answering HTTP 200 with exactly `body` once.
    pub fn body(body: impl Into<Vec<u8>>) -> Fault {
        Fault { body: Some(body.into()), ..Fault::default() }
    }

    /// A fault answering a truncated body once.
    pub fn truncate() -> Fault {
        Fault { truncate: true, ..Fault::default() }
    }

    /// A fault answering HTTP 200 headers and half a body, then a TCP reset, once.
    pub fn reset() -> Fault {
        Fault { reset: true, ..Fault::default() }
    }

    /// A fault answering normally, but with the body trickled one byte per `pause`, once.
    pub fn slow_body(pause: Duration) -> Fault {
        Fault { slow_body: Some(pause), ..Fault::default() }
    }

    /// The same fault for the next `times` matching requests.
    pub fn times(mut self, times: u32) -> Fault {
        self.times = times;
        self
    }

    /// A short description for the request log: `"delay:200ms+drop"`, `"error_code:10002"`, …
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = self.delay {
            parts.push(format!("delay:{}ms", d.as_millis()));
        }
        match self.action() {
            Action::Drop => parts.push("drop".into()),
            Action::Reset => parts.push("reset".into()),
            Action::HttpStatus(s) => parts.push(format!("http_status:{s}")),
            Action::Truncate(_) => parts.push("truncate".into()),
            Action::Body(_) => parts.push("body".into()),
            Action::ErrorCode(code, _) => parts.push(format!("error_code:{code}")),
            Action::EchoSecrets => parts.push("echo_secrets".into()),
            Action::EndlessHeaders => parts.push("endless_headers".into()),
            Action::None => {}
        }
        if let Some(pause) = self.slow_body {
            parts.push(format!("slow_body:{}ms", pause.as_millis()));
        }
        if parts.is_empty() { "none".into() } else { parts.join("+") }
    }

    /// What the fault does after its delay.
    pub(crate) fn action(&self) -> Action<'_> {
        if self.endless_headers {
            Action::EndlessHeaders
        } else if self.echo_secrets {
            Action::EchoSecrets
        } else if self.drop {
            Action::Drop
        } else if self.reset {
            Action::Reset
        } else if let Some(status) = self.http_status {
            Action::HttpStatus(status)
        } else if self.truncate {
            Action::Truncate(self.body.as_deref())
        } else if let Some(body) = &self.body {
            Action::Body(body)
        } else if let Some(code) = self.error_code {
            Action::ErrorCode(code, self.error_info.as_deref().unwrap_or("injected fault"))
        } else {
            Action::None
        }
    }
}

/// What a fault does after its delay.
pub(crate) enum Action<'a> {
    Drop,
    Reset,
    HttpStatus(u16),
    Truncate(Option<&'a [u8]>),
    Body(&'a [u8]),
    ErrorCode(i64, &'a str),
    EchoSecrets,
    EndlessHeaders,
    /// Answer normally.
    None,
}

struct Armed {
    command: String,
    remaining: u32,
    fault: Fault,
}

/// The faults waiting for their requests, in the order they were injected, and the chaos setting.
#[derive(Default)]
pub(crate) struct FaultBook {
    armed: Mutex<Vec<Armed>>,
    /// Fast path: most requests meet an empty book and take no lock.
    any: AtomicBool,
    /// The share of requests (0 to 1) that no scripted fault takes and that answer a random fault
    /// of [`CHAOS`] instead, and the generator that picks them.
    chaos: Mutex<Chaos>,
    chaos_on: AtomicBool,
}

#[derive(Default)]
struct Chaos {
    rate: f64,
    state: u64,
}

impl Chaos {
    /// xorshift64*: reproducible from its seed, good enough to pick faults.
    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The faults chaos picks from, each as likely: a dropped connection, a reset mid-body, a body cut
/// short, an HTTP 502, a body trickled byte by byte, and the two codes a client must retry (60007
/// over the rate limit, 10002 a server error).
pub(crate) fn chaos_faults() -> [Fault; 7] {
    [
        Fault::drop_connection(),
        Fault::reset(),
        Fault::truncate(),
        Fault::http_status(502),
        Fault::slow_body(Duration::from_millis(2)),
        Fault::error_code(60007),
        Fault::error_code(10002),
    ]
}

impl FaultBook {
    pub(crate) fn inject(&self, command: &str, fault: Fault) {
        if fault.times == 0 {
            return;
        }
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        armed.push(Armed { command: command.to_owned(), remaining: fault.times, fault });
        self.any.store(true, Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        armed.clear();
        self.any.store(false, Ordering::Release);
    }

    /// Sets the chaos share (clamped to 0..=1) and seeds its generator.
    pub(crate) fn set_chaos(&self, rate: f64, seed: u64) {
        let rate = if rate.is_finite() { rate.clamp(0.0, 1.0) } else { 0.0 };
        let mut chaos = self.chaos.lock().unwrap_or_else(|p| p.into_inner());
        *chaos = Chaos { rate, state: seed | 1 };
        self.chaos_on.store(rate > 0.0, Ordering::Release);
    }

    /// A random fault for a share of the requests, when chaos is on.
    fn chaos(&self) -> Option<Fault> {
        if !self.chaos_on.load(Ordering::Acquire) {
            return None;
        }
        let mut chaos = self.chaos.lock().unwrap_or_else(|p| p.into_inner());
        let roll = (chaos.next() >> 11) as f64 / (1u64 << 53) as f64;
        if roll >= chaos.rate {
            return None;
        }
        let faults = chaos_faults();
        let pick = (chaos.next() % faults.len() as u64) as usize;
        faults.into_iter().nth(pick)
    }

    /// The first armed fault matching `service`/`command` (by `command`, `service/command` or
    /// `*`), counted down by one; else, with chaos on, maybe a random one.
    pub(crate) fn take(&self, service: &str, command: &str) -> Option<Fault> {
        self.take_armed(service, command).or_else(|| self.chaos())
    }

    fn take_armed(&self, service: &str, command: &str) -> Option<Fault> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        let index = armed.iter().position(|a| {
            a.command == "*"
                || a.command == command
                || a.command.split_once('/').is_some_and(|(s, c)| s == service && c == command)
        })?;
        let entry = &mut armed[index];
        entry.remaining -= 1;
        let fault = if entry.remaining == 0 { armed.remove(index).fault } else { entry.fault.clone() };
        if armed.is_empty() {
            self.any.store(false, Ordering::Release);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_count_down_in_injection_order() {
        let book = FaultBook::default();
        book.inject("delete_group_msg_by_sender", Fault::error_code(10002).times(2));
        book.inject("*", Fault::drop_connection());
        assert_eq!(book.take("group_open_http_svc", "send_group_msg").map(|f| f.describe()), Some("drop".into()));
        assert_eq!(book.take("group_open_http_svc", "send_group_msg"), None);
        for _ in 0..2 {
            let fault = book.take("group_open_http_svc", "delete_group_msg_by_sender").unwrap();
            assert_eq!(fault.describe(), "error_code:10002");
        }
        assert_eq!(book.take("group_open_http_svc", "delete_group_msg_by_sender"), None);
        book.inject("group_open_http_svc/create_group", Fault::delay(Duration::from_millis(5)).times(0));
        book.inject("group_open_http_svc/create_group", Fault::delay(Duration::from_millis(5)));
        assert_eq!(book.take("other_svc", "create_group"), None);
        assert_eq!(book.take("group_open_http_svc", "create_group").unwrap().describe(), "delay:5ms");
    }

    #[test]
    fn the_first_set_action_decides() {
        let all = Fault {
            drop: true,
            http_status: Some(502),
            truncate: true,
            body: Some(b"x".to_vec()),
            error_code: Some(1),
            ..Fault::default()
        };
        assert_eq!(all.describe(), "drop");
        assert_eq!(Fault { drop: false, ..all.clone() }.describe(), "http_status:502");
        assert_eq!(Fault { drop: false, http_status: None, ..all.clone() }.describe(), "truncate");
        assert_eq!(Fault { drop: false, http_status: None, truncate: false, ..all }.describe(), "body");
        assert_eq!(Fault { error_info: Some("x".into()), ..Fault::default() }.describe(), "none");
        assert_eq!(Fault { reset: true, ..Fault::http_status(502) }.describe(), "reset");
        let slow = Fault { slow_body: Some(Duration::from_millis(50)), ..Fault::error_code(10002) };
        assert_eq!(slow.describe(), "error_code:10002+slow_body:50ms");
        assert_eq!(Fault::slow_body(Duration::from_secs(1)).describe(), "slow_body:1000ms");
    }
}
