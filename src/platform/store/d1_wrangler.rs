//! D1 adapter for the wrangler-compatible API (migration 0007): wrangler hash -> SHA-256 content
//! address per project, and encrypted project secrets. Binding: `DB`.

use std::collections::BTreeMap;

use serde::Deserialize;
use worker::{D1Database, Env};

use crate::deploy::{json_chunks, HASHES_PER_STATEMENT};
use crate::error::ApiResult;
use crate::lifecycle::{LEASE_END_SQL, STORE_BODY_SQL};
use crate::platform::store::d1::{database, db_err, num};

pub struct D1Wrangler {
    db: D1Database,
}

#[derive(Deserialize)]
struct MapRow {
    hash: String,
    sha256: String,
}

#[derive(Deserialize)]
pub struct SecretRow {
    pub name: String,
    pub ciphertext: String,
}

impl D1Wrangler {
    pub fn new(env: &Env) -> ApiResult<D1Wrangler> {
        Ok(D1Wrangler { db: database(env)? })
    }

    /// Wrangler hashes whose body the project still stores -> their SHA-256. With `for_session`
    /// a body GC marked counts as missing (`lifecycle::counts_as_stored`): a new session uploads
    /// it again rather than rely on it; the deploy itself then re-claims what it uses. A row GC
    /// claimed (or an upload's placeholder) never counts (`lifecycle::body_is_stored`).
    pub async fn known(
        &self,
        project_id: &str,
        hashes: &[&str],
        for_session: bool,
    ) -> ApiResult<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        if hashes.is_empty() {
            return Ok(out);
        }
        // One JSON-array parameter per statement: a 100,000-file deploy is 20 statements.
        let mut stmts = Vec::new();
        for list in json_chunks(hashes, HASHES_PER_STATEMENT) {
            // Joined with project_assets: a body GC has collected is missing again.
            stmts.push(
                self.db
                    .prepare(
                        "SELECT w.hash, w.sha256 FROM wrangler_assets w JOIN project_assets p \
                         ON p.project_id = w.project_id AND p.hash = w.sha256 \
                         WHERE w.project_id = ?1 AND w.hash IN (SELECT value FROM json_each(?2)) \
                         AND p.deleting_at IS NULL AND (?3 = 0 OR p.unreferenced_since IS NULL)",
                    )
                    .bind(&[project_id.into(), list.into(), num(i64::from(for_session))])
                    .map_err(db_err)?,
            );
        }
        for r in self.db.batch(stmts).await.map_err(db_err)? {
            out.extend(r.results::<MapRow>().map_err(db_err)?.into_iter().map(|r| (r.hash, r.sha256)));
        }
        Ok(out)
    }

    /// Records verified uploads: (wrangler hash, sha256, size). Also marks the bodies as owned
    /// by the project, as a native upload does, clearing GC's mark on them; only while the
    /// upload's lease taken at `guarded_at` holds (`d1_uploads::check_lease`).
    pub async fn record(
        &self,
        project_id: &str,
        rows: &[(String, String, i64)],
        guarded_at: i64,
        now: i64,
    ) -> ApiResult<()> {
        crate::platform::store::d1_uploads::check_lease(guarded_at, now)?;
        let mut stmts = Vec::new();
        for (hash, sha, size) in rows {
            stmts.push(
                self.db
                    .prepare(STORE_BODY_SQL)
                    .bind(&[project_id.into(), sha.as_str().into(), num(*size), num(now)])
                    .map_err(db_err)?,
            );
            stmts.push(
                self.db
                    .prepare(
                        "INSERT INTO wrangler_assets (project_id, hash, sha256, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                         ON CONFLICT (project_id, hash) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size",
                    )
                    .bind(&[project_id.into(), hash.as_str().into(), sha.as_str().into(), num(*size), num(now)])
                    .map_err(db_err)?,
            );
        }
        for list in json_chunks(
            &rows.iter().map(|(_, sha, _)| sha.as_str()).collect::<Vec<_>>(),
            HASHES_PER_STATEMENT,
        ) {
            stmts.push(
                self.db
                    .prepare(LEASE_END_SQL)
                    .bind(&[project_id.into(), num(guarded_at), list.into()])
                    .map_err(db_err)?,
            );
        }
        if !stmts.is_empty() {
            self.db.batch(stmts).await.map_err(db_err)?;
        }
        Ok(())
    }

    pub async fn secrets(&self, project_id: &str) -> ApiResult<Vec<SecretRow>> {
        let r = self
            .db
            .prepare("SELECT name, ciphertext FROM project_secrets WHERE project_id = ?1 ORDER BY name")
            .bind(&[project_id.into()])
            .map_err(db_err)?
            .all()
            .await
            .map_err(db_err)?;
        r.results::<SecretRow>().map_err(db_err)
    }

    pub async fn put_secrets(&self, project_id: &str, rows: &[(String, String)], now: i64) -> ApiResult<()> {
        let mut stmts = Vec::new();
        for (name, ct) in rows {
            stmts.push(
                self.db
                    .prepare(
                        "INSERT INTO project_secrets (project_id, name, ciphertext, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (project_id, name) DO UPDATE SET \
                         ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                    )
                    .bind(&[project_id.into(), name.as_str().into(), ct.as_str().into(), num(now)])
                    .map_err(db_err)?,
            );
        }
        if !stmts.is_empty() {
            self.db.batch(stmts).await.map_err(db_err)?;
        }
        Ok(())
    }

    /// Returns whether the secret existed.
    pub async fn delete_secret(&self, project_id: &str, name: &str) -> ApiResult<bool> {
        let r = self
            .db
            .prepare("DELETE FROM project_secrets WHERE project_id = ?1 AND name = ?2")
            .bind(&[project_id.into(), name.into()])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) > 0)
    }
}
