//! Scoped API tokens: the secret's format and hash, the `POST /__api/tokens` body, the rule that
//! a token can only mint tokens weaker than itself, whether a token's chain of minting tokens
//! lets it authenticate, and the stored row as JSON.

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Grant, Principal, Projects, Scope};
use crate::domain::{hex_lower, iso8601, JsonObject};
use crate::error::ApiError;

pub const SECRET_PREFIX: &str = "flt_";
pub const MAX_TOKEN_NAME: usize = 64;
pub const MAX_TOKEN_PROJECTS: usize = 100;
/// The most rows one chain holds: a token and every token above it up to the root. The
/// authentication query and the revocation cascade recurse this deep and no deeper, and
/// `check_mint` refuses to mint below it, so no live token's chain is ever cut off.
pub const MAX_TOKEN_CHAIN: usize = 16;

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

/// A child cannot exceed or outlive its parent: a token may only mint what it holds itself — no
/// scope above its own, no project it is not granted, no later expiry (and none without one
/// when it has one) — and only while the chain stays within `MAX_TOKEN_CHAIN`. `projects` are
/// the resolved ids of the request. The root mints anything.
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
            if let Some(p) = want.iter().find(|p| !have.contains(p)) {
                return deny(format!("A token cannot grant project `{p}`: it is not granted it itself"));
            }
        }
    }
    if let Some(limit) = g.expires_at {
        let when = iso8601(limit.max(0) as u64);
        match expires_at {
            None => {
                return deny(format!(
                    "A token that expires cannot mint one that never does; set expiresAt no later than {when}"
                ))
            }
            Some(t) if t > limit => {
                return deny(format!(
                    "A token cannot mint a token that outlives it; set expiresAt no later than {when}"
                ))
            }
            Some(_) => {}
        }
    }
    if g.ancestors + 2 > MAX_TOKEN_CHAIN {
        return deny(format!(
            "A chain of minted tokens holds at most {MAX_TOKEN_CHAIN}; mint from a token nearer the root"
        ));
    }
    Ok(())
}

/// Why a token's chain does not let it authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainRefusal {
    /// No row for the secret.
    Unknown,
    /// The token itself is revoked or expired (`TokenRow::unusable`).
    Own(&'static str),
    /// An ancestor is revoked or expired: the cascade should have revoked this token too (it may
    /// have failed midway), so the chain is checked on every request as well.
    Ancestor(&'static str),
    /// The rows do not link up to a root-minted token: a parent row is missing, the chain is
    /// longer than `MAX_TOKEN_CHAIN`, or it loops. Fails closed.
    Broken,
}

impl From<ChainRefusal> for ApiError {
    fn from(r: ChainRefusal) -> ApiError {
        match r {
            ChainRefusal::Unknown => ApiError::unauthorized("Missing or invalid API token"),
            ChainRefusal::Own(why) => ApiError::unauthorized(format!("This API token has been {why}")),
            ChainRefusal::Ancestor(why) => {
                let what = if why == "expired" { "has expired" } else { "has been revoked" };
                ApiError::unauthorized(format!(
                    "This API token was minted by a token that {what}, so it no longer works either"
                ))
            }
            ChainRefusal::Broken => {
                ApiError::unauthorized("This API token's chain of minting tokens cannot be verified")
            }
        }
    }
}

/// Whether a token may act at `now`, given its chain: the token's row first, then its parent's,
/// up to one minted by the root (what the authentication query returns, ordered by depth).
/// Alive means every row is neither revoked nor expired and each row's `parent_id` is the next
/// row's id, the last one's being NULL. The grant carries the earliest expiry of the chain.
pub fn check_chain(chain: &[TokenRow], now_ms: i64) -> Result<Grant, ChainRefusal> {
    let Some(token) = chain.first() else { return Err(ChainRefusal::Unknown) };
    if chain.len() > MAX_TOKEN_CHAIN {
        return Err(ChainRefusal::Broken);
    }
    for (i, row) in chain.iter().enumerate() {
        let next = chain.get(i + 1).map(|r| r.id.as_str());
        if row.parent_id.as_deref() != next || chain[..i].iter().any(|r| r.id == row.id) {
            return Err(ChainRefusal::Broken);
        }
    }
    if let Some(why) = token.unusable(now_ms) {
        return Err(ChainRefusal::Own(why));
    }
    if let Some(why) = chain[1..].iter().find_map(|r| r.unusable(now_ms)) {
        return Err(ChainRefusal::Ancestor(why));
    }
    let mut grant = token.grant();
    grant.expires_at = chain.iter().filter_map(|r| r.expires_at).min();
    grant.ancestors = chain.len() - 1;
    Ok(grant)
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
    /// The token that minted this one (NULL: the root; see migrations/0009_token_parents.sql).
    #[serde(default)]
    pub parent_id: Option<String>,
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
            ancestors: 0,
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
            "parentId": self.parent_id,
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
    use crate::access::ROOT_ID;

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
        Principal::Token(Grant {
            token_id: "tok_a".into(),
            projects,
            scopes: scopes.to_vec(),
            expires_at,
            ancestors: 0,
        })
    }

    fn only(ids: &[&str]) -> Projects {
        Projects::Only(ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn a_child_cannot_exceed_or_outlive_its_parent() {
        use Scope::*;
        let deep = |ancestors| {
            Principal::Token(Grant {
                token_id: "tok_deep".into(),
                projects: Projects::All,
                scopes: vec![Admin],
                expires_at: None,
                ancestors,
            })
        };
        // (case, minter, requested projects, scopes, expiry, refusal containing)
        type Case = (&'static str, Principal, Projects, Vec<Scope>, Option<i64>, Option<&'static str>);
        let cases: Vec<Case> = vec![
            ("root mints anything", Principal::Root, Projects::All, vec![Admin], None, None),
            ("same grant", grant(only(&["a"]), &[Admin], None), only(&["a"]), vec![Admin], None, None),
            ("lower scope", grant(only(&["a"]), &[Admin], None), only(&["a"]), vec![Deploy], None, None),
            (
                "scope implied by a higher one",
                grant(Projects::All, &[Manage], None),
                Projects::All,
                vec![Read, Deploy],
                None,
                None,
            ),
            (
                "higher scope",
                grant(Projects::All, &[Manage], None),
                Projects::All,
                vec![Admin],
                None,
                Some("`admin` scope"),
            ),
            (
                "one scope too many",
                grant(Projects::All, &[Deploy], None),
                Projects::All,
                vec![Read, Manage],
                None,
                Some("`manage` scope"),
            ),
            (
                "all projects from some",
                grant(only(&["a"]), &[Admin], None),
                Projects::All,
                vec![Read],
                None,
                Some("every project"),
            ),
            (
                "a project more",
                grant(only(&["a"]), &[Admin], None),
                only(&["a", "b"]),
                vec![Read],
                None,
                Some("project `b`"),
            ),
            (
                "another project",
                grant(only(&["a"]), &[Admin], None),
                only(&["b"]),
                vec![Read],
                None,
                Some("project `b`"),
            ),
            (
                "subset of projects",
                grant(only(&["a", "b"]), &[Admin], None),
                only(&["b"]),
                vec![Read],
                None,
                None,
            ),
            ("some from all", grant(Projects::All, &[Admin], None), only(&["z"]), vec![Read], None, None),
            (
                "no expiry under an expiring parent",
                grant(Projects::All, &[Admin], Some(NOW + 10)),
                Projects::All,
                vec![Read],
                None,
                Some("never does"),
            ),
            (
                "outlives the parent",
                grant(Projects::All, &[Admin], Some(NOW + 10)),
                Projects::All,
                vec![Read],
                Some(NOW + 11),
                Some("outlives it"),
            ),
            (
                "expires with the parent",
                grant(Projects::All, &[Admin], Some(NOW + 10)),
                Projects::All,
                vec![Read],
                Some(NOW + 10),
                None,
            ),
            (
                "expires before the parent",
                grant(Projects::All, &[Admin], Some(NOW + 10)),
                Projects::All,
                vec![Read],
                Some(NOW + 5),
                None,
            ),
            (
                "expiring child of a lasting parent",
                grant(Projects::All, &[Admin], None),
                Projects::All,
                vec![Read],
                Some(NOW + 5),
                None,
            ),
            ("chain at its longest", deep(MAX_TOKEN_CHAIN - 2), Projects::All, vec![Read], None, None),
            (
                "chain too long",
                deep(MAX_TOKEN_CHAIN - 1),
                Projects::All,
                vec![Read],
                None,
                Some("at most 16"),
            ),
        ];
        for (case, minter, projects, scopes, expires_at, refused) in cases {
            let got = check_mint(&minter, &projects, &scopes, expires_at);
            match (refused, got) {
                (None, Ok(())) => {}
                (Some(want), Err(e)) => {
                    assert_eq!(e.status(), 403, "{case}");
                    assert!(e.message().contains(want), "{case}: {}", e.message());
                }
                (want, got) => panic!("{case}: expected refusal {want:?}, got {got:?}"),
            }
        }
    }

    fn row(id: &str, parent: Option<&str>) -> TokenRow {
        TokenRow {
            id: id.into(),
            name: id.into(),
            hint: "flt_abcdef".into(),
            projects: r#"["p1"]"#.into(),
            scopes: r#"["admin"]"#.into(),
            created_by: parent.unwrap_or(ROOT_ID).into(),
            parent_id: parent.map(str::to_string),
            created_at: NOW - 100,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn a_token_lives_only_while_its_whole_chain_does() {
        let (a, b, c) = (row("tok_a", None), row("tok_b", Some("tok_a")), row("tok_c", Some("tok_b")));
        let revoked = |r: &TokenRow| TokenRow { revoked_at: Some(NOW - 1), ..r.clone() };
        let expiring = |r: &TokenRow, t| TokenRow { expires_at: Some(t), ..r.clone() };
        let long: Vec<TokenRow> = (0..MAX_TOKEN_CHAIN + 1)
            .map(|i| {
                let parent = format!("tok_{}", i + 1);
                row(&format!("tok_{i}"), (i < MAX_TOKEN_CHAIN).then_some(parent.as_str()))
            })
            .collect();
        let longest: Vec<TokenRow> = (0..MAX_TOKEN_CHAIN)
            .map(|i| {
                let parent = format!("tok_{}", i + 1);
                row(&format!("tok_{i}"), (i + 1 < MAX_TOKEN_CHAIN).then_some(parent.as_str()))
            })
            .collect();
        // (case, chain as the query returns it, expected refusal)
        let cases: Vec<(&str, Vec<TokenRow>, Option<ChainRefusal>)> = vec![
            ("root-minted token", vec![a.clone()], None),
            ("grandchild of live tokens", vec![c.clone(), b.clone(), a.clone()], None),
            ("unknown secret", vec![], Some(ChainRefusal::Unknown)),
            ("token revoked", vec![revoked(&c), b.clone(), a.clone()], Some(ChainRefusal::Own("revoked"))),
            (
                "token expired",
                vec![expiring(&c, NOW), b.clone(), a.clone()],
                Some(ChainRefusal::Own("expired")),
            ),
            (
                "parent revoked",
                vec![c.clone(), revoked(&b), a.clone()],
                Some(ChainRefusal::Ancestor("revoked")),
            ),
            (
                "grandparent revoked",
                vec![c.clone(), b.clone(), revoked(&a)],
                Some(ChainRefusal::Ancestor("revoked")),
            ),
            (
                "grandparent expired",
                vec![c.clone(), b.clone(), expiring(&a, NOW - 1)],
                Some(ChainRefusal::Ancestor("expired")),
            ),
            ("ancestor expires later", vec![c.clone(), b.clone(), expiring(&a, NOW + 1)], None),
            ("parent row missing", vec![c.clone(), b.clone()], Some(ChainRefusal::Broken)),
            ("rows out of order", vec![c.clone(), a.clone(), b.clone()], Some(ChainRefusal::Broken)),
            (
                "a stranger in the chain",
                vec![c.clone(), row("tok_x", Some("tok_a")), a.clone()],
                Some(ChainRefusal::Broken),
            ),
            (
                "a loop",
                vec![row("tok_l", Some("tok_m")), row("tok_m", Some("tok_l")), row("tok_l", Some("tok_m"))],
                Some(ChainRefusal::Broken),
            ),
            ("root token with a trailing row", vec![a.clone(), b.clone()], Some(ChainRefusal::Broken)),
            ("longest chain", longest.clone(), None),
            ("chain past the limit", long, Some(ChainRefusal::Broken)),
            ("cut off at the limit", longest[..MAX_TOKEN_CHAIN - 1].to_vec(), Some(ChainRefusal::Broken)),
        ];
        for (case, chain, refused) in cases {
            let got = check_chain(&chain, NOW);
            assert_eq!(got.as_ref().err(), refused.as_ref(), "{case}: {got:?}");
        }
        // The grant is the token's own, bounded by the earliest expiry up the chain.
        let g = check_chain(&[expiring(&c, NOW + 50), b.clone(), expiring(&a, NOW + 20)], NOW).unwrap();
        assert_eq!((g.token_id.as_str(), g.expires_at, g.ancestors), ("tok_c", Some(NOW + 20), 2));
        assert_eq!(check_chain(&longest, NOW).unwrap().ancestors, MAX_TOKEN_CHAIN - 1);
        // Each refusal is a 401 that says why.
        for (r, says) in [
            (ChainRefusal::Unknown, "invalid"),
            (ChainRefusal::Own("revoked"), "has been revoked"),
            (ChainRefusal::Ancestor("expired"), "minted by a token that has expired"),
            (ChainRefusal::Ancestor("revoked"), "minted by a token that has been revoked"),
            (ChainRefusal::Broken, "cannot be verified"),
        ] {
            let e = ApiError::from(r);
            assert_eq!(e.status(), 401);
            assert!(e.message().contains(says), "{}", e.message());
        }
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
            parent_id: None,
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
        assert_eq!(j["parentId"], Value::Null);
        let child = TokenRow { parent_id: Some("tok_0".into()), created_by: "tok_0".into(), ..row };
        assert_eq!(child.to_json(NOW)["parentId"], "tok_0");
    }
}
