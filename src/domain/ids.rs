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

/// A project's DNS-label slug: `[a-z0-9-]`, 1..=63 chars, no leading/trailing hyphen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

pub const SLUG_MAX: usize = 63;
const SUFFIX_LEN: usize = 6;

impl Slug {
    pub fn parse(s: &str) -> Result<Slug, ParseError> {
        if s.is_empty() || s.len() > SLUG_MAX {
            return err(format!("must be 1-{SLUG_MAX} characters"));
        }
        if !s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
            return err("may contain only a-z, 0-9 and '-'");
        }
        if s.starts_with('-') || s.ends_with('-') {
            return err("must not start or end with '-'");
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
        Slug(format!("{base}-{suffix}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
        let ok = ["a", "my-site", "a1-b2", &"a".repeat(63)];
        for s in ok {
            assert!(Slug::parse(s).is_ok(), "{s}");
        }
        let bad = ["", "-a", "a-", "A", "a_b", "a.b", "é", &"a".repeat(64)];
        for s in bad {
            assert!(Slug::parse(s).is_err(), "{s}");
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
