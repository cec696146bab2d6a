//! The project resource: its stored row, its public JSON shape, input validation for
//! create/update, list cursors, and public URLs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{iso8601, JsonObject, ProjectName};
use crate::error::ApiError;

/// A project as stored in D1 (`projects` table; booleans are SQLite integers).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ProjectRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub enabled: i64,
    pub outbound: String,
    pub active_deployment_id: Option<String>,
    pub has_server_code: i64,
    pub assets_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// 0 = locked publishing: deploys stage a preview; production moves only by promote/rollback.
    #[serde(default = "one")]
    pub auto_activate: i64,
    /// `public` or `link` (previews and aliases need a signed preview link).
    #[serde(default = "public")]
    pub preview_access: String,
    /// Skew protection (README "Skew protection"): on/off, pin lifetime, fallback depth.
    #[serde(default = "one")]
    pub skew_protection: i64,
    #[serde(default = "day")]
    pub skew_pin_secs: i64,
    #[serde(default = "five")]
    pub skew_depth: i64,
    /// The current or last gradual rollout as stored (JSON, `lifecycle::rollout::Rollout`).
    #[serde(default)]
    pub rollout: Option<String>,
}

/// What a project's JSON says of its rollout: `{deploymentId, status, percent}` while one is
/// live (running or paused), else null (`GET .../rollouts` has the whole state).
pub fn rollout_summary(stored: Option<&str>) -> Value {
    let Some(r) = stored.and_then(|t| serde_json::from_str::<Value>(t).ok()) else { return Value::Null };
    let status = r["status"].as_str().unwrap_or("");
    if status != "running" && status != "paused" {
        return Value::Null;
    }
    let step = r["step"].as_u64().unwrap_or(0) as usize;
    json!({
        "deploymentId": r["deploymentId"],
        "status": status,
        "percent": r["steps"].get(step).map(|s| s["percent"].clone()).unwrap_or(json!(100)),
    })
}

fn day() -> i64 {
    86_400
}

fn five() -> i64 {
    5
}

/// Bounds of `skewPinSeconds` (a minute to a week) and `skewFallbackDepth`.
pub const SKEW_PIN_SECS: std::ops::RangeInclusive<u64> = 60..=604_800;
pub const SKEW_DEPTH: std::ops::RangeInclusive<u64> = 0..=20;

fn public() -> String {
    "public".into()
}

fn one() -> i64 {
    1
}

/// Where projects are reachable: scheme, platform domain and port of the public URLs.
#[derive(Debug, Clone)]
pub struct UrlBase {
    pub scheme: String,
    pub domain: String,
    /// `:8787` in local dev, empty in production.
    pub port: String,
    /// Whether path mode answers on the platform domain (var `PATH_MODE`, local hosts):
    /// only then do responses carry `pathUrl`s.
    pub path_mode: bool,
}

impl UrlBase {
    /// Builds the base from the request URL's scheme and port and the configured domain.
    pub fn new(scheme: &str, domain: &str, port: Option<u16>) -> UrlBase {
        let default_port = matches!((scheme, port), ("https", Some(443)) | ("http", Some(80)) | (_, None));
        UrlBase {
            scheme: scheme.to_string(),
            domain: domain.to_string(),
            port: if default_port { String::new() } else { format!(":{}", port.unwrap_or(0)) },
            path_mode: false,
        }
    }
    /// The same base, saying whether path mode answers on the platform domain.
    pub fn with_path_mode(mut self, answers: bool) -> UrlBase {
        self.path_mode = answers;
        self
    }
    /// The host of a project site label (`<slug>`, `<dep8>--<slug>`, `<alias>--<slug>`).
    pub fn site_host(&self, label: &str) -> String {
        format!("{}.{}", label, self.domain)
    }
    /// The subdomain URL of a project (production mode).
    pub fn project_url(&self, slug: &str) -> String {
        format!("{}://{}.{}{}/", self.scheme, slug, self.domain, self.port)
    }
    /// A deployment's preview URL: `<dep8>--<slug>.<domain>` (its own origin).
    pub fn preview_url(&self, deployment_id: &str, slug: &str) -> String {
        let prefix: String = deployment_id.chars().take(8).collect();
        self.project_url(&format!("{prefix}--{slug}"))
    }
    /// An alias URL: `<alias>--<slug>.<domain>`.
    pub fn alias_url(&self, alias: &str, slug: &str) -> String {
        self.project_url(&format!("{alias}--{slug}"))
    }
    /// The path-mode URL on the platform host (`<ref>` = slug, or `slug@<dep8|alias>`), only
    /// where path mode answers (local hosts, or `PATH_MODE = "enabled"`).
    pub fn path_url(&self, reference: &str) -> Option<String> {
        self.path_mode
            .then(|| format!("{}://{}{}/__project/{}/", self.scheme, self.domain, self.port, reference))
    }
    /// Writes `pathUrl` into `out` when path mode answers; leaves it out otherwise.
    pub fn add_path_url(&self, out: &mut Value, key: &str, reference: &str) {
        if let (Some(url), Some(o)) = (self.path_url(reference), out.as_object_mut()) {
            o.insert(key.to_string(), Value::String(url));
        }
    }
}

impl ProjectRow {
    pub fn to_json(&self, base: &UrlBase) -> Value {
        let mut out = json!({
            "id": self.id,
            "slug": self.slug,
            "name": self.name,
            "enabled": self.enabled != 0,
            "outbound": self.outbound,
            "createdAt": iso8601(self.created_at.max(0) as u64),
            "updatedAt": iso8601(self.updated_at.max(0) as u64),
            "activeDeploymentId": self.active_deployment_id,
            "autoActivate": self.auto_activate != 0,
            "hasServerCode": self.has_server_code != 0,
            "assetsCount": self.assets_count,
            "previewAccess": self.preview_access,
            "skewProtection": self.skew_protection != 0,
            "skewPinSeconds": self.skew_pin_secs,
            "skewFallbackDepth": self.skew_depth,
            "rollout": rollout_summary(self.rollout.as_deref()),
            "url": base.project_url(&self.slug),
        });
        base.add_path_url(&mut out, "pathUrl", &self.slug);
        out
    }
}

/// Validated `POST /__api/projects` body.
#[derive(Debug, PartialEq)]
pub struct CreateProject {
    pub name: Option<ProjectName>,
}

pub fn parse_create_project(body: &[u8]) -> Result<CreateProject, ApiError> {
    let o = JsonObject::parse(body, true)?;
    o.only(&["name"])?;
    let name =
        o.opt_str("name")?.map(ProjectName::parse).transpose().map_err(|e| ApiError::bad("name", e.0))?;
    Ok(CreateProject { name })
}

/// Validated `PATCH /__api/projects/:id` body: at least one field.
#[derive(Debug, PartialEq, Default)]
pub struct UpdateProject {
    pub name: Option<ProjectName>,
    pub enabled: Option<bool>,
    /// Outbound network for the project's server code: "allow" or "block".
    pub outbound: Option<&'static str>,
    /// `autoActivate`: whether a finished deploy goes live by itself.
    pub auto_activate: Option<bool>,
    /// `previewAccess`: "public" or "link".
    pub preview_access: Option<&'static str>,
    /// `skewProtection`, `skewPinSeconds`, `skewFallbackDepth`.
    pub skew_protection: Option<bool>,
    pub skew_pin_secs: Option<u64>,
    pub skew_depth: Option<u64>,
}

pub fn parse_update_project(body: &[u8]) -> Result<UpdateProject, ApiError> {
    let o = JsonObject::parse(body, false)?;
    o.only(&[
        "name",
        "enabled",
        "outbound",
        "autoActivate",
        "previewAccess",
        "skewProtection",
        "skewPinSeconds",
        "skewFallbackDepth",
    ])?;
    let int_in = |key: &str, range: std::ops::RangeInclusive<u64>| match o.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().filter(|n| range.contains(n)).map(Some).ok_or_else(|| {
            ApiError::bad(key, format!("must be an integer from {} to {}", range.start(), range.end()))
        }),
    };
    let name =
        o.opt_str("name")?.map(ProjectName::parse).transpose().map_err(|e| ApiError::bad("name", e.0))?;
    let outbound = match o.opt_str("outbound")? {
        None => None,
        Some("allow") => Some("allow"),
        Some("block") => Some("block"),
        Some(_) => return Err(ApiError::bad("outbound", "must be \"allow\" or \"block\"")),
    };
    let preview_access = match o.opt_str("previewAccess")? {
        None => None,
        Some("public") => Some("public"),
        Some("link") => Some("link"),
        Some(_) => return Err(ApiError::bad("previewAccess", "must be \"public\" or \"link\"")),
    };
    let update = UpdateProject {
        name,
        enabled: o.opt_bool("enabled")?,
        outbound,
        auto_activate: o.opt_bool("autoActivate")?,
        preview_access,
        skew_protection: o.opt_bool("skewProtection")?,
        skew_pin_secs: int_in("skewPinSeconds", SKEW_PIN_SECS)?,
        skew_depth: int_in("skewFallbackDepth", SKEW_DEPTH)?,
    };
    if update == UpdateProject::default() {
        return Err(ApiError::bad(
            "body",
            "nothing to update; give `name`, `enabled`, `outbound`, `autoActivate`, `previewAccess` and/or `skewProtection`, `skewPinSeconds`, `skewFallbackDepth`",
        ));
    }
    Ok(update)
}

/// Keyset position for newest-first listing: (created_at, id) of the last item returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at: i64,
    pub id: String,
}

impl ListCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at, self.id))
    }
    pub fn decode(s: &str) -> Result<ListCursor, ApiError> {
        let bad = || ApiError::bad("cursor", "is not a cursor returned by this API");
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (ts, id) = text.split_once(':').ok_or_else(bad)?;
        let created_at = ts.parse::<i64>().map_err(|_| bad())?;
        if id.is_empty() || id.len() > 64 {
            return Err(bad());
        }
        Ok(ListCursor { created_at, id: id.to_string() })
    }
}

pub const LIST_LIMIT_DEFAULT: u32 = 20;
pub const LIST_LIMIT_MAX: u32 = 100;

/// Parsed `?limit=&cursor=` of a list endpoint.
#[derive(Debug, PartialEq)]
pub struct ListQuery {
    pub limit: u32,
    pub cursor: Option<ListCursor>,
}

pub fn parse_list_query(pairs: &[(String, String)]) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery { limit: LIST_LIMIT_DEFAULT, cursor: None };
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => {
                q.limit =
                    v.parse::<u32>().ok().filter(|n| (1..=LIST_LIMIT_MAX).contains(n)).ok_or_else(|| {
                        ApiError::bad("limit", format!("must be an integer 1-{LIST_LIMIT_MAX}"))
                    })?;
            }
            "cursor" if !v.is_empty() => q.cursor = Some(ListCursor::decode(v)?),
            _ => {}
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_inputs() {
        assert_eq!(parse_create_project(b"").unwrap(), CreateProject { name: None });
        assert_eq!(parse_create_project(b"{}").unwrap(), CreateProject { name: None });
        assert_eq!(parse_create_project(br#"{"name":" Blog "}"#).unwrap().name.unwrap().as_str(), "Blog");
        let too_long = format!(r#"{{"name":"{}"}}"#, "x".repeat(101));
        for (body, field) in [
            (&br#"{"name": 1}"#[..], "name"),
            (br#"{"name": ""}"#, "name"),
            (too_long.as_bytes(), "name"),
            (br#"{"nmae": "x"}"#, "nmae"),
            (b"nope", "body"),
            (b"[]", "body"),
        ] {
            assert_eq!(
                parse_create_project(body).unwrap_err().field(),
                field,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn update_inputs() {
        let u = parse_update_project(br#"{"enabled": false}"#).unwrap();
        assert_eq!(u.enabled, Some(false));
        assert_eq!(parse_update_project(br#"{"outbound": "allow"}"#).unwrap().outbound, Some("allow"));
        for v in ["public", "link"] {
            let body = format!(r#"{{"previewAccess": "{v}"}}"#);
            assert_eq!(parse_update_project(body.as_bytes()).unwrap().preview_access, Some(v));
        }
        for (body, field) in [
            (&b"{}"[..], "body"),
            (b"", "body"),
            (br#"{"enabled": "no"}"#, "enabled"),
            (br#"{"slug": "x"}"#, "slug"),
            (br#"{"outbound": "sometimes"}"#, "outbound"),
            (br#"{"previewAccess": "private"}"#, "previewAccess"),
            (br#"{"previewAccess": true}"#, "previewAccess"),
        ] {
            assert_eq!(parse_update_project(body).unwrap_err().field(), field);
        }
    }

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = ListCursor { created_at: 1_700_000_000_000, id: "abc".into() };
        assert_eq!(ListCursor::decode(&c.encode()).unwrap(), c);
        for bad in ["!!", "Zm9v", "YWJjOmRlZg", ""] {
            assert_eq!(ListCursor::decode(bad).unwrap_err().field(), "cursor", "{bad}");
        }
    }

    #[test]
    fn list_query_limits() {
        let p = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(parse_list_query(&[]).unwrap().limit, 20);
        assert_eq!(parse_list_query(&p("limit", "100")).unwrap().limit, 100);
        for bad in ["0", "101", "-1", "x", ""] {
            assert_eq!(parse_list_query(&p("limit", bad)).unwrap_err().field(), "limit", "{bad}");
        }
        assert_eq!(parse_list_query(&p("cursor", "%%%")).unwrap_err().field(), "cursor");
    }

    #[test]
    fn urls() {
        let dev = UrlBase::new("http", "localhost", Some(8787)).with_path_mode(true);
        assert_eq!(dev.project_url("blog-x"), "http://blog-x.localhost:8787/");
        assert_eq!(dev.path_url("blog-x").unwrap(), "http://localhost:8787/__project/blog-x/");
        assert_eq!(dev.preview_url("0123456789abcdef", "blog-x"), "http://01234567--blog-x.localhost:8787/");
        let prod = UrlBase::new("https", "example.dev", None);
        assert_eq!(prod.project_url("blog-x"), "https://blog-x.example.dev/");
        assert_eq!(prod.preview_url("0123456789abcdef", "blog-x"), "https://01234567--blog-x.example.dev/");
        assert_eq!(prod.alias_url("staging", "blog-x"), "https://staging--blog-x.example.dev/");
        // Path mode off: no path URL anywhere, in the JSON either.
        assert_eq!(prod.path_url("blog-x"), None);
        let mut v = serde_json::json!({});
        prod.add_path_url(&mut v, "pathUrl", "blog-x");
        assert!(v.get("pathUrl").is_none());
        assert_eq!(UrlBase::new("https", "example.dev", Some(443)).port, "");
    }

    #[test]
    fn a_live_rollout_is_summarised_in_the_project() {
        use crate::lifecycle::rollout::{Rollout, Step};
        let mut r = Rollout::new("d2", "d1", vec![Step { percent: 10, minutes: 5 }], None, 0);
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            rollout_summary(Some(&text)),
            json!({ "deploymentId": "d2", "status": "running", "percent": 10 })
        );
        r.end(crate::lifecycle::rollout::RolloutStatus::Aborted, "aborted", 1);
        assert_eq!(rollout_summary(Some(&serde_json::to_string(&r).unwrap())), Value::Null);
        assert_eq!(rollout_summary(None), Value::Null);
        assert_eq!(rollout_summary(Some("not json")), Value::Null);
    }

    #[test]
    fn skew_settings_are_bounded() {
        let u =
            parse_update_project(br#"{"skewProtection":false,"skewPinSeconds":60,"skewFallbackDepth":0}"#)
                .unwrap();
        assert_eq!((u.skew_protection, u.skew_pin_secs, u.skew_depth), (Some(false), Some(60), Some(0)));
        let u = parse_update_project(br#"{"skewPinSeconds":604800,"skewFallbackDepth":20}"#).unwrap();
        assert_eq!((u.skew_pin_secs, u.skew_depth), (Some(604_800), Some(20)));
        for (body, field) in [
            (r#"{"skewPinSeconds":59}"#, "skewPinSeconds"),
            (r#"{"skewPinSeconds":604801}"#, "skewPinSeconds"),
            (r#"{"skewPinSeconds":"60"}"#, "skewPinSeconds"),
            (r#"{"skewFallbackDepth":21}"#, "skewFallbackDepth"),
            (r#"{"skewFallbackDepth":-1}"#, "skewFallbackDepth"),
            (r#"{"skewFallbackDepth":1.5}"#, "skewFallbackDepth"),
            (r#"{"skewProtection":"off"}"#, "skewProtection"),
        ] {
            let e = parse_update_project(body.as_bytes()).unwrap_err();
            assert_eq!(e.field(), field, "{body}");
        }
    }
}
