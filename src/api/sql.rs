//! SQL databases for tenant code (`/__api/sql/databases`, issue 27): create, list, get, delete.
//! D1 (`resources`, kind `sql`) is the truth, with the same access rules as KV namespaces
//! (`ResourceScope`); the data is each database's own SQLite Durable Object
//! (src/platform/store/tenant_sql.rs). A database the caller does not reach is a 404.

use serde_json::json;
use worker::{Request, Response};

use super::resources::{deleting, insert, load, note, page, respond};
use super::{read_body, Ctx, MAX_JSON_BODY};
use crate::domain::{parse_create_database, ResourceRow, KIND_SQL};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::now_ms;
use crate::platform::store::d1_resources::{Created, D1Resources};
use crate::platform::store::tenant_sql::{destroy, forget, size};

/// Inserts a database named `name` owned by the caller (the API and wrangler create them so).
pub(super) async fn insert_database(name: String, ctx: &Ctx<'_>) -> ApiResult<(ResourceRow, Created)> {
    insert(KIND_SQL, name, ctx).await
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
    let (out, cursor) = page(req, KIND_SQL, ctx, |r, projects| r.database_json(projects, None)).await?;
    respond(200, json!({ "databases": out, "cursor": cursor, "count": out.len() }))
}

/// `GET /__api/sql/databases/:id` -> `{database}` with its size in bytes and the projects that
/// bind it.
pub async fn get(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Resources::new(ctx.env)?;
    let row = load(&store, KIND_SQL, id, ctx).await?;
    let bytes = size(ctx.env, &row.id).await?;
    respond(200, json!({ "database": row.database_json(&store.bound_projects(&row.id).await?, Some(bytes)) }))
}

/// `DELETE /__api/sql/databases/:id`: refused (409) while a production or aliased deployment of
/// a live project binds it; otherwise unreachable at once (bindings stop answering) and its
/// tables and rows removed (one `deleteAll`). If that removal fails the database stays findable
/// for DELETE only (`data.removed: false`) and the cron finishes it.
pub async fn delete(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Resources::new(ctx.env)?;
    let row = deleting(&store, KIND_SQL, id, ctx, forget).await?;
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
