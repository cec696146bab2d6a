//! Binding names (one place) and small accessors for vars/secrets/time/randomness.

use wasm_bindgen::prelude::*;
use worker::Env;

pub const DB: &str = "DB";
pub const ASSETS_KV: &str = "ASSETS_KV";
pub const ROUTES_KV: &str = "ROUTES_KV";
pub const BLOBS: &str = "BLOBS";
pub const DEPLOY_QUEUE: &str = "DEPLOY_QUEUE";
pub const DEPLOY_DLQ: &str = "DEPLOY_DLQ";
pub const MCP_SESSION: &str = "MCP_SESSION";
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
