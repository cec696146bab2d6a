//! JSON-RPC 2.0 messages as MCP Streamable HTTP carries them: exactly one message per POST
//! body (batches were removed from MCP in 2025-06-18), parsed without panicking on any input.

use serde_json::{json, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// Server-defined: a generic transport-level refusal (e.g. an unsupported protocol version).
pub const SERVER_ERROR: i64 = -32000;
/// Server-defined: the session does not exist (unknown, expired or terminated).
pub const SESSION_NOT_FOUND: i64 = -32001;
/// Server-defined: the session belongs to another principal.
pub const FORBIDDEN: i64 = -32003;

#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError { code, message: message.into() }
    }
    pub fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }
}

/// One incoming message.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Request {
        id: Value,
        method: String,
        params: Option<Value>,
    },
    Notification {
        method: String,
        params: Option<Value>,
    },
    /// A response to something we sent (we send no requests; accepted and ignored).
    Response,
}

impl Incoming {
    pub fn method(&self) -> Option<&str> {
        match self {
            Incoming::Request { method, .. } | Incoming::Notification { method, .. } => Some(method),
            Incoming::Response => None,
        }
    }
}

/// Parses a POST body. The error carries the id when one could be read (so the reply can
/// name it), else `null`.
pub fn parse_message(body: &[u8]) -> Result<Incoming, (Value, RpcError)> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| (Value::Null, RpcError::new(PARSE_ERROR, "Parse error: the body is not valid JSON")))?;
    if v.is_array() {
        return Err((
            Value::Null,
            RpcError::new(
                INVALID_REQUEST,
                "Invalid Request: send exactly one JSON-RPC message per POST (no batches)",
            ),
        ));
    }
    let Some(o) = v.as_object() else {
        return Err((
            Value::Null,
            RpcError::new(INVALID_REQUEST, "Invalid Request: a JSON-RPC message is an object"),
        ));
    };
    let id = o.get("id").cloned();
    let id_for_error = id.clone().filter(valid_id).unwrap_or(Value::Null);
    let invalid =
        |m: &str| (id_for_error.clone(), RpcError::new(INVALID_REQUEST, format!("Invalid Request: {m}")));
    if o.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("`jsonrpc` must be \"2.0\""));
    }
    let params = o.get("params").cloned();
    if let Some(p) = &params {
        if !p.is_object() && !p.is_array() {
            return Err(invalid("`params` must be an object"));
        }
    }
    match (o.get("method"), id) {
        (Some(Value::String(m)), Some(id)) if valid_id(&id) => {
            Ok(Incoming::Request { id, method: m.clone(), params })
        }
        (Some(Value::String(_)), Some(_)) => Err(invalid("`id` must be a string or a number")),
        (Some(Value::String(m)), None) => Ok(Incoming::Notification { method: m.clone(), params }),
        (Some(_), _) => Err(invalid("`method` must be a string")),
        (None, Some(_)) if o.contains_key("result") || o.contains_key("error") => Ok(Incoming::Response),
        (None, _) => Err(invalid("a request needs `method`")),
    }
}

fn valid_id(v: &Value) -> bool {
    v.is_string() || v.is_i64() || v.is_u64()
}

pub fn result(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

pub fn error(id: &Value, e: &RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": e.code, "message": e.message } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        let r = parse_message(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        assert_eq!(r, Incoming::Request { id: json!(1), method: "ping".into(), params: None });
        let n = parse_message(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert_eq!(n.method(), Some("notifications/initialized"));
        assert!(matches!(n, Incoming::Notification { .. }));
        assert_eq!(parse_message(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap(), Incoming::Response);
    }

    #[test]
    fn rejects_bad_messages_with_the_right_codes() {
        let code = |b: &[u8]| parse_message(b).unwrap_err().1.code;
        assert_eq!(code(b"{nope"), PARSE_ERROR);
        assert_eq!(code(b""), PARSE_ERROR);
        assert_eq!(code(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#), INVALID_REQUEST);
        assert_eq!(code(br#""ping""#), INVALID_REQUEST);
        assert_eq!(code(br#"{"id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1,"method":5}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#), INVALID_REQUEST);
        // The id is kept for the error reply when it is usable.
        let (id, _) = parse_message(br#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#).unwrap_err();
        assert_eq!(id, json!(7));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let table: &[u8] = b"{}[]\":,0123456789abcdefghijklmnopqrstuvwxyz-. \\\x00\xff";
        let mut x: u32 = 12345;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len % 64)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    table[(x >> 16) as usize % table.len()]
                })
                .collect();
            let _ = parse_message(&bytes);
        }
    }
}
