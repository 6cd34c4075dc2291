//! No secret leaks, in the Rust face: with a canary secret key and a canary UserSig that the
//! emulator accepts (so that they really travel), through successful calls and every kind of
//! fault, neither appears in any log record at `trace` level (ureq's own records included), in
//! any error's `Display`, `Debug` or source chain, in the `Debug` of the builder, config, client
//! or emulator, or in the emulator's request log. Plus property tests of the UserSig codec:
//! tampering is detected and verification errors never quote the key or the UserSig.

use std::time::Duration;

use timrest::emulator::{DEMO_SDKAPPID, Emulator, EmulatorConfig, Fault, GroupSpec};
use timrest::{Client, ClientBuilder, ErrorKind, usersig};

const DELETE: &str = "delete_group_msg_by_sender";
const CANARY_KEY: &str = "CANARY-key-7f3e9a1c-never-print-me";
const ADMIN: &str = "administrator";

#[path = "support/log_capture.rs"]
mod log_capture;
use log_capture::records;

/// An emulator of an app whose key is the canary.
fn emulator() -> Emulator {
    log_capture::install();
    Emulator::start(EmulatorConfig { secret_key: CANARY_KEY.to_owned(), rate_limit: None, ..EmulatorConfig::default() })
        .expect("emulator")
}

/// The secrets to look for: the key, the canary UserSig, and any string shaped like a UserSig
/// (base64 of a zlib stream starts with "eJ"), which catches the ones the client signs itself.
struct Canaries {
    usersig: String,
}

impl Canaries {
    fn assert_absent(&self, text: &str, place: &str) {
        assert!(!text.contains(CANARY_KEY), "the secret key leaked into {place}: {text}");
        assert!(!text.contains(&self.usersig), "the canary UserSig leaked into {place}: {text}");
        assert!(!text.contains("never-print-me"), "part of the key leaked into {place}: {text}");
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || "*-_".contains(c))) {
            assert!(!(word.starts_with("eJ") && word.len() > 40), "a UserSig leaked into {place}: {text}");
        }
    }
}

fn error_text(e: &timrest::Error) -> String {
    let mut text = format!("{e} | {e:?}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    text
}

/// The faults a call meets, each once (the client retries past the retryable ones).
fn faults() -> Vec<Fault> {
    vec![
        Fault::error_code(10002),
        Fault::error_code(70001),
        Fault::http_status(502),
        Fault::drop_connection(),
        Fault::reset(),
        Fault::truncate(),
        Fault::body(
            "not json; usersig=eJyrVgrxCdYrSy1SslIyUtJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpYJkTE1NtQ",
        ),
        Fault::slow_body(Duration::from_millis(400)),
        Fault::delay(Duration::from_millis(1500)),
    ]
}

#[test]
fn canaries_appear_nowhere_through_calls_and_faults() {
    let emu = emulator();
    let group = emu.create_group(&GroupSpec::new("Public")).expect("group");
    let canaries =
        Canaries { usersig: usersig::generate(DEMO_SDKAPPID, CANARY_KEY, ADMIN, 86_400, usersig::unix_now()) };
    let builder = || {
        Client::builder()
            .sdkappid(DEMO_SDKAPPID)
            .base_url(emu.base_url())
            .rate_limit(None)
            .timeout(Duration::from_millis(1000))
            .deadline(Duration::from_secs(10))
            .max_retries(1)
            .proxy("http://proxyuser:never-print-me@127.0.0.1:9")
    };
    let with_key = builder().secret_key(CANARY_KEY).build();
    // The proxy URL is refused or used; either way its password must not show. Use no proxy for calls.
    if let Err(e) = &with_key {
        canaries.assert_absent(&error_text(e), "a proxy error");
    }
    let key_client = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .base_url(emu.base_url())
        .rate_limit(None)
        .timeout(Duration::from_millis(1000))
        .deadline(Duration::from_secs(10))
        .max_retries(1)
        .secret_key(CANARY_KEY)
        .build()
        .expect("client with key");
    let sig_client = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .base_url(emu.base_url())
        .rate_limit(None)
        .timeout(Duration::from_millis(1000))
        .deadline(Duration::from_secs(10))
        .max_retries(0)
        .usersig(canaries.usersig.clone())
        .build()
        .expect("client with usersig");

    let mut texts = Vec::new();
    let (mut ok, mut failed) = (0, 0);
    for client in [&key_client, &sig_client] {
        // A success: the UserSig went out on the wire (the emulator verified it) ...
        emu.send_group_msg(&group, "spammer", "x", None).expect("seed");
        client.delete_group_msg_by_sender(&group, "spammer").expect("the canary credentials work");
        ok += 1;
        for fault in faults() {
            emu.inject(DELETE, fault.clone());
            match client.delete_group_msg_by_sender(&group, "spammer") {
                Ok(()) => ok += 1,
                Err(e) => {
                    failed += 1;
                    texts.push((format!("error after {fault:?}"), error_text(&e)));
                }
            }
        }
        // ... and refusals of the credentials themselves.
        let wrong = Client::builder()
            .sdkappid(DEMO_SDKAPPID)
            .base_url(emu.base_url())
            .rate_limit(None)
            .identifier("someone_else")
            .secret_key(CANARY_KEY)
            .build()
            .expect("client");
        let e = wrong.delete_group_msg_by_sender(&group, "spammer").expect_err("not an admin");
        texts.push(("a refusal".into(), error_text(&e)));
        texts.push(("Client Debug".into(), format!("{client:?} {:?}", client.config())));
    }
    assert!(ok >= 2 && failed >= 6, "ok {ok}, failed {failed}");
    // A UserSig the server no longer accepts (signed for an hour ago, valid 2 minutes).
    let old = usersig::generate(DEMO_SDKAPPID, CANARY_KEY, ADMIN, 120, usersig::unix_now() - 3600);
    let old_client = Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .base_url(emu.base_url())
        .usersig(old.clone())
        .build()
        .expect("client");
    let e = old_client.delete_group_msg_by_sender(&group, "spammer").expect_err("expired");
    assert_eq!(e.kind(), ErrorKind::UserSigExpired);
    let text = error_text(&e);
    assert!(!text.contains(&old), "{text}");
    texts.push(("an expired UserSig".into(), text));

    // Builder, config and client Debug, with credentials in the proxy URL.
    let b = ClientBuilder::new()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(CANARY_KEY)
        .proxy("socks5://proxyuser:never-print-me@127.0.0.1:1080")
        .ca_pem(b"-----BEGIN CERTIFICATE-----".to_vec());
    texts.push(("ClientBuilder Debug".into(), format!("{b:?}")));
    let b2 = ClientBuilder::new().sdkappid(DEMO_SDKAPPID).usersig(canaries.usersig.clone());
    texts.push(("ClientBuilder Debug (usersig)".into(), format!("{b2:?}")));
    let config = b2.into_config().expect("config");
    texts.push(("Config Debug".into(), format!("{config:?} {:?}", config.auth)));
    texts.push(("Emulator Debug".into(), format!("{emu:?}")));

    // The emulator's request log, as a test or a user would dump it.
    let log = serde_json::to_string(&emu.requests()).expect("log as JSON");
    assert!(log.contains("\"identifier\":\"administrator\""), "the log is not empty: {log}");
    texts.push(("the emulator's request log".into(), log));

    // Every log record, at trace level, ureq's included; ureq did log the request lines.
    let lines = records();
    assert!(lines.iter().any(|l| l.starts_with("TRACE ureq")), "ureq logged nothing at trace level");
    assert!(lines.iter().any(|l| l.contains("timrest-usersig-placeholder")), "no request line was logged");
    assert!(lines.iter().any(|l| l.starts_with("DEBUG timrest ")), "the client logged nothing");
    for line in &lines {
        canaries.assert_absent(line, "a log record");
    }
    for (place, text) in &texts {
        canaries.assert_absent(text, place);
    }
    eprintln!("secrets: {} texts and {} log records checked, {ok} calls ok, {failed} failed", texts.len(), lines.len());
}

#[test]
fn builder_debug_redacts_every_credential() {
    let b = ClientBuilder::new()
        .sdkappid(1)
        .secret_key(CANARY_KEY)
        .usersig("eJyrVgrxCdYrSy1SslIyUtJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFG")
        .proxy("http://proxyuser:never-print-me@proxy.local:3128")
        .base_url("https://user:never-print-me@h.example/?usersig=eJyrVgrxCdYrSy1SslIyUtJRAItkpqTmlWSmZUIkKjIT87NK8");
    let text = format!("{b:?}");
    Canaries { usersig: "eJyrVgrx".into() }.assert_absent(&text, "ClientBuilder Debug");
    assert!(text.contains("http://<redacted>@proxy.local:3128"), "{text}");
    let e = b.into_config().expect_err("both key and usersig");
    Canaries { usersig: "eJyrVgrx".into() }.assert_absent(&error_text(&e), "a config error");
    let e = ClientBuilder::new()
        .sdkappid(1)
        .secret_key("k")
        .base_url("https://user:never-print-me@h.example/")
        .into_config()
        .expect_err("credentials in the base URL");
    assert_eq!(e.kind(), ErrorKind::Config);
    Canaries { usersig: "eJyrVgrx".into() }.assert_absent(&error_text(&e), "a base_url error");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Changing any one character of a UserSig (to another of its alphabet) never yields a
    /// UserSig that verifies as anything but the original, and the error quotes neither the key
    /// nor the UserSig.
    #[test]
    fn tampering_with_any_character_is_detected(
        key in "[ -~]{8,64}",
        identifier in "[A-Za-z0-9_-]{1,32}",
        position in proptest::num::usize::ANY,
        replacement in proptest::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_".chars().collect::<Vec<_>>()
        ),
    ) {
        let now = 1_700_000_000;
        let sig = usersig::generate(DEMO_SDKAPPID, &key, &identifier, 86_400, now);
        let at = position % sig.len();
        proptest::prop_assume!(sig.as_bytes()[at] != replacement as u8);
        let mut tampered = sig.clone().into_bytes();
        tampered[at] = replacement as u8;
        let tampered = String::from_utf8(tampered).expect("ASCII");
        match usersig::verify(&tampered, DEMO_SDKAPPID, &key, &identifier, now) {
            // A change in bits that carry nothing (the padding bits after deflate's last block, a
            // base64 padding character turned into a byte after the zlib stream) decodes to the
            // very same signed text: accepted, and nothing was forged. Anything else must fail.
            Ok(info) => {
                let original = usersig::verify(&sig, DEMO_SDKAPPID, &key, &identifier, now).expect("original");
                proptest::prop_assert_eq!(format!("{info:?}"), format!("{original:?}"), "position {}", at);
                let (a, b) = (usersig::inspect(&tampered).expect("decodes"), usersig::inspect(&sig).expect("decodes"));
                proptest::prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
            }
            Err(e) => {
                let text = format!("{e} {e:?}");
                proptest::prop_assert!(!text.contains(&key) && !text.contains(&tampered) && !text.contains(&sig), "{}", text);
            }
        }
    }

    /// A UserSig verified with any other key fails, without quoting either key.
    #[test]
    fn another_key_never_verifies(key in "[ -~]{8,40}", other in "[ -~]{8,40}", identifier in "[A-Za-z0-9_-]{1,32}") {
        proptest::prop_assume!(key != other);
        let sig = usersig::generate(DEMO_SDKAPPID, &key, &identifier, 86_400, 1_700_000_000);
        let e = usersig::verify(&sig, DEMO_SDKAPPID, &other, &identifier, 1_700_000_000).expect_err("wrong key");
        let text = format!("{e} {e:?}");
        proptest::prop_assert!(!text.contains(&key) && !text.contains(&other) && !text.contains(&sig), "{}", text);
    }

    /// Config errors and the builder's `Debug` never show the secret key, whatever it is and
    /// whatever else is wrong.
    #[test]
    fn config_errors_never_quote_the_key(key in "[ -~]{8,40}", rate in -10.0f64..0.0, id in "\\PC{0,40}") {
        proptest::prop_assume!(!id.contains(&key));
        for builder in [
            ClientBuilder::new().sdkappid(1).secret_key(key.clone()).rate_limit(Some(rate)),
            ClientBuilder::new().sdkappid(1).secret_key(key.clone()).identifier(id.clone()),
            ClientBuilder::new().secret_key(key.clone()),
            ClientBuilder::new().sdkappid(1).secret_key(key.clone()).usersig(key.clone()),
            ClientBuilder::new().sdkappid(1).usersig(key.clone()),
        ] {
            let shown = format!("{builder:?}");
            proptest::prop_assert!(!shown.contains(&key), "{}", shown);
            if let Err(e) = builder.build() {
                let text = error_text(&e);
                proptest::prop_assert!(!text.contains(&key), "{}", text);
            }
        }
    }
}
