//! Gradual rollouts on the visitor path (issue 30): which side of the routing record's split a
//! production request is served from, and the affinity cookie that keeps its visitor there.
//! The decision is `routing::affinity`'s; this is its I/O (two header reads, one HMAC).

use worker::{Env, Request, Response};

use crate::platform::bindings::{random_bytes, secret, JWT_SECRET};
use crate::routing::{affinity, Split};

/// Whether this request goes to the new side of `split`, and the `Set-Cookie` to add when the
/// visitor had no genuine affinity cookie yet.
pub(super) fn side(
    req: &Request,
    env: &Env,
    pid: &str,
    split: &Split,
    path: &str,
    https: bool,
) -> (bool, Option<String>) {
    let cookie = req.headers().get("cookie").ok().flatten();
    let fresh = || affinity::hex(&random_bytes::<8>());
    affinity::assign(
        secret(env, JWT_SECRET).as_bytes(),
        pid,
        cookie.as_deref(),
        split.percent,
        fresh,
        path,
        https,
    )
}

/// Adds the affinity cookie to an answer (best effort, like the pin cookie).
pub(super) fn with_cookie(mut resp: Response, cookie: Option<&str>) -> Response {
    if let Some(c) = cookie {
        let _ = resp.headers_mut().append("set-cookie", c);
    }
    resp
}

/// The deployment `Cloudflare-Workers-Version-Overrides` names for this project, if the
/// request's `Authorization` is a token that reaches the project (`read` scope) and the
/// deployment is one the project's production URL may serve (active, rolled out, earlier
/// production, aliased). Anything else is ignored: the request is served as any visitor's.
#[cfg(not(feature = "site"))]
pub(super) async fn authorized_override(
    req: &Request,
    env: &Env,
    record: &crate::routing::RouteRecord,
) -> crate::error::ApiResult<Option<String>> {
    use crate::platform::bindings::now_ms;
    let header = |n: &str| req.headers().get(n).ok().flatten();
    let Some(value) = header(affinity::VERSION_OVERRIDES) else { return Ok(None) };
    let Some(id) = affinity::version_override(&value, &record.slug).filter(|v| !v.contains('.')) else {
        return Ok(None);
    };
    let access = crate::platform::store::d1_access::D1Access::new(env)?;
    let Ok(principal) = access.authenticate(env, header("authorization").as_deref(), now_ms() as i64).await
    else {
        return Ok(None);
    };
    if principal.require_scope(crate::access::Scope::Read).is_err()
        || principal.require_project(&record.project_id, &record.project_id).is_err()
    {
        return Ok(None);
    }
    Ok(crate::routing::pin::resolve(id, &[], record, true, now_ms()))
}
