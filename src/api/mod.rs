//! Management API (`/__api`): authenticate, match the route (pure), run the handler. One file
//! per resource; handlers return `ApiResult<Response>` and errors are rendered once, upstream.

mod deployments;
mod lifecycle;
mod previews;
mod projects;
mod uploads;

use worker::{Env, Request, Response};

use crate::auth::check_admin;
use crate::domain::UrlBase;
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings;
use crate::platform::http::RequestMeta;
use crate::routing::{match_api, ApiRoute};

/// Largest JSON body the management endpoints read (uploads have their own limit).
pub const MAX_JSON_BODY: usize = 1024 * 1024;

pub struct Ctx<'a> {
    pub env: &'a Env,
    pub meta: &'a RequestMeta,
    pub urls: UrlBase,
}

pub fn internal(e: worker::Error) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Reads a request body, refusing more than `limit` bytes with a 413 naming the limit.
pub async fn read_body(req: &mut Request, limit: usize) -> ApiResult<Vec<u8>> {
    let too_large = || ApiError::PayloadTooLarge { what: "Request body".into(), limit: limit as u64 };
    if let Ok(Some(len)) = req.headers().get("content-length") {
        if len.trim().parse::<u64>().map(|n| n > limit as u64).unwrap_or(false) {
            return Err(too_large());
        }
    }
    let body = req.bytes().await.map_err(internal)?;
    if body.len() > limit {
        return Err(too_large());
    }
    Ok(body)
}

pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.url()
        .map(|u| u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

pub async fn handle(mut req: Request, ctx: &Ctx<'_>, path: &str) -> ApiResult<Response> {
    let route = match_api(req.method().as_ref(), path);
    // Bucket uploads carry the session's upload JWT instead of the admin token.
    if let ApiRoute::UploadAssets(id) = &route {
        return uploads::upload(&mut req, id, ctx).await;
    }
    let auth = req.headers().get("authorization").ok().flatten();
    check_admin(auth.as_deref(), &bindings::secret(ctx.env, bindings::API_TOKEN))?;
    match route {
        ApiRoute::ListProjects => projects::list(&req, ctx).await,
        ApiRoute::CreateProject => projects::create(&mut req, ctx).await,
        ApiRoute::GetProject(id) => projects::get(&id, ctx).await,
        ApiRoute::UpdateProject(id) => projects::update(&mut req, &id, ctx).await,
        ApiRoute::DeleteProject(id) => projects::delete(&id, ctx).await,
        ApiRoute::CreateUploadSession(id) => uploads::create_session(&mut req, &id, ctx).await,
        ApiRoute::UploadAssets(_) => Err(ApiError::internal("upload routed past its handler")),
        ApiRoute::Deploy(id) => deployments::deploy(&mut req, &id, ctx).await,
        ApiRoute::ListDeployments(id) => deployments::list(&req, &id, ctx).await,
        ApiRoute::GetDeployment(id) => deployments::get(&id, ctx).await,
        ApiRoute::DeploymentLogs(id) => lifecycle::logs(&req, &id, ctx).await,
        ApiRoute::Promote(id) => lifecycle::promote(&id, ctx).await,
        ApiRoute::Rollback(id) => lifecycle::rollback(&mut req, &id, ctx).await,
        ApiRoute::ListAliases(id) => lifecycle::list_aliases(&id, ctx).await,
        ApiRoute::GetAlias(id, name) => lifecycle::get_alias(&id, &name, ctx).await,
        ApiRoute::PutAlias(id, name) => lifecycle::put_alias(&mut req, &id, &name, ctx).await,
        ApiRoute::DeleteAlias(id, name) => lifecycle::delete_alias(&id, &name, ctx).await,
        ApiRoute::RunGc(id) => lifecycle::run_gc(&id, ctx).await,
        ApiRoute::PreviewLink(id) => previews::create_link(&mut req, &id, ctx).await,
        ApiRoute::MethodNotAllowed(allowed) => Err(ApiError::MethodNotAllowed { allowed }),
        ApiRoute::NotFound => Err(ApiError::not_found("API route")),
    }
}
