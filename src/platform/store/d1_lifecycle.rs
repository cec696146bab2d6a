//! The lifecycle's stores over the bindings: [`D1Lifecycle`] (`DB`: projects, deployments,
//! aliases) and [`KvRoutes`] as the [`RouteStore`] (`ROUTES_KV`). The swap is one D1 batch
//! (a transaction): the conditional project UPDATE sets a fresh `swap_token`, and every other
//! statement applies only where that token landed.

use std::collections::BTreeMap;

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::lifecycle::{
    DeploymentState, ProjectState, ProjectStore, Status, StepFailure, StoreError, StoreResult, Swap,
};
use crate::platform::bindings::new_uuid;
use crate::platform::store::d1::{database, num, opt_str};

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("D1: {e}"))
}

fn statuses(list: &[Status]) -> JsValue {
    let names: Vec<&str> = list.iter().map(|s| s.as_str()).collect();
    JsValue::from(serde_json::to_string(&names).unwrap_or_else(|_| "[]".into()))
}

const PROJECT_STATE: &str = concat!(
    "SELECT p.id, p.slug, p.enabled, p.deleted_at, p.active_deployment_id, p.generation, \
     p.routed_generation, p.activated_seq, p.outbound, p.auto_activate, p.preview_access, \
     p.skew_protection, p.skew_pin_secs, p.skew_depth, p.env_refs, p.bypass_hash, p.rollout, \
     (SELECT json_group_object(a.name, a.deployment_id) FROM aliases a WHERE a.project_id = p.id) AS aliases, \
     (SELECT json_group_array(r.id) FROM (SELECT d.id FROM deployments d WHERE d.project_id = p.id \
       AND d.activated_at IS NOT NULL AND d.status IN (", crate::ready_sql!(), ") \
       AND d.id IS NOT p.active_deployment_id ORDER BY d.activated_at DESC, d.seq DESC LIMIT 20) r) AS recent \
     FROM projects p"
);

#[derive(Deserialize)]
struct ProjectStateRow {
    id: String,
    slug: String,
    enabled: i64,
    deleted_at: Option<i64>,
    active_deployment_id: Option<String>,
    generation: i64,
    routed_generation: i64,
    activated_seq: i64,
    outbound: String,
    auto_activate: i64,
    preview_access: String,
    aliases: Option<String>,
    recent: Option<String>,
    skew_protection: i64,
    skew_pin_secs: i64,
    skew_depth: i64,
    env_refs: Option<String>,
    bypass_hash: Option<String>,
    rollout: Option<String>,
}

impl From<ProjectStateRow> for ProjectState {
    fn from(r: ProjectStateRow) -> Self {
        let aliases: BTreeMap<String, String> =
            r.aliases.as_deref().and_then(|a| serde_json::from_str(a).ok()).unwrap_or_default();
        ProjectState {
            id: r.id,
            slug: r.slug,
            enabled: r.enabled != 0,
            deleted: r.deleted_at.is_some(),
            active_deployment_id: r.active_deployment_id,
            generation: r.generation,
            routed_generation: r.routed_generation,
            activated_seq: r.activated_seq,
            outbound_allowed: r.outbound == "allow",
            auto_activate: r.auto_activate != 0,
            preview_link: r.preview_access == "link",
            aliases,
            skew: crate::routing::SkewSettings {
                enabled: r.skew_protection != 0,
                pin_secs: r.skew_pin_secs.clamp(0, u32::MAX as i64) as u32,
                depth: r.skew_depth.clamp(0, 255) as u8,
            },
            envs: r.env_refs.as_deref().and_then(|a| serde_json::from_str(a).ok()).unwrap_or_default(),
            bypass: r.bypass_hash.filter(|h| !h.is_empty()),
            recent: r.recent.as_deref().and_then(|a| serde_json::from_str(a).ok()).unwrap_or_default(),
            rollout: r.rollout.as_deref().and_then(|a| serde_json::from_str(a).ok()),
        }
    }
}

const DEPLOYMENT_STATE: &str = "SELECT id, project_id, seq, status, activated_at, \
     json_extract(config, '$.activate') AS activate, \
     COALESCE(json_extract(stats, '$.files'), 0) AS assets_count, \
     (json_extract(config, '$.server') IS NOT NULL) AS has_server_code, \
     json_extract(config, '$.projectName') AS project_name, created_at, updated_at FROM deployments";

#[derive(Deserialize)]
struct DeploymentStateRow {
    id: String,
    project_id: String,
    seq: i64,
    status: String,
    activated_at: Option<i64>,
    activate: Option<i64>,
    assets_count: i64,
    has_server_code: i64,
    project_name: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<DeploymentStateRow> for DeploymentState {
    type Error = StoreError;
    fn try_from(r: DeploymentStateRow) -> StoreResult<Self> {
        Ok(DeploymentState {
            status: Status::parse(&r.status).ok_or_else(|| err(format!("unknown status {}", r.status)))?,
            id: r.id,
            project_id: r.project_id,
            seq: r.seq,
            activated_at: r.activated_at,
            activate: r.activate.map(|v| v != 0),
            assets_count: r.assets_count,
            has_server_code: r.has_server_code != 0,
            project_name: r.project_name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub struct D1Lifecycle {
    db: D1Database,
}

impl D1Lifecycle {
    pub fn new(env: &Env) -> Result<D1Lifecycle, crate::error::ApiError> {
        Ok(D1Lifecycle { db: database(env)? })
    }

    fn stmt(&self, sql: &str, args: &[JsValue]) -> StoreResult<D1PreparedStatement> {
        self.db.prepare(sql).bind(args).map_err(err)
    }

    async fn deployments_where(&self, clause: &str, args: &[JsValue]) -> StoreResult<Vec<DeploymentState>> {
        let rows = self
            .stmt(&format!("{DEPLOYMENT_STATE} WHERE {clause}"), args)?
            .all()
            .await
            .map_err(err)?
            .results::<DeploymentStateRow>()
            .map_err(err)?;
        rows.into_iter().map(DeploymentState::try_from).collect()
    }
}

fn changes(r: &worker::D1Result) -> usize {
    r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0)
}

impl ProjectStore for D1Lifecycle {
    async fn project(&self, key: &str) -> StoreResult<Option<ProjectState>> {
        let row = self
            .stmt(
                &format!("{PROJECT_STATE} WHERE p.id = ?1 OR p.slug = ?1"),
                &[key.to_ascii_lowercase().into()],
            )?
            .first::<ProjectStateRow>(None)
            .await
            .map_err(err)?;
        Ok(row.map(ProjectState::from))
    }

    async fn deployment(&self, id: &str) -> StoreResult<Option<DeploymentState>> {
        Ok(self.deployments_where("id = ?1", &[id.into()]).await?.into_iter().next())
    }

    async fn deployments(&self, project_id: &str) -> StoreResult<Vec<DeploymentState>> {
        self.deployments_where("project_id = ?1 ORDER BY seq DESC", &[project_id.into()]).await
    }

    async fn swap(&self, swap: &Swap, now: i64) -> StoreResult<Option<i64>> {
        let token = new_uuid();
        let pid: JsValue = swap.project_id.as_str().into();
        let tok: JsValue = token.as_str().into();
        let (require_id, require_from) = match &swap.require {
            Some((id, from)) => (JsValue::from(id.as_str()), statuses(from)),
            None => (JsValue::NULL, statuses(&[])),
        };
        let facts = swap.active_facts.as_ref();
        let mut stmts = vec![self.stmt(
            "UPDATE projects SET active_deployment_id = ?2, enabled = ?3, \
             deleted_at = CASE WHEN ?4 = 1 THEN COALESCE(deleted_at, ?5) ELSE NULL END, \
             purge_requested_at = CASE WHEN ?4 = 1 THEN ?5 ELSE purge_requested_at END, \
             activated_seq = ?6, generation = generation + 1, swap_token = ?7, updated_at = ?5, \
             assets_count = COALESCE(?8, assets_count), has_server_code = COALESCE(?9, has_server_code), \
             name = COALESCE(?10, name), rollout = ?14 \
             WHERE id = ?1 AND generation = ?11 AND deleted_at IS NULL \
             AND (?12 IS NULL OR EXISTS (SELECT 1 FROM deployments WHERE id = ?12 AND project_id = ?1 \
                  AND status IN (SELECT value FROM json_each(?13))))",
            &[
                pid.clone(),
                opt_str(swap.active.as_deref()),
                num(swap.enabled as i64),
                num(swap.deleted as i64),
                num(now),
                num(swap.activated_seq),
                tok.clone(),
                facts.map(|f| num(f.assets_count)).unwrap_or(JsValue::NULL),
                facts.map(|f| num(f.has_server_code as i64)).unwrap_or(JsValue::NULL),
                opt_str(facts.and_then(|f| f.rename.as_deref())),
                num(swap.expected_generation),
                require_id,
                require_from,
                opt_str(swap.rollout.as_ref().and_then(|r| serde_json::to_string(r).ok()).as_deref()),
            ],
        )?];
        // Only where this swap's token landed (parameter numbers of project id and token).
        let landed =
            |p: u8, t: u8| format!("EXISTS (SELECT 1 FROM projects WHERE id = ?{p} AND swap_token = ?{t})");
        for c in &swap.changes {
            stmts.push(self.stmt(
                &format!(
                    "UPDATE deployments SET status = ?2, updated_at = ?3, finished_at = COALESCE(finished_at, ?3), \
                     activated_at = CASE WHEN ?4 = 1 THEN COALESCE(activated_at, ?3) ELSE activated_at END \
                     WHERE id = ?1 AND status IN (SELECT value FROM json_each(?5)) AND {}",
                    landed(6, 7)
                ),
                &[
                    c.deployment_id.as_str().into(),
                    c.to.as_str().into(),
                    num(now),
                    num(c.activated as i64),
                    statuses(&c.from),
                    pid.clone(),
                    tok.clone(),
                ],
            )?);
            let message = if c.activated {
                "now live (active deployment)".to_string()
            } else {
                format!("no longer active: {}", c.to.as_str())
            };
            stmts.push(self.stmt(
                &format!(
                    "INSERT INTO deployment_logs (deployment_id, at, level, step, message) \
                     SELECT ?1, ?2, 'info', NULL, ?3 WHERE {}",
                    landed(4, 5)
                ),
                &[c.deployment_id.as_str().into(), num(now), message.into(), pid.clone(), tok.clone()],
            )?);
        }
        match &swap.alias {
            Some((name, Some(target))) => stmts.push(self.stmt(
                &format!(
                    "INSERT INTO aliases (project_id, name, deployment_id, updated_at) \
                     SELECT ?4, ?1, ?2, ?3 WHERE {} \
                     ON CONFLICT (project_id, name) DO UPDATE SET deployment_id = excluded.deployment_id, \
                     updated_at = excluded.updated_at",
                    landed(4, 5)
                ),
                &[name.as_str().into(), target.as_str().into(), num(now), pid.clone(), tok.clone()],
            )?),
            Some((name, None)) => stmts.push(self.stmt(
                &format!("DELETE FROM aliases WHERE project_id = ?2 AND name = ?1 AND {}", landed(2, 3)),
                &[name.as_str().into(), pid.clone(), tok.clone()],
            )?),
            None => {}
        }
        let results = self.db.batch(stmts).await.map_err(err)?;
        if results.first().map(changes).unwrap_or(0) == 0 {
            return Ok(None);
        }
        Ok(Some(swap.expected_generation + 1))
    }

    async fn finish(
        &self,
        id: &str,
        from: &[Status],
        to: Status,
        error: Option<&StepFailure>,
        now: i64,
    ) -> StoreResult<bool> {
        let message = match error {
            Some(e) => format!("deployment {}: {}", to.as_str(), e.message),
            None => format!("deployment {}", to.as_str()),
        };
        let results = self
            .db
            .batch(vec![
                self.stmt(
                    "UPDATE deployments SET status = ?2, error = ?3, error_code = ?4, finished_at = ?5, \
                     updated_at = ?5 WHERE id = ?1 AND status IN (SELECT value FROM json_each(?6))",
                    &[
                        id.into(),
                        to.as_str().into(),
                        opt_str(error.map(|e| e.message.as_str())),
                        opt_str(error.map(|e| e.code)),
                        num(now),
                        statuses(from),
                    ],
                )?,
                self.stmt(
                    "UPDATE deployment_steps SET status = 'skipped' WHERE deployment_id = ?1 AND status = 'pending' \
                     AND ?2 = 'failed' AND EXISTS (SELECT 1 FROM deployments WHERE id = ?1 AND status = ?2 \
                     AND updated_at = ?3)",
                    &[id.into(), to.as_str().into(), num(now)],
                )?,
                self.stmt(
                    "INSERT INTO deployment_logs (deployment_id, at, level, step, message) \
                     SELECT ?1, ?3, ?4, NULL, ?5 WHERE EXISTS (SELECT 1 FROM deployments WHERE id = ?1 \
                     AND status = ?2 AND updated_at = ?3)",
                    &[
                        id.into(),
                        to.as_str().into(),
                        num(now),
                        if to == Status::Failed { "error" } else { "info" }.into(),
                        message.into(),
                    ],
                )?,
            ])
            .await
            .map_err(err)?;
        Ok(results.first().map(changes).unwrap_or(0) > 0)
    }

    async fn mark_routed(&self, project_id: &str, generation: i64) -> StoreResult<()> {
        self.stmt(
            "UPDATE projects SET routed_generation = MAX(routed_generation, ?2) WHERE id = ?1",
            &[project_id.into(), num(generation)],
        )?
        .run()
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn lagging(&self, limit: u32) -> StoreResult<Vec<ProjectState>> {
        let rows = self
            .stmt(
                &format!("{PROJECT_STATE} WHERE p.routed_generation < p.generation LIMIT ?1"),
                &[num(limit as i64)],
            )?
            .all()
            .await
            .map_err(err)?
            .results::<ProjectStateRow>()
            .map_err(err)?;
        Ok(rows.into_iter().map(ProjectState::from).collect())
    }

    async fn stuck(&self, before: i64, limit: u32) -> StoreResult<Vec<DeploymentState>> {
        self.deployments_where(
            concat!("status IN (", crate::pending_sql!(), ") AND updated_at < ?1 LIMIT ?2"),
            &[num(before), num(limit as i64)],
        )
        .await
    }

    async fn expire(&self, id: &str, now: i64) -> StoreResult<bool> {
        let results = self
            .db
            .batch(vec![
                self.stmt(
                    concat!(
                        "UPDATE deployments SET status = 'expired', updated_at = ?2 WHERE id = ?1 \
                         AND status IN (",
                        crate::ready_sql!(),
                        ") AND NOT EXISTS (SELECT 1 FROM projects WHERE active_deployment_id = ?1) \
                         AND NOT EXISTS (SELECT 1 FROM aliases WHERE deployment_id = ?1) \
                         AND NOT EXISTS (SELECT 1 FROM projects WHERE rollout IS NOT NULL \
                           AND json_extract(rollout, '$.deploymentId') = ?1 \
                           AND json_extract(rollout, '$.status') IN ('running', 'paused'))"
                    ),
                    &[id.into(), num(now)],
                )?,
                self.stmt(
                    "INSERT INTO deployment_logs (deployment_id, at, level, step, message) \
                     SELECT ?1, ?2, 'info', NULL, 'expired under the retention policy' \
                     WHERE EXISTS (SELECT 1 FROM deployments WHERE id = ?1 AND status = 'expired' AND updated_at = ?2)",
                    &[id.into(), num(now)],
                )?,
            ])
            .await
            .map_err(err)?;
        Ok(results.first().map(changes).unwrap_or(0) > 0)
    }
}

impl D1Lifecycle {
    /// Ids of projects with a running or paused rollout (the cron ticks them; up to `limit`).
    pub async fn live_rollouts(&self, limit: u32) -> StoreResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
        }
        let rows = self
            .stmt(
                "SELECT id FROM projects WHERE rollout IS NOT NULL AND deleted_at IS NULL \
                 AND json_extract(rollout, '$.status') IN ('running', 'paused') LIMIT ?1",
                &[num(limit as i64)],
            )?
            .all()
            .await
            .map_err(err)?
            .results::<Row>()
            .map_err(err)?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }
}

/// Per-side counts from what the invocation log already records for server code (every run
/// is a row, written after the response by the tail): no write on the visitor path. Asset
/// answers are not counted, so a rollout of a static-only site never auto-aborts.
impl crate::lifecycle::rollout::RolloutStats for D1Lifecycle {
    async fn sides(
        &self,
        project_id: &str,
        new: &str,
        old: &str,
        since: i64,
    ) -> StoreResult<(crate::lifecycle::rollout::SideStats, crate::lifecycle::rollout::SideStats)> {
        use crate::lifecycle::rollout::SideStats;
        #[derive(Deserialize)]
        struct Row {
            deployment_id: String,
            requests: i64,
            errors: Option<i64>,
        }
        let rows = self
            .stmt(
                "SELECT deployment_id, COUNT(*) AS requests, \
                 SUM(CASE WHEN status >= 500 OR outcome != 'ok' THEN 1 ELSE 0 END) AS errors \
                 FROM invocation_logs WHERE project_id = ?1 AND at >= ?2 AND deployment_id IN (?3, ?4) \
                 GROUP BY deployment_id",
                &[project_id.into(), num(since), new.into(), old.into()],
            )?
            .all()
            .await
            .map_err(err)?
            .results::<Row>()
            .map_err(err)?;
        let side = |id: &str| {
            rows.iter().find(|r| r.deployment_id == id).map_or(SideStats::default(), |r| SideStats {
                requests: r.requests.max(0) as u64,
                errors: r.errors.unwrap_or(0).max(0) as u64,
            })
        };
        Ok((side(new), side(old)))
    }
}
