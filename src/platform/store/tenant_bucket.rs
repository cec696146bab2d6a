//! The R2 binding server code gets (issue 27), over the platform's `BLOBS` bucket. A class
//! exported by the full build (`TenantBucketStore`), which the `TenantBucket` entrypoint in
//! src/js/main.mjs constructs with its `env` and the bucket id from its props and calls once
//! per method: the rules are src/storage/bucket.rs; bodies (strings, buffers, streams) and the
//! options the binding checks itself pass through untouched, so its errors are R2's. Answers
//! are plain objects (an R2 object's fields, its key stripped of the bucket prefix, `body` a
//! stream when there is one): src/js/tenant/r2.js gives them R2's methods in the tenant's
//! isolate. A bucket deleted through the API stops answering (checked in D1, cached briefly).

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use worker::Env;

use crate::domain::KIND_BUCKET;
use crate::platform::bindings::{now_ms, BLOBS};
use crate::platform::store::d1_resources::D1Resources;
use crate::platform::store::js::{call, get, js_string, set};
use crate::storage::bucket::{check_metadata, part_number, BucketError, ListInput, Op, TenantBucket};

/// How long an isolate trusts "this bucket is live" (ms). The isolate that deletes one forgets
/// it at once; others stop serving it within this.
const LIVE_TTL_MS: f64 = 30_000.0;

thread_local! {
    static LIVE: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
}

/// Drops this isolate's "live" mark for a bucket (the delete handler calls it).
pub fn forget(id: &str) {
    LIVE.with(|l| l.borrow_mut().remove(id));
}

fn err(e: impl std::fmt::Display) -> crate::error::ApiError {
    crate::error::ApiError::internal(format!("BLOBS: {e}"))
}

/// Removes up to `max` (≤ 1000) objects of a bucket from `BLOBS`: one list, one bulk delete.
/// Returns how many it removed and whether more remain.
pub async fn remove_objects(
    env: &Env,
    bucket: &TenantBucket,
    max: u32,
) -> crate::error::ApiResult<(u32, bool)> {
    let blobs = env.bucket(BLOBS).map_err(err)?;
    let page = blobs.list().prefix(bucket.prefix().to_string()).limit(max).execute().await.map_err(err)?;
    // Listed by our own prefix; the filter keeps a bug elsewhere from deleting another's key.
    let keys: Vec<String> =
        page.objects().iter().map(|o| o.key()).filter(|k| bucket.tenant_key(k).is_some()).collect();
    let removed = keys.len() as u32;
    if !keys.is_empty() {
        blobs.delete_multiple(keys).await.map_err(err)?;
    }
    Ok((removed, page.truncated()))
}

/// What a bucket holds, from one list of up to 1000 objects: (objects, bytes, whether that was
/// all of them).
pub async fn usage(env: &Env, bucket: &TenantBucket) -> crate::error::ApiResult<(u32, u64, bool)> {
    let blobs = env.bucket(BLOBS).map_err(err)?;
    let page = blobs.list().prefix(bucket.prefix().to_string()).limit(1000).execute().await.map_err(err)?;
    let mine: Vec<_> = page.objects().into_iter().filter(|o| bucket.tenant_key(&o.key()).is_some()).collect();
    Ok((mine.len() as u32, mine.iter().map(|o| o.size()).sum(), !page.truncated()))
}

fn js_error(e: BucketError) -> JsValue {
    if e.type_error {
        js_sys::TypeError::new(&e.message).into()
    } else {
        js_sys::Error::new(&e.message).into()
    }
}

fn given(v: JsValue) -> Option<JsValue> {
    (!v.is_undefined() && !v.is_null()).then_some(v)
}

/// Only the named options, as given (the binding checks their values).
fn pick(opts: &JsValue, names: &[&str]) -> Result<Object, JsValue> {
    let clean = Object::new();
    for name in names {
        if let Some(v) = given(get(opts, name)) {
            set(&clean, name, &v)?;
        }
    }
    Ok(clean)
}

/// R2's metadata limit on `customMetadata` (a plain object of strings; anything else is left
/// to the binding, whose own checks apply).
fn check_custom(op: Op, opts: &JsValue) -> Result<(), JsValue> {
    let Some(custom) = given(get(opts, "customMetadata")) else { return Ok(()) };
    if !custom.is_object() {
        return Ok(());
    }
    let pairs: Vec<(String, String)> = Object::entries(custom.unchecked_ref())
        .iter()
        .map(|e| {
            let e: Array = e.unchecked_into();
            (js_string(&e.get(0)), js_string(&e.get(1)))
        })
        .collect();
    check_metadata(op, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(js_error)
}

/// The fields of an R2 object, its key the tenant's; `body` only when asked and present.
fn plain(bucket: &TenantBucket, o: &JsValue, with_body: bool) -> Result<JsValue, JsValue> {
    if o.is_null() || o.is_undefined() {
        return Ok(JsValue::NULL);
    }
    let out = Object::new();
    let key = get(o, "key").as_string().unwrap_or_default();
    let Some(mine) = bucket.tenant_key(&key) else {
        return Err(js_sys::Error::new("bucket answered with a key outside the bucket").into());
    };
    set(&out, "key", &mine.into())?;
    for f in [
        "version",
        "size",
        "etag",
        "httpEtag",
        "uploaded",
        "httpMetadata",
        "customMetadata",
        "range",
        "storageClass",
    ] {
        if let Some(v) = given(get(o, f)) {
            set(&out, f, &v)?;
        }
    }
    if let Some(c) = given(get(o, "checksums")) {
        let json = if get(&c, "toJSON").is_function() { call(&c, "toJSON", &[])? } else { c };
        set(&out, "checksums", &json)?;
    }
    if with_body {
        if let Some(b) = given(get(o, "body")) {
            set(&out, "body", &b)?;
        }
    }
    Ok(out.into())
}

#[wasm_bindgen]
pub struct TenantBucketStore {
    env: Env,
    blobs: JsValue,
    bucket: Option<TenantBucket>,
    id: String,
}

impl TenantBucketStore {
    fn bucket(&self) -> Result<TenantBucket, JsValue> {
        self.bucket.clone().ok_or_else(|| js_sys::Error::new("R2 binding without a bucket").into())
    }

    /// Refuses with R2's message for a missing bucket once it is deleted.
    async fn ensure_live(env: &Env, id: &str) -> Result<(), JsValue> {
        let now = now_ms() as f64;
        if LIVE.with(|l| l.borrow().get(id).is_some_and(|t| now - *t < LIVE_TTL_MS)) {
            return Ok(());
        }
        let fail = |e: crate::error::ApiError| JsValue::from(js_sys::Error::new(&e.log_detail()));
        let live = D1Resources::new(env).map_err(fail)?.is_live(KIND_BUCKET, id).await.map_err(fail)?;
        if !live {
            return Err(
                js_sys::Error::new("The specified bucket does not exist: it was deleted (10006)").into()
            );
        }
        LIVE.with(|l| l.borrow_mut().insert(id.to_string(), now));
        Ok(())
    }

    /// After the liveness check: `BLOBS[method](...args)` awaited, mapped by `map`.
    fn run(
        &self,
        method: &'static str,
        args: Vec<JsValue>,
        map: impl FnOnce(JsValue) -> Result<JsValue, JsValue> + 'static,
    ) -> Promise {
        let (env, id, blobs) = (self.env.clone(), self.id.clone(), self.blobs.clone());
        future_to_promise(async move {
            Self::ensure_live(&env, &id).await?;
            let out = call(&blobs, method, &args)?;
            map(JsFuture::from(Promise::resolve(&out)).await?)
        })
    }

    /// After the liveness check: `BLOBS.resumeMultipartUpload(key, uploadId)[method](...args)`.
    fn run_upload(
        &self,
        key: String,
        upload_id: JsValue,
        method: &'static str,
        args: Vec<JsValue>,
        map: impl FnOnce(JsValue) -> Result<JsValue, JsValue> + 'static,
    ) -> Promise {
        let (env, id, blobs) = (self.env.clone(), self.id.clone(), self.blobs.clone());
        future_to_promise(async move {
            Self::ensure_live(&env, &id).await?;
            let upload = call(&blobs, "resumeMultipartUpload", &[key.into(), js_string(&upload_id).into()])?;
            let out = call(&upload, method, &args)?;
            map(JsFuture::from(Promise::resolve(&out)).await?)
        })
    }

    fn key(&self, op: Op, key: &JsValue) -> Result<(TenantBucket, String), JsValue> {
        let bucket = self.bucket()?;
        let stored = bucket.key(op, &js_string(key)).map_err(js_error)?;
        Ok((bucket, stored))
    }
}

/// The options `put` and `createMultipartUpload` pass on.
const PUT_OPTIONS: [&str; 9] =
    ["httpMetadata", "customMetadata", "md5", "sha1", "sha256", "sha384", "sha512", "onlyIf", "storageClass"];

#[wasm_bindgen]
impl TenantBucketStore {
    #[wasm_bindgen(constructor)]
    pub fn new(env: JsValue, bucket_id: String) -> Result<TenantBucketStore, JsValue> {
        let blobs = Reflect::get(&env, &BLOBS.into())?;
        if blobs.is_undefined() {
            return Err(js_sys::Error::new("the platform has no BLOBS binding").into());
        }
        Ok(TenantBucketStore {
            env: env.unchecked_into(),
            blobs,
            bucket: TenantBucket::new(&bucket_id),
            id: bucket_id,
        })
    }

    /// `head(key)` -> the object's fields, or null.
    pub fn head(&self, key: JsValue) -> Result<Promise, JsValue> {
        let (bucket, stored) = self.key(Op::Head, &key)?;
        Ok(self.run("head", vec![stored.into()], move |o| plain(&bucket, &o, false)))
    }

    /// `get(key, {range, onlyIf})` -> the fields and `body`; without `body` when `onlyIf`
    /// failed; null on a miss.
    pub fn get(&self, key: JsValue, opts: JsValue) -> Result<Promise, JsValue> {
        let (bucket, stored) = self.key(Op::Get, &key)?;
        let clean = pick(&opts, &["range", "onlyIf"])?;
        Ok(self.run("get", vec![stored.into(), clean.into()], move |o| plain(&bucket, &o, true)))
    }

    /// `put(key, value, options)` -> the new object's fields, or null when `onlyIf` failed.
    pub fn put(&self, key: JsValue, value: JsValue, opts: JsValue) -> Result<Promise, JsValue> {
        let (bucket, stored) = self.key(Op::Put, &key)?;
        check_custom(Op::Put, &opts)?;
        let clean = pick(&opts, &PUT_OPTIONS)?;
        Ok(self.run("put", vec![stored.into(), value, clean.into()], move |o| plain(&bucket, &o, false)))
    }

    /// `delete(key | keys[])`.
    pub fn delete(&self, keys: JsValue) -> Result<Promise, JsValue> {
        let bucket = self.bucket()?;
        let arg: JsValue = if Array::is_array(&keys) {
            let names: Vec<String> = Array::from(&keys).iter().map(|k| js_string(&k)).collect();
            let stored = bucket.delete_keys(&names).map_err(js_error)?;
            stored.iter().map(|s| JsValue::from(s.as_str())).collect::<Array>().into()
        } else {
            bucket.key(Op::Delete, &js_string(&keys)).map_err(js_error)?.into()
        };
        Ok(self.run("delete", vec![arg], |_| Ok(JsValue::UNDEFINED)))
    }

    /// `list({prefix, delimiter, cursor, startAfter, limit, include})` -> `{objects,
    /// delimitedPrefixes, truncated, cursor?}` with the bucket prefix stripped everywhere.
    pub fn list(&self, opts: JsValue) -> Result<Promise, JsValue> {
        let bucket = self.bucket()?;
        let text = |name: &str| given(get(&opts, name)).map(|v| js_string(&v));
        let (prefix, delimiter, cursor, start_after) =
            (text("prefix"), text("delimiter"), text("cursor"), text("startAfter"));
        let limit = given(get(&opts, "limit")).map(|v| v.as_f64().unwrap_or(f64::NAN));
        let input = ListInput {
            prefix: prefix.as_deref(),
            delimiter: delimiter.as_deref(),
            cursor: cursor.as_deref(),
            start_after: start_after.as_deref(),
            limit,
        };
        let Some(req) = bucket.list(&input).map_err(js_error)? else {
            let out = Object::new();
            set(&out, "objects", &Array::new())?;
            set(&out, "delimitedPrefixes", &Array::new())?;
            set(&out, "truncated", &JsValue::FALSE)?;
            return Ok(Promise::resolve(&JsValue::from(out)));
        };
        let o = Object::new();
        set(&o, "prefix", &req.prefix.as_str().into())?;
        set(&o, "limit", &JsValue::from_f64(req.limit as f64))?;
        for (name, v) in
            [("delimiter", &req.delimiter), ("cursor", &req.cursor), ("startAfter", &req.start_after)]
        {
            if let Some(v) = v {
                set(&o, name, &v.as_str().into())?;
            }
        }
        if let Some(include) = given(get(&opts, "include")) {
            set(&o, "include", &include)?;
        }
        Ok(self.run("list", vec![o.into()], move |r| {
            let objects = Array::new();
            for obj in Array::from(&get(&r, "objects")).iter() {
                let key = get(&obj, "key").as_string().unwrap_or_default();
                if bucket.listed(&key).is_some() {
                    objects.push(&plain(&bucket, &obj, false)?);
                }
            }
            let prefixes = Array::new();
            for p in Array::from(&get(&r, "delimitedPrefixes")).iter() {
                if let Some(mine) = p.as_string().as_deref().and_then(|p| bucket.listed(p)) {
                    prefixes.push(&mine.into());
                }
            }
            let out = Object::new();
            set(&out, "objects", &objects)?;
            set(&out, "delimitedPrefixes", &prefixes)?;
            let truncated = get(&r, "truncated").as_bool().unwrap_or(false);
            set(&out, "truncated", &truncated.into())?;
            if truncated {
                set(&out, "cursor", &get(&r, "cursor"))?;
            }
            Ok(out.into())
        }))
    }

    /// `createMultipartUpload(key, options)` -> `{key, uploadId}` (the upload object itself
    /// cannot cross RPC: the shim rebuilds it).
    #[wasm_bindgen(js_name = createMultipartUpload)]
    pub fn create_multipart_upload(&self, key: JsValue, opts: JsValue) -> Result<Promise, JsValue> {
        let (_, stored) = self.key(Op::CreateMultipart, &key)?;
        check_custom(Op::CreateMultipart, &opts)?;
        let clean = pick(&opts, &["httpMetadata", "customMetadata", "storageClass"])?;
        let tenant_key = js_string(&key);
        Ok(self.run("createMultipartUpload", vec![stored.into(), clean.into()], move |u| {
            let out = Object::new();
            set(&out, "key", &tenant_key.into())?;
            set(&out, "uploadId", &get(&u, "uploadId"))?;
            Ok(out.into())
        }))
    }

    /// `uploadPart(partNumber, value, options)` of the upload `(key, uploadId)` ->
    /// `{partNumber, etag}`.
    #[wasm_bindgen(js_name = uploadPart)]
    pub fn upload_part(
        &self,
        key: JsValue,
        upload_id: JsValue,
        part: JsValue,
        value: JsValue,
        opts: JsValue,
    ) -> Result<Promise, JsValue> {
        let (_, stored) = self.key(Op::UploadPart, &key)?;
        let n = part_number(part.as_f64().unwrap_or(f64::NAN)).map_err(js_error)?;
        let clean = pick(&opts, &["md5", "sha1", "sha256", "sha384", "sha512"])?;
        Ok(self.run_upload(
            stored,
            upload_id,
            "uploadPart",
            vec![JsValue::from(n), value, clean.into()],
            |p| {
                let out = Object::new();
                set(&out, "partNumber", &get(&p, "partNumber"))?;
                set(&out, "etag", &get(&p, "etag"))?;
                Ok(out.into())
            },
        ))
    }

    /// `complete(parts)` of the upload `(key, uploadId)` -> the object's fields.
    #[wasm_bindgen(js_name = completeMultipartUpload)]
    pub fn complete_multipart_upload(
        &self,
        key: JsValue,
        upload_id: JsValue,
        parts: JsValue,
    ) -> Result<Promise, JsValue> {
        let (bucket, stored) = self.key(Op::CompleteMultipart, &key)?;
        // Only `{partNumber, etag}` of each part goes on.
        let clean = Array::new();
        for p in Array::from(&parts).iter() {
            let o = Object::new();
            set(&o, "partNumber", &get(&p, "partNumber"))?;
            set(&o, "etag", &get(&p, "etag"))?;
            clean.push(&o);
        }
        Ok(self.run_upload(stored, upload_id, "complete", vec![clean.into()], move |o| {
            plain(&bucket, &o, false)
        }))
    }

    /// `abort()` of the upload `(key, uploadId)`.
    #[wasm_bindgen(js_name = abortMultipartUpload)]
    pub fn abort_multipart_upload(&self, key: JsValue, upload_id: JsValue) -> Result<Promise, JsValue> {
        let (_, stored) = self.key(Op::AbortMultipart, &key)?;
        Ok(self.run_upload(stored, upload_id, "abort", vec![], |_| Ok(JsValue::UNDEFINED)))
    }
}
