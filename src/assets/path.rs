//! Byte-exact ports of the JavaScript/WHATWG URL primitives Cloudflare's asset worker is built
//! on: `decodeURIComponent`, `encodeURIComponent`, `String.prototype.trim`/`\s`, and the subset of
//! the URL parser that normalises a path-absolute reference (percent-encoding sets, dot segments).
//! Nothing here panics on any input.

/// `\s` / `trim()` whitespace in JavaScript (ECMAScript WhiteSpace + LineTerminator). Differs from
/// [`char::is_whitespace`]: includes U+FEFF, excludes U+0085.
pub(crate) fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\u{FEFF}'
    )
}

/// `String.prototype.trim`.
pub(crate) fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_space)
}

/// `String.prototype.length`: UTF-16 code units, which is what Cloudflare's line limits count.
pub(crate) fn js_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `decodeURIComponent`: `None` where JavaScript throws `URIError` (a `%` not followed by two
/// hex digits, or escapes that do not form valid UTF-8).
pub(crate) fn decode_uri_component(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_val)?;
            let lo = bytes.get(i + 2).copied().and_then(hex_val)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_pct(out: &mut String, b: u8) {
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xF)]));
}

/// `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` is UTF-8 percent-encoded.
pub(crate) fn encode_uri_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            push_pct(&mut out, b);
        }
    }
    out
}

/// The asset worker's `decodePath`: `decodeURIComponent` per `/`-segment (a segment that fails to
/// decode is kept as it was), then runs of `/` collapsed so a decoded path can never turn into a
/// protocol-relative redirect.
pub(crate) fn decode_path(pathname: &str) -> String {
    let joined = pathname
        .split('/')
        .map(|seg| decode_uri_component(seg).unwrap_or_else(|| seg.to_string()))
        .collect::<Vec<_>>()
        .join("/");
    collapse_slashes(&joined)
}

/// The asset worker's `encodePath`: `encodeURIComponent` per `/`-segment. The result is the
/// canonical form an asset is served at.
pub(crate) fn encode_path(pathname: &str) -> String {
    pathname.split('/').map(encode_uri_component).collect::<Vec<_>>().join("/")
}

/// `s.replace(/\/+/g, "/")`.
pub(crate) fn collapse_slashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_slash = false;
    for c in s.chars() {
        if c == '/' {
            if !prev_slash {
                out.push(c);
            }
            prev_slash = true;
        } else {
            out.push(c);
            prev_slash = false;
        }
    }
    out
}

/// WHATWG percent-encode sets used when normalising a reference.
#[derive(Clone, Copy)]
enum EncodeSet {
    /// Path percent-encode set: C0 controls, space, `" # < > ? ` { }`, and non-ASCII.
    Path,
    /// Query percent-encode set (plus `'` for special schemes such as https).
    Query { special: bool },
    /// Fragment percent-encode set: C0 controls, space, `" < > ``, and non-ASCII.
    Fragment,
}

fn needs_encoding(b: u8, set: EncodeSet) -> bool {
    if b <= 0x1F || b > 0x7E {
        return true;
    }
    match set {
        EncodeSet::Path => matches!(b, b' ' | b'"' | b'#' | b'<' | b'>' | b'?' | b'`' | b'{' | b'}'),
        EncodeSet::Query { special } => {
            matches!(b, b' ' | b'"' | b'#' | b'<' | b'>') || (special && b == b'\'')
        }
        EncodeSet::Fragment => matches!(b, b' ' | b'"' | b'<' | b'>' | b'`'),
    }
}

fn encode_with(s: &str, set: EncodeSet) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        if c.is_ascii() && !needs_encoding(c as u8, set) {
            out.push(c);
        } else {
            for &b in &s.as_bytes()[i..i + c.len_utf8()] {
                push_pct(&mut out, b);
            }
        }
    }
    out
}

fn is_single_dot(seg: &str) -> bool {
    seg == "." || seg.eq_ignore_ascii_case("%2e")
}

fn is_double_dot(seg: &str) -> bool {
    matches!(seg.to_ascii_lowercase().as_str(), ".." | ".%2e" | "%2e." | "%2e%2e")
}

/// A path-absolute reference (`/a/b?q#f`) after WHATWG URL parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedRef {
    /// Serialized pathname, always starting with `/`.
    pub path: String,
    /// `URL.search`: empty, or `?` followed by a non-empty query.
    pub search: String,
    /// `URL.hash`: empty, or `#` followed by a non-empty fragment.
    pub hash: String,
}

/// Parses `input` (which must start with `/`, or `\` when `special`) the way `new URL(input, base)`
/// does for a path-absolute reference: tabs/newlines removed, `\` is a separator for special
/// schemes (https), dot segments resolved, and the path/query/fragment percent-encoded.
/// `special = false` reproduces wrangler's `extractPathname` (`new URL("//" + p, "relative://")`).
pub(crate) fn parse_path_ref(input: &str, special: bool) -> ParsedRef {
    let cleaned: String =
        input.trim_matches(|c: char| c <= ' ').chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
    let (before_hash, fragment) = match cleaned.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (cleaned.as_str(), None),
    };
    let (raw_path, query) = match before_hash.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_hash, None),
    };

    let is_sep = |c: char| c == '/' || (special && c == '\\');
    // The leading separator starts the path; every following segment is processed in turn.
    let body = raw_path.strip_prefix(is_sep).unwrap_or(raw_path);
    let raw_segments: Vec<&str> = body.split(is_sep).collect();
    let last = raw_segments.len().saturating_sub(1);
    let mut segments: Vec<String> = Vec::new();
    for (i, raw) in raw_segments.iter().enumerate() {
        let seg = encode_with(raw, EncodeSet::Path);
        let at_end = i == last;
        if is_double_dot(&seg) {
            segments.pop();
            if at_end {
                segments.push(String::new());
            }
        } else if is_single_dot(&seg) {
            if at_end {
                segments.push(String::new());
            }
        } else {
            segments.push(seg);
        }
    }
    let mut path = String::with_capacity(raw_path.len() + 1);
    for seg in &segments {
        path.push('/');
        path.push_str(seg);
    }
    if path.is_empty() {
        path.push('/');
    }

    let search = match query {
        Some(q) if !q.is_empty() => format!("?{}", encode_with(q, EncodeSet::Query { special })),
        _ => String::new(),
    };
    let hash = match fragment {
        Some(f) if !f.is_empty() => format!("#{}", encode_with(f, EncodeSet::Fragment)),
        _ => String::new(),
    };
    ParsedRef { path, search, hash }
}

/// Collapses any run of leading `/` and `\` into one `/`, so a relative `Location` can never be
/// read by a browser as protocol-relative (`//evil.com`, `/\evil.com`).
pub(crate) fn defang_leading_slashes(location: &str) -> String {
    let rest = location.trim_start_matches(['/', '\\']);
    if rest.len() + 1 < location.len() {
        format!("/{rest}")
    } else {
        location.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_uri_component_matches_javascript() {
        let cases: &[(&str, Option<&str>)] = &[
            ("abc", Some("abc")),
            ("%5Bboop%5D", Some("[boop]")),
            ("b%C3%B2op", Some("bòop")),
            ("%2F", Some("/")),
            ("%25", Some("%")),
            ("%", None),
            ("%zz", None),
            ("%C3", None),
            ("%C3%28", None),
            ("%ED%A0%80", None), // surrogate
            ("%C0%AF", None),    // overlong
            ("é%80", None),
            ("100%", None),
        ];
        for (input, want) in cases {
            assert_eq!(decode_uri_component(input).as_deref(), *want, "{input}");
        }
    }

    #[test]
    fn encode_uri_component_matches_javascript() {
        let cases = [
            ("[boop]", "%5Bboop%5D"),
            ("bòop", "b%C3%B2op"),
            ("a b?c", "a%20b%3Fc"),
            ("-_.!~*'()", "-_.!~*'()"),
            ("%", "%25"),
            ("@:$&+,;=/", "%40%3A%24%26%2B%2C%3B%3D%2F"),
        ];
        for (input, want) in cases {
            assert_eq!(encode_uri_component(input), want);
        }
    }

    #[test]
    fn decode_path_is_per_segment_and_collapses_slashes() {
        let cases = [
            ("/a/%5Bb%5D", "/a/[b]"),
            ("/bin%2F", "/bin/"),
            ("/bin%252F", "/bin%2F"),
            ("/ok/%zz/%41", "/ok/%zz/A"),
            ("//a///b", "/a/b"),
            ("/a%2F%2Fb", "/a/b"),
        ];
        for (input, want) in cases {
            assert_eq!(decode_path(input), want, "{input}");
        }
    }

    #[test]
    fn parse_path_ref_matches_wrangler_extract_pathname() {
        // (input, special, path, search, hash); non-special rows are wrangler's own test vectors.
        let cases = [
            ("/some page with spaces", false, "/some%20page%20with%20spaces", "", ""),
            ("/://so;`me", false, "/://so;%60me", "", ""),
            ("/nons:/&@%+~{}ense", false, "/nons:/&@%+~%7B%7Dense", "", ""),
            ("//yeah.com/blog", false, "//yeah.com/blog", "", ""),
            ("/a/./b/../c", false, "/a/c", "", ""),
            ("/a/%2E%2e", false, "/", "", ""),
            ("/a/.", false, "/a/", "", ""),
            ("/..", false, "/", "", ""),
            ("/a?b=c d#e f", false, "/a", "?b=c%20d", "#e%20f"),
            ("/a?", false, "/a", "", ""),
            ("/a\\b", false, "/a\\b", "", ""),
            ("/a\\b", true, "/a/b", "", ""),
            ("/q?it's", true, "/q", "?it%27s", ""),
            ("/q?it's", false, "/q", "?it's", ""),
            ("/ü", false, "/%C3%BC", "", ""),
        ];
        for (input, special, path, search, hash) in cases {
            let got = parse_path_ref(input, special);
            assert_eq!(
                (got.path.as_str(), got.search.as_str(), got.hash.as_str()),
                (path, search, hash),
                "{input}"
            );
        }
    }

    #[test]
    fn leading_slashes_are_defanged() {
        let cases = [
            ("//evil.com", "/evil.com"),
            ("/\\evil.com", "/evil.com"),
            ("\\/evil.com", "/evil.com"),
            ("/ok//path", "/ok//path"),
            ("/", "/"),
        ];
        for (input, want) in cases {
            assert_eq!(defang_leading_slashes(input), want);
        }
    }
}
