//! Gradual rollout endpoints (README "Gradual rollouts"): start, read, pause / resume /
//! complete / abort. The decisions are `crate::lifecycle::rollout`'s; this file parses, calls,
//! audits, responds. Touches D1 (`DB`) and ROUTES_KV through the lifecycle stores.

use serde_json::{json, Value};
use worker::{Request, Response};

use super::{internal, read_body, Ctx, MAX_JSON_BODY};
use crate::error::{ApiError, ApiResult};
use crate::lifecycle::rollout::{self, Control, StartRequest};
use crate::lifecycle::Changed;
use crate::platform::bindings::now_ms;
use crate::platform::http;
use crate::platform::serve::cache::LiveRoutes;
use crate::platform::store::d1_lifecycle::D1Lifecycle;

fn view(p: &crate::lifecycle::ProjectState) -> Value {
    json!({
        "projectId": p.id,
        "activeDeploymentId": p.active_deployment_id,
        "rollout": p.rollout.as_ref().map(rollout::Rollout::to_json),
    })
}

fn changed(ctx: &Ctx<'_>, action: &str, out: Changed, status: u16) -> ApiResult<Response> {
    if let Some(e) = &out.route_error {
        let fields = json!({ "msg": "routing record lags D1; the sweep repairs it", "error": e.0 });
        http::log("warn", &ctx.meta.request_id, fields);
    }
    let r = out.project.rollout.as_ref();
    ctx.note(
        &out.project.id,
        json!({
            "action": action,
            "deploymentId": r.map(|r| &r.deployment_id),
            "status": r.map(|r| r.status),
            "percent": r.map(|r| r.percent()),
        }),
    );
    http::ok(status, view(&out.project)).map_err(internal)
}

/// `GET /__api/projects/:id/rollouts`: the current or last rollout (`rollout: null`: none yet).
pub async fn get(key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let p = super::lifecycle::live_project(key, ctx).await?;
    http::ok(200, view(&p)).map_err(internal)
}

/// `POST /__api/projects/:id/rollouts {deploymentId, steps, autoAbort?}`
pub async fn start(req: &mut Request, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let body = read_body(req, MAX_JSON_BODY).await?;
    let r = StartRequest::parse(&body)?;
    let (store, routes) = (D1Lifecycle::new(ctx.env)?, LiveRoutes::new(ctx.env)?);
    let now = now_ms() as i64;
    let out = rollout::start(&store, &routes, key, &r.deployment_id, r.steps, r.max5xx_ratio, now).await?;
    changed(ctx, "rollout.start", out, 201)
}

/// `POST /__api/projects/:id/rollouts/current/{pause,resume,complete,abort}`
pub async fn control(key: &str, action: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let Some(control) = Control::parse(action) else {
        return Err(ApiError::not_found("Rollout action"));
    };
    let (store, routes) = (D1Lifecycle::new(ctx.env)?, LiveRoutes::new(ctx.env)?);
    let out = rollout::control(&store, &routes, key, control, now_ms() as i64).await?;
    changed(ctx, &format!("rollout.{action}"), out, 200)
}
