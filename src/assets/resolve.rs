//! Which file a request path serves: a port of Cloudflare's asset-worker `getIntent`
//! (`packages/workers-shared/asset-worker/src/handler.ts`) — the four `html_handling` modes,
//! `not_found_handling`, and the decode/re-encode canonicalisation with its combined 307.

use super::config::{AssetConfig, HtmlHandling, NotFoundHandling};
use super::path::{decode_path, encode_path};

/// The decision for one request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetIntent {
    /// Serve the manifest entry `path` (a decoded manifest key such as `/a/index.html`) with
    /// `status`: 200, or 404 when it is a `404-page` fallback.
    Serve { path: String, status: u16 },
    /// Answer `307 Temporary Redirect` to `location`: the canonical, percent-encoded path.
    /// Append the request's query string (`?…`) unchanged, as Cloudflare does.
    Redirect { location: String },
    /// No asset and no fallback (Cloudflare's "no intent": server code, if any, runs next).
    NotFound,
}

/// Looks a decoded manifest key up and returns an identity for its content (its hash, or any
/// value equal exactly when two entries have the same bytes), or `None` when there is no such key.
///
/// Cloudflare compares these identities (its eTags), not paths, when deciding whether a
/// redirect target would serve the same file; passing content hashes keeps that exact.
pub type AssetLookup<'a, 'm> = &'a dyn Fn(&str) -> Option<&'m str>;

/// Resolves `raw_path` — the request URL's pathname exactly as received (percent-encoded, no
/// query) — against the manifest, as Cloudflare's asset worker does:
///
/// 1. the path is decoded per segment (`decodeURIComponent`; a malformed segment stays as is)
///    and runs of `/` are collapsed;
/// 2. `html_handling` picks the file or an html redirect (`/a.html` -> `/a`, `/a/index.html` ->
///    `/a/`, …), redirecting only when the target URL would serve that very file;
/// 3. if nothing matches, `not_found_handling` applies;
/// 4. a found file whose request path differs from the canonical encoding
///    (`encodeURIComponent` per segment) is redirected there instead of served, in the same
///    single 307 as any html redirect.
///
/// `not_found_handling` is always applied here, as for a project without server code (and as
/// `env.ASSETS.fetch` does). For the decision Cloudflare makes *before* running server code,
/// where the fallback only applies to navigation requests, see
/// [`plan_asset_request`](super::plan_asset_request).
pub fn resolve_asset(config: &AssetConfig, raw_path: &str, lookup: AssetLookup<'_, '_>) -> AssetIntent {
    let raw_path = if raw_path.is_empty() { "/" } else { raw_path };
    let decoded = decode_path(raw_path);
    match (Resolver { config, lookup }).intent(&decoded, false) {
        None => AssetIntent::NotFound,
        Some(Intent::Redirect(destination)) => AssetIntent::Redirect { location: encode_path(&destination) },
        Some(Intent::Asset(found)) => {
            let canonical = encode_path(&decoded);
            if canonical != raw_path {
                AssetIntent::Redirect { location: canonical }
            } else {
                AssetIntent::Serve { path: found.path, status: found.status }
            }
        }
    }
}

struct Found<'m> {
    path: String,
    etag: &'m str,
    status: u16,
}

enum Intent<'m> {
    Asset(Found<'m>),
    /// Redirect to this decoded path.
    Redirect(String),
}

struct Resolver<'a, 'm> {
    config: &'a AssetConfig,
    lookup: AssetLookup<'a, 'm>,
}

/// `s` without its last `n` bytes; callers only strip ASCII suffixes they just matched.
fn cut(s: &str, n: usize) -> &str {
    s.get(..s.len().saturating_sub(n)).unwrap_or("")
}

impl<'m> Resolver<'_, 'm> {
    fn exists(&self, path: &str) -> Option<&'m str> {
        (self.lookup)(path)
    }

    /// `Some(asset)` when `path` exists.
    fn serve(&self, path: String) -> Option<Intent<'m>> {
        let etag = self.exists(&path)?;
        Some(Intent::Asset(Found { path, etag, status: 200 }))
    }

    fn intent(&self, pathname: &str, skip_redirects: bool) -> Option<Intent<'m>> {
        match self.config.html_handling {
            HtmlHandling::AutoTrailingSlash => self.auto_trailing_slash(pathname, skip_redirects),
            HtmlHandling::ForceTrailingSlash => self.force_trailing_slash(pathname, skip_redirects),
            HtmlHandling::DropTrailingSlash => self.drop_trailing_slash(pathname, skip_redirects),
            HtmlHandling::None => self.serve(pathname.to_string()).or_else(|| self.not_found(pathname)),
        }
    }

    /// Cloudflare's `safeRedirect`: redirect to `destination` only if no file sits at exactly
    /// that path and resolving `destination` would serve the same content as `file`.
    fn safe_redirect(&self, file: &str, destination: &str, skip: bool) -> Option<Intent<'m>> {
        if skip || self.exists(destination).is_some() {
            return None;
        }
        match self.intent(destination, true) {
            Some(Intent::Asset(found)) if self.exists(file) == Some(found.etag) => {
                Some(Intent::Redirect(destination.to_string()))
            }
            _ => None,
        }
    }

    fn auto_trailing_slash(&self, p: &str, skip: bool) -> Option<Intent<'m>> {
        let exact = self.exists(p).is_some();
        if p.ends_with("/index") {
            if exact {
                return self.serve(p.to_string());
            }
            // /foo/index -> /foo/ (when /foo/index.html), else -> /foo (when /foo.html)
            if let Some(r) = self.safe_redirect(&format!("{p}.html"), cut(p, 5), skip) {
                return Some(r);
            }
            if let Some(r) = self.safe_redirect(&format!("{}.html", cut(p, 6)), cut(p, 6), skip) {
                return Some(r);
            }
        } else if p.ends_with("/index.html") {
            if let Some(r) = self.safe_redirect(p, cut(p, 10), skip) {
                return Some(r);
            }
            if let Some(r) = self.safe_redirect(&format!("{}.html", cut(p, 11)), cut(p, 11), skip) {
                return Some(r);
            }
        } else if p.ends_with('/') {
            if let Some(found) = self.serve(format!("{p}index.html")) {
                return Some(found);
            }
            if let Some(r) = self.safe_redirect(&format!("{}.html", cut(p, 1)), cut(p, 1), skip) {
                return Some(r);
            }
        } else if p.ends_with(".html") {
            if let Some(r) = self.safe_redirect(p, cut(p, 5), skip) {
                return Some(r);
            }
            let stem = cut(p, 5);
            if let Some(r) = self.safe_redirect(&format!("{stem}/index.html"), &format!("{stem}/"), skip) {
                return Some(r);
            }
        }

        if exact {
            return self.serve(p.to_string());
        }
        if let Some(found) = self.serve(format!("{p}.html")) {
            return Some(found);
        }
        if let Some(r) = self.safe_redirect(&format!("{p}/index.html"), &format!("{p}/"), skip) {
            return Some(r);
        }
        self.not_found(p)
    }

    fn force_trailing_slash(&self, p: &str, skip: bool) -> Option<Intent<'m>> {
        let exact = self.exists(p).is_some();
        if p.ends_with("/index") {
            if exact {
                return self.serve(p.to_string());
            }
            // /foo/index -> /foo/ (when /foo/index.html or /foo.html)
            if let Some(r) = self.safe_redirect(&format!("{p}.html"), cut(p, 5), skip) {
                return Some(r);
            }
            if let Some(r) = self.safe_redirect(&format!("{}.html", cut(p, 6)), cut(p, 5), skip) {
                return Some(r);
            }
        } else if p.ends_with("/index.html") {
            if let Some(r) = self.safe_redirect(p, cut(p, 10), skip) {
                return Some(r);
            }
            if let Some(r) = self.safe_redirect(&format!("{}.html", cut(p, 11)), cut(p, 10), skip) {
                return Some(r);
            }
        } else if p.ends_with('/') {
            if let Some(found) = self.serve(format!("{p}index.html")) {
                return Some(found);
            }
            // /foo.html is served at /foo/
            if let Some(found) = self.serve(format!("{}.html", cut(p, 1))) {
                return Some(found);
            }
        } else if p.ends_with(".html") {
            let stem = cut(p, 5);
            if let Some(r) = self.safe_redirect(p, &format!("{stem}/"), skip) {
                return Some(r);
            }
            if exact {
                // both /foo.html and /foo/index.html: /foo.html stays reachable at its own path
                return self.serve(p.to_string());
            }
            if let Some(r) = self.safe_redirect(&format!("{stem}/index.html"), &format!("{stem}/"), skip) {
                return Some(r);
            }
        }

        if exact {
            return self.serve(p.to_string());
        }
        if let Some(r) = self.safe_redirect(&format!("{p}.html"), &format!("{p}/"), skip) {
            return Some(r);
        }
        if let Some(r) = self.safe_redirect(&format!("{p}/index.html"), &format!("{p}/"), skip) {
            return Some(r);
        }
        self.not_found(p)
    }

    fn drop_trailing_slash(&self, p: &str, skip: bool) -> Option<Intent<'m>> {
        let exact = self.exists(p).is_some();
        if p.ends_with("/index") {
            if exact {
                return self.serve(p.to_string());
            }
            if p == "/index" {
                if let Some(r) = self.safe_redirect("/index.html", "/", skip) {
                    return Some(r);
                }
            } else if let Some(r) = self.safe_redirect(&format!("{}.html", cut(p, 6)), cut(p, 6), skip) {
                return Some(r);
            } else if let Some(r) = self.safe_redirect(&format!("{p}.html"), cut(p, 6), skip) {
                return Some(r);
            }
        } else if p.ends_with("/index.html") {
            // `/index.html` keeps its `/`
            if p == "/index.html" {
                if let Some(r) = self.safe_redirect("/index.html", "/", skip) {
                    return Some(r);
                }
            } else if let Some(r) = self.safe_redirect(p, cut(p, 11), skip) {
                return Some(r);
            } else if exact {
                // both /foo.html and /foo/index.html: /foo/index.html stays reachable at its own path
                return self.serve(p.to_string());
            } else if let Some(r) = self.safe_redirect(&format!("{}.html", cut(p, 11)), cut(p, 11), skip) {
                return Some(r);
            }
        } else if p.ends_with('/') {
            if p == "/" {
                if let Some(found) = self.serve("/index.html".to_string()) {
                    return Some(found);
                }
            } else if let Some(r) = self.safe_redirect(&format!("{}.html", cut(p, 1)), cut(p, 1), skip) {
                return Some(r);
            } else if let Some(r) = self.safe_redirect(&format!("{}/index.html", cut(p, 1)), cut(p, 1), skip)
            {
                return Some(r);
            }
        } else if p.ends_with(".html") {
            if let Some(r) = self.safe_redirect(p, cut(p, 5), skip) {
                return Some(r);
            }
            if let Some(r) = self.safe_redirect(&format!("{}/index.html", cut(p, 5)), cut(p, 5), skip) {
                return Some(r);
            }
        }

        if exact {
            return self.serve(p.to_string());
        }
        if let Some(found) = self.serve(format!("{p}.html")) {
            return Some(found);
        }
        if let Some(found) = self.serve(format!("{p}/index.html")) {
            return Some(found);
        }
        self.not_found(p)
    }

    fn not_found(&self, pathname: &str) -> Option<Intent<'m>> {
        match self.config.not_found_handling {
            NotFoundHandling::None => None,
            NotFoundHandling::SinglePageApplication => self.serve("/index.html".to_string()),
            NotFoundHandling::NotFoundPage => {
                // Cloudflare: `cwd = cwd.slice(0, cwd.lastIndexOf("/"))` until empty, probing
                // `${cwd}/404.html` — nearest directory first, `/404.html` last.
                let mut cwd = pathname;
                while !cwd.is_empty() {
                    cwd = match cwd.rfind('/') {
                        Some(i) => &cwd[..i],
                        // JS `slice(0, -1)` when there is no `/` (only for paths not starting with `/`)
                        None => cut(cwd, cwd.chars().last().map_or(0, char::len_utf8)),
                    };
                    let candidate = format!("{cwd}/404.html");
                    if let Some(etag) = self.exists(&candidate) {
                        return Some(Intent::Asset(Found { path: candidate, etag, status: 404 }));
                    }
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn manifest(files: &[&str]) -> HashMap<String, String> {
        files.iter().map(|f| (f.to_string(), format!("hash-of-{f}"))).collect()
    }

    fn resolve(config: AssetConfig, files: &[&str], raw_path: &str) -> AssetIntent {
        let m = manifest(files);
        resolve_asset(&config, raw_path, &|p: &str| m.get(p).map(String::as_str))
    }

    fn serve(path: &str, status: u16) -> AssetIntent {
        AssetIntent::Serve { path: path.to_string(), status }
    }

    fn redirect(location: &str) -> AssetIntent {
        AssetIntent::Redirect { location: location.to_string() }
    }

    #[test]
    fn not_found_page_walks_up_to_the_nearest_404() {
        let config =
            AssetConfig { not_found_handling: NotFoundHandling::NotFoundPage, ..AssetConfig::default() };
        let files = ["/404.html", "/blog/404.html", "/blog/post.html", "/index.html"];
        let cases = [
            ("/nope", serve("/404.html", 404)),
            ("/blog/nope", serve("/blog/404.html", 404)),
            ("/blog/deep/er/nope", serve("/blog/404.html", 404)),
            ("/blog/deep/", serve("/blog/404.html", 404)),
            ("/other/x", serve("/404.html", 404)),
            ("/blog/post", serve("/blog/post.html", 200)),
            // the canonical-encoding redirect happens before the fallback is served
            ("/nope//x", redirect("/nope/x")),
        ];
        for (path, want) in cases {
            assert_eq!(resolve(config, &files, path), want, "{path}");
        }
        assert_eq!(resolve(config, &["/index.html"], "/nope"), AssetIntent::NotFound);
    }

    #[test]
    fn single_page_application_serves_root_index() {
        let config = AssetConfig {
            not_found_handling: NotFoundHandling::SinglePageApplication,
            ..AssetConfig::default()
        };
        let files = ["/index.html", "/about.html", "/app.js"];
        let cases = [
            ("/", serve("/index.html", 200)),
            ("/dashboard/settings", serve("/index.html", 200)),
            ("/about", serve("/about.html", 200)),
            ("/about.html", redirect("/about")),
            ("/missing.js", serve("/index.html", 200)),
            ("/index.html", redirect("/")),
        ];
        for (path, want) in cases {
            assert_eq!(resolve(config, &files, path), want, "{path}");
        }
        assert_eq!(resolve(config, &["/app.js"], "/x"), AssetIntent::NotFound);
    }

    #[test]
    fn identical_content_counts_as_the_same_file() {
        // Cloudflare compares eTags: /file/ would serve /file/index.html, whose bytes equal
        // /file.html's, so force-trailing-slash redirects /file.html there.
        let m: HashMap<String, String> = [("/file.html", "same"), ("/file/index.html", "same")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config =
            AssetConfig { html_handling: HtmlHandling::ForceTrailingSlash, ..AssetConfig::default() };
        let got = resolve_asset(&config, "/file.html", &|p: &str| m.get(p).map(String::as_str));
        assert_eq!(got, redirect("/file/"));
    }

    #[test]
    fn malformed_and_odd_paths_never_panic() {
        let files = ["/index.html", "/a.html", "/%zz.html"];
        for mode in [
            HtmlHandling::AutoTrailingSlash,
            HtmlHandling::ForceTrailingSlash,
            HtmlHandling::DropTrailingSlash,
            HtmlHandling::None,
        ] {
            for nf in [
                NotFoundHandling::None,
                NotFoundHandling::NotFoundPage,
                NotFoundHandling::SinglePageApplication,
            ] {
                let config = AssetConfig { html_handling: mode, not_found_handling: nf };
                for path in [
                    "",
                    "/",
                    "%",
                    "/%",
                    "/%zz",
                    "/%C3",
                    "/index",
                    "/.html",
                    "/index.html/",
                    "////",
                    "/%2F%2F",
                    "/ü",
                    "/a/../b",
                    "x",
                    "/%E2%80%A8",
                    "/\u{0}",
                ] {
                    let _ = resolve(config, &files, path);
                }
            }
        }
        // a segment that does not decode is matched literally, then re-encoded canonically
        assert_eq!(resolve(AssetConfig::default(), &files, "/%zz"), redirect("/%25zz"));
        assert_eq!(resolve(AssetConfig::default(), &files, "/%25zz"), serve("/%zz.html", 200));
    }
}
