//! The cascade after a project is deleted (SPEC.md §3): asset bodies (ASSETS_KV, and BLOBS for
//! files over 25 MiB), deployment
//! manifests and finally the routing tombstone (ROUTES_KV), server bundles and upload manifests
//! (BLOBS), custom-domain `host:` records (ROUTES_KV) and Cloudflare for SaaS hostnames, and the
//! project's D1 rows. Storage is also listed by prefix, so bodies and blobs written before their
//! D1 rows (a failed insert) are found too. One queue message handles one bounded chunk (to stay
//! within per-invocation subrequest limits) and enqueues the next; every chunk is idempotent.
//! The project row stays as a tombstone so its slug can never be taken over by someone else.

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::deploy::LIST_CHUNK;
use crate::domain::ReleaseStep;
use crate::error::{ApiError, ApiResult};
use crate::keys::{asset_key, blob_asset_prefix, bundle_key, BlobDoc};
use crate::platform::serve::cache;
use crate::platform::store::d1::{database, db_err, placeholders, MAX_PARAMS};
use crate::platform::store::d1_uploads::D1Uploads;
use crate::platform::store::kv::{KvAssets, KvRoutes};
use crate::platform::store::r2::{AssetBodies, R2Blobs};

const ASSET_CHUNK: i64 = crate::deploy::PURGE_ASSET_CHUNK as i64;
const DEPLOYMENT_CHUNK: i64 = crate::deploy::PURGE_DEPLOYMENT_CHUNK as i64;
const SESSION_CHUNK: i64 = crate::deploy::PURGE_SESSION_CHUNK as i64;
const DOMAIN_CHUNK: usize = crate::deploy::PURGE_DOMAIN_CHUNK;

pub enum Progress {
    More,
    Done,
}

#[derive(Deserialize)]
struct Tombstone {
    slug: String,
    deleted_at: Option<i64>,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
struct Hash {
    hash: String,
    size: i64,
}

#[derive(Deserialize)]
struct Session {
    id: String,
    manifest_key: String,
}

/// Up to `limit` rows of one of the project's tables (`?1` = project id, `?2` = limit).
async fn chunk<T: serde::de::DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    pid: &JsValue,
    limit: i64,
) -> ApiResult<Vec<T>> {
    db.prepare(sql)
        .bind(&[pid.clone(), JsValue::from_f64(limit as f64)])
        .map_err(db_err)?
        .all()
        .await
        .map_err(db_err)?
        .results::<T>()
        .map_err(db_err)
}

pub async fn purge(env: &Env, project_id: &str) -> ApiResult<Progress> {
    let db = database(env)?;
    let pid: JsValue = project_id.into();
    let project = db
        .prepare("SELECT slug, deleted_at FROM projects WHERE id = ?1")
        .bind(std::slice::from_ref(&pid))
        .map_err(db_err)?
        .first::<Tombstone>(None)
        .await
        .map_err(db_err)?;
    // Never purge a live project, whatever a message says.
    let Some(Tombstone { slug, deleted_at: Some(_) }) = project else { return Ok(Progress::Done) };

    let rows = chunk::<Hash>(
        &db,
        "SELECT hash, size FROM project_assets WHERE project_id = ?1 LIMIT ?2",
        &pid,
        ASSET_CHUNK,
    )
    .await?;
    if !rows.is_empty() {
        let bodies = AssetBodies::new(env)?;
        for h in &rows {
            bodies.delete(project_id, &h.hash, h.size.max(0) as u64).await?;
            cache::forget_body(&asset_key(project_id, &h.hash));
        }
        let hashes: Vec<String> = rows.into_iter().map(|h| h.hash).collect();
        let mut stmts = Vec::new();
        for chunk in hashes.chunks(MAX_PARAMS - 1) {
            let sql = format!(
                "DELETE FROM project_assets WHERE project_id = ?1 AND hash IN ({})",
                placeholders(2, chunk.len())
            );
            let mut args = vec![pid.clone()];
            args.extend(chunk.iter().map(|h| JsValue::from(h.as_str())));
            stmts.push(db.prepare(sql).bind(&args).map_err(db_err)?);
        }
        db.batch(stmts).await.map_err(db_err)?;
        return Ok(Progress::More);
    }

    let deployments: Vec<String> =
        chunk::<Id>(&db, "SELECT id FROM deployments WHERE project_id = ?1 LIMIT ?2", &pid, DEPLOYMENT_CHUNK)
            .await?
            .into_iter()
            .map(|d| d.id)
            .collect();
    if !deployments.is_empty() {
        let (routes, blobs) = (KvRoutes::new(env)?, R2Blobs::new(env)?);
        let mut stmts = Vec::new();
        for id in &deployments {
            routes.delete_manifest(id).await?;
            cache::forget_deployment(id);
            blobs.delete(&bundle_key(project_id, id)).await?;
            for table in ["deployment_logs", "deployment_steps"] {
                let sql = format!("DELETE FROM {table} WHERE deployment_id = ?1");
                stmts.push(db.prepare(sql).bind(&[id.as_str().into()]).map_err(db_err)?);
            }
            stmts.push(
                db.prepare("DELETE FROM deployments WHERE id = ?1")
                    .bind(&[id.as_str().into()])
                    .map_err(db_err)?,
            );
        }
        db.batch(stmts).await.map_err(db_err)?;
        return Ok(Progress::More);
    }

    let sessions = chunk::<Session>(
        &db,
        "SELECT id, manifest_key FROM upload_sessions WHERE project_id = ?1 LIMIT ?2",
        &pid,
        SESSION_CHUNK,
    )
    .await?;
    if !sessions.is_empty() {
        let blobs = R2Blobs::new(env)?;
        blobs.delete_many(&sessions.iter().map(|s| s.manifest_key.clone()).collect::<Vec<_>>()).await?;
        let ids: Vec<String> = sessions.into_iter().map(|s| s.id).collect();
        D1Uploads::new(env)?.delete_sessions(&ids).await?;
        return Ok(Progress::More);
    }

    // Whatever D1 never knew about: bodies, bundles and upload manifests found by prefix.
    let kv = KvAssets::new(env)?;
    let stray = kv.list_hashes(project_id, ASSET_CHUNK as u64).await?;
    let blobs = R2Blobs::new(env)?;
    let mut stray_blobs = Vec::new();
    let prefixes = BlobDoc::ALL.map(|doc| doc.prefix(project_id));
    for prefix in std::iter::once(blob_asset_prefix(project_id)).chain(prefixes) {
        stray_blobs.extend(blobs.list(&prefix, LIST_CHUNK as u32).await?);
    }
    if !stray.is_empty() || !stray_blobs.is_empty() {
        for h in &stray {
            kv.delete(project_id, h).await?;
            cache::forget_body(&asset_key(project_id, h));
        }
        blobs.delete_many(&stray_blobs.into_iter().map(|(key, _)| key).collect::<Vec<_>>()).await?;
        return Ok(Progress::More);
    }

    // Custom domains, a chunk per message: their routing records (the tombstone already
    // stopped them serving) and any Cloudflare for SaaS registrations go before the rows that
    // name them; a failed SaaS delete keeps its row and fails the message, which is retried.
    let released = crate::platform::outbound::release_project_domains(env, project_id, DOMAIN_CHUNK).await;
    cache::forget_hosts();
    match released? {
        ReleaseStep::More => return Ok(Progress::More),
        ReleaseStep::Retry => {
            return Err(ApiError::Upstream {
                service: "the Cloudflare API",
                detail: "custom hostnames of the purged project not removed yet".into(),
            })
        }
        ReleaseStep::Done => {}
    }
    let stmts = vec![
        db.prepare("DELETE FROM aliases WHERE project_id = ?1")
            .bind(std::slice::from_ref(&pid))
            .map_err(db_err)?,
        db.prepare("DELETE FROM wrangler_assets WHERE project_id = ?1")
            .bind(std::slice::from_ref(&pid))
            .map_err(db_err)?,
        db.prepare("DELETE FROM project_secrets WHERE project_id = ?1")
            .bind(std::slice::from_ref(&pid))
            .map_err(db_err)?,
    ];
    db.batch(stmts).await.map_err(db_err)?;
    // Last, the routing tombstone: until now it kept any delayed write from reviving the site.
    let deleted = KvRoutes::new(env)?.delete_route(&slug, project_id).await;
    cache::forget_route(&[&slug, project_id]);
    deleted?;
    db.prepare("UPDATE projects SET purged_at = ?2, routed_generation = generation WHERE id = ?1")
        .bind(&[pid, JsValue::from_f64(crate::platform::bindings::now_ms() as f64)])
        .map_err(db_err)?
        .run()
        .await
        .map_err(db_err)?;
    Ok(Progress::Done)
}
