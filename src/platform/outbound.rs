//! Custom-domain I/O with the outside world: TXT lookups over DNS-over-HTTPS
//! (`DNS_RESOLVER_URL`) and the optional Cloudflare for SaaS client (`CF_API_BASE_URL`,
//! `CF_ZONE_ID`, secret `CF_API_TOKEN`), plus releasing a purged project's domains and expired
//! pending ones. The
//! decisions are `crate::domain`'s; this file only fetches.

use wasm_bindgen::prelude::*;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit};

use super::bindings::{self, var_or};
use super::http;
use super::store::d1_domains::D1Domains;
use super::store::kv::KvRoutes;
use crate::domain::{
    doh_query_url, parse_doh_txt, parse_saas_answer, pending_cutoff, plan_release_step, ReleaseStep,
    SaasAnswer, TxtLookup,
};
use crate::error::{ApiError, ApiResult};

pub const DEFAULT_RESOLVER: &str = "https://cloudflare-dns.com/dns-query";
pub const DEFAULT_CF_API: &str = "https://api.cloudflare.com/client/v4";
/// An outside service gets this long before the request fails with a clear 502.
const UPSTREAM_TIMEOUT_MS: u32 = 8000;
const RESOLVER: &str = "the DNS resolver";
const CLOUDFLARE: &str = "the Cloudflare API";

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout)]
    fn abort_after(ms: u32) -> worker::web_sys::AbortSignal;
}

/// One outbound call: (HTTP status, body bytes). Transport failures are `Upstream` errors
/// whose detail (logged only) never contains the headers, hence never a token.
async fn send(
    service: &'static str,
    method: Method,
    url: &str,
    headers: Headers,
    body: Option<String>,
) -> ApiResult<(u16, Vec<u8>)> {
    let upstream = |detail: String| ApiError::Upstream { service, detail };
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(b) = body {
        init.with_body(Some(JsValue::from_str(&b)));
    }
    let req = Request::new_with_init(url, &init).map_err(|e| upstream(format!("bad URL {url}: {e}")))?;
    let signal = worker::AbortSignal::from(abort_after(UPSTREAM_TIMEOUT_MS));
    let mut resp = Fetch::Request(req)
        .send_with_signal(&signal)
        .await
        .map_err(|e| upstream(format!("fetch {url}: {e}")))?;
    let status = resp.status_code();
    let bytes = resp.bytes().await.map_err(|e| upstream(format!("reading {url}: {e}")))?;
    Ok((status, bytes))
}

/// The TXT values at `name`, as the configured resolver sees them.
pub async fn lookup_txt(env: &Env, name: &str) -> ApiResult<TxtLookup> {
    let resolver = var_or(env, bindings::DNS_RESOLVER_URL, DEFAULT_RESOLVER);
    let url = doh_query_url(resolver.trim(), name);
    let headers = Headers::new();
    headers.set("accept", "application/dns-json").map_err(|e| ApiError::internal(e.to_string()))?;
    let (status, body) = send(RESOLVER, Method::Get, &url, headers, None).await?;
    if status != 200 {
        return Err(ApiError::Upstream { service: RESOLVER, detail: format!("HTTP {status} from {url}") });
    }
    parse_doh_txt(&body).map_err(|detail| ApiError::Upstream { service: RESOLVER, detail })
}

/// The Cloudflare for SaaS client, present when the operator set `CF_ZONE_ID` and the
/// `CF_API_TOKEN` secret.
pub struct Saas {
    base: String,
    zone: String,
    token: String,
}

impl Saas {
    pub fn from_env(env: &Env) -> Option<Saas> {
        let zone = var_or(env, bindings::CF_ZONE_ID, "").trim().to_string();
        let token = bindings::secret(env, bindings::CF_API_TOKEN).trim().to_string();
        if zone.is_empty() || token.is_empty() {
            return None;
        }
        let base =
            var_or(env, bindings::CF_API_BASE_URL, DEFAULT_CF_API).trim().trim_end_matches('/').to_string();
        Some(Saas { base, zone, token })
    }

    async fn call(&self, method: Method, tail: &str, body: Option<String>) -> ApiResult<(u16, Vec<u8>)> {
        let url = format!("{}/zones/{}/custom_hostnames{tail}", self.base, self.zone);
        let headers = Headers::new();
        let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| ApiError::internal(e.to_string()));
        set("authorization", &format!("Bearer {}", self.token))?;
        set("accept", "application/json")?;
        if body.is_some() {
            set("content-type", "application/json")?;
        }
        send(CLOUDFLARE, method, &url, headers, body).await
    }

    /// Interprets an answer: refusals with a 4xx are the caller's to report; anything else
    /// unusable is an `Upstream` error.
    fn answer(status: u16, body: &[u8]) -> ApiResult<SaasAnswer> {
        match parse_saas_answer(body) {
            Ok(SaasAnswer::Refused(why)) if !(400..500).contains(&status) => {
                Err(ApiError::Upstream { service: CLOUDFLARE, detail: format!("HTTP {status}: {why}") })
            }
            Ok(a) => Ok(a),
            Err(detail) => {
                Err(ApiError::Upstream { service: CLOUDFLARE, detail: format!("HTTP {status}: {detail}") })
            }
        }
    }

    pub async fn create(&self, hostname: &str) -> ApiResult<SaasAnswer> {
        let body = serde_json::json!({ "hostname": hostname, "ssl": { "method": "http", "type": "dv" } });
        let (status, bytes) = self.call(Method::Post, "", Some(body.to_string())).await?;
        Self::answer(status, &bytes)
    }

    pub async fn get(&self, id: &str) -> ApiResult<SaasAnswer> {
        let (status, bytes) = self.call(Method::Get, &format!("/{id}"), None).await?;
        Self::answer(status, &bytes)
    }

    /// Deletes the custom hostname; one Cloudflare no longer knows counts as deleted.
    pub async fn delete(&self, id: &str) -> ApiResult<()> {
        let (status, bytes) = self.call(Method::Delete, &format!("/{id}"), None).await?;
        if status == 404 || (200..300).contains(&status) {
            return Ok(());
        }
        Err(ApiError::Upstream {
            service: CLOUDFLARE,
            detail: format!(
                "delete answered HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ),
        })
    }
}

/// For the purge of a deleted project: releases at most `chunk` of its domains — each one's
/// `host:` record (only where it still names this project) and its Cloudflare for SaaS
/// hostname — and deletes the rows of those released. A SaaS delete that fails keeps its row
/// (the hostname is never forgotten while still registered) and makes the step a `Retry`: the
/// purge message fails and the queue (and the cron after it) tries again.
pub async fn release_project_domains(env: &Env, project_id: &str, chunk: usize) -> ApiResult<ReleaseStep> {
    let routes = KvRoutes::new(env)?;
    let saas = Saas::from_env(env);
    let domains = D1Domains::new(env)?;
    let rows = domains.list_chunk(project_id, chunk).await?;
    let mut released = Vec::with_capacity(rows.len());
    let mut failed = 0;
    for d in &rows {
        if routes.host(&d.hostname).await?.is_some_and(|r| r.project_id == project_id) {
            routes.delete_host(&d.hostname).await?;
        }
        if let (Some(saas), Some(id)) = (&saas, d.saas_id.as_deref()) {
            if let Err(e) = saas.delete(id).await {
                let fields = serde_json::json!({ "msg": "custom hostname not removed from Cloudflare yet; the purge retries", "error": e.log_detail() });
                http::log("warn", "purge", fields);
                failed += 1;
                continue;
            }
        }
        released.push(d.hostname.clone());
    }
    domains.delete_many(project_id, &released).await?;
    Ok(plan_release_step(rows.len(), chunk, failed))
}

/// For the cron: releases up to `limit` domains still pending `ttl_ms` after they were attached
/// (their SaaS hostname first, if one was registered), so a name cannot be held by attaching
/// it and never verifying. Returns how many were released; one that fails stays for the next run.
pub async fn expire_pending_domains(env: &Env, now: i64, ttl_ms: i64, limit: usize) -> ApiResult<usize> {
    let domains = D1Domains::new(env)?;
    let saas = Saas::from_env(env);
    let cutoff = pending_cutoff(now, ttl_ms);
    let mut released = 0;
    for d in domains.expired_pending(cutoff, limit).await? {
        if !d.pending_expired(now, ttl_ms) {
            continue;
        }
        if let (Some(saas), Some(id)) = (&saas, d.saas_id.as_deref()) {
            if let Err(e) = saas.delete(id).await {
                let fields = serde_json::json!({ "msg": "expired domain's custom hostname not removed yet; the next run retries", "hostname": d.hostname, "error": e.log_detail() });
                http::log("warn", "cron", fields);
                continue;
            }
        }
        domains.delete_expired(&d.hostname, &d.project_id, cutoff).await?;
        released += 1;
    }
    Ok(released)
}
