//! The KV binding server code gets (issue 27), over the platform's `TENANT_KV` namespace. A
//! class exported by the full build (`TenantKvStore`), which the `TenantKv` entrypoint in
//! src/js/main.mjs constructs with its `env` and the namespace id from its props and calls once
//! per method: the rules are src/storage/kv.rs, and values (strings, buffers, streams) and
//! options the binding checks itself pass through untouched, so its errors are Cloudflare's.
//! A namespace deleted through the API stops answering (checked in D1, cached briefly).

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Function, Map, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use worker::Env;

use crate::domain::KIND_KV;
use crate::platform::bindings::now_ms;
use crate::platform::store::d1_resources::D1Resources;
use crate::platform::store::js::{get, js_string, set};
use crate::storage::kv::{KvError, Op, TenantNamespace, ValueType};

/// How long an isolate trusts "this namespace is live" (ms). The isolate that deletes one
/// forgets it at once; others stop serving it within this.
const LIVE_TTL_MS: f64 = 30_000.0;

thread_local! {
    static LIVE: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
}

/// Removes up to `max` keys of a namespace from `TENANT_KV` (one list, then one delete per
/// key). Returns how many it removed and whether more remain.
pub async fn remove_keys(env: &Env, ns: &TenantNamespace, max: u32) -> crate::error::ApiResult<(u32, bool)> {
    let err = |e: String| crate::error::ApiError::internal(format!("TENANT_KV: {e}"));
    let kv = env.kv(crate::platform::bindings::TENANT_KV).map_err(|e| err(e.to_string()))?;
    let page = kv
        .list()
        .prefix(ns.prefix().to_string())
        .limit(max.into())
        .execute()
        .await
        .map_err(|e| err(e.to_string()))?;
    let mut removed = 0;
    for key in &page.keys {
        // Listed by our own prefix; the check keeps a bug elsewhere from deleting another's key.
        if ns.tenant_name(&key.name).is_some() {
            kv.delete(&key.name).await.map_err(|e| err(e.to_string()))?;
            removed += 1;
        }
    }
    Ok((removed, !page.list_complete))
}

/// Drops this isolate's "live" mark for a namespace (the delete handler calls it).
pub fn forget(id: &str) {
    LIVE.with(|l| l.borrow_mut().remove(id));
}

fn js_error(e: KvError) -> JsValue {
    if e.type_error {
        js_sys::TypeError::new(&e.message).into()
    } else {
        js_sys::Error::new(&e.message).into()
    }
}

#[wasm_bindgen]
pub struct TenantKvStore {
    env: Env,
    kv: JsValue,
    ns: Option<TenantNamespace>,
    id: String,
}

impl TenantKvStore {
    fn ns(&self) -> Result<TenantNamespace, JsValue> {
        self.ns.clone().ok_or_else(|| js_sys::Error::new("KV binding without a namespace").into())
    }

    /// Calls `TENANT_KV[method](...args)` and returns its promise.
    fn call(&self, method: &str, args: &[JsValue]) -> Result<Promise, JsValue> {
        let f: Function = Reflect::get(&self.kv, &method.into())?.dyn_into()?;
        let out = f.apply(&self.kv, &args.iter().collect::<Array>())?;
        Ok(out.unchecked_into())
    }

    /// Refuses with the message Cloudflare gives for a missing namespace once it is deleted.
    async fn ensure_live(env: &Env, id: &str) -> Result<(), JsValue> {
        let now = now_ms() as f64;
        if LIVE.with(|l| l.borrow().get(id).is_some_and(|t| now - *t < LIVE_TTL_MS)) {
            return Ok(());
        }
        let store = D1Resources::new(env).map_err(|e| JsValue::from(js_sys::Error::new(&e.log_detail())))?;
        let live = store
            .is_live(KIND_KV, id)
            .await
            .map_err(|e| JsValue::from(js_sys::Error::new(&e.log_detail())))?;
        if !live {
            return Err(js_sys::Error::new("KV namespace not found: it was deleted").into());
        }
        LIVE.with(|l| l.borrow_mut().insert(id.to_string(), now));
        Ok(())
    }

    /// Runs `op` after the liveness check and maps what it resolves to, as one promise.
    fn run(
        &self,
        op: impl FnOnce() -> Result<Promise, JsValue> + 'static,
        map: impl FnOnce(JsValue) -> Result<JsValue, JsValue> + 'static,
    ) -> Promise {
        let (env, id) = (self.env.clone(), self.id.clone());
        future_to_promise(async move {
            Self::ensure_live(&env, &id).await?;
            map(JsFuture::from(op()?).await?)
        })
    }

    fn clone_handle(&self) -> TenantKvStore {
        TenantKvStore { env: self.env.clone(), kv: self.kv.clone(), ns: self.ns.clone(), id: self.id.clone() }
    }

    /// A bulk get (`keys` an array): a Map from the tenant's keys to their values.
    fn bulk(&self, keys: &Array, opts: JsValue, with_metadata: bool) -> Result<Promise, JsValue> {
        let ns = self.ns()?;
        let typ = if opts.is_string() { opts.as_string() } else { get(&opts, "type").as_string() };
        ValueType::parse(typ.as_deref()).for_bulk().map_err(js_error)?;
        let names: Vec<String> = keys.iter().map(|k| js_string(&k)).collect();
        let stored = ns.bulk_keys(&names).map_err(js_error)?;
        let this = self.clone_handle();
        let method = if with_metadata { "getWithMetadata" } else { "get" };
        let arr: Array = stored.iter().map(|s| JsValue::from(s.as_str())).collect();
        Ok(self.run(
            move || this.call(method, &[arr.into(), opts]),
            move |m| {
                let from: Map = m.dyn_into()?;
                let out = Map::new();
                from.for_each(&mut |value, key| {
                    if let Some(name) = key.as_string().as_deref().and_then(|k| ns.tenant_name(k)) {
                        out.set(&name.into(), &value);
                    }
                });
                Ok(out.into())
            },
        ))
    }

    fn single(
        &self,
        op: Op,
        method: &'static str,
        key: &JsValue,
        rest: Vec<JsValue>,
    ) -> Result<Promise, JsValue> {
        let stored = self.ns()?.key(op, &js_string(key)).map_err(js_error)?;
        let this = self.clone_handle();
        Ok(self.run(
            move || {
                let mut args = vec![JsValue::from(stored)];
                args.extend(rest);
                this.call(method, &args)
            },
            Ok,
        ))
    }
}

#[wasm_bindgen]
impl TenantKvStore {
    #[wasm_bindgen(constructor)]
    pub fn new(env: JsValue, namespace_id: String) -> Result<TenantKvStore, JsValue> {
        let kv = Reflect::get(&env, &"TENANT_KV".into())?;
        if kv.is_undefined() {
            return Err(js_sys::Error::new("the platform has no TENANT_KV binding").into());
        }
        Ok(TenantKvStore {
            env: env.unchecked_into(),
            kv,
            ns: TenantNamespace::new(&namespace_id),
            id: namespace_id,
        })
    }

    /// `get(key, type | {type, cacheTtl})`, or a bulk get when `key` is an array.
    pub fn get(&self, key: JsValue, opts: JsValue) -> Result<Promise, JsValue> {
        if Array::is_array(&key) {
            return self.bulk(key.unchecked_ref(), opts, false);
        }
        self.single(Op::Get, "get", &key, vec![opts])
    }

    #[wasm_bindgen(js_name = getWithMetadata)]
    pub fn get_with_metadata(&self, key: JsValue, opts: JsValue) -> Result<Promise, JsValue> {
        if Array::is_array(&key) {
            return self.bulk(key.unchecked_ref(), opts, true);
        }
        self.single(Op::Get, "getWithMetadata", &key, vec![opts])
    }

    /// `put(key, value, {expiration, expirationTtl, metadata})`: only those options go on.
    pub fn put(&self, key: JsValue, value: JsValue, opts: JsValue) -> Result<Promise, JsValue> {
        let clean = Object::new();
        for name in ["expiration", "expirationTtl", "metadata"] {
            let v = get(&opts, name);
            if !v.is_undefined() {
                set(&clean, name, &v)?;
            }
        }
        self.single(Op::Put, "put", &key, vec![value, clean.into()])
    }

    pub fn delete(&self, key: JsValue) -> Result<Promise, JsValue> {
        self.single(Op::Delete, "delete", &key, vec![])
    }

    /// `list({prefix, limit, cursor})` -> `{keys: [{name, expiration?, metadata?}],
    /// list_complete, cursor?}` with the namespace prefix stripped from every name.
    pub fn list(&self, opts: JsValue) -> Result<Promise, JsValue> {
        let ns = self.ns()?;
        let prefix = get(&opts, "prefix");
        let prefix = (!prefix.is_undefined() && !prefix.is_null()).then(|| js_string(&prefix));
        let limit = get(&opts, "limit");
        let limit = (!limit.is_undefined() && !limit.is_null()).then(|| limit.as_f64().unwrap_or(f64::NAN));
        let cursor = get(&opts, "cursor");
        let cursor = (!cursor.is_undefined() && !cursor.is_null()).then(|| js_string(&cursor));
        let req = ns.list(prefix.as_deref(), limit, cursor.as_deref()).map_err(js_error)?;
        let this = self.clone_handle();
        let o = Object::new();
        set(&o, "prefix", &req.prefix.as_str().into())?;
        set(&o, "limit", &JsValue::from_f64(req.limit as f64))?;
        if let Some(c) = &req.cursor {
            set(&o, "cursor", &c.as_str().into())?;
        }
        Ok(self.run(
            move || this.call("list", &[o.into()]),
            move |r| {
                let keys = Array::new();
                for k in Array::from(&get(&r, "keys")).iter() {
                    let Some(name) = get(&k, "name").as_string() else { continue };
                    let Some(mine) = ns.tenant_name(&name) else { continue };
                    let out = Object::new();
                    set(&out, "name", &mine.into())?;
                    for f in ["expiration", "metadata"] {
                        let v = get(&k, f);
                        if !v.is_undefined() {
                            set(&out, f, &v)?;
                        }
                    }
                    keys.push(&out);
                }
                let out = Object::new();
                set(&out, "keys", &keys)?;
                set(&out, "list_complete", &get(&r, "list_complete"))?;
                let c = get(&r, "cursor");
                if !c.is_undefined() {
                    set(&out, "cursor", &c)?;
                }
                set(&out, "cacheStatus", &JsValue::NULL)?;
                Ok(out.into())
            },
        ))
    }
}
