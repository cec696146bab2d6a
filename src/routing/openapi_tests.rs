//! openapi.json and the route tables cannot drift apart: every documented `/__api` operation
//! routes to a handler, every documented path allows exactly the documented methods, every route
//! is reached by some documented operation, and every platform endpoint outside `/__api` is
//! documented (and every documented one exists).

use std::collections::BTreeSet;

use serde_json::Value;

use super::api::{match_api, ApiRoute};
use super::host::{route_request_with, PathMode, Target};

const OPENAPI: &str = include_str!("../../openapi.json");

/// One of every route. The match below stops compiling when a variant is added: add it to the
/// list too, and to openapi.json.
fn every_route() -> Vec<ApiRoute> {
    use ApiRoute::*;
    let s = String::new;
    let all = vec![
        ListProjects,
        CreateProject,
        GetProject(s()),
        UpdateProject(s()),
        DeleteProject(s()),
        CreateUploadSession(s()),
        UploadAssets(s()),
        UploadRaw(s(), s()),
        Deploy(s()),
        ListDeployments(s()),
        GetDeployment(s()),
        DeploymentLogs(s()),
        ProjectLogs(s()),
        ProjectTail(s()),
        Promote(s()),
        Rollback(s()),
        GetRollout(s()),
        StartRollout(s()),
        ControlRollout(s(), s()),
        ListAliases(s()),
        PutAlias(s(), s()),
        GetAlias(s(), s()),
        DeleteAlias(s(), s()),
        ListEnv(s()),
        PutEnv(s(), s(), s()),
        DeleteEnv(s(), s(), s()),
        CreateBypassToken(s()),
        DeleteBypassToken(s()),
        RunGc(s()),
        CreateToken,
        ListTokens,
        RevokeToken(s()),
        ListAudit,
        ListDomains(s()),
        AddDomain(s()),
        GetDomain(s(), s()),
        DeleteDomain(s(), s()),
        VerifyDomain(s(), s()),
        ListWebhooks(s()),
        CreateWebhook(s()),
        DeleteWebhook(s(), s()),
        PingWebhook(s(), s()),
        ListDeliveries(s(), s()),
        Redeliver(s(), s(), s()),
        ListDrains(s()),
        CreateDrain(s()),
        DeleteDrain(s(), s()),
        PreviewLink(s()),
        ListKvNamespaces,
        CreateKvNamespace,
        GetKvNamespace(s()),
        DeleteKvNamespace(s()),
        ListBuckets,
        CreateBucket,
        GetBucket(s()),
        DeleteBucket(s()),
        ListSqlDatabases,
        CreateSqlDatabase,
        GetSqlDatabase(s()),
        DeleteSqlDatabase(s()),
    ];
    for r in &all {
        match r {
            ListProjects
            | CreateProject
            | GetProject(_)
            | UpdateProject(_)
            | DeleteProject(_)
            | CreateUploadSession(_)
            | UploadAssets(_)
            | UploadRaw(..)
            | Deploy(_)
            | ListDeployments(_)
            | GetDeployment(_)
            | DeploymentLogs(_)
            | ProjectLogs(_)
            | ProjectTail(_)
            | Promote(_)
            | Rollback(_)
            | GetRollout(_)
            | StartRollout(_)
            | ControlRollout(..)
            | ListAliases(_)
            | PutAlias(..)
            | GetAlias(..)
            | DeleteAlias(..)
            | ListEnv(_)
            | PutEnv(..)
            | DeleteEnv(..)
            | CreateBypassToken(_)
            | DeleteBypassToken(_)
            | RunGc(_)
            | CreateToken
            | ListTokens
            | RevokeToken(_)
            | ListAudit
            | ListDomains(_)
            | AddDomain(_)
            | GetDomain(..)
            | DeleteDomain(..)
            | VerifyDomain(..)
            | PreviewLink(_)
            | ListWebhooks(_)
            | CreateWebhook(_)
            | DeleteWebhook(..)
            | PingWebhook(..)
            | ListDeliveries(..)
            | Redeliver(..)
            | ListDrains(_)
            | CreateDrain(_)
            | DeleteDrain(..)
            | ListKvNamespaces
            | CreateKvNamespace
            | GetKvNamespace(_)
            | DeleteKvNamespace(_)
            | ListBuckets
            | CreateBucket
            | GetBucket(_)
            | DeleteBucket(_) => {}
            ListSqlDatabases | CreateSqlDatabase | GetSqlDatabase(_) | DeleteSqlDatabase(_) => {}
            MethodNotAllowed(_) | NotFound => unreachable!("not a route"),
        }
    }
    all
}

fn variant(r: &ApiRoute) -> String {
    let d = format!("{r:?}");
    d.split('(').next().unwrap_or_default().to_string()
}

/// `/__api/projects/{id}/aliases/{name}` -> `/projects/p1/aliases/p3`.
fn concrete(template: &str) -> String {
    let rest = template.strip_prefix("/__api").unwrap_or(template);
    rest.split('/')
        .enumerate()
        .map(|(i, seg)| if seg.starts_with('{') { format!("p{i}") } else { seg.to_string() })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn openapi_and_the_route_table_agree() {
    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let mut reached = BTreeSet::new();
    for (template, ops) in paths.iter().filter(|(p, _)| p.starts_with("/__api/")) {
        let path = concrete(template);
        let documented: BTreeSet<String> = ops
            .as_object()
            .expect("operations")
            .keys()
            .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
            .map(|k| k.to_ascii_uppercase())
            .collect();
        assert!(!documented.is_empty(), "{template} documents no operation");
        for method in &documented {
            let route = match_api(method, &path);
            assert!(
                !matches!(route, ApiRoute::NotFound | ApiRoute::MethodNotAllowed(_)),
                "documented {method} {template} does not route ({route:?})"
            );
            reached.insert(variant(&route));
        }
        let ApiRoute::MethodNotAllowed(allowed) = match_api("BOGUS", &path) else {
            panic!("{template}: the router does not know this path");
        };
        let allowed: BTreeSet<String> = allowed.split(", ").map(str::to_string).collect();
        assert_eq!(allowed, documented, "{template}: methods the router allows vs the documented ones");
    }
    let all: BTreeSet<String> = every_route().iter().map(variant).collect();
    let missing: Vec<_> = all.difference(&reached).collect();
    assert!(missing.is_empty(), "routes no documented operation reaches: {missing:?}");
}

/// The platform host's own endpoints (everything outside `/__api`) and the paths openapi.json
/// documents for them. The match stops compiling when a `Target` is added: decide whether it is
/// a documented service endpoint.
fn service_target_name(t: &Target) -> Option<&'static str> {
    match t {
        Target::Mcp => Some("Mcp"),
        Target::ProtectedResource => Some("ProtectedResource"),
        Target::Health => Some("Health"),
        Target::OpenApi => Some("OpenApi"),
        Target::Docs => Some("Docs"),
        Target::ServiceInfo => Some("ServiceInfo"),
        Target::Dashboard { .. } => Some("Dashboard"),
        // Covered by the route-table tests (this file; src/compat/routes.rs for /client/v4), or
        // not a platform endpoint at all.
        Target::Api { .. }
        | Target::ClientV4 { .. }
        | Target::Project { .. }
        | Target::CustomDomain { .. }
        | Target::Redirect { .. }
        | Target::BadPath
        | Target::NotFound => None,
    }
}

#[test]
fn openapi_documents_every_platform_endpoint() {
    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    let paths = doc["paths"].as_object().expect("paths");
    let mut reached = BTreeSet::new();
    for template in paths.keys().filter(|p| !p.starts_with("/__api/") && !p.starts_with("/client/v4/")) {
        assert!(!template.contains('{'), "{template}: service paths take no parameters");
        let target = route_request_with("localhost:8787", template, "", "localhost", PathMode::Local);
        let name = service_target_name(&target)
            .unwrap_or_else(|| panic!("documented {template} is not a platform endpoint ({target:?})"));
        reached.insert(name);
    }
    let all = [
        Target::Mcp,
        Target::ProtectedResource,
        Target::Health,
        Target::OpenApi,
        Target::Docs,
        Target::ServiceInfo,
        Target::Dashboard { path: String::new() },
    ];
    for t in &all {
        let name = service_target_name(t).expect("a service target");
        assert!(reached.contains(name), "{name} is not documented in openapi.json");
    }
    for path in crate::ui::paths() {
        assert!(paths.contains_key(path), "the embedded UI file {path} is not documented in openapi.json");
    }
}
