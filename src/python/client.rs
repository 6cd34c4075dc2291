//! `timrest.Client`: a frozen Python class over the shared, `Send + Sync` Rust client.
//!
//! Every network wait runs inside `py.detach`, so other Python threads run meanwhile and one
//! client can be shared by many threads.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use super::errors::IntoPyResult;
use super::json;
use crate::config::Auth;
use crate::purge::{PurgeOptions, PurgePlan};
use crate::{ClientBuilder, DeleteBySender, Region};

/// What `timrest._progress.reporter(progress)` makes of a `progress=` argument (None: no reporting).
pub(crate) fn reporter<'py>(
    py: Python<'py>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    match progress {
        Some(p) => Ok(Some(py.import("timrest._progress")?.call_method1("reporter", (p,))?).filter(|r| !r.is_none())),
        None => Ok(None),
    }
}

/// What `Client.purge_sender` would do: the deletions, and the groups it would leave alone.
#[pyclass(frozen, module = "timrest._native", name = "PurgePlan")]
pub(crate) struct PyPurgePlan {
    /// The account whose messages would go.
    #[pyo3(get)]
    sender: String,
    /// `(group_id, sender, topic_id)` per deletion (`topic_id` None for the group itself), in
    /// listing order: the items `delete_many` takes.
    #[pyo3(get)]
    items: Py<PyList>,
    /// `(group_id, group_type)` of each group whose type keeps no history.
    #[pyo3(get)]
    skipped: Py<PyList>,
}

impl PyPurgePlan {
    pub(crate) fn new(py: Python<'_>, sender: &str, plan: PurgePlan) -> PyResult<PyPurgePlan> {
        let items = PyList::empty(py);
        for item in plan.items {
            items.append((item.group_id, item.sender, item.topic_id))?;
        }
        let skipped = PyList::empty(py);
        for group in plan.skipped {
            skipped.append((group.group_id, group.group_type))?;
        }
        Ok(PyPurgePlan { sender: sender.to_owned(), items: items.unbind(), skipped: skipped.unbind() })
    }
}

#[pymethods]
impl PyPurgePlan {
    /// The number of deletions.
    fn __len__(&self, py: Python<'_>) -> usize {
        self.items.bind(py).len()
    }

    /// The groups the deletions reach (each group once, topics or not).
    #[getter]
    fn groups(&self, py: Python<'_>) -> PyResult<usize> {
        let mut seen = std::collections::HashSet::new();
        for item in self.items.bind(py).iter() {
            let (group, _, _): (String, String, Option<String>) = item.extract()?;
            seen.insert(group);
        }
        Ok(seen.len())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "PurgePlan(sender={:?}, items={}, groups={}, skipped={})",
            self.sender,
            self.items.bind(py).len(),
            self.groups(py)?,
            self.skipped.bind(py).len()
        ))
    }
}

/// What a successful call cost: the `random` of the attempt that succeeded, the number of
/// requests sent, and the time spent in seconds (waits and retries included).
#[pyclass(frozen, module = "timrest._native", name = "CallInfo")]
pub(crate) struct PyCallInfo {
    /// The `random` query parameter of the attempt that succeeded.
    #[pyo3(get)]
    random: u32,
    /// Requests sent (1 when the first attempt succeeded).
    #[pyo3(get)]
    attempts: u32,
    /// Seconds spent, waits and retries included.
    #[pyo3(get)]
    elapsed: f64,
}

impl From<crate::CallInfo> for PyCallInfo {
    fn from(info: crate::CallInfo) -> PyCallInfo {
        PyCallInfo { random: info.random, attempts: info.attempts, elapsed: info.elapsed.as_secs_f64() }
    }
}

#[pymethods]
impl PyCallInfo {
    fn __repr__(&self) -> String {
        format!("CallInfo(random={}, attempts={}, elapsed={:.6})", self.random, self.attempts, self.elapsed)
    }
}

/// A TIM REST client. Thread-safe: share one client between threads (the rate limiter and the
/// connection pool are shared too); create it after `fork()`, not before.
///
/// Give `secret_key` (the client signs and renews its own UserSigs) or a ready `usersig`, not
/// both; bad settings raise `ConfigError` and nothing is sent. Every keyword:
///
/// - `sdkappid`: the app's SDKAppID (required);
/// - `secret_key`: the app's secret key;
/// - `usersig`: a ready UserSig for `identifier` (it cannot be renewed);
/// - `identifier`: the App admin account the calls are made as;
/// - `region`: `"china"`, `"singapore"`, `"seoul"`, `"tokyo"`, `"frankfurt"`, `"mumbai"`,
///   `"silicon-valley"` or `"jakarta"` (ignored when `base_url` is given);
/// - `base_url`: any server (`https://...`; plain `http://` only on loopback, e.g. the emulator);
/// - `timeout`: seconds per attempt; `connect_timeout`: seconds to connect; `deadline`: seconds
///   for one call across all its attempts and waits;
/// - `max_retries`: retries after the first attempt (retryable errors only);
/// - `rate_limit`: requests per second for each command, shared by every call of this client
///   (None: no limiter);
/// - `rate_limit_url`: share the rate limit with every client, in any process or host, that names
///   the same Redis: `redis://[user:password@]host:port/db` (one node),
///   `redis+cluster://[user:password@]host:port[,host:port...]` (a Cluster) or
///   `redis+sentinel://[user:password@]host:port[,host:port...]/service_name` (the master that
///   Sentinel names); `rediss...` for TLS;
/// - `rate_limit_ca_pem`: PEM root certificates (str or bytes) the limiter's TLS trusts instead
///   of the platform's; `rate_limit_client_cert_pem` and `rate_limit_client_key_pem`: a client
///   certificate and its key for mutual TLS (the key is never shown);
/// - `rate_limit_fallback`: while Redis does not answer, `"local"` (pace this process alone at
///   `rate_limit_fallback_fraction` of the rate), `"fail"` (raise `LimiterError`) or `"open"`;
/// - `rate_limit_timeout`: seconds Redis may take to answer; `rate_limit_prefix`: the first part
///   of the Redis keys; `rate_limit_clock`: `"redis"` (Redis `TIME`) or `"local"` (this host's
///   clock); `rate_limit_adaptive`: slow down when the server still answers with a rate-limit code;
/// - `usersig_ttl`: validity in seconds of the UserSigs it signs;
/// - `proxy`: a proxy URL (`http://`, `socks5://`; default `HTTPS_PROXY`/`ALL_PROXY`);
/// - `ca_pem`: PEM root certificates (bytes) to trust instead of the bundled ones;
/// - `platform_verifier`: use the operating system's certificate verifier instead;
/// - `on_event`: a callable, or a list of them, that gets a `timrest.Event` for each step of each
///   call (limiter waits, attempts, calls, fallbacks …), on the thread of the step.
///
/// `Client.from_env()` takes `sdkappid`, the credentials, `identifier`, `region`, `base_url`,
/// `rate_limit_url`, `rate_limit_fallback` and the limiter's PEM files from the `TIM_*`
/// environment variables instead.
#[pyclass(frozen, module = "timrest._native", name = "Client")]
pub(crate) struct PyClient {
    inner: crate::Client,
    /// Whether it has `on_event` hooks: then bulk calls carry their caller's context to them.
    observed: bool,
}

/// Seconds (a Python float) as a `Duration`; negative, NaN or huge values are configuration errors.
fn seconds(name: &str, value: f64) -> crate::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| crate::Error::config(format!("{name} must be a number of seconds >= 0, not {value}")))
}

/// An integer setting (`sdkappid`, `max_retries`, `usersig_ttl`) taken as any Python int: one that
/// does not fit is a configuration error naming the setting, not a bare `OverflowError`.
fn whole<T: TryFrom<i128> + std::fmt::Display + num_bounds::Bounded>(
    name: &str,
    value: &Bound<'_, PyAny>,
) -> PyResult<Result<T, crate::Error>> {
    let out_of_range =
        || crate::Error::config(format!("{name} must be an integer from {} to {}, not {value}", T::MIN, T::MAX));
    // Not an int at all (a str, a float): TypeError, as Python does for wrong types.
    let as_int = value.cast::<pyo3::types::PyInt>().map_err(|_| {
        let type_name = value.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string());
        pyo3::exceptions::PyTypeError::new_err(format!("{name} must be an int, not {type_name}"))
    })?;
    Ok(match as_int.extract::<i128>() {
        Ok(n) => T::try_from(n).map_err(|_| out_of_range()),
        Err(_) => Err(out_of_range()),
    })
}

/// The bounds of the integer types of the settings (for the message).
mod num_bounds {
    pub(super) trait Bounded {
        const MIN: Self;
        const MAX: Self;
    }
    impl Bounded for u32 {
        const MIN: u32 = u32::MIN;
        const MAX: u32 = u32::MAX;
    }
    impl Bounded for u64 {
        const MIN: u64 = u64::MIN;
        const MAX: u64 = u64::MAX;
    }
}

#[allow(clippy::too_many_arguments)]
fn builder(
    sdkappid: u64,
    secret_key: Option<String>,
    usersig: Option<String>,
    identifier: String,
    region: &str,
    base_url: Option<String>,
    timeout: f64,
    connect_timeout: f64,
    deadline: f64,
    max_retries: u32,
    rate_limit: Option<f64>,
    usersig_ttl: u64,
    proxy: Option<String>,
    ca_pem: Option<Vec<u8>>,
    platform_verifier: bool,
    shared: SharedLimit,
) -> crate::Result<ClientBuilder> {
    let mut b = ClientBuilder::new()
        .sdkappid(sdkappid)
        .identifier(identifier)
        .region(region.parse::<Region>()?)
        .timeout(seconds("timeout", timeout)?)
        .connect_timeout(seconds("connect_timeout", connect_timeout)?)
        .deadline(seconds("deadline", deadline)?)
        .max_retries(max_retries)
        .rate_limit(rate_limit)
        .usersig_ttl(Duration::from_secs(usersig_ttl))
        .platform_verifier(platform_verifier);
    if let Some(key) = secret_key {
        b = b.secret_key(key);
    }
    if let Some(sig) = usersig {
        b = b.usersig(sig);
    }
    if let Some(url) = base_url {
        b = b.base_url(url);
    }
    if let Some(proxy) = proxy {
        b = b.proxy(proxy);
    }
    if let Some(pem) = ca_pem {
        b = b.ca_pem(pem);
    }
    if let Some(url) = shared.url {
        b = b.rate_limit_url(url);
    }
    if let Some(ca) = shared.ca_pem {
        b = b.rate_limit_ca_pem(ca);
    }
    if let Some(cert) = shared.client_cert_pem {
        b = b.rate_limit_client_cert_pem(cert);
    }
    if let Some(key) = shared.client_key_pem {
        b = b.rate_limit_client_key_pem(String::from_utf8_lossy(&key).into_owned());
    }
    Ok(b.rate_limit_fallback(shared.fallback.parse()?)
        .rate_limit_fallback_fraction(shared.fallback_fraction)
        .rate_limit_timeout(seconds("rate_limit_timeout", shared.timeout)?)
        .rate_limit_prefix(shared.prefix)
        .rate_limit_clock(shared.clock.parse()?)
        .rate_limit_adaptive(shared.adaptive))
}

/// One keyword of `Client.from_env(**settings)` applied over the environment's builder.
fn override_setting(py: Python<'_>, b: ClientBuilder, key: &str, value: &Bound<'_, PyAny>) -> PyResult<ClientBuilder> {
    if value.is_none() {
        return Ok(if key == "rate_limit" { b.rate_limit(None) } else { b });
    }
    let text = || value.extract::<String>();
    let secs = |name: &str| -> PyResult<Duration> { seconds(name, value.extract()?).into_py_result(py) };
    let required_pem = |name: &str| -> PyResult<Vec<u8>> { Ok(pem(name, Some(value))?.unwrap_or_default()) };
    Ok(match key {
        "sdkappid" => b.sdkappid(whole::<u64>(key, value)?.into_py_result(py)?),
        "secret_key" => b.secret_key(text()?),
        "usersig" => b.usersig(text()?),
        "identifier" => b.identifier(text()?),
        "region" => b.region(text()?.parse::<Region>().into_py_result(py)?),
        "base_url" => b.base_url(text()?),
        "timeout" => b.timeout(secs(key)?),
        "connect_timeout" => b.connect_timeout(secs(key)?),
        "deadline" => b.deadline(secs(key)?),
        "max_retries" => b.max_retries(whole::<u32>(key, value)?.into_py_result(py)?),
        "rate_limit" => b.rate_limit(Some(value.extract()?)),
        "usersig_ttl" => b.usersig_ttl(Duration::from_secs(whole::<u64>(key, value)?.into_py_result(py)?)),
        "proxy" => b.proxy(text()?),
        "ca_pem" => b.ca_pem(required_pem(key)?),
        "platform_verifier" => b.platform_verifier(value.extract()?),
        "rate_limit_url" => b.rate_limit_url(text()?),
        "rate_limit_fallback" => b.rate_limit_fallback(text()?.parse().into_py_result(py)?),
        "rate_limit_fallback_fraction" => b.rate_limit_fallback_fraction(value.extract()?),
        "rate_limit_timeout" => b.rate_limit_timeout(secs(key)?),
        "rate_limit_prefix" => b.rate_limit_prefix(text()?),
        "rate_limit_clock" => b.rate_limit_clock(text()?.parse().into_py_result(py)?),
        "rate_limit_adaptive" => b.rate_limit_adaptive(value.extract()?),
        "rate_limit_ca_pem" => b.rate_limit_ca_pem(required_pem(key)?),
        "rate_limit_client_cert_pem" => b.rate_limit_client_cert_pem(required_pem(key)?),
        "rate_limit_client_key_pem" => {
            b.rate_limit_client_key_pem(String::from_utf8_lossy(&required_pem(key)?).into_owned())
        }
        other => {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "from_env() got an unexpected keyword argument '{other}'"
            )));
        }
    })
}

/// The shared limiter's keywords.
struct SharedLimit {
    url: Option<String>,
    fallback: String,
    fallback_fraction: f64,
    timeout: f64,
    prefix: String,
    clock: String,
    adaptive: bool,
    ca_pem: Option<Vec<u8>>,
    client_cert_pem: Option<Vec<u8>>,
    client_key_pem: Option<Vec<u8>>,
}

/// A PEM setting given as `str` or `bytes`.
fn pem(name: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<u8>>> {
    let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(None) };
    if value.is_instance_of::<pyo3::types::PyString>() {
        return Ok(Some(value.extract::<String>()?.into_bytes()));
    }
    if let Ok(bytes) = value.cast::<pyo3::types::PyBytes>() {
        return Ok(Some(bytes.as_bytes().to_vec()));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "{name} must be PEM text (str or bytes), not {}",
        value.get_type().name()?
    )))
}

impl PyClient {
    /// Builds the core client, with the hooks as its observer.
    fn build(py: Python<'_>, b: ClientBuilder, observer: Option<super::observe::PyObserver>) -> PyResult<PyClient> {
        let observed = observer.is_some();
        let b = match observer {
            Some(observer) => b.observer(observer),
            None => b,
        };
        let inner = py.detach(|| b.build()).into_py_result(py)?;
        Ok(PyClient { inner, observed })
    }

    /// The core client (shared with an `AsyncClient` built on this one).
    pub(crate) fn core(&self) -> &crate::Client {
        &self.inner
    }

    /// Whether it has `on_event` hooks (then each call carries its caller's context to them).
    pub(crate) fn observed(&self) -> bool {
        self.observed
    }

    /// Runs `f` (a bulk method) so that the hooks of its calls run in the context current here.
    fn bulk<R>(&self, py: Python<'_>, f: impl FnOnce() -> R) -> R {
        super::observe::in_caller_context(super::observe::caller_context(py, self.observed()), f)
    }
}

#[pymethods]
impl PyClient {
    #[new]
    #[pyo3(signature = (
        sdkappid, *, secret_key=None, usersig=None, identifier="administrator", region="china",
        base_url=None, timeout=10.0, connect_timeout=5.0, deadline=30.0, max_retries=None, rate_limit=Some(100.0),
        usersig_ttl=None, proxy=None, ca_pem=None, platform_verifier=false, rate_limit_url=None,
        rate_limit_fallback="local".to_owned(), rate_limit_fallback_fraction=crate::Defaults::RATE_LIMIT_FALLBACK_FRACTION,
        rate_limit_timeout=crate::Defaults::RATE_LIMIT_TIMEOUT.as_secs_f64(),
        rate_limit_prefix=crate::Defaults::RATE_LIMIT_PREFIX.to_owned(), rate_limit_clock="redis".to_owned(),
        rate_limit_adaptive=true, rate_limit_ca_pem=None, rate_limit_client_cert_pem=None,
        rate_limit_client_key_pem=None, on_event=None,
    ))]
    #[pyo3(text_signature = "(sdkappid, *, secret_key=None, usersig=None, identifier='administrator', \
        region='china', base_url=None, timeout=10.0, connect_timeout=5.0, deadline=30.0, max_retries=3, \
        rate_limit=100.0, usersig_ttl=86400, proxy=None, ca_pem=None, platform_verifier=False, \
        rate_limit_url=None, rate_limit_fallback='local', rate_limit_fallback_fraction=0.25, \
        rate_limit_timeout=0.05, rate_limit_prefix='timrest', rate_limit_clock='redis', rate_limit_adaptive=True, \
        rate_limit_ca_pem=None, rate_limit_client_cert_pem=None, rate_limit_client_key_pem=None, on_event=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        sdkappid: &Bound<'_, PyAny>,
        secret_key: Option<String>,
        usersig: Option<String>,
        identifier: &str,
        region: &str,
        base_url: Option<String>,
        timeout: f64,
        connect_timeout: f64,
        deadline: f64,
        max_retries: Option<&Bound<'_, PyAny>>,
        rate_limit: Option<f64>,
        usersig_ttl: Option<&Bound<'_, PyAny>>,
        proxy: Option<String>,
        ca_pem: Option<Vec<u8>>,
        platform_verifier: bool,
        rate_limit_url: Option<String>,
        rate_limit_fallback: String,
        rate_limit_fallback_fraction: f64,
        rate_limit_timeout: f64,
        rate_limit_prefix: String,
        rate_limit_clock: String,
        rate_limit_adaptive: bool,
        rate_limit_ca_pem: Option<&Bound<'_, PyAny>>,
        rate_limit_client_cert_pem: Option<&Bound<'_, PyAny>>,
        rate_limit_client_key_pem: Option<&Bound<'_, PyAny>>,
        on_event: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClient> {
        let sdkappid = whole::<u64>("sdkappid", sdkappid)?.into_py_result(py)?;
        // (None stands for the defaults, which the text signature shows: 3 and 86400.)
        let max_retries = match max_retries {
            Some(n) => whole::<u32>("max_retries", n)?.into_py_result(py)?,
            None => crate::Defaults::MAX_RETRIES,
        };
        let usersig_ttl = match usersig_ttl {
            Some(n) => whole::<u64>("usersig_ttl", n)?.into_py_result(py)?,
            None => crate::Defaults::USERSIG_TTL,
        };
        let b = builder(
            sdkappid,
            secret_key,
            usersig,
            identifier.to_owned(),
            region,
            base_url,
            timeout,
            connect_timeout,
            deadline,
            max_retries,
            rate_limit,
            usersig_ttl,
            proxy,
            ca_pem,
            platform_verifier,
            SharedLimit {
                url: rate_limit_url,
                fallback: rate_limit_fallback,
                fallback_fraction: rate_limit_fallback_fraction,
                timeout: rate_limit_timeout,
                prefix: rate_limit_prefix,
                clock: rate_limit_clock,
                adaptive: rate_limit_adaptive,
                ca_pem: pem("rate_limit_ca_pem", rate_limit_ca_pem)?,
                client_cert_pem: pem("rate_limit_client_cert_pem", rate_limit_client_cert_pem)?,
                client_key_pem: pem("rate_limit_client_key_pem", rate_limit_client_key_pem)?,
            },
        )
        .into_py_result(py)?;
        PyClient::build(py, b, super::observe::PyObserver::from_arg(on_event)?)
    }

    /// A client from the environment: `TIM_SDKAPPID` (required), `TIM_SECRET_KEY` or
    /// `TIM_USERSIG`, `TIM_IDENTIFIER`, `TIM_REGION`, `TIM_BASE_URL`, `TIM_RATE_LIMIT_URL`,
    /// `TIM_RATE_LIMIT_FALLBACK`, and `TIM_RATE_LIMIT_CA_PEM`, `TIM_RATE_LIMIT_CLIENT_CERT_PEM`,
    /// `TIM_RATE_LIMIT_CLIENT_KEY_PEM` (paths of PEM files). A variable that is set but empty is
    /// a `ConfigError` naming it; a missing required one is named too.
    ///
    /// Keywords override what the environment says, with the constructor's names and types:
    /// `Client.from_env(rate_limit=50, timeout=5.0)`. A keyword given as None keeps the
    /// environment's value (or the default), except `rate_limit=None`, which means no limiter.
    #[staticmethod]
    #[pyo3(signature = (**settings))]
    fn from_env(py: Python<'_>, settings: Option<&Bound<'_, PyDict>>) -> PyResult<PyClient> {
        let mut b = crate::ClientBuilder::from_env().into_py_result(py)?;
        let mut observer = None;
        if let Some(settings) = settings {
            for (key, value) in settings.iter() {
                let key = key.extract::<String>()?;
                if key == "on_event" {
                    observer = super::observe::PyObserver::from_arg(Some(&value))?;
                } else {
                    b = override_setting(py, b, &key, &value)?;
                }
            }
        }
        PyClient::build(py, b, observer)
    }

    /// Deletes the messages `sender` sent among the latest 1000 of `group_id` (inside `topic_id`
    /// when given). Returns None; raises a `timrest.TimError` subclass on failure.
    #[pyo3(signature = (group_id, sender, topic_id=None))]
    fn delete_group_msg_by_sender(
        &self,
        py: Python<'_>,
        group_id: String,
        sender: String,
        topic_id: Option<String>,
    ) -> PyResult<()> {
        self.delete_by_sender(py, group_id, sender, topic_id).map(|_| ())
    }

    /// Like `delete_group_msg_by_sender`, but returns the `CallInfo` of the call (its `random`,
    /// attempts and elapsed time).
    #[pyo3(signature = (group_id, sender, topic_id=None))]
    fn delete_by_sender(
        &self,
        py: Python<'_>,
        group_id: String,
        sender: String,
        topic_id: Option<String>,
    ) -> PyResult<PyCallInfo> {
        let mut request = DeleteBySender::new(group_id, sender);
        if let Some(topic) = topic_id {
            request = request.topic(topic);
        }
        let client = &self.inner;
        super::logger::detach(py, || client.delete_by_sender(&request)).into_py_result(py).map(PyCallInfo::from)
    }

    /// Deletes by sender for every item of `items`, `concurrency` (1 to 1024) at a time, sharing this client's
    /// rate limiter and retries, and returns a `BatchReport` (one `ItemResult` per item, in input order).
    ///
    /// `items`: any iterable, read lazily (one item when a worker is free), of `(group_id, sender)`,
    /// `(group_id, sender, topic_id)` or dicts `{"group_id": ..., "sender": ..., "topic_id": ...}`
    /// (`topic_id` optional; other keys are refused). A malformed item fails alone, with
    /// `InvalidArgumentError`. Failures do not stop the batch unless `stop_on_error`.
    /// `progress`: True for a bar (`tqdm.auto` when tqdm is installed: the widget in Jupyter; a
    /// counter on stderr otherwise), or a callable: `f(done, total)` when it takes two positional
    /// arguments (`total` is None when `items` has no `len()`), else `f(timrest.Progress(done, ok,
    /// failed, total))`.
    /// `on_result`: a callable taking one `ItemResult`, called as each item finishes (in the
    /// order items finish), exactly once per item, on the thread that called `delete_many`: the
    /// place to persist outcomes as they come, so that a crash loses only the items in flight.
    /// If it raises, scheduling stops, the in-flight items finish (and are still handed to it),
    /// and `delete_many` raises that exception with the partial `BatchReport` as its `.report`.
    /// Ctrl-C (KeyboardInterrupt) stops scheduling new items and lets the in-flight ones finish;
    /// `delete_many` then returns normally with the partial report, whose `interrupted` (and
    /// `stopped_early`) is True, rather than raising: check `report.interrupted`.
    ///
    /// `keep_results=False` keeps no `ItemResult` in the report (its `results` is empty; `ok`
    /// and `failed` still count): memory stays bounded whatever the input's size, and each
    /// outcome reaches `on_result` only.
    #[pyo3(signature = (items, *, concurrency=16, progress=None, stop_on_error=false, on_result=None, keep_results=true))]
    #[pyo3(text_signature = "(self, items, *, concurrency=16, progress=False, stop_on_error=False, on_result=None, \
                             keep_results=True)")]
    #[allow(clippy::too_many_arguments)]
    fn delete_many(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        concurrency: usize,
        progress: Option<&Bound<'_, PyAny>>,
        stop_on_error: bool,
        on_result: Option<Bound<'_, PyAny>>,
        keep_results: bool,
    ) -> PyResult<super::batch::PyBatchReport> {
        let reporter = reporter(py, progress)?;
        let skipped = PyList::empty(py);
        let options = crate::batch::BatchOptions { concurrency, stop_on_error, keep_results, abandon: None };
        self.bulk(py, || super::batch::delete_many(py, &self.inner, items, options, reporter, on_result, skipped))
    }

    /// What `purge_sender` would do, without deleting anything: a `PurgePlan` whose `items` are
    /// the `(group_id, sender, topic_id)` deletions (each group the account joined, then each
    /// topic of a topic-enabled Community) and whose `skipped` are the `(group_id, group_type)`
    /// of groups that keep no history. Lists with `get_joined_group_list` (`page_size` groups
    /// per page, 1 to 5000) and `get_topic`; raises the typed error when a listing call fails.
    #[pyo3(signature = (sender, *, group_types=None, include_topics=true, page_size=1000))]
    fn purge_plan(
        &self,
        py: Python<'_>,
        sender: String,
        group_types: Option<Vec<String>>,
        include_topics: bool,
        page_size: u32,
    ) -> PyResult<PyPurgePlan> {
        let options = PurgeOptions { group_types, include_topics, page_size, ..PurgeOptions::default() };
        let client = &self.inner;
        let plan = super::logger::detach(py, || client.purge_plan(&sender, &options)).into_py_result(py)?;
        PyPurgePlan::new(py, &sender, plan)
    }

    /// Deletes what `sender` sent in every group it joined, and in each topic of the
    /// topic-enabled Communities among them: the `purge_plan`, run as `delete_many` runs (same
    /// pool, limiter, retries, `progress`, `on_result`, Ctrl-C). Returns a `BatchReport` whose
    /// `skipped` lists the AVChatRoom and BChatRoom groups left alone. `group_types` keeps only
    /// groups of those types (`"Public"`, `"Private"`/`"Work"`, `"ChatRoom"`/`"Meeting"`,
    /// `"Community"`, ...). A group dissolved after it was listed fails alone with
    /// `GroupNotFoundError`.
    #[pyo3(signature = (sender, *, group_types=None, include_topics=true, concurrency=16, progress=None,
                        stop_on_error=false, on_result=None, page_size=1000))]
    #[pyo3(text_signature = "(self, sender, *, group_types=None, include_topics=True, concurrency=16, \
                             progress=False, stop_on_error=False, on_result=None, page_size=1000)")]
    #[allow(clippy::too_many_arguments)]
    fn purge_sender(
        &self,
        py: Python<'_>,
        sender: String,
        group_types: Option<Vec<String>>,
        include_topics: bool,
        concurrency: usize,
        progress: Option<&Bound<'_, PyAny>>,
        stop_on_error: bool,
        on_result: Option<Bound<'_, PyAny>>,
        page_size: u32,
    ) -> PyResult<super::batch::PyBatchReport> {
        // The batch settings are checked before the listing calls, not after them.
        crate::batch::BatchOptions { concurrency, stop_on_error, ..Default::default() }.check().into_py_result(py)?;
        let plan = self.purge_plan(py, sender, group_types, include_topics, page_size)?;
        let reporter = reporter(py, progress)?;
        let items = plan.items.bind(py).clone();
        let skipped = plan.skipped.bind(py).clone();
        let options = crate::batch::BatchOptions { concurrency, stop_on_error, ..Default::default() };
        self.bulk(py, || {
            super::batch::delete_many(py, &self.inner, items.as_any(), options, reporter, on_result, skipped)
        })
    }

    /// Mutes `account` everywhere (`openconfigsvr/setnospeaking`): one-to-one messages for
    /// `c2c_seconds`, group messages for `group_seconds` (0 lifts the mute, `timrest.PERMANENT`
    /// never ends it, None leaves that one as it is). While the group mute holds, the account's
    /// group messages fail with 10017. Raises `InvalidArgumentError` before sending for a time
    /// over 4294967295 or when both are None.
    #[pyo3(signature = (account, c2c_seconds=Some(crate::moderation::PERMANENT), group_seconds=Some(crate::moderation::PERMANENT)))]
    #[pyo3(text_signature = "(self, account, c2c_seconds=4294967295, group_seconds=4294967295)")]
    fn set_no_speaking(
        &self,
        py: Python<'_>,
        account: String,
        c2c_seconds: Option<u64>,
        group_seconds: Option<u64>,
    ) -> PyResult<()> {
        let client = &self.inner;
        super::logger::detach(py, || client.set_no_speaking(&account, c2c_seconds, group_seconds)).into_py_result(py)
    }

    /// The global mute of `account` (`openconfigsvr/getnospeaking`): a `NoSpeaking` with the
    /// seconds left of each (0: none; `timrest.PERMANENT`: for ever).
    fn get_no_speaking(&self, py: Python<'_>, account: String) -> PyResult<super::moderation::PyNoSpeaking> {
        let client = &self.inner;
        let state = super::logger::detach(py, || client.get_no_speaking(&account)).into_py_result(py)?;
        Ok(state.into())
    }

    /// Ends the login state of `account` (`im_open_login_svc/kick`): its current UserSigs stop
    /// working. A new UserSig logs in again: TIM has no ban, so stop issuing them too.
    fn kick(&self, py: Python<'_>, account: String) -> PyResult<()> {
        let client = &self.inner;
        super::logger::detach(py, || client.kick(&account)).into_py_result(py)
    }

    /// Mutes `members` (a list of 1 to 500 accounts) in one group, or one topic, for
    /// `mute_time` seconds (0 lifts it; `timrest.PERMANENT`). Not for Private (Work) groups.
    #[pyo3(signature = (group_id, members, mute_time, topic_id=None))]
    fn forbid_send_msg(
        &self,
        py: Python<'_>,
        group_id: String,
        members: &Bound<'_, PyAny>,
        mute_time: u64,
        topic_id: Option<String>,
    ) -> PyResult<()> {
        let members = super::moderation::senders_of(members)?;
        let client = &self.inner;
        super::logger::detach(py, || client.forbid_send_msg(&group_id, &members, mute_time, topic_id.as_deref()))
            .into_py_result(py)
    }

    /// Removes `members` (a list of 1 to 100 accounts) from a group; with `silence` only they
    /// are told. Non-members are no error; an AVChatRoom answers 10004 (`InvalidParameterError`).
    #[pyo3(signature = (group_id, members, silence=true, reason=None))]
    fn delete_group_member(
        &self,
        py: Python<'_>,
        group_id: String,
        members: &Bound<'_, PyAny>,
        silence: bool,
        reason: Option<String>,
    ) -> PyResult<()> {
        let members = super::moderation::senders_of(members)?;
        let client = &self.inner;
        super::logger::detach(py, || client.delete_group_member(&group_id, &members, silence, reason.as_deref()))
            .into_py_result(py)
    }

    /// One page of a group's (or topic's) history, newest first: a `HistoryPage` of up to
    /// `req_msg_number` (1 to 20) `HistoryMessage`s with `msg_seq` ≤ `req_msg_seq` (None: from
    /// the newest). The next page asks for the smallest `msg_seq` seen − 1. `with_recalled`
    /// shows deleted and recalled messages as place markers.
    #[pyo3(signature = (group_id, req_msg_number=20, req_msg_seq=None, with_recalled=false, topic_id=None))]
    fn group_msg_get_simple(
        &self,
        py: Python<'_>,
        group_id: String,
        req_msg_number: u32,
        req_msg_seq: Option<u64>,
        with_recalled: bool,
        topic_id: Option<String>,
    ) -> PyResult<super::moderation::PyHistoryPage> {
        let request =
            crate::moderation::HistoryRequest { group_id, req_msg_number, req_msg_seq, with_recalled, topic_id };
        let client = &self.inner;
        let page = super::logger::detach(py, || client.group_msg_get_simple(&request)).into_py_result(py)?;
        super::moderation::PyHistoryPage::new(py, page)
    }

    /// Recalls the messages with these sequence numbers (1 to 10) from a group or topic. A
    /// recall is **visible** to every client and cannot be undone. Returns one `RecallResult`
    /// per seq, in order, with its own `ret_code` (0: recalled).
    #[pyo3(signature = (group_id, msg_seqs, reason=None, topic_id=None))]
    fn group_msg_recall(
        &self,
        py: Python<'_>,
        group_id: String,
        msg_seqs: Vec<u64>,
        reason: Option<String>,
        topic_id: Option<String>,
    ) -> PyResult<Vec<super::moderation::PyRecallResult>> {
        let client = &self.inner;
        let results = super::logger::detach(py, || {
            client.group_msg_recall(&group_id, &msg_seqs, reason.as_deref(), topic_id.as_deref())
        })
        .into_py_result(py)?;
        Ok(results.into_iter().map(Into::into).collect())
    }

    /// A spam incident in one job: stops `senders` (a list of account IDs), then purges them
    /// from every group they joined, and returns a `JobReport`.
    ///
    /// - `mute`: first mute each account everywhere, permanently (`set_no_speaking`); `kick`:
    ///   also end its login state. An account whose stop step fails is not cleaned.
    /// - Then the plan (`get_joined_group_list`, `get_topic`), written to `report` before any
    ///   write to a group.
    /// - Then per group: `remove` (`delete_group_member`, silent), `delete_group_msg_by_sender`
    ///   in the group and its topics (silent; `include_topics`), and with `deep` one read of the
    ///   history below the latest 1000 for all the accounts, back to `since` (Unix seconds, a
    ///   `datetime`, or a `timedelta` back from now), recalling what it finds: **visible** to
    ///   clients. The commands run side by side, `concurrency` calls in flight per command.
    /// - AVChatRoom/BChatRoom groups and groups dissolved during the job are `skipped`.
    /// - `dry_run`: reads only; each write is a step `planned`, and `recalled` counts what the
    ///   deep pass would recall. `calls` counts every command's calls.
    /// - `report`: a new JSON-lines file, one line per step as it ends; with `resume=True` the
    ///   job goes on from it (only steps not `ok` are done again; the plan comes from it). A
    ///   report that is corrupt or another job's raises `InvalidArgumentError` and is left as it is.
    /// - `progress`, `on_result` (each `StepResult`), Ctrl-C: as for `delete_many`;
    ///   `control`: a `timrest.JobControl` whose `cancel()` stops the job from another thread.
    #[pyo3(signature = (senders, *, mute=false, kick=false, remove=false, deep=false, since=None, dry_run=false,
                        report=None, resume=false, group_types=None, include_topics=true, concurrency=16,
                        progress=None, on_result=None, page_size=1000, control=None))]
    #[pyo3(text_signature = "(self, senders, *, mute=False, kick=False, remove=False, deep=False, since=None, \
                             dry_run=False, report=None, resume=False, group_types=None, include_topics=True, \
                             concurrency=16, progress=False, on_result=None, page_size=1000, control=None)")]
    #[allow(clippy::too_many_arguments)]
    fn purge_senders(
        &self,
        py: Python<'_>,
        senders: &Bound<'_, PyAny>,
        mute: bool,
        kick: bool,
        remove: bool,
        deep: bool,
        since: Option<&Bound<'_, PyAny>>,
        dry_run: bool,
        report: Option<std::path::PathBuf>,
        resume: bool,
        group_types: Option<Vec<String>>,
        include_topics: bool,
        concurrency: usize,
        progress: Option<&Bound<'_, PyAny>>,
        on_result: Option<Bound<'_, PyAny>>,
        page_size: u32,
        control: Option<&Bound<'_, super::moderation::PyJobControl>>,
    ) -> PyResult<Py<super::moderation::PyJobReport>> {
        let options = crate::purge::JobOptions {
            mute,
            kick,
            remove,
            deep,
            dry_run,
            resume,
            group_types,
            include_topics,
            concurrency,
            page_size,
            ..crate::purge::JobOptions::default()
        };
        let args = super::moderation::JobArgs::new(py, senders, options, since, report, progress, on_result, control)?;
        self.bulk(py, || super::moderation::run_job(py, &self.inner, args))
    }

    /// Any REST command: `POST /v4/{service}/{command}` with `body` (a JSON-able dict). Returns the
    /// whole answer as a dict; a nonzero `ErrorCode` raises the typed exception.
    #[pyo3(signature = (service, command, body=None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        service: String,
        command: String,
        body: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body = match body {
            Some(dict) => json::to_value(dict.as_any())?,
            None => serde_json::Value::Object(serde_json::Map::new()),
        };
        let client = &self.inner;
        let (answer, _info) =
            super::logger::detach(py, || client.call(&service, &command, &body)).into_py_result(py)?;
        json::to_py(py, &answer)
    }

    /// The SDKAppID.
    #[getter]
    fn sdkappid(&self) -> u64 {
        self.inner.config().sdkappid
    }

    /// The App admin account the calls are made as.
    #[getter]
    fn identifier(&self) -> &str {
        &self.inner.config().identifier
    }

    /// Where requests go (scheme, host, optional port and path prefix).
    #[getter]
    fn base_url(&self) -> &str {
        &self.inner.config().base_url
    }

    /// `"secret_key"` or `"usersig"`: how the client authenticates (never the secret itself).
    #[getter]
    fn auth(&self) -> &'static str {
        match self.inner.config().auth {
            Auth::SecretKey(_) => "secret_key",
            Auth::UserSig(_) => "usersig",
        }
    }

    /// Per-attempt timeout, in seconds.
    #[getter]
    fn timeout(&self) -> f64 {
        self.inner.config().timeout.as_secs_f64()
    }

    /// Connect timeout, in seconds.
    #[getter]
    fn connect_timeout(&self) -> f64 {
        self.inner.config().connect_timeout.as_secs_f64()
    }

    /// Overall deadline of one call across retries, in seconds.
    #[getter]
    fn deadline(&self) -> f64 {
        self.inner.config().deadline.as_secs_f64()
    }

    /// Retries after the first attempt.
    #[getter]
    fn max_retries(&self) -> u32 {
        self.inner.config().max_retries
    }

    /// Requests per second shared by every call of this client; None: no limiter.
    #[getter]
    fn rate_limit(&self) -> Option<f64> {
        self.inner.config().rate_limit
    }

    /// The shared limiter's Redis URL, without its password (None: this process alone).
    #[getter]
    fn rate_limit_url(&self) -> Option<String> {
        self.inner.config().rate_limit_url.as_ref().map(|u| crate::redact::redact_userinfo(u.expose()))
    }

    /// `"local"`, `"fail"` or `"open"`: what happens while the shared limiter does not answer.
    #[getter]
    fn rate_limit_fallback(&self) -> &'static str {
        self.inner.config().rate_limit_fallback.name()
    }

    /// The rate in force now for `delete_group_msg_by_sender`, requests per second: `rate_limit`,
    /// or less after the server refused requests for their rate (with `rate_limit_url`, the
    /// fleet's rate, read from Redis). None when the limiter is off.
    #[getter]
    fn effective_rate_limit(&self, py: Python<'_>) -> Option<f64> {
        let client = &self.inner;
        py.detach(|| client.effective_rate_limit())
    }

    /// The client's counters since it was built, as a dict: `calls`, `ok`, `failed`,
    /// `failed_by_kind` (kind name → count), `attempts`, `retries`, `rate_limited` (60007/60011
    /// answers), `limiter_wait_seconds` (summed) and `limiter_waits`, `limiter_backend_errors`,
    /// `fallback_active` (1 while the shared limiter is out), `connections_opened`, and
    /// `effective_rate_limit`. Cheap; safe from any thread.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let client = &self.inner;
        let stats = py.detach(|| client.stats());
        super::observe::stats_dict(py, &stats)
    }

    /// Validity of the UserSigs this client signs, in seconds.
    #[getter]
    fn usersig_ttl(&self) -> u64 {
        self.inner.config().usersig_ttl
    }

    /// Shows where and as whom the client works; never a secret.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let c = self.inner.config();
        let quote = |s: &str| PyString::new(py, s).repr().map(|r| r.to_string());
        Ok(format!(
            "timrest.Client(sdkappid={}, identifier={}, base_url={}, auth={})",
            c.sdkappid,
            quote(&c.identifier)?,
            quote(&c.base_url)?,
            quote(self.auth())?
        ))
    }
}
