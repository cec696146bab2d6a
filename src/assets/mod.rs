//! Static-asset serving decisions (pure): html_handling, not_found_handling, _redirects,
//! _headers, content types, ETags. No bindings; the platform layer loads a manifest and calls in.
//!
//! Everything here reproduces Cloudflare Workers static assets (the `workers-shared` asset and
//! router workers, and wrangler's upload-time content types); where Flotilla deliberately
//! differs — refusing open redirects, invalid header names, cookie joining — the item says so.
//!
//! Typical flow for a visitor request: [`plan_asset_request`] (redirect rules, html_handling,
//! not_found_handling, method) -> load the entry's body -> [`base_asset_headers`] with
//! [`content_type_for`] when the manifest has no type -> [`apply_headers`] -> 304 if
//! [`if_none_match_matches`], else 206/416 for a `Range` ([`byte_range`]).

mod config;
mod content_type;
mod content_type_table;
mod etag;
mod headers;
mod path;
mod pattern;
mod plan;
mod range;
mod redirects;
mod resolve;
pub mod skew;

pub use config::{AssetConfig, HtmlHandling, NotFoundHandling};
pub use content_type::content_type_for;
pub use etag::{base_asset_headers, etag_for, if_none_match_matches, ASSET_CACHE_CONTROL};
pub use headers::{
    apply_headers, headers_from_rules, parse_headers, HeaderRule, HeaderRules, HeaderValueInput,
    HeadersInput, ParsedHeaders, MAX_HEADER_LINE_LENGTH, MAX_HEADER_RULES,
};
#[cfg(test)]
pub(crate) use path::decode_uri_component;
pub(crate) use path::defang_leading_slashes;
pub(crate) use path::encode_uri_component;
pub use plan::{plan_asset_request, AssetPlan, AssetRequest};
pub use range::{byte_range, ByteRange};
pub use redirects::{
    match_redirect, parse_redirects, parse_redirects_for, prefix_location, redirects_from_entries,
    ParsedRedirects, RedirectEntry, RedirectMatch, RedirectRule, RedirectRules, RedirectsInput, RuleError,
    MAX_DYNAMIC_REDIRECT_RULES, MAX_REDIRECT_LINE_LENGTH, MAX_STATIC_REDIRECT_RULES, REDIRECT_STATUSES,
};
pub use resolve::{resolve_asset, AssetIntent, AssetLookup};

#[cfg(test)]
mod conformance_tests;

#[cfg(test)]
mod robustness_tests;
