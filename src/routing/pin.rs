//! Skew protection, the pinning half (pure): which deployment a visitor request asks to be
//! served from, whether it may be, and the pin cookie an HTML answer sets.
//!
//! A request may name a deployment four ways, first found wins: `?dpl=`, `x-deployment-id:`,
//! the `__vdpl` cookie (the names Next, Astro and SvelteKit send for Vercel), and the platform's
//! own `__flotilla_dpl` cookie, honoured only on a browser's subresource requests (a
//! `Sec-Fetch-Mode` other than `navigate`): loading or reloading a page always gets the active
//! deployment and re-pins to it, and clients without Fetch Metadata (scripts, SDKs with a
//! cookie jar) are never held on an old deployment by a cookie they did not ask for. A value is either a pin token (HMAC-SHA256
//! under a key derived from `JWT_SECRET` for this purpose only, binding project id, deployment
//! id and expiry) or a bare deployment id. Either way the deployment must be one the project's
//! production URL served and still keeps (the routing record's active, earlier-production and,
//! unless previews are protected, aliased deployments): a pin can never open a protected or
//! never-published preview, nor another project's deployment. Anything else is ignored: the
//! request is served from the active deployment.

use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmSignature};
use sha2::{Digest, Sha256};

use super::RouteRecord;
use crate::domain::constant_time_eq;

/// The platform's pin cookie (host-only; `Path` is the site's root).
pub const PIN_COOKIE: &str = "__flotilla_dpl";
/// Vercel's cookie name, sent by framework clients.
pub const VDPL_COOKIE: &str = "__vdpl";
/// Request header naming a deployment.
pub const DPL_HEADER: &str = "x-deployment-id";
/// The pin cookie's lifetime when the project sets none: 24 hours.
pub const DEFAULT_PIN_SECS: u64 = 86_400;

/// Purpose label of the derived key: a pin token never passes as any other platform token.
const KEY_PURPOSE: &[u8] = b"flotilla/skew-pin/v1\0";

fn key(secret: &[u8]) -> Option<Hs256Key> {
    if secret.len() < 16 {
        return None;
    }
    let mut h = Sha256::new();
    h.update(KEY_PURPOSE);
    h.update(secret);
    Some(Hs256Key::new(h.finalize()))
}

/// HMAC-SHA256 of project, deployment and expiry, in lowercase hex. (The bare primitive the
/// preview JWTs already bring, not a JWT: no claims codec in the visitor build for this.)
fn signature(key: &Hs256Key, pid: &str, dpl: &str, exp_secs: u64) -> String {
    let message = format!("{pid}\0{dpl}\0{exp_secs}");
    let sig = Hs256.sign(key, message.as_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    sig.as_bytes()
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)] as char, HEX[usize::from(b & 15)] as char])
        .collect()
}

/// A pin token `<deployment id>.<expiry, unix seconds>.<signature>` for deployment `dpl` of
/// project `pid` (`None` without a usable secret: then no cookie is set and only bare ids pin).
pub fn mint(secret: &[u8], pid: &str, dpl: &str, exp_secs: u64) -> Option<String> {
    let sig = signature(&key(secret)?, pid, dpl, exp_secs);
    Some(format!("{dpl}.{exp_secs}.{sig}"))
}

/// The deployment a pin token names, if it was signed for project `pid` and has not expired
/// (signatures compared in constant time).
pub fn verify(secret: &[u8], token: &str, pid: &str, now_ms: u64) -> Option<String> {
    let mut parts = token.split('.');
    let (dpl, exp, sig) = (parts.next()?, parts.next()?, parts.next()?);
    let exp_secs: u64 = exp.parse().ok()?;
    if parts.next().is_some() || dpl.is_empty() || exp_secs.saturating_mul(1000) <= now_ms {
        return None;
    }
    let want = signature(&key(secret)?, pid, dpl, exp_secs);
    constant_time_eq(want.as_bytes(), sig.as_bytes()).then(|| dpl.to_string())
}

/// The pin a request carries (raw value), first found of `?dpl=`, `x-deployment-id`, `__vdpl`,
/// then `__flotilla_dpl` when `fetch_mode` (`Sec-Fetch-Mode`) is present and not `navigate`.
/// Cheap when there is none: substring checks before any parsing.
pub fn requested<'a>(
    query: &'a str,
    header: Option<&'a str>,
    cookie: Option<&'a str>,
    fetch_mode: Option<&str>,
) -> Option<&'a str> {
    let subresource = fetch_mode.is_some_and(|m| m != "navigate");
    if query.contains("dpl=") {
        let found = query.split('&').find_map(|pair| pair.strip_prefix("dpl="));
        if let Some(v) = found.filter(|v| !v.is_empty()) {
            return Some(v);
        }
    }
    if let Some(h) = header.map(str::trim).filter(|h| !h.is_empty()) {
        return Some(h);
    }
    let cookie = cookie.filter(|c| c.contains("dpl="))?;
    let mut own = None;
    for (name, value) in crate::auth::preview::parse_cookies(cookie) {
        if value.is_empty() {
            continue;
        }
        if name == VDPL_COOKIE {
            return Some(value);
        }
        if name == PIN_COOKIE && subresource && own.is_none() {
            own = Some(value);
        }
    }
    own
}

/// The deployment a requested pin resolves to, if this project may serve it: a token of this
/// project, or a bare id, naming a deployment the routing record lists as active, earlier
/// production, rolled out, or aliased (aliases only when previews are public or the request came through
/// an alias URL, which already passed preview protection).
pub fn resolve(
    value: &str,
    secret: &[u8],
    record: &RouteRecord,
    via_alias: bool,
    now_ms: u64,
) -> Option<String> {
    let id = if value.contains('.') {
        verify(secret, value, &record.project_id, now_ms)?
    } else {
        value.to_string()
    };
    let aliases_ok = via_alias || !record.preview_link;
    let reachable = record.active_deployment_id.as_deref() == Some(id.as_str())
        || record.recent.contains(&id)
        || record.rollout.as_ref().is_some_and(|r| r.to == id)
        || (aliases_ok && record.aliases.values().any(|a| *a == id));
    reachable.then_some(id)
}

/// The `Set-Cookie` value pinning deployment `dpl` for `max_age_secs` on this origin
/// (host-only, `path`: `/`, or the path-mode prefix), or `None` without a usable secret.
pub fn set_cookie(
    secret: &[u8],
    pid: &str,
    dpl: &str,
    now_ms: u64,
    max_age_secs: u64,
    path: &str,
    https: bool,
) -> Option<String> {
    let token = mint(secret, pid, dpl, (now_ms / 1000).saturating_add(max_age_secs))?;
    let secure = if https { "; Secure" } else { "" };
    Some(format!("{PIN_COOKIE}={token}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_gen::{Gen, NASTY};
    use std::collections::BTreeMap;

    const KEY: &[u8] = b"test-secret-key-of-reasonable-length";
    const T0: u64 = 1_795_000_000_000;

    fn record() -> RouteRecord {
        RouteRecord {
            project_id: "p1".into(),
            slug: "blog".into(),
            enabled: true,
            active_deployment_id: Some("d3".into()),
            outbound_allowed: false,
            generation: 3,
            deleted: false,
            preview_link: false,
            aliases: BTreeMap::from([("staging".to_string(), "d9".to_string())]),
            recent: vec!["d2".into(), "d1".into()],
            skew: Default::default(),
            envs: Default::default(),
            bypass: None,
            rollout: Some(crate::routing::Split { to: "d4".into(), percent: 10 }),
        }
    }

    #[test]
    fn tokens_bind_project_deployment_and_expiry() {
        let t = mint(KEY, "p1", "d2", T0 / 1000 + 1).unwrap();
        assert_eq!(verify(KEY, &t, "p1", T0).as_deref(), Some("d2"));
        assert_eq!(verify(KEY, &t, "p2", T0), None, "another project");
        assert_eq!(verify(KEY, &t, "p1", T0 + 1000), None, "expired");
        let other = t.replacen("d2.", "d1.", 1);
        assert_eq!(verify(KEY, &other, "p1", T0), None, "re-pointed at another deployment");
        let later = t.replacen(&format!(".{}.", T0 / 1000 + 1), &format!(".{}.", T0 / 1000 + 9999), 1);
        assert_eq!(verify(KEY, &later, "p1", T0), None, "expiry pushed out");
        assert_eq!(verify(b"another-secret-of-enough-length", &t, "p1", T0), None, "forged");
        let flipped = if t.ends_with('0') { "1" } else { "0" };
        let tampered = format!("{}{flipped}", &t[..t.len() - 1]);
        assert_eq!(verify(KEY, &tampered, "p1", T0), None);
        assert_eq!(mint(b"short", "p1", "d2", T0 / 1000), None, "no usable secret, no token");
        // A preview token (same secret, other purpose) never passes as a pin.
        let preview = crate::auth::preview::mint(
            KEY,
            crate::auth::preview::PreviewKind::Cookie,
            "p1",
            "h",
            crate::auth::preview::PreviewTarget::Deployment("d2"),
            T0,
            T0 + 1000,
        )
        .unwrap();
        assert_eq!(verify(KEY, &preview, "p1", T0), None);
    }

    #[test]
    fn requested_pins_in_order_and_the_cookie_not_on_navigations() {
        let c = Some("a=1; __flotilla_dpl=tok; __vdpl=v");
        let (cors, nav) = (Some("cors"), Some("navigate"));
        assert_eq!(requested("x=1&dpl=q", Some("h"), c, cors), Some("q"));
        assert_eq!(requested("x=1", Some(" h "), c, cors), Some("h"));
        assert_eq!(requested("", None, c, cors), Some("v"));
        assert_eq!(requested("", None, Some("__flotilla_dpl=tok"), cors), Some("tok"));
        assert_eq!(requested("", None, Some("__flotilla_dpl=tok"), Some("no-cors")), Some("tok"));
        assert_eq!(requested("", None, Some("__flotilla_dpl=tok"), nav), None, "a page load re-pins");
        assert_eq!(requested("", None, Some("__flotilla_dpl=tok"), None), None, "not a browser");
        assert_eq!(requested("", None, Some("__vdpl=v"), nav), Some("v"));
        assert_eq!(requested("nodpl=1&dpl=", Some(""), Some("x=dpl="), cors), None);
        assert_eq!(requested("", None, None, cors), None);
    }

    #[test]
    fn only_deployments_production_served_and_still_kept_are_reachable() {
        let r = record();
        for id in ["d3", "d2", "d1", "d9", "d4"] {
            assert_eq!(resolve(id, KEY, &r, false, T0).as_deref(), Some(id));
        }
        assert_eq!(resolve("d0", KEY, &r, false, T0), None, "expired or never production");
        let t = mint(KEY, "p1", "d1", T0 / 1000 + 1).unwrap();
        assert_eq!(resolve(&t, KEY, &r, false, T0).as_deref(), Some("d1"));
        let foreign = mint(KEY, "p2", "d1", T0 / 1000 + 1).unwrap();
        assert_eq!(resolve(&foreign, KEY, &r, false, T0), None, "another project's pin");
        let gone = mint(KEY, "p1", "d0", T0 / 1000 + 1).unwrap();
        assert_eq!(resolve(&gone, KEY, &r, false, T0), None, "a valid token for a deployment no longer kept");
        // Protected previews: an aliased deployment only through its own (authorised) alias URL.
        let protected = RouteRecord { preview_link: true, ..r };
        assert_eq!(resolve("d9", KEY, &protected, false, T0), None);
        assert_eq!(resolve("d9", KEY, &protected, true, T0).as_deref(), Some("d9"));
    }

    #[test]
    fn the_cookie_is_host_only_http_only_lax_and_secure_on_https() {
        let c = set_cookie(KEY, "p1", "d3", T0, 86_400, "/", true).unwrap();
        assert!(c.starts_with("__flotilla_dpl=d3."), "{c}");
        for attr in ["; Path=/;", "; Max-Age=86400;", "; HttpOnly", "; SameSite=Lax", "; Secure"] {
            assert!(c.contains(attr), "{attr} in {c}");
        }
        assert!(!c.to_ascii_lowercase().contains("domain="));
        let plain = set_cookie(KEY, "p1", "d3", T0, 60, "/__project/blog", false).unwrap();
        assert!(!plain.contains("Secure") && plain.contains("Path=/__project/blog;"));
        let token = plain.split(';').next().unwrap().split_once('=').unwrap().1;
        assert_eq!(verify(KEY, token, "p1", T0 + 59_000).as_deref(), Some("d3"));
    }

    #[test]
    fn never_panics_on_any_input() {
        let mut g = Gen(0x9e37_79b9);
        let pieces: Vec<&str> =
            NASTY.iter().copied().chain(["dpl=", "&", ";", "=", ".", "__vdpl", "1795000000", "d3"]).collect();
        let r = record();
        for _ in 0..5_000 {
            let (q, h, c) = (g.string(&pieces, 8), g.string(&pieces, 4), g.string(&pieces, 8));
            let mode = if g.one_in(2) { Some("cors") } else { None };
            if let Some(v) = requested(&q, Some(&h), Some(&c), mode) {
                let _ = resolve(v, KEY, &r, g.one_in(2), T0);
            }
            let _ = verify(KEY, &q, "p1", T0);
        }
    }
}
