//! What each management route needs, and what the audit trail calls it. One exhaustive table:
//! a new route does not compile until it says which scope it needs.

use super::Scope;
use crate::routing::ApiRoute;

/// The check `api::handle` runs before a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// A scope, no particular project (the handler narrows what it shows to the token's projects).
    Any(Scope),
    /// A scope and a token for every project (`"*"`).
    AllProjects(Scope),
    /// A scope on the project named (id or slug) in the path.
    Project(String, Scope),
    /// A scope on the project whose slug is the Worker name in a `/client/v4` path. Worker
    /// names resolve by slug only, never by id: a Worker named after a project's id names no
    /// project (it must not deploy into that one).
    Worker(String, Scope),
    /// A scope on the project that owns the deployment named in the path.
    Deployment(String, Scope),
    /// Authorised by the upload JWT in the request instead of an API token.
    UploadJwt,
    /// Authorised by the single-use secret in the URL (the `wrangler tail` WebSocket, whose
    /// upgrade carries no Authorization header); checked by the project's TailHub.
    TailTicket,
    /// Nothing to check (the route does not exist).
    Nothing,
}

/// The route's requirement and, for calls that change something, its audit action name.
pub fn policy(route: &ApiRoute) -> (Need, Option<&'static str>) {
    use ApiRoute::*;
    use Scope::{Admin, Manage, Read};
    let deploy = Scope::Deploy;
    let p = |key: &String, s: Scope| Need::Project(key.clone(), s);
    let d = |id: &String, s: Scope| Need::Deployment(id.clone(), s);
    match route {
        ListProjects => (Need::Any(Read), None),
        CreateProject => (Need::AllProjects(Manage), Some("project.create")),
        GetProject(k) => (p(k, Read), None),
        UpdateProject(k) => (p(k, Manage), Some("project.update")),
        DeleteProject(k) => (p(k, Manage), Some("project.delete")),
        CreateUploadSession(k) => (p(k, deploy), Some("upload.session")),
        UploadAssets(_) => (Need::UploadJwt, Some("upload.assets")),
        UploadRaw(..) => (Need::UploadJwt, Some("upload.raw")),
        Deploy(k) => (p(k, deploy), Some("deployment.create")),
        ListDeployments(k) => (p(k, Read), None),
        GetDeployment(id) => (d(id, Read), None),
        DeploymentLogs(id) => (d(id, Read), None),
        ProjectLogs(k) => (p(k, Read), None),
        ProjectTail(k) => (p(k, Read), None),
        Promote(id) => (d(id, deploy), Some("deployment.promote")),
        Rollback(k) => (p(k, deploy), Some("project.rollback")),
        GetRollout(k) => (p(k, Read), None),
        StartRollout(k) => (p(k, deploy), Some("rollout.start")),
        ControlRollout(k, _) => (p(k, deploy), Some("rollout.control")),
        ListAliases(k) => (p(k, Read), None),
        GetAlias(k, _) => (p(k, Read), None),
        PutAlias(k, _) => (p(k, Manage), Some("alias.put")),
        DeleteAlias(k, _) => (p(k, Manage), Some("alias.delete")),
        ListEnv(k) => (p(k, Read), None),
        PutEnv(k, ..) => (p(k, Manage), Some("env.put")),
        DeleteEnv(k, ..) => (p(k, Manage), Some("env.delete")),
        CreateBypassToken(k) => (p(k, Manage), Some("bypass.create")),
        DeleteBypassToken(k) => (p(k, Manage), Some("bypass.delete")),
        RunGc(k) => (p(k, Manage), Some("project.gc")),
        ListDomains(k) => (p(k, Read), None),
        GetDomain(k, _) => (p(k, Read), None),
        AddDomain(k) => (p(k, Manage), Some("domain.add")),
        VerifyDomain(k, _) => (p(k, Manage), Some("domain.verify")),
        DeleteDomain(k, _) => (p(k, Manage), Some("domain.delete")),
        // Hooks see a project's events: reading them is read, changing them is manage.
        ListWebhooks(k) | ListDrains(k) | ListDeliveries(k, _) => (p(k, Read), None),
        CreateWebhook(k) => (p(k, Manage), Some("webhook.create")),
        DeleteWebhook(k, _) => (p(k, Manage), Some("webhook.delete")),
        PingWebhook(k, _) => (p(k, Manage), Some("webhook.ping")),
        Redeliver(k, ..) => (p(k, Manage), Some("webhook.redeliver")),
        CreateDrain(k) => (p(k, Manage), Some("drain.create")),
        DeleteDrain(k, _) => (p(k, Manage), Some("drain.delete")),
        PreviewLink(id) => (d(id, deploy), Some("preview.link")),
        CreateToken => (Need::Any(Admin), Some("token.create")),
        ListTokens => (Need::Any(Admin), None),
        RevokeToken(_) => (Need::Any(Admin), Some("token.revoke")),
        ListAudit => (Need::Any(Admin), None),
        // Resources belong to no one project: the handler narrows to what the caller reaches.
        ListKvNamespaces => (Need::Any(Read), None),
        GetKvNamespace(_) => (Need::Any(Read), None),
        CreateKvNamespace => (Need::Any(Manage), Some("kv.create")),
        DeleteKvNamespace(_) => (Need::Any(Manage), Some("kv.delete")),
        ListBuckets | GetBucket(_) => (Need::Any(Read), None),
        CreateBucket => (Need::Any(Manage), Some("bucket.create")),
        DeleteBucket(_) => (Need::Any(Manage), Some("bucket.delete")),
        ListSqlDatabases => (Need::Any(Read), None),
        GetSqlDatabase(_) => (Need::Any(Read), None),
        CreateSqlDatabase => (Need::Any(Manage), Some("sql.create")),
        DeleteSqlDatabase(_) => (Need::Any(Manage), Some("sql.delete")),
        MethodNotAllowed(_) | NotFound => (Need::Nothing, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::match_api;

    #[test]
    fn reads_are_not_audited_and_writes_are() {
        let cases = [
            ("GET", "/projects", Need::Any(Scope::Read), None),
            ("POST", "/projects", Need::AllProjects(Scope::Manage), Some("project.create")),
            ("GET", "/projects/a", Need::Project("a".into(), Scope::Read), None),
            ("DELETE", "/projects/a", Need::Project("a".into(), Scope::Manage), Some("project.delete")),
            (
                "POST",
                "/projects/a/deploy",
                Need::Project("a".into(), Scope::Deploy),
                Some("deployment.create"),
            ),
            ("POST", "/projects/a/assets/upload", Need::UploadJwt, Some("upload.assets")),
            ("PUT", "/projects/a/assets/raw/h", Need::UploadJwt, Some("upload.raw")),
            ("GET", "/deployments/d", Need::Deployment("d".into(), Scope::Read), None),
            (
                "POST",
                "/deployments/d/promote",
                Need::Deployment("d".into(), Scope::Deploy),
                Some("deployment.promote"),
            ),
            ("POST", "/tokens", Need::Any(Scope::Admin), Some("token.create")),
            ("DELETE", "/tokens/tok_1", Need::Any(Scope::Admin), Some("token.revoke")),
            ("GET", "/audit", Need::Any(Scope::Admin), None),
            ("GET", "/kv/namespaces/n", Need::Any(Scope::Read), None),
            ("POST", "/kv/namespaces", Need::Any(Scope::Manage), Some("kv.create")),
            ("DELETE", "/kv/namespaces/n", Need::Any(Scope::Manage), Some("kv.delete")),
            ("POST", "/sql/databases", Need::Any(Scope::Manage), Some("sql.create")),
            ("DELETE", "/sql/databases/d", Need::Any(Scope::Manage), Some("sql.delete")),
            ("GET", "/sql/databases/d", Need::Any(Scope::Read), None),
            ("GET", "/nope", Need::Nothing, None),
        ];
        for (m, path, need, action) in cases {
            assert_eq!(policy(&match_api(m, path)), (need, action), "{m} {path}");
        }
    }
}
