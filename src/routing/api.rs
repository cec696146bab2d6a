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
    Deploy(String),
    ListDeployments(String),
    GetDeployment(String),
    DeploymentLogs(String),
    Promote(String),
    Rollback(String),
    ListAliases(String),
    /// (project, alias name)
    PutAlias(String, String),
    GetAlias(String, String),
    DeleteAlias(String, String),
    RunGc(String),
    /// `POST /deployments/:id/preview-link`
    PreviewLink(String),
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
        ["projects", _, "deploy"] => ("POST", (method == "POST").then(|| Deploy(id(1)))),
        ["projects", _, "deployments"] => ("GET", (method == "GET").then(|| ListDeployments(id(1)))),
        ["deployments", _] => ("GET", (method == "GET").then(|| GetDeployment(id(1)))),
        ["deployments", _, "logs"] => ("GET", (method == "GET").then(|| DeploymentLogs(id(1)))),
        ["deployments", _, "promote"] => ("POST", (method == "POST").then(|| Promote(id(1)))),
        ["deployments", _, "preview-link"] => ("POST", (method == "POST").then(|| PreviewLink(id(1)))),
        ["projects", _, "rollback"] => ("POST", (method == "POST").then(|| Rollback(id(1)))),
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
            ("POST", "/projects/abc/deploy", Deploy("abc".into())),
            ("GET", "/projects/abc/deployments", ListDeployments("abc".into())),
            ("GET", "/deployments/d1", GetDeployment("d1".into())),
            ("GET", "/deployments/d1/logs", DeploymentLogs("d1".into())),
            ("POST", "/deployments/d1/promote", Promote("d1".into())),
            ("POST", "/deployments/d1/preview-link", PreviewLink("d1".into())),
            ("GET", "/deployments/d1/preview-link", MethodNotAllowed("POST")),
            ("POST", "/projects/abc/rollback", Rollback("abc".into())),
            ("POST", "/projects/abc/gc", RunGc("abc".into())),
            ("GET", "/projects/abc/aliases", ListAliases("abc".into())),
            ("PUT", "/projects/abc/aliases/staging", PutAlias("abc".into(), "staging".into())),
            ("GET", "/projects/abc/aliases/staging", GetAlias("abc".into(), "staging".into())),
            ("DELETE", "/projects/abc/aliases/staging", DeleteAlias("abc".into(), "staging".into())),
            ("POST", "/projects/abc/aliases/staging", MethodNotAllowed("GET, PUT, DELETE")),
            ("GET", "/projects/abc/rollback", MethodNotAllowed("POST")),
            ("PUT", "/projects", MethodNotAllowed("GET, POST")),
            ("POST", "/projects/abc", MethodNotAllowed("GET, PATCH, DELETE")),
            ("GET", "/projects/abc/deploy", MethodNotAllowed("POST")),
            ("GET", "/", NotFound),
            ("GET", "/nope", NotFound),
            ("GET", "/projects/a/b/c/d", NotFound),
        ];
        for (m, p, want) in cases {
            assert_eq!(match_api(m, p), want, "{m} {p}");
        }
    }
}
