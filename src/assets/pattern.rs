//! Path patterns of `_redirects` / `_headers` rules: a regex-free port of Cloudflare's
//! rules-engine (`generateRuleRegExp` + `replacer`): `*` is a greedy splat captured as `:splat`,
//! `:name` captures one path segment (`[^/]+`; `[^/.]+` in the host of an `https://` rule).
//! Matching picks the same captures as the JavaScript regex's greedy backtracking, in
//! `O(tokens × path)` time whatever the pattern (no ReDoS).

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    /// `:name` — one or more bytes, none `/` (nor `.` when `in_host`).
    Placeholder {
        name: String,
        in_host: bool,
    },
    /// `*` — zero or more bytes (JS `.`: anything but a line terminator).
    Splat,
}

/// A compiled rule path such as `/blog/:slug/*` or `https://:sub.example.com/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
    /// Rules starting with `https://` match against `https://<hostname><pathname>`.
    cross_host: bool,
}

/// Why a rule path would not compile (Cloudflare's regex would throw and the rule is skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatternError {
    DuplicateName(String),
}

/// `:[A-Za-z]\w*` at byte `i` of `s`: returns the name's end (exclusive).
fn placeholder_at(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b':') || !s.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let mut end = i + 2;
    while s.get(end).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        end += 1;
    }
    Some(end)
}

/// Whether `:` followed by a placeholder name occurs in `s` (Cloudflare's `PLACEHOLDER_REGEX`).
pub(crate) fn has_placeholder(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len()).any(|i| placeholder_at(b, i).is_some())
}

/// Characters Cloudflare's `escapeRegex` prefixes with `\` (besides `*`, which is split out first).
fn is_escaped_char(b: u8) -> bool {
    b"-/\\^$+?.()|[]{}".contains(&b)
}

impl Pattern {
    pub(crate) fn compile(rule: &str) -> Result<Pattern, PatternError> {
        let cross_host = rule.starts_with("https://");
        // A placeholder is "in the host" when it sits between `https://` and the next `/`
        // and is followed by a character the regex escaping turns into `\x` (Cloudflare's
        // HOST_PLACEHOLDER_REGEX lookbehind/lookahead).
        let host_end = if cross_host { rule[8..].find('/').map_or(rule.len(), |i| i + 8) } else { 0 };
        let bytes = rule.as_bytes();
        let mut tokens = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'*' {
                flush(&mut literal, &mut tokens);
                tokens.push(Token::Splat);
                claim("splat", &mut names)?;
                i += 1;
            } else if let Some(end) = placeholder_at(bytes, i) {
                flush(&mut literal, &mut tokens);
                let name = rule[i + 1..end].to_string();
                let in_host = cross_host
                    && i >= 8
                    && i < host_end
                    && bytes.get(end).is_some_and(|b| is_escaped_char(*b));
                claim(&name, &mut names)?;
                tokens.push(Token::Placeholder { name, in_host });
                i = end;
            } else {
                let c_len = rule[i..].chars().next().map_or(1, char::len_utf8);
                literal.push_str(&rule[i..i + c_len]);
                i += c_len;
            }
        }
        flush(&mut literal, &mut tokens);
        Ok(Pattern { tokens, cross_host })
    }

    /// Matches a request; `hostname` is only consulted by `https://` rules. Returns the captures
    /// (`splat` for `*`) on success.
    pub(crate) fn matches(&self, hostname: &str, pathname: &str) -> Option<HashMap<String, String>> {
        let owned;
        let subject = if self.cross_host {
            owned = format!("https://{hostname}{pathname}");
            owned.as_str()
        } else {
            pathname
        };
        match self.tokens.as_slice() {
            [Token::Literal(lit)] => return (lit == subject).then(HashMap::new),
            // Most rules fail on their literal prefix: skip the table for those.
            [Token::Literal(lit), ..] if !subject.starts_with(lit.as_str()) => return None,
            _ => {}
        }
        let spans = Matcher::new(&self.tokens, subject.as_bytes()).spans()?;
        let mut captures = HashMap::new();
        for (token, (start, end)) in self.tokens.iter().zip(spans) {
            let name = match token {
                Token::Splat => "splat",
                Token::Placeholder { name, .. } => name.as_str(),
                Token::Literal(_) => continue,
            };
            captures.insert(name.to_string(), subject.get(start..end).unwrap_or("").to_string());
        }
        Some(captures)
    }
}

fn flush(literal: &mut String, tokens: &mut Vec<Token>) {
    if !literal.is_empty() {
        tokens.push(Token::Literal(std::mem::take(literal)));
    }
}

fn claim(name: &str, names: &mut Vec<String>) -> Result<(), PatternError> {
    if names.iter().any(|n| n == name) {
        return Err(PatternError::DuplicateName(name.to_string()));
    }
    names.push(name.to_string());
    Ok(())
}

/// Anchored matching by dynamic programming: `ok[t][p]` says whether tokens `t..` can match
/// `s[p..]`. Captures are then read off greedily — each variable token takes the longest span
/// after which the rest still matches — which is exactly the span a backtracking regex with
/// greedy quantifiers settles on, in `O(tokens × len)` instead of exponential time.
struct Matcher<'a> {
    tokens: &'a [Token],
    s: &'a [u8],
}

impl<'a> Matcher<'a> {
    fn new(tokens: &'a [Token], s: &'a [u8]) -> Self {
        Matcher { tokens, s }
    }

    fn is_boundary(&self, q: usize) -> bool {
        self.s.get(q).is_none_or(|b| (b & 0xC0) != 0x80)
    }

    fn is_stop(&self, token: &Token, q: usize) -> bool {
        let s = self.s;
        match token {
            Token::Placeholder { in_host, .. } => s[q] == b'/' || (*in_host && s[q] == b'.'),
            // JS `.` does not match \n, \r, U+2028 or U+2029.
            _ => {
                s[q] == b'\n'
                    || s[q] == b'\r'
                    || (s[q] == 0xE2
                        && s.get(q + 1) == Some(&0x80)
                        && matches!(s.get(q + 2), Some(0xA8 | 0xA9)))
            }
        }
    }

    /// `stop[p]`: the first position at or after `p` a variable token cannot cross.
    fn stops(&self, token: &Token) -> Vec<usize> {
        let n = self.s.len();
        let mut stop = vec![n; n + 1];
        for q in (0..n).rev() {
            stop[q] = if self.is_stop(token, q) { q } else { stop[q + 1] };
        }
        stop
    }

    fn spans(&self) -> Option<Vec<(usize, usize)>> {
        let (s, n, t) = (self.s, self.s.len(), self.tokens.len());
        let mut ok = vec![vec![false; n + 1]; t + 1];
        ok[t][n] = true;
        let mut stops: Vec<Vec<usize>> = vec![Vec::new(); t];
        for ti in (0..t).rev() {
            let (head, tail) = ok.split_at_mut(ti + 1);
            let (cur, next) = (&mut head[ti], &tail[0]);
            match &self.tokens[ti] {
                Token::Literal(lit) => {
                    let lit = lit.as_bytes();
                    for p in 0..=n {
                        cur[p] = s.get(p..).is_some_and(|rest| rest.starts_with(lit)) && next[p + lit.len()];
                    }
                }
                token => {
                    let min = usize::from(matches!(token, Token::Placeholder { .. }));
                    let stop = self.stops(token);
                    // last_ok[q]: the largest end <= q after which the remaining tokens match.
                    let mut last_ok = vec![None; n + 1];
                    let mut last = None;
                    for q in 0..=n {
                        if next[q] && self.is_boundary(q) {
                            last = Some(q);
                        }
                        last_ok[q] = last;
                    }
                    for p in 0..=n {
                        cur[p] = last_ok[stop[p]].is_some_and(|q| q >= p + min);
                    }
                    stops[ti] = stop;
                }
            }
        }
        if !ok[0][0] {
            return None;
        }
        let mut spans = Vec::with_capacity(t);
        let mut pos = 0;
        for (ti, token) in self.tokens.iter().enumerate() {
            let end = match token {
                Token::Literal(lit) => pos + lit.len(),
                token => {
                    let min = pos + usize::from(matches!(token, Token::Placeholder { .. }));
                    let max = stops[ti].get(pos).copied().unwrap_or(pos);
                    (min..=max).rev().find(|&q| ok[ti + 1][q] && self.is_boundary(q))?
                }
            };
            spans.push((pos, end));
            pos = end;
        }
        Some(spans)
    }
}

/// Cloudflare's `replacer`: substitutes every `:name` in `template` that has a capture, in one
/// pass (so `:id` never eats into `:id_2`); placeholders without a capture are left alone.
pub(crate) fn substitute(template: &str, captures: &HashMap<String, String>) -> String {
    let bytes = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = placeholder_at(bytes, i) {
            match captures.get(&template[i + 1..end]) {
                Some(value) => out.push_str(value),
                None => out.push_str(&template[i..end]),
            }
            i = end;
        } else {
            let c_len = template[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&template[i..i + c_len]);
            i += c_len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn matches_like_cloudflare_regexes() {
        // (rule, host, path, expected captures)
        type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a [(&'a str, &'a str)]>);
        let cases: &[Case] = &[
            ("/a", "h", "/a", Some(&[])),
            ("/a", "h", "/a/", None),
            ("/a", "h", "/A", None),
            ("/blog/*", "h", "/blog/", Some(&[("splat", "")])),
            ("/blog/*", "h", "/blog/a/b", Some(&[("splat", "a/b")])),
            ("/blog/*", "h", "/blog", None),
            ("/*", "h", "/", Some(&[("splat", "")])),
            ("/users/:id", "h", "/users/42", Some(&[("id", "42")])),
            ("/users/:id", "h", "/users/42/x", None),
            ("/users/:id", "h", "/users/", None),
            ("/:a-:b", "h", "/x-y-z", Some(&[("a", "x-y"), ("b", "z")])),
            ("/:a/*", "h", "/x/y/z", Some(&[("a", "x"), ("splat", "y/z")])),
            ("/*/:last", "h", "/x/y/z", Some(&[("splat", "x/y"), ("last", "z")])),
            ("/a.b", "h", "/aXb", None),
            ("/p/:id/:id_2", "h", "/p/1/2", Some(&[("id", "1"), ("id_2", "2")])),
            ("/f/:file.jpg", "h", "/f/cat.jpg", Some(&[("file", "cat")])),
            (
                "https://:sub.example.com/*",
                "blog.example.com",
                "/x",
                Some(&[("sub", "blog"), ("splat", "x")]),
            ),
            ("https://:sub.example.com/*", "a.b.example.com", "/x", None),
            ("https://example.com/:p", "example.com", "/a.b", Some(&[("p", "a.b")])),
            ("https://example.com/*", "other.com", "/x", None),
            ("/:p", "h", "/a.b", Some(&[("p", "a.b")])),
        ];
        for (rule, host, path, want) in cases {
            let pattern = Pattern::compile(rule).unwrap();
            let got = pattern.matches(host, path);
            assert_eq!(got, want.map(caps), "{rule} vs {host}{path}");
        }
    }

    #[test]
    fn duplicate_capture_names_do_not_compile() {
        for rule in ["/*/*", "/:a/:a", "/:splat/*"] {
            assert!(Pattern::compile(rule).is_err(), "{rule}");
        }
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let rule = format!("/{}/x", (0..30).map(|i| format!(":p{i}")).collect::<String>());
        let pattern = Pattern::compile(&rule).unwrap();
        let path = format!("/{}", "a".repeat(4000));
        assert_eq!(pattern.matches("h", &path), None);
        let pattern = Pattern::compile("/*a*").map(|_| ()).unwrap_err();
        assert_eq!(pattern, PatternError::DuplicateName("splat".into()));
    }

    #[test]
    fn substitute_replaces_whole_names_only() {
        let c = caps(&[("id", "1"), ("splat", "a/b")]);
        let cases = [
            ("/x/:id", "/x/1"),
            ("/x/:id_2", "/x/:id_2"),
            ("/x/:splat?q=:id", "/x/a/b?q=1"),
            ("https://e.com:8080/:id", "https://e.com:8080/1"),
            ("no placeholders", "no placeholders"),
        ];
        for (template, want) in cases {
            assert_eq!(substitute(template, &c), want);
        }
    }
}
