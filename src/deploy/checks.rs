//! The validate and verify checks of the deployment workflow (pure, over [`CheckStore`]): what
//! a deployment needs before it may go live, and what counts as missing (a permanent failure:
//! deploy again) or not readable yet (transient: the queue retries). The workflow adapter
//! (`platform/jobs/workflow.rs`) implements the store over D1/KV/R2 and runs these.

use std::collections::BTreeSet;

use super::{
    body_store, unique_hashes, BodyStore, DeploymentManifest, ManifestEntry, StepError, UploadManifest,
    RULE_FILES,
};
use crate::lifecycle::{missing_after_reclaim, StoreError, StoreResult};

/// What the checks read (and the one write they make: re-claiming rows clears GC's marks).
#[allow(async_fn_in_trait)] // single-threaded Workers runtime: no Send bounds wanted
pub trait CheckStore {
    /// Whether the project exists and is not deleted.
    async fn project_exists(&self, project_id: &str) -> StoreResult<bool>;
    /// Clears the GC mark of every row of `hashes` the project has and returns the hashes whose
    /// row exists ([`crate::lifecycle::RECLAIM_SQL`]).
    async fn reclaim(&self, project_id: &str, hashes: &[&str]) -> StoreResult<BTreeSet<String>>;
    /// The staged manifest's text, if stored.
    async fn staged_manifest(&self, project_id: &str, deployment_id: &str) -> StoreResult<Option<String>>;
    /// Whether a body is readable where its size says it lives.
    async fn body_exists(&self, project_id: &str, hash: &str, size: u64) -> StoreResult<bool>;
}

fn transient(e: StoreError) -> StepError {
    StepError::Transient(e.0)
}

/// The files a deployment serves: all but the rule files (`_redirects`, `_headers`).
pub fn served_files(manifest: &UploadManifest) -> impl Iterator<Item = (&String, &ManifestEntry)> {
    manifest.iter().filter(|(p, _)| !RULE_FILES.contains(&p.as_str()))
}

/// Validate: the project still exists, and every body the manifest names has its row
/// (re-claimed, so from here on no GC run deletes a body this deployment needs). A missing row
/// is permanent; a failing read is transient.
pub async fn validate_files(
    store: &impl CheckStore,
    project_id: &str,
    manifest: &UploadManifest,
) -> Result<String, StepError> {
    if !store.project_exists(project_id).await.map_err(transient)? {
        return Err(StepError::permanent("project_deleted", "The project was deleted"));
    }
    let unique = unique_hashes(manifest);
    let hashes: Vec<&str> = unique.iter().map(|(h, _)| h.as_str()).collect();
    let present = store.reclaim(project_id, &hashes).await.map_err(transient)?;
    let missing: BTreeSet<&str> = missing_after_reclaim(&hashes, &present).into_iter().collect();
    if let Some((path, _)) = manifest.iter().find(|(_, e)| missing.contains(e.hash.as_str())) {
        return Err(StepError::permanent(
            "files_missing",
            format!("{} file(s) are not stored for this project (e.g. {path})", missing.len()),
        ));
    }
    Ok(format!("{} files ({} unique) present for this project", manifest.len(), unique.len()))
}

/// Verify, the storage half: the staged manifest is stored, parses, belongs to this deployment
/// and names every served file of `manifest` (otherwise transient: KV may not show it yet);
/// every body it names still has its row, re-claimed (a collected one is permanent: deploy
/// again); the root resolves; and the first body and every large (R2 `BLOBS`) one is readable
/// (transient when not). Returns the staged manifest (for the server-code probe) and the note.
pub async fn verify_staged(
    store: &impl CheckStore,
    deployment_id: &str,
    project_id: &str,
    manifest: &UploadManifest,
) -> Result<(DeploymentManifest, String), StepError> {
    let text = store
        .staged_manifest(project_id, deployment_id)
        .await
        .map_err(transient)?
        .ok_or_else(|| StepError::Transient("staged manifest not readable yet".into()))?;
    let staged = DeploymentManifest::decode(text)
        .map_err(|e| StepError::Transient(format!("staged manifest does not parse: {e}")))?;
    if staged.deployment_id != deployment_id || staged.project_id != project_id {
        return Err(StepError::Transient("staged manifest belongs to another deployment".into()));
    }
    let expected = served_files(manifest).count();
    if staged.files.len() != expected {
        return Err(StepError::Transient(format!(
            "staged {} files, expected {expected}",
            staged.files.len()
        )));
    }
    // No body went between validate and now: GC deletes a body only after its marked row, so
    // re-claiming every row (clearing marks) and finding it proves the body is stored and stays
    // stored while this deployment is pending or kept, without reading 100,000 bodies.
    let needed: BTreeSet<&str> = staged.files.iter().map(|(_, f)| f.hash).collect();
    let needed: Vec<&str> = needed.into_iter().collect();
    let present = store.reclaim(&staged.project_id, &needed).await.map_err(transient)?;
    let gone = missing_after_reclaim(&needed, &present);
    if let Some(hash) = gone.first() {
        return Err(StepError::permanent(
            "files_missing",
            format!(
                "{} file(s) were collected before the deployment went live (e.g. body {hash}); deploy again",
                gone.len()
            ),
        ));
    }
    // The manifest routes: the root resolves without error, and a body it names is readable.
    let lookup = |p: &str| staged.lookup(p).map(|f| f.hash);
    let root = crate::assets::resolve_asset(&staged.config, "/", &lookup);
    let note = format!("staged manifest loads and routes ({} files; / -> {root:?})", staged.files.len());
    // The first body, and every large one (BLOBS, > 25 MiB: few per deployment, one HEAD each).
    let first = staged.files.iter().take(1);
    let large = staged.files.iter().filter(|(_, f)| body_store(f.size) == BodyStore::Blobs);
    let mut checked = BTreeSet::new();
    for (_, f) in first.chain(large) {
        if checked.insert(f.hash)
            && !store.body_exists(&staged.project_id, f.hash, f.size).await.map_err(transient)?
        {
            return Err(StepError::Transient(format!("asset body {} not readable", f.hash)));
        }
    }
    Ok((staged, note))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::deploy::{FileTable, KV_MAX_FILE_BYTES};
    use crate::lifecycle::fake::block_on;

    /// D1 rows (hash -> marked by GC), KV staged manifests, stored bodies; each operation can
    /// be told to fail, and body reads are recorded.
    #[derive(Default)]
    struct Fake {
        projects: BTreeSet<String>,
        rows: RefCell<BTreeMap<String, bool>>,
        manifests: BTreeMap<String, String>,
        bodies: BTreeSet<String>,
        failing: BTreeSet<&'static str>,
        body_reads: RefCell<Vec<String>>,
    }

    impl Fake {
        fn fails(&self, op: &'static str) -> StoreResult<()> {
            if self.failing.contains(op) {
                return Err(StoreError(format!("D1_ERROR: injected failure in {op}")));
            }
            Ok(())
        }
    }

    impl CheckStore for Fake {
        async fn project_exists(&self, project_id: &str) -> StoreResult<bool> {
            self.fails("project")?;
            Ok(self.projects.contains(project_id))
        }
        async fn reclaim(&self, project_id: &str, hashes: &[&str]) -> StoreResult<BTreeSet<String>> {
            self.fails("reclaim")?;
            assert_eq!(project_id, "p1", "rows are looked up in the deployment's own project");
            let mut rows = self.rows.borrow_mut();
            let mut present = BTreeSet::new();
            for h in hashes {
                if let Some(marked) = rows.get_mut(*h) {
                    *marked = false;
                    present.insert(h.to_string());
                }
            }
            Ok(present)
        }
        async fn staged_manifest(
            &self,
            _project_id: &str,
            deployment_id: &str,
        ) -> StoreResult<Option<String>> {
            self.fails("manifest")?;
            Ok(self.manifests.get(deployment_id).cloned())
        }
        async fn body_exists(&self, project_id: &str, hash: &str, _size: u64) -> StoreResult<bool> {
            self.fails("body")?;
            assert_eq!(project_id, "p1");
            self.body_reads.borrow_mut().push(hash.to_string());
            Ok(self.bodies.contains(hash))
        }
    }

    const BIG: u64 = KV_MAX_FILE_BYTES + 1;

    fn hash(c: char) -> String {
        c.to_string().repeat(64)
    }

    /// `/a.html` (a), `/b.html` (b), `/big.bin` (c, over 25 MiB), `/dup.html` (a again) and a
    /// `_redirects` rule file (r, not served).
    fn upload() -> UploadManifest {
        let e = |h: char, size: u64| ManifestEntry { hash: hash(h), size, content_type: None };
        [
            ("/a.html", e('a', 10)),
            ("/b.html", e('b', 20)),
            ("/big.bin", e('c', BIG)),
            ("/dup.html", e('a', 10)),
            ("/_redirects", e('d', 5)),
        ]
        .into_iter()
        .map(|(p, e)| (p.to_string(), e))
        .collect()
    }

    fn staged_text(project: &str, deployment: &str, manifest: &UploadManifest) -> String {
        let files =
            FileTable::build(served_files(manifest).map(|(p, e)| (p, &e.hash, "text/html", e.size))).unwrap();
        DeploymentManifest::new(
            project.into(),
            deployment.into(),
            Default::default(),
            Default::default(),
            Default::default(),
            files,
            None,
        )
        .encode()
        .unwrap()
    }

    /// Everything stored and staged; rows of a and c marked by GC.
    fn world() -> Fake {
        let m = upload();
        let mut f = Fake::default();
        f.projects.insert("p1".into());
        *f.rows.get_mut() = [('a', true), ('b', false), ('c', true), ('d', false)]
            .into_iter()
            .map(|(h, marked)| (hash(h), marked))
            .collect();
        f.manifests.insert("d1".into(), staged_text("p1", "d1", &m));
        f.bodies = "abcd".chars().map(hash).collect();
        f
    }

    fn permanent_code(r: Result<impl std::fmt::Debug, StepError>) -> &'static str {
        match r {
            Err(StepError::Permanent { code, .. }) => code,
            other => panic!("expected a permanent error, got {other:?}"),
        }
    }

    fn is_transient<T: std::fmt::Debug>(r: &Result<T, StepError>) -> bool {
        matches!(r, Err(StepError::Transient(_)))
    }

    #[test]
    fn validate_passes_and_reclaims_every_body() {
        let f = world();
        let note = block_on(validate_files(&f, "p1", &upload())).unwrap();
        assert_eq!(note, "5 files (4 unique) present for this project");
        assert!(f.rows.borrow().values().all(|marked| !marked), "every mark cleared: {:?}", f.rows.borrow());
    }

    #[test]
    fn validate_fails_for_good_when_a_row_or_the_project_is_missing() {
        let f = world();
        f.rows.borrow_mut().remove(&hash('b'));
        match block_on(validate_files(&f, "p1", &upload())) {
            Err(StepError::Permanent { code: "files_missing", message }) => {
                assert_eq!(message, "1 file(s) are not stored for this project (e.g. /b.html)")
            }
            other => panic!("{other:?}"),
        }
        let mut f = world();
        f.projects.clear();
        assert_eq!(permanent_code(block_on(validate_files(&f, "p1", &upload()))), "project_deleted");
    }

    #[test]
    fn validate_read_failures_are_transient() {
        for op in ["project", "reclaim"] {
            let mut f = world();
            f.failing.insert(op);
            let r = block_on(validate_files(&f, "p1", &upload()));
            assert!(is_transient(&r), "{op}: {r:?}");
            assert!(r.unwrap_err().public().code == "platform_unavailable", "raw text stays in the log");
        }
    }

    #[test]
    fn verify_passes_and_reads_only_the_first_and_the_large_bodies() {
        let f = world();
        let (staged, note) = block_on(verify_staged(&f, "d1", "p1", &upload())).unwrap();
        assert_eq!(staged.files.len(), 4, "the rule file is not served");
        assert!(note.starts_with("staged manifest loads and routes (4 files; / -> "), "{note}");
        assert_eq!(*f.body_reads.borrow(), vec![hash('a'), hash('c')]);
        assert!(f.rows.borrow().iter().filter(|(h, _)| **h != hash('d')).all(|(_, marked)| !marked));
    }

    #[test]
    fn verify_fails_for_good_when_a_row_was_collected() {
        let f = world();
        f.rows.borrow_mut().remove(&hash('b'));
        assert_eq!(permanent_code(block_on(verify_staged(&f, "d1", "p1", &upload()))), "files_missing");
    }

    #[test]
    fn verify_retries_what_may_not_be_visible_yet() {
        let m = upload();
        // Not staged yet, unreadable, another deployment's, or a different file count.
        let mut f = world();
        f.manifests.clear();
        assert!(is_transient(&block_on(verify_staged(&f, "d1", "p1", &m))));
        f.manifests.insert("d1".into(), "garbage".into());
        assert!(is_transient(&block_on(verify_staged(&f, "d1", "p1", &m))));
        f.manifests.insert("d1".into(), staged_text("p1", "d0", &m));
        assert!(is_transient(&block_on(verify_staged(&f, "d1", "p1", &m))));
        f.manifests.insert("d1".into(), staged_text("p2", "d1", &m));
        assert!(is_transient(&block_on(verify_staged(&f, "d1", "p1", &m))));
        let mut fewer = m.clone();
        fewer.remove("/b.html");
        f.manifests.insert("d1".into(), staged_text("p1", "d1", &fewer));
        let r = block_on(verify_staged(&f, "d1", "p1", &m));
        assert!(matches!(&r, Err(StepError::Transient(t)) if t == "staged 3 files, expected 4"), "{r:?}");
        // A body the store does not show (the first, or a large one).
        for gone in ['a', 'c'] {
            let mut f = world();
            f.bodies.remove(&hash(gone));
            let r = block_on(verify_staged(&f, "d1", "p1", &m));
            assert!(matches!(&r, Err(StepError::Transient(t)) if t.contains(&hash(gone))), "{gone}: {r:?}");
        }
    }

    #[test]
    fn verify_read_failures_are_transient_never_permanent() {
        for op in ["manifest", "reclaim", "body"] {
            let mut f = world();
            f.failing.insert(op);
            let r = block_on(verify_staged(&f, "d1", "p1", &upload()));
            assert!(is_transient(&r), "{op}: {r:?}");
        }
    }
}
