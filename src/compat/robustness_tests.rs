//! What wrangler (or anyone speaking its API) uploads is untrusted: script metadata, the asset
//! manifest, uploaded parts, secrets and rollback bodies never panic, and what is accepted only
//! names valid bindings and files whose contents match their hash.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::*;
use crate::deploy::{parse_deploy_request, valid_env_name, MAX_ENV_VALUE_BYTES, MAX_ENV_VARS};
use crate::test_gen::{Gen, NASTY};

const NAMES: &[&str] = &["A", "B_2", "ASSETS", "_", "1x", "", "a-b", "ü", "A\0", "MY_VAR"];
const TYPES: &[&str] = &["plain_text", "json", "secret_text", "assets", "kv_namespace", "", "PLAIN_TEXT"];

fn binding(g: &mut Gen) -> Value {
    let text = |g: &mut Gen| {
        if g.one_in(8) {
            "x".repeat(MAX_ENV_VALUE_BYTES + 1)
        } else {
            g.string(NASTY, 6)
        }
    };
    if g.one_in(4) {
        return g.object(&["name", "type", "text", "json"], |g, f| match f {
            "name" => json!(g.pick(NAMES)),
            "type" => json!(g.pick(TYPES)),
            "text" => json!(text(g)),
            _ => g.json(NASTY, 3),
        });
    }
    // Mostly well formed, so whole lists get accepted and duplicates across kinds happen.
    let name = g.pick(&["A", "B_2", "MY_VAR", "ASSETS", "_"]);
    match g.below(4) {
        0 => json!({ "name": name, "type": "plain_text", "text": text(g) }),
        1 => json!({ "name": name, "type": "secret_text", "text": text(g) }),
        2 => json!({ "name": name, "type": "json", "json": g.json(NASTY, 2) }),
        _ => json!({ "name": name, "type": "assets" }),
    }
}

fn metadata(g: &mut Gen) -> Value {
    g.object(
        &[
            "main_module",
            "compatibility_date",
            "compatibility_flags",
            "bindings",
            "keep_bindings",
            "assets",
            "body_part",
        ],
        |g, f| match f {
            "bindings" => {
                let max = if g.one_in(10) { 80 } else { 6 };
                json!((0..g.below(max)).map(|_| binding(g)).collect::<Vec<_>>())
            }
            "assets" => g.object(&["jwt", "config"], |g, f| match f {
                "config" => g.object(
                    &[
                        "html_handling",
                        "not_found_handling",
                        "run_worker_first",
                        "_redirects",
                        "_headers",
                        "serve_directly",
                    ],
                    |g, f| match f {
                        "_redirects" => {
                            json!(g.string(&["/a /b 301\n", "/c /d 305\n", "x\n", "/e/* /f/:splat\n"], 5))
                        }
                        "_headers" => json!(format!("/*\n  {}: {}", g.string(NASTY, 2), g.string(NASTY, 3))),
                        "serve_directly" => json!(g.one_in(2)),
                        _ => json!(g.string(NASTY, 4)),
                    },
                ),
                _ => json!(g.string(NASTY, 6)),
            }),
            "compatibility_flags" => json!([g.string(NASTY, 3)]),
            "keep_bindings" => json!([g.pick(&["secret_text", "kv_namespace", "plain_text"])]),
            "main_module" => json!(g.pick(&["index.js", "../x.js", ""])),
            _ => json!(g.string(NASTY, 4)),
        },
    )
}

#[test]
fn wrangler_metadata_only_yields_valid_distinct_bindings() {
    let mut g = Gen(0x5EED_C0AA_0000_0001);
    let mut accepted = 0;
    for _ in 0..4000 {
        let m = metadata(&mut g);
        let Ok(meta) = parse_metadata(&g.body(&m)) else { continue };
        accepted += 1;
        let names: Vec<&String> =
            meta.vars.keys().chain(meta.json_vars.keys()).chain(meta.secrets.keys()).collect();
        assert!(names.len() <= MAX_ENV_VARS, "{} bindings", names.len());
        for (i, n) in names.iter().enumerate() {
            assert!(valid_env_name(n), "{n:?}");
            assert!(!names[..i].contains(n), "{n} bound twice");
            assert_ne!(Some(n.as_str()), meta.assets_binding.as_deref(), "{n} is also the assets binding");
        }
        let values = meta.vars.values().chain(meta.json_vars.values()).chain(meta.secrets.values());
        assert!(values.into_iter().all(|v| v.len() <= MAX_ENV_VALUE_BYTES));
        // The native deploy body it maps to goes through the native validation.
        let modules = [ModulePart { name: "index.js".into(), kind: "js", bytes: g.bytes(16) }];
        let with = if meta.main_module.is_some() { &modules[..] } else { &[] };
        if let Ok(body) = deploy_body(&meta, "jwt", with, g.one_in(2)) {
            if let Ok(r) = parse_deploy_request(body.to_string().as_bytes(), false) {
                let env = r.server_code.map(|b| b.env).unwrap_or_default();
                assert!(env.keys().all(|k| valid_env_name(k) && k != "ASSETS"), "{env:?}");
            }
        }
    }
    assert!(accepted > 300, "only {accepted} metadata parts accepted");
}

fn wrangler_hash_of(g: &mut Gen) -> String {
    let good: String = (0..32).map(|_| char::from(b"0123456789abcdef"[g.below(16) as usize])).collect();
    if g.one_in(6) {
        g.mutate(&good)
    } else {
        good
    }
}

#[test]
fn wrangler_asset_manifests_and_parts_never_accept_what_does_not_match() {
    let mut g = Gen(0x5EED_C0AA_0000_0002);
    for _ in 0..3000 {
        let mut m = serde_json::Map::new();
        let content = g.bytes(40);
        let text = STANDARD.encode(&content);
        let path = format!("/{}{}", g.string(NASTY, 4), g.pick(&[".html", ".js", "", "."]));
        let real = wrangler_hash(&text, &path);
        m.insert(path.clone(), json!({ "hash": real, "size": content.len() }));
        for _ in 0..g.below(4) {
            let p = if g.one_in(3) { g.string(NASTY, 5) } else { format!("/{}", g.string(NASTY, 5)) };
            m.insert(
                p,
                g.object(&["hash", "size"], |g, f| {
                    if f == "hash" {
                        json!(wrangler_hash_of(g))
                    } else {
                        json!(g.below(99))
                    }
                }),
            );
        }
        let body = g.body(&json!({ "manifest": m }));
        let Ok(manifest) = parse_wrangler_session_body(&body) else { continue };
        for (p, e) in &manifest {
            assert!(p.starts_with('/'), "{p:?}");
            assert!(
                e.hash.len() == WRANGLER_HASH_LEN
                    && e.hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{e:?}"
            );
        }
        let unique = wrangler_unique(&manifest);
        for (hash, (p, size)) in &unique {
            // Only bytes whose hash (with this path's extension) and length match are accepted.
            let upload = match g.below(4) {
                0 => g.mutate(&text),
                1 => STANDARD.encode(g.bytes(40)),
                _ => text.clone(),
            };
            if let Ok(bytes) = verify_part(&unique, hash, &upload) {
                assert_eq!(wrangler_hash(upload.trim(), p), *hash);
                assert_eq!(bytes.len() as u64, *size);
            }
        }
        let _ = verify_part(&unique, &g.string(NASTY, 4), &g.string(NASTY, 8));
    }
}

#[test]
fn other_wrangler_bodies_never_panic() {
    let mut g = Gen(0x5EED_C0AA_0000_0003);
    for _ in 0..4000 {
        let secret = g.object(&["name", "type", "text"], |g, f| match f {
            "name" => json!(g.pick(NAMES)),
            "type" => json!(g.pick(&["secret_text", "secret_key", ""])),
            _ => json!(g.string(NASTY, 6)),
        });
        if let Ok((name, _)) = parse_secret(&g.body(&secret)) {
            assert!(valid_env_name(&name), "{name:?}");
            // The AAD binding a sealed secret to its project and name cannot be ambiguous.
            assert_eq!(secret_aad("p", &name).iter().filter(|b| **b == 0).count(), 1);
        }
        let rollback = json!({ "strategy": g.pick(&["percentage", "x"]), "versions": g.json(NASTY, 2) });
        let _ = parse_cf_deployment(&g.body(&rollback));
        let _ = module_kind(&g.string(NASTY, 3), &g.string(NASTY, 6));
        let _ = decode_sealed(&g.string(&["v1", ".", "AAAA", "=", "ü", "AAAAAAAAAAAAAAAA"], 8));
        let _ = match_cf(g.pick(&["GET", "PUT", "POST", "DELETE"]), &g.string(NASTY, 12));
        let _ = extension_of(&g.string(NASTY, 6));
    }
}
