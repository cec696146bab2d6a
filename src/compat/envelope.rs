//! Cloudflare's response envelope `{success, errors: [{code, message}], messages, result}` and
//! the one mapping from `ApiError` to a Cloudflare error code.

use serde_json::{json, Value};

use crate::error::ApiError;

/// Wrangler treats 10000 (and 9106) as an authentication error and prints its own hint.
pub const CF_AUTH_ERROR: u32 = 10000;
/// "This Worker does not exist on your account": wrangler's signal for a first deploy.
pub const CF_WORKER_NOT_FOUND: u32 = 10090;
pub const CF_SCRIPT_NOT_FOUND: u32 = 10007;
pub const CF_BAD_REQUEST: u32 = 10021;
pub const CF_UNSUPPORTED: u32 = 10405;
pub const CF_INTERNAL: u32 = 10013;
pub const CF_TOO_MANY: u32 = 10429;
/// A KV namespace the caller does not reach (Cloudflare: "namespace not found").
pub const CF_KV_NOT_FOUND: u32 = 10013;
/// A KV key that does not exist (Cloudflare: "key not found").
pub const CF_KEY_NOT_FOUND: u32 = 10009;

pub fn cf_success(result: Value) -> Value {
    json!({ "success": true, "errors": [], "messages": [], "result": result })
}

/// A paginated list result (`result_info` as Cloudflare sends it).
pub fn cf_list(items: Vec<Value>) -> Value {
    let n = items.len();
    let mut v = cf_success(Value::Array(items));
    v["result_info"] =
        json!({ "page": 1, "per_page": n.max(20), "count": n, "total_count": n, "total_pages": 1 });
    v
}

pub fn cf_failure(code: u32, message: &str) -> Value {
    json!({ "success": false, "errors": [{ "code": code, "message": message }], "messages": [], "result": null })
}

/// The Cloudflare code for a platform error. The message is `ApiError::message`, which never
/// carries internal details.
pub fn cf_code(e: &ApiError) -> u32 {
    match e.status() {
        401 | 403 => CF_AUTH_ERROR,
        404 => CF_SCRIPT_NOT_FOUND,
        405 | 501 => CF_UNSUPPORTED,
        429 => CF_TOO_MANY,
        s if s >= 500 => CF_INTERNAL,
        _ => CF_BAD_REQUEST,
    }
}

/// Status and body for an error on the `/client/v4` surface.
pub fn cf_error(e: &ApiError) -> (u16, Value) {
    (e.status(), cf_failure(cf_code(e), &e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shapes() {
        let ok = cf_success(json!({"a": 1}));
        assert_eq!(ok, json!({"success": true, "errors": [], "messages": [], "result": {"a": 1}}));
        let l = cf_list(vec![json!(1), json!(2)]);
        assert_eq!(l["result_info"]["count"], 2);
        let (status, body) = cf_error(&ApiError::unauthorized("Missing or invalid API token"));
        assert_eq!(status, 401);
        assert_eq!(body["success"], false);
        assert_eq!(body["errors"][0]["code"], CF_AUTH_ERROR);
        assert_eq!(body["errors"][0]["message"], "Missing or invalid API token");
    }

    #[test]
    fn codes_by_status_and_no_internal_detail() {
        assert_eq!(cf_code(&ApiError::Forbidden { reason: "x".into() }), CF_AUTH_ERROR);
        assert_eq!(cf_code(&ApiError::not_found("Worker")), CF_SCRIPT_NOT_FOUND);
        assert_eq!(cf_code(&ApiError::bad("f", "r")), CF_BAD_REQUEST);
        let (s, body) = cf_error(&ApiError::internal("D1_ERROR: secret table name"));
        assert_eq!(s, 500);
        assert_eq!(body["errors"][0]["code"], CF_INTERNAL);
        assert!(!body.to_string().contains("D1_ERROR"));
    }
}
