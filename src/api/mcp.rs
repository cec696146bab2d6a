//! `/mcp` over Streamable HTTP: CORS, the Origin guard, bearer auth, header checks, one
//! JSON-RPC message per POST, the session object per `Mcp-Session-Id`, and tool calls carried
//! out by the management API's own handlers in-process (the same validation, upload, dedupe and
//! workflow code as the HTTP flow; no second implementation). Protocol decisions, and which
//! API request each tool makes, are `crate::mcp`.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use worker::{Headers, Method, Request, RequestInit, Response};

use super::{internal, Ctx};
use crate::auth::bearer_token;
use crate::error::{ApiError, ApiResult};
use crate::mcp::jsonrpc::{
    self, parse_message, Incoming, RpcError, FORBIDDEN, INVALID_REQUEST, SERVER_ERROR, SESSION_NOT_FOUND,
};
use crate::mcp::route::{
    self, deploy_call, deploy_result, plan, upload_bucket, upload_session, ApiCall, Plan, TailWindow,
    TAIL_POLL_MS,
};
use crate::mcp::server::{client_info, dispatch, initialize_result, Dispatch};
use crate::mcp::session::{SessionCommand, SessionReply};
use crate::mcp::tools::{tool_error, tool_result, DeployArgs, ToolCall};
use crate::mcp::transport::{
    check_post_headers, check_version_header, origin_allowed, session_id_from_bytes, valid_session_id,
};
use crate::platform::bindings::{self, random_bytes};
use crate::platform::http::{self, log};
use crate::platform::mcp_session::command;
use crate::platform::store::d1_access::D1Access;

/// Inline deploys are bounded at 20 MiB of file bytes; base64 and JSON add about a third.
const MAX_MCP_BODY: usize = 32 * 1024 * 1024;

fn cors(headers: &Headers, origin: Option<&str>) -> worker::Result<()> {
    headers.set("access-control-allow-origin", origin.unwrap_or("*"))?;
    headers.set("access-control-expose-headers", "Mcp-Session-Id, WWW-Authenticate, MCP-Protocol-Version")?;
    if origin.is_some() {
        headers.set("vary", "Origin")?;
    }
    Ok(())
}

fn rpc_response(status: u16, body: &Value, origin: Option<&str>) -> ApiResult<Response> {
    let resp = http::json(status, body).map_err(internal)?;
    let headers = resp.headers().clone();
    cors(&headers, origin).map_err(internal)?;
    Ok(resp.with_headers(headers))
}

fn rpc_error(status: u16, id: &Value, e: &RpcError, origin: Option<&str>) -> ApiResult<Response> {
    rpc_response(status, &jsonrpc::error(id, e), origin)
}

fn empty(status: u16, origin: Option<&str>) -> ApiResult<Response> {
    let resp = Response::empty().map_err(internal)?.with_status(status);
    let headers = Headers::new();
    cors(&headers, origin).map_err(internal)?;
    Ok(resp.with_headers(headers))
}

/// The public origin the request came in on (for the protected-resource metadata URLs).
fn public_origin(req: &Request) -> String {
    let url = req.url().ok();
    let scheme = url.as_ref().map(|u| u.scheme().to_string()).unwrap_or_else(|| "https".into());
    let host = req.headers().get("host").ok().flatten().unwrap_or_default();
    format!("{scheme}://{host}")
}

/// RFC 9728 protected-resource metadata (`/.well-known/oauth-protected-resource[/mcp]`).
pub fn protected_resource(req: &Request) -> ApiResult<Response> {
    let origin = public_origin(req);
    let body = json!({
        "resource": format!("{origin}/mcp"),
        "authorization_servers": [],
        "bearer_methods_supported": ["header"],
        "resource_name": "Flotilla MCP",
        "resource_documentation": format!("{origin}/docs"),
    });
    rpc_response(200, &body, None)
}

pub async fn handle(mut req: Request, ctx: &Ctx<'_>, host: &str) -> ApiResult<Response> {
    let origin = req.headers().get("origin").ok().flatten();
    let domain = bindings::var_or(ctx.env, bindings::PLATFORM_DOMAIN, "localhost");
    if !origin_allowed(origin.as_deref(), host, &domain) {
        let e = RpcError::new(FORBIDDEN, "Forbidden: this Origin may not use the MCP endpoint");
        return rpc_error(403, &Value::Null, &e, None);
    }
    let origin = origin.as_deref();
    if req.method() == Method::Options {
        let resp = empty(204, origin)?;
        let h = resp.headers().clone();
        let set = |k: &str, v: &str| h.set(k, v).map_err(internal);
        set("access-control-allow-methods", "GET, POST, DELETE, OPTIONS")?;
        set(
            "access-control-allow-headers",
            "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID",
        )?;
        set("access-control-max-age", "86400")?;
        return Ok(resp.with_headers(h));
    }
    let auth = req.headers().get("authorization").ok().flatten();
    // Root or a scoped token; the tools then run through the API, which checks its scopes.
    let access = D1Access::new(ctx.env)?;
    let now = bindings::now_ms() as i64;
    if access.authenticate(ctx.env, auth.as_deref(), now).await.is_err() {
        let e = RpcError::new(SERVER_ERROR, "Unauthorized: send Authorization: Bearer <Flotilla API token>");
        let resp = rpc_error(401, &Value::Null, &e, origin)?;
        let meta = format!("{}/.well-known/oauth-protected-resource/mcp", public_origin(&req));
        let h = resp.headers().clone();
        h.set("www-authenticate", &format!("Bearer resource_metadata=\"{meta}\"")).map_err(internal)?;
        return Ok(resp.with_headers(h));
    }
    let token = bearer_token(auth.as_deref()).unwrap_or_default().to_string();
    let owner: String = crate::domain::hex_lower(&Sha256::digest(token.as_bytes()));
    let session = req.headers().get("mcp-session-id").ok().flatten();
    match req.method() {
        Method::Post => {}
        Method::Delete => return terminate(ctx, session.as_deref(), &owner, origin).await,
        Method::Get => {
            // No server-initiated stream: every response comes back on its POST.
            let resp = empty(405, origin)?;
            resp.headers().set("allow", "POST, DELETE, OPTIONS").map_err(internal)?;
            return Ok(resp);
        }
        _ => {
            let resp = empty(405, origin)?;
            resp.headers().set("allow", "GET, POST, DELETE, OPTIONS").map_err(internal)?;
            return Ok(resp);
        }
    }
    let h = |k: &str| req.headers().get(k).ok().flatten();
    if let Err((status, e)) = check_post_headers(h("accept").as_deref(), h("content-type").as_deref()) {
        return rpc_error(status, &Value::Null, &e, origin);
    }
    let version_header = h("mcp-protocol-version");
    let body = super::read_body(&mut req, MAX_MCP_BODY).await?;
    let msg = match parse_message(&body) {
        Ok(m) => m,
        Err((id, e)) => return rpc_error(400, &id, &e, origin),
    };
    if let Incoming::Request { id, method, params } = &msg {
        if method == "initialize" {
            if session.is_some() {
                let e = RpcError::new(
                    INVALID_REQUEST,
                    "Bad Request: initialize must not carry an Mcp-Session-Id",
                );
                return rpc_error(400, id, &e, origin);
            }
            return initialize(ctx, id, params.as_ref(), &owner, origin).await;
        }
    }
    if let Err(e) = check_version_header(version_header.as_deref()) {
        return rpc_error(400, &Value::Null, &e, origin);
    }
    let id_of = |m: &Incoming| match m {
        Incoming::Request { id, .. } => id.clone(),
        _ => Value::Null,
    };
    let Some(session) = session else {
        let e =
            RpcError::new(SERVER_ERROR, "Bad Request: Mcp-Session-Id header is required (initialize first)");
        return rpc_error(400, &id_of(&msg), &e, origin);
    };
    let initialized = msg.method() == Some("notifications/initialized");
    match use_session(ctx, &session, &owner, initialized).await? {
        SessionReply::Ok { .. } => {}
        SessionReply::Forbidden => {
            let e = RpcError::new(FORBIDDEN, "Forbidden: this session belongs to another principal");
            return rpc_error(403, &id_of(&msg), &e, origin);
        }
        _ => {
            let e = RpcError::new(
                SESSION_NOT_FOUND,
                "Session not found: it expired or was terminated; initialize again",
            );
            return rpc_error(404, &id_of(&msg), &e, origin);
        }
    }
    let Incoming::Request { id, method, params } = msg else {
        return empty(202, origin); // notifications and responses
    };
    let result = match dispatch(&method, params.as_ref()) {
        Dispatch::Reply(v) => v,
        Dispatch::Error(e) => return rpc_error(200, &id, &e, origin),
        Dispatch::ToolError(message) => tool_error(&message),
        Dispatch::Call(call) => run_tool(ctx, &token, *call).await,
    };
    let resp = rpc_response(200, &jsonrpc::result(&id, result), origin)?;
    resp.headers().set("mcp-session-id", &session).map_err(internal)?;
    Ok(resp)
}

async fn use_session(
    ctx: &Ctx<'_>,
    session: &str,
    owner: &str,
    initialized: bool,
) -> ApiResult<SessionReply> {
    if !valid_session_id(session) {
        return Ok(SessionReply::NotFound); // never reaches an object
    }
    let cmd = SessionCommand::Use { owner: owner.to_string(), initialized };
    command(ctx.env, session, &cmd).await.map_err(internal)
}

async fn initialize(
    ctx: &Ctx<'_>,
    id: &Value,
    params: Option<&Value>,
    owner: &str,
    origin: Option<&str>,
) -> ApiResult<Response> {
    let (version, result) = initialize_result(params);
    let session = session_id_from_bytes(&random_bytes::<32>());
    let client_info = match client_info(params) {
        Ok(info) => info,
        Err(e) => return rpc_error(400, id, &e, origin),
    };
    let cmd = SessionCommand::Create { owner: owner.to_string(), protocol_version: version, client_info };
    match command(ctx.env, &session, &cmd).await.map_err(internal)? {
        SessionReply::Ok { .. } => {}
        other => return Err(ApiError::internal(format!("session create answered {other:?}"))),
    }
    let resp = rpc_response(200, &jsonrpc::result(id, result), origin)?;
    resp.headers().set("mcp-session-id", &session).map_err(internal)?;
    Ok(resp)
}

async fn terminate(
    ctx: &Ctx<'_>,
    session: Option<&str>,
    owner: &str,
    origin: Option<&str>,
) -> ApiResult<Response> {
    let Some(session) = session else {
        let e = RpcError::new(SERVER_ERROR, "Bad Request: Mcp-Session-Id header is required");
        return rpc_error(400, &Value::Null, &e, origin);
    };
    let reply = if valid_session_id(session) {
        command(ctx.env, session, &SessionCommand::Terminate { owner: owner.to_string() })
            .await
            .map_err(internal)?
    } else {
        SessionReply::NotFound
    };
    match reply {
        SessionReply::Ok { .. } => empty(204, origin),
        SessionReply::Forbidden => rpc_error(
            403,
            &Value::Null,
            &RpcError::new(FORBIDDEN, "Forbidden: another principal's session"),
            origin,
        ),
        _ => rpc_error(404, &Value::Null, &RpcError::new(SESSION_NOT_FOUND, "Session not found"), origin),
    }
}

/// One in-process call to the management API, authenticated as the MCP caller.
struct Api<'a, 'b> {
    ctx: &'a Ctx<'b>,
    auth: String,
}

impl Api<'_, '_> {
    async fn raw(&self, call: &ApiCall) -> ApiResult<Response> {
        let headers = Headers::new();
        headers.set("authorization", &self.auth).map_err(internal)?;
        headers.set("content-type", "application/json").map_err(internal)?;
        if call.prefer_async {
            headers.set("prefer", "respond-async").map_err(internal)?;
        }
        let method = match call.method {
            route::Method::Get => Method::Get,
            route::Method::Post => Method::Post,
            route::Method::Put => Method::Put,
            route::Method::Delete => Method::Delete,
            route::Method::Patch => Method::Patch,
        };
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers);
        if let Some(b) = &call.body {
            init.with_body(Some(b.to_string().into()));
        }
        let url = format!("https://mcp.internal/__api{}{}", call.path, call.query);
        let req = Request::new_with_init(&url, &init).map_err(internal)?;
        super::handle(req, self.ctx, &call.path).await
    }

    async fn json(&self, call: &ApiCall) -> ApiResult<Value> {
        let mut resp = self.raw(call).await?;
        let mut v: Value = resp.json().await.map_err(internal)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("success");
        }
        Ok(v)
    }
}

async fn run_tool(ctx: &Ctx<'_>, token: &str, call: ToolCall) -> Value {
    let api = Api { ctx, auth: format!("Bearer {token}") };
    match call_tool(&api, call).await {
        Ok(v) => tool_result(v),
        Err(e) => {
            if e.status() >= 500 {
                log(
                    "error",
                    &ctx.meta.request_id,
                    json!({ "msg": "mcp tool failed", "detail": e.log_detail() }),
                );
            }
            let mut message = e.message();
            if let ApiError::BadRequest { field, .. } = &e {
                message = format!("{message} (field `{field}`)");
            }
            tool_error(&format!("{message} [{}]", e.code()))
        }
    }
}

async fn call_tool(api: &Api<'_, '_>, call: ToolCall) -> ApiResult<Value> {
    match plan(call)? {
        Plan::Json(call) => api.json(&call).await,
        Plan::Logs(call) => {
            let mut resp = api.raw(&call).await?;
            let next = resp.headers().get("x-next-cursor").ok().flatten().and_then(|c| c.parse::<i64>().ok());
            let text = resp.text().await.map_err(internal)?;
            let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
            Ok(json!({ "lines": lines, "nextCursor": next }))
        }
        Plan::Tail { call, seconds, max } => tail(api, call, seconds, max).await,
        Plan::Deploy(args) => deploy(api, args).await,
    }
}

/// `tail_logs`: the kept runs stored since the window opened, polled until it closes (the
/// capture stores each run right after its response, so a poll after the end sees the last).
async fn tail(api: &Api<'_, '_>, mut call: ApiCall, seconds: u32, max: usize) -> ApiResult<Value> {
    let start = bindings::now_ms();
    let end = start + u64::from(seconds) * 1000;
    call.query.push_str(&format!("&from={start}"));
    let mut window = TailWindow::default();
    let project_id = loop {
        let now = bindings::now_ms();
        let wait = TAIL_POLL_MS.min(end.saturating_sub(now));
        if wait > 0 {
            worker::Delay::from(std::time::Duration::from_millis(wait)).await;
        }
        let page = api.json(&call).await?;
        window.add_page(page["logs"].as_array().map(Vec::as_slice).unwrap_or_default(), max);
        if window.full(max) || bindings::now_ms() >= end {
            break page["projectId"].clone();
        }
    };
    let truncated = window.truncated;
    let logs = window.into_runs();
    Ok(
        json!({ "projectId": project_id, "seconds": seconds, "count": logs.len(), "logs": logs, "truncated": truncated }),
    )
}

/// The three-phase upload and the deploy, exactly as an HTTP client would run them (each
/// request built by `crate::mcp::route`).
async fn deploy(api: &Api<'_, '_>, args: DeployArgs) -> ApiResult<Value> {
    let (manifest, bodies) = args.manifest();
    let session = api.json(&upload_session(&args.project, manifest)?).await?;
    let mut completion = session["result"]["jwt"].as_str().unwrap_or_default().to_string();
    let upload_auth = format!("Bearer {completion}");
    let buckets = session["result"]["buckets"].as_array().cloned().unwrap_or_default();
    // Files over 25 MiB go raw (the CLI); MCP requests cannot carry them anyway.
    if session["result"]["rawUploads"].as_array().is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::PayloadTooLarge {
            what: "File size in bytes (MCP uploads)".into(),
            limit: crate::deploy::KV_MAX_FILE_BYTES,
        });
    }
    let uploader = Api { ctx: api.ctx, auth: upload_auth };
    for bucket in &buckets {
        let r = uploader.json(&upload_bucket(&args.project, bucket, &bodies)?).await?;
        if let Some(jwt) = r["result"]["jwt"].as_str() {
            completion = jwt.to_string();
        }
    }
    let mut resp = api.raw(&deploy_call(&args, &completion)?).await?;
    let v: Value = resp.json().await.map_err(internal)?;
    Ok(deploy_result(&v))
}
