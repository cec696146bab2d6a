//! Worker event handlers: build the per-request context, route (pure), dispatch, and render
//! every error once. Every response carries `x-request-id`; one JSON log line per request.

use serde_json::json;
use worker::*;

use crate::api;
use crate::domain::UrlBase;
use crate::error::ApiError;
use crate::platform::bindings::{self, now_ms};
use crate::platform::http::{self, RequestMeta};
use crate::platform::serve::Served;
use crate::platform::storage::Job;
use crate::platform::{health, serve, workflow};
use crate::routing::{platform_page, route_request_with, PathMode, ProjectRef, Target};

const OPENAPI: &str = include_str!("../openapi.json");
const DOCS_HTML: &str = include_str!("docs.html");

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The cron trigger (wrangler.toml `[triggers]`): lifecycle sweep, purge retries, GC.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    crate::platform::gc::scheduled(&env).await;
}

#[event(queue)]
async fn queue(batch: MessageBatch<Job>, env: Env, _ctx: Context) -> Result<()> {
    workflow::handle_batch(batch, &env).await
}

/// Set by src/js/main.mjs on requests that arrive through a deployment's `ASSETS` binding.
struct AssetsFor {
    deployment_id: String,
    project_id: String,
}

fn assets_for(env: &Env) -> Option<AssetsFor> {
    let v = js_sys::Reflect::get(env, &"__FLOTILLA_ASSETS_FOR".into()).ok()?;
    if v.is_undefined() {
        return None;
    }
    let field = |k: &str| js_sys::Reflect::get(&v, &k.into()).ok().and_then(|x| x.as_string());
    Some(AssetsFor { deployment_id: field("deploymentId")?, project_id: field("projectId")? })
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let meta = RequestMeta::new(&req);
    if let Some(scope) = assets_for(&env) {
        return match serve::serve_binding(&req, &env, &scope.project_id, &scope.deployment_id).await {
            Ok(r) => Ok(r),
            Err(e) => http::error(&e, &meta),
        };
    }
    let method = req.method().to_string();
    let path = req.path();
    let resp = match handle(req, &env, &meta).await {
        Ok(r) => r,
        Err(e) => http::error(&e, &meta)?,
    };
    http::log(
        "info",
        &meta.request_id,
        json!({
            "method": method, "path": path, "status": resp.status_code(),
            "ms": now_ms().saturating_sub(meta.started_ms),
        }),
    );
    http::with_request_id(resp, &meta.request_id)
}

fn url_base(url: &Url, domain: &str) -> UrlBase {
    UrlBase::new(url.scheme(), domain, url.port())
}

async fn handle(req: Request, env: &Env, meta: &RequestMeta) -> std::result::Result<Response, ApiError> {
    let url = req.url().map_err(api::internal)?;
    let domain = bindings::var_or(env, bindings::PLATFORM_DOMAIN, "localhost");
    let host =
        req.headers().get("host").ok().flatten().unwrap_or_else(|| url.host_str().unwrap_or("").to_string());
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    let path_mode = PathMode::parse(env.var(bindings::PATH_MODE).ok().map(|v| v.to_string()).as_deref());
    let target = route_request_with(&host, url.path(), &query, &domain, path_mode);
    let urls = url_base(&url, &domain).with_path_mode(path_mode.answers_on(&domain));
    let ctx = api::Ctx::new(env, meta, urls);
    match target {
        Target::Api { path } => api::handle(req, &ctx, &path).await,
        Target::ClientV4 { path } => api::cf_handle(req, &ctx, &path).await,
        Target::Health => {
            let (ok, body) = health::run(env).await;
            http::json(if ok { 200 } else { 503 }, &body).map_err(api::internal)
        }
        Target::ServiceInfo => http::ok(
            200,
            json!({
                "service": "flotilla",
                "version": env!("CARGO_PKG_VERSION"),
                "platformDomain": domain,
                "endpoints": { "api": "/__api", "health": "/health", "openapi": "/openapi.json",
                               "docs": "/docs", "mcp": "/mcp",
                               "pathMode": path_mode.answers_on(&host).then_some("/__project/<id-or-slug>/") },
            }),
        )
        .map_err(api::internal),
        Target::OpenApi => {
            let mut r = Response::ok(OPENAPI).map_err(api::internal)?;
            r.headers_mut().set("content-type", "application/json").map_err(api::internal)?;
            Ok(r)
        }
        Target::Docs => Response::from_html(DOCS_HTML).map_err(api::internal),
        Target::Mcp => crate::platform::mcp_http::handle(req, &ctx, &host).await,
        Target::ProtectedResource => crate::platform::mcp_http::protected_resource(&req),
        Target::Redirect { location } => {
            let mut r = Response::empty().map_err(api::internal)?.with_status(308);
            r.headers_mut().set("location", &location).map_err(api::internal)?;
            Ok(r)
        }
        Target::NotFound => Err(ApiError::not_found("Route")),
        // Encoded dot segments or separators in a path-mode target: refused, never resolved.
        Target::BadPath => page(400, &req, meta),
        Target::Project { project, prefix, path } => site(&req, &url, env, meta, &project, &prefix, &path).await,
        Target::CustomDomain { host, path } => {
            match crate::platform::domains::project_for_host(env, &host).await? {
                Some(project_id) => {
                    let project = ProjectRef { key: project_id, deployment_prefix: None };
                    site(&req, &url, env, meta, &project, "", &path).await
                }
                None => page(404, &req, meta),
            }
        }
    }
}

/// Serves a project's site (subdomain, path mode and custom domains): one place maps the outcomes.
async fn site(
    req: &Request,
    url: &Url,
    env: &Env,
    meta: &RequestMeta,
    project: &ProjectRef,
    prefix: &str,
    path: &str,
) -> std::result::Result<Response, ApiError> {
    match serve::serve(req, url, env, project, prefix, path).await? {
        Served::Response(resp) => Ok(resp),
        Served::NoSite => page(404, req, meta),
        Served::Denied(reason) => {
            let fields = json!({ "msg": "preview refused", "project": project.key, "reason": reason });
            http::log("info", &meta.request_id, fields);
            page(401, req, meta)
        }
        Served::UserCodeFailed { status, detail } => {
            // The visitor's page names nothing internal; the reason goes to the log.
            let fields = json!({ "msg": "server code failed", "project": project.key, "detail": detail });
            http::log("warn", &meta.request_id, fields);
            page(status, req, meta)
        }
    }
}

fn page(status: u16, req: &Request, meta: &RequestMeta) -> std::result::Result<Response, ApiError> {
    let accept = req.headers().get("accept").ok().flatten();
    let (ct, body) = platform_page(status, accept.as_deref(), &meta.request_id);
    let mut r = Response::ok(body).map_err(api::internal)?.with_status(status);
    r.headers_mut().set("content-type", ct).map_err(api::internal)?;
    r.headers_mut().set("cache-control", "no-store").map_err(api::internal)?;
    Ok(r)
}
