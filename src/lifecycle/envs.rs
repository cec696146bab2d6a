//! Environments (issue 30, README "Environments"): env vars, secrets and resource-binding
//! overrides scoped to `production`, `preview` (every non-production URL: deployment previews
//! and aliases), one alias (`alias:<name>`), or `all`. Nothing set for production reaches a
//! preview unless it is set with scope `all`; that is the one explicit way to share.
//!
//! Pure: the API stores [`Entry`] rows (D1 `project_env`), [`resolve_all`] turns them into one
//! [`EnvBlob`] per target, each stored in BLOBS under its content digest, and the routing record
//! carries only `target key -> digest` ([`EnvRefs`]). A visitor request picks its target's
//! digest ([`env_ref`]) and the Worker Loader's isolate id includes it, so a warm isolate is
//! only reused for the exact env it was started with; a changed env is a new digest, a new
//! isolate, and a blob read on its cold start only.
//!
//! The per-project bypass token for protected previews ([`bypass_matches`]) lives here too:
//! stored as a SHA-256 hex digest, compared in constant time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where an entry applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Every URL (the explicit way to share a value between production and previews).
    All,
    Production,
    /// Every non-production URL: `<dep8>--<slug>` and `<alias>--<slug>`.
    Preview,
    /// One alias's URL (`<alias>--<slug>`), over `preview`.
    Alias(String),
}

impl Scope {
    /// `all`, `production`, `preview` or `alias:<name>` (an alias name as aliases allow it).
    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "all" => Scope::All,
            "production" => Scope::Production,
            "preview" => Scope::Preview,
            _ => {
                let name = s.strip_prefix("alias:")?;
                super::AliasName::parse(name).ok()?;
                Scope::Alias(name.to_string())
            }
        })
    }

    pub fn as_string(&self) -> String {
        match self {
            Scope::All => "all".into(),
            Scope::Production => "production".into(),
            Scope::Preview => "preview".into(),
            Scope::Alias(n) => format!("alias:{n}"),
        }
    }
}

/// What an entry is: a plain var, a secret (stored sealed, never returned), or an override of
/// a resource binding (the value is a resource id of that kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Var,
    Secret,
    Kv,
    Sql,
    Bucket,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "var" => Kind::Var,
            "secret" => Kind::Secret,
            "kv" => Kind::Kv,
            "sql" => Kind::Sql,
            "bucket" => Kind::Bucket,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Var => "var",
            Kind::Secret => "secret",
            Kind::Kv => "kv",
            Kind::Sql => "sql",
            Kind::Bucket => "bucket",
        }
    }

    pub fn is_binding(self) -> bool {
        matches!(self, Kind::Kv | Kind::Sql | Kind::Bucket)
    }
}

/// One stored entry. `value`: the var's text, the secret sealed, or the resource id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub scope: Scope,
    pub name: String,
    pub kind: Kind,
    pub value: String,
}

/// At most this many entries per project, and this long a value (Cloudflare's secret limit).
pub const MAX_ENTRIES: usize = 128;
pub const MAX_VALUE_BYTES: usize = 5 * 1024;

/// Why an entry is refused (a 400 with this sentence).
pub fn check_entry(scope: &Scope, name: &str, kind: Kind, value: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || name.len() > 64 || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("env name `{name}`: 1-64 letters, digits and `_`, not starting with a digit"));
    }
    if name == "ASSETS" || name.starts_with("__FLOTILLA") {
        return Err(format!("env name `{name}` is reserved"));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!("the value of `{name}` exceeds {MAX_VALUE_BYTES} bytes"));
    }
    if kind.is_binding() && matches!(scope, Scope::All | Scope::Production) {
        return Err(format!(
            "binding overrides apply to previews only: scope `preview` or `alias:<name>`, not `{}`",
            scope.as_string()
        ));
    }
    Ok(())
}

/// What one target's server code gets on top of its deployment's own vars and bindings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvBlob {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// Sealed (`platform::secrets`, bound to project and name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// Binding name -> (kind, resource id).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bindings: BTreeMap<String, (String, String)>,
}

impl EnvBlob {
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty() && self.secrets.is_empty() && self.bindings.is_empty()
    }

    /// The first 32 hex digits of SHA-256 over its JSON (maps are ordered, so equal blobs
    /// have equal digests).
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex(&Sha256::digest(&json))[..32].to_string()
    }

    fn put(&mut self, e: &Entry) {
        // One name is one thing per target: a more specific scope replaces whatever it was.
        self.vars.remove(&e.name);
        self.secrets.remove(&e.name);
        self.bindings.remove(&e.name);
        match e.kind {
            Kind::Var => {
                self.vars.insert(e.name.clone(), e.value.clone());
            }
            Kind::Secret => {
                self.secrets.insert(e.name.clone(), e.value.clone());
            }
            k => {
                self.bindings.insert(e.name.clone(), (k.as_str().to_string(), e.value.clone()));
            }
        }
    }
}

/// Target keys of [`EnvRefs`]: `production`, `preview`, `alias:<name>`.
pub const PRODUCTION: &str = "production";
pub const PREVIEW: &str = "preview";

/// The env of one target: `all`, then `production`; or `all`, then `preview`, then
/// `alias:<name>` (later scopes win per name).
pub fn resolve(entries: &[Entry], target: &Scope) -> EnvBlob {
    let layers: Vec<&Scope> = match target {
        Scope::All | Scope::Production => vec![&Scope::All, &Scope::Production],
        Scope::Preview => vec![&Scope::All, &Scope::Preview],
        Scope::Alias(_) => vec![&Scope::All, &Scope::Preview, target],
    };
    let mut blob = EnvBlob::default();
    for layer in layers {
        for e in entries.iter().filter(|e| &e.scope == layer) {
            blob.put(e);
        }
    }
    blob
}

/// Every target's non-empty env, by target key: `production`, `preview`, and `alias:<name>`
/// for each alias that has entries of its own (other aliases use `preview`'s).
pub fn resolve_all(entries: &[Entry]) -> BTreeMap<String, EnvBlob> {
    let mut targets = vec![Scope::Production, Scope::Preview];
    for e in entries {
        if matches!(e.scope, Scope::Alias(_)) && !targets.contains(&e.scope) {
            targets.push(e.scope.clone());
        }
    }
    targets
        .into_iter()
        .map(|t| (t.as_string(), resolve(entries, &t)))
        .filter(|(_, b)| !b.is_empty())
        .collect()
}

/// Target key -> digest of its [`EnvBlob`], as the routing record carries it.
pub type EnvRefs = BTreeMap<String, String>;

/// The routing record's form of [`EnvRefs`] (`RouteRecord::envs`), shaped so the visitor path
/// only looks up and copies: `P` (production) and `V` (preview) -> `p.<digest>` / `v.<digest>`,
/// and each alias with an env of its own under its bare name (alias names are lowercase, so
/// they never collide with `P`/`V`) -> `v.<digest>`.
pub fn record_refs(refs: &EnvRefs) -> BTreeMap<String, String> {
    refs.iter()
        .map(|(target, digest)| match target.as_str() {
            PRODUCTION => ("P".to_string(), format!("p.{digest}")),
            PREVIEW => ("V".to_string(), format!("v.{digest}")),
            alias => (alias.strip_prefix("alias:").unwrap_or(alias).to_string(), format!("v.{digest}")),
        })
        .collect()
}

/// What the Worker Loader is told about a request's env (and what its isolate id ends with):
/// `p` (production) or `v` (any other URL), then `.<digest>` when that target has an env.
/// Only `p` gets the secrets a deployment was made with (`wrangler secret put` means
/// production). `record`: [`record_refs`]; `prefix`: the URL's `<alias|dep8>--` part, if any
/// (a deployment id prefix is 8+ hex digits, which no alias name is).
pub fn env_ref(record: &BTreeMap<String, String>, prefix: Option<&str>) -> String {
    let found = match prefix {
        None => record.get("P"),
        Some(p) => record.get(p).or_else(|| record.get("V")),
    };
    match found {
        Some(r) => r.clone(),
        None if prefix.is_none() => "p".to_string(),
        None => "v".to_string(),
    }
}

/// The loader's reading of an [`env_ref`]: (production, digest).
pub fn parse_env_ref(r: &str) -> (bool, Option<&str>) {
    let (kind, digest) = match r.split_once('.') {
        Some((k, d)) => (k, Some(d)),
        None => (r, None),
    };
    (kind == "p", digest.filter(|d| !d.is_empty()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// How a bypass token is stored: SHA-256 hex (the token itself is shown once).
pub fn bypass_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A new bypass token from 32 random bytes: `flb_` and 64 hex digits.
pub fn bypass_token(random: [u8; 32]) -> String {
    format!("flb_{}", hex(&random))
}

/// Whether `presented` is the token whose hash is `stored`; the comparison of the two digests
/// takes the same time wherever they differ.
pub fn bypass_matches(stored: &str, presented: &str) -> bool {
    let got = bypass_hash(presented);
    if got.len() != stored.len() {
        return false;
    }
    got.bytes().zip(stored.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(scope: &str, name: &str, kind: &str, value: &str) -> Entry {
        Entry {
            scope: Scope::parse(scope).unwrap(),
            name: name.into(),
            kind: Kind::parse(kind).unwrap(),
            value: value.into(),
        }
    }

    #[test]
    fn scopes_parse_and_print() {
        for s in ["all", "production", "preview", "alias:staging"] {
            assert_eq!(Scope::parse(s).unwrap().as_string(), s);
        }
        for bad in ["", "prod", "alias:", "alias:Bad Name", "alias:deadbeef00", "Preview"] {
            assert_eq!(Scope::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn production_values_never_reach_previews_and_vice_versa() {
        let entries = [e("production", "DB_URL", "secret", "prod"), e("preview", "DB_URL", "secret", "prev")];
        let all = resolve_all(&entries);
        assert_eq!(all[PRODUCTION].secrets["DB_URL"], "prod");
        assert_eq!(all[PREVIEW].secrets["DB_URL"], "prev");
        let only_prod = resolve_all(&[e("production", "TOKEN", "secret", "x")]);
        assert!(!only_prod.contains_key(PREVIEW), "{only_prod:?}");
        let only_prev = resolve_all(&[e("preview", "TOKEN", "var", "x")]);
        assert!(!only_prev.contains_key(PRODUCTION), "{only_prev:?}");
    }

    #[test]
    fn all_is_shared_and_specific_scopes_win() {
        let entries = [
            e("all", "A", "var", "all"),
            e("all", "B", "var", "all"),
            e("preview", "B", "var", "preview"),
            e("alias:staging", "B", "secret", "sealed"),
            e("alias:staging", "C", "var", "staging"),
            e("production", "A", "var", "prod"),
        ];
        let all = resolve_all(&entries);
        assert_eq!(
            all[PRODUCTION].vars,
            BTreeMap::from([("A".into(), "prod".into()), ("B".into(), "all".into())])
        );
        assert_eq!(all[PREVIEW].vars["B"], "preview");
        assert_eq!(all[PREVIEW].vars.get("C"), None);
        let staging = &all["alias:staging"];
        assert_eq!(staging.vars.get("B"), None, "the secret replaced the var of the same name");
        assert_eq!(staging.secrets["B"], "sealed");
        assert_eq!(staging.vars["C"], "staging");
        assert_eq!(staging.vars["A"], "all");
    }

    #[test]
    fn binding_overrides_are_for_previews_only() {
        assert!(check_entry(&Scope::Preview, "CACHE", Kind::Kv, "0123").is_ok());
        assert!(check_entry(&Scope::Production, "CACHE", Kind::Kv, "0123").is_err());
        assert!(check_entry(&Scope::All, "DB", Kind::Sql, "0123").is_err());
        let b = resolve(&[e("preview", "CACHE", "kv", "ns2")], &Scope::Alias("x".into()));
        assert_eq!(b.bindings["CACHE"], ("kv".to_string(), "ns2".to_string()));
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "1A", "A-B", "ASSETS", "__FLOTILLA_X", &"A".repeat(65)] {
            assert!(check_entry(&Scope::All, bad, Kind::Var, "v").is_err(), "{bad}");
        }
        assert!(check_entry(&Scope::All, "_A1", Kind::Var, "v").is_ok());
        assert!(check_entry(&Scope::All, "A", Kind::Var, &"v".repeat(MAX_VALUE_BYTES + 1)).is_err());
    }

    #[test]
    fn env_refs_pick_the_target_and_change_with_the_env() {
        let entries = [e("preview", "X", "var", "1"), e("alias:qa", "Y", "var", "2")];
        let refs: EnvRefs = resolve_all(&entries).into_iter().map(|(k, b)| (k, b.digest())).collect();
        let record = record_refs(&refs);
        assert_eq!(env_ref(&record, None), "p");
        let preview = env_ref(&record, Some("0123abcd"));
        assert_eq!(preview, format!("v.{}", refs[PREVIEW]));
        assert_eq!(env_ref(&record, Some("other")), preview);
        let qa = env_ref(&record, Some("qa"));
        assert_ne!(qa, preview);
        assert_eq!(env_ref(&BTreeMap::new(), Some("qa")), "v");
        let prod = record_refs(&BTreeMap::from([(PRODUCTION.to_string(), "d1".to_string())]));
        assert_eq!(env_ref(&prod, None), "p.d1");
        assert_eq!(env_ref(&prod, Some("0123abcd")), "v", "production's env never reaches a preview");
        assert_eq!(parse_env_ref(&qa), (false, Some(refs["alias:qa"].as_str())));
        assert_eq!(parse_env_ref("p"), (true, None));
        // Any change of value is a new digest, so a new isolate id.
        let changed = resolve(&[e("preview", "X", "var", "2")], &Scope::Preview).digest();
        assert_ne!(changed, refs[PREVIEW]);
        assert_eq!(changed.len(), 32);
    }

    #[test]
    fn bypass_tokens_match_only_themselves() {
        let t = bypass_token([7; 32]);
        assert!(t.starts_with("flb_") && t.len() == 68);
        let stored = bypass_hash(&t);
        assert!(bypass_matches(&stored, &t));
        assert!(!bypass_matches(&stored, &bypass_token([8; 32])));
        assert!(!bypass_matches(&stored, ""));
        assert!(!bypass_matches("", &t));
        assert!(!bypass_matches(&stored, &stored), "the stored hash is not itself a token");
    }
}
