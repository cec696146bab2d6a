//! The routing record visitors' requests read from ROUTES_KV (`route:<slug>` and
//! `route:<id>`): the one pointer that activation swaps.

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
}

impl RouteRecord {
    /// The deployment a visitor should see, if the project serves at all.
    pub fn serving(&self) -> Option<&str> {
        if self.enabled {
            self.active_deployment_id.as_deref()
        } else {
            None
        }
    }
}

pub fn route_key(slug_or_id: &str) -> String {
    format!("route:{}", slug_or_id.to_ascii_lowercase())
}

pub fn manifest_key(deployment_id: &str) -> String {
    format!("manifest:{deployment_id}")
}

/// ASSETS_KV key of a body: per-project namespacing means one project can never read or
/// probe another's files, even with the same content hash.
pub fn asset_key(project_id: &str, hash: &str) -> String {
    format!("{project_id}:{hash}")
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
        };
        assert_eq!(r.serving(), None);
        r.active_deployment_id = Some("d".into());
        assert_eq!(r.serving(), Some("d"));
        r.enabled = false;
        assert_eq!(r.serving(), None);
    }

    #[test]
    fn keys() {
        assert_eq!(route_key("Blog"), "route:blog");
        assert_eq!(asset_key("p1", "ab"), "p1:ab");
        assert_eq!(manifest_key("d1"), "manifest:d1");
    }
}
