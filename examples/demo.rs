//! The timrest demo: a group before and after one sender's messages are deleted.
//!
//! Starts the embedded TIM emulator on a loopback port, seeds a Public group with messages from
//! three senders, prints the history, deletes what one of them sent through the real
//! `timrest::Client` (HTTP to the emulator, signed with the demo key), and prints the history again.
//!
//! Run it with `scripts/demo.sh` (`cargo run --quiet --features emulator --example demo`).

use std::process::ExitCode;

use timrest::emulator::{self, Emulator, EmulatorConfig, GroupSpec};
use timrest::{Client, DeleteBySender};

const SCRIPT: &[(&str, &str)] = &[
    ("alice", "Morning everyone! Stand-up in 10 minutes."),
    ("bob", "On my way."),
    ("spammer42", "CHEAP WATCHES >>> http://spam.example"),
    ("alice", "Bob, can you share the release notes?"),
    ("spammer42", "Limited offer!!! Click now"),
    ("bob", "Sure, posting them after the meeting."),
    ("spammer42", "Win a free phone, reply YES"),
    ("alice", "Thanks!"),
];
const SPAMMER: &str = "spammer42";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::start(EmulatorConfig::default())?;
    println!("timrest demo: delete everything one sender posted in a group");
    println!();
    println!("  TIM emulator  {}  (sdkappid {})", emu.base_url(), emulator::DEMO_SDKAPPID);

    let group = emu.create_group(&GroupSpec {
        group_type: "Public".into(),
        name: "release-team".into(),
        ..Default::default()
    })?;
    for (sender, text) in SCRIPT {
        emu.send_group_msg(&group, sender, text, None)?;
    }
    println!("  group         {group}  (Public, {} messages from 3 senders)", SCRIPT.len());

    print_history("History before", &emu.messages(&group, None, false)?);

    let client = Client::builder()
        .sdkappid(emulator::DEMO_SDKAPPID)
        .secret_key(emulator::DEMO_SECRET_KEY)
        .identifier("administrator")
        .base_url(emu.base_url())
        .build()?;
    println!();
    println!("Deleting {SPAMMER:?}'s messages: POST /v4/group_open_http_svc/delete_group_msg_by_sender");
    let info = client.delete_by_sender(&DeleteBySender::new(&group, SPAMMER))?;
    println!(
        "  -> OK after {} attempt{}, random={}, {:.1} ms",
        info.attempts,
        if info.attempts == 1 { "" } else { "s" },
        info.random,
        info.elapsed.as_secs_f64() * 1000.0
    );

    let after = emu.messages(&group, None, false)?;
    print_history("History after", &after);

    let left = after.iter().filter(|m| sender_of(m) == SPAMMER).count();
    let removed = SCRIPT.iter().filter(|(s, _)| *s == SPAMMER).count() - left;
    println!();
    println!(
        "{SPAMMER}: {removed} message{} deleted, {left} left; {} messages from the others untouched.",
        if removed == 1 { "" } else { "s" },
        after.len()
    );
    Ok(())
}

fn sender_of(msg: &serde_json::Value) -> &str {
    msg["From_Account"].as_str().unwrap_or("?")
}

fn text_of(msg: &serde_json::Value) -> String {
    msg["MsgBody"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|elem| elem["MsgContent"]["Text"].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_history(title: &str, messages: &[serde_json::Value]) {
    let mut messages: Vec<_> = messages.iter().collect();
    messages.sort_by_key(|m| m["MsgSeq"].as_u64().unwrap_or(0));
    println!();
    println!("{title} ({} messages):", messages.len());
    println!("  {:>4}  {:<10}  text", "seq", "sender");
    for m in messages {
        println!("  {:>4}  {:<10}  {}", m["MsgSeq"].as_u64().unwrap_or(0), sender_of(m), text_of(m));
    }
}
