//! The tenant-side half of SQL and bucket bindings (pure): D1's and R2's APIs have synchronous
//! parts (`prepare().bind()`, `writeHttpMetadata(headers)`, objects with methods) that an RPC stub
//! cannot offer, so those bindings reach tenant code as objects built in its own isolate around
//! the stub of our entrypoint (`TenantSql`/`TenantBucket` in src/js/main.mjs). That takes a main
//! module of ours in front of the tenant's: it imports the tenant's module and hands every
//! handler an env whose SQL and bucket bindings are wrapped by the shim modules
//! (src/js/tenant/{wrap,d1,r2}.js; d1/r2 are thin clients: every rule, limit and result shape is
//! decided by the entrypoint).
//!
//! Every bundle gets the main module since the Cache API (issue 28): it imports
//! src/js/tenant/cache.js before the tenant's modules are evaluated, which installs a working
//! `globalThis.caches` (a Worker Loader isolate's own fails on every call), and wrap.js hands it
//! the `TenantCache` stub from env. What that costs per request is one WeakMap lookup per
//! handler call (the wrapped env is made once per env object).

use super::ServerBundle;

/// Module names under this directory are ours (tenant module names may not use it).
pub const SHIM_DIR: &str = "__flotilla/";
/// The generated main module.
pub const SHIM_MAIN: &str = "__flotilla/main.js";
/// The shim modules' names, as the generated main module imports them.
pub const SHIM_D1: &str = "__flotilla/d1.js";
pub const SHIM_R2: &str = "__flotilla/r2.js";
pub const SHIM_CACHE: &str = "__flotilla/cache.js";
pub const SHIM_IMAGES: &str = "__flotilla/images.js";
/// The env name of the `TenantCache` stub (src/js/tenant/cache.js takes it out of the env).
pub const CACHE_BINDING: &str = "__FLOTILLA_CACHE";

pub const SHIM_WRAP: &str = "__flotilla/wrap.js";

fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn js_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&String> = names.collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".into())
}

/// The generated main module for `bundle` (always one: the Cache API needs it; `Option` for
/// bundles stored before, which run unwrapped). It imports the Cache API first, then only names things: the tenant's module (imported relative to `__flotilla/`; its named
/// exports — Durable Object classes, other entrypoints — re-exported unchanged) and which env
/// names are SQL databases and buckets; the wrapping itself is the static src/js/tenant/wrap.js
/// (a source of ours, so a fix reaches every deployment). Stored with the bundle
/// (`ServerBundle::with_shims`): the visitor build only copies it into the loader's modules.
pub fn shim_main(bundle: &ServerBundle) -> Option<String> {
    // A Python entry cannot be imported by a JS module: it runs unwrapped.
    if bundle.modules.get(&bundle.entrypoint).is_some_and(|m| m.kind == super::ModuleType::Py) {
        return None;
    }
    let user = js_string(&format!("../{}", bundle.entrypoint));
    Some(format!(
        "import \"./cache.js\";\nimport * as user from {user};\nimport {{ wrap }} from \"./wrap.js\";\nexport * from {user};\nexport default wrap(user.default, {}, {}, {});\n",
        js_names(bundle.sql_databases.keys()),
        js_names(bundle.buckets.keys()),
        js_names(bundle.images.keys()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::{ModuleType, StoredModule};
    use std::collections::BTreeMap;

    fn bundle(entry: &str) -> ServerBundle {
        let mut modules = BTreeMap::new();
        modules.insert(
            entry.to_string(),
            StoredModule { kind: ModuleType::Js, content: "export default {}".into() },
        );
        ServerBundle {
            entrypoint: entry.into(),
            modules,
            compatibility_date: "2026-10-01".into(),
            compatibility_flags: vec![],
            env: BTreeMap::new(),
            json_env: BTreeMap::new(),
            secrets: BTreeMap::new(),
            assets_binding: None,
            kv_namespaces: BTreeMap::new(),
            sql_databases: BTreeMap::new(),
            buckets: BTreeMap::new(),
            images: BTreeMap::new(),
            services: BTreeMap::new(),
            shim_main: None,
        }
    }

    #[test]
    fn every_bundle_is_wrapped_and_gets_the_cache_api_first() {
        let mut b = bundle("index.js");
        b.kv_namespaces.insert("CACHE".into(), "0".repeat(32));
        let main = shim_main(&b).unwrap();
        assert!(main.starts_with("import \"./cache.js\";\nimport * as user from \"../index.js\";"), "{main}");
        assert!(main.contains(r#"export default wrap(user.default, [], [], []);"#), "{main}");
        b.sql_databases.insert("DB".into(), "1".repeat(32));
        let main = shim_main(&b).unwrap();
        assert!(main.contains(r#"import * as user from "../index.js";"#), "{main}");
        assert!(main.contains(r#"export default wrap(user.default, ["DB"], [], []);"#), "{main}");
        let mut b = bundle("dist/_worker.js/index.js");
        b.buckets.insert("FILES".into(), "2".repeat(32));
        let main = shim_main(&b).unwrap();
        assert!(main.contains(r#"from "../dist/_worker.js/index.js";"#), "{main}");
        assert!(main.contains(r#"export default wrap(user.default, [], ["FILES"], []);"#), "{main}");
    }

    #[test]
    fn images_bindings_are_named_to_the_wrapper() {
        let mut b = bundle("index.js");
        b.images.insert("IMAGES".into(), String::new());
        let main = shim_main(&b).unwrap();
        assert!(main.contains(r#"export default wrap(user.default, [], [], ["IMAGES"]);"#), "{main}");
    }

    #[test]
    fn main_mjs_provides_every_shim_under_its_module_name() {
        let main = include_str!("../js/main.mjs");
        for name in [SHIM_WRAP, SHIM_D1, SHIM_R2, SHIM_CACHE, SHIM_IMAGES] {
            assert!(
                main.contains(&format!("'{name}': {{ js: ")),
                "{name} missing from __flotillaTenantShims"
            );
        }
    }

    #[test]
    fn python_entries_run_unwrapped() {
        let mut b = bundle("main.py");
        b.modules.get_mut("main.py").unwrap().kind = ModuleType::Py;
        assert_eq!(shim_main(&b), None);
    }

    #[test]
    fn names_are_quoted_as_js_strings() {
        assert_eq!(js_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(bundle("x.js").with_shims().shim_main, shim_main(&bundle("x.js")));
        let mut b = bundle("x.js");
        b.sql_databases.insert("DB".into(), "1".repeat(32));
        assert_eq!(b.clone().with_shims().shim_main, shim_main(&b));
        let mut b = bundle("a\"b.js");
        b.buckets.insert("B".into(), "2".repeat(32));
        let main = shim_main(&b).unwrap();
        assert!(main.contains(r#"from "../a\"b.js";"#), "{main}");
    }
}
