//! Request- and upload-controlled input must never panic (a panic kills the wasm instance):
//! pseudo-random paths, rule files and headers through every public entry point.

use super::*;
use std::collections::HashMap;

use crate::test_gen::{Gen, NASTY};

const PATH_PIECES: &[&str] = &[
    "/",
    "/",
    "a",
    "index",
    ".html",
    "index.html",
    "%",
    "%2",
    "%2F",
    "%25",
    "%C3",
    "%B2",
    "%E2%80%A8",
    "ü",
    "*",
    ":",
    ":id",
    ":splat",
    "?",
    "#",
    "\\",
    ".",
    "..",
    " ",
    "\t",
    "\u{2028}",
    "\r",
    "\0",
    "https://",
    "x.y",
    "404.html",
];

const RANGE_PIECES: &[&str] = &["0", "1", "99", "-", "-", ",", " ", "18446744073709551616", "ü", "x"];

#[test]
fn random_inputs_never_panic() {
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let files =
        ["/index.html", "/a.html", "/a/index.html", "/404.html", "/a/404.html", "/%25.html", "/ü.html", "/x"];
    let manifest: HashMap<&str, &str> = files.iter().map(|f| (*f, *f)).collect();
    let lookup = |p: &str| manifest.get(p).copied();

    for round in 0..3000 {
        let rule_lines: Vec<String> = (0..(g.next() % 6))
            .map(|_| {
                format!(
                    "{} {} {}",
                    g.string(PATH_PIECES, 6),
                    g.string(PATH_PIECES, 6),
                    g.pick(&["", "200", "301", "0x12d", "1e400", "-0", "NaN"])
                )
            })
            .collect();
        let redirects = parse_redirects(&rule_lines.join("\n")).rules;
        let header_text = (0..(g.next() % 6))
            .map(|_| {
                format!(
                    "{}\n  {}: {}\n  ! {}",
                    g.string(PATH_PIECES, 6),
                    g.string(PATH_PIECES, 3),
                    g.string(PATH_PIECES, 4),
                    g.string(PATH_PIECES, 2)
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let header_rules = parse_headers(&header_text).rules;

        let path = g.string(PATH_PIECES, 10);
        let search = g.string(PATH_PIECES, 3);
        let config = AssetConfig::nth(round);
        let request =
            AssetRequest { method: "GET", raw_path: &path, search: &search, is_navigation: round % 2 == 0 };
        let plan = plan_asset_request(&config, &redirects, &request, &lookup, round % 5 == 0);
        if let AssetPlan::Redirect { location, .. } = &plan {
            assert!(
                !location.starts_with("//") && !location.starts_with("/\\"),
                "open redirect {location} from {path}"
            );
            let _ = prefix_location("/__project/p", location);
        }
        let _ = resolve_asset(&config, &path, &lookup);
        let mut headers = vec![("Server".to_string(), "x".to_string())];
        apply_headers(&header_rules, g.pick(&["", "a.b", "ü.example"]), &path, &mut headers);
        let _ = content_type_for(&path);
        let _ = if_none_match_matches(&search, &path);
        let range = format!("{}{}", g.pick(&["bytes=", "BYTES=", "", "bytes"]), g.string(RANGE_PIECES, 5));
        let size = g.pick(&["0", "1", "100", "18446744073709551615"]).parse::<u64>().unwrap();
        match byte_range(&range, (round % 3 == 0).then_some(search.as_str()), "\"x\"", size) {
            ByteRange::Part { start, last } => assert!(start <= last && last < size, "{range} of {size}"),
            ByteRange::Unsatisfiable => assert!(size > 0, "{range}"),
            ByteRange::Whole => {}
        }
    }
}

/// Pieces of request paths that try to climb out of a directory or hide a separator.
const CLIMB_PIECES: &[&str] = &[
    "/", "/", "a", "b", "index", ".html", "404.html", "..", ".", "%2e%2e", "%2E%2E", ".%2e", "%2e", "%2F",
    "%2f", "%5C", "\\", "%25", "%252e", "%00", "\0", "ü", "%C3%BC", "*", ":", "?", "#",
];

/// Manifest keys the deploy accepts (`validate_path`): rooted, normalised, no dot segment.
fn valid_manifest(g: &mut Gen) -> Vec<String> {
    let names =
        ["index.html", "a.html", "a", "b", "404.html", "ü.html", "%2e%2e", "x y", "..a", "a..", "...", "*"];
    let mut keys: Vec<String> = (0..1 + g.below(12))
        .map(|_| {
            let depth = 1 + g.below(3);
            (0..depth).map(|_| format!("/{}", g.pick(&names))).collect()
        })
        .filter(|k: &String| crate::deploy::validate_path(k).is_ok())
        .collect();
    keys.push("/index.html".to_string());
    keys.sort();
    keys.dedup();
    keys
}

/// A path the way the Worker can receive one: raw from a generator, or through the WHATWG
/// URL parser (which resolves literal and `%2e` dot segments but keeps `%2F` and `..%2F`).
fn request_path(g: &mut Gen) -> String {
    let raw = format!("/{}", g.string(CLIMB_PIECES, 12));
    if g.one_in(2) {
        super::path::parse_path_ref(&raw, true).path
    } else {
        raw
    }
}

const PREFIX: &str = "/__project/site";

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split(['/', '\\'])
}

/// A served file is always a key of this project's manifest (rooted, no `..`), and a relative
/// `Location` can never be read as another host's (`//`, `/\`) nor contain a literal dot
/// segment a browser would resolve (html_handling and `_redirects` targets alike).
#[test]
fn decoded_asset_paths_stay_inside_the_manifest() {
    let mut g = Gen(0x5EED_A55E_7500_0001);
    for round in 0..4000 {
        let keys = valid_manifest(&mut g);
        let lookup = |p: &str| keys.iter().find(|k| *k == p).map(String::as_str);
        let rules_text = (0..g.below(4))
            .map(|_| {
                let from = g.pick(&["/go/*", "/r/:x", "/s", "/t/*"]);
                let to =
                    format!("/{}{}", g.string(CLIMB_PIECES, 5), g.pick(&["", ":splat", ":x", "/:splat"]));
                format!("{from} {to} {}", g.pick(&["", "200", "301", "307"]))
            })
            .collect::<Vec<_>>()
            .join("\n");
        let redirects = parse_redirects(&rules_text).rules;
        let config = AssetConfig::nth(round);
        let path = if g.one_in(3) {
            format!("{}/{}", g.pick(&["/go", "/r", "/s", "/t"]), g.string(CLIMB_PIECES, 8))
        } else {
            request_path(&mut g)
        };

        match resolve_asset(&config, &path, &lookup) {
            AssetIntent::Serve { path: served, .. } => {
                assert!(lookup(&served).is_some(), "{path} served {served}, not in the manifest");
                assert!(crate::deploy::validate_path(&served).is_ok(), "{path} served {served}");
            }
            AssetIntent::Redirect { location } => {
                assert!(location.starts_with('/') && !location.starts_with("//"), "{path} -> {location}");
            }
            AssetIntent::NotFound => {}
        }

        let request = AssetRequest { method: "GET", raw_path: &path, search: "", is_navigation: true };
        match plan_asset_request(&config, &redirects, &request, &lookup, round % 2 == 0) {
            AssetPlan::Serve { path: served, .. } => {
                assert!(lookup(&served).is_some(), "{path} served {served}, not in the manifest");
            }
            AssetPlan::Redirect { location, .. } => {
                assert!(!location.starts_with("//") && !location.starts_with("/\\"), "{path} -> {location}");
                // In path mode the Location is prefixed; whatever dot segments it carries (an
                // html_handling redirect names the decoded path, as Cloudflare's does:
                // `/a%2F..%2Fx` -> `/a/../x`), a browser resolving it stays under the prefix.
                if location.starts_with('/') {
                    let prefixed = prefix_location(PREFIX, &location);
                    let landed = super::path::parse_path_ref(&prefixed, true).path;
                    assert!(
                        landed.starts_with(&format!("{PREFIX}/")),
                        "{path} -> {location} -> {prefixed} lands on {landed} ({rules_text})"
                    );
                }
            }
            AssetPlan::RedirectOtherHost { location, .. } => {
                assert!(rules_text.contains("//"), "{path} -> {location} without such a rule");
            }
            _ => {}
        }

        // A 200 rewrite serves another path of the same manifest: always rooted, normalised.
        if let Some(m) = redirects.find(&path, "").filter(|m| m.status == 200) {
            assert!(m.to.starts_with('/') && !m.to.starts_with("//"), "{path} -> {}", m.to);
            assert!(segments(&m.to).all(|s| s != ".." && s != "."), "{path} -> {} ({rules_text})", m.to);
        }

        // The asset worker's decoding: rooted paths stay rooted, with no empty segment.
        let decoded = super::path::decode_path(&path);
        assert!(decoded.starts_with('/') && !decoded.contains("//"), "{path} decoded to {decoded}");
    }
}

/// Huge files, very long lines, thousands of rules, CRLF and NUL: parsing stays within
/// Cloudflare's limits, every kept rule is well formed, and a header rule can never put a
/// CR, LF or NUL (response splitting) or an invalid name on the wire.
#[test]
fn rule_files_of_any_size_keep_their_limits() {
    let mut g = Gen(0x5EED_A55E_7500_0002);
    for round in 0..60 {
        let lines = if round % 10 == 0 { 4000 } else { g.below(300) };
        let mut text = String::new();
        for i in 0..lines {
            let long = if g.one_in(50) { "x".repeat(900 + g.below(300) as usize) } else { String::new() };
            let line = match g.below(4) {
                0 => format!("/s{i}{long} /t{} {}", g.string(NASTY, 4), g.pick(&["301", "305", "200", "x"])),
                1 => format!("/d{i}/* /e/:splat{}", g.string(NASTY, 3)),
                2 => format!("  {}: {}{long}", g.string(NASTY, 3), g.string(NASTY, 5)),
                _ => g.string(NASTY, 12),
            };
            text.push_str(&line);
            text.push_str(g.pick(&["\n", "\r\n", "\n\n", "\0\n"]));
        }

        let parsed = parse_redirects(&text);
        let rules = parsed.rules.rules();
        // Cloudflare's split: rules before the first dynamic one are static, the rest dynamic.
        let statics =
            rules.iter().position(|r| r.from.contains('*') || r.from.contains(':')).unwrap_or(rules.len());
        assert!(statics <= MAX_STATIC_REDIRECT_RULES, "{statics} static rules");
        assert!(
            rules.len() - statics <= MAX_DYNAMIC_REDIRECT_RULES,
            "{} dynamic rules",
            rules.len() - statics
        );
        let total_lines = text.split('\n').count();
        assert!(parsed.invalid.len() + parsed.warnings.len() + rules.len() <= total_lines);
        for r in rules {
            assert!(r.from.starts_with('/'), "{r:?}");
            assert!(REDIRECT_STATUSES.contains(&r.status), "{r:?}");
            assert!(r.to.starts_with('/') || r.to.starts_with("https://"), "{r:?}");
        }
        for w in &parsed.warnings {
            assert!(w.message.starts_with("Valid status codes are"), "{w:?}");
        }

        // Rules that match most paths and substitute what they capture into values.
        let mut header_text = text.clone();
        for _ in 0..g.below(30) {
            let path = g.pick(&["/*", "/:a/*", "/:a/:b", "https://:sub.a.example/*", "/d1/*"]);
            let value = format!("{}{}", g.string(NASTY, 3), g.pick(&[":splat", ":a", ":b", ":sub", ""]));
            header_text.push_str(&format!(
                "\n{path}\n  X-{}: {value}\n  ! {}\n",
                g.below(5),
                g.string(NASTY, 2)
            ));
        }
        let headers = parse_headers(&header_text).rules;
        assert!(headers.rules().len() <= MAX_HEADER_RULES + 1);
        for _ in 0..20 {
            // Raw, as a binding could pass one: CR, LF and NUL included.
            let path =
                format!("{}{}", request_path(&mut g), g.string(&["a", "\r", "\n", "\0", "/", "%0A"], 6));
            let mut out = vec![("content-type".to_string(), "text/html".to_string())];
            headers.apply(g.pick(&["a.example", "ü.example", ""]), &path, &mut out);
            for (name, value) in &out {
                assert!(
                    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':'),
                    "{name:?}"
                );
                assert!(!value.contains(['\r', '\n', '\0']), "{name}: {value:?}");
            }
        }
    }
}
