//! A small HTTP/1.1 server on `std::net`: one thread per connection, keep-alive, pipelining
//! answered in order, `Content-Length` and chunked request bodies, `Expect: 100-continue`.
//!
//! Written here rather than taken from a server crate because the faults need what those crates
//! hide: closing a keep-alive connection without an answer, and sending fewer bytes than the
//! `Content-Length` promised before closing. One thread per connection also means a request's
//! latency never holds up another connection's, with no handoff between threads per request.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::pipeline::{Body, Reply, Shared};

/// A request head longer than this is refused with 431.
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// A request body longer than this is not read: the answer is 80002, then the connection closes.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;
/// An idle keep-alive connection is closed after this long.
/// Connections served at once; more are closed as soon as they are accepted.
pub(crate) const MAX_CONNECTIONS: usize = 1024;
const MAX_HEADERS: usize = 64;
/// How long a `reset` fault waits between the half body and the reset.
const RESET_PAUSE: Duration = Duration::from_millis(100);
const STACK_SIZE: usize = 512 * 1024;

type Registry = Arc<Mutex<HashMap<u64, (TcpStream, JoinHandle<()>)>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The listening side: the accept thread and every connection thread, stopped and joined by [`Server::stop`].
pub(crate) struct Server {
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    connections: Registry,
}

impl Server {
    pub(crate) fn start(listener: TcpListener, shared: Arc<Shared>) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let connections: Registry = Arc::default();
        let registry = connections.clone();
        let accept = thread::Builder::new()
            .name("timrest-emulator-accept".into())
            .spawn(move || accept_loop(listener, shared, registry))?;
        Ok(Server { addr, accept: Some(accept), connections })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection and joins every thread. `shared.stop()` must
    /// have been called (it wakes the sleepers).
    pub(crate) fn stop(&mut self) {
        if let Some(accept) = self.accept.take() {
            // Wake the blocking accept(); it sees the stop flag and returns.
            let mut wake = self.addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(if wake.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
            }
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(2));
            let _ = accept.join();
        }
        let open = std::mem::take(&mut *lock(&self.connections));
        for (stream, _) in open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for (_, (_, handle)) in open {
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, registry: Registry) {
    let mut next_id = 0u64;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) if shared.stopping() => return,
            Err(_) => {
                // Out of file descriptors or similar: let connections finish, then try again.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.stopping() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(shared.idle_timeout));
        let Ok(handle_stream) = stream.try_clone() else { continue };
        // Held while spawning, so the thread's own removal comes after its insertion.
        let mut open = lock(&registry);
        if open.len() >= MAX_CONNECTIONS {
            continue;
        }
        let id = next_id;
        next_id += 1;
        let (shared, registry_for_thread) = (shared.clone(), registry.clone());
        let spawned =
            thread::Builder::new().name("timrest-emulator-conn".into()).stack_size(STACK_SIZE).spawn(move || {
                serve_connection(stream, &shared);
                lock(&registry_for_thread).remove(&id);
            });
        if let Ok(handle) = spawned {
            open.insert(id, (handle_stream, handle));
        }
    }
}

/// What a request head says.
struct Head {
    method: String,
    target: String,
    http10: bool,
    content_length: Option<usize>,
    chunked: bool,
    /// The client asked to close after this request (or HTTP/1.0 without keep-alive).
    close: bool,
    expect_continue: bool,
}

impl Head {
    fn from_parsed(req: &httparse::Request<'_, '_>) -> Result<Head, u16> {
        let http10 = req.version == Some(0);
        let mut head = Head {
            method: req.method.unwrap_or("").to_owned(),
            target: req.path.unwrap_or("").to_owned(),
            http10,
            content_length: None,
            chunked: false,
            close: http10,
            expect_continue: false,
        };
        for h in req.headers.iter() {
            let value = std::str::from_utf8(h.value).map_err(|_| 400u16)?.trim();
            if h.name.eq_ignore_ascii_case("content-length") {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(400);
                }
                let n = value.parse::<usize>().unwrap_or(usize::MAX);
                if head.content_length.is_some_and(|m| m != n) {
                    return Err(400);
                }
                head.content_length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                let last = value.rsplit(',').next().unwrap_or("").trim();
                if !last.eq_ignore_ascii_case("chunked") {
                    return Err(400);
                }
                head.chunked = true;
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        head.close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                        head.close = false;
                    }
                }
            } else if h.name.eq_ignore_ascii_case("expect") && value.eq_ignore_ascii_case("100-continue") {
                head.expect_continue = true;
            }
        }
        if head.chunked && head.content_length.is_some() {
            // Both framings: refuse rather than guess (request smuggling's favourite shape).
            return Err(400);
        }
        Ok(head)
    }
}

enum ReadError {
    /// The connection failed or closed: nothing more to say.
    Io,
    /// Malformed: answer this status, then close.
    Bad(u16),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> ReadError {
        ReadError::Io
    }
}

/// A connection with its read buffer (bytes of pipelined requests wait there).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// A request head must arrive whole within this, once begun (and each body read too).
    head_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    idle_timeout: Duration,
}

impl Conn {
    fn new(stream: TcpStream, head_timeout: Duration, idle_timeout: Duration) -> Conn {
        Conn { stream, buf: vec![0; 8192], start: 0, end: 0, head_timeout, idle_timeout }
    }

    /// Reads more bytes into the buffer; Ok(0) at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// The next request head; Ok(None) when the connection closes (or idles out) between requests.
    /// Between requests a read may wait `idle_timeout`; once a head has begun, the whole head must
    /// come within `head_timeout` (a client sending a byte now and then cannot keep the slot: 408).
    fn read_head(&mut self) -> Result<Option<Head>, ReadError> {
        let mut begun = (self.end > self.start).then(Instant::now);
        loop {
            if self.end > self.start {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(&self.buf[self.start..self.end]) {
                    Ok(httparse::Status::Complete(n)) => {
                        let head = Head::from_parsed(&req).map_err(ReadError::Bad)?;
                        self.start += n;
                        return Ok(Some(head));
                    }
                    Ok(httparse::Status::Partial) if self.end - self.start > MAX_HEAD_BYTES => {
                        return Err(ReadError::Bad(431));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(httparse::Error::TooManyHeaders) => return Err(ReadError::Bad(431)),
                    Err(_) => return Err(ReadError::Bad(400)),
                }
            }
            let wait = match begun {
                None => self.idle_timeout,
                Some(t0) => match self.head_timeout.checked_sub(t0.elapsed()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Err(ReadError::Bad(408)),
                },
            };
            let _ = self.stream.set_read_timeout(Some(wait));
            match self.fill() {
                Ok(0) => return Ok(None),
                Err(_) if begun.is_some() => return Err(ReadError::Bad(408)),
                Err(_) => return Ok(None),
                Ok(_) => {
                    begun.get_or_insert_with(Instant::now);
                }
            }
        }
    }

    fn read_exact_body(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let buffered = n.min(self.end - self.start);
        let mut out = Vec::with_capacity(n);
        out.extend_from_slice(&self.buf[self.start..self.start + buffered]);
        self.start += buffered;
        if buffered < n {
            out.resize(n, 0);
            self.stream.read_exact(&mut out[buffered..])?;
        }
        Ok(out)
    }

    /// One line (without its CRLF), at most `max` bytes.
    fn read_line(&mut self, max: usize) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(i) = self.buf[self.start..self.end].iter().position(|&b| b == b'\n') {
                let mut line = self.buf[self.start..self.start + i].to_vec();
                self.start += i + 1;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.end - self.start > max {
                return Err(ReadError::Bad(400));
            }
            if self.fill()? == 0 {
                return Err(ReadError::Io);
            }
        }
    }

    /// A chunked body; None when it grows past `MAX_BODY_BYTES` (the rest is not read).
    fn read_chunked(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line(1024)?;
            let size = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| usize::from_str_radix(l.split(';').next().unwrap_or("").trim(), 16).ok())
                .ok_or(ReadError::Bad(400))?;
            if size == 0 {
                while !self.read_line(MAX_HEAD_BYTES)?.is_empty() {} // trailers
                return Ok(Some(body));
            }
            if body.len().saturating_add(size) > MAX_BODY_BYTES {
                return Ok(None);
            }
            body.extend(self.read_exact_body(size)?);
            if !self.read_line(2)?.is_empty() {
                return Err(ReadError::Bad(400));
            }
        }
    }

    /// The body of a request; `Body::TooLong` (and the connection must close) past the limit.
    fn read_body(&mut self, head: &Head) -> Result<Body, ReadError> {
        if head.chunked {
            if head.expect_continue {
                self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            }
            return Ok(self.read_chunked()?.map_or(Body::TooLong, Body::Bytes));
        }
        match head.content_length.unwrap_or(0) {
            n if n > MAX_BODY_BYTES => Ok(Body::TooLong),
            0 => Ok(Body::Bytes(Vec::new())),
            n => {
                if head.expect_continue {
                    self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                }
                Ok(Body::Bytes(self.read_exact_body(n)?))
            }
        }
    }

    fn write_response(&mut self, status: u16, content_type: &str, body: &[u8], head: &Head, close: bool) -> bool {
        let mut out = Vec::with_capacity(160 + body.len());
        let _ = write!(
            out,
            "HTTP/1.1 {status} {}\r\nServer: timrest-emulator\r\nContent-Type: {content_type}; charset=utf-8\r\nContent-Length: {}\r\n",
            reason(status),
            body.len()
        );
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if head.http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        if (300..400).contains(&status) {
            // A redirect to the same command with GET would be refused (60002): a client that
            // follows it shows that it did.
            out.extend_from_slice(b"Location: /v4/group_open_http_svc/delete_group_msg_by_sender?redirected=1\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if head.method != "HEAD" {
            out.extend_from_slice(body);
        }
        self.stream.write_all(&out).is_ok()
    }

    /// Writes the reply; returns whether the connection stays open.
    fn write_reply(&mut self, reply: &Reply, head: &Head, close: bool, shared: &Shared) -> bool {
        match reply {
            Reply::Envelope { json, .. } => self.write_response(200, "application/json", json, head, close) && !close,
            Reply::Raw { status, content_type, body } => {
                self.write_response(*status, content_type, body, head, close) && !close
            }
            Reply::Truncated { body, promised } => {
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nServer: timrest-emulator\r\nContent-Type: application/json; charset=utf-8\r\n\
                     Content-Length: {promised}\r\nConnection: close\r\n\r\n"
                )
                .into_bytes();
                out.extend_from_slice(body);
                let _ = self.stream.write_all(&out);
                let _ = self.stream.flush();
                false
            }
            Reply::Reset { body, promised } => {
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nServer: timrest-emulator\r\nContent-Type: application/json; charset=utf-8\r\n\
                     Content-Length: {promised}\r\n\r\n"
                )
                .into_bytes();
                out.extend_from_slice(body);
                let _ = self.stream.write_all(&out);
                let _ = self.stream.flush();
                // Let the client read the head and start on the body, then reset.
                shared.sleep(RESET_PAUSE);
                reset_on_close(&self.stream);
                false
            }
            Reply::Trickled { status, content_type, body, pause } => {
                let mut out = format!(
                    "HTTP/1.1 {status} {}\r\nServer: timrest-emulator\r\nContent-Type: {content_type}; charset=utf-8\r\n\
                     Content-Length: {}\r\n",
                    reason(*status),
                    body.len()
                )
                .into_bytes();
                if close {
                    out.extend_from_slice(b"Connection: close\r\n");
                }
                out.extend_from_slice(b"\r\n");
                if self.stream.write_all(&out).is_err() {
                    return false;
                }
                for byte in body {
                    // Stop when the emulator stops or the client went away.
                    if !shared.sleep(*pause) || self.stream.write_all(&[*byte]).is_err() {
                        return false;
                    }
                }
                !close
            }
            Reply::EndlessHeaders => {
                if self.stream.write_all(b"HTTP/1.1 200 OK\r\nServer: timrest-emulator\r\n").is_err() {
                    return false;
                }
                // Long lines: a client's size limit (64 KiB for ureq) comes long before any limit on
                // the number of header lines, so a client meets the same limit every time.
                let line = format!("X-Filler: {}\r\n", "x".repeat(8000));
                for _ in 0..2 * 1024 {
                    if shared.stopping() || self.stream.write_all(line.as_bytes()).is_err() {
                        break;
                    }
                }
                false
            }
            Reply::Drop => false,
        }
    }

    fn write_status_and_close(&mut self, status: u16) {
        let body = super::pipeline::html_page(status);
        let head = Head {
            method: String::new(),
            target: String::new(),
            http10: false,
            content_length: None,
            chunked: false,
            close: true,
            expect_continue: false,
        };
        self.write_response(status, "text/html", &body, &head, true);
        self.close();
    }

    /// Closes our sending side first, so that the peer reads every byte sent, then EOF.
    fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let mut conn = Conn::new(stream, shared.head_timeout, shared.idle_timeout);
    loop {
        let head = match conn.read_head() {
            Ok(Some(head)) => head,
            Ok(None) | Err(ReadError::Io) => return conn.close(),
            Err(ReadError::Bad(status)) => return conn.write_status_and_close(status),
        };
        // The body's reads get the head's time each, not the idle connection's.
        let _ = conn.stream.set_read_timeout(Some(shared.head_timeout));
        if shared.stopping() {
            return conn.close();
        }
        let body = match conn.read_body(&head) {
            Ok(body) => body,
            Err(ReadError::Io) => return conn.close(),
            Err(ReadError::Bad(status)) => return conn.write_status_and_close(status),
        };
        // An unread body leaves the stream mid-request: this answer is the connection's last.
        let close = head.close || matches!(body, Body::TooLong);
        let (reply, mut record) = shared.handle(&head.method, &head.target, &body);
        if shared.stopping() {
            return conn.close();
        }
        // Logged before writing, so that a client holding its answer finds the request in the log.
        record.http_status = reply.http_status();
        record.finished = shared.since_start(Instant::now());
        let body_bytes = match &body {
            Body::Bytes(bytes) => bytes.len(),
            Body::TooLong => 0,
        };
        shared.record(record, body_bytes);
        if !conn.write_reply(&reply, &head, close, shared) {
            if let Reply::Reset { .. } = reply {
                // No FIN: the last close of the socket sends the reset (SO_LINGER 0).
                return;
            }
            return conn.close();
        }
    }
}

/// Makes the last close of `stream` send a TCP reset (RST) instead of a FIN: `SO_LINGER` on,
/// with a zero timeout.
#[cfg(unix)]
fn reset_on_close(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the descriptor is open (owned by `stream`), and the option value points to a live
    // `linger` of the size passed.
    let _ = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast::<libc::c_void>(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}

/// Elsewhere, a plain close (the client then sees the body cut short, as with `truncate`).
#[cfg(not(unix))]
fn reset_on_close(_: &TcpStream) {}

/// The reason phrase of a status.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
