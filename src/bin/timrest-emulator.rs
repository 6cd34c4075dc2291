//! `timrest-emulator`: the TIM REST server emulator as a standalone process.
//!
//! Prints exactly one line on stdout once it is ready — `timrest-emulator listening on URL` —
//! then serves until killed, or until stdin closes with `--stop-on-stdin-eof`. Everything else
//! (seeded group IDs, errors) goes to stderr.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use timrest::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, GroupSpec};

const USAGE: &str = "usage: timrest-emulator [options]

  --host ADDR            address to listen on (default 127.0.0.1)
  --port N               port; 0 picks a free one (default 0)
  --sdkappid N           the app's SDKAppID (default 1400000000, the demo app)
  --secret-key KEY       the app's secret key (default: the demo key of the official examples,
                         5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e)
  --admin NAME           an App admin account; repeat for more (default: administrator)
  --rate-limit N|off     requests admitted per second for each command (default 100)
  --latency-ms N         delay before every answer, in milliseconds (default 0)
  --seed-demo            create a few groups with messages; their IDs go to stderr
  --stop-on-stdin-eof    exit when stdin closes (for parent processes)
  -h, --help             this text

A client of the emulator needs TIM_BASE_URL (the address it prints), TIM_SDKAPPID=1400000000 and
TIM_SECRET_KEY set to the demo key above (or the --sdkappid and --secret-key given here).";

struct Options {
    config: EmulatorConfig,
    seed_demo: bool,
    stop_on_stdin_eof: bool,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut config =
        EmulatorConfig { sdkappid: DEMO_SDKAPPID, secret_key: DEMO_SECRET_KEY.into(), ..Default::default() };
    let mut admins = Vec::new();
    let (mut seed_demo, mut stop_on_stdin_eof) = (false, false);
    let mut args = args.peekable();
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
                config.host = v.parse::<IpAddr>().map_err(|_| format!("--host: {v:?} is not an IP address"))?;
            }
            "--port" => {
                let v = value("a port")?;
                config.port = v.parse().map_err(|_| format!("--port: {v:?} is not a port number"))?;
            }
            "--sdkappid" => {
                let v = value("a number")?;
                config.sdkappid = v.parse().map_err(|_| format!("--sdkappid: {v:?} is not a number"))?;
            }
            // The key itself is never echoed back in a message.
            "--secret-key" => config.secret_key = value("a key")?,
            "--admin" => admins.push(value("an account")?),
            "--rate-limit" => {
                let v = value("a number or off")?;
                config.rate_limit = match v.as_str() {
                    "off" | "none" => None,
                    n => Some(
                        n.parse::<f64>()
                            .ok()
                            .filter(|n| *n >= 0.0)
                            .ok_or_else(|| format!("--rate-limit: {v:?} is not a number ≥ 0 or off"))?,
                    ),
                };
            }
            "--latency-ms" => {
                let v = value("milliseconds")?;
                let ms: f64 = v
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite() && *n >= 0.0)
                    .ok_or_else(|| format!("--latency-ms: {v:?}"))?;
                config.latency = Duration::from_secs_f64(ms / 1000.0);
            }
            "--seed-demo" => seed_demo = true,
            "--stop-on-stdin-eof" => stop_on_stdin_eof = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if !admins.is_empty() {
        config.admins = admins;
    }
    Ok(Some(Options { config, seed_demo, stop_on_stdin_eof }))
}

/// A few groups with messages, to try the emulator by hand.
fn seed_demo(emu: &Emulator) -> timrest::Result<()> {
    let public = emu.create_group(&GroupSpec { name: "demo public".into(), ..GroupSpec::new("Public") })?;
    for i in 0..30 {
        let from = if i % 3 == 0 { "spammer" } else { "alice" };
        emu.send_group_msg(&public, from, &format!("message {i}"), None)?;
    }
    let work =
        emu.create_group(&GroupSpec { name: "demo work".into(), ..GroupSpec::new("Work").with_id("demo-work") })?;
    for i in 0..10 {
        emu.send_group_msg(&work, if i % 2 == 0 { "spammer" } else { "bob" }, &format!("note {i}"), None)?;
    }
    let community =
        emu.create_group(&GroupSpec { name: "demo community".into(), ..GroupSpec::community_with_topics() })?;
    let topic = emu.create_topic(&community, "news", None)?;
    for i in 0..10 {
        emu.send_group_msg(
            &community,
            if i % 2 == 0 { "spammer" } else { "carol" },
            &format!("news {i}"),
            Some(&topic),
        )?;
    }
    eprintln!("seeded Public group {public} (30 messages, 10 from spammer)");
    eprintln!("seeded Work group {work} (10 messages, 5 from spammer)");
    eprintln!("seeded Community group {community}, topic {topic} (10 messages, 5 from spammer)");
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("timrest-emulator: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let emu = match Emulator::start(options.config) {
        Ok(emu) => emu,
        Err(e) => {
            eprintln!("timrest-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if options.seed_demo
        && let Err(e) = seed_demo(&emu)
    {
        eprintln!("timrest-emulator: seeding failed: {e}");
        return ExitCode::FAILURE;
    }
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "timrest-emulator listening on {}", emu.base_url()).and_then(|()| stdout.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    if options.stop_on_stdin_eof {
        let mut sink = [0u8; 4096];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        emu.shutdown();
        return ExitCode::SUCCESS;
    }
    // Serve until killed (SIGTERM/SIGINT end the process; the kernel closes the sockets).
    loop {
        std::thread::park();
    }
}
