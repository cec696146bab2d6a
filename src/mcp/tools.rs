//! The MCP tools (pure): their definitions (JSON Schema 2020-12 input and output schemas,
//! titles, annotations), one small validator that checks arguments against the very schema we
//! advertise, and the typed [`ToolCall`] the binding layer carries out through the same API
//! code as the HTTP flow.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::jsonrpc::RpcError;

/// Inline deploys are bounded so one tool call stays well under the request-body limit.
pub const MAX_INLINE_FILES: usize = 500;
pub const MAX_INLINE_BYTES: usize = 20 * 1024 * 1024;
/// `tail_logs` holds its request open at most this long.
pub const MAX_TAIL_SECONDS: i64 = 30;

fn s(desc: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "description": desc })
}

fn obj(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

fn out(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": props, "required": required })
}

const PROJECT: &str = "Project id or slug";
const DEPLOYMENT: &str = "Deployment id";
const NAMESPACE: &str = "KV namespace id";
const BUCKET: &str = "Bucket id";
const DATABASE: &str = "SQL database id";

struct Def {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    input: Value,
    output: Value,
    read_only: bool,
    destructive: bool,
    idempotent: bool,
}

fn defs() -> Vec<Def> {
    let project = || json!({ "type": "object", "description": "A project record (id, slug, name, url, activeDeploymentId, ...)" });
    let deployment = || json!({ "type": "object", "description": "A deployment record (id, status, steps, url, previewUrl, ...)" });
    let namespace = || json!({ "type": "object", "description": "A KV namespace (id, title, createdAt, projects that bind it)" });
    let domain = || json!({ "type": "object", "description": "A custom domain (hostname, status, verification {type, name, value}, ssl, ...)" });
    let switched = out(
        json!({ "project": project(), "activeDeploymentId": { "type": "string" },
                "previousDeploymentId": { "type": ["string", "null"] }, "generation": { "type": "integer" } }),
        &["project", "activeDeploymentId"],
    );
    vec![
        Def {
            name: "list_projects",
            title: "List projects",
            description: "Lists projects, newest first. Pass the returned `cursor` to get the next page.",
            input: obj(
                json!({ "limit": { "type": "integer", "minimum": 1, "maximum": 100 },
                        "cursor": { "type": "string", "description": "From a previous page" } }),
                &[],
            ),
            output: out(
                json!({ "projects": { "type": "array", "items": project() }, "cursor": { "type": ["string", "null"] } }),
                &["projects"],
            ),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "create_project",
            title: "Create a project",
            description: "Creates a project. Its slug (name plus a random suffix) gives its permanent URL.",
            input: obj(json!({ "name": { "type": "string", "minLength": 1, "maxLength": 100 } }), &[]),
            output: out(json!({ "project": project() }), &["project"]),
            read_only: false,
            destructive: false,
            idempotent: false,
        },
        Def {
            name: "get_project",
            title: "Get a project",
            description: "One project by id or slug, with its URL and active deployment.",
            input: obj(json!({ "project": s(PROJECT) }), &["project"]),
            output: out(json!({ "project": project() }), &["project"]),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "update_project",
            title: "Change a project's settings",
            description: "Changes only the settings given: `name`, `enabled` (off: visitors get 404), \
                          `autoActivate` (off: deploys are staged until `promote`), `previewAccess` (`public` or \
                          `link`), `outbound` (`allow` or `block`: may server code fetch the internet), and skew protection \
                          (`skewProtection`, `skewPinSeconds` 60-604800, `skewFallbackDepth` 0-20).",
            input: obj(
                json!({ "project": s(PROJECT),
                        "name": { "type": "string", "minLength": 1, "maxLength": 100 },
                        "enabled": { "type": "boolean" },
                        "autoActivate": { "type": "boolean" },
                        "previewAccess": { "type": "string", "enum": ["public", "link"] },
                        "outbound": { "type": "string", "enum": ["allow", "block"] },
                        "skewProtection": { "type": "boolean" },
                        "skewPinSeconds": { "type": "integer", "minimum": 60, "maximum": 604_800 },
                        "skewFallbackDepth": { "type": "integer", "minimum": 0, "maximum": 20 } }),
                &["project"],
            ),
            output: out(json!({ "project": project() }), &["project"]),
            read_only: false,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "delete_project",
            title: "Delete a project",
            description: "Deletes a project: it stops serving at once and all its data is purged. Cannot be undone.",
            input: obj(json!({ "project": s(PROJECT) }), &["project"]),
            output: out(json!({ "deleted": { "type": "object" }, "purge": { "type": "string" } }), &["deleted"]),
            read_only: false,
            destructive: true,
            idempotent: true,
        },
        Def {
            name: "deploy",
            title: "Deploy files",
            description: "Deploys inline files (each `{text}` or `{base64}`; paths like `/index.html`; `_redirects` and \
                          `_headers` are honoured) with optional server code, config and env, through the same upload \
                          and workflow as the HTTP API. Only changed files are uploaded. With `wait: false` it returns \
                          at once; poll `get_deployment`. At most 500 files and 20 MiB.",
            input: obj(
                json!({
                    "project": s(PROJECT),
                    "files": {
                        "type": "object", "minProperties": 1, "maxProperties": MAX_INLINE_FILES,
                        "description": "Path -> {text} or {base64}",
                        "additionalProperties": {
                            "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": false,
                            "properties": { "text": { "type": "string" }, "base64": { "type": "string" } }
                        }
                    },
                    "config": { "type": "object", "description": "html_handling, not_found_handling, redirects, headers, bindings ([{type: \"kv\", name, id}] from create_kv_namespace)" },
                    "serverCode": { "type": "object", "description": "{entrypoint, modules: {name: base64}, compatibilityDate, compatibilityFlags?}" },
                    "env": { "type": "object", "additionalProperties": { "type": "string" }, "description": "String vars for the server code" },
                    "run_worker_first": { "type": ["boolean", "array"], "items": { "type": "string" } },
                    "activate": { "type": "boolean", "description": "false: stage a preview only (promote later)" },
                    "wait": { "type": "boolean", "description": "Wait for the workflow (default true)" }
                }),
                &["project", "files"],
            ),
            output: out(
                json!({ "deploymentId": { "type": "string" }, "status": { "type": "string" },
                        "url": { "type": "string" }, "pathUrl": { "type": ["string", "null"] }, "previewUrl": { "type": "string" },
                        "deployment": deployment() }),
                &["deploymentId", "status", "deployment"],
            ),
            read_only: false,
            destructive: false,
            idempotent: false,
        },
        Def {
            name: "get_deployment",
            title: "Get a deployment",
            description: "A deployment's status (queued, in_progress, completed, failed, superseded, rolled_back, expired), \
                          steps, progress, error and URLs.",
            input: obj(json!({ "deployment": s(DEPLOYMENT) }), &["deployment"]),
            output: out(json!({ "deployment": deployment() }), &["deployment"]),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "list_deployments",
            title: "List deployments",
            description: "A project's deployment history, newest first; `active` marks the live one.",
            input: obj(
                json!({ "project": s(PROJECT), "limit": { "type": "integer", "minimum": 1, "maximum": 100 } }),
                &["project"],
            ),
            output: out(json!({ "deployments": { "type": "array", "items": deployment() } }), &["deployments"]),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "get_deployment_logs",
            title: "Get deployment logs",
            description: "A deployment's log lines, oldest first. Pass `nextCursor` as `after` for more.",
            input: obj(
                json!({ "deployment": s(DEPLOYMENT), "after": { "type": "integer", "minimum": 0 },
                        "limit": { "type": "integer", "minimum": 1, "maximum": 1000 } }),
                &["deployment"],
            ),
            output: out(
                json!({ "lines": { "type": "array", "items": { "type": "object" } },
                        "nextCursor": { "type": ["integer", "null"] } }),
                &["lines"],
            ),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "rollback",
            title: "Roll back",
            description: "Instantly serves an earlier ready deployment (default: the previous live one). The one rolled \
                          away from stays reachable at its preview URL.",
            input: obj(json!({ "project": s(PROJECT), "deploymentId": s("Target deployment (optional)") }), &["project"]),
            output: switched.clone(),
            read_only: false,
            destructive: true,
            idempotent: false,
        },
        Def {
            name: "promote",
            title: "Promote a deployment",
            description: "Makes a ready deployment (e.g. a staged one, deployed with `activate: false`) the live one.",
            input: obj(json!({ "deployment": s(DEPLOYMENT) }), &["deployment"]),
            output: switched,
            read_only: false,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "set_alias",
            title: "Point an alias",
            description: "Points a named alias (e.g. `staging`, `pr-42`) at a ready deployment; it is served at \
                          `<alias>--<slug>.<domain>`.",
            input: obj(
                json!({ "project": s(PROJECT), "name": { "type": "string", "minLength": 1, "maxLength": 32 },
                        "deploymentId": s(DEPLOYMENT) }),
                &["project", "name", "deploymentId"],
            ),
            output: out(json!({ "alias": { "type": "object" } }), &["alias"]),
            read_only: false,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "list_env",
            title: "List a project's environments",
            description: "A project's scoped env vars, secrets (names only) and preview binding overrides, and \
                          `applies`: which names the code at each URL gets (`production`, `preview`, \
                          `alias:<name>`). Production values never reach previews unless scoped `all`.",
            input: obj(json!({ "project": s(PROJECT) }), &["project"]),
            output: out(
                json!({ "env": { "type": "array", "items": { "type": "object" } }, "applies": { "type": "object" } }),
                &["env", "applies"],
            ),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "set_env",
            title: "Set a scoped env var or secret",
            description: "Sets NAME in one scope: `production`, `preview` (every non-production URL), \
                          `alias:<name>` or `all`. `type` `secret` stores it encrypted (never shown again); \
                          `kv`/`sql`/`bucket` make a preview scope bind that resource id under NAME.",
            input: obj(
                json!({ "project": s(PROJECT),
                        "scope": { "type": "string", "minLength": 1, "maxLength": 40 },
                        "name": { "type": "string", "minLength": 1, "maxLength": 64 },
                        "type": { "enum": ["var", "secret", "kv", "sql", "bucket"] },
                        "value": { "type": "string", "maxLength": 5120 } }),
                &["project", "scope", "name", "value"],
            ),
            output: out(json!({ "env": { "type": "object" }, "refs": { "type": "object" } }), &["env"]),
            read_only: false,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "add_domain",
            title: "Attach a custom domain",
            description: "Attaches a hostname (e.g. `www.example.com`) to a project. It stays `pending` until its owner \
                          publishes the returned TXT record (`verification.name` = `verification.value`) and \
                          `verify_domain` finds it.",
            input: obj(
                json!({ "project": s(PROJECT), "hostname": { "type": "string", "minLength": 1, "maxLength": 253 } }),
                &["project", "hostname"],
            ),
            output: out(json!({ "domain": domain() }), &["domain"]),
            read_only: false,
            destructive: false,
            idempotent: false,
        },
        Def {
            name: "list_domains",
            title: "List custom domains",
            description: "A project's custom domains with their status (`pending` or `active`) and TXT challenge.",
            input: obj(json!({ "project": s(PROJECT) }), &["project"]),
            output: out(json!({ "domains": { "type": "array", "items": domain() } }), &["domains"]),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "verify_domain",
            title: "Verify a custom domain",
            description: "Looks up the domain's TXT record over DNS-over-HTTPS; when it matches, the domain turns \
                          `active` and serves the project. Otherwise the error says what was expected and found.",
            input: obj(
                json!({ "project": s(PROJECT), "hostname": { "type": "string", "minLength": 1, "maxLength": 253 } }),
                &["project", "hostname"],
            ),
            output: out(json!({ "domain": domain(), "verified": { "type": "boolean" } }), &["domain"]),
            read_only: false,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "list_kv_namespaces",
            title: "List KV namespaces",
            description: "Lists the KV namespaces you reach (yours, and those bound to projects you reach), newest \
                          first, each with the projects that bind it. Pass the returned `cursor` for the next page.",
            input: obj(
                json!({ "limit": { "type": "integer", "minimum": 1, "maximum": 100 },
                        "cursor": { "type": "string", "description": "From a previous page" } }),
                &[],
            ),
            output: out(
                json!({ "namespaces": { "type": "array", "items": namespace() }, "cursor": { "type": ["string", "null"] },
                        "count": { "type": "integer" } }),
                &["namespaces"],
            ),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "create_kv_namespace",
            title: "Create a KV namespace",
            description: "Creates a KV namespace. Bind it in `deploy` with `config.bindings: [{type: \"kv\", name, id}]`; \
                          server code then reads it as `env.<name>`. Titles are unique among your live namespaces.",
            input: obj(json!({ "title": { "type": "string", "minLength": 1, "maxLength": 512 } }), &["title"]),
            output: out(json!({ "namespace": namespace() }), &["namespace"]),
            read_only: false,
            destructive: false,
            idempotent: false,
        },
        Def {
            name: "delete_kv_namespace",
            title: "Delete a KV namespace",
            description: "Deletes a KV namespace and its keys; refused while a live deployment binds it. Each call \
                          removes up to 500 keys (`keys.more`: call again, or the platform finishes it later). \
                          Cannot be undone.",
            input: obj(json!({ "namespace": s(NAMESPACE) }), &["namespace"]),
            output: out(
                json!({ "deleted": { "type": "object" },
                        "keys": { "type": "object", "properties": { "removed": { "type": "integer" }, "more": { "type": "boolean" } } } }),
                &["deleted"],
            ),
            read_only: false,
            destructive: true,
            idempotent: true,
        },
        Def {
            name: "list_sql_databases",
            title: "List SQL databases",
            description: "Lists the SQL databases you reach (yours, and those bound to projects you reach), newest \
                          first, each with the projects that bind it. Pass the returned `cursor` for the next page.",
            input: obj(
                json!({ "limit": { "type": "integer", "minimum": 1, "maximum": 100 },
                        "cursor": { "type": "string", "description": "From a previous page" } }),
                &[],
            ),
            output: out(
                json!({ "databases": { "type": "array", "items": { "type": "object" } }, "cursor": { "type": ["string", "null"] },
                        "count": { "type": "integer" } }),
                &["databases"],
            ),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "create_sql_database",
            title: "Create a SQL database",
            description: "Creates a SQL database (its own SQLite, D1's API). Bind it in `deploy` with \
                          `config.bindings: [{type: \"d1\", name, id}]`; server code then uses `env.<name>.prepare(...)`. \
                          Names are unique among your live databases.",
            input: obj(json!({ "name": { "type": "string", "minLength": 1, "maxLength": 512 } }), &["name"]),
            output: out(json!({ "database": { "type": "object" } }), &["database"]),
            read_only: false,
            destructive: false,
            idempotent: false,
        },
        Def {
            name: "delete_sql_database",
            title: "Delete a SQL database",
            description: "Deletes a SQL database and every table and row in it; refused while a live deployment \
                          binds it. Cannot be undone.",
            input: obj(json!({ "database": s(DATABASE) }), &["database"]),
            output: out(json!({ "deleted": { "type": "object" }, "data": { "type": "object" } }), &["deleted"]),
            read_only: false,
            destructive: true,
            idempotent: true,
        },
        Def {
            name: "list_buckets",
            title: "List buckets",
            description: "Lists the buckets you reach (yours, and those bound to projects you reach), newest first, \
                          each with the projects that bind it. Pass the returned `cursor` for the next page.",
            input: obj(
                json!({ "limit": { "type": "integer", "minimum": 1, "maximum": 100 },
                        "cursor": { "type": "string", "description": "From a previous page" } }),
                &[],
            ),
            output: out(
                json!({ "buckets": { "type": "array", "items": { "type": "object" } }, "cursor": { "type": ["string", "null"] },
                        "count": { "type": "integer" } }),
                &["buckets"],
            ),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "create_bucket",
            title: "Create a bucket",
            description: "Creates a bucket (R2's naming rules: 3-63 lowercase letters, digits and hyphens). Bind it in \
                          `deploy` with `config.bindings: [{type: \"bucket\", name, id}]`; server code then uses R2's API \
                          on `env.<name>`. Names are unique among your live buckets.",
            input: obj(json!({ "name": { "type": "string", "minLength": 3, "maxLength": 63 } }), &["name"]),
            output: out(json!({ "bucket": { "type": "object" } }), &["bucket"]),
            read_only: false,
            destructive: false,
            idempotent: false,
        },
        Def {
            name: "delete_bucket",
            title: "Delete a bucket",
            description: "Deletes a bucket and its objects; refused while a live deployment binds it. Each call removes \
                          up to 1000 objects (`objects.more`: call again, or the platform finishes it later). Cannot be \
                          undone.",
            input: obj(json!({ "bucket": s(BUCKET) }), &["bucket"]),
            output: out(
                json!({ "deleted": { "type": "object" },
                        "objects": { "type": "object", "properties": { "removed": { "type": "integer" }, "more": { "type": "boolean" } } } }),
                &["deleted"],
            ),
            read_only: false,
            destructive: true,
            idempotent: true,
        },
        Def {
            name: "get_logs",
            title: "Read the logs of a project's server code",
            description: "Kept runs of the project's server code, newest first: console lines, exceptions with stacks, \
                          outcome, request line and status. Filter with `status` (2xx, 3xx, 4xx, 5xx, or error: threw, \
                          did not end ok, answered 5xx or logged an error), `q` (text in the URL, lines and exceptions), \
                          `deploymentId`, `from`/`to` (RFC 3339). Pass the returned `cursor` for older runs.",
            input: obj(
                json!({ "project": s(PROJECT),
                        "status": { "type": "string", "enum": ["2xx", "3xx", "4xx", "5xx", "error"] },
                        "q": { "type": "string", "maxLength": 200 },
                        "deploymentId": s(DEPLOYMENT),
                        "from": { "type": "string", "description": "RFC 3339 time" },
                        "to": { "type": "string", "description": "RFC 3339 time" },
                        "limit": { "type": "integer", "minimum": 1, "maximum": 200 },
                        "cursor": { "type": "string", "description": "From a previous page" } }),
                &["project"],
            ),
            output: out(
                json!({ "projectId": { "type": "string" }, "count": { "type": "integer" },
                        "logs": { "type": "array", "items": { "type": "object" } }, "cursor": { "type": ["string", "null"] } }),
                &["logs"],
            ),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "tail_logs",
            title: "Watch a project's server code live",
            description: "Waits `seconds` (1-30, default 10) and returns the runs of the project's server code that \
                          happened meanwhile, oldest first, with the filters of `get_logs` (`status`, `q`, \
                          `deploymentId`). At most `limit` runs (default 100); `truncated` says when more came.",
            input: obj(
                json!({ "project": s(PROJECT),
                        "seconds": { "type": "integer", "minimum": 1, "maximum": MAX_TAIL_SECONDS },
                        "status": { "type": "string", "enum": ["2xx", "3xx", "4xx", "5xx", "error"] },
                        "q": { "type": "string", "maxLength": 200 },
                        "deploymentId": s(DEPLOYMENT),
                        "limit": { "type": "integer", "minimum": 1, "maximum": 200 } }),
                &["project"],
            ),
            output: out(
                json!({ "projectId": { "type": "string" }, "seconds": { "type": "integer" }, "count": { "type": "integer" },
                        "logs": { "type": "array", "items": { "type": "object" } }, "truncated": { "type": "boolean" } }),
                &["logs", "truncated"],
            ),
            read_only: true,
            destructive: false,
            idempotent: false,
        },
        Def {
            name: "get_rollout",
            title: "Read a project's gradual rollout",
            description: "The project's current or last gradual rollout (`rollout: null`: none yet): the deployment \
                          being rolled out, its status, the share of production visitors it gets now, its steps \
                          and each side's runs and 5xx so far.",
            input: obj(json!({ "project": s(PROJECT) }), &["project"]),
            output: out(
                json!({ "projectId": { "type": "string" }, "activeDeploymentId": { "type": ["string", "null"] },
                        "rollout": { "type": ["object", "null"] } }),
                &["rollout"],
            ),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "start_rollout",
            title: "Roll a deployment out gradually",
            description: "Splits production traffic between the active deployment and a ready one of the same \
                          project, step by step: `steps` `[{percent, minutes}]` with rising percents; visitors \
                          stay on one side (an affinity cookie). With `autoAbort.max5xxRatio` it aborts itself \
                          when the new side's 5xx share exceeds the old side's by more. The last step done, the \
                          deployment becomes production.",
            input: obj(
                json!({ "project": s(PROJECT), "deploymentId": s(DEPLOYMENT),
                        "steps": { "type": "array", "minItems": 1, "maxItems": 20, "items": obj(
                            json!({ "percent": { "type": "integer", "minimum": 1, "maximum": 100 },
                                    "minutes": { "type": "integer", "minimum": 0 } }),
                            &["percent", "minutes"]) },
                        "autoAbort": obj(json!({ "max5xxRatio": { "type": "number", "minimum": 0, "maximum": 1 } }), &[]) }),
                &["project", "deploymentId", "steps"],
            ),
            output: out(json!({ "rollout": { "type": ["object", "null"] } }), &["rollout"]),
            read_only: false,
            destructive: false,
            idempotent: false,
        },
        Def {
            name: "control_rollout",
            title: "Pause, resume, complete or abort a rollout",
            description: "`pause` stops the step clock (the split stays), `resume` restarts it, `complete` makes the \
                          new deployment production now, `abort` sends every visitor back to the active one.",
            input: obj(
                json!({ "project": s(PROJECT),
                        "action": { "type": "string", "enum": ["pause", "resume", "complete", "abort"] } }),
                &["project", "action"],
            ),
            output: out(json!({ "rollout": { "type": ["object", "null"] } }), &["rollout"]),
            read_only: false,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "list_webhooks",
            title: "List a project's webhooks",
            description: "The project's webhooks: receiver URL, subscribed events and the last response status. \
                          Secrets are never listed.",
            input: obj(json!({ "project": s(PROJECT) }), &["project"]),
            output: out(json!({ "webhooks": { "type": "array", "items": { "type": "object" } } }), &["webhooks"]),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        Def {
            name: "add_webhook",
            title: "Add a webhook to a project",
            description: "Registers an https receiver for the project's events (default: all of them). Deliveries are \
                          signed the Standard Webhooks way with the returned `webhook.secret`, which is shown only \
                          in this answer.",
            input: obj(
                json!({ "project": s(PROJECT),
                        "url": { "type": "string", "minLength": 1, "maxLength": 2048, "description": "https:// receiver URL" },
                        "events": { "type": "array", "items": { "type": "string", "enum": crate::observe::hooks::EVENTS } } }),
                &["project", "url"],
            ),
            output: out(json!({ "webhook": { "type": "object" } }), &["webhook"]),
            read_only: false,
            destructive: false,
            idempotent: false,
        },
        Def {
            name: "list_webhook_deliveries",
            title: "Read a webhook's deliveries log",
            description: "The webhook's newest 50 deliveries, each with its event, status (pending, succeeded, \
                          failed) and every attempt's HTTP response status.",
            input: obj(json!({ "project": s(PROJECT), "webhook": s("Webhook id") }), &["project", "webhook"]),
            output: out(
                json!({ "webhookId": { "type": "string" }, "deliveries": { "type": "array", "items": { "type": "object" } } }),
                &["deliveries"],
            ),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
    ]
}

/// The `tools/list` result.
pub fn tool_list() -> Value {
    let tools: Vec<Value> = defs()
        .into_iter()
        .map(|d| {
            let mut input = d.input;
            input["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
            json!({
                "name": d.name,
                "title": d.title,
                "description": d.description,
                "inputSchema": input,
                "outputSchema": d.output,
                "annotations": {
                    "title": d.title,
                    "readOnlyHint": d.read_only,
                    "destructiveHint": d.destructive,
                    "idempotentHint": d.idempotent,
                    "openWorldHint": false,
                },
            })
        })
        .collect();
    json!({ "tools": tools })
}

/// Validates `v` against the subset of JSON Schema our tool schemas use. Returns where and why
/// the first violation is.
pub fn validate(schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let here = if at.is_empty() { "arguments".to_string() } else { at.to_string() };
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            return Err(format!("{here} must be of type {}", types.join(" or ")));
        }
    }
    if let Some(n) = v.as_i64() {
        if schema.get("minimum").and_then(Value::as_i64).is_some_and(|m| n < m) {
            return Err(format!("{here} must be at least {}", schema["minimum"]));
        }
        if schema.get("maximum").and_then(Value::as_i64).is_some_and(|m| n > m) {
            return Err(format!("{here} must be at most {}", schema["maximum"]));
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count() as u64;
        if schema.get("minLength").and_then(Value::as_u64).is_some_and(|m| len < m) {
            return Err(format!("{here} must not be empty"));
        }
        if schema.get("maxLength").and_then(Value::as_u64).is_some_and(|m| len > m) {
            return Err(format!("{here} must be at most {} characters", schema["maxLength"]));
        }
    }
    if let Some(items) = v.as_array() {
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(item_schema, item, &format!("{here}[{i}]"))?;
            }
        }
    }
    if let Some(o) = v.as_object() {
        let count = o.len() as u64;
        if schema.get("minProperties").and_then(Value::as_u64).is_some_and(|m| count < m) {
            return Err(format!(
                "{here} needs at least {} entr{}",
                schema["minProperties"],
                if count == 0 { "y" } else { "ies" }
            ));
        }
        if schema.get("maxProperties").and_then(Value::as_u64).is_some_and(|m| count > m) {
            return Err(format!("{here} may have at most {} entries", schema["maxProperties"]));
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for req in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if let Some(name) = req.as_str() {
                if !o.contains_key(name) {
                    return Err(format!("{here}.{name} is required"));
                }
            }
        }
        for (k, val) in o {
            let path = format!("{here}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(ps, val, &path)?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => return Err(format!("{path} is not a known argument")),
                    Some(extra @ Value::Object(_)) => validate(extra, val, &path)?,
                    _ => {}
                },
            }
        }
    }
    Ok(())
}

/// One inline file, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct InlineFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeployArgs {
    pub project: String,
    pub files: Vec<InlineFile>,
    /// The deploy body's other fields, passed through unchanged (config, serverCode, env,
    /// run_worker_first, activate): the HTTP API validates them, once.
    pub deploy_fields: Map<String, Value>,
    pub wait: bool,
}

impl DeployArgs {
    /// The upload-session manifest and the bodies by hash.
    pub fn manifest(&self) -> (Value, Vec<(String, String)>) {
        let mut manifest = Map::new();
        let mut bodies: Vec<(String, String)> = Vec::new();
        for f in &self.files {
            let hash: String = crate::domain::hex_lower(&Sha256::digest(&f.bytes));
            manifest.insert(f.path.clone(), json!({ "hash": hash, "size": f.bytes.len() }));
            if !bodies.iter().any(|(h, _)| *h == hash) {
                bodies.push((hash, STANDARD.encode(&f.bytes)));
            }
        }
        (Value::Object(manifest), bodies)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolCall {
    ListProjects {
        limit: Option<i64>,
        cursor: Option<String>,
    },
    CreateProject {
        name: Option<String>,
    },
    GetProject {
        project: String,
    },
    /// `update_project`: the settings given (schema-checked), sent as the PATCH body.
    UpdateProject {
        project: String,
        settings: Map<String, Value>,
    },
    DeleteProject {
        project: String,
    },
    Deploy(DeployArgs),
    GetDeployment {
        deployment: String,
    },
    ListDeployments {
        project: String,
        limit: Option<i64>,
    },
    GetDeploymentLogs {
        deployment: String,
        after: Option<i64>,
        limit: Option<i64>,
    },
    Rollback {
        project: String,
        deployment_id: Option<String>,
    },
    Promote {
        deployment: String,
    },
    SetAlias {
        project: String,
        name: String,
        deployment_id: String,
    },
    AddDomain {
        project: String,
        hostname: String,
    },
    ListDomains {
        project: String,
    },
    VerifyDomain {
        project: String,
        hostname: String,
    },
    ListKvNamespaces {
        limit: Option<i64>,
        cursor: Option<String>,
    },
    CreateKvNamespace {
        title: String,
    },
    DeleteKvNamespace {
        namespace: String,
    },
    ListSqlDatabases {
        limit: Option<i64>,
        cursor: Option<String>,
    },
    CreateSqlDatabase {
        name: String,
    },
    DeleteSqlDatabase {
        database: String,
    },
    ListBuckets {
        limit: Option<i64>,
        cursor: Option<String>,
    },
    CreateBucket {
        name: String,
    },
    DeleteBucket {
        bucket: String,
    },
    ListEnv {
        project: String,
    },
    SetEnv {
        project: String,
        scope: String,
        name: String,
        kind: Option<String>,
        value: String,
    },
    GetLogs(LogsArgs),
    /// `tail_logs`: the filters of `get_logs` (from/to/cursor excepted), for a window.
    TailLogs {
        seconds: i64,
        filters: LogsArgs,
    },
    ListWebhooks {
        project: String,
    },
    AddWebhook {
        project: String,
        url: String,
        events: Option<Vec<String>>,
    },
    ListWebhookDeliveries {
        project: String,
        webhook: String,
    },
    GetRollout {
        project: String,
    },
    /// `start_rollout`: the request body as given (schema-checked; the API checks the rules).
    StartRollout {
        project: String,
        body: Map<String, Value>,
    },
    ControlRollout {
        project: String,
        action: String,
    },
}

/// `get_logs`: the filters of `GET /__api/projects/:id/logs`, passed through (the API checks them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogsArgs {
    pub project: String,
    pub status: Option<String>,
    pub q: Option<String>,
    pub deployment_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Validates a `tools/call` and turns it into a [`ToolCall`]. Unknown tools and arguments that
/// break the schema are JSON-RPC -32602; bad file contents are operation errors (`Ok(Err)`),
/// which the agent sees as an `isError` result it can act on.
pub fn parse_tool_call(params: Option<&Value>) -> Result<Result<ToolCall, String>, RpcError> {
    let p = params
        .and_then(Value::as_object)
        .ok_or_else(|| RpcError::invalid_params("params must be an object"))?;
    let name = p
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("params.name is required"))?;
    let def = defs()
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| RpcError::invalid_params(format!("Unknown tool: {name}")))?;
    let empty = json!({});
    let args = p.get("arguments").unwrap_or(&empty);
    validate(&def.input, args, "").map_err(RpcError::invalid_params)?;
    let str_of = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
    let req = |k: &str| str_of(k).unwrap_or_default(); // presence checked by the schema
    let int_of = |k: &str| args.get(k).and_then(Value::as_i64);
    Ok(Ok(match name {
        "list_projects" => ToolCall::ListProjects { limit: int_of("limit"), cursor: str_of("cursor") },
        "create_project" => ToolCall::CreateProject { name: str_of("name") },
        "get_project" => ToolCall::GetProject { project: req("project") },
        "update_project" => {
            let mut settings = args.as_object().cloned().unwrap_or_default();
            settings.remove("project");
            ToolCall::UpdateProject { project: req("project"), settings }
        }
        "delete_project" => ToolCall::DeleteProject { project: req("project") },
        "get_deployment" => ToolCall::GetDeployment { deployment: req("deployment") },
        "list_deployments" => ToolCall::ListDeployments { project: req("project"), limit: int_of("limit") },
        "get_deployment_logs" => ToolCall::GetDeploymentLogs {
            deployment: req("deployment"),
            after: int_of("after"),
            limit: int_of("limit"),
        },
        "rollback" => ToolCall::Rollback { project: req("project"), deployment_id: str_of("deploymentId") },
        "promote" => ToolCall::Promote { deployment: req("deployment") },
        "set_alias" => ToolCall::SetAlias {
            project: req("project"),
            name: req("name"),
            deployment_id: req("deploymentId"),
        },
        "list_env" => ToolCall::ListEnv { project: req("project") },
        "set_env" => ToolCall::SetEnv {
            project: req("project"),
            scope: req("scope"),
            name: req("name"),
            kind: str_of("type"),
            value: req("value"),
        },
        "add_domain" => ToolCall::AddDomain { project: req("project"), hostname: req("hostname") },
        "list_domains" => ToolCall::ListDomains { project: req("project") },
        "verify_domain" => ToolCall::VerifyDomain { project: req("project"), hostname: req("hostname") },
        "list_kv_namespaces" => {
            ToolCall::ListKvNamespaces { limit: int_of("limit"), cursor: str_of("cursor") }
        }
        "create_kv_namespace" => ToolCall::CreateKvNamespace { title: req("title") },
        "delete_kv_namespace" => ToolCall::DeleteKvNamespace { namespace: req("namespace") },
        "list_sql_databases" => {
            ToolCall::ListSqlDatabases { limit: int_of("limit"), cursor: str_of("cursor") }
        }
        "create_sql_database" => ToolCall::CreateSqlDatabase { name: req("name") },
        "delete_sql_database" => ToolCall::DeleteSqlDatabase { database: req("database") },
        "list_buckets" => ToolCall::ListBuckets { limit: int_of("limit"), cursor: str_of("cursor") },
        "create_bucket" => ToolCall::CreateBucket { name: req("name") },
        "delete_bucket" => ToolCall::DeleteBucket { bucket: req("bucket") },
        "get_logs" => ToolCall::GetLogs(LogsArgs {
            project: req("project"),
            status: str_of("status"),
            q: str_of("q"),
            deployment_id: str_of("deploymentId"),
            from: str_of("from"),
            to: str_of("to"),
            limit: int_of("limit"),
            cursor: str_of("cursor"),
        }),
        "tail_logs" => ToolCall::TailLogs {
            seconds: int_of("seconds").unwrap_or(10),
            filters: LogsArgs {
                project: req("project"),
                status: str_of("status"),
                q: str_of("q"),
                deployment_id: str_of("deploymentId"),
                limit: int_of("limit"),
                ..LogsArgs::default()
            },
        },
        "get_rollout" => ToolCall::GetRollout { project: req("project") },
        "start_rollout" => {
            let mut body = args.as_object().cloned().unwrap_or_default();
            body.remove("project");
            ToolCall::StartRollout { project: req("project"), body }
        }
        "control_rollout" => ToolCall::ControlRollout { project: req("project"), action: req("action") },
        "list_webhooks" => ToolCall::ListWebhooks { project: req("project") },
        "add_webhook" => ToolCall::AddWebhook {
            project: req("project"),
            url: req("url"),
            events: args
                .get("events")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()),
        },
        "list_webhook_deliveries" => {
            ToolCall::ListWebhookDeliveries { project: req("project"), webhook: req("webhook") }
        }
        "deploy" => match deploy_args(args) {
            Ok(d) => ToolCall::Deploy(d),
            Err(message) => return Ok(Err(message)),
        },
        other => return Err(RpcError::invalid_params(format!("Unknown tool: {other}"))),
    }))
}

fn deploy_args(args: &Value) -> Result<DeployArgs, String> {
    let mut files = Vec::new();
    let mut total = 0usize;
    for (path, entry) in args["files"].as_object().into_iter().flatten() {
        let bytes = match (entry.get("text"), entry.get("base64")) {
            (Some(Value::String(t)), None) => t.as_bytes().to_vec(),
            (None, Some(Value::String(b))) => {
                STANDARD.decode(b.trim()).map_err(|_| format!("files[{path}].base64 is not valid base64"))?
            }
            _ => return Err(format!("files[{path}] must be {{\"text\": ...}} or {{\"base64\": ...}}")),
        };
        total += bytes.len();
        if total > MAX_INLINE_BYTES {
            return Err(format!(
                "inline files exceed {MAX_INLINE_BYTES} bytes in total; deploy large sites with the CLI or the HTTP API"
            ));
        }
        let path = if path.starts_with('/') { path.clone() } else { format!("/{path}") };
        // `a` and `/a` are one file: which of two contents would be deployed is not for us to guess.
        if files.iter().any(|f: &InlineFile| f.path == path) {
            return Err(format!("files[{path}] is given twice (with and without its leading '/')"));
        }
        files.push(InlineFile { path, bytes });
    }
    let mut deploy_fields = Map::new();
    for k in ["config", "serverCode", "env", "run_worker_first", "activate"] {
        if let Some(v) = args.get(k) {
            deploy_fields.insert(k.to_string(), v.clone());
        }
    }
    Ok(DeployArgs {
        project: args["project"].as_str().unwrap_or_default().to_string(),
        files,
        deploy_fields,
        wait: args.get("wait").and_then(Value::as_bool).unwrap_or(true),
    })
}

/// A successful tool result: structured content mirrored as a JSON text block.
pub fn tool_result(structured: Value) -> Value {
    json!({
        "content": [{ "type": "text", "text": structured.to_string() }],
        "structuredContent": structured,
        "isError": false,
    })
}

/// An operation failure the agent can act on (not a protocol error).
pub fn tool_error(message: &str) -> Value {
    json!({ "content": [{ "type": "text", "text": message }], "isError": true })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Value) -> Result<Result<ToolCall, String>, RpcError> {
        parse_tool_call(Some(&json!({ "name": name, "arguments": args })))
    }

    #[test]
    fn every_tool_is_well_formed() {
        let list = tool_list();
        let tools = list["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 34);
        for t in tools {
            assert_eq!(t["inputSchema"]["type"], "object", "{}", t["name"]);
            assert_eq!(t["inputSchema"]["additionalProperties"], false, "{}", t["name"]);
            assert_eq!(t["outputSchema"]["type"], "object");
            assert!(t["title"].is_string() && t["description"].is_string());
            assert!(t["annotations"]["readOnlyHint"].is_boolean());
        }
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        for n in [
            "list_projects",
            "deploy",
            "rollback",
            "promote",
            "get_deployment_logs",
            "set_alias",
            "list_env",
            "set_env",
            "add_domain",
            "list_domains",
            "verify_domain",
            "list_kv_namespaces",
            "create_kv_namespace",
            "delete_kv_namespace",
            "list_sql_databases",
            "create_sql_database",
            "delete_sql_database",
            "list_buckets",
            "create_bucket",
            "delete_bucket",
            "get_logs",
            "list_webhooks",
            "add_webhook",
            "list_webhook_deliveries",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        let ro = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap()["annotations"].clone();
        assert_eq!(ro("get_project")["readOnlyHint"], true);
        assert_eq!(ro("delete_project")["destructiveHint"], true);
        assert_eq!(ro("rollback")["destructiveHint"], true);
        assert_eq!(ro("list_domains")["readOnlyHint"], true);
        assert_eq!(ro("add_domain")["readOnlyHint"], false);
        assert_eq!(ro("list_kv_namespaces")["readOnlyHint"], true);
        assert_eq!(ro("delete_kv_namespace")["destructiveHint"], true);
    }

    #[test]
    fn webhook_tools_parse() {
        assert_eq!(
            call(
                "add_webhook",
                json!({ "project": "p", "url": "https://a.example/h", "events": ["project.deleted"] })
            )
            .unwrap(),
            Ok(ToolCall::AddWebhook {
                project: "p".into(),
                url: "https://a.example/h".into(),
                events: Some(vec!["project.deleted".into()]),
            })
        );
        assert_eq!(
            call("add_webhook", json!({ "project": "p", "url": "https://a.example/h" })).unwrap(),
            Ok(ToolCall::AddWebhook { project: "p".into(), url: "https://a.example/h".into(), events: None })
        );
        assert_eq!(call("add_webhook", json!({ "project": "p" })).unwrap_err().code, -32602);
        assert_eq!(
            call("add_webhook", json!({ "project": "p", "url": "u", "events": "all" })).unwrap_err().code,
            -32602
        );
        assert_eq!(
            call("list_webhook_deliveries", json!({ "project": "p", "webhook": "h" })).unwrap(),
            Ok(ToolCall::ListWebhookDeliveries { project: "p".into(), webhook: "h".into() })
        );
        assert_eq!(call("list_webhooks", json!({})).unwrap_err().code, -32602);
        let ann = |n: &str| {
            tool_list()["tools"].as_array().unwrap().iter().find(|t| t["name"] == n).unwrap()["annotations"]
                .clone()
        };
        assert_eq!(ann("list_webhooks")["readOnlyHint"], true);
        assert_eq!(ann("add_webhook")["readOnlyHint"], false);
    }

    #[test]
    fn kv_namespace_tools_parse() {
        assert_eq!(
            call("list_kv_namespaces", json!({ "limit": 5, "cursor": "c" })).unwrap(),
            Ok(ToolCall::ListKvNamespaces { limit: Some(5), cursor: Some("c".into()) })
        );
        assert_eq!(
            call("create_kv_namespace", json!({ "title": "sessions" })).unwrap(),
            Ok(ToolCall::CreateKvNamespace { title: "sessions".into() })
        );
        assert_eq!(
            call("delete_kv_namespace", json!({ "namespace": "0123" })).unwrap(),
            Ok(ToolCall::DeleteKvNamespace { namespace: "0123".into() })
        );
        assert_eq!(call("create_kv_namespace", json!({})).unwrap_err().code, -32602);
        assert_eq!(call("create_kv_namespace", json!({ "title": "" })).unwrap_err().code, -32602);
        assert_eq!(call("delete_kv_namespace", json!({ "namespace": "" })).unwrap_err().code, -32602);
        assert_eq!(call("list_kv_namespaces", json!({ "limit": 101 })).unwrap_err().code, -32602);
    }

    #[test]
    fn bucket_and_log_tools_parse() {
        assert_eq!(
            call("list_buckets", json!({ "limit": 5 })).unwrap(),
            Ok(ToolCall::ListBuckets { limit: Some(5), cursor: None })
        );
        assert_eq!(
            call("create_bucket", json!({ "name": "files" })).unwrap(),
            Ok(ToolCall::CreateBucket { name: "files".into() })
        );
        assert_eq!(
            call("delete_bucket", json!({ "bucket": "0123" })).unwrap(),
            Ok(ToolCall::DeleteBucket { bucket: "0123".into() })
        );
        assert_eq!(
            call("get_logs", json!({ "project": "p", "status": "error", "q": "boom", "limit": 5 })).unwrap(),
            Ok(ToolCall::GetLogs(LogsArgs {
                project: "p".into(),
                status: Some("error".into()),
                q: Some("boom".into()),
                limit: Some(5),
                ..LogsArgs::default()
            }))
        );
        assert_eq!(call("create_bucket", json!({ "name": "ab" })).unwrap_err().code, -32602);
        assert_eq!(
            call("create_sql_database", json!({ "name": "app" })).unwrap(),
            Ok(ToolCall::CreateSqlDatabase { name: "app".into() })
        );
        assert_eq!(
            call("delete_sql_database", json!({ "database": "0123" })).unwrap(),
            Ok(ToolCall::DeleteSqlDatabase { database: "0123".into() })
        );
        assert_eq!(call("create_sql_database", json!({ "name": "" })).unwrap_err().code, -32602);
        assert_eq!(call("get_logs", json!({})).unwrap_err().code, -32602);
        assert_eq!(call("get_logs", json!({ "project": "p", "limit": 201 })).unwrap_err().code, -32602);
        let tools = tool_list()["tools"].as_array().unwrap().clone();
        let ann = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap()["annotations"].clone();
        assert_eq!(ann("get_logs")["readOnlyHint"], true);
        assert_eq!(ann("delete_bucket")["destructiveHint"], true);
    }

    #[test]
    fn env_tools_parse() {
        assert_eq!(
            call(
                "set_env",
                json!({ "project": "p", "scope": "alias:qa", "name": "K", "type": "secret", "value": "v" })
            )
            .unwrap(),
            Ok(ToolCall::SetEnv {
                project: "p".into(),
                scope: "alias:qa".into(),
                name: "K".into(),
                kind: Some("secret".into()),
                value: "v".into()
            })
        );
        assert_eq!(
            call("set_env", json!({ "project": "p", "scope": "preview", "name": "K" })).unwrap_err().code,
            -32602
        );
        assert_eq!(
            call("list_env", json!({ "project": "p" })).unwrap(),
            Ok(ToolCall::ListEnv { project: "p".into() })
        );
        let tools = tool_list()["tools"].as_array().unwrap().clone();
        let ann = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap()["annotations"].clone();
        assert_eq!(ann("list_env")["readOnlyHint"], true);
        assert_eq!(ann("set_env")["readOnlyHint"], false);
    }

    #[test]
    fn domain_tools_parse() {
        assert_eq!(
            call("add_domain", json!({ "project": "p", "hostname": "www.a.com" })).unwrap(),
            Ok(ToolCall::AddDomain { project: "p".into(), hostname: "www.a.com".into() })
        );
        assert_eq!(
            call("list_domains", json!({ "project": "p" })).unwrap(),
            Ok(ToolCall::ListDomains { project: "p".into() })
        );
        assert_eq!(
            call("verify_domain", json!({ "project": "p", "hostname": "www.a.com" })).unwrap(),
            Ok(ToolCall::VerifyDomain { project: "p".into(), hostname: "www.a.com".into() })
        );
        assert_eq!(call("add_domain", json!({ "project": "p" })).unwrap_err().code, -32602);
        assert_eq!(
            call("verify_domain", json!({ "project": "p", "hostname": "" })).unwrap_err().code,
            -32602
        );
    }

    #[test]
    fn tail_logs_waits_ten_seconds_unless_told_and_at_most_thirty() {
        assert_eq!(
            call("tail_logs", json!({ "project": "p", "q": "boom" })).unwrap(),
            Ok(ToolCall::TailLogs {
                seconds: 10,
                filters: LogsArgs { project: "p".into(), q: Some("boom".into()), ..LogsArgs::default() }
            })
        );
        for seconds in [0, 31] {
            assert_eq!(
                call("tail_logs", json!({ "project": "p", "seconds": seconds })).unwrap_err().code,
                -32602
            );
        }
        assert_eq!(call("tail_logs", json!({ "project": "p", "cursor": "1" })).unwrap_err().code, -32602);
    }

    #[test]
    fn update_project_passes_only_the_settings_given_within_their_ranges() {
        let mut settings = Map::new();
        settings.insert("skewProtection".into(), json!(false));
        settings.insert("skewPinSeconds".into(), json!(3600));
        assert_eq!(
            call(
                "update_project",
                json!({ "project": "p", "skewProtection": false, "skewPinSeconds": 3600 })
            )
            .unwrap(),
            Ok(ToolCall::UpdateProject { project: "p".into(), settings })
        );
        let bad = |args: Value| call("update_project", args).unwrap_err().code;
        assert_eq!(bad(json!({ "skewProtection": true })), -32602);
        assert_eq!(bad(json!({ "project": "p", "skewPinSeconds": 59 })), -32602);
        assert_eq!(bad(json!({ "project": "p", "skewFallbackDepth": 21 })), -32602);
        assert_eq!(bad(json!({ "project": "p", "skewProtection": "off" })), -32602);
        assert_eq!(bad(json!({ "project": "p", "outbound": true })), -32602);
        assert_eq!(bad(json!({ "project": "p", "slug": "x" })), -32602);
    }

    #[test]
    fn arguments_are_checked_against_the_advertised_schema() {
        assert_eq!(
            call("get_project", json!({ "project": "p" })).unwrap(),
            Ok(ToolCall::GetProject { project: "p".into() })
        );
        let bad = |name: &str, args: Value| call(name, args).unwrap_err().code;
        assert_eq!(bad("get_project", json!({})), -32602);
        assert_eq!(bad("get_project", json!({ "project": "" })), -32602);
        assert_eq!(bad("get_project", json!({ "project": 5 })), -32602);
        assert_eq!(bad("get_project", json!({ "project": "p", "extra": 1 })), -32602);
        assert_eq!(bad("list_projects", json!({ "limit": 0 })), -32602);
        assert_eq!(bad("list_projects", json!({ "limit": 1.5 })), -32602);
        assert_eq!(bad("nope", json!({})), -32602);
        assert_eq!(parse_tool_call(None).unwrap_err().code, -32602);
        assert_eq!(parse_tool_call(Some(&json!({ "arguments": {} }))).unwrap_err().code, -32602);
        let e = call("get_project", json!({ "project": "p", "x": 1 })).unwrap_err();
        assert!(e.message.contains("arguments.x"), "{}", e.message);
        // Missing arguments object = empty arguments.
        assert!(parse_tool_call(Some(&json!({ "name": "list_projects" }))).unwrap().is_ok());
    }

    #[test]
    fn deploy_files_decode_and_dedupe() {
        let r = call(
            "deploy",
            json!({ "project": "p", "files": { "index.html": { "text": "hi" }, "/a.bin": { "base64": "AAEC" },
                    "/b.html": { "text": "hi" } }, "activate": false, "wait": false }),
        )
        .unwrap()
        .unwrap();
        let ToolCall::Deploy(d) = r else { panic!() };
        assert!(!d.wait);
        assert_eq!(d.deploy_fields.get("activate"), Some(&json!(false)));
        let (manifest, bodies) = d.manifest();
        assert_eq!(manifest.as_object().unwrap().len(), 3);
        assert!(manifest.get("/index.html").is_some(), "paths get a leading slash");
        assert_eq!(bodies.len(), 2, "identical contents upload once");
        assert_eq!(manifest["/a.bin"]["size"], 3);
        // Bad contents are operation errors, not protocol errors.
        let e = call("deploy", json!({ "project": "p", "files": { "/x": { "base64": "!!" } } }))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("base64"));
        assert_eq!(call("deploy", json!({ "project": "p", "files": {} })).unwrap_err().code, -32602);
        let both = json!({ "project": "p", "files": { "/x": { "text": "a", "base64": "YQ==" } } });
        assert_eq!(call("deploy", both).unwrap_err().code, -32602);
        // `x` and `/x` name one file; two contents for it are refused, not one picked.
        let twice = json!({ "project": "p", "files": { "x": { "text": "a" }, "/x": { "text": "b" } } });
        assert!(call("deploy", twice).unwrap().unwrap_err().contains("twice"));
    }

    #[test]
    fn inline_deploys_are_bounded() {
        let big = "x".repeat(MAX_INLINE_BYTES / 2 + 1);
        let e = call(
            "deploy",
            json!({ "project": "p", "files": { "/a": { "text": big.clone() }, "/b": { "text": big } } }),
        )
        .unwrap()
        .unwrap_err();
        assert!(e.contains("exceed"));
        let many: Map<String, Value> =
            (0..=MAX_INLINE_FILES).map(|i| (format!("/f{i}"), json!({ "text": "x" }))).collect();
        assert_eq!(call("deploy", json!({ "project": "p", "files": many })).unwrap_err().code, -32602);
    }

    #[test]
    fn results_mirror_structured_content() {
        let r = tool_result(json!({ "a": 1 }));
        assert_eq!(r["structuredContent"]["a"], 1);
        assert_eq!(
            serde_json::from_str::<Value>(r["content"][0]["text"].as_str().unwrap()).unwrap(),
            json!({ "a": 1 })
        );
        assert_eq!(tool_error("no")["isError"], true);
    }
}
