//! The incident job's report, as `resume` reads it after a crash: any bytes after (or instead
//! of) the job's header line. A report that cannot be resumed is an error that says why.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

static HEADER: LazyLock<Value> = LazyLock::new(|| {
    json!({"deep": false, "dry_run": false, "group_types": null, "include_topics": true, "job": "purge_senders",
           "kick": false, "mute": false, "remove": false, "sdkappid": 1400000123, "senders": ["spammer"],
           "since": null, "version": 1})
});

fuzz_target!(|data: &[u8]| {
    // Half the inputs start with the right header, so that the fuzzer spends its time past it.
    let bytes = if data.first().is_some_and(|b| b & 1 == 1) {
        let mut with = format!("{}\n", json!({"timrest_job": *HEADER})).into_bytes();
        with.extend_from_slice(&data[1..]);
        with
    } else {
        data.to_vec()
    };
    match timrest::fuzzing::read_job_report(&bytes, &HEADER) {
        Ok((_, _, keep)) => {
            assert!(keep <= bytes.len());
            // Only a torn last line is dropped: what is kept ends at a line's end.
            assert!(keep == bytes.len() || bytes[keep - 1] == b'\n');
        }
        Err(why) => assert!(!why.is_empty()),
    }
});
