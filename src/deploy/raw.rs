//! Large files (SPEC.md §8): which store holds a body, and the raw-body upload of files too
//! large for KV, checked as it streams: the declared length first, then every byte counted and
//! hashed incrementally while the body is cut into equal multipart parts, so that nothing but
//! one part is ever held in memory and a body that does not match its hash is never completed.
//! A body may also come in pieces, one request each (`Content-Range`), so no request needs to
//! carry more than [`RAW_PIECE_BYTES`]: the SHA-256 state between pieces is a [`Midstate`] the
//! server stores with the upload's progress.

use sha2::digest::generic_array::{typenum::U64, GenericArray};

use crate::error::ApiError;

/// Largest body ASSETS_KV stores (KV's value limit); larger files live in BLOBS.
pub const KV_MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;

/// Size of one R2 multipart part: all parts but the last have exactly this size (R2 requires
/// equal parts of at least 5 MiB). A 100 MiB file is 10 parts.
pub const RAW_PART_BYTES: usize = 10 * 1024 * 1024;

/// The largest piece clients send in one request (5 parts): well under Cloudflare's 100 MB
/// request body limit (Free and Pro plans). Pieces may be any multiple of [`RAW_PART_BYTES`].
pub const RAW_PIECE_BYTES: u64 = 5 * RAW_PART_BYTES as u64;
// Whole parts, and well under the 100 MB body limit: checked when compiling.
const _: () = assert!(RAW_PIECE_BYTES.is_multiple_of(RAW_PART_BYTES as u64) && RAW_PIECE_BYTES < 100_000_000);

/// SHA-256 part way through a body: the chaining state after the whole 64-byte blocks seen so
/// far, the bytes of the block not yet complete, and the length. It can be stored between
/// requests (`encode`/`decode`) and resumed, so a body sent in pieces is hashed exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Midstate {
    state: [u32; 8],
    len: u64,
    tail: Vec<u8>,
}

const SHA256_IV: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

impl Default for Midstate {
    fn default() -> Self {
        Midstate { state: SHA256_IV, len: 0, tail: Vec::with_capacity(64) }
    }
}

impl Midstate {
    /// Bytes absorbed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn compress(&mut self, blocks: &[u8]) {
        // compress256 takes blocks as GenericArrays: convert a bounded batch at a time.
        let mut batch: Vec<GenericArray<u8, U64>> = Vec::with_capacity(64);
        for group in blocks.chunks(64 * 64) {
            batch.clear();
            batch.extend(group.chunks_exact(64).map(GenericArray::clone_from_slice));
            sha2::compress256(&mut self.state, &batch);
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.saturating_add(data.len() as u64);
        if !self.tail.is_empty() {
            let take = (64 - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.tail.len() < 64 {
                return;
            }
            let block = std::mem::take(&mut self.tail);
            self.compress(&block);
            self.tail = block;
            self.tail.clear();
        }
        let whole = data.len() - data.len() % 64;
        self.compress(&data[..whole]);
        self.tail.extend_from_slice(&data[whole..]);
    }

    /// The digest, as lowercase hex.
    pub fn finish(mut self) -> String {
        let bits = self.len.wrapping_mul(8);
        let mut pad = std::mem::take(&mut self.tail);
        pad.push(0x80);
        while pad.len() % 64 != 56 {
            pad.push(0);
        }
        pad.extend_from_slice(&bits.to_be_bytes());
        self.compress(&pad);
        let bytes: Vec<u8> = self.state.iter().flat_map(|w| w.to_be_bytes()).collect();
        crate::domain::hex_lower(&bytes)
    }

    /// `<len>:<state as 64 hex>:<tail as hex>`.
    pub fn encode(&self) -> String {
        let state: Vec<u8> = self.state.iter().flat_map(|w| w.to_be_bytes()).collect();
        format!("{}:{}:{}", self.len, crate::domain::hex_lower(&state), crate::domain::hex_lower(&self.tail))
    }

    /// The inverse of `encode`; `None` for anything it did not write.
    pub fn decode(s: &str) -> Option<Midstate> {
        let mut it = s.split(':');
        let (len, state, tail) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let len: u64 = len.parse().ok()?;
        let state = crate::domain::unhex_lower(state)?;
        let tail = crate::domain::unhex_lower(tail)?;
        if state.len() != 32 || tail.len() >= 64 || len % 64 != tail.len() as u64 {
            return None;
        }
        let mut words = [0u32; 8];
        for (w, b) in words.iter_mut().zip(state.chunks_exact(4)) {
            *w = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        }
        Some(Midstate { state: words, len, tail })
    }
}

/// A raw upload between its pieces, kept with the session file: the R2 multipart upload, the
/// parts it has, and the hash state after them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RawProgress {
    #[serde(rename = "uploadId")]
    pub upload_id: String,
    /// (part number, etag), in order.
    pub parts: Vec<(u16, String)>,
    /// The [`Midstate`] after the parts, encoded.
    pub sha: String,
}

impl RawProgress {
    /// The stored progress, if it is intact: what the hash state has absorbed is where the
    /// next piece starts, and it must be the parts' worth of bytes.
    pub fn parse(json: Option<&str>, part_bytes: u64) -> Option<(RawProgress, Midstate)> {
        let p: RawProgress = serde_json::from_str(json?).ok()?;
        let mid = Midstate::decode(&p.sha)?;
        (mid.len() == p.parts.len() as u64 * part_bytes).then_some((p, mid))
    }
}

/// One request's share of a raw body: bytes `start..end` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub start: u64,
    pub end: u64,
    pub total: u64,
}

impl Piece {
    pub fn whole(total: u64) -> Piece {
        Piece { start: 0, end: total, total }
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn is_last(&self) -> bool {
        self.end == self.total
    }

    /// From a raw upload's `Content-Range` (`bytes <first>-<last>/<total>`, RFC 9110 §14.4)
    /// and the size the manifest declared. No header: the whole body. A piece must end on a
    /// part boundary unless it ends the body (R2's parts are all equal but the last).
    pub fn parse(header: Option<&str>, size: u64, part_bytes: u64) -> Result<Piece, ApiError> {
        let Some(h) = header else { return Ok(Piece::whole(size)) };
        let bad = |why: String| ApiError::bad("content-range", why);
        let form = || bad("must be `bytes <first>-<last>/<total>`".into());
        let rest = h.trim().strip_prefix("bytes ").ok_or_else(form)?;
        let (range, total) = rest.split_once('/').ok_or_else(form)?;
        let (first, last) = range.split_once('-').ok_or_else(form)?;
        let num = |s: &str| -> Result<u64, ApiError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(form());
            }
            s.parse().map_err(|_| form())
        };
        let (first, last, total) = (num(first)?, num(last)?, num(total)?);
        if total != size {
            return Err(bad(format!(
                "size mismatch: manifest says {size} bytes, Content-Range says {total}"
            )));
        }
        if first > last || last >= total {
            return Err(bad(format!("bytes {first}-{last} are not within the file's {total} bytes")));
        }
        let piece = Piece { start: first, end: last + 1, total };
        let part = part_bytes.max(1);
        if !first.is_multiple_of(part) || (!piece.is_last() && !piece.end.is_multiple_of(part)) {
            return Err(bad(format!(
                "pieces must start and end on multiples of {part} bytes (except at the end of the file)"
            )));
        }
        Ok(piece)
    }
}

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

/// A raw body (or one piece of it) arriving in chunks of any size: counted, hashed, and cut
/// into parts of exactly `part_bytes` (the last one of the body shorter). Holds at most one
/// part.
pub struct RawBody {
    piece: Piece,
    expected_hash: String,
    part_bytes: usize,
    received: u64,
    hasher: Midstate,
    part: Vec<u8>,
}

/// A piece that checked out.
#[derive(Debug, PartialEq, Eq)]
pub struct PieceDone {
    /// The last part, when the piece ended within one (only the body's last piece does).
    pub last_part: Option<Vec<u8>>,
    /// For a piece that is not the body's last: the hash state to resume from.
    pub resume: Option<Midstate>,
}

impl RawBody {
    pub fn new(expected_hash: &str, expected_size: u64, part_bytes: usize) -> RawBody {
        RawBody::piece(expected_hash, Piece::whole(expected_size), part_bytes, Midstate::default())
    }

    /// The piece `piece`, continuing from `hasher` (which has absorbed bytes `0..piece.start`).
    pub fn piece(expected_hash: &str, piece: Piece, part_bytes: usize, hasher: Midstate) -> RawBody {
        RawBody {
            piece,
            expected_hash: expected_hash.to_string(),
            part_bytes: part_bytes.max(1),
            received: 0,
            hasher,
            part: Vec::new(),
        }
    }

    /// Takes a chunk; returns the parts it completed (usually none or one), in order.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<Vec<Vec<u8>>, RawError> {
        let expected = self.piece.len();
        self.received = self.received.saturating_add(chunk.len() as u64);
        if self.received > expected {
            return Err(RawError::TooLong { expected });
        }
        self.hasher.update(chunk);
        let mut done = Vec::new();
        while !chunk.is_empty() {
            if self.part.capacity() == 0 {
                let left = (expected - (self.received - chunk.len() as u64)) as usize;
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

    /// The piece ended: its length must check out, and for the body's last piece the hash too
    /// (then the last, possibly short, possibly absent part comes back).
    pub fn finish_piece(self) -> Result<PieceDone, RawError> {
        let expected = self.piece.len();
        if self.received != expected {
            return Err(RawError::TooShort { expected, got: self.received });
        }
        if !self.piece.is_last() {
            return Ok(PieceDone { last_part: None, resume: Some(self.hasher) });
        }
        if self.hasher.finish() != self.expected_hash {
            return Err(RawError::HashMismatch);
        }
        Ok(PieceDone { last_part: (!self.part.is_empty()).then_some(self.part), resume: None })
    }

    /// The whole body ended: the last (possibly short, possibly absent) part once the length
    /// and the hash check out (the tests' shorthand for `finish_piece` on a whole body).
    #[cfg(test)]
    pub fn finish(self) -> Result<Option<Vec<u8>>, RawError> {
        self.finish_piece().map(|d| d.last_part)
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
    fn midstate_matches_sha256_across_any_split_and_survives_encoding() {
        for n in [0usize, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 4097 * 64 + 3] {
            let data = body(n);
            let want = ContentHash::of(&data);
            let mut whole = Midstate::default();
            whole.update(&data);
            assert_eq!(whole.finish(), want.as_str(), "n={n}");
            for cut in [0, 1, n / 3, n / 2, n.saturating_sub(1), n].map(|c| c.min(n)) {
                let mut m = Midstate::default();
                m.update(&data[..cut]);
                let resumed = Midstate::decode(&m.encode()).unwrap();
                assert_eq!(resumed, m);
                let mut m = resumed;
                for c in data[cut..].chunks(7) {
                    m.update(c);
                }
                assert_eq!(m.len(), n as u64);
                assert_eq!(m.finish(), want.as_str(), "n={n} cut={cut}");
            }
        }
        for bad in
            ["", "1", "0::", "x:00:", &format!("1:{}:", "0".repeat(64)), &format!("0:{}:00", "0".repeat(64))]
        {
            assert_eq!(Midstate::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn pieces_are_parsed_strictly_and_reassemble_the_body() {
        let part = 16u64;
        assert_eq!(Piece::parse(None, 50, part).unwrap(), Piece::whole(50));
        assert_eq!(
            Piece::parse(Some("bytes 0-31/50"), 50, part).unwrap(),
            Piece { start: 0, end: 32, total: 50 }
        );
        assert_eq!(
            Piece::parse(Some("bytes 32-49/50"), 50, part).unwrap(),
            Piece { start: 32, end: 50, total: 50 }
        );
        for bad in [
            "bytes 0-31/51",
            "bytes 0-30/50",
            "bytes 8-31/50",
            "bytes 32-50/50",
            "bytes 31-30/50",
            "bytes */50",
            "bytes 0-/50",
            "items 0-31/50",
            "bytes -0-31/50",
            "bytes +0-31/50",
            "bytes 0-31/",
            "bytes 0-99999999999999999999/50",
        ] {
            let e = Piece::parse(Some(bad), 50, part).unwrap_err();
            assert_eq!((e.status(), e.field()), (400, "content-range".to_string()), "{bad}");
        }
        // Two pieces through RawBody give the parts and the hash of the whole body.
        let data = body(50);
        let hash = ContentHash::of(&data);
        let first = Piece::parse(Some("bytes 0-31/50"), 50, part).unwrap();
        let mut raw = RawBody::piece(hash.as_str(), first, part as usize, Midstate::default());
        let mut parts = raw.push(&data[..32]).unwrap();
        let done = raw.finish_piece().unwrap();
        assert_eq!(done.last_part, None);
        let mid = Midstate::decode(&done.resume.unwrap().encode()).unwrap();
        let second = Piece::parse(Some("bytes 32-49/50"), 50, part).unwrap();
        let mut raw = RawBody::piece(hash.as_str(), second, part as usize, mid.clone());
        parts.extend(raw.push(&data[32..]).unwrap());
        let done = raw.finish_piece().unwrap();
        parts.extend(done.last_part);
        assert_eq!(done.resume, None);
        assert_eq!(parts.concat(), data);
        assert!(parts[..parts.len() - 1].iter().all(|p| p.len() == part as usize));
        // A last piece with other bytes fails the hash of the whole body.
        let mut raw = RawBody::piece(hash.as_str(), second, part as usize, mid);
        raw.push(&[0u8; 18]).unwrap();
        assert_eq!(raw.finish_piece(), Err(RawError::HashMismatch));
        // A short piece is refused whatever its place.
        let mut raw = RawBody::piece(hash.as_str(), first, part as usize, Midstate::default());
        raw.push(&data[..31]).unwrap();
        assert_eq!(raw.finish_piece(), Err(RawError::TooShort { expected: 32, got: 31 }));
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
            let _ = Piece::parse(Some(&format!("bytes {h}-{h}/{h}")), next() % 200, next() % 40);
            let _ = Piece::parse(Some(&h), next() % 200, next() % 40);
            let _ = Midstate::decode(&format!("{h}:{h}:{h}"));
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
