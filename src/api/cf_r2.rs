//! wrangler's R2 calls at `/client/v4/accounts/:a/r2/buckets[...]`: the provisioning of
//! `r2_buckets` on a first deploy (`GET /r2/buckets/:name` 404 code 10006, `GET /r2/buckets`,
//! `POST /r2/buckets {name}`), `wrangler r2 bucket create|list`, and `wrangler r2 object
//! get|put|delete <bucket>/<key> --remote`. A bucket NAME resolves only among the caller's own
//! buckets (so one tenant's `files` is never another's); object keys go through the binding's
//! own rules (src/storage/bucket.rs) before `BLOBS` is called. Bodies stream both ways.

use serde_json::json;
use worker::{Data, Date, DateInit, HttpMetadata, Request, Response};

use super::{internal, read_body, Ctx, MAX_JSON_BODY};
use crate::compat::*;
use crate::domain::{ResourceRow, KIND_BUCKET};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::BLOBS;
use crate::platform::http;
use crate::platform::store::d1_resources::{Created, D1Resources};
use crate::storage::bucket::{parse_create_bucket, Op, TenantBucket};

fn ok(body: serde_json::Value) -> ApiResult<Response> {
    http::json(200, &cf_success(body)).map_err(internal)
}

fn r2_err(e: worker::Error) -> ApiError {
    ApiError::internal(format!("BLOBS: {e}"))
}

/// The caller's own live bucket named `name`, or R2's 404 (code 10006, set by `cf::handle`).
async fn own(name: &str, ctx: &Ctx<'_>) -> ApiResult<(ResourceRow, TenantBucket)> {
    let missing = || ApiError::not_found(format!("Bucket `{name}`"));
    let row = D1Resources::new(ctx.env)?
        .own_by_title(KIND_BUCKET, ctx.principal.id(), name)
        .await?
        .ok_or_else(missing)?;
    let bucket = TenantBucket::new(&row.id).ok_or_else(missing)?;
    Ok((row, bucket))
}

/// `GET /r2/buckets`: the caller's own buckets, by name (`result.buckets`, as R2 answers).
pub async fn list_buckets(_req: &Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let rows = D1Resources::new(ctx.env)?.list_own(KIND_BUCKET, ctx.principal.id(), 1000, 0).await?;
    ok(json!({ "buckets": rows.iter().map(cf_bucket).collect::<Vec<_>>() }))
}

/// `GET /r2/buckets/:name`.
pub async fn get_bucket(name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (row, _) = own(name, ctx).await?;
    ok(cf_bucket(&row))
}

/// `POST /r2/buckets {name, locationHint?, storageClass?}` (wrangler sends it as text/plain):
/// a bucket owned by the caller, as `POST /__api/buckets` makes it.
pub async fn create_bucket(req: &mut Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let name = parse_create_bucket(&read_body(req, MAX_JSON_BODY).await?, false)?;
    let (row, created) = super::buckets::insert_bucket(name, ctx).await?;
    match created {
        Created::Ok => {
            ctx.note.borrow_mut().detail =
                Some(json!({ "bucketId": row.id, "name": row.title, "via": "wrangler" }));
            ok(cf_bucket(&row))
        }
        Created::TitleTaken => Err(ApiError::Conflict {
            reason: format!("The bucket you tried to create already exists, and you own it: `{}`", row.title),
        }),
    }
}

/// `GET /r2/buckets/:b/objects/<key>` -> the raw body, with its httpMetadata as headers.
pub async fn get_object(name: &str, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (_, bucket) = own(name, ctx).await?;
    let stored = object_key(&bucket, Op::Get, key)?;
    let blobs = ctx.env.bucket(BLOBS).map_err(r2_err)?;
    let Some(obj) = blobs.get(stored).execute().await.map_err(r2_err)? else {
        return Err(ApiError::not_found(format!("Object `{key}`")));
    };
    let headers = worker::Headers::new();
    obj.write_http_metadata(headers.clone()).map_err(r2_err)?;
    headers.set("etag", &obj.http_etag()).map_err(internal)?;
    if !headers.has("content-type").map_err(internal)? {
        headers.set("content-type", "application/octet-stream").map_err(internal)?;
    }
    let body = obj.body().ok_or_else(|| ApiError::internal("BLOBS: object without a body"))?;
    let resp = Response::from_stream(body.stream().map_err(r2_err)?).map_err(internal)?;
    Ok(resp.with_headers(headers))
}

/// `PUT /r2/buckets/:b/objects/<key>`: the raw body streams into the object (R2 needs its
/// length: wrangler sends Content-Length); the headers in `OBJECT_HEADERS` become httpMetadata.
pub async fn put_object(req: &mut Request, name: &str, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (_, bucket) = own(name, ctx).await?;
    let stored = object_key(&bucket, Op::Put, key)?;
    let h = |n: &str| req.headers().get(n).ok().flatten();
    let meta = HttpMetadata {
        content_type: h(OBJECT_HEADERS[0]),
        content_language: h(OBJECT_HEADERS[1]),
        content_disposition: h(OBJECT_HEADERS[2]),
        content_encoding: h(OBJECT_HEADERS[3]),
        cache_control: h(OBJECT_HEADERS[4]),
        cache_expiry: h(OBJECT_HEADERS[5]).map(|e| Date::new(DateInit::String(e))),
    };
    let data = match req.inner().body() {
        Some(stream) => Data::ReadableStream(stream),
        None => Data::Empty,
    };
    let blobs = ctx.env.bucket(BLOBS).map_err(r2_err)?;
    let obj = blobs.put(stored, data).http_metadata(meta).execute().await.map_err(|e| {
        // R2's own refusals of the caller's input (no known length, a bad name) carry its text.
        let m = e.to_string();
        if m.contains("put:") || m.contains("known length") {
            ApiError::bad("body", m)
        } else {
            r2_err(e)
        }
    })?;
    // No `onlyIf` is sent, so R2 always answers with the object.
    let obj = obj.ok_or_else(|| ApiError::internal("BLOBS: put answered no object"))?;
    ctx.note.borrow_mut().detail = Some(json!({ "bucket": name, "bytes": obj.size() }));
    ok(json!({ "key": key, "size": obj.size(), "etag": obj.etag() }))
}

/// `DELETE /r2/buckets/:b/objects/<key>` (absent is fine, as on R2).
pub async fn delete_object(name: &str, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (_, bucket) = own(name, ctx).await?;
    let stored = object_key(&bucket, Op::Delete, key)?;
    ctx.env.bucket(BLOBS).map_err(r2_err)?.delete(stored).await.map_err(r2_err)?;
    ctx.note.borrow_mut().detail = Some(json!({ "bucket": name }));
    ok(json!({}))
}
