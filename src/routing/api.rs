//! Management API route table: method + path (below `/__api`) -> `ApiRoute`. Unknown paths
//! are `NotFound`; known paths with the wrong method are `MethodNotAllowed` (405 + Allow).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRoute {
    ListProjects,
    CreateProject,
    GetProject(String),
    UpdateProject(String),
    DeleteProject(String),
    CreateUploadSession(String),
    UploadAssets(String),
    /// `PUT /projects/:id/assets/raw/:hash`: (project, hash)
    UploadRaw(String, String),
    Deploy(String),
    ListDeployments(String),
    GetDeployment(String),
    DeploymentLogs(String),
    /// `GET /projects/:id/logs`: kept invocation logs of its server code
    ProjectLogs(String),
    /// `GET /projects/:id/tail`: its server code's runs as they happen (Server-Sent Events)
    ProjectTail(String),
    Promote(String),
    Rollback(String),
    /// `GET /projects/:id/rollouts`: the current (or last) rollout
    GetRollout(String),
    /// `POST /projects/:id/rollouts`: start one
    StartRollout(String),
    /// `POST /projects/:id/rollouts/current/:action` (pause, resume, complete, abort)
    ControlRollout(String, String),
    ListAliases(String),
    /// (project, alias name)
    PutAlias(String, String),
    GetAlias(String, String),
    DeleteAlias(String, String),
    ListEnv(String),
    /// (project, scope, name)
    PutEnv(String, String, String),
    DeleteEnv(String, String, String),
    CreateBypassToken(String),
    DeleteBypassToken(String),
    RunGc(String),
    CreateToken,
    ListTokens,
    RevokeToken(String),
    ListAudit,
    ListDomains(String),
    AddDomain(String),
    /// (project, hostname as written in the path)
    GetDomain(String, String),
    DeleteDomain(String, String),
    VerifyDomain(String, String),
    /// `/projects/:id/webhooks[/:hid[/ping|/deliveries[/:did/redeliver]]]`: (project, hook, delivery)
    ListWebhooks(String),
    CreateWebhook(String),
    DeleteWebhook(String, String),
    PingWebhook(String, String),
    ListDeliveries(String, String),
    Redeliver(String, String, String),
    /// `/projects/:id/drains[/:did]`
    ListDrains(String),
    CreateDrain(String),
    DeleteDrain(String, String),
    /// `POST /deployments/:id/preview-link`
    PreviewLink(String),
    ListKvNamespaces,
    CreateKvNamespace,
    GetKvNamespace(String),
    DeleteKvNamespace(String),
    ListBuckets,
    CreateBucket,
    GetBucket(String),
    DeleteBucket(String),
    ListSqlDatabases,
    CreateSqlDatabase,
    GetSqlDatabase(String),
    DeleteSqlDatabase(String),
    MethodNotAllowed(&'static str),
    NotFound,
}

/// Matches a request below `/__api`. `path` must not contain the query string.
pub fn match_api(method: &str, path: &str) -> ApiRoute {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let id = |i: usize| segs[i].to_string();
    use ApiRoute::*;
    let (allowed, route): (&'static str, Option<ApiRoute>) = match segs.as_slice() {
        ["projects"] => (
            "GET, POST",
            match method {
                "GET" => Some(ListProjects),
                "POST" => Some(CreateProject),
                _ => None,
            },
        ),
        ["projects", _] => (
            "GET, PATCH, DELETE",
            match method {
                "GET" => Some(GetProject(id(1))),
                "PATCH" => Some(UpdateProject(id(1))),
                "DELETE" => Some(DeleteProject(id(1))),
                _ => None,
            },
        ),
        ["projects", _, "assets-upload-session"] => {
            ("POST", (method == "POST").then(|| CreateUploadSession(id(1))))
        }
        ["projects", _, "assets", "upload"] => ("POST", (method == "POST").then(|| UploadAssets(id(1)))),
        ["projects", _, "assets", "raw", _] => ("PUT", (method == "PUT").then(|| UploadRaw(id(1), id(4)))),
        ["projects", _, "deploy"] => ("POST", (method == "POST").then(|| Deploy(id(1)))),
        ["projects", _, "deployments"] => ("GET", (method == "GET").then(|| ListDeployments(id(1)))),
        ["deployments", _] => ("GET", (method == "GET").then(|| GetDeployment(id(1)))),
        ["projects", _, "logs"] => ("GET", (method == "GET").then(|| ProjectLogs(id(1)))),
        ["projects", _, "tail"] => ("GET", (method == "GET").then(|| ProjectTail(id(1)))),
        ["deployments", _, "logs"] => ("GET", (method == "GET").then(|| DeploymentLogs(id(1)))),
        ["deployments", _, "promote"] => ("POST", (method == "POST").then(|| Promote(id(1)))),
        ["deployments", _, "preview-link"] => ("POST", (method == "POST").then(|| PreviewLink(id(1)))),
        ["projects", _, "rollback"] => ("POST", (method == "POST").then(|| Rollback(id(1)))),
        ["projects", _, "rollouts"] => (
            "GET, POST",
            match method {
                "GET" => Some(GetRollout(id(1))),
                "POST" => Some(StartRollout(id(1))),
                _ => None,
            },
        ),
        ["projects", _, "rollouts", "current", _] => {
            ("POST", (method == "POST").then(|| ControlRollout(id(1), id(4))))
        }
        ["projects", _, "gc"] => ("POST", (method == "POST").then(|| RunGc(id(1)))),
        ["projects", _, "aliases"] => ("GET", (method == "GET").then(|| ListAliases(id(1)))),
        ["projects", _, "aliases", _] => (
            "GET, PUT, DELETE",
            match method {
                "GET" => Some(GetAlias(id(1), id(3))),
                "PUT" => Some(PutAlias(id(1), id(3))),
                "DELETE" => Some(DeleteAlias(id(1), id(3))),
                _ => None,
            },
        ),
        ["projects", _, "env"] => ("GET", (method == "GET").then(|| ListEnv(id(1)))),
        ["projects", _, "env", _, _] => (
            "PUT, DELETE",
            match method {
                "PUT" => Some(PutEnv(id(1), id(3), id(4))),
                "DELETE" => Some(DeleteEnv(id(1), id(3), id(4))),
                _ => None,
            },
        ),
        ["projects", _, "bypass-token"] => (
            "POST, DELETE",
            match method {
                "POST" => Some(CreateBypassToken(id(1))),
                "DELETE" => Some(DeleteBypassToken(id(1))),
                _ => None,
            },
        ),
        ["tokens"] => (
            "GET, POST",
            match method {
                "GET" => Some(ListTokens),
                "POST" => Some(CreateToken),
                _ => None,
            },
        ),
        ["tokens", _] => ("DELETE", (method == "DELETE").then(|| RevokeToken(id(1)))),
        ["audit"] => ("GET", (method == "GET").then_some(ListAudit)),
        ["projects", _, "domains"] => (
            "GET, POST",
            match method {
                "GET" => Some(ListDomains(id(1))),
                "POST" => Some(AddDomain(id(1))),
                _ => None,
            },
        ),
        ["projects", _, "domains", _] => (
            "GET, DELETE",
            match method {
                "GET" => Some(GetDomain(id(1), id(3))),
                "DELETE" => Some(DeleteDomain(id(1), id(3))),
                _ => None,
            },
        ),
        ["projects", _, "domains", _, "verify"] => {
            ("POST", (method == "POST").then(|| VerifyDomain(id(1), id(3))))
        }
        ["projects", _, "webhooks"] => (
            "GET, POST",
            match method {
                "GET" => Some(ListWebhooks(id(1))),
                "POST" => Some(CreateWebhook(id(1))),
                _ => None,
            },
        ),
        ["projects", _, "webhooks", _] => {
            ("DELETE", (method == "DELETE").then(|| DeleteWebhook(id(1), id(3))))
        }
        ["projects", _, "webhooks", _, "ping"] => {
            ("POST", (method == "POST").then(|| PingWebhook(id(1), id(3))))
        }
        ["projects", _, "webhooks", _, "deliveries"] => {
            ("GET", (method == "GET").then(|| ListDeliveries(id(1), id(3))))
        }
        ["projects", _, "webhooks", _, "deliveries", _, "redeliver"] => {
            ("POST", (method == "POST").then(|| Redeliver(id(1), id(3), id(5))))
        }
        ["projects", _, "drains"] => (
            "GET, POST",
            match method {
                "GET" => Some(ListDrains(id(1))),
                "POST" => Some(CreateDrain(id(1))),
                _ => None,
            },
        ),
        ["projects", _, "drains", _] => ("DELETE", (method == "DELETE").then(|| DeleteDrain(id(1), id(3)))),
        ["kv", "namespaces"] => (
            "GET, POST",
            match method {
                "GET" => Some(ListKvNamespaces),
                "POST" => Some(CreateKvNamespace),
                _ => None,
            },
        ),
        ["kv", "namespaces", _] => (
            "GET, DELETE",
            match method {
                "GET" => Some(GetKvNamespace(id(2))),
                "DELETE" => Some(DeleteKvNamespace(id(2))),
                _ => None,
            },
        ),
        ["buckets"] => (
            "GET, POST",
            match method {
                "GET" => Some(ListBuckets),
                "POST" => Some(CreateBucket),
                _ => None,
            },
        ),
        ["buckets", _] => (
            "GET, DELETE",
            match method {
                "GET" => Some(GetBucket(id(1))),
                "DELETE" => Some(DeleteBucket(id(1))),
                _ => None,
            },
        ),
        ["sql", "databases"] => (
            "GET, POST",
            match method {
                "GET" => Some(ListSqlDatabases),
                "POST" => Some(CreateSqlDatabase),
                _ => None,
            },
        ),
        ["sql", "databases", _] => (
            "GET, DELETE",
            match method {
                "GET" => Some(GetSqlDatabase(id(2))),
                "DELETE" => Some(DeleteSqlDatabase(id(2))),
                _ => None,
            },
        ),
        _ => return NotFound,
    };
    // HEAD is GET without a body wherever GET is allowed.
    match route {
        Some(r) => r,
        None if method == "HEAD" && allowed.contains("GET") => match_api("GET", path),
        None => MethodNotAllowed(allowed),
    }
}

#[cfg(test)]
mod tests {
    use super::ApiRoute::*;
    use super::*;

    #[test]
    fn route_table() {
        let cases = [
            ("GET", "/projects", ListProjects),
            ("POST", "/projects/", CreateProject),
            ("GET", "/projects/abc", GetProject("abc".into())),
            ("HEAD", "/projects/abc", GetProject("abc".into())),
            ("PATCH", "/projects/abc", UpdateProject("abc".into())),
            ("DELETE", "/projects/abc", DeleteProject("abc".into())),
            ("POST", "/projects/abc/assets-upload-session", CreateUploadSession("abc".into())),
            ("POST", "/projects/abc/assets/upload", UploadAssets("abc".into())),
            ("PUT", "/projects/abc/assets/raw/h1", UploadRaw("abc".into(), "h1".into())),
            ("POST", "/projects/abc/deploy", Deploy("abc".into())),
            ("GET", "/projects/abc/deployments", ListDeployments("abc".into())),
            ("GET", "/deployments/d1", GetDeployment("d1".into())),
            ("GET", "/deployments/d1/logs", DeploymentLogs("d1".into())),
            ("POST", "/deployments/d1/promote", Promote("d1".into())),
            ("POST", "/deployments/d1/preview-link", PreviewLink("d1".into())),
            ("GET", "/deployments/d1/preview-link", MethodNotAllowed("POST")),
            ("POST", "/projects/abc/rollback", Rollback("abc".into())),
            ("GET", "/projects/abc/rollouts", GetRollout("abc".into())),
            ("POST", "/projects/abc/rollouts", StartRollout("abc".into())),
            ("POST", "/projects/abc/rollouts/current/pause", ControlRollout("abc".into(), "pause".into())),
            ("POST", "/projects/abc/gc", RunGc("abc".into())),
            ("GET", "/projects/abc/aliases", ListAliases("abc".into())),
            ("GET", "/projects/abc/logs", ProjectLogs("abc".into())),
            ("GET", "/projects/abc/tail", ProjectTail("abc".into())),
            ("PUT", "/projects/abc/aliases/staging", PutAlias("abc".into(), "staging".into())),
            ("GET", "/projects/abc/aliases/staging", GetAlias("abc".into(), "staging".into())),
            ("DELETE", "/projects/abc/aliases/staging", DeleteAlias("abc".into(), "staging".into())),
            ("POST", "/projects/abc/aliases/staging", MethodNotAllowed("GET, PUT, DELETE")),
            ("GET", "/projects/abc/env", ListEnv("abc".into())),
            (
                "PUT",
                "/projects/abc/env/alias:qa/API_URL",
                PutEnv("abc".into(), "alias:qa".into(), "API_URL".into()),
            ),
            ("DELETE", "/projects/abc/env/preview/X", DeleteEnv("abc".into(), "preview".into(), "X".into())),
            ("GET", "/projects/abc/env/preview/X", MethodNotAllowed("PUT, DELETE")),
            ("POST", "/projects/abc/bypass-token", CreateBypassToken("abc".into())),
            ("DELETE", "/projects/abc/bypass-token", DeleteBypassToken("abc".into())),
            ("GET", "/projects/abc/bypass-token", MethodNotAllowed("POST, DELETE")),
            ("GET", "/projects/abc/rollback", MethodNotAllowed("POST")),
            ("GET", "/projects/abc/domains", ListDomains("abc".into())),
            ("GET", "/projects/abc/webhooks", ListWebhooks("abc".into())),
            ("POST", "/projects/abc/webhooks", CreateWebhook("abc".into())),
            ("DELETE", "/projects/abc/webhooks/h1", DeleteWebhook("abc".into(), "h1".into())),
            ("POST", "/projects/abc/webhooks/h1/ping", PingWebhook("abc".into(), "h1".into())),
            ("GET", "/projects/abc/webhooks/h1/deliveries", ListDeliveries("abc".into(), "h1".into())),
            (
                "POST",
                "/projects/abc/webhooks/h1/deliveries/m1/redeliver",
                Redeliver("abc".into(), "h1".into(), "m1".into()),
            ),
            ("GET", "/projects/abc/drains", ListDrains("abc".into())),
            ("POST", "/projects/abc/drains", CreateDrain("abc".into())),
            ("DELETE", "/projects/abc/drains/d1", DeleteDrain("abc".into(), "d1".into())),
            ("GET", "/projects/abc/webhooks/h1", MethodNotAllowed("DELETE")),
            ("POST", "/projects/abc/domains", AddDomain("abc".into())),
            ("GET", "/projects/abc/domains/www.a.com", GetDomain("abc".into(), "www.a.com".into())),
            ("DELETE", "/projects/abc/domains/www.a.com", DeleteDomain("abc".into(), "www.a.com".into())),
            (
                "POST",
                "/projects/abc/domains/www.a.com/verify",
                VerifyDomain("abc".into(), "www.a.com".into()),
            ),
            ("PUT", "/projects/abc/domains/www.a.com", MethodNotAllowed("GET, DELETE")),
            ("GET", "/projects/abc/domains/www.a.com/verify", MethodNotAllowed("POST")),
            ("PUT", "/projects", MethodNotAllowed("GET, POST")),
            ("POST", "/projects/abc", MethodNotAllowed("GET, PATCH, DELETE")),
            ("GET", "/projects/abc/deploy", MethodNotAllowed("POST")),
            ("POST", "/tokens", CreateToken),
            ("GET", "/tokens", ListTokens),
            ("DELETE", "/tokens/tok_1", RevokeToken("tok_1".into())),
            ("GET", "/tokens/tok_1", MethodNotAllowed("DELETE")),
            ("GET", "/audit", ListAudit),
            ("GET", "/kv/namespaces", ListKvNamespaces),
            ("POST", "/kv/namespaces/", CreateKvNamespace),
            ("GET", "/kv/namespaces/n1", GetKvNamespace("n1".into())),
            ("DELETE", "/kv/namespaces/n1", DeleteKvNamespace("n1".into())),
            ("PUT", "/kv/namespaces/n1", MethodNotAllowed("GET, DELETE")),
            ("DELETE", "/kv/namespaces", MethodNotAllowed("GET, POST")),
            ("GET", "/kv", NotFound),
            ("GET", "/buckets", ListBuckets),
            ("POST", "/buckets/", CreateBucket),
            ("GET", "/buckets/b1", GetBucket("b1".into())),
            ("DELETE", "/buckets/b1", DeleteBucket("b1".into())),
            ("PUT", "/buckets/b1", MethodNotAllowed("GET, DELETE")),
            ("GET", "/buckets/b1/objects", NotFound),
            ("GET", "/sql/databases", ListSqlDatabases),
            ("POST", "/sql/databases", CreateSqlDatabase),
            ("GET", "/sql/databases/d1", GetSqlDatabase("d1".into())),
            ("DELETE", "/sql/databases/d1", DeleteSqlDatabase("d1".into())),
            ("PATCH", "/sql/databases/d1", MethodNotAllowed("GET, DELETE")),
            ("GET", "/sql", NotFound),
            ("GET", "/", NotFound),
            ("GET", "/nope", NotFound),
            ("GET", "/projects/a/b/c/d", NotFound),
        ];
        for (m, p, want) in cases {
            assert_eq!(match_api(m, p), want, "{m} {p}");
        }
    }
}
