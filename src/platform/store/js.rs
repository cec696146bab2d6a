//! The few JavaScript-value helpers the binding adapters share (TenantKv, TenantBucket and
//! TenantSql stores, the loader's code object).
// Shared with the visitor-only build (`--features site`), which uses only `set`.
#![cfg_attr(feature = "site", allow(dead_code))]

use wasm_bindgen::{JsCast, JsValue};
use worker::js_sys::{self, Array, Function, Object, Reflect};

/// `obj[key]`, or `undefined` when `obj` is not an object.
pub(crate) fn get(obj: &JsValue, key: &str) -> JsValue {
    if obj.is_object() {
        Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

pub(crate) fn set(obj: &Object, key: &str, value: &JsValue) -> Result<(), JsValue> {
    Reflect::set(obj, &key.into(), value).map(|_| ())
}

/// JavaScript's `String(v)`, as the real bindings coerce a key.
pub(crate) fn js_string(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        return s;
    }
    Reflect::get(&js_sys::global(), &"String".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .and_then(|f| f.call1(&JsValue::NULL, v).ok())
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

/// `target[method](...args)` through `Reflect.apply` (a Durable Object stub answers any property
/// read with an RPC method, so `.call` must never be read on its functions).
pub(crate) fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(target, &method.into())?.dyn_into()?;
    Reflect::apply(&f, target, &args.iter().collect::<Array>())
}
