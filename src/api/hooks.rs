//! Webhooks and log drains of a project: `…/webhooks` (create, list, delete, ping, deliveries,
//! redeliver) and `…/drains` (create, list, delete). The rules are src/observe/hooks.rs; the
//! sending is src/platform/jobs/hooks.rs, from the queue. A hook's secret is returned once, by
//! its create call, and stored sealed with SECRETS_KEY.

use serde_json::json;
use worker::{Request, Response};

use super::projects::load;
use super::{internal, read_body, Ctx, MAX_JSON_BODY};
use crate::domain::ProjectRow;
use crate::error::{ApiError, ApiResult};
use crate::observe::hooks::{
    event_payload, new_secret, parse_new_hook, HookKind, DELIVERIES_PAGE, MAX_HOOKS, PING,
};
use crate::platform::bindings::{self, new_uuid, now_ms, random_bytes};
use crate::platform::http;
use crate::platform::jobs::hooks::{forget_log_drains, queue_delivery, secret_name};
use crate::platform::secrets::Sealer;
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_hooks::{D1Hooks, HookRow};
use crate::platform::store::queue::{enqueue_after, HookJob, Job};

fn noun(kind: HookKind) -> &'static str {
    match kind {
        HookKind::Webhook => "Webhook",
        HookKind::Drain => "Drain",
    }
}

/// `http://localhost` receivers are a local-development allowance: only while the platform's
/// own domain is `localhost` (wrangler.toml's default, which a real deployment replaces).
fn allow_loopback(ctx: &Ctx<'_>) -> bool {
    bindings::var_or(ctx.env, bindings::PLATFORM_DOMAIN, "localhost") == "localhost"
}

async fn project(key: &str, ctx: &Ctx<'_>) -> ApiResult<ProjectRow> {
    load(&D1Projects::new(ctx.env)?, key).await
}

async fn hook(hooks: &D1Hooks, project: &ProjectRow, kind: HookKind, id: &str) -> ApiResult<HookRow> {
    hooks.get(&project.id, kind, id).await?.ok_or_else(|| ApiError::not_found(noun(kind)))
}

async fn view(hooks: &D1Hooks, h: &HookRow) -> ApiResult<serde_json::Value> {
    let backlog =
        if h.kind == HookKind::Drain.as_str() { Some(hooks.backlog_len(&h.id).await?) } else { None };
    Ok(h.to_json(backlog))
}

/// `POST …/webhooks {url, events?}` / `POST …/drains {url, sources?, sampling?}`: 201 with the
/// hook and its `secret`, shown this once.
pub async fn create(req: &mut Request, key: &str, kind: HookKind, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let body = read_body(req, MAX_JSON_BODY).await?;
    let new = parse_new_hook(&body, kind, allow_loopback(ctx))?;
    let project = project(key, ctx).await?;
    let id = new_uuid();
    let secret = new_secret(&random_bytes::<24>());
    let sealed = Sealer::new(ctx.env).await?.seal(&project.id, &secret_name(&id), &secret).await?;
    let hooks = D1Hooks::new(ctx.env)?;
    let now = now_ms() as i64;
    let inserted = hooks
        .insert(
            &id,
            &project.id,
            kind,
            &new.url,
            &new.topics,
            &sealed,
            new.sampling,
            ctx.principal.id(),
            now,
            MAX_HOOKS,
        )
        .await?;
    if !inserted {
        return Err(ApiError::PayloadTooLarge {
            what: "Webhooks and drains per project".into(),
            limit: MAX_HOOKS as u64,
        });
    }
    let row = hook(&hooks, &project, kind, &id).await?;
    forget_log_drains(&project.id);
    ctx.note(&project.id, json!({ "id": id, "kind": kind.as_str(), "url": new.url }));
    let mut out = view(&hooks, &row).await?;
    out["secret"] = json!(secret);
    http::ok(201, json!({ kind.as_str(): out })).map_err(internal)
}

pub async fn list(key: &str, kind: HookKind, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = project(key, ctx).await?;
    let hooks = D1Hooks::new(ctx.env)?;
    let mut out = Vec::new();
    for h in hooks.list(&project.id, kind).await? {
        out.push(view(&hooks, &h).await?);
    }
    let field = match kind {
        HookKind::Webhook => "webhooks",
        HookKind::Drain => "drains",
    };
    http::ok(200, json!({ field: out })).map_err(internal)
}

pub async fn delete(key: &str, id: &str, kind: HookKind, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = project(key, ctx).await?;
    let hooks = D1Hooks::new(ctx.env)?;
    let row = hook(&hooks, &project, kind, id).await?;
    hooks.delete(&row.id).await?;
    forget_log_drains(&project.id);
    ctx.note(&project.id, json!({ "id": row.id, "kind": kind.as_str() }));
    http::ok(200, json!({ "deleted": { "id": row.id } })).map_err(internal)
}

/// `POST …/webhooks/:hid/ping`: queues a `webhook.ping` delivery (202 with its id).
pub async fn ping(key: &str, id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = project(key, ctx).await?;
    let hooks = D1Hooks::new(ctx.env)?;
    let row = hook(&hooks, &project, HookKind::Webhook, id).await?;
    let payload = event_payload(PING, now_ms(), json!({ "projectId": project.id, "webhookId": row.id }));
    let delivery = queue_delivery(ctx.env, &hooks, &row, PING, &payload).await?;
    ctx.note(&project.id, json!({ "id": row.id, "deliveryId": delivery }));
    http::ok(202, json!({ "delivery": { "id": delivery, "event": PING, "status": "pending" } }))
        .map_err(internal)
}

/// `GET …/webhooks/:hid/deliveries`: the newest deliveries, each with every attempt's response.
pub async fn deliveries(key: &str, id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = project(key, ctx).await?;
    let hooks = D1Hooks::new(ctx.env)?;
    let row = hook(&hooks, &project, HookKind::Webhook, id).await?;
    let list = hooks.deliveries(&row.id, DELIVERIES_PAGE).await?;
    http::ok(200, json!({ "webhookId": row.id, "deliveries": list })).map_err(internal)
}

/// `POST …/webhooks/:hid/deliveries/:did/redeliver`: sends the same message (same
/// `webhook-id`, so receivers can de-duplicate) again, with a fresh retry schedule.
pub async fn redeliver(key: &str, id: &str, delivery: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = project(key, ctx).await?;
    let hooks = D1Hooks::new(ctx.env)?;
    let row = hook(&hooks, &project, HookKind::Webhook, id).await?;
    if !hooks.reset_delivery(&row.id, delivery, now_ms() as i64).await? {
        return Err(ApiError::not_found("Delivery"));
    }
    enqueue_after(ctx.env, &Job::Hook(HookJob { delivery_id: delivery.to_string(), retry: 0 }), 0).await?;
    ctx.note(&project.id, json!({ "id": row.id, "deliveryId": delivery }));
    http::ok(202, json!({ "delivery": { "id": delivery, "status": "pending" } })).map_err(internal)
}
