//! Retention and garbage collection for one project per run (asset bodies in ASSETS_KV, and in
//! BLOBS above 25 MiB, ROUTES_KV manifests, BLOBS bundles and upload manifests, D1 rows); the
//! cron trigger (`super::cron`) schedules it. Every part is bounded per run, idempotent and
//! resumable; the decisions are in `lifecycle`.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{Env, MessageExt, RawMessage};

use crate::deploy::{
    json_chunks, DeploymentManifest, RawProgress, UploadManifest, GC_COLLECT_CHUNK, GC_DELETE_CHUNK,
    GC_PAGES_PER_RUN, GC_PAGE_ROWS, HASHES_PER_STATEMENT, LIST_CHUNK, RAW_PART_BYTES,
};
use crate::error::{ApiError, ApiResult};
use crate::keys::{asset_key, bundle_key, BlobDoc};
use crate::lifecycle::{
    self, gc_bodies_to_delete, gc_delete_cutoff, gc_may_delete_body, hash_key, plan_gc, GcAction, Status,
    StoredAsset, GC_CLAIM_LEASE_MS, GC_CLAIM_SQL, GC_DELETE_SQL, GC_RELEASE_SQL, UPLOAD_LEASE_MS,
};
use crate::platform::bindings::{now_ms, var_or};
use crate::platform::http::log;
use crate::platform::serve::cache;
use crate::platform::serve::cache::LiveRoutes;
use crate::platform::store::d1::{all_rows, database, db_err, num};
use crate::platform::store::d1_lifecycle::D1Lifecycle;
use crate::platform::store::d1_uploads::D1Uploads;
use crate::platform::store::kv::KvRoutes;
use crate::platform::store::queue::{enqueue, GcJob, Job};
use crate::platform::store::r2::{AssetBodies, R2Blobs};

/// Bodies deleted per run (KV deletes are one subrequest each).
const DELETE_CHUNK: usize = GC_DELETE_CHUNK;
/// Expired deployments whose manifest and bundle are removed per run.
const COLLECT_CHUNK: i64 = GC_COLLECT_CHUNK as i64;

pub(super) fn var_ms(env: &Env, name: &str, default: i64) -> i64 {
    var_or(env, name, "").parse::<i64>().ok().filter(|v| *v >= 0).unwrap_or(default)
}

/// `RETAIN_COMPLETED` (default 20): ready deployments kept besides the active and aliased ones.
fn retain(env: &Env) -> usize {
    var_ms(env, "RETAIN_COMPLETED", 20) as usize
}

/// `GC_GRACE_MS` (default 24 h): how long a body stays unreferenced before it is deleted.
fn grace(env: &Env) -> i64 {
    var_ms(env, "GC_GRACE_MS", 24 * 3600 * 1000)
}

/// `GC_PAGE_ROWS` (default and most [`GC_PAGE_ROWS`]): `project_assets` rows per query.
fn page_rows(env: &Env) -> usize {
    (var_ms(env, "GC_PAGE_ROWS", GC_PAGE_ROWS as i64) as usize).clamp(1, GC_PAGE_ROWS)
}

/// What one GC run did (the API returns it; the queue logs it).
#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    pub expired: usize,
    pub collected: usize,
    pub marked: usize,
    pub unmarked: usize,
    pub deleted: usize,
    pub orphans: usize,
    pub more: bool,
    /// Where the next run continues through the stored bodies (`more` is then true); `None`
    /// once this run reached the last one.
    pub next: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Id {
    pub(super) id: String,
}

#[derive(Deserialize)]
struct Ready {
    id: String,
    status: String,
    manifest_key: Option<String>,
}

#[derive(Deserialize)]
struct AssetRow {
    hash: String,
    size: i64,
    created_at: i64,
    unreferenced_since: Option<i64>,
}

/// One GC run for a project; `after` continues an earlier run's walk through the stored bodies
/// (its report's `next`).
pub async fn collect(env: &Env, project_id: &str, after: Option<&str>) -> ApiResult<GcReport> {
    let now = now_ms() as i64;
    let db = database(env)?;
    let pid: JsValue = project_id.into();
    let (store, live) = (D1Lifecycle::new(env)?, LiveRoutes::new(env)?);
    let expired_now = lifecycle::expire_old(&store, &live, project_id, retain(env), now).await?.len();
    let mut report = GcReport { expired: expired_now, ..GcReport::default() };

    // Expired deployments lose their manifest and bundle (their previews stop serving), and so
    // do failed ones once the grace period has passed: their rows stay as history, but nothing
    // can ever serve or activate them, so what they staged is dead weight.
    let routes = &live.0;
    let blobs = R2Blobs::new(env)?;
    let expired = db
        .prepare(
            "SELECT id FROM deployments WHERE project_id = ?1 AND collected_at IS NULL \
             AND (status = 'expired' OR (status = 'failed' AND updated_at < ?3)) LIMIT ?2",
        )
        .bind(&[pid.clone(), num(COLLECT_CHUNK), num(now - grace(env))])
        .map_err(db_err)?
        .all()
        .await
        .map_err(db_err)?
        .results::<Id>()
        .map_err(db_err)?;
    for d in &expired {
        routes.delete_manifest(project_id, &d.id).await?;
        cache::forget_deployment(&d.id);
        blobs.delete(&bundle_key(project_id, &d.id)).await?;
        db.prepare("UPDATE deployments SET collected_at = ?2 WHERE id = ?1")
            .bind(&[d.id.as_str().into(), num(now)])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
    }
    report.collected = expired.len();

    // Every hash a kept or pending deployment, or a live upload session, names; then the
    // stored bodies page by page (keyset by hash, from `after`), so a run holds one page of
    // rows whatever the project's size.
    let referenced = referenced_hashes(env, project_id, now).await?;
    let is_referenced = |h: &str| hash_key(h).is_none_or(|k| referenced.contains(&k));
    let (page, grace) = (page_rows(env), grace(env));
    let mut cursor = after.unwrap_or_default().to_string();
    let mut delete: Vec<(String, u64)> = Vec::new();
    for pages in 1.. {
        let rows: Vec<AssetRow> = all_rows(
            db.prepare(
                "SELECT hash, size, created_at, unreferenced_since FROM project_assets \
                 WHERE project_id = ?1 AND hash > ?2 ORDER BY hash LIMIT ?3",
            )
            .bind(&[pid.clone(), cursor.as_str().into(), num(page as i64)]),
        )
        .await?;
        let last_page = rows.len() < page;
        if let Some(last) = rows.last() {
            cursor.clone_from(&last.hash);
        }
        // Where each body lives (KV up to 25 MiB, BLOBS above) follows from its size.
        let sizes: std::collections::HashMap<&str, u64> =
            rows.iter().map(|a| (a.hash.as_str(), a.size.max(0) as u64)).collect();
        let stored: Vec<StoredAsset> = rows
            .iter()
            .map(|a| StoredAsset {
                hash: a.hash.clone(),
                created_at: a.created_at,
                unreferenced_since: a.unreferenced_since,
            })
            .collect();
        let (mut mark, mut unmark) = (Vec::new(), Vec::new());
        for action in plan_gc(&stored, is_referenced, now, grace) {
            match action {
                GcAction::Mark(h) => mark.push(h),
                GcAction::Unmark(h) => unmark.push(h),
                GcAction::Delete(h) => {
                    let size = sizes.get(h.as_str()).copied().unwrap_or(0);
                    delete.push((h, size));
                }
            }
        }
        set_mark(&db, &pid, &mark, Some(now)).await?;
        set_mark(&db, &pid, &unmark, None).await?;
        report.marked += mark.len();
        report.unmarked += unmark.len();
        if delete.len() > DELETE_CHUNK {
            // Deletions come in hash order: the next run starts after the last one done here
            // (the rest of this page's marks were applied; seeing them again changes nothing).
            delete.truncate(DELETE_CHUNK);
            report.next = delete.last().map(|(h, _)| h.clone());
            break;
        }
        if last_page {
            break;
        }
        if delete.len() == DELETE_CHUNK || pages >= GC_PAGES_PER_RUN {
            report.next = Some(cursor.clone());
            break;
        }
    }
    report.more = report.next.is_some();
    // Claim, bodies, rows (`lifecycle::GC_CLAIM_SQL` says why, with the interleavings): only
    // rows still marked before the cut-off and not being stored by an upload are claimed; a
    // claimed row counts as missing; bodies are deleted only under the claim and only in its
    // first half; then the rows of deleted bodies go and the rest are given back. A failure in
    // between leaves claimed rows: missing until an upload stores the body again or the next
    // run, after the lease, claims and deletes them.
    let hashes: Vec<&str> = delete.iter().map(|(h, _)| h.as_str()).collect();
    let cutoff = gc_delete_cutoff(now, grace);
    let claim_at = now_ms() as i64;
    #[derive(Deserialize)]
    struct Hash {
        hash: String,
    }
    let mut claimed = std::collections::BTreeSet::new();
    for list in json_chunks(&hashes, HASHES_PER_STATEMENT) {
        let rows: Vec<Hash> = all_rows(db.prepare(GC_CLAIM_SQL).bind(&[
            pid.clone(),
            num(claim_at),
            num(cutoff),
            num(claim_at - GC_CLAIM_LEASE_MS),
            num(claim_at - UPLOAD_LEASE_MS),
            list.into(),
        ]))
        .await?;
        claimed.extend(rows.into_iter().map(|g| g.hash));
    }
    let bodies = AssetBodies::new(env)?;
    let (mut gone, mut untouched) = (Vec::new(), Vec::new());
    for (h, size) in gc_bodies_to_delete(&delete, &claimed) {
        if !gc_may_delete_body(claim_at, now_ms() as i64) {
            untouched.push(h);
            continue;
        }
        bodies.delete(project_id, &h, size).await?;
        cache::forget_body(&asset_key(project_id, &h));
        gone.push(h);
    }
    for list in json_chunks(&gone, HASHES_PER_STATEMENT) {
        let rows: Vec<Hash> =
            all_rows(db.prepare(GC_DELETE_SQL).bind(&[pid.clone(), num(claim_at), list.into()])).await?;
        report.deleted += rows.len();
    }
    for list in json_chunks(&untouched, HASHES_PER_STATEMENT) {
        db.prepare(GC_RELEASE_SQL)
            .bind(&[pid.clone(), num(claim_at), list.into()])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
    }
    // Bodies given back stay marked: a later walk plans them again.

    // Expired upload sessions, and blobs written before a D1 row that never came.
    let sessions = remove_expired_sessions(env, project_id, now).await?;
    report.orphans = sessions + orphan_blobs(env, project_id, now, grace).await?;

    stamp(&db, "gc_at", project_id, now).await?;
    Ok(report)
}

/// Removes a bounded batch of a project's expired upload sessions: their manifests, their rows,
/// and the R2 multipart uploads of large files left between pieces (aborted, so no invisible
/// parts wait for R2's own expiry). Returns how many sessions went. The deployment workflow's
/// cleanup step and GC both call it.
pub async fn remove_expired_sessions(env: &Env, project_id: &str, now: i64) -> ApiResult<usize> {
    let uploads = D1Uploads::new(env)?;
    let sessions = uploads.expired(project_id, now).await?;
    if sessions.is_empty() {
        return Ok(0);
    }
    let blobs = R2Blobs::new(env)?;
    let ids: Vec<String> = sessions.iter().map(|(id, _)| id.clone()).collect();
    for (hash, progress) in uploads.pending_raw(&ids).await?.into_iter().take(LIST_CHUNK) {
        if let Some((p, _)) = RawProgress::parse(Some(&progress), RAW_PART_BYTES as u64) {
            blobs.abort_asset_upload(project_id, &hash, p.upload_id).await;
        }
    }
    blobs.delete_many(&sessions.iter().map(|(_, key)| key.clone()).collect::<Vec<_>>()).await?;
    uploads.delete_sessions(&ids).await?;
    Ok(sessions.len())
}

/// Records when a project was last scheduled or collected (`column` is one of ours, never input).
pub(super) async fn stamp(
    db: &worker::D1Database,
    column: &'static str,
    project_id: &str,
    now: i64,
) -> ApiResult<()> {
    db.prepare(format!("UPDATE projects SET {column} = ?2 WHERE id = ?1"))
        .bind(&[project_id.into(), num(now)])
        .map_err(db_err)?
        .run()
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Marks or unmarks `hashes`, up to `HASHES_PER_STATEMENT` per statement (one JSON-array
/// parameter): a 100,000-file deployment replaced by another is 20 statements, not 1,021.
async fn set_mark(
    db: &worker::D1Database,
    pid: &JsValue,
    hashes: &[String],
    at: Option<i64>,
) -> ApiResult<()> {
    for list in json_chunks(hashes, HASHES_PER_STATEMENT) {
        db.prepare(
            "UPDATE project_assets SET unreferenced_since = ?2 WHERE project_id = ?1 \
             AND hash IN (SELECT value FROM json_each(?3))",
        )
        .bind(&[pid.clone(), at.map(num).unwrap_or(JsValue::NULL), list.into()])
        .map_err(db_err)?
        .run()
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

/// Hashes still needed: staged manifests of ready deployments, upload manifests of pending
/// deployments and of live upload sessions no deployment has used yet. Any manifest that cannot be read aborts the run
/// (deleting on a partial view could remove something a kept deployment needs).
async fn referenced_hashes(env: &Env, project_id: &str, now: i64) -> ApiResult<HashSet<[u8; 32]>> {
    let db = database(env)?;
    let rows = db
        .prepare(concat!(
            "SELECT id, status, json_extract(config, '$.manifestKey') AS manifest_key FROM deployments \
             WHERE project_id = ?1 AND status IN (",
            crate::pending_sql!(),
            ", ",
            crate::ready_sql!(),
            ")"
        ))
        .bind(&[project_id.into()])
        .map_err(db_err)?
        .all()
        .await
        .map_err(db_err)?
        .results::<Ready>()
        .map_err(db_err)?;
    let routes = KvRoutes::new(env)?;
    let blobs = R2Blobs::new(env)?;
    let mut out = HashSet::new();
    let mut upload_keys: Vec<String> = Vec::new();
    for d in rows {
        if Status::parse(&d.status).is_some_and(|s| !s.is_terminal()) {
            upload_keys.extend(d.manifest_key);
            continue;
        }
        let text = routes.manifest_text(project_id, &d.id).await?.ok_or_else(|| {
            ApiError::internal(format!("GC: manifest of kept deployment {} is missing", d.id))
        })?;
        let m = DeploymentManifest::decode(text)
            .map_err(|e| ApiError::internal(format!("GC: manifest {}: {e}", d.id)))?;
        out.extend(m.files.iter().filter_map(|(_, f)| hash_key(f.hash)));
    }
    #[derive(Deserialize)]
    struct Key {
        manifest_key: String,
    }
    let live = db
        // A session a deployment already consumed is covered by that deployment; reusing its
        // token later for a second deploy after GC fails cleanly at validate ("files missing").
        .prepare(
            "SELECT manifest_key FROM upload_sessions s WHERE project_id = ?1 AND expires_at > ?2 \
             AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.upload_session_id = s.id)",
        )
        .bind(&[project_id.into(), num(now)])
        .map_err(db_err)?
        .all()
        .await
        .map_err(db_err)?
        .results::<Key>()
        .map_err(db_err)?;
    upload_keys.extend(live.into_iter().map(|k| k.manifest_key));
    for key in upload_keys {
        // A pending deployment's session manifest may be gone once the session expired; its
        // files were then all stored and are named by project_assets' young-body grace.
        if let Some(m) = blobs.get_json::<UploadManifest>(&key).await? {
            out.extend(m.values().filter_map(|e| hash_key(&e.hash)));
        }
    }
    Ok(out)
}

/// Bundles, upload manifests and large asset bodies in BLOBS with no D1 row (written first, then
/// the row insert failed), older than the grace period, and wrangler session manifests no token
/// can name any more. Returns how many were deleted.
async fn orphan_blobs(env: &Env, project_id: &str, now: i64, grace: i64) -> ApiResult<usize> {
    let before = now - grace;
    #[derive(Deserialize)]
    struct Found {
        id: String,
    }
    let blobs = R2Blobs::new(env)?;
    let db = database(env)?;
    let mut deleted = 0;
    for (doc, table) in [(BlobDoc::Bundle, "deployments"), (BlobDoc::UploadManifest, "upload_sessions")] {
        // (id, key) of each old enough blob; one query says which ids still have a row, and
        // one bulk delete removes the rest (not one query and one delete per blob).
        let old: Vec<(String, String)> = blobs
            .list(&doc.prefix(project_id), LIST_CHUNK as u32)
            .await?
            .into_iter()
            .filter(|(_, uploaded)| *uploaded <= before)
            .filter_map(|(key, _)| Some((doc.id_of(project_id, &key)?.to_string(), key)))
            .collect();
        if old.is_empty() {
            continue;
        }
        let ids: Vec<&str> = old.iter().map(|(id, _)| id.as_str()).collect();
        let mut live = HashSet::new();
        for list in json_chunks(&ids, HASHES_PER_STATEMENT) {
            let sql = format!("SELECT id FROM {table} WHERE id IN (SELECT value FROM json_each(?1))");
            let rows = db
                .prepare(sql)
                .bind(&[list.into()])
                .map_err(db_err)?
                .all()
                .await
                .map_err(db_err)?
                .results::<Found>()
                .map_err(db_err)?;
            live.extend(rows.into_iter().map(|r| r.id));
        }
        let orphans: Vec<String> =
            old.into_iter().filter(|(id, _)| !live.contains(id)).map(|(_, key)| key).collect();
        blobs.delete_many(&orphans).await?;
        deleted += orphans.len();
    }
    // Wrangler session manifests whose deploy never came (a deploy deletes its own at once).
    let span = crate::auth::session_span_ms(crate::platform::bindings::token_ttl_secs(env));
    let dead_before = lifecycle::wrangler_manifest_cutoff(now, grace, span);
    let dead: Vec<String> = blobs
        .list(&BlobDoc::WranglerManifest.prefix(project_id), LIST_CHUNK as u32)
        .await?
        .into_iter()
        .filter(|(_, uploaded)| *uploaded < dead_before)
        .map(|(key, _)| key)
        .collect();
    blobs.delete_many(&dead).await?;
    deleted += dead.len();
    // Large bodies (> 25 MiB) stored by a raw upload whose project_assets row never came: one
    // query says which of the listed ones have a row.
    let old: Vec<String> = blobs
        .list_asset_hashes(project_id, LIST_CHUNK as u32)
        .await?
        .into_iter()
        .filter(|(_, uploaded)| *uploaded <= before)
        .map(|(hash, _)| hash)
        .collect();
    let mut live = HashSet::new();
    for list in json_chunks(&old, HASHES_PER_STATEMENT) {
        let rows: Vec<Found> = all_rows(
            db.prepare(
                "SELECT hash AS id FROM project_assets WHERE project_id = ?1 \
                 AND hash IN (SELECT value FROM json_each(?2))",
            )
            .bind(&[project_id.into(), list.into()]),
        )
        .await?;
        live.extend(rows.into_iter().map(|r| r.id));
    }
    for hash in old.iter().filter(|h| !live.contains(*h)) {
        blobs.delete_asset(project_id, hash).await?;
        deleted += 1;
    }
    Ok(deleted)
}

/// A GC job from the queue; a run that left deletions enqueues the next.
pub async fn handle(env: &Env, job: &GcJob, dead_letter: bool, msg: &RawMessage) {
    if dead_letter {
        log("error", &job.project_id, json!({ "msg": "GC gave up for now; the next cron run retries" }));
        msg.ack();
        return;
    }
    match collect(env, &job.project_id, job.after.as_deref()).await {
        Ok(report) => {
            log("info", &job.project_id, json!({ "msg": "gc", "report": report }));
            let next = GcJob { project_id: job.project_id.clone(), after: report.next.clone() };
            if report.more && enqueue(env, &Job::Gc(next)).await.is_err() {
                msg.retry();
                return;
            }
            msg.ack();
        }
        Err(e) => {
            log("warn", &job.project_id, json!({ "msg": "gc failed; will retry", "error": e.log_detail() }));
            msg.retry();
        }
    }
}
