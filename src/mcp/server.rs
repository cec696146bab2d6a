//! MCP method dispatch (pure): what each request means. `initialize` and `tools/call` need the
//! binding layer (a session object, the platform API); everything else is answered here.

use serde_json::{json, Value};

use super::jsonrpc::{RpcError, METHOD_NOT_FOUND};
use super::tools::{parse_tool_call, tool_list, ToolCall};
use super::transport::negotiate;

/// What a request (other than `initialize`) comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Dispatch {
    Reply(Value),
    Error(RpcError),
    /// Carry out this tool call and wrap its outcome with `tools::tool_result`/`tool_error`.
    Call(Box<ToolCall>),
    /// The arguments parsed but an operation-level check failed (`isError` result).
    ToolError(String),
}

pub fn dispatch(method: &str, params: Option<&Value>) -> Dispatch {
    match method {
        "ping" => Dispatch::Reply(json!({})),
        "tools/list" => Dispatch::Reply(tool_list()),
        "tools/call" => match parse_tool_call(params) {
            Ok(Ok(call)) => Dispatch::Call(Box::new(call)),
            Ok(Err(message)) => Dispatch::ToolError(message),
            Err(e) => Dispatch::Error(e),
        },
        "initialize" => Dispatch::Error(RpcError::new(
            super::jsonrpc::INVALID_REQUEST,
            "Invalid Request: initialize must not carry an Mcp-Session-Id",
        )),
        other => Dispatch::Error(RpcError::new(METHOD_NOT_FOUND, format!("Method not found: {other}"))),
    }
}

/// The `initialize` result for the negotiated version.
pub fn initialize_result(params: Option<&Value>) -> (String, Value) {
    let requested = params.and_then(|p| p.get("protocolVersion")).and_then(Value::as_str);
    let version = negotiate(requested).to_string();
    let result = json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "flotilla", "title": "Flotilla", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "Flotilla deploys static sites and server code. Typical flow: create_project, then deploy \
                         with inline files (it waits for the workflow and returns the URL), get_deployment or \
                         get_deployment_logs to inspect, rollback to undo.",
    });
    (version, result)
}

/// Longest `clientInfo.name`, `.title` and `.version` an `initialize` may send (characters).
/// The session object stores them; real clients send a few dozen.
pub const CLIENT_INFO_MAX_CHARS: usize = 256;

/// The `clientInfo` of an `initialize` as the session keeps it: `name`, `title` and `version`,
/// each a string of at most [`CLIENT_INFO_MAX_CHARS`] characters (other members, such as
/// `icons` or `websiteUrl`, are not kept). Absent is `null`; anything else is -32602 naming the
/// member and the limit, and no session is created.
pub fn client_info(params: Option<&Value>) -> Result<Value, RpcError> {
    let Some(info) = params.and_then(|p| p.get("clientInfo")).filter(|v| !v.is_null()) else {
        return Ok(Value::Null);
    };
    let info =
        info.as_object().ok_or_else(|| RpcError::invalid_params("params.clientInfo must be an object"))?;
    let mut kept = serde_json::Map::new();
    for key in ["name", "title", "version"] {
        match info.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.chars().count() <= CLIENT_INFO_MAX_CHARS => {
                kept.insert(key.into(), Value::String(s.clone()));
            }
            Some(Value::String(_)) => {
                return Err(RpcError::invalid_params(format!(
                    "params.clientInfo.{key} must be at most {CLIENT_INFO_MAX_CHARS} characters"
                )))
            }
            Some(_) => {
                return Err(RpcError::invalid_params(format!("params.clientInfo.{key} must be a string")))
            }
        }
    }
    Ok(Value::Object(kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_info_is_capped() {
        let of = |info: Value| client_info(Some(&json!({ "clientInfo": info })));
        assert_eq!(client_info(None), Ok(Value::Null));
        assert_eq!(client_info(Some(&json!({}))), Ok(Value::Null));
        assert_eq!(of(Value::Null), Ok(Value::Null));
        let official = json!({ "name": "claude-code", "version": "2.1.0", "title": "Claude Code",
                                "icons": [{ "src": "data:image/png;base64,AAAA" }], "websiteUrl": "https://x" });
        assert_eq!(
            of(official),
            Ok(json!({ "name": "claude-code", "title": "Claude Code", "version": "2.1.0" }))
        );
        let at = "é".repeat(CLIENT_INFO_MAX_CHARS);
        assert_eq!(of(json!({ "name": at, "version": "1" })), Ok(json!({ "name": at, "version": "1" })));
        let over = "x".repeat(CLIENT_INFO_MAX_CHARS + 1);
        for (info, message) in [
            (
                json!({ "name": over, "version": "1" }),
                "params.clientInfo.name must be at most 256 characters",
            ),
            (
                json!({ "name": "c", "version": over }),
                "params.clientInfo.version must be at most 256 characters",
            ),
            (json!({ "name": "c", "title": over }), "params.clientInfo.title must be at most 256 characters"),
            (json!({ "name": 5 }), "params.clientInfo.name must be a string"),
            (json!("client"), "params.clientInfo must be an object"),
        ] {
            let e = of(info).unwrap_err();
            assert_eq!((e.code, e.message.as_str()), (super::super::jsonrpc::INVALID_PARAMS, message));
        }
    }

    #[test]
    fn dispatch_table() {
        assert_eq!(dispatch("ping", None), Dispatch::Reply(json!({})));
        assert!(matches!(dispatch("tools/list", None), Dispatch::Reply(v) if v["tools"].is_array()));
        assert!(matches!(dispatch("nope", None), Dispatch::Error(e) if e.code == METHOD_NOT_FOUND));
        assert!(matches!(dispatch("tools/call", None), Dispatch::Error(e) if e.code == -32602));
        let call = json!({ "name": "get_project", "arguments": { "project": "x" } });
        assert!(matches!(dispatch("tools/call", Some(&call)), Dispatch::Call(_)));
        let bad_file = json!({ "name": "deploy", "arguments": { "project": "x", "files": { "/a": { "base64": "%%" } } } });
        assert!(matches!(dispatch("tools/call", Some(&bad_file)), Dispatch::ToolError(_)));
    }

    #[test]
    fn initialize_negotiates() {
        let (v, r) = initialize_result(Some(&json!({ "protocolVersion": "2025-06-18" })));
        assert_eq!(v, "2025-06-18");
        assert_eq!(r["protocolVersion"], "2025-06-18");
        assert_eq!(r["capabilities"]["tools"]["listChanged"], false);
        assert_eq!(initialize_result(Some(&json!({ "protocolVersion": "1999-01-01" }))).0, "2025-11-25");
    }
}
