//! Wrangler's asset manifest: `{"/path": {hash, size}}` where hash is the first 32 hex
//! characters of BLAKE3 over (the file's base64 text + its extension without the dot), and the
//! check an uploaded part must pass before anything is written.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

pub const WRANGLER_HASH_LEN: usize = 32;
const MAX_PATH: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WranglerEntry {
    pub hash: String,
    pub size: u64,
}

/// Path -> entry, as wrangler sent it (stored in R2 for the session).
pub type WranglerManifest = BTreeMap<String, WranglerEntry>;

/// `path.extname(p).substring(1)` as Node computes it on the last path segment.
pub fn extension_of(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or("");
    match base.rfind('.') {
        Some(0) | None => "",
        Some(i) => &base[i + 1..],
    }
}

/// Wrangler's hash of a file given its base64 text and path.
pub fn wrangler_hash(base64_text: &str, path: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(base64_text.as_bytes());
    h.update(extension_of(path).as_bytes());
    let hex = h.finalize().to_hex();
    hex[..WRANGLER_HASH_LEN].to_string()
}

fn is_hash(s: &str) -> bool {
    s.len() == WRANGLER_HASH_LEN && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// An `assets-upload-session` body: read straight into the manifest when it is valid (no JSON
/// tree for a 100,000-file body); otherwise the general parser names what is wrong.
pub fn parse_wrangler_session_body(body: &[u8]) -> Result<WranglerManifest, ApiError> {
    #[derive(Deserialize)]
    struct Body {
        manifest: WranglerManifest,
    }
    if let Ok(b) = serde_json::from_slice::<Body>(body) {
        let ok =
            |(p, e): (&String, &WranglerEntry)| p.starts_with('/') && p.len() <= MAX_PATH && is_hash(&e.hash);
        if b.manifest.iter().all(ok) {
            return Ok(b.manifest);
        }
    }
    let o = crate::domain::JsonObject::parse(body, false)?;
    parse_wrangler_manifest(o.get("manifest"))
}

/// Validates the `manifest` of `assets-upload-session`. Paths are checked again, fully, when
/// the deploy maps them onto the native manifest.
pub fn parse_wrangler_manifest(v: Option<&Value>) -> Result<WranglerManifest, ApiError> {
    let m = v
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad("manifest", "is required (object of path -> {hash, size})"))?;
    let mut out = BTreeMap::new();
    for (path, e) in m {
        let field = || format!("manifest[{path:?}]");
        if !path.starts_with('/') || path.len() > MAX_PATH {
            return Err(ApiError::bad(field(), "path must start with '/' and be at most 4096 bytes"));
        }
        let hash = e.get("hash").and_then(Value::as_str).filter(|h| is_hash(h));
        let size = e.get("size").and_then(Value::as_u64);
        match (hash, size) {
            (Some(hash), Some(size)) => {
                out.insert(path.clone(), WranglerEntry { hash: hash.to_string(), size });
            }
            _ => return Err(ApiError::bad(field(), "must be {hash: 32 lowercase hex, size: integer}")),
        }
    }
    Ok(out)
}

/// Distinct hashes with their size and one path that has them (the path gives the extension).
pub fn wrangler_unique(m: &WranglerManifest) -> BTreeMap<&str, (&str, u64)> {
    let mut out = BTreeMap::new();
    for (path, e) in m {
        out.entry(e.hash.as_str()).or_insert((path.as_str(), e.size));
    }
    out
}

/// Verifies one uploaded part (`base64_text` under `hash`) against the session's manifest and
/// returns the decoded bytes. Nothing is written by the caller unless every part passes.
pub fn verify_part(
    m: &BTreeMap<&str, (&str, u64)>,
    hash: &str,
    base64_text: &str,
) -> Result<Vec<u8>, ApiError> {
    let Some((path, size)) = m.get(hash) else {
        return Err(ApiError::bad(hash, "is not a file of this upload session"));
    };
    let text = base64_text.trim();
    if wrangler_hash(text, path) != hash {
        return Err(ApiError::bad(hash, "the uploaded contents do not match the hash"));
    }
    let bytes = STANDARD.decode(text).map_err(|_| ApiError::bad(hash, "is not valid base64"))?;
    if bytes.len() as u64 != *size {
        return Err(ApiError::bad(
            hash,
            format!("size mismatch: manifest says {size} bytes, upload has {}", bytes.len()),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_matches_what_wrangler_sent() {
        // Observed from wrangler 4.164: "<h1>hi</h1>\n" at /index.html and "body{}\n" at /s.css.
        assert_eq!(
            wrangler_hash(&STANDARD.encode("<h1>hi</h1>\n"), "/index.html"),
            "17453d0cfb9bacc76d9f30d3cb9ca048"
        );
        assert_eq!(wrangler_hash(&STANDARD.encode("body{}\n"), "/s.css"), "aa42bba514e8ddfea838ec1a715ca332");
        assert_eq!(
            wrangler_hash(&STANDARD.encode("<h1>w</h1>\n"), "/index.html"),
            "c709d6f9e7579c8369a76d13100378ef"
        );
    }

    #[test]
    fn extensions_like_node() {
        for (p, e) in [
            ("/a.html", "html"),
            ("/a.b.css", "css"),
            ("/.htaccess", ""),
            ("/dir.d/file", ""),
            ("/x.", ""),
            ("/", ""),
            ("/A.JS", "JS"),
        ] {
            assert_eq!(extension_of(p), e, "{p}");
        }
    }

    #[test]
    fn manifest_validation() {
        let ok = json!({"/a.html": {"hash": "17453d0cfb9bacc76d9f30d3cb9ca048", "size": 12}});
        assert_eq!(parse_wrangler_manifest(Some(&ok)).unwrap().len(), 1);
        let body = |m: Value| serde_json::to_vec(&serde_json::json!({ "manifest": m })).unwrap();
        assert_eq!(
            parse_wrangler_session_body(&body(ok.clone())).unwrap(),
            parse_wrangler_manifest(Some(&ok)).unwrap()
        );
        for bad in [
            json!(null),
            json!([]),
            json!({"a.html": {"hash": "17453d0cfb9bacc76d9f30d3cb9ca048", "size": 1}}),
            json!({"/a": {"hash": "XYZ", "size": 1}}),
            json!({"/a": {"hash": "17453d0cfb9bacc76d9f30d3cb9ca04", "size": 1}}),
            json!({"/a": {"hash": "17453d0cfb9bacc76d9f30d3cb9ca048", "size": -1}}),
            json!({"/a": {"hash": "17453d0cfb9bacc76d9f30d3cb9ca048"}}),
        ] {
            assert_eq!(parse_wrangler_manifest(Some(&bad)).unwrap_err().status(), 400, "{bad}");
            let e = parse_wrangler_session_body(&body(bad.clone())).unwrap_err();
            assert_eq!(e.message(), parse_wrangler_manifest(Some(&bad)).unwrap_err().message(), "{bad}");
        }
        for junk in ["", "[]", "{", "{\"manifest\": 5}", "\u{0}\u{ff}"] {
            assert!(parse_wrangler_session_body(junk.as_bytes()).is_err(), "{junk}");
        }
        assert!(parse_wrangler_manifest(None).is_err());
    }

    #[test]
    fn parts_are_verified_before_use() {
        let m: WranglerManifest = serde_json::from_value(json!({
            "/index.html": {"hash": "17453d0cfb9bacc76d9f30d3cb9ca048", "size": 12},
            "/copy.html": {"hash": "17453d0cfb9bacc76d9f30d3cb9ca048", "size": 12},
        }))
        .unwrap();
        let u = wrangler_unique(&m);
        assert_eq!(u.len(), 1);
        let good = STANDARD.encode("<h1>hi</h1>\n");
        assert_eq!(verify_part(&u, "17453d0cfb9bacc76d9f30d3cb9ca048", &good).unwrap(), b"<h1>hi</h1>\n");
        let other = STANDARD.encode("<h1>ho</h1>\n");
        assert_eq!(verify_part(&u, "17453d0cfb9bacc76d9f30d3cb9ca048", &other).unwrap_err().status(), 400);
        assert_eq!(verify_part(&u, "00000000000000000000000000000000", &good).unwrap_err().status(), 400);
        assert!(verify_part(&u, "17453d0cfb9bacc76d9f30d3cb9ca048", "%%%").is_err());
    }
}
