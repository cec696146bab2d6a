//! Worker event handlers: build the per-request context, route (pure), dispatch, and render
//! every error once. Every response carries `x-request-id`; one JSON log line per request.

use serde_json::json;
use worker::*;

use crate::api;
use crate::domain::UrlBase;
use crate::error::ApiError;
use crate::platform::bindings::{self, now_ms};
use crate::platform::http::{self, RequestMeta};
use crate::platform::storage::DeployJob;
use crate::platform::{health, serve, workflow};
use crate::routing::{platform_page, route_request, Target};

const OPENAPI: &str = include_str!("../openapi.json");
const DOCS_HTML: &str = include_str!("docs.html");

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(queue)]
async fn queue(batch: MessageBatch<DeployJob>, env: Env, _ctx: Context) -> Result<()> {
    workflow::handle_batch(batch, &env).await
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let meta = RequestMeta::new(&req);
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
    let target = route_request(&host, url.path(), &query, &domain);
    let ctx = api::Ctx { env, meta, urls: url_base(&url, &domain) };
    match target {
        Target::Api { path } => api::handle(req, &ctx, &path).await,
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
                               "docs": "/docs", "mcp": "/mcp", "pathMode": "/__project/<id-or-slug>/" },
            }),
        )
        .map_err(api::internal),
        Target::OpenApi => {
            let mut r = Response::ok(OPENAPI).map_err(api::internal)?;
            r.headers_mut().set("content-type", "application/json").map_err(api::internal)?;
            Ok(r)
        }
        Target::Docs => Response::from_html(DOCS_HTML).map_err(api::internal),
        Target::Mcp => Err(ApiError::NotImplemented { what: "The MCP endpoint".into() }),
        Target::Redirect { location } => {
            let mut r = Response::empty().map_err(api::internal)?.with_status(308);
            r.headers_mut().set("location", &location).map_err(api::internal)?;
            Ok(r)
        }
        Target::NotFound => Err(ApiError::not_found("Route")),
        Target::Project { project, prefix, path } => {
            match serve::serve(&req, env, &project, &prefix, &path).await? {
                Some(resp) => Ok(resp),
                None => page(404, &req, meta),
            }
        }
        // Custom domains arrive with the domains API; until then they are unknown sites.
        Target::CustomDomain { .. } => page(404, &req, meta),
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
