//! Project secrets through the runtime's WebCrypto (`crypto.subtle`, AES-256-GCM): sealing on
//! `secret put`, opening when the loader builds an isolate. Key from the `SECRETS_KEY` secret
//! (`compat::derive_secrets_key` says why it is its own secret). Plain text never leaves memory.
// Shared with the visitor-only build (`--features site`), which uses a part of it.
#![cfg_attr(feature = "site", allow(dead_code))]

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Env;

use super::bindings::{random_bytes, secret};
use crate::compat::{decode_sealed, derive_secrets_key, encode_sealed, secret_aad};
use crate::error::{ApiError, ApiResult};

pub const SECRETS_KEY: &str = "SECRETS_KEY";

fn js_err(what: &str) -> impl Fn(JsValue) -> ApiError + '_ {
    move |_| ApiError::internal(format!("WebCrypto {what} failed"))
}

fn subtle() -> Result<Object, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    Ok(Reflect::get(&crypto, &"subtle".into())?.unchecked_into())
}

async fn call(name: &str, args: &Array) -> Result<JsValue, JsValue> {
    let s = subtle()?;
    let f: js_sys::Function = Reflect::get(&s, &name.into())?.dyn_into()?;
    JsFuture::from(js_sys::Promise::from(f.apply(&s, args)?)).await
}

fn algorithm(iv: &[u8], aad: &[u8]) -> Result<Object, JsValue> {
    let o = Object::new();
    Reflect::set(&o, &"name".into(), &"AES-GCM".into())?;
    Reflect::set(&o, &"iv".into(), &Uint8Array::from(iv))?;
    Reflect::set(&o, &"additionalData".into(), &Uint8Array::from(aad))?;
    Ok(o)
}

/// The AES key, or a 500 naming the missing platform secret (never its value).
pub struct Sealer {
    key: JsValue,
}

impl Sealer {
    pub async fn new(env: &Env) -> ApiResult<Sealer> {
        let raw = derive_secrets_key(&secret(env, SECRETS_KEY))
            .ok_or_else(|| ApiError::internal("SECRETS_KEY is missing or shorter than 16 bytes"))?;
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let alg = Object::new();
        Reflect::set(&alg, &"name".into(), &"AES-GCM".into()).map_err(js_err("importKey"))?;
        let args = Array::new();
        for v in [
            JsValue::from("raw"),
            Uint8Array::from(&raw[..]).into(),
            alg.into(),
            JsValue::FALSE,
            usages.into(),
        ] {
            args.push(&v);
        }
        let key = call("importKey", &args).await.map_err(js_err("importKey"))?;
        Ok(Sealer { key })
    }

    pub async fn seal(&self, project_id: &str, name: &str, plain: &str) -> ApiResult<String> {
        let iv = random_bytes::<12>();
        let alg = algorithm(&iv, &secret_aad(project_id, name)).map_err(js_err("encrypt"))?;
        let data = Uint8Array::from(plain.as_bytes());
        let out = call("encrypt", &Array::of3(&alg, &self.key, &data)).await.map_err(js_err("encrypt"))?;
        Ok(encode_sealed(&iv, &Uint8Array::new(&out).to_vec()))
    }

    pub async fn open(&self, project_id: &str, name: &str, sealed: &str) -> ApiResult<String> {
        let (iv, ct) =
            decode_sealed(sealed).ok_or_else(|| ApiError::internal("stored secret is malformed"))?;
        let alg = algorithm(&iv, &secret_aad(project_id, name)).map_err(js_err("decrypt"))?;
        let data = Uint8Array::from(ct.as_slice());
        let out = call("decrypt", &Array::of3(&alg, &self.key, &data))
            .await
            .map_err(|_| ApiError::internal("a stored secret does not decrypt (was SECRETS_KEY changed?)"))?;
        String::from_utf8(Uint8Array::new(&out).to_vec())
            .map_err(|_| ApiError::internal("a stored secret is not UTF-8"))
    }
}
