//! This isolate's copies of the visitor hot path's storage reads (rules in
//! `crate::routing::cache`): routing records and custom-host owners from ROUTES_KV and preview
//! prefixes from D1 for at most `ROUTE_CACHE_TTL_MS`, found or not (so unknown names cost one
//! read per name per TTL, in count-bounded maps); immutable deployment manifests in a
//! byte-bounded LRU (`MANIFEST_CACHE_BYTES`), and small asset bodies, immutable per
//! `<projectId>:<sha256>`, in another (`ASSET_CACHE_BYTES`); and the JS fast path's entries
//! (`super::fast`), which every invalidation drops. Whoever moves what an entry stands for
//! calls the `forget_*` functions (the lifecycle service through [`LiveRoutes`], the jobs and
//! domain handlers after their writes; never a storage adapter), so the isolate that
//! activates, rolls back, disables or deletes never serves its own stale copy.
// Shared with the visitor-only build (`--features site`), which uses a part of it.
#![cfg_attr(feature = "site", allow(dead_code))]

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::deploy::DeploymentManifest;
use crate::keys::route_key;
use crate::lifecycle::{RouteStore, StoreError, StoreResult};
use crate::platform::bindings::Settings;
use crate::platform::store::kv::KvRoutes;
use crate::routing::cache::{preview_answer_survives, preview_key, ByteLru, TtlCache};
use crate::routing::RouteRecord;

/// A cached answer's freshness: when it stops being served, and its cache's epoch when it
/// was looked up.
#[derive(Clone, Copy)]
pub struct Fresh {
    pub until_ms: u64,
    pub epoch: u64,
}

/// ROUTES_KV as the lifecycle service sees it: writes go to KV, and the invalidations the
/// service asks for (after each pointer move) are applied to this isolate's caches.
pub struct LiveRoutes(pub KvRoutes);

impl LiveRoutes {
    pub fn new(env: &worker::Env) -> crate::error::ApiResult<LiveRoutes> {
        Ok(LiveRoutes(KvRoutes::new(env)?))
    }
}

impl RouteStore for LiveRoutes {
    async fn get(&self, project_id: &str) -> StoreResult<Option<RouteRecord>> {
        self.0.route(project_id).await.map_err(|e| StoreError(e.log_detail()))
    }

    async fn put(&self, record: &RouteRecord) -> StoreResult<()> {
        self.0.put_route(record).await.map_err(|e| StoreError(e.log_detail()))
    }

    fn forget_route(&self, record: &RouteRecord) {
        forget_route(&[&record.slug, &record.project_id]);
    }

    fn forget_deployment(&self, deployment_id: &str) {
        forget_deployment(deployment_id);
    }
}

#[wasm_bindgen]
extern "C" {
    /// src/js/main.mjs: drops every fast-path entry (rare; the next requests take the Rust
    /// path and offer again).
    #[wasm_bindgen(catch, js_name = __flotillaFastClear)]
    fn fast_clear() -> Result<(), JsValue>;
}

/// Bounds for isolates that see many projects (each entry is small).
const ROUTE_ENTRIES: usize = 4096;
const HOST_ENTRIES: usize = 4096;
const PREVIEW_ENTRIES: usize = 1024;

struct Caches {
    configured: bool,
    routes: TtlCache<Option<Rc<RouteRecord>>>,
    hosts: TtlCache<Option<String>>,
    previews: TtlCache<Option<String>>,
    manifests: ByteLru<Rc<DeploymentManifest>>,
    bodies: ByteLru<Rc<Vec<u8>>>,
}

thread_local! {
    static CACHES: RefCell<Caches> = RefCell::new(Caches {
        configured: false,
        routes: TtlCache::new(0, ROUTE_ENTRIES),
        hosts: TtlCache::new(0, HOST_ENTRIES),
        previews: TtlCache::new(0, PREVIEW_ENTRIES),
        manifests: ByteLru::new(0),
        bodies: ByteLru::new(0),
    });
}

fn with<T>(s: &Settings, f: impl FnOnce(&mut Caches) -> T) -> T {
    CACHES.with(|c| {
        let mut c = c.borrow_mut();
        if !c.configured {
            c.configured = true;
            c.routes.set_ttl(s.route_cache_ttl_ms);
            c.hosts.set_ttl(s.route_cache_ttl_ms);
            c.previews.set_ttl(s.route_cache_ttl_ms);
            c.manifests.set_max_bytes(s.manifest_cache_bytes);
            c.bodies.set_max_bytes(s.asset_cache_bytes);
        }
        f(&mut c)
    })
}

/// Invalidations run in any isolate, configured or not (the entries are then simply absent).
fn with_any(f: impl FnOnce(&mut Caches)) {
    CACHES.with(|c| f(&mut c.borrow_mut()));
}

/// A cached lookup: the hit, or the epoch to pass to the matching `put_*` after reading.
pub enum Lookup<V> {
    Hit(V),
    Miss(u64),
}

/// A cached routing record, with the time it stops being served (see [`route_epoch`]).
pub fn route(s: &Settings, key: &str, now: u64) -> Lookup<(Option<Rc<RouteRecord>>, u64)> {
    with(s, |c| match c.routes.get_fresh(&route_key(key), now) {
        Some((until, v)) => Lookup::Hit((v, until)),
        None => Lookup::Miss(c.routes.epoch()),
    })
}

/// Changes whenever a routing record is dropped here: a decision built on a record read at
/// an older epoch may be stale and must not be kept anywhere (`crate::platform::serve::fast`).
pub fn route_epoch() -> u64 {
    CACHES.with(|c| c.borrow().routes.epoch())
}

pub fn put_route(s: &Settings, epoch: u64, key: &str, rec: Option<Rc<RouteRecord>>, now: u64) {
    with(s, |c| c.routes.insert(epoch, &route_key(key), rec, now));
}

/// The routing record stored under these keys (slug and id) changed in this isolate.
pub fn forget_route(keys: &[&str]) {
    forget_route_here(keys);
    tell_others(Forget::Route, &keys.join("\n"));
}

fn forget_route_here(keys: &[&str]) {
    let _ = fast_clear();
    with_any(|c| {
        for k in keys {
            c.routes.remove(&route_key(k));
        }
    });
}

/// A cached custom-host owner, with the time it stops being served (see [`host_epoch`]).
pub fn host(s: &Settings, host: &str, now: u64) -> Lookup<(Option<String>, u64)> {
    with(s, |c| match c.hosts.get_fresh(host, now) {
        Some((until, v)) => Lookup::Hit((v, until)),
        None => Lookup::Miss(c.hosts.epoch()),
    })
}

/// Changes whenever custom-host answers are dropped here (as [`route_epoch`] for records).
pub fn host_epoch() -> u64 {
    CACHES.with(|c| c.borrow().hosts.epoch())
}

pub fn put_host(s: &Settings, epoch: u64, host: &str, owner: Option<String>, now: u64) {
    with(s, |c| c.hosts.insert(epoch, host, owner, now));
}

/// A `host:` record changed: all host answers go (a wildcard covers names not known here).
pub fn forget_hosts() {
    forget_hosts_here();
    tell_others(Forget::Hosts, "");
}

fn forget_hosts_here() {
    let _ = fast_clear();
    with_any(|c| c.hosts.clear());
}

/// The deployment a project's preview prefix names (`None`: none, or more than one).
pub fn preview(s: &Settings, project_id: &str, prefix: &str, now: u64) -> Lookup<Option<String>> {
    with(s, |c| match c.previews.get(&preview_key(project_id, prefix), now) {
        Some(v) => Lookup::Hit(v),
        None => Lookup::Miss(c.previews.epoch()),
    })
}

/// Misses are cached too: a prefix that matches nothing yet may match a deployment that
/// completes a moment later, and the lifecycle then calls [`forget_deployment`] for it.
pub fn put_preview(s: &Settings, epoch: u64, project_id: &str, prefix: &str, id: Option<&str>, now: u64) {
    with(s, |c| c.previews.insert(epoch, &preview_key(project_id, prefix), id.map(str::to_string), now));
}

pub fn manifest(s: &Settings, deployment_id: &str) -> Option<Rc<DeploymentManifest>> {
    with(s, |c| c.manifests.get(deployment_id))
}

pub fn put_manifest(s: &Settings, deployment_id: &str, m: Rc<DeploymentManifest>, cost: usize) {
    with(s, |c| c.manifests.insert(deployment_id, m, cost));
}

/// A deployment stopped being servable here (expired, collected, purged), or became servable
/// (it completed): its manifest, every preview answer naming it and every cached miss for a
/// prefix of its id go.
pub fn forget_deployment(deployment_id: &str) {
    forget_deployment_here(deployment_id);
    tell_others(Forget::Deployment, deployment_id);
}

fn forget_deployment_here(deployment_id: &str) {
    let _ = fast_clear();
    with_any(|c| {
        c.manifests.remove(deployment_id);
        c.previews.retain(|k, id| preview_answer_survives(k, id.as_deref(), deployment_id));
    });
}

/// Largest body kept: a sixteenth of the budget, at most 256 KiB (big files stream from KV).
pub fn body_cacheable(s: &Settings, size: u64) -> bool {
    s.asset_cache_bytes > 0 && size <= (s.asset_cache_bytes / 16).min(256 * 1024) as u64
}

/// The cached body of `key` (`<projectId>:<sha256>`: content-addressed, never stale).
pub fn body(s: &Settings, key: &str) -> Option<Rc<Vec<u8>>> {
    with(s, |c| c.bodies.get(key))
}

pub fn put_body(s: &Settings, key: &str, bytes: Rc<Vec<u8>>) {
    // The key and bookkeeping cost something too (and keep empty bodies from being free).
    let cost = bytes.len() + 128;
    with(s, |c| c.bodies.insert(key, bytes, cost));
}

/// A body was deleted from ASSETS_KV (GC, purge).
pub fn forget_body(key: &str) {
    forget_body_here(key);
    tell_others(Forget::Body, key);
}

fn forget_body_here(key: &str) {
    with_any(|c| c.bodies.remove(key));
}

/*
 * The bridge between the two builds of this crate that share an isolate (src/js/main.mjs,
 * src/js/bridge.mjs): the visitor-only module (`--features site`) serves sites from its
 * caches, the full module (API, MCP, queue, cron) is where activations, rollbacks and GC
 * happen. Each module registers its local `forget_*_here` with JS at start; every
 * invalidation runs here and then in every other loaded module, so "the isolate that
 * activates never serves its own stale copy" still holds.
 */

/// This build's name in the bridge.
const MODULE: &str = if cfg!(feature = "site") { "site" } else { "full" };

#[derive(Clone, Copy)]
enum Forget {
    Route,
    Hosts,
    Deployment,
    Body,
}

impl Forget {
    const ALL: [Forget; 4] = [Forget::Route, Forget::Hosts, Forget::Deployment, Forget::Body];

    fn name(self) -> &'static str {
        match self {
            Forget::Route => "route",
            Forget::Hosts => "hosts",
            Forget::Deployment => "deployment",
            Forget::Body => "body",
        }
    }
}

#[wasm_bindgen]
extern "C" {
    /// src/js/bridge.mjs: runs `arg`'s invalidation in every loaded module but `from`.
    #[wasm_bindgen(catch, js_name = __flotillaForgetElsewhere)]
    fn forget_elsewhere(from: &str, kind: &str, arg: &str) -> Result<(), JsValue>;

    /// src/js/bridge.mjs: registers this module's local invalidation.
    #[wasm_bindgen(catch, js_name = __flotillaForgetHook)]
    fn forget_hook(module: &str, hook: &Closure<dyn Fn(String, String)>) -> Result<(), JsValue>;
}

fn tell_others(kind: Forget, arg: &str) {
    // Without the JS half (no other module) there is nobody to tell.
    let _ = forget_elsewhere(MODULE, kind.name(), arg);
}

/// Called once per wasm instance (`#[event(start)]`).
pub fn register_bridge() {
    let hook = Closure::<dyn Fn(String, String)>::new(|kind: String, arg: String| {
        match Forget::ALL.into_iter().find(|k| k.name() == kind) {
            Some(Forget::Route) => forget_route_here(&arg.split('\n').collect::<Vec<_>>()),
            Some(Forget::Hosts) => forget_hosts_here(),
            Some(Forget::Deployment) => forget_deployment_here(&arg),
            Some(Forget::Body) => forget_body_here(&arg),
            None => {}
        }
    });
    if forget_hook(MODULE, &hook).is_ok() {
        // Lives as long as the instance: JS holds it for the isolate's lifetime.
        hook.forget();
    }
}
