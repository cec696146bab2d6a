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

/// Expires what [`plan_retention`] names; the store re-checks "not active, not aliased"
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
    let aliased: BTreeSet<String> = p.aliases.values().cloned().collect();
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

/// Whether a `project_assets` row lets an upload session skip a body. A marked row
/// (`unreferenced_since` set) counts as missing: GC may delete its body at any moment, so a new
/// session uploads it again, and that upload clears the mark ([`STORE_BODY_SQL`]) before GC's
/// conditional delete ([`GC_DELETE_SQL`]) can take the row.
pub fn counts_as_stored(unreferenced_since: Option<i64>) -> bool {
    unreferenced_since.is_none()
}

/// The newest mark GC may delete at `now`: a row marked at or before it has been unreferenced
/// for the whole grace period.
pub fn gc_delete_cutoff(now: i64, grace_ms: i64) -> i64 {
    now - grace_ms
}

/// What [`GC_DELETE_SQL`] decides for one row at the moment it runs: still marked, and marked
/// at or before `cutoff`. A row whose mark an upload or a deploy cleared since GC planned is kept.
pub fn gc_may_delete(unreferenced_since: Option<i64>, cutoff: i64) -> bool {
    unreferenced_since.is_some_and(|since| since <= cutoff)
}

/// The bodies GC removes: only those of `planned` whose row its conditional delete actually
/// removed (`deleted_rows`, from `RETURNING hash`). Rows go first, so a body with a row is
/// never deleted, and a session that finds the row gone uploads the body again.
pub fn gc_bodies_to_delete<T: Clone>(
    planned: &[(String, T)],
    deleted_rows: &BTreeSet<String>,
) -> Vec<(String, T)> {
    planned.iter().filter(|(h, _)| deleted_rows.contains(h)).cloned().collect()
}

/// The hashes a deployment needs that are not held by an unmarked row after
/// [`RECLAIM_SQL`]: validate and verify fail while any is left. Given that GC deletes a body
/// only after deleting its marked row, and a mark cleared here can only come back by a later
/// sweep, with the deletion at least the grace period after that (when this pending or ready
/// deployment references the body), a present row at this point proves its body is stored and
/// stays stored, without reading it.
pub fn missing_after_reclaim<'a>(needed: &[&'a str], present: &BTreeSet<String>) -> Vec<&'a str> {
    needed.iter().copied().filter(|h| !present.contains(*h)).collect()
}

/// Which of `?2` (a JSON array of hashes) project `?1` stores in a way an upload session may
/// rely on: the row exists and is not marked ([`counts_as_stored`]).
pub const STORED_FOR_SESSION_SQL: &str = "SELECT hash FROM project_assets WHERE project_id = ?1 \
     AND unreferenced_since IS NULL AND hash IN (SELECT value FROM json_each(?2))";

/// Records a stored body (`?1` project, `?2` hash, `?3` size, `?4` now), clearing any GC mark:
/// runs only after the body was written.
pub const STORE_BODY_SQL: &str = "INSERT INTO project_assets (project_id, hash, size, created_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (project_id, hash) DO UPDATE SET unreferenced_since = NULL";

/// The conflict clause of every insert of a stored body (a multi-row insert appends it).
pub const STORE_BODY_CONFLICT: &str =
    "ON CONFLICT (project_id, hash) DO UPDATE SET unreferenced_since = NULL";

/// GC's delete for project `?1`, cutoff `?2` ([`gc_delete_cutoff`]) and the planned hashes in
/// `?3` (a JSON array): only rows still marked at or before the cutoff go ([`gc_may_delete`]),
/// and it names them, so GC deletes exactly their bodies ([`gc_bodies_to_delete`]).
pub const GC_DELETE_SQL: &str = "DELETE FROM project_assets WHERE project_id = ?1 \
     AND unreferenced_since IS NOT NULL AND unreferenced_since <= ?2 \
     AND hash IN (SELECT value FROM json_each(?3)) RETURNING hash";

/// A deployment re-claims the bodies it needs (project `?1`, hashes `?2` as a JSON array): the
/// marks are cleared (a GC delete that runs later then keeps the row), and [`PRESENT_SQL`]
/// run after it says which rows exist. D1 runs the two in one batch, in order.
pub const RECLAIM_SQL: &str = "UPDATE project_assets SET unreferenced_since = NULL \
     WHERE project_id = ?1 AND unreferenced_since IS NOT NULL \
     AND hash IN (SELECT value FROM json_each(?2))";

/// Which of `?2` (a JSON array) have a row in project `?1`, marked or not.
pub const PRESENT_SQL: &str = "SELECT hash FROM project_assets WHERE project_id = ?1 \
     AND hash IN (SELECT value FROM json_each(?2))";

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
