//! D1 adapter for deployments, their steps and log lines (`deployments`, `deployment_steps`,
//! `deployment_logs`), plus rendering a deployment record as SPEC.md §3 JSON.
// Shared with the visitor-only build (`--features site`), which uses a part of it.
#![cfg_attr(feature = "site", allow(dead_code))]

use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{D1Database, Env};

use crate::deploy::{Step, StepStatus, STEPS};
use crate::domain::{iso8601, UrlBase};
use crate::error::ApiResult;
use crate::platform::store::d1::{database, db_err, num, opt_str};

#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentRow {
    pub id: String,
    pub project_id: String,
    pub status: String,
    pub current_step: Option<String>,
    pub progress: i64,
    pub upload_session_id: Option<String>,
    pub config: String,
    pub stats: String,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    pub seq: i64,
    pub activated_at: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StepRow {
    pub step: String,
    pub status: String,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogRow {
    pub id: i64,
    pub at: i64,
    pub level: String,
    pub step: Option<String>,
    pub message: String,
}

const COLUMNS: &str = "id, project_id, status, current_step, progress, upload_session_id, config, stats, \
     error, error_code, attempts, created_at, updated_at, finished_at, seq, activated_at";

pub struct D1Deployments {
    db: D1Database,
}

/// What `create` records.
#[derive(Clone, Copy)]
pub struct NewDeployment<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub session_id: &'a str,
    pub config: &'a Value,
    pub stats: &'a Value,
    /// The principal (`root` or a token id) that asked for it.
    pub created_by: &'a str,
    /// Deploy warnings (ignored rule lines), logged at level `warn` after "deployment queued".
    pub warnings: &'a [String],
}

impl D1Deployments {
    pub fn new(env: &Env) -> ApiResult<D1Deployments> {
        Ok(D1Deployments { db: database(env)? })
    }

    /// Records a queued deployment with all five steps pending, in one transaction; its `seq`
    /// (creation order within the project) is handed out by the same transaction.
    pub async fn create(&self, new: &NewDeployment<'_>, now: i64) -> ApiResult<()> {
        let NewDeployment { id, project_id, session_id, config, stats, created_by, warnings } = *new;
        let mut stmts = vec![
            self.db
                .prepare("UPDATE projects SET deploy_seq = deploy_seq + 1 WHERE id = ?1")
                .bind(&[project_id.into()])
                .map_err(db_err)?,
            self
            .db
            .prepare(
                "INSERT INTO deployments (id, project_id, status, progress, upload_session_id, config, stats, \
                 created_at, updated_at, has_server_code, seq, created_by) VALUES (?1, ?2, 'queued', 0, ?3, ?4, ?5, ?6, \
                 ?6, ?7, (SELECT deploy_seq FROM projects WHERE id = ?2), ?8)",
            )
            .bind(&[
                id.into(),
                project_id.into(),
                session_id.into(),
                config.to_string().into(),
                stats.to_string().into(),
                num(now),
                num(config.get("server").is_some_and(|v| !v.is_null()) as i64),
                created_by.into(),
            ])
            .map_err(db_err)?,
        ];
        for s in STEPS {
            stmts.push(
                self.db
                    .prepare("INSERT INTO deployment_steps (deployment_id, step, status) VALUES (?1, ?2, 'pending')")
                    .bind(&[id.into(), s.as_str().into()])
                    .map_err(db_err)?,
            );
        }
        stmts.push(
            self.db
                .prepare("INSERT INTO deployment_logs (deployment_id, at, level, message) VALUES (?1, ?2, 'info', ?3)")
                .bind(&[id.into(), num(now), "deployment queued".into()])
                .map_err(db_err)?,
        );
        for w in warnings {
            stmts.push(
                self.db
                    .prepare("INSERT INTO deployment_logs (deployment_id, at, level, message) VALUES (?1, ?2, 'warn', ?3)")
                    .bind(&[id.into(), num(now), w.as_str().into()])
                    .map_err(db_err)?,
            );
        }
        self.db.batch(stmts).await.map_err(db_err)?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> ApiResult<Option<DeploymentRow>> {
        self.db
            .prepare(format!("SELECT {COLUMNS} FROM deployments WHERE id = ?1"))
            .bind(&[id.into()])
            .map_err(db_err)?
            .first::<DeploymentRow>(None)
            .await
            .map_err(db_err)
    }

    pub async fn list(&self, project_id: &str, limit: u32) -> ApiResult<Vec<DeploymentRow>> {
        self.db
            .prepare(format!(
                "SELECT {COLUMNS} FROM deployments WHERE project_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"
            ))
            .bind(&[project_id.into(), num(limit as i64)])
            .map_err(db_err)?
            .all()
            .await
            .map_err(db_err)?
            .results::<DeploymentRow>()
            .map_err(db_err)
    }

    pub async fn steps(&self, id: &str) -> ApiResult<Vec<StepRow>> {
        self.db
            .prepare(
                "SELECT step, status, started_at, finished_at, error, error_code FROM deployment_steps \
                 WHERE deployment_id = ?1",
            )
            .bind(&[id.into()])
            .map_err(db_err)?
            .all()
            .await
            .map_err(db_err)?
            .results::<StepRow>()
            .map_err(db_err)
    }

    /// Log lines in order, `limit` at most, after the line with id `after` (pagination cursor).
    pub async fn logs(&self, id: &str, after: i64, limit: u32) -> ApiResult<Vec<LogRow>> {
        self.db
            .prepare(
                "SELECT id, at, level, step, message FROM deployment_logs WHERE deployment_id = ?1 AND id > ?2 \
                 ORDER BY id LIMIT ?3",
            )
            .bind(&[id.into(), num(after), num(limit as i64)])
            .map_err(db_err)?
            .all()
            .await
            .map_err(db_err)?
            .results::<LogRow>()
            .map_err(db_err)
    }

    /// A job starts an attempt: status in_progress, attempts + 1. Returns the attempt number.
    pub async fn start_attempt(&self, id: &str, now: i64) -> ApiResult<i64> {
        self.db
            .prepare(
                "UPDATE deployments SET status = 'in_progress', attempts = attempts + 1, updated_at = ?2 \
                 WHERE id = ?1 AND status IN ('queued', 'in_progress')",
            )
            .bind(&[id.into(), num(now)])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(self.get(id).await?.map(|d| d.attempts).unwrap_or(0))
    }

    pub async fn step_started(&self, id: &str, step: Step, now: i64) -> ApiResult<()> {
        self.db
            .batch(vec![
                self.db
                    .prepare(
                        "UPDATE deployment_steps SET status = 'running', started_at = COALESCE(started_at, ?3), \
                         error = NULL WHERE deployment_id = ?1 AND step = ?2 AND status <> 'completed'",
                    )
                    .bind(&[id.into(), step.as_str().into(), num(now)])
                    .map_err(db_err)?,
                self.db
                    .prepare("UPDATE deployments SET current_step = ?2, updated_at = ?3 WHERE id = ?1")
                    .bind(&[id.into(), step.as_str().into(), num(now)])
                    .map_err(db_err)?,
                self.log_stmt(id, now, "info", Some(step.as_str()), &format!("{} started", step.as_str()))?,
            ])
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub async fn step_finished(&self, id: &str, step: Step, message: &str, now: i64) -> ApiResult<()> {
        self.db
            .batch(vec![
                self.db
                    .prepare(
                        "UPDATE deployment_steps SET status = 'completed', finished_at = ?3, error = NULL \
                         WHERE deployment_id = ?1 AND step = ?2",
                    )
                    .bind(&[id.into(), step.as_str().into(), num(now)])
                    .map_err(db_err)?,
                self.db
                    .prepare(
                        "UPDATE deployments SET progress = MAX(progress, ?2), updated_at = ?3 WHERE id = ?1",
                    )
                    .bind(&[id.into(), num(step.progress_after() as i64), num(now)])
                    .map_err(db_err)?,
                self.log_stmt(id, now, "info", Some(step.as_str()), message)?,
            ])
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// `error` is the user-facing sentence (raw binding text goes to the log, never here).
    pub async fn step_failed(
        &self,
        id: &str,
        step: Step,
        code: &str,
        error: &str,
        now: i64,
    ) -> ApiResult<()> {
        self.db
            .batch(vec![
                self.db
                    .prepare(
                        "UPDATE deployment_steps SET status = 'failed', finished_at = ?3, error = ?4, error_code = ?5 \
                         WHERE deployment_id = ?1 AND step = ?2 AND status <> 'completed'",
                    )
                    .bind(&[id.into(), step.as_str().into(), num(now), error.into(), code.into()])
                    .map_err(db_err)?,
                self.log_stmt(
                    id,
                    now,
                    "error",
                    Some(step.as_str()),
                    &format!("{} failed: {error}", step.as_str()),
                )?,
            ])
            .await
            .map_err(db_err)?;
        Ok(())
    }

    fn log_stmt(
        &self,
        id: &str,
        now: i64,
        level: &str,
        step: Option<&str>,
        message: &str,
    ) -> ApiResult<worker::D1PreparedStatement> {
        self.db
            .prepare("INSERT INTO deployment_logs (deployment_id, at, level, step, message) VALUES (?1, ?2, ?3, ?4, ?5)")
            .bind(&[id.into(), num(now), level.into(), opt_str(step), message.into()])
            .map_err(db_err)
    }
}

/// Step statuses in workflow order, for the state machine.
pub fn step_statuses(rows: &[StepRow]) -> Vec<(Step, StepStatus)> {
    rows.iter().filter_map(|r| Some((Step::parse(&r.step)?, StepStatus::parse(&r.status)))).collect()
}

/// SPEC.md §3 deployment JSON. `slug` builds the URLs.
pub fn render(
    d: &DeploymentRow,
    steps: &[StepRow],
    logs: Option<&[LogRow]>,
    slug: &str,
    urls: &UrlBase,
) -> Value {
    let ts = |v: Option<i64>| v.map(|t| iso8601(t.max(0) as u64));
    let mut step_map = Map::new();
    for s in STEPS {
        let row = steps.iter().find(|r| r.step == s.as_str());
        let mut v = json!({
            "status": row.map(|r| r.status.as_str()).unwrap_or("pending"),
            "startedAt": ts(row.and_then(|r| r.started_at)),
            "finishedAt": ts(row.and_then(|r| r.finished_at)),
        });
        if let Some(e) = row.and_then(|r| r.error.as_ref()) {
            v["error"] = json!(e);
            v["errorCode"] = json!(row.and_then(|r| r.error_code.as_deref()));
        }
        step_map.insert(s.as_str().into(), v);
    }
    let stats: Value = serde_json::from_str(&d.stats).unwrap_or_else(|_| json!({}));
    let prefix: String = d.id.chars().take(8).collect();
    let mut out = json!({
        "id": d.id,
        "projectId": d.project_id,
        "status": d.status,
        "currentStep": d.current_step,
        "progress": d.progress,
        "steps": step_map,
        "stats": stats,
        "attempts": d.attempts,
        "uploadSessionId": d.upload_session_id,
        "createdAt": ts(Some(d.created_at)),
        "updatedAt": ts(Some(d.updated_at)),
        "finishedAt": ts(d.finished_at),
        "activatedAt": ts(d.activated_at),
        "seq": d.seq,
        "url": urls.project_url(slug),
        // Each preview is its own origin; the path-mode form only where path mode answers.
        "previewUrl": urls.preview_url(&d.id, slug),
    });
    urls.add_path_url(&mut out, "previewPathUrl", &format!("{slug}@{prefix}"));
    if let Some(e) = &d.error {
        out["error"] = json!(e);
        out["errorCode"] = json!(d.error_code);
    }
    if let Some(logs) = logs {
        out["logs"] = Value::Array(logs.iter().map(log_json).collect());
    }
    out
}

/// One log line as JSON (the deployment record's `logs` and the NDJSON logs endpoint).
pub fn log_json(l: &LogRow) -> Value {
    json!({ "id": l.id, "at": iso8601(l.at.max(0) as u64), "level": l.level, "step": l.step, "message": l.message })
}
