//! D1 adapter for custom domains (binding `DB`, table `domains`): the source of truth for
//! which hostname belongs to which project and whether it is verified.
// Shared with the visitor-only build (`--features site`), which uses a part of it.
#![cfg_attr(feature = "site", allow(dead_code))]

use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::domain::{DomainRow, STATUS_ACTIVE, STATUS_PENDING};
use crate::error::ApiResult;
use crate::platform::store::d1::{all_rows, database, db_err, num, placeholders, MAX_PARAMS};

const COLUMNS: &str = "hostname, project_id, status, verification, created_at, updated_at, verified_at, \
     checked_at, last_error, saas_id, ssl_status";

pub struct D1Domains {
    db: D1Database,
}

/// Result of an insert: hostnames are the primary key, so a concurrent attach loses cleanly.
pub enum Attached {
    Ok,
    Taken,
    /// The attaching principal reached one of its caps (checked in the same statement, so two
    /// concurrent attaches cannot both slip past it).
    OverCap,
}

/// The caps an attach is held to: (all domains, pending domains) of the attaching principal.
pub type Caps = Option<(u64, u64)>;

#[derive(serde::Deserialize)]
struct Counts {
    total: i64,
    pending: Option<i64>,
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
        all_rows(
            self.db
                .prepare(format!(
                    "SELECT {COLUMNS} FROM domains WHERE project_id = ?1 ORDER BY created_at, hostname"
                ))
                .bind(&[project_id.into()]),
        )
        .await
    }

    /// How many domains `created_by` has attached, and how many of them are pending.
    pub async fn count_by_creator(&self, created_by: &str) -> ApiResult<(u64, u64)> {
        let c = self
            .db
            .prepare(
                "SELECT COUNT(*) AS total, SUM(CASE WHEN status = ?2 THEN 1 ELSE 0 END) AS pending \
                 FROM domains WHERE created_by = ?1",
            )
            .bind(&[created_by.into(), STATUS_PENDING.into()])
            .map_err(db_err)?
            .first::<Counts>(None)
            .await
            .map_err(db_err)?;
        Ok(c.map_or((0, 0), |c| (c.total.max(0) as u64, c.pending.unwrap_or(0).max(0) as u64)))
    }

    /// Inserts a pending row unless the hostname is taken or `caps` would be exceeded.
    pub async fn insert(&self, row: &DomainRow, created_by: &str, caps: Caps) -> ApiResult<Attached> {
        let (total, pending) =
            caps.map_or((JsValue::NULL, JsValue::NULL), |(t, p)| (num(t as i64), num(p as i64)));
        let stmt = self
            .db
            .prepare(
                "INSERT INTO domains (hostname, project_id, status, verification, created_at, updated_at, created_by) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?5, ?6 WHERE ?7 IS NULL OR (\
                   (SELECT COUNT(*) FROM domains WHERE created_by = ?6) < ?7 AND \
                   (SELECT COUNT(*) FROM domains WHERE created_by = ?6 AND status = ?3) < ?8)",
            )
            .bind(&[
                row.hostname.as_str().into(),
                row.project_id.as_str().into(),
                row.status.as_str().into(),
                row.verification.as_str().into(),
                num(row.created_at),
                created_by.into(),
                total,
                pending,
            ])
            .map_err(db_err)?;
        match stmt.run().await {
            Ok(r) if r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) == 0 => {
                Ok(Attached::OverCap)
            }
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

    /// Up to `limit` of the project's domains (the purge releases them chunk by chunk).
    pub async fn list_chunk(&self, project_id: &str, limit: usize) -> ApiResult<Vec<DomainRow>> {
        all_rows(
            self.db
                .prepare(format!(
                    "SELECT {COLUMNS} FROM domains WHERE project_id = ?1 ORDER BY hostname LIMIT ?2"
                ))
                .bind(&[project_id.into(), num(limit as i64)]),
        )
        .await
    }

    /// Removes these rows of the project (one statement per 98 names).
    pub async fn delete_many(&self, project_id: &str, hostnames: &[String]) -> ApiResult<()> {
        if hostnames.is_empty() {
            return Ok(());
        }
        let mut stmts = Vec::new();
        for chunk in hostnames.chunks(MAX_PARAMS - 2) {
            let sql = format!(
                "DELETE FROM domains WHERE project_id = ?1 AND hostname IN ({})",
                placeholders(2, chunk.len())
            );
            let mut args = vec![JsValue::from(project_id)];
            args.extend(chunk.iter().map(|h| JsValue::from(h.as_str())));
            stmts.push(self.db.prepare(sql).bind(&args).map_err(db_err)?);
        }
        self.db.batch(stmts).await.map_err(db_err)?;
        Ok(())
    }

    /// Up to `limit` domains still pending that were attached at or before `cutoff`.
    pub async fn expired_pending(&self, cutoff: i64, limit: usize) -> ApiResult<Vec<DomainRow>> {
        self.db
            .prepare(format!(
                "SELECT {COLUMNS} FROM domains WHERE status = ?1 AND created_at <= ?2 ORDER BY created_at LIMIT ?3"
            ))
            .bind(&[STATUS_PENDING.into(), num(cutoff), num(limit as i64)])
            .map_err(db_err)?
            .all()
            .await
            .map_err(db_err)?
            .results::<DomainRow>()
            .map_err(db_err)
    }

    /// Removes a pending row only while it is still pending and expired: a verify that won the
    /// race keeps its domain.
    pub async fn delete_expired(&self, hostname: &str, project_id: &str, cutoff: i64) -> ApiResult<()> {
        self.db
            .prepare(
                "DELETE FROM domains WHERE hostname = ?1 AND project_id = ?2 AND status = ?3 AND created_at <= ?4",
            )
            .bind(&[hostname.into(), project_id.into(), STATUS_PENDING.into(), num(cutoff)])
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
