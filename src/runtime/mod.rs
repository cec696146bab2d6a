//! The runtime APIs apps expect in server code besides storage (issue 28), pure: the Cache API's
//! names and rules, and the `images` binding's format probe. The calls themselves are made by
//! entrypoints in src/js/main.mjs, through `platform::store::tenant_cache`/`tenant_images`.

pub mod cache;
pub mod images;
