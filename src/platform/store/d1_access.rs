//! D1 side of access control: authenticating a bearer token (root secret or a scoped
//! `flt_` token looked up by its SHA-256), the `api_tokens` table, audit rows and the
//! fixed-window quota counters. SQL lives here and only here.

use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::access::quota::Rate;
use crate::access::{
    check_chain, hash_secret, looks_like_secret, Principal, Projects, TokenRow, MAX_TOKEN_CHAIN,
};
use crate::auth::{bearer_token, check_admin};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings;
use crate::platform::store::d1::{db_err, num, opt_str};

const TOKEN_COLUMNS: &str =
    "id, name, hint, projects, scopes, created_by, parent_id, created_at, expires_at, revoked_at, last_used_at";

/// A token's chain in one query: the row `?1` names (by `{key}`), then its parent, up to a token
/// minted by the root, ordered by depth. Recursion stops at `MAX_TOKEN_CHAIN` rows, so a longer
/// (or looping) chain comes back cut off and `check_chain` refuses it.
fn chain_sql(key: &str) -> String {
    format!(
        "WITH RECURSIVE chain(id, parent_id, depth) AS ( \
           SELECT id, parent_id, 0 FROM api_tokens WHERE {key} = ?1 \
           UNION ALL \
           SELECT t.id, t.parent_id, c.depth + 1 FROM api_tokens t JOIN chain c ON t.id = c.parent_id \
           WHERE c.depth + 1 < {MAX_TOKEN_CHAIN}) \
         SELECT t.id, t.name, t.hint, t.projects, t.scopes, t.created_by, t.parent_id, t.created_at, \
                t.expires_at, t.revoked_at, t.last_used_at \
         FROM chain c JOIN api_tokens t ON t.id = c.id ORDER BY c.depth"
    )
}

pub struct D1Access {
    db: D1Database,
}

fn unauthorized() -> ApiError {
    ApiError::unauthorized("Missing or invalid API token")
}

impl D1Access {
    pub fn new(env: &Env) -> ApiResult<D1Access> {
        Ok(D1Access { db: crate::platform::store::d1::database(env)? })
    }

    /// Who the `Authorization` header names. The root secret is compared in constant time; a
    /// scoped token is found by the hash of its secret, so the secret itself is never stored,
    /// and it authenticates only while it and every token above it are live (`check_chain`).
    pub async fn authenticate(&self, env: &Env, header: Option<&str>, now: i64) -> ApiResult<Principal> {
        if check_admin(header, &bindings::secret(env, bindings::API_TOKEN)).is_ok() {
            return Ok(Principal::Root);
        }
        let token = bearer_token(header).ok_or_else(unauthorized)?;
        if !looks_like_secret(token) {
            return Err(unauthorized());
        }
        let chain = self.chain("secret_hash", &hash_secret(token)).await?;
        let grant = check_chain(&chain, now)?;
        // At most one write per token per minute.
        let touched = self
            .db
            .prepare(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1 \
                 AND (last_used_at IS NULL OR last_used_at < ?2 - 60000)",
            )
            .bind(&[grant.token_id.as_str().into(), num(now)])
            .map_err(db_err)?
            .run()
            .await;
        if let Err(e) = touched {
            worker::console_warn!("api_tokens.last_used_at not updated: {e}");
        }
        Ok(Principal::Token(grant))
    }

    /// The chain of the token whose `key` column (`id` or `secret_hash`) is `value`.
    async fn chain(&self, key: &str, value: &str) -> ApiResult<Vec<TokenRow>> {
        self.db
            .prepare(chain_sql(key))
            .bind(&[value.into()])
            .map_err(db_err)?
            .all()
            .await
            .map_err(db_err)?
            .results::<TokenRow>()
            .map_err(db_err)
    }

    pub async fn token(&self, id: &str) -> ApiResult<Option<TokenRow>> {
        self.db
            .prepare(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"))
            .bind(&[id.into()])
            .map_err(db_err)?
            .first::<TokenRow>(None)
            .await
            .map_err(db_err)
    }

    /// Whether principal `id` may still act (root always; a token while its chain is live).
    pub async fn principal_live(&self, id: &str, now: i64) -> ApiResult<bool> {
        if id == crate::access::ROOT_ID {
            return Ok(true);
        }
        Ok(check_chain(&self.chain("id", id).await?, now).is_ok())
    }

    pub async fn insert_token(&self, row: &TokenRow, secret_hash: &str) -> ApiResult<()> {
        self.db
            .prepare(
                "INSERT INTO api_tokens (id, name, secret_hash, hint, projects, scopes, created_by, \
                 created_at, expires_at, parent_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .bind(&[
                row.id.as_str().into(),
                row.name.as_str().into(),
                secret_hash.into(),
                row.hint.as_str().into(),
                row.projects.as_str().into(),
                row.scopes.as_str().into(),
                row.created_by.as_str().into(),
                num(row.created_at),
                row.expires_at.map(num).unwrap_or(JsValue::NULL),
                opt_str(row.parent_id.as_deref()),
            ])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Newest first. `minted_by` limits the list to tokens a principal minted (plus itself).
    pub async fn list_tokens(&self, minted_by: Option<&str>) -> ApiResult<Vec<TokenRow>> {
        let stmt = match minted_by {
            None => self.db.prepare(format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC, id DESC LIMIT 500"
            )),
            Some(p) => self
                .db
                .prepare(format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE created_by = ?1 OR id = ?1 \
                     ORDER BY created_at DESC, id DESC LIMIT 500"
                ))
                .bind(&[p.into()])
                .map_err(db_err)?,
        };
        stmt.all().await.map_err(db_err)?.results::<TokenRow>().map_err(db_err)
    }

    /// Revokes token `id` and every descendant in one statement (so the cascade is all or
    /// nothing), walking `parent_id` down at most `MAX_TOKEN_CHAIN` levels: deeper tokens cannot
    /// be minted. Descendants of an already revoked token are revoked too (repairing a cascade
    /// an older write left undone). Returns the ids this call revoked.
    pub async fn revoke_tree(&self, id: &str, now: i64) -> ApiResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
        }
        let rows = self
            .db
            .prepare(format!(
                "WITH RECURSIVE tree(id, depth) AS ( \
                   SELECT id, 0 FROM api_tokens WHERE id = ?1 \
                   UNION \
                   SELECT t.id, tree.depth + 1 FROM api_tokens t JOIN tree ON t.parent_id = tree.id \
                   WHERE tree.depth + 1 < {MAX_TOKEN_CHAIN}) \
                 UPDATE api_tokens SET revoked_at = ?2 \
                 WHERE revoked_at IS NULL AND id IN (SELECT id FROM tree) RETURNING id"
            ))
            .bind(&[id.into(), num(now)])
            .map_err(db_err)?
            .all()
            .await
            .map_err(db_err)?
            .results::<Row>()
            .map_err(db_err)?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// The project that owns a deployment (live projects only).
    pub async fn deployment_project(&self, deployment_id: &str) -> ApiResult<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            project_id: String,
        }
        let row = self
            .db
            .prepare(
                "SELECT d.project_id FROM deployments d JOIN projects p ON p.id = d.project_id \
                 WHERE d.id = ?1 AND p.deleted_at IS NULL",
            )
            .bind(&[deployment_id.into()])
            .map_err(db_err)?
            .first::<Row>(None)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| r.project_id))
    }

    pub async fn audit(&self, entry: &AuditEntry<'_>) -> ApiResult<()> {
        self.db
            .prepare(
                "INSERT INTO audit_log (at, request_id, actor, action, project_id, detail, status, outcome) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .bind(&[
                num(entry.at),
                entry.request_id.into(),
                entry.actor.into(),
                entry.action.into(),
                opt_str(entry.project_id),
                entry.detail.map(|d| JsValue::from(d.to_string())).unwrap_or(JsValue::NULL),
                num(entry.status as i64),
                entry.outcome.into(),
            ])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Newest first, `before` an audit id (the cursor), limited to `projects` unless all.
    pub async fn list_audit(
        &self,
        project: Option<&str>,
        visible: &Projects,
        before: Option<i64>,
        limit: u32,
    ) -> ApiResult<Vec<AuditRow>> {
        let ids = match visible {
            Projects::All => Value::Null,
            Projects::Only(ids) => serde_json::json!(ids),
        };
        self.db
            .prepare(
                "SELECT id, at, request_id, actor, action, project_id, detail, status, outcome FROM audit_log \
                 WHERE (?1 IS NULL OR project_id = ?1) \
                   AND (?2 IS NULL OR project_id IN (SELECT value FROM json_each(?2))) \
                   AND (?3 IS NULL OR id < ?3) \
                 ORDER BY id DESC LIMIT ?4",
            )
            .bind(&[
                opt_str(project),
                if ids.is_null() { JsValue::NULL } else { ids.to_string().into() },
                before.map(num).unwrap_or(JsValue::NULL),
                num(limit as i64),
            ])
            .map_err(db_err)?
            .all()
            .await
            .map_err(db_err)?
            .results::<AuditRow>()
            .map_err(db_err)
    }

    /// Adds `amount` to `subject`'s counter of `rate` for the current window, unless that would
    /// pass the limit. One statement, so concurrent calls cannot both squeeze past it.
    pub async fn consume(&self, subject: &str, rate: &Rate, amount: u64, now: u64) -> ApiResult<bool> {
        if amount > rate.limit {
            return Ok(false);
        }
        #[derive(Deserialize)]
        struct Row {
            #[allow(dead_code)]
            amount: i64,
        }
        let row = self
            .db
            .prepare(
                "INSERT INTO usage_counters (subject, metric, window_start, amount) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (subject, metric, window_start) DO UPDATE SET amount = amount + excluded.amount \
                 WHERE usage_counters.amount + excluded.amount <= ?5 RETURNING amount",
            )
            .bind(&[
                subject.into(),
                rate.metric.into(),
                num(rate.window_start(now) as i64),
                num(amount as i64),
                num(rate.limit as i64),
            ])
            .map_err(db_err)?
            .first::<Row>(None)
            .await
            .map_err(db_err)?;
        Ok(row.is_some())
    }

    /// Gives back what `consume` took (when a later check of the same call refuses it).
    pub async fn refund(&self, subject: &str, rate: &Rate, amount: u64, now: u64) -> ApiResult<()> {
        self.db
            .prepare(
                "UPDATE usage_counters SET amount = MAX(0, amount - ?4) \
                 WHERE subject = ?1 AND metric = ?2 AND window_start = ?3",
            )
            .bind(&[
                subject.into(),
                rate.metric.into(),
                num(rate.window_start(now) as i64),
                num(amount as i64),
            ])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Drops counters of windows that ended before `cutoff` (the cron sweep).
    pub async fn prune_counters(&self, cutoff: i64) -> ApiResult<()> {
        self.db
            .prepare("DELETE FROM usage_counters WHERE window_start < ?1")
            .bind(&[num(cutoff)])
            .map_err(db_err)?
            .run()
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

pub struct AuditEntry<'a> {
    pub at: i64,
    pub request_id: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub project_id: Option<&'a str>,
    pub detail: Option<&'a Value>,
    pub status: u16,
    pub outcome: &'a str,
}

#[derive(Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub request_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub project_id: Option<String>,
    pub detail: Option<String>,
    pub status: Option<i64>,
    pub outcome: Option<String>,
}

impl AuditRow {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "at": crate::domain::iso8601(self.at.max(0) as u64),
            "principal": self.actor,
            "action": self.action,
            "projectId": self.project_id,
            "requestId": self.request_id,
            "status": self.status,
            "outcome": self.outcome,
            "detail": self.detail.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
        })
    }
}
