//! Preview URLs on the visitor path: which deployment an exact-deployment prefix names
//! (`<id prefix>--<slug>`, cached; D1 only in the full build), and, in the full build, whether
//! a link-protected preview or alias may be served (the link, its cookie, the bypass token).
//! The decisions are `crate::auth::preview` and `crate::routing::preview`; this is their I/O.

use worker::Env;
#[cfg(not(feature = "site"))]
use worker::{Headers, Request, Response, Url};

#[cfg(not(feature = "site"))]
use crate::auth::preview::{decide, Access, Denied, PreviewTarget, Visit};
#[cfg(not(feature = "site"))]
use crate::error::ApiError;
use crate::error::ApiResult;
#[cfg(not(feature = "site"))]
use crate::lifecycle::envs::bypass_matches;
use crate::platform::bindings::{now_ms, Settings};
#[cfg(not(feature = "site"))]
use crate::platform::bindings::{secret, JWT_SECRET};
use crate::platform::serve::cache::{self, Lookup};
#[cfg(not(feature = "site"))]
use crate::platform::store::d1::database;
#[cfg(not(feature = "site"))]
use crate::routing::normalize_host;
use crate::routing::preview::preview_prefix_range;
#[cfg(not(feature = "site"))]
use crate::routing::preview::PREVIEW_LOOKUP_SQL;
#[cfg(not(feature = "site"))]
use crate::routing::RouteRecord;

/// An exact deployment by id prefix, cached (found or not) for at most `ROUTE_CACHE_TTL_MS`:
/// expiry drops a found one, completion drops a miss (`cache::forget_deployment`). A prefix
/// no deployment id could have is answered without a cache entry or a read.
/// `Err(())`: the visitor build does not read D1; the full build looks the prefix up.
pub(super) async fn preview(
    s: &Settings,
    env: &Env,
    project_id: &str,
    prefix: &str,
) -> ApiResult<Result<Option<String>, ()>> {
    let Some((low, high)) = preview_prefix_range(prefix) else { return Ok(Ok(None)) };
    let now = now_ms();
    let epoch = match cache::preview(s, project_id, prefix, now) {
        Lookup::Hit(id) => return Ok(Ok(id)),
        Lookup::Miss(epoch) => epoch,
    };
    // Previews of exact deployments are rare next to production visits: the lookup (and the
    // D1 glue it needs) stays out of the visitor build, whose budget production serving needs.
    #[cfg(feature = "site")]
    {
        let _ = (env, low, high, epoch);
        Ok(Err(()))
    }
    #[cfg(not(feature = "site"))]
    {
        let found = preview_deployment(env, project_id, low, &high).await?;
        cache::put_preview(s, epoch, project_id, prefix, found.as_deref(), now);
        Ok(Ok(found))
    }
}

/// The ready deployment of `project_id` whose id lies in `[low, high)` (its prefix), if exactly
/// one does (previews of exact deployments; D1 is only read on this path).
#[cfg(not(feature = "site"))]
async fn preview_deployment(env: &Env, project_id: &str, low: &str, high: &str) -> ApiResult<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Row {
        id: String,
    }
    let rows = database(env)?
        .prepare(PREVIEW_LOOKUP_SQL)
        .bind(&[project_id.into(), low.into(), high.into()])
        .map_err(|e| ApiError::internal(e.to_string()))?
        .all()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .results::<Row>()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    // An ambiguous prefix serves nothing rather than a guess.
    Ok(if rows.len() == 1 { rows.into_iter().next().map(|r| r.id) } else { None })
}

#[cfg(not(feature = "site"))]
pub(super) fn preview_access(
    req: &Request,
    url: &Url,
    env: &Env,
    record: &RouteRecord,
    target: PreviewTarget<'_>,
    prefix: &str,
) -> ApiResult<Access> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    // Automation: the project's bypass token as a header opens it (a wrong one changes nothing:
    // the visit is decided as if it were absent).
    if let Some(stored) = &record.bypass {
        let token = header("x-flotilla-bypass").or_else(|| header("x-vercel-protection-bypass"));
        if token.is_some_and(|t| bypass_matches(stored, &t)) {
            return Ok(Access::Serve);
        }
    }
    let project_id = record.project_id.as_str();
    let host = normalize_host(&header("host").unwrap_or_else(|| url.host_str().unwrap_or("").to_string()));
    let cookie = header("cookie");
    let secret = secret(env, JWT_SECRET);
    let visit = Visit {
        protected: true,
        project_id,
        target: Some(target),
        host: &host,
        path: url.path(),
        query: url.query().unwrap_or(""),
        cookie_header: cookie.as_deref(),
        cookie_path: if prefix.is_empty() { "/" } else { prefix },
        https: url.scheme() == "https",
        now_ms: now_ms(),
    };
    Ok(decide(secret.as_bytes(), &visit))
}

#[cfg(not(feature = "site"))]
pub(super) fn denied_reason(d: Denied) -> &'static str {
    match d {
        Denied::NoCredential => "no link or cookie",
        Denied::Malformed => "malformed token",
        Denied::BadSignature => "bad signature",
        Denied::Expired => "expired",
        Denied::WrongBinding => "token for another project, host or target",
        Denied::NoSecret => "JWT_SECRET unset",
    }
}

#[cfg(not(feature = "site"))]
/// 303 to the clean URL, trading the link for the cookie; never cached.
pub(super) fn redirect(location: &str, set_cookie: &str) -> ApiResult<Response> {
    let err = |e: worker::Error| ApiError::internal(e.to_string());
    let headers = Headers::new();
    headers.set("location", location).map_err(err)?;
    headers.set("set-cookie", set_cookie).map_err(err)?;
    headers.set("cache-control", "no-store").map_err(err)?;
    headers.set("referrer-policy", "no-referrer").map_err(err)?;
    Ok(Response::empty().map_err(err)?.with_status(303).with_headers(headers))
}
