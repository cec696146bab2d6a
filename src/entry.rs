//! Worker event handlers: build the per-request context, route (pure), dispatch, and render
//! every error once. Every response carries `x-request-id`; one JSON log line per request.

use serde_json::json;
use wasm_bindgen::JsValue;
use worker::*;

#[cfg(not(feature = "site"))]
use crate::api;
#[cfg(not(feature = "site"))]
use crate::api::health;
#[cfg(not(feature = "site"))]
use crate::domain::UrlBase;
use crate::error::ApiError;
use crate::platform::bindings;
use crate::platform::http::{self, RequestMeta};
#[cfg(not(feature = "site"))]
use crate::platform::jobs::queue;
use crate::platform::serve::fast::FastHost;
use crate::platform::serve::site;
use crate::platform::serve::site::Served;
#[cfg(not(feature = "site"))]
use crate::platform::store::queue::Job;
use crate::routing::{health_detail_requested, platform_page, route_request_with, ProjectRef, Target};

#[cfg(not(feature = "site"))]
const OPENAPI: &str = include_str!("../openapi.json");

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
    crate::platform::serve::cache::register_bridge();
}

/// The cron trigger (wrangler.toml `[triggers]`): lifecycle sweep, purge retries, GC.
#[cfg(not(feature = "site"))]
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    crate::platform::jobs::cron::scheduled(&env).await;
}

#[cfg(not(feature = "site"))]
#[event(queue)]
async fn queue(batch: MessageBatch<Job>, env: Env, _ctx: Context) -> Result<()> {
    queue::handle_batch(batch, &env).await
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
/// `platform::serve::fast`) got no Response from the user code: Rust renders the outcome as the
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
        return match site::serve_binding(&req, &env, &scope.project_id, &scope.deployment_id).await {
            Ok(r) => Ok(r),
            Err(e) => http::error(&e, &meta),
        };
    }
    let settings = bindings::settings(&env);
    if let Some(failed) = fast_failure(&env) {
        let served = match crate::platform::serve::loader::settle(failed.outcome, failed.timeout_ms) {
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
        Err(e) => return http::with_request_id(http::error(&http::internal(e), &meta)?, &meta.request_id),
    };
    let (resp, caller) = match handle(req, &url, &env, &settings, &meta).await {
        (Ok(r), caller) => (r, caller),
        (Err(e), caller) => (http::error(&e, &meta)?, caller),
    };
    if caller == Caller::Forwarded {
        // The full build answers it, with its own request id and log line.
        return Ok(resp);
    }
    let visitor = caller == Caller::Visitor;
    http::log_request(&settings.log, &meta, visitor, method.as_ref(), url.path(), resp.status_code());
    http::with_request_id(resp, &meta.request_id)
}

#[cfg(not(feature = "site"))]
fn url_base(url: &Url, settings: &bindings::Settings) -> UrlBase {
    UrlBase::new(url.scheme(), &settings.platform_domain, url.port())
        .with_path_mode(settings.path_mode.answers_on(&settings.platform_domain))
}

/// Whom a request was for (it decides the log line).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// A site's visitor.
    Visitor,
    /// The platform's own routes.
    Management,
    /// A management route reaching the visitor-only build: src/js/main.mjs hands it on.
    #[cfg_attr(not(feature = "site"), allow(dead_code))]
    Forwarded,
}

/// The routes only the full build serves (the site build forwards them).
fn for_full_build(target: &Target) -> bool {
    matches!(
        target,
        Target::Api { .. }
            | Target::ClientV4 { .. }
            | Target::Health
            | Target::ServiceInfo
            | Target::OpenApi
            | Target::Docs
            | Target::Dashboard { .. }
            | Target::Mcp
            | Target::ProtectedResource
    )
}

/// The response, and whom the request was for.
async fn handle(
    req: Request,
    url: &Url,
    env: &Env,
    settings: &bindings::Settings,
    meta: &RequestMeta,
) -> (std::result::Result<Response, ApiError>, Caller) {
    let domain = settings.platform_domain.as_str();
    let path_mode = settings.path_mode;
    let host =
        req.headers().get("host").ok().flatten().unwrap_or_else(|| url.host_str().unwrap_or("").to_string());
    let target = route_request_with(&host, url.path(), site::search(url), domain, path_mode);
    let caller = if matches!(target, Target::Project { .. } | Target::CustomDomain { .. }) {
        Caller::Visitor
    } else if cfg!(feature = "site") && for_full_build(&target) && !public_health(&target, url) {
        Caller::Forwarded
    } else {
        Caller::Management
    };
    let call = Call { url, env, settings, meta, host: &host };
    (dispatch(req, &call, target).await, caller)
}

/// `GET /health` without `?detail`: answered by either build with no storage I/O and nothing
/// about the bindings (anyone may call it, as often as they like; a cold isolate serving it
/// stays on the small visitor build). `?detail=1` is the operator's, in the full build.
fn public_health(target: &Target, url: &Url) -> bool {
    matches!(target, Target::Health) && !health_detail_requested(site::search(url))
}

/// What the route handlers borrow from the request being served.
struct Call<'a> {
    url: &'a Url,
    env: &'a Env,
    // Read by the management routes only (the full build).
    #[cfg_attr(feature = "site", allow(dead_code))]
    settings: &'a bindings::Settings,
    meta: &'a RequestMeta,
    host: &'a str,
}

async fn dispatch(req: Request, call: &Call<'_>, target: Target) -> std::result::Result<Response, ApiError> {
    let Call { url, env, meta, host, .. } = *call;
    match target {
        t if public_health(&t, url) => http::ok(200, json!({ "status": "ok" })).map_err(http::internal),
        t if for_full_build(&t) => {
            #[cfg(feature = "site")]
            return forward(env);
            #[cfg(not(feature = "site"))]
            return management(req, call, t).await;
        }
        Target::Redirect { location } => {
            let mut r = Response::empty().map_err(http::internal)?.with_status(308);
            r.headers_mut().set("location", &location).map_err(http::internal)?;
            Ok(r)
        }
        // Encoded dot segments or separators in a path-mode target: refused, never resolved.
        Target::BadPath => page(400, &req, meta),
        Target::Project { project, prefix, path } => {
            // `<slug>.<domain>`: the Host header alone names the project (fast path, serve.rs).
            let fast_host = (prefix.is_empty() && project.deployment_prefix.is_none())
                .then_some(FastHost { host, custom: None });
            site(&req, url, env, meta, &project, &prefix, &path, fast_host).await
        }
        Target::CustomDomain { host: name, path } => {
            match crate::platform::serve::hosts::project_for_host(env, &name).await? {
                (Some(project_id), fresh) => {
                    let project = ProjectRef { key: project_id, deployment_prefix: None };
                    // The owner came from the host cache: the Host header decides it as long as that lasts.
                    let fast_host = fresh.map(|f| FastHost { host, custom: Some(f) });
                    site(&req, url, env, meta, &project, "", &path, fast_host).await
                }
                (None, _) => page(404, &req, meta),
            }
        }
        // Target::NotFound (the routes for the full build were answered above).
        _ => Err(ApiError::not_found("Route")),
    }
}

/// What `for_full_build` names, served (full build only).
#[cfg(not(feature = "site"))]
async fn management(
    req: Request,
    call: &Call<'_>,
    target: Target,
) -> std::result::Result<Response, ApiError> {
    let Call { url, env, settings, meta, host } = *call;
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
            // The detailed checks touch every binding and name failures: the operator's admin
            // token only (a scoped `flt_` token would itself cost a D1 read to check).
            let auth = req.headers().get("authorization").ok().flatten();
            crate::auth::check_admin(auth.as_deref(), &bindings::secret(env, bindings::API_TOKEN))?;
            let (ok, body) = health::run(env).await;
            http::json(if ok { 200 } else { 503 }, &body).map_err(http::internal)
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
        .map_err(http::internal),
        Target::OpenApi => {
            let mut r = Response::ok(OPENAPI).map_err(http::internal)?;
            r.headers_mut().set("content-type", "application/json").map_err(http::internal)?;
            Ok(r)
        }
        Target::Docs => ui_page(&req, url, "/docs", meta),
        Target::Dashboard { path } => ui_page(&req, url, &path, meta),
        Target::Mcp => {
            crate::api::mcp::handle(req, &api::Ctx::new(env, meta, url_base(url, settings)), host).await
        }
        Target::ProtectedResource => crate::api::mcp::protected_resource(&req),
        _ => Err(ApiError::not_found("Route")),
    }
}

/// Marks the request for src/js/main.mjs, which hands it to the full build.
#[cfg(feature = "site")]
fn forward(env: &Env) -> std::result::Result<Response, ApiError> {
    let _ = js_sys::Reflect::set(env, &"__FLOTILLA_FORWARD".into(), &JsValue::TRUE);
    Response::empty().map_err(http::internal)
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
    let served = site::serve(req, url, env, project, prefix, path, fast_host).await?;
    #[cfg(feature = "site")]
    if matches!(served, Served::Forward) {
        return forward(env);
    }
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
        #[cfg(feature = "site")]
        Served::Forward => page(404, req, meta),
        #[cfg(not(feature = "site"))]
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
#[cfg(not(feature = "site"))]
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
        .map_err(http::internal)?
        .with_status(r.status);
    for (k, v) in &r.headers {
        resp.headers_mut().set(k, v).map_err(http::internal)?;
    }
    Ok(resp)
}

fn page(status: u16, req: &Request, meta: &RequestMeta) -> std::result::Result<Response, ApiError> {
    let accept = req.headers().get("accept").ok().flatten();
    let (ct, body) = platform_page(status, accept.as_deref(), &meta.request_id);
    let mut r = Response::ok(body).map_err(http::internal)?.with_status(status);
    r.headers_mut().set("content-type", ct).map_err(http::internal)?;
    r.headers_mut().set("cache-control", "no-store").map_err(http::internal)?;
    Ok(r)
}
