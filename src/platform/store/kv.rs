//! KV adapters: asset bodies up to 25 MiB (`ASSETS_KV`), routing records, immutable deployment
//! manifests and custom-domain records (`ROUTES_KV`). Plain reads and writes: the callers that
//! move a pointer also drop the visitor caches' copies (`serve::cache`).
// Shared with the visitor-only build (`--features site`), which uses a part of it.
#![cfg_attr(feature = "site", allow(dead_code))]

use serde::{Deserialize, Serialize};
use worker::{Env, KvStore};

use crate::error::{ApiError, ApiResult};
use crate::keys::{
    asset_key, host_key, host_of, host_prefix, legacy_manifest_key, manifest_id_of, manifest_key,
    manifest_prefix, route_key,
};
use crate::platform::bindings;
use crate::routing::{HostRecord, RouteRecord};

fn kv_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("KV: {e}"))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AssetMeta {
    pub size: u64,
    #[serde(rename = "contentType", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A KV binding resolved on first use: workers-rs' `env.kv()` costs half a dozen calls into
/// JS (the binding and each of its methods), which the cached visitor path should not pay.
#[derive(Clone)]
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
        self.kv.get()?.delete(&asset_key(project_id, hash)).await.map_err(kv_err)
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

    /// A small body, read whole.
    pub async fn bytes(&self, project_id: &str, hash: &str) -> ApiResult<Option<Vec<u8>>> {
        self.kv.get()?.get(&asset_key(project_id, hash)).bytes().await.map_err(kv_err)
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
#[derive(Clone)]
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
        out
    }

    pub async fn delete_route(&self, slug: &str, project_id: &str) -> ApiResult<()> {
        self.kv.get()?.delete(&route_key(slug)).await.map_err(kv_err)?;
        self.kv.get()?.delete(&route_key(project_id)).await.map_err(kv_err)
    }

    /// The project a verified custom domain routes to (`host:<hostname>`).
    pub async fn host(&self, hostname: &str) -> ApiResult<Option<HostRecord>> {
        self.kv.get()?.get(&host_key(hostname)).json::<HostRecord>().await.map_err(kv_err)
    }

    pub async fn put_host(&self, hostname: &str, rec: &HostRecord) -> ApiResult<()> {
        let body = serde_json::to_string(rec).map_err(kv_err)?;
        self.kv.get()?.put(&host_key(hostname), body).map_err(kv_err)?.execute().await.map_err(kv_err)
    }

    /// One page of custom-domain record names (`limit` at most) and the cursor of the next
    /// page (`None`: this was the last).
    pub async fn host_names(
        &self,
        cursor: Option<&str>,
        limit: u64,
    ) -> ApiResult<(Vec<String>, Option<String>)> {
        let mut list = self.kv.get()?.list().prefix(host_prefix().to_string()).limit(limit);
        if let Some(c) = cursor {
            list = list.cursor(c.to_string());
        }
        let page = list.execute().await.map_err(kv_err)?;
        let names = page.keys.iter().filter_map(|k| host_of(&k.name).map(str::to_string)).collect();
        Ok((names, if page.list_complete { None } else { page.cursor.filter(|c| !c.is_empty()) }))
    }

    pub async fn delete_host(&self, hostname: &str) -> ApiResult<()> {
        self.kv.get()?.delete(&host_key(hostname)).await.map_err(kv_err)
    }

    pub async fn put_manifest(&self, project_id: &str, deployment_id: &str, body: &str) -> ApiResult<()> {
        self.kv
            .get()?
            .put(&manifest_key(project_id, deployment_id), body)
            .map_err(kv_err)?
            .execute()
            .await
            .map_err(kv_err)
    }

    /// The manifest under both its keys (deployments made before the project was in the key
    /// have the legacy one).
    pub async fn delete_manifest(&self, project_id: &str, deployment_id: &str) -> ApiResult<()> {
        self.kv.get()?.delete(&manifest_key(project_id, deployment_id)).await.map_err(kv_err)?;
        self.kv.get()?.delete(&legacy_manifest_key(deployment_id)).await.map_err(kv_err)
    }

    /// A deployment's manifest; the legacy key is read only when the current one is absent.
    pub async fn manifest_text(&self, project_id: &str, deployment_id: &str) -> ApiResult<Option<String>> {
        let kv = self.kv.get()?;
        if let Some(text) = kv.get(&manifest_key(project_id, deployment_id)).text().await.map_err(kv_err)? {
            return Ok(Some(text));
        }
        kv.get(&legacy_manifest_key(deployment_id)).text().await.map_err(kv_err)
    }

    /// Up to `limit` deployment ids with a manifest stored under the project's prefix.
    pub async fn manifest_ids(&self, project_id: &str, limit: u64) -> ApiResult<Vec<String>> {
        let prefix = manifest_prefix(project_id);
        let page = self.kv.get()?.list().prefix(prefix).limit(limit).execute().await.map_err(kv_err)?;
        Ok(page
            .keys
            .into_iter()
            .filter_map(|k| manifest_id_of(project_id, &k.name).map(str::to_string))
            .collect())
    }
}
