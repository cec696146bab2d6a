//! Response helpers: JSON success bodies, the error envelope (mapped once from `ApiError`),
//! request ids and one structured JSON log line per request. No secrets are ever logged.
// Shared with the visitor-only build (`--features site`), which uses a part of it.
#![cfg_attr(feature = "site", allow(dead_code))]

use serde_json::{json, Value};
use worker::{Headers, Request, Response, Result};

use crate::domain::iso8601;
use crate::error::ApiError;
use crate::routing::{request_line, LogPolicy};

use super::bindings::{now_ms, random_bytes};

/// Per-request facts every handler needs.
pub struct RequestMeta {
    pub request_id: String,
    pub started_ms: u64,
}

impl RequestMeta {
    pub fn new(req: &Request) -> RequestMeta {
        RequestMeta { request_id: request_id(req), started_ms: now_ms() }
    }
}

/// Reuses a caller-supplied `x-request-id` when it is short and plain (tracing through
/// proxies), otherwise makes a new one.
fn request_id(req: &Request) -> String {
    if let Ok(Some(given)) = req.headers().get("x-request-id") {
        if !given.is_empty()
            && given.len() <= 64
            && given.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            return given;
        }
    }
    crate::domain::hex_lower(&random_bytes::<12>())
}

/// A binding call failed: a 500 whose detail goes to the log only (`error`).
pub fn internal(e: worker::Error) -> ApiError {
    ApiError::internal(e.to_string())
}

pub fn json(status: u16, body: &Value) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// `{"success": true, ...fields}`.
pub fn ok(status: u16, mut fields: Value) -> Result<Response> {
    if let Value::Object(m) = &mut fields {
        m.insert("success".into(), Value::Bool(true));
    }
    json(status, &fields)
}

pub fn error(err: &ApiError, meta: &RequestMeta) -> Result<Response> {
    if err.status() >= 500 {
        log("error", &meta.request_id, json!({ "error": err.code(), "detail": err.log_detail() }));
    }
    let body = err.envelope(&meta.request_id, &iso8601(now_ms()));
    let mut resp = json(err.status(), &body)?;
    for (k, v) in err.headers() {
        resp.headers_mut().set(k, &v)?;
    }
    Ok(resp)
}

/// One JSON log line. `fields` must never contain secrets or request bodies.
pub fn log(level: &str, request_id: &str, fields: Value) {
    let mut line = json!({ "level": level, "requestId": request_id, "at": iso8601(now_ms()) });
    if let (Value::Object(dst), Value::Object(src)) = (&mut line, fields) {
        dst.extend(src);
    }
    match level {
        "error" => worker::console_error!("{}", line),
        "warn" => worker::console_warn!("{}", line),
        _ => worker::console_log!("{}", line),
    }
}

thread_local! {
    /// Requests this isolate has handled: the sampling counter of [`log_request`].
    static SEQ: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The per-request line, for the requests `policy` keeps (errors, slow ones, management
/// calls, a sample of visitor traffic), written without building a JSON value.
pub fn log_request(
    policy: &LogPolicy,
    meta: &RequestMeta,
    visitor: bool,
    method: &str,
    path: &str,
    status: u16,
) {
    let now = now_ms();
    let ms = now.saturating_sub(meta.started_ms);
    let seq = SEQ.with(|c| {
        c.set(c.get().wrapping_add(1));
        c.get()
    });
    if policy.should_log(visitor, status, ms, seq) {
        let line = request_line("info", &meta.request_id, &iso8601(now), method, path, status, ms);
        worker::console_log!("{}", line);
    }
}

/// Returns the response with `x-request-id` set, copying headers when the response's own are
/// immutable (responses obtained from `fetch`).
pub fn with_request_id(resp: Response, request_id: &str) -> Result<Response> {
    let mut resp = resp;
    if resp.headers_mut().set("x-request-id", request_id).is_ok() {
        return Ok(resp);
    }
    let headers = Headers::new();
    for (k, v) in resp.headers() {
        headers.append(&k, &v)?;
    }
    headers.set("x-request-id", request_id)?;
    Ok(resp.with_headers(headers))
}
