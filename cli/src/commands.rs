//! Every command besides deploy: one API call (or a paged loop) each, rendered for a person
//! or, with `--json`, passed through as the server's JSON.

use serde_json::{json, Value};

use crate::cli::{
    AliasCmd, Command, DomainsCmd, DrainsCmd, KvCmd, LogsArgs, NamespaceCmd, ProjectsCmd, ResourceCmd,
    RolloutCmd, SqlCmd, TokensCmd, VarsCmd, WebhooksCmd,
};
use crate::client::{seg, Client, Failure, Req};
use crate::error::CliError;
use crate::Output;

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("-")
}

fn rows(items: &[Value], empty: &str, line: impl Fn(&Value) -> String) -> String {
    if items.is_empty() {
        return empty.to_string();
    }
    items.iter().map(line).collect::<Vec<_>>().join("\n")
}

fn list<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// `projects show|set`: the project line, then one `key: value` line per setting.
fn settings_lines(p: &Value) -> String {
    let mut out = project_line(p);
    for k in [
        "name",
        "enabled",
        "autoActivate",
        "previewAccess",
        "outbound",
        "skewProtection",
        "skewPinSeconds",
        "skewFallbackDepth",
    ] {
        let v = match p.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => continue,
        };
        out.push_str(&format!("\n  {k}: {v}"));
    }
    out
}

fn project_line(p: &Value) -> String {
    format!(
        "{:<28} {}  active={}  {}",
        s(p, "slug"),
        s(p, "id"),
        // chars, not bytes: the id comes from the server and must not panic a slice.
        p.get("activeDeploymentId")
            .and_then(Value::as_str)
            .map(|d| d.chars().take(8).collect::<String>())
            .unwrap_or_else(|| "-".into()),
        s(p, "url")
    )
}

fn deployment_line(d: &Value) -> String {
    format!(
        "{} {:<11} {:>3}% {}{}  {}",
        s(d, "id"),
        s(d, "status"),
        d.get("progress").and_then(Value::as_u64).unwrap_or(0),
        s(d, "createdAt"),
        if d.get("active") == Some(&json!(true)) { "  (active)" } else { "" },
        s(d, "previewUrl")
    )
}

fn lifecycle_human(v: &Value, verb: &str) -> String {
    format!(
        "{verb}: {} now serves {} (was {})",
        v.pointer("/project/slug").and_then(Value::as_str).unwrap_or("project"),
        s(v, "activeDeploymentId"),
        s(v, "previousDeploymentId")
    )
}

fn rollout_human(project: &str, v: &Value) -> String {
    let r = &v["rollout"];
    if r.is_null() {
        return format!("{project}: no rollout yet; production is {}", s(v, "activeDeploymentId"));
    }
    let mut out = format!(
        "{project}: rollout of {} {} at {}% (from {})",
        s(r, "deploymentId"),
        s(r, "status"),
        r["percent"],
        s(r, "fromDeploymentId")
    );
    if let Some(reason) = r["reason"].as_str() {
        out.push_str(&format!(": {reason}"));
    }
    out
}

fn domain_human(d: &Value) -> String {
    let mut out = format!("{} {}", s(d, "hostname"), s(d, "status"));
    if let Some(ver) = d.get("verification") {
        if s(d, "status") != "active" {
            out.push_str(&format!("\n  create TXT {} = {}", s(ver, "name"), s(ver, "value")));
        }
    }
    out
}

fn namespace_line(n: &Value) -> String {
    let projects: Vec<&str> = list(n, "projects").iter().filter_map(Value::as_str).collect();
    let bound =
        if projects.is_empty() { "unbound".to_string() } else { format!("bound by {}", projects.join(",")) };
    format!("{} {:<24} {bound}", s(n, "id"), s(n, "title"))
}

/// A kind of storage resource as the API names it.
struct Kind {
    /// `/__api/...` collection.
    path: &'static str,
    /// The list key and the one-item key of its answers.
    many: &'static str,
    one: &'static str,
    /// The key of a DELETE answer's `{removed, more}` counts.
    removed: &'static str,
    /// What a person calls it.
    label: &'static str,
}

const SQL: Kind = Kind {
    path: "/__api/sql/databases",
    many: "databases",
    one: "database",
    removed: "data",
    label: "SQL databases",
};
const BUCKETS: Kind =
    Kind { path: "/__api/buckets", many: "buckets", one: "bucket", removed: "objects", label: "buckets" };

fn resource_line(r: &Value) -> String {
    let projects: Vec<&str> = list(r, "projects").iter().filter_map(Value::as_str).collect();
    let bound =
        if projects.is_empty() { "unbound".to_string() } else { format!("bound by {}", projects.join(",")) };
    format!("{} {:<24} {bound}", s(r, "id"), s(r, "name"))
}

fn resource(client: &Client, kind: &Kind, cmd: &ResourceCmd) -> Result<Output, CliError> {
    Ok(match cmd {
        ResourceCmd::List => {
            let items = paged(client, &format!("{}?limit=100", kind.path), kind.many, None)?;
            let human = rows(&items, &format!("no {}", kind.label), resource_line);
            Output { json: json!({ "success": true, kind.many: items, "count": items.len() }), human }
        }
        ResourceCmd::Create { name } => {
            let v = client.post(kind.path, &json!({ "name": name }))?;
            let human = format!("created {}", resource_line(&v[kind.one]));
            Output { json: v, human }
        }
        ResourceCmd::Delete { id } => {
            // Each DELETE removes a bounded batch and says whether more remain: call again until
            // done (the platform's cron would finish it too, more slowly).
            let path = format!("{}/{}", kind.path, seg(id));
            let (mut removed, mut v) = (0, json!({}));
            for _ in 0..NAMESPACE_DELETE_CALLS {
                v = client.delete(&path)?;
                removed += v[kind.removed]["removed"].as_u64().unwrap_or(0);
                if v[kind.removed]["more"] != json!(true) {
                    break;
                }
            }
            v[kind.removed]["removed"] = json!(removed);
            let more = v[kind.removed]["more"] == json!(true);
            let rest = if more { "; the rest is removed in the background" } else { "" };
            Output { human: format!("deleted {id} ({removed} {} removed{rest})", kind.removed), json: v }
        }
    })
}

/// `GET /__api/projects/:p/logs` with the command's filters (newest first).
fn runs_path(a: &LogsArgs, project: &str, limit: u32) -> String {
    let mut path = format!("/__api/projects/{}/logs?limit={limit}", seg(project));
    for (k, v) in [("status", &a.status), ("q", &a.search), ("deploymentId", &a.deployment_id)] {
        if let Some(v) = v {
            path.push_str(&format!("&{k}={}", seg(v)));
        }
    }
    path
}

/// One kept run for a person: its request line, then its console lines and exceptions indented.
fn run_human(r: &Value) -> String {
    let status = r.get("status").and_then(Value::as_u64).map(|s| s.to_string()).unwrap_or_else(|| "-".into());
    let req = r.get("request").cloned().unwrap_or_default();
    let mut out =
        format!("{} {status} {} {} ({})", s(r, "at"), s(&req, "method"), s(&req, "url"), s(r, "outcome"));
    for l in list(r, "logs") {
        out.push_str(&format!("\n  [{}] {}", s(l, "level"), s(l, "message")));
    }
    if let Some(n) = r.get("droppedLines").and_then(Value::as_u64).filter(|n| *n > 0) {
        out.push_str(&format!("\n  ... {n} more lines not kept"));
    }
    for e in list(r, "exceptions") {
        out.push_str(&format!("\n  ! {}: {}", s(e, "name"), s(e, "message")));
        for line in s(e, "stack").lines().filter(|l| !l.trim().is_empty()) {
            out.push_str(&format!("\n    {}", line.trim()));
        }
    }
    out
}

fn run_id(r: &Value) -> u64 {
    r.get("id").and_then(Value::as_str).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// `logs --project P --follow`: prints the newest runs, then every run kept after them, oldest
/// first, polling every 2 s until interrupted.
pub fn follow_runs(
    client: &Client,
    a: &LogsArgs,
    json_out: bool,
    print: fn(&str),
) -> Result<Output, CliError> {
    let project = a.project.as_deref().ok_or_else(|| CliError::Usage("--follow needs --project".into()))?;
    let mut last = 0u64;
    let mut first = true;
    loop {
        let v = client.get(&runs_path(a, project, if first { a.limit } else { 200 }))?;
        let mut fresh: Vec<&Value> = list(&v, "logs").iter().filter(|r| run_id(r) > last).collect();
        fresh.reverse();
        for r in fresh {
            last = last.max(run_id(r));
            print(&if json_out { r.to_string() } else { run_human(r) });
        }
        first = false;
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

/// DELETE removes up to 500 keys a call and says whether more remain; the command calls again
/// until the namespace is empty (the platform's cron would finish it too, more slowly).
const NAMESPACE_DELETE_CALLS: usize = 1000;

fn paged(client: &Client, base: &str, key: &str, max: Option<usize>) -> Result<Vec<Value>, CliError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if base.contains('?') { '&' } else { '?' };
        let path = match &cursor {
            Some(c) => format!("{base}{sep}cursor={}", seg(c)),
            None => base.to_string(),
        };
        let v = client.get(&path)?;
        out.extend(list(&v, key).iter().cloned());
        cursor = v.get("cursor").and_then(Value::as_str).map(str::to_string);
        if cursor.is_none() || max.is_some_and(|m| out.len() >= m) {
            break;
        }
    }
    if let Some(m) = max {
        out.truncate(m);
    }
    Ok(out)
}

/// Reads every NDJSON log line, following `x-next-cursor`.
fn logs(client: &Client, dep: &str) -> Result<Vec<Value>, CliError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/__api/deployments/{}/logs?limit=1000", seg(dep));
        if let Some(a) = &after {
            path.push_str(&format!("&after={}", seg(a)));
        }
        let reply = client.send(&Req::new("GET", &path))?;
        for line in reply.body.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).map_err(|e| Failure {
                status: Some(reply.status),
                code: "bad_response".into(),
                message: format!("a log line is not JSON ({e})"),
                request_id: None,
                details: None,
            })?;
            out.push(v);
        }
        match reply.next_cursor {
            Some(c) if Some(&c) != after.as_ref() => after = Some(c),
            _ => break,
        }
    }
    Ok(out)
}

fn csv(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect()
}

pub fn run(client: &Client, command: &Command) -> Result<Output, CliError> {
    let p = |id: &str| format!("/__api/projects/{}", seg(id));
    Ok(match command {
        Command::Deploy(_) | Command::Env { .. } => {
            return Err(CliError::Usage("deploy and env are handled elsewhere".into()))
        }
        Command::Projects(ProjectsCmd::List) => {
            let items = paged(client, "/__api/projects?limit=100", "projects", None)?;
            let human = rows(&items, "no projects", project_line);
            Output { json: json!({ "success": true, "projects": items, "count": items.len() }), human }
        }
        Command::Projects(ProjectsCmd::Create { name }) => {
            let body = match name {
                Some(n) => json!({ "name": n }),
                None => json!({}),
            };
            let v = client.post("/__api/projects", &body)?;
            let human = format!("created {}", project_line(&v["project"]));
            Output { json: v, human }
        }
        Command::Projects(ProjectsCmd::Show { project }) => {
            let v = client.get(&p(project))?;
            Output { human: settings_lines(&v["project"]), json: v }
        }
        Command::Projects(ProjectsCmd::Set(settings)) => {
            let body = settings.body();
            if body.as_object().is_some_and(|o| o.is_empty()) {
                return Err(CliError::Usage(
                    "nothing to change: give at least one setting (see --help)".into(),
                ));
            }
            let v = client.patch(&p(&settings.project), &body)?;
            Output { human: settings_lines(&v["project"]), json: v }
        }
        Command::Projects(ProjectsCmd::Delete { project }) => {
            let v = client.delete(&p(project))?;
            Output { human: format!("deleted {project}"), json: v }
        }
        Command::Deployments { project, limit } => {
            let v = client.get(&format!("{}/deployments?limit={limit}", p(project)))?;
            let human = rows(list(&v, "deployments"), "no deployments", deployment_line);
            Output { json: v, human }
        }
        Command::Logs(a @ LogsArgs { project: Some(project), .. }) => {
            let v = client.get(&runs_path(a, project, a.limit))?;
            let human = rows(list(&v, "logs"), "no runs kept", run_human);
            Output { json: v, human }
        }
        Command::Logs(LogsArgs { deployment, .. }) => {
            let deployment = deployment.as_deref().unwrap_or_default();
            let lines = logs(client, deployment)?;
            let human = rows(&lines, "no log lines", |l| {
                format!("{} [{}] {}: {}", s(l, "at"), s(l, "level"), s(l, "step"), s(l, "message"))
            });
            Output { json: json!({ "success": true, "logs": lines, "count": lines.len() }), human }
        }
        Command::Rollback { project, to } => {
            let body = match to {
                Some(d) => json!({ "deploymentId": d }),
                None => json!({}),
            };
            let v = client.post(&format!("{}/rollback", p(project)), &body)?;
            Output { human: lifecycle_human(&v, "rolled back"), json: v }
        }
        Command::Promote { deployment } => {
            let v = client
                .send(&Req::new("POST", &format!("/__api/deployments/{}/promote", seg(deployment))))?
                .json()?;
            Output { human: lifecycle_human(&v, "promoted"), json: v }
        }
        Command::Rollout(cmd) => {
            let (project, v) = match cmd {
                RolloutCmd::Start { project, deployment, steps, max_5xx_ratio } => {
                    let steps: Vec<Value> =
                        steps.0.iter().map(|(p, m)| json!({ "percent": p, "minutes": m })).collect();
                    let mut body = json!({ "deploymentId": deployment, "steps": steps });
                    if let Some(r) = max_5xx_ratio {
                        body["autoAbort"] = json!({ "max5xxRatio": r });
                    }
                    (project, client.post(&format!("{}/rollouts", p(project)), &body)?)
                }
                RolloutCmd::Status { project } => (project, client.get(&format!("{}/rollouts", p(project)))?),
                RolloutCmd::Pause { project }
                | RolloutCmd::Resume { project }
                | RolloutCmd::Complete { project }
                | RolloutCmd::Abort { project } => {
                    let action = match cmd {
                        RolloutCmd::Pause { .. } => "pause",
                        RolloutCmd::Resume { .. } => "resume",
                        RolloutCmd::Complete { .. } => "complete",
                        _ => "abort",
                    };
                    let path = format!("{}/rollouts/current/{action}", p(project));
                    (project, client.post(&path, &json!({}))?)
                }
            };
            Output { human: rollout_human(project, &v), json: v }
        }
        Command::Alias(AliasCmd::Set { project, name, deployment }) => {
            let v = client.put(
                &format!("{}/aliases/{}", p(project), seg(name)),
                &json!({ "deploymentId": deployment }),
            )?;
            let a = &v["alias"];
            Output {
                human: format!("{} -> {}  {}", s(a, "name"), s(a, "deploymentId"), s(a, "url")),
                json: v,
            }
        }
        Command::Alias(AliasCmd::Rm { project, name }) => {
            let v = client.delete(&format!("{}/aliases/{}", p(project), seg(name)))?;
            Output { human: format!("removed alias {name}"), json: v }
        }
        Command::Alias(AliasCmd::List { project }) => {
            let v = client.get(&format!("{}/aliases", p(project)))?;
            let human = rows(list(&v, "aliases"), "no aliases", |a| {
                format!("{} -> {}  {}", s(a, "name"), s(a, "deploymentId"), s(a, "url"))
            });
            Output { json: v, human }
        }
        Command::Vars(VarsCmd::Set { project, scope, secret, kv, sql, bucket, name, value }) => {
            let kind = match (secret, kv, sql, bucket) {
                (true, ..) => "secret",
                (_, true, ..) => "kv",
                (_, _, true, _) => "sql",
                (.., true) => "bucket",
                _ => "var",
            };
            let v = client.put(
                &format!("{}/env/{}/{}", p(project), seg(scope), seg(name)),
                &json!({ "type": kind, "value": value }),
            )?;
            Output { human: format!("{scope}: {name} ({kind}) set"), json: v }
        }
        Command::Vars(VarsCmd::Rm { project, scope, name }) => {
            let v = client.delete(&format!("{}/env/{}/{}", p(project), seg(scope), seg(name)))?;
            Output { human: format!("{scope}: {name} removed"), json: v }
        }
        Command::Vars(VarsCmd::List { project }) => {
            let v = client.get(&format!("{}/env", p(project)))?;
            let human = rows(list(&v, "env"), "no env entries", |e| {
                let value = e.get("value").and_then(Value::as_str).unwrap_or("(secret)");
                format!("{:<16} {:<24} {:<7} {}", s(e, "scope"), s(e, "name"), s(e, "type"), value)
            });
            Output { json: v, human }
        }
        Command::Domains(DomainsCmd::Add { project, hostname }) => {
            let v = client.post(&format!("{}/domains", p(project)), &json!({ "hostname": hostname }))?;
            Output { human: domain_human(&v["domain"]), json: v }
        }
        Command::Domains(DomainsCmd::Verify { project, hostname }) => {
            let v = client.post(&format!("{}/domains/{}/verify", p(project), seg(hostname)), &json!({}))?;
            Output { human: domain_human(&v["domain"]), json: v }
        }
        Command::Domains(DomainsCmd::List { project }) => {
            let v = client.get(&format!("{}/domains", p(project)))?;
            let human = rows(list(&v, "domains"), "no domains", domain_human);
            Output { json: v, human }
        }
        Command::Domains(DomainsCmd::Rm { project, hostname }) => {
            let v = client.delete(&format!("{}/domains/{}", p(project), seg(hostname)))?;
            Output { human: format!("detached {hostname}"), json: v }
        }
        Command::Webhooks(WebhooksCmd::Add { project, receiver, events }) => {
            let mut body = json!({ "url": receiver });
            if let Some(e) = events {
                body["events"] = json!(csv(e));
            }
            let v = client.post(&format!("{}/webhooks", p(project)), &body)?;
            let w = &v["webhook"];
            let human =
                format!("webhook {}\nsigning secret (shown only now): {}", s(w, "id"), s(w, "secret"));
            Output { human, json: v }
        }
        Command::Webhooks(WebhooksCmd::List { project }) => {
            let v = client.get(&format!("{}/webhooks", p(project)))?;
            let human = rows(list(&v, "webhooks"), "no webhooks", |w| {
                let events = w["events"].as_array().map(|a| a.len()).unwrap_or(0);
                format!("{}  {}  {events} event(s)  last: {}", s(w, "id"), s(w, "url"), w["lastStatus"])
            });
            Output { json: v, human }
        }
        Command::Webhooks(WebhooksCmd::Rm { project, id }) => {
            let v = client.delete(&format!("{}/webhooks/{}", p(project), seg(id)))?;
            Output { human: format!("removed webhook {id}"), json: v }
        }
        Command::Webhooks(WebhooksCmd::Ping { project, id }) => {
            let v = client.post(&format!("{}/webhooks/{}/ping", p(project), seg(id)), &json!({}))?;
            Output { human: format!("queued ping {}", s(&v["delivery"], "id")), json: v }
        }
        Command::Webhooks(WebhooksCmd::Deliveries { project, id }) => {
            let v = client.get(&format!("{}/webhooks/{}/deliveries", p(project), seg(id)))?;
            let human = rows(list(&v, "deliveries"), "no deliveries", |d| {
                let codes: Vec<String> = d["attempts"]
                    .as_array()
                    .map(|a| a.iter().map(|t| t["responseStatus"].to_string()).collect())
                    .unwrap_or_default();
                format!("{}  {}  {}  [{}]", s(d, "id"), s(d, "event"), s(d, "status"), codes.join(", "))
            });
            Output { json: v, human }
        }
        Command::Webhooks(WebhooksCmd::Redeliver { project, id, delivery }) => {
            let path = format!("{}/webhooks/{}/deliveries/{}/redeliver", p(project), seg(id), seg(delivery));
            let v = client.post(&path, &json!({}))?;
            Output { human: format!("queued {delivery} again"), json: v }
        }
        Command::Drains(DrainsCmd::Add { project, receiver, sources, sampling }) => {
            let mut body = json!({ "url": receiver });
            if let Some(src) = sources {
                body["sources"] = json!(csv(src));
            }
            if let Some(r) = sampling {
                body["sampling"] = json!(r);
            }
            let v = client.post(&format!("{}/drains", p(project)), &body)?;
            let d = &v["drain"];
            let human = format!("drain {}\nsigning secret (shown only now): {}", s(d, "id"), s(d, "secret"));
            Output { human, json: v }
        }
        Command::Drains(DrainsCmd::List { project }) => {
            let v = client.get(&format!("{}/drains", p(project)))?;
            let human = rows(list(&v, "drains"), "no drains", |d| {
                format!(
                    "{}  {}  backlog {}  dropped {}  last: {}",
                    s(d, "id"),
                    s(d, "url"),
                    d["backlog"],
                    d["dropped"],
                    d["lastStatus"]
                )
            });
            Output { json: v, human }
        }
        Command::Drains(DrainsCmd::Rm { project, id }) => {
            let v = client.delete(&format!("{}/drains/{}", p(project), seg(id)))?;
            Output { human: format!("removed drain {id}"), json: v }
        }
        Command::Tokens(TokensCmd::Create { name, projects, scopes, expires_at }) => {
            let projects = if projects.trim() == "*" { json!("*") } else { json!(csv(projects)) };
            let mut body = json!({ "name": name, "projects": projects, "scopes": csv(scopes) });
            if let Some(e) = expires_at {
                body["expiresAt"] = json!(e);
            }
            let v = client.post("/__api/tokens", &body)?;
            // The one place a secret is printed: the user asked to mint it, and it is shown once.
            let human = format!(
                "token {} ({})\nsecret (shown once, store it now): {}",
                s(&v["token"], "id"),
                s(&v["token"], "name"),
                s(&v, "secret")
            );
            Output { json: v, human }
        }
        Command::Tokens(TokensCmd::List) => {
            let v = client.get("/__api/tokens")?;
            let human = rows(list(&v, "tokens"), "no tokens", |t| {
                format!(
                    "{} {:<20} scopes={} projects={} {}",
                    s(t, "id"),
                    s(t, "name"),
                    t.get("scopes").map(Value::to_string).unwrap_or_default(),
                    t.get("projects").map(Value::to_string).unwrap_or_default(),
                    if t.get("revokedAt").is_some_and(|r| !r.is_null()) { "revoked" } else { "" }
                )
            });
            Output { json: v, human }
        }
        Command::Tokens(TokensCmd::Revoke { token_id }) => {
            let v = client.delete(&format!("/__api/tokens/{}", seg(token_id)))?;
            // The server revokes the tokens minted through this one too and counts them all.
            let more = v.get("revoked").and_then(Value::as_u64).unwrap_or(1).saturating_sub(1);
            let human = match more {
                0 => format!("revoked {token_id}"),
                n => format!("revoked {token_id} and {n} token(s) minted through it"),
            };
            Output { human, json: v }
        }
        Command::Kv(KvCmd::Namespace(NamespaceCmd::List)) => {
            let items = paged(client, "/__api/kv/namespaces?limit=100", "namespaces", None)?;
            let human = rows(&items, "no KV namespaces", namespace_line);
            Output { json: json!({ "success": true, "namespaces": items, "count": items.len() }), human }
        }
        Command::Kv(KvCmd::Namespace(NamespaceCmd::Create { title })) => {
            let v = client.post("/__api/kv/namespaces", &json!({ "title": title }))?;
            let human = format!("created {}", namespace_line(&v["namespace"]));
            Output { json: v, human }
        }
        Command::Kv(KvCmd::Namespace(NamespaceCmd::Delete { namespace })) => {
            let path = format!("/__api/kv/namespaces/{}", seg(namespace));
            let mut removed = 0;
            let mut v = json!({});
            for _ in 0..NAMESPACE_DELETE_CALLS {
                v = client.delete(&path)?;
                removed += v["keys"]["removed"].as_u64().unwrap_or(0);
                if v["keys"]["more"] != json!(true) {
                    break;
                }
            }
            v["keys"]["removed"] = json!(removed);
            let human = match v["keys"]["more"] == json!(true) {
                true => format!(
                    "deleted {namespace} ({removed} keys removed; the rest is removed in the background)"
                ),
                false => format!("deleted {namespace} ({removed} keys removed)"),
            };
            Output { human, json: v }
        }
        Command::Sql(SqlCmd::Database(cmd)) => resource(client, &SQL, cmd)?,
        Command::Bucket(cmd) => resource(client, &BUCKETS, cmd)?,
        Command::Audit { project, limit } => {
            let mut base = format!("/__api/audit?limit={}", (*limit).clamp(1, 100));
            if let Some(pr) = project {
                base.push_str(&format!("&project={}", seg(pr)));
            }
            let items = paged(client, &base, "entries", Some(*limit as usize))?;
            let human = rows(&items, "no audit entries", |e| {
                format!(
                    "{} {:<24} {} {}",
                    s(e, "at"),
                    s(e, "action"),
                    s(e, "principal"),
                    e.get("projectId").and_then(Value::as_str).unwrap_or("")
                )
            });
            Output { json: json!({ "success": true, "entries": items, "count": items.len() }), human }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_render_with_their_lines_and_exceptions() {
        let r = json!({"id": "7", "at": "2026-12-07T00:00:00.000Z", "status": 500, "outcome": "exception",
            "request": {"method": "GET", "url": "http://x/fail"},
            "logs": [{"level": "log", "message": "hit /fail"}], "droppedLines": 3,
            "exceptions": [{"name": "Error", "message": "boom", "stack": "  at f (a.js:1:2)\n"}]});
        assert_eq!(
            run_human(&r),
            "2026-12-07T00:00:00.000Z 500 GET http://x/fail (exception)\n  [log] hit /fail\n  ... 3 more lines not kept\n  ! Error: boom\n    at f (a.js:1:2)"
        );
        assert_eq!(run_human(&json!({})), "- - - - (-)", "a malformed run never panics");
        assert_eq!(run_id(&r), 7);
    }

    #[test]
    fn runs_path_encodes_the_filters() {
        let a = LogsArgs {
            deployment: None,
            project: Some("my site".into()),
            status: Some("5xx".into()),
            search: Some("a&b".into()),
            deployment_id: None,
            limit: 10,
            follow: false,
        };
        assert_eq!(
            runs_path(&a, "my site", 10),
            "/__api/projects/my%20site/logs?limit=10&status=5xx&q=a%26b"
        );
    }

    use super::*;

    #[test]
    fn csv_and_rendering_helpers_tolerate_missing_fields() {
        assert_eq!(csv(" read, deploy ,,"), vec!["read", "deploy"]);
        assert!(project_line(&json!({})).contains('-'));
        assert!(project_line(&json!({"activeDeploymentId": "ééééééééé"})).contains("active=éééééééé"));
        assert!(deployment_line(&json!({"id": "d", "active": true})).contains("(active)"));
        let d = domain_human(&json!({"hostname": "a.com", "status": "pending",
            "verification": {"name": "_flotilla-challenge.a.com", "value": "v"}}));
        assert!(d.contains("TXT _flotilla-challenge.a.com = v"), "{d}");
        assert_eq!(rows(&[], "none", |_| String::new()), "none");
        assert_eq!(namespace_line(&json!({})), "- -                        unbound");
        let n = namespace_line(&json!({"id": "ns1", "title": "sessions", "projects": ["p1", "p2"]}));
        assert!(n.starts_with("ns1 sessions") && n.ends_with("bound by p1,p2"), "{n}");
    }
}
