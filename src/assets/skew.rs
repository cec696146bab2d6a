//! Skew protection, the asset half (pure): which request paths name fingerprinted build output
//! (a file whose name changes with its content), so a miss on one is a page from an older
//! deployment asking for its own chunk — looked up in older deployments, else answered 404 with
//! the type its extension implies, never the SPA `index.html` and never server code.

/// Build-output directories whose files are fingerprinted by convention (Vite/Rollup,
/// Next.js, Astro, SvelteKit).
pub const FINGERPRINT_DIRS: &[&str] = &["/assets/", "/_next/static/", "/_astro/", "/_app/immutable/"];

/// Hash lengths the bundlers emit: Vite/Rollup 8, Astro/SvelteKit 8, webpack 8-20 (hex),
/// Next.js 16-20; 64 bounds the work.
const HASH_LEN: std::ops::RangeInclusive<usize> = 8..=64;

/// Whether `path` (a request path, percent-encoded or not) names a fingerprinted file: it ends
/// in a file name with a non-HTML extension, and either lies under one of [`FINGERPRINT_DIRS`]
/// or its name carries a content hash (`app-BxK3a9_f.js`, `index.B7xr_Jq1.css`,
/// `main.3f2a1b4c5d6e.js`). HTML is never fingerprinted (pages must keep the SPA fallback).
pub fn is_fingerprinted(path: &str) -> bool {
    let Some((_, name)) = path.rsplit_once('/') else { return false };
    let Some((stem, ext)) = name.rsplit_once('.') else { return false };
    if stem.is_empty()
        || ext.is_empty()
        || ext.len() > 10
        || !ext.bytes().all(|b| b.is_ascii_alphanumeric())
        || ext.eq_ignore_ascii_case("html")
        || ext.eq_ignore_ascii_case("htm")
    {
        return false;
    }
    let under = |d: &str| path.starts_with(d) && path.len() > d.len();
    if FINGERPRINT_DIRS.iter().any(|d| under(d)) {
        return true;
    }
    // `<name>-<hash>` or `<name>.<hash>`: any suffix after a separator may be the hash.
    stem.char_indices()
        .filter(|&(i, c)| i > 0 && (c == '-' || c == '.'))
        .any(|(i, _)| looks_like_hash(&stem[i + 1..]))
}

/// 8-64 characters of `[A-Za-z0-9_-]` with a digit, or with both cases (base64url hashes
/// without a digit): not a plain word such as `lifecycle` or `vendor`, and not only digits
/// (dates and ids such as `report-20240101.csv`, often a server route's; a hex hash is all
/// digits about 2% of the time, and then only the directory rule covers it).
fn looks_like_hash(s: &str) -> bool {
    if !HASH_LEN.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return false;
    }
    let digit = s.bytes().any(|b| b.is_ascii_digit());
    let upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let letter = upper || lower;
    (digit && letter) || (upper && lower)
}

/// What build output is made of: the types a fingerprinted miss is answered with. A short
/// list on purpose: the full table (`content_type_for`, ~35 KB gzipped) stays out of the visitor
/// build; a test keeps these in step with it.
const MISS_TYPES: &[(&str, &str)] = &[
    ("avif", "image/avif"),
    ("css", "text/css; charset=utf-8"),
    ("gif", "image/gif"),
    ("ico", "image/vnd.microsoft.icon"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("js", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("map", "application/json"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("png", "image/png"),
    ("svg", "image/svg+xml"),
    ("ttf", "font/ttf"),
    ("txt", "text/plain; charset=utf-8"),
    ("wasm", "application/wasm"),
    ("webp", "image/webp"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
];

/// The `Content-Type` of the 404 a fingerprinted miss gets: what its extension implies
/// (`text/javascript` for a chunk), or `application/octet-stream` for anything else — never
/// HTML, so a browser reports a missing module, not "MIME type text/html".
pub fn miss_content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    MISS_TYPES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map(|(_, t)| *t)
        .unwrap_or("application/octet-stream")
}

/// How many older deployments a miss may be looked up in when the project sets nothing.
pub const DEFAULT_FALLBACK_DEPTH: usize = 5;
/// The most a project may set (each step is at most one manifest read).
pub const MAX_FALLBACK_DEPTH: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_gen::{Gen, NASTY};

    #[test]
    fn bundler_output_is_fingerprinted() {
        for p in [
            "/assets/index-BxK3a9_f.js",
            "/assets/chunk-abc12345.js",
            "/assets/logo.png",
            "/assets/a/b/c.woff2",
            "/_next/static/chunks/app/page-6f1b2c3d4e5f6a7b.js",
            "/_next/static/css/layout.css",
            "/_astro/index.DFc3_a1b.css",
            "/_app/immutable/chunks/index.B7xr_Jq1.js",
            "/static/js/main.3f2a1b4c.js",
            "/main.3f2a1b4c5d6e7f8a9b0c.js",
            "/js/vendor-BxKzaQfL.js",
            "/dist/app-a-b3Cd9e.mjs",
        ] {
            assert!(is_fingerprinted(p), "{p}");
        }
    }

    #[test]
    fn pages_and_plain_files_are_not() {
        for p in [
            "/",
            "/about",
            "/assets/",
            "/assets/index.html",
            "/assets/report-2024-01-01.HTML",
            "/dashboard/settings",
            "/favicon.ico",
            "/robots.txt",
            "/js/lifecycle.js",
            "/js/component-lifecycle.js",
            "/app.js",
            "/vendor-abcdefgh.js",
            "/assetsx/a.js",
            "/x/assets/a",
            "/.env",
            "/-12345678.js",
            "/api/report-20240101.csv",
            "/exports/user-1234567890.json",
            "/a-12345678.",
        ] {
            assert!(!is_fingerprinted(p), "{p}");
        }
    }

    #[test]
    fn miss_types_agree_with_the_upload_table() {
        for (ext, t) in MISS_TYPES {
            let path = format!("/assets/x.{ext}");
            assert_eq!(super::super::content_type_for(&path), Some(*t), "{ext}");
            assert_eq!(miss_content_type(&path.to_uppercase()), *t);
        }
    }

    #[test]
    fn misses_never_claim_html() {
        assert_eq!(miss_content_type("/assets/app-abc12345.js"), "text/javascript; charset=utf-8");
        assert_eq!(miss_content_type("/assets/app-abc12345.css"), "text/css; charset=utf-8");
        assert_eq!(miss_content_type("/assets/x.html"), "application/octet-stream");
        assert_eq!(miss_content_type("/assets/blob-12345678.zzz"), "application/octet-stream");
    }

    #[test]
    fn never_panics_on_any_path() {
        let mut g = Gen(0x5eed_5ce3);
        let pieces: Vec<&str> = NASTY
            .iter()
            .copied()
            .chain(["/", "/assets/", "-", ".", "abc12345", "Xy9_", ".js", "é", "%2F"])
            .collect();
        for _ in 0..20_000 {
            let p = g.string(&pieces, 12);
            let _ = is_fingerprinted(&p);
            let _ = miss_content_type(&p);
        }
    }
}
