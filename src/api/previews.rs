//! `POST /__api/deployments/:id/preview-link`: mints a signed, expiring link to a deployment's
//! preview URL (or, with `{alias}`, to an alias URL of its project). The decision logic and the
//! token format live in `crate::auth::preview` (pure); this is the I/O around it.

use serde_json::json;
use worker::{Request, Response};

use super::projects::load;
use super::{internal, read_body, Ctx, MAX_JSON_BODY};
use crate::auth::preview::{mint, parse_preview_link_request, PreviewKind, PreviewTarget, PREVIEW_PARAM};
use crate::domain::iso8601;
use crate::error::{ApiError, ApiResult};
use crate::lifecycle::ProjectStore;
use crate::lifecycle::Status;
use crate::platform::bindings::{self, now_ms};
use crate::platform::http;
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_deployments::D1Deployments;
use crate::platform::store::d1_lifecycle::D1Lifecycle;

pub async fn create_link(req: &mut Request, id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let input = parse_preview_link_request(&read_body(req, MAX_JSON_BODY).await?)?;
    let d = D1Deployments::new(ctx.env)?.get(id).await?.ok_or_else(|| ApiError::not_found("Deployment"))?;
    // A deployment of a deleted project is gone with it.
    let project = load(&D1Projects::new(ctx.env)?, &d.project_id)
        .await
        .map_err(|_| ApiError::not_found("Deployment"))?;
    let slug = project.slug.as_str();
    let prefix: String = d.id.chars().take(8).collect();
    let (label, path_ref, target) = match &input.alias {
        Some(name) => {
            let state = D1Lifecycle::new(ctx.env)?
                .project(&project.id)
                .await
                .map_err(|e| ApiError::internal(e.0))?
                .ok_or_else(|| ApiError::not_found("Deployment"))?;
            if !state.aliases.contains_key(name) {
                return Err(ApiError::not_found("Alias"));
            }
            (format!("{name}--{slug}"), format!("{slug}@{name}"), PreviewTarget::Alias(name))
        }
        None => {
            if !Status::ready_str(&d.status) {
                return Err(ApiError::State {
                    code: "deployment_not_ready",
                    reason: format!("Deployment is {}; only ready deployments have a preview URL", d.status),
                });
            }
            (format!("{prefix}--{slug}"), format!("{slug}@{prefix}"), PreviewTarget::Deployment(&d.id))
        }
    };
    let secret = bindings::secret(ctx.env, bindings::JWT_SECRET);
    let now = now_ms();
    let exp = now + input.ttl_secs * 1000;
    let link = |host: &str, base: String| -> ApiResult<String> {
        let token = mint(secret.as_bytes(), PreviewKind::Link, &project.id, host, target, now, exp)?;
        Ok(format!("{base}?{PREVIEW_PARAM}={token}"))
    };
    let url = link(&ctx.urls.site_host(&label), ctx.urls.project_url(&label))?;
    let mut out = json!({
        "url": url,
        "expiresAt": iso8601(exp),
        "deploymentId": d.id,
        "alias": input.alias,
        "previewAccess": project.preview_access,
    });
    // Path mode answers on the platform host: a link bound to that host too.
    if let Some(base) = ctx.urls.path_url(&path_ref) {
        out["pathUrl"] = json!(link(&ctx.urls.domain.to_ascii_lowercase(), base)?);
    }
    http::ok(200, out).map_err(internal)
}
