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
///
/// The URL is read as the `url` crate reads it (the `redis` crate and ureq use it), and any
/// username or password it finds is replaced. Where that reading cannot be trusted to have found
/// the whole userinfo (the URL does not parse, names several hosts, or keeps an `@` after its
/// authority, as a raw `/`, `?` or `#` in a password makes it do), everything from the scheme to
/// the last `@` is replaced: more is hidden than may be, never less.
pub(crate) fn redact_userinfo(url: &str) -> String {
    const MASK: &str = "<redacted>";
    let (prefix, rest) = match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => ("", url),
    };
    if let Ok(parsed) = url::Url::parse(url)
        && !prefix.is_empty()
        && parsed.has_host()
    {
        let tail = [parsed.path(), parsed.query().unwrap_or(""), parsed.fragment().unwrap_or("")];
        if !tail.iter().any(|part| part.contains('@')) {
            if parsed.username().is_empty() && parsed.password().is_none() {
                return url.to_owned();
            }
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let host_at = rest[..authority_end].rfind('@').map_or(0, |at| at + 1);
            return format!("{prefix}{MASK}@{}", &rest[host_at..]);
        }
    }
    match rest.rfind('@') {
        Some(at) => format!("{prefix}{MASK}{}", &rest[at..]),
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
        assert_eq!(redact_userinfo("redis://:pw@r:6379/0"), "redis://<redacted>@r:6379/0");
        // An `@` after the authority may be the end of a password with a raw `/`, `?` or `#`:
        // everything up to it goes.
        assert_eq!(redact_userinfo("redis://:pw@r:6379/0?x=a@b"), "redis://<redacted>@b");
        for password in ["a/b", "a#b", "a?b", "a@b", "a:b", "a%2Fb", "a%40b", "/#?@:"] {
            for url in [
                format!("redis://user:{password}@127.0.0.1:6379/0"),
                format!("redis://:{password}@127.0.0.1:6379"),
                format!("rediss+cluster://user:{password}@n1:7000,n2:7001"),
                format!("redis+sentinel://:{password}@s1:26379,s2/mymaster"),
            ] {
                let shown = redact_userinfo(&url);
                assert!(!shown.contains(password), "{url} → {shown}");
                assert!(shown.contains("<redacted>"), "{url} → {shown}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn redaction_removes_any_usersig_value(prefix in "\\PC{0,20}", sig in "[A-Za-z0-9*_-]{1,40}", suffix in "(&\\PC{0,10})?") {
            let text = format!("{prefix}?usersig={sig}{suffix}");
            let red = redact_usersig(&text);
            let shown = red.contains(&format!("usersig={sig}"));
            proptest::prop_assert!(!shown || sig == "<redacted>", "{}", red);
        }

        #[test]
        fn no_password_survives_in_a_redis_url(
            password in "[a-z0-9/#?@:%]{1,16}",
            user in "(|[a-z]{1,6})",
            form in 0..4usize,
        ) {
            let password = format!("PW{password}");
            let url = match form {
                0 => format!("redis://{user}:{password}@127.0.0.1:6379/0"),
                1 => format!("rediss://{user}:{password}@redis.local"),
                2 => format!("redis+cluster://{user}:{password}@n1:7000,n2:7001"),
                _ => format!("redis+sentinel://{user}:{password}@s1:26379/mymaster"),
            };
            let shown = redact_userinfo(&url);
            proptest::prop_assert!(!shown.contains("PW"), "{} → {}", url, shown);
        }
    }
}
