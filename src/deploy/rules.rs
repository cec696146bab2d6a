//! A deployment's redirect and header rules: the uploaded `_redirects`/`_headers` files
//! first, then `config.redirects`/`config.headers`. Any invalid line rejects the deploy with
//! its line number, so a typo never silently drops a rule; a rule Cloudflare itself ignores
//! without the rule being malformed (an unsupported status) is dropped the same way and named
//! in a deploy warning (a deployment log line).

use crate::assets::{
    parse_headers, parse_redirects_for, HeaderRules, HeadersInput, HtmlHandling, RedirectRules,
    RedirectsInput, RuleError,
};
use crate::error::ApiError;

/// Files that configure the deployment and are never served as assets.
pub const RULE_FILES: [&str; 2] = ["/_redirects", "/_headers"];

fn reject(field: &str, invalid: &[RuleError]) -> Result<(), ApiError> {
    if invalid.is_empty() {
        return Ok(());
    }
    Err(ApiError::InvalidRules {
        field: field.to_string(),
        errors: invalid.iter().map(|e| (e.line, e.message.clone())).collect(),
    })
}

/// At most this many warning lines per deploy (a file of 2,000 bad rules must not write 2,000
/// log rows); a last line counts the rest.
pub const MAX_RULE_WARNINGS: usize = 20;

/// A deployment's rules, and the deploy warnings about lines that were ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuiltRules {
    pub redirects: RedirectRules,
    pub headers: HeaderRules,
    /// One sentence per ignored line (`_redirects line 3: ...`), at most
    /// [`MAX_RULE_WARNINGS`] + 1: the deployment logs them at level `warn`.
    pub warnings: Vec<String>,
}

fn warn(out: &mut Vec<String>, field: &str, ignored: &[RuleError]) {
    out.extend(ignored.iter().map(|e| format!("{field} line {} ignored: {}", e.line, e.message)));
}

fn cap_warnings(mut warnings: Vec<String>) -> Vec<String> {
    if warnings.len() > MAX_RULE_WARNINGS {
        let more = warnings.len() - MAX_RULE_WARNINGS;
        warnings.truncate(MAX_RULE_WARNINGS);
        warnings.push(format!("... and {more} more ignored rule lines"));
    }
    warnings
}

pub fn build_rules(
    redirects_file: Option<&str>,
    headers_file: Option<&str>,
    config_redirects: Option<&RedirectsInput>,
    config_headers: Option<&HeadersInput>,
    html_handling: HtmlHandling,
) -> Result<BuiltRules, ApiError> {
    let mut redirects = Vec::new();
    let mut warnings = Vec::new();
    if let Some(text) = redirects_file {
        let parsed = parse_redirects_for(text, html_handling);
        reject("_redirects", &parsed.invalid)?;
        warn(&mut warnings, "_redirects", &parsed.warnings);
        redirects.extend(parsed.rules.rules().iter().cloned());
    }
    if let Some(input) = config_redirects {
        let parsed = input.parse(html_handling);
        reject("config.redirects", &parsed.invalid)?;
        warn(&mut warnings, "config.redirects", &parsed.warnings);
        redirects.extend(parsed.rules.rules().iter().cloned());
    }
    let mut headers = Vec::new();
    if let Some(text) = headers_file {
        let parsed = parse_headers(text);
        reject("_headers", &parsed.invalid)?;
        headers.extend(parsed.rules.rules().iter().cloned());
    }
    if let Some(input) = config_headers {
        let parsed = input.parse();
        reject("config.headers", &parsed.invalid)?;
        headers.extend(parsed.rules.rules().iter().cloned());
    }
    Ok(BuiltRules {
        redirects: RedirectRules::from(redirects),
        headers: HeaderRules::from(headers),
        warnings: cap_warnings(warnings),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_rules_come_first_and_invalid_lines_are_named() {
        let config: RedirectsInput = serde_json::from_str(r#"[{"from":"/a","to":"/config"}]"#).unwrap();
        let built =
            build_rules(Some("/a /file 301\n"), None, Some(&config), None, HtmlHandling::default()).unwrap();
        assert!(built.warnings.is_empty());
        let m = built.redirects.find("/a", "").unwrap();
        assert_eq!((m.to.as_str(), m.status), ("/file", 301));

        let err = build_rules(
            Some("/ok /fine\nnot-enough\n/x /y 301 extra\n"),
            None,
            None,
            None,
            HtmlHandling::default(),
        )
        .unwrap_err();
        match err {
            ApiError::InvalidRules { field, errors } => {
                assert_eq!(field, "_redirects");
                let lines: Vec<usize> = errors.iter().map(|e| e.0).collect();
                assert!(lines.contains(&2), "{errors:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_rule_order_from_json_is_kept() {
        // Keys deliberately out of alphabetical order: order decides which rule sets a header.
        let v: serde_json::Value =
            serde_json::from_str(r#"{"/z/*": {"X-A": "first"}, "/*": {"X-A": "second"}}"#).unwrap();
        let input: HeadersInput = serde_json::from_value(v).unwrap();
        let h = build_rules(None, None, None, Some(&input), HtmlHandling::default()).unwrap().headers;
        assert_eq!(h.rules()[0].path, "/z/*");
        let mut out = vec![];
        h.apply("example.com", "/z/page", &mut out);
        // Later matches append (a header list; `Headers.append` joins them on the wire).
        assert_eq!(
            out,
            vec![("x-a".to_string(), "first".to_string()), ("x-a".to_string(), "second".to_string())]
        );
    }

    #[test]
    fn unsupported_statuses_are_dropped_with_warnings_not_errors() {
        let config: RedirectsInput =
            serde_json::from_str(r#"[{"from":"/c","to":"/d","status":404},{"from":"/e","to":"/f"}]"#)
                .unwrap();
        let built = build_rules(
            Some("/ok /fine 301\n/proxy /elsewhere 305\n"),
            None,
            Some(&config),
            None,
            HtmlHandling::default(),
        )
        .unwrap();
        assert_eq!(built.redirects.find("/proxy", ""), None);
        assert_eq!(built.redirects.find("/c", ""), None);
        assert_eq!(built.redirects.find("/ok", "").map(|m| m.status), Some(301));
        assert_eq!(built.redirects.find("/e", "").map(|m| m.status), Some(302));
        assert_eq!(
            built.warnings,
            vec![
                "_redirects line 2 ignored: Valid status codes are 200, 301, 302 (default), 303, 307, or 308. Got 305.",
                "config.redirects line 1 ignored: Valid status codes are 200, 301, 302 (default), 303, 307, or 308. Got 404.",
            ]
        );

        // A file full of them: a bounded number of log lines, the rest counted.
        let many: String = (0..50).map(|i| format!("/p{i} /q 305\n")).collect();
        let built = build_rules(Some(&many), None, None, None, HtmlHandling::default()).unwrap();
        assert!(built.redirects.is_empty());
        assert_eq!(built.warnings.len(), MAX_RULE_WARNINGS + 1);
        assert_eq!(built.warnings.last().map(String::as_str), Some("... and 30 more ignored rule lines"));
    }

    #[test]
    fn invalid_header_lines_reject() {
        let err =
            build_rules(None, Some("  X-Orphan: value\n"), None, None, HtmlHandling::default()).unwrap_err();
        assert!(matches!(err, ApiError::InvalidRules { ref field, .. } if field == "_headers"), "{err:?}");
        assert_eq!(err.status(), 400);
    }
}
