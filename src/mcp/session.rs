//! The `McpSession` Durable Object's protocol, shared by caller and object (daphne-style): typed
//! commands and replies, and the pure decision over the stored record. The object keeps only
//! protocol bookkeeping; tools are stateless.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    /// SHA-256 (hex) of the credential that opened the session.
    pub owner: String,
    pub protocol_version: String,
    #[serde(default)]
    pub client_info: Value,
    pub initialized: bool,
    pub created_at: i64,
    pub last_activity: i64,
    /// Set by DELETE before the alarm tears the object down.
    #[serde(default)]
    pub terminated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum SessionCommand {
    Create {
        owner: String,
        protocol_version: String,
        client_info: Value,
    },
    /// Any later request: check ownership and liveness, note activity.
    Use {
        owner: String,
        initialized: bool,
    },
    Terminate {
        owner: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum SessionReply {
    Ok {
        protocol_version: String,
    },
    /// Unknown, expired or terminated (HTTP 404, -32001).
    NotFound,
    /// Another principal's session (HTTP 403, -32003).
    Forbidden,
    /// Create on an object that already holds a session (ids are random: never expected).
    Conflict,
}

/// What the object must write after a command.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionWrite {
    None,
    Put(SessionRecord),
}

/// How often `last_activity` is persisted at most (saves a write per request).
pub const ACTIVITY_RESOLUTION_MS: i64 = 60_000;

pub fn is_live(r: &SessionRecord, now: i64, ttl_ms: i64) -> bool {
    !r.terminated && now < r.last_activity + ttl_ms
}

/// Decides a command against the stored record. Unknown sessions are answered without any
/// write, so probing ids costs the platform nothing.
pub fn decide(
    record: Option<&SessionRecord>,
    cmd: &SessionCommand,
    now: i64,
    ttl_ms: i64,
) -> (SessionReply, SessionWrite) {
    match cmd {
        SessionCommand::Create { owner, protocol_version, client_info } => match record {
            Some(_) => (SessionReply::Conflict, SessionWrite::None),
            None => (
                SessionReply::Ok { protocol_version: protocol_version.clone() },
                SessionWrite::Put(SessionRecord {
                    owner: owner.clone(),
                    protocol_version: protocol_version.clone(),
                    client_info: client_info.clone(),
                    initialized: false,
                    created_at: now,
                    last_activity: now,
                    terminated: false,
                }),
            ),
        },
        SessionCommand::Use { owner, initialized } => match record {
            Some(r) if is_live(r, now, ttl_ms) => {
                if !crate::domain::constant_time_eq(r.owner.as_bytes(), owner.as_bytes()) {
                    return (SessionReply::Forbidden, SessionWrite::None);
                }
                let reply = SessionReply::Ok { protocol_version: r.protocol_version.clone() };
                let stale = now - r.last_activity >= ACTIVITY_RESOLUTION_MS;
                if stale || (*initialized && !r.initialized) {
                    let mut next = r.clone();
                    next.last_activity = now;
                    next.initialized |= *initialized;
                    (reply, SessionWrite::Put(next))
                } else {
                    (reply, SessionWrite::None)
                }
            }
            _ => (SessionReply::NotFound, SessionWrite::None),
        },
        SessionCommand::Terminate { owner } => match record {
            Some(r) if is_live(r, now, ttl_ms) => {
                if !crate::domain::constant_time_eq(r.owner.as_bytes(), owner.as_bytes()) {
                    return (SessionReply::Forbidden, SessionWrite::None);
                }
                let mut next = r.clone();
                next.terminated = true;
                (SessionReply::Ok { protocol_version: r.protocol_version.clone() }, SessionWrite::Put(next))
            }
            _ => (SessionReply::NotFound, SessionWrite::None),
        },
    }
}

/// When the object's alarm should fire next (idle expiry), or `None` to tear down now.
pub fn next_alarm(r: &SessionRecord, now: i64, ttl_ms: i64) -> Option<i64> {
    if is_live(r, now, ttl_ms) {
        Some(r.last_activity + ttl_ms)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TTL: i64 = 1_000_000;

    fn created() -> SessionRecord {
        let cmd = SessionCommand::Create {
            owner: "a".into(),
            protocol_version: "2025-11-25".into(),
            client_info: json!({}),
        };
        match decide(None, &cmd, 10, TTL) {
            (SessionReply::Ok { .. }, SessionWrite::Put(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lifecycle_of_a_session() {
        let r = created();
        let use_ = |owner: &str, init: bool| SessionCommand::Use { owner: owner.into(), initialized: init };
        // Same owner: ok; the initialized notification is persisted once.
        let (reply, write) = decide(Some(&r), &use_("a", true), 20, TTL);
        assert_eq!(reply, SessionReply::Ok { protocol_version: "2025-11-25".into() });
        let SessionWrite::Put(r2) = write else { panic!() };
        assert!(r2.initialized);
        assert_eq!(
            decide(Some(&r2), &use_("a", false), 30, TTL).1,
            SessionWrite::None,
            "no write per request"
        );
        // Another principal: forbidden, nothing written.
        assert_eq!(
            decide(Some(&r2), &use_("b", false), 30, TTL),
            (SessionReply::Forbidden, SessionWrite::None)
        );
        // Idle past the TTL: gone.
        assert_eq!(decide(Some(&r2), &use_("a", false), 20 + TTL, TTL).0, SessionReply::NotFound);
        // Terminate, then every use is 404.
        let (_, SessionWrite::Put(t)) =
            decide(Some(&r2), &SessionCommand::Terminate { owner: "a".into() }, 40, TTL)
        else {
            panic!()
        };
        assert_eq!(decide(Some(&t), &use_("a", false), 41, TTL).0, SessionReply::NotFound);
        assert_eq!(next_alarm(&t, 41, TTL), None, "the alarm tears it down");
        assert_eq!(next_alarm(&r2, 41, TTL), Some(20 + TTL));
    }

    #[test]
    fn unknown_sessions_are_answered_without_writes() {
        for cmd in [
            SessionCommand::Use { owner: "a".into(), initialized: false },
            SessionCommand::Terminate { owner: "a".into() },
        ] {
            assert_eq!(decide(None, &cmd, 1, TTL), (SessionReply::NotFound, SessionWrite::None));
        }
        let r = created();
        let again = SessionCommand::Create {
            owner: "a".into(),
            protocol_version: "x".into(),
            client_info: json!(null),
        };
        assert_eq!(decide(Some(&r), &again, 1, TTL), (SessionReply::Conflict, SessionWrite::None));
    }

    #[test]
    fn wire_format_round_trips() {
        let cmd = SessionCommand::Use { owner: "a".into(), initialized: true };
        let text = serde_json::to_string(&cmd).unwrap();
        assert_eq!(serde_json::from_str::<SessionCommand>(&text).unwrap(), cmd);
        let reply: SessionReply = serde_json::from_str(r#"{"status":"notFound"}"#).unwrap();
        assert_eq!(reply, SessionReply::NotFound);
    }
}
