//! The `Content-Type` an asset is served with when its manifest entry names none: wrangler's
//! `getContentType` (workers-shared `utils/helpers.ts`) — `mime.getType(path)` from the `mime`
//! npm package v3 (standard + other types), plus `; charset=utf-8` for `text/*` types.

use super::content_type_table::CONTENT_TYPES;

/// Infers the content type wrangler uploads for a file at `path` (a manifest key such as
/// `/css/site.css`; any `/`- or `\`-separated path works).
///
/// `None` means no `Content-Type` header at all: for an unknown extension, no extension, or a
/// dotfile (`/.htaccess`), wrangler uploads `application/null`, which Cloudflare's API stores as
/// "no content type" and serves without the header. (`wrangler dev` instead sends the literal
/// string `null`, a local-only quirk not reproduced here.)
pub fn content_type_for(path: &str) -> Option<&'static str> {
    // mime@3 `getType`: the last path component, lowercased; its extension is what follows the
    // last `.`, and it only counts when something precedes that dot (`hasDot`). wrangler always
    // passes an absolute file path, so the "bare extension" case (`"html"`) never applies.
    let last = path.rsplit(['/', '\\']).next().unwrap_or(path).to_lowercase();
    let (stem, ext) = last.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() {
        return None;
    }
    CONTENT_TYPES
        .binary_search_by(|(candidate, _)| (*candidate).cmp(ext))
        .ok()
        .and_then(|i| CONTENT_TYPES.get(i))
        .map(|(_, content_type)| *content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_wrangler_get_content_type() {
        let cases = [
            ("/index.html", Some("text/html; charset=utf-8")),
            ("/a/b/page.HTM", Some("text/html; charset=utf-8")),
            ("/style.css", Some("text/css; charset=utf-8")),
            ("/app.js", Some("application/javascript")),
            ("/mod.mjs", Some("application/javascript")),
            ("/data.json", Some("application/json")),
            ("/app.js.map", Some("application/json")),
            ("/robots.txt", Some("text/plain; charset=utf-8")),
            ("/readme.md", Some("text/markdown; charset=utf-8")),
            ("/feed.xml", Some("application/xml")),
            ("/logo.svg", Some("image/svg+xml")),
            ("/photo.JPG", Some("image/jpeg")),
            ("/favicon.ico", Some("image/vnd.microsoft.icon")),
            ("/font.woff2", Some("font/woff2")),
            ("/module.wasm", Some("application/wasm")),
            ("/site.webmanifest", Some("application/manifest+json")),
            ("/types.ts", Some("video/mp2t")),
            ("/data.csv", Some("text/csv; charset=utf-8")),
            ("/archive.tar.gz", Some("application/gzip")),
            ("/weird.unknownext", None),
            ("/LICENSE", None),
            ("/.htaccess", None),
            ("/dir.d/file", None),
            ("/trailing.", None),
            ("/..html", Some("text/html; charset=utf-8")),
            ("C:\\site\\index.html", Some("text/html; charset=utf-8")),
            ("", None),
        ];
        for (path, want) in cases {
            assert_eq!(content_type_for(path), want, "{path}");
        }
    }

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(CONTENT_TYPES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(CONTENT_TYPES.len() > 1000);
    }
}
