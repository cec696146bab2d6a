//! Upload manifests (`{"/path": {hash, size, contentType?}}`), the buckets a client uploads
//! missing files in (the stored per-deployment manifest is in `compact`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::ContentHash;
use crate::error::ApiError;

/// Hard cap on files per deployment: Cloudflare's own Workers Paid limit on static assets per
/// version. The operator's `MAX_FILES_PER_DEPLOYMENT` may raise the default up to it.
pub const MAX_FILES: usize = 100_000;
/// `MAX_FILES_PER_DEPLOYMENT` when unset: Cloudflare's Workers Free limit.
pub const DEFAULT_MAX_FILES: usize = 20_000;
/// Largest file of a deployment (SPEC.md §8): the hard cap `MAX_FILE_BYTES` cannot exceed.
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;
pub const MAX_PATH_BYTES: usize = 1024;
pub const MAX_CONTENT_TYPE_BYTES: usize = 256;

/// Buckets hold files of at most `KV_MAX_FILE_BYTES` (see `plan_uploads`); larger ones take
/// the raw-body path. Buckets keep each upload request far below the Worker's 100 MB body limit: base64 adds a
/// third, so 16 MiB of raw bytes is ~21 MiB on the wire. A file larger than that travels alone.
pub const BUCKET_MAX_BYTES: u64 = 16 * 1024 * 1024;
pub const BUCKET_MAX_FILES: usize = 200;
/// Files one upload request may carry (a native JSON bucket `{hash: base64}` or a wrangler
/// multipart bucket): exactly the bucket size sessions hand out, so a client that follows its
/// buckets never meets it. Without it, tens of thousands of empty files fit in one body, each
/// a D1 lookup and a KV write in one invocation (`budget.rs` counts a bucket at this size).
pub const MAX_UPLOAD_KEYS: usize = BUCKET_MAX_FILES;

/// Refuses an upload request with more than [`MAX_UPLOAD_KEYS`] files, before any lookup.
pub fn check_upload_keys(files: usize) -> Result<(), ApiError> {
    if files > MAX_UPLOAD_KEYS {
        return Err(ApiError::PayloadTooLarge {
            what: "Files per upload request".into(),
            limit: MAX_UPLOAD_KEYS as u64,
        });
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub hash: String,
    pub size: u64,
    #[serde(rename = "contentType", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A validated upload manifest: normalised file path -> entry.
pub type UploadManifest = BTreeMap<String, ManifestEntry>;

/// Checks a file path: `/`-rooted, normalised (no empty, `.` or `..` segments, no trailing
/// slash), no NUL or control characters, bounded length.
pub fn validate_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err("must start with '/'".into());
    }
    if p.len() > MAX_PATH_BYTES {
        return Err(format!("must be at most {MAX_PATH_BYTES} bytes"));
    }
    if p.chars().any(|c| c.is_control()) {
        return Err("must not contain NUL or control characters".into());
    }
    if p.contains('\\') {
        return Err("must use '/' separators, not '\\'".into());
    }
    for seg in p[1..].split('/') {
        match seg {
            "" => return Err("must be normalised (no empty segments or trailing '/')".into()),
            "." | ".." => return Err("must not contain '.' or '..' segments".into()),
            _ => {}
        }
    }
    Ok(())
}

/// An upload-session request body (`{"manifest": {...}}`). The common case is read straight
/// into the manifest, without the JSON tree a 100,000-file body would cost several times over
/// (~90 MiB at peak for a 14 MiB body, against an isolate's 128 MB); a body it refuses goes
/// through the general parser, which names the offending field exactly as before.
pub fn parse_upload_session_body(body: &[u8]) -> Result<UploadManifest, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        manifest: BTreeMap<String, Raw>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        hash: String,
        size: u64,
        #[serde(rename = "contentType", default)]
        content_type: Option<String>,
    }
    let fast = serde_json::from_slice::<Body>(body).ok().and_then(|b| {
        check_count(b.manifest.len()).ok()?;
        let mut out = UploadManifest::new();
        for (path, r) in b.manifest {
            let entry = check_entry(&path, &r.hash, r.size, r.content_type).ok()?;
            out.insert(path, entry);
        }
        finish(out).ok()
    });
    if let Some(m) = fast {
        return Ok(m);
    }
    // A refusal: the general parser finds the first bad entry in the body's own order.
    let o = crate::domain::JsonObject::parse(body, false)?;
    o.only(&["manifest"])?;
    parse_upload_manifest(o.get("manifest"))
}

fn check_count(n: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::bad("manifest", "must list at least one file"));
    }
    if n > MAX_FILES {
        return Err(ApiError::PayloadTooLarge {
            what: "Manifest file count".into(),
            limit: MAX_FILES as u64,
        });
    }
    Ok(())
}

/// One entry's checks once its fields are read: path, hash, size limit, content type.
fn check_entry(
    path: &str,
    hash: &str,
    size: u64,
    content_type: Option<String>,
) -> Result<ManifestEntry, ApiError> {
    let field = |sub: &str| format!("manifest[{path:?}]{sub}");
    validate_path(path).map_err(|r| ApiError::bad(field(""), r))?;
    ContentHash::parse(hash).map_err(|er| ApiError::bad(field(".hash"), er.0))?;
    if size > MAX_FILE_BYTES {
        return Err(ApiError::PayloadTooLarge { what: format!("File {path:?}"), limit: MAX_FILE_BYTES });
    }
    if let Some(s) = &content_type {
        if s.is_empty() || s.len() > MAX_CONTENT_TYPE_BYTES || !s.bytes().all(|c| (0x20..0x7f).contains(&c)) {
            return Err(bad_content_type(path));
        }
    }
    Ok(ManifestEntry { hash: hash.to_string(), size, content_type })
}

fn bad_content_type(path: &str) -> ApiError {
    ApiError::bad(
        format!("manifest[{path:?}].contentType"),
        format!("must be a printable ASCII string of at most {MAX_CONTENT_TYPE_BYTES} bytes"),
    )
}

/// One hash always has one size: the bytes are the same.
fn finish(out: UploadManifest) -> Result<UploadManifest, ApiError> {
    let mut sizes: BTreeMap<&str, u64> = BTreeMap::new();
    for (path, e) in &out {
        if let Some(prev) = sizes.insert(&e.hash, e.size) {
            if prev != e.size {
                return Err(ApiError::bad(
                    format!("manifest[{path:?}].size"),
                    "differs from another file with the same hash",
                ));
            }
        }
    }
    Ok(out)
}

/// Validates the `manifest` field of an upload-session request.
pub fn parse_upload_manifest(v: Option<&Value>) -> Result<UploadManifest, ApiError> {
    let obj = match v {
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ApiError::bad("manifest", "must be an object of path -> {hash, size}")),
        None => return Err(ApiError::bad("manifest", "is required")),
    };
    check_count(obj.len())?;
    let mut out = UploadManifest::new();
    for (path, entry) in obj {
        let field = |sub: &str| format!("manifest[{path:?}]{sub}");
        validate_path(path).map_err(|r| ApiError::bad(field(""), r))?;
        let e =
            entry.as_object().ok_or_else(|| ApiError::bad(field(""), "must be an object {hash, size}"))?;
        if let Some(k) = e.keys().find(|k| !["hash", "size", "contentType"].contains(&k.as_str())) {
            return Err(ApiError::bad(
                field(&format!(".{k}")),
                "unknown field; allowed: hash, size, contentType",
            ));
        }
        let hash = e
            .get("hash")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad(field(".hash"), "is required (string)"))?;
        ContentHash::parse(hash).map_err(|er| ApiError::bad(field(".hash"), er.0))?;
        let size = e
            .get("size")
            .and_then(Value::as_u64)
            .ok_or_else(|| ApiError::bad(field(".size"), "is required (non-negative integer, bytes)"))?;
        let content_type = match e.get("contentType") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad_content_type(path)),
        };
        out.insert(path.clone(), check_entry(path, hash, size, content_type)?);
    }
    finish(out)
}

/// Distinct (hash, size) pairs of a manifest, sorted by hash.
pub fn unique_hashes(m: &UploadManifest) -> Vec<(String, u64)> {
    let set: BTreeSet<(String, u64)> = m.values().map(|e| (e.hash.clone(), e.size)).collect();
    set.into_iter().collect()
}

/// Each hash's declared content type: that of the first path (in manifest order) with the hash.
/// One pass, so a 20,000-file session does not scan the manifest once per missing hash.
pub fn content_types_by_hash(m: &UploadManifest) -> BTreeMap<&str, Option<&str>> {
    let mut out = BTreeMap::new();
    for e in m.values() {
        out.entry(e.hash.as_str()).or_insert(e.content_type.as_deref());
    }
    out
}

/// What an upload session asks a client to send: base64 JSON buckets of files that KV stores,
/// and the hashes of larger files, each sent alone as a raw body (sorted by hash).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadPlan {
    pub buckets: Vec<Vec<String>>,
    pub raw: Vec<String>,
}

impl UploadPlan {
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty() && self.raw.is_empty()
    }
}

/// Files stored in BLOBS (larger than a KV value) go raw; the rest are bucketed as before, so
/// a client that only knows buckets still uploads everything it could upload before.
pub fn plan_uploads(missing: &[(String, u64)], max_files: usize, max_bytes: u64) -> UploadPlan {
    let large = |size: u64| super::body_store(size) == super::BodyStore::Blobs;
    let bucketed: Vec<(String, u64)> = missing.iter().filter(|(_, s)| !large(*s)).cloned().collect();
    let mut raw: Vec<String> = missing.iter().filter(|(_, s)| large(*s)).map(|(h, _)| h.clone()).collect();
    raw.sort();
    UploadPlan { buckets: plan_buckets(&bucketed, max_files, max_bytes), raw }
}

/// Splits missing files into upload buckets bounded by count and raw bytes. Largest first, so
/// big files start early and small ones fill the gaps; the plan is deterministic.
pub fn plan_buckets(missing: &[(String, u64)], max_files: usize, max_bytes: u64) -> Vec<Vec<String>> {
    let mut items: Vec<&(String, u64)> = missing.iter().collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut buckets: Vec<(Vec<String>, u64)> = Vec::new();
    for (hash, size) in items {
        let fit = buckets
            .iter_mut()
            .find(|(b, bytes)| b.len() < max_files && (b.is_empty() || bytes + size <= max_bytes));
        match fit {
            Some((b, bytes)) => {
                b.push(hash.clone());
                *bytes += size;
            }
            None => buckets.push((vec![hash.clone()], *size)),
        }
    }
    buckets.into_iter().map(|(b, _)| b).collect()
}

/// What serving needs to know about a deployment's server code without loading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Digest of the bundle (part of the isolate id).
    pub digest: String,
    #[serde(rename = "runWorkerFirst", default)]
    pub run_worker_first: super::RunWorkerFirst,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_keys_are_capped_at_the_bucket_size() {
        assert_eq!(MAX_UPLOAD_KEYS, BUCKET_MAX_FILES);
        for n in [0, 1, 199, 200] {
            assert_eq!(check_upload_keys(n), Ok(()), "{n}");
        }
        for n in [201, 100_000] {
            let e = check_upload_keys(n).unwrap_err();
            assert_eq!(e.status(), 413);
            assert_eq!(e.message(), "Files per upload request exceeds the limit of 200");
        }
        // Every bucket a session plans passes the cap.
        let missing: Vec<(String, u64)> = (0..1000).map(|i| (format!("{i:064x}"), 0)).collect();
        for b in plan_buckets(&missing, BUCKET_MAX_FILES, BUCKET_MAX_BYTES) {
            assert_eq!(check_upload_keys(b.len()), Ok(()));
        }
    }

    #[test]
    fn content_types_by_hash_takes_the_first_path_with_the_hash() {
        let e = |hash: &str, ct: Option<&str>| ManifestEntry {
            hash: hash.to_string(),
            size: 1,
            content_type: ct.map(str::to_string),
        };
        let mut m = UploadManifest::new();
        m.insert("/a.txt".into(), e("h1", None));
        m.insert("/b.txt".into(), e("h1", Some("text/x-b")));
        m.insert("/c.css".into(), e("h2", Some("text/css")));
        let map = content_types_by_hash(&m);
        assert_eq!(map.len(), 2);
        assert_eq!(map["h1"], None);
        assert_eq!(map["h2"], Some("text/css"));
    }
    use serde_json::json;

    const H1: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    const H2: &str = "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7";

    #[test]
    fn path_rules() {
        for ok in ["/a", "/index.html", "/[boop].html", "/a b/ü.txt", "/.well-known/x", "/a/..b"] {
            assert!(validate_path(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "", "/", "/a/", "//a", "/a//b", "/./a", "/a/../b", "/..", "/a\0b", "/a\\b", "/\n"] {
            assert!(validate_path(bad).is_err(), "{bad:?}");
        }
        assert!(validate_path(&format!("/{}", "a".repeat(1024))).is_err());
    }

    #[test]
    fn manifest_validation_names_the_entry() {
        let ok = json!({ "/index.html": { "hash": H1, "size": 5 }, "/a.txt": { "hash": H2, "size": 5, "contentType": "text/plain" } });
        let m = parse_upload_manifest(Some(&ok)).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["/a.txt"].content_type.as_deref(), Some("text/plain"));
        let cases = [
            (json!([]), "manifest"),
            (json!({}), "manifest"),
            (json!({ "index.html": { "hash": H1, "size": 1 } }), "manifest[\"index.html\"]"),
            (json!({ "/../x": { "hash": H1, "size": 1 } }), "manifest[\"/../x\"]"),
            (json!({ "/a": { "hash": "ABC", "size": 1 } }), "manifest[\"/a\"].hash"),
            (json!({ "/a": { "hash": H1.to_uppercase(), "size": 1 } }), "manifest[\"/a\"].hash"),
            (json!({ "/a": { "size": 1 } }), "manifest[\"/a\"].hash"),
            (json!({ "/a": { "hash": H1, "size": -1 } }), "manifest[\"/a\"].size"),
            (json!({ "/a": { "hash": H1, "size": "1" } }), "manifest[\"/a\"].size"),
            (json!({ "/a": { "hash": H1, "size": 1, "x": 1 } }), "manifest[\"/a\"].x"),
            (json!({ "/a": { "hash": H1, "size": 1, "contentType": 5 } }), "manifest[\"/a\"].contentType"),
            (
                json!({ "/a": { "hash": H1, "size": 1, "contentType": "a\nb" } }),
                "manifest[\"/a\"].contentType",
            ),
            (
                json!({ "/a": { "hash": H1, "size": 1 }, "/b": { "hash": H1, "size": 2 } }),
                "manifest[\"/b\"].size",
            ),
            (json!({ "/a": 5 }), "manifest[\"/a\"]"),
        ];
        for (v, field) in cases {
            assert_eq!(parse_upload_manifest(Some(&v)).unwrap_err().field(), field, "{v}");
        }
        assert_eq!(parse_upload_manifest(None).unwrap_err().field(), "manifest");
    }

    /// The general parser, as the session endpoint used it before the typed fast path.
    fn general(body: &[u8]) -> Result<UploadManifest, ApiError> {
        let o = crate::domain::JsonObject::parse(body, false)?;
        o.only(&["manifest"])?;
        parse_upload_manifest(o.get("manifest"))
    }

    fn same(body: &[u8]) {
        match (parse_upload_session_body(body), general(body)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(body)),
            (Err(a), Err(b)) => assert_eq!(
                (a.status(), a.message()),
                (b.status(), b.message()),
                "{}",
                String::from_utf8_lossy(body)
            ),
            (a, b) => {
                panic!("{}: fast {:?} vs general {:?}", String::from_utf8_lossy(body), a.is_ok(), b.is_ok())
            }
        }
    }

    #[test]
    fn the_session_body_fast_path_agrees_with_the_general_parser() {
        let entries = [
            json!({ "hash": H1, "size": 5 }),
            json!({ "hash": H1, "size": 5, "contentType": "text/x" }),
            json!({ "hash": H1, "size": 5, "contentType": null }),
            json!({ "hash": H1, "size": 5, "contentType": "" }),
            json!({ "hash": H1, "size": 5, "contentType": "a\nb" }),
            json!({ "hash": H1, "size": 5, "contentType": 5 }),
            json!({ "hash": H1, "size": 6 }),
            json!({ "hash": H2, "size": MAX_FILE_BYTES + 1 }),
            json!({ "hash": "abc", "size": 5 }),
            json!({ "hash": H1.to_uppercase(), "size": 5 }),
            json!({ "hash": H1, "size": -1 }),
            json!({ "hash": H1, "size": 1.5 }),
            json!({ "hash": H1, "size": "5" }),
            json!({ "size": 5 }),
            json!({ "hash": H1 }),
            json!({ "hash": H1, "size": 5, "x": 1 }),
            json!(5),
            json!(null),
        ];
        let paths = ["/a", "/b/c.txt", "a", "/a/../b", "/ü", "/a\\b"];
        for (i, e1) in entries.iter().enumerate() {
            for (j, e2) in entries.iter().enumerate().step_by(3) {
                let p1 = paths[i % paths.len()];
                let p2 = paths[(i + j + 1) % paths.len()];
                same(json!({ "manifest": { p1: e1, p2: e2 } }).to_string().as_bytes());
                same(json!({ "manifest": { "/ok": e1 } }).to_string().as_bytes());
            }
        }
        for body in [
            "",
            " ",
            "[]",
            "{}",
            "null",
            "{\"manifest\": {}}",
            "{\"manifest\": []}",
            "{\"manifest\": 5}",
            "{\"manifest\": {\"/a\": {\"hash\": \"x\", \"size\": 1}}, \"extra\": 1}",
            "{\"manifest\": {\"/a\": {\"hash\": \"x\"",
            "\u{0}",
            "{\"manifest\": null}",
        ] {
            same(body.as_bytes());
        }
        let mut many = serde_json::Map::new();
        for i in 0..=MAX_FILES {
            many.insert(format!("/f{i}"), json!({ "hash": H1, "size": 1 }));
        }
        let body = json!({ "manifest": many }).to_string();
        assert_eq!(parse_upload_session_body(body.as_bytes()).unwrap_err().status(), 413);
    }

    #[test]
    fn the_session_body_parser_never_panics() {
        let good = json!({ "manifest": { "/a": { "hash": H1, "size": 5, "contentType": "text/x" }, "/b": { "hash": H2, "size": 1 } } })
            .to_string()
            .into_bytes();
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..3000 {
            let mut b = good.clone();
            let alphabet = b"{}[]\":,0-9ae\\ \xff";
            for _ in 0..1 + next() % 4 {
                let i = (next() % b.len() as u64) as usize;
                b[i] = alphabet[(next() % alphabet.len() as u64) as usize];
            }
            let _ = parse_upload_session_body(&b);
        }
    }

    #[test]
    fn manifest_limits_are_413() {
        let big = json!({ "/a": { "hash": H1, "size": MAX_FILE_BYTES + 1 } });
        assert_eq!(parse_upload_manifest(Some(&big)).unwrap_err().status(), 413);
        let mut many = serde_json::Map::new();
        for i in 0..=MAX_FILES {
            many.insert(format!("/f{i}"), json!({ "hash": H1, "size": 1 }));
        }
        assert_eq!(parse_upload_manifest(Some(&Value::Object(many))).unwrap_err().status(), 413);
    }

    #[test]
    fn buckets_respect_count_and_bytes() {
        let missing: Vec<(String, u64)> =
            (0..1000).map(|i| (format!("{i:064}"), (i % 7) * 100_000)).collect();
        let buckets = plan_buckets(&missing, 200, 16 * 1024 * 1024);
        let all: BTreeSet<&String> = buckets.iter().flatten().collect();
        assert_eq!(all.len(), 1000, "every hash exactly once");
        assert_eq!(buckets.iter().map(Vec::len).sum::<usize>(), 1000);
        let size_of: BTreeMap<&String, u64> = missing.iter().map(|(h, s)| (h, *s)).collect();
        for b in &buckets {
            assert!(b.len() <= 200);
            let bytes: u64 = b.iter().map(|h| size_of[h]).sum();
            assert!(bytes <= 16 * 1024 * 1024 || b.len() == 1);
        }
        // A file larger than a bucket travels alone.
        let huge = vec![("a".repeat(64), 20 << 20), ("b".repeat(64), 10)];
        let b = plan_buckets(&huge, 200, 16 << 20);
        assert_eq!(b, vec![vec!["a".repeat(64)], vec!["b".repeat(64)]]);
        assert!(plan_buckets(&[], 200, 1).is_empty());
    }

    #[test]
    fn large_files_go_raw_and_the_rest_into_buckets() {
        let kv_max = crate::deploy::KV_MAX_FILE_BYTES;
        let missing = vec![
            ("c".repeat(64), kv_max + 1),
            ("a".repeat(64), 10),
            ("b".repeat(64), kv_max),
            ("d".repeat(64), MAX_FILE_BYTES),
        ];
        let plan = plan_uploads(&missing, 200, 16 << 20);
        assert_eq!(plan.raw, vec!["c".repeat(64), "d".repeat(64)]);
        assert_eq!(plan.buckets, vec![vec!["b".repeat(64)], vec!["a".repeat(64)]]);
        assert!(!plan.is_empty());
        assert!(plan_uploads(&[], 200, 1).is_empty());
        let only_raw = plan_uploads(&missing[..1], 200, 16 << 20);
        assert!(only_raw.buckets.is_empty() && only_raw.raw.len() == 1);
    }

    #[test]
    fn files_up_to_100_mib_are_accepted() {
        let at = json!({ "/a": { "hash": H1, "size": MAX_FILE_BYTES } });
        assert!(parse_upload_manifest(Some(&at)).is_ok());
        assert_eq!(MAX_FILE_BYTES, 100 * 1024 * 1024);
    }

    #[test]
    fn unique_hashes_dedupes() {
        let m = parse_upload_manifest(Some(&json!({
            "/a": { "hash": H1, "size": 5 }, "/b": { "hash": H1, "size": 5 }, "/c": { "hash": H2, "size": 5 }
        })))
        .unwrap();
        assert_eq!(unique_hashes(&m).len(), 2);
    }
}
