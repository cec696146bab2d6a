//! What wrangler sees of a project's history (pure): `GET .../versions` (the deployments that
//! can serve, newest first), `GET .../deployments` (activations: the active one first, then
//! every other one that went live, latest first; `wrangler rollback` without an id picks the
//! second), and which switch `POST .../deployments` makes. `api/cf.rs` loads the rows and
//! answers with these.

use serde_json::{json, Value};

use super::{render_deployment, render_split, render_version, CfTraffic, VersionView};
use crate::error::ApiError;
use crate::lifecycle::{Explicit, Status};

/// Who wrangler shows as the author of every version and deployment.
pub const AUTHOR: &str = "flotilla";

/// A deployment as the wrangler surface needs it (from its D1 row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed<'a> {
    pub id: &'a str,
    pub seq: i64,
    pub status: &'a str,
    pub created_ms: i64,
    /// When it last went live (`None`: never served production).
    pub activated_ms: Option<i64>,
    /// The stored deploy config (`deployments.config`); its `server` says whether it has code.
    pub config: &'a str,
}

impl Deployed<'_> {
    fn has_server_code(&self) -> bool {
        serde_json::from_str::<Value>(self.config).ok().is_some_and(|c| !c["server"].is_null())
    }
}

/// The versions wrangler may list, view and roll back to: ready deployments (completed,
/// superseded, rolled back), newest first (created, then id, both descending).
pub fn deployable(mut rows: Vec<Deployed<'_>>) -> Vec<Deployed<'_>> {
    rows.retain(|d| Status::ready_str(d.status));
    rows.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then_with(|| b.id.cmp(a.id)));
    rows
}

/// One deployment as a Cloudflare version.
pub fn version_of(d: &Deployed) -> Value {
    render_version(&VersionView {
        id: d.id,
        number: d.seq,
        created_ms: d.created_ms,
        author: AUTHOR,
        has_server_code: d.has_server_code(),
    })
}

/// `GET .../versions`: every deployable version.
pub fn versions_list(rows: Vec<Deployed<'_>>) -> Value {
    json!({ "items": deployable(rows).iter().map(version_of).collect::<Vec<_>>() })
}

/// `GET .../versions/:id`: only a deployable version of this project is found.
pub fn version_by_id(rows: Vec<Deployed<'_>>, id: &str) -> Result<Value, ApiError> {
    deployable(rows).iter().find(|d| d.id == id).map(version_of).ok_or_else(|| ApiError::not_found("Version"))
}

/// `GET .../deployments`: Cloudflare deployments are activations. The active deployment comes
/// first and is the latest: dated when the project last changed or it went live, and always
/// after every earlier activation (so "latest" never ties or goes backwards). Then every other
/// deployable one that went live, latest activation first. Never-activated ones (staged
/// previews) are versions, not deployments.
/// `split`: a live rollout's (new deployment, percent): the current deployment then serves
/// both, the new one first (as `wrangler versions deploy` and `deployments status` show it).
pub fn deployments_list(
    active: Option<&str>,
    project_updated_ms: i64,
    rows: Vec<Deployed<'_>>,
    split: Option<(&str, u8)>,
) -> Value {
    let rows = deployable(rows);
    let is_active = |d: &Deployed| active == Some(d.id);
    let mut past: Vec<&Deployed> =
        rows.iter().filter(|d| d.activated_ms.is_some() && !is_active(d)).collect();
    past.sort_by_key(|d| std::cmp::Reverse(d.activated_ms));
    let mut out = Vec::new();
    if let Some(current) = rows.iter().find(|d| is_active(d)) {
        let latest = past.first().and_then(|d| d.activated_ms).unwrap_or(0);
        let at = project_updated_ms.max(current.activated_ms.unwrap_or(0)).max(latest.saturating_add(1));
        out.push(match split {
            Some((to, pct)) => {
                render_split(current.id, at, AUTHOR, None, &[(to, pct), (current.id, 100 - pct)])
            }
            None => render_deployment(current.id, at, AUTHOR, None),
        });
    }
    out.extend(
        past.iter().map(|d| render_deployment(d.id, d.activated_ms.unwrap_or(d.created_ms), AUTHOR, None)),
    );
    json!({ "deployments": out })
}

/// `POST .../deployments {versions: [{version_id, percentage: 100}]}`: which switch serving
/// `target` is, given `(project_id, seq)` of the target and of the active deployment as
/// stored. A version of another project (or none) is not found; one newer than what serves is
/// a version going live (`wrangler deploy` after a version upload), any other a rollback.
pub fn switch_kind(
    project_id: &str,
    target: Option<(&str, i64)>,
    active: Option<(&str, i64)>,
) -> Result<Explicit, ApiError> {
    let of_project = |d: Option<(&str, i64)>| d.filter(|(p, _)| *p == project_id).map(|(_, seq)| seq);
    let target = of_project(target).ok_or_else(|| ApiError::not_found("Version"))?;
    if target > of_project(active).unwrap_or(0) {
        Ok(Explicit::Promote)
    } else {
        Ok(Explicit::Rollback)
    }
}

/// What a `POST .../deployments` does, given the active deployment and the one a live
/// rollout serves (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CfAction {
    /// Serve this version alone (`switch_kind` says whether it is a promote or a rollback).
    Switch(String),
    /// The version being rolled out, at 100 %: complete the rollout.
    Complete,
    /// The active version at 100 % while a rollout runs: abort it.
    Abort,
    /// Two versions: the active one and `to`, which gets `percent` (1-99) of production.
    Hold { to: String, percent: u8 },
}

pub fn traffic_action(
    t: &CfTraffic,
    active: Option<&str>,
    rolling: Option<&str>,
) -> Result<CfAction, ApiError> {
    match t {
        CfTraffic::One(id) if rolling == Some(id.as_str()) => Ok(CfAction::Complete),
        CfTraffic::One(id) if rolling.is_some() && active == Some(id.as_str()) => Ok(CfAction::Abort),
        CfTraffic::One(id) => Ok(CfAction::Switch(id.clone())),
        CfTraffic::Split([(a, pa), (b, pb)]) => {
            let (to, pct) = if active == Some(a.as_str()) {
                (b, *pb)
            } else if active == Some(b.as_str()) {
                (a, *pa)
            } else {
                return Err(ApiError::bad(
                    "versions",
                    "one of the two versions must be the one serving now (split between it and one new version)",
                ));
            };
            Ok(CfAction::Hold { to: to.clone(), percent: pct.round().clamp(1.0, 99.0) as u8 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = r#"{"server":{"digest":"x"}}"#;

    fn d(id: &str, seq: i64, status: &'static str, activated: Option<i64>) -> Deployed<'static> {
        let id: &'static str = Box::leak(id.to_string().into_boxed_str());
        Deployed { id, seq, status, created_ms: seq * 1_000, activated_ms: activated, config: "{}" }
    }

    /// v1 went live then was replaced, v2 was rolled back from, v3 is active, v4 is a staged
    /// preview never served, v5 failed, v6 is still running. Given oldest first, as D1 never does.
    fn history() -> Vec<Deployed<'static>> {
        vec![
            d("v1", 1, "superseded", Some(1_500)),
            d("v2", 2, "rolled_back", Some(2_500)),
            Deployed { config: CODE, ..d("v3", 3, "completed", Some(3_500)) },
            d("v4", 4, "superseded", None),
            d("v5", 5, "failed", None),
            d("v6", 6, "in_progress", None),
        ]
    }

    fn ids(v: &Value, list: &str, field: &str) -> Vec<String> {
        v[list].as_array().unwrap().iter().map(|x| x[field].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn versions_are_the_ready_deployments_newest_first() {
        let v = versions_list(history());
        assert_eq!(ids(&v, "items", "id"), ["v4", "v3", "v2", "v1"]);
        let items = v["items"].as_array().unwrap();
        assert_eq!(items[1]["number"], 3);
        assert_eq!(items[1]["resources"]["script"]["handlers"], json!(["fetch"]), "v3 has server code");
        assert_eq!(items[0]["resources"]["script"]["handlers"], json!([]));
        assert_eq!(items[0]["metadata"]["author_email"], AUTHOR);
        // Same created time: the larger id first (D1's `created_at DESC, id DESC`).
        let tie = vec![
            Deployed { created_ms: 9, ..d("a", 1, "completed", None) },
            Deployed { created_ms: 9, ..d("b", 2, "completed", None) },
        ];
        assert_eq!(ids(&versions_list(tie), "items", "id"), ["b", "a"]);
    }

    #[test]
    fn only_a_deployable_version_is_found() {
        assert_eq!(version_by_id(history(), "v2").unwrap()["id"], "v2");
        for id in ["v5", "v6", "nope", ""] {
            let e = version_by_id(history(), id).unwrap_err();
            assert_eq!(e.status(), 404, "{id}");
        }
    }

    #[test]
    fn deployments_put_the_active_one_first_then_past_activations_latest_first() {
        let v = deployments_list(Some("v3"), 3_600, history(), None);
        assert_eq!(
            ids(&v, "deployments", "id"),
            ["v3", "v2", "v1"],
            "v4 never went live; v5/v6 are not ready"
        );
        let first = &v["deployments"][0];
        assert_eq!(first["strategy"], "percentage");
        assert_eq!(first["versions"], json!([{ "version_id": "v3", "percentage": 100.0 }]));
        assert_eq!(first["created_on"], crate::domain::iso8601(3_600));
        assert_eq!(v["deployments"][1]["created_on"], crate::domain::iso8601(2_500));
    }

    #[test]
    fn the_active_deployment_is_always_the_latest() {
        // A rollback to v1 (activated long ago, project row older than v2's activation on a
        // skewed clock): v1 still comes first, and is dated after v2.
        let mut rows = history();
        rows[2].status = "superseded";
        let v = deployments_list(Some("v1"), 100, rows, None);
        assert_eq!(ids(&v, "deployments", "id"), ["v1", "v3", "v2"]);
        assert_eq!(v["deployments"][0]["created_on"], crate::domain::iso8601(3_501));
        // Nothing active (a disabled or fresh project): only past activations.
        assert_eq!(ids(&deployments_list(None, 0, history(), None), "deployments", "id"), ["v3", "v2", "v1"]);
        // An active id that is not deployable is not shown as active.
        assert_eq!(
            ids(&deployments_list(Some("v6"), 0, history(), None), "deployments", "id"),
            ["v3", "v2", "v1"]
        );
        assert_eq!(deployments_list(None, 0, Vec::new(), None), json!({ "deployments": [] }));
    }

    #[test]
    fn a_post_promotes_newer_versions_rolls_back_to_older_ones_and_never_crosses_projects() {
        let active = Some(("p1", 3));
        assert_eq!(switch_kind("p1", Some(("p1", 4)), active).unwrap(), Explicit::Promote);
        assert_eq!(switch_kind("p1", Some(("p1", 2)), active).unwrap(), Explicit::Rollback);
        assert_eq!(
            switch_kind("p1", Some(("p1", 3)), active).unwrap(),
            Explicit::Rollback,
            "the active one again"
        );
        assert_eq!(
            switch_kind("p1", Some(("p1", 1)), None).unwrap(),
            Explicit::Promote,
            "nothing serves yet"
        );
        // An active row of another project (cannot happen) counts as nothing serving.
        assert_eq!(switch_kind("p1", Some(("p1", 1)), Some(("p2", 9))).unwrap(), Explicit::Promote);
        for target in [None, Some(("p2", 4))] {
            assert_eq!(switch_kind("p1", target, active).unwrap_err().status(), 404, "{target:?}");
        }
    }

    #[test]
    fn versions_deploy_splits_between_the_active_and_one_new_version() {
        let split = |a: &str, pa: f64, b: &str, pb: f64| CfTraffic::Split([(a.into(), pa), (b.into(), pb)]);
        let hold = |to: &str, percent| Ok(CfAction::Hold { to: to.into(), percent });
        assert_eq!(traffic_action(&split("v4", 10.0, "v3", 90.0), Some("v3"), None), hold("v4", 10));
        assert_eq!(traffic_action(&split("v3", 70.4, "v4", 29.6), Some("v3"), Some("v4")), hold("v4", 30));
        assert_eq!(traffic_action(&split("v3", 99.9, "v4", 0.1), Some("v3"), None), hold("v4", 1));
        assert!(
            traffic_action(&split("v4", 50.0, "v5", 50.0), Some("v3"), None).is_err(),
            "neither serves now"
        );
        let one = |id: &str| CfTraffic::One(id.into());
        assert_eq!(traffic_action(&one("v4"), Some("v3"), Some("v4")), Ok(CfAction::Complete));
        assert_eq!(traffic_action(&one("v3"), Some("v3"), Some("v4")), Ok(CfAction::Abort));
        assert_eq!(traffic_action(&one("v2"), Some("v3"), Some("v4")), Ok(CfAction::Switch("v2".into())));
        assert_eq!(traffic_action(&one("v4"), Some("v3"), None), Ok(CfAction::Switch("v4".into())));
        // Listed as Cloudflare shows a split: the new version first.
        let v = deployments_list(Some("v3"), 3_600, history(), Some(("v4", 10)));
        assert_eq!(
            v["deployments"][0]["versions"],
            json!([{ "version_id": "v4", "percentage": 10.0 }, { "version_id": "v3", "percentage": 90.0 }])
        );
    }
}
