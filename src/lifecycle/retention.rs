//! Retention and garbage collection decisions (pure): which deployments expire, and which
//! stored asset bodies are marked, unmarked or deleted after the grace period.

use std::collections::BTreeSet;

use super::*;

/// Deployments to expire: every ready deployment except the active one, the aliased ones and
/// the `keep` newest ready ones. `deployments` may come in any order.
pub fn plan_retention(
    deployments: &[DeploymentState],
    active: Option<&str>,
    aliased: &BTreeSet<String>,
    keep: usize,
) -> Vec<String> {
    let mut ready: Vec<&DeploymentState> = deployments.iter().filter(|d| d.status.is_ready()).collect();
    ready.sort_by_key(|d| std::cmp::Reverse(d.seq));
    ready
        .into_iter()
        .skip(keep)
        .filter(|d| Some(d.id.as_str()) != active && !aliased.contains(&d.id))
        .map(|d| d.id.clone())
        .collect()
}

/// Expires what [`plan_retention`] names (a live rollout's deployment counts as aliased); the
/// store re-checks "not active, not aliased, not being rolled out"
/// atomically, so a concurrent rollback or alias wins. Returns the ids that expired.
pub async fn expire_old<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    project_id: &str,
    keep: usize,
    now: i64,
) -> LifecycleResult<Vec<String>> {
    let Some(p) = store.project(project_id).await? else { return Ok(Vec::new()) };
    if p.deleted {
        return Ok(Vec::new()); // the purge removes everything
    }
    let all = store.deployments(&p.id).await?;
    // Kept like aliased ones: the deployment a live rollout serves to part of production.
    let mut aliased: BTreeSet<String> = p.aliases.values().cloned().collect();
    aliased.extend(p.rollout.iter().filter(|r| r.status.is_live()).map(|r| r.deployment_id.clone()));
    let mut expired = Vec::new();
    for id in plan_retention(&all, p.active_deployment_id.as_deref(), &aliased, keep) {
        // Its previews stop at once here (other isolates within their cache TTL).
        routes.forget_deployment(&id);
        if store.expire(&id, now).await? {
            expired.push(id);
        }
    }
    Ok(expired)
}

/// One stored body as GC sees it (`project_assets` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAsset {
    pub hash: String,
    pub created_at: i64,
    /// When a sweep first found it unreferenced (None: referenced, or not looked at yet).
    pub unreferenced_since: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcAction {
    /// Found unreferenced now: start the grace period.
    Mark(String),
    /// Referenced again (a new deployment or upload uses it): cancel the grace period.
    Unmark(String),
    /// Unreferenced for longer than the grace period: delete the body and its row.
    Delete(String),
}

/// Decides GC for one project's stored bodies (one page of them or all). `is_referenced` must
/// say yes for every hash a kept or pending deployment, or a live upload session, names. A body
/// is deleted only after two sweeps at least `grace_ms` apart both found it unreferenced, and
/// never while it is young (an upload that has not been deployed yet references it only through
/// its session). Actions come in the order of `stored`.
pub fn plan_gc(
    stored: &[StoredAsset],
    is_referenced: impl Fn(&str) -> bool,
    now: i64,
    grace_ms: i64,
) -> Vec<GcAction> {
    let mut out = Vec::new();
    for a in stored {
        let is_ref = is_referenced(&a.hash);
        match (is_ref, a.unreferenced_since) {
            (true, Some(_)) => out.push(GcAction::Unmark(a.hash.clone())),
            (true, None) => {}
            (false, _) if a.created_at > now - grace_ms => {}
            (false, None) => out.push(GcAction::Mark(a.hash.clone())),
            (false, Some(since)) if since <= now - grace_ms => out.push(GcAction::Delete(a.hash.clone())),
            (false, Some(_)) => {}
        }
    }
    out
}

// GC and uploads agree on a body through two leases on its `project_assets` row (migration
// 0013): GC's claim (`deleting_at`: "this body may be gone") and an upload's lease
// (`storing_at`: "a body is being written"). The invariant: a row with `deleting_at` NULL has
// its body stored. GC deletes only bodies whose rows it claimed; a claim is taken only on a row
// marked for the whole grace period with no live claim and no live upload lease; an upload
// takes its lease (creating a placeholder row that counts as missing when there is none) and
// refuses with a retryable error while a claim is live, before it writes any body; it records
// the body (clearing `deleting_at`) only while its lease still holds. The interleavings of one
// GC run (C claim, D delete bodies, R delete claimed rows / release the rest) and one upload
// (G guard, W write body, S store row):
//
// | order          | what happens                                                              |
// |----------------|---------------------------------------------------------------------------|
// | G W S, then C  | the row was unmarked by G and S: C does not take it (and not for a grace)  |
// | C, then G      | G finds the live claim: 503 + Retry-After, nothing written; R deletes the  |
// |                | row, the retry finds no row, writes the body and a fresh row              |
// | G, then C      | C skips the row (live upload lease): nothing of the upload is deleted     |
// | C D, GC dies   | rows stay claimed: missing for sessions and deployments (never stored);   |
// |                | after the lease an upload guards, writes, stores and clears the claim     |
// | C, lease out   | GC stops deleting at half its lease and releases the rest; a late R      |
// |                | deletes only rows still claimed by it (an upload after expiry cleared it) |
// | G, upload slow | S past its lease would be refused (503, nothing recorded), since a claim  |
// |                | may have started: a retry guards again                                     |

/// How long GC's claim on a row holds. GC deletes bodies only in the first half of it
/// ([`gc_may_delete_body`]), so an upload that finds the claim expired cannot overlap a delete.
pub const GC_CLAIM_LEASE_MS: i64 = 60_000;

/// How long an upload's lease on a row holds: GC claims no row an upload is storing. An upload
/// records its bodies only while [`upload_may_store`] (a margin before the lease ends).
pub const UPLOAD_LEASE_MS: i64 = 300_000;

/// Whether a claim taken at `deleting_at` still holds at `now`.
pub fn claim_is_live(deleting_at: Option<i64>, now: i64) -> bool {
    deleting_at.is_some_and(|at| at > now - GC_CLAIM_LEASE_MS)
}

/// Whether an upload lease taken at `storing_at` still holds at `now`.
pub fn upload_lease_is_live(storing_at: Option<i64>, now: i64) -> bool {
    storing_at.is_some_and(|at| at > now - UPLOAD_LEASE_MS)
}

/// Whether a row proves its body is stored: it was never claimed by GC, or an upload stored the
/// body again since. A claimed row's body may be gone (GC may have died part way), live or not.
pub fn body_is_stored(deleting_at: Option<i64>) -> bool {
    deleting_at.is_none()
}

/// Whether a `project_assets` row lets an upload session skip a body. A marked row
/// (`unreferenced_since` set) counts as missing: GC may claim it at any moment, so a new
/// session uploads it again, and that upload clears the mark ([`UPLOAD_GUARD_SQL`]); a claimed
/// one counts as missing ([`body_is_stored`]).
pub fn counts_as_stored(unreferenced_since: Option<i64>, deleting_at: Option<i64>) -> bool {
    unreferenced_since.is_none() && body_is_stored(deleting_at)
}

/// The newest mark GC may delete at `now`: a row marked at or before it has been unreferenced
/// for the whole grace period.
pub fn gc_delete_cutoff(now: i64, grace_ms: i64) -> i64 {
    now - grace_ms
}

/// What [`GC_DELETE_SQL`]'s predecessor decided for one row: still marked, and marked at or
/// before `cutoff`. A row whose mark an upload or a deploy cleared since GC planned is kept.
pub fn gc_may_delete(unreferenced_since: Option<i64>, cutoff: i64) -> bool {
    unreferenced_since.is_some_and(|since| since <= cutoff)
}

/// What [`GC_CLAIM_SQL`] decides for one row at `now`: marked at or before `cutoff`, not
/// claimed by a live GC run, and not being stored by a live upload.
pub fn gc_may_claim(
    unreferenced_since: Option<i64>,
    deleting_at: Option<i64>,
    storing_at: Option<i64>,
    cutoff: i64,
    now: i64,
) -> bool {
    gc_may_delete(unreferenced_since, cutoff)
        && !claim_is_live(deleting_at, now)
        && !upload_lease_is_live(storing_at, now)
}

/// Whether GC, holding a claim taken at `claimed_at`, may still start a body delete at `now`:
/// only in the first half of the lease, so every delete is over long before an upload can find
/// the claim expired.
pub fn gc_may_delete_body(claimed_at: i64, now: i64) -> bool {
    now < claimed_at + GC_CLAIM_LEASE_MS / 2
}

/// What an upload's guard ([`UPLOAD_GUARD_SQL`], [`LIVE_CLAIMS_SQL`]) decides for one row at
/// `now`: `Err(seconds)` while GC's claim holds (the upload answers 503 with that Retry-After and
/// writes nothing), else the upload takes its lease.
pub fn upload_guard(deleting_at: Option<i64>, now: i64) -> Result<(), u32> {
    match deleting_at {
        Some(at) if claim_is_live(Some(at), now) => {
            let left = (at + GC_CLAIM_LEASE_MS - now + 999) / 1000;
            Err(left.clamp(1, 15) as u32)
        }
        _ => Ok(()),
    }
}

/// Whether an upload that took its lease at `guarded_at` may still record its bodies at `now`
/// (a minute's margin for the statement itself). Past it a claim may have started: the upload
/// answers a retryable error and records nothing.
pub fn upload_may_store(guarded_at: i64, now: i64) -> bool {
    now < guarded_at + UPLOAD_LEASE_MS - GC_CLAIM_LEASE_MS
}

/// The bodies GC removes: only those of `planned` whose row it claimed (`claimed`, from
/// [`GC_CLAIM_SQL`]'s `RETURNING hash`). A body with an unclaimed row is never deleted.
pub fn gc_bodies_to_delete<T: Clone>(
    planned: &[(String, T)],
    claimed: &BTreeSet<String>,
) -> Vec<(String, T)> {
    planned.iter().filter(|(h, _)| claimed.contains(h)).cloned().collect()
}

/// The hashes a deployment needs that are not held by an unclaimed row after
/// [`RECLAIM_SQL`]: validate and verify fail while any is left. Given that GC deletes a body
/// only under a claim on its row, and a claim needs a mark the grace period old (a mark cleared
/// here can only come back by a later sweep, at least the grace period before any claim, when
/// this pending or ready deployment references the body), a present unclaimed row at this point
/// proves its body is stored and stays stored, without reading it.
pub fn missing_after_reclaim<'a>(needed: &[&'a str], present: &BTreeSet<String>) -> Vec<&'a str> {
    needed.iter().copied().filter(|h| !present.contains(*h)).collect()
}

/// Which of `?2` (a JSON array of hashes) project `?1` stores in a way an upload session may
/// rely on: the row exists, is not marked and not claimed ([`counts_as_stored`]).
pub const STORED_FOR_SESSION_SQL: &str = "SELECT hash FROM project_assets WHERE project_id = ?1 \
     AND unreferenced_since IS NULL AND deleting_at IS NULL AND hash IN (SELECT value FROM json_each(?2))";

/// Records a stored body (`?1` project, `?2` hash, `?3` size, `?4` now), clearing any GC mark
/// and any expired claim: runs only after the body was written under a live upload lease
/// ([`upload_may_store`]), so no claim can be live here.
pub const STORE_BODY_SQL: &str = "INSERT INTO project_assets (project_id, hash, size, created_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (project_id, hash) DO UPDATE SET unreferenced_since = NULL, \
     deleting_at = NULL";

/// The conflict clause of every insert of a stored body (a multi-row insert appends it).
pub const STORE_BODY_CONFLICT: &str =
    "ON CONFLICT (project_id, hash) DO UPDATE SET unreferenced_since = NULL, deleting_at = NULL";

/// An upload gives back its lease once its rows are stored (`?1` project, `?2` when it took
/// the lease, `?3` a JSON array of hashes): only its own (another upload of the same body may
/// hold a newer one), so GC may claim the rows again after a grace period, not after the lease.
pub const LEASE_END_SQL: &str = "UPDATE project_assets SET storing_at = NULL WHERE project_id = ?1 \
     AND storing_at = ?2 AND hash IN (SELECT value FROM json_each(?3))";

/// An upload's lease, before it writes any body (`?1` project, `?2` now, `?3` a JSON array of
/// `[hash, size]`, `?4` now minus [`GC_CLAIM_LEASE_MS`]): each row not under a live claim
/// loses its mark and gets `storing_at`; a hash with no row gets a placeholder that counts as
/// missing (claimed at 0, long expired) until the body is stored. [`LIVE_CLAIMS_SQL`] runs
/// after it in the same batch.
pub const UPLOAD_GUARD_SQL: &str = "INSERT INTO project_assets \
     (project_id, hash, size, created_at, deleting_at, storing_at) \
     SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?2, 0, ?2 FROM json_each(?3) \
     WHERE true ON CONFLICT (project_id, hash) DO UPDATE SET unreferenced_since = NULL, \
     storing_at = excluded.storing_at WHERE deleting_at IS NULL OR deleting_at <= ?4";

/// The rows of `?2` (a JSON array of `[hash, size]`) in project `?1` under a live GC claim
/// (taken after `?3`, now minus [`GC_CLAIM_LEASE_MS`]): the upload must not write them.
pub const LIVE_CLAIMS_SQL: &str = "SELECT hash, deleting_at FROM project_assets WHERE project_id = ?1 \
     AND deleting_at > ?3 AND hash IN (SELECT json_extract(value, '$[0]') FROM json_each(?2))";

/// GC's claim for project `?1` at `?2` (now, the claim's id) on the planned hashes in `?6` (a JSON
/// array): rows marked at or before the cutoff `?3` ([`gc_delete_cutoff`]), with no claim taken
/// after `?4` (now minus [`GC_CLAIM_LEASE_MS`]) and no upload lease taken after `?5` (now minus
/// [`UPLOAD_LEASE_MS`]): [`gc_may_claim`]. It names them, and GC deletes exactly their bodies.
pub const GC_CLAIM_SQL: &str = "UPDATE project_assets SET deleting_at = ?2 WHERE project_id = ?1 \
     AND unreferenced_since IS NOT NULL AND unreferenced_since <= ?3 \
     AND (deleting_at IS NULL OR deleting_at <= ?4) AND (storing_at IS NULL OR storing_at <= ?5) \
     AND hash IN (SELECT value FROM json_each(?6)) RETURNING hash";

/// GC's row delete after its body deletes (`?1` project, `?2` its claim, `?3` the hashes whose
/// bodies it deleted): only rows still under its own claim go.
pub const GC_DELETE_SQL: &str = "DELETE FROM project_assets WHERE project_id = ?1 \
     AND deleting_at = ?2 AND hash IN (SELECT value FROM json_each(?3)) RETURNING hash";

/// GC gives back the rows it claimed but whose bodies it never touched (stopped early).
pub const GC_RELEASE_SQL: &str = "UPDATE project_assets SET deleting_at = NULL WHERE project_id = ?1 \
     AND deleting_at = ?2 AND hash IN (SELECT value FROM json_each(?3))";

/// A deployment re-claims the bodies it needs (project `?1`, hashes `?2` as a JSON array): the
/// marks are cleared (no GC claim can follow for a grace period), and [`PRESENT_SQL`] run after
/// it says which rows prove their body. D1 runs the two in one batch, in order.
pub const RECLAIM_SQL: &str = "UPDATE project_assets SET unreferenced_since = NULL \
     WHERE project_id = ?1 AND unreferenced_since IS NOT NULL \
     AND hash IN (SELECT value FROM json_each(?2))";

/// Which of `?2` (a JSON array) have a row in project `?1` that GC never claimed (or whose body
/// an upload stored again since): [`body_is_stored`].
pub const PRESENT_SQL: &str = "SELECT hash FROM project_assets WHERE project_id = ?1 \
     AND deleting_at IS NULL AND hash IN (SELECT value FROM json_each(?2))";

/// A content address (64 hex digits) as its 32 bytes: the set of referenced hashes a GC run
/// holds takes ~40 bytes per hash this way instead of ~100 as `String`s. `None` for anything
/// else (GC then treats the body as referenced: it never deletes what it cannot name).
pub fn hash_key(hex: &str) -> Option<[u8; 32]> {
    crate::domain::unhex_lower(hex)?.try_into().ok()
}

/// Wrangler upload-session manifests (`wrangler/<project>/<session>.json` in BLOBS) written
/// before the returned time are dead and may be deleted: no D1 row names them, only the
/// session's tokens, and none is accepted `session_span_ms` after the session opened
/// (`auth::SESSION_SPAN_MS`). The GC grace period, when longer, still applies.
pub fn wrangler_manifest_cutoff(now: i64, grace_ms: i64, session_span_ms: i64) -> i64 {
    now - grace_ms.max(session_span_ms)
}

/// A live provisional project as the cron sees it (`wrangler deploy` created it and no script
/// upload was accepted yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provisional {
    pub created_at: i64,
    /// When its newest upload session opened, if it has one: a later `wrangler deploy` of the
    /// same name reuses the project, so its age alone says nothing.
    pub last_session_at: Option<i64>,
    pub deployments: u64,
}

/// Whether a provisional project is abandoned and the cron deletes it (its purge then removes
/// the row too, freeing the name): it has no deployment, and neither it nor any of its upload
/// sessions was created within `session_span_ms` (`auth::session_span_ms`, from
/// `UPLOAD_SESSION_TTL_SECS`). Past that span no token of any of its sessions is accepted, so
/// no deploy can still complete on it; waiting longer would only keep the name reserved.
pub fn provisional_abandoned(p: &Provisional, now: i64, session_span_ms: i64) -> bool {
    let cutoff = provisional_cutoff(now, session_span_ms);
    p.deployments == 0 && p.created_at < cutoff && p.last_session_at.is_none_or(|at| at < cutoff)
}

/// Projects and sessions created before this are past every token's span (for the cron's query).
pub fn provisional_cutoff(now: i64, session_span_ms: i64) -> i64 {
    now.saturating_sub(session_span_ms.max(0))
}

/// Abandoned provisional projects one cron run deletes at most.
pub const ABANDONED_CHUNK: usize = 20;
