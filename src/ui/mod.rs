//! The platform host's own pages: the operator dashboard (`/__dashboard`) and the API docs
//! (`/docs`). Pure: which embedded file a path names, its headers (strict CSP, caching) and
//! conditional GETs. No bindings; the files are compiled into the Worker.

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
    /// HTML pages reference the other assets with `?v=<VERSION>` (substituted for `{{v}}`).
    page: bool,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/__dashboard",
        content_type: "text/html; charset=utf-8",
        body: include_str!("dashboard.html"),
        page: true,
    },
    Asset {
        path: "/__dashboard/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("app.js"),
        page: false,
    },
    Asset {
        path: "/__dashboard/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("app.css"),
        page: false,
    },
    Asset {
        path: "/__dashboard/docs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("docs.js"),
        page: false,
    },
    Asset {
        path: "/docs",
        content_type: "text/html; charset=utf-8",
        body: include_str!("docs.html"),
        page: true,
    },
];

/// FNV-1a over every embedded file, at compile time: one version for the whole set, so a page
/// and the assets it references always change together.
const VERSION: u64 = {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut a = 0;
    while a < ASSETS.len() {
        let b = ASSETS[a].body.as_bytes();
        let mut i = 0;
        while i < b.len() {
            h ^= b[i] as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        a += 1;
    }
    h
};

/// Every path the embedded UI answers (the OpenAPI drift test documents each).
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

/// The version as 16 hex digits (what `?v=` carries and the ETag holds).
pub fn version() -> String {
    format!("{VERSION:016x}")
}

/// No inline script or style anywhere: the token lives in the page's `sessionStorage`, so a
/// script injected through any rendered value must not run, and nothing may frame the page.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What to answer for a UI path.
#[derive(Debug, PartialEq, Eq)]
pub struct UiResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// Empty for 304, HEAD and 405.
    pub body: String,
}

/// Resolves a request for a UI path. `None`: no such file (the caller answers 404).
/// `query` is the raw search string without `?`; `if_none_match` the header, if any.
pub fn resolve(method: &str, path: &str, query: &str, if_none_match: Option<&str>) -> Option<UiResponse> {
    let path = if path == "/__dashboard/" { "/__dashboard" } else { path };
    let asset = ASSETS.iter().find(|a| a.path == path)?;
    let v = version();
    let etag = format!("\"{v}\"");
    let mut headers = vec![
        ("content-security-policy", CSP.to_string()),
        ("x-content-type-options", "nosniff".to_string()),
        ("referrer-policy", "no-referrer".to_string()),
        ("x-frame-options", "DENY".to_string()),
        ("cross-origin-opener-policy", "same-origin".to_string()),
    ];
    if method != "GET" && method != "HEAD" {
        headers.push(("allow", "GET, HEAD".to_string()));
        return Some(UiResponse { status: 405, headers, body: String::new() });
    }
    // Assets fetched with the current version never change: cache them for a year. Pages (and
    // unversioned asset URLs) revalidate every time, which costs a 304.
    let immutable = !asset.page && query.split('&').any(|p| p == format!("v={v}"));
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.push(("cache-control", cache.to_string()));
    headers.push(("etag", etag.clone()));
    let matches = if_none_match.is_some_and(|h| {
        h.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*")
    });
    if matches {
        return Some(UiResponse { status: 304, headers, body: String::new() });
    }
    headers.push(("content-type", asset.content_type.to_string()));
    let body = match (method, asset.page) {
        ("HEAD", _) => String::new(),
        (_, true) => asset.body.replace("{{v}}", &v),
        (_, false) => asset.body.to_string(),
    };
    Some(UiResponse { status: 200, headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(r: &'a UiResponse, name: &str) -> Option<&'a str> {
        r.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// ` onclick=`, ` onload=`, ...
    fn has_inline_handler(html: &str) -> bool {
        html.match_indices(" on").any(|(i, _)| {
            let rest = &html[i + 3..];
            let name = rest.bytes().take_while(|c| c.is_ascii_alphabetic()).count();
            name > 0 && rest[name..].starts_with('=')
        })
    }

    #[test]
    fn pages_and_assets_resolve() {
        for path in ["/__dashboard", "/__dashboard/", "/__dashboard/app.js", "/__dashboard/app.css", "/docs"]
        {
            let r = resolve("GET", path, "", None).expect(path);
            assert_eq!(r.status, 200, "{path}");
            assert_eq!(header(&r, "content-security-policy"), Some(CSP), "{path}");
            assert_eq!(header(&r, "x-content-type-options"), Some("nosniff"));
            assert!(!r.body.is_empty());
        }
        assert_eq!(resolve("GET", "/__dashboard/nope.js", "", None), None);
        assert_eq!(resolve("GET", "/__dashboard/app.js/", "", None), None);
        assert_eq!(
            header(&resolve("GET", "/__dashboard/app.css", "", None).unwrap(), "content-type"),
            Some("text/css; charset=utf-8")
        );
    }

    #[test]
    fn pages_reference_versioned_assets_and_have_no_inline_code() {
        for path in ["/__dashboard", "/docs"] {
            let body = resolve("GET", path, "", None).unwrap().body;
            assert!(body.contains(&format!("?v={}", version())), "{path}");
            assert!(!body.contains("{{v}}"));
            // The CSP would block these anyway; keep the pages honest so nothing silently breaks.
            assert!(!body.contains("<style"), "{path}: inline style");
            assert!(!body.contains(" style="), "{path}: inline style attribute");
            assert!(!has_inline_handler(&body), "{path}: inline event handler");
            for (i, _) in body.match_indices("<script") {
                assert!(body[i..].starts_with("<script src=\"/__dashboard/"), "{path}: inline script");
            }
            // Self-contained: nothing loads from another origin.
            assert!(!body.contains("src=\"http") && !body.contains("href=\"http"), "{path}: remote asset");
        }
    }

    #[test]
    fn versioned_assets_are_immutable_pages_revalidate() {
        let v = version();
        let js = resolve("GET", "/__dashboard/app.js", &format!("v={v}"), None).unwrap();
        assert_eq!(header(&js, "cache-control"), Some("public, max-age=31536000, immutable"));
        let stale = resolve("GET", "/__dashboard/app.js", "v=0000", None).unwrap();
        assert_eq!(header(&stale, "cache-control"), Some("no-cache"));
        let page = resolve("GET", "/__dashboard", &format!("v={v}"), None).unwrap();
        assert_eq!(header(&page, "cache-control"), Some("no-cache"));
    }

    #[test]
    fn conditional_get_head_and_methods() {
        let etag = format!("\"{}\"", version());
        let r = resolve("GET", "/__dashboard", "", Some(&format!("\"x\", W/{etag}"))).unwrap();
        assert_eq!(r.status, 304);
        assert!(r.body.is_empty());
        assert_eq!(header(&r, "etag"), Some(etag.as_str()));
        assert_eq!(resolve("GET", "/__dashboard", "", Some("\"other\"")).unwrap().status, 200);
        let head = resolve("HEAD", "/docs", "", None).unwrap();
        assert_eq!((head.status, head.body.as_str()), (200, ""));
        let post = resolve("POST", "/__dashboard", "", None).unwrap();
        assert_eq!(post.status, 405);
        assert_eq!(header(&post, "allow"), Some("GET, HEAD"));
    }
}
