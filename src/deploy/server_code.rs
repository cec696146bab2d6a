//! Server code of a deployment (pure): validating `serverCode` (module names, types, sizes,
//! entrypoint, compatibility date and flags), the stored bundle, its digest (part of the
//! isolate id), and Cloudflare's `run_worker_first` rules.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::hex_lower;
use crate::error::ApiError;

pub const MAX_MODULES: usize = 100;
pub const MAX_BUNDLE_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_MODULE_NAME: usize = 256;
pub const MAX_RUN_WORKER_FIRST_RULES: usize = 100;

/// Compatibility flags user code may ask for. Anything else could change the sandbox's
/// behaviour in ways the platform has not vetted.
pub const ALLOWED_COMPAT_FLAGS: [&str; 8] = [
    "nodejs_compat",
    "nodejs_compat_v2",
    "nodejs_als",
    "url_standard",
    "global_fetch_strictly_public",
    "streams_enable_constructors",
    "transformstream_enable_standard_constructor",
    "python_workers",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleType {
    /// ES module.
    Js,
    /// CommonJS.
    Cjs,
    /// Python (production only: local workerd cannot run it).
    Py,
    Text,
    Data,
    Json,
}

impl ModuleType {
    fn parse(s: &str) -> Option<ModuleType> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }

    /// Type implied by a module name's extension, as wrangler's module rules do.
    pub fn from_name(name: &str) -> Option<ModuleType> {
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
        Some(match ext.as_str() {
            "js" | "mjs" => ModuleType::Js,
            "cjs" => ModuleType::Cjs,
            "py" => ModuleType::Py,
            "json" => ModuleType::Json,
            "txt" | "html" | "htm" | "md" | "css" | "svg" | "xml" | "csv" | "sql" => ModuleType::Text,
            "bin" | "dat" | "wasm" | "png" | "jpg" | "gif" | "ico" => ModuleType::Data,
            _ => return None,
        })
    }

    pub fn is_entry_type(self) -> bool {
        matches!(self, ModuleType::Js | ModuleType::Cjs | ModuleType::Py)
    }
}

/// One module as stored: text modules keep their text, data modules base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredModule {
    #[serde(rename = "type")]
    pub kind: ModuleType,
    /// UTF-8 source for js/cjs/py/text/json; base64 for data.
    pub content: String,
}

/// The immutable per-deployment bundle stored in R2 (`bundles/<projectId>/<deploymentId>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerBundle {
    pub entrypoint: String,
    pub modules: BTreeMap<String, StoredModule>,
    #[serde(rename = "compatibilityDate")]
    pub compatibility_date: String,
    #[serde(rename = "compatibilityFlags", default)]
    pub compatibility_flags: Vec<String>,
    /// String vars for the code's `env` (never echoed back by the API).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// JSON vars (wrangler `json` bindings) as JSON text; user code gets the parsed value.
    /// Skipped when empty so bundles without them keep their digest.
    #[serde(rename = "jsonEnv", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub json_env: BTreeMap<String, String>,
    /// Secrets, encrypted (`platform::secrets`, bound to project and name); decrypted only
    /// when the loader builds the isolate.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// The name user code reads its assets fetcher under (wrangler's `assets` binding).
    #[serde(rename = "assetsBinding", default, skip_serializing_if = "Option::is_none")]
    pub assets_binding: Option<String>,
    /// KV namespaces bound by env name (`config.bindings`, issue 27): name -> namespace id.
    /// Stored with the bundle, so a preview or rollback of this deployment binds the same ones.
    #[serde(rename = "kvNamespaces", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kv_namespaces: BTreeMap<String, String>,
    /// SQL databases bound by env name -> database id (D1's API in tenant code).
    #[serde(rename = "sqlDatabases", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sql_databases: BTreeMap<String, String>,
    /// Buckets bound by env name -> bucket id (R2's API in tenant code).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub buckets: BTreeMap<String, String>,
    /// `images` bindings by env name (issue 28): src/js/tenant/images.js around our
    /// `TenantImages` entrypoint (src/runtime/images.rs has what it does and does not do). A
    /// map (values always "") so the loader binds it in the same loop as the resources.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    /// Service bindings by env name -> the slug of the project they call (issue 28): as given
    /// (an id or slug) until the deploy is prepared, which resolves it and checks the caller
    /// reaches that project. A `TenantService` fetcher that sends each request to that
    /// project's origin, as its visitors get it (src/js/main.mjs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, String>,
    /// The generated main module in front of `entrypoint` when SQL or bucket bindings need
    /// objects built in the tenant isolate (src/deploy/shims.rs). Made once when the deployment
    /// is recorded (`with_shims`), so the visitor build that loads the code only copies it.
    #[serde(rename = "shimMain", default, skip_serializing_if = "Option::is_none")]
    pub shim_main: Option<String>,
}

impl ServerBundle {
    /// Content digest of everything that defines the isolate. Part of the isolate id, because
    /// the loader caches isolates by id: a new digest guarantees the new code runs.
    pub fn digest(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex_lower(&Sha256::digest(&canonical)[..12])
    }

    /// Every resource binding as (kind, env name, resource id), KV first.
    pub fn resource_bindings(&self) -> impl Iterator<Item = (&'static str, &String, &String)> {
        use crate::domain::{KIND_BUCKET, KIND_KV, KIND_SQL};
        [(KIND_KV, &self.kv_namespaces), (KIND_SQL, &self.sql_databases), (KIND_BUCKET, &self.buckets)]
            .into_iter()
            .flat_map(|(kind, m)| m.iter().map(move |(n, id)| (kind, n, id)))
    }

    /// The bindings of one kind (for filling them in from a deploy's config).
    pub fn bindings_mut(&mut self, kind: &str) -> &mut BTreeMap<String, String> {
        match kind {
            crate::domain::KIND_SQL => &mut self.sql_databases,
            crate::domain::KIND_BUCKET => &mut self.buckets,
            _ => &mut self.kv_namespaces,
        }
    }

    /// This bundle as it is stored: with its generated main module when it needs one.
    pub fn with_shims(mut self) -> ServerBundle {
        self.shim_main = super::shim_main(&self);
        self
    }

    /// Whether the tenant's env needs objects built in its own isolate (D1's and R2's APIs
    /// have synchronous parts an RPC stub cannot offer), so its main module gets wrapped.
    pub fn needs_shims(&self) -> bool {
        !self.sql_databases.is_empty() || !self.buckets.is_empty() || !self.images.is_empty()
    }

    pub fn total_bytes(&self) -> usize {
        self.modules.values().map(|m| m.content.len()).sum()
    }

    /// About what the bundle holds in memory (module text and names, vars, sealed secrets):
    /// what it is charged in the loader's byte-bounded cache.
    pub fn byte_size(&self) -> usize {
        let pairs = |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        self.modules.iter().map(|(k, m)| k.len() + m.content.len()).sum::<usize>()
            + pairs(&self.env)
            + pairs(&self.json_env)
            + pairs(&self.secrets)
            + pairs(&self.images)
            + pairs(&self.services)
            + self.entrypoint.len()
            + self.compatibility_flags.iter().map(String::len).sum::<usize>()
    }
}

fn validate_module_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_MODULE_NAME {
        return Err(format!("name must be 1-{MAX_MODULE_NAME} characters"));
    }
    if name.starts_with('/') || name.contains('\\') || name.chars().any(|c| c.is_control()) {
        return Err("name must be a relative path without '\\' or control characters".into());
    }
    if name.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err("name must not contain empty, '.' or '..' segments".into());
    }
    if name.starts_with(super::SHIM_DIR) {
        return Err(format!("names under `{}` are reserved for the platform", super::SHIM_DIR));
    }
    Ok(())
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
        && (1..=12).contains(&s[5..7].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u8>().unwrap_or(0))
}

/// Decodes one module: a base64 string (type from the extension) or `{type, content,
/// encoding?}` with `encoding` "base64" (default) or "utf8".
fn parse_module(name: &str, v: &Value) -> Result<(StoredModule, usize), ApiError> {
    let field = format!("serverCode.modules[{name:?}]");
    let (kind, content, encoding) = match v {
        Value::String(s) => (None, s.as_str(), "base64"),
        Value::Object(o) => {
            if let Some(k) = o.keys().find(|k| !["type", "content", "encoding"].contains(&k.as_str())) {
                return Err(ApiError::bad(
                    format!("{field}.{k}"),
                    "unknown field; allowed: type, content, encoding",
                ));
            }
            let kind = match o.get("type") {
                None | Some(Value::Null) => None,
                Some(Value::String(t)) => Some(ModuleType::parse(t).ok_or_else(|| {
                    ApiError::bad(format!("{field}.type"), "must be one of js, cjs, py, text, data, json")
                })?),
                Some(_) => return Err(ApiError::bad(format!("{field}.type"), "must be a string")),
            };
            let content = o
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad(format!("{field}.content"), "is required (string)"))?;
            let encoding = match o.get("encoding").and_then(Value::as_str) {
                None => "base64",
                Some(e @ ("base64" | "utf8")) => e,
                Some(_) => return Err(ApiError::bad(format!("{field}.encoding"), "must be base64 or utf8")),
            };
            (kind, content, encoding)
        }
        _ => return Err(ApiError::bad(&field, "must be base64 content or {type, content}")),
    };
    let kind = kind.or_else(|| ModuleType::from_name(name)).ok_or_else(|| {
        ApiError::bad(&field, "unknown extension; give an explicit type (js, cjs, py, text, data, json)")
    })?;
    let bytes = match encoding {
        "utf8" => content.as_bytes().to_vec(),
        _ => STANDARD.decode(content).map_err(|_| ApiError::bad(&field, "content is not valid base64"))?,
    };
    let size = bytes.len();
    let content = if kind == ModuleType::Data {
        STANDARD.encode(&bytes)
    } else {
        let text = String::from_utf8(bytes)
            .map_err(|_| ApiError::bad(&field, "content must be UTF-8 for this type"))?;
        if kind == ModuleType::Json && serde_json::from_str::<Value>(&text).is_err() {
            return Err(ApiError::bad(&field, "content is not valid JSON"));
        }
        text
    };
    Ok((StoredModule { kind, content }, size))
}

/// Validates `serverCode` plus the deployment's `env` into a bundle.
pub fn parse_server_code(v: &Value, env: &BTreeMap<String, String>) -> Result<ServerBundle, ApiError> {
    let o = v.as_object().ok_or_else(|| ApiError::bad("serverCode", "must be an object"))?;
    let allowed = ["entrypoint", "modules", "compatibilityDate", "compatibilityFlags"];
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad(
            format!("serverCode.{k}"),
            format!("unknown field; allowed: {}", allowed.join(", ")),
        ));
    }
    let modules_in: &Map<String, Value> = o
        .get("modules")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad("serverCode.modules", "is required (object of name -> content)"))?;
    if modules_in.is_empty() {
        return Err(ApiError::bad("serverCode.modules", "must contain at least the entrypoint"));
    }
    if modules_in.len() > MAX_MODULES {
        return Err(ApiError::PayloadTooLarge {
            what: "serverCode module count".into(),
            limit: MAX_MODULES as u64,
        });
    }
    let mut modules = BTreeMap::new();
    let mut total = 0usize;
    for (name, m) in modules_in {
        validate_module_name(name).map_err(|r| ApiError::bad(format!("serverCode.modules[{name:?}]"), r))?;
        let (module, size) = parse_module(name, m)?;
        total += size;
        if total > MAX_BUNDLE_BYTES {
            return Err(ApiError::PayloadTooLarge {
                what: "serverCode total size".into(),
                limit: MAX_BUNDLE_BYTES as u64,
            });
        }
        modules.insert(name.clone(), module);
    }
    let entrypoint = o
        .get("entrypoint")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad("serverCode.entrypoint", "is required (a module name)"))?
        .to_string();
    match modules.get(&entrypoint) {
        None => {
            return Err(ApiError::bad(
                "serverCode.entrypoint",
                format!("module {entrypoint:?} is not in modules"),
            ))
        }
        Some(m) if !m.kind.is_entry_type() => {
            return Err(ApiError::bad("serverCode.entrypoint", "must be a js, cjs or py module"))
        }
        Some(_) => {}
    }
    let compatibility_date = o
        .get("compatibilityDate")
        .and_then(Value::as_str)
        .filter(|d| is_date(d))
        .ok_or_else(|| ApiError::bad("serverCode.compatibilityDate", "is required (YYYY-MM-DD)"))?
        .to_string();
    let mut compatibility_flags = Vec::new();
    match o.get("compatibilityFlags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(flags)) => {
            for (i, f) in flags.iter().enumerate() {
                let f = f.as_str().ok_or_else(|| {
                    ApiError::bad(format!("serverCode.compatibilityFlags[{i}]"), "must be a string")
                })?;
                if !ALLOWED_COMPAT_FLAGS.contains(&f) {
                    return Err(ApiError::bad(
                        format!("serverCode.compatibilityFlags[{i}]"),
                        format!("{f:?} is not allowed; allowed: {}", ALLOWED_COMPAT_FLAGS.join(", ")),
                    ));
                }
                compatibility_flags.push(f.to_string());
            }
        }
        Some(_) => return Err(ApiError::bad("serverCode.compatibilityFlags", "must be an array of strings")),
    }
    Ok(ServerBundle {
        entrypoint,
        modules,
        compatibility_date,
        compatibility_flags,
        env: env.clone(),
        json_env: BTreeMap::new(),
        secrets: BTreeMap::new(),
        assets_binding: None,
        kv_namespaces: BTreeMap::new(),
        sql_databases: BTreeMap::new(),
        buckets: BTreeMap::new(),
        images: BTreeMap::new(),
        services: BTreeMap::new(),
        shim_main: None,
    })
}

/// `run_worker_first`: whether server code runs before assets for a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RunWorkerFirst {
    All(bool),
    Rules(Vec<String>),
}

impl Default for RunWorkerFirst {
    fn default() -> Self {
        RunWorkerFirst::All(false)
    }
}

pub fn parse_run_worker_first(v: Option<&Value>) -> Result<RunWorkerFirst, ApiError> {
    let field = "run_worker_first";
    match v {
        None | Some(Value::Null) => Ok(RunWorkerFirst::default()),
        Some(Value::Bool(b)) => Ok(RunWorkerFirst::All(*b)),
        Some(Value::Array(items)) => {
            if items.len() > MAX_RUN_WORKER_FIRST_RULES {
                return Err(ApiError::bad(field, format!("at most {MAX_RUN_WORKER_FIRST_RULES} rules")));
            }
            let mut rules = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let s = item
                    .as_str()
                    .ok_or_else(|| ApiError::bad(format!("{field}[{i}]"), "must be a string"))?;
                let pattern = s.strip_prefix('!').unwrap_or(s);
                if !pattern.starts_with('/') || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(ApiError::bad(
                        format!("{field}[{i}]"),
                        "must start with '/' (or '!/' to exclude)",
                    ));
                }
                rules.push(s.to_string());
            }
            if !rules.iter().any(|r| !r.starts_with('!')) {
                return Err(ApiError::bad(field, "needs at least one positive (non-'!') rule"));
            }
            Ok(RunWorkerFirst::Rules(rules))
        }
        Some(_) => Err(ApiError::bad(field, "must be true, false, or an array of '/'-rooted glob rules")),
    }
}

/// Glob match where `*` matches any run of characters, `/` included (Cloudflare's rule).
fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    let (mut pi, mut si) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

impl RunWorkerFirst {
    /// Negations are evaluated first: a path matching any `!` rule goes to assets.
    pub fn applies(&self, path: &str) -> bool {
        match self {
            RunWorkerFirst::All(b) => *b,
            RunWorkerFirst::Rules(rules) => {
                let negated = rules.iter().filter_map(|r| r.strip_prefix('!')).any(|p| glob_match(p, path));
                !negated && rules.iter().filter(|r| !r.starts_with('!')).any(|p| glob_match(p, path))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn module_types_by_extension_and_explicit() {
        let code = json!({
            "entrypoint": "index.js",
            "compatibilityDate": "2026-10-01",
            "modules": {
                "index.js": b64("export default {}"),
                "lib.cjs": b64("module.exports = 1"),
                "data.json": b64("{\"a\":1}"),
                "note.txt": b64("hi"),
                "blob.bin": b64("\u{1}\u{2}"),
                "app.py": b64("print(1)"),
                "raw": { "type": "text", "content": "plain text", "encoding": "utf8" },
            }
        });
        let b = parse_server_code(&code, &BTreeMap::new()).unwrap();
        let kinds: Vec<(&str, ModuleType)> = b.modules.iter().map(|(n, m)| (n.as_str(), m.kind)).collect();
        assert!(kinds.contains(&("lib.cjs", ModuleType::Cjs)));
        assert!(kinds.contains(&("data.json", ModuleType::Json)));
        assert!(kinds.contains(&("note.txt", ModuleType::Text)));
        assert!(kinds.contains(&("blob.bin", ModuleType::Data)));
        assert!(kinds.contains(&("app.py", ModuleType::Py)));
        assert!(kinds.contains(&("raw", ModuleType::Text)));
        assert_eq!(b.modules["raw"].content, "plain text");
        assert_eq!(b.modules["index.js"].content, "export default {}");
    }

    #[test]
    fn bad_server_code_names_the_module() {
        let ok_mod = json!(b64("export default {}"));
        let base = |modules: Value, entry: &str| json!({"entrypoint": entry, "compatibilityDate": "2026-10-01", "modules": modules});
        let cases = [
            (json!([]), "serverCode"),
            (base(json!({"index.js": ok_mod}), "missing.js"), "serverCode.entrypoint"),
            (base(json!({"index.js": ok_mod, "t.txt": b64("x")}), "t.txt"), "serverCode.entrypoint"),
            (base(json!({"../evil.js": ok_mod}), "../evil.js"), "serverCode.modules[\"../evil.js\"]"),
            (base(json!({"/abs.js": ok_mod}), "/abs.js"), "serverCode.modules[\"/abs.js\"]"),
            (
                base(json!({"index.js": ok_mod, "__flotilla/d1.js": ok_mod}), "index.js"),
                "serverCode.modules[\"__flotilla/d1.js\"]",
            ),
            (base(json!({"index.js": "!!!"}), "index.js"), "serverCode.modules[\"index.js\"]"),
            (
                base(json!({"index.js": ok_mod, "x.unknown": b64("x")}), "index.js"),
                "serverCode.modules[\"x.unknown\"]",
            ),
            (
                base(json!({"index.js": ok_mod, "j.json": b64("{nope")}), "index.js"),
                "serverCode.modules[\"j.json\"]",
            ),
            (
                base(json!({"index.js": {"type": "rust", "content": ""}}), "index.js"),
                "serverCode.modules[\"index.js\"].type",
            ),
            (base(json!({}), "index.js"), "serverCode.modules"),
            (
                json!({"entrypoint": "index.js", "modules": {"index.js": ok_mod}}),
                "serverCode.compatibilityDate",
            ),
            (
                json!({"entrypoint": "index.js", "compatibilityDate": "2026-13-01", "modules": {"index.js": ok_mod}}),
                "serverCode.compatibilityDate",
            ),
            (
                json!({"entrypoint": "index.js", "compatibilityDate": "2026-10-01", "compatibilityFlags": ["experimental"], "modules": {"index.js": ok_mod}}),
                "serverCode.compatibilityFlags[0]",
            ),
            (
                json!({"entrypoint": "index.js", "compatibilityDate": "2026-10-01", "extra": 1, "modules": {"index.js": ok_mod}}),
                "serverCode.extra",
            ),
        ];
        for (v, field) in cases {
            assert_eq!(parse_server_code(&v, &BTreeMap::new()).unwrap_err().field(), field, "{v}");
        }
    }

    #[test]
    fn limits_are_413() {
        let mut many = Map::new();
        for i in 0..=MAX_MODULES {
            many.insert(format!("m{i}.js"), json!(b64("export default {}")));
        }
        let v = json!({"entrypoint": "m0.js", "compatibilityDate": "2026-10-01", "modules": many});
        assert_eq!(parse_server_code(&v, &BTreeMap::new()).unwrap_err().status(), 413);
        let big = "x".repeat(MAX_BUNDLE_BYTES + 1);
        let v = json!({"entrypoint": "a.js", "compatibilityDate": "2026-10-01", "modules": {"a.js": {"type": "js", "content": big, "encoding": "utf8"}}});
        assert_eq!(parse_server_code(&v, &BTreeMap::new()).unwrap_err().status(), 413);
    }

    #[test]
    fn digest_changes_with_code_and_env() {
        let code = json!({"entrypoint": "a.js", "compatibilityDate": "2026-10-01", "modules": {"a.js": b64("export default {}")}});
        let a = parse_server_code(&code, &BTreeMap::new()).unwrap();
        let mut env = BTreeMap::new();
        env.insert("X".to_string(), "1".to_string());
        let b = parse_server_code(&code, &env).unwrap();
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest(), parse_server_code(&code, &BTreeMap::new()).unwrap().digest());
    }

    #[test]
    fn run_worker_first_rules() {
        assert_eq!(parse_run_worker_first(None).unwrap(), RunWorkerFirst::All(false));
        assert!(parse_run_worker_first(Some(&json!(true))).unwrap().applies("/anything"));
        let r = parse_run_worker_first(Some(&json!(["/api/*", "!/api/docs/*", "/exact"]))).unwrap();
        let cases = [
            ("/api/x", true),
            ("/api/deep/er", true),
            ("/api/docs/page", false),
            ("/exact", true),
            ("/exact/no", false),
            ("/other", false),
        ];
        for (path, want) in cases {
            assert_eq!(r.applies(path), want, "{path}");
        }
        for (bad, field) in [
            (json!(["api/*"]), "run_worker_first[0]"),
            (json!(["!/only-negative"]), "run_worker_first"),
            (json!([1]), "run_worker_first[0]"),
            (json!("yes"), "run_worker_first"),
            (json!(vec!["/a"; 101]), "run_worker_first"),
        ] {
            assert_eq!(parse_run_worker_first(Some(&bad)).unwrap_err().field(), field, "{bad}");
        }
    }

    #[test]
    fn glob() {
        assert!(glob_match("/*", "/a/b/c"));
        assert!(glob_match("/a*c", "/abc"));
        assert!(glob_match("/a*c", "/a/b/c"));
        assert!(!glob_match("/a*c", "/a/b/d"));
        assert!(glob_match("/a", "/a"));
        assert!(!glob_match("/a", "/ab"));
    }

    #[test]
    fn a_bundle_is_charged_for_what_it_holds() {
        let code = json!({ "entrypoint": "index.js", "compatibilityDate": "2026-10-01",
            "modules": { "index.js": b64(&"x".repeat(3_000_000)) } });
        let mut b = parse_server_code(&code, &BTreeMap::new()).unwrap();
        let base = b.byte_size();
        assert!((3_000_000..3_000_100).contains(&base), "{base}");
        b.env.insert("K".into(), "v".repeat(1000));
        b.secrets.insert("S".into(), "s".repeat(500));
        assert_eq!(b.byte_size(), base + 1001 + 501);
        // The loader's byte budget holds several ordinary bundles, never hundreds of big ones.
        let mut lru = crate::routing::cache::ByteLru::new(24 * 1024 * 1024);
        for i in 0..20 {
            lru.insert(&format!("d{i}"), (), b.byte_size());
        }
        assert!(
            lru.bytes() <= 24 * 1024 * 1024 && lru.len() == 8,
            "{} bundles, {} bytes",
            lru.len(),
            lru.bytes()
        );
    }
}
