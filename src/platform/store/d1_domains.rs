//! D1 adapter for custom domains (binding `DB`, table `domains`): the source of truth for
//! which hostname belongs to which project and whether it is verified.
// Shared with the visitor-only build (`--features site`), which uses a part of it.
#![cfg_attr(feature = "site", allow(dead_code))]

use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::domain::{DomainRow, STATUS_ACTIVE};
use crate::error::ApiResult;
use crate::platform::store::d1::{database, db_err, num};

const COLUMNS: &str = "hostname, project_id, status, verification, created_at, updated_at, verified_at, \
     checked_at, last_error, saas_id, ssl_status";

pub struct D1Domains {
    db: D1Database,
}

/// Result of an insert: hostnames are the primary key, so a concurrent attach loses cleanly.
pub enum Attached {
    Ok,
    Taken,
}

#[derive(serde::Deserialize)]
struct Owner {
    hostname: String,
    project_id: String,
}

impl D1Domains {
    pub fn new(env: &Env) -> ApiResult<D1Domains> {
        Ok(D1Domains { db: database(env)? })
    }

    pub async fn get(&self, hostname: &str) -> ApiResult<Option<DomainRow>> {
        self.db
            .prepare(format!("SELECT {COLUMNS} FROM domains WHERE hostname = ?1"))
            .bind(&[hostname.into()])
            .map_err(db_err)?
            .first::<DomainRow>(None)
            .await
            .map_err(db_err)
    }

    pub async fn list(&self, project_id: &str) -> ApiResult<Vec<DomainRow>> {
        self.db
            .prepare(format!(
                "SELECT {COLUMNS} FROM domains WHERE project_id = ?1 ORDER BY created_at, hostname"
            ))
            .bind(&[project_id.into()])
            .map_err(db_err)?
            .all()
            .await
            .map_err(db_err)?
            .results::<DomainRow>()
            .map_err(db_err)
    }

    pub async fn insert(&self, row: &DomainRow, created_by: &str) -> ApiResult<Attached> {
        let stmt = self
            .db
            .prepare(
                "INSERT INTO domains (hostname, project_id, status, verification, created_at, updated_at, created_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
            )
            .bind(&[
                row.hostname.as_str().into(),
                row.project_id.as_str().into(),
                row.status.as_str().into(),
                row.verification.as_str().into(),
                num(row.created_at),
                created_by.into(),
            ])
            .map_err(db_err)?;
        match stmt.run().await {
            Ok(_) => Ok(Attached::Ok),
            Err(e) if e.to_string().contains("UNIQUE") || e.to_string().contains("PRIMARY KEY") => {
                Ok(Attached::Taken)
            }
            Err(e) => Err(db_err(e)),
        }
    }

    /// Removes the row only while it still belongs to `project_id`.
    pub async fn delete(&self, hostname: &str, project_id: &str) -> ApiResult<()> {
        self.db
            .prepare("DELETE FROM domains WHERE hostname = ?1 AND project_id = ?2")
            .bind(&[hostname.into(), project_id.into()])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Records a verify attempt: `error = None` turns the domain active.
    pub async fn record_check(&self, hostname: &str, error: Option<&str>, now: i64) -> ApiResult<()> {
        let stmt = match error {
            None => self
                .db
                .prepare(
                    "UPDATE domains SET status = 'active', verified_at = COALESCE(verified_at, ?2), \
                     checked_at = ?2, last_error = NULL, updated_at = ?2 WHERE hostname = ?1",
                )
                .bind(&[hostname.into(), num(now)]),
            Some(e) => self
                .db
                .prepare("UPDATE domains SET checked_at = ?2, last_error = ?3, updated_at = ?2 WHERE hostname = ?1")
                .bind(&[hostname.into(), num(now), e.into()]),
        };
        stmt.map_err(db_err)?.run().await.map_err(db_err)?;
        Ok(())
    }

    /// Stores the Cloudflare for SaaS custom hostname id and its SSL status.
    pub async fn set_ssl(&self, hostname: &str, saas_id: &str, ssl_status: &str, now: i64) -> ApiResult<()> {
        self.db
            .prepare("UPDATE domains SET saas_id = ?2, ssl_status = ?3, updated_at = ?4 WHERE hostname = ?1")
            .bind(&[hostname.into(), saas_id.into(), ssl_status.into(), num(now)])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The live project an active hostname among `candidates` routes to; earlier candidates
    /// win (the exact name before its wildcard).
    pub async fn active_owner(&self, candidates: &[&str]) -> ApiResult<Option<(String, String)>> {
        if candidates.is_empty() {
            return Ok(None);
        }
        let params: Vec<String> = (2..candidates.len() + 2).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "SELECT d.hostname, d.project_id FROM domains d JOIN projects p ON p.id = d.project_id \
             WHERE d.status = ?1 AND p.deleted_at IS NULL AND d.hostname IN ({})",
            params.join(", ")
        );
        let mut args: Vec<JsValue> = vec![STATUS_ACTIVE.into()];
        args.extend(candidates.iter().map(|c| JsValue::from(*c)));
        let rows = self
            .db
            .prepare(sql)
            .bind(&args)
            .map_err(db_err)?
            .all()
            .await
            .map_err(db_err)?
            .results::<Owner>()
            .map_err(db_err)?;
        Ok(candidates
            .iter()
            .find_map(|c| rows.iter().find(|r| r.hostname == *c))
            .map(|r| (r.hostname.clone(), r.project_id.clone())))
    }
}
