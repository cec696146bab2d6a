//! Buckets for tenant code (`/__api/buckets`, issue 27): create, list, get, delete. D1
//! (`resources`, kind `bucket`, the name in `title`) is the truth; who reaches a bucket is
//! `ResourceScope`, as for KV namespaces. A bucket that is not reachable is a 404, never a 403.
//! Objects live in `BLOBS` under `buckets/<id>/` (src/storage/bucket.rs).

use serde_json::json;
use worker::{Request, Response};

use super::resources::{deleting, insert, load, note, page, respond};
use super::{read_body, Ctx, MAX_JSON_BODY};
use crate::domain::{ResourceRow, KIND_BUCKET};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::now_ms;
use crate::platform::store::d1_resources::{Created, D1Resources};
use crate::platform::store::tenant_bucket::{forget, remove_objects, usage};
use crate::storage::bucket::{bucket_json, parse_create_bucket, TenantBucket};

/// Inserts a bucket named `name` owned by the caller (both APIs create them so).
pub(super) async fn insert_bucket(name: String, ctx: &Ctx<'_>) -> ApiResult<(ResourceRow, Created)> {
    insert(KIND_BUCKET, name, ctx).await
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
    let (out, cursor) = page(req, KIND_BUCKET, ctx, bucket_json).await?;
    respond(200, json!({ "buckets": out, "cursor": cursor, "count": out.len() }))
}

/// `GET /__api/buckets/:id` -> `{bucket}` with the projects that bind it and its `usage`
/// (objects and bytes from one list: exact up to 1000 objects, else a lower bound).
pub async fn get(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let store = D1Resources::new(ctx.env)?;
    let row = load(&store, KIND_BUCKET, id, ctx).await?;
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
    let row = deleting(&store, KIND_BUCKET, id, ctx, forget).await?;
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
