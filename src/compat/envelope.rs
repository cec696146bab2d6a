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
/// `GET /user` for a token without "User Details: Read": wrangler's `whoami` then prints no email
/// and goes on (any other code makes it fail).
pub const CF_NO_USER_DETAILS: u32 = 9109;
/// Remote development (an edge preview session) is not offered. Deliberately none of the codes
/// wrangler reads as an authentication failure (9106, 10000, 10405), whose hint ("run wrangler
/// login") would send the user the wrong way.
pub const CF_NO_REMOTE_PREVIEW: u32 = 10400;

pub fn cf_success(result: Value) -> Value {
    json!({ "success": true, "errors": [], "messages": [], "result": result })
}

/// One page of a list that is all in memory (`?page=&per_page=`, as `cf_page_params` reads
/// them): a page past the end is empty, so clients that page until an empty page (the
/// Cloudflare SDK's auto-pagination) stop.
pub fn cf_page(items: Vec<Value>, page: u32, per_page: u32) -> Value {
    let total = items.len();
    let start = (page.max(1) as usize - 1).saturating_mul(per_page as usize);
    let rows: Vec<Value> = items.into_iter().skip(start).take(per_page as usize).collect();
    let count = rows.len();
    let mut v = cf_success(Value::Array(rows));
    v["result_info"] = json!({ "page": page, "per_page": per_page, "count": count, "total_count": total,
                               "total_pages": total.div_ceil(per_page.max(1) as usize) });
    v
}

/// `page` (from 1, default 1) and `per_page` (1..=1000, default 20) from a query.
pub fn cf_page_params(query: &[(String, String)]) -> (u32, u32) {
    let num = |k: &str, d: u32, max: u32| {
        query.iter().find(|(n, _)| n == k).and_then(|(_, v)| v.parse::<u32>().ok()).unwrap_or(d).clamp(1, max)
    };
    (num("page", 1, 100_000), num("per_page", 20, 1000))
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
        let (status, body) = cf_error(&ApiError::unauthorized("Missing or invalid API token"));
        assert_eq!(status, 401);
        assert_eq!(body["success"], false);
        assert_eq!(body["errors"][0]["code"], CF_AUTH_ERROR);
        assert_eq!(body["errors"][0]["message"], "Missing or invalid API token");
    }

    #[test]
    fn pages_end_with_an_empty_page() {
        let q = |s: &str| -> Vec<(String, String)> {
            s.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect()
        };
        assert_eq!(cf_page_params(&q("")), (1, 20));
        assert_eq!(cf_page_params(&q("page=0&per_page=5000")), (1, 1000));
        assert_eq!(cf_page_params(&q("page=x&per_page=3")), (1, 3));
        let items = || (1..=5).map(|i| json!(i)).collect::<Vec<_>>();
        let first = cf_page(items(), 1, 2);
        assert_eq!(first["result"], json!([1, 2]));
        assert_eq!(
            first["result_info"],
            json!({"page": 1, "per_page": 2, "count": 2, "total_count": 5, "total_pages": 3})
        );
        assert_eq!(cf_page(items(), 3, 2)["result"], json!([5]));
        let past = cf_page(items(), 4, 2);
        assert_eq!(past["result"], json!([]));
        assert_eq!(past["result_info"]["count"], 0);
        assert_eq!(cf_page(items(), u32::MAX, 1000)["result"], json!([]));
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
