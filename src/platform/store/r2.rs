//! R2 adapter (`BLOBS`): server bundles, upload manifests, asset bodies above 25 MiB (also
//! uploaded in resumable pieces), wrangler session manifests.
// Shared with the visitor-only build (`--features site`), which uses a part of it.
#![cfg_attr(feature = "site", allow(dead_code))]

use serde::{de::DeserializeOwned, Serialize};
use worker::{Bucket, ByteStream, Env, HttpMetadata, UploadedPart};

use super::kv::KvAssets;
use crate::deploy::{
    body_store, BodyStore, Midstate, Piece, PieceDone, RawBody, RawProgress, RAW_PART_BYTES,
};
use crate::error::{ApiError, ApiResult};
use crate::keys::{blob_asset_key, blob_asset_prefix};
use crate::platform::bindings;

fn r2_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("R2: {e}"))
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

    /// Stores `body` and answers its ETag (R2's MD5 of a single-part object, lowercase hex).
    pub async fn put_bytes(&self, key: &str, body: Vec<u8>) -> ApiResult<String> {
        let obj = self.bucket.put(key, body).execute().await.map_err(r2_err)?;
        let obj = obj.ok_or_else(|| r2_err("put stored nothing"))?;
        Ok(obj.etag().trim_matches('"').to_ascii_lowercase())
    }

    /// The object's text, if it exists and is UTF-8.
    pub async fn get_text(&self, key: &str) -> ApiResult<Option<String>> {
        let Some(obj) = self.bucket.get(key).execute().await.map_err(r2_err)? else { return Ok(None) };
        let Some(body) = obj.body() else { return Ok(None) };
        let bytes = body.bytes().await.map_err(r2_err)?;
        Ok(String::from_utf8(bytes).ok())
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
