//! Static-asset serving decisions (pure): html_handling, not_found_handling, _redirects,
//! _headers, content types. No bindings; the platform layer loads a manifest and calls in.

mod config;
mod path;
mod pattern;
mod redirects;
mod resolve;

pub use config::{AssetConfig, HtmlHandling, NotFoundHandling};
pub use redirects::{
    match_redirect, parse_redirects, parse_redirects_for, prefix_location, redirects_from_entries, ParsedRedirects,
    RedirectEntry, RedirectMatch, RedirectRule, RedirectRules, RedirectsInput, RuleError, MAX_DYNAMIC_REDIRECT_RULES,
    MAX_REDIRECT_LINE_LENGTH, MAX_STATIC_REDIRECT_RULES, REDIRECT_STATUSES,
};
pub use resolve::{resolve_asset, AssetIntent, AssetLookup};

#[cfg(test)]
mod conformance_tests;
