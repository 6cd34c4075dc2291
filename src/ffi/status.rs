//! `timrest_status`: what every fallible C call returns.
//!
//! The values are stable and grouped by area: 0 is success, 1xx are failures of the C layer itself
//! (a NULL argument, bad UTF-8, a small buffer, a caught panic), 2xx are the client-side kinds of the
//! code table and 3xx the kinds the server answers with. The mapping from [`ErrorKind`] is one
//! exhaustive `match` ([`timrest_status::from_kind`]): a new kind does not compile until it has a
//! status. Retired values stay reserved; new ones are appended to their group.

use std::ffi::c_char;

use crate::error::ErrorKind;

use super::boundary;

/// The outcome of a timrest call. `TIMREST_OK` (0) is success; every other value is a failure,
/// and the optional `timrest_error` out-parameter of the call carries the detail.
///
/// The values are stable across releases and grouped by area: 1xx come from the C layer itself,
/// 2xx are failures on the client side (nothing, or nothing conclusive, came back from the
/// server) and 3xx are errors the TIM server answered with (`timrest_error_code` gives its
/// `ErrorCode`). `timrest_status_name` gives a value's name.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum timrest_status {
    /// Success.
    TIMREST_OK = 0,
    /// A required pointer argument was NULL. Nothing was done.
    TIMREST_NULL_ARGUMENT = 100,
    /// A string argument was not valid UTF-8. Nothing was done.
    TIMREST_INVALID_UTF8 = 101,
    /// The caller's buffer is too small for the result; the error message says how much is needed.
    TIMREST_BUFFER_TOO_SMALL = 102,
    /// A bug in timrest: a Rust panic was caught at the boundary. The call did not complete.
    TIMREST_PANIC = 103,
    /// Bad client settings (missing SDKAppID or key, bad URL or region, zero timeout …).
    TIMREST_CONFIG = 200,
    /// A bad argument (empty ID, control characters, too long …), caught before sending.
    TIMREST_INVALID_ARGUMENT = 201,
    /// Connect, TLS, reset, or an HTTP status other than 200 (`timrest_error_http_status`). Retried.
    TIMREST_TRANSPORT = 202,
    /// An attempt or the overall deadline ran out. Retried while the deadline allows.
    TIMREST_TIMEOUT = 203,
    /// HTTP 200 with a body that is not the TIM envelope.
    TIMREST_PROTOCOL = 204,
    /// The shared rate limiter (Redis) refused the client (a wrong password …), or did not answer
    /// while the fallback is `fail`. Nothing was sent.
    TIMREST_LIMITER = 205,
    /// A nonzero `ErrorCode` that belongs to no class below (an unclassified API error).
    TIMREST_API = 300,
    /// Server-side trouble (10002, 60008, 70169, 70202, 70500, 130014). Retried with backoff.
    TIMREST_SERVER = 301,
    /// Over a frequency limit (10006, 60007, 60011, 60018, 60019, 70050). Retried with a longer backoff.
    TIMREST_RATE_LIMITED = 302,
    /// Wrong credentials (60004, 60005, 60006, 60012, 60016, 70002, 70003, 70005, 70009, 70013,
    /// 70014, 70016, 70020, 70051). Not retried.
    TIMREST_AUTH = 303,
    /// The UserSig expired or was invalidated (70001, 70052). Retried once after re-signing when
    /// the client holds the secret key.
    TIMREST_USERSIG_EXPIRED = 304,
    /// The identifier may not do this: not an App admin, IP not allowed, the sender is muted …
    /// (10007, 10017, 60010, 60017, 60020, 60021, 70403).
    TIMREST_PERMISSION_DENIED = 305,
    /// The command word or resource in the URL is wrong (10003, 60009).
    TIMREST_INVALID_COMMAND = 306,
    /// A parameter of the request is wrong, or names an account that does not exist; the message
    /// says which (10004, 10019, 60002, 60003, 60015, 70107, 70402, 80002, 130001, 130004, 130005,
    /// 130008).
    TIMREST_INVALID_PARAMETER = 307,
    /// The group does not exist, or was dissolved (10010).
    TIMREST_GROUP_NOT_FOUND = 308,
    /// The group ID is malformed (10015).
    TIMREST_INVALID_GROUP_ID = 309,
}

use timrest_status::*;

/// Every status, in value order. Lookups of integers coming from C go through this list.
pub(crate) const ALL_STATUSES: [timrest_status; 21] = [
    TIMREST_OK,
    TIMREST_NULL_ARGUMENT,
    TIMREST_INVALID_UTF8,
    TIMREST_BUFFER_TOO_SMALL,
    TIMREST_PANIC,
    TIMREST_CONFIG,
    TIMREST_INVALID_ARGUMENT,
    TIMREST_TRANSPORT,
    TIMREST_TIMEOUT,
    TIMREST_PROTOCOL,
    TIMREST_LIMITER,
    TIMREST_API,
    TIMREST_SERVER,
    TIMREST_RATE_LIMITED,
    TIMREST_AUTH,
    TIMREST_USERSIG_EXPIRED,
    TIMREST_PERMISSION_DENIED,
    TIMREST_INVALID_COMMAND,
    TIMREST_INVALID_PARAMETER,
    TIMREST_GROUP_NOT_FOUND,
    TIMREST_INVALID_GROUP_ID,
];

impl timrest_status {
    /// The status of an error kind of the code table. One exhaustive match: adding a kind to
    /// [`ErrorKind`] does not compile until it has a status here.
    pub fn from_kind(kind: ErrorKind) -> timrest_status {
        match kind {
            ErrorKind::Config => TIMREST_CONFIG,
            ErrorKind::InvalidArgument => TIMREST_INVALID_ARGUMENT,
            ErrorKind::Transport => TIMREST_TRANSPORT,
            ErrorKind::Timeout => TIMREST_TIMEOUT,
            ErrorKind::Protocol => TIMREST_PROTOCOL,
            ErrorKind::Limiter => TIMREST_LIMITER,
            ErrorKind::Api => TIMREST_API,
            ErrorKind::Server => TIMREST_SERVER,
            ErrorKind::RateLimited => TIMREST_RATE_LIMITED,
            ErrorKind::Auth => TIMREST_AUTH,
            ErrorKind::UserSigExpired => TIMREST_USERSIG_EXPIRED,
            ErrorKind::PermissionDenied => TIMREST_PERMISSION_DENIED,
            ErrorKind::InvalidCommand => TIMREST_INVALID_COMMAND,
            ErrorKind::InvalidParameter => TIMREST_INVALID_PARAMETER,
            ErrorKind::GroupNotFound => TIMREST_GROUP_NOT_FOUND,
            ErrorKind::InvalidGroupId => TIMREST_INVALID_GROUP_ID,
        }
    }

    /// The error kind this status stands for (None for `TIMREST_OK` and the C layer's own statuses).
    pub fn kind(self) -> Option<ErrorKind> {
        ErrorKind::all().find(|kind| timrest_status::from_kind(*kind) == self)
    }

    /// The status with this numeric value, if there is one. Integers from C come through here.
    pub fn from_u32(value: u32) -> Option<timrest_status> {
        ALL_STATUSES.iter().copied().find(|status| *status as u32 == value)
    }

    /// The stable lower-case name: the code table's kind name (`"group_not_found"`) for the kinds,
    /// `"ok"`, `"null_argument"`, `"invalid_utf8"`, `"buffer_too_small"`, `"panic"` for the rest.
    /// A test checks the kinds' names against [`crate::error::KINDS`].
    pub fn name(self) -> &'static str {
        let c = self.c_name();
        std::str::from_utf8(&c[..c.len() - 1]).unwrap_or("unknown")
    }

    /// The name as a NUL-terminated static string (the one list of names).
    fn c_name(self) -> &'static [u8] {
        match self {
            TIMREST_OK => b"ok\0",
            TIMREST_NULL_ARGUMENT => b"null_argument\0",
            TIMREST_INVALID_UTF8 => b"invalid_utf8\0",
            TIMREST_BUFFER_TOO_SMALL => b"buffer_too_small\0",
            TIMREST_PANIC => b"panic\0",
            TIMREST_CONFIG => b"config\0",
            TIMREST_INVALID_ARGUMENT => b"invalid_argument\0",
            TIMREST_TRANSPORT => b"transport\0",
            TIMREST_TIMEOUT => b"timeout\0",
            TIMREST_PROTOCOL => b"protocol\0",
            TIMREST_LIMITER => b"limiter\0",
            TIMREST_API => b"api\0",
            TIMREST_SERVER => b"server\0",
            TIMREST_RATE_LIMITED => b"rate_limited\0",
            TIMREST_AUTH => b"auth\0",
            TIMREST_USERSIG_EXPIRED => b"usersig_expired\0",
            TIMREST_PERMISSION_DENIED => b"permission_denied\0",
            TIMREST_INVALID_COMMAND => b"invalid_command\0",
            TIMREST_INVALID_PARAMETER => b"invalid_parameter\0",
            TIMREST_GROUP_NOT_FOUND => b"group_not_found\0",
            TIMREST_INVALID_GROUP_ID => b"invalid_group_id\0",
        }
    }
}

/// The stable lower-case name of a status value: `"ok"`, `"null_argument"`, … and for the kinds of
/// the code table the same name as in logs, reports and Python (`"group_not_found"`).
///
/// Takes any integer: a value that is not a `timrest_status` gives `"unknown"`. The returned
/// string is static: never free it. Thread safe.
#[unsafe(no_mangle)]
pub extern "C" fn timrest_status_name(status: u32) -> *const c_char {
    boundary::catch(c"unknown".as_ptr(), || {
        let name = timrest_status::from_u32(status).map_or(&b"unknown\0"[..], timrest_status::c_name);
        name.as_ptr().cast::<c_char>()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::ffi::CStr;

    use super::*;
    use crate::error::KINDS;

    #[test]
    fn every_kind_of_the_table_has_its_own_status() {
        let mut seen = HashSet::new();
        for row in KINDS {
            let status = timrest_status::from_kind(row.kind);
            assert!(seen.insert(status), "{:?} shares {status:?} with another kind", row.kind);
            assert_eq!(status.kind(), Some(row.kind));
            assert_eq!(status.name(), row.name);
            assert!(ALL_STATUSES.contains(&status), "{status:?} is missing from ALL_STATUSES");
            assert_eq!(format!("{status:?}"), format!("TIMREST_{}", row.name.to_uppercase()));
        }
        assert_eq!(seen.len(), KINDS.len());
    }

    #[test]
    fn status_values_are_distinct_and_grouped() {
        let values: HashSet<u32> = ALL_STATUSES.iter().map(|s| *s as u32).collect();
        assert_eq!(values.len(), ALL_STATUSES.len());
        for status in ALL_STATUSES {
            let value = status as u32;
            let group = match status.kind() {
                None if status == TIMREST_OK => 0,
                None => 1,
                Some(kind) if kind.is_api() => 3,
                Some(_) => 2,
            };
            assert_eq!(value / 100, group, "{status:?} = {value} is outside its group");
        }
    }

    #[test]
    fn integers_from_c_are_looked_up_not_transmuted() {
        for value in 0..2000u32 {
            match timrest_status::from_u32(value) {
                Some(status) => assert_eq!(status as u32, value),
                None => assert!(!ALL_STATUSES.iter().any(|s| *s as u32 == value)),
            }
        }
        for value in [u32::MAX, 104, 210, 310, 1] {
            assert_eq!(timrest_status::from_u32(value), None);
            let name = unsafe { CStr::from_ptr(timrest_status_name(value)) };
            assert_eq!(name.to_bytes(), b"unknown");
        }
    }

    #[test]
    fn c_names_match_names() {
        for status in ALL_STATUSES {
            let c = unsafe { CStr::from_ptr(timrest_status_name(status as u32)) };
            assert_eq!(c.to_bytes(), status.name().as_bytes());
            assert!(!status.name().is_empty() && status.name() != "unknown");
        }
    }
}
