//! Custom domains (pure): the stored row and its JSON, the TXT ownership challenge, the
//! DNS-over-HTTPS JSON answer (`application/dns-json`) and the verify decision, and Cloudflare
//! for SaaS `custom_hostnames` answers, the expiry of domains left pending, and the steps of
//! releasing a purged project's domains. Everything here parses untrusted bytes and never panics.

use serde::Deserialize;
use serde_json::{json, Value};

use super::iso8601;

pub const CHALLENGE_PREFIX: &str = "_flotilla-challenge";
pub const STATUS_PENDING: &str = "pending";
pub const STATUS_ACTIVE: &str = "active";
/// How long a domain may stay pending before the cron releases it (`DOMAIN_PENDING_TTL_MS`).
pub const DEFAULT_PENDING_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Expired pending domains one cron run releases (each may cost a Cloudflare API call).
pub const EXPIRE_PENDING_CHUNK: usize = 50;

/// The pending window from the var's text: a missing, unreadable or zero value keeps the
/// default (a zero window would release every attach before its owner could verify it).
pub fn pending_ttl_ms(var: Option<&str>) -> i64 {
    var.and_then(|v| v.trim().parse::<i64>().ok()).filter(|ms| *ms > 0).unwrap_or(DEFAULT_PENDING_TTL_MS)
}

/// Domains attached at or before this instant and still pending have expired.
pub fn pending_cutoff(now_ms: i64, ttl_ms: i64) -> i64 {
    now_ms.saturating_sub(ttl_ms.max(1))
}

/// A `domains` row (migrations 0001 + 0003).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DomainRow {
    pub hostname: String,
    pub project_id: String,
    pub status: String,
    pub verification: String,
    pub created_at: i64,
    #[serde(default)]
    pub updated_at: i64,
    pub verified_at: Option<i64>,
    pub checked_at: Option<i64>,
    pub last_error: Option<String>,
    pub saas_id: Option<String>,
    pub ssl_status: Option<String>,
}

fn time(ms: Option<i64>) -> Value {
    ms.map(|t| Value::String(iso8601(t.max(0) as u64))).unwrap_or(Value::Null)
}

impl DomainRow {
    pub fn is_active(&self) -> bool {
        self.status == STATUS_ACTIVE
    }

    /// Attached more than `ttl_ms` ago and never verified: the name is released, so no one
    /// can hold a hostname by attaching it and never proving ownership. The window counts from
    /// the attach, not the last verify attempt, so retrying verify cannot extend it.
    pub fn pending_expired(&self, now_ms: i64, ttl_ms: i64) -> bool {
        self.status == STATUS_PENDING && self.created_at <= pending_cutoff(now_ms, ttl_ms)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "hostname": self.hostname,
            "projectId": self.project_id,
            "status": self.status,
            "verification": {
                "type": "txt",
                "name": challenge_name(&self.hostname),
                "value": self.verification,
            },
            "createdAt": time(Some(self.created_at)),
            "updatedAt": time(Some(self.updated_at.max(self.created_at))),
            "verifiedAt": time(self.verified_at),
            "checkedAt": time(self.checked_at),
            "lastError": self.last_error,
            "ssl": self.saas_id.as_ref().map(|id| json!({
                "status": self.ssl_status.as_deref().unwrap_or("unknown"),
                "customHostnameId": id,
            })),
        })
    }
}

/// Where the owner publishes the proof. A wildcard `*.example.com` is proven on its parent:
/// `*` is no valid DNS label, and owning `example.com`'s zone is what the wildcard claims.
pub fn challenge_name(hostname: &str) -> String {
    format!("{CHALLENGE_PREFIX}.{}", hostname.strip_prefix("*.").unwrap_or(hostname))
}

/// The value to publish: unguessable (128 random bits), recognisable, plain ASCII.
pub fn challenge_value(random: [u8; 16]) -> String {
    format!("flotilla-verify-{}", super::hex_lower(&random))
}

/// The DoH query URL (`<resolver>?name=<n>&type=TXT`). `name` is a validated hostname, so it
/// needs no escaping; the resolver URL is the operator's and may already carry a query.
pub fn doh_query_url(resolver: &str, name: &str) -> String {
    let sep = if resolver.contains('?') { '&' } else { '?' };
    format!("{resolver}{sep}name={name}&type=TXT")
}

/// What the resolver said about a TXT name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtLookup {
    /// `Status: 3`: the name does not exist.
    NxDomain,
    /// `Status: 0`: the TXT values found (possibly none), each with its strings joined.
    Records(Vec<String>),
}

#[derive(Deserialize)]
struct DohAnswer {
    #[serde(rename = "type")]
    rtype: Option<u64>,
    data: Option<String>,
}

#[derive(Deserialize)]
struct DohResponse {
    #[serde(rename = "Status")]
    status: Option<u64>,
    #[serde(rename = "Answer", default)]
    answer: Option<Vec<DohAnswer>>,
}

/// Parses a DoH JSON answer. `Err` (for the log, never the user) when the resolver failed or
/// answered something that is not the JSON API.
pub fn parse_doh_txt(body: &[u8]) -> Result<TxtLookup, String> {
    let r: DohResponse = serde_json::from_slice(body).map_err(|e| format!("not a DNS JSON answer: {e}"))?;
    match r.status {
        Some(0) => {}
        Some(3) => return Ok(TxtLookup::NxDomain),
        Some(other) => return Err(format!("resolver answered DNS status {other}")),
        None => return Err("DNS JSON answer without `Status`".into()),
    }
    // CNAMEs (type 5) and anything else the resolver followed on the way are skipped.
    let values = r
        .answer
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.rtype == Some(16))
        .filter_map(|a| a.data)
        .map(|d| txt_data(&d))
        .collect();
    Ok(TxtLookup::Records(values))
}

/// A TXT record's `data`: one or more quoted character-strings (`"a" "b"` -> `ab`, with `\"`,
/// `\\` and `\DDD` escapes), or a bare value from resolvers that do not quote.
pub fn txt_data(data: &str) -> String {
    let t = data.trim();
    if !t.starts_with('"') {
        return t.to_string();
    }
    let b = t.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut quoted = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' => quoted = !quoted,
            b'\\' if i + 1 < b.len() => {
                let digits = &b[i + 1..b.len().min(i + 4)];
                if digits.len() == 3 && digits.iter().all(u8::is_ascii_digit) {
                    let n = digits.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
                    out.push(u8::try_from(n).unwrap_or(b'?'));
                    i += 3;
                } else {
                    out.push(b[i + 1]);
                    i += 1;
                }
            }
            _ if quoted => out.push(c),
            // Whitespace (or stray bytes) between the quoted strings.
            _ => {}
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The verify decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Verified,
    /// Not proven (yet): a sentence saying what was expected and what was found.
    Unproven(String),
}

fn shown(values: &[String]) -> String {
    let mut parts: Vec<String> = values
        .iter()
        .take(5)
        .map(|v| {
            let cut: String = v.chars().take(80).collect();
            format!("{:?}", if cut.len() < v.len() { format!("{cut}...") } else { cut })
        })
        .collect();
    if values.len() > 5 {
        parts.push(format!("and {} more", values.len() - 5));
    }
    parts.join(", ")
}

pub fn decide_verification(name: &str, expected: &str, found: &TxtLookup) -> Verification {
    let publish = format!("Publish a TXT record `{name}` with the value `{expected}`, then verify again");
    match found {
        TxtLookup::Records(v) if v.iter().any(|x| x.trim() == expected) => Verification::Verified,
        TxtLookup::NxDomain => {
            Verification::Unproven(format!("No TXT record found: `{name}` does not exist (NXDOMAIN). {publish}."))
        }
        TxtLookup::Records(v) if v.is_empty() => {
            Verification::Unproven(format!("`{name}` has no TXT record. {publish}."))
        }
        TxtLookup::Records(v) => Verification::Unproven(format!(
            "The TXT record at `{name}` does not match: found {}. {publish} (DNS changes can take a few minutes \
             to be visible).",
            shown(v)
        )),
    }
}

/// What one purge message does next after releasing a chunk of a deleted project's domains
/// (their `host:` records and SaaS hostnames; the rows of the released ones are deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseStep {
    /// A full chunk was released: more domains may remain, the next message continues.
    More,
    /// Fewer than a chunk were left and all were released: the purge goes on to the rest.
    Done,
    /// A Cloudflare for SaaS delete failed: the message fails and is retried, and the rows of
    /// those hostnames stay until they are gone, so none is forgotten while still registered.
    Retry,
}

/// `fetched` domains were listed with `LIMIT chunk`; `failed` of them could not be released.
pub fn plan_release_step(fetched: usize, chunk: usize, failed: usize) -> ReleaseStep {
    if failed > 0 {
        ReleaseStep::Retry
    } else if fetched >= chunk.max(1) {
        ReleaseStep::More
    } else {
        ReleaseStep::Done
    }
}

/// A Cloudflare for SaaS custom hostname, as far as we use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaasHostname {
    pub id: String,
    pub ssl_status: String,
}

/// What a Cloudflare API answer came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaasAnswer {
    Ok(SaasHostname),
    /// `success: false`: Cloudflare's own error messages (about the hostname, never secrets).
    Refused(String),
}

/// Parses a `custom_hostnames` answer (Cloudflare's `{success, errors, result}` envelope).
/// `Err` when it is not that envelope at all (for the log).
pub fn parse_saas_answer(body: &[u8]) -> Result<SaasAnswer, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not a Cloudflare API answer: {e}"))?;
    let Some(success) = v.get("success").and_then(Value::as_bool) else {
        return Err("Cloudflare API answer without `success`".into());
    };
    if !success {
        let errors: Vec<String> = v
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let msg = e.get("message").and_then(Value::as_str)?;
                let cut: String = msg.chars().take(200).collect();
                Some(match e.get("code").and_then(Value::as_i64) {
                    Some(c) => format!("{cut} (code {c})"),
                    None => cut,
                })
            })
            .take(3)
            .collect();
        return Ok(SaasAnswer::Refused(if errors.is_empty() {
            "no reason given".into()
        } else {
            errors.join("; ")
        }));
    }
    let result = v.get("result").ok_or("Cloudflare API answer without `result`")?;
    let id =
        result.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or("result without `id`")?;
    let ssl_status = result
        .get("ssl")
        .and_then(|s| s.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .chars()
        .take(64)
        .collect();
    Ok(SaasAnswer::Ok(SaasHostname { id: id.to_string(), ssl_status }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_names_and_values() {
        assert_eq!(challenge_name("www.example.com"), "_flotilla-challenge.www.example.com");
        assert_eq!(challenge_name("*.example.com"), "_flotilla-challenge.example.com");
        let v = challenge_value([0xab; 16]);
        assert_eq!(v, format!("flotilla-verify-{}", "ab".repeat(16)));
        assert_ne!(challenge_value([1; 16]), challenge_value([2; 16]));
        assert_eq!(
            doh_query_url("https://cloudflare-dns.com/dns-query", "_c.a.com"),
            "https://cloudflare-dns.com/dns-query?name=_c.a.com&type=TXT"
        );
        assert_eq!(doh_query_url("http://x/q?ct=1", "a.b"), "http://x/q?ct=1&name=a.b&type=TXT");
    }

    #[test]
    fn txt_data_forms() {
        let cases = [
            (r#""abc""#, "abc"),
            (r#""part1" "part2""#, "part1part2"),
            (r#""with \"quote\"""#, r#"with "quote""#),
            (r#""back\\slash""#, r"back\slash"),
            (r#""caf\195\169""#, "café"),
            ("bare-value", "bare-value"),
            ("  \"spaced\"  ", "spaced"),
            (r#""unterminated"#, "unterminated"),
            (r#""""#, ""),
            ("\"trailing\\", "trailing\\"),
            (r#""\999""#, "?"),
        ];
        for (data, want) in cases {
            assert_eq!(txt_data(data), want, "{data}");
        }
    }

    #[test]
    fn doh_answers() {
        let ok = br#"{"Status":0,"TC":false,"Question":[{"name":"_c.a.com","type":16}],
            "Answer":[{"name":"_c.a.com","type":5,"TTL":1,"data":"other.example."},
                      {"name":"other.example","type":16,"TTL":60,"data":"\"v1\""},
                      {"name":"other.example","type":16,"TTL":60,"data":"\"v\" \"2\""}]}"#;
        assert_eq!(parse_doh_txt(ok), Ok(TxtLookup::Records(vec!["v1".into(), "v2".into()])));
        assert_eq!(parse_doh_txt(br#"{"Status":0}"#), Ok(TxtLookup::Records(vec![])));
        assert_eq!(parse_doh_txt(br#"{"Status":0,"Answer":null}"#), Ok(TxtLookup::Records(vec![])));
        assert_eq!(parse_doh_txt(br#"{"Status":3,"Authority":[]}"#), Ok(TxtLookup::NxDomain));
        assert!(parse_doh_txt(br#"{"Status":2}"#).unwrap_err().contains("status 2"));
        assert!(parse_doh_txt(b"<html>").is_err());
        assert!(parse_doh_txt(b"{}").is_err());
        assert!(parse_doh_txt(br#"{"Status":"0"}"#).is_err());
        assert!(parse_doh_txt(br#"{"Status":0,"Answer":{}}"#).is_err());
    }

    #[test]
    fn verification_decisions() {
        let (n, v) = ("_flotilla-challenge.a.com", "flotilla-verify-1");
        assert_eq!(
            decide_verification(n, v, &TxtLookup::Records(vec!["x".into(), v.into()])),
            Verification::Verified
        );
        let Verification::Unproven(m) = decide_verification(n, v, &TxtLookup::NxDomain) else { panic!() };
        assert!(m.contains("NXDOMAIN") && m.contains(n) && m.contains(v), "{m}");
        let Verification::Unproven(m) = decide_verification(n, v, &TxtLookup::Records(vec![])) else {
            panic!()
        };
        assert!(m.contains("no TXT record") && m.contains(v), "{m}");
        let wrong = TxtLookup::Records(vec!["stale".into(), "y".repeat(200)]);
        let Verification::Unproven(m) = decide_verification(n, v, &wrong) else { panic!() };
        assert!(m.contains("\"stale\"") && m.contains("...") && m.contains(v), "{m}");
        assert!(m.len() < 600, "found values are capped");
    }

    #[test]
    fn domain_json_shape() {
        let row = DomainRow {
            hostname: "www.a.com".into(),
            project_id: "p".into(),
            status: "pending".into(),
            verification: "flotilla-verify-x".into(),
            created_at: 0,
            updated_at: 0,
            verified_at: None,
            checked_at: Some(1000),
            last_error: Some("nope".into()),
            saas_id: None,
            ssl_status: None,
        };
        let j = row.to_json();
        assert_eq!(j["verification"]["name"], "_flotilla-challenge.www.a.com");
        assert_eq!(j["verification"]["type"], "txt");
        assert_eq!(j["verifiedAt"], Value::Null);
        assert_eq!(j["checkedAt"], "1970-01-01T00:00:01.000Z");
        assert_eq!(j["ssl"], Value::Null);
        let saas =
            DomainRow { saas_id: Some("ch1".into()), ssl_status: Some("pending_validation".into()), ..row };
        assert_eq!(saas.to_json()["ssl"]["status"], "pending_validation");
    }

    fn pending(created_at: i64) -> DomainRow {
        DomainRow {
            hostname: "a.com".into(),
            project_id: "p".into(),
            status: STATUS_PENDING.into(),
            verification: "v".into(),
            created_at,
            updated_at: created_at,
            verified_at: None,
            checked_at: None,
            last_error: None,
            saas_id: None,
            ssl_status: None,
        }
    }

    #[test]
    fn pending_domains_expire_after_the_window_counted_from_the_attach() {
        let ttl = 1000;
        let now = 10_000;
        assert!(!pending(9_001).pending_expired(now, ttl), "inside the window");
        assert!(pending(9_000).pending_expired(now, ttl), "exactly the window");
        assert!(pending(0).pending_expired(now, ttl));
        // Verify attempts do not extend it.
        let retried = DomainRow { checked_at: Some(now), updated_at: now, ..pending(0) };
        assert!(retried.pending_expired(now, ttl));
        // A verified domain never expires, however old.
        let active = DomainRow { status: STATUS_ACTIVE.into(), verified_at: Some(5), ..pending(0) };
        assert!(!active.pending_expired(now, ttl));
        assert!(!active.pending_expired(i64::MAX, ttl));
        assert_eq!(pending_cutoff(now, ttl), 9_000);
        assert_eq!(pending_cutoff(i64::MIN, ttl), i64::MIN, "never overflows");
        assert_eq!(pending_cutoff(now, 0), now - 1, "a zero window still leaves the current instant");
    }

    #[test]
    fn pending_window_from_the_var() {
        assert_eq!(pending_ttl_ms(None), DEFAULT_PENDING_TTL_MS);
        assert_eq!(DEFAULT_PENDING_TTL_MS, 604_800_000, "7 days");
        assert_eq!(pending_ttl_ms(Some(" 3000 ")), 3000);
        for bad in ["", "soon", "-5", "0", "1.5"] {
            assert_eq!(pending_ttl_ms(Some(bad)), DEFAULT_PENDING_TTL_MS, "{bad}");
        }
    }

    #[test]
    fn releasing_a_purged_projects_domains_goes_chunk_by_chunk() {
        assert_eq!(plan_release_step(50, 50, 0), ReleaseStep::More);
        assert_eq!(plan_release_step(20, 50, 0), ReleaseStep::Done);
        assert_eq!(plan_release_step(0, 50, 0), ReleaseStep::Done);
        assert_eq!(plan_release_step(50, 50, 1), ReleaseStep::Retry, "a failed SaaS delete is retried");
        assert_eq!(plan_release_step(3, 50, 3), ReleaseStep::Retry);
        // 120 domains: two full chunks, then the last 20 finish.
        let (mut left, mut messages, chunk) = (120, 0, 50);
        loop {
            let fetched = left.min(chunk);
            left -= fetched;
            messages += 1;
            if plan_release_step(fetched, chunk, 0) == ReleaseStep::Done {
                break;
            }
        }
        assert_eq!((messages, left), (3, 0));
    }

    #[test]
    fn saas_answers() {
        let ok = br#"{"success":true,"errors":[],"result":{"id":"ch1","hostname":"a.com","ssl":{"status":"pending_validation"}}}"#;
        assert_eq!(
            parse_saas_answer(ok),
            Ok(SaasAnswer::Ok(SaasHostname { id: "ch1".into(), ssl_status: "pending_validation".into() }))
        );
        let no_ssl = br#"{"success":true,"result":{"id":"ch2"}}"#;
        assert_eq!(
            parse_saas_answer(no_ssl),
            Ok(SaasAnswer::Ok(SaasHostname { id: "ch2".into(), ssl_status: "unknown".into() }))
        );
        let refused =
            br#"{"success":false,"errors":[{"code":1406,"message":"Duplicate custom hostname found."}]}"#;
        assert_eq!(
            parse_saas_answer(refused),
            Ok(SaasAnswer::Refused("Duplicate custom hostname found. (code 1406)".into()))
        );
        assert_eq!(
            parse_saas_answer(br#"{"success":false}"#),
            Ok(SaasAnswer::Refused("no reason given".into()))
        );
        assert!(parse_saas_answer(b"oops").is_err());
        assert!(parse_saas_answer(br#"{"result":{}}"#).is_err());
        assert!(parse_saas_answer(br#"{"success":true,"result":{"id":""}}"#).is_err());
    }

    #[test]
    fn parsers_never_panic() {
        let seeds: [&[u8]; 6] = [
            br#"{"Status":0,"Answer":[{"type":16,"data":"\"a\\\"b\" \"\\123\""}]}"#,
            br#"{"success":false,"errors":[{"code":1,"message":"m"}],"result":{"id":"x","ssl":{"status":"s"}}}"#,
            br#""\\\\\"\"\1\12\123\1234""#,
            b"{\"Status\":3}",
            b"\xff\xfe\x00\"",
            b"",
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for seed in seeds {
            for _ in 0..3000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut b = seed.to_vec();
                if !b.is_empty() {
                    let i = (x as usize) % b.len();
                    match x % 4 {
                        0 => b[i] = (x >> 8) as u8,
                        1 => b.truncate(i),
                        2 => b.insert(i, b"\\\"0{}[]:,"[(x >> 16) as usize % 9]),
                        _ => {
                            b.remove(i);
                        }
                    }
                }
                let _ = parse_doh_txt(&b);
                let _ = parse_saas_answer(&b);
                let s = String::from_utf8_lossy(&b);
                let _ = txt_data(&s);
                let found = TxtLookup::Records(vec![s.to_string()]);
                let _ = decide_verification("n", "v", &found);
            }
        }
    }
}
