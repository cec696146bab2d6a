//! Identifiers and names: project/deployment ids (UUID v4), slugs (DNS labels), project names,
//! content hashes. Randomness is passed in so everything here is deterministic under test.

use std::fmt;

/// Why a value failed to parse; the caller attaches the field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

/// Formats 16 random bytes as a lowercase RFC 4122 version-4 UUID.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex_lower(&bytes);
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

pub fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

/// The inverse of [`hex_lower`]: `None` for odd lengths and anything but `0-9a-f`.
pub fn unhex_lower(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    b.chunks_exact(2).map(|p| Some((nib(p[0])? << 4) | nib(p[1])?)).collect()
}

/// True when `s` has the shape of a lowercase UUID (any version).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// True when `s` has the shape of a UUID in any letter case (hex 8-4-4-4-12): what a project or
/// deployment id looks like to a reader, whatever the parser downstream would accept.
pub fn is_uuid_shaped(s: &str) -> bool {
    is_uuid(&s.to_ascii_lowercase())
}

/// A project's DNS-label slug: `[a-z0-9-]`, 1..=63 chars, no leading/trailing hyphen, never
/// `--`, never UUID-shaped. The only ways to make one are [`Slug::parse`] (and `TryFrom`) and
/// [`Slug::derive`], which goes through `parse`.
///
/// Why the last two rules: slugs and ids share one namespace (`/__api/projects/:idOrSlug`,
/// `<slug-or-id>.<domain>`, `/__project/<slug-or-id>/`, the routing record keyed by either),
/// so a UUID-shaped slug could name another project; and the host router reads the first `--`
/// of a label as `<dep8>--<slug>` / `<alias>--<slug>` (`routing::host`), so a slug holding one
/// would be served as a preview of some other project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

pub const SLUG_MAX: usize = 63;
const SUFFIX_LEN: usize = 6;

impl Slug {
    pub fn parse(s: &str) -> Result<Slug, ParseError> {
        // Before the character rules, so an upper-case id gets the message that explains it.
        if is_uuid_shaped(s) {
            return err(
                "has the shape of a project id (a UUID); ids and slugs share one namespace, so a slug \
                 must not look like one",
            );
        }
        if s.is_empty() || s.len() > SLUG_MAX {
            return err(format!("must be 1-{SLUG_MAX} characters"));
        }
        if !s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
            return err("may contain only a-z, 0-9 and '-'");
        }
        if s.starts_with('-') || s.ends_with('-') {
            return err("must not start or end with '-'");
        }
        if s.contains("--") {
            return err("must not contain `--`: it separates a preview or alias from the slug in \
                 `<preview>--<slug>.<domain>` hosts");
        }
        Ok(Slug(s.to_string()))
    }

    /// Derives a slug from a project name plus a short random suffix (`random` supplies the
    /// entropy): `"My Site!"` -> `my-site-k3x9qa`. Non-ASCII and punctuation become hyphens.
    pub fn derive(name: &str, random: [u8; SUFFIX_LEN]) -> Slug {
        let mut base = String::new();
        for c in name.chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                base.push(c);
            } else if !base.ends_with('-') {
                base.push('-');
            }
        }
        let mut base = base.trim_matches('-').to_string();
        if base.is_empty() {
            base.push_str("project");
        }
        base.truncate(SLUG_MAX - SUFFIX_LEN - 1);
        let base = base.trim_end_matches('-');
        const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let suffix: String = random.iter().map(|b| ALPHABET[(*b as usize) % 36] as char).collect();
        // Valid by construction (hyphen runs collapse; the 6-character suffix after the last
        // hyphen is never a UUID's 12-character tail), and checked anyway: `parse` is the rule.
        Slug::parse(&format!("{base}-{suffix}")).unwrap_or_else(|_| Slug(format!("project-{suffix}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Slug {
    type Error = ParseError;
    fn try_from(s: &str) -> Result<Slug, ParseError> {
        Slug::parse(s)
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A human project name: trimmed, 1..=100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

pub const NAME_MAX_CHARS: usize = 100;

impl ProjectName {
    pub fn parse(s: &str) -> Result<ProjectName, ParseError> {
        let t = s.trim();
        if t.is_empty() {
            return err("must not be empty");
        }
        if t.chars().count() > NAME_MAX_CHARS {
            return err(format!("must be at most {NAME_MAX_CHARS} characters"));
        }
        if t.chars().any(char::is_control) {
            return err("must not contain control characters");
        }
        Ok(ProjectName(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SHA-256 content hash: exactly 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash(String);

impl ContentHash {
    pub fn parse(s: &str) -> Result<ContentHash, ParseError> {
        if s.len() == 64 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
            Ok(ContentHash(s.to_string()))
        } else {
            err("must be 64 lowercase hex characters (SHA-256)")
        }
    }
    pub fn of(bytes: &[u8]) -> ContentHash {
        use sha2::{Digest, Sha256};
        ContentHash(hex_lower(&Sha256::digest(bytes)))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Constant-time byte comparison: the time taken depends only on the lengths, never on where
/// the first difference is. Lengths are not secret (tokens have a fixed format).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v4_has_version_and_variant_bits() {
        let id = uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(is_uuid(&id));
        let id = uuid_v4([0; 16]);
        assert_eq!(id, "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn is_uuid_rejects_near_misses() {
        for s in
            ["", "not-a-uuid", "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF", "ffffffff-ffff-4fff-bfff-fffffffffff"]
        {
            assert!(!is_uuid(s), "{s}");
        }
    }

    #[test]
    fn slug_parse_table() {
        let ok = [
            "a",
            "my-site",
            "a1-b2",
            &"a".repeat(63),
            // Near misses of an id are ordinary slugs: wrong group lengths, not hex, no hyphens.
            "0123456-89ab-cdef-0123-456789abcdef",
            "01234567-89ab-cdef-0123-456789abcdeg",
            "0123456789abcdef0123456789abcdef",
            "01234567-89ab-cdef-0123-456789abcdef0",
            "a-b-c",
        ];
        for s in ok {
            assert_eq!(Slug::parse(s).map(|s| s.to_string()), Ok(s.to_string()), "{s}");
        }
        // (input, a word the reason must contain)
        let bad = [
            ("", "characters"),
            ("-a", "start or end"),
            ("a-", "start or end"),
            ("A", "a-z"),
            ("a_b", "a-z"),
            ("a.b", "a-z"),
            ("é", "a-z"),
            (&"a".repeat(64), "characters"),
            ("ab--x", "`--`"),
            ("a--b--c", "`--`"),
            ("0123abcd--site", "`--`"),
            ("staging--site", "`--`"),
            ("x---y", "`--`"),
            ("01234567-89ab-cdef-0123-456789abcdef", "project id"),
            ("00000000-0000-4000-8000-000000000000", "project id"),
            ("01234567-89AB-CDEF-0123-456789ABCDEF", "project id"),
            ("FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF", "project id"),
        ];
        for (s, why) in bad {
            let e = Slug::parse(s).unwrap_err();
            assert!(e.0.contains(why), "{s}: {e}");
            assert_eq!(Slug::try_from(s), Err(e), "{s}");
        }
    }

    #[test]
    fn uuid_shape_is_case_blind() {
        assert!(is_uuid_shaped("01234567-89AB-cdef-0123-456789abcdef"));
        assert!(is_uuid_shaped(&uuid_v4([7; 16])));
        for s in ["", "01234567-89ab-cdef-0123-456789abcde", "01234567_89ab-cdef-0123-456789abcdef"] {
            assert!(!is_uuid_shaped(s), "{s}");
        }
    }

    #[test]
    fn derived_slugs_are_valid_labels() {
        let cases = [
            ("My Site!", "my-site-"),
            ("  ", "project-"),
            ("Ünïcode ✓ name", "n-code-name-"),
            ("---", "project-"),
            ("a--b", "a-b-"),
        ];
        for (name, prefix) in cases {
            let s = Slug::derive(name, [1, 2, 3, 4, 5, 40]);
            assert!(s.as_str().starts_with(prefix), "{name} -> {s}");
            assert!(Slug::parse(s.as_str()).is_ok(), "{s}");
        }
        let long = Slug::derive(&"x".repeat(500), [0; 6]);
        assert_eq!(long.as_str().len(), 63);
        let hyphen_at_cut = Slug::derive(&format!("{}-y", "x".repeat(55)), [0; 6]);
        assert!(Slug::parse(hyphen_at_cut.as_str()).is_ok(), "{hyphen_at_cut}");
    }

    /// API names are rewritten, not refused (documented: "name plus a random suffix"): a name
    /// shaped like an id or holding `--` still gives a valid slug, never the name itself.
    #[test]
    fn derived_slugs_never_look_like_ids_or_previews() {
        let id = "01234567-89ab-cdef-0123-456789abcdef";
        let s = Slug::derive(id, [0; 6]);
        assert_eq!(s.as_str(), "01234567-89ab-cdef-0123-456789abcdef-aaaaaa");
        assert!(!is_uuid_shaped(s.as_str()));
        assert_eq!(Slug::derive("ab--x", [0; 6]).as_str(), "ab-x-aaaaaa");
        assert_eq!(Slug::derive("0123abcd--site", [1; 6]).as_str(), "0123abcd-site-bbbbbb");
        // Any name at all: pseudo-random names over an alphabet heavy in hyphens and hex.
        let alphabet: Vec<char> = "-–_ .0123456789abcdefABCDEFxyzé".chars().collect();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 70) as usize;
            let name: String =
                (0..len).map(|i| alphabet[((seed >> (i % 57)) as usize + i) % alphabet.len()]).collect();
            let random = seed.to_le_bytes();
            let s = Slug::derive(&name, [random[0], random[1], random[2], random[3], random[4], random[5]]);
            assert_eq!(Slug::parse(s.as_str()), Ok(s.clone()), "{name:?} -> {s}");
        }
    }

    #[test]
    fn project_name_rules() {
        assert_eq!(ProjectName::parse("  Blog ").unwrap().as_str(), "Blog");
        assert!(ProjectName::parse("").is_err());
        assert!(ProjectName::parse("   ").is_err());
        assert!(ProjectName::parse("a\nb").is_err());
        assert!(ProjectName::parse(&"é".repeat(100)).is_ok());
        assert!(ProjectName::parse(&"é".repeat(101)).is_err());
    }

    #[test]
    fn content_hash_parse_and_compute() {
        let h = ContentHash::of(b"hello");
        assert_eq!(h.as_str(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert!(ContentHash::parse(h.as_str()).is_ok());
        assert!(ContentHash::parse(&h.as_str().to_uppercase()).is_err());
        assert!(ContentHash::parse("abc").is_err());
    }

    #[test]
    fn constant_time_eq_is_correct() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
        // Length difference that is a multiple of 256 must still be unequal.
        assert!(!constant_time_eq(&[0u8; 256], &[]));
    }
}
