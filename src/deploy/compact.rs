//! The per-deployment manifest in its compact stored form (ROUTES_KV `manifest:<depId>`,
//! format 2), and the old JSON form deployments made before it still use (read and migrated
//! on load).
//!
//! ```text
//! flotilla-manifest 2\n
//! {"v":2,"projectId":..,"deploymentId":..,"config":..,"redirects":..,"headers":..,
//!  "server":..,"contentTypes":["", "text/html", ..],"files":N}\n
//! <path>\t<hash>\t<size>\t<content type index>\n     (N lines, sorted by path bytes)
//! ```
//!
//! Loading checks every line once and records where each starts (one `u32` per file); a lookup
//! is a binary search over those offsets comparing path bytes in place, so a 100,000-file
//! manifest costs its text plus 400 KB, not a map of 300,000 small strings. Paths cannot hold
//! a tab or newline (`validate_path` refuses control characters), content types are printable
//! ASCII and sit in a table, and hashes are hex: the line form needs no escaping, and the
//! encoder refuses anything that would break it rather than write an ambiguous table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::manifest::ServerInfo;
use crate::assets::{AssetConfig, HeaderRules, RedirectRules};

/// First line of a format-2 manifest.
pub const MAGIC: &str = "flotilla-manifest 2";

/// One file of a deployment, borrowed from its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRef<'a> {
    pub hash: &'a str,
    /// Empty when neither the upload nor the extension gives one.
    pub content_type: &'a str,
    pub size: u64,
}

/// The sorted file table: the manifest's text, the start of each file line, and the content
/// type table the lines index into.
#[derive(Debug, Clone, Default)]
pub struct FileTable {
    /// The stored text; the file lines start at `lines_from` (a decoded manifest keeps its
    /// header line in front of them rather than copying the lines out).
    text: String,
    lines_from: usize,
    starts: Vec<u32>,
    types: Vec<String>,
}

/// Same files, content types and order (wherever the lines sit in their text).
impl PartialEq for FileTable {
    fn eq(&self, o: &FileTable) -> bool {
        self.lines() == o.lines() && self.types == o.types
    }
}

impl Eq for FileTable {}

/// What the file table cannot hold or a stored manifest got wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad<T>(msg: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(msg.into()))
}

/// A field may not hold the separators (or be empty where a value is required).
fn field_ok(s: &str) -> bool {
    !s.bytes().any(|c| c == b'\t' || c == b'\n' || c == b'\r')
}

impl FileTable {
    /// Builds the table from entries in strictly ascending path order (a `BTreeMap`'s order):
    /// `(path, hash, content type, size)`. Refuses unsorted or duplicate paths, and fields the
    /// line form cannot hold.
    pub fn build<P, H, C>(entries: impl IntoIterator<Item = (P, H, C, u64)>) -> Result<FileTable, FormatError>
    where
        P: AsRef<str>,
        H: AsRef<str>,
        C: AsRef<str>,
    {
        let mut t =
            FileTable { text: String::new(), lines_from: 0, starts: Vec::new(), types: vec![String::new()] };
        let mut type_index: BTreeMap<String, usize> = BTreeMap::from([(String::new(), 0)]);
        let mut prev: Option<(usize, usize)> = None; // previous path as a range of `text`
        for (path, hash, ct, size) in entries {
            let (path, hash, ct) = (path.as_ref(), hash.as_ref(), ct.as_ref());
            if path.is_empty() || !field_ok(path) {
                return bad(format!("path {path:?} cannot be stored"));
            }
            if hash.is_empty() || !field_ok(hash) {
                return bad(format!("hash of {path:?} cannot be stored"));
            }
            if !field_ok(ct) {
                return bad(format!("content type of {path:?} cannot be stored"));
            }
            if let Some((s, e)) = prev {
                if t.text.as_bytes()[s..e] >= *path.as_bytes() {
                    return bad(format!("paths out of order at {path:?}"));
                }
            }
            let ct_ix = match type_index.get(ct) {
                Some(i) => *i,
                None => {
                    t.types.push(ct.to_string());
                    type_index.insert(ct.to_string(), t.types.len() - 1);
                    t.types.len() - 1
                }
            };
            let start = t.text.len();
            let Ok(start32) = u32::try_from(start) else { return bad("manifest larger than 4 GiB") };
            t.starts.push(start32);
            t.text.push_str(path);
            prev = Some((start, start + path.len()));
            t.text.push('\t');
            t.text.push_str(hash);
            t.text.push('\t');
            t.text.push_str(&size.to_string());
            t.text.push('\t');
            t.text.push_str(&ct_ix.to_string());
            t.text.push('\n');
        }
        t.text.shrink_to_fit();
        t.starts.shrink_to_fit();
        Ok(t)
    }

    /// Checks `text[from..]` as `expected` file lines indexing into `types`; keeps `text`.
    fn parse(
        text: String,
        from: usize,
        types: Vec<String>,
        expected: usize,
    ) -> Result<FileTable, FormatError> {
        if text.len() > u32::MAX as usize {
            return bad("manifest larger than 4 GiB");
        }
        let Some(body) = text.get(from..) else { return bad("truncated before the file table") };
        // Every line is at least "p\th\t0\t0\n" (8 bytes): a count the text cannot hold is a
        // lie, refused before reserving memory for it.
        if expected > body.len() / 8 {
            return bad("file count larger than the file table");
        }
        let mut starts = Vec::with_capacity(expected);
        let mut pos = from;
        let mut prev: &str = "";
        for line in body.split_inclusive('\n') {
            let Some(line) = line.strip_suffix('\n') else { return bad("last file line is unterminated") };
            let mut f = line.split('\t');
            let (Some(path), Some(hash), Some(size), Some(ct), None) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                return bad(format!("file line {} does not have 4 fields", starts.len() + 1));
            };
            if path.is_empty() || hash.is_empty() || path.contains('\r') || hash.contains('\r') {
                return bad(format!("file line {} has an empty path or hash", starts.len() + 1));
            }
            if !starts.is_empty() && prev.as_bytes() >= path.as_bytes() {
                return bad(format!("paths out of order at {path:?}"));
            }
            if !size.bytes().all(|c| c.is_ascii_digit()) || size.parse::<u64>().is_err() {
                return bad(format!("size of {path:?} is not a number"));
            }
            match ct.parse::<usize>() {
                Ok(i) if i < types.len() && ct.bytes().all(|c| c.is_ascii_digit()) => {}
                _ => return bad(format!("content type index of {path:?} is out of range")),
            }
            starts.push(pos as u32);
            pos += line.len() + 1;
            prev = path;
        }
        if starts.len() != expected {
            return bad(format!("{} file lines, the header says {expected}", starts.len()));
        }
        Ok(FileTable { text, lines_from: from, starts, types })
    }

    /// The file lines as stored.
    fn lines(&self) -> &str {
        self.text.get(self.lines_from..).unwrap_or("")
    }

    /// The text of line `i` without its newline.
    fn line(&self, i: usize) -> &str {
        let start = self.starts.get(i).map(|s| *s as usize).unwrap_or(self.text.len());
        let end = self.starts.get(i + 1).map(|s| *s as usize).unwrap_or(self.text.len());
        let line = self.text.get(start..end).unwrap_or("");
        line.strip_suffix('\n').unwrap_or(line)
    }

    fn path_of(line: &str) -> &str {
        line.split('\t').next().unwrap_or("")
    }

    fn entry<'a>(&'a self, line: &'a str) -> Option<(&'a str, FileRef<'a>)> {
        let mut f = line.split('\t');
        let (path, hash, size, ct) = (f.next()?, f.next()?, f.next()?, f.next()?);
        let content_type = self.types.get(ct.parse::<usize>().ok()?)?.as_str();
        Some((path, FileRef { hash, content_type, size: size.parse().ok()? }))
    }

    fn entry_at(&self, i: usize) -> Option<(&str, FileRef<'_>)> {
        self.entry(self.line(i))
    }

    /// The file at `path` (exact, normalised path), by binary search.
    pub fn lookup(&self, path: &str) -> Option<FileRef<'_>> {
        let (mut lo, mut hi) = (0usize, self.starts.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match Self::path_of(self.line(mid)).as_bytes().cmp(path.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.entry_at(mid).map(|(_, f)| f),
            }
        }
        None
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Every file in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, FileRef<'_>)> + '_ {
        (0..self.starts.len()).filter_map(move |i| self.entry_at(i))
    }

    /// What the table costs in memory (charged to the manifest cache).
    pub fn byte_size(&self) -> usize {
        self.text.capacity()
            + self.starts.capacity() * 4
            + self.types.iter().map(|t| t.capacity() + 24).sum::<usize>()
            + std::mem::size_of::<FileTable>()
    }
}

/// A staged manifest must fit in one KV value: a deployment whose paths make it larger is
/// refused at staging with a message naming the limit.
pub fn check_manifest_size(bytes: usize) -> Result<(), super::StepError> {
    if bytes > super::KV_MAX_VALUE_BYTES {
        return Err(super::StepError::permanent(
            "manifest_too_large",
            format!(
                "The deployment's manifest is {bytes} bytes, over the {} bytes one KV value holds; use fewer or shorter paths",
                super::KV_MAX_VALUE_BYTES
            ),
        ));
    }
    Ok(())
}

/// The immutable per-deployment manifest served to visitors (ROUTES_KV `manifest:<depId>`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentManifest {
    pub v: u32,
    pub project_id: String,
    pub deployment_id: String,
    pub config: AssetConfig,
    /// Redirect rules: the `_redirects` file first, then `config.redirects`.
    pub redirects: RedirectRules,
    /// Header rules: the `_headers` file first, then `config.headers`.
    pub headers: HeaderRules,
    pub files: FileTable,
    /// Present when the deployment has server code.
    pub server: Option<ServerInfo>,
    /// Bytes of the stored header line (its parsed rules cost about as much again).
    header_bytes: usize,
}

/// The header line of format 2.
#[derive(Serialize, Deserialize)]
struct Header {
    v: u32,
    #[serde(rename = "projectId")]
    project_id: String,
    #[serde(rename = "deploymentId")]
    deployment_id: String,
    config: AssetConfig,
    #[serde(default)]
    redirects: RedirectRules,
    #[serde(default)]
    headers: HeaderRules,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server: Option<ServerInfo>,
    #[serde(rename = "contentTypes")]
    content_types: Vec<String>,
    files: usize,
}

/// Format 1 (one JSON object, `files`: path -> [hash, content type, size]), written before
/// format 2 and still in ROUTES_KV for older deployments.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub(crate) struct LegacyManifest {
    pub(crate) v: u32,
    #[serde(rename = "projectId")]
    pub(crate) project_id: String,
    #[serde(rename = "deploymentId")]
    pub(crate) deployment_id: String,
    pub(crate) config: AssetConfig,
    #[serde(default)]
    pub(crate) redirects: RedirectRules,
    #[serde(default)]
    pub(crate) headers: HeaderRules,
    pub(crate) files: BTreeMap<String, (String, String, u64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) server: Option<ServerInfo>,
}

impl DeploymentManifest {
    /// The files this deployment serves, as an upload manifest: what a rollout of it (a
    /// secret change) deploys again. It needs nothing of the upload session that made it,
    /// which expires and is collected. Empty content types (none given, none inferable)
    /// stay absent, so staging it again yields the same file table.
    pub fn upload_manifest(&self) -> super::UploadManifest {
        self.files
            .iter()
            .map(|(path, f)| {
                let content_type = (!f.content_type.is_empty()).then(|| f.content_type.to_string());
                (
                    path.to_string(),
                    super::ManifestEntry { hash: f.hash.to_string(), size: f.size, content_type },
                )
            })
            .collect()
    }

    pub fn new(
        project_id: String,
        deployment_id: String,
        config: AssetConfig,
        redirects: RedirectRules,
        headers: HeaderRules,
        files: FileTable,
        server: Option<ServerInfo>,
    ) -> DeploymentManifest {
        DeploymentManifest {
            v: 2,
            project_id,
            deployment_id,
            config,
            redirects,
            headers,
            files,
            server,
            header_bytes: 0,
        }
    }

    pub fn lookup(&self, path: &str) -> Option<FileRef<'_>> {
        self.files.lookup(path)
    }

    /// The stored text (format 2).
    pub fn encode(&self) -> Result<String, FormatError> {
        let header = Header {
            v: 2,
            project_id: self.project_id.clone(),
            deployment_id: self.deployment_id.clone(),
            config: self.config,
            redirects: self.redirects.clone(),
            headers: self.headers.clone(),
            server: self.server.clone(),
            content_types: self.files.types.clone(),
            files: self.files.len(),
        };
        let json = serde_json::to_string(&header).map_err(|e| FormatError(e.to_string()))?;
        let lines = self.files.lines();
        let mut out = String::with_capacity(MAGIC.len() + json.len() + lines.len() + 2);
        out.push_str(MAGIC);
        out.push('\n');
        out.push_str(&json); // serde_json escapes newlines inside strings: one line
        out.push('\n');
        out.push_str(lines);
        Ok(out)
    }

    /// Reads a stored manifest of either format. Never panics, whatever the bytes.
    pub fn decode(text: String) -> Result<DeploymentManifest, FormatError> {
        let Some(rest) = text.strip_prefix(MAGIC).and_then(|r| r.strip_prefix('\n')) else {
            return Self::decode_legacy(&text);
        };
        let Some(nl) = rest.find('\n') else { return bad("header line is unterminated") };
        let header: Header =
            serde_json::from_str(&rest[..nl]).map_err(|e| FormatError(format!("header: {e}")))?;
        if header.v != 2 {
            return bad(format!("unknown manifest version {}", header.v));
        }
        if header.content_types.first().map(String::as_str) != Some("") {
            return bad("content type table must start with the empty type");
        }
        let from = MAGIC.len() + 1 + nl + 1;
        let files = FileTable::parse(text, from, header.content_types, header.files)?;
        Ok(DeploymentManifest {
            v: 2,
            project_id: header.project_id,
            deployment_id: header.deployment_id,
            config: header.config,
            redirects: header.redirects,
            headers: header.headers,
            files,
            server: header.server,
            header_bytes: nl,
        })
    }

    fn decode_legacy(text: &str) -> Result<DeploymentManifest, FormatError> {
        let m: LegacyManifest = serde_json::from_str(text).map_err(|e| FormatError(e.to_string()))?;
        let files = FileTable::build(m.files.iter().map(|(p, (h, ct, size))| (p, h, ct, *size)))?;
        // The rules' share of the old text, for the cache charge.
        let header_bytes = serde_json::to_string(&(&m.redirects, &m.headers)).map(|s| s.len()).unwrap_or(0);
        Ok(DeploymentManifest {
            v: m.v,
            project_id: m.project_id,
            deployment_id: m.deployment_id,
            config: m.config,
            redirects: m.redirects,
            headers: m.headers,
            files,
            server: m.server,
            header_bytes,
        })
    }

    /// True when no request can be answered from this deployment's assets: it has server code
    /// and either that code runs first for every path, or there are no files and no redirect
    /// rules (the asset plan then always leaves the request to the code). The visitor fast path
    /// (src/js/main.mjs) may then skip the plan for a host; `plan_never_matches` tests the claim.
    pub fn every_request_runs_server_code(&self) -> bool {
        match &self.server {
            None => false,
            Some(s) => {
                s.run_worker_first == super::RunWorkerFirst::All(true)
                    || (self.files.is_empty() && self.redirects.is_empty())
            }
        }
    }

    /// What this manifest costs in isolate memory (its cache charge).
    pub fn byte_size(&self) -> usize {
        // The header line is in the text (format 2) and parsed once more into the rules.
        self.files.byte_size() + self.header_bytes + 256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::RunWorkerFirst;

    use crate::test_gen::Gen;

    const PIECES: &[&str] = &["a", "b", "index", ".html", "/", "ü", "[x]", " ", "-", "é/", "z", "0"];
    const TYPES: &[&str] = &["", "text/html; charset=utf-8", "text/css", "application/x-custom"];

    fn random_files(g: &mut Gen, n: usize) -> BTreeMap<String, (String, String, u64)> {
        let mut m = BTreeMap::new();
        while m.len() < n {
            let len = 1 + g.below(6);
            let mut p = String::from("/");
            for _ in 0..len {
                p.push_str(PIECES[g.below(PIECES.len() as u64) as usize]);
            }
            let hash = format!("{:064x}", g.next());
            let ct = TYPES[g.below(TYPES.len() as u64) as usize].to_string();
            m.insert(p, (hash, ct, g.below(1 << 40)));
        }
        m
    }

    fn manifest_of(files: &BTreeMap<String, (String, String, u64)>) -> DeploymentManifest {
        let table = FileTable::build(files.iter().map(|(p, (h, c, s))| (p, h, c, *s))).unwrap();
        DeploymentManifest::new(
            "p1".into(),
            "d1".into(),
            AssetConfig::default(),
            RedirectRules::default(),
            HeaderRules::default(),
            table,
            Some(ServerInfo { digest: "abc".into(), run_worker_first: RunWorkerFirst::default() }),
        )
    }

    fn with_server(
        m: DeploymentManifest,
        rwf: Option<RunWorkerFirst>,
        redirects: &str,
    ) -> DeploymentManifest {
        DeploymentManifest {
            redirects: crate::assets::parse_redirects(redirects).rules,
            server: rwf.map(|run_worker_first| ServerInfo { digest: "abc".into(), run_worker_first }),
            ..m
        }
    }

    #[test]
    fn which_deployments_always_run_server_code() {
        let mut g = Gen(7);
        let some = random_files(&mut g, 3);
        let none = BTreeMap::new();
        let all = Some(RunWorkerFirst::All(true));
        let default = Some(RunWorkerFirst::default());
        let rules =
            Some(crate::deploy::parse_run_worker_first(Some(&serde_json::json!(["/api/*"]))).unwrap());
        let cases = [
            (&some, None, "", false),
            (&none, None, "", false),
            (&some, default.clone(), "", false),
            (&some, rules.clone(), "", false),
            (&some, all.clone(), "/a /b 301", true),
            (&none, default.clone(), "", true),
            (&none, rules, "", true),
            (&none, default, "/a /b 301", false),
            (&none, all, "/a /b 301", true),
        ];
        for (i, (files, rwf, redirects, want)) in cases.into_iter().enumerate() {
            let m = with_server(manifest_of(files), rwf, redirects);
            assert_eq!(m.every_request_runs_server_code(), want, "case {i}");
        }
    }

    /// The claim behind `every_request_runs_server_code` for a deployment without files or
    /// redirects: whatever the request and the asset config, the plan leaves it to the code.
    #[test]
    fn plan_never_matches() {
        use crate::assets::{plan_asset_request, AssetPlan, AssetRequest};
        let m = with_server(manifest_of(&BTreeMap::new()), Some(RunWorkerFirst::default()), "");
        assert!(m.every_request_runs_server_code());
        let mut g = Gen(0xF1A5_7A7E);
        let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "get", "PATCH"];
        for round in 0..4000 {
            let config = AssetConfig::nth(round);
            let path =
                format!("/{}", g.string(&["a", "/", "index", ".html", "404", "%2F", "..", "ü", "?"], 8));
            let search = g.string(&["", "?", "q=1", "&"], 3);
            let request = AssetRequest {
                method: methods[round % methods.len()],
                raw_path: &path,
                search: &search,
                is_navigation: round % 5 < 2,
            };
            let lookup = |p: &str| m.lookup(p).map(|f| f.hash);
            let plan = plan_asset_request(&config, &m.redirects, &request, &lookup, true);
            assert_eq!(plan, AssetPlan::NoMatch, "{} {path}{search} with {config:?}", request.method);
        }
    }

    fn legacy_text(files: &BTreeMap<String, (String, String, u64)>) -> String {
        serde_json::to_string(&LegacyManifest {
            v: 1,
            project_id: "p1".into(),
            deployment_id: "d1".into(),
            config: AssetConfig::default(),
            redirects: RedirectRules::default(),
            headers: HeaderRules::default(),
            files: files.clone(),
            server: None,
        })
        .unwrap()
    }

    /// Every path of `files` and a few near misses resolve exactly as the map says.
    fn agrees(m: &DeploymentManifest, files: &BTreeMap<String, (String, String, u64)>, g: &mut Gen) {
        assert_eq!(m.files.len(), files.len());
        for (p, (h, c, s)) in files {
            assert_eq!(m.lookup(p), Some(FileRef { hash: h, content_type: c, size: *s }), "{p}");
        }
        for _ in 0..200 {
            let mut probe = String::from("/");
            for _ in 0..g.below(6) {
                probe.push_str(PIECES[g.below(PIECES.len() as u64) as usize]);
            }
            let want = files.get(&probe).map(|(h, c, s)| FileRef { hash: h, content_type: c, size: *s });
            assert_eq!(m.lookup(&probe), want, "{probe:?}");
        }
        for missing in ["", "/", "/zzzzzzzz", "\u{10ffff}", "/a\t"] {
            assert_eq!(m.lookup(missing), files.get(missing).map(|_| unreachable!()), "{missing:?}");
        }
        let listed: Vec<&str> = m.files.iter().map(|(p, _)| p).collect();
        let expected: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn lookups_agree_with_a_btreemap_for_random_manifests() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        for round in 0..60 {
            let n = match round {
                0 => 0,
                1 => 1,
                _ => g.below(400) as usize,
            };
            let files = random_files(&mut g, n);
            let built = manifest_of(&files);
            agrees(&built, &files, &mut g);
            // Stored and read back (format 2), and the old JSON format migrated on read.
            let decoded = DeploymentManifest::decode(built.encode().unwrap()).unwrap();
            assert_eq!(decoded.files, built.files);
            assert_eq!((decoded.project_id.as_str(), decoded.deployment_id.as_str()), ("p1", "d1"));
            assert_eq!(decoded.server, built.server);
            agrees(&decoded, &files, &mut g);
            let migrated = DeploymentManifest::decode(legacy_text(&files)).unwrap();
            assert_eq!(migrated.v, 1);
            assert_eq!(migrated.server, None);
            agrees(&migrated, &files, &mut g);
        }
    }

    #[test]
    fn old_format_manifests_keep_serving() {
        // Byte for byte what the workflow staged before format 2.
        let text = r#"{"v":1,"projectId":"p","deploymentId":"d","config":{},"redirects":[],"headers":[],"files":{"/a.css":["h2","text/css",3],"/index.html":["h1","text/html",5]},"server":{"digest":"x"}}"#;
        let m = DeploymentManifest::decode(text.to_string()).unwrap();
        assert_eq!(m.lookup("/index.html"), Some(FileRef { hash: "h1", content_type: "text/html", size: 5 }));
        assert_eq!(m.lookup("/a.css").map(|f| f.hash), Some("h2"));
        assert_eq!(m.lookup("/b"), None);
        assert_eq!(m.server.as_ref().map(|s| s.digest.as_str()), Some("x"));
        assert!(m.byte_size() > 0);
    }

    #[test]
    fn the_builder_refuses_what_the_line_form_cannot_hold() {
        let one = |p: &str, h: &str, c: &str| FileTable::build([(p, h, c, 1)]);
        assert!(one("/a\tb", "h", "").is_err());
        assert!(one("/a\nb", "h", "").is_err());
        assert!(one("/a", "h\t", "").is_err());
        assert!(one("/a", "", "").is_err());
        assert!(one("", "h", "").is_err());
        assert!(one("/a", "h", "text/x\n").is_err());
        assert!(FileTable::build([("/b", "h", "", 1), ("/a", "h", "", 1)]).is_err(), "unsorted");
        assert!(FileTable::build([("/a", "h", "", 1), ("/a", "h", "", 1)]).is_err(), "duplicate");
        assert!(FileTable::build([("/a", "h", "", 1), ("/a/b", "h", "", 1)]).is_ok());
    }

    #[test]
    fn the_decoder_refuses_broken_tables() {
        let files = random_files(&mut Gen(7), 5);
        let good = manifest_of(&files).encode().unwrap();
        let (head, table) = good.split_at(good.find("\n/").unwrap() + 1);
        let cases = [
            head.to_string(),                               // no lines, header says 5
            format!("{head}{}", &table[..table.len() - 1]), // unterminated
            format!("{head}{table}/zzzz\th\t1\t0\n"),       // one line too many
            format!("{}{table}", head.replace("\"files\":5", "\"files\":99999999999")),
            format!("{}{table}", head.replace("\"v\":2", "\"v\":3")),
            format!("{}{table}", head.replace("\"contentTypes\":[\"\"", "\"contentTypes\":[\"x\"")),
            format!("{MAGIC}\n{{}}\n"),
            format!("{MAGIC}\n"),
            MAGIC.to_string(),
            String::new(),
            "{".into(),
        ];
        for c in cases {
            assert!(DeploymentManifest::decode(c.clone()).is_err(), "{c:?}");
        }
        let lines = |t: &str| {
            format!("{MAGIC}\n{{\"v\":2,\"projectId\":\"p\",\"deploymentId\":\"d\",\"config\":{{}},\"contentTypes\":[\"\"],\"files\":2}}\n{t}")
        };
        assert!(DeploymentManifest::decode(lines("/a\th\t1\t0\n/b\th\t2\t0\n")).is_ok());
        for t in [
            "/b\th\t1\t0\n/a\th\t2\t0\n", // out of order
            "/a\th\t1\t0\n/a\th\t2\t0\n", // duplicate
            "/a\th\t1\t1\n/b\th\t2\t0\n", // type index out of range
            "/a\th\t-1\t0\n/b\th\t2\t0\n",
            "/a\th\t+1\t0\n/b\th\t2\t0\n",
            "/a\th\t1\t+0\n/b\th\t2\t0\n",
            "/a\th\t1\t0\t\n/b\th\t2\t0\n",
            "/a\th\t1\n/b\th\t2\t0\n",
            "/a\t\t1\t0\n/b\th\t2\t0\n",
            "\th\t1\t0\n/b\th\t2\t0\n",
            "/a\th\t99999999999999999999999\t0\n/b\th\t2\t0\n",
        ] {
            assert!(DeploymentManifest::decode(lines(t)).is_err(), "{t:?}");
        }
    }

    #[test]
    fn the_decoder_never_panics_on_arbitrary_bytes() {
        let mut g = Gen(0x2545_f491_4f6c_dd1d);
        let files = random_files(&mut g, 40);
        let good = manifest_of(&files).encode().unwrap().into_bytes();
        let legacy = legacy_text(&files).into_bytes();
        let alphabet = b"\t\n\r0123456789/{}[]\":,abcflotilla-manifest 2\xff\xc3";
        for round in 0..4000u64 {
            let mut bytes = if round % 3 == 0 { legacy.clone() } else { good.clone() };
            match round % 4 {
                // Random edits of a valid manifest.
                0 | 1 => {
                    for _ in 0..1 + g.below(6) {
                        let i = g.below(bytes.len() as u64) as usize;
                        match g.below(3) {
                            0 => bytes[i] = alphabet[g.below(alphabet.len() as u64) as usize],
                            1 => {
                                bytes.remove(i);
                            }
                            _ => bytes.insert(i, alphabet[g.below(alphabet.len() as u64) as usize]),
                        }
                    }
                }
                // Truncations.
                2 => bytes.truncate(g.below(bytes.len() as u64 + 1) as usize),
                // Noise behind a valid magic line.
                _ => {
                    bytes = format!("{MAGIC}\n").into_bytes();
                    for _ in 0..g.below(200) {
                        bytes.push(alphabet[g.below(alphabet.len() as u64) as usize]);
                    }
                }
            }
            // ROUTES_KV hands the Worker text: invalid UTF-8 arrives replaced.
            if let Ok(m) = DeploymentManifest::decode(String::from_utf8_lossy(&bytes).into_owned()) {
                // Whatever decoded must answer lookups without panicking.
                for (p, _) in m.files.iter().take(50) {
                    assert!(m.lookup(p).is_some());
                }
                let _ = m.lookup("/index.html");
                let _ = m.byte_size();
            }
        }
    }

    #[test]
    fn the_cache_charge_is_the_compact_size() {
        let files = random_files(&mut Gen(11), 2000);
        let m = DeploymentManifest::decode(manifest_of(&files).encode().unwrap()).unwrap();
        let text_len = m.encode().unwrap().len();
        // Text plus one offset per file (and small change), far below a map of strings.
        assert!(m.byte_size() >= text_len + 4 * files.len(), "{} < {text_len}", m.byte_size());
        assert!(m.byte_size() < text_len * 2, "{} vs {text_len}", m.byte_size());
    }

    #[test]
    fn a_staged_manifest_gives_back_the_upload_manifest_that_stages_it_again() {
        let mut g = Gen(0x0f11_e5f0);
        for n in [0, 1, 7, 60] {
            let files = random_files(&mut g, n);
            let m = manifest_of(&files);
            let upload = m.upload_manifest();
            assert_eq!(upload.len(), files.len());
            let again = FileTable::build(
                upload
                    .iter()
                    .map(|(p, e)| (p, &e.hash, e.content_type.as_deref().unwrap_or_default(), e.size)),
            )
            .unwrap();
            assert_eq!(again, m.files, "restaging the rollout's files changes nothing");
            for (p, (h, c, s)) in &files {
                let e = &upload[p];
                assert_eq!((&e.hash, e.size, e.content_type.as_deref().unwrap_or("")), (h, *s, c.as_str()));
            }
        }
    }
}
