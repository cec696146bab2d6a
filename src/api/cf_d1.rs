//! wrangler's D1 calls at `/client/v4/accounts/:a/d1/database...` (`d1_databases` on deploy,
//! `wrangler d1 create|list|info|delete|execute --remote`): shapes and parsing are
//! src/compat/d1.rs, statements the binding's rules (src/storage/sql.rs) run in the database's
//! own object (src/platform/store/tenant_sql.rs). A name resolves only among the caller's own
//! databases, an id among those it reaches (as `/__api/sql/databases`); anything else is
//! Cloudflare's 404 with D1's code 7404 (set in `cf::handle`).

use serde_json::{json, Value};
use worker::{Request, Response};

use super::uploads::jwt_secret;
use super::{query_pairs, read_body, Ctx, MAX_JSON_BODY};
use crate::auth::{issue_token, verify_any_project, TokenKind};
use crate::compat::*;
use crate::domain::{is_resource_id, ResourceRow, ResourceScope, KIND_SQL};
use crate::error::{ApiError, ApiResult};
use crate::keys::sql_import_key;
use crate::platform::bindings::now_ms;
use crate::platform::store::d1_resources::{Created, D1Resources};
use crate::platform::store::r2::R2Blobs;
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
    let results = run_sql(ctx, &row, &queries)
        .await?
        .map_err(|e| ApiError::Unprocessable { reason: e, details: None })?;
    ctx.note.borrow_mut().detail = Some(json!({ "databaseId": row.id, "statements": queries.len() }));
    super::cf::ok(query_result(&results))
}

/// How long the upload URL of `execute --file` stays good.
const IMPORT_URL_TTL_SECS: i64 = 3600;

/// Runs `plan`'s statements for `row` and answers D1's results, or the first error's text.
async fn run_sql(
    ctx: &Ctx<'_>,
    row: &ResourceRow,
    queries: &[sql::Query],
) -> ApiResult<Result<Vec<Value>, String>> {
    let max = sql::max_bytes(ctx.env.var("SQL_DB_MAX_BYTES").ok().map(|v| v.to_string()).as_deref());
    let plan = match sql::plan(queries, max) {
        Ok(p) => p,
        Err((_, e)) => return Ok(Err(e)),
    };
    let answer = tenant_sql::run_plan(ctx.env, &row.id, plan).await?;
    Ok(sql::results(&answer, max).map_err(|(_, e)| e))
}

/// `POST /d1/database/:id/import` (`wrangler d1 execute --file --remote`): `init` answers an
/// upload URL on this platform for the file's MD5 (signed, an hour, this database only);
/// `ingest` runs the uploaded file as one transaction (all or nothing) and deletes it.
pub async fn import(req: &mut Request, id_or_name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let row = resolve(id_or_name, ctx).await?;
    match parse_import(&read_body(req, MAX_JSON_BODY).await?)? {
        ImportAction::Init { etag } => {
            let token = issue_token(
                &jwt_secret(ctx)?,
                TokenKind::SqlImport,
                &row.id,
                &etag,
                ctx.principal.id(),
                now_ms(),
                IMPORT_URL_TTL_SECS,
            )?;
            let url = req.url().map_err(super::internal)?;
            let origin = url.origin().ascii_serialization();
            super::cf::ok(
                json!({ "success": true, "upload_url": format!("{origin}/client/v4/d1-import/{token}"),
                                  "filename": format!("{etag}.sql") }),
            )
        }
        ImportAction::Ingest { etag } => {
            let blobs = R2Blobs::new(ctx.env)?;
            let key = sql_import_key(&row.id, &etag);
            let Some(text) = blobs.get_text(&key).await? else {
                return super::cf::ok(import_failed(
                    "No uploaded file with this MD5: run the command again.",
                ));
            };
            let queries = match file_queries(&text) {
                Ok(q) => q,
                Err(e) => {
                    blobs.delete(&key).await?;
                    return super::cf::ok(import_failed(&e.message()));
                }
            };
            let outcome = run_sql(ctx, &row, &queries).await?;
            blobs.delete(&key).await?;
            ctx.note.borrow_mut().detail =
                Some(json!({ "databaseId": row.id, "statements": queries.len(), "via": "import" }));
            match outcome {
                Ok(results) => super::cf::ok(import_complete(&results)),
                Err(e) => super::cf::ok(import_failed(&e)),
            }
        }
        ImportAction::Poll => {
            super::cf::ok(import_failed("No import is running: imports finish within ingest."))
        }
    }
}

/// `PUT /client/v4/d1-import/:token`: the file itself (no credentials: the token is the grant).
/// Kept under the database's key by its MD5, which must be the one `init` was asked for;
/// answers R2's ETag (the MD5), which wrangler compares.
pub async fn import_upload(req: &mut Request, token: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let claims = verify_any_project(&jwt_secret(ctx)?, token, TokenKind::SqlImport, now_ms())?;
    ctx.note.borrow_mut().principal = Some(claims.prn.clone());
    let body = read_body(req, MAX_IMPORT_BYTES).await?;
    if std::str::from_utf8(&body).is_err() {
        return Err(ApiError::bad("body", "must be a UTF-8 SQL file"));
    }
    let blobs = R2Blobs::new(ctx.env)?;
    let key = sql_import_key(&claims.pid, &claims.sid);
    let etag = blobs.put_bytes(&key, body).await?;
    if etag != claims.sid {
        blobs.delete(&key).await?;
        return Err(ApiError::bad("body", "does not have the MD5 the upload URL was made for"));
    }
    let mut resp = Response::empty().map_err(super::internal)?;
    resp.headers_mut().set("etag", &format!("\"{etag}\"")).map_err(super::internal)?;
    Ok(resp)
}

/// `export`: not supported, said in one line.
pub async fn unsupported(id_or_name: &str, what: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    resolve(id_or_name, ctx).await?;
    Err(ApiError::NotImplemented { what: what.to_string() })
}
