//! The MCP tool-to-API mapping (pure): each [`ToolCall`] becomes the management API request(s)
//! an HTTP client would send, which `api/mcp.rs` then runs in-process. Every path segment comes
//! from the agent, so anything that could change the route is refused ([`seg`]), and query
//! values are percent-encoded ([`query`]): a tool can only reach the route it names.

use serde_json::{json, Map, Value};

use super::tools::{DeployArgs, ToolCall};
use crate::assets::encode_uri_component;
use crate::error::ApiError;

/// The HTTP method of a planned request (the wasm adapter maps it onto the runtime's method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// One request to the management API, relative to `/__api`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    pub method: Method,
    /// Starts with `/`; built only from fixed text and [`seg`]-checked segments.
    pub path: String,
    /// Empty or `?k=v&...`, every value percent-encoded.
    pub query: String,
    pub body: Option<Value>,
    /// Sends `Prefer: respond-async` (a deploy that does not wait).
    pub prefer_async: bool,
}

impl ApiCall {
    fn new(method: Method, path: String) -> ApiCall {
        ApiCall { method, path, query: String::new(), body: None, prefer_async: false }
    }
    fn query(mut self, query: String) -> ApiCall {
        self.query = query;
        self
    }
    fn body(mut self, body: Value) -> ApiCall {
        self.body = Some(body);
        self
    }
}

/// What a tool call runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// One JSON call; its envelope (without `success`) is the tool's result.
    Json(ApiCall),
    /// The NDJSON log call; the adapter turns lines and `x-next-cursor` into the result.
    Logs(ApiCall),
    /// `tail_logs`: the adapter repeats `call` (the kept runs, newest first) with `&from=<the
    /// window's start, ms>` every [`TAIL_POLL_MS`] until `seconds` have passed, and returns
    /// the runs it saw, oldest first, at most `max`.
    Tail { call: ApiCall, seconds: u32, max: usize },
    /// The three-phase upload and the deploy ([`upload_session`], [`upload_bucket`],
    /// [`deploy_call`]); the project segment is already checked.
    Deploy(DeployArgs),
}

/// How often `tail_logs` looks for new runs.
pub const TAIL_POLL_MS: u64 = 1_000;

/// The runs a `tail_logs` window has seen: each page (newest first, as `/logs` answers) adds
/// the runs not seen yet; at most `max` are kept, the earliest ones.
#[derive(Debug, Default)]
pub struct TailWindow {
    seen: std::collections::HashSet<String>,
    runs: Vec<Value>,
    pub truncated: bool,
}

impl TailWindow {
    pub fn add_page(&mut self, page: &[Value], max: usize) {
        // A full page may hide older runs of the window behind it: that is truncation too.
        for run in page.iter().rev() {
            let id = match &run["id"] {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                v => v.to_string(),
            };
            if self.seen.contains(&id) {
                continue;
            }
            if self.runs.len() >= max {
                self.truncated = true;
                return;
            }
            self.seen.insert(id);
            self.runs.push(run.clone());
        }
        if page.len() >= max {
            self.truncated = true;
        }
    }

    pub fn full(&self, max: usize) -> bool {
        self.runs.len() >= max
    }

    /// Oldest first.
    pub fn into_runs(self) -> Vec<Value> {
        self.runs
    }
}

/// Path segments come from the agent: anything that could change the route is refused
/// (`/`, `?`, `#`, any percent-escape, `.` and `..`, the empty segment, control characters).
pub fn seg(v: &str) -> Result<&str, ApiError> {
    if v.is_empty()
        || v.contains(['/', '\\', '?', '#', '%'])
        || v.chars().any(char::is_control)
        || v == "."
        || v == ".."
    {
        return Err(ApiError::bad("id", format!("`{v}` is not a valid id or slug")));
    }
    Ok(v)
}

/// `?k=v&...` of the pairs that have a value, each value percent-encoded as
/// `encodeURIComponent` does, so no value can add a parameter or end the URL.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode_uri_component(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// The request(s) a tool call maps to.
pub fn plan(call: ToolCall) -> Result<Plan, ApiError> {
    use Method::*;
    let n = |v: Option<i64>| v.map(|n| n.to_string());
    let project = |p: &str| -> Result<String, ApiError> { Ok(format!("/projects/{}", seg(p)?)) };
    let deployment = |d: &str| -> Result<String, ApiError> { Ok(format!("/deployments/{}", seg(d)?)) };
    Ok(Plan::Json(match call {
        ToolCall::ListProjects { limit, cursor } => {
            ApiCall::new(Get, "/projects".into()).query(query(&[("limit", n(limit)), ("cursor", cursor)]))
        }
        ToolCall::CreateProject { name } => ApiCall::new(Post, "/projects".into()).body(match name {
            Some(n) => json!({ "name": n }),
            None => json!({}),
        }),
        ToolCall::GetRollout { project: p } => ApiCall::new(Get, format!("{}/rollouts", project(&p)?)),
        ToolCall::StartRollout { project: p, body } => {
            ApiCall::new(Post, format!("{}/rollouts", project(&p)?)).body(Value::Object(body))
        }
        ToolCall::ControlRollout { project: p, action } => {
            ApiCall::new(Post, format!("{}/rollouts/current/{}", project(&p)?, seg(&action)?))
        }
        ToolCall::GetProject { project: p } => ApiCall::new(Get, project(&p)?),
        ToolCall::UpdateProject { project: p, settings } => {
            ApiCall::new(Patch, project(&p)?).body(Value::Object(settings))
        }
        ToolCall::DeleteProject { project: p } => ApiCall::new(Delete, project(&p)?),
        ToolCall::GetDeployment { deployment: d } => ApiCall::new(Get, deployment(&d)?),
        ToolCall::ListDeployments { project: p, limit } => {
            ApiCall::new(Get, format!("{}/deployments", project(&p)?)).query(query(&[("limit", n(limit))]))
        }
        ToolCall::GetDeploymentLogs { deployment: d, after, limit } => {
            let logs = ApiCall::new(Get, format!("{}/logs", deployment(&d)?))
                .query(query(&[("after", n(after)), ("limit", n(limit))]));
            return Ok(Plan::Logs(logs));
        }
        ToolCall::Rollback { project: p, deployment_id } => {
            ApiCall::new(Post, format!("{}/rollback", project(&p)?)).body(match deployment_id {
                Some(d) => json!({ "deploymentId": d }),
                None => json!({}),
            })
        }
        ToolCall::Promote { deployment: d } => ApiCall::new(Post, format!("{}/promote", deployment(&d)?)),
        ToolCall::SetAlias { project: p, name, deployment_id } => {
            ApiCall::new(Put, format!("{}/aliases/{}", project(&p)?, seg(&name)?))
                .body(json!({ "deploymentId": deployment_id }))
        }
        ToolCall::ListEnv { project: p } => ApiCall::new(Get, format!("{}/env", project(&p)?)),
        ToolCall::SetEnv { project: p, scope, name, kind, value } => {
            let path = format!("{}/env/{}/{}", project(&p)?, seg(&scope)?, seg(&name)?);
            ApiCall::new(Put, path)
                .body(json!({ "type": kind.unwrap_or_else(|| "var".into()), "value": value }))
        }
        ToolCall::AddDomain { project: p, hostname } => {
            ApiCall::new(Post, format!("{}/domains", project(&p)?)).body(json!({ "hostname": hostname }))
        }
        ToolCall::ListDomains { project: p } => ApiCall::new(Get, format!("{}/domains", project(&p)?)),
        ToolCall::VerifyDomain { project: p, hostname } => {
            let host = seg(&hostname).map_err(|_| ApiError::bad("hostname", "must be a hostname"))?;
            ApiCall::new(Post, format!("{}/domains/{host}/verify", project(&p)?))
        }
        ToolCall::ListKvNamespaces { limit, cursor } => ApiCall::new(Get, "/kv/namespaces".into())
            .query(query(&[("limit", n(limit)), ("cursor", cursor)])),
        ToolCall::CreateKvNamespace { title } => {
            ApiCall::new(Post, "/kv/namespaces".into()).body(json!({ "title": title }))
        }
        ToolCall::DeleteKvNamespace { namespace } => {
            ApiCall::new(Delete, format!("/kv/namespaces/{}", seg(&namespace)?))
        }
        ToolCall::ListSqlDatabases { limit, cursor } => ApiCall::new(Get, "/sql/databases".into())
            .query(query(&[("limit", n(limit)), ("cursor", cursor)])),
        ToolCall::CreateSqlDatabase { name } => {
            ApiCall::new(Post, "/sql/databases".into()).body(json!({ "name": name }))
        }
        ToolCall::DeleteSqlDatabase { database } => {
            ApiCall::new(Delete, format!("/sql/databases/{}", seg(&database)?))
        }
        ToolCall::ListBuckets { limit, cursor } => {
            ApiCall::new(Get, "/buckets".into()).query(query(&[("limit", n(limit)), ("cursor", cursor)]))
        }
        ToolCall::CreateBucket { name } => {
            ApiCall::new(Post, "/buckets".into()).body(json!({ "name": name }))
        }
        ToolCall::DeleteBucket { bucket } => ApiCall::new(Delete, format!("/buckets/{}", seg(&bucket)?)),
        ToolCall::ListWebhooks { project: p } => ApiCall::new(Get, format!("{}/webhooks", project(&p)?)),
        ToolCall::AddWebhook { project: p, url, events } => {
            let mut body = json!({ "url": url });
            if let Some(events) = events {
                body["events"] = json!(events);
            }
            ApiCall::new(Post, format!("{}/webhooks", project(&p)?)).body(body)
        }
        ToolCall::ListWebhookDeliveries { project: p, webhook } => {
            ApiCall::new(Get, format!("{}/webhooks/{}/deliveries", project(&p)?, seg(&webhook)?))
        }
        ToolCall::GetLogs(a) => ApiCall::new(Get, format!("{}/logs", project(&a.project)?)).query(query(&[
            ("status", a.status),
            ("q", a.q),
            ("deploymentId", a.deployment_id),
            ("from", a.from),
            ("to", a.to),
            ("limit", n(a.limit)),
            ("cursor", a.cursor),
        ])),
        ToolCall::TailLogs { seconds, filters: a } => {
            let max = a.limit.unwrap_or(100).clamp(1, 200);
            let call = ApiCall::new(Get, format!("{}/logs", project(&a.project)?)).query(query(&[
                ("status", a.status),
                ("q", a.q),
                ("deploymentId", a.deployment_id),
                ("limit", Some(max.to_string())),
            ]));
            let seconds = seconds.clamp(1, crate::mcp::tools::MAX_TAIL_SECONDS) as u32;
            return Ok(Plan::Tail { call, seconds, max: max as usize });
        }
        ToolCall::Deploy(args) => {
            seg(&args.project)?;
            return Ok(Plan::Deploy(args));
        }
    }))
}

/// Deploy, phase 1: the upload session for the inline files' manifest.
pub fn upload_session(project: &str, manifest: Value) -> Result<ApiCall, ApiError> {
    Ok(ApiCall::new(Method::Post, format!("/projects/{}/assets-upload-session", seg(project)?))
        .body(json!({ "manifest": manifest })))
}

/// Deploy, phase 2: one bucket of the session's answer, with the base64 bodies it names
/// (hashes the agent did not send are left out; the API then reports them missing).
pub fn upload_bucket(
    project: &str,
    bucket: &Value,
    bodies: &[(String, String)],
) -> Result<ApiCall, ApiError> {
    let mut body = Map::new();
    for hash in bucket.as_array().into_iter().flatten().filter_map(Value::as_str) {
        if let Some((_, b64)) = bodies.iter().find(|(h, _)| h == hash) {
            body.insert(hash.to_string(), Value::String(b64.clone()));
        }
    }
    Ok(ApiCall::new(Method::Post, format!("/projects/{}/assets/upload", seg(project)?))
        .body(Value::Object(body)))
}

/// Deploy, phase 3: the deploy itself with the last completion token; asynchronous unless the
/// agent asked to wait.
pub fn deploy_call(args: &DeployArgs, completion: &str) -> Result<ApiCall, ApiError> {
    let mut body = args.deploy_fields.clone();
    body.insert("completionJwt".into(), Value::String(completion.to_string()));
    let mut call = ApiCall::new(Method::Post, format!("/projects/{}/deploy", seg(&args.project)?))
        .body(Value::Object(body));
    call.prefer_async = !args.wait;
    Ok(call)
}

/// The deploy tool's result from the deploy response's envelope.
pub fn deploy_result(v: &Value) -> Value {
    let d = v["deployment"].clone();
    json!({
        "deploymentId": d["id"],
        "status": d["status"],
        "url": d["url"],
        "pathUrl": v.get("pathUrl").cloned().unwrap_or(Value::Null),
        "previewUrl": d["previewUrl"],
        "newAssets": v.get("newAssets").cloned().unwrap_or(Value::Null),
        "skippedAssets": v.get("skippedAssets").cloned().unwrap_or(Value::Null),
        "deployment": d,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::tools::{InlineFile, LogsArgs};

    const BAD: [&str; 14] =
        ["", ".", "..", "../x", "a/b", "%2e", "%2e%2e", "a?b", "a#b", "?", "#", "a\\b", ".\t.", "a\nb"];

    fn json_call(call: ToolCall) -> ApiCall {
        match plan(call) {
            Ok(Plan::Json(c)) => c,
            other => panic!("expected one JSON call, got {other:?}"),
        }
    }

    fn deploy_args(project: &str) -> DeployArgs {
        let mut fields = Map::new();
        fields.insert("activate".into(), json!(false));
        DeployArgs {
            project: project.into(),
            files: vec![InlineFile { path: "/index.html".into(), bytes: b"hi".to_vec() }],
            deploy_fields: fields,
            wait: false,
        }
    }

    /// Every tool that names something, built with the given project/deployment/name segments.
    fn named_calls(p: &str, d: &str, name: &str) -> Vec<ToolCall> {
        vec![
            ToolCall::GetProject { project: p.into() },
            ToolCall::UpdateProject { project: p.into(), settings: Map::new() },
            ToolCall::DeleteProject { project: p.into() },
            ToolCall::GetDeployment { deployment: d.into() },
            ToolCall::ListDeployments { project: p.into(), limit: None },
            ToolCall::GetDeploymentLogs { deployment: d.into(), after: None, limit: None },
            ToolCall::Rollback { project: p.into(), deployment_id: None },
            ToolCall::Promote { deployment: d.into() },
            ToolCall::SetAlias { project: p.into(), name: name.into(), deployment_id: "x".into() },
            ToolCall::AddDomain { project: p.into(), hostname: "a.example".into() },
            ToolCall::ListDomains { project: p.into() },
            ToolCall::VerifyDomain { project: p.into(), hostname: name.into() },
            ToolCall::ListEnv { project: p.into() },
            ToolCall::SetEnv {
                project: p.into(),
                scope: "preview".into(),
                name: name.into(),
                kind: None,
                value: "v".into(),
            },
            ToolCall::Deploy(deploy_args(p)),
        ]
    }

    #[test]
    fn tail_logs_polls_the_kept_runs_with_its_filters_and_bounds() {
        use crate::mcp::tools::LogsArgs;
        let filters = LogsArgs { project: "blog".into(), status: Some("5xx".into()), ..LogsArgs::default() };
        match plan(ToolCall::TailLogs { seconds: 99, filters }).unwrap() {
            Plan::Tail { call, seconds, max } => {
                assert_eq!((call.method, call.path.as_str()), (Method::Get, "/projects/blog/logs"));
                assert_eq!(call.query, "?status=5xx&limit=100");
                assert_eq!((seconds, max), (30, 100));
            }
            other => panic!("{other:?}"),
        }
        let bad = LogsArgs { project: "..".into(), ..LogsArgs::default() };
        assert!(plan(ToolCall::TailLogs { seconds: 5, filters: bad }).is_err());
    }

    #[test]
    fn a_tail_window_keeps_each_run_once_oldest_first_and_says_when_it_was_cut() {
        let run = |id: i64| json!({ "id": id, "at": id });
        let mut w = TailWindow::default();
        w.add_page(&[run(2), run(1)], 3);
        w.add_page(&[run(4), run(3), run(2), run(1)], 3);
        assert!(w.truncated && w.full(3));
        let ids: Vec<i64> = w.into_runs().iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, [1, 2, 3]);
        let mut w = TailWindow::default();
        w.add_page(&[run(5)], 3);
        w.add_page(&[json!({ "id": null }), run(5)], 3);
        assert!(!w.truncated && !w.full(3));
        assert_eq!(w.into_runs().len(), 1);
    }

    #[test]
    fn rollout_tools_map_to_the_rollout_routes() {
        let mut body = Map::new();
        body.insert("deploymentId".into(), json!("d2"));
        body.insert("steps".into(), json!([{ "percent": 10, "minutes": 5 }]));
        let c = json_call(ToolCall::StartRollout { project: "blog".into(), body: body.clone() });
        assert_eq!(
            (c.method, c.path.as_str(), c.body),
            (Method::Post, "/projects/blog/rollouts", Some(Value::Object(body)))
        );
        let c = json_call(ToolCall::GetRollout { project: "blog".into() });
        assert_eq!((c.method, c.path.as_str()), (Method::Get, "/projects/blog/rollouts"));
        let c = json_call(ToolCall::ControlRollout { project: "blog".into(), action: "pause".into() });
        assert_eq!(
            (c.method, c.path.as_str(), c.body),
            (Method::Post, "/projects/blog/rollouts/current/pause", None)
        );
    }

    #[test]
    fn update_project_is_a_patch_of_the_settings_given() {
        let mut settings = Map::new();
        settings.insert("skewFallbackDepth".into(), json!(2));
        let c = json_call(ToolCall::UpdateProject { project: "my-site".into(), settings });
        assert_eq!(
            (c.method, c.path.as_str(), c.query.as_str(), c.body),
            (Method::Patch, "/projects/my-site", "", Some(json!({ "skewFallbackDepth": 2 })))
        );
    }

    #[test]
    fn every_tool_maps_to_its_route() {
        let c = json_call(ToolCall::ListProjects { limit: Some(5), cursor: Some("abc".into()) });
        assert_eq!(
            (c.method, c.path.as_str(), c.query.as_str(), &c.body),
            (Method::Get, "/projects", "?limit=5&cursor=abc", &None)
        );
        assert_eq!(json_call(ToolCall::ListProjects { limit: None, cursor: None }).query, "");
        let c = json_call(ToolCall::SetEnv {
            project: "blog".into(),
            scope: "alias:qa".into(),
            name: "K".into(),
            kind: None,
            value: "v".into(),
        });
        assert_eq!(
            (c.method, c.path.as_str(), c.body),
            (Method::Put, "/projects/blog/env/alias:qa/K", Some(json!({ "type": "var", "value": "v" })))
        );
        let c = json_call(ToolCall::CreateProject { name: Some("Blog".into()) });
        assert_eq!(
            (c.method, c.path.as_str(), c.body),
            (Method::Post, "/projects", Some(json!({ "name": "Blog" })))
        );
        assert_eq!(json_call(ToolCall::CreateProject { name: None }).body, Some(json!({})));

        let expect = [
            (Method::Get, "/projects/blog", ""),
            (Method::Patch, "/projects/blog", ""),
            (Method::Delete, "/projects/blog", ""),
            (Method::Get, "/deployments/dep1", ""),
            (Method::Get, "/projects/blog/deployments", ""),
            (Method::Get, "/deployments/dep1/logs", ""),
            (Method::Post, "/projects/blog/rollback", ""),
            (Method::Post, "/deployments/dep1/promote", ""),
            (Method::Put, "/projects/blog/aliases/staging", ""),
            (Method::Post, "/projects/blog/domains", ""),
            (Method::Get, "/projects/blog/domains", ""),
            (Method::Post, "/projects/blog/domains/staging/verify", ""),
        ];
        let calls = named_calls("blog", "dep1", "staging");
        for (call, (method, path, q)) in calls.iter().cloned().zip(expect) {
            let c = match plan(call.clone()).unwrap() {
                Plan::Json(c) | Plan::Logs(c) => c,
                Plan::Deploy(_) | Plan::Tail { .. } => panic!("not one call: {call:?}"),
            };
            assert_eq!(
                (c.method, c.path.as_str(), c.query.as_str(), c.prefer_async),
                (method, path, q, false),
                "{call:?}"
            );
        }
        assert!(
            matches!(plan(ToolCall::GetDeploymentLogs { deployment: "d".into(), after: Some(3), limit: Some(10) }),
            Ok(Plan::Logs(c)) if c.query == "?after=3&limit=10")
        );
        assert_eq!(
            json_call(ToolCall::Rollback { project: "blog".into(), deployment_id: Some("d0".into()) }).body,
            Some(json!({ "deploymentId": "d0" }))
        );
        assert_eq!(
            json_call(ToolCall::SetAlias {
                project: "blog".into(),
                name: "s".into(),
                deployment_id: "d0".into()
            })
            .body,
            Some(json!({ "deploymentId": "d0" }))
        );
        assert_eq!(
            json_call(ToolCall::AddDomain { project: "blog".into(), hostname: "a.example".into() }).body,
            Some(json!({ "hostname": "a.example" }))
        );
        assert!(
            matches!(plan(ToolCall::Deploy(deploy_args("blog"))), Ok(Plan::Deploy(a)) if a.project == "blog")
        );
    }

    #[test]
    fn path_changing_segments_are_refused_for_every_tool() {
        for bad in BAD {
            for call in
                named_calls(bad, "dep1", "staging").into_iter().chain(named_calls("blog", bad, "staging"))
            {
                let names_project = !matches!(
                    call,
                    ToolCall::GetDeployment { .. }
                        | ToolCall::GetDeploymentLogs { .. }
                        | ToolCall::Promote { .. }
                );
                let refused = plan(call.clone()).is_err();
                let uses_bad = match &call {
                    ToolCall::GetDeployment { deployment: d }
                    | ToolCall::GetDeploymentLogs { deployment: d, .. }
                    | ToolCall::Promote { deployment: d } => d == bad,
                    _ => names_project && format!("{call:?}").contains(&format!("project: {bad:?}")),
                };
                assert_eq!(refused, uses_bad, "{bad:?} in {call:?}");
            }
            for call in [
                ToolCall::SetAlias { project: "blog".into(), name: bad.into(), deployment_id: "d".into() },
                ToolCall::VerifyDomain { project: "blog".into(), hostname: bad.into() },
            ] {
                let e = plan(call.clone()).expect_err(&format!("{bad:?} in {call:?}"));
                assert_eq!(e.code(), "bad_request", "{call:?}");
            }
            assert!(upload_session(bad, json!({})).is_err());
            assert!(upload_bucket(bad, &json!([]), &[]).is_err());
            assert!(deploy_call(&deploy_args(bad), "jwt").is_err());
        }
    }

    #[test]
    fn paths_stay_under_the_named_project_or_deployment() {
        for p in ["blog", "a.b", "x-1", "...", "a..b", "é", "a+b", "a&b", "a=b"] {
            for call in named_calls(p, p, p) {
                let Ok(Plan::Json(c) | Plan::Logs(c)) = plan(call.clone()) else { continue };
                let segments: Vec<&str> = c.path.strip_prefix('/').unwrap_or("").split('/').collect();
                assert!(matches!(segments[0], "projects" | "deployments"), "{call:?} -> {}", c.path);
                assert_eq!(segments[1], p, "{call:?} -> {}", c.path);
                assert!(segments.iter().all(|s| !s.is_empty() && *s != "." && *s != ".."), "{}", c.path);
            }
        }
    }

    #[test]
    fn bucket_and_log_tools_map_to_their_routes() {
        let c = json_call(ToolCall::ListBuckets { limit: Some(5), cursor: None });
        assert_eq!((c.method, c.path.as_str(), c.query.as_str()), (Method::Get, "/buckets", "?limit=5"));
        let c = json_call(ToolCall::CreateBucket { name: "a/../b".into() });
        assert_eq!(
            (c.method, c.path.as_str(), c.body),
            (Method::Post, "/buckets", Some(json!({ "name": "a/../b" })))
        );
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(json_call(ToolCall::DeleteBucket { bucket: id.into() }).path, format!("/buckets/{id}"));
        assert_eq!(
            json_call(ToolCall::DeleteSqlDatabase { database: id.into() }).path,
            format!("/sql/databases/{id}")
        );
        let c = json_call(ToolCall::CreateSqlDatabase { name: "../x".into() });
        assert_eq!((c.path.as_str(), c.body), ("/sql/databases", Some(json!({ "name": "../x" }))));
        let c = json_call(ToolCall::GetLogs(LogsArgs {
            project: "site".into(),
            status: Some("5xx".into()),
            q: Some("a&b=c".into()),
            limit: Some(10),
            ..LogsArgs::default()
        }));
        assert_eq!(
            (c.method, c.path.as_str(), c.query.as_str()),
            (Method::Get, "/projects/site/logs", "?status=5xx&q=a%26b%3Dc&limit=10")
        );
        for bad in BAD {
            assert_eq!(
                plan(ToolCall::DeleteBucket { bucket: bad.into() }).expect_err(bad).code(),
                "bad_request"
            );
            let db = ToolCall::DeleteSqlDatabase { database: bad.into() };
            assert_eq!(plan(db).expect_err(bad).code(), "bad_request");
            let logs = ToolCall::GetLogs(LogsArgs { project: bad.into(), ..LogsArgs::default() });
            assert_eq!(plan(logs).expect_err(bad).code(), "bad_request", "{bad:?}");
        }
    }

    #[test]
    fn webhook_tools_map_to_their_routes() {
        let c = json_call(ToolCall::ListWebhooks { project: "blog".into() });
        assert_eq!((c.method, c.path.as_str()), (Method::Get, "/projects/blog/webhooks"));
        let c = json_call(ToolCall::AddWebhook {
            project: "blog".into(),
            url: "https://a.example/h".into(),
            events: Some(vec!["deployment.failed".into()]),
        });
        assert_eq!(
            (c.method, c.path.as_str(), c.body),
            (
                Method::Post,
                "/projects/blog/webhooks",
                Some(json!({ "url": "https://a.example/h", "events": ["deployment.failed"] }))
            )
        );
        let c = json_call(ToolCall::AddWebhook { project: "blog".into(), url: "u".into(), events: None });
        assert_eq!(c.body, Some(json!({ "url": "u" })));
        let c = json_call(ToolCall::ListWebhookDeliveries { project: "blog".into(), webhook: "h1".into() });
        assert_eq!((c.method, c.path.as_str()), (Method::Get, "/projects/blog/webhooks/h1/deliveries"));
        for bad in BAD {
            let d = ToolCall::ListWebhookDeliveries { project: "blog".into(), webhook: bad.into() };
            assert_eq!(plan(d).expect_err(bad).code(), "bad_request", "{bad:?}");
            let l = ToolCall::ListWebhooks { project: bad.into() };
            assert_eq!(plan(l).expect_err(bad).code(), "bad_request", "{bad:?}");
        }
    }

    #[test]
    fn kv_namespace_tools_map_to_their_routes() {
        let c = json_call(ToolCall::ListKvNamespaces { limit: Some(5), cursor: Some("a&b=c".into()) });
        assert_eq!(
            (c.method, c.path.as_str(), c.query.as_str(), &c.body),
            (Method::Get, "/kv/namespaces", "?limit=5&cursor=a%26b%3Dc", &None)
        );
        assert_eq!(json_call(ToolCall::ListKvNamespaces { limit: None, cursor: None }).query, "");
        let c = json_call(ToolCall::CreateKvNamespace { title: "a/../b?x".into() });
        assert_eq!(
            (c.method, c.path.as_str(), c.body),
            (Method::Post, "/kv/namespaces", Some(json!({ "title": "a/../b?x" }))),
            "a title is a body value, never a path"
        );
        let id = "0123456789abcdef0123456789abcdef";
        let c = json_call(ToolCall::DeleteKvNamespace { namespace: id.into() });
        assert_eq!((c.method, c.path), (Method::Delete, format!("/kv/namespaces/{id}")));
        for bad in BAD {
            let e = plan(ToolCall::DeleteKvNamespace { namespace: bad.into() }).expect_err(bad);
            assert_eq!(e.code(), "bad_request", "{bad:?}");
        }
    }

    #[test]
    fn deploy_passes_kv_bindings_in_its_config() {
        let mut args = deploy_args("blog");
        let bindings = json!({ "bindings": [{ "type": "kv", "name": "CACHE", "id": "0123" }] });
        args.deploy_fields.insert("config".into(), bindings.clone());
        let d = deploy_call(&args, "jwt1").unwrap();
        assert_eq!(d.body.unwrap()["config"], bindings);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        let q = query(&[("cursor", Some("a&limit=1#x y+z?%/é".into())), ("none", None)]);
        assert_eq!(q, "?cursor=a%26limit%3D1%23x%20y%2Bz%3F%25%2F%C3%A9");
        let value = q.strip_prefix("?cursor=").unwrap();
        assert!(!value.contains(['&', '#', '?', ' ', '+', '/', '=']));
        assert_eq!(crate::assets::decode_uri_component(value).as_deref(), Some("a&limit=1#x y+z?%/é"));
        assert_eq!(query(&[("a", None)]), "");
        assert_eq!(
            query(&[("limit", Some("5".into())), ("cursor", Some("Zm9v-_.~".into()))]),
            "?limit=5&cursor=Zm9v-_.~"
        );
    }

    #[test]
    fn deploy_steps() {
        let args = deploy_args("blog");
        let (manifest, bodies) = args.manifest();
        let s = upload_session("blog", manifest.clone()).unwrap();
        assert_eq!((s.method, s.path.as_str()), (Method::Post, "/projects/blog/assets-upload-session"));
        assert_eq!(s.body, Some(json!({ "manifest": manifest })));
        let hash = bodies[0].0.clone();
        let u = upload_bucket("blog", &json!([hash, "unknown"]), &bodies).unwrap();
        assert_eq!(u.path, "/projects/blog/assets/upload");
        assert_eq!(
            u.body,
            Some(json!({ hash.clone(): bodies[0].1 })),
            "hashes the agent did not send are left out"
        );
        let d = deploy_call(&args, "jwt1").unwrap();
        assert_eq!((d.path.as_str(), d.prefer_async), ("/projects/blog/deploy", true));
        assert_eq!(d.body, Some(json!({ "activate": false, "completionJwt": "jwt1" })));
        assert!(!deploy_call(&DeployArgs { wait: true, ..args }, "j").unwrap().prefer_async);
        let r = deploy_result(&json!({ "deployment": { "id": "d1", "status": "queued" }, "pathUrl": "/p" }));
        assert_eq!(
            (r["deploymentId"].clone(), r["status"].clone(), r["pathUrl"].clone()),
            (json!("d1"), json!("queued"), json!("/p"))
        );
        assert_eq!(r["newAssets"], Value::Null);
    }
}
