//! The `MCP_SESSION` Durable Object (SQLite class): one object per MCP session. The MCP
//! protocol itself is a later capability; today the object answers the health probe and
//! reports that MCP is not available yet.

use worker::*;

#[durable_object(fetch)]
pub struct McpSession {
    #[allow(dead_code)]
    state: State,
}

impl DurableObject for McpSession {
    fn new(state: State, _env: Env) -> Self {
        McpSession { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if req.path() == "/__health" {
            return Response::from_json(&serde_json::json!({ "ok": true }));
        }
        Ok(Response::from_json(&serde_json::json!({
            "success": false,
            "error": "not_implemented",
            "message": "MCP sessions are not available in this version",
        }))?
        .with_status(501))
    }
}
