//! `timrest_config`: a builder for client settings (the C face of [`ClientBuilder`]).

use std::ffi::c_char;
use std::time::Duration;

use crate::config::{ClientBuilder, RateLimitClock, RateLimitFallback, Region};

use super::boundary::{self, Outcome};
use super::error::timrest_error;
use super::status::timrest_status;

/// Settings for a client, collected one `timrest_config_set_*` call at a time and checked as a
/// whole by `timrest_client_new` (which explains what is wrong through its `timrest_error`).
/// Every setting not set keeps its default: identifier `administrator`, region China, connect
/// timeout 5 s, per-attempt timeout 10 s, deadline 30 s, 3 retries, 100 requests/s, UserSigs
/// signed for 1 day.
///
/// Ownership: created by `timrest_config_new` or `timrest_config_from_env`, released by
/// `timrest_config_free`. `timrest_client_new` only reads it: free it whenever convenient
/// afterwards, or reuse it for another client. The setters copy their string arguments.
///
/// Thread safety: a config may move between threads, but must not be changed by one thread while
/// another uses it.
pub struct timrest_config {
    pub(crate) builder: ClientBuilder,
}

/// Creates a config with every setting at its default, and stores it in `*config_out`.
/// Release it with `timrest_config_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_new(config_out: *mut *mut timrest_config) -> timrest_status {
    unsafe {
        boundary::guard("timrest_config_new", std::ptr::null_mut(), || {
            let out = boundary::out_arg("config_out", config_out)?;
            boundary::write_out(out, boundary::to_c(timrest_config { builder: ClientBuilder::new() }));
            Ok(())
        })
    }
}

/// Creates a config from the environment variables shared by every face of timrest:
/// `TIM_SDKAPPID`, `TIM_SECRET_KEY` or `TIM_USERSIG`, `TIM_IDENTIFIER`, `TIM_REGION`,
/// `TIM_BASE_URL`. Setters called afterwards override what came from the environment.
///
/// Fails with `TIMREST_CONFIG` when a variable is malformed (a non-numeric `TIM_SDKAPPID`, an
/// unknown region); missing ones are reported by `timrest_client_new`. Reads the environment:
/// do not call it while another thread changes the environment (`setenv`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_from_env(
    config_out: *mut *mut timrest_config,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_config_from_env", err_out, || {
            let out = boundary::out_arg("config_out", config_out)?;
            let builder = ClientBuilder::from_env()?;
            boundary::write_out(out, boundary::to_c(timrest_config { builder }));
            Ok(())
        })
    }
}

/// Releases a config. NULL does nothing. Clients made from it are not affected.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_free(config: *mut timrest_config) {
    boundary::catch((), || {
        // SAFETY: the caller passes NULL or a config that timrest handed out.
        unsafe { boundary::free(config) }
    })
}

/// Applies `change` to the builder of `config` (the shared body of the setters).
///
/// # Safety
/// `config` is NULL or a live config used by no other thread.
unsafe fn update(
    function: &'static str,
    config: *mut timrest_config,
    change: impl FnOnce(ClientBuilder) -> Outcome<ClientBuilder>,
) -> timrest_status {
    unsafe {
        boundary::guard(function, std::ptr::null_mut(), || {
            let config = boundary::mut_arg("config", config)?;
            // Take the builder out, change it, put it back; on failure the config keeps what it had.
            let builder = change(config.builder.clone())?;
            config.builder = builder;
            Ok(())
        })
    }
}

/// Sets the SDKAppID of the app (required; a positive integer such as 1400000000).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_sdkappid(config: *mut timrest_config, sdkappid: u64) -> timrest_status {
    unsafe { update("timrest_config_set_sdkappid", config, |b| Ok(b.sdkappid(sdkappid))) }
}

/// Authenticates with the app's secret key: the client signs its own UserSig and renews it before
/// it expires. Give either this or `timrest_config_set_usersig`. The key is copied, kept in memory
/// only, and never appears in a message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_secret_key(
    config: *mut timrest_config,
    secret_key: *const c_char,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_secret_key", config, |b| {
            Ok(b.secret_key(boundary::str_arg("secret_key", secret_key)?))
        })
    }
}

/// Authenticates with a ready UserSig made for the identifier (it cannot be renewed: calls fail
/// with `TIMREST_USERSIG_EXPIRED` once it expires). Give either this or
/// `timrest_config_set_secret_key`. Copied; never appears in a message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_usersig(
    config: *mut timrest_config,
    usersig: *const c_char,
) -> timrest_status {
    unsafe { update("timrest_config_set_usersig", config, |b| Ok(b.usersig(boundary::str_arg("usersig", usersig)?))) }
}

/// Sets the App admin account the calls are made as (default `administrator`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_identifier(
    config: *mut timrest_config,
    identifier: *const c_char,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_identifier", config, |b| {
            Ok(b.identifier(boundary::str_arg("identifier", identifier)?))
        })
    }
}

/// Sets the data-centre region: `china` (default), `singapore`, `seoul`, `tokyo`, `frankfurt`,
/// `mumbai`, `silicon-valley` or `jakarta` (case-insensitive; `_` works for `-`). Ignored when a
/// base URL is set. `TIMREST_CONFIG` for an unknown name (the config is left unchanged).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_region(
    config: *mut timrest_config,
    region: *const c_char,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_region", config, |b| {
            let region: Region = boundary::str_arg("region", region)?.parse()?;
            Ok(b.region(region))
        })
    }
}

/// Sends every request to this base URL instead of the region's host: `https://…` anywhere,
/// plain `http://` only to a loopback host (an emulator). Checked by `timrest_client_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_base_url(
    config: *mut timrest_config,
    base_url: *const c_char,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_base_url", config, |b| Ok(b.base_url(boundary::str_arg("base_url", base_url)?)))
    }
}

/// Sets the connect timeout in milliseconds (default 5000; 0 is refused by `timrest_client_new`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_connect_timeout_ms(
    config: *mut timrest_config,
    milliseconds: u64,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_connect_timeout_ms", config, |b| {
            Ok(b.connect_timeout(Duration::from_millis(milliseconds)))
        })
    }
}

/// Sets the timeout of each attempt in milliseconds (default 10000; 0 is refused by
/// `timrest_client_new`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_timeout_ms(
    config: *mut timrest_config,
    milliseconds: u64,
) -> timrest_status {
    unsafe { update("timrest_config_set_timeout_ms", config, |b| Ok(b.timeout(Duration::from_millis(milliseconds)))) }
}

/// Sets the overall deadline of one call, all attempts and waits included, in milliseconds
/// (default 30000; 0 is refused by `timrest_client_new`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_deadline_ms(
    config: *mut timrest_config,
    milliseconds: u64,
) -> timrest_status {
    unsafe { update("timrest_config_set_deadline_ms", config, |b| Ok(b.deadline(Duration::from_millis(milliseconds)))) }
}

/// Sets how many times a failed attempt is retried (default 3; 0: never retry). Only failures that
/// may succeed later are retried, with exponential backoff and jitter, within the deadline.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_max_retries(config: *mut timrest_config, retries: u32) -> timrest_status {
    unsafe { update("timrest_config_set_max_retries", config, |b| Ok(b.max_retries(retries))) }
}

/// Sets the client-side rate limit: at most `per_second` requests start in any one-second window,
/// across every thread using the client (default 100). Must be positive and finite
/// (`timrest_client_new` refuses anything else); `timrest_config_set_no_rate_limit` turns the
/// limiter off.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_rate_limit(config: *mut timrest_config, per_second: f64) -> timrest_status {
    unsafe { update("timrest_config_set_rate_limit", config, |b| Ok(b.rate_limit(Some(per_second)))) }
}

/// Turns the client-side rate limiter off (the server's own limit still applies).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_no_rate_limit(config: *mut timrest_config) -> timrest_status {
    unsafe { update("timrest_config_set_no_rate_limit", config, |b| Ok(b.rate_limit(None))) }
}

/// Sets how long the UserSigs the client signs stay valid, in seconds (default 86400; at least
/// 120, checked by `timrest_client_new`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_usersig_ttl_secs(
    config: *mut timrest_config,
    seconds: u64,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_usersig_ttl_secs", config, |b| Ok(b.usersig_ttl(Duration::from_secs(seconds))))
    }
}

/// Sends requests through this proxy (`http://host:port`, `socks5://host:port` …). By default the
/// proxy comes from `HTTPS_PROXY` / `ALL_PROXY` when set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_proxy(config: *mut timrest_config, proxy: *const c_char) -> timrest_status {
    unsafe { update("timrest_config_set_proxy", config, |b| Ok(b.proxy(boundary::str_arg("proxy", proxy)?))) }
}

/// Trusts these PEM root certificates (`pem_len` bytes at `pem`, copied) instead of the bundled
/// roots.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_ca_pem(
    config: *mut timrest_config,
    pem: *const u8,
    pem_len: usize,
) -> timrest_status {
    unsafe { update("timrest_config_set_ca_pem", config, |b| Ok(b.ca_pem(pem_arg("pem", pem, pem_len)?))) }
}

/// Uses the platform's certificate verifier instead of the bundled roots when `enabled` is true.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_platform_verifier(
    config: *mut timrest_config,
    enabled: bool,
) -> timrest_status {
    unsafe { update("timrest_config_set_platform_verifier", config, |b| Ok(b.platform_verifier(enabled))) }
}

/// Shares the rate limit with every client, in any process or host, that names the same Redis:
/// `redis://[user:password@]host:port/db` (one node; the rest of the URL follows the Rust `redis`
/// crate's rules), `redis+cluster://[user:password@]host:port[,host:port…]` (a Cluster: one
/// reachable node is enough) or `redis+sentinel://[user:password@]host:port[,host:port…]/service_name`
/// (the master Sentinel names); `rediss…` for TLS. Each command's quota is one key,
/// `{prefix}:{SDKAppID}:{service}/{command}`. Create the client after `fork()`. The URL is copied;
/// its password never appears in a message. A malformed URL is refused by `timrest_client_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_rate_limit_url(
    config: *mut timrest_config,
    url: *const c_char,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_rate_limit_url", config, |b| Ok(b.rate_limit_url(boundary::str_arg("url", url)?)))
    }
}

/// `pem_len` bytes at `pem` (copied): PEM data for a setting of the shared limiter's TLS.
unsafe fn pem_arg(name: &str, pem: *const u8, pem_len: usize) -> Outcome<Vec<u8>> {
    if pem.is_null() {
        return Err(boundary::null_argument(name));
    }
    // SAFETY: not NULL, and the caller promises pem_len readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(pem, pem_len) }.to_vec())
}

/// Trusts these PEM root certificates (`pem_len` bytes at `pem`, copied) for a `rediss…`
/// `rate_limit_url`, instead of the platform's roots: the private CA of a managed Redis.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_rate_limit_ca_pem(
    config: *mut timrest_config,
    pem: *const u8,
    pem_len: usize,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_rate_limit_ca_pem", config, |b| {
            Ok(b.rate_limit_ca_pem(pem_arg("pem", pem, pem_len)?))
        })
    }
}

/// A client certificate and its key (PEM, copied) for a `rediss…` `rate_limit_url` that asks for
/// one (mutual TLS). The key is a secret: it never appears in a message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_rate_limit_client_cert_pem(
    config: *mut timrest_config,
    cert_pem: *const u8,
    cert_pem_len: usize,
    key_pem: *const u8,
    key_pem_len: usize,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_rate_limit_client_cert_pem", config, |b| {
            let cert = pem_arg("cert_pem", cert_pem, cert_pem_len)?;
            let key = pem_arg("key_pem", key_pem, key_pem_len)?;
            Ok(b.rate_limit_client_cert_pem(cert).rate_limit_client_key_pem(String::from_utf8_lossy(&key).into_owned()))
        })
    }
}

/// What happens while the shared limiter (Redis) does not answer within its timeout: `local`
/// (the default: this client paces alone at its share of the rate: the rate divided by the
/// clients last seen in Redis, at most the fallback fraction), `fail` (calls wait for Redis and
/// fail with `TIMREST_LIMITER` at their deadline) or `open` (no limit). `TIMREST_CONFIG` for
/// any other name (the config is left unchanged).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_rate_limit_fallback(
    config: *mut timrest_config,
    fallback: *const c_char,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_rate_limit_fallback", config, |b| {
            let fallback: RateLimitFallback = boundary::str_arg("fallback", fallback)?.parse()?;
            Ok(b.rate_limit_fallback(fallback))
        })
    }
}

/// The share of the rate the `local` fallback paces at, more than 0 and at most 1 (default 0.25;
/// checked by `timrest_client_new`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_rate_limit_fallback_fraction(
    config: *mut timrest_config,
    fraction: f64,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_rate_limit_fallback_fraction", config, |b| {
            Ok(b.rate_limit_fallback_fraction(fraction))
        })
    }
}

/// How long the shared limiter may take to answer, in milliseconds (default 50; 1 to 10000,
/// checked by `timrest_client_new`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_rate_limit_timeout_ms(
    config: *mut timrest_config,
    milliseconds: u64,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_rate_limit_timeout_ms", config, |b| {
            Ok(b.rate_limit_timeout(Duration::from_millis(milliseconds)))
        })
    }
}

/// The first part of the shared limiter's Redis keys (default `timrest`; 1 to 64 characters, no
/// spaces or braces, checked by `timrest_client_new`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_rate_limit_prefix(
    config: *mut timrest_config,
    prefix: *const c_char,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_rate_limit_prefix", config, |b| {
            Ok(b.rate_limit_prefix(boundary::str_arg("prefix", prefix)?))
        })
    }
}

/// Whose clock the shared limiter reads: `redis` (the default: Redis `TIME`, one clock for the
/// fleet) or `local` (this host's clock, for services that refuse `TIME` in scripts).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_rate_limit_clock(
    config: *mut timrest_config,
    clock: *const c_char,
) -> timrest_status {
    unsafe {
        update("timrest_config_set_rate_limit_clock", config, |b| {
            let clock: RateLimitClock = boundary::str_arg("clock", clock)?.parse()?;
            Ok(b.rate_limit_clock(clock))
        })
    }
}

/// Whether a rate-limit answer from the server slows the client (with Redis, the fleet) down
/// (default true).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_config_set_rate_limit_adaptive(
    config: *mut timrest_config,
    enabled: bool,
) -> timrest_status {
    unsafe { update("timrest_config_set_rate_limit_adaptive", config, |b| Ok(b.rate_limit_adaptive(enabled))) }
}

#[cfg(test)]
mod tests {
    use std::ptr;

    use super::*;
    use crate::ffi::status::timrest_status::*;

    #[test]
    fn setters_fill_the_builder_and_bad_input_leaves_it_unchanged() {
        let mut config = ptr::null_mut();
        unsafe {
            assert_eq!(timrest_config_new(&mut config), TIMREST_OK);
            assert_eq!(timrest_config_set_sdkappid(config, 1400000000), TIMREST_OK);
            assert_eq!(timrest_config_set_secret_key(config, c"key".as_ptr()), TIMREST_OK);
            assert_eq!(timrest_config_set_region(config, c"Silicon_Valley".as_ptr()), TIMREST_OK);
            assert_eq!(timrest_config_set_region(config, c"mars".as_ptr()), TIMREST_CONFIG);
            assert_eq!(timrest_config_set_identifier(config, ptr::null()), TIMREST_NULL_ARGUMENT);
            assert_eq!(timrest_config_set_identifier(config, c"ad\xffmin".as_ptr()), TIMREST_INVALID_UTF8);
            assert_eq!(timrest_config_set_max_retries(config, 0), TIMREST_OK);
            assert_eq!(timrest_config_set_no_rate_limit(config), TIMREST_OK);
            assert_eq!(timrest_config_set_timeout_ms(config, 1500), TIMREST_OK);
            assert_eq!(timrest_config_set_ca_pem(config, ptr::null(), 3), TIMREST_NULL_ARGUMENT);
            let built = (*config).builder.clone().into_config();
            let built = built.map_err(|e| e.to_string());
            let built = match built {
                Ok(c) => c,
                Err(e) => panic!("config did not build: {e}"),
            };
            assert_eq!(built.base_url, "https://adminapiusa.im.qcloud.com");
            assert_eq!(built.identifier, "administrator");
            assert_eq!(built.max_retries, 0);
            assert_eq!(built.rate_limit, None);
            assert_eq!(built.timeout, Duration::from_millis(1500));
            timrest_config_free(config);
            timrest_config_free(ptr::null_mut());
        }
    }

    #[test]
    fn null_handles_and_out_parameters_give_a_status() {
        unsafe {
            assert_eq!(timrest_config_new(ptr::null_mut()), TIMREST_NULL_ARGUMENT);
            assert_eq!(timrest_config_set_sdkappid(ptr::null_mut(), 1), TIMREST_NULL_ARGUMENT);
            assert_eq!(timrest_config_set_no_rate_limit(ptr::null_mut()), TIMREST_NULL_ARGUMENT);
            assert_eq!(timrest_config_from_env(ptr::null_mut(), ptr::null_mut()), TIMREST_NULL_ARGUMENT);
        }
    }
}
