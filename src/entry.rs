//! Worker event handlers: build the per-request context, route (pure), dispatch, and render
//! every error once. Every response carries `x-request-id`; one JSON log line per request.

use serde_json::json;
use wasm_bindgen::JsValue;
use worker::*;

use crate::api;
use crate::domain::UrlBase;
use crate::error::ApiError;
use crate::platform::bindings;
use crate::platform::fast::FastHost;
use crate::platform::http::{self, RequestMeta};
use crate::platform::serve::Served;
use crate::platform::storage::Job;
use crate::platform::{health, serve, workflow};
use crate::routing::{platform_page, route_request_with, ProjectRef, Target};

const OPENAPI: &str = include_str!("../openapi.json");

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

/// Set by src/js/main.mjs when a request it dispatched itself (the fast path, see
/// `platform::fast`) got no Response from the user code: Rust renders the outcome as the
/// normal path would have.
struct FastFailure {
    project_id: String,
    outcome: std::result::Result<JsValue, JsValue>,
    timeout_ms: i32,
}

fn fast_failure(env: &Env) -> Option<FastFailure> {
    let v = js_sys::Reflect::get(env, &"__FLOTILLA_FAST_FAILED".into()).ok()?;
    if v.is_undefined() {
        return None;
    }
    let get = |k: &str| js_sys::Reflect::get(&v, &k.into()).unwrap_or(JsValue::UNDEFINED);
    let value = get("value");
    Some(FastFailure {
        project_id: get("projectId").as_string()?,
        outcome: if get("threw").is_truthy() { Err(value) } else { Ok(value) },
        timeout_ms: get("timeoutMs").as_f64()? as i32,
    })
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
    let settings = bindings::settings(&env);
    if let Some(failed) = fast_failure(&env) {
        let served = match crate::platform::loader::settle(failed.outcome, failed.timeout_ms) {
            Ok(resp) => Served::Response(resp),
            Err(e) => Served::UserCodeFailed { status: e.status(), detail: e.message().to_string() },
        };
        let resp = match visitor_response(served, &req, &meta, &failed.project_id) {
            Ok(r) => r,
            Err(e) => http::error(&e, &meta)?,
        };
        let path = req.path();
        http::log_request(&settings.log, &meta, true, req.method().as_ref(), &path, resp.status_code());
        return http::with_request_id(resp, &meta.request_id);
    }
    let method = req.method();
    // Parsed once; everything below borrows it.
    let url = match req.url() {
        Ok(u) => u,
        Err(e) => return http::with_request_id(http::error(&api::internal(e), &meta)?, &meta.request_id),
    };
    let (resp, visitor) = match handle(req, &url, &env, &settings, &meta).await {
        (Ok(r), visitor) => (r, visitor),
        (Err(e), visitor) => (http::error(&e, &meta)?, visitor),
    };
    http::log_request(&settings.log, &meta, visitor, method.as_ref(), url.path(), resp.status_code());
    http::with_request_id(resp, &meta.request_id)
}

fn url_base(url: &Url, settings: &bindings::Settings) -> UrlBase {
    UrlBase::new(url.scheme(), &settings.platform_domain, url.port())
        .with_path_mode(settings.path_mode.answers_on(&settings.platform_domain))
}

/// The response, and whether the request was a visitor's (a site) rather than a management call.
async fn handle(
    req: Request,
    url: &Url,
    env: &Env,
    settings: &bindings::Settings,
    meta: &RequestMeta,
) -> (std::result::Result<Response, ApiError>, bool) {
    let domain = settings.platform_domain.as_str();
    let path_mode = settings.path_mode;
    let host =
        req.headers().get("host").ok().flatten().unwrap_or_else(|| url.host_str().unwrap_or("").to_string());
    let target = route_request_with(&host, url.path(), serve::search(url), domain, path_mode);
    let visitor = matches!(target, Target::Project { .. } | Target::CustomDomain { .. });
    (dispatch(req, url, env, settings, meta, &host, target).await, visitor)
}

async fn dispatch(
    req: Request,
    url: &Url,
    env: &Env,
    settings: &bindings::Settings,
    meta: &RequestMeta,
    host: &str,
    target: Target,
) -> std::result::Result<Response, ApiError> {
    let domain = settings.platform_domain.as_str();
    let path_mode = settings.path_mode;
    match target {
        Target::Api { path } => {
            api::handle(req, &api::Ctx::new(env, meta, url_base(url, settings)), &path).await
        }
        Target::ClientV4 { path } => {
            api::cf_handle(req, &api::Ctx::new(env, meta, url_base(url, settings)), &path).await
        }
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
                               "docs": "/docs", "mcp": "/mcp", "dashboard": "/__dashboard",
                               "pathMode": path_mode.answers_on(host).then_some("/__project/<id-or-slug>/") },
            }),
        )
        .map_err(api::internal),
        Target::OpenApi => {
            let mut r = Response::ok(OPENAPI).map_err(api::internal)?;
            r.headers_mut().set("content-type", "application/json").map_err(api::internal)?;
            Ok(r)
        }
        Target::Docs => ui_page(&req, url, "/docs", meta),
        Target::Dashboard { path } => ui_page(&req, url, &path, meta),
        Target::Mcp => {
            crate::platform::mcp_http::handle(req, &api::Ctx::new(env, meta, url_base(url, settings)), host)
                .await
        }
        Target::ProtectedResource => crate::platform::mcp_http::protected_resource(&req),
        Target::Redirect { location } => {
            let mut r = Response::empty().map_err(api::internal)?.with_status(308);
            r.headers_mut().set("location", &location).map_err(api::internal)?;
            Ok(r)
        }
        Target::NotFound => Err(ApiError::not_found("Route")),
        // Encoded dot segments or separators in a path-mode target: refused, never resolved.
        Target::BadPath => page(400, &req, meta),
        Target::Project { project, prefix, path } => {
            // `<slug>.<domain>`: the Host header alone names the project (fast path, serve.rs).
            let fast_host = (prefix.is_empty() && project.deployment_prefix.is_none())
                .then_some(FastHost { host, custom: None });
            site(&req, url, env, meta, &project, &prefix, &path, fast_host).await
        }
        Target::CustomDomain { host: name, path } => {
            match crate::platform::domains::project_for_host(env, &name).await? {
                (Some(project_id), fresh) => {
                    let project = ProjectRef { key: project_id, deployment_prefix: None };
                    // The owner came from the host cache: the Host header decides it as long as that lasts.
                    let fast_host = fresh.map(|f| FastHost { host, custom: Some(f) });
                    site(&req, url, env, meta, &project, "", &path, fast_host).await
                }
                (None, _) => page(404, &req, meta),
            }
        }
    }
}

/// Serves a project's site (subdomain, path mode and custom domains).
#[allow(clippy::too_many_arguments)]
async fn site(
    req: &Request,
    url: &Url,
    env: &Env,
    meta: &RequestMeta,
    project: &ProjectRef,
    prefix: &str,
    path: &str,
    fast_host: Option<FastHost<'_>>,
) -> std::result::Result<Response, ApiError> {
    let served = serve::serve(req, url, env, project, prefix, path, fast_host).await?;
    visitor_response(served, req, meta, &project.key)
}

/// One place maps what serving came to (also for the JS fast path's failures).
fn visitor_response(
    served: Served,
    req: &Request,
    meta: &RequestMeta,
    project: &str,
) -> std::result::Result<Response, ApiError> {
    match served {
        Served::Response(resp) => Ok(resp),
        Served::NoSite => page(404, req, meta),
        Served::Denied(reason) => {
            let fields = json!({ "msg": "preview refused", "project": project, "reason": reason });
            http::log("info", &meta.request_id, fields);
            page(401, req, meta)
        }
        Served::UserCodeFailed { status, detail } => {
            // The visitor's page names nothing internal; the reason goes to the log.
            let fields = json!({ "msg": "server code failed", "project": project, "detail": detail });
            http::log("warn", &meta.request_id, fields);
            page(status, req, meta)
        }
    }
}

/// The dashboard and the docs (decided by `crate::ui`; unknown files get the 404 page).
fn ui_page(
    req: &Request,
    url: &Url,
    path: &str,
    meta: &RequestMeta,
) -> std::result::Result<Response, ApiError> {
    let inm = req.headers().get("if-none-match").ok().flatten();
    let method = req.method().to_string();
    let Some(r) = crate::ui::resolve(&method, path, url.query().unwrap_or(""), inm.as_deref()) else {
        return page(404, req, meta);
    };
    let mut resp = if r.body.is_empty() { Response::empty() } else { Response::ok(r.body) }
        .map_err(api::internal)?
        .with_status(r.status);
    for (k, v) in &r.headers {
        resp.headers_mut().set(k, v).map_err(api::internal)?;
    }
    Ok(resp)
}

fn page(status: u16, req: &Request, meta: &RequestMeta) -> std::result::Result<Response, ApiError> {
    let accept = req.headers().get("accept").ok().flatten();
    let (ct, body) = platform_page(status, accept.as_deref(), &meta.request_id);
    let mut r = Response::ok(body).map_err(api::internal)?.with_status(status);
    r.headers_mut().set("content-type", ct).map_err(api::internal)?;
    r.headers_mut().set("cache-control", "no-store").map_err(api::internal)?;
    Ok(r)
}
