//! Environments (`/__api/projects/:id/env`, README "Environments"): scoped vars, secrets and
//! preview binding overrides, and the project's bypass token for protected previews
//! (`/__api/projects/:id/bypass-token`). What applies where is decided in
//! `crate::lifecycle::envs` (pure); this is the I/O around it: D1 rows, the resolved envs in
//! BLOBS by digest, the digests in the project row, then the routing record republished.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use worker::{Request, Response};

use super::projects::load;
use super::{internal, read_body, Ctx, MAX_JSON_BODY};
use crate::domain::{kind_label, ResourceScope};
use crate::error::{ApiError, ApiResult};
use crate::keys::env_key;
use crate::lifecycle::envs::{
    bypass_hash, bypass_token, check_entry, resolve_all, Entry, EnvRefs, Kind, Scope, MAX_ENTRIES,
};
use crate::platform::bindings::{now_ms, random_bytes};
use crate::platform::http;
use crate::platform::secrets::Sealer;
use crate::platform::serve::cache::LiveRoutes;
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_envs::D1Envs;
use crate::platform::store::d1_lifecycle::D1Lifecycle;
use crate::platform::store::d1_resources::D1Resources;
use crate::platform::store::r2::R2Blobs;

fn respond(status: u16, body: Value) -> ApiResult<Response> {
    http::ok(status, body).map_err(internal)
}

fn scope_of(scope: &str) -> ApiResult<Scope> {
    // Path segments arrive as sent: clients that escape `:` (the CLI does) send `alias%3Aqa`.
    let scope = scope.replacen("%3A", ":", 1).replacen("%3a", ":", 1);
    Scope::parse(&scope).ok_or_else(|| {
        ApiError::bad("scope", "must be `all`, `production`, `preview` or `alias:<alias name>`")
    })
}

/// An entry as the API shows it: a secret's value never.
fn entry_json(e: &Entry, updated_at: i64) -> Value {
    let mut v = json!({
        "scope": e.scope.as_string(),
        "name": e.name,
        "type": e.kind.as_str(),
        "updatedAt": crate::domain::iso8601(updated_at.max(0) as u64),
    });
    if e.kind != Kind::Secret {
        v["value"] = Value::from(e.value.as_str());
    }
    v
}

/// `GET /__api/projects/:id/env`: every entry, and which names each target gets
/// (`applies`: `production`, `preview`, `alias:<name>`).
pub async fn list(key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = load(&D1Projects::new(ctx.env)?, key).await?;
    let rows = D1Envs::new(ctx.env)?.entries(&project.id).await?;
    let entries: Vec<Entry> = rows.iter().map(|(e, _)| e.clone()).collect();
    let mut applies = serde_json::Map::new();
    for (target, blob) in resolve_all(&entries) {
        let vars: Vec<&String> = blob.vars.keys().collect();
        let secrets: Vec<&String> = blob.secrets.keys().collect();
        let bindings: BTreeMap<&String, &String> = blob.bindings.iter().map(|(n, (_, id))| (n, id)).collect();
        applies.insert(target, json!({ "vars": vars, "secrets": secrets, "bindings": bindings }));
    }
    let env: Vec<Value> = rows.iter().map(|(e, at)| entry_json(e, *at)).collect();
    respond(200, json!({ "env": env, "applies": applies }))
}

/// `PUT /__api/projects/:id/env/:scope/:name {type?: "var"|"secret"|"kv"|"sql"|"bucket", value}`.
pub async fn put(
    req: &mut Request,
    key: &str,
    scope: &str,
    name: &str,
    ctx: &Ctx<'_>,
) -> ApiResult<Response> {
    let body = read_body(req, MAX_JSON_BODY).await?;
    let input: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::bad("body", "must be a JSON object"))?;
    let kind = match input.get("type") {
        None | Some(Value::Null) => Kind::Var,
        Some(Value::String(t)) => Kind::parse(t)
            .ok_or_else(|| ApiError::bad("type", "must be `var`, `secret`, `kv`, `sql` or `bucket`"))?,
        Some(_) => return Err(ApiError::bad("type", "must be a string")),
    };
    let value = input
        .get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad("value", "must be a string"))?
        .to_string();
    let scope = scope_of(scope)?;
    check_entry(&scope, name, kind, &value).map_err(|r| ApiError::bad("name", r))?;
    let project = load(&D1Projects::new(ctx.env)?, key).await?;
    let store = D1Envs::new(ctx.env)?;
    if kind.is_binding() {
        // Only a resource of that kind the caller reaches, as for a deploy's bindings.
        let found =
            D1Resources::new(ctx.env)?.get(kind.as_str(), &value, &ResourceScope::of(&ctx.principal)).await?;
        if found.is_none() {
            return Err(ApiError::not_found(format!(
                "{} `{value}` (binding `{name}`)",
                kind_label(kind.as_str())
            )));
        }
    }
    let stored = match kind {
        Kind::Secret => Sealer::new(ctx.env).await?.seal(&project.id, name, &value).await?,
        _ => value,
    };
    let entry = Entry { scope, name: name.to_string(), kind, value: stored };
    let existing = store.entries(&project.id).await?;
    let replaces = existing.iter().any(|(e, _)| e.scope == entry.scope && e.name == entry.name);
    if !replaces && existing.len() >= MAX_ENTRIES {
        return Err(ApiError::PayloadTooLarge {
            what: "env entries of a project".into(),
            limit: MAX_ENTRIES as u64,
        });
    }
    let now = now_ms() as i64;
    store.put(&project.id, &entry, now).await?;
    let refs = republish(&project.id, ctx).await?;
    ctx.note(&project.id, json!({ "scope": entry.scope.as_string(), "name": name, "type": kind.as_str() }));
    respond(if replaces { 200 } else { 201 }, json!({ "env": entry_json(&entry, now), "refs": refs }))
}

/// `DELETE /__api/projects/:id/env/:scope/:name`.
pub async fn delete(key: &str, scope: &str, name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let scope = scope_of(scope)?;
    let project = load(&D1Projects::new(ctx.env)?, key).await?;
    if !D1Envs::new(ctx.env)?.delete(&project.id, &scope, name).await? {
        return Err(ApiError::not_found(format!("Env entry `{name}` in scope `{}`", scope.as_string())));
    }
    let refs = republish(&project.id, ctx).await?;
    ctx.note(&project.id, json!({ "scope": scope.as_string(), "name": name }));
    respond(200, json!({ "deleted": { "scope": scope.as_string(), "name": name }, "refs": refs }))
}

/// Resolves every target's env from the stored entries, stores each in BLOBS under its digest
/// (before anything can name it), then the digests in the project row, then the routing record.
async fn republish(project_id: &str, ctx: &Ctx<'_>) -> ApiResult<EnvRefs> {
    let entries: Vec<Entry> =
        D1Envs::new(ctx.env)?.entries(project_id).await?.into_iter().map(|(e, _)| e).collect();
    let blobs = R2Blobs::new(ctx.env)?;
    let mut refs = EnvRefs::new();
    for (target, blob) in resolve_all(&entries) {
        let digest = blob.digest();
        blobs.put_json(&env_key(project_id, &digest), &blob).await?;
        refs.insert(target, digest);
    }
    let refs_json = serde_json::to_string(&refs).map_err(|e| ApiError::internal(e.to_string()))?;
    D1Envs::new(ctx.env)?.set_refs(project_id, &refs_json, now_ms() as i64).await?;
    publish(project_id, ctx).await;
    Ok(refs)
}

/// The routing record follows the row (the sweep repairs a failed write).
async fn publish(project_id: &str, ctx: &Ctx<'_>) {
    let published = match (D1Lifecycle::new(ctx.env), LiveRoutes::new(ctx.env)) {
        (Ok(lc), Ok(routes)) => {
            crate::lifecycle::publish(&lc, &routes, project_id).await.err().map(|e| format!("{e:?}"))
        }
        (Err(e), _) | (_, Err(e)) => Some(e.log_detail()),
    };
    if let Some(e) = published {
        http::log("warn", &ctx.meta.request_id, json!({ "msg": "routing record lags D1", "error": e }));
    }
}

/// `POST /__api/projects/:id/bypass-token`: a new token (the old one stops working), shown
/// once; only its SHA-256 is kept.
pub async fn create_bypass(key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = load(&D1Projects::new(ctx.env)?, key).await?;
    let token = bypass_token(random_bytes::<32>());
    D1Envs::new(ctx.env)?.set_bypass(&project.id, Some(&bypass_hash(&token)), now_ms() as i64).await?;
    publish(&project.id, ctx).await;
    ctx.note(&project.id, json!({ "rotated": true }));
    respond(201, json!({ "token": token, "headers": ["x-flotilla-bypass", "x-vercel-protection-bypass"] }))
}

/// `DELETE /__api/projects/:id/bypass-token`.
pub async fn delete_bypass(key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = load(&D1Projects::new(ctx.env)?, key).await?;
    D1Envs::new(ctx.env)?.set_bypass(&project.id, None, now_ms() as i64).await?;
    publish(&project.id, ctx).await;
    ctx.note(&project.id, json!({ "removed": true }));
    respond(200, json!({ "deleted": true }))
}
