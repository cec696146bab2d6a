//! D1 adapter for upload sessions (`upload_sessions`, `upload_session_files`) and the set of
//! hashes each project stores (`project_assets`). Progress is one row per hash, so concurrent
//! bucket uploads update disjoint rows and never lose each other's work.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::deploy::{json_chunks, EXPIRED_SESSIONS_CHUNK, HASHES_PER_STATEMENT, ROWS_PER_STATEMENT};
use crate::error::{ApiError, ApiResult};
use crate::lifecycle::{
    upload_guard, upload_may_store, GC_CLAIM_LEASE_MS, LEASE_END_SQL, LIVE_CLAIMS_SQL, PRESENT_SQL,
    RECLAIM_SQL, STORED_FOR_SESSION_SQL, STORE_BODY_CONFLICT, UPLOAD_GUARD_SQL,
};
use crate::platform::store::d1::{all_rows, database, db_err, num, placeholders, MAX_PARAMS};

#[derive(Debug, Clone, Deserialize)]
pub struct SessionRow {
    pub id: String,
    pub project_id: String,
    pub manifest_key: String,
    pub file_count: i64,
    pub unique_count: i64,
    pub missing_count: i64,
    pub expires_at: i64,
    /// Who opened the session (`root` or a token id).
    #[serde(default)]
    pub principal: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionFile {
    pub hash: String,
    pub size: i64,
    pub content_type: Option<String>,
    pub uploaded_at: Option<i64>,
    /// A raw upload part way through its pieces (`RawProgress` as JSON).
    #[serde(default)]
    pub raw_progress: Option<String>,
}

pub struct D1Uploads {
    db: D1Database,
}

#[derive(Deserialize)]
struct HashRow {
    hash: String,
}

#[derive(Deserialize)]
struct CountRow {
    n: i64,
}

impl D1Uploads {
    pub fn new(env: &Env) -> ApiResult<D1Uploads> {
        Ok(D1Uploads { db: database(env)? })
    }

    /// Which of `hashes` the project already stores so that a session may skip them (a row
    /// GC marked counts as missing: `lifecycle::counts_as_stored`), in one round trip: each statement takes
    /// up to `HASHES_PER_STATEMENT` hashes as one JSON-array parameter, so 100,000 hashes are
    /// 20 statements, not the 1,011 one-placeholder-per-hash statements D1's 1,000-query
    /// limit would refuse.
    pub async fn stored_hashes(&self, project_id: &str, hashes: &[&str]) -> ApiResult<BTreeSet<String>> {
        if hashes.is_empty() {
            return Ok(BTreeSet::new());
        }
        let mut stmts = Vec::new();
        for list in json_chunks(hashes, HASHES_PER_STATEMENT) {
            stmts.push(
                self.db
                    .prepare(STORED_FOR_SESSION_SQL)
                    .bind(&[project_id.into(), list.into()])
                    .map_err(db_err)?,
            );
        }
        let mut out = BTreeSet::new();
        for r in self.db.batch(stmts).await.map_err(db_err)? {
            out.extend(r.results::<HashRow>().map_err(db_err)?.into_iter().map(|r| r.hash));
        }
        Ok(out)
    }

    /// Clears GC's marks on `hashes` and says which of them have a row, in one batch (in order):
    /// what a deployment's validate and verify steps call so that no body it needs can be
    /// deleted from then on (`lifecycle::missing_after_reclaim` says why that suffices).
    pub async fn reclaim(&self, project_id: &str, hashes: &[&str]) -> ApiResult<BTreeSet<String>> {
        let mut stmts = Vec::new();
        for list in json_chunks(hashes, HASHES_PER_STATEMENT) {
            for sql in [RECLAIM_SQL, PRESENT_SQL] {
                stmts.push(
                    self.db.prepare(sql).bind(&[project_id.into(), list.as_str().into()]).map_err(db_err)?,
                );
            }
        }
        let mut out = BTreeSet::new();
        if stmts.is_empty() {
            return Ok(out);
        }
        for (i, r) in self.db.batch(stmts).await.map_err(db_err)?.into_iter().enumerate() {
            if i % 2 == 1 {
                out.extend(r.results::<HashRow>().map_err(db_err)?.into_iter().map(|r| r.hash));
            }
        }
        Ok(out)
    }

    /// An upload's lease on the bodies it is about to write (`(sha256, size)`), taken at `now`
    /// before any of them is written (`lifecycle::UPLOAD_GUARD_SQL`): GC claims none of them
    /// while it holds. While GC holds a live claim on one (it may be deleting that body right
    /// now), nothing is written and the upload answers 503 with `Retry-After`. One batch.
    pub async fn guard_store(&self, project_id: &str, files: &[(&str, i64)], now: i64) -> ApiResult<()> {
        #[derive(Deserialize)]
        struct Claim {
            deleting_at: i64,
        }
        let mut stmts = Vec::new();
        let live_after = num(now - GC_CLAIM_LEASE_MS);
        for list in json_chunks(files, HASHES_PER_STATEMENT) {
            let list: JsValue = list.into();
            stmts.push(
                self.db
                    .prepare(UPLOAD_GUARD_SQL)
                    .bind(&[project_id.into(), num(now), list.clone(), live_after.clone()])
                    .map_err(db_err)?,
            );
            stmts.push(
                self.db
                    .prepare(LIVE_CLAIMS_SQL)
                    .bind(&[project_id.into(), list, live_after.clone()])
                    .map_err(db_err)?,
            );
        }
        if stmts.is_empty() {
            return Ok(());
        }
        for (i, r) in self.db.batch(stmts).await.map_err(db_err)?.into_iter().enumerate() {
            if i % 2 == 0 {
                continue;
            }
            for c in r.results::<Claim>().map_err(db_err)? {
                if let Err(secs) = upload_guard(Some(c.deleting_at), now) {
                    return Err(busy(secs));
                }
            }
        }
        Ok(())
    }

    /// Creates a session and its per-hash progress rows in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_session(
        &self,
        session: &SessionRow,
        missing: &[(String, u64, Option<String>)],
        now: i64,
    ) -> ApiResult<()> {
        let mut stmts: Vec<D1PreparedStatement> = vec![self
            .db
            .prepare(
                "INSERT INTO upload_sessions (id, project_id, manifest_key, file_count, unique_count, \
                 missing_count, created_at, expires_at, principal) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .bind(&[
                session.id.as_str().into(),
                session.project_id.as_str().into(),
                session.manifest_key.as_str().into(),
                num(session.file_count),
                num(session.unique_count),
                num(session.missing_count),
                num(now),
                num(session.expires_at),
                session.principal.as_str().into(),
            ])
            .map_err(db_err)?];
        // Rows travel as one JSON parameter per statement ([hash, size, contentType]), at most
        // `ROWS_PER_STATEMENT` each: 100,000 missing files are 50 statements.
        for rows in json_chunks(missing, ROWS_PER_STATEMENT) {
            stmts.push(
                self.db
                    .prepare(
                        "INSERT INTO upload_session_files (session_id, hash, size, content_type) \
                         SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
                         json_extract(value, '$[2]') FROM json_each(?2)",
                    )
                    .bind(&[session.id.as_str().into(), rows.into()])
                    .map_err(db_err)?,
            );
        }
        self.db.batch(stmts).await.map_err(db_err)?;
        Ok(())
    }

    pub async fn session(&self, id: &str) -> ApiResult<Option<SessionRow>> {
        self.db
            .prepare(
                "SELECT id, project_id, manifest_key, file_count, unique_count, missing_count, expires_at \
                 FROM upload_sessions WHERE id = ?1",
            )
            .bind(&[id.into()])
            .map_err(db_err)?
            .first::<SessionRow>(None)
            .await
            .map_err(db_err)
    }

    /// The session's rows for `hashes` (absent hashes are not part of the session).
    pub async fn session_files(
        &self,
        session_id: &str,
        hashes: &[&str],
    ) -> ApiResult<BTreeMap<String, SessionFile>> {
        let mut stmts = Vec::new();
        for chunk in hashes.chunks(MAX_PARAMS - 1) {
            let sql = format!(
                "SELECT hash, size, content_type, uploaded_at, raw_progress FROM upload_session_files \
                 WHERE session_id = ?1 AND hash IN ({})",
                placeholders(2, chunk.len())
            );
            let mut args: Vec<JsValue> = vec![session_id.into()];
            args.extend(chunk.iter().map(|h| JsValue::from(*h)));
            stmts.push(self.db.prepare(sql).bind(&args).map_err(db_err)?);
        }
        let mut out = BTreeMap::new();
        if stmts.is_empty() {
            return Ok(out);
        }
        for r in self.db.batch(stmts).await.map_err(db_err)? {
            for f in r.results::<SessionFile>().map_err(db_err)? {
                out.insert(f.hash.clone(), f);
            }
        }
        Ok(out)
    }

    /// Sets (or with `None` clears) a session file's raw-upload progress.
    pub async fn set_raw_progress(
        &self,
        session_id: &str,
        hash: &str,
        progress: Option<&str>,
    ) -> ApiResult<()> {
        self.db
            .prepare("UPDATE upload_session_files SET raw_progress = ?3 WHERE session_id = ?1 AND hash = ?2")
            .bind(&[session_id.into(), hash.into(), progress.map(JsValue::from).unwrap_or(JsValue::NULL)])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Records stored hashes: marks them uploaded in the session and owned by the project, and
    /// clears GC's mark and any expired claim on them (the body was just written again). Only
    /// while the lease taken at `guarded_at` ([`Self::guard_store`]) still holds.
    pub async fn mark_uploaded(
        &self,
        session_id: &str,
        project_id: &str,
        files: &[(&str, i64)],
        guarded_at: i64,
        now: i64,
    ) -> ApiResult<()> {
        check_lease(guarded_at, now)?;
        let mut stmts = Vec::new();
        for chunk in files.chunks(MAX_PARAMS - 2) {
            let sql = format!(
                "UPDATE upload_session_files SET uploaded_at = ?2 WHERE session_id = ?1 AND hash IN ({})",
                placeholders(3, chunk.len())
            );
            let mut args: Vec<JsValue> = vec![session_id.into(), num(now)];
            args.extend(chunk.iter().map(|(h, _)| JsValue::from(*h)));
            stmts.push(self.db.prepare(sql).bind(&args).map_err(db_err)?);
        }
        for chunk in files.chunks((MAX_PARAMS - 2) / 2) {
            let rows: Vec<String> =
                (0..chunk.len()).map(|i| format!("(?1, ?{}, ?{}, ?2)", 3 + i * 2, 4 + i * 2)).collect();
            let sql = format!(
                "INSERT INTO project_assets (project_id, hash, size, created_at) VALUES {} {STORE_BODY_CONFLICT}",
                rows.join(", ")
            );
            let mut args: Vec<JsValue> = vec![project_id.into(), num(now)];
            for (h, size) in chunk {
                args.push((*h).into());
                args.push(num(*size));
            }
            stmts.push(self.db.prepare(sql).bind(&args).map_err(db_err)?);
        }
        let hashes: Vec<&str> = files.iter().map(|(h, _)| *h).collect();
        stmts.extend(self.lease_end(project_id, &hashes, guarded_at)?);
        if !stmts.is_empty() {
            self.db.batch(stmts).await.map_err(db_err)?;
        }
        Ok(())
    }

    /// The statements that give back an upload's lease taken at `guarded_at` on `hashes`
    /// (`lifecycle::LEASE_END_SQL`), to run in the batch that stores their rows.
    pub fn lease_end(
        &self,
        project_id: &str,
        hashes: &[&str],
        guarded_at: i64,
    ) -> ApiResult<Vec<D1PreparedStatement>> {
        json_chunks(hashes, HASHES_PER_STATEMENT)
            .into_iter()
            .map(|list| {
                self.db
                    .prepare(LEASE_END_SQL)
                    .bind(&[project_id.into(), num(guarded_at), list.into()])
                    .map_err(db_err)
            })
            .collect()
    }

    pub async fn remaining(&self, session_id: &str) -> ApiResult<i64> {
        let row = self
            .db
            .prepare("SELECT COUNT(*) AS n FROM upload_session_files WHERE session_id = ?1 AND uploaded_at IS NULL")
            .bind(&[session_id.into()])
            .map_err(db_err)?
            .first::<CountRow>(None)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| r.n).unwrap_or(0))
    }

    /// Expired sessions of a project (for cleanup): (id, manifest key).
    pub async fn expired(&self, project_id: &str, now: i64) -> ApiResult<Vec<(String, String)>> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
            manifest_key: String,
        }
        let rows: Vec<Row> = all_rows(
            self.db
                // A session a deployment still in the workflow names stays until it ends (the
                // sweep ends stuck ones), so a slow deploy never loses its manifest.
                .prepare(concat!(
                    "SELECT s.id, s.manifest_key FROM upload_sessions s WHERE s.project_id = ?1 \
                     AND s.expires_at < ?2 AND NOT EXISTS (SELECT 1 FROM deployments d \
                     WHERE d.upload_session_id = s.id AND d.status IN (",
                    crate::pending_sql!(),
                    ")) LIMIT ?3"
                ))
                .bind(&[project_id.into(), num(now), num(EXPIRED_SESSIONS_CHUNK as i64)]),
        )
        .await?;
        Ok(rows.into_iter().map(|r| (r.id, r.manifest_key)).collect())
    }

    /// Raw uploads part way through their pieces in these sessions: (hash, progress JSON).
    pub async fn pending_raw(&self, session_ids: &[String]) -> ApiResult<Vec<(String, String)>> {
        #[derive(Deserialize)]
        struct Row {
            hash: String,
            raw_progress: String,
        }
        let mut out = Vec::new();
        for list in json_chunks(session_ids, HASHES_PER_STATEMENT) {
            let rows: Vec<Row> = all_rows(
                self.db
                    .prepare(
                        "SELECT hash, raw_progress FROM upload_session_files \
                         WHERE session_id IN (SELECT value FROM json_each(?1)) AND raw_progress IS NOT NULL",
                    )
                    .bind(&[list.as_str().into()]),
            )
            .await?;
            out.extend(rows.into_iter().map(|r| (r.hash, r.raw_progress)));
        }
        Ok(out)
    }

    /// Deletes sessions and their progress rows: two statements per `HASHES_PER_STATEMENT`
    /// ids, not two per session.
    pub async fn delete_sessions(&self, ids: &[String]) -> ApiResult<()> {
        let mut stmts = Vec::new();
        for list in json_chunks(ids, HASHES_PER_STATEMENT) {
            for sql in [
                "DELETE FROM upload_session_files WHERE session_id IN (SELECT value FROM json_each(?1))",
                "DELETE FROM upload_sessions WHERE id IN (SELECT value FROM json_each(?1))",
            ] {
                stmts.push(self.db.prepare(sql).bind(&[list.as_str().into()]).map_err(db_err)?);
            }
        }
        if !stmts.is_empty() {
            self.db.batch(stmts).await.map_err(db_err)?;
        }
        Ok(())
    }
}

/// The retryable answer of an upload that met GC's claim on a body.
pub fn busy(retry_after_secs: u32) -> ApiError {
    ApiError::Busy {
        retry_after_secs,
        reason: "A file of this upload is being garbage-collected right now; send it again".into(),
    }
}

/// An upload records its bodies only while its lease holds (`lifecycle::upload_may_store`):
/// past it GC may have claimed one, so the upload is answered with a retryable error.
pub fn check_lease(guarded_at: i64, now: i64) -> ApiResult<()> {
    if upload_may_store(guarded_at, now) {
        Ok(())
    } else {
        Err(busy(1))
    }
}
