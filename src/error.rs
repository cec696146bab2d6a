//! The one API error type and its mapping to SPEC.md §3's JSON envelope. Every layer's error
//! converts into `ApiError`; this is the only place that decides status codes and wire codes.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// Bad input: `field` names what was wrong (`"body"` for unparseable JSON).
    BadRequest {
        field: String,
        reason: String,
    },
    Unauthorized {
        reason: String,
    },
    Forbidden {
        reason: String,
    },
    NotFound {
        what: String,
    },
    MethodNotAllowed {
        allowed: &'static str,
    },
    Conflict {
        reason: String,
    },
    /// A request the resource's current state forbids (409), with its own stable machine code
    /// (e.g. `deployment_failed`, `deployment_expired`) so clients can tell the cases apart.
    State {
        code: &'static str,
        reason: String,
    },
    PayloadTooLarge {
        what: String,
        limit: u64,
    },
    Unprocessable {
        reason: String,
        details: Option<Value>,
    },
    /// A quota or rate limit; `reason` names the limit and its value.
    TooManyRequests {
        retry_after_secs: u32,
        reason: String,
    },
    /// A passing state on our side (e.g. GC deleting the very body being uploaded): 503 with
    /// `Retry-After`, which clients (wrangler included) retry.
    Busy {
        retry_after_secs: u32,
        reason: String,
    },
    /// Something on our side failed. `detail` is logged with the request id, never sent.
    Internal {
        detail: String,
    },
    /// A dependency (binding) is unavailable.
    Unavailable {
        detail: String,
    },
    /// An outside service the request needed (the DNS resolver, the Cloudflare API) failed or
    /// answered nonsense (502). `service` names it for the user; `detail` is only logged.
    Upstream {
        service: &'static str,
        detail: String,
    },
    /// Rules (`_redirects`, `_headers`, or their config forms) with invalid lines.
    InvalidRules {
        field: String,
        errors: Vec<(usize, String)>,
    },
    /// A surface this version does not provide yet.
    NotImplemented {
        what: String,
    },
}

impl ApiError {
    pub fn bad(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::BadRequest { field: field.into(), reason: reason.into() }
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound { what: what.into() }
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        ApiError::Internal { detail: detail.into() }
    }
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        ApiError::Unauthorized { reason: reason.into() }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } | ApiError::InvalidRules { .. } => 400,
            ApiError::Unauthorized { .. } => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict { .. } | ApiError::State { .. } => 409,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::Unprocessable { .. } => 422,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::Internal { .. } => 500,
            ApiError::Unavailable { .. } | ApiError::Busy { .. } => 503,
            ApiError::Upstream { .. } => 502,
            ApiError::NotImplemented { .. } => 501,
        }
    }

    /// Stable machine-readable code clients can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } | ApiError::InvalidRules { .. } => "bad_request",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound { .. } => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict { .. } => "conflict",
            ApiError::State { code, .. } => code,
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Unprocessable { .. } => "unprocessable",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Internal { .. } => "internal_error",
            ApiError::Unavailable { .. } => "service_unavailable",
            ApiError::Busy { .. } => "busy",
            ApiError::Upstream { .. } => "upstream_error",
            ApiError::NotImplemented { .. } => "not_implemented",
        }
    }

    /// The human sentence. Internal details never appear here.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest { field, reason } => format!("Invalid `{field}`: {reason}"),
            ApiError::InvalidRules { field, errors } => {
                let lines: Vec<String> = errors.iter().map(|(l, m)| format!("line {l}: {m}")).collect();
                format!("Invalid `{field}`: {}", lines.join("; "))
            }
            ApiError::Unauthorized { reason } => reason.clone(),
            ApiError::Forbidden { reason } => reason.clone(),
            ApiError::NotFound { what } => format!("{what} not found"),
            ApiError::MethodNotAllowed { allowed } => {
                format!("Method not allowed here; allowed: {allowed}")
            }
            ApiError::Conflict { reason } | ApiError::State { reason, .. } => reason.clone(),
            ApiError::PayloadTooLarge { what, limit } => {
                format!("{what} exceeds the limit of {limit}")
            }
            ApiError::Unprocessable { reason, .. } => reason.clone(),
            ApiError::TooManyRequests { retry_after_secs, reason }
            | ApiError::Busy { retry_after_secs, reason } => {
                format!("{reason}; retry after {retry_after_secs} s")
            }
            ApiError::Internal { .. } => "An internal error occurred".into(),
            ApiError::Unavailable { .. } => "A platform dependency is unavailable".into(),
            ApiError::Upstream { service, .. } => {
                format!("Could not get a usable answer from {service}; try again later")
            }
            ApiError::NotImplemented { what } => format!("{what} is not available in this version"),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::BadRequest { field, reason } => Some(json!({ "field": field, "reason": reason })),
            ApiError::PayloadTooLarge { what, limit } => Some(json!({ "what": what, "limit": limit })),
            ApiError::InvalidRules { field, errors } => Some(json!({
                "field": field,
                "reason": "invalid rules",
                "errors": errors.iter().map(|(l, m)| json!({ "line": l, "message": m })).collect::<Vec<_>>(),
            })),
            ApiError::Unprocessable { details, .. } => details.clone(),
            ApiError::MethodNotAllowed { allowed } => Some(json!({ "allowed": allowed })),
            _ => None,
        }
    }

    /// Extra response headers this error requires (e.g. `Retry-After`, `Allow`).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            ApiError::TooManyRequests { retry_after_secs, .. } | ApiError::Busy { retry_after_secs, .. } => {
                vec![("retry-after", retry_after_secs.to_string())]
            }
            ApiError::MethodNotAllowed { allowed } => vec![("allow", (*allowed).to_string())],
            ApiError::Unauthorized { .. } => vec![("www-authenticate", "Bearer".into())],
            _ => vec![],
        }
    }

    /// What goes to the log (may include internal detail; never secrets by construction).
    pub fn log_detail(&self) -> String {
        match self {
            ApiError::Internal { detail } | ApiError::Unavailable { detail } => detail.clone(),
            ApiError::Upstream { service, detail } => format!("{service}: {detail}"),
            other => other.message(),
        }
    }

    /// The JSON envelope of SPEC.md §3.
    pub fn envelope(&self, request_id: &str, timestamp: &str) -> Value {
        let mut body = json!({
            "success": false,
            "error": self.code(),
            "message": self.message(),
            "requestId": request_id,
            "timestamp": timestamp,
        });
        if let Some(d) = self.details() {
            body["details"] = d;
        }
        body
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::bad("body", format!("malformed JSON: {e}"))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
impl ApiError {
    /// The field a `BadRequest` names (tests assert on it); panics on other variants.
    pub fn field(&self) -> String {
        match self {
            ApiError::BadRequest { field, .. } => field.clone(),
            other => panic!("expected a BadRequest, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_status_and_code() {
        let cases = [
            (ApiError::bad("name", "too long"), 400, "bad_request"),
            (
                ApiError::InvalidRules { field: "_redirects".into(), errors: vec![(3, "bad".into())] },
                400,
                "bad_request",
            ),
            (ApiError::unauthorized("x"), 401, "unauthorized"),
            (ApiError::Forbidden { reason: "x".into() }, 403, "forbidden"),
            (ApiError::not_found("Project"), 404, "not_found"),
            (ApiError::MethodNotAllowed { allowed: "GET" }, 405, "method_not_allowed"),
            (ApiError::Conflict { reason: "x".into() }, 409, "conflict"),
            (ApiError::State { code: "deployment_failed", reason: "x".into() }, 409, "deployment_failed"),
            (ApiError::PayloadTooLarge { what: "body".into(), limit: 1 }, 413, "payload_too_large"),
            (ApiError::Unprocessable { reason: "x".into(), details: None }, 422, "unprocessable"),
            (ApiError::TooManyRequests { retry_after_secs: 3, reason: "x".into() }, 429, "rate_limited"),
            (ApiError::internal("db exploded"), 500, "internal_error"),
            (ApiError::Unavailable { detail: "kv".into() }, 503, "service_unavailable"),
            (ApiError::Busy { retry_after_secs: 2, reason: "x".into() }, 503, "busy"),
            (ApiError::Upstream { service: "the DNS resolver", detail: "x".into() }, 502, "upstream_error"),
            (ApiError::NotImplemented { what: "x".into() }, 501, "not_implemented"),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            assert_eq!(err.code(), code, "{err:?}");
        }
    }

    #[test]
    fn envelope_has_contract_fields_and_names_the_field() {
        let e = ApiError::bad("name", "must be at most 100 characters");
        let v = e.envelope("req-1", "2026-01-01T00:00:00.000Z");
        assert_eq!(v["success"], false);
        assert_eq!(v["error"], "bad_request");
        assert_eq!(v["requestId"], "req-1");
        assert_eq!(v["timestamp"], "2026-01-01T00:00:00.000Z");
        assert_eq!(v["details"]["field"], "name");
        assert!(v["message"].as_str().unwrap().contains("name"));
    }

    #[test]
    fn internal_details_never_reach_the_envelope() {
        let e = ApiError::internal("D1_ERROR: secret table xyz");
        let v = e.envelope("r", "t").to_string();
        assert!(!v.contains("secret table"));
        assert!(e.log_detail().contains("secret table"));
        let e = ApiError::Upstream { service: "the Cloudflare API", detail: "HTTP 500 <html>".into() };
        let v = e.envelope("r", "t").to_string();
        assert!(v.contains("the Cloudflare API") && !v.contains("<html>"), "{v}");
        assert!(e.log_detail().contains("<html>"));
    }

    #[test]
    fn retry_after_and_allow_headers() {
        assert_eq!(
            ApiError::TooManyRequests { retry_after_secs: 7, reason: "x".into() }.headers(),
            vec![("retry-after", "7".to_string())]
        );
        assert_eq!(
            ApiError::Busy { retry_after_secs: 4, reason: "x".into() }.headers(),
            vec![("retry-after", "4".to_string())]
        );
        assert_eq!(
            ApiError::MethodNotAllowed { allowed: "GET, HEAD" }.headers(),
            vec![("allow", "GET, HEAD".to_string())]
        );
    }

    #[test]
    fn malformed_json_is_a_body_error() {
        let err: ApiError = serde_json::from_str::<Value>("{nope").unwrap_err().into();
        assert_eq!(err.status(), 400);
        assert!(matches!(err, ApiError::BadRequest { ref field, .. } if field == "body"));
    }
}
