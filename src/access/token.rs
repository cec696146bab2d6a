//! Scoped API tokens: the secret's format and hash, the `POST /__api/tokens` body, the rule that
//! a token can only mint tokens weaker than itself, and the stored row as JSON.

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Grant, Principal, Projects, Scope};
use crate::domain::{hex_lower, iso8601, JsonObject};
use crate::error::ApiError;

pub const SECRET_PREFIX: &str = "flt_";
pub const MAX_TOKEN_NAME: usize = 64;
pub const MAX_TOKEN_PROJECTS: usize = 100;

/// `flt_` + 48 hex characters (24 random bytes).
pub fn format_secret(random: [u8; 24]) -> String {
    format!("{SECRET_PREFIX}{}", hex_lower(&random))
}

/// What is stored and looked up: the SHA-256 of the whole secret, lowercase hex.
pub fn hash_secret(secret: &str) -> String {
    hex_lower(&Sha256::digest(secret.as_bytes()))
}

/// A prefix shown in listings so people can tell their tokens apart.
pub fn hint(secret: &str) -> String {
    secret.chars().take(SECRET_PREFIX.len() + 6).collect()
}

pub fn looks_like_secret(s: &str) -> bool {
    s.len() == SECRET_PREFIX.len() + 48
        && s.starts_with(SECRET_PREFIX)
        && s[SECRET_PREFIX.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Projects as requested: every project, or ids/slugs the handler resolves to ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedProjects {
    All,
    Keys(Vec<String>),
}

/// A validated `POST /__api/tokens` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateToken {
    pub name: String,
    pub projects: RequestedProjects,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<i64>,
}

fn parse_time(field: &str, s: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| ApiError::bad(field, "must be an RFC 3339 timestamp such as 2027-01-31T00:00:00Z"))
}

pub fn parse_create_token(body: &[u8], now_ms: i64) -> Result<CreateToken, ApiError> {
    let o = JsonObject::parse(body, false)?;
    o.only(&["name", "projects", "scopes", "expiresAt"])?;
    let name = o.opt_str("name")?.map(str::trim).unwrap_or("");
    if name.is_empty() || name.chars().count() > MAX_TOKEN_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::bad("name", format!("required, 1-{MAX_TOKEN_NAME} printable characters")));
    }
    let projects = match o.get("projects") {
        Some(Value::String(s)) if s == "*" => RequestedProjects::All,
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_TOKEN_PROJECTS => {
            let mut keys = Vec::new();
            for v in a {
                match v.as_str() {
                    Some(k) if !k.is_empty() && k.len() <= 64 => keys.push(k.to_ascii_lowercase()),
                    _ => return Err(ApiError::bad("projects", "each entry must be a project id or slug")),
                }
            }
            keys.sort();
            keys.dedup();
            RequestedProjects::Keys(keys)
        }
        _ => {
            return Err(ApiError::bad(
                "projects",
                format!("required: \"*\" or an array of 1-{MAX_TOKEN_PROJECTS} project ids or slugs"),
            ))
        }
    };
    let scopes = match o.get("scopes") {
        Some(Value::Array(a)) if !a.is_empty() => {
            let mut out = Vec::new();
            for v in a {
                let s = v.as_str().and_then(Scope::parse).ok_or_else(|| {
                    ApiError::bad("scopes", "each entry must be one of read, deploy, manage, admin")
                })?;
                out.push(s);
            }
            out.sort();
            out.dedup();
            out
        }
        _ => {
            return Err(ApiError::bad("scopes", "required: a non-empty array of read, deploy, manage, admin"))
        }
    };
    let expires_at = o.opt_str("expiresAt")?.map(|s| parse_time("expiresAt", s)).transpose()?;
    if let Some(t) = expires_at {
        if t <= now_ms {
            return Err(ApiError::bad("expiresAt", "must be in the future"));
        }
    }
    Ok(CreateToken { name: name.to_string(), projects, scopes, expires_at })
}

/// A token may only mint what it holds itself: no wider project set, no higher scope, no later
/// expiry. `projects` are the resolved ids of the request.
pub fn check_mint(
    minter: &Principal,
    projects: &Projects,
    scopes: &[Scope],
    expires_at: Option<i64>,
) -> Result<(), ApiError> {
    let Principal::Token(g) = minter else { return Ok(()) };
    let deny = |reason: String| Err(ApiError::Forbidden { reason });
    if let Some(s) = scopes.iter().find(|s| !minter.has_scope(**s)) {
        return deny(format!("A token cannot grant the `{}` scope it does not hold", s.as_str()));
    }
    match (projects, &g.projects) {
        (_, Projects::All) => {}
        (Projects::All, Projects::Only(_)) => {
            return deny("A project-scoped token cannot mint a token for every project".into())
        }
        (Projects::Only(want), Projects::Only(have)) => {
            if want.iter().any(|p| !have.contains(p)) {
                return deny("A token cannot grant projects it is not granted itself".into());
            }
        }
    }
    if let Some(limit) = g.expires_at {
        if expires_at.is_none_or(|t| t > limit) {
            return deny("A token cannot mint a token that outlives it; set an earlier expiresAt".into());
        }
    }
    Ok(())
}

/// An `api_tokens` row (never holds the secret).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub hint: String,
    pub projects: String,
    pub scopes: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl TokenRow {
    pub fn scopes(&self) -> Vec<Scope> {
        serde_json::from_str::<Vec<String>>(&self.scopes)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect()
    }

    /// Why the token does not authenticate at `now`, if it does not.
    pub fn unusable(&self, now_ms: i64) -> Option<&'static str> {
        if self.revoked_at.is_some() {
            Some("revoked")
        } else if self.expires_at.is_some_and(|t| t <= now_ms) {
            Some("expired")
        } else {
            None
        }
    }

    pub fn grant(&self) -> Grant {
        Grant {
            token_id: self.id.clone(),
            projects: Projects::from_stored(&self.projects),
            scopes: self.scopes(),
            expires_at: self.expires_at,
        }
    }

    pub fn to_json(&self, now_ms: i64) -> Value {
        let ts = |t: Option<i64>| t.map(|t| iso8601(t.max(0) as u64));
        json!({
            "id": self.id,
            "name": self.name,
            "hint": self.hint,
            "projects": Projects::from_stored(&self.projects).to_json(),
            "scopes": self.scopes().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "status": self.unusable(now_ms).unwrap_or("active"),
            "createdBy": self.created_by,
            "createdAt": ts(Some(self.created_at)),
            "expiresAt": ts(self.expires_at),
            "revokedAt": ts(self.revoked_at),
            "lastUsedAt": ts(self.last_used_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn secrets_are_prefixed_and_hashed() {
        let s = format_secret([0xab; 24]);
        assert!(s.starts_with("flt_") && s.len() == 52);
        assert!(looks_like_secret(&s));
        assert!(!looks_like_secret("flt_xyz"));
        assert!(!looks_like_secret(&s.replace("flt_", "abc_")));
        assert_eq!(hash_secret(&s).len(), 64);
        assert_ne!(hash_secret(&s), hash_secret(&format_secret([0xac; 24])));
        assert_eq!(hint(&s), "flt_ababab");
    }

    #[test]
    fn create_body() {
        let t = parse_create_token(
            br#"{"name":"ci","projects":["Blog","blog"],"scopes":["deploy","read","deploy"],"expiresAt":"2030-01-15T00:00:00Z"}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(t.projects, RequestedProjects::Keys(vec!["blog".into()]));
        assert_eq!(t.scopes, vec![Scope::Read, Scope::Deploy]);
        assert!(t.expires_at.unwrap() > NOW);
        let all = parse_create_token(br#"{"name":"x","projects":"*","scopes":["admin"]}"#, NOW).unwrap();
        assert_eq!(all.projects, RequestedProjects::All);
        assert_eq!(all.expires_at, None);
        let bad = [
            (r#"{"projects":"*","scopes":["read"]}"#, "name"),
            (r#"{"name":"x","scopes":["read"]}"#, "projects"),
            (r#"{"name":"x","projects":[],"scopes":["read"]}"#, "projects"),
            (r#"{"name":"x","projects":"all","scopes":["read"]}"#, "projects"),
            (r#"{"name":"x","projects":[5],"scopes":["read"]}"#, "projects"),
            (r#"{"name":"x","projects":"*"}"#, "scopes"),
            (r#"{"name":"x","projects":"*","scopes":["root"]}"#, "scopes"),
            (r#"{"name":"x","projects":"*","scopes":["read"],"expiresAt":"tomorrow"}"#, "expiresAt"),
            (
                r#"{"name":"x","projects":"*","scopes":["read"],"expiresAt":"2020-01-01T00:00:00Z"}"#,
                "expiresAt",
            ),
            (r#"{"name":"x","projects":"*","scopes":["read"],"secret":"mine"}"#, "secret"),
        ];
        for (body, field) in bad {
            assert_eq!(parse_create_token(body.as_bytes(), NOW).unwrap_err().field(), field, "{body}");
        }
    }

    #[test]
    fn create_body_never_panics() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let pieces = [
            "{",
            "}",
            "\"name\":",
            "\"projects\":",
            "\"scopes\":",
            "\"expiresAt\":",
            "\"*\"",
            "[",
            "]",
            ",",
            "\"read\"",
            "\"2027-01-01T00:00:00Z\"",
            "null",
            "1e400",
            "\"\u{0}\"",
            "\"é\"",
        ];
        for _ in 0..5000 {
            let mut s = String::new();
            for _ in 0..(seed % 12) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let _ = parse_create_token(s.as_bytes(), NOW);
        }
    }

    fn grant(projects: Projects, scopes: &[Scope], expires_at: Option<i64>) -> Principal {
        Principal::Token(Grant { token_id: "tok_a".into(), projects, scopes: scopes.to_vec(), expires_at })
    }

    #[test]
    fn tokens_mint_only_weaker_tokens() {
        let only_a = Projects::Only(vec!["a".into()]);
        let admin_a = grant(only_a.clone(), &[Scope::Admin], None);
        assert!(check_mint(&admin_a, &only_a, &[Scope::Deploy], None).is_ok());
        assert!(check_mint(&admin_a, &Projects::All, &[Scope::Read], None).is_err());
        assert!(check_mint(&admin_a, &Projects::Only(vec!["a".into(), "b".into()]), &[Scope::Read], None)
            .is_err());
        let manage_all = grant(Projects::All, &[Scope::Manage], None);
        assert!(check_mint(&manage_all, &Projects::All, &[Scope::Manage], None).is_ok());
        assert!(check_mint(&manage_all, &Projects::All, &[Scope::Admin], None).is_err());
        let expiring = grant(Projects::All, &[Scope::Admin], Some(NOW + 10));
        assert!(check_mint(&expiring, &Projects::All, &[Scope::Read], None).is_err());
        assert!(check_mint(&expiring, &Projects::All, &[Scope::Read], Some(NOW + 5)).is_ok());
        assert!(check_mint(&Principal::Root, &Projects::All, &[Scope::Admin], None).is_ok());
    }

    #[test]
    fn row_status() {
        let row = TokenRow {
            id: "tok_1".into(),
            name: "ci".into(),
            hint: "flt_abcdef".into(),
            projects: r#"["p1"]"#.into(),
            scopes: r#"["read","deploy"]"#.into(),
            created_by: "root".into(),
            created_at: NOW,
            expires_at: Some(NOW + 1000),
            revoked_at: None,
            last_used_at: None,
        };
        assert_eq!(row.unusable(NOW), None);
        assert_eq!(row.unusable(NOW + 1000), Some("expired"));
        assert_eq!(TokenRow { revoked_at: Some(NOW), ..row.clone() }.unusable(NOW), Some("revoked"));
        let j = row.to_json(NOW);
        assert_eq!(j["status"], "active");
        assert_eq!(j["scopes"], json!(["read", "deploy"]));
        assert!(j.get("secret").is_none() && j.get("secret_hash").is_none());
        assert_eq!(row.grant().projects, Projects::Only(vec!["p1".into()]));
    }
}
