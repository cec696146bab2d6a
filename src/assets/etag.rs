//! ETags and conditional requests for assets, plus the headers every served asset starts from
//! (the asset worker's `getAssetHeaders`).

/// Cloudflare's browser caching default for assets: always revalidate, cheaply via the ETag.
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=0, must-revalidate";

/// The strong ETag for content `hash`: `"<hash>"`.
pub fn etag_for(hash: &str) -> String {
    format!("\"{hash}\"")
}

/// Whether an `If-None-Match` header value matches `etag` (as produced by [`etag_for`]), i.e.
/// whether to answer 304.
///
/// Uses the weak comparison RFC 9110 prescribes for `If-None-Match`: `W/"x"` matches `"x"`, a
/// comma-separated list matches if any member does, and `*` matches any existing asset. This is
/// a superset of Cloudflare, whose asset worker only compares the whole header with `"x"` and
/// `W/"x"` (so it never answers 304 to a list or `*`); the single-tag requests browsers send
/// behave identically.
pub fn if_none_match_matches(header: &str, etag: &str) -> bool {
    let opaque = |tag: &str| {
        let tag = tag.trim();
        tag.strip_prefix("W/").unwrap_or(tag).to_string()
    };
    let wanted = opaque(etag);
    if wanted.is_empty() {
        return false;
    }
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || (!candidate.is_empty() && opaque(candidate) == wanted))
}

/// The headers an asset response starts with, before `_headers` rules apply: `ETag`,
/// `Content-Type` (when known) and, unless the request carried `Authorization` or `Range`
/// (`cacheable == false`), `Cache-Control: public, max-age=0, must-revalidate`.
pub fn base_asset_headers(hash: &str, content_type: Option<&str>, cacheable: bool) -> Vec<(String, String)> {
    let mut headers = vec![("ETag".to_string(), etag_for(hash))];
    if let Some(content_type) = content_type {
        headers.push(("Content-Type".to_string(), content_type.to_string()));
    }
    if cacheable {
        headers.push(("Cache-Control".to_string(), ASSET_CACHE_CONTROL.to_string()));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_etag_is_the_quoted_hash() {
        assert_eq!(etag_for("abc123"), "\"abc123\"");
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let etag = etag_for("abc");
        let cases = [
            ("\"abc\"", true),
            ("W/\"abc\"", true),
            (" \"abc\" ", true),
            ("\"x\", W/\"abc\"", true),
            ("\"x\",\"abc\"", true),
            ("*", true),
            ("\"abcd\"", false),
            ("abc", false),
            ("\"x\", \"y\"", false),
            ("", false),
            (",,", false),
        ];
        for (header, want) in cases {
            assert_eq!(if_none_match_matches(header, &etag), want, "{header}");
        }
    }

    #[test]
    fn base_headers_follow_cloudflare() {
        let h = base_asset_headers("abc", Some("text/html; charset=utf-8"), true);
        assert_eq!(
            h,
            vec![
                ("ETag".to_string(), "\"abc\"".to_string()),
                ("Content-Type".to_string(), "text/html; charset=utf-8".to_string()),
                ("Cache-Control".to_string(), ASSET_CACHE_CONTROL.to_string()),
            ]
        );
        assert_eq!(base_asset_headers("abc", None, false), vec![("ETag".to_string(), "\"abc\"".to_string())]);
    }
}
