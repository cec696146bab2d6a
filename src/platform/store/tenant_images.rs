//! The rules of the `images` binding (src/runtime/images.rs) for the `TenantImages` entrypoint
//! in src/js/main.mjs, which reads the streams itself (the bytes cross into wasm only as the
//! first `INFO_PREFIX_MAX` of them).

use wasm_bindgen::prelude::*;

use crate::platform::store::js::set;
use crate::runtime::images;

/// Exported as a class: worker-build exports only classes from the full build.
#[wasm_bindgen]
pub struct TenantImageRules;

#[wasm_bindgen]
impl TenantImageRules {
    #[wasm_bindgen(constructor)]
    pub fn new() -> TenantImageRules {
        TenantImageRules
    }

    /// How many leading bytes `info` and `outputType` need.
    #[wasm_bindgen(js_name = prefixBytes)]
    pub fn prefix_bytes(&self) -> usize {
        images::INFO_PREFIX_MAX
    }

    /// `info(stream)`: `{format, fileSize, width, height}` from the image's first bytes.
    pub fn info(&self, prefix: &[u8], file_size: f64) -> Result<JsValue, JsValue> {
        let i = images::info(prefix).map_err(|m| JsValue::from(js_sys::Error::new(&m)))?;
        let o = js_sys::Object::new();
        set(&o, "format", &i.format.into())?;
        set(&o, "fileSize", &file_size.into())?;
        set(&o, "width", &i.width.into())?;
        set(&o, "height", &i.height.into())?;
        Ok(o.into())
    }

    /// The content type of `output({format})`: what the (unchanged) bytes are. The requested
    /// format must still be one Cloudflare knows.
    #[wasm_bindgen(js_name = outputType)]
    pub fn output_type(&self, prefix: &[u8], format: Option<String>) -> Result<String, JsValue> {
        let err = |m: String| JsValue::from(js_sys::Error::new(&m));
        if let Some(f) = format.as_deref() {
            images::output_type(f).map_err(err)?;
        }
        Ok(images::info(prefix).map_err(err)?.format.to_string())
    }
}

impl Default for TenantImageRules {
    fn default() -> Self {
        TenantImageRules
    }
}
