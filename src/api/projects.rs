//! Projects resource (`/__api/projects`): create, list (cursor pagination), get by id or
//! slug, update, delete. Touches D1 (`DB`).

use serde_json::json;
use worker::{Request, Response};

use super::{internal, query_pairs, read_body, Ctx, MAX_JSON_BODY};
use crate::domain::{
    parse_create_project, parse_list_query, parse_update_project, ListCursor, ProjectRow, Slug,
};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::{self, new_uuid, now_ms, random_bytes};
use crate::platform::http;
use crate::platform::serve::cache::LiveRoutes;
use crate::platform::store::d1::{D1Projects, Inserted};
use crate::platform::store::d1_lifecycle::D1Lifecycle;
use crate::platform::store::queue::{enqueue, Job, PurgeJob};

fn respond(status: u16, body: serde_json::Value) -> ApiResult<Response> {
    http::ok(status, body).map_err(internal)
}

/// Loads a live project by id or slug, or 404.
pub async fn load(store: &D1Projects, key: &str) -> ApiResult<ProjectRow> {
    store.get(key).await?.ok_or_else(|| ApiError::not_found("Project"))
}

pub async fn create(req: &mut Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let input = parse_create_project(&read_body(req, MAX_JSON_BODY).await?)?;
    let store = D1Projects::new(ctx.env)?;
    let now = now_ms() as i64;
    let name = input.name.as_ref().map(|n| n.as_str().to_string());
    let outbound = default_outbound(ctx);
    let limit = project_limit(ctx);
    // Slugs carry 6 random base-36 characters; a collision is rare, so a few tries suffice.
    for _ in 0..4 {
        let slug = Slug::derive(name.as_deref().unwrap_or("project"), random_bytes::<6>());
        let row = new_row(name.clone().unwrap_or_else(|| slug.to_string()), slug.to_string(), outbound, now);
        if insert_row(&store, &row, limit, ctx).await? {
            ctx.note(&row.id, json!({ "slug": row.slug }));
            return respond(201, json!({ "project": row.to_json(&ctx.urls) }));
        }
    }
    Err(ApiError::internal("could not allocate a unique slug after 4 attempts"))
}

fn new_row(name: String, slug: String, outbound: &str, now: i64) -> ProjectRow {
    ProjectRow {
        id: new_uuid(),
        name,
        slug,
        enabled: 1,
        outbound: outbound.into(),
        active_deployment_id: None,
        has_server_code: 0,
        assets_count: 0,
        created_at: now,
        updated_at: now,
        auto_activate: 1,
        preview_access: "public".into(),
        skew_protection: 1,
        skew_pin_secs: 86_400,
        skew_depth: 5,
        rollout: None,
    }
}

fn default_outbound(ctx: &Ctx<'_>) -> &'static str {
    match bindings::var_or(ctx.env, "DEFAULT_OUTBOUND", "block").as_str() {
        "allow" => "allow",
        _ => "block",
    }
}

fn project_limit(ctx: &Ctx<'_>) -> Option<u64> {
    match ctx.principal {
        crate::access::Principal::Token(_) => Some(ctx.quotas().projects_per_token),
        _ => None,
    }
}

/// Inserts a new project row; `false` when the slug is taken. Refuses past the token's quota.
async fn insert_row(
    store: &D1Projects,
    row: &ProjectRow,
    limit: Option<u64>,
    ctx: &Ctx<'_>,
) -> ApiResult<bool> {
    match store.insert(row, ctx.principal.id(), limit).await? {
        Inserted::Ok => {
            // A visitor may have asked for this slug a moment ago (a wrangler name is chosen
            // by its owner): this isolate's cached "no such project" goes with the insert.
            crate::platform::serve::cache::forget_route(&[&row.slug, &row.id]);
            Ok(true)
        }
        Inserted::OverQuota => Err(ApiError::TooManyRequests {
            // Counts live projects: it frees up when one is deleted, not with time.
            retry_after_secs: 3600,
            reason: format!(
                "Quota exceeded: this token may have {} live projects; delete one first",
                limit.unwrap_or_default()
            ),
        }),
        Inserted::SlugTaken => Ok(false),
    }
}

/// Creates a project whose slug is exactly `slug` (wrangler's Worker name); 409 if taken.
pub async fn create_with_slug(slug: &Slug, ctx: &Ctx<'_>) -> ApiResult<ProjectRow> {
    let store = D1Projects::new(ctx.env)?;
    let row = new_row(slug.to_string(), slug.to_string(), default_outbound(ctx), now_ms() as i64);
    if !insert_row(&store, &row, project_limit(ctx), ctx).await? {
        return Err(ApiError::Conflict {
            reason: format!(
                "The slug `{slug}` belongs to another (possibly deleted) project; rename the Worker"
            ),
        });
    }
    Ok(row)
}

pub async fn list(req: &Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let q = parse_list_query(&query_pairs(req))?;
    let store = D1Projects::new(ctx.env)?;
    let only = match ctx.principal.projects() {
        crate::access::Projects::All => None,
        crate::access::Projects::Only(ids) => Some(ids),
    };
    let (rows, more) = store.list(q.limit, q.cursor.as_ref(), only.as_deref()).await?;
    let cursor = match (more, rows.last()) {
        (true, Some(last)) => Some(ListCursor { created_at: last.created_at, id: last.id.clone() }.encode()),
        _ => None,
    };
    let projects: Vec<_> = rows.iter().map(|r| r.to_json(&ctx.urls)).collect();
    respond(200, json!({ "projects": projects, "cursor": cursor, "count": projects.len() }))
}

pub async fn get(key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Projects::new(ctx.env)?;
    let row = load(&store, key).await?;
    respond(200, json!({ "project": row.to_json(&ctx.urls) }))
}

pub async fn update(req: &mut Request, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let input = parse_update_project(&read_body(req, MAX_JSON_BODY).await?)?;
    let store = D1Projects::new(ctx.env)?;
    let row = load(&store, key).await?;
    let now = now_ms() as i64;
    if input.name.is_some()
        || input.outbound.is_some()
        || input.auto_activate.is_some()
        || input.preview_access.is_some()
        || input.skew_protection.is_some()
        || input.skew_pin_secs.is_some()
        || input.skew_depth.is_some()
    {
        store
            .update(
                &row.id,
                input.name.as_ref().map(|n| n.as_str()),
                input.outbound,
                input.auto_activate,
                input.preview_access,
                (input.skew_protection, input.skew_pin_secs, input.skew_depth),
                now,
            )
            .await?;
    }
    // `enabled` changes what visitors see: the lifecycle swap, then the routing record. The
    // other fields bumped the generation, so publishing also carries a new `outbound`.
    let (lc, routes) = (D1Lifecycle::new(ctx.env)?, LiveRoutes::new(ctx.env)?);
    let changed = match input.enabled {
        Some(enabled) => {
            crate::lifecycle::set_enabled(&lc, &routes, &row.id, enabled, now).await?.route_error
        }
        None => crate::lifecycle::publish(&lc, &routes, &row.id)
            .await
            .err()
            .map(|e| crate::lifecycle::StoreError(format!("{e:?}"))),
    };
    if let Some(e) = changed {
        http::log("warn", &ctx.meta.request_id, json!({ "msg": "routing record lags D1", "error": e.0 }));
    }
    ctx.note(
        &row.id,
        json!({
            "name": input.name.as_ref().map(|n| n.as_str()),
            "enabled": input.enabled,
            "outbound": input.outbound,
            "autoActivate": input.auto_activate,
            "previewAccess": input.preview_access,
            "skewProtection": input.skew_protection,
            "skewPinSeconds": input.skew_pin_secs,
            "skewFallbackDepth": input.skew_depth,
        }),
    );
    let row = load(&store, &row.id).await?;
    respond(200, json!({ "project": row.to_json(&ctx.urls) }))
}

pub async fn delete(key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Projects::new(ctx.env)?;
    let row = load(&store, key).await?;
    let now = now_ms() as i64;
    // One swap marks it deleted (so a racing activation loses) and the routing record becomes
    // a tombstone; the sweep repairs the record if that write fails.
    let (lc, routes) = (D1Lifecycle::new(ctx.env)?, LiveRoutes::new(ctx.env)?);
    let changed = crate::lifecycle::delete_project(&lc, &routes, &row.id, now).await?;
    if let Some(e) = &changed.route_error {
        http::log("warn", &ctx.meta.request_id, json!({ "msg": "tombstone not written yet", "error": e.0 }));
    }
    // Everything the project owns is removed by a purge job; the cron retries a failed enqueue.
    let purge = match enqueue(ctx.env, &Job::Purge(PurgeJob { project_id: row.id.clone() })).await {
        Ok(()) => "queued",
        Err(e) => {
            http::log(
                "error",
                &ctx.meta.request_id,
                json!({ "msg": "purge not queued; the cron sweep retries it", "error": e.log_detail() }),
            );
            "retrying"
        }
    };
    ctx.note(&row.id, json!({ "slug": row.slug }));
    let data = json!({ "projectId": row.id, "slug": row.slug });
    crate::platform::jobs::hooks::emit(ctx.env, &row.id, "project.deleted", data).await;
    respond(200, json!({ "deleted": { "id": row.id, "slug": row.slug }, "purge": purge }))
}
