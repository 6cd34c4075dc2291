//! `timrest-emulator`: the TIM REST server emulator as a standalone process.
//!
//! The same command as `timrest emulator` (the Python package's), from the same code
//! ([`timrest::emulator::serve`]): prints exactly one line on stdout once it is ready —
//! `timrest-emulator listening on URL` — then serves until Ctrl-C or SIGTERM, or until stdin
//! closes with `--stop-on-stdin-eof`. Everything else (seeded groups, errors) goes to stderr.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use timrest::emulator::serve;

fn main() -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Ctrl-C, SIGTERM and SIGHUP stop it the orderly way: the log file gets its last lines.
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        eprintln!(
            "timrest-emulator: warning: cannot catch Ctrl-C ({e}); a signal stops it without the log's last lines"
        );
    }
    let status = serve::run("timrest-emulator", std::env::args().skip(1), &|| stop.load(Ordering::SeqCst));
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}
