//! The storage key layout: every KV and R2 key and prefix the platform writes is built here and
//! nowhere else, and every key read back from a listing is parsed here. Pure (no bindings), so
//! the layout and its isolation rules are tested natively.
//!
//! Isolation: every per-project key carries the project id as a whole segment, so one
//! project's keys never share a prefix with another's (ids are UUIDs: fixed length, no
//! separators).
//!
//! | store | key | holds |
//! |---|---|---|
//! | ASSETS_KV | `<projectId>:<sha256>` | an asset body up to 25 MiB |
//! | ROUTES_KV | `route:<slug-or-id>` | a project's routing record |
//! | ROUTES_KV | `host:<hostname>` | a verified custom domain's owner |
//! | ROUTES_KV | `manifest:<projectId>:<deploymentId>` | a deployment's immutable manifest |
//! | ROUTES_KV | `manifest:<deploymentId>` | the same, for deployments made before it carried the project (read, never written) |
//! | BLOBS | `assets/<projectId>/<sha256>` | an asset body above 25 MiB |
//! | BLOBS | `bundles/<projectId>/<deploymentId>.json` | a deployment's server bundle |
//! | BLOBS | `uploads/<projectId>/<sessionId>.json` | an upload session's manifest |
//! | BLOBS | `wrangler/<projectId>/<sessionId>.json` | a wrangler upload session's manifest |
//! | BLOBS | `buckets/<bucketId>/<key>` | an object of a tenant's bucket (issue 27; `storage::bucket` checks `<key>`) |

/// ROUTES_KV: the routing record, stored under the slug and under the id (case-folded).
pub fn route_key(slug_or_id: &str) -> String {
    format!("route:{}", slug_or_id.to_ascii_lowercase())
}

/// ROUTES_KV: the owner of a verified custom domain.
pub fn host_key(hostname: &str) -> String {
    format!("host:{}", hostname.to_ascii_lowercase())
}

/// ROUTES_KV: every custom domain's record (the cron lists them to reconcile with D1).
pub fn host_prefix() -> &'static str {
    "host:"
}

/// The hostname of a key listed under [`host_prefix`]; `None` for anything else.
pub fn host_of(key: &str) -> Option<&str> {
    key.strip_prefix(host_prefix()).filter(|h| !h.is_empty())
}

/// ROUTES_KV: a deployment's immutable manifest, under its project so the purge finds by
/// prefix one written after the deployment rows went (a deploy racing the purge).
pub fn manifest_key(project_id: &str, deployment_id: &str) -> String {
    format!("manifest:{project_id}:{deployment_id}")
}

/// ROUTES_KV: every manifest of one project (ends in `:`: never another project's).
pub fn manifest_prefix(project_id: &str) -> String {
    manifest_key(project_id, "")
}

/// The deployment id of a key listed under [`manifest_prefix`]; `None` for anything else.
pub fn manifest_id_of<'k>(project_id: &str, key: &'k str) -> Option<&'k str> {
    let id = key.strip_prefix(&manifest_prefix(project_id))?;
    (!id.is_empty() && !id.contains(':')).then_some(id)
}

/// ROUTES_KV: where deployments made before manifests carried the project keep theirs; read as
/// a fallback and deleted with the deployment, never written.
pub fn legacy_manifest_key(deployment_id: &str) -> String {
    format!("manifest:{deployment_id}")
}

/// ASSETS_KV key of a body: per-project namespacing means one project can never read or
/// probe another's files, even with the same content hash.
pub fn asset_key(project_id: &str, hash: &str) -> String {
    format!("{project_id}:{hash}")
}

/// The ASSETS_KV prefix of a project's bodies.
pub fn asset_prefix(project_id: &str) -> String {
    asset_key(project_id, "")
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

/// The kinds of per-project JSON documents in BLOBS, each named by the id of the D1 row (or
/// token session) that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobDoc {
    /// A deployment's server bundle (`deployments.id`).
    Bundle,
    /// A native upload session's manifest (`upload_sessions.id`).
    UploadManifest,
    /// A wrangler upload session's manifest (the session id in wrangler's upload JWT).
    WranglerManifest,
}

impl BlobDoc {
    pub const ALL: [BlobDoc; 3] = [BlobDoc::Bundle, BlobDoc::UploadManifest, BlobDoc::WranglerManifest];

    fn dir(self) -> &'static str {
        match self {
            BlobDoc::Bundle => "bundles",
            BlobDoc::UploadManifest => "uploads",
            BlobDoc::WranglerManifest => "wrangler",
        }
    }

    /// `<dir>/<projectId>/<id>.json`
    pub fn key(self, project_id: &str, id: &str) -> String {
        format!("{}/{project_id}/{id}.json", self.dir())
    }

    /// Every document of this kind for one project (ends in `/`: never another project's).
    pub fn prefix(self, project_id: &str) -> String {
        format!("{}/{project_id}/", self.dir())
    }

    /// The owning id of a key listed under [`BlobDoc::prefix`]; `None` for anything else
    /// (another kind, another project, a nested or malformed name), which callers then leave
    /// alone rather than guess.
    pub fn id_of<'k>(self, project_id: &str, key: &'k str) -> Option<&'k str> {
        let id = key.strip_prefix(&self.prefix(project_id))?.strip_suffix(".json")?;
        (!id.is_empty() && !id.contains('/')).then_some(id)
    }
}

/// BLOBS: a deployment's server bundle.
pub fn bundle_key(project_id: &str, deployment_id: &str) -> String {
    BlobDoc::Bundle.key(project_id, deployment_id)
}

/// BLOBS: one resolved env of a project (`lifecycle::envs::EnvBlob`), by its content digest.
/// Not a [`BlobDoc`]: the orphan sweep must never take these for a deployment's leftovers.
pub fn env_key(project_id: &str, digest: &str) -> String {
    format!("{}{digest}.json", env_prefix(project_id))
}

/// Every resolved env of one project (ends in `/`: never another project's).
pub fn env_prefix(project_id: &str) -> String {
    format!("envs/{project_id}/")
}

/// BLOBS: an upload session's manifest.
pub fn upload_manifest_key(project_id: &str, session_id: &str) -> String {
    BlobDoc::UploadManifest.key(project_id, session_id)
}

/// BLOBS: a wrangler upload session's manifest (until its deploy, or GC).
pub fn wrangler_manifest_key(project_id: &str, session_id: &str) -> String {
    BlobDoc::WranglerManifest.key(project_id, session_id)
}

/// BLOBS: every object of one tenant bucket lives under this prefix. Only for a resource id
/// (32 lowercase hex digits, checked by `storage::bucket::TenantBucket::new`): fixed length and
/// no separator, so one bucket's prefix never covers another's keys.
pub fn tenant_bucket_prefix(bucket_id: &str) -> String {
    format!("buckets/{bucket_id}/")
}

/// A SQL file `wrangler d1 execute --file --remote` uploaded for database `db_id`, by its MD5
/// (R2, `BLOBS`): read once by the `ingest` call, which deletes it; the cron removes those
/// left behind.
pub fn sql_import_key(db_id: &str, md5: &str) -> String {
    format!("{}{db_id}/{md5}", sql_import_prefix())
}

pub fn sql_import_prefix() -> &'static str {
    "sql-imports/"
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0b6e2c1e-8d52-4c8e-9f3a-2f1f7d0c9a11";
    const B: &str = "0b6e2c1e-8d52-4c8e-9f3a-2f1f7d0c9a1";

    #[test]
    fn the_layout_is_the_documented_one() {
        assert_eq!(route_key("Blog"), "route:blog");
        assert_eq!(host_key("WWW.Example.com"), "host:www.example.com");
        assert_eq!(host_of(&host_key("WWW.Example.com")), Some("www.example.com"));
        assert_eq!(host_of("host:"), None);
        assert_eq!(host_of("route:x"), None);
        assert_eq!(manifest_key("p1", "d1"), "manifest:p1:d1");
        assert_eq!(manifest_prefix("p1"), "manifest:p1:");
        assert_eq!(legacy_manifest_key("d1"), "manifest:d1");
        assert_eq!(asset_key("p1", "ab"), "p1:ab");
        assert_eq!(asset_prefix("p1"), "p1:");
        assert_eq!(blob_asset_key("p1", "abc"), "assets/p1/abc");
        assert_eq!(blob_asset_prefix("p1"), "assets/p1/");
        assert_eq!(bundle_key("p1", "d1"), "bundles/p1/d1.json");
        assert_eq!(upload_manifest_key("p1", "s1"), "uploads/p1/s1.json");
        assert_eq!(wrangler_manifest_key("p1", "s1"), "wrangler/p1/s1.json");
        assert_eq!(tenant_bucket_prefix("b1"), "buckets/b1/");
        // No platform document lives under the tenant buckets' prefix, nor they under its.
        for doc in BlobDoc::ALL {
            assert!(!doc.prefix(A).starts_with("buckets/"), "{doc:?}");
        }
        assert!(!blob_asset_prefix(A).starts_with("buckets/"));
    }

    #[test]
    fn one_projects_prefixes_never_cover_anothers_keys() {
        // B is a strict prefix of A as a string: the separators keep them apart.
        for doc in BlobDoc::ALL {
            assert!(!doc.key(A, "x").starts_with(&doc.prefix(B)), "{doc:?}");
            assert!(doc.key(B, "x").starts_with(&doc.prefix(B)), "{doc:?}");
        }
        assert!(!asset_key(A, "h").starts_with(&asset_prefix(B)));
        assert!(!manifest_key(A, "d").starts_with(&manifest_prefix(B)));
        assert!(manifest_key(B, "d").starts_with(&manifest_prefix(B)));
        // Legacy keys (`manifest:<uuid>`) are never under a project's prefix.
        assert!(!legacy_manifest_key(A).starts_with(&manifest_prefix(A)));
        assert_eq!(manifest_id_of(A, &manifest_key(A, "d-1")), Some("d-1"));
        assert_eq!(manifest_id_of(B, &manifest_key(A, "d-1")), None);
        for junk in [legacy_manifest_key("d-1"), manifest_prefix(A), format!("{}x:y", manifest_prefix(A))] {
            assert_eq!(manifest_id_of(A, &junk), None, "{junk}");
        }
        assert!(!blob_asset_key(A, "h").starts_with(&blob_asset_prefix(B)));
        assert!(!blob_asset_key("p10", "abc").starts_with(&blob_asset_prefix("p1")));
    }

    #[test]
    fn listed_keys_parse_back_to_their_owner_or_not_at_all() {
        for doc in BlobDoc::ALL {
            assert_eq!(doc.id_of(A, &doc.key(A, "d-1")), Some("d-1"));
            assert_eq!(doc.id_of(B, &doc.key(A, "d-1")), None, "another project");
        }
        let bundle = BlobDoc::Bundle;
        for junk in [
            "bundles/p1/.json",
            "bundles/p1/x/y.json",
            "bundles/p1/x.txt",
            "uploads/p1/x.json",
            "bundles/p1x.json",
            "",
        ] {
            assert_eq!(bundle.id_of("p1", junk), None, "{junk}");
        }
    }

    #[test]
    fn parsing_arbitrary_keys_never_panics_or_escapes_the_project() {
        let mut g = crate::test_gen::Gen(0x5eed_4b3e);
        let pieces =
            ["bundles/", "uploads/", "wrangler/", "p1", "p2", "/", ".json", "..", "x", "%2f", "\u{0}", "é"];
        for _ in 0..20_000 {
            let key = g.string(&pieces, 9);
            for doc in BlobDoc::ALL {
                if let Some(id) = doc.id_of("p1", &key) {
                    assert_eq!(doc.key("p1", id), key, "an id always rebuilds the key it came from");
                    assert!(!id.contains('/'));
                }
            }
        }
    }
}
