//! The `MCP_SESSION` Durable Object (SQLite class): one object per MCP session, holding only
//! protocol bookkeeping (owner hash, negotiated version, client info, initialized, last
//! activity) under one storage key. Commands and decisions are `crate::mcp::session`'s; this
//! shell loads the record, applies the decision, and keeps the idle-expiry alarm in step.
//! Whoever wakes the object proves nothing: every command carries the owner hash it checks.

use worker::*;

use crate::mcp::session::{decide, next_alarm, SessionCommand, SessionRecord, SessionReply, SessionWrite};

const KEY: &str = "session";

/// `MCP_SESSION_TTL_MS` (default 24 h): idle sessions expire by alarm.
pub fn ttl_ms(env: &Env) -> i64 {
    super::bindings::var_or(env, "MCP_SESSION_TTL_MS", "")
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .unwrap_or(86_400_000)
}

#[durable_object(alarm)]
pub struct McpSession {
    state: State,
    env: Env,
}

impl DurableObject for McpSession {
    fn new(state: State, env: Env) -> Self {
        McpSession { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() == "/__health" {
            return Response::from_json(&serde_json::json!({ "ok": true }));
        }
        let Ok(cmd) = req.json::<SessionCommand>().await else {
            return Response::error("bad session command", 400);
        };
        let storage = self.state.storage();
        let record: Option<SessionRecord> = storage.get(KEY).await?;
        let now = Date::now().as_millis() as i64;
        let ttl = ttl_ms(&self.env);
        let (reply, write) = decide(record.as_ref(), &cmd, now, ttl);
        if let SessionWrite::Put(next) = write {
            // The record first (a terminated marker is durable before anyone hears 204), then
            // the alarm: at the idle deadline, or at once to tear a terminated session down.
            storage.put(KEY, &next).await?;
            let at = next_alarm(&next, now, ttl).unwrap_or(now + 1);
            storage.set_alarm(at).await?;
        }
        Response::from_json(&reply)
    }

    async fn alarm(&self) -> Result<Response> {
        let storage = self.state.storage();
        let record: Option<SessionRecord> = storage.get(KEY).await?;
        let now = Date::now().as_millis() as i64;
        match record.as_ref().and_then(|r| next_alarm(r, now, ttl_ms(&self.env))) {
            // Activity moved the deadline since this alarm was set.
            Some(at) => storage.set_alarm(at).await?,
            None => {
                // Expired or terminated: the alarm goes first so nothing re-creates state.
                storage.delete_alarm().await?;
                storage.delete_all().await?;
            }
        }
        Response::ok("")
    }
}

/// The caller's side of the typed protocol.
pub async fn command(env: &Env, session_id: &str, cmd: &SessionCommand) -> Result<SessionReply> {
    let ns = env.durable_object(super::bindings::MCP_SESSION)?;
    // id_from_name never throws on odd input; ids are validated before this anyway.
    let stub = ns.id_from_name(&crate::mcp::transport::object_name(session_id))?.get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(serde_json::to_string(cmd)?.into()));
    let req = Request::new_with_init("https://mcp-session/command", &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(Error::RustError(format!("session object answered {}", resp.status_code())));
    }
    resp.json::<SessionReply>().await
}
