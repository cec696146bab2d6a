//! wrangler's D1 calls at `/client/v4/accounts/:a/d1/database...` (`d1_databases` on deploy,
//! `wrangler d1 create|list|info|delete|execute --remote`): shapes and parsing are
//! src/compat/d1.rs, statements the binding's rules (src/storage/sql.rs) run in the database's
//! own object (src/platform/store/tenant_sql.rs). A name resolves only among the caller's own
//! databases, an id among those it reaches (as `/__api/sql/databases`); anything else is
//! Cloudflare's 404 with D1's code 7404 (set in `cf::handle`).

use serde_json::{json, Value};
use worker::{Request, Response};

use super::{query_pairs, read_body, Ctx, MAX_JSON_BODY};
use crate::compat::*;
use crate::domain::{is_resource_id, ResourceRow, ResourceScope, KIND_SQL};
use crate::error::{ApiError, ApiResult};
use crate::platform::store::d1_resources::{Created, D1Resources};
use crate::platform::store::tenant_sql;
use crate::storage::sql;

/// A wrangler `--command` may carry a whole migration file.
const MAX_QUERY_BODY: usize = 1024 * 1024;

/// The database `id_or_name` names for the caller: by id among those it reaches, else by name
/// among its own.
async fn resolve(id_or_name: &str, ctx: &Ctx<'_>) -> ApiResult<ResourceRow> {
    let store = D1Resources::new(ctx.env)?;
    if is_resource_id(id_or_name) {
        if let Some(r) = store.get(KIND_SQL, id_or_name, &ResourceScope::of(&ctx.principal)).await? {
            return Ok(r);
        }
    }
    store
        .own_by_title(KIND_SQL, ctx.principal.id(), id_or_name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("The database {id_or_name}")))
}

/// `GET /d1/database?page=&per_page=&name=`: the caller's OWN databases by name.
pub async fn list(req: &Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let q = query_pairs(req);
    let (page, per_page) = cf_page_params(&q);
    let store = D1Resources::new(ctx.env)?;
    let rows = match q.iter().find(|(n, _)| n == "name") {
        Some((_, name)) => {
            store.own_by_title(KIND_SQL, ctx.principal.id(), name).await?.into_iter().collect()
        }
        None => {
            store
                .list_own(KIND_SQL, ctx.principal.id(), per_page, (page - 1).saturating_mul(per_page))
                .await?
        }
    };
    let items: Vec<Value> = rows.iter().map(|r| cf_database(r, None)).collect();
    let mut body = cf_success(json!(items));
    body["result_info"] = json!({ "page": page, "per_page": per_page, "count": items.len() });
    super::cf::respond(200, &body)
}

/// `POST /d1/database {name}`: a database owned by the caller (a name it has is code 7502).
pub async fn create(req: &mut Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let name = parse_create(&read_body(req, MAX_JSON_BODY).await?)?;
    let (row, created) = super::sql::insert_database(name, ctx).await?;
    match created {
        Created::Ok => {
            ctx.note.borrow_mut().detail =
                Some(json!({ "databaseId": row.id, "name": row.title, "via": "wrangler" }));
            super::cf::ok(cf_database(&row, Some(0)))
        }
        Created::TitleTaken => Err(ApiError::Conflict {
            reason: format!("A database with the name `{}` already exists", row.title),
        }),
    }
}

/// `GET /d1/database/:id_or_name` (with its size).
pub async fn get(id_or_name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let row = resolve(id_or_name, ctx).await?;
    let size = tenant_sql::size(ctx.env, &row.id).await?;
    super::cf::ok(cf_database(&row, Some(size)))
}

/// `DELETE /d1/database/:id` (`wrangler d1 delete`): as `DELETE /__api/sql/databases/:id`.
pub async fn delete(id_or_name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let row = resolve(id_or_name, ctx).await?;
    super::sql::delete(&row.id, ctx).await?;
    super::cf::ok(Value::Null)
}

/// `POST /d1/database/:id/query {sql, params?}`: every statement in one transaction.
pub async fn query(req: &mut Request, id_or_name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let row = resolve(id_or_name, ctx).await?;
    let queries = parse_query(&read_body(req, MAX_QUERY_BODY).await?)?;
    let max = sql::max_bytes(ctx.env.var("SQL_DB_MAX_BYTES").ok().map(|v| v.to_string()).as_deref());
    let failed = |e: String| ApiError::Unprocessable { reason: e, details: None };
    let plan = sql::plan(&queries, max).map_err(|(_, e)| failed(e))?;
    let answer = tenant_sql::run_plan(ctx.env, &row.id, plan).await?;
    let results = sql::results(&answer, max).map_err(|(_, e)| failed(e))?;
    ctx.note.borrow_mut().detail = Some(json!({ "databaseId": row.id, "statements": queries.len() }));
    super::cf::ok(query_result(&results))
}

/// `import` (`execute --file`) and `export`: not supported, said in one line.
pub async fn unsupported(id_or_name: &str, what: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    resolve(id_or_name, ctx).await?;
    Err(ApiError::NotImplemented { what: what.to_string() })
}
