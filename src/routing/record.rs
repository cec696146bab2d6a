//! The routing record visitors' requests read from ROUTES_KV (`route:<slug>` and
//! `route:<id>`): a cache of the project's D1 row (the source of truth), stamped with the
//! row's generation so an older write never replaces a newer one. Verified custom domains add
//! `host:<hostname>` -> project id (D1's `domains` table stays the truth).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRecord {
    #[serde(rename = "projectId")]
    pub project_id: String,
    pub slug: String,
    pub enabled: bool,
    #[serde(rename = "activeDeploymentId")]
    pub active_deployment_id: Option<String>,
    /// Whether the project's server code may make outbound requests.
    #[serde(rename = "outboundAllowed", default)]
    pub outbound_allowed: bool,
    /// The D1 generation this record was derived from.
    #[serde(default)]
    pub generation: i64,
    /// A tombstone: the project was deleted (kept until the purge removes the keys, so a
    /// delayed older write can never bring the site back).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// `previewAccess = "link"`: preview and alias URLs need a signed preview link.
    #[serde(rename = "previewLink", default, skip_serializing_if = "std::ops::Not::not")]
    pub preview_link: bool,
    /// Named pointers: alias -> deployment id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
    /// Skew protection: deployments that were production before the active one and are still
    /// kept, newest activation first (at most [`RECENT_MAX`]). Pins may name them, and a
    /// fingerprinted-asset miss is looked up in them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<String>,
    /// The project's skew protection settings (`skewProtection`, ...); default: on, 24 h, 5.
    #[serde(default, skip_serializing_if = "SkewSettings::is_default")]
    pub skew: SkewSettings,
    /// Environments (`lifecycle::envs::record_refs`): `P`, `V` or an alias name -> the env ref
    /// (`p.<digest>`, `v.<digest>`) its server code gets; the Worker Loader's isolate id ends
    /// with it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub envs: BTreeMap<String, String>,
    /// SHA-256 hex of the project's bypass token for protected previews, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass: Option<String>,
    /// A gradual rollout in progress: production visitors whose affinity bucket is below
    /// `percent` are served `to` instead of the active deployment (README "Gradual rollouts").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Split>,
}

/// The routing record's part of a live rollout (`lifecycle::Rollout` holds the rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// The deployment being rolled out.
    pub to: String,
    /// 0..=100: the share of production visitors it gets.
    pub percent: u8,
}

/// A project's skew protection settings (README "Skew protection").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkewSettings {
    /// Pins and the fingerprinted-asset fallback apply.
    #[serde(rename = "on")]
    pub enabled: bool,
    /// The pin cookie's `Max-Age`.
    #[serde(rename = "pinSecs")]
    pub pin_secs: u32,
    /// How many earlier production deployments a fingerprinted miss is looked up in.
    pub depth: u8,
}

impl Default for SkewSettings {
    fn default() -> Self {
        SkewSettings {
            enabled: true,
            pin_secs: super::pin::DEFAULT_PIN_SECS as u32,
            depth: crate::assets::skew::DEFAULT_FALLBACK_DEPTH as u8,
        }
    }
}

impl SkewSettings {
    pub fn is_default(&self) -> bool {
        *self == SkewSettings::default()
    }
}

/// How many earlier production deployments a routing record lists (`RouteRecord::recent`).
pub const RECENT_MAX: usize = 20;

impl RouteRecord {
    /// The deployment a visitor should see, if the project serves at all.
    pub fn serving(&self) -> Option<&str> {
        if self.enabled && !self.deleted {
            self.active_deployment_id.as_deref()
        } else {
            None
        }
    }
}

/// ROUTES_KV record of a verified custom domain: only the project id, so everything else a
/// visit needs comes from the project's own routing record (one source per project).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    #[serde(rename = "projectId")]
    pub project_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_requires_enabled_and_active() {
        let mut r = RouteRecord {
            project_id: "p".into(),
            slug: "s".into(),
            enabled: true,
            active_deployment_id: None,
            outbound_allowed: false,
            generation: 1,
            deleted: false,
            preview_link: false,
            aliases: BTreeMap::new(),
            recent: Vec::new(),
            skew: SkewSettings::default(),
            envs: BTreeMap::new(),
            bypass: None,
            rollout: None,
        };
        assert_eq!(r.serving(), None);
        r.active_deployment_id = Some("d".into());
        assert_eq!(r.serving(), Some("d"));
        r.deleted = true;
        assert_eq!(r.serving(), None);
        r.deleted = false;
        r.enabled = false;
        assert_eq!(r.serving(), None);
    }

    #[test]
    fn records_written_before_generations_existed_still_parse() {
        let r: RouteRecord =
            serde_json::from_str(r#"{"projectId":"p","slug":"s","enabled":true,"activeDeploymentId":"d"}"#)
                .unwrap();
        assert_eq!((r.generation, r.deleted, r.aliases.len()), (0, false, 0));
    }
}
