//! The purge phases against an in-memory store that can be told to fail at every operation.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::domain::plan_release_step;
use crate::keys::{
    asset_key, blob_asset_key, bundle_key, host_key, legacy_manifest_key, manifest_id_of, manifest_key,
    manifest_prefix, route_key, upload_manifest_key,
};
use crate::lifecycle::fake::{block_on, Faults};

const P: &str = "0b6e2c1e-8d52-4c8e-9f3a-2f1f7d0c9a11";
const Q: &str = "7c1d2e3f-4a5b-4c6d-8e7f-901234567890";
/// Bodies above this go to BLOBS (as in the adapter).
const LARGE: u64 = 25 * 1024 * 1024;

const CHUNKS: PurgeChunks =
    PurgeChunks { assets: 3, deployments: 2, sessions: 2, list: 4, domains: 2, bindings: 2 };

#[derive(Default, Clone, Debug, PartialEq)]
struct World {
    targets: BTreeMap<String, PurgeTarget>,
    heartbeats: Vec<(String, i64)>,
    /// `project_assets`: (project, hash) -> size.
    asset_rows: BTreeMap<(String, String), u64>,
    /// deployment id -> project.
    deployments: BTreeMap<String, String>,
    /// session id -> (project, manifest key).
    sessions: BTreeMap<String, (String, String)>,
    /// hostname -> project.
    domains: BTreeMap<String, String>,
    /// `resource_bindings`: (deployment, name) -> project.
    bindings: BTreeMap<(String, String), String>,
    /// (project, table) for aliases, wrangler_assets, project_secrets.
    tables: BTreeSet<(String, &'static str)>,
    purged: BTreeMap<String, i64>,
    /// Project rows deleted outright (provisional ones).
    rows_deleted: BTreeSet<String>,
    assets_kv: BTreeSet<String>,
    routes_kv: BTreeSet<String>,
    blobs: BTreeSet<String>,
}

#[derive(Default)]
struct Fake {
    w: RefCell<World>,
    faults: Faults,
    /// SaaS deletes that fail next.
    saas_failures: RefCell<usize>,
}

impl Fake {
    fn new() -> Fake {
        Fake { faults: Faults::new("STORE"), ..Fake::default() }
    }
    fn f(&self, op: &'static str) -> StoreResult<()> {
        self.faults.check(op)
    }
}

impl PurgeStore for Fake {
    async fn target(&self, project_id: &str) -> StoreResult<Option<PurgeTarget>> {
        self.f("target")?;
        Ok(self.w.borrow().targets.get(project_id).cloned())
    }
    async fn heartbeat(&self, project_id: &str, now: i64) -> StoreResult<()> {
        self.f("heartbeat")?;
        self.w.borrow_mut().heartbeats.push((project_id.into(), now));
        Ok(())
    }
    async fn asset_rows(&self, project_id: &str, limit: usize) -> StoreResult<Vec<(String, u64)>> {
        self.f("asset_rows")?;
        let w = self.w.borrow();
        Ok(w.asset_rows
            .iter()
            .filter(|((p, _), _)| p == project_id)
            .take(limit)
            .map(|((_, h), s)| (h.clone(), *s))
            .collect())
    }
    async fn delete_body(&self, project_id: &str, hash: &str, size: u64) -> StoreResult<()> {
        self.f("delete_body")?;
        let mut w = self.w.borrow_mut();
        if size > LARGE {
            w.blobs.remove(&blob_asset_key(project_id, hash));
        } else {
            w.assets_kv.remove(&asset_key(project_id, hash));
        }
        Ok(())
    }
    async fn delete_asset_rows(&self, project_id: &str, hashes: &[String]) -> StoreResult<()> {
        self.f("delete_asset_rows")?;
        let mut w = self.w.borrow_mut();
        for h in hashes {
            w.asset_rows.remove(&(project_id.to_string(), h.clone()));
        }
        Ok(())
    }
    async fn deployment_ids(&self, project_id: &str, limit: usize) -> StoreResult<Vec<String>> {
        self.f("deployment_ids")?;
        let w = self.w.borrow();
        Ok(w.deployments
            .iter()
            .filter(|(_, p)| *p == project_id)
            .take(limit)
            .map(|(d, _)| d.clone())
            .collect())
    }
    async fn delete_deployment_storage(&self, project_id: &str, deployment_id: &str) -> StoreResult<()> {
        self.f("delete_deployment_storage")?;
        let mut w = self.w.borrow_mut();
        w.routes_kv.remove(&manifest_key(project_id, deployment_id));
        w.routes_kv.remove(&legacy_manifest_key(deployment_id));
        w.blobs.remove(&bundle_key(project_id, deployment_id));
        Ok(())
    }
    async fn delete_deployment_rows(&self, ids: &[String]) -> StoreResult<()> {
        self.f("delete_deployment_rows")?;
        let mut w = self.w.borrow_mut();
        for id in ids {
            w.deployments.remove(id);
        }
        Ok(())
    }
    async fn sessions(&self, project_id: &str, limit: usize) -> StoreResult<Vec<(String, String)>> {
        self.f("sessions")?;
        let w = self.w.borrow();
        Ok(w.sessions
            .iter()
            .filter(|(_, (p, _))| p == project_id)
            .take(limit)
            .map(|(id, (_, k))| (id.clone(), k.clone()))
            .collect())
    }
    async fn delete_sessions(&self, ids: &[String]) -> StoreResult<()> {
        self.f("delete_sessions")?;
        let mut w = self.w.borrow_mut();
        for id in ids {
            w.sessions.remove(id);
        }
        Ok(())
    }
    async fn stray_bodies(&self, project_id: &str, limit: usize) -> StoreResult<Vec<String>> {
        self.f("stray_bodies")?;
        let prefix = asset_key(project_id, "");
        let w = self.w.borrow();
        Ok(w.assets_kv
            .iter()
            .filter_map(|k| k.strip_prefix(&prefix))
            .take(limit)
            .map(str::to_string)
            .collect())
    }
    async fn delete_stray_body(&self, project_id: &str, hash: &str) -> StoreResult<()> {
        self.f("delete_stray_body")?;
        self.w.borrow_mut().assets_kv.remove(&asset_key(project_id, hash));
        Ok(())
    }
    async fn manifest_ids(&self, project_id: &str, limit: usize) -> StoreResult<Vec<String>> {
        self.f("manifest_ids")?;
        let prefix = manifest_prefix(project_id);
        let w = self.w.borrow();
        Ok(w.routes_kv
            .iter()
            .filter(|k| k.starts_with(&prefix))
            .take(limit)
            .filter_map(|k| manifest_id_of(project_id, k).map(str::to_string))
            .collect())
    }
    async fn delete_manifest(&self, project_id: &str, deployment_id: &str) -> StoreResult<()> {
        self.f("delete_manifest")?;
        let mut w = self.w.borrow_mut();
        w.routes_kv.remove(&manifest_key(project_id, deployment_id));
        w.routes_kv.remove(&legacy_manifest_key(deployment_id));
        Ok(())
    }
    async fn list_blobs(&self, prefix: &str, limit: usize) -> StoreResult<Vec<String>> {
        self.f("list_blobs")?;
        Ok(self.w.borrow().blobs.iter().filter(|k| k.starts_with(prefix)).take(limit).cloned().collect())
    }
    async fn delete_blobs(&self, keys: &[String]) -> StoreResult<()> {
        self.f("delete_blobs")?;
        let mut w = self.w.borrow_mut();
        for k in keys {
            w.blobs.remove(k);
        }
        Ok(())
    }
    async fn release_domains(&self, project_id: &str, limit: usize) -> StoreResult<ReleaseStep> {
        self.f("release_domains")?;
        let mut w = self.w.borrow_mut();
        let rows: Vec<String> =
            w.domains.iter().filter(|(_, p)| *p == project_id).take(limit).map(|(h, _)| h.clone()).collect();
        let mut failed = 0;
        for h in &rows {
            w.routes_kv.remove(&host_key(h));
            let mut saas = self.saas_failures.borrow_mut();
            if *saas > 0 {
                *saas -= 1;
                failed += 1;
                continue;
            }
            w.domains.remove(h);
        }
        Ok(plan_release_step(rows.len(), limit, failed))
    }
    async fn delete_resource_bindings(&self, project_id: &str, limit: usize) -> StoreResult<usize> {
        self.f("delete_resource_bindings")?;
        let mut w = self.w.borrow_mut();
        let keys: Vec<_> =
            w.bindings.iter().filter(|(_, p)| *p == project_id).take(limit).map(|(k, _)| k.clone()).collect();
        for k in &keys {
            w.bindings.remove(k);
        }
        Ok(keys.len())
    }
    async fn delete_project_tables(&self, project_id: &str) -> StoreResult<()> {
        self.f("delete_project_tables")?;
        self.w.borrow_mut().tables.retain(|(p, _)| p != project_id);
        Ok(())
    }
    async fn delete_route(&self, slug: &str, project_id: &str) -> StoreResult<()> {
        self.f("delete_route")?;
        let mut w = self.w.borrow_mut();
        w.routes_kv.remove(&route_key(slug));
        w.routes_kv.remove(&route_key(project_id));
        Ok(())
    }
    async fn delete_project_row(&self, project_id: &str) -> StoreResult<()> {
        self.f("delete_project_row")?;
        self.w.borrow_mut().rows_deleted.insert(project_id.into());
        Ok(())
    }
    async fn mark_purged(&self, project_id: &str, now: i64) -> StoreResult<()> {
        self.f("mark_purged")?;
        self.w.borrow_mut().purged.insert(project_id.into(), now);
        Ok(())
    }
}

/// A project with a bit of everything, more than one chunk of most.
fn populate(w: &mut World, pid: &str, slug: &str, deleted: bool) {
    w.targets.insert(pid.into(), PurgeTarget { slug: slug.into(), deleted, provisional: false });
    w.routes_kv.insert(route_key(slug));
    w.routes_kv.insert(route_key(pid));
    for i in 0..7 {
        let hash = format!("{pid}-h{i}");
        let size = if i == 0 { LARGE + 1 } else { 10 };
        w.asset_rows.insert((pid.into(), hash.clone()), size);
        if size > LARGE {
            w.blobs.insert(blob_asset_key(pid, &hash));
        } else {
            w.assets_kv.insert(asset_key(pid, &hash));
        }
    }
    for i in 0..5 {
        let id = format!("{pid}-d{i}");
        w.deployments.insert(id.clone(), pid.into());
        // The first one was made before manifests carried the project.
        w.routes_kv.insert(if i == 0 { legacy_manifest_key(&id) } else { manifest_key(pid, &id) });
        w.blobs.insert(bundle_key(pid, &id));
    }
    for i in 0..3 {
        let id = format!("{pid}-s{i}");
        let key = upload_manifest_key(pid, &id);
        w.blobs.insert(key.clone());
        w.sessions.insert(id, (pid.into(), key));
    }
    for i in 0..3 {
        let host = format!("www{i}.{slug}.example");
        w.domains.insert(host.clone(), pid.into());
        w.routes_kv.insert(host_key(&host));
    }
    for i in 0..5 {
        // Which deployment binds which KV namespace: two names per deployment.
        w.bindings.insert((format!("{pid}-d{}", i / 2), format!("KV{i}")), pid.into());
    }
    for t in ["aliases", "wrangler_assets", "project_secrets"] {
        w.tables.insert((pid.into(), t));
    }
}

fn world() -> Fake {
    let fake = Fake::new();
    {
        let mut w = fake.w.borrow_mut();
        populate(&mut w, P, "gone", true);
        populate(&mut w, Q, "live", false);
    }
    fake
}

/// Everything of `pid` in one list of names, for comparisons.
fn remains(w: &World, pid: &str) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(w.asset_rows.keys().filter(|(p, _)| p == pid).map(|(_, h)| format!("row asset {h}")));
    out.extend(w.deployments.iter().filter(|(_, p)| *p == pid).map(|(d, _)| format!("row deployment {d}")));
    out.extend(w.sessions.iter().filter(|(_, (p, _))| p == pid).map(|(s, _)| format!("row session {s}")));
    out.extend(w.domains.iter().filter(|(_, p)| *p == pid).map(|(h, _)| format!("row domain {h}")));
    out.extend(
        w.bindings.iter().filter(|(_, p)| *p == pid).map(|((d, n), _)| format!("row binding {d} {n}")),
    );
    out.extend(w.tables.iter().filter(|(p, _)| p == pid).map(|(_, t)| format!("row {t}")));
    out.extend(w.assets_kv.iter().filter(|k| k.contains(pid)).map(|k| format!("ASSETS_KV {k}")));
    out.extend(w.blobs.iter().filter(|k| k.contains(pid)).map(|k| format!("BLOBS {k}")));
    let slug = &w.targets[pid].slug;
    out.extend(
        w.routes_kv
            .iter()
            .filter(|k| k.contains(pid) || k.contains(&format!(".{slug}.")) || **k == route_key(slug))
            .map(|k| format!("ROUTES_KV {k}")),
    );
    out
}

/// Runs chunks until the purge ends (an error is retried, as the queue does); returns the steps.
fn run(fake: &Fake, pid: &str, start: i64) -> Vec<StoreResult<PurgeStep>> {
    let mut steps = Vec::new();
    for i in 0..200 {
        let step = block_on(purge_chunk(fake, pid, start + i * 1000, &CHUNKS));
        invariants(&fake.w.borrow(), pid);
        let end = matches!(step, Ok(PurgeStep::Done | PurgeStep::NotDeleted));
        steps.push(step);
        if end {
            return steps;
        }
    }
    panic!("the purge never ended: {steps:?}");
}

/// Never half-forgotten: whatever a row names is still stored or the row is still there, and
/// the tombstone and the purged mark go only when everything else is gone.
fn invariants(w: &World, pid: &str) {
    // Rows may outlive their storage (storage goes first), never the converse.
    for i in 0..7 {
        let hash = format!("{pid}-h{i}");
        if !w.asset_rows.contains_key(&(pid.to_string(), hash.clone())) {
            assert!(!w.assets_kv.contains(&asset_key(pid, &hash)), "row of {hash} went before its body");
            assert!(!w.blobs.contains(&blob_asset_key(pid, &hash)), "row of {hash} went before its body");
        }
    }
    for i in 0..5 {
        let id = format!("{pid}-d{i}");
        if !w.deployments.contains_key(&id) {
            assert!(!w.routes_kv.contains(&manifest_key(pid, &id)), "row of {id} went before its manifest");
            assert!(!w.routes_kv.contains(&legacy_manifest_key(&id)), "row of {id} went before its manifest");
            assert!(!w.blobs.contains(&bundle_key(pid, &id)), "row of {id} went before its bundle");
        }
    }
    for i in 0..3 {
        let id = format!("{pid}-s{i}");
        if !w.sessions.contains_key(&id) {
            assert!(
                !w.blobs.contains(&upload_manifest_key(pid, &id)),
                "row of {id} went before its manifest"
            );
        }
    }
    let slug = &w.targets[pid].slug;
    if !w.routes_kv.contains(&route_key(slug)) || w.purged.contains_key(pid) || w.rows_deleted.contains(pid) {
        let left: Vec<String> = remains(w, pid)
            .into_iter()
            .filter(|r| !r.contains(&route_key(slug)) && !r.contains("route:"))
            .collect();
        assert!(left.is_empty(), "tombstone gone or marked purged while {left:?} remain");
    }
}

#[test]
fn a_purge_removes_everything_of_the_project_and_nothing_else() {
    let fake = world();
    let other_before = remains(&fake.w.borrow(), Q);
    let steps = run(&fake, P, 1_000_000);
    let phases: Vec<_> = steps.iter().map(|s| s.clone().unwrap()).collect();
    use PurgePhase::*;
    let more = |p, n| std::iter::repeat_n(PurgeStep::More(p), n);
    let expected: Vec<PurgeStep> = more(Assets, 3)
        .chain(more(Deployments, 3))
        .chain(more(Sessions, 2))
        .chain(more(Domains, 1))
        .chain(more(Bindings, 3))
        .chain([PurgeStep::Done])
        .collect();
    assert_eq!(phases, expected);
    let w = fake.w.borrow();
    assert_eq!(remains(&w, P), Vec::<String>::new());
    assert!(w.purged.contains_key(P));
    assert_eq!(remains(&w, Q), other_before, "another project's data is untouched");
}

#[test]
fn a_live_project_is_never_purged() {
    let fake = world();
    let before = fake.w.borrow().clone();
    assert_eq!(block_on(purge_chunk(&fake, Q, 5, &CHUNKS)), Ok(PurgeStep::NotDeleted));
    assert_eq!(block_on(purge_chunk(&fake, "no-such-project", 5, &CHUNKS)), Ok(PurgeStep::NotDeleted));
    assert_eq!(*fake.w.borrow(), before, "nothing written, not even a heartbeat");
}

#[test]
fn storage_that_d1_never_knew_about_is_found_by_prefix() {
    let fake = world();
    {
        let mut w = fake.w.borrow_mut();
        // Bodies, bundles and manifests whose rows were never written (or went first).
        for i in 0..6 {
            w.assets_kv.insert(asset_key(P, &format!("{P}-stray{i}")));
        }
        w.blobs.insert(blob_asset_key(P, "big-stray"));
        w.blobs.insert(bundle_key(P, "d-never-recorded"));
        w.blobs.insert(upload_manifest_key(P, "s-never-recorded"));
        w.blobs.insert(crate::keys::wrangler_manifest_key(P, "w1"));
        // A resolved env (issue 30): kept by digest, no D1 row names its key.
        w.blobs.insert(crate::keys::env_key(P, "0123456789abcdef0123456789abcdef"));
    }
    let steps = run(&fake, P, 0);
    assert!(steps.contains(&Ok(PurgeStep::More(PurgePhase::Stray))), "{steps:?}");
    assert_eq!(remains(&fake.w.borrow(), P), Vec::<String>::new());
}

#[test]
fn every_chunk_stamps_the_heartbeat_so_a_running_chain_is_never_requeued() {
    let fake = world();
    // Asked for long ago; the chain runs one chunk a minute (a slow queue).
    let asked = 0;
    let mut t = asked + 30 * 60 * 1000;
    loop {
        let step = block_on(purge_chunk(&fake, P, t, &CHUNKS)).unwrap();
        let last = fake.w.borrow().heartbeats.last().cloned();
        assert_eq!(last, Some((P.to_string(), t)), "the chunk at {t} stamped its heartbeat");
        // What the cron sees a few minutes later: still running, not stalled.
        assert!(!purge_stalled(last.map(|(_, at)| at), t + 5 * 60 * 1000));
        if step == PurgeStep::Done {
            break;
        }
        t += 60 * 1000;
    }
    let beats = fake.w.borrow().heartbeats.len();
    assert_eq!(beats, 13, "one heartbeat per chunk");
}

#[test]
fn a_purge_is_stalled_only_when_its_heartbeat_is_old() {
    let now = 100 * 60 * 1000;
    assert!(purge_stalled(None, now), "never stamped: queue it");
    assert!(!purge_stalled(Some(now), now));
    assert!(!purge_stalled(Some(now - PURGE_STALL_MS), now), "exactly at the window: not yet");
    assert!(purge_stalled(Some(now - PURGE_STALL_MS - 1), now));
    assert!(!purge_stalled(Some(now + 5000), now), "a clock ahead is not stalled");
    assert_eq!(purge_stall_cutoff(now), now - PURGE_STALL_MS);
    assert!(purge_stalled(Some(i64::MIN), 0) && !purge_stalled(Some(0), i64::MIN));
}

const OPS: [&str; 23] = [
    "target",
    "heartbeat",
    "asset_rows",
    "delete_body",
    "delete_asset_rows",
    "deployment_ids",
    "delete_deployment_storage",
    "delete_deployment_rows",
    "sessions",
    "delete_sessions",
    "stray_bodies",
    "delete_stray_body",
    "manifest_ids",
    "delete_manifest",
    "list_blobs",
    "delete_blobs",
    "release_domains",
    "delete_resource_bindings",
    "delete_project_tables",
    "delete_route",
    "mark_purged",
    "delete_project_row",
    "none",
];

#[test]
fn a_failure_anywhere_leaves_the_chunk_rerunnable_and_nothing_half_forgotten() {
    for op in OPS {
        for times in [1, 2, 3] {
            let fake = world();
            {
                // Stray storage too, so the stray phase's operations run.
                let mut w = fake.w.borrow_mut();
                w.assets_kv.insert(asset_key(P, &format!("{P}-stray")));
                w.routes_kv.insert(manifest_key(P, &format!("{P}-late")));
                // The last step of a provisional project's purge is its row's delete.
                w.targets.get_mut(P).unwrap().provisional = op == "delete_project_row";
            }
            // The next `times` calls fail (a binding that stays down a while).
            fake.faults.fail(op, times);
            let steps = run(&fake, P, 0);
            let errors = steps.iter().filter(|s| s.is_err()).count();
            if op != "none" {
                assert_eq!(errors, times, "{op} x{times}: each failure fails its chunk: {steps:?}");
            }
            for s in steps.iter().filter_map(|s| s.as_ref().err()) {
                assert!(s.0.contains(op), "{op}: {s:?}");
            }
            let w = fake.w.borrow();
            assert_eq!(remains(&w, P), Vec::<String>::new(), "{op} x{times}");
            assert!(w.purged.contains_key(P) || w.rows_deleted.contains(P), "{op} x{times}");
        }
    }
}

#[test]
fn a_saas_delete_that_fails_keeps_the_domain_and_the_tombstone_until_it_is_retried() {
    let fake = world();
    *fake.saas_failures.borrow_mut() = 1;
    let steps = run(&fake, P, 0);
    let pending = steps.iter().position(|s| *s == Ok(PurgeStep::DomainsPending)).expect("a pending step");
    // Retried in the next chunk, which releases it; the purge then ends.
    assert_eq!(steps.last(), Some(&Ok(PurgeStep::Done)));
    assert!(pending < steps.len() - 1);
    assert_eq!(remains(&fake.w.borrow(), P), Vec::<String>::new());
}

#[test]
fn a_manifest_written_after_the_deployment_rows_went_is_found_and_deleted() {
    let fake = world();
    // Run until the deployments phase is over, then a deploy in flight stages its manifest.
    let mut t = 0;
    while block_on(purge_chunk(&fake, P, t, &CHUNKS)).unwrap() != PurgeStep::More(PurgePhase::Sessions) {
        t += 1;
    }
    assert!(fake.w.borrow().deployments.values().all(|p| p != P), "the deployment rows are gone");
    let late = manifest_key(P, "d-in-flight");
    fake.w.borrow_mut().routes_kv.insert(late.clone());
    let steps = run(&fake, P, t);
    assert!(steps.contains(&Ok(PurgeStep::More(PurgePhase::Stray))), "{steps:?}");
    let w = fake.w.borrow();
    assert!(!w.routes_kv.contains(&late), "the late manifest leaked");
    assert_eq!(remains(&w, P), Vec::<String>::new());
    assert!(w.routes_kv.contains(&manifest_key(Q, &format!("{Q}-d1"))), "another project's manifest stays");
}

#[test]
fn a_provisional_project_loses_its_row_too_a_real_one_keeps_its_tombstone() {
    let fake = world();
    {
        let mut w = fake.w.borrow_mut();
        w.targets.get_mut(P).unwrap().provisional = true;
        // It never had a deployment; its wrangler upload left bodies behind.
        w.deployments.retain(|_, p| p != P);
        w.routes_kv.retain(|k| !k.starts_with("manifest:"));
        w.blobs.retain(|k| !k.starts_with("bundles/"));
    }
    let steps = run(&fake, P, 0);
    assert_eq!(steps.last(), Some(&Ok(PurgeStep::Done)));
    let w = fake.w.borrow();
    assert_eq!(remains(&w, P), Vec::<String>::new());
    assert!(w.rows_deleted.contains(P), "the row itself is gone: the name is free");
    assert!(!w.purged.contains_key(P));
    drop(w);
    let real = world();
    run(&real, P, 0);
    assert!(real.w.borrow().rows_deleted.is_empty(), "a real project keeps its tombstone row");
}
