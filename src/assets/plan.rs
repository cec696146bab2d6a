//! The whole asset-serving decision for one request, in Cloudflare's order: `_redirects` rules,
//! then a 200 rewrite or the request path through [`resolve_asset`], the method check, and —
//! when the project has server code — whether assets answer before it (the router worker's
//! `unstable_canFetch`, including the `Sec-Fetch-Mode: navigate` rule for fallbacks).

use super::config::{AssetConfig, NotFoundHandling};
use super::redirects::RedirectRules;
use super::resolve::{resolve_asset, AssetIntent, AssetLookup};

/// The parts of a visitor request asset serving looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssetRequest<'a> {
    pub method: &'a str,
    /// The URL pathname as received (percent-encoded), with any path-mode prefix removed.
    pub raw_path: &'a str,
    /// The query string, with or without its leading `?`; empty for none.
    pub search: &'a str,
    /// `Sec-Fetch-Mode: navigate` (a browser loading a page).
    pub is_navigation: bool,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetPlan {
    /// Serve manifest entry `path` with `status` (200, or 404 for a `404-page` fallback).
    Serve { path: String, status: u16 },
    /// Redirect: a `_redirects` rule's status, or 307 for html_handling/canonical-encoding
    /// redirects. `location` is ready to send (query included); prefix it in path mode with
    /// [`prefix_location`](super::prefix_location).
    Redirect { location: String, status: u16 },
    /// Redirect to a protocol-relative `location` the owner wrote (`//other.example/x`): sent
    /// as `<request scheme>:<location>`, never prefixed.
    RedirectOtherHost { location: String, status: u16 },
    /// 405: an asset matched but the method is not GET or HEAD.
    MethodNotAllowed,
    /// 404 decided by assets: a `_redirects` 200 rewrite pointed at nothing. Server code does
    /// not get these requests.
    NotFound,
    /// Nothing here: run the server code if there is some, else answer 404.
    NoMatch,
}

/// Decides how assets answer `request`.
///
/// `has_server_code`: pass `true` when the deployment has server code that runs after assets
/// (`run_worker_first` false or not matching). Then, as on Cloudflare, `not_found_handling`
/// only claims navigation requests (`Sec-Fetch-Mode: navigate`); other unmatched requests come
/// back as [`AssetPlan::NoMatch`] so the server code can answer them. Pass `false` for projects
/// without server code and for the server code's own `env.ASSETS.fetch` calls, where the
/// fallback always applies.
///
/// (Cloudflare only honours the navigation rule for `compatibility_date >= 2025-04-01`; this
/// always does, as a new deployment would.)
pub fn plan_asset_request(
    config: &AssetConfig,
    redirects: &RedirectRules,
    request: &AssetRequest<'_>,
    lookup: AssetLookup<'_, '_>,
    has_server_code: bool,
) -> AssetPlan {
    if has_server_code && !request.is_navigation && config.not_found_handling != NotFoundHandling::None {
        let without_fallback = AssetConfig { not_found_handling: NotFoundHandling::None, ..*config };
        if plan(&without_fallback, redirects, request, lookup) == AssetPlan::NoMatch {
            return AssetPlan::NoMatch;
        }
    }
    plan(config, redirects, request, lookup)
}

/// The asset worker's `getResponseOrAssetIntent`.
fn plan(
    config: &AssetConfig,
    redirects: &RedirectRules,
    request: &AssetRequest<'_>,
    lookup: AssetLookup<'_, '_>,
) -> AssetPlan {
    let search = match request.search {
        "" | "?" => String::new(),
        s if s.starts_with('?') => s.to_string(),
        s => format!("?{s}"),
    };
    let (pathname, rewritten) = match redirects.find(request.raw_path, &search) {
        Some(m) if m.status == 200 => (m.to, true),
        Some(m) if m.other_host => return AssetPlan::RedirectOtherHost { location: m.to, status: m.status },
        Some(m) => return AssetPlan::Redirect { location: m.to, status: m.status },
        None => (request.raw_path.to_string(), false),
    };
    let intent = resolve_asset(config, &pathname, lookup);
    if intent == AssetIntent::NotFound {
        return if rewritten { AssetPlan::NotFound } else { AssetPlan::NoMatch };
    }
    if !(request.method.eq_ignore_ascii_case("GET") || request.method.eq_ignore_ascii_case("HEAD")) {
        return AssetPlan::MethodNotAllowed;
    }
    match intent {
        AssetIntent::Serve { path, status } => AssetPlan::Serve { path, status },
        AssetIntent::Redirect { location } => {
            AssetPlan::Redirect { location: format!("{location}{search}"), status: 307 }
        }
        AssetIntent::NotFound => AssetPlan::NoMatch,
    }
}

#[cfg(test)]
mod tests {
    use super::super::redirects::parse_redirects;
    use super::*;
    use std::collections::HashMap;

    fn get<'a>(raw_path: &'a str, search: &'a str) -> AssetRequest<'a> {
        AssetRequest { method: "GET", raw_path, search, is_navigation: false }
    }

    fn serve(path: &str, status: u16) -> AssetPlan {
        AssetPlan::Serve { path: path.to_string(), status }
    }

    fn redirect(location: &str, status: u16) -> AssetPlan {
        AssetPlan::Redirect { location: location.to_string(), status }
    }

    #[test]
    fn follows_cloudflare_order() {
        let files: HashMap<&str, &str> = ["/index.html", "/about.html", "/users/profile.html", "/old.html"]
            .into_iter()
            .map(|f| (f, f))
            .collect();
        let lookup = |p: &str| files.get(p).copied();
        let rules = parse_redirects(
            "/old /new 301\n/users/:id /users/profile 200\n/ghost/* /nowhere 200\n/to-html /about.html 200\n",
        )
        .rules;
        let config = AssetConfig::default();
        let post = AssetRequest { method: "POST", ..get("/about", "") };
        let cases = [
            // rules run before files, even over an existing /old.html
            (get("/old", "?a=1"), redirect("/new?a=1", 301)),
            (get("/users/42", "?tab=x"), serve("/users/profile.html", 200)),
            (get("/ghost/x", ""), AssetPlan::NotFound),
            // a rewrite to `/about.html` is canonicalised like any request for it
            (get("/to-html", "?q"), redirect("/about?q", 307)),
            (get("/about.html", "x=1"), redirect("/about?x=1", 307)),
            (get("/about", ""), serve("/about.html", 200)),
            (get("/missing", ""), AssetPlan::NoMatch),
            (post, AssetPlan::MethodNotAllowed),
            (AssetRequest { method: "POST", ..get("/missing", "") }, AssetPlan::NoMatch),
            (AssetRequest { method: "head", ..get("/", "") }, serve("/index.html", 200)),
        ];
        for (request, want) in cases {
            assert_eq!(plan_asset_request(&config, &rules, &request, &lookup, false), want, "{request:?}");
        }
    }

    #[test]
    fn fallbacks_only_claim_navigations_when_server_code_follows() {
        let files: HashMap<&str, &str> = [("/index.html", "i"), ("/404.html", "n")].into_iter().collect();
        let lookup = |p: &str| files.get(p).copied();
        let rules = RedirectRules::default();
        for (handling, fallback) in [
            (NotFoundHandling::SinglePageApplication, serve("/index.html", 200)),
            (NotFoundHandling::NotFoundPage, serve("/404.html", 404)),
        ] {
            let config = AssetConfig { not_found_handling: handling, ..AssetConfig::default() };
            let api = get("/api/items", "");
            let page = AssetRequest { is_navigation: true, ..get("/dashboard", "") };
            assert_eq!(plan_asset_request(&config, &rules, &api, &lookup, true), AssetPlan::NoMatch);
            assert_eq!(plan_asset_request(&config, &rules, &page, &lookup, true), fallback);
            assert_eq!(plan_asset_request(&config, &rules, &api, &lookup, false), fallback);
            assert_eq!(
                plan_asset_request(&config, &rules, &get("/", ""), &lookup, true),
                serve("/index.html", 200)
            );
        }
    }
}
