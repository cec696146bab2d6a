//! Gradual rollouts on the visitor path (pure): which side of a split a production visitor is
//! on. A visitor's bucket (0..99) comes from a platform-minted affinity cookie: a random id and
//! an HMAC-SHA256 over project and id (key derived from `JWT_SECRET` for this purpose only),
//! so a visitor stays on one side for the whole rollout and cannot pick a bucket by writing
//! the cookie; a missing, foreign or forged value is replaced by a fresh one.

use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmSignature};
use sha2::{Digest, Sha256};

use crate::domain::constant_time_eq;

/// The affinity cookie (host-only, like the pin cookie).
pub const AFFINITY_COOKIE: &str = "__flotilla_aff";
/// Its lifetime: 30 days (longer than any rollout step is useful).
pub const AFFINITY_SECS: u64 = 30 * 86_400;

const KEY_PURPOSE: &[u8] = b"flotilla/rollout-affinity/v1\0";

fn signature(secret: &[u8], pid: &str, id: &str) -> Option<String> {
    if secret.len() < 16 {
        return None;
    }
    let mut h = Sha256::new();
    h.update(KEY_PURPOSE);
    h.update(secret);
    let key = Hs256Key::new(h.finalize());
    let sig = Hs256.sign(&key, format!("{pid}\0{id}").as_bytes());
    // 16 bytes are plenty for a cookie that only picks a side.
    Some(hex(&sig.as_bytes()[..16]))
}

/// Lowercase hex (a table, not `format!` per byte: this runs on the visitor path).
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [HEX[usize::from(b >> 4)] as char, HEX[usize::from(b & 15)] as char]).collect()
}

/// The bucket 0..99 of an affinity id (any text; its first 8 hex digits, else a hash).
pub fn bucket(id: &str) -> u8 {
    let n = match id.get(..8).and_then(|h| u32::from_str_radix(h, 16).ok()) {
        Some(n) => n,
        None => {
            let d = Sha256::digest(id.as_bytes());
            u32::from_be_bytes([d[0], d[1], d[2], d[3]])
        }
    };
    (n % 100) as u8
}

/// The cookie value `<id>.<signature>` for random `id` (hex), or None without a usable secret.
pub fn mint(secret: &[u8], pid: &str, id: &str) -> Option<String> {
    Some(format!("{id}.{}", signature(secret, pid, id)?))
}

/// The id of a genuine affinity value of project `pid` (signatures compared in constant time).
pub fn verify<'a>(secret: &[u8], pid: &str, value: &'a str) -> Option<&'a str> {
    let (id, sig) = value.split_once('.')?;
    if id.is_empty() {
        return None;
    }
    let want = signature(secret, pid, id)?;
    constant_time_eq(want.as_bytes(), sig.as_bytes()).then_some(id)
}

/// The affinity cookie's raw value in a `Cookie` header, if any (cheap without one).
pub fn requested(cookie: Option<&str>) -> Option<&str> {
    let cookie = cookie.filter(|c| c.contains(AFFINITY_COOKIE))?;
    crate::auth::preview::parse_cookies(cookie)
        .into_iter()
        .find(|(name, v)| *name == AFFINITY_COOKIE && !v.is_empty())
        .map(|(_, v)| v)
}

/// Which side a visitor is on: `(new side?, Set-Cookie to send)`. `fresh_id` (random hex) is
/// used only when the request has no genuine cookie; without a usable secret every request
/// is assigned by `fresh_id` alone (not sticky, still the right split).
pub fn assign(
    secret: &[u8],
    pid: &str,
    cookie: Option<&str>,
    percent: u8,
    fresh_id: impl FnOnce() -> String,
    path: &str,
    https: bool,
) -> (bool, Option<String>) {
    if let Some(id) = requested(cookie).and_then(|v| verify(secret, pid, v)) {
        return (bucket(id) < percent, None);
    }
    let id = fresh_id();
    let secure = if https { "; Secure" } else { "" };
    let set = mint(secret, pid, &id).map(|v| {
        format!("{AFFINITY_COOKIE}={v}; Path={path}; Max-Age={AFFINITY_SECS}; HttpOnly; SameSite=Lax{secure}")
    });
    (bucket(&id) < percent, set)
}

/// Cloudflare's request header naming the version a Worker should run.
pub const VERSION_OVERRIDES: &str = "cloudflare-workers-version-overrides";

/// The version `Cloudflare-Workers-Version-Overrides` names for Worker `name` (the project's
/// slug): a structured-header dictionary `name="<version id>"`, other members ignored.
pub fn version_override<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(',').find_map(|member| {
        let (k, v) = member.split_once('=')?;
        let v = v.trim().strip_prefix('"')?.strip_suffix('"')?;
        (k.trim().eq_ignore_ascii_case(name) && !v.is_empty()).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test-secret-key-of-reasonable-length";

    fn value_of(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string()
    }

    #[test]
    fn a_minted_cookie_keeps_its_visitor_on_one_side() {
        let (side, set) = assign(KEY, "p1", None, 50, || "0000002a".into(), "/", true);
        let set = set.unwrap();
        assert!(side, "bucket 42 < 50");
        for attr in ["__flotilla_aff=0000002a.", "; Path=/;", "; HttpOnly", "; SameSite=Lax", "; Secure"] {
            assert!(set.contains(attr), "{attr} in {set}");
        }
        let cookie = format!("a=b; {AFFINITY_COOKIE}={}", value_of(&set));
        for percent in [43, 50, 100] {
            let (side, again) = assign(KEY, "p1", Some(&cookie), percent, || unreachable!(), "/", true);
            assert!(side && again.is_none(), "stays new at {percent} %, no new cookie");
        }
        let (side, _) = assign(KEY, "p1", Some(&cookie), 42, || unreachable!(), "/", true);
        assert!(!side, "bucket 42 is old at 42 %");
    }

    #[test]
    fn forged_and_foreign_cookies_are_re_minted() {
        let genuine = mint(KEY, "p1", "00000001").unwrap();
        let forged = genuine.replacen("00000001", "00000063", 1);
        let foreign = mint(KEY, "p2", "00000001").unwrap();
        let other_key = mint(b"another-secret-of-enough-length", "p1", "00000001").unwrap();
        for bad in [forged, foreign, other_key, "00000001".into(), ".".into(), "x.y.z".into()] {
            let cookie = format!("{AFFINITY_COOKIE}={bad}");
            let (side, set) = assign(KEY, "p1", Some(&cookie), 50, || "00000050".into(), "/", false);
            let set = set.unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(!side && set.starts_with("__flotilla_aff=00000050.") && !set.contains("Secure"));
        }
        assert_eq!(mint(b"short", "p1", "1"), None);
        let (_, set) = assign(b"short", "p1", None, 50, || "00000001".into(), "/", false);
        assert_eq!(set, None, "no usable secret, no cookie");
    }

    #[test]
    fn buckets_of_random_ids_spread_evenly() {
        let mut counts = [0u32; 100];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            counts[usize::from(bucket(&format!("{:016x}", x)))] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
        assert!(bucket("not hex at all") < 100);
    }

    #[test]
    fn version_overrides_name_one_worker() {
        let h = r#"other="v9", blog-x1="0b1c", third=1"#;
        assert_eq!(version_override(h, "blog-x1"), Some("0b1c"));
        assert_eq!(version_override(h, "other"), Some("v9"));
        assert_eq!(version_override(h, "third"), None, "not a string");
        assert_eq!(version_override(h, "nope"), None);
        assert_eq!(version_override(r#"blog="""#, "blog"), None);
    }
}
