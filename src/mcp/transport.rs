//! Streamable HTTP transport rules (pure): protocol version negotiation, the POST header checks,
//! the `Origin` (DNS-rebinding) guard and the shape of session ids.

use super::jsonrpc::{RpcError, INVALID_REQUEST, SERVER_ERROR};

pub const LATEST_VERSION: &str = "2025-11-25";
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// `initialize`: echo a supported requested version, else offer the latest.
pub fn negotiate(requested: Option<&str>) -> &'static str {
    SUPPORTED_VERSIONS.into_iter().find(|v| Some(*v) == requested).unwrap_or(LATEST_VERSION)
}

/// A later request's `MCP-Protocol-Version` header: absent is fine (the session's version
/// applies); present must be supported.
pub fn check_version_header(header: Option<&str>) -> Result<(), RpcError> {
    match header.map(str::trim) {
        None | Some("") => Ok(()),
        Some(v) if SUPPORTED_VERSIONS.contains(&v) => Ok(()),
        Some(v) => Err(RpcError::new(
            SERVER_ERROR,
            format!(
                "Bad Request: unsupported MCP-Protocol-Version {v}; supported: {}",
                SUPPORTED_VERSIONS.join(", ")
            ),
        )),
    }
}

/// Why a POST is refused before its body is read: (HTTP status, JSON-RPC error).
pub fn check_post_headers(accept: Option<&str>, content_type: Option<&str>) -> Result<(), (u16, RpcError)> {
    let ct = content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if ct != "application/json" {
        return Err((
            415,
            RpcError::new(INVALID_REQUEST, "Unsupported Media Type: Content-Type must be application/json"),
        ));
    }
    let accept = accept.unwrap_or("").to_ascii_lowercase();
    let lists = |t: &str| accept.split(',').any(|part| part.split(';').next().unwrap_or("").trim() == t);
    let wildcard = lists("*/*");
    if !(wildcard || (lists("application/json") && lists("text/event-stream"))) {
        return Err((
            406,
            RpcError::new(
                INVALID_REQUEST,
                "Not Acceptable: Accept must list application/json and text/event-stream",
            ),
        ));
    }
    Ok(())
}

fn host_of(origin: &str) -> Option<String> {
    let rest = origin.split_once("://")?.1;
    let authority = rest.split('/').next().unwrap_or(rest);
    Some(crate::routing::normalize_host(authority))
}

/// DNS-rebinding guard: an `Origin` that is present must name the host the request was sent
/// to, the platform domain, or a loopback name; absent is allowed (non-browser clients).
pub fn origin_allowed(origin: Option<&str>, request_host: &str, platform_domain: &str) -> bool {
    let Some(origin) = origin.map(str::trim).filter(|o| !o.is_empty()) else { return true };
    let Some(host) = host_of(origin) else { return false };
    let request_host = crate::routing::normalize_host(request_host);
    let loopback = |h: &str| matches!(h, "localhost" | "127.0.0.1" | "[::1]");
    host == request_host
        || host == platform_domain.to_ascii_lowercase()
        || (loopback(&host) && loopback(&request_host))
}

/// Session ids are 64 lowercase hex characters (32 random bytes): visible ASCII, and cheap to
/// reject before any Durable Object is touched.
pub fn valid_session_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

pub fn session_id_from_bytes(bytes: &[u8; 32]) -> String {
    crate::domain::hex_lower(bytes)
}

/// The Durable Object name for a session (a prefix keeps the namespace ours alone).
pub fn object_name(session_id: &str) -> String {
    format!("mcp-session:{session_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("2025-03-26")), "2025-03-26");
        assert_eq!(negotiate(Some("2024-11-05")), LATEST_VERSION);
        assert_eq!(negotiate(Some("2026-07-28")), LATEST_VERSION);
        assert_eq!(negotiate(None), LATEST_VERSION);
        assert!(check_version_header(None).is_ok());
        assert!(check_version_header(Some("2025-06-18")).is_ok());
        assert_eq!(check_version_header(Some("2026-07-28")).unwrap_err().code, SERVER_ERROR);
    }

    #[test]
    fn post_headers() {
        let both = Some("application/json, text/event-stream");
        assert!(check_post_headers(both, Some("application/json")).is_ok());
        assert!(check_post_headers(both, Some("application/json; charset=utf-8")).is_ok());
        assert!(check_post_headers(Some("*/*"), Some("application/json")).is_ok());
        assert_eq!(
            check_post_headers(Some("application/json"), Some("application/json")).unwrap_err().0,
            406
        );
        assert_eq!(check_post_headers(None, Some("application/json")).unwrap_err().0, 406);
        assert_eq!(check_post_headers(both, Some("text/plain")).unwrap_err().0, 415);
        assert_eq!(check_post_headers(both, None).unwrap_err().0, 415);
    }

    #[test]
    fn origins() {
        assert!(origin_allowed(None, "127.0.0.1:8787", "localhost"));
        assert!(origin_allowed(Some("http://127.0.0.1:8787"), "127.0.0.1:8787", "localhost"));
        assert!(origin_allowed(Some("http://localhost:3000"), "127.0.0.1:8787", "localhost"));
        assert!(origin_allowed(Some("https://example.dev"), "example.dev", "example.dev"));
        assert!(!origin_allowed(Some("http://evil.example"), "127.0.0.1:8787", "localhost"));
        assert!(!origin_allowed(Some("https://evil.example"), "example.dev", "example.dev"));
        assert!(!origin_allowed(Some("null"), "127.0.0.1:8787", "localhost"));
        assert!(!origin_allowed(Some("http://localhost.evil.example"), "127.0.0.1", "localhost"));
    }

    #[test]
    fn session_ids() {
        let id = session_id_from_bytes(&[0xab; 32]);
        assert!(valid_session_id(&id));
        assert!(!valid_session_id("abc"));
        assert!(!valid_session_id(&id.to_uppercase()));
        assert!(!valid_session_id(&format!("{}g", &id[..63])));
        assert_eq!(object_name("x"), "mcp-session:x");
    }
}
