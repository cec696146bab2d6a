//! Names, ids and bodies a client sends: parsing never panics, and what is accepted is exactly
//! the validated form every storage key is built from.

use serde_json::json;

use super::*;
use crate::keys::{host_key, route_key};
use crate::test_gen::{Gen, NASTY};

const HOST_PIECES: &[&str] = &[
    "a",
    "b1",
    "-",
    ".",
    "..",
    "*.",
    "*",
    "xn--bcher-kva",
    "ü",
    "A",
    "1",
    "0",
    ":",
    "[",
    "]",
    " ",
    "\0",
    "_",
    "localhost",
    "workers.dev",
    "example.dev",
    "127.0.0.1",
    "x",
];

#[test]
fn hostnames_are_accepted_only_in_their_storage_form() {
    let mut g = Gen(0x5EED_D0A1_0000_0001);
    let long = "a".repeat(64);
    for _ in 0..30_000 {
        let raw = match g.below(6) {
            0 => g.string(NASTY, 8),
            1 => format!("{long}.example.com"),
            2 => format!("{}.{}.example.dev", g.string(HOST_PIECES, 3), g.string(HOST_PIECES, 2)),
            _ => format!(
                "{}{}.{}",
                g.pick(&["", "*.", " ", "WWW."]),
                g.string(HOST_PIECES, 5),
                g.pick(&["com", "example.dev", "co.uk", "dev."])
            ),
        };
        let rules = HostnameRules {
            platform_domain: g.pick(&["example.dev", "EXAMPLE.dev.", ""]).into(),
            allow_wildcards: g.one_in(2),
        };
        let Ok(h) = Hostname::parse(&raw, &rules) else { continue };
        let s = h.as_str();
        assert_eq!(s, normalize_hostname(s), "{raw:?} -> {s:?} is not normalised");
        assert!(s.len() <= HOSTNAME_MAX && s.is_ascii(), "{raw:?}");
        let name = s.strip_prefix("*.").unwrap_or(s);
        assert!(rules.allow_wildcards || !h.is_wildcard(), "{raw:?}");
        assert!(name.split('.').count() >= 2, "{raw:?}");
        for label in name.split('.') {
            assert!(!label.is_empty() && label.len() <= LABEL_MAX, "{raw:?}");
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{raw:?}"
            );
            assert!(!label.starts_with('-') && !label.ends_with('-'), "{raw:?}");
        }
        let platform = normalize_hostname(&rules.platform_domain);
        for parent in [platform.as_str(), "localhost", "workers.dev"].into_iter().filter(|p| !p.is_empty()) {
            assert!(name != parent && !name.ends_with(&format!(".{parent}")), "{raw:?} is under {parent}");
        }
        // The ROUTES_KV key is the name itself: nothing can smuggle a second key part in.
        assert_eq!(host_key(s), format!("host:{s}"));
        let _ = wildcard_of(s);
    }
}

#[test]
fn slugs_names_and_cursors_never_panic_and_derive_valid_slugs() {
    let mut g = Gen(0x5EED_D0A1_0000_0002);
    for _ in 0..20_000 {
        let s = g.string(NASTY, 10);
        if let Ok(slug) = Slug::parse(&s) {
            assert_eq!(route_key(slug.as_str()), format!("route:{}", slug.as_str()));
            assert!(slug.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
        let random: [u8; 6] = std::array::from_fn(|_| g.next() as u8);
        // Long names are cut to fit the suffix: the cut may land on a hyphen.
        let name = if g.one_in(10) {
            format!("{}-{}", "a".repeat(g.below(70) as usize), "b".repeat(5))
        } else {
            s.clone()
        };
        let derived = Slug::derive(&name, random);
        assert_eq!(Slug::parse(derived.as_str()).as_ref(), Ok(&derived), "{name:?}");
        let _ = ProjectName::parse(&s);
        let _ = ContentHash::parse(&s);
        let _ = unhex_lower(&s);
        let _ = is_uuid(&s);
        let cursor = g.string(&["AAAA", "MTA6", "eA", "-", "_", "=", "ü", "OjE"], 6);
        if let Ok(c) = ListCursor::decode(&cursor) {
            assert!(!c.id.is_empty() && c.id.len() <= 64);
            assert_eq!(ListCursor::decode(&c.encode()).ok(), Some(c));
        }
        let pairs = vec![(g.pick(&["limit", "cursor", "x"]).to_string(), g.string(NASTY, 4))];
        let _ = parse_list_query(&pairs);
    }
}

#[test]
fn request_bodies_and_resolver_answers_never_panic() {
    let mut g = Gen(0x5EED_D0A1_0000_0003);
    for _ in 0..6000 {
        let project =
            g.object(&["name", "enabled", "outbound", "autoActivate", "previewAccess"], |g, f| match f {
                "enabled" | "autoActivate" => json!(g.one_in(2)),
                "outbound" => json!(g.pick(&["allow", "block", "x"])),
                "previewAccess" => json!(g.pick(&["public", "link", ""])),
                _ => json!(g.string(NASTY, 6)),
            });
        let body = g.body(&project);
        let _ = parse_create_project(&body);
        let _ = parse_update_project(&body);
        let _ = JsonObject::parse(&body, g.one_in(2));

        let doh = g.object(&["Status", "Answer"], |g, f| match f {
            "Status" => json!(g.below(5)),
            _ => json!([{ "type": g.pick(&["16", "5"]).parse::<u32>().unwrap_or(0), "data": g.string(&["\"", "\\", "\\0", "\\255", "a", " ", "ü"], 10) }]),
        });
        let _ = parse_doh_txt(&g.body(&doh));
        let _ = txt_data(&g.string(&["\"", "\\", "\\1", "\\999", "a", " ", "ü"], 12));
        let saas = g.object(&["success", "errors", "result"], |g, _| g.json(NASTY, 2));
        let _ = parse_saas_answer(&g.body(&saas));
        let found = TxtLookup::Records(vec![g.string(NASTY, 4)]);
        let _ = decide_verification(&g.string(NASTY, 4), &g.string(NASTY, 4), &found);
        let _ = iso8601(g.next());
    }
}
