//! Client settings: where to send, how to authenticate, how long to wait, how often to retry.
//!
//! Every default is written once, in [`Defaults`]. [`ClientBuilder`] collects settings and
//! checks them in [`ClientBuilder::into_config`]; [`ClientBuilder::from_env`] reads the `TIM_*`
//! variables that all three faces share.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::observe::Observer;
use crate::redact::{redact_userinfo, redact_usersig};

/// The defaults, in one place (design §2).
#[derive(Debug)]
pub struct Defaults;

impl Defaults {
    /// The App admin account used when none is given.
    pub const IDENTIFIER: &'static str = "administrator";
    /// Connect timeout.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Per-attempt timeout (Tencent gives up at about 3 s).
    pub const TIMEOUT: Duration = Duration::from_secs(10);
    /// Overall deadline across retries.
    pub const DEADLINE: Duration = Duration::from_secs(30);
    /// Retries after the first attempt.
    pub const MAX_RETRIES: u32 = 3;
    /// Requests per second (the seed document's quota; Tencent now documents 200/s).
    pub const RATE_LIMIT: f64 = 100.0;
    /// Validity of the UserSigs the client signs, in seconds.
    pub const USERSIG_TTL: u64 = 86_400;
    /// How long the shared rate limiter (Redis) may take to answer before the fallback is used.
    pub const RATE_LIMIT_TIMEOUT: Duration = Duration::from_millis(50);
    /// The share of the rate a client paces at on its own while Redis is out (the `local` fallback).
    pub const RATE_LIMIT_FALLBACK_FRACTION: f64 = 0.25;
    /// The first part of the shared limiter's Redis keys.
    pub const RATE_LIMIT_PREFIX: &'static str = "timrest";
    /// The smallest and largest `rate_limit` accepted, requests per second.
    pub const RATE_LIMIT_RANGE: (f64, f64) = (0.001, 1_000_000.0);
    /// The longest timeout or deadline accepted (one day).
    pub const MAX_DURATION: Duration = Duration::from_secs(86_400);
    /// The longest UserSig validity accepted, in seconds (about 100 years).
    pub const MAX_USERSIG_TTL: u64 = 3_153_600_000;
    /// Largest response body the client reads.
    pub const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;
}

/// A secret string (secret key or UserSig). Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself. Call only where it is needed (signing, the request URL).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A Tencent Cloud IM data-centre region (spec §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// China (the default): `console.tim.qq.com`.
    China,
    /// Singapore.
    Singapore,
    /// Seoul.
    Seoul,
    /// Tokyo.
    Tokyo,
    /// Frankfurt.
    Frankfurt,
    /// Mumbai.
    Mumbai,
    /// Silicon Valley.
    SiliconValley,
    /// Jakarta.
    Jakarta,
}

impl Region {
    /// Every region.
    pub const ALL: [Region; 8] = [
        Region::China,
        Region::Singapore,
        Region::Seoul,
        Region::Tokyo,
        Region::Frankfurt,
        Region::Mumbai,
        Region::SiliconValley,
        Region::Jakarta,
    ];

    /// The name used in settings and `TIM_REGION` (`"china"`, `"silicon-valley"` …).
    pub fn name(self) -> &'static str {
        self.hosts().0
    }

    /// The main API host.
    pub fn host(self) -> &'static str {
        self.hosts().1
    }

    /// The backup API host.
    pub fn backup_host(self) -> &'static str {
        self.hosts().2
    }

    fn hosts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Region::China => ("china", "console.tim.qq.com", "adminapi.my-imcloud.com"),
            Region::Singapore => ("singapore", "adminapisgp.im.qcloud.com", "adminapisgp.my-imcloud.com"),
            Region::Seoul => ("seoul", "adminapikr.im.qcloud.com", "adminapikr.my-imcloud.com"),
            Region::Tokyo => ("tokyo", "adminapijpn.im.qcloud.com", "adminapijpn.my-imcloud.com"),
            Region::Frankfurt => ("frankfurt", "adminapiger.im.qcloud.com", "adminapiger.my-imcloud.com"),
            Region::Mumbai => ("mumbai", "adminapiind.im.qcloud.com", "adminapiind.my-imcloud.com"),
            Region::SiliconValley => ("silicon-valley", "adminapiusa.im.qcloud.com", "adminapiusa.my-imcloud.com"),
            Region::Jakarta => ("jakarta", "adminapiidn.im.qcloud.com", "adminapiidn.my-imcloud.com"),
        }
    }

    /// `https://{host}`.
    pub fn base_url(self) -> String {
        format!("https://{}", self.host())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Region {
    type Err = Error;

    /// Case-insensitive; `_` and spaces count as `-` (`"Silicon_Valley"` works).
    fn from_str(s: &str) -> Result<Region> {
        let wanted = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Region::ALL.into_iter().find(|r| r.name() == wanted).ok_or_else(|| {
            let names: Vec<_> = Region::ALL.iter().map(|r| r.name()).collect();
            Error::config(format!("unknown region {s:?}; expected one of {}", names.join(", ")))
        })
    }
}

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// The app's secret key: the client signs (and renews) its own UserSig.
    SecretKey(Secret),
    /// A ready UserSig for the identifier; it cannot be renewed.
    UserSig(Secret),
}

/// What the client does while the shared rate limiter (Redis) does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RateLimitFallback {
    /// Pace this process alone at `rate_limit_fallback_fraction` of the rate (the default).
    #[default]
    Local,
    /// Fail the call with [`ErrorKind::Limiter`](crate::ErrorKind::Limiter), within its deadline.
    Fail,
    /// Send without any limit.
    Open,
}

impl RateLimitFallback {
    /// `"local"`, `"fail"` or `"open"`.
    pub fn name(self) -> &'static str {
        match self {
            RateLimitFallback::Local => "local",
            RateLimitFallback::Fail => "fail",
            RateLimitFallback::Open => "open",
        }
    }
}

impl FromStr for RateLimitFallback {
    type Err = Error;

    fn from_str(s: &str) -> Result<RateLimitFallback> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" => Ok(RateLimitFallback::Local),
            "fail" => Ok(RateLimitFallback::Fail),
            "open" => Ok(RateLimitFallback::Open),
            _ => Err(Error::config(format!("rate_limit_fallback {s:?} is not one of \"local\", \"fail\", \"open\""))),
        }
    }
}

/// Whose clock the shared rate limiter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RateLimitClock {
    /// Redis's `TIME`: one clock for the whole fleet (the default).
    #[default]
    Redis,
    /// Each client's own clock, for services that refuse `TIME` in scripts (keep the hosts' clocks
    /// in sync, with NTP).
    Local,
}

impl RateLimitClock {
    /// `"redis"` or `"local"`.
    pub fn name(self) -> &'static str {
        match self {
            RateLimitClock::Redis => "redis",
            RateLimitClock::Local => "local",
        }
    }
}

impl FromStr for RateLimitClock {
    type Err = Error;

    fn from_str(s: &str) -> Result<RateLimitClock> {
        match s.trim().to_ascii_lowercase().as_str() {
            "redis" => Ok(RateLimitClock::Redis),
            "local" => Ok(RateLimitClock::Local),
            _ => Err(Error::config(format!("rate_limit_clock {s:?} is not one of \"redis\", \"local\""))),
        }
    }
}

/// The checked settings of a client. Build one with [`ClientBuilder`].
///
/// Its `Debug` shows no secret: the key and UserSig are redacted, and so are credentials in the proxy URL.
#[derive(Clone)]
pub struct Config {
    /// The app's SDKAppID.
    pub sdkappid: u64,
    /// Secret key or ready UserSig.
    pub auth: Auth,
    /// The App admin account the calls are made as.
    pub identifier: String,
    /// Scheme, host and optional port/path prefix, without a trailing `/`.
    pub base_url: String,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Overall deadline across retries.
    pub deadline: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Requests per second in each command's lane; `None`: no limiter.
    pub rate_limit: Option<f64>,
    /// `redis://` or `rediss://` URL of the limiter shared by a fleet; `None`: this process alone.
    pub rate_limit_url: Option<Secret>,
    /// What happens while the shared limiter does not answer.
    pub rate_limit_fallback: RateLimitFallback,
    /// Share of the rate paced at by the `local` fallback, in (0, 1].
    pub rate_limit_fallback_fraction: f64,
    /// How long the shared limiter may take to answer.
    pub rate_limit_timeout: Duration,
    /// First part of the shared limiter's keys (`{prefix}:{sdkappid}:{service}/{command}`).
    pub rate_limit_prefix: String,
    /// Whose clock the shared limiter reads.
    pub rate_limit_clock: RateLimitClock,
    /// Root certificates (PEM) the shared limiter's TLS trusts instead of the platform's.
    pub rate_limit_ca_pem: Option<Vec<u8>>,
    /// A client certificate (PEM) for the shared limiter's mutual TLS.
    pub rate_limit_client_cert_pem: Option<Vec<u8>>,
    /// The key (PEM) of that client certificate.
    pub rate_limit_client_key_pem: Option<Secret>,
    /// Slow down when the server still answers with a rate-limit code.
    pub rate_limit_adaptive: bool,
    /// Validity of self-signed UserSigs, in seconds.
    pub usersig_ttl: u64,
    /// Proxy URL; `None`: from `HTTPS_PROXY`/`ALL_PROXY` when set.
    pub proxy: Option<String>,
    /// Extra root certificates (PEM) to trust instead of the bundled roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Use the platform's certificate verifier instead of the bundled roots.
    pub platform_verifier: bool,
    /// Receives the client's events ([`crate::observe`]); `None`: only the stats count.
    pub observer: Option<Arc<dyn Observer>>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("sdkappid", &self.sdkappid)
            .field("auth", &self.auth)
            .field("identifier", &self.identifier)
            .field("base_url", &self.base_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("max_retries", &self.max_retries)
            .field("rate_limit", &self.rate_limit)
            .field("rate_limit_url", &self.rate_limit_url.as_ref().map(|u| redact_userinfo(u.expose())))
            .field("rate_limit_fallback", &self.rate_limit_fallback)
            .field("rate_limit_fallback_fraction", &self.rate_limit_fallback_fraction)
            .field("rate_limit_timeout", &self.rate_limit_timeout)
            .field("rate_limit_prefix", &self.rate_limit_prefix)
            .field("rate_limit_clock", &self.rate_limit_clock)
            .field("rate_limit_ca_pem", &self.rate_limit_ca_pem.as_ref().map(|pem| format!("<{} bytes>", pem.len())))
            .field(
                "rate_limit_client_cert_pem",
                &self.rate_limit_client_cert_pem.as_ref().map(|pem| format!("<{} bytes>", pem.len())),
            )
            .field("rate_limit_client_key_pem", &self.rate_limit_client_key_pem)
            .field("rate_limit_adaptive", &self.rate_limit_adaptive)
            .field("usersig_ttl", &self.usersig_ttl)
            .field("proxy", &self.proxy.as_deref().map(redact_userinfo))
            .field("ca_pem", &self.ca_pem.as_ref().map(|pem| format!("<{} bytes>", pem.len())))
            .field("platform_verifier", &self.platform_verifier)
            .field("observer", &self.observer.as_ref().map(|_| "set"))
            .finish()
    }
}

/// Collects settings for a [`Client`](crate::Client). Defaults are in [`Defaults`].
///
/// Its `Debug` shows no secret: the key and UserSig are redacted, and so are credentials in the
/// proxy and base URLs.
#[derive(Clone, Default)]
pub struct ClientBuilder {
    sdkappid: Option<u64>,
    secret_key: Option<Secret>,
    usersig: Option<Secret>,
    identifier: Option<String>,
    region: Option<Region>,
    base_url: Option<String>,
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    deadline: Option<Duration>,
    max_retries: Option<u32>,
    rate_limit: Option<Option<f64>>,
    rate_limit_url: Option<Secret>,
    rate_limit_fallback: Option<RateLimitFallback>,
    rate_limit_fallback_fraction: Option<f64>,
    rate_limit_timeout: Option<Duration>,
    rate_limit_prefix: Option<String>,
    rate_limit_clock: Option<RateLimitClock>,
    rate_limit_ca_pem: Option<Vec<u8>>,
    rate_limit_client_cert_pem: Option<Vec<u8>>,
    rate_limit_client_key_pem: Option<Secret>,
    rate_limit_adaptive: Option<bool>,
    usersig_ttl: Option<u64>,
    proxy: Option<String>,
    ca_pem: Option<Vec<u8>>,
    platform_verifier: bool,
    observer: Option<Arc<dyn Observer>>,
    /// Filled from the environment: missing settings are named by their variables.
    from_env: bool,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = |u: &Option<String>| u.as_deref().map(|u| redact_usersig(&redact_userinfo(u)));
        f.debug_struct("ClientBuilder")
            .field("sdkappid", &self.sdkappid)
            .field("secret_key", &self.secret_key)
            .field("usersig", &self.usersig)
            .field("identifier", &self.identifier)
            .field("region", &self.region)
            .field("base_url", &url(&self.base_url))
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("max_retries", &self.max_retries)
            .field("rate_limit", &self.rate_limit)
            .field("rate_limit_url", &self.rate_limit_url.as_ref().map(|u| redact_userinfo(u.expose())))
            .field("rate_limit_fallback", &self.rate_limit_fallback)
            .field("rate_limit_fallback_fraction", &self.rate_limit_fallback_fraction)
            .field("rate_limit_timeout", &self.rate_limit_timeout)
            .field("rate_limit_prefix", &self.rate_limit_prefix)
            .field("rate_limit_clock", &self.rate_limit_clock)
            .field("rate_limit_ca_pem", &self.rate_limit_ca_pem.as_ref().map(|pem| format!("<{} bytes>", pem.len())))
            .field(
                "rate_limit_client_cert_pem",
                &self.rate_limit_client_cert_pem.as_ref().map(|pem| format!("<{} bytes>", pem.len())),
            )
            .field("rate_limit_client_key_pem", &self.rate_limit_client_key_pem)
            .field("rate_limit_adaptive", &self.rate_limit_adaptive)
            .field("usersig_ttl", &self.usersig_ttl)
            .field("proxy", &url(&self.proxy))
            .field("ca_pem", &self.ca_pem.as_ref().map(|pem| format!("<{} bytes>", pem.len())))
            .field("platform_verifier", &self.platform_verifier)
            .field("observer", &self.observer.as_ref().map(|_| "set"))
            .finish()
    }
}

impl ClientBuilder {
    /// An empty builder (every setting at its default).
    pub fn new() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A builder filled from `TIM_SDKAPPID`, `TIM_SECRET_KEY`, `TIM_USERSIG`, `TIM_IDENTIFIER`,
    /// `TIM_REGION`, `TIM_BASE_URL`, `TIM_RATE_LIMIT_URL`, `TIM_RATE_LIMIT_FALLBACK`, and
    /// `TIM_RATE_LIMIT_CA_PEM`, `TIM_RATE_LIMIT_CLIENT_CERT_PEM`, `TIM_RATE_LIMIT_CLIENT_KEY_PEM`
    /// (each the path of a PEM file, read now). Later setter calls override what came from the
    /// environment.
    ///
    /// A variable that is set but empty (or blank) is a configuration error naming it: an unset
    /// variable in a deployment script must not quietly mean "the default", least of all for
    /// `TIM_BASE_URL`, whose default is Tencent's production host.
    pub fn from_env() -> Result<ClientBuilder> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`ClientBuilder::from_env`] with any source of variables (for tests and embedding).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ClientBuilder> {
        let var = |name: &str| -> Result<Option<String>> {
            match lookup(name) {
                Some(v) if v.trim().is_empty() => {
                    Err(Error::config(format!("{name} is set but empty; unset it or give it a value")))
                }
                v => Ok(v),
            }
        };
        let mut b = ClientBuilder { from_env: true, ..ClientBuilder::new() };
        if let Some(v) = var("TIM_SDKAPPID")? {
            b.sdkappid = Some(
                v.trim()
                    .parse()
                    .map_err(|_| Error::config(format!("TIM_SDKAPPID is not a positive integer: {v:?}")))?,
            );
        }
        b.secret_key = var("TIM_SECRET_KEY")?.map(Secret);
        b.usersig = var("TIM_USERSIG")?.map(Secret);
        b.identifier = var("TIM_IDENTIFIER")?;
        if let Some(v) = var("TIM_REGION")? {
            b.region = Some(v.parse()?);
        }
        b.base_url = var("TIM_BASE_URL")?;
        b.rate_limit_url = var("TIM_RATE_LIMIT_URL")?.map(Secret);
        if let Some(v) = var("TIM_RATE_LIMIT_FALLBACK")? {
            b.rate_limit_fallback = Some(v.parse()?);
        }
        let pem_file = |name: &str| -> Result<Option<Vec<u8>>> {
            let Some(path) = var(name)? else { return Ok(None) };
            std::fs::read(path.trim())
                .map(Some)
                .map_err(|e| Error::config(format!("{name} names {:?}, which cannot be read: {e}", path.trim())))
        };
        b.rate_limit_ca_pem = pem_file("TIM_RATE_LIMIT_CA_PEM")?;
        b.rate_limit_client_cert_pem = pem_file("TIM_RATE_LIMIT_CLIENT_CERT_PEM")?;
        b.rate_limit_client_key_pem =
            pem_file("TIM_RATE_LIMIT_CLIENT_KEY_PEM")?.map(|k| Secret(String::from_utf8_lossy(&k).into_owned()));
        Ok(b)
    }

    /// The SDKAppID (required).
    pub fn sdkappid(mut self, sdkappid: u64) -> Self {
        self.sdkappid = Some(sdkappid);
        self
    }

    /// Authenticate with the app's secret key (the client signs its own UserSig).
    pub fn secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = Some(Secret(key.into()));
        self
    }

    /// Authenticate with a ready UserSig for the identifier.
    pub fn usersig(mut self, usersig: impl Into<String>) -> Self {
        self.usersig = Some(Secret(usersig.into()));
        self
    }

    /// The App admin account (default `administrator`).
    pub fn identifier(mut self, identifier: impl Into<String>) -> Self {
        self.identifier = Some(identifier.into());
        self
    }

    /// The region (default China). Ignored when a base URL is set.
    pub fn region(mut self, region: Region) -> Self {
        self.region = Some(region);
        self
    }

    /// Any base URL (`https://…`; `http://` only for loopback hosts). Overrides the region.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Connect timeout (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Per-attempt timeout (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Overall deadline across all attempts and waits of one call (default 30 s).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Retries after the first attempt (default 3).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// Requests per second shared by every call of the client (default 100); `None` turns the limiter off.
    pub fn rate_limit(mut self, per_second: Option<f64>) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// Shares the rate limit with every client that names the same Redis: `redis://[:password@]host:port/db`
    /// or `rediss://…` (TLS). Each command's quota is one key, `{prefix}:{sdkappid}:{service}/{command}`.
    pub fn rate_limit_url(mut self, url: impl Into<String>) -> Self {
        self.rate_limit_url = Some(Secret(url.into()));
        self
    }

    /// What happens while the shared limiter does not answer (default [`RateLimitFallback::Local`]).
    pub fn rate_limit_fallback(mut self, fallback: RateLimitFallback) -> Self {
        self.rate_limit_fallback = Some(fallback);
        self
    }

    /// The share of the rate the `local` fallback paces at (default 0.25; in (0, 1]).
    pub fn rate_limit_fallback_fraction(mut self, fraction: f64) -> Self {
        self.rate_limit_fallback_fraction = Some(fraction);
        self
    }

    /// How long the shared limiter may take to answer (default 50 ms; 1 ms to 10 s).
    pub fn rate_limit_timeout(mut self, timeout: Duration) -> Self {
        self.rate_limit_timeout = Some(timeout);
        self
    }

    /// The first part of the shared limiter's keys (default `timrest`).
    pub fn rate_limit_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.rate_limit_prefix = Some(prefix.into());
        self
    }

    /// Whose clock the shared limiter reads (default [`RateLimitClock::Redis`]).
    pub fn rate_limit_clock(mut self, clock: RateLimitClock) -> Self {
        self.rate_limit_clock = Some(clock);
        self
    }

    /// Root certificates (PEM) to trust for a `rediss://` limiter instead of the platform's: the
    /// private CA of a managed Redis.
    pub fn rate_limit_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.rate_limit_ca_pem = Some(pem.into());
        self
    }

    /// A client certificate (PEM) for a `rediss://` limiter that asks for one (mutual TLS); give
    /// its key with [`ClientBuilder::rate_limit_client_key_pem`].
    pub fn rate_limit_client_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.rate_limit_client_cert_pem = Some(pem.into());
        self
    }

    /// The key (PEM) of the client certificate. A secret: never shown.
    pub fn rate_limit_client_key_pem(mut self, pem: impl Into<String>) -> Self {
        self.rate_limit_client_key_pem = Some(Secret(pem.into()));
        self
    }

    /// Whether a rate-limit answer from the server slows the lane down (default on).
    pub fn rate_limit_adaptive(mut self, on: bool) -> Self {
        self.rate_limit_adaptive = Some(on);
        self
    }

    /// Validity of the UserSigs the client signs (default 1 day).
    pub fn usersig_ttl(mut self, ttl: Duration) -> Self {
        self.usersig_ttl = Some(ttl.as_secs());
        self
    }

    /// A proxy URL (`http://`, `socks5://` …). Default: `HTTPS_PROXY`/`ALL_PROXY` when set.
    pub fn proxy(mut self, proxy: impl Into<String>) -> Self {
        self.proxy = Some(proxy.into());
        self
    }

    /// Trust these PEM root certificates instead of the bundled ones.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Use the platform's certificate verifier instead of the bundled roots.
    pub fn platform_verifier(mut self, on: bool) -> Self {
        self.platform_verifier = on;
        self
    }

    /// Hands every step of every call to `observer` ([`crate::observe`]: kinds, fields, threads).
    /// A closure `|event: &timrest::Event<'_>| …` is an observer.
    pub fn observer(mut self, observer: impl Observer) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Checks every setting and returns the [`Config`]. Errors are [`ErrorKind::Config`](crate::ErrorKind::Config).
    pub fn into_config(self) -> Result<Config> {
        let sdkappid = match self.sdkappid {
            Some(0) | None if self.from_env => {
                return Err(Error::config(
                    "TIM_SDKAPPID is not set: the app's SDKAppID is required (a positive integer, e.g. 1400000000)",
                ));
            }
            Some(0) | None => return Err(Error::config("sdkappid is required (a positive integer, e.g. 1400000000)")),
            Some(id) => id,
        };
        let identifier = self.identifier.unwrap_or_else(|| Defaults::IDENTIFIER.to_owned());
        crate::validate::user_id("identifier", &identifier).map_err(|e| Error::config(e.info().to_owned()))?;
        let auth = match (self.secret_key, self.usersig) {
            (Some(_), Some(_)) => return Err(Error::config("give either secret_key or usersig, not both")),
            (None, None) if self.from_env => {
                return Err(Error::config(
                    "neither TIM_SECRET_KEY nor TIM_USERSIG is set: a secret_key or a usersig is required",
                ));
            }
            (None, None) => return Err(Error::config("a secret_key or a usersig is required")),
            (Some(key), None) if key.0.is_empty() => return Err(Error::config("secret_key is empty")),
            (Some(key), None) => Auth::SecretKey(key),
            (None, Some(sig)) => {
                let info = crate::usersig::inspect(&sig.0)
                    .map_err(|e| Error::config(format!("usersig is not a valid UserSig: {e}")))?;
                if info.identifier != identifier {
                    return Err(Error::config(format!(
                        "usersig was made for identifier {:?}, but the client uses {identifier:?}",
                        info.identifier
                    )));
                }
                if info.sdkappid != sdkappid {
                    return Err(Error::config(format!(
                        "usersig was made for sdkappid {}, but the client uses {sdkappid}",
                        info.sdkappid
                    )));
                }
                Auth::UserSig(sig)
            }
        };
        let base_url = match self.base_url {
            Some(url) => url,
            None => self.region.unwrap_or(Region::China).base_url(),
        };
        let rate_limit = match self.rate_limit {
            None => Some(Defaults::RATE_LIMIT),
            Some(limit) => limit,
        };
        Config {
            sdkappid,
            auth,
            identifier,
            base_url,
            connect_timeout: self.connect_timeout.unwrap_or(Defaults::CONNECT_TIMEOUT),
            timeout: self.timeout.unwrap_or(Defaults::TIMEOUT),
            deadline: self.deadline.unwrap_or(Defaults::DEADLINE),
            max_retries: self.max_retries.unwrap_or(Defaults::MAX_RETRIES),
            rate_limit,
            rate_limit_url: self.rate_limit_url,
            rate_limit_fallback: self.rate_limit_fallback.unwrap_or_default(),
            rate_limit_fallback_fraction: self
                .rate_limit_fallback_fraction
                .unwrap_or(Defaults::RATE_LIMIT_FALLBACK_FRACTION),
            rate_limit_timeout: self.rate_limit_timeout.unwrap_or(Defaults::RATE_LIMIT_TIMEOUT),
            rate_limit_prefix: self.rate_limit_prefix.unwrap_or_else(|| Defaults::RATE_LIMIT_PREFIX.to_owned()),
            rate_limit_clock: self.rate_limit_clock.unwrap_or_default(),
            rate_limit_ca_pem: self.rate_limit_ca_pem,
            rate_limit_client_cert_pem: self.rate_limit_client_cert_pem,
            rate_limit_client_key_pem: self.rate_limit_client_key_pem,
            rate_limit_adaptive: self.rate_limit_adaptive.unwrap_or(true),
            usersig_ttl: self.usersig_ttl.unwrap_or(Defaults::USERSIG_TTL),
            proxy: self.proxy,
            ca_pem: self.ca_pem,
            platform_verifier: self.platform_verifier,
            observer: self.observer,
        }
        .check()
    }
}

impl Config {
    /// Checks the settings that do not depend on how they were gathered (the fields are public, so
    /// [`Client::new`](crate::Client::new) checks again): the base URL (`http://` only on loopback;
    /// returned without a trailing `/`), positive timeouts, a positive rate, a UserSig lifetime of at
    /// least 120 s. Errors are [`ErrorKind::Config`](crate::ErrorKind::Config).
    pub fn check(mut self) -> Result<Config> {
        self.base_url = check_base_url(&self.base_url)?;
        for (name, d) in
            [("connect_timeout", self.connect_timeout), ("timeout", self.timeout), ("deadline", self.deadline)]
        {
            if d.is_zero() || d > Defaults::MAX_DURATION {
                return Err(Error::config(format!(
                    "{name} must be more than 0 and at most {} seconds, not {:?}",
                    Defaults::MAX_DURATION.as_secs(),
                    d
                )));
            }
        }
        let (low, high) = Defaults::RATE_LIMIT_RANGE;
        if let Some(r) = self.rate_limit.filter(|r| !(r.is_finite() && (low..=high).contains(r))) {
            return Err(Error::config(format!(
                "rate_limit must be a number of requests per second from {low} to {high}, not {r}; to turn the \
                 limiter off: rate_limit=None (Python), --rate-limit off (command line), \
                 timrest_config_set_no_rate_limit (C)"
            )));
        }
        let fraction = self.rate_limit_fallback_fraction;
        if !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0) {
            return Err(Error::config(format!(
                "rate_limit_fallback_fraction must be more than 0 and at most 1, not {fraction}"
            )));
        }
        let t = self.rate_limit_timeout;
        if t < Duration::from_millis(1) || t > Duration::from_secs(10) {
            return Err(Error::config(format!("rate_limit_timeout must be from 1 ms to 10 s, not {t:?}")));
        }
        let prefix = &self.rate_limit_prefix;
        if prefix.is_empty()
            || prefix.len() > 64
            || prefix.chars().any(|c| c.is_control() || c.is_whitespace() || "{}".contains(c))
        {
            return Err(Error::config(format!(
                "rate_limit_prefix {prefix:?} must be 1 to 64 characters without spaces, control characters or braces"
            )));
        }
        if let Some(url) = &self.rate_limit_url {
            if self.rate_limit.is_none() {
                return Err(Error::config("rate_limit_url needs a rate_limit (it is None)"));
            }
            if url.expose().trim().is_empty() {
                return Err(Error::config("rate_limit_url is empty"));
            }
        }
        match (&self.rate_limit_client_cert_pem, &self.rate_limit_client_key_pem) {
            (Some(_), None) => {
                return Err(Error::config("rate_limit_client_cert_pem needs its key: rate_limit_client_key_pem"));
            }
            (None, Some(_)) => {
                return Err(Error::config(
                    "rate_limit_client_key_pem needs its certificate: rate_limit_client_cert_pem",
                ));
            }
            _ => {}
        }
        let tls_given = self.rate_limit_ca_pem.is_some() || self.rate_limit_client_cert_pem.is_some();
        if tls_given && self.rate_limit_url.is_none() {
            return Err(Error::config(
                "rate_limit_ca_pem and rate_limit_client_cert_pem are for a rediss:// rate_limit_url, and none is set",
            ));
        }
        if self.usersig_ttl < 120 || self.usersig_ttl > Defaults::MAX_USERSIG_TTL {
            return Err(Error::config(format!(
                "usersig_ttl must be from 120 to {} seconds, not {}",
                Defaults::MAX_USERSIG_TTL,
                self.usersig_ttl
            )));
        }
        Ok(self)
    }
}

/// Checks a base URL: `https://` anywhere, `http://` only on loopback. Returns it without trailing `/`.
pub(crate) fn check_base_url(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    // Messages quote the URL without credentials or a UserSig that may have been pasted into it.
    let shown = redact_usersig(&redact_userinfo(url));
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| Error::config(format!("base_url {shown:?} has no scheme (https://…)")))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(Error::config(format!("base_url {shown:?} has no host (or carries credentials)")));
    }
    if rest.contains(['?', '#']) {
        return Err(Error::config(format!("base_url {shown:?} must not have a query or fragment")));
    }
    if let Some(port) = port_of(authority)
        && !(port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        // Left as is, `:99999` or `:8080x` would send the request (UserSig included) to port 80/443.
        return Err(Error::config(format!(
            "base_url {shown:?}: the port {:?} is not a number from 1 to 65535",
            crate::error::shown(port)
        )));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(url.to_owned()),
        "http" if is_loopback(authority) => Ok(url.to_owned()),
        "http" => Err(Error::config(format!(
            "base_url {shown:?}: plain http:// is allowed only for loopback hosts; the UserSig must travel over TLS"
        ))),
        other => Err(Error::config(format!("base_url scheme {other:?} is not http or https"))),
    }
}

/// The port of `host:port` or `[v6]:port`, when the authority names one (`host:` names an empty one).
fn port_of(authority: &str) -> Option<&str> {
    match authority.strip_prefix('[') {
        Some(rest) => rest.split_once(']').and_then(|(_, after)| after.strip_prefix(':')),
        None => authority.rsplit_once(':').map(|(_, port)| port),
    }
}

/// Whether `host[:port]` names this machine (localhost, 127.0.0.0/8, ::1).
pub(crate) fn is_loopback(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn base() -> ClientBuilder {
        ClientBuilder::new().sdkappid(1400000000).secret_key("k")
    }

    #[test]
    fn defaults() {
        let c = base().into_config().unwrap();
        assert_eq!(c.base_url, "https://console.tim.qq.com");
        assert_eq!(c.identifier, "administrator");
        assert_eq!(c.rate_limit, Some(100.0));
        assert_eq!(
            (c.timeout, c.connect_timeout, c.deadline, c.max_retries),
            (Defaults::TIMEOUT, Defaults::CONNECT_TIMEOUT, Defaults::DEADLINE, 3)
        );
    }

    #[test]
    fn regions_parse_by_name() {
        for r in Region::ALL {
            assert_eq!(r.name().parse::<Region>().unwrap(), r);
            assert_eq!(r.name().to_uppercase().replace('-', "_").parse::<Region>().unwrap(), r);
        }
        assert_eq!("mars".parse::<Region>().unwrap_err().kind(), ErrorKind::Config);
        let c = base().region(Region::Jakarta).into_config().unwrap();
        assert_eq!(c.base_url, "https://adminapiidn.im.qcloud.com");
    }

    #[test]
    fn http_only_on_loopback() {
        for ok in ["http://127.0.0.1:8080", "http://localhost:1/", "http://[::1]:9000", "https://example.com/prefix"] {
            base().base_url(ok).into_config().unwrap();
        }
        for bad in
            ["http://example.com", "http://10.0.0.1:80", "ftp://127.0.0.1", "127.0.0.1:80", "https://", "https://u:p@h"]
        {
            assert_eq!(base().base_url(bad).into_config().unwrap_err().kind(), ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn a_port_is_a_number_from_1_to_65535() {
        for ok in ["http://127.0.0.1:1", "https://h:65535/x", "http://[::1]:8080", "https://h"] {
            base().base_url(ok).into_config().unwrap();
        }
        for bad in [
            "http://127.0.0.1:99999",
            "http://127.0.0.1:8080x",
            "http://127.0.0.1:-1",
            "https://h:0",
            "https://h:",
            "http://[::1]:65536/p",
        ] {
            let e = base().base_url(bad).into_config().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad}");
            assert!(e.info().contains("not a number from 1 to 65535"), "{bad}: {}", e.info());
        }
    }

    #[test]
    fn absurd_settings_are_config_errors() {
        let cases = [
            ClientBuilder::new().secret_key("k"),
            ClientBuilder::new().sdkappid(1),
            base().usersig("x"),
            base().timeout(Duration::ZERO),
            base().deadline(Duration::ZERO),
            base().connect_timeout(Duration::ZERO),
            base().rate_limit(Some(0.0)),
            base().rate_limit(Some(-1.0)),
            base().rate_limit(Some(f64::NAN)),
            base().identifier(""),
            base().identifier("a\0b"),
            base().usersig_ttl(Duration::from_secs(5)),
            ClientBuilder::new().sdkappid(1).usersig("garbage"),
        ];
        for b in cases {
            let dbg = format!("{b:?}");
            assert_eq!(b.into_config().unwrap_err().kind(), ErrorKind::Config, "{dbg}");
        }
        assert_eq!(base().rate_limit(None).into_config().unwrap().rate_limit, None);
    }

    #[test]
    fn config_debug_hides_proxy_credentials() {
        let c = base().proxy("socks5://user:hunter2@proxy.local:1080").into_config().unwrap();
        let dbg = format!("{c:?}");
        assert!(dbg.contains("socks5://<redacted>@proxy.local:1080") && !dbg.contains("hunter2"), "{dbg}");
        let b = base().proxy("socks5://user:hunter2@proxy.local:1080").base_url("https://u:hunter3@h/?usersig=eJx");
        let dbg = format!("{b:?}");
        assert!(dbg.contains("socks5://<redacted>@proxy.local:1080"), "{dbg}");
        assert!(!dbg.contains("hunter") && !dbg.contains("eJx") && !dbg.contains("\"k\""), "{dbg}");
        let e = b.into_config().unwrap_err().to_string();
        assert!(!e.contains("hunter3") && !e.contains("eJx"), "{e}");
    }

    #[test]
    fn missing_variables_are_named_and_pem_files_are_read() {
        let e = ClientBuilder::from_lookup(|_| None).unwrap().into_config().unwrap_err();
        assert!(e.to_string().contains("TIM_SDKAPPID is not set"), "{e}");
        let e = ClientBuilder::from_lookup(|n| (n == "TIM_SDKAPPID").then(|| "1".to_owned()))
            .unwrap()
            .into_config()
            .unwrap_err();
        assert!(e.to_string().contains("neither TIM_SECRET_KEY nor TIM_USERSIG is set"), "{e}");
        // Set in code, the same settings are named as settings.
        let e = ClientBuilder::new().into_config().unwrap_err();
        assert!(e.to_string().starts_with("config error: sdkappid is required"), "{e}");
        // The PEM variables are file paths, read at once; one that cannot be read is named.
        let e = ClientBuilder::from_lookup(|n| (n == "TIM_RATE_LIMIT_CA_PEM").then(|| "/no/such/ca.pem".to_owned()))
            .unwrap_err();
        assert!(e.to_string().contains("TIM_RATE_LIMIT_CA_PEM names \"/no/such/ca.pem\""), "{e}");
    }

    #[test]
    fn a_set_but_empty_variable_is_a_config_error_naming_it() {
        for name in ["TIM_BASE_URL", "TIM_SDKAPPID", "TIM_SECRET_KEY", "TIM_REGION", "TIM_RATE_LIMIT_URL"] {
            let lookup = |n: &str| {
                if n == name {
                    Some("  ".to_string())
                } else {
                    [("TIM_SDKAPPID", "1"), ("TIM_SECRET_KEY", "k")]
                        .iter()
                        .find(|(k, _)| *k == n)
                        .map(|(_, v)| v.to_string())
                }
            };
            let e = ClientBuilder::from_lookup(lookup).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.info().contains(name), "{e}");
        }
    }

    #[test]
    fn numeric_settings_out_of_range_are_config_errors_naming_them() {
        let day = Duration::from_secs(86_400);
        let cases = [
            (base().rate_limit(Some(1e-20)), "rate_limit"),
            (base().rate_limit(Some(1e300)), "rate_limit"),
            (base().timeout(day * 2), "timeout"),
            (base().deadline(Duration::MAX), "deadline"),
            (base().connect_timeout(day * 365), "connect_timeout"),
            (base().usersig_ttl(Duration::from_secs(u64::MAX)), "usersig_ttl"),
            (base().rate_limit_fallback_fraction(0.0), "rate_limit_fallback_fraction"),
            (base().rate_limit_timeout(Duration::from_secs(60)), "rate_limit_timeout"),
        ];
        for (b, name) in cases {
            let e = b.into_config().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{name}");
            assert!(e.info().contains(name), "{name}: {e}");
        }
        base().rate_limit(Some(0.001)).timeout(day).deadline(day).into_config().unwrap();
    }

    #[test]
    fn from_lookup_reads_tim_variables() {
        let vars = [("TIM_SDKAPPID", "1400000001"), ("TIM_SECRET_KEY", "canary"), ("TIM_REGION", "seoul")];
        let lookup = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
        let c = ClientBuilder::from_lookup(lookup).unwrap().into_config().unwrap();
        assert_eq!(c.sdkappid, 1400000001);
        assert_eq!(c.base_url, "https://adminapikr.im.qcloud.com");
        assert!(!format!("{c:?}").contains("canary"));
        let bad = ClientBuilder::from_lookup(|n| (n == "TIM_SDKAPPID").then(|| "abc".to_string()));
        assert_eq!(bad.unwrap_err().kind(), ErrorKind::Config);
    }
}
