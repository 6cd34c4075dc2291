//! Errors, and **the** code table: the one place that says which TIM `ErrorCode` means what.
//!
//! Every face derives its view from [`KINDS`]: the Rust [`ErrorKind`], the C `timrest_status`
//! (see `ffi`), and the Python exception class (by the name in [`KindInfo::python_class`]).
//! Tests check that each face covers the whole table.

use std::fmt;
use std::time::Duration;

/// What went wrong, in terms of what the caller should do about it.
///
/// Derived from the TIM `ErrorCode` with [`ErrorKind::from_code`] for server answers; the first
/// five kinds come from the client itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad client settings (missing key, bad URL, absurd timeout …). Nothing was sent.
    Config,
    /// A bad argument (empty ID, control characters, too long …), caught before sending.
    InvalidArgument,
    /// Connect, TLS, reset, or an HTTP status other than 200.
    Transport,
    /// An attempt or the overall deadline ran out.
    Timeout,
    /// HTTP 200 with a body that is not the TIM envelope.
    Protocol,
    /// The shared rate limiter (Redis) refused us, or was unavailable with `rate_limit_fallback`
    /// set to `fail`. Nothing was sent.
    Limiter,
    /// A nonzero `ErrorCode` outside every class below.
    Api,
    /// Server-side trouble; retried with backoff.
    Server,
    /// Over a frequency limit; retried with a longer backoff.
    RateLimited,
    /// Wrong credentials; not retried.
    Auth,
    /// The UserSig expired or was invalidated; retried once after re-signing (with a secret key).
    UserSigExpired,
    /// The operator may not do this (not an App admin, IP not allowed …).
    PermissionDenied,
    /// The command word or resource in the URL is wrong.
    InvalidCommand,
    /// A parameter of the request is wrong; `ErrorInfo` says which.
    InvalidParameter,
    /// The group does not exist, or was dissolved.
    GroupNotFound,
    /// The group ID is malformed.
    InvalidGroupId,
}

/// Whether, and how, a failed call is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Never: the same request would fail the same way.
    No,
    /// With exponential backoff and full jitter.
    Backoff,
    /// With a longer backoff: the server asked us to slow down.
    SlowDown,
    /// Once, after signing a fresh UserSig (only when the client holds the secret key).
    AfterResign,
}

/// One row of the code table.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// The kind this row describes.
    pub kind: ErrorKind,
    /// A stable snake_case name (`"group_not_found"`), used in logs, reports and the CLI.
    pub name: &'static str,
    /// The Python exception class in `timrest.exceptions`.
    pub python_class: &'static str,
    /// The TIM `ErrorCode`s of this kind (empty for the client-side kinds and `Api`).
    pub codes: &'static [i64],
    /// Whether this kind is retried.
    pub retry: Retry,
}

/// THE code table (design §3, spec §2–§3). Every other mapping derives from it.
#[rustfmt::skip]
pub const KINDS: &[KindInfo] = &[
    KindInfo { kind: ErrorKind::Config, name: "config", python_class: "ConfigError", codes: &[], retry: Retry::No },
    KindInfo { kind: ErrorKind::InvalidArgument, name: "invalid_argument", python_class: "InvalidArgumentError", codes: &[], retry: Retry::No },
    KindInfo { kind: ErrorKind::Transport, name: "transport", python_class: "TransportError", codes: &[], retry: Retry::Backoff },
    KindInfo { kind: ErrorKind::Timeout, name: "timeout", python_class: "RequestTimeoutError", codes: &[], retry: Retry::Backoff },
    KindInfo { kind: ErrorKind::Protocol, name: "protocol", python_class: "ProtocolError", codes: &[], retry: Retry::No },
    KindInfo { kind: ErrorKind::Limiter, name: "limiter", python_class: "LimiterError", codes: &[], retry: Retry::No },
    KindInfo { kind: ErrorKind::Api, name: "api", python_class: "ApiError", codes: &[], retry: Retry::No },
    KindInfo { kind: ErrorKind::Server, name: "server", python_class: "ServerError", codes: &[10002, 60008, 70169, 70202, 70500, 130014], retry: Retry::Backoff },
    KindInfo { kind: ErrorKind::RateLimited, name: "rate_limited", python_class: "RateLimitedError", codes: &[10006, 60007, 60011, 60018, 60019, 70050], retry: Retry::SlowDown },
    KindInfo {
        kind: ErrorKind::Auth,
        name: "auth",
        python_class: "AuthError",
        codes: &[60004, 60005, 60006, 60012, 60016, 70002, 70003, 70005, 70009, 70013, 70014, 70016, 70020, 70051],
        retry: Retry::No,
    },
    KindInfo { kind: ErrorKind::UserSigExpired, name: "usersig_expired", python_class: "UserSigExpiredError", codes: &[70001, 70052], retry: Retry::AfterResign },
    KindInfo { kind: ErrorKind::PermissionDenied, name: "permission_denied", python_class: "PermissionDeniedError", codes: &[10007, 10017, 60010, 60017, 60020, 60021, 70403], retry: Retry::No },
    KindInfo { kind: ErrorKind::InvalidCommand, name: "invalid_command", python_class: "InvalidCommandError", codes: &[10003, 60009], retry: Retry::No },
    KindInfo {
        kind: ErrorKind::InvalidParameter,
        name: "invalid_parameter",
        python_class: "InvalidParameterError",
        codes: &[10004, 10019, 60002, 60003, 60015, 70107, 70402, 80002, 130001, 130004, 130005, 130008],
        retry: Retry::No,
    },
    KindInfo { kind: ErrorKind::GroupNotFound, name: "group_not_found", python_class: "GroupNotFoundError", codes: &[10010], retry: Retry::No },
    KindInfo { kind: ErrorKind::InvalidGroupId, name: "invalid_group_id", python_class: "InvalidGroupIdError", codes: &[10015], retry: Retry::No },
];

impl ErrorKind {
    /// Every kind, in table order.
    pub fn all() -> impl Iterator<Item = ErrorKind> {
        KINDS.iter().map(|row| row.kind)
    }

    /// The kind of a TIM `ErrorCode` (`Api` for a code in no class). `0` is not an error, but
    /// maps to `Api` if asked.
    pub fn from_code(code: i64) -> ErrorKind {
        KINDS.iter().find(|row| row.codes.contains(&code)).map_or(ErrorKind::Api, |row| row.kind)
    }

    /// This kind's row of [`KINDS`].
    pub fn info(self) -> &'static KindInfo {
        // The table has one row per variant; a test checks it.
        KINDS.iter().find(|row| row.kind == self).unwrap_or(&KINDS[6])
    }

    /// The stable snake_case name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// How this kind is retried.
    pub fn retry(self) -> Retry {
        self.info().retry
    }

    /// Whether a call that failed this way may succeed if tried again.
    pub fn is_retryable(self) -> bool {
        self.retry() != Retry::No
    }

    /// Whether the server answered with a TIM `ErrorCode` (as opposed to the client failing on its own).
    pub fn is_api(self) -> bool {
        !matches!(
            self,
            ErrorKind::Config
                | ErrorKind::InvalidArgument
                | ErrorKind::Transport
                | ErrorKind::Timeout
                | ErrorKind::Protocol
                | ErrorKind::Limiter
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error from timrest: a kind, and every detail we have.
///
/// The message never contains the secret key or the UserSig. `random` is the `random` query
/// parameter of the last attempt: quote it to Tencent support.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    code: Option<i64>,
    info: String,
    random: Option<u32>,
    attempts: u32,
    http_status: Option<u16>,
    elapsed: Option<Duration>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a human-readable `info`.
    pub fn new(kind: ErrorKind, info: impl Into<String>) -> Error {
        Error {
            kind,
            code: None,
            info: info.into(),
            random: None,
            attempts: 0,
            http_status: None,
            elapsed: None,
            source: None,
        }
    }

    /// The error for a TIM answer with a nonzero `ErrorCode`; the kind comes from the table.
    pub fn api(code: i64, info: impl Into<String>) -> Error {
        let mut e = Error::new(ErrorKind::from_code(code), info);
        e.code = Some(code);
        e
    }

    /// Shorthand for [`ErrorKind::Config`].
    pub fn config(info: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, info)
    }

    /// Shorthand for [`ErrorKind::InvalidArgument`].
    pub fn invalid_argument(info: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, info)
    }

    /// Sets the `random` of the attempt this error belongs to.
    pub fn with_random(mut self, random: u32) -> Error {
        self.random = Some(random);
        self
    }

    /// Sets how many attempts were made.
    pub fn with_attempts(mut self, attempts: u32) -> Error {
        self.attempts = attempts;
        self
    }

    /// Sets the HTTP status (for transport errors).
    pub fn with_http_status(mut self, status: u16) -> Error {
        self.http_status = Some(status);
        self
    }

    /// Sets the time spent on the call, all attempts included.
    pub fn with_elapsed(mut self, elapsed: Duration) -> Error {
        self.elapsed = Some(elapsed);
        self
    }

    /// Removes every occurrence of each secret (the UserSig sent, the secret key) from the text:
    /// a server may echo them in any form, and they must not reach a message or a log.
    pub(crate) fn without(mut self, secrets: &[&str]) -> Error {
        for secret in secrets.iter().filter(|s| s.len() >= 8) {
            if self.info.contains(secret) {
                self.info = self.info.replace(secret, "<redacted>");
            }
        }
        self
    }

    /// Keeps the underlying cause. Its `Display` must not contain a secret (URLs are redacted
    /// before they get here).
    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Error {
        self.source = Some(source.into());
        self
    }

    /// The kind: what to do about it.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The TIM `ErrorCode`, when the server gave one.
    pub fn code(&self) -> Option<i64> {
        self.code
    }

    /// The server's `ErrorInfo` as it came (without the client's secrets, which are removed, but
    /// with any control characters and at any length: `Display` shows it escaped and cut, see
    /// [`shown`]), or the client's description of what went wrong.
    pub fn info(&self) -> &str {
        &self.info
    }

    /// The `random` of the last attempt (None when nothing was sent).
    pub fn random(&self) -> Option<u32> {
        self.random
    }

    /// How many requests were sent (0 when the error came before sending).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The HTTP status of the last answer, when it was not 200.
    pub fn http_status(&self) -> Option<u16> {
        self.http_status
    }

    /// Time spent on the call, all attempts and waits included (None when nothing was sent).
    pub fn elapsed(&self) -> Option<Duration> {
        self.elapsed
    }

    /// Whether this kind of failure may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// How much of a text `Display` shows (the server's `ErrorInfo` can be anything, of any size).
pub const MAX_SHOWN_BYTES: usize = 1024;

/// `text` as it may go into a message and a log line: control characters escaped (`\n`, `\r`,
/// `\t`, `\u{1b}` …: no forged log lines, no terminal escapes), at most [`MAX_SHOWN_BYTES`] of it
/// with `…(N more bytes)` after.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_SHOWN_BYTES && !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(MAX_SHOWN_BYTES) + 32);
    let mut used = 0;
    for (i, c) in text.char_indices() {
        if used >= MAX_SHOWN_BYTES {
            out.push_str(&format!("…({} more bytes)", text.len() - i));
            break;
        }
        used += c.len_utf8();
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = shown(&self.info);
        match self.code {
            Some(code) => write!(f, "{} error {code}: {info}", self.kind)?,
            None => write!(f, "{} error: {info}", self.kind)?,
        }
        if let Some(status) = self.http_status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(random) = self.random {
            write!(f, " [random={random}, attempts={}]", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_shown_escaped_and_cut_but_kept_whole() {
        let hostile = format!("no group\r\n2026-12-01 INFO forged\u{1b}[31m\0{}", "x".repeat(900_000));
        let e = Error::api(10010, hostile.clone());
        let shown = e.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.contains("no group\\r\\n2026-12-01 INFO forged\\u{1b}[31m\\u{0}"), "{shown}");
        assert!(shown.len() < 1200 && shown.contains(" more bytes)"), "{}", shown.len());
        assert_eq!(e.info(), hostile, "the whole text stays on info()");
        assert_eq!(shown_text_of("plain"), "plain");
    }

    fn shown_text_of(s: &str) -> String {
        shown(s).into_owned()
    }

    #[test]
    fn known_secrets_are_removed_from_server_text() {
        let sig = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTm";
        let e = Error::api(10004, format!("usersig: {sig} {{\"usersig\":\"{sig}\"}} {sig} key K3Y-secret-value"))
            .without(&[sig, "K3Y-secret-value", ""]);
        assert!(!e.info().contains(sig) && !e.info().contains("K3Y"), "{}", e.info());
        assert_eq!(e.info().matches("<redacted>").count(), 4);
    }

    #[test]
    fn table_has_one_row_per_kind_and_no_code_twice() {
        let mut seen = std::collections::HashSet::new();
        for row in KINDS {
            assert!(seen.insert(row.kind), "{:?} appears twice", row.kind);
            assert_eq!(row.kind.info().name, row.name);
        }
        assert_eq!(seen.len(), 16);
        let mut codes = std::collections::HashSet::new();
        for row in KINDS {
            for code in row.codes {
                assert!(codes.insert(*code), "code {code} appears twice");
                assert_eq!(ErrorKind::from_code(*code), row.kind);
            }
        }
    }

    #[test]
    fn unknown_codes_are_unclassified_api_errors() {
        assert_eq!(ErrorKind::from_code(12345), ErrorKind::Api);
        let e = Error::api(12345, "strange");
        assert_eq!(e.kind(), ErrorKind::Api);
        assert_eq!(e.code(), Some(12345));
        assert!(!e.is_retryable());
    }

    #[test]
    fn retry_classes_follow_design_section_3() {
        assert_eq!(ErrorKind::from_code(10002).retry(), Retry::Backoff);
        assert_eq!(ErrorKind::from_code(60007).retry(), Retry::SlowDown);
        assert_eq!(ErrorKind::from_code(70001).retry(), Retry::AfterResign);
        assert_eq!(ErrorKind::from_code(10010).retry(), Retry::No);
        assert!(ErrorKind::Transport.is_retryable());
        assert!(ErrorKind::Timeout.is_retryable());
        assert!(!ErrorKind::Protocol.is_retryable());
    }

    #[test]
    fn display_shows_code_info_random_and_attempts() {
        let e = Error::api(10010, "group not found").with_random(42).with_attempts(1);
        assert_eq!(e.to_string(), "group_not_found error 10010: group not found [random=42, attempts=1]");
    }
}
