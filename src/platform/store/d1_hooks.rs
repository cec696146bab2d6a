//! D1 adapter for webhooks and log drains (`hooks`, `hook_deliveries`, `hook_attempts`,
//! `drain_backlog`, migration 0022). What a hook may say, how it signs and when it retries is
//! src/observe/hooks.rs.

use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use super::d1::{all_rows, db_err, num, opt_str};
use crate::domain::iso8601;
use crate::error::ApiResult;
use crate::observe::hooks::{HookKind, MAX_BACKLOG};
use crate::platform::bindings;

pub struct D1Hooks {
    db: D1Database,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HookRow {
    pub id: String,
    pub project_id: String,
    pub kind: String,
    pub url: String,
    pub topics: String,
    /// Sealed with SECRETS_KEY; never rendered.
    pub secret: String,
    pub sampling: f64,
    pub dropped: i64,
    pub last_status: Option<i64>,
    pub created_at: i64,
}

impl HookRow {
    pub fn topics(&self) -> Vec<String> {
        serde_json::from_str(&self.topics).unwrap_or_default()
    }

    /// The API's view: never the secret.
    pub fn to_json(&self, backlog: Option<i64>) -> Value {
        let list = if self.kind == HookKind::Drain.as_str() { "sources" } else { "events" };
        let mut v = json!({
            "id": self.id,
            "projectId": self.project_id,
            "url": self.url,
            list: self.topics(),
            "createdAt": iso8601(self.created_at.max(0) as u64),
            "lastStatus": self.last_status,
        });
        if self.kind == HookKind::Drain.as_str() {
            v["sampling"] = json!(self.sampling);
            v["dropped"] = json!(self.dropped);
            v["backlog"] = json!(backlog.unwrap_or(0));
        }
        v
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryRow {
    pub id: String,
    pub hook_id: String,
    pub project_id: String,
    pub event: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct AttemptRow {
    delivery_id: String,
    attempt: i64,
    at: i64,
    response_status: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

#[derive(Deserialize)]
pub struct BacklogLine {
    pub id: i64,
    pub line: String,
}

/// One send's result, as the deliveries log keeps it.
pub struct Attempt<'a> {
    pub number: i64,
    pub at: i64,
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
}

const HOOK_COLUMNS: &str =
    "id, project_id, kind, url, topics, secret, sampling, dropped, last_status, created_at";
const DELIVERY_COLUMNS: &str =
    "id, hook_id, project_id, event, payload, status, attempts, created_at, updated_at";

impl D1Hooks {
    pub fn new(env: &Env) -> ApiResult<D1Hooks> {
        Ok(D1Hooks { db: env.d1(bindings::DB).map_err(db_err)? })
    }

    async fn changes(&self, sql: &str, params: &[JsValue]) -> ApiResult<u64> {
        let out = self.db.prepare(sql).bind(params).map_err(db_err)?.run().await.map_err(db_err)?;
        Ok(out.meta().map_err(db_err)?.and_then(|m| m.changes).unwrap_or(0) as u64)
    }

    async fn count(&self, sql: &str, params: &[JsValue]) -> ApiResult<i64> {
        let rows: Vec<Count> = all_rows(self.db.prepare(sql).bind(params)).await?;
        Ok(rows.first().map_or(0, |c| c.n))
    }

    /// Inserts a hook unless the project already has `max` of them; returns whether it did.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert(
        &self,
        id: &str,
        project_id: &str,
        kind: HookKind,
        url: &str,
        topics: &[String],
        sealed_secret: &str,
        sampling: f64,
        created_by: &str,
        now: i64,
        max: usize,
    ) -> ApiResult<bool> {
        let topics = serde_json::to_string(topics).unwrap_or_else(|_| "[]".into());
        let n = self
            .changes(
                "INSERT INTO hooks (id, project_id, kind, url, topics, secret, sampling, created_at, created_by) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 \
                 WHERE (SELECT COUNT(*) FROM hooks WHERE project_id = ?2) < ?10",
                &[
                    id.into(),
                    project_id.into(),
                    kind.as_str().into(),
                    url.into(),
                    topics.into(),
                    sealed_secret.into(),
                    JsValue::from_f64(sampling),
                    num(now),
                    created_by.into(),
                    num(max as i64),
                ],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn list(&self, project_id: &str, kind: HookKind) -> ApiResult<Vec<HookRow>> {
        all_rows(
            self.db
                .prepare(format!(
                    "SELECT {HOOK_COLUMNS} FROM hooks WHERE project_id = ?1 AND kind = ?2 ORDER BY created_at, id"
                ))
                .bind(&[project_id.into(), kind.as_str().into()]),
        )
        .await
    }

    /// Every hook of a project, webhooks and drains.
    pub async fn for_project(&self, project_id: &str) -> ApiResult<Vec<HookRow>> {
        all_rows(
            self.db
                .prepare(format!("SELECT {HOOK_COLUMNS} FROM hooks WHERE project_id = ?1"))
                .bind(&[project_id.into()]),
        )
        .await
    }

    pub async fn get(&self, project_id: &str, kind: HookKind, id: &str) -> ApiResult<Option<HookRow>> {
        let rows: Vec<HookRow> = all_rows(
            self.db
                .prepare(format!(
                    "SELECT {HOOK_COLUMNS} FROM hooks WHERE id = ?1 AND project_id = ?2 AND kind = ?3"
                ))
                .bind(&[id.into(), project_id.into(), kind.as_str().into()]),
        )
        .await?;
        Ok(rows.into_iter().next())
    }

    pub async fn get_by_id(&self, id: &str) -> ApiResult<Option<HookRow>> {
        let rows: Vec<HookRow> = all_rows(
            self.db.prepare(format!("SELECT {HOOK_COLUMNS} FROM hooks WHERE id = ?1")).bind(&[id.into()]),
        )
        .await?;
        Ok(rows.into_iter().next())
    }

    /// Removes a hook with its deliveries, their attempts and its backlog, in one batch.
    pub async fn delete(&self, id: &str) -> ApiResult<()> {
        let p = [JsValue::from(id)];
        let stmts = vec![
            self.db
                .prepare(
                    "DELETE FROM hook_attempts WHERE delivery_id IN (SELECT id FROM hook_deliveries WHERE hook_id = ?1)",
                )
                .bind(&p)
                .map_err(db_err)?,
            self.db.prepare("DELETE FROM hook_deliveries WHERE hook_id = ?1").bind(&p).map_err(db_err)?,
            self.db.prepare("DELETE FROM drain_backlog WHERE hook_id = ?1").bind(&p).map_err(db_err)?,
            self.db.prepare("DELETE FROM hooks WHERE id = ?1").bind(&p).map_err(db_err)?,
        ];
        self.db.batch(stmts).await.map_err(db_err)?;
        Ok(())
    }

    pub async fn set_last_status(&self, id: &str, status: u16) -> ApiResult<()> {
        self.changes("UPDATE hooks SET last_status = ?2 WHERE id = ?1", &[id.into(), num(status as i64)])
            .await?;
        Ok(())
    }

    pub async fn create_delivery(&self, d: &DeliveryRow) -> ApiResult<()> {
        self.changes(
            "INSERT INTO hook_deliveries (id, hook_id, project_id, event, payload, status, attempts, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6)",
            &[
                d.id.as_str().into(),
                d.hook_id.as_str().into(),
                d.project_id.as_str().into(),
                d.event.as_str().into(),
                d.payload.as_str().into(),
                num(d.created_at),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn delivery(&self, id: &str) -> ApiResult<Option<DeliveryRow>> {
        let rows: Vec<DeliveryRow> = all_rows(
            self.db
                .prepare(format!("SELECT {DELIVERY_COLUMNS} FROM hook_deliveries WHERE id = ?1"))
                .bind(&[id.into()]),
        )
        .await?;
        Ok(rows.into_iter().next())
    }

    /// Records one send and the delivery's new status in one batch.
    pub async fn record_attempt(&self, delivery_id: &str, a: &Attempt<'_>, status: &str) -> ApiResult<()> {
        let stmts = vec![
            self.db
                .prepare(
                    "INSERT OR REPLACE INTO hook_attempts (delivery_id, attempt, at, response_status, error, duration_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .bind(&[
                    delivery_id.into(),
                    num(a.number),
                    num(a.at),
                    a.status.map(|s| num(s as i64)).unwrap_or(JsValue::NULL),
                    opt_str(a.error),
                    num(a.duration_ms),
                ])
                .map_err(db_err)?,
            self.db
                .prepare("UPDATE hook_deliveries SET status = ?2, attempts = MAX(attempts, ?3), updated_at = ?4 WHERE id = ?1")
                .bind(&[delivery_id.into(), status.into(), num(a.number), num(a.at)])
                .map_err(db_err)?,
        ];
        self.db.batch(stmts).await.map_err(db_err)?;
        Ok(())
    }

    /// Puts a delivery back to pending for a redeliver; false when there is no such delivery
    /// of this hook.
    pub async fn reset_delivery(&self, hook_id: &str, id: &str, now: i64) -> ApiResult<bool> {
        let n = self
            .changes(
                "UPDATE hook_deliveries SET status = 'pending', updated_at = ?3 WHERE id = ?1 AND hook_id = ?2",
                &[id.into(), hook_id.into(), num(now)],
            )
            .await?;
        Ok(n > 0)
    }

    /// The newest `limit` deliveries of a hook, each with its attempts (oldest first).
    pub async fn deliveries(&self, hook_id: &str, limit: u32) -> ApiResult<Vec<Value>> {
        let rows: Vec<DeliveryRow> = all_rows(
            self.db
                .prepare(format!(
                    "SELECT {DELIVERY_COLUMNS} FROM hook_deliveries WHERE hook_id = ?1 \
                     ORDER BY created_at DESC, id DESC LIMIT ?2"
                ))
                .bind(&[hook_id.into(), num(limit as i64)]),
        )
        .await?;
        let attempts: Vec<AttemptRow> = all_rows(
            self.db
                .prepare(
                    "SELECT a.delivery_id, a.attempt, a.at, a.response_status, a.error, a.duration_ms \
                     FROM hook_attempts a JOIN (SELECT id FROM hook_deliveries WHERE hook_id = ?1 \
                     ORDER BY created_at DESC, id DESC LIMIT ?2) d ON d.id = a.delivery_id \
                     ORDER BY a.delivery_id, a.attempt",
                )
                .bind(&[hook_id.into(), num(limit as i64)]),
        )
        .await?;
        Ok(rows
            .iter()
            .map(|d| {
                let tries: Vec<Value> = attempts
                    .iter()
                    .filter(|a| a.delivery_id == d.id)
                    .map(|a| {
                        json!({
                            "attempt": a.attempt,
                            "at": iso8601(a.at.max(0) as u64),
                            "responseStatus": a.response_status,
                            "error": a.error,
                            "durationMs": a.duration_ms,
                        })
                    })
                    .collect();
                let payload: Value = serde_json::from_str(&d.payload).unwrap_or(Value::Null);
                json!({
                    "id": d.id,
                    "event": d.event,
                    "status": d.status,
                    "createdAt": iso8601(d.created_at.max(0) as u64),
                    "updatedAt": iso8601(d.updated_at.max(0) as u64),
                    "responseStatus": tries.last().and_then(|t| t["responseStatus"].as_i64()),
                    "attempts": tries,
                    "payload": payload,
                })
            })
            .collect())
    }

    /// Appends lines to a drain's backlog, then drops its oldest beyond [`MAX_BACKLOG`] and
    /// counts them in `dropped`.
    pub async fn append_backlog(&self, hook_id: &str, lines: &[String]) -> ApiResult<()> {
        let mut stmts = Vec::with_capacity(lines.len() + 2);
        for l in lines {
            stmts.push(
                self.db
                    // A drain deleted meanwhile (or known only to a stale isolate copy) takes nothing.
                    .prepare(
                        "INSERT INTO drain_backlog (hook_id, line) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM hooks WHERE id = ?1)",
                    )
                    .bind(&[hook_id.into(), l.as_str().into()])
                    .map_err(db_err)?,
            );
        }
        // The count goes first: `dropped` grows by exactly what the DELETE then removes.
        let over = "SELECT id FROM drain_backlog WHERE hook_id = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2";
        stmts.push(
            self.db
                .prepare(format!(
                    "UPDATE hooks SET dropped = dropped + (SELECT COUNT(*) FROM ({over})) WHERE id = ?1"
                ))
                .bind(&[hook_id.into(), num(MAX_BACKLOG as i64)])
                .map_err(db_err)?,
        );
        stmts.push(
            self.db
                .prepare(format!("DELETE FROM drain_backlog WHERE id IN ({over})"))
                .bind(&[hook_id.into(), num(MAX_BACKLOG as i64)])
                .map_err(db_err)?,
        );
        self.db.batch(stmts).await.map_err(db_err)?;
        Ok(())
    }

    pub async fn backlog_len(&self, hook_id: &str) -> ApiResult<i64> {
        self.count("SELECT COUNT(*) AS n FROM drain_backlog WHERE hook_id = ?1", &[hook_id.into()]).await
    }

    /// The oldest `limit` waiting lines.
    pub async fn backlog(&self, hook_id: &str, limit: u32) -> ApiResult<Vec<BacklogLine>> {
        all_rows(
            self.db
                .prepare("SELECT id, line FROM drain_backlog WHERE hook_id = ?1 ORDER BY id LIMIT ?2")
                .bind(&[hook_id.into(), num(limit as i64)]),
        )
        .await
    }

    /// Removes the lines up to `last_id` (a batch the receiver accepted).
    pub async fn drop_through(&self, hook_id: &str, last_id: i64) -> ApiResult<()> {
        self.changes(
            "DELETE FROM drain_backlog WHERE hook_id = ?1 AND id <= ?2",
            &[hook_id.into(), num(last_id)],
        )
        .await?;
        Ok(())
    }

    /// Claims the drain's one pending flush: true when no flush is pending (or the pending one
    /// is older than `stale_before`, a job that was lost), so the caller queues one.
    pub async fn claim_flush(&self, hook_id: &str, now: i64, stale_before: i64) -> ApiResult<bool> {
        let n = self
            .changes(
                "UPDATE hooks SET flush_at = ?2 WHERE id = ?1 AND (flush_at IS NULL OR flush_at < ?3)",
                &[hook_id.into(), num(now), num(stale_before)],
            )
            .await?;
        Ok(n > 0)
    }

    /// Marks the drain's flush as done (called before looking for lines that came meanwhile).
    pub async fn release_flush(&self, hook_id: &str) -> ApiResult<()> {
        self.changes("UPDATE hooks SET flush_at = NULL WHERE id = ?1", &[hook_id.into()]).await?;
        Ok(())
    }

    /// Deletes up to `limit` deliveries created before `cutoff` (ms), with their attempts;
    /// returns how many went.
    pub async fn delete_expired_deliveries(&self, cutoff: i64, limit: u32) -> ApiResult<u64> {
        let pick = "SELECT id FROM hook_deliveries WHERE created_at < ?1 ORDER BY created_at LIMIT ?2";
        let p = [num(cutoff), num(limit as i64)];
        let out = self
            .db
            .batch(vec![
                self.db
                    .prepare(format!("DELETE FROM hook_attempts WHERE delivery_id IN ({pick})"))
                    .bind(&p)
                    .map_err(db_err)?,
                self.db
                    .prepare(format!("DELETE FROM hook_deliveries WHERE id IN ({pick})"))
                    .bind(&p)
                    .map_err(db_err)?,
            ])
            .await
            .map_err(db_err)?;
        let changes = out.last().and_then(|r| r.meta().ok().flatten()).and_then(|m| m.changes).unwrap_or(0);
        Ok(changes as u64)
    }

    /// Up to `limit` hooks of deleted (or purged) projects that have nothing left to send: no
    /// delivery still pending unless it stalled before `stalled_before` (ms).
    pub async fn orphans(&self, stalled_before: i64, limit: u32) -> ApiResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        let rows: Vec<Id> = all_rows(
            self.db
                .prepare(
                    "SELECT h.id FROM hooks h LEFT JOIN projects p ON p.id = h.project_id AND p.deleted_at IS NULL \
                     WHERE p.id IS NULL AND NOT EXISTS (SELECT 1 FROM hook_deliveries d WHERE d.hook_id = h.id \
                     AND d.status = 'pending' AND d.updated_at >= ?1) LIMIT ?2",
                )
                .bind(&[num(stalled_before), num(limit as i64)]),
        )
        .await?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }
}
