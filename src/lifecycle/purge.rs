//! The purge of a deleted project (SPEC.md §3), one bounded chunk at a time, decided here over
//! [`PurgeStore`]; `platform/jobs/purge.rs` implements the store over D1/KV/R2 and sends one
//! queue message per chunk.
//!
//! Phases, in order, each repeated until it finds nothing: asset rows (their bodies first),
//! deployments (manifest and bundle first), upload sessions (their manifests first), stray
//! storage found by prefix (bodies, blobs and manifests D1 never knew about, or a deploy in
//! flight wrote after its rows went), custom domains, the project's resource bindings (which
//! deployment bound which KV namespace), the remaining tables, and last the routing tombstone. Within a chunk storage always goes
//! before the rows that name it, so a failure anywhere leaves the rows in place and the chunk
//! re-runnable: nothing is ever forgotten while its storage remains.
//!
//! Every chunk first stamps the project's heartbeat (`purge_requested_at`): the cron re-queues
//! only purges whose heartbeat is older than [`PURGE_STALL_MS`] ([`purge_stalled`]), so a long
//! chain that is still running never gets a second one beside it.

use super::{StoreError, StoreResult};
use crate::domain::ReleaseStep;

/// A purge whose last chunk started longer ago than this has stopped (its message was lost or
/// dead-lettered): the cron queues it again. Far above one chunk plus the queue's retry delays.
pub const PURGE_STALL_MS: i64 = 10 * 60 * 1000;

/// Whether the cron should queue a purge again: it was asked for (or last ran a chunk) at
/// `heartbeat` (`None`: never stamped) and `now` is past the stall window.
pub fn purge_stalled(heartbeat: Option<i64>, now: i64) -> bool {
    heartbeat.is_none_or(|at| at < purge_stall_cutoff(now))
}

/// Heartbeats older than this are stalled (for the cron's query: `purge_requested_at < cutoff`).
pub fn purge_stall_cutoff(now: i64) -> i64 {
    now.saturating_sub(PURGE_STALL_MS)
}

/// How much one chunk handles per phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeChunks {
    pub assets: usize,
    pub deployments: usize,
    pub sessions: usize,
    /// Keys one listing returns (stray storage).
    pub list: usize,
    pub domains: usize,
    /// `resource_bindings` rows.
    pub bindings: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgePhase {
    Assets,
    Deployments,
    Sessions,
    Stray,
    Domains,
    Bindings,
}

/// What one chunk did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeStep {
    /// Work was done in this phase; run another chunk.
    More(PurgePhase),
    /// Some custom hostnames could not be released from Cloudflare yet: retry this chunk later.
    DomainsPending,
    /// Everything is gone and the project is marked purged (its row stays as the tombstone,
    /// except a provisional project's, which goes too).
    Done,
    /// No such project, or it is not deleted: never purge a live project, whatever a message says.
    NotDeleted,
}

/// What the store says about the project row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeTarget {
    pub slug: String,
    pub deleted: bool,
    /// Created by `wrangler deploy` for a script upload that was then refused: it never had a
    /// deployment, so its row goes too (no tombstone: the name stays free).
    pub provisional: bool,
}

/// Storage as the purge sees it. Deletes are idempotent (deleting what is gone succeeds).
#[allow(async_fn_in_trait)] // single-threaded Workers runtime: no Send bounds wanted
pub trait PurgeStore {
    async fn target(&self, project_id: &str) -> StoreResult<Option<PurgeTarget>>;
    /// Stamps `purge_requested_at = now` (the heartbeat the cron reads).
    async fn heartbeat(&self, project_id: &str, now: i64) -> StoreResult<()>;

    /// Up to `limit` `project_assets` rows: (hash, size).
    async fn asset_rows(&self, project_id: &str, limit: usize) -> StoreResult<Vec<(String, u64)>>;
    /// One stored body (ASSETS_KV or BLOBS by size), and any cached copy.
    async fn delete_body(&self, project_id: &str, hash: &str, size: u64) -> StoreResult<()>;
    async fn delete_asset_rows(&self, project_id: &str, hashes: &[String]) -> StoreResult<()>;

    /// Up to `limit` deployment ids.
    async fn deployment_ids(&self, project_id: &str, limit: usize) -> StoreResult<Vec<String>>;
    /// A deployment's manifest and server bundle, and any cached copy.
    async fn delete_deployment_storage(&self, project_id: &str, deployment_id: &str) -> StoreResult<()>;
    /// The deployments' rows with their logs and steps.
    async fn delete_deployment_rows(&self, ids: &[String]) -> StoreResult<()>;

    /// Up to `limit` upload sessions: (id, manifest key in BLOBS).
    async fn sessions(&self, project_id: &str, limit: usize) -> StoreResult<Vec<(String, String)>>;
    async fn delete_sessions(&self, ids: &[String]) -> StoreResult<()>;

    /// Up to `limit` body hashes stored in ASSETS_KV under the project's prefix.
    async fn stray_bodies(&self, project_id: &str, limit: usize) -> StoreResult<Vec<String>>;
    async fn delete_stray_body(&self, project_id: &str, hash: &str) -> StoreResult<()>;
    /// Up to `limit` deployment ids with a manifest under the project's ROUTES_KV prefix.
    async fn manifest_ids(&self, project_id: &str, limit: usize) -> StoreResult<Vec<String>>;
    /// A deployment's manifest (under every key it may have), and any cached copy.
    async fn delete_manifest(&self, project_id: &str, deployment_id: &str) -> StoreResult<()>;
    /// Up to `limit` BLOBS keys under `prefix`.
    async fn list_blobs(&self, prefix: &str, limit: usize) -> StoreResult<Vec<String>>;
    async fn delete_blobs(&self, keys: &[String]) -> StoreResult<()>;

    /// Up to `limit` of the project's custom domains: host records and SaaS hostnames first,
    /// then the rows of those released.
    async fn release_domains(&self, project_id: &str, limit: usize) -> StoreResult<ReleaseStep>;
    /// Deletes up to `limit` of the project's `resource_bindings` rows; how many it deleted.
    async fn delete_resource_bindings(&self, project_id: &str, limit: usize) -> StoreResult<usize>;
    /// Aliases, wrangler asset rows and secrets.
    async fn delete_project_tables(&self, project_id: &str) -> StoreResult<()>;
    /// The routing records under the slug and the id (the tombstone), and cached copies.
    async fn delete_route(&self, slug: &str, project_id: &str) -> StoreResult<()>;
    /// `purged_at = now`; the routing record counts as written.
    async fn mark_purged(&self, project_id: &str, now: i64) -> StoreResult<()>;
    /// Deletes the (provisional, deleted) project row itself.
    async fn delete_project_row(&self, project_id: &str) -> StoreResult<()>;
}

/// Runs one chunk of the purge of `project_id`.
pub async fn purge_chunk<S: PurgeStore>(
    s: &S,
    project_id: &str,
    now: i64,
    chunks: &PurgeChunks,
) -> StoreResult<PurgeStep> {
    let Some(PurgeTarget { slug, deleted: true, provisional }) = s.target(project_id).await? else {
        return Ok(PurgeStep::NotDeleted);
    };
    s.heartbeat(project_id, now).await?;

    let rows = s.asset_rows(project_id, chunks.assets).await?;
    if !rows.is_empty() {
        for (hash, size) in &rows {
            s.delete_body(project_id, hash, *size).await?;
        }
        let hashes: Vec<String> = rows.into_iter().map(|(h, _)| h).collect();
        s.delete_asset_rows(project_id, &hashes).await?;
        return Ok(PurgeStep::More(PurgePhase::Assets));
    }

    let deployments = s.deployment_ids(project_id, chunks.deployments).await?;
    if !deployments.is_empty() {
        for id in &deployments {
            s.delete_deployment_storage(project_id, id).await?;
        }
        s.delete_deployment_rows(&deployments).await?;
        return Ok(PurgeStep::More(PurgePhase::Deployments));
    }

    let sessions = s.sessions(project_id, chunks.sessions).await?;
    if !sessions.is_empty() {
        let (ids, keys): (Vec<String>, Vec<String>) = sessions.into_iter().unzip();
        s.delete_blobs(&keys).await?;
        s.delete_sessions(&ids).await?;
        return Ok(PurgeStep::More(PurgePhase::Sessions));
    }

    // Whatever D1 never knew about (a write that beat a failed insert, or raced the phases
    // above): bodies, bundles, upload and deployment manifests found by prefix.
    let stray = s.stray_bodies(project_id, chunks.list).await?;
    let mut blobs = Vec::new();
    for prefix in stray_blob_prefixes(project_id) {
        blobs.extend(s.list_blobs(&prefix, chunks.list).await?);
    }
    // A manifest a deploy in flight wrote after its deployment's rows went.
    let manifests = s.manifest_ids(project_id, chunks.deployments).await?;
    if !stray.is_empty() || !blobs.is_empty() || !manifests.is_empty() {
        for h in &stray {
            s.delete_stray_body(project_id, h).await?;
        }
        for id in &manifests {
            s.delete_manifest(project_id, id).await?;
        }
        if !blobs.is_empty() {
            s.delete_blobs(&blobs).await?;
        }
        return Ok(PurgeStep::More(PurgePhase::Stray));
    }

    // Custom domains, a chunk per message: their routing records (the tombstone already
    // stopped them serving) and any Cloudflare for SaaS registrations go before the rows.
    match s.release_domains(project_id, chunks.domains).await? {
        ReleaseStep::More => return Ok(PurgeStep::More(PurgePhase::Domains)),
        ReleaseStep::Retry => return Ok(PurgeStep::DomainsPending),
        ReleaseStep::Done => {}
    }
    // Which deployment bound which KV namespace: the namespaces are the tenant's and stay, but
    // the rows would keep naming a project that is gone (and count it in access checks).
    if s.delete_resource_bindings(project_id, chunks.bindings).await? > 0 {
        return Ok(PurgeStep::More(PurgePhase::Bindings));
    }
    s.delete_project_tables(project_id).await?;
    // Last, the routing tombstone: until now it kept any delayed write from reviving the site.
    s.delete_route(&slug, project_id).await?;
    if provisional {
        s.delete_project_row(project_id).await?;
    } else {
        s.mark_purged(project_id, now).await?;
    }
    Ok(PurgeStep::Done)
}

/// The BLOBS prefixes the stray phase lists: large bodies, every per-project document, and the
/// resolved envs (`lifecycle::envs`; no row names them, so they only go here).
fn stray_blob_prefixes(project_id: &str) -> Vec<String> {
    use crate::keys::{blob_asset_prefix, env_prefix, BlobDoc};
    [blob_asset_prefix(project_id), env_prefix(project_id)]
        .into_iter()
        .chain(BlobDoc::ALL.map(|d| d.prefix(project_id)))
        .collect()
}

impl From<StoreError> for crate::error::ApiError {
    fn from(StoreError(detail): StoreError) -> Self {
        crate::error::ApiError::internal(detail)
    }
}

#[cfg(test)]
#[path = "purge_tests.rs"]
mod tests;
