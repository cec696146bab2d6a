//! KV namespaces for tenant code (`/__api/kv/namespaces`, issue 27): create, list, get, delete.
//! D1 (`resources`, kind `kv`) is the truth; who reaches a namespace is `ResourceScope`. A
//! namespace that is not reachable is a 404, never a 403 (its existence is not disclosed).
//! What the three storage APIs share is src/api/resources.rs.

use serde_json::json;
use worker::{Request, Response};

use super::resources::{deleting, insert, load, note, page, respond};
use super::{read_body, Ctx, MAX_JSON_BODY};
use crate::domain::{parse_create_namespace, ResourceRow, KIND_KV};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::now_ms;
use crate::platform::store::d1_resources::{Created, D1Resources};
use crate::platform::store::tenant_kv::{forget, remove_keys};
use crate::storage::kv::TenantNamespace;

/// Reads `{title}` and inserts a namespace owned by the caller (both APIs create them so).
pub(super) async fn insert_namespace(req: &mut Request, ctx: &Ctx<'_>) -> ApiResult<(ResourceRow, Created)> {
    let title = parse_create_namespace(&read_body(req, MAX_JSON_BODY).await?)?;
    insert(KIND_KV, title, ctx).await
}

/// `POST /__api/kv/namespaces {title}` -> 201 `{namespace}`; 409 if the caller already has a
/// live namespace with that title.
pub async fn create(req: &mut Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (row, created) = insert_namespace(req, ctx).await?;
    match created {
        Created::Ok => {
            note(ctx, json!({ "namespaceId": row.id, "title": row.title }));
            respond(201, json!({ "namespace": row.to_json(&[]) }))
        }
        Created::TitleTaken => Err(ApiError::Conflict {
            reason: format!("You already have a KV namespace titled `{}`", row.title),
        }),
    }
}

/// `GET /__api/kv/namespaces?limit=&cursor=`: newest first, only what the caller reaches.
pub async fn list(req: &Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (out, cursor) = page(req, KIND_KV, ctx, |r, projects| r.to_json(projects)).await?;
    respond(200, json!({ "namespaces": out, "cursor": cursor, "count": out.len() }))
}

/// `GET /__api/kv/namespaces/:id` -> `{namespace}` with the projects that bind it.
pub async fn get(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Resources::new(ctx.env)?;
    let row = load(&store, KIND_KV, id, ctx).await?;
    respond(200, json!({ "namespace": row.to_json(&store.bound_projects(&row.id).await?) }))
}

/// Keys one DELETE call removes at most (a Worker invocation has 1000 subrequests; D1 and the
/// list take a few).
const REMOVE_PER_CALL: u32 = 500;

/// `DELETE /__api/kv/namespaces/:id`: refused (409) while a production or aliased deployment
/// of a live project binds it; otherwise unreachable at once (bindings stop answering), and up
/// to 500 of its keys are removed. While keys remain (`keys.more`), the namespace stays
/// findable for DELETE only, and each call removes the next batch.
pub async fn delete(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Resources::new(ctx.env)?;
    let row = deleting(&store, KIND_KV, id, ctx, forget).await?;
    let ns = TenantNamespace::new(&row.id)
        .ok_or_else(|| ApiError::internal("stored namespace id is malformed"))?;
    let (removed, more) = remove_keys(ctx.env, &ns, REMOVE_PER_CALL).await?;
    if !more {
        store.mark_purged(&row.id, now_ms() as i64).await?;
    }
    note(ctx, json!({ "namespaceId": row.id, "title": row.title, "keysRemoved": removed, "more": more }));
    respond(
        200,
        json!({ "deleted": { "id": row.id, "title": row.title }, "keys": { "removed": removed, "more": more } }),
    )
}
