//! Binding names (one place) and small accessors for vars/secrets/time/randomness.
// Shared with the visitor-only build (`--features site`), which uses a part of it.
#![cfg_attr(feature = "site", allow(dead_code))]

use wasm_bindgen::prelude::*;
use worker::Env;

pub const DB: &str = "DB";
pub const ASSETS_KV: &str = "ASSETS_KV";
pub const ROUTES_KV: &str = "ROUTES_KV";
/// Tenant code's KV data (issue 27; src/platform/store/tenant_kv.rs).
pub const TENANT_KV: &str = "TENANT_KV";
pub const BLOBS: &str = "BLOBS";
pub const DEPLOY_QUEUE: &str = "DEPLOY_QUEUE";
pub const DEPLOY_DLQ: &str = "DEPLOY_DLQ";
pub const MCP_SESSION: &str = "MCP_SESSION";
/// One live-tail object per project (issue 29; TailHub in src/js/main.mjs).
pub const TAIL_HUB: &str = "TAIL_HUB";
pub const LOADER: &str = "LOADER";
pub const API_TOKEN: &str = "API_TOKEN";
#[allow(dead_code)] // used by upload tokens
pub const JWT_SECRET: &str = "JWT_SECRET";
pub const PLATFORM_DOMAIN: &str = "PLATFORM_DOMAIN";
// Custom domains: the DoH resolver, wildcards, and optional Cloudflare for SaaS.
pub const DNS_RESOLVER_URL: &str = "DNS_RESOLVER_URL";
pub const ALLOW_WILDCARD_DOMAINS: &str = "ALLOW_WILDCARD_DOMAINS";
pub const CF_ZONE_ID: &str = "CF_ZONE_ID";
pub const CF_API_TOKEN: &str = "CF_API_TOKEN";
pub const CF_API_BASE_URL: &str = "CF_API_BASE_URL";
/// `"local"` (default: path mode only on localhost/127.0.0.1/[::1]) or `"enabled"`.
pub const PATH_MODE: &str = "PATH_MODE";
/// Seconds an upload session's tokens live (default 3600; `auth::token_ttl_secs` clamps it).
pub const UPLOAD_SESSION_TTL_SECS: &str = "UPLOAD_SESSION_TTL_SECS";

/// The upload token lifetime this deployment of the platform uses.
pub fn token_ttl_secs(env: &Env) -> i64 {
    crate::auth::token_ttl_secs(env.var(UPLOAD_SESSION_TTL_SECS).ok().map(|v| v.to_string()).as_deref())
}

/// A var's value, or `default` when unset.
pub fn var_or(env: &Env, name: &str, default: &str) -> String {
    env.var(name).map(|v| v.to_string()).unwrap_or_else(|_| default.to_string())
}

/// A secret's value; empty when unset (callers treat empty as "reject everything").
pub fn secret(env: &Env, name: &str) -> String {
    env.secret(name).map(|v| v.to_string()).unwrap_or_default()
}

/// The operator's quotas and limits (vars, with SPEC.md §8's defaults).
pub fn quotas(env: &Env) -> crate::access::quota::Quotas {
    crate::access::quota::Quotas::from_vars(|name| env.var(name).ok().map(|v| v.to_string()))
}

/// Set by src/js/main.mjs on each request's env: that request's `ctx.waitUntil`.
const WAIT_UNTIL: &str = "__FLOTILLA_WAIT_UNTIL";

/// Runs `work` under the current request's `ctx.waitUntil` (it keeps running after the response,
/// up to the runtime's post-response limit). Hands `work` back unstarted when the env carries
/// no `waitUntil` (an invocation main.mjs did not wrap).
pub fn wait_until<F: std::future::Future<Output = ()> + 'static>(env: &Env, work: F) -> Result<(), F> {
    let Some(f) = js_sys::Reflect::get(env, &WAIT_UNTIL.into())
        .ok()
        .and_then(|v| v.dyn_into::<js_sys::Function>().ok())
    else {
        return Err(work);
    };
    let promise = wasm_bindgen_futures::future_to_promise(async move {
        work.await;
        Ok(JsValue::UNDEFINED)
    });
    // Only fails if the invocation already ended; then nothing could run it anyway.
    let _ = f.call1(&JsValue::UNDEFINED, &promise);
    Ok(())
}

/// Whether [`wait_until`] can run work on this env.
pub fn has_wait_until(env: &Env) -> bool {
    js_sys::Reflect::get(env, &WAIT_UNTIL.into()).is_ok_and(|v| v.is_function())
}

pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

/// Cryptographically secure random bytes (Web Crypto).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    get_random_values(&mut buf);
    buf
}

pub fn new_uuid() -> String {
    crate::domain::uuid_v4(random_bytes::<16>())
}

/// `ROUTE_CACHE_TTL_MS`: how long this isolate may reuse a routing record, custom-host owner
/// or preview prefix it read (0 = read storage on every request). KV itself may serve a value
/// up to ~60 s old at the edge; the isolate that changes a record drops its copy at once.
pub const ROUTE_CACHE_TTL_MS: &str = "ROUTE_CACHE_TTL_MS";
/// `MANIFEST_CACHE_BYTES`: isolate memory for deployment manifests (their JSON size).
pub const MANIFEST_CACHE_BYTES: &str = "MANIFEST_CACHE_BYTES";
/// `LOG_SAMPLE_RATE` (0..1) and `LOG_SLOW_MS`: which visitor requests get a log line.
pub const LOG_SAMPLE_RATE: &str = "LOG_SAMPLE_RATE";
pub const LOG_SLOW_MS: &str = "LOG_SLOW_MS";
pub const USER_CODE_TIMEOUT_MS: &str = "USER_CODE_TIMEOUT_MS";
/// `ASSET_CACHE_BYTES`: isolate memory for small asset bodies (content-addressed, so never
/// stale); files up to 1/16 of it (at most 256 KiB) are kept. 0 = always read ASSETS_KV.
pub const ASSET_CACHE_BYTES: &str = "ASSET_CACHE_BYTES";

pub const DEFAULT_ROUTE_CACHE_TTL_MS: u64 = 3000;
pub const DEFAULT_MANIFEST_CACHE_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_ASSET_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// The vars every visitor request needs, read once per isolate (a Worker's vars are fixed for
/// the life of its isolate: changing them deploys a new version).
pub struct Settings {
    pub platform_domain: String,
    pub path_mode: crate::routing::PathMode,
    pub user_code_timeout_ms: i32,
    pub route_cache_ttl_ms: u64,
    pub manifest_cache_bytes: usize,
    pub asset_cache_bytes: usize,
    pub log: crate::routing::LogPolicy,
}

thread_local! {
    static SETTINGS: std::cell::OnceCell<std::rc::Rc<Settings>> = const { std::cell::OnceCell::new() };
}

pub fn settings(env: &Env) -> std::rc::Rc<Settings> {
    SETTINGS.with(|s| {
        s.get_or_init(|| {
            let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
            std::rc::Rc::new(Settings {
                platform_domain: var(PLATFORM_DOMAIN).unwrap_or_else(|| "localhost".into()),
                path_mode: crate::routing::PathMode::parse(var(PATH_MODE).as_deref()),
                user_code_timeout_ms: var(USER_CODE_TIMEOUT_MS)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(30_000),
                route_cache_ttl_ms: var(ROUTE_CACHE_TTL_MS)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(DEFAULT_ROUTE_CACHE_TTL_MS),
                manifest_cache_bytes: var(MANIFEST_CACHE_BYTES)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(DEFAULT_MANIFEST_CACHE_BYTES),
                asset_cache_bytes: var(ASSET_CACHE_BYTES)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(DEFAULT_ASSET_CACHE_BYTES),
                log: crate::routing::LogPolicy::from_vars(
                    var(LOG_SAMPLE_RATE).as_deref(),
                    var(LOG_SLOW_MS).as_deref(),
                ),
            })
        })
        .clone()
    })
}
