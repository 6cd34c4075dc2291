//! Quick start: delete what one user sent in a group, against the emulator that ships with timrest
//! (`cargo run --features emulator --example quickstart`). Against your app, build the client with
//! `Client::from_env()?` (TIM_SDKAPPID, TIM_SECRET_KEY …) and drop the emulator.

use timrest::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, GroupSpec};
use timrest::{Client, DeleteBySender, ErrorKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::start(EmulatorConfig::default())?;
    let group = emu.create_group(&GroupSpec::new("Public"))?;
    for (sender, text) in [("alice", "hello"), ("spammer42", "CHEAP WATCHES"), ("spammer42", "click now")] {
        emu.send_group_msg(&group, sender, text, None)?;
    }

    let client =
        Client::builder().sdkappid(DEMO_SDKAPPID).secret_key(DEMO_SECRET_KEY).base_url(emu.base_url()).build()?;
    let info = client.delete_by_sender(&DeleteBySender::new(&group, "spammer42"))?;
    println!("deleted spammer42's messages in {group}: {} attempt(s), random {}", info.attempts, info.random);

    match client.delete_group_msg_by_sender("@TGS#GONE", "spammer42") {
        Err(e) if e.kind() == ErrorKind::GroupNotFound => println!("no group @TGS#GONE (code {:?})", e.code()),
        other => other?,
    }
    println!("{} message(s) left in {group}", emu.messages(&group, None, false)?.len());
    Ok(())
}
