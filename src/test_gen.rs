//! The pseudo-random input generator of the native property tests (no extra crates): xorshift
//! over a fixed seed, so every failure reproduces.

use serde_json::{json, Map, Value};

pub struct Gen(pub u64);

/// Pieces that have broken parsers somewhere: dot segments in every spelling, separators,
/// escapes that do not decode (or decode to NUL, CR, LF), non-ASCII of every UTF-8 length,
/// bidi and line-separator characters, JSON and header punctuation.
pub const NASTY: &[&str] = &[
    "/",
    "/",
    "a",
    "A",
    "-",
    "--",
    ".",
    "..",
    "/../",
    "%2e%2e",
    "%2E%2e",
    ".%2E",
    "%252e%252e",
    "%2F",
    "%5C",
    "\\",
    "%",
    "%2",
    "%ZZ",
    "%00",
    "%0D%0A",
    "\0",
    "\r\n",
    "\n",
    "\t",
    " ",
    "ü",
    "\u{2028}",
    "\u{202E}",
    "\u{FEFF}",
    "𝔘",
    "*",
    ":",
    ":id",
    "@",
    "?",
    "#",
    "&",
    "=",
    ";",
    ",",
    "\"",
    "'",
    "{",
    "}",
    "[",
    "]",
    "//",
    "https://",
    "evil.com",
    "localhost",
    "x.y",
];

impl Gen {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// Up to `max - 1` pieces joined.
    pub fn string(&mut self, pieces: &[&str], max: u64) -> String {
        let n = self.below(max);
        (0..n).map(|_| self.pick(pieces)).collect()
    }

    /// Up to `max - 1` arbitrary bytes (not UTF-8, mostly).
    pub fn bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max);
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// `s` with one of a few damaging edits: a byte flipped, cut short, doubled, a piece of
    /// [`NASTY`] inserted, or left alone.
    pub fn mutate(&mut self, s: &str) -> String {
        let mut b = s.as_bytes().to_vec();
        let at = self.below(b.len() as u64 + 1) as usize;
        match self.below(6) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << self.below(7);
            }
            1 => b.truncate(at),
            2 => b.extend_from_slice(s.as_bytes()),
            3 => {
                let piece = self.pick(NASTY).as_bytes().to_vec();
                b.splice(at..at, piece);
            }
            4 if !b.is_empty() => {
                b.remove(at.min(b.len() - 1));
            }
            _ => {}
        }
        String::from_utf8_lossy(&b).into_owned()
    }

    /// A random JSON value at most `depth` levels deep, strings from `pieces`.
    pub fn json(&mut self, pieces: &[&str], depth: u32) -> Value {
        let kinds = if depth == 0 { 6 } else { 8 };
        match self.below(kinds) {
            0 => Value::Null,
            1 => Value::Bool(self.one_in(2)),
            2 => json!(self.next() as i64 >> self.below(64)),
            3 => json!(f64::from(self.below(2000) as u32) / 7.0 - 100.0),
            4 => json!(u64::MAX - self.below(3)),
            5 => Value::String(self.string(pieces, 8)),
            6 => Value::Array((0..self.below(4)).map(|_| self.json(pieces, depth - 1)).collect()),
            _ => {
                let mut m = Map::new();
                for _ in 0..self.below(4) {
                    let k = self.string(pieces, 4);
                    let v = self.json(pieces, depth - 1);
                    m.insert(k, v);
                }
                Value::Object(m)
            }
        }
    }

    /// A JSON object with `fields` set to values from `choose` (or random JSON), each present
    /// half the time, plus the odd unknown field.
    pub fn object(&mut self, fields: &[&str], mut choose: impl FnMut(&mut Gen, &str) -> Value) -> Value {
        let mut m = Map::new();
        for f in fields {
            if self.one_in(2) {
                let v = if self.one_in(6) { self.json(NASTY, 2) } else { choose(self, f) };
                m.insert(f.to_string(), v);
            }
        }
        if self.one_in(10) {
            m.insert(self.string(NASTY, 4), self.json(NASTY, 1));
        }
        Value::Object(m)
    }

    /// Bytes a client could send as a JSON body: `value` serialised, or damaged, or nested
    /// past any recursion limit, or not JSON at all.
    pub fn body(&mut self, value: &Value) -> Vec<u8> {
        match self.below(12) {
            0 => self.bytes(64),
            1 => {
                let n = 100 + self.below(5000) as usize;
                let (open, close) = if self.one_in(2) { ("[", "]") } else { ("{\"a\":", "}") };
                format!("{}1{}", open.repeat(n), close.repeat(n)).into_bytes()
            }
            2 => self.mutate(&value.to_string()).into_bytes(),
            3 => format!("{value}{value}").into_bytes(),
            _ => value.to_string().into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic() {
        let (mut a, mut b) = (Gen(42), Gen(42));
        for _ in 0..100 {
            assert_eq!(a.json(NASTY, 3), b.json(NASTY, 3));
        }
    }
}
