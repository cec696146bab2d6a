//! The rules of the Cache API in tenant code (src/storage/cache.rs) for the `TenantCache`
//! entrypoint in src/js/main.mjs, which makes the platform Cache API calls itself (a Request
//! or Response never crosses into wasm). Full build only: a tenant's first cache call in an
//! isolate loads it, as the other tenant bindings do.

use wasm_bindgen::prelude::*;

use crate::runtime::cache::{self, Put};

fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// Exported as a class: worker-build exports only classes from the full build (free functions
/// end up on its default export).
#[wasm_bindgen]
pub struct TenantCacheRules;

#[wasm_bindgen]
impl TenantCacheRules {
    #[wasm_bindgen(constructor)]
    pub fn new() -> TenantCacheRules {
        TenantCacheRules
    }

    /// The platform cache name of `project_id`'s cache `name` (`undefined`: `caches.default`).
    pub fn name(&self, project_id: &str, name: Option<String>) -> Result<String, JsValue> {
        cache::cache_name(project_id, name.as_deref()).map_err(|m| type_error(&m))
    }

    /// Whether `match`/`delete` with a request of `method` can find anything.
    pub fn matches(&self, method: &str, ignore_method: bool) -> bool {
        cache::matches_method(method, ignore_method)
    }

    /// `put`: `true` to store, `false` to accept without storing, or throws Cloudflare's TypeError.
    pub fn put(
        &self,
        method: &str,
        status: u16,
        cache_control: Option<String>,
        vary: Option<String>,
        sets_cookie: bool,
    ) -> Result<bool, JsValue> {
        match cache::put_rule(method, status, cache_control.as_deref(), vary.as_deref(), sets_cookie) {
            Ok(put) => Ok(put == Put::Store),
            Err(m) => Err(type_error(&m)),
        }
    }
}

impl Default for TenantCacheRules {
    fn default() -> Self {
        TenantCacheRules
    }
}
