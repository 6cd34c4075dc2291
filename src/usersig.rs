//! UserSig version 2 (HMAC-SHA256): generate, inspect without the key, verify with it.
//!
//! The format (spec §4): HMAC-SHA256 over four (or five) `TLS.*:value\n` lines, a JSON object
//! holding the fields and the base64 digest, zlib, then base64 with `+/=` replaced by `*-_`.
//! [`generate`] writes the JSON exactly as the official Python library does (same key order and
//! spacing, zlib level 6). [`inspect`] and [`verify`] parse the JSON, so they accept what any
//! official library makes, whatever its key order, spacing or zlib level.
//!
//! ```
//! use timrest::usersig;
//! let key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
//! let sig = usersig::generate(1400000000, key, "administrator", 86400, 1_600_000_000);
//! let info = usersig::inspect(&sig)?;
//! assert_eq!(info.identifier, "administrator");
//! assert_eq!(info.expires_at(), 1_600_086_400);
//! usersig::verify(&sig, 1400000000, key, "administrator", 1_600_000_100)?;
//! # Ok::<(), usersig::UserSigError>(())
//! ```

use std::fmt;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Standard alphabet; padding optional on input (some proxies strip the trailing `_`).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A UserSig longer than this is rejected before decoding (real ones are ~200 bytes).
const MAX_USERSIG_LEN: usize = 8 * 1024;
/// Inflated JSON longer than this is rejected (a zlib bomb costs us nothing).
const MAX_JSON_LEN: u64 = 16 * 1024;

/// The fields of a UserSig, as [`inspect`] reads them.
#[derive(Clone, PartialEq, Eq)]
pub struct UserSigInfo {
    /// The account the UserSig was made for.
    pub identifier: String,
    /// The SDKAppID it was made for.
    pub sdkappid: u64,
    /// Unix seconds at signing.
    pub time: u64,
    /// Validity in seconds, counted from `time`.
    pub expire: u64,
    /// The optional user buffer (IM does not use it).
    pub userbuf: Option<Vec<u8>>,
    /// The base64 HMAC (`TLS.sig`). Not secret on its own, but we do not print it either.
    sig: String,
}

impl UserSigInfo {
    /// Unix seconds after which the UserSig is expired (`time + expire`, saturating).
    pub fn expires_at(&self) -> u64 {
        self.time.saturating_add(self.expire)
    }

    /// Whether the UserSig is expired at `now` (Unix seconds): `now > time + expire`, as the official verifiers say.
    pub fn is_expired(&self, now: u64) -> bool {
        now > self.expires_at()
    }
}

impl fmt::Debug for UserSigInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSigInfo")
            .field("identifier", &self.identifier)
            .field("sdkappid", &self.sdkappid)
            .field("time", &self.time)
            .field("expire", &self.expire)
            .field("userbuf", &self.userbuf.as_ref().map(|b| b.len()))
            .finish_non_exhaustive()
    }
}

/// Why a UserSig was refused. Each maps to the TIM code a server answers ([`UserSigError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserSigError {
    /// Empty.
    #[error("UserSig is empty")]
    Empty,
    /// Not base64, not zlib, not the JSON of a version 2 UserSig.
    #[error("UserSig cannot be decoded: {0}")]
    Malformed(String),
    /// Made for another SDKAppID.
    #[error("UserSig was made for SDKAppID {found}, not {expected}")]
    SdkAppIdMismatch {
        /// The SDKAppID asked for.
        expected: u64,
        /// The one inside the UserSig.
        found: u64,
    },
    /// Made for another account.
    #[error("UserSig was made for identifier {found:?}, not {expected:?}")]
    IdentifierMismatch {
        /// The identifier asked for.
        expected: String,
        /// The one inside the UserSig.
        found: String,
    },
    /// `now > time + expire`.
    #[error("UserSig expired at {expires_at} (now {now})")]
    Expired {
        /// Unix seconds when it expired.
        expires_at: u64,
        /// The time of the check.
        now: u64,
    },
    /// The HMAC does not match: signed with another key, or altered.
    #[error("UserSig signature does not match (wrong secret key, or the UserSig was altered)")]
    BadSignature,
}

impl UserSigError {
    /// The TIM `ErrorCode` a server answers for this failure (spec §7).
    pub fn code(&self) -> i64 {
        match self {
            UserSigError::Empty => 70002,
            UserSigError::Malformed(_) => 70003,
            UserSigError::SdkAppIdMismatch { .. } => 70014,
            UserSigError::IdentifierMismatch { .. } => 70013,
            UserSigError::Expired { .. } => 70001,
            UserSigError::BadSignature => 70009,
        }
    }
}

impl From<UserSigError> for crate::Error {
    fn from(e: UserSigError) -> crate::Error {
        crate::Error::api(e.code(), e.to_string())
    }
}

/// Unix seconds now (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `TLS.sig`: base64 of HMAC-SHA256 over the content lines, keyed by the secret key's UTF-8 bytes.
pub fn sign(
    sdkappid: u64,
    secret_key: &str,
    identifier: &str,
    time: u64,
    expire: u64,
    userbuf: Option<&[u8]>,
) -> String {
    STANDARD.encode(mac(sdkappid, secret_key, identifier, time, expire, userbuf).finalize().into_bytes())
}

fn mac(
    sdkappid: u64,
    secret_key: &str,
    identifier: &str,
    time: u64,
    expire: u64,
    userbuf: Option<&[u8]>,
) -> HmacSha256 {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(secret_key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    let mut content =
        format!("TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n");
    if let Some(buf) = userbuf {
        content.push_str("TLS.userbuf:");
        content.push_str(&STANDARD.encode(buf));
        content.push('\n');
    }
    mac.update(content.as_bytes());
    mac
}

/// A UserSig for `identifier`, valid `expire` seconds from `now` (Unix seconds).
///
/// Same JSON as the official Python library, zlib level 6.
pub fn generate(sdkappid: u64, secret_key: &str, identifier: &str, expire: u64, now: u64) -> String {
    generate_with_userbuf(sdkappid, secret_key, identifier, expire, now, None)
}

/// [`generate`] with a user buffer (`TLS.userbuf`).
pub fn generate_with_userbuf(
    sdkappid: u64,
    secret_key: &str,
    identifier: &str,
    expire: u64,
    now: u64,
    userbuf: Option<&[u8]>,
) -> String {
    let sig = sign(sdkappid, secret_key, identifier, now, expire, userbuf);
    let ident = serde_json::Value::String(identifier.to_owned());
    let mut json = format!(
        "{{\"TLS.ver\": \"2.0\", \"TLS.identifier\": {ident}, \"TLS.sdkappid\": {sdkappid}, \"TLS.expire\": {expire}, \"TLS.time\": {now}"
    );
    if let Some(buf) = userbuf {
        json.push_str(&format!(", \"TLS.userbuf\": \"{}\"", STANDARD.encode(buf)));
    }
    json.push_str(&format!(", \"TLS.sig\": \"{sig}\"}}"));

    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing to a Vec cannot fail.
    let compressed = match z.write_all(json.as_bytes()).and_then(|()| z.finish()) {
        Ok(bytes) => bytes,
        Err(_) => unreachable!("compressing into memory"),
    };
    to_url_alphabet(&STANDARD.encode(compressed))
}

fn to_url_alphabet(b64: &str) -> String {
    b64.chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

/// The inverse of [`to_url_alphabet`]: `*-_` back to `+/=`.
fn from_url_alphabet(usersig: &str) -> String {
    usersig
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect()
}

/// Reads a UserSig's fields without the key. Checks nothing but the format.
pub fn inspect(usersig: &str) -> Result<UserSigInfo, UserSigError> {
    if usersig.is_empty() {
        return Err(UserSigError::Empty);
    }
    if usersig.len() > MAX_USERSIG_LEN {
        return Err(UserSigError::Malformed(format!("longer than {MAX_USERSIG_LEN} bytes")));
    }
    let b64 = from_url_alphabet(usersig);
    let compressed = LENIENT.decode(b64.trim()).map_err(|e| UserSigError::Malformed(format!("base64: {e}")))?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed.as_slice())
        .take(MAX_JSON_LEN + 1)
        .read_to_end(&mut json)
        .map_err(|e| UserSigError::Malformed(format!("zlib: {e}")))?;
    if json.len() as u64 > MAX_JSON_LEN {
        return Err(UserSigError::Malformed("inflated content too long".into()));
    }
    let value: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| UserSigError::Malformed(format!("JSON: {e}")))?;
    let obj = value.as_object().ok_or_else(|| UserSigError::Malformed("JSON is not an object".into()))?;

    let field = |name: &str| obj.get(name).ok_or_else(|| UserSigError::Malformed(format!("no {name}")));
    let number = |name: &str| -> Result<u64, UserSigError> {
        let v = field(name)?;
        // Official libraries write numbers; accept a numeric string as well.
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| UserSigError::Malformed(format!("{name} is not an unsigned integer")))
    };
    let string = |name: &str| -> Result<String, UserSigError> {
        field(name)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| UserSigError::Malformed(format!("{name} is not a string")))
    };

    match field("TLS.ver")?.as_str() {
        Some("2.0") => {}
        _ => return Err(UserSigError::Malformed("TLS.ver is not \"2.0\"".into())),
    }
    let userbuf = match obj.get("TLS.userbuf") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => {
            Some(LENIENT.decode(s).map_err(|e| UserSigError::Malformed(format!("TLS.userbuf: {e}")))?)
        }
        Some(_) => return Err(UserSigError::Malformed("TLS.userbuf is not a string".into())),
    };
    Ok(UserSigInfo {
        identifier: string("TLS.identifier")?,
        sdkappid: number("TLS.sdkappid")?,
        time: number("TLS.time")?,
        expire: number("TLS.expire")?,
        userbuf,
        sig: string("TLS.sig")?,
    })
}

/// Checks a UserSig as the official verifiers do: sdkappid, identifier, expiry at `now`, then the
/// HMAC (compared in constant time). Returns its fields when it is good.
pub fn verify(
    usersig: &str,
    sdkappid: u64,
    secret_key: &str,
    identifier: &str,
    now: u64,
) -> Result<UserSigInfo, UserSigError> {
    let info = inspect(usersig)?;
    if info.sdkappid != sdkappid {
        return Err(UserSigError::SdkAppIdMismatch { expected: sdkappid, found: info.sdkappid });
    }
    if info.identifier != identifier {
        return Err(UserSigError::IdentifierMismatch { expected: identifier.to_owned(), found: info.identifier });
    }
    if info.is_expired(now) {
        return Err(UserSigError::Expired { expires_at: info.expires_at(), now });
    }
    let digest = LENIENT.decode(&info.sig).map_err(|_| UserSigError::BadSignature)?;
    mac(sdkappid, secret_key, identifier, info.time, info.expire, info.userbuf.as_deref())
        .verify_slice(&digest)
        .map_err(|_| UserSigError::BadSignature)?;
    Ok(info)
}

/// The client's signer: holds the key, hands out a cached UserSig and renews it before it has
/// less than max(60 s, 10 %) of its life left. Renewal happens under a lock, never on every call.
pub(crate) struct Signer {
    sdkappid: u64,
    secret_key: crate::config::Secret,
    identifier: String,
    ttl: u64,
    cached: Mutex<Option<(Arc<str>, u64)>>, // (usersig, time it was signed at)
}

impl Signer {
    pub(crate) fn new(sdkappid: u64, secret_key: crate::config::Secret, identifier: String, ttl: u64) -> Signer {
        Signer { sdkappid, secret_key, identifier, ttl, cached: Mutex::new(None) }
    }

    /// Seconds before expiry at which we sign anew.
    fn margin(&self) -> u64 {
        (self.ttl / 10).max(60).min(self.ttl / 2)
    }

    /// The UserSig to send at `now`; signs a new one when the cached one is near its end.
    /// Shared, not copied: every request takes it.
    pub(crate) fn current(&self, now: u64) -> Arc<str> {
        let mut cached = self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((sig, signed_at)) = cached.as_ref() {
            let expires_at = signed_at.saturating_add(self.ttl);
            if now >= *signed_at && now.saturating_add(self.margin()) < expires_at {
                return sig.clone();
            }
        }
        let sig: Arc<str> = generate(self.sdkappid, self.secret_key.expose(), &self.identifier, self.ttl, now).into();
        *cached = Some((sig.clone(), now));
        sig
    }

    /// Drops the cached UserSig, so that the next [`Signer::current`] signs afresh (after 70001/70052).
    pub(crate) fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const DEMO_KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const PY_XIAOJUN: &str = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpYJkTE1NjRDiJZm5YFEzNPXFmekgGwyjTAPy0l2y3BNL01KDMwPynUorUjwizV29jb1CUhyzfAMsjYNNvMvCjH1tlWoBGhAzGw__";
    const PY_ADMIN: &str = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkElNyM-NgUsUp2YkFBZkpQAlDEwMogMqlVhRkFqUCZSzMTOCCJZm5ICFDMzTFxZnpIMOdDFwz3V1LyiyycspL3IpMTVKd802Lgwx9g4IMPIKccoIsK7NDfCOLs30tbJVqAffJMcU_";
    const NODE_XIAOJUN: &str = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwhWZiflZpXlQqeKU7MSCgswUJStDEwMogMiUZOamKlkZmqGKplYUZBaBxE1NTY3gosWZ6UpWSoZRpgF56S5Z7omlaanBmQH5TqUVKR6R5q7exl4hKY5ZvgGWxsEm3mVhxr62SrUAnj0xuw__";
    const T: u64 = 1_600_000_000;

    #[test]
    fn tls_sig_vectors_of_spec_section_4() {
        assert_eq!(
            sign(1400000000, DEMO_KEY, "xiaojun", T, 15552000, None),
            "1Z5PngDjGaufeSiPoBuxdHY7EK3JTdAjMP93S4KvV3M="
        );
        assert_eq!(sign(1400000000, DEMO_KEY, "admin", T, 86400, None), "B0EiGEtv8jlwtFr54eCo5sR1MRR0HRBlR9ykTMYskM8=");
        assert_eq!(
            sign(1400000000, DEMO_KEY, "xiaojun", T, 15552000, Some(b"abc")),
            "9tvdyuu11RSxrIwX0xC05oW7LdPxVnzkzBpcRT/UqfM="
        );
    }

    #[test]
    fn generated_json_matches_the_python_library() {
        // The compressed bytes depend on the zlib implementation; the JSON must match exactly.
        let ours = inflate(&generate(1400000000, DEMO_KEY, "xiaojun", 15552000, T));
        assert_eq!(ours, inflate(PY_XIAOJUN));
        let ours = inflate(&generate(1400000000, DEMO_KEY, "admin", 86400, T));
        assert_eq!(ours, inflate(PY_ADMIN));
    }

    fn inflate(sig: &str) -> String {
        let b64 = from_url_alphabet(sig);
        let mut out = String::new();
        flate2::read::ZlibDecoder::new(STANDARD.decode(b64).unwrap().as_slice()).read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn verify_accepts_python_and_node_usersigs() {
        for sig in [PY_XIAOJUN, NODE_XIAOJUN] {
            let info = verify(sig, 1400000000, DEMO_KEY, "xiaojun", T + 100).unwrap();
            assert_eq!((info.sdkappid, info.time, info.expire), (1400000000, T, 15552000));
        }
        verify(PY_ADMIN, 1400000000, DEMO_KEY, "admin", T + 86400).unwrap();
    }

    #[test]
    fn verify_checks_each_field() {
        assert_eq!(
            verify(PY_ADMIN, 1400000001, DEMO_KEY, "admin", T).unwrap_err(),
            UserSigError::SdkAppIdMismatch { expected: 1400000001, found: 1400000000 }
        );
        assert_eq!(verify(PY_ADMIN, 1400000000, DEMO_KEY, "xiaojun", T).unwrap_err().code(), 70013);
        // Expired only when now > time + expire.
        assert_eq!(verify(PY_ADMIN, 1400000000, DEMO_KEY, "admin", T + 86401).unwrap_err().code(), 70001);
        assert_eq!(verify(PY_ADMIN, 1400000000, "another key", "admin", T).unwrap_err(), UserSigError::BadSignature);
        assert_eq!(verify("", 1400000000, DEMO_KEY, "admin", T).unwrap_err(), UserSigError::Empty);
        assert_eq!(verify("not a usersig!", 1400000000, DEMO_KEY, "admin", T).unwrap_err().code(), 70003);
    }

    #[test]
    fn verify_rejects_each_tampered_field() {
        let original = inflate(PY_ADMIN);
        let tampered = [
            original.replace("\"TLS.time\": 1600000000", "\"TLS.time\": 1600000001"),
            original.replace("\"TLS.expire\": 86400", "\"TLS.expire\": 86401"),
            original.replace("\"TLS.sig\": \"B0Ei", "\"TLS.sig\": \"C0Ei"),
        ];
        for json in tampered {
            assert_ne!(json, original);
            let sig = deflate_to_usersig(&json);
            assert_eq!(
                verify(&sig, 1400000000, DEMO_KEY, "admin", T).unwrap_err(),
                UserSigError::BadSignature,
                "{json}"
            );
        }
        let other_app = deflate_to_usersig(&original.replace("1400000000", "1400000001"));
        assert_eq!(verify(&other_app, 1400000001, DEMO_KEY, "admin", T).unwrap_err(), UserSigError::BadSignature);
        let other_user = deflate_to_usersig(&original.replace("\"admin\"", "\"admim\""));
        assert_eq!(verify(&other_user, 1400000000, DEMO_KEY, "admim", T).unwrap_err(), UserSigError::BadSignature);
    }

    fn deflate_to_usersig(json: &str) -> String {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(0));
        z.write_all(json.as_bytes()).unwrap();
        to_url_alphabet(&STANDARD.encode(z.finish().unwrap()))
    }

    #[test]
    fn userbuf_round_trips() {
        let sig = generate_with_userbuf(1400000000, DEMO_KEY, "xiaojun", 15552000, T, Some(b"abc"));
        let info = verify(&sig, 1400000000, DEMO_KEY, "xiaojun", T).unwrap();
        assert_eq!(info.userbuf.as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn signer_caches_and_renews_near_expiry() {
        let signer = Signer::new(1400000000, crate::config::Secret::new(DEMO_KEY), "admin".into(), 1000);
        let first = signer.current(T);
        assert_eq!(signer.current(T + 800), first, "900 s left of 1000: keep it");
        let renewed = signer.current(T + 941);
        assert_ne!(renewed, first, "59 s left: less than max(60 s, 10 %), sign anew");
        assert_eq!(inspect(&renewed).unwrap().time, T + 941);
        signer.invalidate();
        assert!(!signer.current(T + 941).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn inspect_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = inspect(&text);
            let _ = verify(&text, 1, "k", "a", 0);
        }

        #[test]
        fn inspect_never_panics_on_valid_zlib_of_arbitrary_text(text in ".{0,300}") {
            let _ = inspect(&deflate_to_usersig(&text));
        }

        #[test]
        fn generate_then_verify_round_trips(
            sdkappid in 1u64..u64::MAX,
            identifier in "[A-Za-z0-9_-]{1,32}",
            key in ".{1,64}",
            expire in 0u64..1_000_000_000,
            now in 0u64..4_000_000_000,
        ) {
            let sig = generate(sdkappid, &key, &identifier, expire, now);
            proptest::prop_assert!(sig.bytes().all(|b| b.is_ascii_alphanumeric() || b"*-_".contains(&b)));
            let info = verify(&sig, sdkappid, &key, &identifier, now + expire).unwrap();
            proptest::prop_assert_eq!(info.identifier, identifier);
        }
    }
}
