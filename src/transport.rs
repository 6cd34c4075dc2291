//! The bytes on the wire: the ureq agent of a client, and what we put into ureq's connector
//! chain through its transport API.
//!
//! The chain is ureq's own (SOCKS, HTTP CONNECT proxies, rustls) with two links of ours:
//!
//! - [`TcpLink`] opens the TCP connections and [`Socket`] carries them. It does what ureq's own
//!   TCP transport does with fewer system calls per request: the check that a pooled connection
//!   is still usable is one non-blocking `recv(MSG_PEEK)`, once a request (ureq's switches the
//!   socket to non-blocking mode and back around a read: three calls, twice a request), and the socket
//!   timeouts are set again only when they change by more than [`TIMEOUT_SLACK`] (ureq's
//!   sets both again on every request, since each request's deadline is new).
//! - [`InjectUserSig`], last, puts the UserSig into the request line below ureq's logging and
//!   sends a request's head and body in one write.
//!
//! [`CachingResolver`] keeps the last DNS answer for a while. The measures behind each are in
//! docs/benchmarks.md and in the closing notes of issues 12 and 17.

use std::cell::RefCell;
use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use memchr::memmem::Finder;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, RustlsConnector,
    ShutdownHandle, SocksConnector, Transport,
};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::redact::redact_usersig;

/// One ureq agent per client: the keep-alive pool, TLS roots, proxy, and the client's timeouts
/// (a request that needs shorter ones, near its deadline, sets its own).
pub(crate) fn agent(config: &Config) -> Result<ureq::Agent> {
    use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

    let mut tls = TlsConfig::builder().provider(TlsProvider::Rustls);
    match (&config.ca_pem, config.platform_verifier) {
        (Some(_), true) => return Err(Error::config("give either ca_pem or platform_verifier, not both")),
        (Some(pem), false) => {
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert),
                    Ok(_) => {}
                    Err(e) => return Err(Error::config(format!("ca_pem cannot be read: {e}"))),
                }
            }
            if certs.is_empty() {
                return Err(Error::config("ca_pem holds no PEM certificate"));
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        (None, true) => tls = tls.root_certs(RootCerts::PlatformVerifier),
        (None, false) => tls = tls.root_certs(RootCerts::WebPki),
    }
    let proxy = match &config.proxy {
        Some(url) => Some(ureq::Proxy::new(url).map_err(|_| {
            // The proxy URL may hold credentials: do not quote it.
            Error::config("proxy is not a valid proxy URL (http://, https://, socks4://, socks5://)")
        })?),
        None => proxy_from_env(&config.base_url, |name| std::env::var(name).ok()),
    };
    let agent_config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(config.connect_timeout))
        .timeout_global(Some(config.timeout))
        .tls_config(tls.build())
        .proxy(proxy)
        .user_agent(format!("timrest/{}", env!("CARGO_PKG_VERSION")))
        // No `Accept: */*` line: TIM answers JSON whatever is asked, and each header line is
        // formatted anew on every request.
        .accept("")
        // A redirect of a POST carrying the UserSig is never followed; it is reported as a status.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .max_idle_connections(256)
        .max_idle_connections_per_host(256)
        .build();
    Ok(ureq::Agent::with_parts(agent_config, connector(), CachingResolver::default()))
}

/// The proxy from `HTTPS_PROXY` or `ALL_PROXY` (either case), unless `NO_PROXY` names the host
/// or the host is loopback.
fn proxy_from_env(base_url: &str, var: impl Fn(&str) -> Option<String>) -> Option<ureq::Proxy> {
    let host = host_of(base_url);
    if crate::config::is_loopback(host) {
        return None;
    }
    let value = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .into_iter()
        .find_map(|name| var(name).filter(|v| !v.trim().is_empty()))?;
    let no_proxy = var("NO_PROXY").or_else(|| var("no_proxy")).unwrap_or_default();
    if no_proxy_matches(&no_proxy, host) {
        return None;
    }
    ureq::Proxy::new(value.trim()).ok()
}

/// The `host[:port]` part of a base URL.
fn host_of(base_url: &str) -> &str {
    let rest = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

/// Whether a `NO_PROXY` list (`a.com,.b.com,*.c.com,*`) covers `authority`.
fn no_proxy_matches(no_proxy: &str, authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    }
    .to_ascii_lowercase();
    no_proxy.split(',').map(|e| e.trim().to_ascii_lowercase()).any(|entry| {
        let entry = entry.strip_prefix("*.").map(|s| format!(".{s}")).unwrap_or(entry);
        match entry.as_str() {
            "" => false,
            "*" => true,
            e if e.starts_with('.') => host.ends_with(e) || host == e[1..],
            e => host == e,
        }
    })
}

pub(crate) fn is_timeout(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock),
        _ => false,
    }
}

/// Whether rustls failed because the server's first bytes are not a TLS record (`HTTP/1.1 400 …`).
fn answers_without_tls(e: &ureq::Error) -> bool {
    let tls = match e {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    matches!(tls, Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)))
}

/// Maps a ureq failure to our kinds. Messages are redacted: ureq may quote the URL.
pub(crate) fn from_ureq(e: ureq::Error, timeout: Duration, connect_timeout: Duration) -> Error {
    let text = redact_usersig(&e.to_string());
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect) => {
            Error::new(ErrorKind::Timeout, format!("could not connect within {connect_timeout:?} (connect timeout)"))
        }
        e if is_timeout(&e) => Error::new(
            ErrorKind::Timeout,
            format!("no complete answer within {timeout:?} (per-attempt timeout, cut to the deadline) ({text})"),
        ),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::InvalidProxyUrl | ureq::Error::Pem(_) => {
            Error::new(ErrorKind::Config, format!("cannot make the request: {text}"))
        }
        ureq::Error::HostNotFound => Error::new(ErrorKind::Transport, "host not found (DNS)"),
        // An https:// URL to a plain-HTTP server (the emulator, a local proxy): every attempt would
        // meet the same bytes, so it is the setting that is wrong, and it is not retried.
        e if answers_without_tls(&e) => Error::new(
            ErrorKind::Config,
            "the server does not speak TLS (its answer to the TLS handshake is not a TLS record): \
             for a plain-HTTP server such as the emulator, the base_url starts with http://",
        ),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => Error::new(ErrorKind::Transport, format!("TLS: {text}")),
        ureq::Error::Protocol(_) => {
            Error::new(ErrorKind::Transport, format!("the server's answer is not valid HTTP/1.1: {text}"))
        }
        // Over 64 KiB of headers: no gateway does that by accident, and asking again would get the
        // same. Like a body over the limit, it is not TIM's answer.
        ureq::Error::LargeResponseHeader(..) => {
            Error::new(ErrorKind::Protocol, format!("the server's answer has a head that never ends ({text})"))
        }
        ureq::Error::Io(_) | ureq::Error::ConnectionFailed => {
            Error::new(ErrorKind::Transport, format!("connection failed: {text}"))
        }
        _ => Error::new(ErrorKind::Transport, text),
    }
}

/// ureq's default chain with our TCP link in place of its own, and the UserSig put in last.
fn connector() -> impl Connector {
    ()
        // A SOCKS proxy, when configured, makes the connection itself.
        .chain(SocksConnector::default())
        // An HTTP proxy: a connection to the proxy (made by this same chain), then `CONNECT`.
        .chain(ConnectProxyConnector::default())
        .chain(TcpLink)
        .chain(RustlsConnector::default())
        .chain(InjectUserSig)
}

/// How far a socket's timeout may be from the one a read or write asks for before it is set
/// again. Each request's timeout starts afresh, so without this margin both socket timeouts are
/// set again on every request (two system calls); with it, a wait may end up to this much
/// before or after the request's own time is up.
pub(crate) const TIMEOUT_SLACK: Duration = Duration::from_millis(1);

/// A connector link that opens a TCP connection when no link before it made one (no SOCKS or
/// `CONNECT` proxy), trying the resolved addresses in turn within the connect timeout.
#[derive(Debug)]
pub(crate) struct TcpLink;

thread_local! {
    /// Connections this thread opened since [`take_opened`] last asked: ureq's blocking calls
    /// connect on the caller's thread, so the attempt that needed a connection reads its own.
    static OPENED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// How many connections the calling thread opened since the last time it asked (0 or 1 for an attempt).
pub(crate) fn take_opened() -> u32 {
    OPENED.with(|n| n.replace(0))
}

impl<In: Transport> Connector<In> for TcpLink {
    type Out = Either<In, Socket>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        // ureq asks the chain only when its pool has no connection: either link made a new one.
        if let Some(made) = chained {
            OPENED.with(|n| n.set(n.get() + 1));
            return Ok(Some(Either::A(made)));
        }
        let stream = Arc::new(connect_any(&details.addrs, details.timeout)?);
        OPENED.with(|n| n.set(n.get() + 1));
        if details.config.no_delay() {
            stream.set_nodelay(true)?;
        }
        // So that `Agent::shutdown` can interrupt a blocked read from another thread.
        (details.register_shutdown)(Arc::downgrade(&stream) as Weak<dyn ShutdownHandle>)?;
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(Socket { stream, buffers, read_timeout: None, write_timeout: None, busy: false })))
    }
}

/// Connects to the first of `addrs` that answers. Each address but the last gets half of the
/// time left (at least 10 ms), so that one silent address does not use up the whole budget.
fn connect_any(addrs: &ResolvedSocketAddrs, timeout: NextTimeout) -> Result<TcpStream, ureq::Error> {
    const MIN_PER_ADDRESS: Duration = Duration::from_millis(10);
    let started = Instant::now();
    let budget = timeout.not_zero().map(|d| *d);
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        let attempt = match budget {
            None => TcpStream::connect(addr),
            Some(budget) => {
                let left = budget.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                let share = if i + 1 == addrs.len() { left } else { (left / 2).max(MIN_PER_ADDRESS).min(left) };
                TcpStream::connect_timeout(addr, share)
            }
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                log::trace!(target: "timrest", "connecting to {addr} failed: {e}");
                last = Some(e);
            }
        }
    }
    Err(match last {
        Some(e) => io_error(e, ureq::Timeout::Connect),
        None => ureq::Error::Io(io::Error::new(io::ErrorKind::ConnectionRefused, "no address to connect to")),
    })
}

/// A TCP connection in ureq's pool.
#[derive(Debug)]
pub(crate) struct Socket {
    /// Shared (weakly) with the agent's shutdown handle.
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// The socket's `SO_RCVTIMEO` and `SO_SNDTIMEO` (`None`: none, as a new socket has).
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// Whether bytes went either way since ureq last asked [`Transport::is_open`].
    busy: bool,
}

impl Socket {
    /// Gives the socket the timeout `want` unless the one in force is within [`TIMEOUT_SLACK`].
    fn keep_timeout(&mut self, read: bool, want: Option<Duration>) -> io::Result<()> {
        let slot = if read { &mut self.read_timeout } else { &mut self.write_timeout };
        let close_enough = match (*slot, want) {
            (Some(have), Some(want)) => have.abs_diff(want) <= TIMEOUT_SLACK,
            (have, want) => have == want,
        };
        if !close_enough {
            if read { self.stream.set_read_timeout(want) } else { self.stream.set_write_timeout(want) }?;
            *slot = want;
        }
        Ok(())
    }
}

/// A socket timeout (`EAGAIN` on Linux, `TimedOut` elsewhere) is ureq's `Timeout`.
fn io_error(e: io::Error, reason: ureq::Timeout) -> ureq::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ureq::Error::Timeout(reason),
        _ => ureq::Error::Io(e),
    }
}

impl Transport for Socket {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        if timeout.after.is_zero() {
            return Err(ureq::Error::Timeout(timeout.reason));
        }
        self.keep_timeout(false, timeout.not_zero().map(|d| *d))?;
        self.busy = true;
        let output = &self.buffers.output()[..amount];
        (&*self.stream).write_all(output).map_err(|e| io_error(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        if timeout.after.is_zero() {
            return Err(ureq::Error::Timeout(timeout.reason));
        }
        let want = timeout.not_zero().map(|d| *d);
        self.keep_timeout(true, want)?;
        self.busy = true;
        let started = Instant::now();
        let amount = loop {
            match (&*self.stream).read(self.buffers.input_append_buf()) {
                Ok(n) => break n,
                // A signal: Linux does not restart a read that has a timeout. Wait again for
                // what is left, or give up when nothing is; without a timeout, the caller
                // decides (as for any interrupted read).
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    let Some(want) = want else {
                        return Err(ureq::Error::Io(e));
                    };
                    let left = want.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(ureq::Error::Timeout(timeout.reason));
                    }
                    self.keep_timeout(true, Some(left))?;
                }
                Err(e) => return Err(io_error(e, timeout.reason)),
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    /// Whether the connection can carry another request: no byte is waiting and the server has
    /// not closed it.
    ///
    /// ureq asks twice per request: when the connection goes back to the pool, straight after
    /// the answer (is more waiting?), and when it comes out for the next request (has the server
    /// closed it meanwhile?). The second look sees everything the first would, later, and before
    /// the connection is used; so the first is answered without a system call and only the
    /// second peeks. (`tests/hardening.rs` checks that a connection the server closed while it
    /// sat in the pool is never used.)
    fn is_open(&mut self) -> bool {
        if std::mem::take(&mut self.busy) {
            return true;
        }
        probe(&self.stream)
    }
}

/// One `recv(MSG_PEEK | MSG_DONTWAIT)`: "would block" is the only answer of an open, quiet
/// connection; a byte (unasked-for data), 0 (closed) or an error means do not reuse it.
#[cfg(unix)]
fn probe(stream: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: a valid socket of ours, and a one-byte buffer that lives across the call.
    let n = unsafe { libc::recv(stream.as_raw_fd(), (&raw mut byte).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

/// Elsewhere, what ureq does: a non-blocking read, then blocking again.
#[cfg(not(unix))]
fn probe(stream: &TcpStream) -> bool {
    let mut byte = [0u8];
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let quiet = matches!((&*stream).peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).is_ok() && quiet
}

// Puts the UserSig into the request line on its way to the socket, and nowhere else.
//
// ureq logs request URLs (in full at `trace` level) and quotes them in some errors; a UserSig
// in the URL would end up in log files. So the URL handed to ureq carries `PLACEHOLDER`, and
// the agent's connector chain ends in `InjectUserSig`, a transport wrapper that replaces the
// placeholder in the request line (and only there) with the attempt's UserSig just before the
// bytes are sent, below ureq's logging, above TLS. The UserSig of the attempt is handed over in
// a thread-local variable for the duration of the blocking call (`with_usersig`); without
// one, the placeholder goes out as is and the server refuses it (it never sees a wrong secret).

/// The query parameter as ureq sees it (a syntactically valid value that is not a UserSig).
pub(crate) const PLACEHOLDER: &str = "usersig=timrest-usersig-placeholder&";

thread_local! {
    static CURRENT: RefCell<Option<Rc<str>>> = const { RefCell::new(None) };
    /// The last UserSig this thread put on the wire, and its `usersig=…&` parameter: a
    /// UserSig lives for hours, so encoding it once per signature, not per call, is enough.
    static ENCODED: RefCell<Option<(String, Rc<str>)>> = const { RefCell::new(None) };
}

/// Percent-encodes everything but RFC 3986's unreserved characters (`A-Za-z0-9-._~`) and `*`
/// (which UserSigs use and URLs allow).
pub(crate) fn percent_encode(s: &str) -> std::borrow::Cow<'_, str> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~*".contains(&b);
    // UserSigs and Tencent's names are URL-safe as they are: one scan, no copy.
    if s.bytes().all(unreserved) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The query parameter for `usersig`, encoded once per distinct UserSig on this thread.
fn parameter(usersig: &str) -> Rc<str> {
    ENCODED.with(|cache| {
        let mut cache = cache.borrow_mut();
        match &*cache {
            Some((raw, encoded)) if raw == usersig => encoded.clone(),
            _ => {
                let encoded: Rc<str> = format!("usersig={}&", percent_encode(usersig)).into();
                *cache = Some((usersig.to_owned(), encoded.clone()));
                encoded
            }
        }
    })
}

/// Runs `f` (one blocking request) with `usersig` as the UserSig to put on the wire.
/// Restores what was there before (a logger that itself makes a call, on this thread, while
/// ureq logs, must not take the outer request's UserSig away).
pub(crate) fn with_usersig<R>(usersig: &str, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Rc<str>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let value = parameter(usersig);
    let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(value)));
    f()
}

/// How long [`CachingResolver`] reuses an answer.
const RESOLVE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// ureq resolves the host before every request, even one that then goes out on a pooled
/// connection, and with a timeout set (ours always are) it resolves on a new thread: one
/// thread spawned and joined per call, about half of a call's CPU time on loopback
/// (docs/benchmarks.md). This keeps the last successful answer for [`RESOLVE_TTL`]; failures
/// are not kept.
#[derive(Debug, Default)]
pub(crate) struct CachingResolver {
    inner: DefaultResolver,
    /// `scheme://authority`, when it was resolved, and the addresses.
    last: std::sync::Mutex<Option<(String, std::time::Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (scheme, authority) = (uri.scheme_str().unwrap_or(""), uri.authority().map_or("", |a| a.as_str()));
        // `scheme://authority`, compared without building it: this runs on every request.
        let same = |k: &str| {
            k.len() == scheme.len() + 3 + authority.len()
                && k.starts_with(scheme)
                && k[scheme.len()..].starts_with("://")
                && k.ends_with(authority)
        };
        let now = std::time::Instant::now();
        let lock = || self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((k, at, addrs)) = lock().as_ref()
            && same(k)
            && now.duration_since(*at) < RESOLVE_TTL
        {
            return Ok(addrs.clone());
        }
        let key = format!("{scheme}://{authority}");
        let addrs = self.inner.resolve(uri, config, timeout)?;
        *lock() = Some((key, now, addrs.clone()));
        Ok(addrs)
    }
}

/// The last link of the connector chain: wraps each connection in [`Injecting`].
#[derive(Debug)]
pub(crate) struct InjectUserSig;

impl<In: Transport> Connector<In> for InjectUserSig {
    type Out = Injecting<In>;

    fn connect(&self, _: &ConnectionDetails, chained: Option<In>) -> Result<Option<Injecting<In>>, ureq::Error> {
        Ok(chained.map(|inner| Injecting { inner, held: Vec::new() }))
    }
}

/// A connection that replaces the placeholder in outgoing request lines, and sends a request's
/// head together with its body.
///
/// ureq hands the head and the body over in two writes; sent as they come, the server wakes
/// and reads twice per request (about a third of a loopback call's cost, measured in
/// docs/benchmarks.md). So a complete request head is held back and goes out with the first
/// body bytes, or before anything is read or awaited (a request without a body), so nothing
/// held can outlive the request.
#[derive(Debug)]
pub(crate) struct Injecting<T> {
    inner: T,
    held: Vec<u8>,
}

impl<T: Transport> Injecting<T> {
    /// Sends the held-back head on its own (nothing followed it).
    fn release(&mut self, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.held.is_empty() {
            return Ok(());
        }
        let n = self.held.len();
        self.inner.buffers().output()[..n].copy_from_slice(&self.held);
        self.held.clear();
        self.inner.transmit_output(n, timeout)
    }
}

impl<T: Transport> Transport for Injecting<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let amount = CURRENT.with(|c| match c.borrow().as_deref() {
            Some(value) => substitute(self.inner.buffers().output(), amount, value.as_bytes()),
            None => amount,
        });
        let out = self.inner.buffers().output();
        let amount = amount.min(out.len());
        if self.held.is_empty() && is_request_head(&out[..amount]) {
            self.held.extend_from_slice(&out[..amount]);
            return Ok(());
        }
        let held = self.held.len();
        if held > 0 && held + amount <= out.len() {
            // Head and body in one write.
            out.copy_within(..amount, held);
            out[..held].copy_from_slice(&self.held);
            self.held.clear();
            return self.inner.transmit_output(held + amount, timeout);
        }
        if held > 0 {
            // No room for both: the head first, then the body.
            let body = out[..amount].to_vec();
            self.release(timeout)?;
            self.inner.buffers().output()[..amount].copy_from_slice(&body);
        }
        self.inner.transmit_output(amount, timeout)
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.release(timeout)?;
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.release(timeout)?;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// Replaces [`PLACEHOLDER`] in the request line at the start of `buf[..amount]` by `value`,
/// moving the rest; returns the new amount. Leaves the buffer alone when it does not start
/// with a request line holding the placeholder, or has no room.
pub(crate) fn substitute(buf: &mut [u8], amount: usize, value: &[u8]) -> usize {
    let amount = amount.min(buf.len());
    // A request line ends in " HTTP/1.1\r\n"; our JSON bodies never hold a raw CR LF.
    let Some(line_end) = CRLF.find(&buf[..amount]) else {
        return amount;
    };
    if !buf[..line_end].ends_with(b" HTTP/1.1") {
        return amount;
    }
    let Some(at) = PLACEHOLDER_AT.find(&buf[..line_end]) else {
        return amount;
    };
    let new_amount = amount - PLACEHOLDER.len() + value.len();
    if new_amount > buf.len() {
        return amount;
    }
    buf.copy_within(at + PLACEHOLDER.len()..amount, at + value.len());
    buf[at..at + value.len()].copy_from_slice(value);
    new_amount
}

/// A whole HTTP/1.1 request head, and nothing after it.
fn is_request_head(bytes: &[u8]) -> bool {
    bytes.starts_with(b"POST ") && bytes.ends_with(b"\r\n\r\n") && HEAD_END.find(bytes) == Some(bytes.len() - 4)
}

// The searchers, built once: building one costs more than the search (about 1,500 instructions
// a request, measured in the closing note of issue 17).
static CRLF: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n"));
static HEAD_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n\r\n"));
static PLACEHOLDER_AT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(PLACEHOLDER.as_bytes()));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usersig_goes_into_the_request_line_only() {
        let head = format!("POST /v4/s/c?a=1&{PLACEHOLDER}random=2 HTTP/1.1\r\nX: {PLACEHOLDER}\r\n\r\n");
        let expected = head.replacen(PLACEHOLDER, "usersig=eJy*-_&", 1);
        let mut buf = head.clone().into_bytes();
        buf.resize(1000, 0);
        let n = substitute(&mut buf, head.len(), b"usersig=eJy*-_&");
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), expected);
        // A longer UserSig moves the rest of the head along.
        let long = format!("usersig={}&", "x".repeat(300));
        let mut buf = head.clone().into_bytes();
        buf.resize(1000, 0);
        let n = substitute(&mut buf, head.len(), long.as_bytes());
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), head.replacen(PLACEHOLDER, &long, 1));
        // No room: left alone (the server then refuses the placeholder).
        let mut tight = head.clone().into_bytes();
        assert_eq!(substitute(&mut tight, head.len(), long.as_bytes()), head.len());
        assert_eq!(tight, head.as_bytes());
        // A body that happens to hold the placeholder is not touched, whatever its lines.
        for body in [
            serde_json::json!({ "text": PLACEHOLDER }).to_string(),
            serde_json::json!({ "text": format!("{PLACEHOLDER} HTTP/1.1\r\n") }).to_string(),
        ] {
            let mut buf = body.clone().into_bytes();
            buf.resize(1000, 0);
            assert_eq!(substitute(&mut buf, body.len(), b"usersig=S&"), body.len());
            assert_eq!(&buf[..body.len()], body.as_bytes());
        }
        assert!(is_request_head(b"POST /x HTTP/1.1\r\nA: b\r\n\r\n"));
        assert!(!is_request_head(b"POST /x HTTP/1.1\r\n\r\n{}\r\n\r\n"));
        assert!(!is_request_head(b"GET /x HTTP/1.1\r\n\r\n"));
    }

    /// A connected pair of loopback sockets: (ours, the peer's).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        (ours, theirs)
    }

    #[test]
    fn the_probe_tells_a_quiet_open_connection_from_one_with_bytes_or_closed() {
        let (ours, mut theirs) = pair();
        assert!(probe(&ours), "open and quiet");
        assert!(probe(&ours), "probing takes nothing away");
        theirs.write_all(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!probe(&ours), "an unasked-for byte");
        let mut byte = [0u8];
        (&ours).read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x", "the byte is still there to read: the probe only peeked");
        assert!(probe(&ours));
        drop(theirs);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!probe(&ours), "closed by the peer");
        // And the socket stayed blocking: a read waits (here: gets the end at once).
        assert_eq!((&ours).read(&mut byte).unwrap(), 0);
    }

    #[test]
    fn socket_timeouts_are_set_only_when_they_move_past_the_slack() {
        let (ours, _theirs) = pair();
        let mut socket = Socket {
            stream: Arc::new(ours),
            buffers: LazyBuffers::new(1024, 1024),
            read_timeout: None,
            write_timeout: None,
            busy: false,
        };
        let ten = Duration::from_secs(10);
        socket.keep_timeout(true, Some(ten)).unwrap();
        assert_eq!(socket.stream.read_timeout().unwrap(), Some(ten));
        // The next request asks for a few microseconds less (or more): left as it is.
        socket.keep_timeout(true, Some(ten - Duration::from_micros(20))).unwrap();
        assert_eq!(socket.stream.read_timeout().unwrap(), Some(ten));
        socket.keep_timeout(true, Some(ten + TIMEOUT_SLACK)).unwrap();
        assert_eq!(socket.stream.read_timeout().unwrap(), Some(ten));
        // Near a deadline the wanted time is shorter by more than the slack: set.
        let short = Duration::from_millis(300);
        socket.keep_timeout(true, Some(short)).unwrap();
        assert_eq!(socket.stream.read_timeout().unwrap(), Some(short));
        socket.keep_timeout(true, None).unwrap();
        assert_eq!(socket.stream.read_timeout().unwrap(), None);
        // The write timeout is its own.
        assert_eq!(socket.stream.write_timeout().unwrap(), None);
        socket.keep_timeout(false, Some(short)).unwrap();
        assert_eq!(socket.stream.write_timeout().unwrap(), Some(short));
        assert_eq!(socket.stream.read_timeout().unwrap(), None);
    }

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches("*", "a.com"));
        assert!(no_proxy_matches("x.org, a.com", "a.com:443"));
        assert!(no_proxy_matches(".qq.com", "console.tim.qq.com"));
        assert!(no_proxy_matches("*.qq.com", "console.tim.qq.com"));
        assert!(no_proxy_matches(".qq.com", "qq.com"));
        assert!(!no_proxy_matches("tim.qq.com", "console.tim.qq.com"));
        assert!(!no_proxy_matches("", "a.com"));
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
        };
        let proxied = env(&[("HTTPS_PROXY", "http://proxy.local:3128")]);
        assert!(proxy_from_env("https://console.tim.qq.com", proxied).is_some());
        assert!(proxy_from_env("http://127.0.0.1:8080", proxied).is_none(), "loopback goes direct");
        let excluded = env(&[("ALL_PROXY", "socks5://p:1080"), ("NO_PROXY", ".qq.com")]);
        assert!(proxy_from_env("https://console.tim.qq.com", excluded).is_none());
        assert!(proxy_from_env("https://adminapikr.im.qcloud.com", excluded).is_some());
        assert!(proxy_from_env("https://console.tim.qq.com", env(&[("HTTP_PROXY", "http://p:1")])).is_none());
    }
}
