//! `GET /health?detail=1` (admin token only; the public `GET /health` is answered in
//! `crate::entry` without any I/O): really touches D1, both KV namespaces, R2 and the MCP
//! Durable Object, and checks that the queue and loader bindings are present. 200 when all
//! pass, 503 naming each failure.

use serde_json::{json, Map, Value};
use worker::Env;

use crate::platform::bindings::{self, now_ms};
use crate::platform::store::d1::D1Projects;

async fn check_d1(env: &Env) -> Result<(), String> {
    D1Projects::new(env).map_err(|e| e.log_detail())?.ping().await.map_err(|e| e.log_detail())
}

async fn check_kv(env: &Env, name: &str) -> Result<(), String> {
    let kv = env.kv(name).map_err(|e| e.to_string())?;
    kv.get("__health").text().await.map(|_| ()).map_err(|e| e.to_string())
}

async fn check_r2(env: &Env) -> Result<(), String> {
    let bucket = env.bucket(bindings::BLOBS).map_err(|e| e.to_string())?;
    bucket.head("__health").await.map(|_| ()).map_err(|e| e.to_string())
}

async fn check_durable_object(env: &Env) -> Result<(), String> {
    let ns = env.durable_object(bindings::MCP_SESSION).map_err(|e| e.to_string())?;
    let stub = ns.id_from_name("__health").and_then(|id| id.get_stub()).map_err(|e| e.to_string())?;
    let resp = stub.fetch_with_str("https://mcp-session/__health").await.map_err(|e| e.to_string())?;
    if resp.status_code() == 200 {
        Ok(())
    } else {
        Err(format!("status {}", resp.status_code()))
    }
}

fn check_present(env: &Env, name: &str, method: &str) -> Result<(), String> {
    let binding = js_sys::Reflect::get(env, &name.into()).map_err(|_| "unreadable".to_string())?;
    if binding.is_undefined() {
        return Err("binding missing".into());
    }
    let f = js_sys::Reflect::get(&binding, &method.into()).map_err(|_| "unreadable".to_string())?;
    if f.is_function() {
        Ok(())
    } else {
        Err(format!("binding has no `{method}` method"))
    }
}

/// Runs every check; returns (all_ok, JSON body).
pub async fn run(env: &Env) -> (bool, Value) {
    let mut checks = Map::new();
    let mut all_ok = true;
    let mut record = |name: &str, started: u64, r: Result<(), String>| {
        let ms = now_ms().saturating_sub(started);
        let v = match r {
            Ok(()) => json!({ "ok": true, "ms": ms }),
            Err(e) => {
                all_ok = false;
                json!({ "ok": false, "ms": ms, "error": e })
            }
        };
        checks.insert(name.to_string(), v);
    };
    let t = now_ms();
    record("d1", t, check_d1(env).await);
    let t = now_ms();
    record("assetsKv", t, check_kv(env, bindings::ASSETS_KV).await);
    let t = now_ms();
    record("routesKv", t, check_kv(env, bindings::ROUTES_KV).await);
    let t = now_ms();
    record("tenantKv", t, check_kv(env, bindings::TENANT_KV).await);
    let t = now_ms();
    record("r2", t, check_r2(env).await);
    let t = now_ms();
    record("deployQueue", t, check_present(env, bindings::DEPLOY_QUEUE, "send"));
    let t = now_ms();
    record("deadLetterQueue", t, check_present(env, bindings::DEPLOY_DLQ, "send"));
    let t = now_ms();
    record("durableObject", t, check_durable_object(env).await);
    let t = now_ms();
    record("loader", t, check_present(env, bindings::LOADER, "get"));
    let body = json!({
        "success": all_ok,
        "status": if all_ok { "ok" } else { "degraded" },
        "checks": checks,
    });
    (all_ok, body)
}
