//! Custom hostnames (SPEC.md §2.3): RFC 1123 validation, the operator's rules (platform domain,
//! wildcards) and which attached names a visitor host can match. Pure; never panics.

use std::fmt;

use super::ParseError;

pub const HOSTNAME_MAX: usize = 253;
pub const LABEL_MAX: usize = 63;

/// A validated custom hostname: lowercase, no trailing dot, >= 2 RFC 1123 labels, optionally
/// a leading `*.` (a one-level wildcard) when the operator allows wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hostname(String);

/// The operator's rules for which hostnames tenants may attach.
#[derive(Debug, Clone, Default)]
pub struct HostnameRules {
    /// `PLATFORM_DOMAIN`: neither it nor anything under it may be attached.
    pub platform_domain: String,
    /// `ALLOW_WILDCARD_DOMAINS = "true"`.
    pub allow_wildcards: bool,
}

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

/// Lowercases, trims and strips one trailing dot (the form every lookup uses).
pub fn normalize_hostname(s: &str) -> String {
    let t = s.trim();
    t.strip_suffix('.').unwrap_or(t).to_ascii_lowercase()
}

fn check_label(l: &str) -> Result<(), ParseError> {
    if l.is_empty() {
        return err("must not contain empty labels (`..`, or a leading dot)");
    }
    if l.len() > LABEL_MAX {
        return err(format!("label `{l}` is longer than {LABEL_MAX} characters"));
    }
    if !l.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
        return err(format!("label `{l}` may contain only a-z, 0-9 and '-'"));
    }
    if l.starts_with('-') || l.ends_with('-') {
        return err(format!("label `{l}` must not start or end with '-'"));
    }
    Ok(())
}

fn under(host: &str, parent: &str) -> bool {
    !parent.is_empty()
        && (host == parent || host.strip_suffix(parent).is_some_and(|rest| rest.ends_with('.')))
}

impl Hostname {
    /// Validates a hostname a tenant wants to attach. The error says why, for a 400 that names
    /// the `hostname` field.
    pub fn parse(s: &str, rules: &HostnameRules) -> Result<Hostname, ParseError> {
        let h = normalize_hostname(s);
        if h.is_empty() {
            return err("must not be empty");
        }
        if !h.is_ascii() {
            return err("must be ASCII; write internationalised names in their punycode (xn--) form");
        }
        if h.starts_with('[') || h.contains(':') || h.parse::<std::net::Ipv4Addr>().is_ok() {
            return err("must be a DNS name (no IP address, no port)");
        }
        if h.len() > HOSTNAME_MAX {
            return err(format!("must be at most {HOSTNAME_MAX} characters"));
        }
        let (wildcard, name) = match h.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, h.as_str()),
        };
        if wildcard && !rules.allow_wildcards {
            return err("wildcard hostnames (`*.`) are not enabled on this platform");
        }
        let labels: Vec<&str> = name.split('.').collect();
        for l in &labels {
            if *l == "*" {
                return err("`*` is allowed only as the whole first label (`*.example.com`)");
            }
            check_label(l)?;
        }
        if labels.len() < 2 {
            return err(if wildcard {
                "a wildcard needs at least two labels after `*.` (e.g. `*.example.com`)"
            } else {
                "must have at least two labels (e.g. `www.example.com`)"
            });
        }
        if labels.last().is_some_and(|l| l.bytes().all(|c| c.is_ascii_digit())) {
            return err("the last label must not be all digits (that is an IP address or no real domain)");
        }
        if under(name, "localhost") {
            return err("`localhost` names cannot be attached");
        }
        if under(name, "workers.dev") {
            return err("`workers.dev` names belong to Cloudflare and cannot be attached");
        }
        let platform = normalize_hostname(&rules.platform_domain);
        if under(name, &platform) {
            return err(format!(
                "`{platform}` and names under it belong to the platform; projects get `<slug>.{platform}` already"
            ));
        }
        Ok(Hostname(h))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one-level wildcard a visitor host would match: `a.example.com` -> `*.example.com`.
/// `None` when the parent has fewer than two labels (`*.com` can never be attached).
pub fn wildcard_of(host: &str) -> Option<String> {
    let (_, parent) = host.split_once('.')?;
    (parent.contains('.') && !parent.starts_with('.')).then(|| format!("*.{parent}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(wild: bool) -> HostnameRules {
        HostnameRules { platform_domain: "flotilla.dev".into(), allow_wildcards: wild }
    }

    #[test]
    fn hostname_table() {
        let ok = [
            ("www.example.com", "www.example.com"),
            ("WWW.Example.COM.", "www.example.com"),
            ("  shop.example.co.uk ", "shop.example.co.uk"),
            ("a-b.c1.io", "a-b.c1.io"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("123.example.com", "123.example.com"),
            ("notflotilla.dev", "notflotilla.dev"),
        ];
        for (input, want) in ok {
            assert_eq!(Hostname::parse(input, &rules(false)).map(|h| h.0), Ok(want.to_string()), "{input}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        let too_long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
        let bad = [
            ("", "empty"),
            (".", "empty"),
            ("example", "two labels"),
            ("a..b.com", "empty labels"),
            (".example.com", "empty labels"),
            ("-a.example.com", "start or end"),
            ("a-.example.com", "start or end"),
            ("a_b.example.com", "a-z"),
            ("exa mple.com", "a-z"),
            ("bücher.de", "ASCII"),
            (long_label.as_str(), "longer than 63"),
            (too_long.as_str(), "at most 253"),
            ("192.168.0.1", "IP address"),
            ("1.2.3", "all digits"),
            ("example.123", "all digits"),
            ("::1", "IP address"),
            ("[::1]", "IP address"),
            ("2001:db8::1", "IP address"),
            ("localhost", "two labels"),
            ("app.localhost", "localhost"),
            ("x.workers.dev", "workers.dev"),
            ("flotilla.dev", "belong to the platform"),
            ("blog.flotilla.dev", "belong to the platform"),
            ("a.b.flotilla.dev", "belong to the platform"),
            ("*.example.com", "not enabled"),
            ("a.*.example.com", "first label"),
            ("example.com:443", "IP address"),
        ];
        for (input, why) in bad {
            let e = Hostname::parse(input, &rules(false)).unwrap_err();
            assert!(e.0.contains(why), "{input}: {e}");
        }
    }

    #[test]
    fn wildcards_only_when_allowed() {
        let h = Hostname::parse("*.Example.com", &rules(true)).unwrap();
        assert_eq!(h.as_str(), "*.example.com");
        assert!(h.is_wildcard());
        assert!(Hostname::parse("*.com", &rules(true)).unwrap_err().0.contains("two labels"));
        assert!(Hostname::parse("*.flotilla.dev", &rules(true)).is_err());
        assert!(Hostname::parse("*.*.example.com", &rules(true)).is_err());
        assert!(Hostname::parse("*", &rules(true)).is_err());
    }

    #[test]
    fn an_empty_platform_domain_blocks_nothing_extra() {
        let r = HostnameRules { platform_domain: String::new(), allow_wildcards: false };
        assert!(Hostname::parse("www.example.com", &r).is_ok());
    }

    #[test]
    fn wildcard_of_a_visitor_host() {
        assert_eq!(wildcard_of("a.example.com").as_deref(), Some("*.example.com"));
        assert_eq!(wildcard_of("a.b.example.com").as_deref(), Some("*.b.example.com"));
        assert_eq!(wildcard_of("example.com"), None);
        assert_eq!(wildcard_of("com"), None);
        assert_eq!(wildcard_of("a..com"), None);
    }

    #[test]
    fn never_panics_on_arbitrary_input() {
        // Deterministic pseudo-random strings over an alphabet rich in the characters the
        // rules care about (dots, stars, hyphens, digits, brackets, colons, non-ASCII).
        let alphabet: Vec<char> = "ab9-.*:[]_ .Zé\u{0}\u{200b}".chars().collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 300) as usize;
            let s: String =
                (0..len).map(|i| alphabet[((x >> (i % 48)) as usize + i * 7) % alphabet.len()]).collect();
            for wild in [false, true] {
                if let Ok(h) = Hostname::parse(&s, &rules(wild)) {
                    assert!(h.as_str().len() <= HOSTNAME_MAX);
                    assert_eq!(
                        Hostname::parse(h.as_str(), &rules(wild)).as_ref(),
                        Ok(&h),
                        "idempotent: {s:?}"
                    );
                }
            }
            let _ = wildcard_of(&s);
            let _ = normalize_hostname(&s);
        }
    }
}
