//! The cron's host-record reconciliation (`lifecycle::reconcile_hosts`) over D1 (`domains`,
//! `projects`, `sweep_cursors`) and ROUTES_KV `host:` records.

use std::collections::BTreeMap;

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::domain::STATUS_ACTIVE;
use crate::error::ApiError;
use crate::lifecycle::{HostStore, StoreError, StoreResult};
use crate::platform::serve::cache;
use crate::platform::store::d1::{all_rows, database, db_err, num, opt_str};
use crate::platform::store::kv::KvRoutes;
use crate::routing::HostRecord;

pub struct LiveHosts {
    db: D1Database,
    routes: KvRoutes,
}

impl LiveHosts {
    pub fn new(env: &Env) -> Result<LiveHosts, ApiError> {
        Ok(LiveHosts { db: database(env)?, routes: KvRoutes::new(env)? })
    }
}

fn store_err(e: ApiError) -> StoreError {
    StoreError(e.log_detail())
}

#[derive(Deserialize)]
struct Owner {
    hostname: String,
    project_id: String,
}

#[derive(Deserialize)]
struct Cursor {
    cursor: String,
}

impl HostStore for LiveHosts {
    async fn owners(&self, hostnames: &[String]) -> StoreResult<BTreeMap<String, String>> {
        if hostnames.is_empty() {
            return Ok(BTreeMap::new());
        }
        let list = serde_json::to_string(hostnames).map_err(|e| StoreError(e.to_string()))?;
        let rows: Vec<Owner> = all_rows(
            self.db
                .prepare(
                    "SELECT d.hostname, d.project_id FROM domains d JOIN projects p ON p.id = d.project_id \
                     WHERE d.status = ?1 AND p.deleted_at IS NULL \
                     AND d.hostname IN (SELECT value FROM json_each(?2))",
                )
                .bind(&[STATUS_ACTIVE.into(), list.as_str().into()]),
        )
        .await
        .map_err(store_err)?;
        Ok(rows.into_iter().map(|o| (o.hostname, o.project_id)).collect())
    }

    async fn active_after(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<(String, String)>> {
        let rows: Vec<Owner> = all_rows(
            self.db
                .prepare(
                    "SELECT d.hostname, d.project_id FROM domains d JOIN projects p ON p.id = d.project_id \
                     WHERE d.status = ?1 AND p.deleted_at IS NULL AND (?2 IS NULL OR d.hostname > ?2) \
                     ORDER BY d.hostname LIMIT ?3",
                )
                .bind(&[STATUS_ACTIVE.into(), opt_str(after), num(limit as i64)]),
        )
        .await
        .map_err(store_err)?;
        Ok(rows.into_iter().map(|o| (o.hostname, o.project_id)).collect())
    }

    async fn list_records(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<String>, Option<String>)> {
        self.routes.host_names(cursor, limit as u64).await.map_err(store_err)
    }

    async fn record(&self, hostname: &str) -> StoreResult<Option<String>> {
        Ok(self.routes.host(hostname).await.map_err(store_err)?.map(|r| r.project_id))
    }

    async fn put_record(&self, hostname: &str, project_id: &str) -> StoreResult<()> {
        let rec = HostRecord { project_id: project_id.to_string() };
        self.routes.put_host(hostname, &rec).await.map_err(store_err)
    }

    async fn delete_record(&self, hostname: &str) -> StoreResult<()> {
        self.routes.delete_host(hostname).await.map_err(store_err)
    }

    async fn cursor(&self, name: &str) -> StoreResult<Option<String>> {
        let row = self
            .db
            .prepare("SELECT cursor FROM sweep_cursors WHERE name = ?1")
            .bind(&[name.into()])
            .map_err(|e| store_err(db_err(e)))?
            .first::<Cursor>(None)
            .await
            .map_err(|e| store_err(db_err(e)))?;
        Ok(row.map(|c| c.cursor))
    }

    async fn set_cursor(&self, name: &str, cursor: Option<&str>) -> StoreResult<()> {
        let stmt = match cursor {
            Some(c) => self
                .db
                .prepare(
                    "INSERT INTO sweep_cursors (name, cursor) VALUES (?1, ?2) \
                     ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor",
                )
                .bind(&[name.into(), JsValue::from(c)]),
            None => self.db.prepare("DELETE FROM sweep_cursors WHERE name = ?1").bind(&[name.into()]),
        };
        stmt.map_err(|e| store_err(db_err(e)))?.run().await.map_err(|e| store_err(db_err(e)))?;
        Ok(())
    }

    fn forget_hosts(&self) {
        cache::forget_hosts();
    }
}
