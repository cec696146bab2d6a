//! wrangler's KV data calls at `/client/v4/accounts/:a/storage/kv/namespaces/:id/...`
//! (`wrangler kv key put|get|list|delete`, `kv bulk put|delete`, with `--remote`): the
//! namespace must be one the caller reaches (else Cloudflare's 404, code 10013), and every key
//! goes through `crate::compat` -> `storage::kv` (the binding's own prefixing and checks)
//! before `TENANT_KV` is called. Values pass through as bytes.

use serde_json::json;
use wasm_bindgen::JsCast;
use worker::{Env, FormEntry, KvStore, Request, Response};

use super::{internal, query_pairs, Ctx};
use crate::compat::*;
use crate::domain::{is_resource_id, ResourceScope, KIND_KV};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::TENANT_KV;
use crate::platform::http;
use crate::platform::store::d1_resources::D1Resources;
use crate::storage::kv::{Op, TenantNamespace};

/// Cloudflare's largest value (25 MiB) plus multipart framing and metadata.
const MAX_VALUE_BODY: usize = 25 * 1024 * 1024 + 64 * 1024;
/// A bulk body: Cloudflare's 100 MB.
const MAX_BULK_BODY: usize = 100 * 1024 * 1024;

fn kv(env: &Env) -> ApiResult<KvStore> {
    env.kv(TENANT_KV).map_err(|e| ApiError::internal(format!("TENANT_KV: {e}")))
}

fn kv_err(e: worker::kv::KvError) -> ApiError {
    // The binding's own refusals of the caller's input (value or metadata too large, a TTL
    // under 60 s) carry Cloudflare's text: a 400 with it. Anything else is ours.
    if let worker::kv::KvError::JavaScript(v) = &e {
        if let Some(err) = v.dyn_ref::<js_sys::Error>() {
            let m = String::from(err.message());
            if m.starts_with("KV PUT failed") {
                return ApiError::bad("value", m);
            }
        }
    }
    ApiError::internal(format!("TENANT_KV: {e}"))
}

fn ok(body: serde_json::Value) -> ApiResult<Response> {
    http::json(200, &body).map_err(internal)
}

/// The namespace, if the caller reaches it (a deleted one is gone); else 404.
pub async fn namespace(id: &str, ctx: &Ctx<'_>) -> ApiResult<TenantNamespace> {
    let missing = || ApiError::not_found(format!("KV namespace `{id}`"));
    if !is_resource_id(id) {
        return Err(missing());
    }
    let store = D1Resources::new(ctx.env)?;
    store.get(KIND_KV, id, &ResourceScope::of(&ctx.principal)).await?.ok_or_else(missing)?;
    TenantNamespace::new(id).ok_or_else(missing)
}

async fn body(req: &mut Request, limit: usize) -> ApiResult<Vec<u8>> {
    super::read_body(req, limit).await
}

/// `GET .../values/:key` -> the raw value (404, code 10009, if absent).
pub async fn get_value(id: &str, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let ns = namespace(id, ctx).await?;
    let stored = value_key(&ns, Op::Get, key)?;
    match kv(ctx.env)?.get(&stored).bytes().await.map_err(kv_err)? {
        Some(v) => {
            let mut r = Response::from_bytes(v).map_err(internal)?;
            r.headers_mut().set("content-type", "application/octet-stream").map_err(internal)?;
            Ok(r)
        }
        None => Err(ApiError::not_found(format!("Key `{key}`"))),
    }
}

/// `PUT .../values/:key?expiration=&expiration_ttl=`: a raw body, or multipart with `value`
/// and `metadata` (what wrangler sends with `--metadata`).
pub async fn put_value(req: &mut Request, id: &str, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let ns = namespace(id, ctx).await?;
    let stored = value_key(&ns, Op::Put, key)?;
    let (expiration, ttl) = parse_expiry(&query_pairs(req))?;
    let ct = req.headers().get("content-type").ok().flatten().unwrap_or_default();
    let (value, metadata) = if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        let form = req.form_data().await.map_err(|_| ApiError::bad("body", "is not valid multipart"))?;
        let value = match form.get("value") {
            Some(FormEntry::Field(s)) => s.into_bytes(),
            Some(FormEntry::File(f)) => f.bytes().await.map_err(internal)?,
            None => return Err(ApiError::bad("value", "part is required")),
        };
        let metadata = match form.get("metadata") {
            Some(FormEntry::Field(s)) => Some(
                serde_json::from_str::<serde_json::Value>(&s)
                    .map_err(|_| ApiError::bad("metadata", "must be JSON"))?,
            ),
            Some(FormEntry::File(f)) => Some(
                serde_json::from_slice::<serde_json::Value>(&f.bytes().await.map_err(internal)?)
                    .map_err(|_| ApiError::bad("metadata", "must be JSON"))?,
            ),
            None => None,
        };
        (value, metadata)
    } else {
        (body(req, MAX_VALUE_BODY).await?, None)
    };
    let mut put = kv(ctx.env)?.put_bytes(&stored, &value).map_err(kv_err)?;
    if let Some(e) = expiration {
        put = put.expiration(e);
    }
    if let Some(t) = ttl {
        put = put.expiration_ttl(t);
    }
    if let Some(m) = metadata {
        put = put.metadata(m).map_err(kv_err)?;
    }
    put.execute().await.map_err(kv_err)?;
    ctx.note.borrow_mut().detail = Some(json!({ "namespaceId": id, "bytes": value.len() }));
    ok(cf_success(json!({})))
}

/// `DELETE .../values/:key` (absent is fine, as on Cloudflare).
pub async fn delete_value(id: &str, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let ns = namespace(id, ctx).await?;
    let stored = value_key(&ns, Op::Delete, key)?;
    kv(ctx.env)?.delete(&stored).await.map_err(kv_err)?;
    ctx.note.borrow_mut().detail = Some(json!({ "namespaceId": id }));
    ok(cf_success(json!({})))
}

/// `GET .../keys?prefix=&cursor=&limit=`.
pub async fn list_keys(req: &Request, id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let ns = namespace(id, ctx).await?;
    let q = parse_keys_query(&ns, &query_pairs(req))?;
    let mut list = kv(ctx.env)?.list().prefix(q.prefix.clone()).limit(q.limit.into());
    if let Some(c) = q.cursor.clone() {
        list = list.cursor(c);
    }
    let page = list.execute().await.map_err(kv_err)?;
    let keys: Vec<ListedKey> = page
        .keys
        .into_iter()
        .map(|k| ListedKey { name: k.name, expiration: k.expiration, metadata: k.metadata })
        .collect();
    ok(render_keys(&ns, &keys, page.cursor.as_deref(), page.list_complete))
}

/// `PUT .../bulk`: every entry checked first, then written one by one.
pub async fn bulk_put(req: &mut Request, id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let ns = namespace(id, ctx).await?;
    let entries = parse_bulk_put(&ns, &body(req, MAX_BULK_BODY).await?)?;
    let store = kv(ctx.env)?;
    for e in &entries {
        let mut put = store.put_bytes(&e.key, &e.value).map_err(kv_err)?;
        if let Some(x) = e.expiration {
            put = put.expiration(x);
        }
        if let Some(t) = e.expiration_ttl {
            put = put.expiration_ttl(t);
        }
        if let Some(m) = &e.metadata {
            put = put.metadata(m.clone()).map_err(kv_err)?;
        }
        put.execute().await.map_err(kv_err)?;
    }
    ctx.note.borrow_mut().detail = Some(json!({ "namespaceId": id, "keys": entries.len() }));
    ok(cf_success(json!({ "successful_key_count": entries.len(), "unsuccessful_keys": [] })))
}

/// `DELETE .../bulk` (a JSON array of names).
pub async fn bulk_delete(req: &mut Request, id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let ns = namespace(id, ctx).await?;
    let keys = parse_bulk_delete(&ns, &body(req, MAX_BULK_BODY).await?)?;
    let store = kv(ctx.env)?;
    for k in &keys {
        store.delete(k).await.map_err(kv_err)?;
    }
    ctx.note.borrow_mut().detail = Some(json!({ "namespaceId": id, "keys": keys.len() }));
    ok(cf_success(json!({ "successful_key_count": keys.len(), "unsuccessful_keys": [] })))
}
