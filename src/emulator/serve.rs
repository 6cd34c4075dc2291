//! The emulator as a command: the one implementation behind `timrest-emulator` (the Rust binary
//! that `scripts/install.sh` installs) and `timrest emulator` (the Python command, a thin entry
//! over this code), so both take the same flags, seed the same demo state and print the same
//! first line.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, GroupSpec, MAX_DELAY, check_rate};

/// The account that posts the spam of the demo groups.
pub const DEMO_SPAMMER: &str = "spammer42";

/// The prefix of the one line the command prints on stdout once it serves; the base URL follows.
pub const READY_PREFIX: &str = "timrest-emulator listening on ";

/// Exit status: served, then stopped as asked.
pub const EXIT_OK: i32 = 0;
/// Exit status: could not start (the address taken, the log file not writable).
pub const EXIT_FAILED: i32 = 1;
/// Exit status: a flag or value it does not take.
pub const EXIT_USAGE: i32 = 2;

/// How often the log file is written and the stop condition looked at.
const TICK: Duration = Duration::from_millis(200);

/// A demo group: its type, its name and its script of (sender, text).
type DemoGroup = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

/// The demo groups. Every sender is a member, so that `timrest purge spammer42` finds all three.
const DEMO_GROUPS: [DemoGroup; 3] = [
    (
        "Public",
        "release-team",
        &[
            ("alice", "Morning everyone! Stand-up in 10 minutes."),
            ("bob", "On my way."),
            (DEMO_SPAMMER, "CHEAP WATCHES >>> http://spam.example"),
            ("alice", "Bob, can you share the release notes?"),
            (DEMO_SPAMMER, "Limited offer!!! Click now"),
            ("bob", "Sure, posting them after the meeting."),
        ],
    ),
    (
        "Work",
        "ops-oncall",
        &[
            ("carol", "Disk alert on db-2 cleared."),
            (DEMO_SPAMMER, "Win a free phone, reply YES"),
            ("dave", "Thanks, closing the ticket."),
        ],
    ),
    (
        "ChatRoom",
        "friday-meetup",
        &[
            (DEMO_SPAMMER, "Crypto giveaway, send 1 coin get 2"),
            ("erin", "Pizza or tacos this week?"),
            ("frank", "Tacos!"),
            (DEMO_SPAMMER, "Last chance!!!"),
        ],
    ),
];

/// One group [`Emulator::seed_demo`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeededGroup {
    /// Its `GroupId`.
    pub group_id: String,
    /// Its `Type`.
    pub group_type: String,
    /// Its `Name` (also its ID when seeded with named IDs).
    pub name: String,
    /// How many messages it holds.
    pub messages: usize,
    /// How many of them [`DEMO_SPAMMER`] sent.
    pub spam: usize,
}

impl Emulator {
    /// Creates the demo groups (`release-team`, a Public group; `ops-oncall`, Work;
    /// `friday-meetup`, ChatRoom), each with messages from [`DEMO_SPAMMER`] among others, every
    /// sender a member. With `named_ids` each group's ID is its name, so that a shell session can
    /// address it; otherwise the emulator makes `@TGS#…` IDs as Tencent does.
    pub fn seed_demo(&self, named_ids: bool) -> crate::Result<Vec<SeededGroup>> {
        let mut seeded = Vec::with_capacity(DEMO_GROUPS.len());
        for (group_type, name, script) in DEMO_GROUPS {
            let mut members: Vec<String> = script.iter().map(|(s, _)| (*s).to_owned()).collect();
            members.sort();
            members.dedup();
            let spec = GroupSpec {
                group_type: group_type.to_owned(),
                group_id: named_ids.then(|| name.to_owned()),
                name: name.to_owned(),
                members,
                ..GroupSpec::default()
            };
            let group_id = self.create_group(&spec)?;
            for (sender, text) in script {
                self.send_group_msg(&group_id, sender, text, None)?;
            }
            let spam = script.iter().filter(|(s, _)| *s == DEMO_SPAMMER).count();
            seeded.push(SeededGroup {
                group_id,
                group_type: group_type.to_owned(),
                name: name.to_owned(),
                messages: script.len(),
                spam,
            });
        }
        Ok(seeded)
    }
}

fn usage(prog: &str) -> String {
    format!(
        "usage: {prog} [options]

Serve the TIM REST emulator: a local TIM server with its state in memory, for trying timrest with no
account and no network. Prints one line on stdout once it serves, `{READY_PREFIX}URL`; everything
else goes to stderr. Serves until Ctrl-C or SIGTERM (or, with --stop-on-stdin-eof, until stdin closes).

options:
  --host ADDR            address to listen on (default 127.0.0.1; localhost and ::1 work too)
  --port N               port; 0 picks a free one (default 0)
  --sdkappid N           the app's SDKAppID (default {DEMO_SDKAPPID}, the demo app)
  --secret-key KEY       the app's secret key (default: the demo key of the official examples,
                         {DEMO_SECRET_KEY})
  --admin ID             an App admin account; repeat for more (default: administrator)
  --rate-limit N|off     requests per second of each command before it answers 60007 (default 100)
  --latency S            seconds added to every answer (default 0; --latency-ms N in milliseconds)
  --fault-rate R         chaos: the share of requests (0 to 1) that answer a random fault instead
                         (drop, reset, truncated body, 502, slow body, 60007, 10002; default 0)
  --log FILE             append the request log to FILE as JSON lines while serving (command, random,
                         identifier, error_code, body...; never a secret), every 0.2 s and on exit
  --seed-demo            create the demo groups with their names as IDs: release-team (Public),
                         ops-oncall (Work), friday-meetup (ChatRoom), each with messages from
                         {DEMO_SPAMMER} among others, every sender a member
  --stop-on-stdin-eof    exit when stdin closes (for a parent process that may die without a signal)
  -h, --help             this text

A client of the emulator needs TIM_BASE_URL (the URL it prints), TIM_SDKAPPID={DEMO_SDKAPPID} and
TIM_SECRET_KEY set to the demo key above (or the --sdkappid and --secret-key given here)."
    )
}

#[derive(Debug)]
struct Options {
    config: EmulatorConfig,
    log: Option<String>,
    seed_demo: bool,
    stop_on_stdin_eof: bool,
}

fn seconds(name: &str, v: &str, scale: f64) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n / scale)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| *d <= MAX_DELAY)
        .ok_or_else(|| format!("{name}: {v:?} is not a delay from 0 to one day"))
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut config = EmulatorConfig::default();
    let mut admins = Vec::new();
    let (mut log, mut seed_demo, mut stop_on_stdin_eof) = (None, false, false);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Both `--flag value` and `--flag=value`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs {what}"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--host" => {
                let v = value("an address")?;
                config.host = match v.as_str() {
                    "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    v => v.parse().map_err(|_| format!("--host: {v:?} is not an IP address"))?,
                };
            }
            "--port" => {
                let v = value("a port")?;
                config.port = v.parse().map_err(|_| format!("--port: {v:?} is not a port number (0 to 65535)"))?;
            }
            "--sdkappid" => {
                let v = value("a number")?;
                config.sdkappid = v.parse().map_err(|_| format!("--sdkappid: {v:?} is not an SDKAppID"))?;
            }
            // The key itself is never echoed back in a message.
            "--secret-key" => config.secret_key = value("a key")?,
            "--admin" => admins.push(value("an account")?),
            "--rate-limit" => {
                let v = value("a number or off")?;
                config.rate_limit = match v.to_ascii_lowercase().as_str() {
                    "off" | "none" => None,
                    _ => {
                        let n = v.parse::<f64>().map_err(|_| format!("--rate-limit: {v:?} is not a number or off"))?;
                        if n == 0.0 {
                            return Err("--rate-limit: 0 requests per second would admit nothing; \
                                        for no limit, write off"
                                .to_owned());
                        }
                        check_rate("--rate-limit", Some(n))?;
                        Some(n)
                    }
                };
            }
            "--latency" => config.latency = seconds("--latency", &value("seconds")?, 1.0)?,
            "--latency-ms" => config.latency = seconds("--latency-ms", &value("milliseconds")?, 1000.0)?,
            "--fault-rate" => {
                let v = value("a share from 0 to 1")?;
                config.fault_rate = v
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| format!("--fault-rate: {v:?} is not a share from 0 to 1"))?;
            }
            "--log" => log = Some(value("a file")?),
            "--seed-demo" => seed_demo = true,
            "--stop-on-stdin-eof" => stop_on_stdin_eof = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if !admins.is_empty() {
        config.admins = admins;
    }
    Ok(Some(Options { config, log, seed_demo, stop_on_stdin_eof }))
}

/// Appends the records logged since `cursor` to `out`; returns the next cursor.
fn append_log(emu: &Emulator, out: &mut File, cursor: u64) -> std::io::Result<u64> {
    let (records, next) = emu.requests_since(cursor);
    if !records.is_empty() {
        let mut text = String::new();
        for record in &records {
            // A record always serializes: plain fields and a JSON body.
            text.push_str(&serde_json::to_string(record).unwrap_or_default());
            text.push('\n');
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    Ok(next)
}

/// Runs the emulator command: `prog` names it in messages (`timrest-emulator` or
/// `timrest emulator`), `args` are its arguments (without the program name), and `stop` is asked
/// every 0.2 s whether to stop (Ctrl-C or SIGTERM, as the caller sees them). Returns the exit
/// status: [`EXIT_OK`], [`EXIT_FAILED`] or [`EXIT_USAGE`].
pub fn run(prog: &str, args: impl IntoIterator<Item = String>, stop: &dyn Fn() -> bool) -> i32 {
    let options = match parse(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{}", usage(prog));
            return EXIT_OK;
        }
        Err(message) => {
            eprintln!("{prog}: error: {message}\n(`{prog} --help` lists the options)");
            return EXIT_USAGE;
        }
    };
    let mut log = match &options.log {
        None => None,
        Some(path) => match OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => Some(file),
            Err(e) => {
                eprintln!("{prog}: error: cannot write the log to {path}: {e}");
                return EXIT_USAGE;
            }
        },
    };
    let (sdkappid, admins, rate, latency) =
        (options.config.sdkappid, options.config.admins.join(", "), options.config.rate_limit, options.config.latency);
    let emu = match Emulator::start(options.config) {
        Ok(emu) => emu,
        Err(e) => {
            eprintln!("{prog}: error: cannot start the emulator: {e}");
            return EXIT_FAILED;
        }
    };
    if options.seed_demo {
        match emu.seed_demo(true) {
            Ok(groups) => {
                for g in groups {
                    eprintln!(
                        "{prog}: seeded {} group {} ({} messages, {} from {DEMO_SPAMMER})",
                        g.group_type, g.group_id, g.messages, g.spam
                    );
                }
            }
            Err(e) => {
                eprintln!("{prog}: error: seeding failed: {e}");
                return EXIT_FAILED;
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{READY_PREFIX}{}", emu.base_url()).and_then(|()| stdout.flush()).is_err() {
        return EXIT_FAILED;
    }
    drop(stdout);
    let limit = rate.map_or_else(|| "no rate limit".to_owned(), |n| format!("{n} requests/s"));
    eprintln!(
        "{prog}: serving sdkappid {sdkappid} (admins: {admins}; {limit}; latency {} s) at {}; Ctrl-C stops it",
        latency.as_secs_f64(),
        emu.base_url()
    );

    let stdin_closed = Arc::new(AtomicBool::new(false));
    if options.stop_on_stdin_eof {
        let flag = stdin_closed.clone();
        // Detached: it ends with the process (a read of stdin cannot be cancelled).
        let _ = std::thread::Builder::new().name("timrest-emulator-stdin".into()).spawn(move || {
            let mut sink = [0u8; 4096];
            let mut stdin = std::io::stdin().lock();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            flag.store(true, Ordering::SeqCst);
        });
    }
    let mut cursor = 0;
    let mut status = EXIT_OK;
    loop {
        if let Some(file) = &mut log {
            match append_log(&emu, file, cursor) {
                Ok(next) => cursor = next,
                Err(e) => {
                    eprintln!("{prog}: error: cannot write the log: {e}");
                    status = EXIT_FAILED;
                    break;
                }
            }
        }
        if stdin_closed.load(Ordering::SeqCst) || stop() {
            break;
        }
        std::thread::sleep(TICK);
    }
    if let Some(file) = &mut log
        && status == EXIT_OK
        && let Err(e) = append_log(&emu, file, cursor)
    {
        eprintln!("{prog}: error: cannot write the log: {e}");
        status = EXIT_FAILED;
    }
    emu.shutdown();
    eprintln!("{prog}: stopped");
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Options, String> {
        parse(args.iter().map(|s| (*s).to_owned())).map(|o| o.expect("not --help"))
    }

    #[test]
    fn latency_in_seconds_or_milliseconds() {
        assert_eq!(parsed(&["--latency", "0.25"]).unwrap().config.latency, Duration::from_millis(250));
        assert_eq!(parsed(&["--latency-ms=250"]).unwrap().config.latency, Duration::from_millis(250));
        for bad in ["-1", "nan", "inf", "86401", "x"] {
            assert!(parsed(&["--latency", bad]).unwrap_err().contains("--latency"), "{bad}");
        }
    }

    #[test]
    fn fault_rate_is_a_share() {
        assert_eq!(parsed(&[]).unwrap().config.fault_rate, 0.0);
        assert_eq!(parsed(&["--fault-rate", "0.05"]).unwrap().config.fault_rate, 0.05);
        for bad in ["-0.1", "1.5", "nan", "x"] {
            assert!(parsed(&["--fault-rate", bad]).unwrap_err().contains("--fault-rate"), "{bad}");
        }
    }

    #[test]
    fn rate_limit_forms() {
        assert_eq!(parsed(&["--rate-limit", "off"]).unwrap().config.rate_limit, None);
        assert_eq!(parsed(&["--rate-limit", "OFF"]).unwrap().config.rate_limit, None);
        assert_eq!(parsed(&["--rate-limit", "50"]).unwrap().config.rate_limit, Some(50.0));
        assert!(parsed(&["--rate-limit", "0"]).unwrap_err().contains("off"));
        assert!(parsed(&["--rate-limit", "-3"]).is_err());
    }

    #[test]
    fn bad_values_are_named_and_the_key_is_never_echoed() {
        assert!(parsed(&["--port", "70000"]).unwrap_err().contains("65535"));
        assert!(parsed(&["--host", "example.com"]).unwrap_err().contains("--host"));
        assert!(parsed(&["--sdkappid"]).unwrap_err().contains("needs"));
        assert!(parsed(&["--bogus"]).unwrap_err().contains("--bogus"));
        let o = parsed(&["--secret-key", "hunter2", "--admin", "ops", "--admin", "root"]).unwrap();
        assert_eq!(o.config.admins, ["ops", "root"]);
        assert!(!format!("{:?}", o.config).contains("hunter2"));
    }
}
