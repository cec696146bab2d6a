//! Skew protection on the visitor path (issue 30): which deployment a pin names, the pin cookie
//! on an HTML answer, and a fingerprinted miss (looked up in earlier production deployments,
//! else a typed 404). The decisions are `routing::pin` and `assets::skew`; this is their I/O.

use std::rc::Rc;

use worker::{Env, Headers, Method, Request, Response, Url};

use super::site::{manifest, search};
use crate::assets::skew;
use crate::deploy::DeploymentManifest;
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::{now_ms, secret, Settings, JWT_SECRET};
use crate::platform::store::kv::KvRoutes;
use crate::routing::{pin, RouteRecord};

/// The deployment a valid pin on this request names (`routing::pin`), if it is not the one
/// the URL already serves. Without a pin this is three header reads and substring checks.
pub(super) fn pinned_deployment(
    req: &Request,
    url: &Url,
    env: &Env,
    record: &RouteRecord,
    via_alias: bool,
) -> Option<String> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let cookie = header("cookie");
    let dpl = header(pin::DPL_HEADER);
    let mode = header("sec-fetch-mode");
    let value =
        pin::requested(url.query().unwrap_or(""), dpl.as_deref(), cookie.as_deref(), mode.as_deref())?;
    pin::resolve(value, secret(env, JWT_SECRET).as_bytes(), record, via_alias, now_ms())
}

/// Adds the pin cookie to a successful HTML answer.
pub(super) fn pin_html(
    mut resp: Response,
    env: &Env,
    m: &DeploymentManifest,
    secs: u64,
    path: &str,
    https: bool,
) -> Response {
    let html = resp.headers().get("content-type").ok().flatten().is_some_and(|t| t.starts_with("text/html"));
    if !html || !(200..300).contains(&resp.status_code()) {
        return resp;
    }
    let secret = secret(env, JWT_SECRET);
    if let Some(cookie) =
        pin::set_cookie(secret.as_bytes(), &m.project_id, &m.deployment_id, now_ms(), secs, path, https)
    {
        // Best effort: a page without its pin still works (the asset fallback covers it).
        let _ = resp.headers_mut().append("set-cookie", &cookie);
    }
    resp
}

/// A GET/HEAD for a fingerprinted path (`assets::skew`) that this deployment has no file for
/// and no `_redirects` rule claims: neither the not-found fallback nor server code may answer
/// it. Projects whose every request runs server code keep it (as the JS fast path does), and
/// percent-encoded paths take the ordinary path (manifest keys are decoded).
pub(super) fn skew_miss(req: &Request, url: &Url, m: &DeploymentManifest, path: &str) -> bool {
    let method = req.method();
    // The string checks first: most requests are not fingerprinted and skip the manifest probe.
    (method == Method::Get || method == Method::Head)
        && !path.contains('%')
        && skew::is_fingerprinted(path)
        && m.lookup(path).is_none()
        && !m.every_request_runs_server_code()
        && m.redirects.find(path, search(url)).is_none()
}

/// The newest of the project's last `depth` earlier production deployments that has `path`
/// (at most `depth` manifest reads, each cached like the active one's).
pub(super) async fn older_with(
    s: &Settings,
    routes: &KvRoutes,
    record: &RouteRecord,
    m: &DeploymentManifest,
    path: &str,
) -> Option<Rc<DeploymentManifest>> {
    let depth = usize::from(record.skew.depth).min(skew::MAX_FALLBACK_DEPTH);
    for id in record.recent.iter().filter(|id| **id != m.deployment_id).take(depth) {
        // A deployment retention removed (or a failed read) is skipped, not an error page.
        let Ok(Some(older)) = manifest(s, routes, &record.project_id, id).await else { continue };
        if older.lookup(path).is_some() {
            return Some(older);
        }
    }
    None
}

/// A fingerprinted miss no kept deployment has: 404 with the type its extension implies.
pub(super) fn fingerprinted_404(path: &str) -> ApiResult<Response> {
    let err = |e: worker::Error| ApiError::internal(e.to_string());
    let headers = Headers::new();
    headers.set("content-type", skew::miss_content_type(path)).map_err(err)?;
    headers.set("cache-control", "no-store").map_err(err)?;
    headers.set("x-content-type-options", "nosniff").map_err(err)?;
    Ok(Response::empty().map_err(err)?.with_status(404).with_headers(headers))
}
