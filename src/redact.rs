//! What may be shown: URLs and server text with the secrets taken out.
//!
//! Everything the library shows (error messages, `Debug`, log lines) goes through these before
//! it leaves: a request URL carries the UserSig, a proxy or Redis URL may carry a password.
//! Exact known values (the client's own key and UserSig) are removed by
//! [`Error::without`](crate::Error) where the client knows them.

/// Replaces the value of every `usersig=` query parameter in `text` by `<redacted>`
/// (case-insensitive). Use it on anything that may contain a request URL before showing it.
///
/// ```
/// let url = "https://h/v4/s/c?sdkappid=1&identifier=admin&usersig=eJyrVg*-_&random=7";
/// assert_eq!(
///     timrest::redact::redact_usersig(url),
///     "https://h/v4/s/c?sdkappid=1&identifier=admin&usersig=<redacted>&random=7"
/// );
/// ```
pub fn redact_usersig(text: &str) -> String {
    const NEEDLE: &str = "usersig=";
    const MASK: &str = "<redacted>";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(NEEDLE) {
        let value_start = pos + found + NEEDLE.len();
        out.push_str(&text[pos..value_start]);
        let value_len = text[value_start..]
            .find(|c: char| c == '&' || c == '#' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(text.len() - value_start);
        let value = &text[value_start..value_start + value_len];
        out.push_str(if value == MASK || value.is_empty() { value } else { MASK });
        pos = value_start + value_len;
    }
    out.push_str(&text[pos..]);
    out
}

/// `scheme://user:pass@host` → `scheme://<redacted>@host` (proxy and Redis URLs may carry credentials).
pub(crate) fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").map_or(("", url), |(s, r)| (s, r));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let sep = if scheme.is_empty() { "" } else { "://" };
            format!("{scheme}{sep}<redacted>{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_every_usersig_value() {
        let cases = [
            ("a?usersig=SECRET&b=1", "a?usersig=<redacted>&b=1"),
            ("USERSIG=SECRET", "USERSIG=<redacted>"),
            ("x usersig=S1 y UserSig=S2\"z", "x usersig=<redacted> y UserSig=<redacted>\"z"),
            ("usersig=", "usersig="),
            ("usersig=<redacted>", "usersig=<redacted>"),
            ("no secret here", "no secret here"),
            ("é usersig=é&", "é usersig=<redacted>&"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_usersig(input), expected, "{input}");
        }
    }

    #[test]
    fn userinfo_is_hidden_and_nothing_else() {
        assert_eq!(redact_userinfo("http://p.local:3128"), "http://p.local:3128");
        assert_eq!(redact_userinfo("u:p@h:1"), "<redacted>@h:1");
        assert_eq!(redact_userinfo("redis://:pw@r:6379/0?x=a@b"), "redis://<redacted>@r:6379/0?x=a@b");
    }

    proptest::proptest! {
        #[test]
        fn redaction_removes_any_usersig_value(prefix in "\\PC{0,20}", sig in "[A-Za-z0-9*_-]{1,40}", suffix in "(&\\PC{0,10})?") {
            let text = format!("{prefix}?usersig={sig}{suffix}");
            let red = redact_usersig(&text);
            let shown = red.contains(&format!("usersig={sig}"));
            proptest::prop_assert!(!shown || sig == "<redacted>", "{}", red);
        }
    }
}
