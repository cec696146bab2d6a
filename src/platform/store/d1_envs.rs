//! D1 adapter for environments (migration 0021, `lifecycle::envs`): the `project_env` rows and
//! the project's `env_refs` / `bypass_hash` columns. Binding: `DB`.

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::error::{ApiError, ApiResult};
use crate::lifecycle::envs::{Entry, Kind, Scope};
use crate::platform::store::d1::{database, db_err, num};

pub struct D1Envs {
    db: D1Database,
}

#[derive(Deserialize)]
struct Row {
    scope: String,
    name: String,
    kind: String,
    value: String,
    updated_at: i64,
}

impl D1Envs {
    pub fn new(env: &Env) -> ApiResult<D1Envs> {
        Ok(D1Envs { db: database(env)? })
    }

    /// Every entry of the project with its `updated_at`, by scope and name.
    pub async fn entries(&self, project_id: &str) -> ApiResult<Vec<(Entry, i64)>> {
        let rows = self
            .db
            .prepare(
                "SELECT scope, name, kind, value, updated_at FROM project_env WHERE project_id = ?1 \
                 ORDER BY scope, name",
            )
            .bind(&[project_id.into()])
            .map_err(db_err)?
            .all()
            .await
            .map_err(db_err)?
            .results::<Row>()
            .map_err(db_err)?;
        rows.into_iter()
            .map(|r| {
                let scope = Scope::parse(&r.scope);
                let kind = Kind::parse(&r.kind);
                match (scope, kind) {
                    (Some(scope), Some(kind)) => {
                        Ok((Entry { scope, name: r.name, kind, value: r.value }, r.updated_at))
                    }
                    _ => {
                        Err(ApiError::internal(format!("project_env row {}/{} unreadable", r.scope, r.name)))
                    }
                }
            })
            .collect()
    }

    /// Inserts or replaces the entry of that scope and name.
    pub async fn put(&self, project_id: &str, e: &Entry, now: i64) -> ApiResult<()> {
        let scope = e.scope.as_string();
        self.db
            .prepare(
                "INSERT INTO project_env (project_id, scope, name, kind, value, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (project_id, scope, name) DO UPDATE SET \
                 kind = excluded.kind, value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(&[
                project_id.into(),
                scope.as_str().into(),
                e.name.as_str().into(),
                e.kind.as_str().into(),
                e.value.as_str().into(),
                num(now),
            ])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Whether the entry existed.
    pub async fn delete(&self, project_id: &str, scope: &Scope, name: &str) -> ApiResult<bool> {
        let r = self
            .db
            .prepare("DELETE FROM project_env WHERE project_id = ?1 AND scope = ?2 AND name = ?3")
            .bind(&[project_id.into(), scope.as_string().into(), name.into()])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) > 0)
    }

    /// Stores what the routing record carries (`env_refs` JSON), bumping the generation so the
    /// record is republished.
    pub async fn set_refs(&self, project_id: &str, refs_json: &str, now: i64) -> ApiResult<()> {
        self.update(
            "UPDATE projects SET env_refs = ?2, generation = generation + 1, updated_at = ?3 \
             WHERE id = ?1 AND deleted_at IS NULL",
            project_id,
            refs_json.into(),
            now,
        )
        .await
    }

    /// Sets (`Some(hash)`) or removes the bypass token, bumping the generation.
    pub async fn set_bypass(&self, project_id: &str, hash: Option<&str>, now: i64) -> ApiResult<()> {
        let hash = hash.map(JsValue::from).unwrap_or(JsValue::NULL);
        self.update(
            "UPDATE projects SET bypass_hash = ?2, generation = generation + 1, updated_at = ?3 \
             WHERE id = ?1 AND deleted_at IS NULL",
            project_id,
            hash,
            now,
        )
        .await
    }

    async fn update(&self, sql: &str, project_id: &str, value: JsValue, now: i64) -> ApiResult<()> {
        self.db
            .prepare(sql)
            .bind(&[project_id.into(), value, num(now)])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
