//! D1 adapters (binding `DB`): projects. SQL lives here and only here.
// Shared with the visitor-only build (`--features site`), which uses a part of it.
#![cfg_attr(feature = "site", allow(dead_code))]

use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::domain::{ListCursor, ProjectRow};
use crate::error::{ApiError, ApiResult};

use crate::platform::bindings;

pub(crate) fn db_err(e: worker::Error) -> ApiError {
    ApiError::internal(format!("D1: {e}"))
}

/// Runs a prepared (and bound) statement and deserialises every row: the binding errors of
/// each step mapped once.
pub(crate) async fn all_rows<T: serde::de::DeserializeOwned>(
    stmt: worker::Result<D1PreparedStatement>,
) -> ApiResult<Vec<T>> {
    stmt.map_err(db_err)?.all().await.map_err(db_err)?.results::<T>().map_err(db_err)
}

pub(crate) fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

pub(crate) fn opt_str(s: Option<&str>) -> JsValue {
    s.map(JsValue::from).unwrap_or(JsValue::NULL)
}

/// D1 allows at most 100 bound parameters per statement.
pub(crate) const MAX_PARAMS: usize = 100;

/// `?2, ?3, ...` placeholders for `n` values starting at parameter `first`.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

pub fn database(env: &Env) -> ApiResult<D1Database> {
    env.d1(bindings::DB).map_err(db_err)
}

const PROJECT_COLUMNS: &str = "id, slug, name, enabled, outbound, active_deployment_id, \
     has_server_code, assets_count, created_at, updated_at, auto_activate, preview_access, \
     skew_protection, skew_pin_secs, skew_depth, rollout";

pub struct D1Projects {
    db: D1Database,
}

/// Result of an insert attempt: slugs are random-suffixed, so a collision is retried.
pub enum Inserted {
    Ok,
    SlugTaken,
    /// `created_by` already has `limit` live projects.
    OverQuota,
}

impl D1Projects {
    pub fn new(env: &Env) -> ApiResult<D1Projects> {
        Ok(D1Projects { db: env.d1(bindings::DB).map_err(db_err)? })
    }

    /// Inserts unless `created_by` already has `limit` live projects (one statement, so two
    /// concurrent creates cannot both pass the count).
    pub async fn insert(
        &self,
        row: &ProjectRow,
        created_by: &str,
        limit: Option<u64>,
    ) -> ApiResult<Inserted> {
        let stmt = self
            .db
            .prepare(
                "INSERT INTO projects (id, slug, name, enabled, outbound, created_at, updated_at, created_by) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7 WHERE ?8 IS NULL OR \
                 (SELECT COUNT(*) FROM projects WHERE created_by = ?7 AND deleted_at IS NULL) < ?8",
            )
            .bind(&[
                row.id.as_str().into(),
                row.slug.as_str().into(),
                row.name.as_str().into(),
                num(row.enabled),
                row.outbound.as_str().into(),
                num(row.created_at),
                created_by.into(),
                limit.map(|n| num(n as i64)).unwrap_or(JsValue::NULL),
            ])
            .map_err(db_err)?;
        match stmt.run().await {
            Ok(r) if r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) == 0 => {
                Ok(Inserted::OverQuota)
            }
            Ok(_) => Ok(Inserted::Ok),
            Err(e) if e.to_string().contains("UNIQUE") && e.to_string().contains("slug") => {
                Ok(Inserted::SlugTaken)
            }
            Err(e) => Err(db_err(e)),
        }
    }

    /// A live (not deleted) project by id or slug.
    pub async fn get(&self, key: &str) -> ApiResult<Option<ProjectRow>> {
        let sql = format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE (id = ?1 OR slug = ?1) AND deleted_at IS NULL"
        );
        self.db
            .prepare(sql)
            .bind(&[key.to_ascii_lowercase().into()])
            .map_err(db_err)?
            .first::<ProjectRow>(None)
            .await
            .map_err(db_err)
    }

    /// Newest first; returns up to `limit` rows plus whether more exist. `only` (project ids)
    /// narrows the list to what a project-scoped token may see.
    pub async fn list(
        &self,
        limit: u32,
        after: Option<&ListCursor>,
        only: Option<&[String]>,
    ) -> ApiResult<(Vec<ProjectRow>, bool)> {
        let fetch = (limit + 1) as i64;
        let only = only.map(|ids| JsValue::from(serde_json::json!(ids).to_string())).unwrap_or(JsValue::NULL);
        let (created, id) = match after {
            Some(c) => (num(c.created_at), JsValue::from(c.id.as_str())),
            None => (JsValue::NULL, JsValue::NULL),
        };
        let stmt = self
            .db
            .prepare(format!(
                "SELECT {PROJECT_COLUMNS} FROM projects WHERE deleted_at IS NULL \
                 AND (?1 IS NULL OR created_at < ?1 OR (created_at = ?1 AND id < ?2)) \
                 AND (?4 IS NULL OR id IN (SELECT value FROM json_each(?4))) \
                 ORDER BY created_at DESC, id DESC LIMIT ?3"
            ))
            .bind(&[created, id, num(fetch), only])
            .map_err(db_err)?;
        let mut rows = stmt.all().await.map_err(db_err)?.results::<ProjectRow>().map_err(db_err)?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((rows, more))
    }

    /// Name, outbound and autoActivate. Bumps the generation so a concurrent swap re-reads the
    /// row and the routing record (which carries `outbound`) is re-published. `enabled` is not
    /// here: it changes what is served, so it goes through the lifecycle swap.
    #[allow(clippy::too_many_arguments)]
    pub async fn update(
        &self,
        id: &str,
        name: Option<&str>,
        outbound: Option<&str>,
        auto_activate: Option<bool>,
        preview_access: Option<&str>,
        skew: (Option<bool>, Option<u64>, Option<u64>),
        now: i64,
    ) -> ApiResult<()> {
        let int = |n: Option<u64>| n.map(|n| num(n as i64)).unwrap_or(JsValue::NULL);
        self.db
            .prepare(
                "UPDATE projects SET name = COALESCE(?2, name), outbound = COALESCE(?3, outbound), \
                 auto_activate = COALESCE(?4, auto_activate), generation = generation + 1, updated_at = ?5, \
                 preview_access = COALESCE(?6, preview_access), skew_protection = COALESCE(?7, skew_protection), \
                 skew_pin_secs = COALESCE(?8, skew_pin_secs), skew_depth = COALESCE(?9, skew_depth) \
                 WHERE id = ?1 AND deleted_at IS NULL",
            )
            .bind(&[
                id.into(),
                opt_str(name),
                opt_str(outbound),
                auto_activate.map(|b| num(b as i64)).unwrap_or(JsValue::NULL),
                num(now),
                opt_str(preview_access),
                skew.0.map(|b| num(b as i64)).unwrap_or(JsValue::NULL),
                int(skew.1),
                int(skew.2),
            ])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Marks a project `wrangler deploy` just created as provisional (see migration 0014).
    pub async fn mark_provisional(&self, id: &str) -> ApiResult<()> {
        self.exec("UPDATE projects SET provisional = 1 WHERE id = ?1", id).await
    }

    /// Its script upload was accepted: an ordinary project from now on.
    pub async fn settle(&self, id: &str) -> ApiResult<()> {
        self.exec("UPDATE projects SET provisional = 0 WHERE id = ?1 AND provisional = 1", id).await
    }

    /// The live provisional project with this slug that has no deployment, if any.
    pub async fn abandoned(&self, slug: &str) -> ApiResult<Option<String>> {
        #[derive(serde::Deserialize)]
        struct Id {
            id: String,
        }
        let row = self
            .db
            .prepare(
                "SELECT id FROM projects p WHERE slug = ?1 AND provisional = 1 AND deleted_at IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.project_id = p.id)",
            )
            .bind(&[slug.to_ascii_lowercase().into()])
            .map_err(db_err)?
            .first::<Id>(None)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| r.id))
    }

    async fn exec(&self, sql: &str, id: &str) -> ApiResult<()> {
        self.db.prepare(sql).bind(&[id.into()]).map_err(db_err)?.run().await.map_err(db_err)?;
        Ok(())
    }

    pub async fn ping(&self) -> ApiResult<()> {
        self.db.prepare("SELECT 1 AS ok").first::<serde_json::Value>(None).await.map_err(db_err)?;
        Ok(())
    }
}
