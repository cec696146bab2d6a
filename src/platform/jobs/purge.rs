//! The cascade after a project is deleted (SPEC.md §3), as decided by `lifecycle::purge_chunk`
//! (phases, order, heartbeat): this module implements its [`PurgeStore`] over D1 (`DB`),
//! ASSETS_KV, ROUTES_KV and BLOBS, and the visitor caches' invalidation. One queue message
//! handles one bounded chunk (within per-invocation subrequest limits) and enqueues the next.

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::deploy::{
    LIST_CHUNK, PURGE_ASSET_CHUNK, PURGE_DEPLOYMENT_CHUNK, PURGE_DOMAIN_CHUNK, PURGE_SESSION_CHUNK,
};
use crate::domain::ReleaseStep;
use crate::error::{ApiError, ApiResult};
use crate::keys::{asset_key, bundle_key};
use crate::lifecycle::{
    purge_chunk, PurgeChunks, PurgeStep, PurgeStore, PurgeTarget, StoreError, StoreResult,
};
use crate::platform::bindings::now_ms;
use crate::platform::serve::cache;
use crate::platform::store::d1::{all_rows, database, db_err, num, placeholders, MAX_PARAMS};
use crate::platform::store::d1_uploads::D1Uploads;
use crate::platform::store::kv::{KvAssets, KvRoutes};
use crate::platform::store::r2::{AssetBodies, R2Blobs};

const CHUNKS: PurgeChunks = PurgeChunks {
    assets: PURGE_ASSET_CHUNK,
    deployments: PURGE_DEPLOYMENT_CHUNK,
    sessions: PURGE_SESSION_CHUNK,
    list: LIST_CHUNK,
    domains: PURGE_DOMAIN_CHUNK,
    // One D1 statement whatever the count.
    bindings: 1000,
};

pub enum Progress {
    More,
    Done,
}

/// One chunk of the purge of `project_id`.
pub async fn purge(env: &Env, project_id: &str) -> ApiResult<Progress> {
    let store = D1Purge { env, db: database(env)? };
    match purge_chunk(&store, project_id, now_ms() as i64, &CHUNKS).await? {
        PurgeStep::More(_) => Ok(Progress::More),
        PurgeStep::Done | PurgeStep::NotDeleted => Ok(Progress::Done),
        PurgeStep::DomainsPending => Err(ApiError::Upstream {
            service: "the Cloudflare API",
            detail: "custom hostnames of the purged project not removed yet".into(),
        }),
    }
}

struct D1Purge<'e> {
    env: &'e Env,
    db: D1Database,
}

fn store_err(e: ApiError) -> StoreError {
    StoreError(e.log_detail())
}

#[derive(Deserialize)]
struct Tombstone {
    slug: String,
    deleted_at: Option<i64>,
    provisional: Option<i64>,
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

impl D1Purge<'_> {
    /// Up to `limit` rows of one of the project's tables (`?1` = project id, `?2` = limit).
    async fn chunk<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        pid: &str,
        limit: usize,
    ) -> ApiResult<Vec<T>> {
        all_rows(self.db.prepare(sql).bind(&[pid.into(), num(limit as i64)])).await
    }

    async fn run(&self, sql: &str, args: &[JsValue]) -> ApiResult<()> {
        self.db.prepare(sql).bind(args).map_err(db_err)?.run().await.map_err(db_err)?;
        Ok(())
    }
}

impl PurgeStore for D1Purge<'_> {
    async fn target(&self, project_id: &str) -> StoreResult<Option<PurgeTarget>> {
        let row = self
            .db
            .prepare("SELECT slug, deleted_at, provisional FROM projects WHERE id = ?1")
            .bind(&[project_id.into()])
            .map_err(db_err)
            .map_err(store_err)?
            .first::<Tombstone>(None)
            .await
            .map_err(|e| store_err(db_err(e)))?;
        Ok(row.map(|t| PurgeTarget {
            slug: t.slug,
            deleted: t.deleted_at.is_some(),
            provisional: t.provisional.unwrap_or(0) != 0,
        }))
    }

    async fn heartbeat(&self, project_id: &str, now: i64) -> StoreResult<()> {
        self.run("UPDATE projects SET purge_requested_at = ?2 WHERE id = ?1", &[project_id.into(), num(now)])
            .await
            .map_err(store_err)
    }

    async fn asset_rows(&self, project_id: &str, limit: usize) -> StoreResult<Vec<(String, u64)>> {
        let rows = self
            .chunk::<Hash>(
                "SELECT hash, size FROM project_assets WHERE project_id = ?1 LIMIT ?2",
                project_id,
                limit,
            )
            .await
            .map_err(store_err)?;
        Ok(rows.into_iter().map(|h| (h.hash, h.size.max(0) as u64)).collect())
    }

    async fn delete_body(&self, project_id: &str, hash: &str, size: u64) -> StoreResult<()> {
        let deleted = AssetBodies::new(self.env).map_err(store_err)?.delete(project_id, hash, size).await;
        cache::forget_body(&asset_key(project_id, hash));
        deleted.map_err(store_err)
    }

    async fn delete_asset_rows(&self, project_id: &str, hashes: &[String]) -> StoreResult<()> {
        let mut stmts = Vec::new();
        for chunk in hashes.chunks(MAX_PARAMS - 1) {
            let sql = format!(
                "DELETE FROM project_assets WHERE project_id = ?1 AND hash IN ({})",
                placeholders(2, chunk.len())
            );
            let mut args = vec![JsValue::from(project_id)];
            args.extend(chunk.iter().map(|h| JsValue::from(h.as_str())));
            stmts.push(self.db.prepare(sql).bind(&args).map_err(|e| store_err(db_err(e)))?);
        }
        self.db.batch(stmts).await.map_err(|e| store_err(db_err(e)))?;
        Ok(())
    }

    async fn deployment_ids(&self, project_id: &str, limit: usize) -> StoreResult<Vec<String>> {
        let rows = self
            .chunk::<Id>("SELECT id FROM deployments WHERE project_id = ?1 LIMIT ?2", project_id, limit)
            .await
            .map_err(store_err)?;
        Ok(rows.into_iter().map(|d| d.id).collect())
    }

    async fn delete_deployment_storage(&self, project_id: &str, deployment_id: &str) -> StoreResult<()> {
        self.delete_manifest(project_id, deployment_id).await?;
        R2Blobs::new(self.env)
            .map_err(store_err)?
            .delete(&bundle_key(project_id, deployment_id))
            .await
            .map_err(store_err)
    }

    async fn delete_deployment_rows(&self, ids: &[String]) -> StoreResult<()> {
        let mut stmts = Vec::new();
        for id in ids {
            for sql in [
                "DELETE FROM deployment_logs WHERE deployment_id = ?1",
                "DELETE FROM deployment_steps WHERE deployment_id = ?1",
                "DELETE FROM deployments WHERE id = ?1",
            ] {
                stmts.push(
                    self.db.prepare(sql).bind(&[id.as_str().into()]).map_err(|e| store_err(db_err(e)))?,
                );
            }
        }
        self.db.batch(stmts).await.map_err(|e| store_err(db_err(e)))?;
        Ok(())
    }

    async fn sessions(&self, project_id: &str, limit: usize) -> StoreResult<Vec<(String, String)>> {
        let rows = self
            .chunk::<Session>(
                "SELECT id, manifest_key FROM upload_sessions WHERE project_id = ?1 LIMIT ?2",
                project_id,
                limit,
            )
            .await
            .map_err(store_err)?;
        Ok(rows.into_iter().map(|s| (s.id, s.manifest_key)).collect())
    }

    async fn delete_sessions(&self, ids: &[String]) -> StoreResult<()> {
        D1Uploads::new(self.env).map_err(store_err)?.delete_sessions(ids).await.map_err(store_err)
    }

    async fn stray_bodies(&self, project_id: &str, limit: usize) -> StoreResult<Vec<String>> {
        KvAssets::new(self.env)
            .map_err(store_err)?
            .list_hashes(project_id, limit as u64)
            .await
            .map_err(store_err)
    }

    async fn delete_stray_body(&self, project_id: &str, hash: &str) -> StoreResult<()> {
        let deleted = KvAssets::new(self.env).map_err(store_err)?.delete(project_id, hash).await;
        cache::forget_body(&asset_key(project_id, hash));
        deleted.map_err(store_err)
    }

    async fn manifest_ids(&self, project_id: &str, limit: usize) -> StoreResult<Vec<String>> {
        KvRoutes::new(self.env)
            .map_err(store_err)?
            .manifest_ids(project_id, limit as u64)
            .await
            .map_err(store_err)
    }

    async fn delete_manifest(&self, project_id: &str, deployment_id: &str) -> StoreResult<()> {
        cache::forget_deployment(deployment_id);
        KvRoutes::new(self.env)
            .map_err(store_err)?
            .delete_manifest(project_id, deployment_id)
            .await
            .map_err(store_err)
    }

    async fn list_blobs(&self, prefix: &str, limit: usize) -> StoreResult<Vec<String>> {
        let listed = R2Blobs::new(self.env).map_err(store_err)?.list(prefix, limit as u32).await;
        Ok(listed.map_err(store_err)?.into_iter().map(|(key, _)| key).collect())
    }

    async fn delete_blobs(&self, keys: &[String]) -> StoreResult<()> {
        R2Blobs::new(self.env).map_err(store_err)?.delete_many(keys).await.map_err(store_err)
    }

    async fn release_domains(&self, project_id: &str, limit: usize) -> StoreResult<ReleaseStep> {
        let released = crate::platform::outbound::release_project_domains(self.env, project_id, limit).await;
        cache::forget_hosts();
        released.map_err(store_err)
    }

    async fn delete_resource_bindings(&self, project_id: &str, limit: usize) -> StoreResult<usize> {
        let r = self
            .db
            .prepare(
                "DELETE FROM resource_bindings WHERE rowid IN \
                 (SELECT rowid FROM resource_bindings WHERE project_id = ?1 LIMIT ?2)",
            )
            .bind(&[project_id.into(), num(limit as i64)])
            .map_err(|e| store_err(db_err(e)))?
            .run()
            .await
            .map_err(|e| store_err(db_err(e)))?;
        Ok(r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0))
    }

    async fn delete_project_tables(&self, project_id: &str) -> StoreResult<()> {
        let mut stmts = Vec::new();
        for sql in [
            "DELETE FROM aliases WHERE project_id = ?1",
            "DELETE FROM wrangler_assets WHERE project_id = ?1",
            "DELETE FROM project_secrets WHERE project_id = ?1",
            "DELETE FROM project_env WHERE project_id = ?1",
        ] {
            stmts.push(self.db.prepare(sql).bind(&[project_id.into()]).map_err(|e| store_err(db_err(e)))?);
        }
        self.db.batch(stmts).await.map_err(|e| store_err(db_err(e)))?;
        Ok(())
    }

    async fn delete_route(&self, slug: &str, project_id: &str) -> StoreResult<()> {
        let deleted = KvRoutes::new(self.env).map_err(store_err)?.delete_route(slug, project_id).await;
        cache::forget_route(&[slug, project_id]);
        deleted.map_err(store_err)
    }

    async fn delete_project_row(&self, project_id: &str) -> StoreResult<()> {
        self.run(
            "DELETE FROM projects WHERE id = ?1 AND provisional = 1 AND deleted_at IS NOT NULL",
            &[project_id.into()],
        )
        .await
        .map_err(store_err)
    }

    async fn mark_purged(&self, project_id: &str, now: i64) -> StoreResult<()> {
        self.run(
            "UPDATE projects SET purged_at = ?2, routed_generation = generation WHERE id = ?1",
            &[project_id.into(), num(now)],
        )
        .await
        .map_err(store_err)
    }
}
