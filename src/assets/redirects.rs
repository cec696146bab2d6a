//! `_redirects` rules: Cloudflare's parser (`workers-shared/utils/configuration/parseRedirects.ts`
//! and `validateURL.ts`) with its grammar, messages and limits, the static/dynamic rule split of
//! `constructRedirects`, and the runtime matching of the asset worker (static rules by exact
//! path, then dynamic rules in order; `:placeholder` / `*` substitution; query kept).

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use super::config::HtmlHandling;
use super::path::{collapse_slashes, defang_leading_slashes, is_js_space, js_len, js_trim, parse_path_ref};
use super::pattern::{has_placeholder, substitute, Pattern};

/// Static (no `*`, no `:placeholder`) rules Cloudflare accepts.
pub const MAX_STATIC_REDIRECT_RULES: usize = 2000;
/// Dynamic rules Cloudflare accepts; parsing stops at the first one past the limit.
pub const MAX_DYNAMIC_REDIRECT_RULES: usize = 100;
/// Longest redirect directive (comments excluded), in UTF-16 code units like Cloudflare counts.
pub const MAX_REDIRECT_LINE_LENGTH: usize = 1000;
/// Status codes a rule may use (Cloudflare's `PERMITTED_STATUS_CODES`); 302 when omitted. 200
/// rewrites (serves another path). A rule with any other status is ignored.
pub const REDIRECT_STATUSES: [u16; 6] = [200, 301, 302, 303, 307, 308];

/// A line (or structured entry) that was ignored, with Cloudflare's wording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleError {
    /// 1-based line number in the file (entry index + 1 for structured rules).
    pub line: usize,
    pub message: String,
}

/// One valid rule. `from` and `to` are normalised the way Cloudflare stores them
/// (percent-encoded, dot segments resolved; `from` without query or fragment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectRule {
    pub from: String,
    pub to: String,
    pub status: u16,
    pub line: usize,
}

/// A rule as written in a deploy's JSON `config.redirects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectEntry {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// `config.redirects` in a deploy request: `_redirects` text, or a list of entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RedirectsInput {
    Text(String),
    Entries(Vec<RedirectEntry>),
}

impl RedirectsInput {
    /// Validates with the same rules and limits as a `_redirects` file.
    pub fn parse(&self, html_handling: HtmlHandling) -> ParsedRedirects {
        match self {
            RedirectsInput::Text(text) => parse_redirects_for(text, html_handling),
            RedirectsInput::Entries(entries) => redirects_from_entries(entries, html_handling),
        }
    }
}

/// Valid rules, ready to match. Serializes as the list of rules (in file order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<RedirectRule>", into = "Vec<RedirectRule>")]
pub struct RedirectRules {
    rules: Vec<RedirectRule>,
    /// Rules before the first dynamic one, by exact `from`.
    static_index: HashMap<String, usize>,
    /// Everything else, in order, compiled.
    dynamic: Vec<(usize, Pattern)>,
}

/// The result of parsing: the rules to use and what was ignored, in two kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedRedirects {
    pub rules: RedirectRules,
    /// Lines Cloudflare ignores that a deploy refuses (a typo must not silently drop a rule).
    pub invalid: Vec<RuleError>,
    /// Lines ignored exactly as Cloudflare ignores them, without failing the deploy: a rule
    /// whose status is a number Cloudflare does not accept (`305`, `404`, `999`). Surface these
    /// as deploy warnings.
    pub warnings: Vec<RuleError>,
}

/// What a matching rule asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectMatch {
    /// For 301/302/303/307/308: the `Location` to send — a path-absolute reference (never
    /// protocol-relative) or an `https://` URL; the request's query string is appended when the
    /// target has none. For 200: the (percent-encoded) pathname whose asset is served instead;
    /// the URL the visitor sees does not change.
    pub to: String,
    pub status: u16,
    /// `to` is a protocol-relative URL the owner wrote (`//other.example/x`): send it with the
    /// request's scheme, and never under a path-mode prefix.
    pub other_host: bool,
}

impl From<Vec<RedirectRule>> for RedirectRules {
    /// Splits rules like Cloudflare's `constructRedirects`: rules before the first dynamic rule
    /// are looked up by exact path; the rest are tried in order.
    fn from(rules: Vec<RedirectRule>) -> Self {
        let mut static_index = HashMap::new();
        let mut dynamic = Vec::new();
        let mut can_create_static = true;
        for (i, rule) in rules.iter().enumerate() {
            let is_static = !rule.from.contains('*') && !has_placeholder(&rule.from);
            if is_static && can_create_static {
                static_index.entry(rule.from.clone()).or_insert(i);
                continue;
            }
            can_create_static = false;
            // Rules that would not compile are skipped, as Cloudflare's matcher skips them.
            if let Ok(pattern) = Pattern::compile(&rule.from) {
                dynamic.push((i, pattern));
            }
        }
        RedirectRules { rules, static_index, dynamic }
    }
}

impl From<RedirectRules> for Vec<RedirectRule> {
    fn from(rules: RedirectRules) -> Self {
        rules.rules
    }
}

impl RedirectRules {
    pub fn rules(&self) -> &[RedirectRule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// See [`match_redirect`].
    pub fn find(&self, raw_path: &str, search: &str) -> Option<RedirectMatch> {
        match_redirect(self, raw_path, search)
    }
}

/// Finds the rule for a request, as Cloudflare's asset worker does before anything else.
///
/// `raw_path` is the request URL's pathname exactly as received (percent-encoded, which is what
/// Cloudflare matches rules against); `search` is its query string, with or without the leading
/// `?` (empty for none). Static rules win over dynamic ones; among dynamic rules the first match
/// wins. Rule paths are case-sensitive and a trailing `/` matters.
pub fn match_redirect(rules: &RedirectRules, raw_path: &str, search: &str) -> Option<RedirectMatch> {
    let (rule, target) = if let Some(&i) = rules.static_index.get(raw_path) {
        let rule = rules.rules.get(i)?;
        (rule, rule.to.clone())
    } else {
        rules.dynamic.iter().find_map(|(i, pattern)| {
            let captures = pattern.matches("", raw_path)?;
            let rule = rules.rules.get(*i)?;
            let target = js_trim(&substitute(&rule.to, &captures)).to_string();
            // Relative targets lose repeated slashes; external ones are kept as written.
            let external = has_scheme_prefix(&target) || is_network_path(&rule.to);
            let target = if external { target } else { collapse_slashes(&target) };
            Some((rule, target))
        })?
    };

    let search = match search {
        "" | "?" => String::new(),
        s if s.starts_with('?') => s.to_string(),
        s => format!("?{s}"),
    };
    if rule.status == 200 {
        let rewritten = parse_path_ref(&target, true).path;
        return Some(RedirectMatch {
            to: defang_leading_slashes(&rewritten),
            status: 200,
            other_host: false,
        });
    }
    let other_host = is_network_path(&rule.to);
    let to = if has_scheme_prefix(&target) || other_host {
        let (rest, hash) = split_keep(&target, '#');
        let (base, own_search) = split_keep(rest, '?');
        let own_search = if own_search.len() > 1 { own_search } else { "" };
        let hash = if hash.len() > 1 { hash } else { "" };
        format!("{base}{}{hash}", if own_search.is_empty() { &search } else { own_search })
    } else {
        let dest = parse_path_ref(&target, true);
        let query = if dest.search.is_empty() { &search } else { &dest.search };
        format!("{}{query}{}", defang_leading_slashes(&dest.path), dest.hash)
    };
    Some(RedirectMatch { to, status: rule.status, other_host })
}

/// A protocol-relative target with a host written literally (`//other.example/x`, port digits
/// allowed): no placeholder, splat or backslash can decide which host it names.
pub(crate) fn is_network_path(to: &str) -> bool {
    let Some(rest) = to.strip_prefix("//") else { return false };
    let host = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (name, port) = host.split_once(':').unwrap_or((host, "0"));
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
}

/// Splits at the first `sep`, keeping it on the right part (`""` when absent).
fn split_keep(s: &str, sep: char) -> (&str, &str) {
    match s.find(sep) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    }
}

/// `/^\w+:\/\//` — how the asset worker tells external targets from relative ones.
fn has_scheme_prefix(s: &str) -> bool {
    match s.find("://") {
        Some(i) => i > 0 && s[..i].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        None => false,
    }
}

/// Prefixes a relative `Location` (one starting with `/`) with a path-mode prefix such as
/// `/__project/my-site`, so redirects stay under the prefix. Absolute URLs (`https://…`) and
/// references relative to the current URL are returned unchanged.
///
/// Dot segments are resolved first, as a browser resolves them against the host's root on a
/// project's own host: an html_handling redirect names the decoded path (`/a%2F..%2F..%2Fx`
/// -> `/a/../../x`, as Cloudflare's does), and under the prefix a browser would climb out of
/// it into another project (`/__project/x`).
pub fn prefix_location(prefix: &str, location: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() || !location.starts_with(['/', '\\']) {
        return location.to_string();
    }
    let path = &location[..location.find(['?', '#']).unwrap_or(location.len())];
    let dot = |seg: &str| {
        matches!(seg.to_ascii_lowercase().as_str(), "." | "%2e" | ".." | ".%2e" | "%2e." | "%2e%2e")
    };
    if path.split(['/', '\\']).any(dot) {
        let resolved = parse_path_ref(location, true);
        return format!("{prefix}{}{}{}", resolved.path, resolved.search, resolved.hash);
    }
    format!("{prefix}{}", defang_leading_slashes(location))
}

/// Parses a `_redirects` file assuming HTML handling is on (Cloudflare's default).
pub fn parse_redirects(text: &str) -> ParsedRedirects {
    parse_redirects_for(text, HtmlHandling::default())
}

/// Parses a `_redirects` file. `html_handling` only matters for rejecting `/ /index`-style loops.
///
/// Grammar (Cloudflare Pages / Workers): one `from to [status]` per line; blank lines and `#`
/// comments ignored (`#` starts a comment at the start of a line or after whitespace, so
/// `/a /b#frag` keeps its fragment). `from` is a path (a missing leading `/` is added; absolute
/// URLs are rejected); `to` is a path or an `https://` URL; status defaults to 302. A rule with
/// a numeric status other than 200/301/302/303/307/308 is ignored, as Cloudflare ignores it,
/// and reported in [`ParsedRedirects::warnings`].
pub fn parse_redirects_for(text: &str, html_handling: HtmlHandling) -> ParsedRedirects {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut state = ParseState::new(html_handling);
    for (i, source) in lines.iter().enumerate() {
        let line_no = i + 1;
        let directive = strip_comment(js_trim(source));
        if directive.is_empty() {
            continue;
        }
        if js_len(directive) > MAX_REDIRECT_LINE_LENGTH {
            state.invalid.push(RuleError {
                line: line_no,
                message: format!(
                    "Ignoring line {line_no} as the redirect directive exceeds the maximum allowed length of {MAX_REDIRECT_LINE_LENGTH}."
                ),
            });
            continue;
        }
        let tokens: Vec<&str> = directive.split(is_js_space).filter(|t| !t.is_empty()).collect();
        if tokens.len() < 2 || tokens.len() > 3 {
            state.invalid.push(RuleError {
                line: line_no,
                message: format!(
                    "Expected exactly 2 or 3 whitespace-separated tokens. Got {}.",
                    tokens.len()
                ),
            });
            continue;
        }
        let status = tokens.get(2).copied();
        if state.add(tokens[0], tokens[1], status, line_no, lines.len() - i).is_break() {
            break;
        }
    }
    state.finish()
}

/// Builds rules from structured entries with exactly the validation of a `_redirects` file;
/// an entry's "line" is its index + 1.
pub fn redirects_from_entries(entries: &[RedirectEntry], html_handling: HtmlHandling) -> ParsedRedirects {
    let mut state = ParseState::new(html_handling);
    for (i, entry) in entries.iter().enumerate() {
        let status = entry.status.map(|s| s.to_string());
        if state.add(&entry.from, &entry.to, status.as_deref(), i + 1, entries.len() - i).is_break() {
            break;
        }
    }
    state.finish()
}

/// `line.replace(/(^|\s+)#.*$/, "")` on an already trimmed line.
fn strip_comment(line: &str) -> &str {
    let mut prev_space = true; // `^` counts as a boundary
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            return line[..i].trim_end_matches(is_js_space);
        }
        prev_space = is_js_space(c);
    }
    line
}

/// JavaScript `Number(token)` for the status column (`"301"`, `"301.0"`, `"0x12d"` all mean 301).
fn js_number(token: &str) -> Option<f64> {
    let t = js_trim(token);
    if t.is_empty() {
        return Some(0.0);
    }
    let radix = |prefix: &str, radix: u32| {
        t.get(..2)
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .map(|_| u64::from_str_radix(&t[2..], radix).ok().map(|v| v as f64))
    };
    if let Some(v) = radix("0x", 16).or_else(|| radix("0o", 8)).or_else(|| radix("0b", 2)) {
        return v;
    }
    match t.trim_start_matches(['+', '-']) {
        "Infinity" => return Some(if t.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY }),
        _ if !t.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) => return None,
        _ => {}
    }
    t.parse::<f64>().ok()
}

/// `/\/index(.html)?$/` (the `.` is a regex wildcard in Cloudflare's check).
fn ends_with_index(to: &str) -> bool {
    if to.ends_with("/index") {
        return true;
    }
    let Some(rest) = to.strip_suffix("html") else { return false };
    let mut chars = rest.chars();
    chars.next_back().is_some_and(|c| !matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}'))
        && chars.as_str().ends_with("/index")
}

/// Cloudflare's `validateUrl` result for one token.
pub(crate) fn validate_url(
    token: &str,
    only_relative: bool,
    disallow_ports: bool,
    keep_search_and_hash: bool,
) -> Result<String, String> {
    let extract = |path: &str| {
        let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
        let parsed = parse_path_ref(&path, false);
        if keep_search_and_hash {
            format!("{}{}{}", parsed.path, parsed.search, parsed.hash)
        } else {
            parsed.path
        }
    };
    // URL_REGEX: /^https:\/\/+(?<host>[^/]+)\/?(?<path>.*)/
    if let Some(after) = token.strip_prefix("https://") {
        let after = after.trim_start_matches('/');
        let host_len = after.find('/').unwrap_or(after.len());
        if host_len > 0 {
            if only_relative {
                return Err(format!("Only relative URLs are allowed. Skipping absolute URL {token}."));
            }
            let host = &after[..host_len];
            if disallow_ports && is_host_with_port(host) {
                return Err(format!("Specifying ports is not supported. Skipping absolute URL {token}."));
            }
            let path = after[host_len..].strip_prefix('/').unwrap_or(&after[host_len..]);
            return Ok(format!("https://{host}{}", extract(path)));
        }
    }
    let token =
        if only_relative && !token.starts_with('/') { format!("/{token}") } else { token.to_string() };
    if token.starts_with('/') {
        return Ok(extract(&token));
    }
    Err(if only_relative {
        "URLs should begin with a forward-slash.".to_string()
    } else {
        "URLs should either be relative (e.g. begin with a forward-slash), or use HTTPS (e.g. begin with \"https://\").".to_string()
    })
}

/// `/.*:\d+$/`
fn is_host_with_port(host: &str) -> bool {
    host.rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn url_has_host(token: &str) -> bool {
    token.strip_prefix("https://").is_some_and(|after| {
        let after = after.trim_start_matches('/');
        !after.is_empty() && !after.starts_with('/')
    })
}

/// Counters and results shared by the file and structured-entry parsers.
struct ParseState {
    html_handling: HtmlHandling,
    rules: Vec<RedirectRule>,
    invalid: Vec<RuleError>,
    warnings: Vec<RuleError>,
    seen: HashSet<String>,
    static_rules: usize,
    dynamic_rules: usize,
    can_create_static: bool,
}

impl ParseState {
    fn new(html_handling: HtmlHandling) -> Self {
        ParseState {
            html_handling,
            rules: Vec::new(),
            invalid: Vec::new(),
            warnings: Vec::new(),
            seen: HashSet::new(),
            static_rules: 0,
            dynamic_rules: 0,
            can_create_static: true,
        }
    }

    fn reject(&mut self, line: usize, message: String) -> ControlFlow<()> {
        self.invalid.push(RuleError { line, message });
        ControlFlow::Continue(())
    }

    /// Validates one rule in Cloudflare's order (limits are counted before the target and
    /// status are checked, exactly like `parseRedirects`). `remaining` counts this line too.
    fn add(
        &mut self,
        from: &str,
        to: &str,
        status: Option<&str>,
        line: usize,
        remaining: usize,
    ) -> ControlFlow<()> {
        let from = match validate_url(from, true, true, false) {
            Ok(from) => from,
            Err(message) => return self.reject(line, message),
        };

        if self.can_create_static && !from.contains('*') && !has_placeholder(&from) {
            self.static_rules += 1;
            if self.static_rules > MAX_STATIC_REDIRECT_RULES {
                return self.reject(
                    line,
                    format!("Maximum number of static rules supported is {MAX_STATIC_REDIRECT_RULES}. Skipping line."),
                );
            }
        } else {
            self.dynamic_rules += 1;
            self.can_create_static = false;
            if self.dynamic_rules > MAX_DYNAMIC_REDIRECT_RULES {
                self.invalid.push(RuleError {
                    line,
                    message: format!(
                        "Maximum number of dynamic rules supported is {MAX_DYNAMIC_REDIRECT_RULES}. Skipping remaining {remaining} lines of file."
                    ),
                });
                return ControlFlow::Break(());
            }
        }

        let to = match validate_url(to, false, false, true) {
            Ok(to) => to,
            Err(message) => return self.reject(line, message),
        };
        let status_text = status.unwrap_or("302");
        // Cloudflare's parser drops a rule whose status is not one it accepts, with this very
        // message (`parseRedirects.ts`), so the path is served as if the rule were not there.
        // A numeric status is only a warning here (the deploy goes on, as on Cloudflare); a
        // non-numeric one stays an invalid line, which fails the deploy.
        let message = || {
            format!("Valid status codes are 200, 301, 302 (default), 303, 307, or 308. Got {status_text}.")
        };
        let Some(number) = js_number(status_text) else {
            return self.reject(line, message());
        };
        let Some(status) = REDIRECT_STATUSES.iter().copied().find(|s| f64::from(*s) == number) else {
            self.warnings.push(RuleError { line, message: message() });
            return ControlFlow::Continue(());
        };

        let relative = !url_has_host(&to);
        let wildcard_to_index = from.ends_with("/*") && ends_with_index(&to);
        let root_to_index = from.ends_with('/') && ends_with_index(&to);
        if relative && (wildcard_to_index || (root_to_index && self.html_handling != HtmlHandling::None)) {
            return self.reject(
                line,
                "Infinite loop detected in this rule and has been ignored. This will cause a redirect to strip `.html` or `/index` and end up triggering this rule again. Please fix or remove this rule to silence this warning.".to_string(),
            );
        }
        // A protocol-relative target the owner wrote (`//other.example/path`) is accepted, as
        // Cloudflare does, and answered with the request's scheme. One whose host a placeholder
        // or splat would fill, a `/\` form, or a 200 rewrite to another host would be an open
        // redirect or a proxy, and is refused.
        let network = is_network_path(&to) && status != 200;
        if relative && !network && (to.starts_with("//") || to.starts_with("/\\")) {
            return self.reject(
                line,
                format!("A protocol-relative target (another site) must name its host literally, not through a placeholder or splat, and cannot be a 200 rewrite. Got {to}."),
            );
        }
        if let Err(e) = Pattern::compile(&from) {
            // Cloudflare's regex would throw here and the rule would silently never match.
            let super::pattern::PatternError::DuplicateName(name) = e;
            return self.reject(
                line,
                format!("The path {from} uses :{name} (or *) more than once, so it can never match."),
            );
        }

        if !self.seen.insert(from.clone()) {
            return self.reject(line, format!("Ignoring duplicate rule for path {from}."));
        }
        if status == 200 && !relative {
            return self
                .reject(line, format!("Proxy (200) redirects can only point to relative paths. Got {to}"));
        }
        self.rules.push(RedirectRule { from, to, status, line });
        ControlFlow::Continue(())
    }

    fn finish(self) -> ParsedRedirects {
        ParsedRedirects {
            rules: RedirectRules::from(self.rules),
            invalid: self.invalid,
            warnings: self.warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_of(parsed: &ParsedRedirects) -> Vec<(&str, &str, u16, usize)> {
        parsed.rules.rules().iter().map(|r| (r.from.as_str(), r.to.as_str(), r.status, r.line)).collect()
    }

    fn messages(parsed: &ParsedRedirects) -> Vec<(usize, &str)> {
        parsed.invalid.iter().map(|e| (e.line, e.message.as_str())).collect()
    }

    #[test]
    fn parses_cloudflare_grammar() {
        let text = "\
# comment
/a /b
/c /d 301 # trailing comment
/e /f#frag 308
/g https://example.com/x?y=1 307
  /trim   /me   303  \r
/h /i 200
no-slash /j
/k/* /l/:splat
/m/:id /n?id=:id 301
/some page /x
";
        let parsed = parse_redirects(text);
        assert_eq!(
            rules_of(&parsed),
            vec![
                ("/a", "/b", 302, 2),
                ("/c", "/d", 301, 3),
                ("/e", "/f#frag", 308, 4),
                ("/g", "https://example.com/x?y=1", 307, 5),
                ("/trim", "/me", 303, 6),
                ("/h", "/i", 200, 7),
                ("/no-slash", "/j", 302, 8),
                ("/k/*", "/l/:splat", 302, 9),
                ("/m/:id", "/n?id=:id", 301, 10),
            ]
        );
        // three tokens: `page` is read as the target
        assert_eq!(
            messages(&parsed),
            vec![(
                11,
                "URLs should either be relative (e.g. begin with a forward-slash), or use HTTPS (e.g. begin with \"https://\")."
            )]
        );
    }

    #[test]
    fn normalises_like_cloudflare_valid_cases() {
        // From workers-sdk `parseRedirects.valid.test.ts`.
        let parsed = parse_redirects(
            "\
  /a /b?query=string 302
  /c?this=rejected /d 301
  /ext https://some.domain:1234/route?q=string#anchor
  /f /b##blah-1 302
  /g https://example.com/b##blah-1 302
  /foo https://bar.com/index.html 302
  /cat https://cat.com:12345 302
  /* /foo 200
",
        );
        assert!(parsed.invalid.is_empty(), "{:?}", parsed.invalid);
        assert_eq!(
            rules_of(&parsed),
            vec![
                ("/a", "/b?query=string", 302, 1),
                ("/c", "/d", 301, 2),
                ("/ext", "https://some.domain:1234/route?q=string#anchor", 302, 3),
                ("/f", "/b##blah-1", 302, 4),
                ("/g", "https://example.com/b##blah-1", 302, 5),
                ("/foo", "https://bar.com/index.html", 302, 6),
                ("/cat", "https://cat.com:12345/", 302, 7),
                ("/*", "/foo", 200, 8),
            ]
        );
    }

    #[test]
    fn rejects_what_cloudflare_rejects() {
        let text = "\
/a
/a /b /c /d
https://example.com/a /b
/b http://example.com
/c relative
/d /e 418
/f /g 301
/f /h 302
/* /index.html
/ /index
/i https://example.com 200
/j /k 0x12d
/l //evil.com
/m /\\evil.com
/n/:x/:x /o
/p/:host //:host/x
/q //other.example/x 200
";
        let parsed = parse_redirects(text);
        assert_eq!(
            rules_of(&parsed),
            // A literal protocol-relative target is accepted, as Cloudflare does.
            vec![("/f", "/g", 301, 7), ("/j", "/k", 301, 12), ("/l", "//evil.com", 302, 13)]
        );
        let loop_msg = "Infinite loop detected in this rule and has been ignored. This will cause a redirect to strip `.html` or `/index` and end up triggering this rule again. Please fix or remove this rule to silence this warning.";
        let https_msg = "URLs should either be relative (e.g. begin with a forward-slash), or use HTTPS (e.g. begin with \"https://\").";
        assert_eq!(
            messages(&parsed),
            vec![
                (1, "Expected exactly 2 or 3 whitespace-separated tokens. Got 1."),
                (2, "Expected exactly 2 or 3 whitespace-separated tokens. Got 4."),
                (3, "Only relative URLs are allowed. Skipping absolute URL https://example.com/a."),
                (4, https_msg),
                (5, https_msg),
                (8, "Ignoring duplicate rule for path /f."),
                (9, loop_msg),
                (10, loop_msg),
                (11, "Proxy (200) redirects can only point to relative paths. Got https://example.com/"),
                (14, "A protocol-relative target (another site) must name its host literally, not through a placeholder or splat, and cannot be a 200 rewrite. Got /\\evil.com."),
                (15, "The path /n/:x/:x uses :x (or *) more than once, so it can never match."),
                (16, "A protocol-relative target (another site) must name its host literally, not through a placeholder or splat, and cannot be a 200 rewrite. Got //:host/x."),
                (17, "A protocol-relative target (another site) must name its host literally, not through a placeholder or splat, and cannot be a 200 rewrite. Got //other.example/x."),
            ]
        );
        // An unsupported numeric status: ignored like on Cloudflare, reported as a warning.
        assert_eq!(
            parsed.warnings.iter().map(|e| (e.line, e.message.as_str())).collect::<Vec<_>>(),
            vec![(6, "Valid status codes are 200, 301, 302 (default), 303, 307, or 308. Got 418.")]
        );
        // `/ /index` is fine when html_handling is none
        assert_eq!(
            rules_of(&parse_redirects_for("/ /index", HtmlHandling::None)),
            vec![("/", "/index", 302, 1)]
        );
    }

    #[test]
    fn enforces_cloudflare_limits() {
        let long = format!("/a /{}", "b".repeat(MAX_REDIRECT_LINE_LENGTH));
        let parsed = parse_redirects(&format!("{long}\n/ok /fine # {}", "c".repeat(2000)));
        assert_eq!(rules_of(&parsed), vec![("/ok", "/fine", 302, 2)]);
        assert_eq!(
            messages(&parsed),
            vec![(
                1,
                "Ignoring line 1 as the redirect directive exceeds the maximum allowed length of 1000."
            )]
        );

        let statics: String = (0..MAX_STATIC_REDIRECT_RULES + 2).map(|i| format!("/s{i} /t\n")).collect();
        let parsed = parse_redirects(&statics);
        assert_eq!(parsed.rules.rules().len(), MAX_STATIC_REDIRECT_RULES);
        assert_eq!(parsed.invalid.len(), 2);
        assert_eq!(
            parsed.invalid[0].message,
            "Maximum number of static rules supported is 2000. Skipping line."
        );

        let dynamics: String = (0..MAX_DYNAMIC_REDIRECT_RULES + 5).map(|i| format!("/d{i}/* /t\n")).collect();
        let parsed = parse_redirects(&dynamics);
        assert_eq!(parsed.rules.rules().len(), MAX_DYNAMIC_REDIRECT_RULES);
        // 105 rule lines + the empty line after the final newline; stops at line 101
        assert_eq!(
            messages(&parsed),
            vec![(
                101,
                "Maximum number of dynamic rules supported is 100. Skipping remaining 6 lines of file."
            )]
        );
    }

    #[test]
    fn matches_static_then_dynamic_in_order() {
        let parsed = parse_redirects(
            "\
/blog/* /news/:splat 301
/blog/special /the-special 308
/users/:id /u/:id
/exact /elsewhere 307
/app/* /app/shell.html 200
/ext/* https://example.com/:splat 302
/q /target?fixed=1
/frag /target#top
/deep/*/x /d/:splat
/dots/* /up/../:splat
",
        );
        assert!(parsed.invalid.is_empty(), "{:?}", parsed.invalid);
        let m = |path: &str, search: &str| parsed.rules.find(path, search).map(|m| (m.status, m.to));
        type Case<'a> = (&'a str, &'a str, Option<(u16, &'a str)>);
        let cases: &[Case] = &[
            ("/blog/a/b", "", Some((301, "/news/a/b"))),
            // /blog/special is after a dynamic rule, so it is dynamic too: first match wins
            ("/blog/special", "", Some((301, "/news/special"))),
            ("/users/42", "?x=1", Some((302, "/u/42?x=1"))),
            ("/users/42/more", "", None),
            ("/exact", "a=b", Some((307, "/elsewhere?a=b"))),
            ("/exact/", "", None),
            ("/EXACT", "", None),
            ("/app/dashboard", "?tab=2", Some((200, "/app/shell.html"))),
            ("/ext/path/x", "?q", Some((302, "https://example.com/path/x?q"))),
            ("/q", "?ignored=1", Some((302, "/target?fixed=1"))),
            ("/frag", "?kept", Some((302, "/target?kept#top"))),
            ("/deep//x", "", Some((302, "/d/"))),
            ("/dots/a/b", "", Some((302, "/a/b"))),
            ("/nothing", "", None),
        ];
        for (path, search, want) in cases {
            assert_eq!(m(path, search), want.map(|(s, t)| (s, t.to_string())), "{path}{search}");
        }
    }

    #[test]
    fn literal_protocol_relative_targets_keep_their_host() {
        let parsed = parse_redirects("/l //other.example/path 301\n/go/* //other.example:8443/:splat\n");
        assert!(parsed.invalid.is_empty(), "{:?}", parsed.invalid);
        let m = parsed.rules.find("/l", "?q=1").unwrap();
        assert_eq!((m.to.as_str(), m.status, m.other_host), ("//other.example/path?q=1", 301, true));
        let m = parsed.rules.find("/go/a//b", "").unwrap();
        assert_eq!((m.to.as_str(), m.other_host), ("//other.example:8443/a//b", true));
        assert!(!parse_redirects("/x /y").rules.find("/x", "").unwrap().other_host);
        for bad in ["//:x/y", "//*/y", "//a\\b/c", "//", "///x", "//a:b/c"] {
            assert!(!is_network_path(bad), "{bad}");
        }
        assert!(is_network_path("//a.b-c.example"));
    }

    #[test]
    fn substituted_targets_never_become_protocol_relative() {
        let parsed = parse_redirects("/go/* /:splat\n/r/:a /:a/x 200\n/h/* /x/..//:splat");
        // `/x/..//:splat` normalises to `//:splat` at parse time and is refused there
        assert_eq!(parsed.invalid.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3]);
        let cases = [
            ("/go//evil.com", "/evil.com"),
            ("/go/%2F%2Fevil.com", "/%2F%2Fevil.com"),
            ("/go/\\evil.com", "/evil.com"),
        ];
        for (path, want) in cases {
            assert_eq!(parsed.rules.find(path, "").map(|m| m.to).as_deref(), Some(want), "{path}");
        }
        assert_eq!(parsed.rules.find("/r/a", "").map(|m| m.to).as_deref(), Some("/a/x"));
    }

    #[test]
    fn structured_entries_use_the_same_validation() {
        let input: RedirectsInput = serde_json::from_str(
            r#"[{"from":"/a","to":"/b"},{"from":"/c","to":"/d","status":301},{"from":"/e","to":"//:x"},{"from":"/f","to":"/g","status":404}]"#,
        )
        .unwrap();
        let parsed = input.parse(HtmlHandling::default());
        // An unsupported status is ignored with a warning, in JSON as in `_redirects`.
        assert_eq!(rules_of(&parsed), vec![("/a", "/b", 302, 1), ("/c", "/d", 301, 2)]);
        assert_eq!(parsed.invalid.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3]);
        assert_eq!(parsed.warnings.iter().map(|e| e.line).collect::<Vec<_>>(), vec![4]);

        let text: RedirectsInput = serde_json::from_str(r#""/x /y 308""#).unwrap();
        assert_eq!(rules_of(&text.parse(HtmlHandling::default())), vec![("/x", "/y", 308, 1)]);
    }

    #[test]
    fn rules_with_a_status_cloudflare_refuses_are_ignored_with_a_warning() {
        // Cloudflare's `PERMITTED_STATUS_CODES` is 200, 301, 302, 303, 307, 308; its parser
        // drops any other rule with the same message (`parseRedirects.invalid.test.ts`).
        let parsed = parse_redirects(
            "\
/use-proxy /a 305
/not-modified /a 304
/gone /a 404
/nine /a 999
/hex /a 0x131
/huge /a 1e400
/zero /a -0
/spa/* /shell.html 200
/typo /a 30x
/use-proxy /b 308
/dyn/:id /c/:id 305
",
        );
        // The 200 on a dynamic rule is accepted (Cloudflare's own valid case `/* /foo 200`); the
        // ignored `/use-proxy` does not claim its path, so the later 308 rule for it is valid.
        assert_eq!(rules_of(&parsed), vec![("/spa/*", "/shell.html", 200, 8), ("/use-proxy", "/b", 308, 10)]);
        let got = |status: &str| {
            format!("Valid status codes are 200, 301, 302 (default), 303, 307, or 308. Got {status}.")
        };
        assert_eq!(
            parsed.warnings,
            [
                (1, "305"),
                (2, "304"),
                (3, "404"),
                (4, "999"),
                (5, "0x131"),
                (6, "1e400"),
                (7, "-0"),
                (11, "305")
            ]
            .map(|(line, s)| RuleError { line, message: got(s) })
            .to_vec()
        );
        // Not a number at all: still an invalid line, which fails a deploy.
        assert_eq!(parsed.invalid, vec![RuleError { line: 9, message: got("30x") }]);
        for path in ["/use-proxy", "/not-modified", "/gone", "/nine", "/dyn/1"] {
            let m = parsed.rules.find(path, "");
            assert!(m.as_ref().is_none_or(|m| m.to == "/b"), "{path} must not redirect: {m:?}");
        }
        // Every accepted status still works.
        for status in REDIRECT_STATUSES {
            let parsed = parse_redirects(&format!("/x /y {status}"));
            assert!(parsed.warnings.is_empty() && parsed.invalid.is_empty(), "{status}");
            assert_eq!(parsed.rules.find("/x", "").map(|m| m.status), Some(status));
        }
    }

    #[test]
    fn rules_round_trip_through_json() {
        let parsed = parse_redirects("/a /b\n/c/* /d/:splat 301\n/e /f");
        let json = serde_json::to_string(&parsed.rules).unwrap();
        let back: RedirectRules = serde_json::from_str(&json).unwrap();
        assert_eq!(back, parsed.rules);
        assert_eq!(back.find("/c/x", "").map(|m| m.to).as_deref(), Some("/d/x"));
        assert_eq!(back.find("/e", "").map(|m| m.status), Some(302));
    }

    #[test]
    fn status_column_reads_like_javascript_number() {
        let cases = [
            ("301", Some(301.0)),
            ("301.0", Some(301.0)),
            ("3.01e2", Some(301.0)),
            ("0x12D", Some(301.0)),
            ("+301", Some(301.0)),
            ("inf", None),
            ("NaN", None),
            ("30l", None),
        ];
        for (token, want) in cases {
            assert_eq!(js_number(token), want, "{token}");
        }
    }

    #[test]
    fn prefixes_relative_locations_only() {
        let cases = [
            ("/__project/site", "/about", "/__project/site/about"),
            ("/__project/site/", "/", "/__project/site/"),
            ("/__project/site", "/a?b=c#d", "/__project/site/a?b=c#d"),
            ("/__project/site", "https://example.com/x", "https://example.com/x"),
            ("/__project/site", "//evil.com", "/__project/site/evil.com"),
            ("/__project/site", "relative", "relative"),
            // Dot segments cannot climb out of the prefix (a browser would resolve them).
            ("/__project/site", "/a/../../other/x?q=1", "/__project/site/other/x?q=1"),
            ("/__project/site", "/../%2E%2e/x/./y#f", "/__project/site/x/y#f"),
            ("/__project/site", "/..", "/__project/site/"),
            ("/__project/site", "/a..b/.c", "/__project/site/a..b/.c"),
            ("", "/about", "/about"),
        ];
        for (prefix, location, want) in cases {
            assert_eq!(prefix_location(prefix, location), want);
        }
    }
}
