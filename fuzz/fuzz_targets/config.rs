//! Configuration strings: every `TIM_*` variable (as `from_env` reads them), the base URL, region,
//! proxy URL and `rate_limit_url` given to the builder. A bad one is a ConfigError, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timrest::{Client, ErrorKind};

const NAMES: [&str; 12] = [
    "TIM_SDKAPPID",
    "TIM_SECRET_KEY",
    "TIM_USERSIG",
    "TIM_IDENTIFIER",
    "TIM_REGION",
    "TIM_BASE_URL",
    "TIM_RATE_LIMIT",
    "TIM_RATE_LIMIT_URL",
    "TIM_RATE_LIMIT_FALLBACK",
    "TIM_RATE_LIMIT_CA_PEM",
    "TIM_RATE_LIMIT_CLIENT_CERT_PEM",
    "TIM_RATE_LIMIT_CLIENT_KEY_PEM",
];

fn checked(result: timrest::Result<timrest::Config>) {
    if let Err(e) = result {
        assert!(matches!(e.kind(), ErrorKind::Config | ErrorKind::InvalidArgument), "{:?}: {e}", e.kind());
        let _ = format!("{e} {e:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Fields split by NUL: the environment, in the order of NAMES (absent past the end).
    let fields: Vec<&str> = text.split('\0').collect();
    let lookup = |name: &str| {
        let i = NAMES.iter().position(|n| *n == name)?;
        fields.get(i).map(|v| (*v).to_owned())
    };
    match timrest::ClientBuilder::from_lookup(lookup) {
        Ok(builder) => checked(builder.into_config()),
        Err(e) => assert!(matches!(e.kind(), ErrorKind::Config | ErrorKind::InvalidArgument), "{e}"),
    }
    // The same strings given to the builder.
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    let mut b = Client::builder().sdkappid(1_400_000_123).secret_key("k").base_url(field(0)).proxy(field(1));
    if !field(2).is_empty() {
        b = b.rate_limit_url(field(2));
    }
    if let Ok(region) = field(3).parse::<timrest::Region>() {
        b = b.region(region);
    }
    checked(b.into_config());
});
