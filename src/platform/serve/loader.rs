//! Worker Loader adapter (binding `LOADER`, no workers-rs wrapper): runs a deployment's server
//! code in its own isolate. The isolate id is `<deploymentId>:<bundle digest>:<outbound>:<env>`
//! (`lifecycle::envs::env_ref`: production or not, and the digest of the scoped env), so a warm
//! isolate is reused only for that exact code, config and env. The loader callback (cold
//! loads only) reads the bundle from R2 (`BLOBS`), cached in isolate memory by deployment id.
//! User code gets its string vars and an `ASSETS` fetcher scoped to its own deployment, and
//! nothing else: no platform bindings, no platform secrets (its own secrets, decrypted here).

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use worker::js_sys::{self, Array, Object, Promise, Reflect};
use worker::{Env, Request, Response};

use crate::deploy::{ModuleType, ServerBundle};
use crate::domain::{KIND_BUCKET, KIND_KV, KIND_SQL};
use crate::error::{ApiError, ApiResult};
use crate::keys::{bundle_key, env_key};
use crate::lifecycle::envs::parse_env_ref;
use crate::platform::store::js::set;
use crate::platform::store::r2::R2Blobs;
use crate::routing::cache::ByteLru;

#[wasm_bindgen]
extern "C" {
    /// src/js/main.mjs: the forwarded request, `loader.get` and the entrypoint's `fetch` raced
    /// against `timeout_ms`.
    #[wasm_bindgen(js_name = __flotillaDispatch)]
    #[allow(clippy::too_many_arguments)]
    fn flotilla_dispatch(
        loader: &JsValue,
        isolate_id: &str,
        load_code: &JsValue,
        env: &Env,
        project_id: &str,
        deployment_id: &str,
        outbound_allowed: bool,
        env_ref: &str,
        request: &worker::web_sys::Request,
        url: Option<&str>,
        prefix: &str,
        timeout_ms: i32,
    ) -> Promise;
}

/// Isolate memory for server bundles (immutable per deployment id), least recently used out
/// first. Bounded in bytes, not entries: a bundle may hold up to 10 MiB of code, and an isolate
/// has 128 MB in all.
pub const BUNDLE_CACHE_BYTES: usize = 24 * 1024 * 1024;

thread_local! {
    static BUNDLES: RefCell<ByteLru<Rc<ServerBundle>>> = RefCell::new(ByteLru::new(BUNDLE_CACHE_BYTES));
}

pub async fn load_bundle(env: &Env, project_id: &str, deployment_id: &str) -> ApiResult<Rc<ServerBundle>> {
    if let Some(b) = BUNDLES.with(|c| c.borrow_mut().get(deployment_id)) {
        return Ok(b);
    }
    let bundle: ServerBundle = R2Blobs::new(env)?
        .get_json(&bundle_key(project_id, deployment_id))
        .await?
        .ok_or_else(|| ApiError::internal(format!("server bundle of {deployment_id} missing from R2")))?;
    let bundle = Rc::new(bundle);
    BUNDLES.with(|c| c.borrow_mut().insert(deployment_id, bundle.clone(), bundle.byte_size()));
    Ok(bundle)
}

/// Decrypts the secrets for a cold isolate start (nothing is cached in plain text): the
/// bundle's own (they mean production: other URLs never get them) and then the scoped env's.
async fn open_secrets(
    env: &Env,
    project_id: &str,
    bundle: &ServerBundle,
    production: bool,
    scoped: &JsValue,
) -> ApiResult<Vec<(String, String)>> {
    let scoped = pairs(scoped, "secrets");
    if (!production || bundle.secrets.is_empty()) && scoped.length() == 0 {
        return Ok(Vec::new());
    }
    let sealer = crate::platform::secrets::Sealer::new(env).await?;
    let mut out = Vec::new();
    if production {
        for (name, sealed) in &bundle.secrets {
            out.push((name.clone(), sealer.open(project_id, name, sealed).await?));
        }
    }
    for pair in scoped.iter() {
        let pair: Array = pair.unchecked_into();
        if let (Some(name), Some(sealed)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            let plain = sealer.open(project_id, &name, &sealed).await?;
            out.push((name, plain));
        }
    }
    Ok(out)
}

/// The scoped env a cold isolate start gets (`lifecycle::envs::EnvBlob` as stored in BLOBS
/// under `envs/<project>/<digest>.json`, parsed by the runtime: no serde code for it in this
/// build), or `undefined` when its target has none.
async fn scoped_env(env: &Env, project_id: &str, digest: Option<&str>) -> ApiResult<JsValue> {
    let Some(digest) = digest else { return Ok(JsValue::UNDEFINED) };
    let text = R2Blobs::new(env)?
        .get_text(&env_key(project_id, digest))
        .await?
        .ok_or_else(|| ApiError::internal(format!("env {digest} of {project_id} missing from R2")))?;
    js_sys::JSON::parse(&text).map_err(|_| ApiError::internal(format!("env {digest} unreadable")))
}

/// `[key, value]` pairs of the object at `blob[field]` (none when either is missing).
fn pairs(blob: &JsValue, field: &str) -> Array {
    match Reflect::get(blob, &field.into()) {
        Ok(v) if v.is_object() => Object::entries(v.unchecked_ref()),
        _ => Array::new(),
    }
}

/// What a dispatch needs to know; all of it comes from the deployment manifest and project.
#[derive(Clone)]
pub struct Target {
    pub project_id: String,
    pub deployment_id: String,
    pub digest: String,
    pub outbound_allowed: bool,
    /// `lifecycle::envs::env_ref`: which env this request's URL gets.
    pub env: String,
}

impl Target {
    pub fn isolate_id(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.deployment_id,
            self.digest,
            if self.outbound_allowed { "allow" } else { "block" },
            self.env
        )
    }
}

/// Why user code did not produce a response: it threw (500), or produced nothing usable in
/// time (502). Messages are for logs and deploy records, never for visitors.
pub enum UserCodeError {
    Threw(String),
    BadResponse(String),
}

impl UserCodeError {
    pub fn message(&self) -> &str {
        match self {
            UserCodeError::Threw(m) | UserCodeError::BadResponse(m) => m,
        }
    }
    pub fn status(&self) -> u16 {
        match self {
            UserCodeError::Threw(_) => 500,
            UserCodeError::BadResponse(_) => 502,
        }
    }
}

/// The `WorkerCode` object the loader expects.
fn code_object(
    js_env: &Env,
    target: &Target,
    bundle: &ServerBundle,
    secrets: &[(String, String)],
    scoped: &JsValue,
    assets: &JsValue,
) -> Result<Object, JsValue> {
    let code = Object::new();
    set(&code, "compatibilityDate", &bundle.compatibility_date.as_str().into())?;
    let flags = Array::new();
    for f in &bundle.compatibility_flags {
        flags.push(&f.as_str().into());
    }
    set(&code, "compatibilityFlags", &flags)?;
    let modules = Object::new();
    match &bundle.shim_main {
        Some(main) => {
            set(&code, "mainModule", &crate::deploy::SHIM_MAIN.into())?;
            add_shims(&modules, main)?;
        }
        None => set(&code, "mainModule", &bundle.entrypoint.as_str().into())?,
    }
    for (name, m) in &bundle.modules {
        let module = Object::new();
        let (key, value): (&str, JsValue) = match m.kind {
            ModuleType::Js => ("js", m.content.as_str().into()),
            ModuleType::Cjs => ("cjs", m.content.as_str().into()),
            ModuleType::Py => ("py", m.content.as_str().into()),
            ModuleType::Text => ("text", m.content.as_str().into()),
            ModuleType::Json => ("json", js_sys::JSON::parse(&m.content)?),
            ModuleType::Data => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&m.content)
                    .map_err(|e| JsValue::from_str(&e.to_string()))?;
                ("data", js_sys::Uint8Array::from(bytes.as_slice()).buffer().into())
            }
        };
        set(&module, key, &value)?;
        set(&modules, name, &module)?;
    }
    set(&code, "modules", &modules)?;
    let env = Object::new();
    for (k, v) in &bundle.env {
        set(&env, k, &v.as_str().into())?;
    }
    for (k, v) in &bundle.json_env {
        set(&env, k, &js_sys::JSON::parse(v)?)?;
    }
    if let Ok(vars) = Reflect::get(scoped, &"vars".into()) {
        if vars.is_object() {
            Object::assign(&env, vars.unchecked_ref());
        }
    }
    for (k, v) in secrets {
        set(&env, k, &v.as_str().into())?;
    }
    set(&env, bundle.assets_binding.as_deref().unwrap_or("ASSETS"), assets)?;
    if bundle.shim_main.is_some() {
        // The Cache API's stub, for src/js/tenant/cache.js (wrap.js hides it from the tenant).
        let cache = resource_binding(js_env, "cache", &target.project_id, &target.project_id)?;
        set(&env, crate::deploy::CACHE_BINDING, &cache)?;
    }
    // Not `resource_bindings()`: its iterator adapters cost ~180 B gzipped in the visitor build.
    // Images (values "") and services (values: the slug) go the same way (issue 28).
    let kinds = [
        (KIND_KV, &bundle.kv_namespaces),
        (KIND_SQL, &bundle.sql_databases),
        (KIND_BUCKET, &bundle.buckets),
        ("images", &bundle.images),
        ("service", &bundle.services),
    ];
    for (kind, bindings) in kinds {
        for (name, id) in bindings {
            set(&env, name, &resource_binding(js_env, kind, &target.project_id, id)?)?;
        }
    }
    // A preview's own resources in place of (or besides) the deployment's.
    for pair in pairs(scoped, "bindings") {
        // [name, [kind, resource id]]
        let pair: Array = pair.unchecked_into();
        let binding: Array = pair.get(1).unchecked_into();
        let (Some(name), Some(kind), Some(id)) =
            (pair.get(0).as_string(), binding.get(0).as_string(), binding.get(1).as_string())
        else {
            continue;
        };
        set(&env, &name, &resource_binding(js_env, &kind, &target.project_id, &id)?)?;
    }
    set(&code, "env", &env)?;
    // Every run's console output, exceptions and outcome reach InvocationTail after the
    // response (kept logs, src/platform/jobs/tail.rs), unless the operator set
    // `LOG_CAPTURE=off` (read once per isolate the loader starts, not per request).
    if js_env.var("LOG_CAPTURE").map(|v| v.to_string() != "off").unwrap_or(true) {
        let tail = resource_binding(js_env, "tail", &target.project_id, &target.deployment_id)?;
        set(&code, "tails", &Array::of1(&tail))?;
    }
    if !target.outbound_allowed {
        // null: every fetch() from user code fails, including to the platform itself.
        set(&code, "globalOutbound", &JsValue::NULL)?;
    }
    let limits = Object::new();
    set(&limits, "cpuMs", &JsValue::from_f64(50.0))?;
    set(&limits, "subRequests", &JsValue::from_f64(50.0))?;
    set(&code, "limits", &limits)?;
    Ok(code)
}

/// `ctx.exports.AssetBinding({props})` (built by src/js/main.mjs): a fetcher that serves only
/// this deployment's assets.
fn asset_binding(env: &Env, target: &Target) -> Result<JsValue, JsValue> {
    let make: js_sys::Function = Reflect::get(env, &"__FLOTILLA_MAKE_ASSETS".into())?.dyn_into()?;
    make.call2(&JsValue::NULL, &target.deployment_id.as_str().into(), &target.project_id.as_str().into())
}

/// The entrypoint stub for one resource binding (built by src/js/main.mjs: `TenantKv`,
/// `TenantSql` or `TenantBucket` with the project and resource in its props): it reaches only
/// that resource's data.
fn resource_binding(env: &Env, kind: &str, project_id: &str, id: &str) -> Result<JsValue, JsValue> {
    let make: js_sys::Function = Reflect::get(env, &"__FLOTILLA_MAKE_BINDING".into())?.dyn_into()?;
    make.call3(&JsValue::NULL, &kind.into(), &project_id.into(), &id.into())
}

/// Our generated main module plus the shim modules it imports (their sources are bundled with
/// src/js/main.mjs as `globalThis.__flotillaTenantShims`, outside this wasm, under their module
/// names).
fn add_shims(modules: &Object, main: &str) -> Result<(), JsValue> {
    // Already `{ "<module name>": { js: source } }`: one copy, no per-shim code in this build.
    let sources = Reflect::get(&js_sys::global(), &"__flotillaTenantShims".into())?;
    Object::assign(modules, sources.unchecked_ref());
    let m = Object::new();
    set(&m, "js", &main.into())?;
    set(modules, crate::deploy::SHIM_MAIN, &m)
}

fn js_message(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

thread_local! {
    /// The loader's `getCode` work, created once per isolate (a Rust closure per request would
    /// cost a JS function and a finalizer registration on every visit). JS calls it only on a
    /// cold isolate start, with the env of the request that needed the code.
    static LOAD_CODE: Closure<dyn Fn(JsValue, String, String, bool, String) -> Promise> =
        Closure::new(|env: JsValue, project_id: String, deployment_id: String, outbound_allowed: bool, env_ref: String| {
            let env: Env = env.unchecked_into();
            let target = Target { project_id, deployment_id, digest: String::new(), outbound_allowed, env: env_ref };
            future_to_promise(async move {
                let assets = asset_binding(&env, &target)
                    .map_err(|e| JsValue::from_str(&format!("asset binding: {}", js_message(&e))))?;
                let bundle = load_bundle(&env, &target.project_id, &target.deployment_id)
                    .await
                    .map_err(|e| JsValue::from_str(&e.log_detail()))?;
                let (production, digest) = parse_env_ref(&target.env);
                let scoped = scoped_env(&env, &target.project_id, digest)
                    .await
                    .map_err(|e| JsValue::from_str(&e.log_detail()))?;
                let secrets = open_secrets(&env, &target.project_id, &bundle, production, &scoped)
                    .await
                    .map_err(|e| JsValue::from_str(&e.log_detail()))?;
                Ok(code_object(&env, &target, &bundle, &secrets, &scoped, &assets)?.into())
            })
        });
}

/// How the visitor's request reaches user code: `url` replaces its URL when the path changed
/// (path mode strips the `/__project/<slug>` prefix), and `prefix` is announced in
/// `X-Forwarded-Prefix`; a visitor-supplied `X-Forwarded-Prefix` is always dropped.
pub struct Forward<'a> {
    pub url: Option<&'a str>,
    pub prefix: &'a str,
}

/// Runs `request` through the deployment's server code, waiting at most `timeout_ms`. The
/// whole loader exchange is one call into src/js/main.mjs (`__flotillaDispatch`): the request,
/// the stub, the timer and the response never cross the wasm boundary piece by piece.
pub async fn dispatch(
    env: &Env,
    target: &Target,
    request: &Request,
    forward: Forward<'_>,
    timeout_ms: i32,
) -> Result<Response, UserCodeError> {
    let threw = |e: JsValue| UserCodeError::Threw(js_message(&e));
    let loader = Reflect::get(env, &"LOADER".into()).map_err(threw)?;
    let pending = LOAD_CODE.with(|load_code| {
        flotilla_dispatch(
            &loader,
            &target.isolate_id(),
            load_code.as_ref(),
            env,
            &target.project_id,
            &target.deployment_id,
            target.outbound_allowed,
            &target.env,
            request.inner(),
            forward.url,
            forward.prefix,
            timeout_ms,
        )
    });
    settle(JsFuture::from(pending).await, timeout_ms)
}

/// What a dispatch's promise settled to, as the platform serves it: the user code's Response
/// (headers copied once, see below) or why there is none. Also used for the fast path's
/// failures, which src/js/main.mjs hands back to Rust (`entry::fast_failure`).
pub fn settle(outcome: Result<JsValue, JsValue>, timeout_ms: i32) -> Result<Response, UserCodeError> {
    let threw = |e: JsValue| UserCodeError::Threw(js_message(&e));
    let value = outcome.map_err(threw)?;
    if value.is_undefined() {
        return Err(UserCodeError::BadResponse(format!("no response within {timeout_ms} ms")));
    }
    let resp: worker::web_sys::Response = value.dyn_into().map_err(|v| {
        UserCodeError::BadResponse(format!("returned a non-Response value: {}", js_message(&v)))
    })?;
    // A fetched response's headers are immutable; one copy here (a single call) lets the
    // platform add `x-request-id` when workers-rs rebuilds the response anyway. A 101 keeps its
    // own (its webSocket must travel with the original object).
    let copy =
        (resp.status() != 101).then(|| worker::web_sys::Headers::new_with_headers(&resp.headers()).ok());
    let out = Response::from(resp);
    Ok(match copy.flatten() {
        Some(h) => out.with_headers(worker::Headers(h)),
        None => out,
    })
}
