//! A real `redis-server` for the tests: on a free loopback port, persistence off, stopped on drop.
//! It can be killed and started again on the same port (a restart loses every key and script,
//! as a failover to an empty replica does).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    password: Option<String>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl RedisServer {
    /// Starts one; `password` turns on `requirepass`.
    pub fn start(password: Option<&str>) -> RedisServer {
        let mut server = RedisServer { port: free_port(), password: password.map(str::to_owned), child: None };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT/0` (with the password when there is one).
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Kills the server at once (SIGKILL): connections break, nothing is saved.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and waits until it answers PING.
    pub fn restart(&mut self) {
        self.kill();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        cmd.args(["--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning"]);
        if let Some(p) = &self.password {
            cmd.args(["--requirepass", p]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package; scripts/deps.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.command(&["PING"]).is_ok_and(|r| r == "+PONG") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    /// One command over RESP, as a raw first line (`+PONG`, `:1`, `$5` …) or the whole reply for
    /// bulk strings; authenticates first when the server has a password.
    pub fn command(&self, args: &[&str]) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut send = |args: &[&str]| -> std::io::Result<String> {
            let mut out = format!("*{}\r\n", args.len());
            for a in args {
                out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
            }
            stream.write_all(out.as_bytes())?;
            let mut reader = BufReader::new(stream.try_clone()?);
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end().to_owned();
            if let Some(len) = line.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                let mut body = vec![0; len + 2];
                reader.read_exact(&mut body)?;
                return Ok(String::from_utf8_lossy(&body[..len]).into_owned());
            }
            if let Some(n) = line.strip_prefix('*').and_then(|n| n.parse::<usize>().ok()) {
                // Arrays: the elements' lines, joined by spaces (enough for HGETALL and SCRIPT EXISTS).
                let mut parts = Vec::new();
                for _ in 0..n {
                    let mut l = String::new();
                    reader.read_line(&mut l)?;
                    let l = l.trim_end().to_owned();
                    if l.starts_with('$') {
                        let mut v = String::new();
                        reader.read_line(&mut v)?;
                        parts.push(v.trim_end().to_owned());
                    } else {
                        parts.push(l);
                    }
                }
                return Ok(parts.join(" "));
            }
            Ok(line)
        };
        if let Some(p) = &self.password {
            send(&["AUTH", p])?;
        }
        send(args)
    }

    /// A field of `INFO` (e.g. `cmdstat_evalsha` in section `commandstats`).
    pub fn info_field(&self, section: &str, field: &str) -> Option<String> {
        let info = self.command(&["INFO", section]).ok()?;
        info.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_owned))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
