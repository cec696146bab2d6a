//! `_headers` rules: Cloudflare's parser (`workers-shared/utils/configuration/parseHeaders.ts`)
//! with its grammar, messages and limits, and the asset worker's `attachCustomHeaders`: every
//! matching rule applies in order; the first rule to set a header replaces it, later rules
//! append; `! Name` removes.

use std::collections::HashSet;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::path::{js_len, js_trim};
use super::pattern::{substitute, Pattern};
use super::redirects::{validate_url, RuleError};

/// Rules Cloudflare accepts (its parser actually keeps a 101st, see [`parse_headers`]).
pub const MAX_HEADER_RULES: usize = 100;
/// Longest line, in UTF-16 code units like Cloudflare counts.
pub const MAX_HEADER_LINE_LENGTH: usize = 2000;

/// One rule: a path pattern and what it does to matching responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderRule {
    /// Normalised pattern: `/path/*`, `/:placeholder`, or `https://host/path`.
    pub path: String,
    /// `(lowercase name, value)` in file order. Repeated names within a rule are joined with
    /// `", "` — except `set-cookie`, whose values stay separate.
    pub set: Vec<(String, String)>,
    /// Names to remove (`! Name`).
    pub unset: Vec<String>,
    pub line: usize,
}

/// Valid rules, ready to match. Serializes as the list of rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<HeaderRule>", into = "Vec<HeaderRule>")]
pub struct HeaderRules {
    rules: Vec<HeaderRule>,
    patterns: Vec<Option<Pattern>>,
}

/// The result of parsing: the rules to use and what was ignored (surface these as warnings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedHeaders {
    pub rules: HeaderRules,
    pub invalid: Vec<RuleError>,
}

impl From<Vec<HeaderRule>> for HeaderRules {
    fn from(rules: Vec<HeaderRule>) -> Self {
        // A pattern that does not compile never matches (Cloudflare skips it too).
        let patterns = rules.iter().map(|r| Pattern::compile(&r.path).ok()).collect();
        HeaderRules { rules, patterns }
    }
}

impl From<HeaderRules> for Vec<HeaderRule> {
    fn from(rules: HeaderRules) -> Self {
        rules.rules
    }
}

impl HeaderRules {
    pub fn rules(&self) -> &[HeaderRule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// See [`apply_headers`].
    pub fn apply(&self, hostname: &str, raw_path: &str, headers: &mut Vec<(String, String)>) {
        apply_headers(self, hostname, raw_path, headers)
    }
}

/// Applies every rule matching the request to a response's headers, like Cloudflare's
/// `attachCustomHeaders` (which runs on every asset-worker response: files, 404s, 304s and
/// redirects alike).
///
/// `hostname` is the request's host without port (only `https://host/...` rules use it);
/// `raw_path` is the request's pathname exactly as received (percent-encoded). `headers` holds
/// one entry per header line, names compared case-insensitively. For each matching rule, in
/// order: its `! Name`s are removed; then each header it sets replaces all existing values the
/// first time any rule sets that name, and is appended (a second entry) afterwards — send the
/// entries with `Headers::append`, so `Set-Cookie` stays separate and others join with `, `.
/// `:placeholder` and `:splat` in values are substituted from the path.
pub fn apply_headers(
    rules: &HeaderRules,
    hostname: &str,
    raw_path: &str,
    headers: &mut Vec<(String, String)>,
) {
    let mut set_by_rules: HashSet<String> = HashSet::new();
    for (rule, pattern) in rules.rules.iter().zip(&rules.patterns) {
        let Some(captures) = pattern.as_ref().and_then(|p| p.matches(hostname, raw_path)) else {
            continue;
        };
        for name in &rule.unset {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        }
        for (name, value) in &rule.set {
            let value = substitute(value, &captures);
            if !is_valid_value(&value) {
                continue;
            }
            let lower = name.to_ascii_lowercase();
            if !set_by_rules.contains(&lower) {
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                set_by_rules.insert(lower);
            }
            headers.push((name.clone(), value));
        }
    }
}

/// RFC 9110 `token` (what `new Headers().set(name, …)` accepts; anything else would throw at
/// request time in Cloudflare and turn every matching response into a 500).
fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// What `Headers` rejects in a value: NUL, CR, LF.
fn is_valid_value(value: &str) -> bool {
    !value.contains(['\0', '\r', '\n'])
}

/// `/^([^\s]+:\/\/|^\/)/` — Cloudflare's test for "this line starts a new rule".
fn line_is_probably_a_path(line: &str) -> bool {
    line.starts_with('/')
        || line.find("://").is_some_and(|i| i > 0 && !line[..i].contains(super::path::is_js_space))
}

/// `/:splat\b/i`
fn has_splat_placeholder(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.match_indices(":splat").any(|(i, m)| {
        lower.as_bytes().get(i + m.len()).is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
    })
}

/// Parses a `_headers` file (Cloudflare Pages / Workers format):
///
/// ```text
/// # comment
/// /static/*
///   Cache-Control: public, max-age=31536000, immutable
///   ! X-Powered-By
/// https://:sub.example.com/*
///   X-Sub: :sub
/// ```
///
/// A line starting with `/` (or `scheme://`) opens a rule; `Name: value` lines add headers to it;
/// `! Name` removes one. Rules without any header are dropped. Like Cloudflare, the rule limit
/// is only checked when a new path line appears, so a file can keep 101 rules.
pub fn parse_headers(text: &str) -> ParsedHeaders {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut state = HeadersState::default();
    for (i, source) in lines.iter().enumerate() {
        let line_no = i + 1;
        let line = js_trim(source);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if js_len(line) > MAX_HEADER_LINE_LENGTH {
            state.reject(
                line_no,
                format!("Ignoring line {line_no} as it exceeds the maximum allowed length of {MAX_HEADER_LINE_LENGTH}."),
            );
            continue;
        }
        if line_is_probably_a_path(line) {
            if state.rules.len() >= MAX_HEADER_RULES {
                state.reject(
                    line_no,
                    format!(
                        "Maximum number of rules supported is {MAX_HEADER_RULES}. Skipping remaining {} lines of file.",
                        lines.len() - i
                    ),
                );
                break;
            }
            state.start_rule(line, line_no);
            continue;
        }
        match line.split_once(':') {
            None => {
                if state.current.is_none() {
                    state.reject(
                        line_no,
                        "Expected a path beginning with at least one forward-slash".to_string(),
                    );
                } else if let Some(name) = line.strip_prefix("! ") {
                    state.unset(name, line_no);
                } else {
                    state.reject(
                        line_no,
                        "Expected a colon-separated header pair (e.g. name: value)".to_string(),
                    );
                }
            }
            Some((raw_name, raw_value)) => {
                state.header(raw_name, raw_value, line_no);
            }
        }
    }
    state.finish()
}

/// A header value in a deploy's JSON `config.headers`: a string, several strings (one header
/// line each, e.g. several `Set-Cookie`s), or `null` to remove the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HeaderValueInput {
    One(String),
    Many(Vec<String>),
    Remove,
}

/// `config.headers` in a deploy request: `_headers` text, or
/// `{ "/path/*": { "X-Header": "value", "X-Gone": null } }`. Rule order is the JSON key order,
/// so deserialize this straight from the request text (a `serde_json::Value` in between would
/// sort the keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadersInput {
    Text(String),
    Rules(Vec<(String, Vec<(String, HeaderValueInput)>)>),
}

impl HeadersInput {
    /// Validates with the same rules and limits as a `_headers` file; a rule's "line" is its
    /// position (1-based) in the object.
    pub fn parse(&self) -> ParsedHeaders {
        match self {
            HeadersInput::Text(text) => parse_headers(text),
            HeadersInput::Rules(rules) => headers_from_rules(rules),
        }
    }
}

/// Builds rules from the structured form with the same validation as a `_headers` file.
pub fn headers_from_rules(rules: &[(String, Vec<(String, HeaderValueInput)>)]) -> ParsedHeaders {
    let mut state = HeadersState::default();
    for (i, (path, headers)) in rules.iter().enumerate() {
        let line = i + 1;
        if state.rules.len() >= MAX_HEADER_RULES {
            state.reject(
                line,
                format!("Maximum number of rules supported is {MAX_HEADER_RULES}. Skipping the rest."),
            );
            break;
        }
        state.start_rule(js_trim(path), line);
        for (name, value) in headers {
            match value {
                HeaderValueInput::One(v) => state.header(name, v, line),
                HeaderValueInput::Many(vs) => vs.iter().for_each(|v| state.header(name, v, line)),
                HeaderValueInput::Remove => state.unset(name, line),
            }
        }
    }
    state.finish()
}

#[derive(Default)]
struct HeadersState {
    rules: Vec<HeaderRule>,
    invalid: Vec<RuleError>,
    current: Option<HeaderRule>,
}

impl HeadersState {
    fn reject(&mut self, line: usize, message: String) {
        self.invalid.push(RuleError { line, message });
    }

    /// Closes the open rule (dropping it if it has no headers) and opens one for `path`.
    fn start_rule(&mut self, path: &str, line: usize) {
        self.close(line);
        let path = match validate_url(path, false, true, false) {
            Ok(path) => path,
            Err(message) => return self.reject(line, message),
        };
        let wildcards = path.matches('*').count();
        let wildcard_error = if wildcards > 1 {
            Some("Multiple wildcards (*) are not supported in a single rule. Use a single wildcard or create separate rules.")
        } else if wildcards > 0 && has_splat_placeholder(&path) {
            Some("Cannot combine wildcard (*) with :splat placeholder. The wildcard already captures as :splat.")
        } else {
            None
        };
        if let Some(message) = wildcard_error {
            return self.reject(line, message.to_string());
        }
        if Pattern::compile(&path).is_err() {
            // Cloudflare's regex would throw and the rule would silently never match.
            return self.reject(
                line,
                format!("The path {path} uses the same :placeholder twice, so it can never match."),
            );
        }
        self.current = Some(HeaderRule { path, set: Vec::new(), unset: Vec::new(), line });
    }

    fn header(&mut self, raw_name: &str, raw_value: &str, line: usize) {
        let name = js_trim(raw_name).to_lowercase();
        if name.contains(' ') {
            return self.reject(line, "Header name cannot include spaces".to_string());
        }
        let value = js_trim(raw_value);
        if name.is_empty() {
            return self.reject(line, "No header name specified".to_string());
        }
        if value.is_empty() {
            return self.reject(line, "No header value specified".to_string());
        }
        if self.current.is_none() {
            return self.reject(line, format!("Path should come before header ({name}: {value})"));
        }
        // Not checked by Cloudflare's parser, but its runtime throws on these (a 500 for every
        // matching request), so they are refused up front.
        if !is_token(&name) {
            return self.reject(line, format!("Invalid header name {name}"));
        }
        if !is_valid_value(value) {
            return self.reject(line, format!("Invalid value for header {name}"));
        }
        let Some(rule) = self.current.as_mut() else { return };
        match rule.set.iter_mut().find(|(n, _)| *n == name) {
            // Cloudflare joins repeated names with ", " — which would corrupt cookies, so
            // `set-cookie` values stay separate header lines.
            Some((_, existing)) if name != "set-cookie" => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => rule.set.push((name, value.to_string())),
        }
    }

    fn unset(&mut self, raw_name: &str, line: usize) {
        let name = js_trim(raw_name);
        if !is_token(name) {
            return self.reject(line, format!("Invalid header name {name}"));
        }
        match self.current.as_mut() {
            Some(rule) => rule.unset.push(name.to_string()),
            None => {
                self.reject(line, "Expected a path beginning with at least one forward-slash".to_string())
            }
        }
    }

    fn close(&mut self, line: usize) {
        if let Some(rule) = self.current.take() {
            if rule.set.is_empty() && rule.unset.is_empty() {
                // Cloudflare reports the line that closed the rule.
                self.reject(line, "No headers specified".to_string());
            } else {
                self.rules.push(rule);
            }
        }
    }

    fn finish(mut self) -> ParsedHeaders {
        if let Some(rule) = self.current.take() {
            let line = rule.line;
            self.current = Some(rule);
            self.close(line);
        }
        ParsedHeaders { rules: HeaderRules::from(self.rules), invalid: self.invalid }
    }
}

impl<'de> Deserialize<'de> for HeadersInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InputVisitor;

        impl<'de> Visitor<'de> for InputVisitor {
            type Value = HeadersInput;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`_headers` text or an object of path -> { header: value }")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(HeadersInput::Text(v.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut rules = Vec::new();
                while let Some((path, headers)) = map.next_entry::<String, OrderedHeaders>()? {
                    rules.push((path, headers.0));
                }
                Ok(HeadersInput::Rules(rules))
            }
        }

        deserializer.deserialize_any(InputVisitor)
    }
}

/// A JSON object of headers, kept in document order.
struct OrderedHeaders(Vec<(String, HeaderValueInput)>);

impl<'de> Deserialize<'de> for OrderedHeaders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;

        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = OrderedHeaders;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of header name -> value (string, list of strings, or null)")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut headers = Vec::new();
                while let Some(entry) = map.next_entry::<String, HeaderValueInput>()? {
                    headers.push(entry);
                }
                Ok(OrderedHeaders(headers))
            }
        }

        deserializer.deserialize_map(HeadersVisitor)
    }
}

impl Serialize for HeadersInput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            HeadersInput::Text(text) => serializer.serialize_str(text),
            HeadersInput::Rules(rules) => {
                let mut map = serializer.serialize_map(Some(rules.len()))?;
                for (path, headers) in rules {
                    map.serialize_entry(path, &OrderedHeadersRef(headers))?;
                }
                map.end()
            }
        }
    }
}

struct OrderedHeadersRef<'a>(&'a [(String, HeaderValueInput)]);

impl Serialize for OrderedHeadersRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type RuleView<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);

    fn rules_of(parsed: &ParsedHeaders) -> Vec<RuleView<'_>> {
        parsed
            .rules
            .rules()
            .iter()
            .map(|r| {
                (
                    r.path.as_str(),
                    r.set.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(),
                    r.unset.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }

    fn messages(parsed: &ParsedHeaders) -> Vec<(usize, &str)> {
        parsed.invalid.iter().map(|e| (e.line, e.message.as_str())).collect()
    }

    #[test]
    fn parses_cloudflare_grammar() {
        let parsed = parse_headers(
            "\
# comment
/static/*
  Cache-Control: public, max-age=31536000
  X-Multi: a
  x-multi: b
  Set-Cookie: a=1
  Set-Cookie: b=2
  ! X-Powered-By
  Link: <https://example.com>; rel=preconnect
https://:sub.example.com/*
  X-Sub: :sub
/some page
  valid: yup
",
        );
        assert_eq!(
            rules_of(&parsed),
            vec![
                (
                    "/static/*",
                    vec![
                        ("cache-control", "public, max-age=31536000"),
                        ("x-multi", "a, b"),
                        ("set-cookie", "a=1"),
                        ("set-cookie", "b=2"),
                        ("link", "<https://example.com>; rel=preconnect"),
                    ],
                    vec!["X-Powered-By"],
                ),
                ("https://:sub.example.com/*", vec![("x-sub", ":sub")], vec![]),
                ("/some%20page", vec![("valid", "yup")], vec![]),
            ]
        );
        assert!(parsed.invalid.is_empty(), "{:?}", parsed.invalid);
    }

    #[test]
    fn rejects_what_cloudflare_rejects() {
        // Cloudflare's own `parseHeaders should reject invalid headers` and malformed-URL cases.
        let parsed = parse_headers(
            "
    # Valid header sails through
    /a
      Name:       Value
    #
    /b
      I'm invalid!
      !x-content-type
      But: I'm okay!
      ! Content-Type: application/json
  http://nah.com/blog
    invalid: things
  https://nah.com:8080
    invalid: also
  /c
  /d
    x: 1
  nah.com
  :
  test:
  /a/*/b/*
    x: 1
  /e/*/:splat
    x: 1
  /f
    bad(name): 1
    ! bad name
",
        );
        assert_eq!(
            rules_of(&parsed),
            vec![
                ("/a", vec![("name", "Value")], vec![]),
                ("/b", vec![("but", "I'm okay!")], vec![]),
                ("/d", vec![("x", "1")], vec![])
            ]
        );
        assert_eq!(
            messages(&parsed),
            vec![
                (7, "Expected a colon-separated header pair (e.g. name: value)"),
                (8, "Expected a colon-separated header pair (e.g. name: value)"),
                (10, "Header name cannot include spaces"),
                (11, "URLs should either be relative (e.g. begin with a forward-slash), or use HTTPS (e.g. begin with \"https://\")."),
                (12, "Path should come before header (invalid: things)"),
                (13, "Specifying ports is not supported. Skipping absolute URL https://nah.com:8080."),
                (14, "Path should come before header (invalid: also)"),
                (16, "No headers specified"),
                (18, "Expected a colon-separated header pair (e.g. name: value)"),
                (19, "No header name specified"),
                (20, "No header value specified"),
                (21, "Multiple wildcards (*) are not supported in a single rule. Use a single wildcard or create separate rules."),
                (22, "Path should come before header (x: 1)"),
                (23, "Cannot combine wildcard (*) with :splat placeholder. The wildcard already captures as :splat."),
                (24, "Path should come before header (x: 1)"),
                (26, "Invalid header name bad(name)"),
                (27, "Invalid header name bad name"),
                // a rule left open at the end of the file is reported at its own line
                (25, "No headers specified"),
            ]
        );
    }

    #[test]
    fn enforces_cloudflare_limits() {
        let long = format!("  {}: {}", "a".repeat(1001), "b".repeat(1001));
        let parsed =
            parse_headers(&format!("/a\n  Name: Value\n{}\n/b\n  Name: Value\n{long}", "#".repeat(3000)));
        assert_eq!(rules_of(&parsed).len(), 2);
        assert_eq!(
            messages(&parsed),
            vec![(6, "Ignoring line 6 as it exceeds the maximum allowed length of 2000.")]
        );

        // Cloudflare's test: 150 rules in, 101 out (the limit is checked before the pending rule is kept).
        let text: String = (0..150).map(|i| format!("/a/{i}\nx-index: {i}\n")).collect();
        let parsed = parse_headers(&format!("# header\n{text}# trailer\n"));
        assert_eq!(parsed.rules.rules().len(), 101);
        assert_eq!(
            messages(&parsed),
            vec![(204, "Maximum number of rules supported is 100. Skipping remaining 100 lines of file.")]
        );
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn applies_like_attach_custom_headers() {
        let parsed = parse_headers(
            "\
/*
  X-Frame-Options: DENY
  Cache-Control: no-store
  Set-Cookie: a=1
/blog/:post
  X-Post: :post
  X-Frame-Options: SAMEORIGIN
  Set-Cookie: b=2
  ! Server
/blog/secret
  ! X-Frame-Options
https://:sub.example.com/*
  X-Sub: :sub-:splat
",
        );
        assert!(parsed.invalid.is_empty(), "{:?}", parsed.invalid);
        let base = headers(&[
            ("ETag", "\"h\""),
            ("Cache-Control", "public, max-age=0, must-revalidate"),
            ("Server", "x"),
        ]);
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            (
                "other.com",
                "/",
                &[
                    ("ETag", "\"h\""),
                    ("Server", "x"),
                    ("x-frame-options", "DENY"),
                    ("cache-control", "no-store"),
                    ("set-cookie", "a=1"),
                ],
            ),
            (
                "other.com",
                "/blog/hello",
                &[
                    ("ETag", "\"h\""),
                    ("x-frame-options", "DENY"),
                    ("cache-control", "no-store"),
                    ("set-cookie", "a=1"),
                    ("x-post", "hello"),
                    ("x-frame-options", "SAMEORIGIN"),
                    ("set-cookie", "b=2"),
                ],
            ),
            (
                "other.com",
                "/blog/secret",
                &[
                    ("ETag", "\"h\""),
                    ("cache-control", "no-store"),
                    ("set-cookie", "a=1"),
                    ("x-post", "secret"),
                    ("set-cookie", "b=2"),
                ],
            ),
            (
                "docs.example.com",
                "/x/y",
                &[
                    ("ETag", "\"h\""),
                    ("Server", "x"),
                    ("x-frame-options", "DENY"),
                    ("cache-control", "no-store"),
                    ("set-cookie", "a=1"),
                    ("x-sub", "docs-x/y"),
                ],
            ),
        ];
        for (host, path, want) in cases {
            let mut got = base.clone();
            apply_headers(&parsed.rules, host, path, &mut got);
            assert_eq!(got, headers(want), "{host}{path}");
        }
    }

    #[test]
    fn structured_rules_keep_order_and_validation() {
        let input: HeadersInput = serde_json::from_str(
            r#"{
                "/z/*": { "X-First": "1", "Set-Cookie": ["a=1", "b=2"], "X-Powered-By": null },
                "/a": { "bad name": "x", "X-Ok": "y" },
                "nope": { "X": "1" }
            }"#,
        )
        .unwrap();
        let parsed = input.parse();
        assert_eq!(
            rules_of(&parsed),
            vec![
                (
                    "/z/*",
                    vec![("x-first", "1"), ("set-cookie", "a=1"), ("set-cookie", "b=2")],
                    vec!["X-Powered-By"]
                ),
                ("/a", vec![("x-ok", "y")], vec![]),
            ]
        );
        assert_eq!(parsed.invalid.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 3, 3]);

        let text: HeadersInput = serde_json::from_str(r#""/x\n  X-A: b""#).unwrap();
        assert_eq!(rules_of(&text.parse()), vec![("/x", vec![("x-a", "b")], vec![])]);
        assert_eq!(serde_json::to_string(&input).unwrap().find("/z/*"), Some(2));
    }

    #[test]
    fn rules_round_trip_through_json() {
        let parsed = parse_headers("/a/*\n  X-A: :splat\n  ! Server\n");
        let back: HeaderRules = serde_json::from_str(&serde_json::to_string(&parsed.rules).unwrap()).unwrap();
        assert_eq!(back, parsed.rules);
        let mut got = headers(&[("Server", "x")]);
        back.apply("h", "/a/b", &mut got);
        assert_eq!(got, headers(&[("x-a", "b")]));
    }
}
