//! SQL databases for tenant code (`/__api/sql/databases`, issue 27): create, list, get, delete.
//! D1 (`resources`, kind `sql`) is the truth, with the same access rules as KV namespaces
//! (`ResourceScope`); the data is each database's own SQLite Durable Object
//! (src/platform/store/tenant_sql.rs). A database the caller does not reach is a 404.

use serde_json::json;
use worker::{Request, Response};

use super::{internal, query_pairs, read_body, Ctx, MAX_JSON_BODY};
use crate::domain::{
    is_resource_id, parse_create_database, parse_list_query, resource_id, ListCursor, ResourceRow,
    ResourceScope, KIND_SQL,
};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::{now_ms, random_bytes};
use crate::platform::http;
use crate::platform::store::d1_resources::{Created, D1Resources};
use crate::platform::store::tenant_sql::{destroy, forget, size};

fn respond(status: u16, body: serde_json::Value) -> ApiResult<Response> {
    http::ok(status, body).map_err(internal)
}

fn note(ctx: &Ctx<'_>, detail: serde_json::Value) {
    ctx.note.borrow_mut().detail = Some(detail);
}

/// A live database the caller reaches, or 404.
async fn load(store: &D1Resources, id: &str, ctx: &Ctx<'_>) -> ApiResult<ResourceRow> {
    let missing = || ApiError::not_found("SQL database");
    if !is_resource_id(id) {
        return Err(missing());
    }
    store.get(KIND_SQL, id, &ResourceScope::of(&ctx.principal)).await?.ok_or_else(missing)
}

/// Inserts a database named `name` owned by the caller (the API and wrangler create them so).
pub(super) async fn insert_database(name: String, ctx: &Ctx<'_>) -> ApiResult<(ResourceRow, Created)> {
    let row = ResourceRow {
        id: resource_id(random_bytes::<16>()),
        kind: KIND_SQL.into(),
        title: name,
        created_by: ctx.principal.id().to_string(),
        created_at: now_ms() as i64,
    };
    let created = D1Resources::new(ctx.env)?.insert(&row).await?;
    Ok((row, created))
}

/// `POST /__api/sql/databases {name}` -> 201 `{database}`; 409 if the caller already has a
/// live database with that name. The SQLite object comes into being on first use.
pub async fn create(req: &mut Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let name = parse_create_database(&read_body(req, MAX_JSON_BODY).await?)?;
    let (row, created) = insert_database(name, ctx).await?;
    match created {
        Created::Ok => {
            note(ctx, json!({ "databaseId": row.id, "name": row.name() }));
            respond(201, json!({ "database": row.database_json(&[], Some(0)) }))
        }
        Created::TitleTaken => Err(ApiError::Conflict {
            reason: format!("You already have a SQL database named `{}`", row.name()),
        }),
    }
}

/// `GET /__api/sql/databases?limit=&cursor=`: newest first, only what the caller reaches.
pub async fn list(req: &Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let q = parse_list_query(&query_pairs(req))?;
    let store = D1Resources::new(ctx.env)?;
    let scope = ResourceScope::of(&ctx.principal);
    let (rows, more) = store.list(KIND_SQL, q.limit, q.cursor.as_ref(), &scope).await?;
    let cursor = match (more, rows.last()) {
        (true, Some(last)) => Some(ListCursor { created_at: last.created_at, id: last.id.clone() }.encode()),
        _ => None,
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(r.database_json(&store.bound_projects(&r.id).await?, None));
    }
    respond(200, json!({ "databases": out, "cursor": cursor, "count": out.len() }))
}

/// `GET /__api/sql/databases/:id` -> `{database}` with its size in bytes and the projects that
/// bind it.
pub async fn get(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Resources::new(ctx.env)?;
    let row = load(&store, id, ctx).await?;
    let bytes = size(ctx.env, &row.id).await?;
    respond(200, json!({ "database": row.database_json(&store.bound_projects(&row.id).await?, Some(bytes)) }))
}

/// `DELETE /__api/sql/databases/:id`: refused (409) while a production or aliased deployment of
/// a live project binds it; otherwise unreachable at once (bindings stop answering) and its
/// tables and rows removed (one `deleteAll`). If that removal fails the database stays findable
/// for DELETE only (`data.removed: false`) and the cron finishes it.
pub async fn delete(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Resources::new(ctx.env)?;
    let scope = ResourceScope::of(&ctx.principal);
    let resumed = match is_resource_id(id) {
        true => store.get_unpurged(KIND_SQL, id, &scope).await?,
        false => None,
    };
    let row = match resumed {
        Some(r) => r,
        None => first_delete(&store, id, ctx).await?,
    };
    let removed = match destroy(ctx.env, &row.id).await {
        Ok(()) => {
            store.mark_purged(&row.id, now_ms() as i64).await?;
            true
        }
        Err(e) => {
            crate::platform::http::log(
                "error",
                "sql",
                json!({ "msg": "removing a deleted database's data failed", "databaseId": row.id, "error": e.log_detail() }),
            );
            false
        }
    };
    note(ctx, json!({ "databaseId": row.id, "name": row.name(), "removed": removed }));
    respond(200, json!({ "deleted": { "id": row.id, "name": row.name() }, "data": { "removed": removed } }))
}

/// The first DELETE of a live database: the 409 check, then the row marked deleted.
async fn first_delete(store: &D1Resources, id: &str, ctx: &Ctx<'_>) -> ApiResult<ResourceRow> {
    let row = load(store, id, ctx).await?;
    let serving = store.serving_bindings(&row.id).await?;
    if serving > 0 {
        return Err(ApiError::Conflict {
            reason: format!(
                "SQL database `{}` is bound by {serving} live deployment(s) (production or an alias); \
                 deploy without the binding or delete those projects first",
                row.name()
            ),
        });
    }
    store.mark_deleted(&row.id, now_ms() as i64).await?;
    forget(&row.id);
    Ok(row)
}
