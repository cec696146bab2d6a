//! Tenant storage resources (issue 27): the stored row, its public JSON shape, create input,
//! and who may see one. KV namespaces only for now; `kind` leaves room for SQL and buckets.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{hex_lower, unhex_lower, JsonObject};
use crate::access::{Principal, Projects};
use crate::error::ApiError;

pub const KIND_KV: &str = "kv";
pub const KIND_SQL: &str = "sql";
pub const KIND_BUCKET: &str = "bucket";

/// The resource kind a `config.bindings` entry's `type` names (Cloudflare's names accepted as
/// aliases: `d1` for a SQL database, `r2` for a bucket), with the label errors use.
pub fn binding_kind(t: &str) -> Option<(&'static str, &'static str)> {
    match t {
        "kv" => Some((KIND_KV, "KV namespace")),
        "sql" | "d1" => Some((KIND_SQL, "SQL database")),
        "bucket" | "r2" => Some((KIND_BUCKET, "bucket")),
        _ => None,
    }
}

/// What an error calls a resource of `kind`.
pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        KIND_SQL => "SQL database",
        KIND_BUCKET => "bucket",
        _ => "KV namespace",
    }
}

/// Cloudflare's limit on a KV namespace title.
pub const TITLE_MAX_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResourceRow {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub created_by: String,
    pub created_at: i64,
}

impl ResourceRow {
    /// A KV namespace as `/__api/kv/namespaces` shows it (Cloudflare's field names plus ours).
    pub fn to_json(&self, bound_projects: &[String]) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "supports_url_encoding": true,
            "createdBy": self.created_by,
            "createdAt": super::iso8601(self.created_at.max(0) as u64),
            "projects": bound_projects,
        })
    }
}

impl ResourceRow {
    /// A SQL database as `/__api/sql/databases` shows it (`size` in bytes when it was read).
    pub fn database_json(&self, bound_projects: &[String], size: Option<u64>) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name(),
            "createdBy": self.created_by,
            "createdAt": super::iso8601(self.created_at.max(0) as u64),
            "projects": bound_projects,
        });
        if let Some(n) = size {
            v["size"] = json!(n);
        }
        v
    }

    /// A database's name (stored as the row's title).
    pub fn name(&self) -> &str {
        &self.title
    }
}

/// A new resource id: 32 lowercase hex digits, the shape of a Cloudflare KV namespace id (so
/// wrangler accepts it later), from 16 random bytes.
pub fn resource_id(random: [u8; 16]) -> String {
    hex_lower(&random)
}

/// Whether `s` could be a resource id (anything else is a 404 without a query).
pub fn is_resource_id(s: &str) -> bool {
    s.len() == 32 && unhex_lower(s).is_some()
}

/// `POST /__api/kv/namespaces {title}`: 1-512 bytes, no control characters, trimmed.
pub fn parse_create_namespace(body: &[u8]) -> Result<String, ApiError> {
    parse_title(body, "title")
}

/// `POST /__api/sql/databases {name}`: the same rules as a namespace title.
pub fn parse_create_database(body: &[u8]) -> Result<String, ApiError> {
    parse_title(body, "name")
}

fn parse_title(body: &[u8], field: &'static str) -> Result<String, ApiError> {
    let o = JsonObject::parse(body, false)?;
    o.only(&[field])?;
    let title = o.opt_str(field)?.map(str::trim).unwrap_or_default();
    if title.is_empty() {
        return Err(ApiError::bad(field, "is required (a non-empty string)"));
    }
    if title.len() > TITLE_MAX_BYTES {
        return Err(ApiError::bad(field, format!("must be at most {TITLE_MAX_BYTES} bytes")));
    }
    if title.chars().any(char::is_control) {
        return Err(ApiError::bad(field, "must not contain control characters"));
    }
    Ok(title.to_string())
}

/// Which resources a principal reaches: every one, or those it created plus those bound (by
/// any deployment) to one of its projects. A token for every project (`"*"`) reaches every
/// project and hence every resource, as it does projects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceScope {
    All,
    Only { creator: String, projects: Vec<String> },
    Nothing,
}

impl ResourceScope {
    pub fn of(p: &Principal) -> ResourceScope {
        match p {
            Principal::Anonymous => ResourceScope::Nothing,
            Principal::Root => ResourceScope::All,
            Principal::Token(g) => match &g.projects {
                Projects::All => ResourceScope::All,
                Projects::Only(ids) => {
                    ResourceScope::Only { creator: g.token_id.clone(), projects: ids.clone() }
                }
            },
        }
    }

    /// The rule itself (the D1 query applies the same one; tests hold them together).
    pub fn reaches(&self, row: &ResourceRow, bound_projects: &[String]) -> bool {
        match self {
            ResourceScope::All => true,
            ResourceScope::Nothing => false,
            ResourceScope::Only { creator, projects } => {
                row.created_by == *creator || bound_projects.iter().any(|b| projects.contains(b))
            }
        }
    }

    /// The query parameters that express it: `(all, creator, projects as a JSON array)`.
    pub fn sql_params(&self) -> (bool, String, String) {
        match self {
            ResourceScope::All => (true, String::new(), "[]".into()),
            ResourceScope::Nothing => (false, String::new(), "[]".into()),
            ResourceScope::Only { creator, projects } => {
                (false, creator.clone(), json!(projects).to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Grant, Scope};

    fn token(id: &str, projects: Projects) -> Principal {
        Principal::Token(Grant {
            token_id: id.into(),
            projects,
            scopes: vec![Scope::Manage],
            expires_at: None,
            ancestors: 0,
        })
    }

    fn row(created_by: &str) -> ResourceRow {
        ResourceRow {
            id: resource_id([7; 16]),
            kind: KIND_KV.into(),
            title: "t".into(),
            created_by: created_by.into(),
            created_at: 0,
        }
    }

    #[test]
    fn who_reaches_a_namespace() {
        let only_a = token("tok_a", Projects::Only(vec!["pa".into()]));
        let s = ResourceScope::of(&only_a);
        assert!(s.reaches(&row("tok_a"), &[]), "its own");
        assert!(s.reaches(&row("root"), &["pa".into()]), "bound to its project");
        assert!(!s.reaches(&row("root"), &[]), "someone else's, unbound");
        assert!(!s.reaches(&row("tok_b"), &["pb".into()]), "bound elsewhere");
        assert!(ResourceScope::of(&Principal::Root).reaches(&row("tok_b"), &[]));
        assert!(ResourceScope::of(&token("t", Projects::All)).reaches(&row("tok_b"), &[]));
        assert!(!ResourceScope::of(&Principal::Anonymous).reaches(&row("root"), &[]));
        assert_eq!(s.sql_params(), (false, "tok_a".into(), r#"["pa"]"#.into()));
    }

    #[test]
    fn titles_and_ids() {
        assert_eq!(parse_create_namespace(br#"{"title":" cache "}"#).unwrap(), "cache");
        let long = format!(r#"{{"title":"{}"}}"#, "x".repeat(513));
        for body in
            [&br#"{}"#[..], br#"{"title":""}"#, br#"{"title":1}"#, long.as_bytes(), br#"{"title":"a\nb"}"#]
        {
            assert_eq!(
                parse_create_namespace(body).unwrap_err().field(),
                "title",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(parse_create_namespace(br#"{"title":"a","x":1}"#).unwrap_err().field(), "x");
        let id = resource_id([0xab; 16]);
        assert!(is_resource_id(&id));
        for bad in ["", "../x", &id.to_uppercase(), &id[1..], "g".repeat(32).as_str()] {
            assert!(!is_resource_id(bad), "{bad}");
        }
    }
}
