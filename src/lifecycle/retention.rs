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
