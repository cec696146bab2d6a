//! Lifecycle endpoints: rollback, promote, aliases, deployment logs (NDJSON) and an on-demand
//! GC run. The decisions are `crate::lifecycle`'s; this file parses, calls, audits, responds.
//! Touches D1 (`DB`) and ROUTES_KV through the lifecycle stores.

use serde_json::{json, Value};
use worker::{Request, Response};

use super::projects::load;
use super::{internal, query_pairs, read_body, Ctx, MAX_JSON_BODY};
use crate::domain::JsonObject;
use crate::error::{ApiError, ApiResult};
use crate::lifecycle::{self, AliasName, Changed, Explicit, Switched};
use crate::platform::bindings::now_ms;
use crate::platform::http;
use crate::platform::serve::cache::LiveRoutes;
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_deployments::{log_json, D1Deployments};
use crate::platform::store::d1_lifecycle::D1Lifecycle;

fn note_route_error(ctx: &Ctx<'_>, e: &Option<lifecycle::StoreError>) {
    if let Some(e) = e {
        http::log(
            "warn",
            &ctx.meta.request_id,
            json!({ "msg": "routing record lags D1; the sweep repairs it", "error": e.0 }),
        );
    }
}

async fn switched(ctx: &Ctx<'_>, action: &str, out: Switched) -> ApiResult<Response> {
    note_route_error(ctx, &out.route_error);
    let projects = D1Projects::new(ctx.env)?;
    ctx.note(
        &out.project_id,
        json!({ "action": action, "from": out.from, "to": out.to, "generation": out.generation }),
    );
    let project = load(&projects, &out.project_id).await?;
    let event = if action == "deployment.promote" { "deployment.promoted" } else { "deployment.rolled_back" };
    let data =
        json!({ "projectId": out.project_id, "deploymentId": out.to, "previousDeploymentId": out.from });
    crate::platform::jobs::hooks::emit(ctx.env, &out.project_id, event, data).await;
    http::ok(
        200,
        json!({
            "project": project.to_json(&ctx.urls),
            "activeDeploymentId": out.to,
            "previousDeploymentId": out.from,
            "generation": out.generation,
        }),
    )
    .map_err(internal)
}

/// `POST /__api/projects/:id/rollback {deploymentId?}`
pub async fn rollback(req: &mut Request, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let body = read_body(req, MAX_JSON_BODY).await?;
    let o = JsonObject::parse(&body, true)?;
    o.only(&["deploymentId"])?;
    let target = o.opt_str("deploymentId")?.map(str::to_string);
    let (store, routes) = (D1Lifecycle::new(ctx.env)?, LiveRoutes::new(ctx.env)?);
    let out =
        lifecycle::switch_to(&store, &routes, key, target.as_deref(), Explicit::Rollback, now_ms() as i64)
            .await?;
    switched(ctx, "deployment.rollback", out).await
}

/// `POST /__api/deployments/:id/promote`
pub async fn promote(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (store, routes) = (D1Lifecycle::new(ctx.env)?, LiveRoutes::new(ctx.env)?);
    // A deployment of a deleted project is gone with it.
    let out = lifecycle::promote(&store, &routes, id, now_ms() as i64).await.map_err(|e| match e {
        lifecycle::LifecycleError::ProjectNotFound => ApiError::not_found("Deployment"),
        other => other.into(),
    })?;
    switched(ctx, "deployment.promote", out).await
}

fn alias_name(name: &str) -> ApiResult<AliasName> {
    AliasName::parse(name).map_err(|reason| ApiError::bad("name", reason))
}

fn alias_json(project_slug: &str, name: &str, deployment_id: &str, ctx: &Ctx<'_>) -> Value {
    let mut out = json!({
        "name": name,
        "deploymentId": deployment_id,
        "url": ctx.urls.alias_url(name, project_slug),
    });
    ctx.urls.add_path_url(&mut out, "pathUrl", &format!("{project_slug}@{name}"));
    out
}

/// The lifecycle state of a project that is not deleted (404 otherwise).
pub(super) async fn live_project(key: &str, ctx: &Ctx<'_>) -> ApiResult<lifecycle::ProjectState> {
    use lifecycle::ProjectStore;
    D1Lifecycle::new(ctx.env)?
        .project(key)
        .await
        .map_err(|e| ApiError::internal(e.0))?
        .filter(|p| !p.deleted)
        .ok_or_else(|| ApiError::not_found("Project"))
}

async fn aliases_of(key: &str, ctx: &Ctx<'_>) -> ApiResult<(lifecycle::ProjectState, Vec<Value>)> {
    let p = live_project(key, ctx).await?;
    let list = p.aliases.iter().map(|(n, d)| alias_json(&p.slug, n, d, ctx)).collect();
    Ok((p, list))
}

pub async fn list_aliases(key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (_, list) = aliases_of(key, ctx).await?;
    http::ok(200, json!({ "aliases": list, "count": list.len() })).map_err(internal)
}

pub async fn get_alias(key: &str, name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let name = alias_name(name)?;
    let (p, _) = aliases_of(key, ctx).await?;
    let target = p.aliases.get(name.as_str()).ok_or_else(|| ApiError::not_found("Alias"))?;
    http::ok(200, json!({ "alias": alias_json(&p.slug, name.as_str(), target, ctx) })).map_err(internal)
}

async fn alias_changed(ctx: &Ctx<'_>, action: &str, name: &AliasName, out: Changed) -> ApiResult<Value> {
    note_route_error(ctx, &out.route_error);
    let target = out.project.aliases.get(name.as_str()).cloned();
    ctx.note(&out.project.id, json!({ "action": action, "alias": name.as_str(), "deploymentId": target }));
    Ok(match target {
        Some(t) => alias_json(&out.project.slug, name.as_str(), &t, ctx),
        None => json!({ "name": name.as_str() }),
    })
}

/// `PUT /__api/projects/:id/aliases/:name {deploymentId}`
pub async fn put_alias(req: &mut Request, key: &str, name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let name = alias_name(name)?;
    let body = read_body(req, MAX_JSON_BODY).await?;
    let o = JsonObject::parse(&body, false)?;
    o.only(&["deploymentId"])?;
    let target = o
        .opt_str("deploymentId")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad("deploymentId", "is required"))?
        .to_string();
    let (store, routes) = (D1Lifecycle::new(ctx.env)?, LiveRoutes::new(ctx.env)?);
    let out = lifecycle::set_alias(&store, &routes, key, &name, &target, now_ms() as i64).await?;
    let alias = alias_changed(ctx, "alias.set", &name, out).await?;
    http::ok(200, json!({ "alias": alias })).map_err(internal)
}

/// `DELETE /__api/projects/:id/aliases/:name`
pub async fn delete_alias(key: &str, name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let name = alias_name(name)?;
    let (store, routes) = (D1Lifecycle::new(ctx.env)?, LiveRoutes::new(ctx.env)?);
    let out =
        lifecycle::remove_alias(&store, &routes, key, &name, now_ms() as i64).await.map_err(|e| match e {
            lifecycle::LifecycleError::Refused { code: "alias_not_found", .. } => {
                ApiError::not_found("Alias")
            }
            other => other.into(),
        })?;
    alias_changed(ctx, "alias.delete", &name, out).await?;
    http::ok(200, json!({ "deleted": { "name": name.as_str() } })).map_err(internal)
}

/// `GET /__api/deployments/:id/logs?after=<line id>&limit=<1-1000>`: NDJSON, one line per
/// log entry, oldest first; `x-next-cursor` names the `after` for the next page.
pub async fn logs(req: &Request, id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let q = query_pairs(req);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let limit = match get("limit") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::bad("limit", "must be an integer 1-1000"))?,
        None => 200,
    };
    let after = match get("after") {
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::bad("after", "must be the `x-next-cursor` of a previous page (a non-negative integer)")
        })?,
        None => 0,
    };
    let deployments = D1Deployments::new(ctx.env)?;
    let d = deployments.get(id).await?.ok_or_else(|| ApiError::not_found("Deployment"))?;
    load(&D1Projects::new(ctx.env)?, &d.project_id).await.map_err(|_| ApiError::not_found("Deployment"))?;
    let mut rows = deployments.logs(id, after, limit + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let mut body = String::new();
    for l in &rows {
        body.push_str(&log_json(l).to_string());
        body.push('\n');
    }
    let mut resp = Response::ok(body).map_err(internal)?;
    let h = resp.headers_mut();
    h.set("content-type", "application/x-ndjson; charset=utf-8").map_err(internal)?;
    h.set("cache-control", "no-store").map_err(internal)?;
    if let (true, Some(last)) = (more, rows.last()) {
        h.set("x-next-cursor", &last.id.to_string()).map_err(internal)?;
    }
    Ok(resp)
}

/// `POST /__api/projects/:id/gc[?after=<next>]`: one retention + GC run now (the cron runs the
/// same hourly); `after` continues through the stored bodies where a run with `more` stopped.
pub async fn run_gc(req: &Request, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let q = query_pairs(req);
    let after = q.iter().find(|(n, _)| n == "after").map(|(_, v)| v.as_str());
    if after.is_some_and(|a| crate::lifecycle::hash_key(a).is_none()) {
        return Err(ApiError::bad("after", "must be the `next` of an earlier run (a content hash)"));
    }
    let project = load(&D1Projects::new(ctx.env)?, key).await?;
    let report = crate::platform::jobs::gc::collect(ctx.env, &project.id, after).await?;
    http::ok(200, json!({ "gc": report })).map_err(internal)
}
