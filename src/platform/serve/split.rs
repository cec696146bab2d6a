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
    let fresh = || random_bytes::<8>().iter().map(|b| format!("{b:02x}")).collect();
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
