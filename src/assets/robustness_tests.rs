//! Request- and upload-controlled input must never panic (a panic kills the wasm instance):
//! pseudo-random paths, rule files and headers through every public entry point.

use super::*;
use std::collections::HashMap;

use crate::test_gen::Gen;

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
