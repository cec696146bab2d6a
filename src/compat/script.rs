//! A wrangler script upload (`PUT /scripts/:name`, multipart) mapped onto the native deploy
//! request, so both go through `deploy::parse_deploy_request` and one workflow: the `metadata`
//! part (bindings -> env vars, JSON vars, secrets or a clear 400; `assets.config` -> deployment
//! config) and module parts by content type. Also the secret, rollback and listing shapes.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::deploy::{valid_env_name, MAX_ENV_VALUE_BYTES, MAX_ENV_VARS};
use crate::domain::{iso8601, JsonObject};
use crate::error::ApiError;

pub const SUPPORTED_BINDINGS: &str =
    "plain_text, json, secret_text, assets, kv_namespace, d1, r2_bucket, images, service";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScriptMetadata {
    pub main_module: Option<String>,
    pub compatibility_date: Option<String>,
    pub compatibility_flags: Vec<String>,
    pub vars: BTreeMap<String, String>,
    /// `json` bindings, as JSON text (user code gets the parsed value).
    pub json_vars: BTreeMap<String, String>,
    /// `secret_text` bindings in plain text: encrypted by the caller before anything is stored.
    pub secrets: BTreeMap<String, String>,
    /// The name of the `assets` binding (`env.ASSETS` unless the project chose another).
    pub assets_binding: Option<String>,
    /// The completion JWT of the asset upload.
    pub assets_jwt: Option<String>,
    pub assets_config: Map<String, Value>,
    /// `kv_namespace` bindings: name -> namespace id (reachability is checked by the caller).
    pub kv: BTreeMap<String, String>,
    /// `r2_bucket` bindings as sent: name -> `bucket_name` (resolved among the caller's own
    /// buckets by the caller into `buckets`).
    pub bucket_names: BTreeMap<String, String>,
    /// Bucket bindings: name -> bucket id (resolved names and inherited bindings).
    pub buckets: BTreeMap<String, String>,
    /// `d1` bindings: name -> SQL database id (reachability is checked by the native deploy).
    pub d1: BTreeMap<String, String>,
    /// `images` bindings by name (wrangler `{type: "images", name}`).
    pub images: Vec<String>,
    /// `service` bindings: name -> the Worker (project) they call, by name (resolved among the
    /// projects the caller reaches when the deploy is prepared).
    pub services: BTreeMap<String, String>,
    /// `inherit` bindings (what wrangler sends on a redeploy for a binding it read back from
    /// `GET .../settings`): resolved against the active deployment by `resolve_inherited`.
    pub inherit: Vec<String>,
}

/// The checked `text` of a `plain_text` or `secret_text` binding.
fn binding_text<'a>(b: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    let text = b.get("text").and_then(Value::as_str).ok_or_else(|| bad_binding(name, "text is required"))?;
    check_value(name, text)?;
    Ok(text)
}

fn bad_binding(name: &str, reason: impl Into<String>) -> ApiError {
    ApiError::bad(format!("metadata.bindings[{name:?}]"), reason)
}

fn check_name(name: &str, seen: &mut Vec<String>) -> Result<(), ApiError> {
    if !valid_env_name(name) {
        return Err(bad_binding(name, "name must match [A-Za-z_][A-Za-z0-9_]*"));
    }
    if seen.iter().any(|n| n == name) {
        return Err(bad_binding(name, "is bound twice"));
    }
    seen.push(name.to_string());
    Ok(())
}

fn check_value(name: &str, v: &str) -> Result<(), ApiError> {
    if v.len() > MAX_ENV_VALUE_BYTES {
        return Err(bad_binding(name, format!("value must be at most {MAX_ENV_VALUE_BYTES} bytes")));
    }
    Ok(())
}

/// Resolves `inherit` bindings against the active deployment's KV, D1 and bucket bindings (name
/// -> id): only those can be inherited (the other kinds Flotilla keeps are not bindings).
pub fn resolve_inherited(
    m: &mut ScriptMetadata,
    active_kv: &BTreeMap<String, String>,
    active_d1: &BTreeMap<String, String>,
    active_buckets: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    for name in std::mem::take(&mut m.inherit) {
        if let Some(id) = active_kv.get(&name) {
            m.kv.insert(name, id.clone());
        } else if let Some(id) = active_d1.get(&name) {
            m.d1.insert(name, id.clone());
        } else if let Some(id) = active_buckets.get(&name) {
            m.buckets.insert(name, id.clone());
        } else {
            return Err(bad_binding(
                &name,
                "is inherited, but the active deployment has no kv_namespace, d1 or r2_bucket binding of that name",
            ));
        }
    }
    Ok(())
}

/// The bindings `GET .../settings` reports (what wrangler inherits on the next deploy): KV and
/// D1 by id, buckets by name (`buckets`: binding -> bucket name).
pub fn settings_bindings(
    kv: &BTreeMap<String, String>,
    d1: &BTreeMap<String, String>,
    buckets: &BTreeMap<String, String>,
) -> Vec<Value> {
    let kv = kv.iter().map(|(n, id)| json!({ "type": "kv_namespace", "name": n, "namespace_id": id }));
    let d1 = d1.iter().map(|(n, id)| json!({ "type": "d1", "name": n, "id": id }));
    let r2 = buckets.iter().map(|(n, b)| json!({ "type": "r2_bucket", "name": n, "bucket_name": b }));
    kv.chain(d1).chain(r2).collect()
}

/// A KV namespace as Cloudflare's `/storage/kv/namespaces` calls answer it.
pub fn cf_namespace(r: &crate::domain::ResourceRow) -> Value {
    json!({ "id": r.id, "title": r.title, "supports_url_encoding": true })
}

/// Parses the `metadata` part. Unknown binding types are refused by name.
pub fn parse_metadata(bytes: &[u8]) -> Result<ScriptMetadata, ApiError> {
    let o =
        JsonObject::parse(bytes, false).map_err(|_| ApiError::bad("metadata", "must be a JSON object"))?;
    let mut m = ScriptMetadata {
        main_module: o.opt_str("main_module")?.map(str::to_string),
        compatibility_date: o.opt_str("compatibility_date")?.map(str::to_string),
        ..ScriptMetadata::default()
    };
    if let Some(flags) = o.get("compatibility_flags") {
        let flags =
            flags.as_array().ok_or_else(|| ApiError::bad("compatibility_flags", "must be an array"))?;
        for f in flags {
            let f = f.as_str().ok_or_else(|| ApiError::bad("compatibility_flags", "must be strings"))?;
            m.compatibility_flags.push(f.to_string());
        }
    }
    if o.get("body_part").is_some() {
        return Err(ApiError::bad(
            "metadata.body_part",
            "service-worker syntax is not supported; use ES modules",
        ));
    }
    let mut seen = Vec::new();
    let bindings = match o.get("bindings") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(ApiError::bad("metadata.bindings", "must be an array")),
    };
    for b in bindings {
        let name = b.get("name").and_then(Value::as_str).unwrap_or("");
        let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
        check_name(name, &mut seen)?;
        match kind {
            "plain_text" => {
                m.vars.insert(name.into(), binding_text(b, name)?.into());
            }
            "json" => {
                let v = b.get("json").ok_or_else(|| bad_binding(name, "json is required"))?;
                let text = v.to_string();
                check_value(name, &text)?;
                m.json_vars.insert(name.into(), text);
            }
            "secret_text" => {
                m.secrets.insert(name.into(), binding_text(b, name)?.into());
            }
            "assets" => {
                if m.assets_binding.is_some() {
                    return Err(bad_binding(name, "only one assets binding is supported"));
                }
                m.assets_binding = Some(name.into());
            }
            "kv_namespace" => {
                let id = b.get("namespace_id").and_then(Value::as_str).filter(|s| !s.is_empty());
                let id = id.ok_or_else(|| bad_binding(name, "a kv_namespace binding needs namespace_id"))?;
                m.kv.insert(name.into(), id.into());
            }
            "r2_bucket" => {
                let bucket = b.get("bucket_name").and_then(Value::as_str).filter(|s| !s.is_empty());
                let bucket =
                    bucket.ok_or_else(|| bad_binding(name, "an r2_bucket binding needs bucket_name"))?;
                if b.get("jurisdiction").is_some_and(|j| !j.is_null()) {
                    return Err(bad_binding(name, "R2 jurisdictions are not supported"));
                }
                m.bucket_names.insert(name.into(), bucket.into());
            }
            "d1" => {
                let id = b.get("id").or_else(|| b.get("database_id")).and_then(Value::as_str);
                let id =
                    id.filter(|s| !s.is_empty()).ok_or_else(|| bad_binding(name, "a d1 binding needs id"))?;
                m.d1.insert(name.into(), id.into());
            }
            "images" => m.images.push(name.into()),
            "service" => {
                let service = b.get("service").and_then(Value::as_str).filter(|s| !s.is_empty());
                let service = service.ok_or_else(|| bad_binding(name, "a service binding needs service"))?;
                if b.get("entrypoint").is_some_and(|e| !e.is_null()) {
                    return Err(bad_binding(
                        name,
                        "service bindings to a named entrypoint are not supported",
                    ));
                }
                m.services.insert(name.into(), service.into());
            }
            "inherit" => m.inherit.push(name.into()),
            other => {
                return Err(bad_binding(
                    name,
                    format!(
                    "has type `{other}`, which Flotilla does not support (supported: {SUPPORTED_BINDINGS})"
                ),
                ))
            }
        }
    }
    if seen.len() > MAX_ENV_VARS {
        return Err(ApiError::bad("metadata.bindings", format!("at most {MAX_ENV_VARS} bindings")));
    }
    if let Some(keep) = o.get("keep_bindings").and_then(Value::as_array) {
        // Anything besides secrets (which Flotilla keeps anyway) would keep a binding it cannot have.
        if let Some(k) =
            keep.iter().filter_map(Value::as_str).find(|k| !["secret_text", "secret_key"].contains(k))
        {
            return Err(ApiError::bad("metadata.keep_bindings", format!("`{k}` bindings are not supported")));
        }
    }
    if let Some(a) = o.opt_object("assets")? {
        m.assets_jwt = a.get("jwt").and_then(Value::as_str).map(str::to_string);
        if let Some(c) = a.get("config") {
            m.assets_config = c
                .as_object()
                .cloned()
                .ok_or_else(|| ApiError::bad("metadata.assets.config", "must be an object"))?;
        }
    }
    Ok(m)
}

/// The loader's module kind for a part's content type; `None` for parts that are not modules
/// (source maps, kept out of the isolate).
pub fn module_kind(name: &str, content_type: &str) -> Result<Option<&'static str>, ApiError> {
    let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    Ok(Some(match ct.as_str() {
        "application/javascript+module" => "js",
        "application/javascript" | "text/javascript" => "cjs",
        "text/plain" => "text",
        "application/octet-stream" => "data",
        "application/json" => "json",
        "text/x-python" => "py",
        "application/source-map" => return Ok(None),
        "application/wasm" => {
            return Err(ApiError::bad(
                name,
                "WebAssembly modules are not supported by the Worker Loader here",
            ))
        }
        other => return Err(ApiError::bad(name, format!("module content type `{other}` is not supported"))),
    }))
}

/// One module part of the upload.
pub struct ModulePart {
    pub name: String,
    pub kind: &'static str,
    pub bytes: Vec<u8>,
}

fn config_str<'a>(c: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, ApiError> {
    match c.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad(format!("assets.config.{k}"), "must be a string")),
    }
}

/// The native deploy body for this upload (`POST /__api/projects/:id/deploy`), so validation
/// and the workflow are the native ones.
/// `activate: false` stages the deployment without serving it (a Cloudflare version upload,
/// made live by a later `POST /deployments`).
pub fn deploy_body(
    m: &ScriptMetadata,
    completion_jwt: &str,
    modules: &[ModulePart],
    activate: bool,
) -> Result<Value, ApiError> {
    let c = &m.assets_config;
    let allowed = [
        "html_handling",
        "not_found_handling",
        "run_worker_first",
        "_redirects",
        "_headers",
        "serve_directly",
    ];
    if let Some(k) = c.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad(format!("assets.config.{k}"), "is not supported"));
    }
    let mut config = Map::new();
    for (from, to) in [
        ("html_handling", "html_handling"),
        ("not_found_handling", "not_found_handling"),
        ("_redirects", "redirects"),
        ("_headers", "headers"),
    ] {
        if let Some(v) = config_str(c, from)? {
            config.insert(to.into(), json!(v));
        }
    }
    let mut body = json!({ "completionJwt": completion_jwt, "config": config });
    if !activate {
        body["activate"] = json!(false);
    }
    // `serve_directly: false` is the older spelling of `run_worker_first: true`.
    let rwf = match (c.get("run_worker_first"), c.get("serve_directly")) {
        (Some(v), _) if !v.is_null() => Some(v.clone()),
        (_, Some(Value::Bool(false))) => Some(json!(true)),
        _ => None,
    };
    match &m.main_module {
        Some(main) => {
            let mods: Map<String, Value> = modules
                .iter()
                .map(|p| (p.name.clone(), json!({ "type": p.kind, "content": STANDARD.encode(&p.bytes) })))
                .collect();
            body["serverCode"] = json!({
                "entrypoint": main,
                "modules": mods,
                "compatibilityDate": m.compatibility_date,
                "compatibilityFlags": m.compatibility_flags,
            });
            if !m.vars.is_empty() {
                body["env"] = json!(m.vars);
            }
            let kv = m.kv.iter().map(|(n, id)| json!({ "type": "kv", "name": n, "id": id }));
            let d1 = m.d1.iter().map(|(n, id)| json!({ "type": "d1", "name": n, "id": id }));
            let r2 = m.buckets.iter().map(|(n, id)| json!({ "type": "bucket", "name": n, "id": id }));
            let images = m.images.iter().map(|n| json!({ "type": "images", "name": n }));
            let services =
                m.services.iter().map(|(n, s)| json!({ "type": "service", "name": n, "service": s }));
            let b: Vec<Value> = kv.chain(d1).chain(r2).chain(images).chain(services).collect();
            if !b.is_empty() {
                body["config"]["bindings"] = json!(b);
            }
            if let Some(r) = rwf.filter(|r| r != &json!(false)) {
                body["run_worker_first"] = r;
            }
        }
        None => {
            if !modules.is_empty() {
                return Err(ApiError::bad("metadata.main_module", "is required when modules are uploaded"));
            }
            let bound =
                !m.kv.is_empty() || !m.d1.is_empty() || !m.buckets.is_empty() || !m.bucket_names.is_empty();
            if !m.vars.is_empty() || !m.json_vars.is_empty() || !m.secrets.is_empty() || bound {
                return Err(ApiError::bad("metadata.bindings", "vars and secrets need a Worker (`main`)"));
            }
        }
    }
    Ok(body)
}

/// `PUT /scripts/:name/secrets {name, text, type}` -> (name, value).
pub fn parse_secret(body: &[u8]) -> Result<(String, String), ApiError> {
    let o = JsonObject::parse(body, false)?;
    let name = o.opt_str("name")?.unwrap_or("");
    if !valid_env_name(name) {
        return Err(ApiError::bad("name", "must match [A-Za-z_][A-Za-z0-9_]*"));
    }
    match o.opt_str("type")?.unwrap_or("secret_text") {
        "secret_text" => {}
        other => {
            return Err(ApiError::bad(
                "type",
                format!("`{other}` secrets are not supported (only secret_text)"),
            ))
        }
    }
    let text = o.opt_str("text")?.ok_or_else(|| ApiError::bad("text", "is required"))?;
    check_value(name, text)
        .map_err(|_| ApiError::bad("text", format!("must be at most {MAX_ENV_VALUE_BYTES} bytes")))?;
    Ok((name.to_string(), text.to_string()))
}

/// What a `POST /scripts/:name/deployments` asks to serve.
#[derive(Debug, Clone, PartialEq)]
pub enum CfTraffic {
    /// One version at 100 % (`wrangler deploy`, `rollback`, `versions deploy <id>@100%`).
    One(String),
    /// Two versions sharing traffic (`wrangler versions deploy <a>@10% <b>@90%`), as given.
    Split([(String, f64); 2]),
}

/// `POST /scripts/:name/deployments {strategy: "percentage", versions: [{version_id,
/// percentage}]}`: one version at 100 %, or two whose percentages add up to 100 (at most two,
/// as on Cloudflare). A version at 0 % is dropped.
pub fn parse_cf_deployment(body: &[u8]) -> Result<CfTraffic, ApiError> {
    let o = JsonObject::parse(body, false)?;
    if let Some(s) = o.opt_str("strategy")? {
        if s != "percentage" {
            return Err(ApiError::bad("strategy", "only `percentage` is supported"));
        }
    }
    let versions = o
        .get("versions")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad("versions", "is required"))?;
    let mut list = Vec::with_capacity(versions.len());
    for (i, v) in versions.iter().enumerate() {
        let id = v
            .get("version_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::bad(format!("versions[{i}].version_id"), "is required"))?;
        let pct =
            v.get("percentage").and_then(Value::as_f64).filter(|p| (0.0..=100.0).contains(p)).ok_or_else(
                || ApiError::bad(format!("versions[{i}].percentage"), "must be a number 0-100"),
            )?;
        if pct > 0.0 {
            list.push((id.to_string(), pct));
        }
    }
    let total: f64 = list.iter().map(|(_, p)| p).sum();
    if (total - 100.0).abs() > 0.001 {
        return Err(ApiError::bad("versions", "the percentages must add up to 100"));
    }
    match <[(String, f64); 2]>::try_from(list) {
        Ok([a, b]) if a.0 == b.0 => Ok(CfTraffic::One(a.0)),
        Ok(two) => Ok(CfTraffic::Split(two)),
        Err(mut one) if one.len() == 1 => Ok(CfTraffic::One(one.remove(0).0)),
        Err(_) => Err(ApiError::bad("versions", "at most two versions can share traffic")),
    }
}

/// What a Flotilla deployment looks like as a Cloudflare version and deployment.
pub struct VersionView<'a> {
    pub id: &'a str,
    pub number: i64,
    pub created_ms: i64,
    pub author: &'a str,
    pub has_server_code: bool,
}

pub fn render_version(v: &VersionView) -> Value {
    let at = iso8601(v.created_ms.max(0) as u64);
    json!({
        "id": v.id,
        "number": v.number,
        "metadata": { "created_on": at, "modified_on": at, "source": "wrangler", "author_id": v.author, "author_email": v.author, "hasPreview": false },
        "annotations": { "workers/triggered_by": "upload" },
        // wrangler's `versions view` reads `script_runtime` unconditionally (its fields are optional).
        "resources": { "script": { "handlers": if v.has_server_code { json!(["fetch"]) } else { json!([]) } },
                       "script_runtime": {}, "bindings": [] },
    })
}

/// A deployment serving one version at 100%; `at_ms` is when it went live.
pub fn render_deployment(version_id: &str, at_ms: i64, author: &str, message: Option<&str>) -> Value {
    render_split(version_id, at_ms, author, message, &[(version_id, 100)])
}

/// A deployment serving `versions` (id, percent); its id is the first version's.
pub fn render_split(
    id: &str,
    at_ms: i64,
    author: &str,
    message: Option<&str>,
    versions: &[(&str, u8)],
) -> Value {
    let versions: Vec<Value> =
        versions.iter().map(|(v, p)| json!({ "version_id": v, "percentage": f64::from(*p) })).collect();
    let mut annotations = json!({});
    if let Some(m) = message {
        annotations["workers/message"] = json!(m);
    }
    json!({
        "id": id,
        "source": "wrangler",
        "strategy": "percentage",
        "author_email": author,
        "created_on": iso8601(at_ms.max(0) as u64),
        "annotations": annotations,
        "versions": versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::parse_deploy_request;

    // The metadata wrangler 4.164 sent for a Worker + assets project (observed).
    const OBSERVED: &str = r#"{"main_module":"index.js","bindings":[{"name":"GREETING","type":"plain_text","text":"hello"},{"name":"CONF","type":"json","json":{"a":1}},{"name":"ASSETS","type":"assets"}],"compatibility_date":"2026-10-01","compatibility_flags":[],"code_update_strategy":{"mode":"deferred","max_delay":300},"keep_bindings":["secret_text","secret_key"],"assets":{"jwt":"COMPLETEJWT","config":{"not_found_handling":"single-page-application","run_worker_first":["/api/*"],"_redirects":"/old /new 301\n","_headers":"/*\n  X-Test: 1\n"}}}"#;

    fn parts() -> Vec<ModulePart> {
        vec![
            ModulePart {
                name: "index.js".into(),
                kind: "js",
                bytes: b"import {h} from './lib.js'; export default {fetch(){return new Response(h())}}"
                    .to_vec(),
            },
            ModulePart { name: "lib.js".into(), kind: "js", bytes: b"export const h = () => 'x';".to_vec() },
            ModulePart { name: "msg.txt".into(), kind: "text", bytes: b"hello".to_vec() },
        ]
    }

    #[test]
    fn observed_worker_upload_maps_to_a_native_deploy() {
        let m = parse_metadata(OBSERVED.as_bytes()).unwrap();
        assert_eq!(m.vars["GREETING"], "hello");
        assert_eq!(m.json_vars["CONF"], r#"{"a":1}"#);
        assert_eq!(m.assets_binding.as_deref(), Some("ASSETS"));
        assert_eq!(m.assets_jwt.as_deref(), Some("COMPLETEJWT"));
        let body = deploy_body(&m, "COMPLETEJWT", &parts(), true).unwrap();
        let req = parse_deploy_request(body.to_string().as_bytes(), false).unwrap();
        let bundle = req.server_code.unwrap();
        assert_eq!(bundle.entrypoint, "index.js");
        assert_eq!(bundle.modules.len(), 3);
        assert_eq!(bundle.modules["msg.txt"].content, "hello");
        assert_eq!(bundle.env["GREETING"], "hello");
        assert!(req.run_worker_first.applies("/api/x"));
        assert!(!req.run_worker_first.applies("/x"));
        assert_eq!(req.config.not_found_handling, crate::assets::NotFoundHandling::SinglePageApplication);
        assert!(req.redirects.is_some() && req.headers.is_some());
    }

    #[test]
    fn observed_assets_only_upload() {
        let m = parse_metadata(br#"{"assets":{"jwt":"J","config":{}},"compatibility_date":"2026-10-01","compatibility_flags":[]}"#).unwrap();
        let body = deploy_body(&m, "J", &[], true).unwrap();
        let req = parse_deploy_request(body.to_string().as_bytes(), false).unwrap();
        assert!(req.server_code.is_none());
        assert_eq!(req.completion_jwt, "J");
        assert_eq!(req.activate, None);
        let staged = deploy_body(&m, "J", &[], false).unwrap();
        assert_eq!(parse_deploy_request(staged.to_string().as_bytes(), false).unwrap().activate, Some(false));
    }

    /// What wrangler 4.164 sends for `d1_databases`: `{type: "d1", name, id}` on a first deploy,
    /// `inherit` on a redeploy (read back from `settings` as `{type: "d1", name, id}`).
    #[test]
    fn d1_bindings_map_to_native_bindings_and_inherit_from_the_active_deployment() {
        const ID: &str = "0123456789abcdef0123456789abcdef";
        let first = format!(
            r#"{{"main_module":"a.js","compatibility_date":"2026-10-01","bindings":[{{"name":"DB","type":"d1","id":"{ID}"}}]}}"#
        );
        let m = parse_metadata(first.as_bytes()).unwrap();
        let mods = [ModulePart { name: "a.js".into(), kind: "js", bytes: b"export default {}".to_vec() }];
        let body = deploy_body(&m, "J", &mods, true).unwrap();
        let req = parse_deploy_request(body.to_string().as_bytes(), false).unwrap();
        assert_eq!(req.server_code.unwrap().sql_databases, BTreeMap::from([("DB".into(), ID.into())]));
        assert_eq!(
            settings_bindings(&BTreeMap::new(), &m.d1, &BTreeMap::new()),
            vec![json!({ "type": "d1", "name": "DB", "id": ID })]
        );
        let mut again =
            parse_metadata(br#"{"main_module":"a.js","bindings":[{"name":"DB","type":"inherit"}]}"#).unwrap();
        resolve_inherited(&mut again, &BTreeMap::new(), &m.d1, &BTreeMap::new()).unwrap();
        assert_eq!(again.d1, m.d1);
        let e = parse_metadata(br#"{"bindings":[{"name":"DB","type":"d1"}]}"#).unwrap_err();
        assert!(e.message().contains("DB") && e.message().contains("id"), "{}", e.message());
    }

    /// What wrangler sends for `images` and `services` (OpenNext's WORKER_SELF_REFERENCE):
    /// both become native `config.bindings`; a named entrypoint is refused naming the binding.
    #[test]
    fn images_and_service_bindings_map_to_native_bindings() {
        let meta = br#"{"main_module":"a.js","compatibility_date":"2026-10-01","bindings":[{"name":"IMAGES","type":"images"},{"name":"WORKER_SELF_REFERENCE","type":"service","service":"my-app"}]}"#;
        let m = parse_metadata(meta).unwrap();
        let mods = [ModulePart { name: "a.js".into(), kind: "js", bytes: b"export default {}".to_vec() }];
        let body = deploy_body(&m, "J", &mods, true).unwrap();
        let b = parse_deploy_request(body.to_string().as_bytes(), false).unwrap().server_code.unwrap();
        assert_eq!(b.images.keys().collect::<Vec<_>>(), ["IMAGES"]);
        assert_eq!(b.services, BTreeMap::from([("WORKER_SELF_REFERENCE".into(), "my-app".into())]));
        let e = parse_metadata(
            br#"{"bindings":[{"name":"API","type":"service","service":"x","entrypoint":"Admin"}]}"#,
        )
        .unwrap_err();
        assert!(e.message().contains("API") && e.message().contains("entrypoint"), "{}", e.message());
        let e = parse_metadata(br#"{"bindings":[{"name":"API","type":"service"}]}"#).unwrap_err();
        assert!(e.message().contains("API"), "{}", e.message());
    }

    #[test]
    fn unsupported_bindings_are_named() {
        for (t, name) in [("durable_object_namespace", "D"), ("service", "S")] {
            let meta = format!(r#"{{"main_module":"a.js","bindings":[{{"name":"{name}","type":"{t}"}}]}}"#);
            let e = parse_metadata(meta.as_bytes()).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.message().contains(t) && e.message().contains(name), "{}", e.message());
        }
        let e =
            parse_metadata(br#"{"bindings":[{"name":"1X","type":"plain_text","text":"a"}]}"#).unwrap_err();
        assert!(e.message().contains("1X"));
        let e = parse_metadata(br#"{"bindings":[{"name":"A","type":"plain_text","text":"a"},{"name":"A","type":"json","json":1}]}"#).unwrap_err();
        assert!(e.message().contains("twice"));
        assert!(parse_metadata(br#"{"keep_bindings":["kv_namespace"]}"#).is_err());
        assert!(parse_metadata(b"[]").is_err());
        assert!(parse_metadata(b"\xff").is_err());
    }

    /// What wrangler 4.164 sends for `kv_namespaces`: the id on a first deploy (its own or the
    /// one it provisioned), `inherit` on a redeploy; both become the native `config.bindings`.
    #[test]
    fn kv_bindings_map_to_native_bindings_and_inherit_from_the_active_deployment() {
        const ID: &str = "0123456789abcdef0123456789abcdef";
        let first = format!(
            r#"{{"main_module":"a.js","compatibility_date":"2026-10-01","bindings":[{{"name":"CACHE","type":"kv_namespace","namespace_id":"{ID}"}}]}}"#
        );
        let m = parse_metadata(first.as_bytes()).unwrap();
        let mods = [ModulePart { name: "a.js".into(), kind: "js", bytes: b"export default {}".to_vec() }];
        let body = deploy_body(&m, "J", &mods, true).unwrap();
        let req = parse_deploy_request(body.to_string().as_bytes(), false).unwrap();
        assert_eq!(req.server_code.unwrap().kv_namespaces, BTreeMap::from([("CACHE".into(), ID.into())]));
        assert_eq!(
            settings_bindings(&m.kv, &BTreeMap::new(), &BTreeMap::new()),
            vec![json!({ "type": "kv_namespace", "name": "CACHE", "namespace_id": ID })]
        );

        let again = br#"{"main_module":"a.js","bindings":[{"name":"CACHE","type":"inherit"}]}"#;
        let mut m = parse_metadata(again).unwrap();
        assert_eq!(m.inherit, vec!["CACHE".to_string()]);
        let active = BTreeMap::from([("CACHE".to_string(), ID.to_string())]);
        resolve_inherited(&mut m, &active, &BTreeMap::new(), &BTreeMap::new()).unwrap();
        assert_eq!(m.kv, active);
        assert!(m.inherit.is_empty());
        let mut lost = parse_metadata(again).unwrap();
        let e =
            resolve_inherited(&mut lost, &BTreeMap::new(), &BTreeMap::new(), &BTreeMap::new()).unwrap_err();
        assert!(e.message().contains("CACHE") && e.message().contains("inherit"), "{}", e.message());

        // Without an id, or without server code, it is refused by name.
        let e = parse_metadata(br#"{"bindings":[{"name":"KV","type":"kv_namespace"}]}"#).unwrap_err();
        assert!(e.message().contains("KV") && e.message().contains("namespace_id"), "{}", e.message());
        let assets_only =
            format!(r#"{{"bindings":[{{"name":"C","type":"kv_namespace","namespace_id":"{ID}"}}]}}"#);
        assert!(deploy_body(&parse_metadata(assets_only.as_bytes()).unwrap(), "J", &[], true).is_err());
    }

    /// What wrangler 4.164 sends for `r2_buckets`: `bucket_name` (its own or the one it
    /// provisioned), or `inherit` on a redeploy of a binding without one; the resolved ids
    /// become native bucket bindings, and settings report the names back.
    #[test]
    fn r2_bindings_are_named_resolved_and_inherited() {
        const ID: &str = "0123456789abcdef0123456789abcdef";
        let meta = br#"{"main_module":"a.js","compatibility_date":"2026-10-01","bindings":[{"name":"FILES","type":"r2_bucket","bucket_name":"files"}]}"#;
        let mut m = parse_metadata(meta).unwrap();
        assert_eq!(m.bucket_names, BTreeMap::from([("FILES".into(), "files".into())]));
        m.buckets.insert("FILES".into(), ID.into()); // what cf.rs resolves the name to
        let mods = [ModulePart { name: "a.js".into(), kind: "js", bytes: b"export default {}".to_vec() }];
        let req =
            parse_deploy_request(deploy_body(&m, "J", &mods, true).unwrap().to_string().as_bytes(), false)
                .unwrap();
        assert_eq!(req.server_code.unwrap().buckets, BTreeMap::from([("FILES".into(), ID.into())]));
        let names = BTreeMap::from([("FILES".to_string(), "files".to_string())]);
        assert_eq!(
            settings_bindings(&BTreeMap::new(), &BTreeMap::new(), &names),
            vec![json!({ "type": "r2_bucket", "name": "FILES", "bucket_name": "files" })]
        );
        let mut again =
            parse_metadata(br#"{"main_module":"a.js","bindings":[{"name":"FILES","type":"inherit"}]}"#)
                .unwrap();
        let active = BTreeMap::from([("FILES".to_string(), ID.to_string())]);
        resolve_inherited(&mut again, &BTreeMap::new(), &BTreeMap::new(), &active).unwrap();
        assert_eq!(again.buckets, active);
        for bad in [
            &br#"{"bindings":[{"name":"B","type":"r2_bucket"}]}"#[..],
            br#"{"bindings":[{"name":"B","type":"r2_bucket","bucket_name":"b","jurisdiction":"eu"}]}"#,
        ] {
            let e = parse_metadata(bad).unwrap_err();
            assert!(e.message().contains("\"B\""), "{}", e.message());
        }
        let assets_only = br#"{"bindings":[{"name":"B","type":"r2_bucket","bucket_name":"b"}]}"#;
        assert!(deploy_body(&parse_metadata(assets_only).unwrap(), "J", &[], true).is_err());
    }

    #[test]
    fn secrets_come_from_secret_text_bindings() {
        let m = parse_metadata(
            br#"{"main_module":"a.js","bindings":[{"name":"TOKEN","type":"secret_text","text":"s3"}]}"#,
        )
        .unwrap();
        assert_eq!(m.secrets["TOKEN"], "s3");
        assert!(m.vars.is_empty());
    }

    #[test]
    fn module_kinds_by_content_type() {
        assert_eq!(module_kind("a", "application/javascript+module").unwrap(), Some("js"));
        assert_eq!(module_kind("a", "application/javascript").unwrap(), Some("cjs"));
        assert_eq!(module_kind("a", "text/javascript; charset=utf-8").unwrap(), Some("cjs"));
        assert_eq!(module_kind("a", "text/plain").unwrap(), Some("text"));
        assert_eq!(module_kind("a", "application/octet-stream").unwrap(), Some("data"));
        assert_eq!(module_kind("a", "application/json").unwrap(), Some("json"));
        assert_eq!(module_kind("a.map", "application/source-map").unwrap(), None);
        assert!(module_kind("a.wasm", "application/wasm").unwrap_err().message().contains("WebAssembly"));
        assert!(module_kind("a", "image/png").is_err());
    }

    #[test]
    fn assets_config_mapping() {
        let mut m = ScriptMetadata {
            assets_config: serde_json::from_str(
                r#"{"html_handling":"drop-trailing-slash","not_found_handling":"404-page"}"#,
            )
            .unwrap(),
            ..ScriptMetadata::default()
        };
        let req =
            parse_deploy_request(deploy_body(&m, "J", &[], true).unwrap().to_string().as_bytes(), false)
                .unwrap();
        assert_eq!(req.config.html_handling, crate::assets::HtmlHandling::DropTrailingSlash);
        m.assets_config = serde_json::from_str(r#"{"colour":"red"}"#).unwrap();
        assert_eq!(deploy_body(&m, "J", &[], true).unwrap_err().field(), "assets.config.colour");
        m.assets_config = serde_json::from_str(r#"{"html_handling":5}"#).unwrap();
        assert!(deploy_body(&m, "J", &[], true).is_err());
        // Modules without a main module, or vars without a Worker, are refused.
        let m = ScriptMetadata::default();
        assert!(deploy_body(&m, "J", &parts(), true).is_err());
    }

    #[test]
    fn secret_and_rollback_bodies() {
        assert_eq!(
            parse_secret(br#"{"name":"K","text":"v","type":"secret_text"}"#).unwrap(),
            ("K".into(), "v".into())
        );
        assert!(parse_secret(br#"{"name":"K","text":"v","type":"secret_key"}"#).is_err());
        assert!(parse_secret(br#"{"name":"1","text":"v"}"#).is_err());
        assert!(parse_secret(br#"{"name":"K"}"#).is_err());
        let ok = br#"{"strategy":"percentage","versions":[{"version_id":"v1","percentage":100}],"annotations":{}}"#;
        assert_eq!(parse_cf_deployment(ok).unwrap(), CfTraffic::One("v1".into()));
        let split = br#"{"strategy":"percentage","versions":[{"version_id":"a","percentage":10},{"version_id":"b","percentage":90}]}"#;
        assert_eq!(
            parse_cf_deployment(split).unwrap(),
            CfTraffic::Split([("a".into(), 10.0), ("b".into(), 90.0)])
        );
        let zero = br#"{"versions":[{"version_id":"a","percentage":0},{"version_id":"b","percentage":100}]}"#;
        assert_eq!(parse_cf_deployment(zero).unwrap(), CfTraffic::One("b".into()));
        let three = br#"{"versions":[{"version_id":"a","percentage":10},{"version_id":"b","percentage":10},{"version_id":"c","percentage":80}]}"#;
        assert!(parse_cf_deployment(three).unwrap_err().message().contains("at most two"));
        let short =
            br#"{"versions":[{"version_id":"a","percentage":10},{"version_id":"b","percentage":80}]}"#;
        assert!(parse_cf_deployment(short).unwrap_err().message().contains("add up to 100"));
        assert!(parse_cf_deployment(br#"{"versions":[]}"#).is_err());
    }

    #[test]
    fn listing_shapes() {
        let v = render_version(&VersionView {
            id: "d1",
            number: 3,
            created_ms: 0,
            author: "root",
            has_server_code: true,
        });
        assert_eq!(v["metadata"]["created_on"], "1970-01-01T00:00:00.000Z");
        // `wrangler versions view` dereferences these without a check.
        assert!(v["resources"]["script_runtime"].is_object());
        assert!(v["resources"]["bindings"].is_array());
        let d = render_deployment("d1", 0, "root", Some("Rollback"));
        assert_eq!(d["versions"][0]["percentage"], 100.0);
        assert_eq!(d["annotations"]["workers/message"], "Rollback");
    }
}
