//! `POST /__api/projects/:id/deploy` body validation, and building a deployment's redirect
//! and header rules from the uploaded `_redirects`/`_headers` files plus `config` (file rules
//! first), rejecting the deploy when any line is invalid.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::server_code::{parse_run_worker_first, parse_server_code, RunWorkerFirst, ServerBundle};
use crate::assets::{AssetConfig, HeadersInput, HtmlHandling, NotFoundHandling, RedirectsInput};
use crate::domain::{JsonObject, ProjectName};
use crate::error::ApiError;

pub const MAX_ENV_VARS: usize = 64;
/// `config.bindings` entries at most.
pub const MAX_BINDINGS: usize = 32;
pub const MAX_ENV_VALUE_BYTES: usize = 5 * 1024;

/// Workflow steps that a test-only fault can be injected into (when the operator enables
/// `FAULT_INJECTION`): `<step>` fails every attempt, `once:<step>` only the first (the queue
/// retries it after a backoff, so tests can make deployments finish out of order);
/// `after:activate` fails the first attempt just after the swap took effect, before the step is
/// recorded (a D1 write lost after the swap). Off by default; ignored entirely when disabled.
pub const FAULT_STEPS: [&str; 7] =
    ["stage", "verify", "activate", "once:stage", "once:verify", "once:activate", "after:activate"];

#[derive(Debug, Clone, PartialEq)]
pub struct DeployRequest {
    pub completion_jwt: String,
    pub project_name: Option<ProjectName>,
    pub config: AssetConfig,
    pub redirects: Option<RedirectsInput>,
    pub headers: Option<HeadersInput>,
    pub server_code: Option<ServerBundle>,
    pub run_worker_first: RunWorkerFirst,
    /// `activate`: go live when ready (`true`), stage a preview only (`false`), or follow the
    /// project's `autoActivate` (absent).
    pub activate: Option<bool>,
    pub fault: Option<String>,
}

fn parse_html_handling(s: &str) -> Option<HtmlHandling> {
    serde_json::from_value(Value::String(s.into())).ok()
}

fn parse_not_found_handling(s: &str) -> Option<NotFoundHandling> {
    serde_json::from_value(Value::String(s.into())).ok()
}

/// A binding from `config.bindings`: (resource kind, env name, resource id).
type Binding = (&'static str, String, String);
type ParsedConfig = (AssetConfig, Option<RedirectsInput>, Option<HeadersInput>, Vec<Binding>);

/// `config.bindings: [{type, name, id}]` -> (resource kind, env name, id), `type` one of "kv",
/// "sql" (or "d1"), "bucket" (or "r2"); also `{type: "images", name}` (id "") and
/// `{type: "service", name, service}` (the project id or slug as the id). Only the shape is
/// checked here; whether the caller reaches each resource or service is checked when the
/// deploy is prepared.
fn parse_bindings(v: &Value) -> Result<Vec<Binding>, ApiError> {
    let items = v
        .as_array()
        .ok_or_else(|| ApiError::bad("config.bindings", "must be an array of {type, name, id}"))?;
    if items.len() > MAX_BINDINGS {
        return Err(ApiError::bad("config.bindings", format!("at most {MAX_BINDINGS} bindings")));
    }
    let mut out: Vec<Binding> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("config.bindings[{i}]");
        let m =
            item.as_object().ok_or_else(|| ApiError::bad(&field, "must be an object {type, name, id}"))?;
        let o = JsonObject::from_map(m.clone());
        let ty = o.opt_str("type").map_err(|e| prefix_field(e, &format!("{field}.")))?;
        let allowed: &[&str] = match ty {
            Some(KIND_IMAGES) => &["type", "name"],
            Some(KIND_SERVICE) => &["type", "name", "service"],
            _ => &["type", "name", "id"],
        };
        o.only(allowed).map_err(|e| prefix_field(e, &format!("{field}.")))?;
        const TYPES: &str = "\"kv\", \"sql\" (or \"d1\"), \"bucket\" (or \"r2\"), \"images\", \"service\"";
        let name = o.opt_str("name").map_err(|e| prefix_field(e, &format!("{field}.")))?.unwrap_or_default();
        if ty == Some(KIND_IMAGES) || ty == Some(KIND_SERVICE) {
            check_binding_name(name, &field, &out)?;
            let id = if ty == Some(KIND_SERVICE) {
                let s = o.opt_str("service").map_err(|e| prefix_field(e, &format!("{field}.")))?;
                match s.filter(|s| !s.is_empty() && s.len() <= 128) {
                    Some(s) => s.to_string(),
                    None => {
                        return Err(ApiError::bad(
                            format!("{field}.service"),
                            "is required: the project (id or slug) the binding calls",
                        ))
                    }
                }
            } else {
                String::new()
            };
            out.push((
                if ty == Some(KIND_IMAGES) { KIND_IMAGES } else { KIND_SERVICE },
                name.to_string(),
                id,
            ));
            continue;
        }
        let (kind, label) = match ty {
            Some(t) => crate::domain::binding_kind(t).ok_or_else(|| {
                ApiError::bad(format!("{field}.type"), format!("`{t}` is not one of {TYPES}"))
            })?,
            None => return Err(ApiError::bad(format!("{field}.type"), format!("is required ({TYPES})"))),
        };
        check_binding_name(name, &field, &out)?;
        let id = o.opt_str("id").map_err(|e| prefix_field(e, &format!("{field}.")))?.unwrap_or_default();
        if !crate::domain::is_resource_id(id) {
            return Err(ApiError::bad(
                format!("{field}.id"),
                format!("must be a {label} id (32 lowercase hex digits)"),
            ));
        }
        out.push((kind, name.to_string(), id.to_string()));
    }
    Ok(out)
}

/// Binding kinds that are not resources (issue 28).
pub const KIND_IMAGES: &str = "images";
pub const KIND_SERVICE: &str = "service";

fn check_binding_name(name: &str, field: &str, out: &[Binding]) -> Result<(), ApiError> {
    if !valid_env_name(name) {
        return Err(ApiError::bad(format!("{field}.name"), "must match [A-Za-z_][A-Za-z0-9_]*"));
    }
    if name == "ASSETS" {
        return Err(ApiError::bad(format!("{field}.name"), "ASSETS is reserved for the assets binding"));
    }
    if out.iter().any(|(_, n, _)| n == name) {
        return Err(ApiError::bad(format!("{field}.name"), format!("`{name}` is bound twice")));
    }
    Ok(())
}

fn parse_config(m: Option<&Map<String, Value>>) -> Result<ParsedConfig, ApiError> {
    let mut config = AssetConfig::default();
    let (mut redirects, mut headers) = (None, None);
    let Some(m) = m else { return Ok((config, redirects, headers, Vec::new())) };
    let o = JsonObject::from_map(m.clone());
    o.only(&["html_handling", "not_found_handling", "redirects", "headers", "bindings"])
        .map_err(|e| prefix_field(e, "config."))?;
    if let Some(s) = o.opt_str("html_handling").map_err(|e| prefix_field(e, "config."))? {
        config.html_handling = parse_html_handling(s).ok_or_else(|| {
            ApiError::bad(
                "config.html_handling",
                "must be one of auto-trailing-slash, force-trailing-slash, drop-trailing-slash, none",
            )
        })?;
    }
    if let Some(s) = o.opt_str("not_found_handling").map_err(|e| prefix_field(e, "config."))? {
        config.not_found_handling = parse_not_found_handling(s).ok_or_else(|| {
            ApiError::bad(
                "config.not_found_handling",
                "must be one of none, 404-page, single-page-application",
            )
        })?;
    }
    if let Some(v) = o.get("redirects") {
        redirects = Some(serde_json::from_value(v.clone()).map_err(|_| {
            ApiError::bad("config.redirects", "must be `_redirects` text or an array of {from, to, status?}")
        })?);
    }
    if let Some(v) = o.get("headers") {
        headers = Some(serde_json::from_value(v.clone()).map_err(|_| {
            ApiError::bad(
                "config.headers",
                "must be `_headers` text or an object of pattern -> {header: value | [values] | null}",
            )
        })?);
    }
    let bindings = o.get("bindings").map(parse_bindings).transpose()?.unwrap_or_default();
    Ok((config, redirects, headers, bindings))
}

fn prefix_field(e: ApiError, prefix: &str) -> ApiError {
    match e {
        ApiError::BadRequest { field, reason } => {
            ApiError::BadRequest { field: format!("{prefix}{field}"), reason }
        }
        other => other,
    }
}

/// An `env` name user code can read: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 bytes.
pub fn valid_env_name(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 128
        && k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !k.as_bytes()[0].is_ascii_digit()
}

fn parse_env(m: Option<&Map<String, Value>>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    let Some(m) = m else { return Ok(out) };
    if m.len() > MAX_ENV_VARS {
        return Err(ApiError::bad("env", format!("at most {MAX_ENV_VARS} variables")));
    }
    for (k, v) in m {
        if !valid_env_name(k) {
            return Err(ApiError::bad(format!("env.{k}"), "name must match [A-Za-z_][A-Za-z0-9_]*"));
        }
        if k == "ASSETS" {
            return Err(ApiError::bad("env.ASSETS", "is reserved for the assets binding"));
        }
        let v = v.as_str().ok_or_else(|| ApiError::bad(format!("env.{k}"), "must be a string"))?;
        if v.len() > MAX_ENV_VALUE_BYTES {
            return Err(ApiError::bad(
                format!("env.{k}"),
                format!("must be at most {MAX_ENV_VALUE_BYTES} bytes"),
            ));
        }
        out.insert(k.clone(), v.to_string());
    }
    Ok(out)
}

/// Parses and validates a deploy body. `faults_enabled` is the operator's FAULT_INJECTION var.
pub fn parse_deploy_request(body: &[u8], faults_enabled: bool) -> Result<DeployRequest, ApiError> {
    let o = JsonObject::parse(body, false)?;
    let mut allowed =
        vec!["completionJwt", "projectName", "config", "serverCode", "env", "run_worker_first", "activate"];
    if faults_enabled {
        allowed.push("fault");
    }
    o.only(&allowed)?;
    let completion_jwt = o
        .opt_str("completionJwt")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad("completionJwt", "is required (from the upload session)"))?
        .to_string();
    let project_name = o
        .opt_str("projectName")?
        .map(ProjectName::parse)
        .transpose()
        .map_err(|e| ApiError::bad("projectName", e.0))?;
    let (config, redirects, headers, bindings) = parse_config(o.opt_object("config")?)?;
    let env = parse_env(o.opt_object("env")?)?;
    let mut server_code = o.get("serverCode").map(|v| parse_server_code(v, &env)).transpose()?;
    if let Some((_, name, _)) = bindings.iter().find(|(_, n, _)| env.contains_key(n)) {
        return Err(ApiError::bad(format!("env.{name}"), "is also the name of a binding in config.bindings"));
    }
    if let Some(b) = server_code.as_mut() {
        for (kind, name, id) in bindings {
            match kind {
                KIND_IMAGES => {
                    b.images.insert(name, String::new());
                }
                KIND_SERVICE => {
                    b.services.insert(name, id);
                }
                _ => {
                    b.bindings_mut(kind).insert(name, id);
                }
            }
        }
    } else if !bindings.is_empty() {
        return Err(ApiError::bad("config.bindings", "only applies to deployments with serverCode"));
    }
    if server_code.is_none() {
        if o.get("run_worker_first").is_some() {
            return Err(ApiError::bad("run_worker_first", "only applies to deployments with serverCode"));
        }
        if !env.is_empty() {
            return Err(ApiError::bad("env", "only applies to deployments with serverCode"));
        }
    }
    let run_worker_first = parse_run_worker_first(o.get("run_worker_first"))?;
    let fault = match o.opt_str("fault")? {
        Some(f) if FAULT_STEPS.contains(&f) => Some(f.to_string()),
        Some(_) => return Err(ApiError::bad("fault", format!("must be one of {}", FAULT_STEPS.join(", ")))),
        None => None,
    };
    Ok(DeployRequest {
        completion_jwt,
        project_name,
        config,
        redirects,
        headers,
        server_code,
        run_worker_first,
        activate: o.opt_bool("activate")?,
        fault,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activate_flag() {
        assert_eq!(parse_deploy_request(br#"{"completionJwt":"t"}"#, false).unwrap().activate, None);
        let r = parse_deploy_request(br#"{"completionJwt":"t","activate":false}"#, false).unwrap();
        assert_eq!(r.activate, Some(false));
        let e = parse_deploy_request(br#"{"completionJwt":"t","activate":"no"}"#, false).unwrap_err();
        assert_eq!(e.field(), "activate");
    }

    #[test]
    fn minimal_and_full() {
        let r = parse_deploy_request(br#"{"completionJwt":"t"}"#, false).unwrap();
        assert_eq!(r.config, AssetConfig::default());
        let r = parse_deploy_request(
            br#"{"completionJwt":"t","config":{"html_handling":"none","not_found_handling":"single-page-application",
                "redirects":[{"from":"/a","to":"/b","status":301},{"from":"/c","to":"/d"}],
                "headers":{"/*":{"X-Frame-Options":"DENY","X-Powered-By":null}}},
                "serverCode":{"entrypoint":"a.js","compatibilityDate":"2026-10-01","modules":{"a.js":"ZXhwb3J0IGRlZmF1bHQge30="}},
                "run_worker_first":["/api/*"],
                "env":{"API_URL":"https://x"}}"#,
            false,
        )
        .unwrap();
        assert_eq!(r.config.html_handling, HtmlHandling::None);
        assert_eq!(r.config.not_found_handling, NotFoundHandling::SinglePageApplication);
        assert!(matches!(r.redirects, Some(RedirectsInput::Entries(ref e)) if e.len() == 2));
        assert!(matches!(r.headers, Some(HeadersInput::Rules(ref h)) if h.len() == 1));
        let bundle = r.server_code.unwrap();
        assert_eq!(bundle.env["API_URL"], "https://x");
        assert_eq!(bundle.modules["a.js"].content, "export default {}");
        assert!(r.run_worker_first.applies("/api/x"));
    }

    #[test]
    fn bad_input_names_fields() {
        let cases: &[(&str, &str)] = &[
            (r#"{}"#, "completionJwt"),
            (r#"{"completionJwt":""}"#, "completionJwt"),
            (r#"{"completionJwt":5}"#, "completionJwt"),
            (r#"{"completionJwt":"t","extra":1}"#, "extra"),
            (r#"{"completionJwt":"t","fault":"stage"}"#, "fault"),
            (r#"{"completionJwt":"t","config":[]}"#, "config"),
            (r#"{"completionJwt":"t","config":{"html_handling":"sometimes"}}"#, "config.html_handling"),
            (r#"{"completionJwt":"t","config":{"not_found_handling":1}}"#, "config.not_found_handling"),
            (r#"{"completionJwt":"t","config":{"colour":1}}"#, "config.colour"),
            (r#"{"completionJwt":"t","config":{"redirects":5}}"#, "config.redirects"),
            (r#"{"completionJwt":"t","config":{"redirects":[{"from":"/a"}]}}"#, "config.redirects"),
            (
                r#"{"completionJwt":"t","config":{"redirects":[{"from":"/a","to":"/b","status":"301"}]}}"#,
                "config.redirects",
            ),
            (r#"{"completionJwt":"t","config":{"headers":{"/a":{"X":1}}}}"#, "config.headers"),
            (r#"{"completionJwt":"t","config":{"headers":5}}"#, "config.headers"),
            (r#"{"completionJwt":"t","env":{"1BAD":"x"}}"#, "env.1BAD"),
            (r#"{"completionJwt":"t","env":{"OK":1}}"#, "env.OK"),
            (r#"{"completionJwt":"t","env":{"ASSETS":"x"}}"#, "env.ASSETS"),
            (r#"{"completionJwt":"t","projectName":""}"#, "projectName"),
            (r#"{"completionJwt":"t","run_worker_first":true}"#, "run_worker_first"),
            (r#"{"completionJwt":"t","env":{"OK":"x"}}"#, "env"),
            (r#"{"completionJwt":"t","serverCode":{}}"#, "serverCode.modules"),
        ];
        for (body, field) in cases {
            assert_eq!(parse_deploy_request(body.as_bytes(), false).unwrap_err().field(), *field, "{body}");
        }
    }

    #[test]
    fn kv_bindings() {
        let id = "0123456789abcdef0123456789abcdef";
        let code = r#""serverCode":{"entrypoint":"a.js","compatibilityDate":"2026-10-01","modules":{"a.js":"ZXhwb3J0IGRlZmF1bHQge30="}}"#;
        let body =
            |bindings: &str| format!(r#"{{"completionJwt":"t",{code},"config":{{"bindings":{bindings}}}}}"#);
        let r = parse_deploy_request(
            body(&format!(r#"[{{"type":"kv","name":"CACHE","id":"{id}"}}]"#)).as_bytes(),
            false,
        );
        assert_eq!(r.unwrap().server_code.unwrap().kv_namespaces["CACHE"], id);
        // Cloudflare's type names are aliases: `d1` is a SQL database, `r2` a bucket.
        let all = body(&format!(
            r#"[{{"type":"kv","name":"K","id":"{id}"}},{{"type":"d1","name":"DB","id":"{id}"}},{{"type":"sql","name":"DB2","id":"{id}"}},{{"type":"r2","name":"FILES","id":"{id}"}},{{"type":"bucket","name":"B","id":"{id}"}}]"#
        ));
        let parsed = parse_deploy_request(all.as_bytes(), false).unwrap().server_code.unwrap();
        assert_eq!(parsed.sql_databases.keys().collect::<Vec<_>>(), ["DB", "DB2"]);
        assert_eq!(parsed.buckets.keys().collect::<Vec<_>>(), ["B", "FILES"]);
        assert_eq!(parsed.kv_namespaces.keys().collect::<Vec<_>>(), ["K"]);
        assert!(parsed.needs_shims());
        let kinds: Vec<_> = parsed.resource_bindings().map(|(k, n, _)| (k, n.as_str())).collect();
        assert_eq!(kinds, [("kv", "K"), ("sql", "DB"), ("sql", "DB2"), ("bucket", "B"), ("bucket", "FILES")]);
        let cases = [
            ("5".to_string(), "config.bindings"),
            (r#"[1]"#.into(), "config.bindings[0]"),
            (format!(r#"[{{"type":"queue","name":"DB","id":"{id}"}}]"#), "config.bindings[0].type"),
            (
                format!(
                    r#"[{{"type":"kv","name":"C","id":"{id}"}},{{"type":"sql","name":"C","id":"{id}"}}]"#
                ),
                "config.bindings[1].name",
            ),
            (format!(r#"[{{"name":"DB","id":"{id}"}}]"#), "config.bindings[0].type"),
            (format!(r#"[{{"type":"kv","name":"1X","id":"{id}"}}]"#), "config.bindings[0].name"),
            (format!(r#"[{{"type":"kv","name":"ASSETS","id":"{id}"}}]"#), "config.bindings[0].name"),
            (r#"[{"type":"kv","name":"C","id":"../x"}]"#.into(), "config.bindings[0].id"),
            (format!(r#"[{{"type":"kv","name":"C","id":"{id}","x":1}}]"#), "config.bindings[0].x"),
            (
                format!(r#"[{{"type":"kv","name":"C","id":"{id}"}},{{"type":"kv","name":"C","id":"{id}"}}]"#),
                "config.bindings[1].name",
            ),
        ];
        for (bindings, field) in cases {
            assert_eq!(
                parse_deploy_request(body(&bindings).as_bytes(), false).unwrap_err().field(),
                field,
                "{bindings}"
            );
        }
        let clash = format!(
            r#"{{"completionJwt":"t",{code},"env":{{"C":"x"}},"config":{{"bindings":[{{"type":"kv","name":"C","id":"{id}"}}]}}}}"#
        );
        assert_eq!(parse_deploy_request(clash.as_bytes(), false).unwrap_err().field(), "env.C");
        let no_code = format!(
            r#"{{"completionJwt":"t","config":{{"bindings":[{{"type":"kv","name":"C","id":"{id}"}}]}}}}"#
        );
        assert_eq!(parse_deploy_request(no_code.as_bytes(), false).unwrap_err().field(), "config.bindings");
    }

    #[test]
    fn images_and_service_bindings() {
        let code = r#""serverCode":{"entrypoint":"a.js","compatibilityDate":"2026-10-01","modules":{"a.js":"ZXhwb3J0IGRlZmF1bHQge30="}}"#;
        let body =
            |bindings: &str| format!(r#"{{"completionJwt":"t",{code},"config":{{"bindings":{bindings}}}}}"#);
        let ok = body(
            r#"[{"type":"images","name":"IMAGES"},{"type":"service","name":"SELF","service":"my-app"}]"#,
        );
        let b = parse_deploy_request(ok.as_bytes(), false).unwrap().server_code.unwrap();
        assert_eq!(b.images.keys().collect::<Vec<_>>(), ["IMAGES"]);
        assert_eq!(b.services["SELF"], "my-app");
        assert_eq!(b.resource_bindings().count(), 0, "neither is a resource");
        assert!(b.needs_shims(), "images are built in the tenant isolate");
        let cases = [
            (r#"[{"type":"images","name":"I","id":"x"}]"#, "config.bindings[0].id"),
            (r#"[{"type":"images","name":"1I"}]"#, "config.bindings[0].name"),
            (r#"[{"type":"service","name":"S"}]"#, "config.bindings[0].service"),
            (r#"[{"type":"service","name":"S","service":""}]"#, "config.bindings[0].service"),
            (
                r#"[{"type":"service","name":"S","service":"a","entrypoint":"X"}]"#,
                "config.bindings[0].entrypoint",
            ),
            (
                r#"[{"type":"images","name":"S"},{"type":"service","name":"S","service":"a"}]"#,
                "config.bindings[1].name",
            ),
            (r#"[{"type":"service","name":"ASSETS","service":"a"}]"#, "config.bindings[0].name"),
        ];
        for (bindings, field) in cases {
            assert_eq!(
                parse_deploy_request(body(bindings).as_bytes(), false).unwrap_err().field(),
                field,
                "{bindings}"
            );
        }
    }

    #[test]
    fn faults_only_when_enabled() {
        let r = parse_deploy_request(br#"{"completionJwt":"t","fault":"verify"}"#, true).unwrap();
        assert_eq!(r.fault.as_deref(), Some("verify"));
        assert_eq!(
            parse_deploy_request(br#"{"completionJwt":"t","fault":"x"}"#, true).unwrap_err().field(),
            "fault"
        );
    }
}
