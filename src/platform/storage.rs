//! KV, R2 and queue adapters: asset bodies (`ASSETS_KV`), routing records and immutable
//! deployment manifests and custom-domain records (`ROUTES_KV`), upload manifests (`BLOBS`), deploy jobs (`DEPLOY_QUEUE`).

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use worker::{Bucket, Env, KvStore};

use super::{bindings, cache};
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

pub struct KvAssets {
    kv: KvStore,
}

impl KvAssets {
    pub fn new(env: &Env) -> ApiResult<KvAssets> {
        Ok(KvAssets { kv: env.kv(bindings::ASSETS_KV).map_err(kv_err)? })
    }

    pub async fn put(&self, project_id: &str, hash: &str, bytes: &[u8], meta: &AssetMeta) -> ApiResult<()> {
        self.kv
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
        let out = self.kv.delete(&key).await.map_err(kv_err);
        cache::forget_body(&key);
        out
    }

    /// Up to `limit` stored body hashes of a project, straight from KV (finds bodies whose D1
    /// row was never written, which a D1-driven purge would miss).
    pub async fn list_hashes(&self, project_id: &str, limit: u64) -> ApiResult<Vec<String>> {
        let prefix = asset_key(project_id, "");
        let page = self.kv.list().prefix(prefix.clone()).limit(limit).execute().await.map_err(kv_err)?;
        Ok(page.keys.into_iter().filter_map(|k| k.name.strip_prefix(&prefix).map(str::to_string)).collect())
    }

    pub async fn text(&self, project_id: &str, hash: &str) -> ApiResult<Option<String>> {
        self.kv.get(&asset_key(project_id, hash)).text().await.map_err(kv_err)
    }

    pub async fn exists(&self, project_id: &str, hash: &str) -> ApiResult<bool> {
        // KV has no HEAD; a streamed get that we drop reads no body.
        Ok(self.kv.get(&asset_key(project_id, hash)).stream().await.map_err(kv_err)?.is_some())
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
        let Some(bytes) = self.kv.get(&key).bytes().await.map_err(kv_err)? else { return Ok(None) };
        let bytes = std::rc::Rc::new(bytes);
        cache::put_body(s, &key, bytes.clone());
        Ok(Some(std::rc::Rc::try_unwrap(bytes).unwrap_or_else(|b| b.as_ref().clone())))
    }

    /// The body as a stream (never buffered in wasm memory).
    pub async fn body(&self, project_id: &str, hash: &str) -> ApiResult<Option<worker::ResponseBody>> {
        Ok(self
            .kv
            .get(&asset_key(project_id, hash))
            .stream()
            .await
            .map_err(kv_err)?
            .map(worker::ResponseBody::Stream))
    }
}

pub struct KvRoutes {
    kv: KvStore,
}

impl KvRoutes {
    pub fn new(env: &Env) -> ApiResult<KvRoutes> {
        Ok(KvRoutes { kv: env.kv(bindings::ROUTES_KV).map_err(kv_err)? })
    }

    pub async fn route(&self, slug_or_id: &str) -> ApiResult<Option<RouteRecord>> {
        self.kv.get(&route_key(slug_or_id)).json::<RouteRecord>().await.map_err(kv_err)
    }

    /// Writes the record under both the slug and the id.
    pub async fn put_route(&self, rec: &RouteRecord) -> ApiResult<()> {
        let body = serde_json::to_string(rec).map_err(kv_err)?;
        let mut out = Ok(());
        for key in [route_key(&rec.slug), route_key(&rec.project_id)] {
            out = self.kv.put(&key, body.as_str()).map_err(kv_err)?.execute().await.map_err(kv_err);
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
        let out = match self.kv.delete(&route_key(slug)).await.map_err(kv_err) {
            Ok(()) => self.kv.delete(&route_key(project_id)).await.map_err(kv_err),
            Err(e) => Err(e),
        };
        cache::forget_route(&[slug, project_id]);
        out
    }

    /// The project a verified custom domain routes to (`host:<hostname>`).
    pub async fn host(&self, hostname: &str) -> ApiResult<Option<HostRecord>> {
        self.kv.get(&host_key(hostname)).json::<HostRecord>().await.map_err(kv_err)
    }

    pub async fn put_host(&self, hostname: &str, rec: &HostRecord) -> ApiResult<()> {
        let body = serde_json::to_string(rec).map_err(kv_err)?;
        let out = self.kv.put(&host_key(hostname), body).map_err(kv_err)?.execute().await.map_err(kv_err);
        cache::forget_hosts();
        out
    }

    pub async fn delete_host(&self, hostname: &str) -> ApiResult<()> {
        let out = self.kv.delete(&host_key(hostname)).await.map_err(kv_err);
        cache::forget_hosts();
        out
    }

    pub async fn put_manifest(&self, deployment_id: &str, body: &str) -> ApiResult<()> {
        self.kv.put(&manifest_key(deployment_id), body).map_err(kv_err)?.execute().await.map_err(kv_err)
    }

    pub async fn delete_manifest(&self, deployment_id: &str) -> ApiResult<()> {
        let out = self.kv.delete(&manifest_key(deployment_id)).await.map_err(kv_err);
        cache::forget_deployment(deployment_id);
        out
    }

    pub async fn manifest_text(&self, deployment_id: &str) -> ApiResult<Option<String>> {
        self.kv.get(&manifest_key(deployment_id)).text().await.map_err(kv_err)
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
    env.queue(bindings::DEPLOY_QUEUE)
        .map_err(|e| ApiError::internal(format!("queue: {e}")))?
        .send(job)
        .await
        .map_err(|e| ApiError::internal(format!("queue send: {e}")))
}

pub fn upload_manifest_key(project_id: &str, session_id: &str) -> String {
    format!("uploads/{project_id}/{session_id}.json")
}
