//! Buckets for tenant code (`/__api/buckets`, issue 27): create, list, get, delete. D1
//! (`resources`, kind `bucket`, the name in `title`) is the truth; who reaches a bucket is
//! `ResourceScope`, as for KV namespaces. A bucket that is not reachable is a 404, never a 403.
//! Objects live in `BLOBS` under `buckets/<id>/` (src/storage/bucket.rs).

use serde_json::json;
use worker::{Request, Response};

use super::{internal, query_pairs, read_body, Ctx, MAX_JSON_BODY};
use crate::domain::{
    is_resource_id, parse_list_query, resource_id, ListCursor, ResourceRow, ResourceScope, KIND_BUCKET,
};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::{now_ms, random_bytes};
use crate::platform::http;
use crate::platform::store::d1_resources::{Created, D1Resources};
use crate::platform::store::tenant_bucket::{forget, remove_objects, usage};
use crate::storage::bucket::{bucket_json, parse_create_bucket, TenantBucket};

fn respond(status: u16, body: serde_json::Value) -> ApiResult<Response> {
    http::ok(status, body).map_err(internal)
}

fn note(ctx: &Ctx<'_>, detail: serde_json::Value) {
    ctx.note.borrow_mut().detail = Some(detail);
}

/// A live bucket the caller reaches, or 404.
async fn load(store: &D1Resources, id: &str, ctx: &Ctx<'_>) -> ApiResult<ResourceRow> {
    let missing = || ApiError::not_found("bucket");
    if !is_resource_id(id) {
        return Err(missing());
    }
    store.get(KIND_BUCKET, id, &ResourceScope::of(&ctx.principal)).await?.ok_or_else(missing)
}

/// Inserts a bucket named `name` owned by the caller (both APIs create them so).
pub(super) async fn insert_bucket(name: String, ctx: &Ctx<'_>) -> ApiResult<(ResourceRow, Created)> {
    let row = ResourceRow {
        id: resource_id(random_bytes::<16>()),
        kind: KIND_BUCKET.into(),
        title: name,
        created_by: ctx.principal.id().to_string(),
        created_at: now_ms() as i64,
    };
    let created = D1Resources::new(ctx.env)?.insert(&row).await?;
    Ok((row, created))
}

/// `POST /__api/buckets {name}` -> 201 `{bucket}`; 409 if the caller already has a live
/// bucket with that name.
pub async fn create(req: &mut Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let name = parse_create_bucket(&read_body(req, MAX_JSON_BODY).await?, true)?;
    let (row, created) = insert_bucket(name, ctx).await?;
    match created {
        Created::Ok => {
            note(ctx, json!({ "bucketId": row.id, "name": row.title }));
            respond(201, json!({ "bucket": bucket_json(&row, &[]) }))
        }
        Created::TitleTaken => {
            Err(ApiError::Conflict { reason: format!("You already have a bucket named `{}`", row.title) })
        }
    }
}

/// `GET /__api/buckets?limit=&cursor=`: newest first, only what the caller reaches.
pub async fn list(req: &Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let q = parse_list_query(&query_pairs(req))?;
    let store = D1Resources::new(ctx.env)?;
    let scope = ResourceScope::of(&ctx.principal);
    let (rows, more) = store.list(KIND_BUCKET, q.limit, q.cursor.as_ref(), &scope).await?;
    let cursor = match (more, rows.last()) {
        (true, Some(last)) => Some(ListCursor { created_at: last.created_at, id: last.id.clone() }.encode()),
        _ => None,
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(bucket_json(r, &store.bound_projects(&r.id).await?));
    }
    respond(200, json!({ "buckets": out, "cursor": cursor, "count": out.len() }))
}

/// `GET /__api/buckets/:id` -> `{bucket}` with the projects that bind it and its `usage`
/// (objects and bytes from one list: exact up to 1000 objects, else a lower bound).
pub async fn get(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Resources::new(ctx.env)?;
    let row = load(&store, id, ctx).await?;
    let mut out = bucket_json(&row, &store.bound_projects(&row.id).await?);
    let bucket =
        TenantBucket::new(&row.id).ok_or_else(|| ApiError::internal("stored bucket id is malformed"))?;
    let (objects, bytes, complete) = usage(ctx.env, &bucket).await?;
    out["usage"] = json!({ "objects": objects, "bytes": bytes, "complete": complete });
    respond(200, json!({ "bucket": out }))
}

/// Objects one DELETE call removes at most: one list and one bulk delete (R2's limits).
const REMOVE_PER_CALL: u32 = 1000;

/// `DELETE /__api/buckets/:id`: refused (409) while a production or aliased deployment of a
/// live project binds it; otherwise unreachable at once (bindings stop answering), and up to
/// 1000 of its objects are removed. While objects remain (`objects.more`), the bucket stays
/// findable for DELETE only, and each call removes the next batch; the cron finishes what no
/// caller does.
pub async fn delete(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Resources::new(ctx.env)?;
    let scope = ResourceScope::of(&ctx.principal);
    let resumed = match is_resource_id(id) {
        true => store.get_unpurged(KIND_BUCKET, id, &scope).await?,
        false => None,
    };
    let row = match resumed {
        Some(r) => r,
        None => first_delete(&store, id, ctx).await?,
    };
    let bucket =
        TenantBucket::new(&row.id).ok_or_else(|| ApiError::internal("stored bucket id is malformed"))?;
    let (removed, more) = remove_objects(ctx.env, &bucket, REMOVE_PER_CALL).await?;
    if !more {
        store.mark_purged(&row.id, now_ms() as i64).await?;
    }
    note(ctx, json!({ "bucketId": row.id, "name": row.title, "objectsRemoved": removed, "more": more }));
    respond(
        200,
        json!({ "deleted": { "id": row.id, "name": row.title }, "objects": { "removed": removed, "more": more } }),
    )
}

/// The first DELETE of a live bucket: the 409 check, then the row marked deleted.
async fn first_delete(store: &D1Resources, id: &str, ctx: &Ctx<'_>) -> ApiResult<ResourceRow> {
    let row = load(store, id, ctx).await?;
    let serving = store.serving_bindings(&row.id).await?;
    if serving > 0 {
        return Err(ApiError::Conflict {
            reason: format!(
                "Bucket `{}` is bound by {serving} live deployment(s) (production or an alias); \
                 deploy without the binding or delete those projects first",
                row.title
            ),
        });
    }
    store.mark_deleted(&row.id, now_ms() as i64).await?;
    forget(&row.id);
    Ok(row)
}
