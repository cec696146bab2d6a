//! The visitor fast path's Rust half: what src/js/main.mjs may answer without entering wasm.
//!
//! On `<slug>.<domain>` every path belongs to the project (`crate::routing::route_request_with`),
//! so when the active deployment answers every request with its server code
//! (`DeploymentManifest::every_request_runs_server_code`), the whole decision for that Host
//! header is one Worker Loader dispatch with fixed arguments. [`offer`] hands that decision to
//! JS, which then dispatches such requests itself (plus `x-request-id` and the sampled log
//! line) and falls back to Rust for everything else: an unknown or expired host, and any
//! request whose user code did not return a Response (Rust renders those error pages).
//!
//! The rules that keep it exactly as fresh as the Rust caches it is built from:
//! - only a routing record served from this isolate's cache is offered, with that entry's own
//!   expiry (fetch time + `ROUTE_CACHE_TTL_MS`), never a later one;
//! - the route cache's epoch is checked at the moment of the offer, synchronously: a record
//!   read before an invalidation in this isolate is never handed over;
//! - every invalidation of the Rust caches (`cache::forget_*`) drops every JS entry (`__flotillaFastClear`);
//! - a custom domain's entry also obeys its host → project answer: the earlier of the two
//!   expiries, and the host cache's epoch checked the same way;
//! - preview and alias hosts (`<prefix>--<slug>`) and path mode are never offered.

use wasm_bindgen::prelude::*;

use super::cache::{self, Fresh};
use super::loader::Target;
use crate::routing::LogPolicy;

#[wasm_bindgen]
extern "C" {
    /// src/js/main.mjs.
    #[wasm_bindgen(catch, js_name = __flotillaFastPut)]
    #[allow(clippy::too_many_arguments)]
    fn fast_put(
        host: &str,
        isolate_id: &str,
        project_id: &str,
        deployment_id: &str,
        outbound_allowed: bool,
        env_ref: &str,
        timeout_ms: i32,
        until_ms: f64,
        log_every: f64,
        slow_ms: f64,
    ) -> Result<(), JsValue>;
}

/// The Host header a visitor request was routed on, when the host alone decides the site:
/// `<slug>.<domain>`, or a custom domain whose owner came from the host cache (`custom`).
#[derive(Clone, Copy)]
pub struct FastHost<'a> {
    pub host: &'a str,
    pub custom: Option<Fresh>,
}

/// Lets JS dispatch requests for `via.host` to `target` until the routing record (`route`)
/// or the custom host's answer expires, unless either cache dropped entries since.
pub fn offer(via: FastHost<'_>, target: &Target, timeout_ms: i32, route: Fresh, log: &LogPolicy) {
    if cache::route_epoch() != route.epoch {
        return;
    }
    let mut until_ms = route.until_ms;
    if let Some(h) = via.custom {
        if cache::host_epoch() != h.epoch {
            return;
        }
        until_ms = until_ms.min(h.until_ms);
    }
    let host = via.host;
    // Best effort: without the JS half the request simply keeps taking the Rust path.
    let _ = fast_put(
        host,
        &target.isolate_id(),
        &target.project_id,
        &target.deployment_id,
        target.outbound_allowed,
        &target.env,
        timeout_ms,
        until_ms as f64,
        log.every as f64,
        log.slow_ms as f64,
    );
}
