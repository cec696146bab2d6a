//! KV, R2 and queue adapters: asset bodies (`ASSETS_KV`; above 25 MiB `BLOBS`), routing records
//! and immutable deployment manifests and custom-domain records (`ROUTES_KV`), upload manifests
//! (`BLOBS`), deploy jobs (`DEPLOY_QUEUE`).
// Shared with the visitor-only build (`--features site`), which uses a part of it.
#![cfg_attr(feature = "site", allow(dead_code))]

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use worker::{Bucket, ByteStream, Env, HttpMetadata, KvStore, UploadedPart};

use super::{bindings, cache};
use crate::deploy::{
    blob_asset_key, blob_asset_prefix, body_store, BodyStore, Midstate, Piece, PieceDone, RawBody,
    RawProgress, RAW_PART_BYTES,
};
use crate::error::{ApiError, ApiResult};
use crate::routing::{asset_key, host_key, manifest_key, route_key, HostRecord, RouteRecord};

fn kv_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("KV: {e}"))
}

fn r2_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("R2: {e}"))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AssetMeta {
    pub size: u64,
    #[serde(rename = "contentType", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A KV binding resolved on first use: workers-rs' `env.kv()` costs half a dozen calls into
/// JS (the binding and each of its methods), which the cached visitor path should not pay.
struct LazyKv {
    env: Env,
    name: &'static str,
    kv: std::cell::OnceCell<KvStore>,
}

impl LazyKv {
    fn new(env: &Env, name: &'static str) -> LazyKv {
        LazyKv { env: env.clone(), name, kv: std::cell::OnceCell::new() }
    }

    fn get(&self) -> ApiResult<&KvStore> {
        if let Some(kv) = self.kv.get() {
            return Ok(kv);
        }
        let kv = self.env.kv(self.name).map_err(kv_err)?;
        Ok(self.kv.get_or_init(|| kv))
    }
}

/// ASSETS_KV, looked up on first use (bodies served from the isolate cache never touch it).
pub struct KvAssets {
    kv: LazyKv,
}

impl KvAssets {
    pub fn new(env: &Env) -> ApiResult<KvAssets> {
        Ok(KvAssets { kv: LazyKv::new(env, bindings::ASSETS_KV) })
    }

    pub async fn put(&self, project_id: &str, hash: &str, bytes: &[u8], meta: &AssetMeta) -> ApiResult<()> {
        self.kv
            .get()?
            .put_bytes(&asset_key(project_id, hash), bytes)
            .map_err(kv_err)?
            .metadata(meta)
            .map_err(kv_err)?
            .execute()
            .await
            .map_err(kv_err)
    }

    pub async fn delete(&self, project_id: &str, hash: &str) -> ApiResult<()> {
        let key = asset_key(project_id, hash);
        let out = self.kv.get()?.delete(&key).await.map_err(kv_err);
        cache::forget_body(&key);
        out
    }

    /// Up to `limit` stored body hashes of a project, straight from KV (finds bodies whose D1
    /// row was never written, which a D1-driven purge would miss).
    pub async fn list_hashes(&self, project_id: &str, limit: u64) -> ApiResult<Vec<String>> {
        let prefix = asset_key(project_id, "");
        let page =
            self.kv.get()?.list().prefix(prefix.clone()).limit(limit).execute().await.map_err(kv_err)?;
        Ok(page.keys.into_iter().filter_map(|k| k.name.strip_prefix(&prefix).map(str::to_string)).collect())
    }

    pub async fn text(&self, project_id: &str, hash: &str) -> ApiResult<Option<String>> {
        self.kv.get()?.get(&asset_key(project_id, hash)).text().await.map_err(kv_err)
    }

    pub async fn exists(&self, project_id: &str, hash: &str) -> ApiResult<bool> {
        // KV has no HEAD; a streamed get that we drop reads no body.
        Ok(self.kv.get()?.get(&asset_key(project_id, hash)).stream().await.map_err(kv_err)?.is_some())
    }

    /// A small body, from this isolate's memory when it was read before (bodies are immutable
    /// per content hash), else read whole from KV and kept.
    pub async fn small_body(
        &self,
        s: &bindings::Settings,
        project_id: &str,
        hash: &str,
    ) -> ApiResult<Option<Vec<u8>>> {
        let key = asset_key(project_id, hash);
        if let Some(b) = cache::body(s, &key) {
            return Ok(Some(b.as_ref().clone()));
        }
        let Some(bytes) = self.kv.get()?.get(&key).bytes().await.map_err(kv_err)? else { return Ok(None) };
        let bytes = std::rc::Rc::new(bytes);
        cache::put_body(s, &key, bytes.clone());
        Ok(Some(std::rc::Rc::try_unwrap(bytes).unwrap_or_else(|b| b.as_ref().clone())))
    }

    /// The body as a stream (never buffered in wasm memory); with `part` = (offset, length),
    /// only those bytes (KV reads whole values: src/js/main.mjs skips up to the offset as the
    /// value streams and stops after the length).
    pub async fn body(
        &self,
        project_id: &str,
        hash: &str,
        part: Option<(u64, u64)>,
    ) -> ApiResult<Option<worker::ResponseBody>> {
        let Some(stream) = self.kv.get()?.get(&asset_key(project_id, hash)).stream().await.map_err(kv_err)?
        else {
            return Ok(None);
        };
        Ok(Some(worker::ResponseBody::Stream(match part {
            Some((offset, length)) => js::slice(stream, offset as f64, length as f64)
                .map_err(|_| kv_err("cannot slice the body"))?,
            None => stream,
        })))
    }
}

mod js {
    use wasm_bindgen::prelude::*;
    use worker::web_sys::ReadableStream;

    #[wasm_bindgen]
    extern "C" {
        /// src/js/main.mjs: `length` bytes of `stream` from `offset` on, as a stream of that
        /// known length.
        #[wasm_bindgen(catch, js_name = __flotillaSlice)]
        pub fn slice(stream: ReadableStream, offset: f64, length: f64) -> Result<ReadableStream, JsValue>;
    }
}

/// ROUTES_KV, looked up on first use (a visitor request answered from the isolate caches
/// never touches it).
pub struct KvRoutes {
    kv: LazyKv,
}

impl KvRoutes {
    pub fn new(env: &Env) -> ApiResult<KvRoutes> {
        Ok(KvRoutes { kv: LazyKv::new(env, bindings::ROUTES_KV) })
    }

    pub async fn route(&self, slug_or_id: &str) -> ApiResult<Option<RouteRecord>> {
        self.kv.get()?.get(&route_key(slug_or_id)).json::<RouteRecord>().await.map_err(kv_err)
    }

    /// Writes the record under both the slug and the id.
    pub async fn put_route(&self, rec: &RouteRecord) -> ApiResult<()> {
        let body = serde_json::to_string(rec).map_err(kv_err)?;
        let mut out = Ok(());
        for key in [route_key(&rec.slug), route_key(&rec.project_id)] {
            out = self.kv.get()?.put(&key, body.as_str()).map_err(kv_err)?.execute().await.map_err(kv_err);
            if out.is_err() {
                break;
            }
        }
        // After the write (a visitor read racing it is refused by the cache's epoch), and
        // also when it failed: what KV holds is then unknown.
        cache::forget_route(&[&rec.slug, &rec.project_id]);
        out
    }

    pub async fn delete_route(&self, slug: &str, project_id: &str) -> ApiResult<()> {
        let out = match self.kv.get()?.delete(&route_key(slug)).await.map_err(kv_err) {
            Ok(()) => self.kv.get()?.delete(&route_key(project_id)).await.map_err(kv_err),
            Err(e) => Err(e),
        };
        cache::forget_route(&[slug, project_id]);
        out
    }

    /// The project a verified custom domain routes to (`host:<hostname>`).
    pub async fn host(&self, hostname: &str) -> ApiResult<Option<HostRecord>> {
        self.kv.get()?.get(&host_key(hostname)).json::<HostRecord>().await.map_err(kv_err)
    }

    pub async fn put_host(&self, hostname: &str, rec: &HostRecord) -> ApiResult<()> {
        let body = serde_json::to_string(rec).map_err(kv_err)?;
        let out =
            self.kv.get()?.put(&host_key(hostname), body).map_err(kv_err)?.execute().await.map_err(kv_err);
        cache::forget_hosts();
        out
    }

    pub async fn delete_host(&self, hostname: &str) -> ApiResult<()> {
        let out = self.kv.get()?.delete(&host_key(hostname)).await.map_err(kv_err);
        cache::forget_hosts();
        out
    }

    pub async fn put_manifest(&self, deployment_id: &str, body: &str) -> ApiResult<()> {
        self.kv
            .get()?
            .put(&manifest_key(deployment_id), body)
            .map_err(kv_err)?
            .execute()
            .await
            .map_err(kv_err)
    }

    pub async fn delete_manifest(&self, deployment_id: &str) -> ApiResult<()> {
        let out = self.kv.get()?.delete(&manifest_key(deployment_id)).await.map_err(kv_err);
        cache::forget_deployment(deployment_id);
        out
    }

    pub async fn manifest_text(&self, deployment_id: &str) -> ApiResult<Option<String>> {
        self.kv.get()?.get(&manifest_key(deployment_id)).text().await.map_err(kv_err)
    }
}

pub struct R2Blobs {
    bucket: Bucket,
}

impl R2Blobs {
    pub fn new(env: &Env) -> ApiResult<R2Blobs> {
        Ok(R2Blobs { bucket: env.bucket(bindings::BLOBS).map_err(r2_err)? })
    }

    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> ApiResult<()> {
        let body = serde_json::to_vec(value).map_err(r2_err)?;
        self.bucket.put(key, body).execute().await.map_err(r2_err)?;
        Ok(())
    }

    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> ApiResult<Option<T>> {
        let Some(obj) = self.bucket.get(key).execute().await.map_err(r2_err)? else { return Ok(None) };
        let Some(body) = obj.body() else { return Ok(None) };
        let bytes = body.bytes().await.map_err(r2_err)?;
        serde_json::from_slice(&bytes).map(Some).map_err(r2_err)
    }

    pub async fn delete(&self, key: &str) -> ApiResult<()> {
        self.bucket.delete(key).await.map_err(r2_err)
    }

    /// Deletes up to 1,000 keys in one operation (R2's bulk delete).
    pub async fn delete_many(&self, keys: &[String]) -> ApiResult<()> {
        for chunk in keys.chunks(1000) {
            self.bucket.delete_multiple(chunk.iter().map(String::as_str).collect()).await.map_err(r2_err)?;
        }
        Ok(())
    }

    /// Up to `limit` objects under `prefix`: (key, uploaded at, epoch ms).
    pub async fn list(&self, prefix: &str, limit: u32) -> ApiResult<Vec<(String, i64)>> {
        let objects = self.bucket.list().prefix(prefix).limit(limit).execute().await.map_err(r2_err)?;
        Ok(objects.objects().iter().map(|o| (o.key(), o.uploaded().as_millis() as i64)).collect())
    }
}

/// Large asset bodies (> 25 MiB) in BLOBS under `assets/<projectId>/<hash>`.
impl R2Blobs {
    /// The body as a stream handed to the runtime (never read into wasm memory); with `part` =
    /// (offset, length), only those bytes.
    pub async fn asset_body(
        &self,
        project_id: &str,
        hash: &str,
        part: Option<(u64, u64)>,
    ) -> ApiResult<Option<worker::ResponseBody>> {
        let mut get = self.bucket.get(blob_asset_key(project_id, hash));
        if let Some((offset, length)) = part {
            get = get.range(worker::Range::OffsetWithLength { offset, length });
        }
        let Some(obj) = get.execute().await.map_err(r2_err)? else { return Ok(None) };
        obj.body().map(|b| b.response_body()).transpose().map_err(r2_err)
    }

    pub async fn asset_exists(&self, project_id: &str, hash: &str) -> ApiResult<bool> {
        Ok(self.bucket.head(blob_asset_key(project_id, hash)).await.map_err(r2_err)?.is_some())
    }

    pub async fn delete_asset(&self, project_id: &str, hash: &str) -> ApiResult<()> {
        self.delete(&blob_asset_key(project_id, hash)).await
    }

    /// Up to `limit` large-body hashes of a project, straight from BLOBS, with their upload time.
    pub async fn list_asset_hashes(&self, project_id: &str, limit: u32) -> ApiResult<Vec<(String, i64)>> {
        let prefix = blob_asset_prefix(project_id);
        let objects = self.list(&prefix, limit).await?;
        Ok(objects
            .into_iter()
            .filter_map(|(k, at)| k.strip_prefix(&prefix).map(|h| (h.to_string(), at)))
            .collect())
    }

    /// Streams one piece of a raw upload body (the whole body when `piece` is whole) into BLOBS
    /// as parts of a multipart upload, hashing it on the way. A first piece starts a new upload
    /// (dropping `progress`, a restarted one); a later one resumes `progress`, which the caller
    /// checked ends where the piece starts. Only a body whose length and SHA-256 match is
    /// completed; a refused last piece or first piece aborts the upload (nothing stays under
    /// the key), a refused middle piece leaves the progress as it was, to be sent again. At most
    /// one part is held in wasm memory (plus the runtime's copy while it is sent). Returns
    /// `Ok(Err(_))` for a body that is refused.
    pub async fn put_asset_piece(
        &self,
        project_id: &str,
        hash: &str,
        piece: Piece,
        progress: Option<(RawProgress, Midstate)>,
        content_type: Option<String>,
        mut body: ByteStream,
    ) -> ApiResult<Result<PieceStored, ApiError>> {
        use futures_core::Stream;
        let key = blob_asset_key(project_id, hash);
        let (upload, mut parts, mid) = match progress {
            Some((p, mid)) if piece.start > 0 => {
                let upload = self.bucket.resume_multipart_upload(key, p.upload_id).map_err(r2_err)?;
                let parts: Vec<UploadedPart> =
                    p.parts.into_iter().map(|(n, e)| UploadedPart::new(n, e)).collect();
                (upload, parts, mid)
            }
            restarted => {
                if let Some((p, _)) = restarted {
                    self.abort_asset_upload(project_id, hash, p.upload_id).await;
                }
                let meta = HttpMetadata { content_type, ..HttpMetadata::default() };
                let upload = self
                    .bucket
                    .create_multipart_upload(key)
                    .http_metadata(meta)
                    .execute()
                    .await
                    .map_err(r2_err)?;
                (upload, Vec::new(), Midstate::default())
            }
        };
        let mut raw = RawBody::piece(hash, piece, RAW_PART_BYTES, mid);
        let outcome: Result<Result<PieceDone, ApiError>, ApiError> = async {
            loop {
                let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_next(cx)).await;
                let Some(chunk) = next else { break };
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(_) => {
                        return Ok(Err(ApiError::bad(hash, "the request body could not be read to its end")))
                    }
                };
                let done = match raw.push(&chunk) {
                    Ok(d) => d,
                    Err(e) => return Ok(Err(e.to_api(hash))),
                };
                for part in done {
                    let n = parts.len() as u16 + 1;
                    parts.push(upload.upload_part(n, part).await.map_err(r2_err)?);
                }
            }
            Ok(raw.finish_piece().map_err(|e| e.to_api(hash)))
        }
        .await;
        if !matches!(outcome, Ok(Ok(_))) && (piece.start == 0 || piece.is_last()) {
            // Nothing stays: the parts are dropped with the upload (a failed abort leaves only
            // invisible parts, which R2 expires). A refused middle piece keeps the upload.
            let _ = upload.abort().await;
        }
        let done = match outcome {
            Ok(Ok(done)) => done,
            Ok(Err(refused)) => return Ok(Err(refused)),
            Err(e) => return Err(e),
        };
        match done {
            PieceDone { last_part, resume: None } => {
                if let Some(last) = last_part {
                    let n = parts.len() as u16 + 1;
                    parts.push(upload.upload_part(n, last).await.map_err(r2_err)?);
                }
                // R2 checks every listed part's etag: if a concurrent request for the same
                // piece replaced a part after it was hashed here, the upload does not complete
                // (so an object never differs from the bytes hashed) and starts over.
                let id = upload.upload_id().await;
                if let Err(e) = upload.complete(parts).await {
                    worker::console_warn!("raw upload of {hash} not completed: {e:?}");
                    self.abort_asset_upload(project_id, hash, id).await;
                    return Ok(Err(ApiError::Conflict {
                        reason: format!(
                            "{hash}: its parts changed while it was sent (another upload of the same file at \
                             once?); send it again from its first byte"
                        ),
                    }));
                }
                Ok(Ok(PieceStored::Complete))
            }
            PieceDone { resume: Some(mid), .. } => Ok(Ok(PieceStored::More(RawProgress {
                upload_id: upload.upload_id().await,
                parts: parts.iter().map(|p| (p.part_number(), p.etag())).collect(),
                sha: mid.encode(),
            }))),
        }
    }

    /// Aborts a large body's multipart upload left between pieces (best effort: R2 also expires
    /// incomplete uploads by itself).
    pub async fn abort_asset_upload(&self, project_id: &str, hash: &str, upload_id: String) {
        if let Ok(u) = self.bucket.resume_multipart_upload(blob_asset_key(project_id, hash), upload_id) {
            if let Err(e) = u.abort().await {
                worker::console_warn!("multipart upload of {hash} not aborted: {e:?}");
            }
        }
    }
}

/// What a stored piece left.
pub enum PieceStored {
    /// The body is complete under its key.
    Complete,
    /// More pieces are due; this is the progress to keep.
    More(RawProgress),
}

/// One asset body wherever its size puts it (KV up to 25 MiB, BLOBS above): what GC and purge
/// delete.
pub struct AssetBodies {
    kv: KvAssets,
    blobs: R2Blobs,
}

impl AssetBodies {
    pub fn new(env: &Env) -> ApiResult<AssetBodies> {
        Ok(AssetBodies { kv: KvAssets::new(env)?, blobs: R2Blobs::new(env)? })
    }

    pub async fn delete(&self, project_id: &str, hash: &str, size: u64) -> ApiResult<()> {
        match body_store(size) {
            BodyStore::Kv => self.kv.delete(project_id, hash).await,
            BodyStore::Blobs => self.blobs.delete_asset(project_id, hash).await,
        }
    }

    pub async fn exists(&self, project_id: &str, hash: &str, size: u64) -> ApiResult<bool> {
        match body_store(size) {
            BodyStore::Kv => self.kv.exists(project_id, hash).await,
            BodyStore::Blobs => self.blobs.asset_exists(project_id, hash).await,
        }
    }
}

/// Run a deployment's workflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeployJob {
    #[serde(rename = "deploymentId")]
    pub deployment_id: String,
}

/// Remove everything a deleted project owns (one chunk per message).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeJob {
    #[serde(rename = "purgeProjectId")]
    pub project_id: String,
}

/// Retention and garbage collection for one project (one bounded run per message).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GcJob {
    #[serde(rename = "gcProjectId")]
    pub project_id: String,
    /// Where a continuing run starts in the project's stored bodies (an earlier report's `next`).
    #[serde(rename = "gcAfter", default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// A message on `DEPLOY_QUEUE`; the kinds have disjoint required fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Job {
    Deploy(DeployJob),
    Purge(PurgeJob),
    Gc(GcJob),
}

pub async fn enqueue(env: &Env, job: &Job) -> ApiResult<()> {
    enqueue_after(env, job, 0).await
}

/// Sends a job that the consumer sees no earlier than `delay_secs` from now (0: at once).
pub async fn enqueue_after(env: &Env, job: &Job, delay_secs: u32) -> ApiResult<()> {
    let queue = env.queue(bindings::DEPLOY_QUEUE).map_err(|e| ApiError::internal(format!("queue: {e}")))?;
    let sent = if delay_secs == 0 {
        queue.send(job).await
    } else {
        queue.send(worker::MessageBuilder::new(job).delay_seconds(delay_secs).build()).await
    };
    sent.map_err(|e| ApiError::internal(format!("queue send: {e}")))
}

pub fn upload_manifest_key(project_id: &str, session_id: &str) -> String {
    format!("uploads/{project_id}/{session_id}.json")
}
