//! Serving a project's site to visitors: one routing-record read (ROUTES_KV), the deployment
//! manifest from isolate memory (keyed by the immutable deployment id; ROUTES_KV on a miss),
//! a pure plan (assets::plan_asset_request), then at most one body read (ASSETS_KV, or BLOBS
//! for files over 25 MiB; streamed; only the bytes of a `Range`)
//! or, when the plan leaves the request to server code, one Worker Loader dispatch.

use std::rc::Rc;

use worker::{Env, Headers, Method, Request, Response, ResponseBody, Url};

use crate::assets::{
    base_asset_headers, byte_range, if_none_match_matches, plan_asset_request, prefix_location, AssetPlan,
    AssetRequest, ByteRange,
};
#[cfg(not(feature = "site"))]
use crate::auth::preview::{Access, PreviewTarget};
use crate::deploy::{body_store, BodyStore, DeploymentManifest, FileRef};
use crate::error::{ApiError, ApiResult};
use crate::keys::asset_key;
use crate::lifecycle::envs::env_ref;
use crate::platform::bindings::{now_ms, settings, Settings};
use crate::platform::serve::cache::{self, Fresh, Lookup};
use crate::platform::serve::fast::FastHost;
use crate::platform::serve::loader::{dispatch, Forward, Target};
use crate::platform::serve::preview::preview;
#[cfg(not(feature = "site"))]
use crate::platform::serve::preview::{denied_reason, preview_access, redirect};
use crate::platform::serve::skew::{fingerprinted_404, older_with, pin_html, pinned_deployment, skew_miss};
use crate::platform::serve::split::{side, with_cookie};
use crate::platform::store::kv::{KvAssets, KvRoutes};
use crate::platform::store::r2::R2Blobs;
use crate::routing::affinity::VERSION_OVERRIDES;
use crate::routing::{ProjectRef, RouteRecord};

/// The query string as the URL has it, with its `?` (empty when there is none): a slice, not
/// a new string per request.
pub fn search(url: &Url) -> &str {
    &url[worker::url::Position::AfterPath..worker::url::Position::AfterQuery]
}

/// Manifests are immutable per deployment id, so the cache needs no invalidation beyond the
/// deployment being collected; its byte budget bounds memory in an isolate serving many projects.
pub(super) async fn manifest(
    s: &Settings,
    routes: &KvRoutes,
    project_id: &str,
    deployment_id: &str,
) -> ApiResult<Option<Rc<DeploymentManifest>>> {
    if let Some(m) = cache::manifest(s, deployment_id) {
        return Ok(Some(m));
    }
    let Some(text) = routes.manifest_text(project_id, deployment_id).await? else { return Ok(None) };
    let m: Rc<DeploymentManifest> = Rc::new(
        DeploymentManifest::decode(text)
            .map_err(|e| ApiError::internal(format!("manifest {deployment_id}: {e}")))?,
    );
    cache::put_manifest(s, deployment_id, m.clone(), m.byte_size());
    Ok(Some(m))
}

/// The routing record for a slug or id: this isolate's copy when younger than
/// `ROUTE_CACHE_TTL_MS` (with its freshness), else ROUTES_KV (D1 when KV lost it).
/// `(None, _)`: no such live project. `None` (visitor build only): ROUTES_KV has no record, and
/// the full build, which holds the D1 reconcile, must answer (`Served::Forward`).
async fn route_record(
    s: &Settings,
    env: &Env,
    routes: &KvRoutes,
    key: &str,
) -> ApiResult<Option<(Option<Rc<RouteRecord>>, Option<Fresh>)>> {
    let now = now_ms();
    let epoch = match cache::route(s, key, now) {
        Lookup::Hit((r, until_ms)) => {
            return Ok(Some((r, Some(Fresh { until_ms, epoch: cache::route_epoch() }))))
        }
        Lookup::Miss(epoch) => epoch,
    };
    let rec = match routes.route(key).await? {
        Some(r) => Some(r),
        #[cfg(feature = "site")]
        None => {
            let _ = env;
            return Ok(None);
        }
        #[cfg(not(feature = "site"))]
        None => reconcile_miss(env, routes, key).await?,
    }
    .map(Rc::new);
    cache::put_route(s, epoch, key, rec.clone(), now);
    Ok(Some((rec, None)))
}

/// No routing record in ROUTES_KV: if D1 knows a live project by this key, re-publish its
/// record (the cache lost it or its write failed) and serve from it. Unknown and deleted keys
/// stay unknown.
#[cfg(not(feature = "site"))]
async fn reconcile_miss(
    env: &Env,
    routes: &KvRoutes,
    key: &str,
) -> ApiResult<Option<crate::routing::RouteRecord>> {
    use crate::lifecycle::ProjectStore;
    let store = crate::platform::store::d1_lifecycle::D1Lifecycle::new(env)?;
    let Some(p) = store.project(key).await.map_err(|e| ApiError::internal(e.0))? else { return Ok(None) };
    if p.deleted {
        return Ok(None);
    }
    // This isolate moves the pointer back in step with D1, so it forgets what it cached.
    let live = cache::LiveRoutes(routes.clone());
    if let Err(e) = crate::lifecycle::publish(&store, &live, &p.id).await {
        crate::platform::http::log(
            "warn",
            "serve",
            serde_json::json!({ "msg": "reconcile on miss", "error": format!("{e:?}") }),
        );
    }
    Ok(Some(p.route_record()))
}

/// What serving a visitor request came to.
pub enum Served {
    Response(Response),
    /// No such site (unknown, disabled, nothing active): the platform 404 page.
    NoSite,
    /// A link-protected preview without a valid link or cookie: the platform 401 page
    /// (the reason is for the log only). Full build only: the visitor build forwards them.
    #[cfg(not(feature = "site"))]
    Denied(&'static str),
    /// The site's server code failed; the visitor gets a platform error page with `status`.
    UserCodeFailed {
        status: u16,
        detail: String,
    },
    /// Visitor build only: ROUTES_KV has no routing record for the name, so the full build
    /// answers (its reconcile-on-miss reads D1 and republishes the record, and it caches
    /// unknown names as this build would). Keeps that rare path's code out of every cold start.
    #[cfg(feature = "site")]
    Forward,
}

/// Serves a visitor request for `project` (path already stripped of any path-mode `prefix`).
/// `fast_host`: the Host header, when it alone decided the project, so the decision may be
/// handed to the JS fast path (`crate::platform::serve::fast`).
pub async fn serve(
    req: &Request,
    url: &Url,
    env: &Env,
    project: &ProjectRef,
    prefix: &str,
    path: &str,
    fast_host: Option<FastHost<'_>>,
) -> ApiResult<Served> {
    let s = settings(env);
    let routes = KvRoutes::new(env)?;
    let Some((found, fresh)) = route_record(&s, env, &routes, &project.key).await? else {
        #[cfg(feature = "site")]
        return Ok(Served::Forward);
        #[cfg(not(feature = "site"))]
        return Ok(Served::NoSite); // never: the full build reconciles in `route_record`
    };
    let Some(record) = found else { return Ok(Served::NoSite) };
    if !record.enabled || record.deleted {
        return Ok(Served::NoSite);
    }
    // (deployment id, whether the URL names an alias)
    let (deployment_id, alias) = match &project.deployment_prefix {
        // A named alias first (`staging--<slug>`), else an exact deployment by id prefix.
        Some(p) => match record.aliases.get(p) {
            Some(id) => (id.clone(), Some(p.as_str())),
            None => match preview(&s, env, &record.project_id, p).await? {
                Ok(Some(id)) => (id, None),
                Ok(None) => return Ok(Served::NoSite),
                Err(()) => {
                    #[cfg(feature = "site")]
                    return Ok(Served::Forward);
                    #[cfg(not(feature = "site"))]
                    return Ok(Served::NoSite); // never: the full build looks it up
                }
            },
        },
        None => match record.serving() {
            Some(id) => (id.to_string(), None),
            None => return Ok(Served::NoSite),
        },
    };
    // `Cloudflare-Workers-Version-Overrides` picks a version only for a caller holding a token
    // of this project (tests, CI); the full build checks it, and tenant code never sees it.
    let asks_override =
        project.deployment_prefix.is_none() && req.headers().has(VERSION_OVERRIDES).unwrap_or(false);
    #[cfg(feature = "site")]
    if asks_override {
        return Ok(Served::Forward);
    }
    #[cfg(feature = "site")]
    let overridden = false;
    #[cfg(not(feature = "site"))]
    let (deployment_id, overridden) = match asks_override {
        true => match super::split::authorized_override(req, env, &record).await? {
            Some(id) => (id, true),
            None => (deployment_id, false),
        },
        false => (deployment_id, false),
    };
    // A gradual rollout: production visitors are split by their affinity cookie's bucket.
    let mut affinity = None;
    let live_split =
        record.rollout.as_ref().filter(|s| s.percent > 0 && s.to != deployment_id && !overridden);
    let deployment_id = match live_split.filter(|_| project.deployment_prefix.is_none()) {
        Some(split) => {
            let path = if prefix.is_empty() { "/" } else { prefix };
            let (new, cookie) = side(req, env, &record.project_id, split, path, url.scheme() == "https");
            affinity = cookie;
            if new {
                split.to.clone()
            } else {
                deployment_id
            }
        }
        None => deployment_id,
    };
    // Protected previews: decided before any asset or server code runs, by the full build
    // (links, cookies, the bypass token: none of it is production serving, which the visitor
    // build's budget is for).
    #[cfg(feature = "site")]
    if record.preview_link && project.deployment_prefix.is_some() {
        return Ok(Served::Forward);
    }
    #[cfg(not(feature = "site"))]
    if record.preview_link && project.deployment_prefix.is_some() {
        let target = match alias {
            Some(name) => PreviewTarget::Alias(name),
            None => PreviewTarget::Deployment(&deployment_id),
        };
        match preview_access(req, url, env, &record, target, prefix)? {
            Access::Serve => {}
            Access::Redirect { location, set_cookie } => {
                return Ok(Served::Response(redirect(&location, &set_cookie)?))
            }
            Access::Deny(d) => return Ok(Served::Denied(denied_reason(d))),
        }
    }
    // Skew protection: production and alias URLs serve the deployment a valid pin names.
    let pinnable = record.skew.enabled && (project.deployment_prefix.is_none() || alias.is_some());
    let pinned = if pinnable { pinned_deployment(req, url, env, &record, alias.is_some()) } else { None };
    let pinned_manifest = match pinned.as_deref().filter(|id| *id != deployment_id) {
        // A pin whose manifest is gone (or unreadable) is served the active deployment.
        Some(id) => manifest(&s, &routes, &record.project_id, id).await.ok().flatten(),
        None => None,
    };
    let m = match pinned_manifest {
        Some(m) => m,
        None => match manifest(&s, &routes, &record.project_id, &deployment_id).await? {
            Some(m) => m,
            None => return Ok(Served::NoSite),
        },
    };
    // The JS fast path knows one deployment per host: not while a split is live.
    let fast_host = if pinned.is_some() || live_split.is_some() { None } else { fast_host };
    let served =
        serve_deployment(req, url, env, &s, &routes, &record, &m, project, prefix, path, (fast_host, fresh))
            .await?;
    // An HTML page from a production or alias URL pins this origin to the deployment that
    // answered it (projects whose every request runs server code are left to the JS fast path,
    // which sets no cookie, so they never get one).
    Ok(match served {
        Served::Response(resp) if pinnable && !m.every_request_runs_server_code() => {
            let https = url.scheme() == "https";
            let cookie_path = if prefix.is_empty() { "/" } else { prefix };
            let secs = u64::from(record.skew.pin_secs);
            Served::Response(with_cookie(
                pin_html(resp, env, &m, secs, cookie_path, https),
                affinity.as_deref(),
            ))
        }
        Served::Response(resp) => Served::Response(with_cookie(resp, affinity.as_deref())),
        served => served,
    })
}

/// Serves a visitor request from deployment `m`: a fingerprinted miss, assets, or its server
/// code (in its own isolate: the loader's isolate id names the deployment and code digest).
#[allow(clippy::too_many_arguments)]
async fn serve_deployment(
    req: &Request,
    url: &Url,
    env: &Env,
    s: &Settings,
    routes: &KvRoutes,
    record: &RouteRecord,
    m: &DeploymentManifest,
    project: &ProjectRef,
    prefix: &str,
    path: &str,
    (fast_host, fresh): (Option<FastHost<'_>>, Option<Fresh>),
) -> ApiResult<Served> {
    // Skew protection: a fingerprinted file this deployment lacks is an older page's chunk.
    // Checked only after the manifest lookup misses, so hits pay one extra map probe at most.
    let mut older = None;
    if record.skew.enabled && skew_miss(req, url, m, path) {
        match older_with(s, routes, record, m, path).await {
            Some(o) => older = Some(o),
            None => return Ok(Served::Response(fingerprinted_404(path)?)),
        }
    }
    // One call site for every asset answer (each `respond` call costs visitor-build bytes).
    let plan = match (&older, &m.server) {
        (Some(_), _) => Some(AssetPlan::Serve { path: path.to_string(), status: 200 }),
        (None, None) => Some(plan_for(req, url, m, path, false)),
        (None, Some(server)) if !server.run_worker_first.applies(path) => {
            Some(plan_for(req, url, m, path, true)).filter(|p| *p != AssetPlan::NoMatch)
        }
        (None, Some(_)) => None,
    };
    let (Some(server), None) = (&m.server, plan.as_ref()) else {
        let from = older.as_deref().unwrap_or(m);
        let plan = plan.unwrap_or(AssetPlan::NoMatch);
        return Ok(Served::Response(respond(req, url, env, from, plan, path, prefix).await?));
    };
    let target = Target {
        project_id: m.project_id.clone(),
        deployment_id: m.deployment_id.clone(),
        digest: server.digest.clone(),
        outbound_allowed: record.outbound_allowed,
        env: env_ref(&record.envs, project.deployment_prefix.as_deref()),
    };
    // The visitor's method, headers and (streamed) body; only the platform says what the
    // prefix is (a visitor-supplied X-Forwarded-Prefix would steer the links user code builds).
    let new_url = forwarded_url(url, path);
    if let (Some(host), Some(fresh), None, None) = (fast_host, fresh, &project.deployment_prefix, &new_url) {
        if prefix.is_empty() && m.every_request_runs_server_code() {
            crate::platform::serve::fast::offer(host, &target, s.user_code_timeout_ms, fresh, &s.log);
        }
    }
    let forward = Forward { url: new_url.as_deref(), prefix };
    Ok(match dispatch(env, &target, req, forward, s.user_code_timeout_ms).await {
        Ok(resp) => Served::Response(resp),
        Err(e) => Served::UserCodeFailed { status: e.status(), detail: e.message().to_string() },
    })
}

/// `env.ASSETS.fetch(...)` from a deployment's server code: that deployment's assets only,
/// with the same semantics as a direct visit (not_found_handling always applies).
pub async fn serve_binding(
    req: &Request,
    env: &Env,
    project_id: &str,
    deployment_id: &str,
) -> ApiResult<Response> {
    let routes = KvRoutes::new(env)?;
    let m = manifest(&settings(env), &routes, project_id, deployment_id)
        .await?
        .filter(|m| m.project_id == project_id)
        .ok_or_else(|| ApiError::internal(format!("asset binding for unknown deployment {deployment_id}")))?;
    let url = req.url().map_err(|e| ApiError::internal(e.to_string()))?;
    let path = url.path();
    let plan = plan_for(req, &url, &m, path, false);
    respond(req, &url, env, &m, plan, path, "").await
}

/// The URL user code sees: the visitor's, with the path-mode prefix stripped (`None` when
/// nothing changes, so the request is forwarded without a copy).
fn forwarded_url(url: &Url, path: &str) -> Option<String> {
    (url.path() != path).then(|| {
        let mut url = url.clone();
        url.set_path(path);
        url.into()
    })
}

fn plan_for(
    req: &Request,
    url: &Url,
    m: &DeploymentManifest,
    path: &str,
    has_server_code: bool,
) -> AssetPlan {
    let method = req.method();
    let navigate = req.headers().get("sec-fetch-mode").ok().flatten().as_deref() == Some("navigate");
    let request = AssetRequest {
        method: method.as_ref(),
        raw_path: path,
        search: search(url),
        is_navigation: navigate,
    };
    let lookup = |p: &str| m.lookup(p).map(|f| f.hash);
    plan_asset_request(&m.config, &m.redirects, &request, &lookup, has_server_code)
}

/// Carries out an asset plan: at most one body read, `_headers` applied to every outcome.
async fn respond(
    req: &Request,
    url: &Url,
    env: &Env,
    m: &DeploymentManifest,
    plan: AssetPlan,
    path: &str,
    prefix: &str,
) -> ApiResult<Response> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let method = req.method();
    let mut headers: Vec<(String, String)> = Vec::new();
    let (status, body) = match plan {
        AssetPlan::Serve { path: file, status } => {
            let Some(FileRef { hash, content_type, size }) = m.lookup(&file) else {
                return Err(ApiError::internal(format!("plan chose {file}, which the manifest lacks")));
            };
            let range_header = header("range");
            let cacheable = header("authorization").is_none() && range_header.is_none();
            let ct = (!content_type.is_empty()).then_some(content_type);
            headers = base_asset_headers(hash, ct, cacheable);
            let etag = crate::assets::etag_for(hash);
            let not_modified = status == 200
                && header("if-none-match").map(|h| if_none_match_matches(&h, &etag)).unwrap_or(false);
            // A 200 asked for in part: 206 with those bytes, or 416 (assets::byte_range).
            let range = match range_header {
                Some(r) if status == 200 && !not_modified => {
                    byte_range(&r, header("if-range").as_deref(), &etag, size)
                }
                _ => ByteRange::Whole,
            };
            if let Some(content_range) = range.content_range(size) {
                headers.push(("Content-Range".into(), content_range));
            }
            let part = match range {
                ByteRange::Part { start, last } => Some((start, last + 1 - start)),
                _ => None,
            };
            if not_modified {
                // Like Cloudflare's asset serving: a 304 keeps the Content-Type the 200 would have.
                (304, None)
            } else if method == Method::Head || range == ByteRange::Unsatisfiable {
                (range.status(status), None)
            } else {
                let s = settings(env);
                let body = if body_store(size) == BodyStore::Blobs {
                    // Files over 25 MiB: streamed from BLOBS by the runtime, never read into wasm.
                    let missing = || ApiError::internal(format!("asset body {hash} missing from BLOBS"));
                    R2Blobs::new(env)?.asset_body(&m.project_id, hash, part).await?.ok_or_else(missing)?
                } else if cache::body_cacheable(&s, size) {
                    let missing = || ApiError::internal(format!("asset body {hash} missing from ASSETS_KV"));
                    let mut bytes = small_body(env, &s, &m.project_id, hash).await?.ok_or_else(missing)?;
                    if let Some((start, len)) = part {
                        bytes =
                            bytes.get(start as usize..(start + len) as usize).unwrap_or_default().to_vec();
                    }
                    ResponseBody::Body(bytes)
                } else {
                    let missing = || ApiError::internal(format!("asset body {hash} missing from ASSETS_KV"));
                    KvAssets::new(env)?.body(&m.project_id, hash, part).await?.ok_or_else(missing)?
                };
                (range.status(status), Some(body))
            }
        }
        AssetPlan::Redirect { location, status } => {
            headers.push(("Location".into(), prefix_location(prefix, &location)));
            (status, None)
        }
        AssetPlan::RedirectOtherHost { location, status } => {
            headers.push(("Location".into(), format!("{}:{location}", url.scheme())));
            (status, None)
        }
        AssetPlan::MethodNotAllowed => {
            headers.push(("Allow".into(), "GET, HEAD".into()));
            (405, None)
        }
        AssetPlan::NotFound | AssetPlan::NoMatch => (404, None),
    };
    // _headers rules apply to whatever the assets answer: bodies, redirects and 304s.
    m.headers.apply(url.host_str().unwrap_or(""), path, &mut headers);

    let out = Headers::new();
    for (k, v) in &headers {
        out.append(k, v).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    let resp = match body {
        Some(b) => Response::from_body(b),
        None => Response::from_body(ResponseBody::Empty),
    }
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(resp.with_status(status).with_headers(out))
}

/// A small body, from this isolate's memory when it was read before (bodies are immutable per
/// content hash), else read whole from KV and kept.
async fn small_body(env: &Env, s: &Settings, project_id: &str, hash: &str) -> ApiResult<Option<Vec<u8>>> {
    let key = asset_key(project_id, hash);
    if let Some(b) = cache::body(s, &key) {
        return Ok(Some(b.as_ref().clone()));
    }
    let Some(bytes) = KvAssets::new(env)?.bytes(project_id, hash).await? else { return Ok(None) };
    let bytes = std::rc::Rc::new(bytes);
    cache::put_body(s, &key, bytes.clone());
    Ok(Some(std::rc::Rc::try_unwrap(bytes).unwrap_or_else(|b| b.as_ref().clone())))
}
