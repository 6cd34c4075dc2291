//! Where the shared limiter's Redis is, read from `rate_limit_url`, and how to reach it: one node,
//! a Cluster, or a master found through Sentinel, each with or without TLS. Every part of the
//! work is the `redis` crate's own (its `Client`, `ClusterClient` and `SentinelClient`); this
//! module only reads the URL forms and hands the crate what it needs.
//!
//! | form | what it names |
//! |---|---|
//! | `redis://[user:password@]host:port[/db]` (`rediss://` with TLS) | one node (the crate parses the URL itself) |
//! | `redis+cluster://[user:password@]host:port[,host:port…]` (`rediss+cluster://`) | a Cluster; one reachable node is enough to learn the rest |
//! | `redis+sentinel://[user:password@]host:port[,host:port…]/service_name[/db]` (`rediss+sentinel://`) | the master of `service_name`, as the sentinels name it |
//!
//! In the multi-host forms, the user and password (percent-encoded or not) are those of the Redis
//! nodes, not of the sentinels, as in Celery's and kombu's `sentinel://` URLs.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ::redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConnection};
use ::redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use ::redis::{
    Client as RedisClient, ClientTlsConfig, Connection, ConnectionAddr, ConnectionLike, RedisError, RedisResult,
    TlsCertificates, TlsMode,
};

use crate::error::{Error, Result};

/// The kind of deployment a `rate_limit_url` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One node (`redis://`, `rediss://`).
    Node,
    /// A Cluster (`redis+cluster://`).
    Cluster,
    /// The master of a service, found through sentinels (`redis+sentinel://`).
    Sentinel {
        /// The service (master) name the sentinels watch.
        service: String,
    },
}

/// TLS material for the limiter's connections (PEM).
#[derive(Clone, Default)]
pub(crate) struct TlsFiles {
    /// Roots to trust instead of the platform's.
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// A client certificate and its key, for mutual TLS.
    pub(crate) client: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsFiles {
    fn certificates(&self) -> Option<TlsCertificates> {
        if self.ca_pem.is_none() && self.client.is_none() {
            return None;
        }
        Some(TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| ClientTlsConfig { client_cert: cert.clone(), client_key: key.clone() }),
            root_cert: self.ca_pem.clone(),
        })
    }
}

/// A parsed `rate_limit_url`.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) kind: Kind,
    pub(crate) tls: bool,
    /// The Redis user the URL names (`default` when it names none), for messages.
    pub(crate) user: String,
    /// The password, percent-decoded (so that messages can be scrubbed of it too).
    pub(crate) password: Option<String>,
    nodes: Vec<(String, u16)>,
    db: i64,
    url: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("kind", &self.kind)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

fn decode(part: &str) -> String {
    percent_encoding::percent_decode_str(part).decode_utf8_lossy().into_owned()
}

/// `host:port`, `[v6]:port` or `host` (with `default_port`).
fn host_port(text: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty() || host.contains(['/', '@', ',', ' ']) {
        return None;
    }
    let port = match port {
        None => default_port,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0)?,
    };
    Some((host.to_owned(), port))
}

impl Target {
    /// Reads `url`; `shown` is the same URL with its credentials replaced, for messages.
    pub(crate) fn parse(url: &str, shown: &str) -> Result<Target> {
        const FORMS: &str = "redis://[user:password@]host:port/db, redis+cluster://[user:password@]host:port[,host:port…] \
                             or redis+sentinel://[user:password@]host:port[,host:port…]/service_name (rediss… with TLS)";
        let bad = |why: &str| Error::config(format!("rate_limit_url {shown:?} {why}; expected {FORMS}"));
        let (scheme, rest) = url.trim().split_once("://").ok_or_else(|| bad("has no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let (tls, form) = match scheme.as_str() {
            "redis" => (false, "node"),
            "rediss" => (true, "node"),
            "redis+cluster" => (false, "cluster"),
            "rediss+cluster" => (true, "cluster"),
            "redis+sentinel" => (false, "sentinel"),
            "rediss+sentinel" => (true, "sentinel"),
            _ => return Err(bad("is not a Redis URL")),
        };
        if form == "node" {
            // As the crate reads it (it parses the URL again in `Client::open`).
            let parsed = url::Url::parse(url.trim()).map_err(|e| {
                let hint = if rest.contains('@') {
                    "; a password with /, ?, # or : in it must be percent-encoded (%2F, %3F, %23, %3A)"
                } else {
                    ""
                };
                bad(&format!("is not a valid Redis URL ({e}{hint})"))
            })?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(bad("has no host"));
            }
            let user = decode(parsed.username());
            return Ok(Target {
                kind: Kind::Node,
                tls,
                user: if user.is_empty() { "default".to_owned() } else { user },
                password: parsed.password().map(decode),
                nodes: Vec::new(),
                db: 0,
                url: url.trim().to_owned(),
            });
        }
        // The multi-host forms are not URLs the `url` crate reads (a comma-separated authority):
        // the userinfo ends at the last `@`, so that a raw `/`, `?`, `#` or `@` in a password
        // stays in the password.
        let (userinfo, after) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        if after.contains(['?', '#']) {
            return Err(bad("has a query or fragment (none is read)"));
        }
        let (hosts, path) = after.split_once('/').map_or((after, ""), |(h, p)| (h, p));
        let default_port = if form == "cluster" { 6379 } else { 26379 };
        let mut nodes = Vec::new();
        for part in hosts.split(',') {
            nodes.push(
                host_port(part.trim(), default_port).ok_or_else(|| bad(&format!("has a bad host:port {part:?}")))?,
            );
        }
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(decode(u)), Some(decode(p))),
                None => (Some(decode(info)), None),
            },
        };
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let (kind, db) = if form == "cluster" {
            match segments.next() {
                None | Some("0") => {}
                Some(_) => return Err(bad("names a database; a Cluster has only database 0")),
            }
            (Kind::Cluster, 0)
        } else {
            let service = segments.next().ok_or_else(|| bad("names no service (…/service_name)"))?;
            let db = match segments.next() {
                None => 0,
                Some(d) => d.parse::<i64>().map_err(|_| bad("has a database that is not a number"))?,
            };
            (Kind::Sentinel { service: decode(service) }, db)
        };
        if segments.next().is_some() {
            return Err(bad("has more path than it should"));
        }
        Ok(Target {
            kind,
            tls,
            user: user.filter(|u| !u.is_empty()).unwrap_or_else(|| "default".to_owned()),
            password: password.filter(|p| !p.is_empty()),
            nodes,
            db,
            url: url.trim().to_owned(),
        })
    }

    /// The crate's client for this target (nothing is connected yet).
    pub(crate) fn source(
        &self,
        tls_files: &TlsFiles,
        connect_timeout: Duration,
        timeout: Duration,
        shown: &str,
    ) -> Result<Source> {
        let certs = tls_files.certificates();
        if certs.is_some() && !self.tls {
            return Err(Error::config(format!(
                "rate_limit_url {shown:?} is not a TLS URL, but TLS certificates were given (rate_limit_ca_pem, \
                 rate_limit_client_cert_pem): use rediss://, rediss+cluster:// or rediss+sentinel://"
            )));
        }
        let config = |e: RedisError| {
            Error::config(format!("rate_limit_url {shown:?} or its TLS settings were refused by the redis crate: {e}"))
        };
        let username = (self.user != "default").then(|| self.user.clone());
        match &self.kind {
            Kind::Node => {
                let client = match certs {
                    Some(certs) => RedisClient::build_with_tls(self.url.as_str(), certs),
                    None => RedisClient::open(self.url.as_str()),
                }
                .map_err(config)?;
                Ok(Source::Node(client))
            }
            Kind::Cluster => {
                let scheme = if self.tls { "rediss" } else { "redis" };
                let nodes: Vec<String> =
                    self.nodes
                        .iter()
                        .map(|(h, p)| {
                            if h.contains(':') {
                                format!("{scheme}://[{h}]:{p}")
                            } else {
                                format!("{scheme}://{h}:{p}")
                            }
                        })
                        .collect();
                // Follows MOVED and ASK and refreshes its slot map itself; two redirections
                // cover a slot in migration (ASK, then MOVED once it has moved).
                let mut b = ClusterClientBuilder::new(nodes)
                    .retries(2)
                    .min_retry_wait(10)
                    .max_retry_wait(100)
                    .connection_timeout(connect_timeout)
                    .response_timeout(timeout);
                if let Some(user) = username {
                    b = b.username(user);
                }
                if let Some(password) = &self.password {
                    b = b.password(password.clone());
                }
                if self.tls {
                    b = b.tls(TlsMode::Secure);
                }
                if let Some(certs) = certs {
                    b = b.certs(certs);
                }
                Ok(Source::Cluster(b.build().map_err(config)?))
            }
            Kind::Sentinel { service } => {
                let addrs = self.nodes.iter().map(|(h, p)| {
                    if self.tls {
                        ConnectionAddr::TcpTls { host: h.clone(), port: *p, insecure: false, tls_params: None }
                    } else {
                        ConnectionAddr::Tcp(h.clone(), *p)
                    }
                });
                let mut b = SentinelClientBuilder::new(addrs, service, SentinelServerType::Master)
                    .map_err(config)?
                    .set_client_to_redis_db(self.db);
                if let Some(user) = username {
                    b = b.set_client_to_redis_username(user);
                }
                if let Some(password) = &self.password {
                    b = b.set_client_to_redis_password(password.clone());
                }
                if self.tls {
                    b = b
                        .set_client_to_redis_tls_mode(TlsMode::Secure)
                        .set_client_to_sentinel_tls_mode(TlsMode::Secure);
                }
                if let Some(certs) = certs {
                    b = b.set_client_to_redis_certificates(certs.clone()).set_client_to_sentinel_certificates(certs);
                }
                let client = b.build().map_err(config)?;
                Ok(Source::Sentinel(Arc::new(Sentinel {
                    state: Mutex::new(SentinelState {
                        client: Some(client),
                        master: None,
                        asked_in: None,
                        epoch: 0,
                        last_error: None,
                    }),
                    changed: Condvar::new(),
                })))
            }
        }
    }
}

/// One connection, to a node or to a Cluster (the latter holds one per node it has used).
pub(crate) enum Conn {
    Node(Connection),
    Cluster(Box<ClusterConnection>),
}

impl Conn {
    /// The connection as the crate's scripts take it.
    pub(crate) fn like(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Node(c) => c,
            Conn::Cluster(c) => c.as_mut(),
        }
    }

    /// Sets the read and write timeouts of the sockets under it.
    pub(crate) fn set_timeouts(&self, timeout: Duration) -> RedisResult<()> {
        match self {
            Conn::Node(c) => {
                c.set_read_timeout(Some(timeout))?;
                c.set_write_timeout(Some(timeout))
            }
            Conn::Cluster(c) => {
                c.set_read_timeout(Some(timeout))?;
                c.set_write_timeout(Some(timeout))
            }
        }
    }
}

/// The crate's client for a target.
pub(crate) enum Source {
    Node(RedisClient),
    Cluster(ClusterClient),
    Sentinel(Arc<Sentinel>),
}

/// The sentinels, and the master they last named.
pub(crate) struct Sentinel {
    state: Mutex<SentinelState>,
    changed: Condvar,
}

struct SentinelState {
    /// `None` while a helper thread asks the sentinels (it has the client).
    client: Option<SentinelClient>,
    master: Option<RedisClient>,
    /// The tick ([`tick`]) in which the sentinels were last asked.
    asked_in: Option<u64>,
    /// Counts the changes of master (the pool keeps connections of the current one only).
    epoch: u64,
    last_error: Option<String>,
}

/// How often the sentinels are asked again which server is the master, while one is known: after
/// a `SENTINEL FAILOVER` the old master goes on accepting writes until the sentinels convert it
/// (seconds later), so waiting for `READONLY` alone would keep the fleet on it.
const ASK_SENTINELS_EVERY: Duration = Duration::from_millis(500);

/// The current tick of [`ASK_SENTINELS_EVERY`] on the wall clock. Every client of a fleet asks at
/// the start of each tick, so that they all move to a new master at nearly the same moment, and
/// the old and the new master's lanes are both in use for milliseconds, not half a second.
fn tick() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis() / ASK_SENTINELS_EVERY.as_millis()).unwrap_or(0)
}

impl Source {
    /// A new connection, within `timeout`.
    pub(crate) fn connect(&self, timeout: Duration) -> RedisResult<Conn> {
        match self {
            Source::Node(client) => client.get_connection_with_timeout(timeout).map(Conn::Node),
            Source::Cluster(client) => client.get_connection().map(|c| Conn::Cluster(Box::new(c))),
            Source::Sentinel(s) => {
                let master = Sentinel::master(s, timeout)?;
                master.get_connection_with_timeout(timeout).map(Conn::Node)
            }
        }
    }

    /// The server we reached is not (or no longer) the master: ask again on the next connection.
    pub(crate) fn forget_master(&self) {
        if let Source::Sentinel(s) = self {
            let mut state = s.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.master.take().is_some() {
                state.epoch += 1;
            }
        }
    }

    /// Changes whenever the server connections go to changes (a new master); pooled connections
    /// of an older epoch are dropped. Also starts asking the sentinels again when it is time.
    pub(crate) fn epoch(&self) -> u64 {
        match self {
            Source::Sentinel(s) => {
                let mut state = s.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.master.is_some() && state.asked_in != Some(tick()) {
                    Sentinel::ask(s, &mut state);
                }
                state.epoch
            }
            _ => 0,
        }
    }
}

impl Sentinel {
    /// Starts a helper thread that asks the sentinels for the master, unless one is at it. When
    /// the master it finds is another server than the one known, the epoch moves on.
    fn ask(this: &Arc<Sentinel>, state: &mut SentinelState) {
        let Some(mut client) = state.client.take() else { return };
        state.last_error = None;
        state.asked_in = Some(tick());
        let shared = Arc::clone(this);
        let spawned = std::thread::Builder::new().name("timrest-sentinel".to_owned()).spawn(move || {
            let found = client.get_client();
            let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            match found {
                Ok(master) => {
                    let same = state
                        .master
                        .as_ref()
                        .is_some_and(|known| known.get_connection_info().addr() == master.get_connection_info().addr());
                    if !same {
                        if state.master.is_some() {
                            log::info!(
                                target: "timrest",
                                "the sentinels name a new master for the shared rate limiter: {}",
                                master.get_connection_info().addr()
                            );
                        }
                        state.epoch += 1;
                        state.master = Some(master);
                    }
                }
                Err(e) => state.last_error = Some(e.to_string()),
            }
            state.client = Some(client);
            shared.changed.notify_all();
        });
        if let Err(e) = spawned {
            state.last_error = Some(format!("could not start a thread to ask the sentinels: {e}"));
        }
    }

    /// The master's client: the one last found, or one the sentinels name now. Asking runs on a
    /// helper thread (the crate's sentinel queries have no timeout of their own), so that a
    /// sentinel that does not answer costs the caller `timeout`, not the system's TCP timeout.
    fn master(this: &Arc<Sentinel>, timeout: Duration) -> RedisResult<RedisClient> {
        let give_up = Instant::now() + timeout;
        let mut state = this.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(master) = &state.master {
            return Ok(master.clone());
        }
        Sentinel::ask(this, &mut state);
        loop {
            if let Some(master) = &state.master {
                return Ok(master.clone());
            }
            if state.client.is_some() {
                // The helper is done and found no master.
                let why = state.last_error.clone().unwrap_or_else(|| "no sentinel named a master".to_owned());
                return Err(RedisError::from((::redis::ErrorKind::Io, "the sentinels named no master", why)));
            }
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the sentinels did not answer in time",
                )));
            }
            state = this.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_read() {
        let t = Target::parse("redis+cluster://u:p%2Fw@a:7000,b:7001,[::1]:7002", "-").unwrap();
        assert_eq!(t.kind, Kind::Cluster);
        assert_eq!(t.nodes, [("a".to_owned(), 7000), ("b".to_owned(), 7001), ("::1".to_owned(), 7002)]);
        assert_eq!((t.user.as_str(), t.password.as_deref()), ("u", Some("p/w")));

        let t = Target::parse("rediss+sentinel://:a/b#c?d@s1,s2:26380/mymaster/2", "-").unwrap();
        assert_eq!(t.kind, Kind::Sentinel { service: "mymaster".to_owned() });
        assert!(t.tls);
        assert_eq!(t.nodes, [("s1".to_owned(), 26379), ("s2".to_owned(), 26380)]);
        assert_eq!((t.user.as_str(), t.password.as_deref(), t.db), ("default", Some("a/b#c?d"), 2));

        let t = Target::parse("redis://alice:s%40cret@127.0.0.1:6379/0", "-").unwrap();
        assert_eq!((t.kind, t.user.as_str(), t.password.as_deref()), (Kind::Node, "alice", Some("s@cret")));
    }

    #[test]
    fn bad_forms_are_config_errors() {
        for url in [
            "http://h:1",
            "redis+cluster://",
            "redis+cluster://h:0",
            "redis+cluster://h:99999",
            "redis+cluster://h:1/3",
            "redis+sentinel://h:1",
            "redis+sentinel://h:1/m/x",
            "redis+sentinel://h:1/m?x=1",
            "redis://",
        ] {
            let e = Target::parse(url, "<shown>").unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Config, "{url}");
            assert!(e.to_string().contains("<shown>"), "{e}");
        }
    }
}
