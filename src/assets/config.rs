//! Asset serving configuration (`html_handling`, `not_found_handling`) with Cloudflare's names
//! and defaults, as accepted in a deploy's `config` object.

use serde::{Deserialize, Serialize};

/// How `.html` files and `index.html` map to URLs (Cloudflare's `assets.html_handling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HtmlHandling {
    /// `/a.html` is served at `/a`, `/a/index.html` at `/a/`; other spellings redirect (307).
    #[default]
    AutoTrailingSlash,
    /// Every HTML page is served at a URL ending in `/`.
    ForceTrailingSlash,
    /// Every HTML page is served at a URL without a trailing `/` (except `/`).
    DropTrailingSlash,
    /// Files are served only at their exact path; no redirects.
    None,
}

/// What to serve when no asset matches (Cloudflare's `assets.not_found_handling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum NotFoundHandling {
    /// Plain 404 (or the project's server code, when it has some).
    #[default]
    #[serde(rename = "none")]
    None,
    /// The nearest `404.html` walking up from the requested directory, with status 404.
    #[serde(rename = "404-page")]
    NotFoundPage,
    /// `/index.html` with status 200.
    #[serde(rename = "single-page-application")]
    SinglePageApplication,
}

/// The serving options that shape [`resolve_asset`](super::resolve_asset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AssetConfig {
    pub html_handling: HtmlHandling,
    pub not_found_handling: NotFoundHandling,
}

#[cfg(test)]
impl AssetConfig {
    /// Cycles through all twelve configurations as `round` counts up (property tests).
    pub fn nth(round: usize) -> AssetConfig {
        AssetConfig {
            html_handling: [
                HtmlHandling::AutoTrailingSlash,
                HtmlHandling::ForceTrailingSlash,
                HtmlHandling::DropTrailingSlash,
                HtmlHandling::None,
            ][round % 4],
            not_found_handling: [
                NotFoundHandling::None,
                NotFoundHandling::NotFoundPage,
                NotFoundHandling::SinglePageApplication,
            ][round % 3],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_defaults_match_cloudflare() {
        let config: AssetConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, AssetConfig::default());
        assert_eq!(config.html_handling, HtmlHandling::AutoTrailingSlash);
        assert_eq!(config.not_found_handling, NotFoundHandling::None);

        let cases = [
            (r#""auto-trailing-slash""#, HtmlHandling::AutoTrailingSlash),
            (r#""force-trailing-slash""#, HtmlHandling::ForceTrailingSlash),
            (r#""drop-trailing-slash""#, HtmlHandling::DropTrailingSlash),
            (r#""none""#, HtmlHandling::None),
        ];
        for (json, want) in cases {
            assert_eq!(serde_json::from_str::<HtmlHandling>(json).unwrap(), want);
            assert_eq!(serde_json::to_string(&want).unwrap(), json);
        }
        let cases = [
            (r#""none""#, NotFoundHandling::None),
            (r#""404-page""#, NotFoundHandling::NotFoundPage),
            (r#""single-page-application""#, NotFoundHandling::SinglePageApplication),
        ];
        for (json, want) in cases {
            assert_eq!(serde_json::from_str::<NotFoundHandling>(json).unwrap(), want);
            assert_eq!(serde_json::to_string(&want).unwrap(), json);
        }
        assert!(serde_json::from_str::<HtmlHandling>(r#""sometimes""#).is_err());
    }
}
