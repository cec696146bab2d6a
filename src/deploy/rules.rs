//! A deployment's redirect and header rules: the uploaded `_redirects`/`_headers` files
//! first, then `config.redirects`/`config.headers`. Any invalid line rejects the deploy with
//! its line number, so a typo never silently drops a rule.

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

pub fn build_rules(
    redirects_file: Option<&str>,
    headers_file: Option<&str>,
    config_redirects: Option<&RedirectsInput>,
    config_headers: Option<&HeadersInput>,
    html_handling: HtmlHandling,
) -> Result<(RedirectRules, HeaderRules), ApiError> {
    let mut redirects = Vec::new();
    if let Some(text) = redirects_file {
        let parsed = parse_redirects_for(text, html_handling);
        reject("_redirects", &parsed.invalid)?;
        redirects.extend(parsed.rules.rules().iter().cloned());
    }
    if let Some(input) = config_redirects {
        let parsed = input.parse(html_handling);
        reject("config.redirects", &parsed.invalid)?;
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
    Ok((RedirectRules::from(redirects), HeaderRules::from(headers)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_rules_come_first_and_invalid_lines_are_named() {
        let config: RedirectsInput = serde_json::from_str(r#"[{"from":"/a","to":"/config"}]"#).unwrap();
        let (r, _) =
            build_rules(Some("/a /file 301\n"), None, Some(&config), None, HtmlHandling::default()).unwrap();
        let m = r.find("/a", "").unwrap();
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
        let (_, h) = build_rules(None, None, None, Some(&input), HtmlHandling::default()).unwrap();
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
    fn invalid_header_lines_reject() {
        let err =
            build_rules(None, Some("  X-Orphan: value\n"), None, None, HtmlHandling::default()).unwrap_err();
        assert!(matches!(err, ApiError::InvalidRules { ref field, .. } if field == "_headers"), "{err:?}");
        assert_eq!(err.status(), 400);
    }
}
