//! Deploy input is untrusted: upload manifests, deploy bodies, raw-upload headers and the
//! stored progress never panic, and an accepted manifest can only ever name storage keys inside
//! its own project's prefix.

use serde_json::{json, Map, Value};

use super::*;
use crate::assets::{HeadersInput, RedirectsInput};
use crate::keys::{asset_key, blob_asset_key, blob_asset_prefix};
use crate::test_gen::{Gen, NASTY};

const PROJECT: &str = "0b6f6c4e-4d7c-4b7a-9a59-2f0f6a6f7a01";

fn hash(g: &mut Gen) -> String {
    let good: String = (0..64).map(|_| char::from(b"0123456789abcdef"[g.below(16) as usize])).collect();
    match g.below(24) {
        0 => g.mutate(&good),
        1 => format!("{good}/../x"),
        2 => good.to_uppercase(),
        3 => format!("../{}", &good[3..]),
        4 => format!("{}:{}", &good[..32], &good[33..]),
        _ => good,
    }
}

fn manifest_path(g: &mut Gen) -> String {
    match g.below(12) {
        0 => g.string(NASTY, 10),
        1 => "/a".repeat(1 + g.below(600) as usize),
        2 | 3 => {
            format!("/{}", g.string(&["a", "b.html", "/", "..", ".", "ü", "%2e%2e", "\\", "\0", " ", "x"], 6))
        }
        _ => format!("/{}", g.string(&["a", "b.html", "/x", "ü", "%2e%2e", "..a", " ", "/.well-known"], 4)),
    }
}

fn session_body(g: &mut Gen) -> Vec<u8> {
    let mut m = Map::new();
    for _ in 0..1 + g.below(6) {
        let entry = if g.one_in(8) {
            g.object(&["hash", "size", "contentType"], |g, f| match f {
                "hash" => json!(hash(g)),
                "size" => json!(g.below(200)),
                _ => json!(g.string(NASTY, 4)),
            })
        } else if g.one_in(4) {
            json!({ "hash": hash(g), "size": g.below(200), "contentType": g.pick(&["text/html", "a\nb", "", "ü"]) })
        } else {
            json!({ "hash": hash(g), "size": g.below(1 << 20) })
        };
        m.insert(manifest_path(g), entry);
    }
    let body = if g.one_in(10) { g.json(NASTY, 3) } else { json!({ "manifest": m }) };
    if g.one_in(3) {
        g.body(&body)
    } else {
        body.to_string().into_bytes()
    }
}

/// The only storage names an upload can lead to: `<projectId>:<hash>` in ASSETS_KV and
/// `assets/<projectId>/<hash>` in BLOBS, the hash a plain 64-hex name.
fn assert_keys_inside(m: &UploadManifest) {
    for (hash, _) in unique_hashes(m) {
        let kv = asset_key(PROJECT, &hash);
        let rest = kv.strip_prefix(&format!("{PROJECT}:")).unwrap_or_else(|| panic!("{kv}"));
        assert!(rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()), "{kv}");
        let blob = blob_asset_key(PROJECT, &hash);
        let rest = blob.strip_prefix(&blob_asset_prefix(PROJECT)).unwrap_or_else(|| panic!("{blob}"));
        assert!(!rest.contains(['/', '.']) && !rest.is_empty(), "{blob}");
    }
}

#[test]
fn upload_manifests_never_name_a_key_outside_the_project() {
    let mut g = Gen(0x5EED_DE91_0000_0001);
    let mut accepted = 0;
    for _ in 0..6000 {
        let body = session_body(&mut g);
        let Ok(m) = parse_upload_session_body(&body) else { continue };
        accepted += 1;
        for (path, e) in &m {
            assert!(validate_path(path).is_ok(), "{path:?} accepted");
            assert!(path.starts_with('/') && path.split('/').all(|s| s != ".." && s != "."), "{path:?}");
            assert!(e.content_type.as_deref().is_none_or(|t| t.bytes().all(|b| (0x20..0x7f).contains(&b))));
        }
        assert_keys_inside(&m);
        // The fast reader and the general parser agree on everything they accept.
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(parse_upload_manifest(v.get("manifest")).ok().as_ref(), Some(&m));
        // What is stored for serving holds the same names.
        let table =
            FileTable::build(m.iter().map(|(p, e)| {
                (p.as_str(), e.hash.as_str(), e.content_type.as_deref().unwrap_or(""), e.size)
            }));
        let table = table.unwrap_or_else(|e| panic!("{e:?}"));
        for (path, e) in &m {
            assert_eq!(table.lookup(path).map(|f| f.hash), Some(e.hash.as_str()));
        }
    }
    assert!(accepted > 200, "only {accepted} manifests accepted");
}

fn redirects_value(g: &mut Gen) -> Value {
    if g.one_in(2) {
        json!(g.string(&["/a /b 301\n", "/c/* /d/:splat\n", "/e /f 305\n", "x\n", "/g https://x.y 200\n"], 6))
    } else {
        let entries: Vec<Value> = (0..g.below(4))
            .map(|_| {
                g.object(&["from", "to", "status"], |g, f| match f {
                    "status" => {
                        json!(g.pick(&["301", "200", "305", "65535", "70000"]).parse::<u32>().unwrap_or(0))
                    }
                    _ => json!(format!("/{}", g.string(NASTY, 4))),
                })
            })
            .collect();
        json!(entries)
    }
}

fn deploy_body(g: &mut Gen) -> Vec<u8> {
    let body = g.object(
        &[
            "completionJwt",
            "projectName",
            "config",
            "serverCode",
            "env",
            "run_worker_first",
            "activate",
            "fault",
        ],
        |g, f| match f {
            "config" => {
                g.object(&["html_handling", "not_found_handling", "redirects", "headers"], |g, f| match f {
                    "redirects" => redirects_value(g),
                    "headers" => {
                        if g.one_in(2) {
                            json!(format!("/*\n  {}: {}", g.string(NASTY, 3), g.string(NASTY, 3)))
                        } else {
                            json!({ "/*": { g.string(NASTY, 2): g.json(NASTY, 1) } })
                        }
                    }
                    "html_handling" => json!(g.pick(&["none", "auto-trailing-slash", "x"])),
                    _ => json!(g.pick(&["404-page", "single-page-application", "y"])),
                })
            }
            "serverCode" => g.object(
                &["entrypoint", "modules", "compatibilityDate", "compatibilityFlags"],
                |g, f| match f {
                    "modules" => json!({ g.pick(&["index.js", "../x.js", "", "a/b.mjs"]): g.json(NASTY, 2) }),
                    "entrypoint" => json!(g.pick(&["index.js", "../x.js", ""])),
                    _ => g.json(NASTY, 1),
                },
            ),
            "env" => json!({ g.pick(&["A", "ASSETS", "1x", "_", ""]): g.json(NASTY, 1) }),
            "run_worker_first" => {
                if g.one_in(2) {
                    json!(g.one_in(2))
                } else {
                    json!([g.string(NASTY, 4), g.string(NASTY, 4)])
                }
            }
            "fault" => json!(g.pick(&["stage", "nope"])),
            _ => json!(g.string(NASTY, 5)),
        },
    );
    g.body(&body)
}

#[test]
fn deploy_bodies_never_panic_and_keep_their_rules_well_formed() {
    let mut g = Gen(0x5EED_DE91_0000_0002);
    for _ in 0..3000 {
        let body = deploy_body(&mut g);
        let Ok(r) = parse_deploy_request(&body, g.one_in(2)) else { continue };
        if let Some(b) = &r.server_code {
            assert!(b.env.keys().all(|k| valid_env_name(k) && k != "ASSETS"), "{:?}", b.env);
        }
        let text = g.pick(&["", "/a /b\n/c /d 305\n", "/*\n  X-A: b\n"]);
        let files = (g.one_in(2).then_some(text), g.one_in(2).then_some(text));
        if let Ok(built) =
            build_rules(files.0, files.1, r.redirects.as_ref(), r.headers.as_ref(), r.config.html_handling)
        {
            assert!(built.redirects.rules().iter().all(|rule| rule.from.starts_with('/')));
            assert!(built.warnings.len() <= MAX_RULE_WARNINGS + 1);
        }
        // The JSON forms on their own, as the wrangler path hands them over.
        let _ = serde_json::from_slice::<RedirectsInput>(&body).map(|i| i.parse(r.config.html_handling));
        let _ = serde_json::from_slice::<HeadersInput>(&body).map(|i| i.parse());
    }
}

#[test]
fn raw_upload_headers_and_progress_never_panic() {
    let mut g = Gen(0x5EED_DE91_0000_0003);
    let numbers =
        ["0", "1", "9", "10", "18446744073709551615", "18446744073709551616", "-1", "", " ", "+1", "1e3"];
    for _ in 0..20_000 {
        let size = [0, 1, 10, 11, u64::MAX][g.below(5) as usize];
        let part = [0, 1, 5, 10][g.below(4) as usize];
        let header = format!(
            "{}{}-{}/{}",
            g.pick(&["bytes ", "bytes  ", "BYTES ", "", "bytes=", " bytes "]),
            g.pick(&numbers),
            g.pick(&numbers),
            g.pick(&numbers)
        );
        let header = if g.one_in(5) { g.string(NASTY, 8) } else { header };
        if let Ok(p) = Piece::parse(Some(&header), size, part) {
            assert!(p.start < p.end && p.end <= p.total && p.total == size, "{header} -> {p:?}");
            assert!(p.start % part.max(1) == 0, "{header} -> {p:?}");
        }
        if let Ok(n) = check_raw_length(Some(&header), size, 10) {
            assert!(n == size && n <= 10, "{header}");
        }
        let _ = Midstate::decode(&g.string(NASTY, 10));
        let progress = g.json(NASTY, 2).to_string();
        let _ = RawProgress::parse(Some(&progress), part);
        let mut raw = RawBody::new(&hash(&mut g), g.below(40), 1 + g.below(16) as usize);
        for _ in 0..g.below(4) {
            if raw.push(&g.bytes(24)).is_err() {
                break;
            }
        }
        let _ = raw.finish();
    }
}
