//! KV namespaces for tenant code (`/__api/kv/namespaces`, issue 27): create, list, get, delete.
//! D1 (`resources`, kind `kv`) is the truth; who reaches a namespace is `ResourceScope`. A
//! namespace that is not reachable is a 404, never a 403 (its existence is not disclosed).

use serde_json::json;
use worker::{Request, Response};

use super::{internal, query_pairs, read_body, Ctx, MAX_JSON_BODY};
use crate::domain::{
    is_resource_id, parse_create_namespace, parse_list_query, resource_id, ListCursor, ResourceRow,
    ResourceScope, KIND_KV,
};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::{now_ms, random_bytes};
use crate::platform::http;
use crate::platform::store::d1_resources::{Created, D1Resources};
use crate::platform::store::tenant_kv::{forget, remove_keys};
use crate::storage::kv::TenantNamespace;

fn respond(status: u16, body: serde_json::Value) -> ApiResult<Response> {
    http::ok(status, body).map_err(internal)
}

fn note(ctx: &Ctx<'_>, detail: serde_json::Value) {
    ctx.note.borrow_mut().detail = Some(detail);
}

/// A live namespace the caller reaches, or 404.
async fn load(store: &D1Resources, id: &str, ctx: &Ctx<'_>) -> ApiResult<ResourceRow> {
    let missing = || ApiError::not_found("KV namespace");
    if !is_resource_id(id) {
        return Err(missing());
    }
    store.get(KIND_KV, id, &ResourceScope::of(&ctx.principal)).await?.ok_or_else(missing)
}

/// Reads `{title}` and inserts a namespace owned by the caller (both APIs create them so).
pub(super) async fn insert_namespace(req: &mut Request, ctx: &Ctx<'_>) -> ApiResult<(ResourceRow, Created)> {
    let title = parse_create_namespace(&read_body(req, MAX_JSON_BODY).await?)?;
    let row = ResourceRow {
        id: resource_id(random_bytes::<16>()),
        kind: KIND_KV.into(),
        title,
        created_by: ctx.principal.id().to_string(),
        created_at: now_ms() as i64,
    };
    let created = D1Resources::new(ctx.env)?.insert(&row).await?;
    Ok((row, created))
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
    let q = parse_list_query(&query_pairs(req))?;
    let store = D1Resources::new(ctx.env)?;
    let scope = ResourceScope::of(&ctx.principal);
    let (rows, more) = store.list(KIND_KV, q.limit, q.cursor.as_ref(), &scope).await?;
    let cursor = match (more, rows.last()) {
        (true, Some(last)) => Some(ListCursor { created_at: last.created_at, id: last.id.clone() }.encode()),
        _ => None,
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(r.to_json(&store.bound_projects(&r.id).await?));
    }
    respond(200, json!({ "namespaces": out, "cursor": cursor, "count": out.len() }))
}

/// `GET /__api/kv/namespaces/:id` -> `{namespace}` with the projects that bind it.
pub async fn get(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Resources::new(ctx.env)?;
    let row = load(&store, id, ctx).await?;
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
    let scope = ResourceScope::of(&ctx.principal);
    let resumed = match is_resource_id(id) {
        true => store.get_unpurged(KIND_KV, id, &scope).await?,
        false => None,
    };
    let row = match resumed {
        Some(r) => r,
        None => first_delete(&store, id, ctx).await?,
    };
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

/// The first DELETE of a live namespace: the 409 check, then the row marked deleted.
async fn first_delete(store: &D1Resources, id: &str, ctx: &Ctx<'_>) -> ApiResult<ResourceRow> {
    let row = load(store, id, ctx).await?;
    let serving = store.serving_bindings(&row.id).await?;
    if serving > 0 {
        return Err(ApiError::Conflict {
            reason: format!(
                "KV namespace `{}` is bound by {serving} live deployment(s) (production or an alias); \
                 deploy without the binding or delete those projects first",
                row.title
            ),
        });
    }
    store.mark_deleted(&row.id, now_ms() as i64).await?;
    forget(&row.id);
    Ok(row)
}
