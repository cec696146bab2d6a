//! Large files (SPEC.md §8): which store holds a body, and the raw-body upload of files too
//! large for KV, checked as it streams: the declared length first, then every byte counted and
//! hashed incrementally while the body is cut into equal multipart parts, so that nothing but
//! one part is ever held in memory and a body that does not match its hash is never completed.

use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Largest body ASSETS_KV stores (KV's value limit); larger files live in BLOBS.
pub const KV_MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;

/// Size of one R2 multipart part: all parts but the last have exactly this size (R2 requires
/// equal parts of at least 5 MiB). A 100 MiB file is 10 parts.
pub const RAW_PART_BYTES: usize = 10 * 1024 * 1024;

/// Where a body of `size` bytes is stored; decided by size alone, so the deployment manifest
/// (which carries each file's size) tells serving, GC and purge where to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStore {
    /// ASSETS_KV, key `<projectId>:<hash>`.
    Kv,
    /// BLOBS, key `assets/<projectId>/<hash>`.
    Blobs,
}

pub fn body_store(size: u64) -> BodyStore {
    if size > KV_MAX_FILE_BYTES {
        BodyStore::Blobs
    } else {
        BodyStore::Kv
    }
}

/// BLOBS key of a large body: the project id in every key, so one project's uploads can never
/// reach another's, even with the same content hash.
pub fn blob_asset_key(project_id: &str, hash: &str) -> String {
    format!("assets/{project_id}/{hash}")
}

/// The BLOBS prefix holding a project's large bodies.
pub fn blob_asset_prefix(project_id: &str) -> String {
    blob_asset_key(project_id, "")
}

/// Checks a raw upload's `Content-Length` before any byte is read: required, at most `max`
/// (413 naming the limit), and exactly the size the manifest declared for the hash.
pub fn check_raw_length(header: Option<&str>, expected: u64, max: u64) -> Result<u64, ApiError> {
    let Some(h) = header else {
        return Err(ApiError::bad("content-length", "is required for a raw upload"));
    };
    let n: u64 =
        h.trim().parse().map_err(|_| ApiError::bad("content-length", "must be a non-negative integer"))?;
    if n > max {
        return Err(ApiError::PayloadTooLarge { what: "File size in bytes".into(), limit: max });
    }
    if n != expected {
        return Err(ApiError::bad(
            "content-length",
            format!("size mismatch: manifest says {expected} bytes, Content-Length is {n}"),
        ));
    }
    Ok(n)
}

/// Why a streamed body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawError {
    /// More bytes arrived than declared.
    TooLong { expected: u64 },
    /// The body ended early.
    TooShort { expected: u64, got: u64 },
    /// All bytes arrived but their SHA-256 is another.
    HashMismatch,
}

impl RawError {
    pub fn to_api(&self, hash: &str) -> ApiError {
        match self {
            RawError::TooLong { expected } => ApiError::bad(
                hash,
                format!("size mismatch: the body is longer than the {expected} bytes declared"),
            ),
            RawError::TooShort { expected, got } => ApiError::bad(
                hash,
                format!("size mismatch: manifest says {expected} bytes, the body has {got}"),
            ),
            RawError::HashMismatch => {
                ApiError::bad(hash, "SHA-256 of the uploaded bytes does not match the hash")
            }
        }
    }
}

/// A raw body arriving in chunks of any size: counted, hashed, and cut into parts of exactly
/// `part_bytes` (the last one shorter). Holds at most one part.
pub struct RawBody {
    expected_size: u64,
    expected_hash: String,
    part_bytes: usize,
    received: u64,
    hasher: Sha256,
    part: Vec<u8>,
}

impl RawBody {
    pub fn new(expected_hash: &str, expected_size: u64, part_bytes: usize) -> RawBody {
        RawBody {
            expected_size,
            expected_hash: expected_hash.to_string(),
            part_bytes: part_bytes.max(1),
            received: 0,
            hasher: Sha256::new(),
            part: Vec::new(),
        }
    }

    /// Takes a chunk; returns the parts it completed (usually none or one), in order.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<Vec<Vec<u8>>, RawError> {
        self.received = self.received.saturating_add(chunk.len() as u64);
        if self.received > self.expected_size {
            return Err(RawError::TooLong { expected: self.expected_size });
        }
        self.hasher.update(chunk);
        let mut done = Vec::new();
        while !chunk.is_empty() {
            if self.part.capacity() == 0 {
                let left = (self.expected_size - (self.received - chunk.len() as u64)) as usize;
                self.part.reserve_exact(self.part_bytes.min(left.max(1)));
            }
            let room = self.part_bytes - self.part.len();
            let (now, rest) = chunk.split_at(room.min(chunk.len()));
            self.part.extend_from_slice(now);
            chunk = rest;
            if self.part.len() == self.part_bytes {
                done.push(std::mem::take(&mut self.part));
            }
        }
        Ok(done)
    }

    /// The body ended: the last (possibly short, possibly absent) part once the length and the
    /// hash check out.
    pub fn finish(self) -> Result<Option<Vec<u8>>, RawError> {
        if self.received != self.expected_size {
            return Err(RawError::TooShort { expected: self.expected_size, got: self.received });
        }
        if crate::domain::hex_lower(&self.hasher.finalize()) != self.expected_hash {
            return Err(RawError::HashMismatch);
        }
        Ok((!self.part.is_empty()).then_some(self.part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ContentHash;

    fn body(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn run(data: &[u8], chunk: usize, part: usize, hash: &str) -> Result<Vec<Vec<u8>>, RawError> {
        let mut raw = RawBody::new(hash, data.len() as u64, part);
        let mut parts = Vec::new();
        for c in data.chunks(chunk.max(1)) {
            parts.extend(raw.push(c)?);
        }
        parts.extend(raw.finish()?);
        Ok(parts)
    }

    #[test]
    fn store_is_decided_by_size() {
        assert_eq!(body_store(0), BodyStore::Kv);
        assert_eq!(body_store(KV_MAX_FILE_BYTES), BodyStore::Kv);
        assert_eq!(body_store(KV_MAX_FILE_BYTES + 1), BodyStore::Blobs);
        assert_eq!(body_store(crate::deploy::MAX_FILE_BYTES), BodyStore::Blobs);
    }

    #[test]
    fn keys_carry_the_project() {
        assert_eq!(blob_asset_key("p1", "abc"), "assets/p1/abc");
        assert!(blob_asset_key("p1", "abc").starts_with(&blob_asset_prefix("p1")));
        assert!(!blob_asset_key("p10", "abc").starts_with(&blob_asset_prefix("p1")));
    }

    #[test]
    fn parts_are_equal_and_reassemble_to_the_body() {
        for (n, chunk, part) in
            [(100, 7, 10), (100, 10, 10), (100, 100, 10), (95, 3, 10), (10, 64, 10), (1, 1, 4)]
        {
            let data = body(n);
            let hash = ContentHash::of(&data);
            let parts = run(&data, chunk, part, hash.as_str()).unwrap();
            assert_eq!(parts.concat(), data, "n={n} chunk={chunk}");
            let (last, full) = parts.split_last().unwrap();
            assert!(full.iter().all(|p| p.len() == part));
            assert!(!last.is_empty() && last.len() <= part);
            assert_eq!(parts.len(), n.div_ceil(part));
        }
    }

    #[test]
    fn empty_body_has_no_parts() {
        let hash = ContentHash::of(b"");
        assert_eq!(run(b"", 1, 4, hash.as_str()).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn wrong_hash_and_wrong_length_are_refused() {
        let data = body(50);
        let hash = ContentHash::of(&data);
        let other = ContentHash::of(b"x");
        assert_eq!(run(&data, 8, 16, other.as_str()), Err(RawError::HashMismatch));
        let mut raw = RawBody::new(hash.as_str(), 49, 16);
        let out: Result<Vec<_>, _> = data.chunks(8).map(|c| raw.push(c)).collect();
        assert_eq!(out.unwrap_err(), RawError::TooLong { expected: 49 });
        let mut raw = RawBody::new(hash.as_str(), 51, 16);
        for c in data.chunks(8) {
            raw.push(c).unwrap();
        }
        assert_eq!(raw.finish(), Err(RawError::TooShort { expected: 51, got: 50 }));
        assert_eq!(RawError::HashMismatch.to_api("h").status(), 400);
    }

    #[test]
    fn content_length_is_required_bounded_and_exact() {
        let max = crate::deploy::MAX_FILE_BYTES;
        assert_eq!(check_raw_length(Some("30"), 30, max).unwrap(), 30);
        assert_eq!(check_raw_length(Some(" 30 "), 30, max).unwrap(), 30);
        assert_eq!(check_raw_length(None, 30, max).unwrap_err().status(), 400);
        assert_eq!(check_raw_length(Some("x"), 30, max).unwrap_err().status(), 400);
        assert_eq!(check_raw_length(Some("-1"), 30, max).unwrap_err().status(), 400);
        assert_eq!(check_raw_length(Some("31"), 30, max).unwrap_err().status(), 400);
        let over = (max + 1).to_string();
        let e = check_raw_length(Some(&over), max + 1, max).unwrap_err();
        assert_eq!(e.status(), 413);
        assert!(e.message().contains(&max.to_string()));
    }

    /// Untrusted input (the header, chunk boundaries, sizes) never panics, and any accepted
    /// body reassembles exactly.
    #[test]
    fn pseudo_random_input_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pieces = ["", "0", "1", "9", "-", "+", " ", "18446744073709551616", "1e3", "\u{0}", "ü"];
        for _ in 0..2000 {
            let h: String =
                (0..next() % 6).map(|_| pieces[(next() % pieces.len() as u64) as usize]).collect();
            let _ = check_raw_length(Some(&h), next() % 200, next() % 300);
            let n = (next() % 300) as usize;
            let data = body(n);
            let declared = if next() % 4 == 0 { next() % 400 } else { n as u64 };
            let mut raw = RawBody::new(ContentHash::of(&data).as_str(), declared, 1 + (next() % 64) as usize);
            let mut parts = Vec::new();
            let mut rest = &data[..];
            let mut failed = false;
            while !rest.is_empty() {
                let (c, r) = rest.split_at(((next() % 80) as usize).min(rest.len()));
                rest = r;
                match raw.push(c) {
                    Ok(p) => parts.extend(p),
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if !failed {
                if let Ok(last) = raw.finish() {
                    parts.extend(last);
                    assert_eq!(parts.concat(), data);
                }
            }
        }
    }
}
