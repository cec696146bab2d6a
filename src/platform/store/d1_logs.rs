//! D1 adapter for kept invocation logs (`invocation_logs`, migration 0018). What a record holds
//! and how a query is validated is src/observe/logs.rs.

use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use super::d1::{all_rows, db_err, num};
use crate::domain::iso8601;
use crate::error::ApiResult;
use crate::observe::{like_pattern, InvocationRecord, LogQuery};
use crate::platform::bindings;

pub struct D1Logs {
    db: D1Database,
}

#[derive(serde::Deserialize)]
struct Row {
    id: i64,
    deployment_id: String,
    at: i64,
    outcome: String,
    method: String,
    url: String,
    status: Option<i64>,
    wall_ms: i64,
    cpu_ms: i64,
    level: String,
    detail: String,
}

impl Row {
    fn to_json(&self) -> Value {
        let detail: Value = serde_json::from_str(&self.detail).unwrap_or_else(|_| json!({}));
        json!({
            "id": self.id.to_string(),
            "at": iso8601(self.at.max(0) as u64),
            "deploymentId": self.deployment_id,
            "outcome": self.outcome,
            "level": self.level,
            "request": { "method": self.method, "url": self.url },
            "status": self.status,
            "wallMs": self.wall_ms,
            "cpuMs": self.cpu_ms,
            "logs": detail.get("logs").cloned().unwrap_or_else(|| json!([])),
            "exceptions": detail.get("exceptions").cloned().unwrap_or_else(|| json!([])),
            "droppedLines": detail.get("droppedLines").cloned().unwrap_or_else(|| json!(0)),
        })
    }
}

impl D1Logs {
    pub fn new(env: &Env) -> ApiResult<D1Logs> {
        Ok(D1Logs { db: env.d1(bindings::DB).map_err(db_err)? })
    }

    /// Stores one tail call's records in one batch.
    pub async fn insert(
        &self,
        project_id: &str,
        deployment_id: &str,
        records: &[InvocationRecord],
    ) -> ApiResult<()> {
        let mut stmts = Vec::with_capacity(records.len());
        for r in records {
            let detail = r.detail.to_string();
            let bytes = (detail.len() + r.url.len() + 64) as i64;
            stmts.push(
                self.db
                    .prepare(
                        "INSERT INTO invocation_logs (project_id, deployment_id, at, outcome, method, url, status, \
                         wall_ms, cpu_ms, level, detail, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    )
                    .bind(&[
                        project_id.into(),
                        deployment_id.into(),
                        num(r.at),
                        r.outcome.as_str().into(),
                        r.method.as_str().into(),
                        r.url.as_str().into(),
                        r.status.map(|s| num(s as i64)).unwrap_or(JsValue::NULL),
                        num(r.wall_ms),
                        num(r.cpu_ms),
                        r.level.into(),
                        detail.into(),
                        num(bytes),
                    ])
                    .map_err(db_err)?,
            );
        }
        if !stmts.is_empty() {
            self.db.batch(stmts).await.map_err(db_err)?;
        }
        Ok(())
    }

    /// A page of a project's logs, newest first, and the cursor of the next page.
    pub async fn query(&self, project_id: &str, q: &LogQuery) -> ApiResult<(Vec<Value>, Option<String>)> {
        let mut sql = String::from(
            "SELECT id, deployment_id, at, outcome, method, url, status, wall_ms, cpu_ms, level, detail \
             FROM invocation_logs WHERE project_id = ?1",
        );
        let mut params: Vec<JsValue> = vec![project_id.into()];
        let mut add = |cond: &str, v: JsValue, sql: &mut String| {
            params.push(v);
            sql.push_str(&cond.replace('?', &format!("?{}", params.len())));
        };
        if let Some(before) = q.before {
            add(" AND id < ?", num(before), &mut sql);
        }
        if let Some(from) = q.from {
            add(" AND at >= ?", num(from), &mut sql);
        }
        if let Some(to) = q.to {
            add(" AND at <= ?", num(to), &mut sql);
        }
        if let Some(d) = &q.deployment_id {
            add(" AND deployment_id = ?", d.as_str().into(), &mut sql);
        }
        if let Some(class) = q.status_class {
            add(" AND status / 100 = ?", num(class as i64), &mut sql);
        }
        if q.errors_only {
            sql.push_str(" AND level = 'error'");
        }
        if let Some(text) = &q.search {
            let pattern = like_pattern(text);
            add(
                " AND (url LIKE ? ESCAPE '\\' OR detail LIKE ? ESCAPE '\\')",
                pattern.as_str().into(),
                &mut sql,
            );
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", q.limit + 1));
        let mut rows: Vec<Row> = all_rows(self.db.prepare(&sql).bind(&params)).await?;
        let more = rows.len() > q.limit as usize;
        rows.truncate(q.limit as usize);
        let cursor = more.then(|| rows.last().map(|r| r.id.to_string())).flatten();
        Ok((rows.iter().map(Row::to_json).collect(), cursor))
    }

    /// Deletes up to `limit` rows older than `cutoff` (ms); returns how many went.
    pub async fn delete_expired(&self, cutoff: i64, limit: u32) -> ApiResult<u64> {
        let out = self
            .db
            .prepare(
                "DELETE FROM invocation_logs WHERE id IN \
                 (SELECT id FROM invocation_logs WHERE at < ?1 ORDER BY at LIMIT ?2)",
            )
            .bind(&[num(cutoff), num(limit as i64)])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(out.meta().map_err(db_err)?.and_then(|m| m.changes).unwrap_or(0) as u64)
    }

    /// Deletes up to `limit` rows of projects that are deleted (their purge removed the rest).
    pub async fn delete_orphans(&self, limit: u32) -> ApiResult<u64> {
        let out = self
            .db
            .prepare(
                "DELETE FROM invocation_logs WHERE id IN (SELECT l.id FROM invocation_logs l \
                 LEFT JOIN projects p ON p.id = l.project_id AND p.deleted_at IS NULL \
                 WHERE p.id IS NULL LIMIT ?1)",
            )
            .bind(&[num(limit as i64)])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(out.meta().map_err(db_err)?.and_then(|m| m.changes).unwrap_or(0) as u64)
    }
}
