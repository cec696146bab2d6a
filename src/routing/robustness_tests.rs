//! Hosts and paths come straight from visitors: routing never panics, a host names only the
//! project in its own label, and path mode never hands a project a path (or a redirect) that
//! reaches outside `/__project/<ref>/`.

use super::*;
use crate::assets::{
    parse_redirects, plan_asset_request, prefix_location, AssetConfig, AssetPlan, AssetRequest,
};
use crate::test_gen::{Gen, NASTY};

const LABEL_PIECES: &[&str] =
    &["a", "b", "z9", "-", "--", "_", "@", ".", "..", "A", "ü", "xn--p", ":", "%2e", "\0", " "];
const DOMAINS: &[&str] = &["example.dev", "EXAMPLE.dev", "sites.example.dev", ""];

fn first_label(host: &str) -> &str {
    host.split('.').next().unwrap_or("")
}

#[test]
fn a_host_names_only_the_project_in_its_label() {
    let mut g = Gen(0x5EED_0057_0000_0001);
    for _ in 0..20_000 {
        let domain = g.pick(DOMAINS);
        let label = g.string(LABEL_PIECES, 6);
        let parent = g.pick(&[domain, "localhost", "other.dev", "example.dev.evil.com", "workers.dev"]);
        let port = g.pick(&["", ":8787", ":", ":x", ":99999999999"]);
        let host = if g.one_in(8) { g.string(NASTY, 10) } else { format!("{label}.{parent}{port}") };
        let path = format!("/{}", g.string(NASTY, 6));
        let target = route_request(&host, &path, "", domain);
        let Target::Project { project, prefix, path: project_path } = target else { continue };
        if !prefix.is_empty() {
            continue; // path mode: the next property
        }
        let normalized = normalize_host(&host);
        let label = first_label(&normalized);
        let rest = &normalized[label.len()..];
        assert!(
            rest == format!(".{}", domain.to_ascii_lowercase()) || rest == ".localhost",
            "{host:?} (domain {domain:?}) routed to {project:?}"
        );
        let named = match &project.deployment_prefix {
            Some(p) => format!("{p}--{}", project.key),
            None => project.key.clone(),
        };
        assert_eq!(named, label, "{host:?} named {project:?}");
        assert!(!project.key.is_empty() && !project.key.contains('.'), "{host:?} -> {project:?}");
        assert_eq!(project_path, path, "the path is passed on untouched");
    }
}

/// Everything after `/__project/` a browser or a script could send (a pathname never holds a
/// literal `?` or `#`).
const TAIL_PIECES: &[&str] = &[
    "/",
    "/",
    "a",
    "r/",
    "go/",
    "index.html",
    "..",
    ".",
    "%2e%2e",
    "%2E%2e",
    ".%2E",
    "%252e%252e",
    "%25252e",
    "%2F",
    "%2f",
    "%5C",
    "\\",
    "%",
    "%00",
    "\0",
    "ü",
    "%3F",
    "%23",
    "@",
    "b@1234abcd",
    "..%2F",
    "%2F..",
];

/// Resolves a path the way a browser does before sending it (dot segments, `\` as `/`).
fn browser(path: &str) -> String {
    let url = format!("http://x{path}");
    let after = &url["http://x".len()..];
    let (p, _) = after.split_once(['?', '#']).unwrap_or((after, ""));
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split(['/', '\\']).skip(1) {
        match seg.to_ascii_lowercase().as_str() {
            ".." | ".%2e" | "%2e." | "%2e%2e" => {
                out.pop();
            }
            "." | "%2e" => {}
            _ => out.push(seg),
        }
    }
    format!("/{}", out.join("/"))
}

/// `%XX` decoded once, lossily (what a careless later layer might do).
fn decode_once(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn path_mode_never_leaves_the_project_prefix() {
    let mut g = Gen(0x5EED_0057_0000_0002);
    let files = ["/index.html", "/a.html", "/a/index.html", "/404.html", "/b/c.html"];
    let lookup = |p: &str| files.iter().find(|f| **f == p).copied();
    let mut routed = 0;
    for round in 0..20_000 {
        let key = g.pick(&["site", "site@abcd1234", "Site", "s-1", "../x", "a%2F..", "", "x@y@z"]);
        let sep = g.pick(&["", "/", "/", "/r/", "/go/"]);
        let raw = format!("/__project/{key}{sep}{}", g.string(TAIL_PIECES, 7));
        let host = g.pick(&["localhost:8787", "127.0.0.1", "[::1]:1", "example.dev"]);
        let mode = if g.one_in(2) { PathMode::Local } else { PathMode::Enabled };
        let Target::Project { project, prefix, path } =
            route_request_with(host, &raw, "?q", "example.dev", mode)
        else {
            continue;
        };
        routed += 1;
        // The project is the one named by the first segment, exactly.
        let rest = &raw["/__project/".len()..];
        let named = &rest[..rest.find('/').unwrap_or(rest.len())];
        assert_eq!(prefix, format!("/__project/{named}"), "{raw}");
        let (name, deployment) =
            named.split_once('@').filter(|(n, d)| !n.is_empty() && !d.is_empty()).unwrap_or((named, ""));
        assert_eq!(project.key, name.to_ascii_lowercase(), "{raw}");
        assert_eq!(project.deployment_prefix.unwrap_or_default(), deployment.to_ascii_lowercase(), "{raw}");
        assert!(path.starts_with('/') && raw == format!("{prefix}{path}"), "{raw} -> {path}");
        // What the router passes on holds no dot segment, however often it is decoded (`/`
        // and `\` both separate), so no later layer can climb out with it.
        let mut decoded = path.clone();
        for _ in 0..4 {
            assert!(decoded.split(['/', '\\']).all(|s| s != "." && s != ".."), "{raw} -> {decoded}");
            decoded = decode_once(&decoded);
        }
        assert!(browser(&format!("{prefix}{path}")).starts_with(&format!("{prefix}/")), "{raw}");
        // Nor can the project's answer: any relative Location, prefixed, stays under it.
        let rules = parse_redirects(&format!(
            "/r/* /{}:splat 200\n/go/* /x/:splat 301",
            g.pick(&["", "%2e%2e%2F", "a%2F..%2F..%2F"])
        ))
        .rules;
        let config = AssetConfig::nth(round);
        let request = AssetRequest { method: "GET", raw_path: &path, search: "", is_navigation: true };
        if let AssetPlan::Redirect { location, .. } =
            plan_asset_request(&config, &rules, &request, &lookup, false)
        {
            let sent = prefix_location(&prefix, &location);
            if sent.starts_with('/') {
                assert!(browser(&sent).starts_with(&format!("{prefix}/")), "{raw} -> {location} -> {sent}");
            }
        }
    }
    assert!(routed > 1000, "only {routed} requests reached a project");
}

#[test]
fn routing_never_panics() {
    let mut g = Gen(0x5EED_0057_0000_0003);
    for _ in 0..20_000 {
        let host = g.string(NASTY, 12);
        let path = g.string(NASTY, 16);
        let query = g.string(NASTY, 4);
        let _ = route_request_with(&host, &path, &query, g.pick(DOMAINS), PathMode::Enabled);
        let _ = path_mode_target_is_safe(&path);
        let _ = match_api(g.pick(&["GET", "POST", "DELETE", "PUT", ""]), &path);
        let _ = wants_json(Some(&query));
        let _ = PathMode::parse(Some(&host)).answers_on(&host);
    }
}
