//! TLS stays verified: a local HTTPS server on 127.0.0.1 with a self-signed certificate, which
//! answers a TIM envelope to any request that gets through. The default client (bundled roots)
//! and the platform verifier refuse it — a transport error, and the server never sees a request —
//! and a client given that certificate as its CA (`ClientBuilder::ca_pem`) succeeds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use timrest::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY};
use timrest::{Client, ClientBuilder, ErrorKind};

/// What the server saw.
#[derive(Default)]
struct Seen {
    /// TCP connections accepted.
    connections: AtomicUsize,
    /// TLS handshakes that failed.
    refused_handshakes: AtomicUsize,
    /// HTTP requests read in full (over a verified connection).
    requests: AtomicUsize,
}

struct Server {
    port: u16,
    ca_pem: String,
    seen: Arc<Seen>,
}

/// Starts the server on a free loopback port; it serves until the test process ends.
fn start() -> Server {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names).expect("certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Seen::default());
    let server_seen = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            server_seen.connections.fetch_add(1, Ordering::SeqCst);
            let (config, seen) = (config.clone(), server_seen.clone());
            std::thread::spawn(move || serve(stream, config, &seen));
        }
    });
    Server { port, ca_pem: cert.pem(), seen }
}

/// One connection: the handshake, then requests answered with an OK envelope (keep-alive).
fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, seen: &Seen) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(connection) = rustls::ServerConnection::new(config) else { return };
    let mut tls = rustls::StreamOwned::new(connection, stream);
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            seen.refused_handshakes.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
    let mut reader = BufReader::new(tls);
    loop {
        let mut content_length = 0usize;
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if !line.starts_with("POST /v4/") => return,
            Ok(_) => {}
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        seen.requests.fetch_add(1, Ordering::SeqCst);
        let answer = br#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#;
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", answer.len());
        let tls = reader.get_mut();
        if tls.write_all(head.as_bytes()).and_then(|_| tls.write_all(answer)).and_then(|_| tls.flush()).is_err() {
            return;
        }
    }
}

fn builder(server: &Server) -> ClientBuilder {
    Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url(format!("https://127.0.0.1:{}", server.port))
        .rate_limit(None)
        .max_retries(1)
        .timeout(Duration::from_secs(10))
        .deadline(Duration::from_secs(20))
}

#[test]
fn default_client_refuses_a_self_signed_server_and_sends_nothing() {
    let server = start();
    for (name, client) in [
        ("bundled roots", builder(&server).build().expect("client")),
        ("platform verifier", builder(&server).platform_verifier(true).build().expect("client")),
    ] {
        let before = server.seen.connections.load(Ordering::SeqCst);
        let e = client.delete_group_msg_by_sender("@TGS#2C5SZEAEF", "leckie").expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::Transport, "{name}: {e}");
        assert!(e.to_string().contains("certificate"), "{name}: the message says why: {e}");
        assert_eq!(e.http_status(), None, "{name}");
        // A TLS failure is a transport error, so it was retried — and refused again.
        assert_eq!(e.attempts(), 2, "{name}: {e}");
        let connections = server.seen.connections.load(Ordering::SeqCst) - before;
        assert!(connections >= 1, "{name}: the client never reached the server");
        assert_eq!(server.seen.requests.load(Ordering::SeqCst), 0, "{name}: a request got through unverified");
    }
    // The server saw the handshakes fail (the client aborted them).
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    while server.seen.refused_handshakes.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.seen.refused_handshakes.load(Ordering::SeqCst) >= 2);
}

#[test]
fn a_client_given_the_ca_succeeds() {
    let server = start();
    let client = builder(&server).ca_pem(server.ca_pem.clone().into_bytes()).build().expect("client");
    client.delete_group_msg_by_sender("@TGS#2C5SZEAEF", "leckie").expect("verified against the given CA");
    client.delete_group_msg_by_sender("@TGS#2C5SZEAEF", "spammer").expect("again, on the kept-alive connection");
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 2);
    assert_eq!(server.seen.refused_handshakes.load(Ordering::SeqCst), 0);
}

#[test]
fn another_ca_is_refused_too() {
    let server = start();
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let client = builder(&server).ca_pem(other.cert.pem().into_bytes()).max_retries(0).build().expect("client");
    let e = client.delete_group_msg_by_sender("@TGS#2C5SZEAEF", "leckie").expect_err("refused");
    assert_eq!((e.kind(), e.attempts()), (ErrorKind::Transport, 1), "{e}");
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn https_to_a_plain_http_server_is_a_config_error_named_once() {
    let emu = timrest::emulator::Emulator::start(Default::default()).expect("emulator");
    let url = emu.base_url().replacen("http://", "https://", 1);
    let client = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url(url)
        .rate_limit(None)
        .build()
        .expect("client");
    let e = client.delete_group_msg_by_sender("@TGS#2C5SZEAEF", "leckie").expect_err("no TLS there");
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    // Asking again would meet the same plain-HTTP answer: one attempt, and the message names the fix.
    assert_eq!(e.attempts(), 1, "{e}");
    assert!(e.to_string().contains("does not speak TLS"), "{e}");
    assert!(e.to_string().contains("http://"), "{e}");
    assert!(emu.requests().is_empty(), "the emulator never read a request");
}
