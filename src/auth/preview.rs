//! Protected previews (pure): signed, expiring preview links and the host-only cookie a link is
//! traded for. With `previewAccess = "link"` a project's preview and alias URLs (never its
//! production URL) answer 401 unless the visitor brings a valid link or cookie.
//!
//! Tokens are HS256 JWTs under a key derived from `JWT_SECRET` for this purpose only (so an
//! upload JWT can never pass as a preview token, nor the reverse), bound to the project id, the
//! host the URL names and the exact target (a deployment id or an alias name). A link token
//! (`kind: link`) is only accepted in the query; the cookie carries its own `kind: cookie` token
//! with the same binding and expiry.

use chrono::{DateTime, TimeDelta, Utc};
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::JsonObject;
use crate::error::ApiError;

/// Query parameter that carries a preview link's token.
pub const PREVIEW_PARAM: &str = "__flotilla_preview";
/// Cookie a valid link is traded for (host-only; path-scoped in path mode).
pub const PREVIEW_COOKIE: &str = "__flotilla_preview";
pub const DEFAULT_TTL_SECS: u64 = 3600;
pub const MIN_TTL_SECS: u64 = 60;
pub const MAX_TTL_SECS: u64 = 604_800;

/// Purpose label of the derived key: distinct from the upload JWTs' use of `JWT_SECRET`.
const KEY_PURPOSE: &[u8] = b"flotilla/preview-access/v1\0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreviewKind {
    Link,
    Cookie,
}

/// What a preview URL shows: an exact deployment (by full id) or a named alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewTarget<'a> {
    Deployment(&'a str),
    Alias(&'a str),
}

impl PreviewTarget<'_> {
    fn encode(&self) -> String {
        match self {
            PreviewTarget::Deployment(id) => format!("d:{id}"),
            PreviewTarget::Alias(name) => format!("a:{name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PreviewClaims {
    kind: PreviewKind,
    pid: String,
    host: String,
    tgt: String,
}

/// Why a visitor is refused (for the log; the visitor sees one 401 page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    NoCredential,
    Malformed,
    BadSignature,
    Expired,
    WrongBinding,
    /// The platform has no usable secret: nothing can be valid.
    NoSecret,
}

fn key(secret: &[u8]) -> Hs256Key {
    let mut h = Sha256::new();
    h.update(KEY_PURPOSE);
    h.update(secret);
    Hs256Key::new(h.finalize())
}

fn usable(secret: &[u8]) -> bool {
    secret.len() >= 16
}

fn at(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms.min(i64::MAX as u64) as i64).unwrap_or_default()
}

/// Signs a token of `kind` for `host` and `target` of project `pid`, expiring at `exp_ms`.
pub fn mint(
    secret: &[u8],
    kind: PreviewKind,
    pid: &str,
    host: &str,
    target: PreviewTarget<'_>,
    now_ms: u64,
    exp_ms: u64,
) -> Result<String, ApiError> {
    if !usable(secret) {
        return Err(ApiError::internal("JWT_SECRET is missing or shorter than 16 bytes"));
    }
    let mut claims = Claims::new(PreviewClaims {
        kind,
        pid: pid.into(),
        host: host.to_ascii_lowercase(),
        tgt: target.encode(),
    });
    claims.issued_at = Some(at(now_ms));
    claims.expiration = Some(at(exp_ms));
    Hs256
        .token(&Header::empty().with_token_type("JWT"), &claims, &key(secret))
        .map_err(|e| ApiError::internal(format!("preview token signing failed: {e}")))
}

/// Verifies a token for exactly this kind, project, host and target; returns its expiry (ms).
pub fn verify(
    secret: &[u8],
    token: &str,
    kind: PreviewKind,
    pid: &str,
    host: &str,
    target: PreviewTarget<'_>,
    now_ms: u64,
) -> Result<u64, Denied> {
    if !usable(secret) {
        return Err(Denied::NoSecret);
    }
    let untrusted = UntrustedToken::new(token).map_err(|_| Denied::Malformed)?;
    let token: Token<PreviewClaims> =
        Hs256.validator(&key(secret)).validate(&untrusted).map_err(|e| match e {
            jwt_compact::ValidationError::InvalidSignature => Denied::BadSignature,
            _ => Denied::Malformed,
        })?;
    let claims = token.claims();
    let now = at(now_ms);
    let exp = claims.expiration.ok_or(Denied::Malformed)?;
    // No leeway: a link is refused the moment it expires.
    let options = TimeOptions::new(TimeDelta::zero(), move || now);
    claims.validate_expiration(&options).map_err(|_| Denied::Expired)?;
    if exp <= now {
        return Err(Denied::Expired);
    }
    let c = &claims.custom;
    if c.kind != kind || c.pid != pid || !c.host.eq_ignore_ascii_case(host) || c.tgt != target.encode() {
        return Err(Denied::WrongBinding);
    }
    Ok(exp.timestamp_millis().max(0) as u64)
}

/// `name=value` pairs of a `Cookie` header, in order; tolerant of any input (never panics).
pub fn parse_cookies(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|part| {
        let (name, value) = part.split_once('=')?;
        let name = name.trim();
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        (!name.is_empty()).then_some((name, value))
    })
}

/// Splits a raw query (without `?`) into the preview token (if any) and the rest, unchanged
/// and in order (`None` when nothing else remains).
pub fn take_token(query: &str) -> (Option<&str>, Option<String>) {
    let mut token = None;
    let mut rest: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((k, v)) if k == PREVIEW_PARAM => token = Some(v),
            None if pair == PREVIEW_PARAM => token = Some(""),
            _ => rest.push(pair),
        }
    }
    (token, (!rest.is_empty()).then(|| rest.join("&")))
}

/// A visit to a project site, as far as preview protection cares.
#[derive(Debug, Clone)]
pub struct Visit<'a> {
    /// The project's `previewAccess` is `link`.
    pub protected: bool,
    pub project_id: &'a str,
    /// `None` for the production URL (never protected).
    pub target: Option<PreviewTarget<'a>>,
    /// Normalised host (no port, lowercase).
    pub host: &'a str,
    /// Raw request path (including any path-mode prefix) and raw query without `?`.
    pub path: &'a str,
    pub query: &'a str,
    pub cookie_header: Option<&'a str>,
    /// Cookie `Path`: `/` on a subdomain, the path-mode prefix (`/__project/x@y`) otherwise.
    pub cookie_path: &'a str,
    pub https: bool,
    pub now_ms: u64,
}

/// What to answer a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Serve,
    /// A valid link: set the cookie and send the visitor to the same URL without the token.
    Redirect {
        location: String,
        set_cookie: String,
    },
    Deny(Denied),
}

/// The whole decision: is this URL protected, is the link or cookie valid for it, what to answer.
pub fn decide(secret: &[u8], v: &Visit<'_>) -> Access {
    let Some(target) = v.target else { return Access::Serve };
    if !v.protected {
        return Access::Serve;
    }
    let (token, rest) = take_token(v.query);
    if let Some(token) = token {
        return match verify(secret, token, PreviewKind::Link, v.project_id, v.host, target, v.now_ms) {
            Ok(exp_ms) => {
                match mint(secret, PreviewKind::Cookie, v.project_id, v.host, target, v.now_ms, exp_ms) {
                    Ok(cookie) => {
                        let max_age = (exp_ms.saturating_sub(v.now_ms) / 1000).max(1);
                        let secure = if v.https { "; Secure" } else { "" };
                        // The same URL without the token. A path such as `//evil.com` would
                        // be read as another host: a valid link must not become an open redirect.
                        let path = crate::assets::defang_leading_slashes(v.path);
                        let location = match rest {
                            Some(q) => format!("{path}?{q}"),
                            None => path,
                        };
                        Access::Redirect {
                        location,
                        set_cookie: format!(
                            "{PREVIEW_COOKIE}={cookie}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
                            v.cookie_path
                        ),
                    }
                    }
                    Err(_) => Access::Deny(Denied::NoSecret),
                }
            }
            Err(d) => Access::Deny(d),
        };
    }
    let mut last = Denied::NoCredential;
    for (name, value) in v.cookie_header.into_iter().flat_map(parse_cookies) {
        if name != PREVIEW_COOKIE {
            continue;
        }
        match verify(secret, value, PreviewKind::Cookie, v.project_id, v.host, target, v.now_ms) {
            Ok(_) => return Access::Serve,
            Err(d) => last = d,
        }
    }
    Access::Deny(last)
}

/// Validated `POST /__api/deployments/:id/preview-link` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewLinkRequest {
    pub ttl_secs: u64,
    pub alias: Option<String>,
}

pub fn parse_preview_link_request(body: &[u8]) -> Result<PreviewLinkRequest, ApiError> {
    let o = JsonObject::parse(body, true)?;
    o.only(&["ttlSeconds", "alias"])?;
    let bounds = || format!("must be an integer from {MIN_TTL_SECS} to {MAX_TTL_SECS} (seconds)");
    let ttl_secs = match o.get("ttlSeconds") {
        None => DEFAULT_TTL_SECS,
        Some(v) => v
            .as_u64()
            .filter(|n| (MIN_TTL_SECS..=MAX_TTL_SECS).contains(n))
            .ok_or_else(|| ApiError::bad("ttlSeconds", bounds()))?,
    };
    let alias = o.opt_str("alias")?.map(str::to_string);
    Ok(PreviewLinkRequest { ttl_secs, alias })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test-secret-key-of-reasonable-length";
    const T0: u64 = 1_795_000_000_000;
    const HOST: &str = "0123abcd--blog.example.dev";
    const DEP: PreviewTarget<'static> = PreviewTarget::Deployment("0123abcd-0000-4000-8000-000000000000");

    fn link(exp: u64) -> String {
        mint(KEY, PreviewKind::Link, "p1", HOST, DEP, T0, exp).unwrap()
    }

    fn visit<'a>(query: &'a str, cookie: Option<&'a str>) -> Visit<'a> {
        Visit {
            protected: true,
            project_id: "p1",
            target: Some(DEP),
            host: HOST,
            path: "/docs/page",
            query,
            cookie_header: cookie,
            cookie_path: "/",
            https: true,
            now_ms: T0 + 1000,
        }
    }

    #[test]
    fn production_and_public_previews_are_served() {
        let mut v = visit("", None);
        v.target = None;
        assert_eq!(decide(KEY, &v), Access::Serve, "production is never protected");
        let mut v = visit("", None);
        v.protected = false;
        assert_eq!(decide(KEY, &v), Access::Serve);
    }

    #[test]
    fn bare_visit_is_denied() {
        assert_eq!(decide(KEY, &visit("", None)), Access::Deny(Denied::NoCredential));
        assert_eq!(decide(KEY, &visit("a=1", Some("x=y"))), Access::Deny(Denied::NoCredential));
    }

    #[test]
    fn link_redirects_to_the_clean_url_with_a_host_only_cookie() {
        let t = link(T0 + 3_600_000);
        let q = format!("a=1&{PREVIEW_PARAM}={t}&b=2");
        let Access::Redirect { location, set_cookie } = decide(KEY, &visit(&q, None)) else { panic!() };
        assert_eq!(location, "/docs/page?a=1&b=2");
        assert!(set_cookie.starts_with(&format!("{PREVIEW_COOKIE}=")));
        for attr in ["; Path=/;", "; HttpOnly", "; SameSite=Lax", "; Secure", "; Max-Age=3599;"] {
            assert!(set_cookie.contains(attr), "{attr} in {set_cookie}");
        }
        assert!(!set_cookie.to_ascii_lowercase().contains("domain="), "host-only");
        // The cookie then serves; the link token itself is not a cookie.
        let value = set_cookie.split(';').next().unwrap().split_once('=').unwrap().1;
        let header = format!("other=1; {PREVIEW_COOKIE}={value}");
        assert_eq!(decide(KEY, &visit("", Some(&header))), Access::Serve);
        let as_cookie = format!("{PREVIEW_COOKIE}={t}");
        assert_eq!(decide(KEY, &visit("", Some(&as_cookie))), Access::Deny(Denied::WrongBinding));
        // Plain http: no Secure; only the token in the query: no `?` left.
        let mut v = visit("", None);
        let q = format!("{PREVIEW_PARAM}={t}");
        v.query = &q;
        v.https = false;
        let Access::Redirect { location, set_cookie } = decide(KEY, &v) else { panic!() };
        assert_eq!(location, "/docs/page");
        assert!(!set_cookie.contains("Secure"));
        // `https://<preview>//evil.com?<link>` must not send the visitor to evil.com.
        v.path = "//evil.com/x";
        let Access::Redirect { location, .. } = decide(KEY, &v) else { panic!() };
        assert_eq!(location, "/evil.com/x");
    }

    #[test]
    fn expired_forged_and_misbound_tokens_are_denied() {
        let q = |t: &str| format!("{PREVIEW_PARAM}={t}");
        let expired = link(T0 + 500);
        assert_eq!(decide(KEY, &visit(&q(&expired), None)), Access::Deny(Denied::Expired));
        let forged =
            mint(b"another-secret-of-some-length", PreviewKind::Link, "p1", HOST, DEP, T0, T0 + 9e6 as u64)
                .unwrap();
        assert_eq!(decide(KEY, &visit(&q(&forged), None)), Access::Deny(Denied::BadSignature));
        assert_eq!(decide(KEY, &visit(&q("garbage"), None)), Access::Deny(Denied::Malformed));
        assert_eq!(decide(KEY, &visit(&q(""), None)), Access::Deny(Denied::Malformed));
        let exp = T0 + 3_600_000;
        let cases = [
            mint(KEY, PreviewKind::Link, "p2", HOST, DEP, T0, exp).unwrap(),
            mint(KEY, PreviewKind::Link, "p1", "0123abcd--other.example.dev", DEP, T0, exp).unwrap(),
            mint(KEY, PreviewKind::Link, "p1", HOST, PreviewTarget::Deployment("0123abcd-ffff"), T0, exp)
                .unwrap(),
            mint(KEY, PreviewKind::Link, "p1", HOST, PreviewTarget::Alias("0123abcd"), T0, exp).unwrap(),
            mint(KEY, PreviewKind::Cookie, "p1", HOST, DEP, T0, exp).unwrap(),
        ];
        for t in &cases {
            assert_eq!(decide(KEY, &visit(&q(t), None)), Access::Deny(Denied::WrongBinding));
        }
        // An upload JWT signed with the raw secret is not a preview token.
        let upload = crate::auth::issue_token(
            KEY,
            crate::auth::TokenKind::Upload,
            "p1",
            "s1",
            "root",
            T0,
            crate::auth::TOKEN_TTL_SECS,
        )
        .unwrap();
        assert!(matches!(
            decide(KEY, &visit(&q(&upload), None)),
            Access::Deny(Denied::BadSignature | Denied::Malformed)
        ));
        // An unset secret accepts nothing, not even a token made with the empty key.
        let empty = Hs256
            .token(
                &Header::empty(),
                &Claims::new(PreviewClaims {
                    kind: PreviewKind::Link,
                    pid: "p1".into(),
                    host: HOST.into(),
                    tgt: DEP.encode(),
                }),
                &key(b""),
            )
            .unwrap();
        assert_eq!(decide(b"", &visit(&q(&empty), None)), Access::Deny(Denied::NoSecret));
        // An expired cookie is refused too.
        let old = mint(KEY, PreviewKind::Cookie, "p1", HOST, DEP, T0, T0 + 500).unwrap();
        let c = format!("{PREVIEW_COOKIE}={old}");
        assert_eq!(decide(KEY, &visit("", Some(&c))), Access::Deny(Denied::Expired));
    }

    #[test]
    fn query_and_cookie_parsing() {
        assert_eq!(take_token(""), (None, None));
        assert_eq!(take_token("a=1&b"), (None, Some("a=1&b".into())));
        assert_eq!(take_token("__flotilla_preview=t"), (Some("t"), None));
        assert_eq!(take_token("x=1&__flotilla_preview"), (Some(""), Some("x=1".into())));
        let got: Vec<_> = parse_cookies(" a=1; b = \"2\" ;;=x; c; d=").collect();
        assert_eq!(got, vec![("a", "1"), ("b", "2"), ("d", "")]);
    }

    /// Cookie headers and queries come from anyone: no input may panic.
    #[test]
    fn parsing_never_panics() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"=;\"& %._-aZ9\x00\xff\xc3\xa9";
        for _ in 0..3000 {
            let len = (next() % 48) as usize;
            let bytes: Vec<u8> =
                (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            let s = String::from_utf8_lossy(&bytes);
            let _ = parse_cookies(&s).count();
            let _ = take_token(&s);
            let _ = decide(KEY, &visit(&s, Some(&s)));
        }
    }

    #[test]
    fn link_request_bounds() {
        let p = |b: &str| parse_preview_link_request(b.as_bytes());
        assert_eq!(p("").unwrap(), PreviewLinkRequest { ttl_secs: 3600, alias: None });
        assert_eq!(p(r#"{"ttlSeconds": 60, "alias": "staging"}"#).unwrap().ttl_secs, 60);
        assert_eq!(p(r#"{"ttlSeconds": 604800}"#).unwrap().ttl_secs, 604_800);
        for bad in [
            r#"{"ttlSeconds": 59}"#,
            r#"{"ttlSeconds": 604801}"#,
            r#"{"ttlSeconds": -1}"#,
            r#"{"ttlSeconds": 1.5}"#,
            r#"{"ttlSeconds": "60"}"#,
        ] {
            assert_eq!(p(bad).unwrap_err().field(), "ttlSeconds", "{bad}");
        }
        assert_eq!(p(r#"{"alias": 1}"#).unwrap_err().field(), "alias");
        assert_eq!(p(r#"{"ttl": 60}"#).unwrap_err().field(), "ttl");
    }
}
