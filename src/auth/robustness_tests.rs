//! Tokens arrive from anyone: upload JWTs and preview links never verify once tampered with,
//! never for another project, kind, host or target, and nothing a visitor sends makes the
//! preview decision panic or redirect off the site.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::preview::{
    decide, mint, parse_cookies, take_token, verify, Access, PreviewKind, PreviewTarget, Visit,
};
use super::*;
use crate::test_gen::{Gen, NASTY};

const SECRET: &[u8] = b"a-test-secret-of-32-bytes-length";
const NOW: u64 = 1_800_000_000_000;
const PROJECTS: [&str; 3] = ["proj-a", "proj-b", "proj-a "];

/// Attacks on a token: flip, cut or extend it, swap its parts, re-sign the claims with another
/// key, downgrade to `alg: none`, or re-encode edited claims under the old signature.
fn tamper(g: &mut Gen, token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let [head, claims, sig] = parts[..] else { return g.mutate(token) };
    let claims_json =
        URL_SAFE_NO_PAD.decode(claims).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    match g.below(8) {
        0 => format!("{head}.{claims}."),
        1 => format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)),
        2 => {
            let edited = claims_json.replacen("proj-a", g.pick(&["proj-b", "proj-A", "proj-a ", ""]), 1);
            format!("{head}.{}.{sig}", URL_SAFE_NO_PAD.encode(edited))
        }
        3 => {
            let edited = claims_json.replacen("upload", "completion", 1).replacen("link", "cookie", 1);
            format!("{head}.{}.{sig}", URL_SAFE_NO_PAD.encode(edited))
        }
        4 => format!("{head}.{claims}.{}", URL_SAFE_NO_PAD.encode([0u8; 32])),
        5 => format!("{sig}.{claims}.{head}"),
        _ => g.mutate(token),
    }
}

#[test]
fn upload_tokens_only_verify_untampered_for_their_own_project_and_kind() {
    let mut g = Gen(0x5EED_A077_0000_0001);
    let other_key = issue_token(
        b"another-secret-32-bytes-long!!!!",
        TokenKind::Upload,
        "proj-a",
        "s",
        "root",
        NOW,
        TOKEN_TTL_SECS,
    );
    for round in 0..1500 {
        let kind = if round % 2 == 0 { TokenKind::Upload } else { TokenKind::Completion };
        let token =
            issue_token(SECRET, kind, "proj-a", "sess-1", "root", NOW, TOKEN_TTL_SECS).unwrap_or_default();
        let original = verify_token(SECRET, &token, kind, "proj-a", NOW + g.below(3_600_000));
        let original = original.unwrap_or_else(|e| panic!("{e:?}"));

        // Another project, another kind, too late: never.
        for other in &PROJECTS[1..] {
            assert_eq!(verify_token(SECRET, &token, kind, other, NOW), Err(TokenError::WrongProject));
        }
        let other_kind = if kind == TokenKind::Upload { TokenKind::Completion } else { TokenKind::Upload };
        assert!(verify_token(SECRET, &token, other_kind, "proj-a", NOW).is_err());
        assert!(
            verify_token(SECRET, &token, kind, "proj-a", NOW + 3_700_000 + g.below(u32::MAX.into())).is_err()
        );
        assert!(verify_token(b"another-secret-32-bytes-long!!!!", &token, kind, "proj-a", NOW).is_err());
        if let Ok(forged) = &other_key {
            assert!(verify_any_project(SECRET, forged, TokenKind::Upload, NOW).is_err());
        }

        // Tampered: rejected, or (base64 slack in the last character) exactly the same claims.
        let bad = tamper(&mut g, &token);
        if let Ok(claims) = verify_any_project(SECRET, &bad, kind, NOW) {
            assert_eq!(claims, original, "{bad} verified with other claims");
        }
        let _ = verify_token(SECRET, &g.string(NASTY, 20), kind, "proj-a", NOW);
    }
}

#[test]
fn preview_links_only_open_their_own_target_and_never_redirect_off_site() {
    let mut g = Gen(0x5EED_A077_0000_0002);
    let hosts =
        ["abcd1234--site.example.dev", "ABCD1234--site.example.dev", "other--site.example.dev", "localhost"];
    let targets = [
        PreviewTarget::Deployment("abcd1234-0000-4000-8000-000000000000"),
        PreviewTarget::Deployment("abcd1234-0000-4000-8000-000000000001"),
        PreviewTarget::Alias("staging"),
        PreviewTarget::Alias("d:staging"),
    ];
    for _ in 0..1500 {
        let (host, target) = (hosts[0], targets[g.below(4) as usize]);
        let exp = NOW + 1000 * (1 + g.below(600)); // JWT expiries are whole seconds
        let link = mint(SECRET, PreviewKind::Link, "proj-a", host, target, NOW, exp).unwrap_or_default();
        assert!(verify(SECRET, &link, PreviewKind::Link, "proj-a", host, target, NOW).is_ok());
        assert!(verify(SECRET, &link, PreviewKind::Link, "proj-a", host, target, exp).is_err(), "expired");
        assert!(verify(SECRET, &link, PreviewKind::Cookie, "proj-a", host, target, NOW).is_err());
        for p in &PROJECTS[1..] {
            assert!(verify(SECRET, &link, PreviewKind::Link, p, host, target, NOW).is_err());
        }
        for h in &hosts[2..] {
            assert!(verify(SECRET, &link, PreviewKind::Link, "proj-a", h, target, NOW).is_err(), "{h}");
        }
        for t in targets.iter().filter(|t| **t != target) {
            assert!(verify(SECRET, &link, PreviewKind::Link, "proj-a", host, *t, NOW).is_err(), "{t:?}");
        }
        // An upload JWT is never a preview token, and the reverse.
        let upload = issue_token(SECRET, TokenKind::Upload, "proj-a", "s", "root", NOW, TOKEN_TTL_SECS)
            .unwrap_or_default();
        assert!(verify(SECRET, &upload, PreviewKind::Link, "proj-a", host, target, NOW).is_err());
        assert!(verify_any_project(SECRET, &link, TokenKind::Upload, NOW).is_err());
        let bad = tamper(&mut g, &link);
        if bad != link {
            if let Ok(e) = verify(SECRET, &bad, PreviewKind::Link, "proj-a", host, target, NOW) {
                assert_eq!(e, exp, "{bad} verified with another expiry");
            }
        }

        // A visit with whatever path, query and cookies a visitor sends.
        let path =
            format!("{}{}", g.pick(&["/", "//", "/\\", "/__project/site@abcd1234/"]), g.string(NASTY, 6));
        let token = if g.one_in(2) { link.clone() } else { tamper(&mut g, &link) };
        let query = format!("{}__flotilla_preview={token}{}", g.string(NASTY, 3), g.string(NASTY, 3));
        let cookie = format!(
            "{}; __flotilla_preview={}; {}",
            g.string(NASTY, 4),
            tamper(&mut g, &link),
            g.string(NASTY, 4)
        );
        let visit = Visit {
            protected: true,
            project_id: "proj-a",
            target: Some(target),
            host,
            path: &path,
            query: &query,
            cookie_header: Some(&cookie),
            cookie_path: "/",
            https: g.one_in(2),
            now_ms: NOW,
        };
        match decide(SECRET, &visit) {
            Access::Redirect { location, set_cookie } => {
                assert!(
                    location.starts_with('/') && !location.starts_with("//") && !location.starts_with("/\\"),
                    "a valid link at {path:?} redirects to {location:?}"
                );
                assert!(!location.contains("__flotilla_preview="), "{location}");
                assert!(!set_cookie.contains(['\r', '\n', '\0']), "{set_cookie:?}");
            }
            Access::Serve => {}
            Access::Deny(_) => {}
        }
        let (_, rest) = take_token(&query);
        assert!(rest.is_none_or(|r| !r.split('&').any(|p| p.starts_with("__flotilla_preview="))), "{query}");
        let _ = parse_cookies(&cookie).count();
        let body = g.json(NASTY, 3);
        let _ = preview::parse_preview_link_request(&g.body(&body));
    }
}
