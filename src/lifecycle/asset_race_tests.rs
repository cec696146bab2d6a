//! GC against uploads and deployments, step by step: `project_assets` and the body store of
//! one project, where every operation decides with the same pure functions (and SQL conditions)
//! the D1 adapters use, so interleavings and injected failures can be played out.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// One `project_assets` row.
#[derive(Debug, Clone)]
struct Row {
    asset: StoredAsset,
    deleting_at: Option<i64>,
    storing_at: Option<i64>,
}

#[derive(Default)]
struct AssetTable {
    rows: BTreeMap<String, Row>,
    bodies: BTreeSet<String>,
}

impl AssetTable {
    /// A session opens: the hashes it must upload (`STORED_FOR_SESSION_SQL`).
    fn open_session(&self, hashes: &[&str]) -> Vec<String> {
        hashes
            .iter()
            .filter(|h| {
                !self
                    .rows
                    .get(**h)
                    .is_some_and(|r| counts_as_stored(r.asset.unreferenced_since, r.deleting_at))
            })
            .map(|h| h.to_string())
            .collect()
    }
    /// An upload's guard (`UPLOAD_GUARD_SQL` then `LIVE_CLAIMS_SQL`): `Err(retry-after)` under a
    /// live claim, else the lease is taken (a placeholder row when there is none).
    fn guard(&mut self, hash: &str, now: i64) -> Result<(), u32> {
        match self.rows.get_mut(hash) {
            Some(r) => {
                upload_guard(r.deleting_at, now)?;
                r.asset.unreferenced_since = None;
                r.storing_at = Some(now);
            }
            None => {
                let asset = StoredAsset { hash: hash.into(), created_at: now, unreferenced_since: None };
                self.rows.insert(hash.into(), Row { asset, deleting_at: Some(0), storing_at: Some(now) });
            }
        }
        Ok(())
    }
    fn write_body(&mut self, hash: &str) {
        self.bodies.insert(hash.into());
    }
    /// The row store after the body write (`STORE_BODY_SQL`), refused past the lease.
    fn store(&mut self, hash: &str, guarded_at: i64, now: i64) -> bool {
        if !upload_may_store(guarded_at, now) {
            return false;
        }
        let row = self.rows.entry(hash.into()).or_insert(Row {
            asset: StoredAsset { hash: hash.into(), created_at: now, unreferenced_since: None },
            deleting_at: None,
            storing_at: None,
        });
        row.asset.unreferenced_since = None;
        row.deleting_at = None;
        // `LEASE_END_SQL`: its own lease only.
        if row.storing_at == Some(guarded_at) {
            row.storing_at = None;
        }
        true
    }
    /// A whole upload with nothing in between.
    fn upload(&mut self, hash: &str, now: i64) {
        self.guard(hash, now).expect("no live claim");
        self.write_body(hash);
        assert!(self.store(hash, now, now));
    }
    /// One sweep's marks and the deletes it plans, with `referenced` as its snapshot.
    fn gc_plan(&mut self, referenced: &[&str], now: i64, grace: i64) -> Vec<(String, ())> {
        let stored: Vec<StoredAsset> = self.rows.values().map(|r| r.asset.clone()).collect();
        let mut delete = Vec::new();
        for a in plan_gc(&stored, |h| referenced.contains(&h), now, grace) {
            match a {
                GcAction::Mark(h) => self.rows.get_mut(&h).unwrap().asset.unreferenced_since = Some(now),
                GcAction::Unmark(h) => self.rows.get_mut(&h).unwrap().asset.unreferenced_since = None,
                GcAction::Delete(h) => delete.push((h, ())),
            }
        }
        delete
    }
    /// GC's claim (`GC_CLAIM_SQL`) at `now` (the claim's id), with the plan's cut-off.
    fn gc_claim(&mut self, planned: &[(String, ())], now: i64, cutoff: i64) -> BTreeSet<String> {
        let mut claimed = BTreeSet::new();
        for (h, _) in planned {
            if let Some(r) = self.rows.get_mut(h) {
                if gc_may_claim(r.asset.unreferenced_since, r.deleting_at, r.storing_at, cutoff, now) {
                    r.deleting_at = Some(now);
                    claimed.insert(h.clone());
                }
            }
        }
        claimed
    }
    /// One body delete under the claim taken at `claimed_at`; false once GC must stop.
    fn gc_delete_body(&mut self, hash: &str, claimed_at: i64, now: i64) -> bool {
        if !gc_may_delete_body(claimed_at, now) {
            return false;
        }
        self.bodies.remove(hash);
        true
    }
    /// GC's last statements: the rows of deleted bodies go (`GC_DELETE_SQL`), the rest of its
    /// claims are given back (`GC_RELEASE_SQL`); both only where its own claim still stands.
    fn gc_finish(&mut self, claimed_at: i64, deleted: &BTreeSet<String>, untouched: &BTreeSet<String>) {
        self.rows.retain(|h, r| !(deleted.contains(h) && r.deleting_at == Some(claimed_at)));
        for h in untouched {
            if let Some(r) = self.rows.get_mut(h).filter(|r| r.deleting_at == Some(claimed_at)) {
                r.deleting_at = None;
            }
        }
    }
    /// A whole GC delete phase with nothing in between: claim, bodies, rows.
    fn gc_delete(&mut self, planned: &[(String, ())], now: i64, grace: i64) -> BTreeSet<String> {
        let claimed = self.gc_claim(planned, now, gc_delete_cutoff(now, grace));
        for (h, _) in gc_bodies_to_delete(planned, &claimed) {
            assert!(self.gc_delete_body(&h, now, now));
        }
        self.gc_finish(now, &claimed, &BTreeSet::new());
        claimed
    }
    /// Validate / verify: `RECLAIM_SQL` then `PRESENT_SQL`, and what is missing.
    fn reclaim(&mut self, needed: &[&str]) -> Vec<String> {
        for h in needed {
            if let Some(r) = self.rows.get_mut(*h) {
                r.asset.unreferenced_since = None;
            }
        }
        let present: BTreeSet<String> =
            self.rows.iter().filter(|(_, r)| body_is_stored(r.deleting_at)).map(|(h, _)| h.clone()).collect();
        missing_after_reclaim(needed, &present).into_iter().map(str::to_string).collect()
    }
    /// The invariant: a row that proves its body has it.
    fn check(&self, context: &str) {
        for (h, r) in &self.rows {
            assert!(
                !body_is_stored(r.deleting_at) || self.bodies.contains(h),
                "{context}: row {h} proves a body that is gone"
            );
        }
    }
}

/// Longer than an upload's lease, as in production (a day): a body GC claims was marked, and
/// left alone by uploads, for longer than any lease.
const GRACE: i64 = 1_000_000;
/// When the sweeps that mark and plan run in these tests.
const MARK: i64 = 1_000_000;
const PLAN: i64 = MARK + GRACE;

/// x stored at 0 and marked at 1,000: GC may claim it from 1,100 on.
fn marked_x() -> (AssetTable, Vec<(String, ())>) {
    let mut t = AssetTable::default();
    t.upload("x", 0);
    assert!(t.gc_plan(&[], MARK, GRACE).is_empty());
    let planned = t.gc_plan(&[], PLAN, GRACE);
    assert_eq!(planned, vec![("x".to_string(), ())]);
    (t, planned)
}

#[test]
fn a_redeploy_reuploads_a_marked_body_and_the_concurrent_gc_delete_then_deletes_nothing() {
    let mut t = AssetTable::default();
    t.upload("x", 0);
    t.upload("y", 0);
    // v2 no longer names x: a sweep marks it.
    assert!(t.gc_plan(&["y"], MARK, GRACE).is_empty());
    assert_eq!(t.rows["x"].asset.unreferenced_since, Some(MARK));
    // After the grace a sweep takes its snapshot (v3's session does not exist yet) and plans x.
    let planned = t.gc_plan(&["y"], PLAN, GRACE);
    assert_eq!(planned, vec![("x".to_string(), ())]);
    // v3's session opens now: the marked x counts as missing, y does not.
    assert_eq!(t.open_session(&["x", "y"]), vec!["x"]);
    t.upload("x", PLAN + 1);
    assert_eq!(t.rows["x"].asset.unreferenced_since, None, "the upload cleared the mark");
    // GC's delete runs on its old plan: the row is no longer marked, nothing goes.
    let gone = t.gc_delete(&planned, PLAN + 2, GRACE);
    assert!(gone.is_empty());
    assert!(t.bodies.contains("x") && t.rows.contains_key("x"), "v3's body survives");
    assert!(t.reclaim(&["x", "y"]).is_empty(), "v3 verifies");
}

#[test]
fn a_session_opened_while_gc_holds_its_claim_uploads_the_body_again() {
    let (mut t, planned) = marked_x();
    let claimed = t.gc_claim(&planned, PLAN, gc_delete_cutoff(PLAN, GRACE));
    assert_eq!(claimed, BTreeSet::from(["x".to_string()]));
    // Between the claim and the body delete a session opens: x is missing.
    assert_eq!(t.open_session(&["x"]), vec!["x"]);
    assert!(t.gc_delete_body("x", PLAN, PLAN + 1));
    t.gc_finish(PLAN, &claimed, &BTreeSet::new());
    assert!(!t.bodies.contains("x") && !t.rows.contains_key("x"));
    // A deployment that relied on x without uploading it (an older session) fails its check.
    assert_eq!(t.reclaim(&["x"]), vec!["x"]);
}

#[test]
fn a_deployment_that_reclaims_before_the_gc_claim_keeps_its_body_and_one_after_it_fails() {
    // Its session opened before the mark (so it skipped x); a stale sweep marks x, a later
    // one plans it. Whichever of reclaim and the claim runs first decides, never both.
    for reclaim_first in [true, false] {
        let mut t = AssetTable::default();
        t.upload("x", 0);
        assert!(t.open_session(&["x"]).is_empty());
        t.gc_plan(&[], MARK, GRACE);
        let planned = t.gc_plan(&[], PLAN, GRACE);
        if reclaim_first {
            assert!(t.reclaim(&["x"]).is_empty());
        }
        let claimed = t.gc_claim(&planned, PLAN, gc_delete_cutoff(PLAN, GRACE));
        // A reclaim between the claim and the deletes finds x missing already.
        let missing = t.reclaim(&["x"]);
        assert_eq!(missing.is_empty(), reclaim_first);
        for (h, _) in gc_bodies_to_delete(&planned, &claimed) {
            t.gc_delete_body(&h, PLAN, PLAN + 1);
        }
        t.gc_finish(PLAN, &claimed, &BTreeSet::new());
        assert_eq!(t.reclaim(&["x"]).is_empty(), reclaim_first);
        t.check("after GC");
        // Whatever a deployment found present has its body.
        if missing.is_empty() {
            assert!(t.bodies.contains("x"));
        }
    }
}

/// Every order of one GC run's steps and one upload's steps on a body GC is collecting, with
/// GC dying after any of its steps and every pattern of delays between steps: no row ever
/// proves a body that is gone, an upload that stored its row leaves it provable, and an upload
/// refused under a claim succeeds when it retries after the claim.
#[test]
fn no_interleaving_of_gc_and_an_upload_leaves_a_stored_row_without_its_body() {
    // GC: 0 claim, 1 delete the body, 2 delete rows / release. Upload: 3 guard, 4 write, 5 store.
    fn orders(gc: &[u8], up: &[u8]) -> Vec<Vec<u8>> {
        match (gc.split_first(), up.split_first()) {
            (None, _) => vec![up.to_vec()],
            (_, None) => vec![gc.to_vec()],
            (Some((g, gr)), Some((u, ur))) => {
                let mut out = Vec::new();
                for rest in orders(gr, up) {
                    out.push([vec![*g], rest].concat());
                }
                for rest in orders(gc, ur) {
                    out.push([vec![*u], rest].concat());
                }
                out
            }
        }
    }
    let mut cases = 0;
    for order in orders(&[0, 1, 2], &[3, 4, 5]) {
        for gc_dies_after in [0u8, 1, 2] {
            // Milliseconds before each step: quick, half GC's lease, its whole lease, an upload's
            // lease; every pattern of them.
            const GAPS: [i64; 4] = [1, GC_CLAIM_LEASE_MS / 2, GC_CLAIM_LEASE_MS, UPLOAD_LEASE_MS];
            for pattern in 0..GAPS.len().pow(6) {
                let gaps: Vec<i64> = (0..6).map(|k| GAPS[pattern / GAPS.len().pow(k) % GAPS.len()]).collect();
                cases += 1;
                let ctx = format!("order {order:?}, GC dies after {gc_dies_after}, gaps {gaps:?}");
                let (mut t, planned) = marked_x();
                let mut now = PLAN;
                let (mut gc_claim, mut gc_dead, mut deleted) = (None::<i64>, false, BTreeSet::new());
                let (mut guarded, mut refused, mut stored) = (None::<i64>, false, false);
                for (s, gap) in order.iter().zip(&gaps) {
                    now += gap;
                    match s {
                        _ if *s <= 2 && gc_dead => {}
                        0 => {
                            let claimed = t.gc_claim(&planned, now, gc_delete_cutoff(now, GRACE));
                            gc_claim = (!claimed.is_empty()).then_some(now);
                        }
                        1 => {
                            if let Some(c) = gc_claim {
                                if t.gc_delete_body("x", c, now) {
                                    deleted.insert("x".to_string());
                                }
                            }
                        }
                        2 => {
                            if let Some(c) = gc_claim {
                                let untouched: BTreeSet<String> =
                                    ["x".to_string()].into_iter().filter(|h| !deleted.contains(h)).collect();
                                t.gc_finish(c, &deleted, &untouched);
                            }
                        }
                        _ if refused => {}
                        3 => match t.guard("x", now) {
                            Ok(()) => guarded = Some(now),
                            Err(secs) => {
                                assert!((1..=15).contains(&secs), "{ctx}: retry after {secs}");
                                refused = true;
                            }
                        },
                        4 => t.write_body("x"),
                        _ => stored = t.store("x", guarded.unwrap(), now),
                    }
                    if *s == gc_dies_after {
                        gc_dead = true;
                    }
                    t.check(&ctx);
                }
                if stored {
                    assert!(t.reclaim(&["x"]).is_empty(), "{ctx}: the stored upload is provable");
                } else {
                    // Refused (under a live claim, or past its lease): the client retries later.
                    now += GC_CLAIM_LEASE_MS + 1;
                    t.upload("x", now);
                    t.check(&ctx);
                    assert!(t.reclaim(&["x"]).is_empty(), "{ctx}: the retried upload is provable");
                }
            }
        }
    }
    assert_eq!(cases, 20 * 3 * 4096);
}

#[test]
fn gc_dying_after_its_claim_loses_nothing_and_the_next_run_or_an_upload_settles_the_rows() {
    // Two bodies claimed; GC deletes one and dies before its row statements.
    let mut t = AssetTable::default();
    t.upload("x", 0);
    t.upload("y", 0);
    t.gc_plan(&[], MARK, GRACE);
    let planned = t.gc_plan(&[], PLAN, GRACE);
    let claimed = t.gc_claim(&planned, PLAN, gc_delete_cutoff(PLAN, GRACE));
    assert_eq!(claimed.len(), 2);
    assert!(t.gc_delete_body("x", PLAN, PLAN + 1));
    t.check("GC died");
    // Both rows count as missing, for sessions and deployments alike, even after the lease:
    // which bodies went is unknown.
    let late = PLAN + GC_CLAIM_LEASE_MS + 1;
    assert_eq!(t.open_session(&["x", "y"]), vec!["x", "y"]);
    assert_eq!(t.reclaim(&["x", "y"]), vec!["x", "y"]);
    // While the claim is live an upload is refused; after it, an upload stores y again.
    assert!(t.guard("y", PLAN + 100).is_err());
    t.upload("y", late);
    assert!(t.reclaim(&["y"]).is_empty());
    // The next GC run re-claims x (expired claim, still marked) and deletes its row.
    t.gc_plan(&[], late, GRACE);
    let next = t.gc_plan(&["y"], late + GRACE + 1, GRACE);
    let gone = t.gc_delete(&next, late + GRACE + 1, GRACE);
    assert!(gone.contains("x") && !t.rows.contains_key("x"));
    assert!(t.rows.contains_key("y") && t.bodies.contains("y"));
    t.check("after the next run");
}

#[test]
fn gc_stops_deleting_at_half_its_lease_and_gives_back_the_rest() {
    let (mut t, planned) = marked_x();
    let claimed = t.gc_claim(&planned, PLAN, gc_delete_cutoff(PLAN, GRACE));
    assert!(!t.gc_delete_body("x", PLAN, PLAN + GC_CLAIM_LEASE_MS / 2), "too late to start");
    t.gc_finish(PLAN, &BTreeSet::new(), &claimed);
    assert_eq!(t.rows["x"].deleting_at, None, "given back");
    assert!(t.bodies.contains("x") && t.open_session(&["x"]) == vec!["x"], "still marked");
    t.check("released");
}

#[test]
fn an_upload_lease_keeps_gc_from_claiming_and_a_claim_refuses_uploads_until_it_expires() {
    let (mut t, planned) = marked_x();
    t.guard("x", PLAN - 50).unwrap();
    // The guard cleared the mark too; mark it again to see the lease alone keep GC away.
    t.rows.get_mut("x").unwrap().asset.unreferenced_since = Some(0);
    assert!(t.gc_claim(&planned, PLAN, PLAN - GRACE).is_empty(), "lease live");
    let later = PLAN - 50 + UPLOAD_LEASE_MS;
    assert_eq!(t.gc_claim(&planned, later, later - GRACE).len(), 1, "lease over");
    assert_eq!(upload_guard(Some(later), later), Err(15));
    assert_eq!(upload_guard(Some(later), later + GC_CLAIM_LEASE_MS - 2_500), Err(3));
    assert_eq!(upload_guard(Some(later), later + GC_CLAIM_LEASE_MS), Ok(()));
    assert!(upload_may_store(0, UPLOAD_LEASE_MS - GC_CLAIM_LEASE_MS - 1));
    assert!(!upload_may_store(0, UPLOAD_LEASE_MS - GC_CLAIM_LEASE_MS));
}

#[test]
fn a_stored_upload_gives_back_only_its_own_lease() {
    let mut t = AssetTable::default();
    t.guard("x", PLAN + 10).unwrap();
    t.guard("x", PLAN + 20).unwrap(); // a second upload of the same body
    t.write_body("x");
    assert!(t.store("x", PLAN + 10, PLAN + 30));
    assert_eq!(t.rows["x"].storing_at, Some(PLAN + 20), "the other upload's lease stands");
    assert!(t.store("x", PLAN + 20, PLAN + 40));
    assert_eq!(t.rows["x"].storing_at, None, "GC may claim it after a grace period, not a lease");
    t.check("both stored");
}

#[test]
fn gc_claims_only_rows_still_marked_before_the_cut_off_and_deletes_only_their_bodies() {
    let cutoff = gc_delete_cutoff(1_000, 100);
    assert_eq!(cutoff, 900);
    assert!(gc_may_claim(Some(900), None, None, cutoff, 1_000));
    assert!(!gc_may_claim(Some(901), None, None, cutoff, 1_000), "marked again too recently");
    assert!(!gc_may_claim(None, None, None, cutoff, 1_000), "unmarked since the plan");
    assert!(!gc_may_claim(Some(0), Some(999), None, cutoff, 1_000), "another run's live claim");
    assert!(gc_may_claim(Some(0), Some(1_000 - GC_CLAIM_LEASE_MS), None, cutoff, 1_000), "expired claim");
    assert!(!gc_may_claim(Some(0), None, Some(999), cutoff, 1_000), "an upload's live lease");
    let planned = vec![("a".to_string(), 1u64), ("b".to_string(), 2), ("c".to_string(), 3)];
    let claimed: BTreeSet<String> = ["a".to_string(), "c".to_string()].into();
    assert_eq!(gc_bodies_to_delete(&planned, &claimed), vec![("a".to_string(), 1), ("c".to_string(), 3)]);
    assert!(counts_as_stored(None, None));
    assert!(!counts_as_stored(Some(0), None), "a marked body is missing for a new session");
    assert!(!counts_as_stored(None, Some(0)), "a claimed one too, even long expired");
}

#[test]
fn the_sql_carries_the_same_conditions_as_the_decisions() {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let claim = squash(GC_CLAIM_SQL);
    assert!(claim.starts_with("UPDATE project_assets SET deleting_at = ?2 WHERE project_id = ?1"), "{claim}");
    for cond in [
        "unreferenced_since IS NOT NULL",
        "unreferenced_since <= ?3",
        "(deleting_at IS NULL OR deleting_at <= ?4)",
        "(storing_at IS NULL OR storing_at <= ?5)",
        "json_each(?6)",
        "RETURNING hash",
    ] {
        assert!(claim.contains(cond), "{cond} in {claim}");
    }
    let del = squash(GC_DELETE_SQL);
    assert!(del.starts_with("DELETE FROM project_assets WHERE project_id = ?1"), "{del}");
    for sql in [&del, &squash(GC_RELEASE_SQL)] {
        assert!(sql.contains("deleting_at = ?2") && sql.contains("json_each(?3)"), "{sql}");
    }
    let session = squash(STORED_FOR_SESSION_SQL);
    assert!(session.contains("AND unreferenced_since IS NULL AND deleting_at IS NULL"), "{session}");
    for sql in [STORE_BODY_SQL, STORE_BODY_CONFLICT] {
        assert!(
            squash(sql).contains(
                "ON CONFLICT (project_id, hash) DO UPDATE SET unreferenced_since = NULL, deleting_at = NULL"
            ),
            "{sql}"
        );
    }
    assert!(!STORE_BODY_SQL.contains("OR IGNORE"), "an ignored insert would keep the mark");
    let guard = squash(UPLOAD_GUARD_SQL);
    for cond in [
        "?2, 0, ?2 FROM json_each(?3)",
        "DO UPDATE SET unreferenced_since = NULL, storing_at = excluded.storing_at",
        "WHERE deleting_at IS NULL OR deleting_at <= ?4",
    ] {
        assert!(guard.contains(cond), "{cond} in {guard}");
    }
    assert!(squash(LIVE_CLAIMS_SQL).contains("AND deleting_at > ?3"));
    assert!(squash(LEASE_END_SQL).contains("SET storing_at = NULL WHERE project_id = ?1 AND storing_at = ?2"));
    let reclaim = squash(RECLAIM_SQL);
    assert!(reclaim.starts_with("UPDATE project_assets SET unreferenced_since = NULL WHERE project_id = ?1"));
    let present = squash(PRESENT_SQL);
    assert!(!present.contains("unreferenced_since") && present.contains("deleting_at IS NULL"), "{present}");
}

#[test]
fn with_a_grace_shorter_than_an_upload_the_lease_alone_keeps_gc_from_its_body() {
    // A grace of 10 ms (tests run with 1.5 s): a sweep can mark and plan a body again while an
    // upload is still writing it. The lease is what keeps the claim away.
    let grace = 10;
    let mut t = AssetTable::default();
    t.upload("x", 0);
    t.guard("x", PLAN).unwrap();
    assert!(t.gc_plan(&[], PLAN + 1, grace).is_empty(), "marked");
    let planned = t.gc_plan(&[], PLAN + 20, grace);
    assert_eq!(planned, vec![("x".to_string(), ())]);
    assert!(t.gc_claim(&planned, PLAN + 20, gc_delete_cutoff(PLAN + 20, grace)).is_empty(), "leased");
    t.write_body("x");
    assert!(t.store("x", PLAN, PLAN + 30));
    t.check("stored");
    assert!(t.reclaim(&["x"]).is_empty());
}
