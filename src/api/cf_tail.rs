//! `wrangler tail` unchanged (issue 29): `POST …/workers/scripts/:name/tails` opens a tail
//! session and answers `{id, url, expires_at}` with an absolute ws(s) URL carrying a short-lived,
//! single-use secret (wrangler's upgrade carries no Authorization header); `GET` on that URL is
//! the `trace-v1` WebSocket, held by the project's TailHub (src/js/main.mjs); `DELETE
//! …/tails/:id` ends it. wrangler's filters and the message shape are src/observe/tail.rs.

use serde_json::{json, Value};
use worker::{Method, Request, RequestInit, Response};

use super::{internal, query_pairs, read_body, Ctx, MAX_JSON_BODY};
use crate::access::hash_secret;
use crate::assets::encode_uri_component;
use crate::domain::{hex_lower, iso8601};
use crate::error::{ApiError, ApiResult};
use crate::observe::{parse_wrangler_filters, MAX_VIEWERS};
use crate::platform::bindings::{new_uuid, now_ms, random_bytes};
use crate::platform::jobs::tail::hub;

/// How long the socket URL may be opened (once) after the session is created.
const TICKET_MS: u64 = 60_000;
/// The `expires_at` wrangler is told (Cloudflare's tail sessions last hours).
const SESSION_MS: u64 = 6 * 3_600_000;

async fn hub_call(ctx: &Ctx<'_>, project_id: &str, path: &str, body: Value) -> ApiResult<Response> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.to_string().into()));
    let req = Request::new_with_init(&format!("https://tail-hub{path}"), &init).map_err(internal)?;
    hub(ctx.env, project_id)?.fetch_with_request(req).await.map_err(internal)
}

pub async fn create(req: &mut Request, name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = super::cf::existing(name, ctx).await?;
    let body = read_body(req, MAX_JSON_BODY).await?;
    let body: Value =
        if body.is_empty() { json!({}) } else { serde_json::from_slice(&body).map_err(ApiError::from)? };
    let filter = parse_wrangler_filters(&body)?;
    let id = new_uuid();
    let secret = hex_lower(&random_bytes::<32>());
    let now = now_ms();
    // The object keeps only the secret's SHA-256: what it compares is a hash of what the URL
    // carries, so neither storage nor the comparison's timing gives the secret away.
    let ticket = json!({
        "id": id, "secret": hash_secret(&secret), "until": now + TICKET_MS, "scriptName": name, "filter": filter,
    });
    let stored = hub_call(ctx, &project.id, "/ticket", ticket).await?;
    if stored.status_code() != 204 {
        return Err(ApiError::internal(format!("tail object answered {}", stored.status_code())));
    }
    let mut url = req.url().map_err(internal)?;
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme).map_err(|_| ApiError::internal("ws scheme"))?;
    url.set_path(&format!("{}/{id}/socket", url.path().trim_end_matches('/')));
    url.set_query(Some(&format!("secret={secret}")));
    super::cf::ok(json!({ "id": id, "url": url.to_string(), "expires_at": iso8601(now + SESSION_MS) }))
}

/// The WebSocket upgrade: the secret in the URL is the only credential, checked (and used up)
/// by the project's TailHub.
pub async fn socket(req: &Request, name: &str, id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = super::cf::existing(name, ctx).await?;
    let secret =
        query_pairs(req).into_iter().find(|(k, _)| k == "secret").map(|(_, v)| v).unwrap_or_default();
    if !req.headers().get("upgrade").ok().flatten().is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return Err(ApiError::bad("upgrade", "this URL is a WebSocket (trace-v1)"));
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(req.headers().clone());
    let url = format!(
        "https://tail-hub/socket?id={}&secret={}",
        encode_uri_component(id),
        encode_uri_component(&hash_secret(&secret))
    );
    let upgrade = Request::new_with_init(&url, &init).map_err(internal)?;
    let resp = hub(ctx.env, &project.id)?.fetch_with_request(upgrade).await.map_err(internal)?;
    match resp.status_code() {
        101 => Ok(resp),
        429 => Err(ApiError::TooManyRequests {
            retry_after_secs: 10,
            reason: format!("this Worker already has {MAX_VIEWERS} live tail viewers"),
        }),
        401 => {
            Err(ApiError::unauthorized("the tail URL is unknown, used or expired: run `wrangler tail` again"))
        }
        s => Err(ApiError::internal(format!("tail object answered {s}"))),
    }
}

pub async fn delete(name: &str, id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = super::cf::existing(name, ctx).await?;
    hub_call(ctx, &project.id, "/close", json!({ "id": id })).await?;
    super::cf::ok(Value::Null)
}
