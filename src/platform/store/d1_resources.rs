//! D1 adapter for tenant storage resources (`resources`, `resource_bindings`; migration 0015).
//! Who reaches a row is `ResourceScope` (src/domain/resource.rs); the queries apply it.

use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use super::d1::{all_rows, db_err, num};
use crate::domain::{ListCursor, ResourceRow, ResourceScope};
use crate::error::ApiResult;
use crate::platform::bindings;

const COLUMNS: &str = "id, kind, title, created_by, created_at";

/// `ResourceScope` in SQL: `?a` = 1 for all, `?c` the creator, `?p` the projects (JSON array).
fn scope_sql(a: usize, c: usize, p: usize) -> String {
    format!(
        "(?{a} = 1 OR created_by = ?{c} OR id IN (SELECT resource_id FROM resource_bindings \
         WHERE project_id IN (SELECT value FROM json_each(?{p}))))"
    )
}

fn scope_params(scope: &ResourceScope) -> [JsValue; 3] {
    let (all, creator, projects) = scope.sql_params();
    [num(all as i64), creator.into(), projects.into()]
}

pub struct D1Resources {
    db: D1Database,
}

/// An insert's outcome: the title is unique per kind and creator among live rows.
pub enum Created {
    Ok,
    TitleTaken,
}

#[derive(serde::Deserialize)]
struct Bound {
    project_id: String,
}

#[derive(serde::Deserialize)]
struct Count {
    n: i64,
}

impl D1Resources {
    pub fn new(env: &Env) -> ApiResult<D1Resources> {
        Ok(D1Resources { db: env.d1(bindings::DB).map_err(db_err)? })
    }

    pub async fn insert(&self, row: &ResourceRow) -> ApiResult<Created> {
        let stmt = self
            .db
            .prepare(
                "INSERT INTO resources (id, kind, title, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(&[
                row.id.as_str().into(),
                row.kind.as_str().into(),
                row.title.as_str().into(),
                row.created_by.as_str().into(),
                num(row.created_at),
            ])
            .map_err(db_err)?;
        match stmt.run().await {
            Ok(_) => Ok(Created::Ok),
            Err(e) if e.to_string().contains("UNIQUE") => Ok(Created::TitleTaken),
            Err(e) => Err(db_err(e)),
        }
    }

    /// A live resource of `kind` that `scope` reaches.
    pub async fn get(&self, kind: &str, id: &str, scope: &ResourceScope) -> ApiResult<Option<ResourceRow>> {
        let [a, c, p] = scope_params(scope);
        let sql = format!(
            "SELECT {COLUMNS} FROM resources WHERE id = ?1 AND kind = ?2 AND deleted_at IS NULL AND {}",
            scope_sql(3, 4, 5)
        );
        let rows: Vec<ResourceRow> =
            all_rows(self.db.prepare(sql).bind(&[id.into(), kind.into(), a, c, p])).await?;
        Ok(rows.into_iter().next())
    }

    /// Newest first, up to `limit` rows plus whether more exist.
    pub async fn list(
        &self,
        kind: &str,
        limit: u32,
        after: Option<&ListCursor>,
        scope: &ResourceScope,
    ) -> ApiResult<(Vec<ResourceRow>, bool)> {
        let [a, c, p] = scope_params(scope);
        let (created, id) = match after {
            Some(cur) => (num(cur.created_at), JsValue::from(cur.id.as_str())),
            None => (JsValue::NULL, JsValue::NULL),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM resources WHERE kind = ?1 AND deleted_at IS NULL \
             AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3)) AND {} \
             ORDER BY created_at DESC, id DESC LIMIT ?4",
            scope_sql(5, 6, 7)
        );
        let mut rows: Vec<ResourceRow> =
            all_rows(self.db.prepare(sql).bind(&[kind.into(), created, id, num(limit as i64 + 1), a, c, p]))
                .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((rows, more))
    }

    /// Live resources of `kind` created by `creator` (never another's, whatever the caller may
    /// reach), by title: what wrangler lists to find a namespace by title. `offset` pages.
    pub async fn list_own(
        &self,
        kind: &str,
        creator: &str,
        limit: u32,
        offset: u32,
    ) -> ApiResult<Vec<ResourceRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM resources WHERE kind = ?1 AND created_by = ?2 AND deleted_at IS NULL \
             ORDER BY title, id LIMIT ?3 OFFSET ?4"
        );
        all_rows(self.db.prepare(sql).bind(&[
            kind.into(),
            creator.into(),
            num(limit as i64),
            num(offset as i64),
        ]))
        .await
    }

    /// The caller's own live resource of `kind` titled `title` (what wrangler resolves a name to).
    pub async fn own_by_title(
        &self,
        kind: &str,
        creator: &str,
        title: &str,
    ) -> ApiResult<Option<ResourceRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM resources WHERE kind = ?1 AND created_by = ?2 AND title = ?3 AND deleted_at IS NULL"
        );
        let rows: Vec<ResourceRow> =
            all_rows(self.db.prepare(sql).bind(&[kind.into(), creator.into(), title.into()])).await?;
        Ok(rows.into_iter().next())
    }

    /// A deployment's bindings of one kind, name -> resource id (what `record_bindings` wrote).
    pub async fn bindings_of(
        &self,
        deployment_id: &str,
        kind: &str,
    ) -> ApiResult<std::collections::BTreeMap<String, String>> {
        #[derive(serde::Deserialize)]
        struct B {
            name: String,
            resource_id: String,
        }
        let rows: Vec<B> = all_rows(
            self.db
                .prepare(
                    "SELECT b.name, b.resource_id FROM resource_bindings b JOIN resources r ON r.id = b.resource_id \
                     WHERE b.deployment_id = ?1 AND r.kind = ?2",
                )
                .bind(&[deployment_id.into(), kind.into()]),
        )
        .await?;
        Ok(rows.into_iter().map(|b| (b.name, b.resource_id)).collect())
    }

    /// The live projects with a deployment that binds `id` (distinct, sorted).
    pub async fn bound_projects(&self, id: &str) -> ApiResult<Vec<String>> {
        let rows: Vec<Bound> = all_rows(
            self.db
                .prepare(
                    "SELECT DISTINCT b.project_id FROM resource_bindings b JOIN projects p ON p.id = b.project_id \
                     WHERE b.resource_id = ?1 AND p.deleted_at IS NULL ORDER BY b.project_id",
                )
                .bind(&[id.into()]),
        )
        .await?;
        Ok(rows.into_iter().map(|b| b.project_id).collect())
    }

    /// How many live projects serve a deployment binding `id` in production or under an alias.
    pub async fn serving_bindings(&self, id: &str) -> ApiResult<i64> {
        let rows: Vec<Count> = all_rows(
            self.db
                .prepare(
                    "SELECT COUNT(*) AS n FROM resource_bindings b JOIN projects p ON p.id = b.project_id \
                     WHERE b.resource_id = ?1 AND p.deleted_at IS NULL AND (p.active_deployment_id = b.deployment_id \
                     OR EXISTS (SELECT 1 FROM aliases a WHERE a.project_id = p.id AND a.deployment_id = b.deployment_id))",
                )
                .bind(&[id.into()]),
        )
        .await?;
        Ok(rows.first().map(|c| c.n).unwrap_or(0))
    }

    /// Records which namespaces a new deployment binds (before it can run).
    pub async fn record_bindings(
        &self,
        deployment_id: &str,
        project_id: &str,
        bundle: &crate::deploy::ServerBundle,
    ) -> ApiResult<()> {
        let mut stmts = Vec::new();
        for (_, name, id) in bundle.resource_bindings() {
            stmts.push(
                self.db
                    .prepare(
                        "INSERT OR REPLACE INTO resource_bindings (deployment_id, name, resource_id, project_id) \
                         VALUES (?1, ?2, ?3, ?4)",
                    )
                    .bind(&[deployment_id.into(), name.as_str().into(), id.as_str().into(), project_id.into()])
                    .map_err(db_err)?,
            );
        }
        if !stmts.is_empty() {
            self.db.batch(stmts).await.map_err(db_err)?;
        }
        Ok(())
    }

    /// Whether a live resource of `kind` has this id (what a binding checks before use).
    pub async fn is_live(&self, kind: &str, id: &str) -> ApiResult<bool> {
        let rows: Vec<Count> = all_rows(
            self.db
                .prepare(
                    "SELECT COUNT(*) AS n FROM resources WHERE id = ?1 AND kind = ?2 AND deleted_at IS NULL",
                )
                .bind(&[id.into(), kind.into()]),
        )
        .await?;
        Ok(rows.first().map(|c| c.n).unwrap_or(0) > 0)
    }

    /// A resource of `kind` that was deleted but whose data is not all removed yet, if `scope`
    /// reaches it (a repeated DELETE resumes the removal).
    pub async fn get_unpurged(
        &self,
        kind: &str,
        id: &str,
        scope: &ResourceScope,
    ) -> ApiResult<Option<ResourceRow>> {
        let [a, c, p] = scope_params(scope);
        let sql = format!(
            "SELECT {COLUMNS} FROM resources WHERE id = ?1 AND kind = ?2 AND deleted_at IS NOT NULL \
             AND purged_at IS NULL AND {}",
            scope_sql(3, 4, 5)
        );
        let rows: Vec<ResourceRow> =
            all_rows(self.db.prepare(sql).bind(&[id.into(), kind.into(), a, c, p])).await?;
        Ok(rows.into_iter().next())
    }

    /// Up to `limit` ids of deleted resources of `kind` whose data is not all removed yet,
    /// longest deleted first (the cron finishes their removal).
    pub async fn unfinished(&self, kind: &str, limit: usize) -> ApiResult<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Id {
            id: String,
        }
        let rows: Vec<Id> = all_rows(
            self.db
                .prepare(
                    "SELECT id FROM resources WHERE kind = ?1 AND deleted_at IS NOT NULL AND purged_at IS NULL \
                     ORDER BY deleted_at LIMIT ?2",
                )
                .bind(&[kind.into(), num(limit as i64)]),
        )
        .await?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Records that the deleted resource's data is all gone.
    pub async fn mark_purged(&self, id: &str, now: i64) -> ApiResult<()> {
        self.db
            .prepare("UPDATE resources SET purged_at = ?2 WHERE id = ?1 AND deleted_at IS NOT NULL")
            .bind(&[id.into(), num(now)])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Marks the resource deleted (unreachable at once); `false` if it already was.
    pub async fn mark_deleted(&self, id: &str, now: i64) -> ApiResult<bool> {
        let r = self
            .db
            .prepare("UPDATE resources SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL")
            .bind(&[id.into(), num(now)])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) > 0)
    }
}
