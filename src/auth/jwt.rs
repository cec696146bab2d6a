//! Upload JWTs (HS256 via jwt-compact). Two kinds: `upload` (authorises bucket uploads of one
//! session) and `completion` (proves the session's files are all stored; spent by deploy).
//! Both are bound to a project id and an upload session id and expire after the session TTL
//! (one hour unless the operator sets `UPLOAD_SESSION_TTL_SECS`).

use chrono::{DateTime, TimeDelta, Utc};
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::prelude::*;
use jwt_compact::ValidationError;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The default lifetime of an upload session and its tokens.
pub const TOKEN_TTL_SECS: i64 = 3600;
/// Bounds for `UPLOAD_SESSION_TTL_SECS`: long enough to upload anything, short enough that
/// a leaked token dies within a day.
pub const TOKEN_TTL_RANGE: std::ops::RangeInclusive<i64> = 1..=24 * 3600;
/// Clock skew allowed past a token's expiry; never more than the token's own lifetime, so a
/// short-lived token (a short `UPLOAD_SESSION_TTL_SECS`) is not kept alive mostly by leeway.
const TOKEN_LEEWAY_SECS: i64 = 30;

/// The leeway a token living `ttl_secs` gets past its expiry.
pub const fn leeway_secs(ttl_secs: i64) -> i64 {
    if ttl_secs < 0 {
        0
    } else if ttl_secs < TOKEN_LEEWAY_SECS {
        ttl_secs
    } else {
        TOKEN_LEEWAY_SECS
    }
}
/// How long after a session opens one of its tokens can still be accepted: the upload token is
/// accepted up to its expiry plus the leeway, and the completion token the last bucket upload
/// returns lives as long again from then. Storage only a session's tokens name (wrangler's
/// session manifests) is dead after this.
pub const fn session_span_ms(ttl_secs: i64) -> i64 {
    2 * (ttl_secs + leeway_secs(ttl_secs)) * 1000
}

/// The session span of the default TTL.
pub const SESSION_SPAN_MS: i64 = session_span_ms(TOKEN_TTL_SECS);

/// `UPLOAD_SESSION_TTL_SECS` as set (clamped to [`TOKEN_TTL_RANGE`]), else the default.
pub fn token_ttl_secs(var: Option<&str>) -> i64 {
    var.and_then(|v| v.trim().parse::<i64>().ok())
        .map(|v| v.clamp(*TOKEN_TTL_RANGE.start(), *TOKEN_TTL_RANGE.end()))
        .unwrap_or(TOKEN_TTL_SECS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Upload,
    Completion,
    /// `wrangler d1 execute --file`'s upload URL: `pid` is the database id, `sid` the file's MD5.
    SqlImport,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadClaims {
    pub kind: TokenKind,
    /// Project id.
    pub pid: String,
    /// Upload session id.
    pub sid: String,
    /// The principal (`root` or a token id) that opened the session: only it may finish it.
    #[serde(default = "root_principal")]
    pub prn: String,
}

fn root_principal() -> String {
    crate::access::ROOT_ID.into()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    BadSignature,
    Expired,
    WrongProject,
    WrongKind { expected: TokenKind },
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        let msg = match e {
            TokenError::Malformed => "Token is malformed".to_string(),
            TokenError::BadSignature => "Token signature is invalid".to_string(),
            TokenError::Expired => "Token has expired; start a new upload session".to_string(),
            TokenError::WrongProject => "Token was issued for a different project".to_string(),
            TokenError::WrongKind { expected: TokenKind::Upload } => {
                "An upload token is required here (got a completion token)".to_string()
            }
            TokenError::WrongKind { expected: TokenKind::Completion } => {
                "A completion token is required here (got an upload token)".to_string()
            }
            TokenError::WrongKind { expected: TokenKind::SqlImport } => {
                "This URL takes only a SQL file upload token".to_string()
            }
        };
        ApiError::unauthorized(msg)
    }
}

fn at(now_ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(now_ms as i64).unwrap_or_default()
}

fn time_options(now_ms: u64, leeway_secs: i64) -> TimeOptions<impl Fn() -> DateTime<Utc>> {
    let now = at(now_ms);
    TimeOptions::new(TimeDelta::seconds(leeway_secs), move || now)
}

/// Issues a token of `kind` for project `pid`, session `sid` and principal `prn`, valid for
/// `ttl_secs`.
pub fn issue_token(
    secret: &[u8],
    kind: TokenKind,
    pid: &str,
    sid: &str,
    prn: &str,
    now_ms: u64,
    ttl_secs: i64,
) -> Result<String, ApiError> {
    let key = Hs256Key::new(secret);
    let claims = Claims::new(UploadClaims { kind, pid: pid.into(), sid: sid.into(), prn: prn.into() })
        .set_duration_and_issuance(&time_options(now_ms, 0), TimeDelta::seconds(ttl_secs));
    Hs256
        .token(&Header::empty().with_token_type("JWT"), &claims, &key)
        .map_err(|e| ApiError::internal(format!("jwt signing failed: {e}")))
}

/// Verifies signature, expiry, kind and project binding; returns the claims.
pub fn verify_token(
    secret: &[u8],
    token: &str,
    kind: TokenKind,
    pid: &str,
    now_ms: u64,
) -> Result<UploadClaims, TokenError> {
    let claims = verify_any_project(secret, token, kind, now_ms)?;
    if claims.pid != pid {
        return Err(TokenError::WrongProject);
    }
    Ok(claims)
}

/// Verifies signature, expiry and kind, and returns the claims naming the project: for
/// wrangler's bucket upload, whose URL names no project (only the token binds it).
pub fn verify_any_project(
    secret: &[u8],
    token: &str,
    kind: TokenKind,
    now_ms: u64,
) -> Result<UploadClaims, TokenError> {
    let key = Hs256Key::new(secret);
    let untrusted = UntrustedToken::new(token).map_err(|_| TokenError::Malformed)?;
    let token: Token<UploadClaims> = Hs256.validator(&key).validate(&untrusted).map_err(|e| match e {
        ValidationError::InvalidSignature => TokenError::BadSignature,
        _ => TokenError::Malformed,
    })?;
    let claims = token.claims();
    // The token's own lifetime (both times are signed) bounds the leeway it gets.
    let lifetime = match (claims.issued_at, claims.expiration) {
        (Some(iat), Some(exp)) => (exp - iat).num_seconds(),
        _ => 0,
    };
    claims
        .validate_expiration(&time_options(now_ms, leeway_secs(lifetime)))
        .map_err(|_| TokenError::Expired)?;
    let custom = &claims.custom;
    if custom.kind != kind {
        return Err(TokenError::WrongKind { expected: kind });
    }
    Ok(custom.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test-secret-key-of-reasonable-length";
    const T0: u64 = 1_795_000_000_000;

    #[test]
    fn no_token_of_a_session_is_accepted_after_the_session_span() {
        let span = SESSION_SPAN_MS as u64;
        let upload = issue_token(KEY, TokenKind::Upload, "p1", "s1", "tok_a", T0, TOKEN_TTL_SECS).unwrap();
        // The latest moment the upload token still works is when the completion token comes.
        let last = (T0..T0 + span)
            .step_by(1000)
            .take_while(|&t| verify_token(KEY, &upload, TokenKind::Upload, "p1", t).is_ok())
            .last()
            .unwrap();
        let done =
            issue_token(KEY, TokenKind::Completion, "p1", "s1", "tok_a", last, TOKEN_TTL_SECS).unwrap();
        assert!(verify_token(KEY, &done, TokenKind::Completion, "p1", T0 + span - 2000).is_ok());
        assert_eq!(
            verify_token(KEY, &done, TokenKind::Completion, "p1", T0 + span + 1000),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn round_trip() {
        let t = issue_token(KEY, TokenKind::Upload, "p1", "s1", "tok_a", T0, TOKEN_TTL_SECS).unwrap();
        let c = verify_token(KEY, &t, TokenKind::Upload, "p1", T0 + 1000).unwrap();
        assert_eq!(
            c,
            UploadClaims { kind: TokenKind::Upload, pid: "p1".into(), sid: "s1".into(), prn: "tok_a".into() }
        );
    }

    #[test]
    fn every_misuse_is_rejected() {
        let up = issue_token(KEY, TokenKind::Upload, "p1", "s1", "tok_a", T0, TOKEN_TTL_SECS).unwrap();
        let done = issue_token(KEY, TokenKind::Completion, "p1", "s1", "tok_a", T0, TOKEN_TTL_SECS).unwrap();
        assert_eq!(verify_token(KEY, &up, TokenKind::Upload, "p2", T0), Err(TokenError::WrongProject));
        assert_eq!(
            verify_token(KEY, &up, TokenKind::Completion, "p1", T0),
            Err(TokenError::WrongKind { expected: TokenKind::Completion })
        );
        assert_eq!(
            verify_token(KEY, &done, TokenKind::Upload, "p1", T0),
            Err(TokenError::WrongKind { expected: TokenKind::Upload })
        );
        assert_eq!(
            verify_token(KEY, &up, TokenKind::Upload, "p1", T0 + 3_600_000 + 31_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify_token(b"other-key", &up, TokenKind::Upload, "p1", T0),
            Err(TokenError::BadSignature)
        );
        assert_eq!(verify_token(KEY, "garbage", TokenKind::Upload, "p1", T0), Err(TokenError::Malformed));
        // Tampered payload: swap the project id inside the token.
        let parts: Vec<&str> = up.split('.').collect();
        let forged =
            issue_token(b"attacker", TokenKind::Upload, "p2", "s1", "tok_a", T0, TOKEN_TTL_SECS).unwrap();
        let forged_payload = forged.split('.').nth(1).unwrap();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(verify_token(KEY, &tampered, TokenKind::Upload, "p2", T0), Err(TokenError::BadSignature));
    }

    #[test]
    fn errors_map_to_401() {
        for e in [TokenError::Malformed, TokenError::Expired, TokenError::WrongProject] {
            assert_eq!(ApiError::from(e).status(), 401);
        }
    }

    #[test]
    fn the_session_ttl_var_is_clamped_and_shortens_token_life() {
        assert_eq!(token_ttl_secs(None), TOKEN_TTL_SECS);
        assert_eq!(token_ttl_secs(Some("junk")), TOKEN_TTL_SECS);
        assert_eq!(token_ttl_secs(Some(" 5 ")), 5);
        assert_eq!(token_ttl_secs(Some("0")), 1);
        assert_eq!(token_ttl_secs(Some("99999999")), 24 * 3600);
        let t = issue_token(KEY, TokenKind::Upload, "p1", "s1", "tok_a", T0, 5).unwrap();
        assert!(verify_token(KEY, &t, TokenKind::Upload, "p1", T0 + 9_000).is_ok(), "5 s + 5 s leeway");
        assert_eq!(verify_token(KEY, &t, TokenKind::Upload, "p1", T0 + 11_000), Err(TokenError::Expired));
        assert_eq!(session_span_ms(2), 8_000);
        assert_eq!(session_span_ms(TOKEN_TTL_SECS), 2 * (3600 + 30) * 1000);
    }
}
