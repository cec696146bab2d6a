//! Command-line grammar (clap derive). Usage errors exit 2 (clap's default).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  export FLOTILLA_URL=https://example.dev FLOTILLA_TOKEN=flt_...
  flotilla deploy ./dist --project my-site
  flotilla deploy ./dist --create \"My Site\" --spa
  flotilla deploy ./public --project api --server ./worker --entry main.js --env API_URL=https://x
  flotilla deploy ./dist --project my-site --no-activate --alias staging --json
  flotilla deployments --project my-site
  flotilla rollback --project my-site
  flotilla promote 3f2a9c1e-...
  flotilla logs 3f2a9c1e-...
  eval \"$(flotilla env)\" && npx wrangler deploy   # wrangler & co. talk to Flotilla only

Configuration: --url/--token, else FLOTILLA_URL/FLOTILLA_TOKEN, else a JSON file
{\"url\": \"...\", \"token\": \"...\"} at $FLOTILLA_CONFIG or ~/.config/flotilla/config.json.

Exit codes: 0 ok, 1 failure, 2 usage, 3 authentication (missing, bad or insufficient token).";

#[derive(Debug, Parser)]
#[command(name = "flotilla", version, about = "Deploy and manage sites on a Flotilla platform", after_help = EXAMPLES)]
pub struct Cli {
    /// Platform URL, e.g. https://example.dev (default: $FLOTILLA_URL, then the config file)
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// API token (default: $FLOTILLA_TOKEN, then the config file; prefer the env var: flags show up in `ps`)
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Print machine-readable JSON on stdout (progress and notes go to stderr)
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload a directory and deploy it (only files the project lacks are uploaded)
    #[command(
        after_help = "Examples:\n  flotilla deploy ./dist --project my-site\n  flotilla deploy ./dist --create blog --spa --json\n  flotilla deploy ./dist --project my-site --no-activate --alias preview"
    )]
    Deploy(DeployArgs),
    /// List, create or delete projects
    #[command(
        subcommand,
        after_help = "Examples:\n  flotilla projects list --json\n  flotilla projects create \"My Site\"\n  flotilla projects delete my-site-x1y2z3"
    )]
    Projects(ProjectsCmd),
    /// A project's deployments, newest first
    #[command(after_help = "Example:\n  flotilla deployments --project my-site --limit 5")]
    Deployments {
        #[arg(long, short)]
        project: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// A deployment's log lines, or (with --project) what a project's server code printed and threw
    #[command(
        after_help = "Examples:\n  flotilla logs 3f2a9c1e-0b7d-4c1a-9e55-2d0c6f1b8a90 --json   # the deployment's own steps\n  flotilla logs --project my-site --status error             # runs of its server code, newest first\n  flotilla logs -p my-site -q timeout --follow                # new runs as they come"
    )]
    Logs(LogsArgs),
    /// Serve an earlier deployment again (default: the previous good one)
    #[command(
        after_help = "Examples:\n  flotilla rollback --project my-site\n  flotilla rollback --project my-site --to 3f2a9c1e-0b7d-4c1a-9e55-2d0c6f1b8a90"
    )]
    Rollback {
        #[arg(long, short)]
        project: String,
        /// Deployment id to activate
        #[arg(long)]
        to: Option<String>,
    },
    /// Make a ready deployment (e.g. one deployed with --no-activate) production
    #[command(
        after_help = "Example:\n  flotilla deploy ./dist -p my-site --no-activate --json   # note deployment.id\n  flotilla promote 3f2a9c1e-0b7d-4c1a-9e55-2d0c6f1b8a90"
    )]
    Promote { deployment: String },
    /// Gradual rollouts: split production between the active deployment and a new one
    #[command(
        subcommand,
        after_help = "Examples:\n  flotilla rollout start -p my-site 3f2a9c1e-0b7d-4c1a-9e55-2d0c6f1b8a90 --steps 10:30,50:60,100:30 --max-5xx-ratio 0.05\n  flotilla rollout status -p my-site\n  flotilla rollout abort -p my-site"
    )]
    Rollout(RolloutCmd),
    /// Named pointers to deployments (<alias>--<slug>.<domain>)
    #[command(
        subcommand,
        after_help = "Examples:\n  flotilla alias set --project my-site staging 3f2a9c1e-0b7d-4c1a-9e55-2d0c6f1b8a90\n  flotilla alias rm --project my-site staging"
    )]
    Alias(AliasCmd),
    /// Scoped env vars, secrets and preview binding overrides of a project's server code
    #[command(
        subcommand,
        after_help = "Scopes: production, preview (every non-production URL), alias:<name>, all.\nExamples:\n  flotilla vars set -p my-site --scope preview API_URL https://staging.example.com\n  flotilla vars set -p my-site --scope preview --secret DB_PASSWORD s3cr3t\n  flotilla vars set -p my-site --scope alias:qa --kv CACHE <namespace id>\n  flotilla vars list -p my-site\n  flotilla vars rm -p my-site --scope preview API_URL"
    )]
    Vars(VarsCmd),
    /// Custom domains
    #[command(
        subcommand,
        after_help = "Examples:\n  flotilla domains add --project my-site www.example.com   # prints the TXT record to create\n  flotilla domains verify --project my-site www.example.com"
    )]
    Domains(DomainsCmd),
    /// Scoped API tokens
    #[command(
        subcommand,
        after_help = "Examples:\n  flotilla tokens create --name ci --projects my-site --scopes deploy\n  flotilla tokens list\n  flotilla tokens revoke tok_0123456789abcdef"
    )]
    Tokens(TokensCmd),
    /// Webhooks: signed HTTP calls on deployment, domain and project events
    #[command(
        subcommand,
        after_help = "Examples:\n  flotilla webhooks add -p my-site https://ci.example.com/hook --events deployment.failed,deployment.activated\n  flotilla webhooks deliveries -p my-site <webhook-id>\n  flotilla webhooks redeliver -p my-site <webhook-id> <delivery-id>"
    )]
    Webhooks(WebhooksCmd),
    /// Log drains: NDJSON batches of a project's invocation logs and deployment events
    #[command(
        subcommand,
        after_help = "Examples:\n  flotilla drains add -p my-site https://logs.example.com/in --sources logs --sampling 0.1\n  flotilla drains list -p my-site   # shows the backlog and dropped lines"
    )]
    Drains(DrainsCmd),
    /// Storage for server code: KV namespaces (bind one with `deploy --kv NAME=ID`)
    #[command(
        subcommand,
        after_help = "Examples:\n  flotilla kv namespace create sessions\n  flotilla kv namespace list --json\n  flotilla kv namespace delete 0123456789abcdef0123456789abcdef"
    )]
    Kv(KvCmd),
    /// Storage for server code: SQL databases with D1's API (bind one with `deploy --sql NAME=ID`)
    #[command(
        subcommand,
        after_help = "Examples:\n  flotilla sql database create app\n  flotilla sql database list --json\n  flotilla sql database delete 0123456789abcdef0123456789abcdef"
    )]
    Sql(SqlCmd),
    /// Storage for server code: buckets with R2's API (bind one with `deploy --bucket NAME=ID`)
    #[command(
        subcommand,
        after_help = "Examples:\n  flotilla bucket create uploads\n  flotilla bucket list --json\n  flotilla bucket delete 0123456789abcdef0123456789abcdef"
    )]
    Bucket(BucketCmd),
    /// Print the environment that points wrangler, the Cloudflare SDK, OpenNext and `cf` at this
    /// platform instead of Cloudflare (telemetry off)
    #[command(
        after_help = "Sets CLOUDFLARE_API_BASE_URL and CLOUDFLARE_BASE_URL (<url>/client/v4), CLOUDFLARE_API_TOKEN,\nCLOUDFLARE_ACCOUNT_ID, WRANGLER_SEND_METRICS=false, WRANGLER_SEND_ERROR_REPORTS=false and\nCLOUDFLARE_CF_FETCH_ENABLED=false; unsets the Cloudflare global-key variables that wrangler\nwould use instead of the token. The output contains the token.\n\nExamples:\n  eval \"$(flotilla env)\"\n  flotilla env --shell fish | source\n  flotilla env --shell powershell | Out-String | Invoke-Expression\n  flotilla env --shell dotenv > .env   # keep it out of git"
    )]
    Env {
        /// Output form
        #[arg(long, value_enum, default_value = "sh")]
        shell: crate::env::Shell,
    },
    /// The audit trail, newest first
    #[command(after_help = "Example:\n  flotilla audit --project my-site --limit 20")]
    Audit {
        #[arg(long, short)]
        project: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Directory of static assets to deploy
    pub dir: PathBuf,
    /// Project id or slug
    #[arg(long, short, conflicts_with = "create")]
    pub project: Option<String>,
    /// Create a new project with this name and deploy to it
    #[arg(long, value_name = "NAME")]
    pub create: Option<String>,
    /// Server code: a module file, or a directory of modules
    #[arg(long, value_name = "DIR|FILE")]
    pub server: Option<PathBuf>,
    /// Entry module of --server (default: the file itself, or index.js/main.js/worker.js)
    #[arg(long, value_name = "MODULE", requires = "server")]
    pub entry: Option<String>,
    /// Compatibility date for the server code
    #[arg(long, default_value = "2026-10-01", requires = "server")]
    pub compatibility_date: String,
    /// Single-page application: unknown navigations serve /index.html
    #[arg(long, conflicts_with = "not_found")]
    pub spa: bool,
    /// Trailing-slash behaviour of HTML pages (default: auto-trailing-slash)
    #[arg(long, value_parser = ["auto-trailing-slash", "force-trailing-slash", "drop-trailing-slash", "none"])]
    pub html_handling: Option<String>,
    /// What an unknown path answers (default: none, a plain 404)
    #[arg(long = "not-found", value_parser = ["none", "404-page", "single-page-application"])]
    pub not_found: Option<String>,
    /// A variable for the server code (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Bind a KV namespace to the server code as `env.NAME` (repeatable; see `flotilla kv namespace`)
    #[arg(long = "kv", value_name = "NAME=NAMESPACE_ID", requires = "server")]
    pub kv: Vec<String>,
    /// Bind a SQL database (D1's API) as `env.NAME` (repeatable; see `flotilla sql database`)
    #[arg(long = "sql", value_name = "NAME=DATABASE_ID", requires = "server")]
    pub sql: Vec<String>,
    /// Bind a bucket (R2's API) as `env.NAME` (repeatable; see `flotilla bucket`)
    #[arg(long = "bucket", value_name = "NAME=BUCKET_ID", requires = "server")]
    pub bucket: Vec<String>,
    /// Stage the deployment without making it production (promote it later)
    #[arg(long)]
    pub no_activate: bool,
    /// Point this alias at the new deployment once it is ready
    #[arg(long, value_name = "NAME")]
    pub alias: Option<String>,
    /// Return as soon as the deployment is queued (do not follow the workflow)
    #[arg(long = "async")]
    pub no_wait: bool,
    /// Buckets uploaded in parallel
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub concurrency: u16,
}

#[derive(Debug, Subcommand)]
pub enum ProjectsCmd {
    /// Every project the token can see
    List,
    /// Create a project
    Create { name: Option<String> },
    /// One project's record and settings
    Show { project: String },
    /// Change a project's settings; only those given change
    Set(ProjectSettings),
    /// Delete a project and everything it owns
    Delete { project: String },
}

#[derive(Debug, Args)]
pub struct ProjectSettings {
    /// Project id or slug
    pub project: String,
    #[arg(long)]
    pub name: Option<String>,
    /// Off: visitors get 404
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new(), value_name = "on|off")]
    pub enabled: Option<bool>,
    /// Off: deploys are staged until `promote`
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new(), value_name = "on|off")]
    pub auto_activate: Option<bool>,
    /// Who may open preview URLs
    #[arg(long, value_parser = ["public", "link"])]
    pub preview_access: Option<String>,
    /// Whether server code may fetch the internet
    #[arg(long, value_parser = ["allow", "block"])]
    pub outbound: Option<String>,
    /// Skew protection: pin open pages to the deployment that served them
    #[arg(long, value_parser = clap::builder::BoolishValueParser::new(), value_name = "on|off")]
    pub skew_protection: Option<bool>,
    /// Lifetime of a pin, in seconds
    #[arg(long, value_parser = clap::value_parser!(u32).range(60..=604_800))]
    pub skew_pin_seconds: Option<u32>,
    /// How many earlier deployments a fingerprinted miss is looked up in
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=20))]
    pub skew_fallback_depth: Option<u8>,
}

impl ProjectSettings {
    /// The PATCH body: only the settings given.
    pub fn body(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        let mut put = |k: &str, v: Option<serde_json::Value>| {
            if let Some(v) = v {
                o.insert(k.into(), v);
            }
        };
        put("name", self.name.clone().map(Into::into));
        put("enabled", self.enabled.map(Into::into));
        put("autoActivate", self.auto_activate.map(Into::into));
        put("previewAccess", self.preview_access.clone().map(Into::into));
        put("outbound", self.outbound.clone().map(Into::into));
        put("skewProtection", self.skew_protection.map(Into::into));
        put("skewPinSeconds", self.skew_pin_seconds.map(Into::into));
        put("skewFallbackDepth", self.skew_fallback_depth.map(Into::into));
        serde_json::Value::Object(o)
    }
}

#[derive(Debug, Subcommand)]
pub enum AliasCmd {
    /// Point NAME at a deployment
    Set {
        #[arg(long, short)]
        project: String,
        name: String,
        deployment: String,
    },
    /// Remove an alias
    Rm {
        #[arg(long, short)]
        project: String,
        name: String,
    },
    /// List a project's aliases
    List {
        #[arg(long, short)]
        project: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCmd {
    /// Add a receiver (prints its signing secret, shown only this once)
    Add {
        #[arg(long, short)]
        project: String,
        /// The receiver's https:// URL (not `url`: that id is the global --url)
        #[arg(value_name = "URL")]
        receiver: String,
        /// Comma-separated events (default: all)
        #[arg(long)]
        events: Option<String>,
    },
    /// List a project's webhooks
    List {
        #[arg(long, short)]
        project: String,
    },
    /// Remove a webhook and its deliveries log
    Rm {
        #[arg(long, short)]
        project: String,
        id: String,
    },
    /// Queue a test event (webhook.ping)
    Ping {
        #[arg(long, short)]
        project: String,
        id: String,
    },
    /// The newest deliveries with every attempt's response status
    Deliveries {
        #[arg(long, short)]
        project: String,
        id: String,
    },
    /// Send a delivery again (same webhook-id)
    Redeliver {
        #[arg(long, short)]
        project: String,
        id: String,
        delivery: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DrainsCmd {
    /// Add a drain (prints its signing secret, shown only this once)
    Add {
        #[arg(long, short)]
        project: String,
        /// The receiver's https:// URL
        #[arg(value_name = "URL")]
        receiver: String,
        /// Comma-separated: logs, events (default: both)
        #[arg(long)]
        sources: Option<String>,
        /// Share of invocation logs sent, 0 to 1 (default 1)
        #[arg(long)]
        sampling: Option<f64>,
    },
    /// List a project's drains with their backlog and dropped lines
    List {
        #[arg(long, short)]
        project: String,
    },
    /// Remove a drain and its backlog
    Rm {
        #[arg(long, short)]
        project: String,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum VarsCmd {
    /// Set NAME to VALUE in a scope (a var unless --secret or a binding kind is given)
    Set {
        #[arg(long, short)]
        project: String,
        #[arg(long, default_value = "production")]
        scope: String,
        /// Store VALUE as a secret (encrypted, never shown again)
        #[arg(long, conflicts_with_all = ["kv", "sql", "bucket"])]
        secret: bool,
        /// VALUE is a KV namespace id: NAME binds it on preview URLs
        #[arg(long, conflicts_with_all = ["sql", "bucket"])]
        kv: bool,
        /// VALUE is a SQL database id
        #[arg(long, conflicts_with = "bucket")]
        sql: bool,
        /// VALUE is a bucket id
        #[arg(long)]
        bucket: bool,
        name: String,
        value: String,
    },
    /// Remove NAME from a scope
    Rm {
        #[arg(long, short)]
        project: String,
        #[arg(long, default_value = "production")]
        scope: String,
        name: String,
    },
    /// List a project's entries and which apply where
    List {
        #[arg(long, short)]
        project: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RolloutCmd {
    /// Start rolling DEPLOYMENT out, step by step
    Start {
        #[arg(long, short)]
        project: String,
        deployment: String,
        /// Steps as PERCENT:MINUTES, comma-separated, percents rising (e.g. 10:30,50:60,100:30)
        #[arg(long, value_parser = parse_steps)]
        steps: Steps,
        /// Abort when the new side's 5xx ratio exceeds the old side's by more (0-1)
        #[arg(long = "max-5xx-ratio")]
        max_5xx_ratio: Option<f64>,
    },
    /// The current or last rollout
    Status {
        #[arg(long, short)]
        project: String,
    },
    /// Stop the step clock (the split stays)
    Pause {
        #[arg(long, short)]
        project: String,
    },
    /// Restart the step clock
    Resume {
        #[arg(long, short)]
        project: String,
    },
    /// Make the new deployment production now
    Complete {
        #[arg(long, short)]
        project: String,
    },
    /// Send every visitor back to the active deployment
    Abort {
        #[arg(long, short)]
        project: String,
    },
}

/// `--steps` parsed: (percent, minutes) pairs (the server checks the rules).
#[derive(Debug, Clone, PartialEq)]
pub struct Steps(pub Vec<(u8, u32)>);

pub fn parse_steps(s: &str) -> Result<Steps, String> {
    let steps = s
        .split(',')
        .map(|step| {
            let (p, m) =
                step.trim().split_once(':').ok_or_else(|| format!("`{step}` is not PERCENT:MINUTES"))?;
            let p = p.trim().parse::<u8>().map_err(|_| format!("`{p}` is not a percent"))?;
            let m = m.trim().parse::<u32>().map_err(|_| format!("`{m}` is not a number of minutes"))?;
            Ok((p, m))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Steps(steps))
}

#[derive(Debug, Subcommand)]
pub enum DomainsCmd {
    /// Attach a hostname (pending until its TXT record is verified)
    Add {
        #[arg(long, short)]
        project: String,
        hostname: String,
    },
    /// Check the TXT proof of a pending hostname
    Verify {
        #[arg(long, short)]
        project: String,
        hostname: String,
    },
    /// List a project's domains
    List {
        #[arg(long, short)]
        project: String,
    },
    /// Detach a hostname
    Rm {
        #[arg(long, short)]
        project: String,
        hostname: String,
    },
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// A deployment id: its own log lines (validate, stage, verify, ...)
    #[arg(
        required_unless_present = "project",
        conflicts_with_all = ["project", "status", "search", "deployment_id", "follow"]
    )]
    pub deployment: Option<String>,
    /// A project id or slug: the kept runs of its server code, newest first
    #[arg(long, short)]
    pub project: Option<String>,
    /// Only runs with this status class, or `error` (threw, did not end ok, 5xx, logged an error)
    #[arg(long, value_parser = ["2xx", "3xx", "4xx", "5xx", "error"], requires = "project")]
    pub status: Option<String>,
    /// Only runs whose URL, console lines or exceptions contain this text
    #[arg(long, short = 'q', requires = "project")]
    pub search: Option<String>,
    /// Only this deployment's runs
    #[arg(long = "deployment-id", requires = "project")]
    pub deployment_id: Option<String>,
    /// How many runs (newest first)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=200), requires = "project")]
    pub limit: u32,
    /// Keep printing new runs as they are kept (every 2 s; Ctrl-C to stop)
    #[arg(long, short, requires = "project")]
    pub follow: bool,
}

#[derive(Debug, Subcommand)]
pub enum SqlCmd {
    /// SQL databases
    #[command(subcommand)]
    Database(ResourceCmd),
}

#[derive(Debug, Subcommand)]
pub enum ResourceCmd {
    /// Every one the token reaches, with the projects that bind it
    List,
    /// Create one (names are unique among yours)
    Create { name: String },
    /// Delete one and all its data (refused while a live deployment binds it)
    Delete { id: String },
}

/// Buckets (R2's API): the same three verbs.
pub type BucketCmd = ResourceCmd;

#[derive(Debug, Subcommand)]
pub enum KvCmd {
    /// KV namespaces
    #[command(subcommand)]
    Namespace(NamespaceCmd),
}

#[derive(Debug, Subcommand)]
pub enum NamespaceCmd {
    /// Every namespace the token reaches, with the projects that bind it
    List,
    /// Create a namespace (titles are unique among yours)
    Create { title: String },
    /// Delete a namespace and all its keys (refused while a live deployment binds it)
    Delete { namespace: String },
}

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Mint a token (its secret is shown once)
    Create {
        #[arg(long)]
        name: String,
        /// Project ids/slugs, comma-separated, or `*` for all
        #[arg(long, default_value = "*")]
        projects: String,
        /// Comma-separated: read, deploy, manage, admin
        #[arg(long, default_value = "deploy")]
        scopes: String,
        /// Expiry (RFC 3339 timestamp)
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List tokens (metadata only)
    List,
    /// Revoke a token at once
    Revoke { token_id: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rollout_steps_parse() {
        let c = Cli::try_parse_from([
            "flotilla",
            "rollout",
            "start",
            "-p",
            "site",
            "d1",
            "--steps",
            "10:30, 50:60,100:0",
            "--max-5xx-ratio",
            "0.05",
        ])
        .unwrap();
        match c.command {
            Command::Rollout(RolloutCmd::Start { project, deployment, steps, max_5xx_ratio }) => {
                assert_eq!((project.as_str(), deployment.as_str()), ("site", "d1"));
                assert_eq!(steps, Steps(vec![(10, 30), (50, 60), (100, 0)]));
                assert_eq!(max_5xx_ratio, Some(0.05));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn usage_errors_exit_2() {
        for argv in [
            vec!["flotilla"],
            vec!["flotilla", "deploy"],
            vec!["flotilla", "deploy", "d", "--project", "a", "--create", "b"],
            vec!["flotilla", "deploy", "d", "--concurrency", "0"],
            vec!["flotilla", "deploy", "d", "--html-handling", "bogus"],
            vec!["flotilla", "deploy", "d", "--entry", "x.js"],
            vec!["flotilla", "rollback"],
            vec!["flotilla", "rollout", "start", "-p", "p", "d"],
            vec!["flotilla", "rollout", "start", "-p", "p", "d", "--steps", "10"],
            vec!["flotilla", "rollout", "start", "-p", "p", "d", "--steps", "10:5,x:1"],
            vec!["flotilla", "rollout", "pause"],
            vec!["flotilla", "nope"],
            vec!["flotilla", "kv"],
            vec!["flotilla", "kv", "namespace", "create"],
            vec!["flotilla", "kv", "namespace", "delete"],
            vec!["flotilla", "sql", "database", "create"],
            vec!["flotilla", "bucket", "delete"],
            vec!["flotilla", "logs"],
            vec!["flotilla", "logs", "d1", "--project", "p"],
            vec!["flotilla", "logs", "d1", "--status", "error"],
            vec!["flotilla", "logs", "--project", "p", "--status", "teapot"],
            vec!["flotilla", "logs", "--project", "p", "--limit", "0"],
        ] {
            let e = Cli::try_parse_from(&argv).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{argv:?}");
        }
        assert_eq!(Cli::try_parse_from(["flotilla", "--help"]).unwrap_err().exit_code(), 0);
    }

    #[test]
    fn vars_commands_parse() {
        let c = Cli::try_parse_from([
            "flotilla", "vars", "set", "-p", "s", "--scope", "alias:qa", "--secret", "K", "v",
        ])
        .unwrap();
        assert!(
            matches!(c.command, Command::Vars(VarsCmd::Set { ref scope, secret: true, kv: false, .. }) if scope == "alias:qa")
        );
        let c = Cli::try_parse_from(["flotilla", "vars", "rm", "-p", "s", "K"]).unwrap();
        assert!(matches!(c.command, Command::Vars(VarsCmd::Rm { ref scope, .. }) if scope == "production"));
        for argv in [
            vec!["flotilla", "vars", "set", "-p", "s", "--secret", "--kv", "K", "v"],
            vec!["flotilla", "vars", "set", "-p", "s", "K"],
            vec!["flotilla", "vars", "list"],
        ] {
            assert_eq!(Cli::try_parse_from(&argv).unwrap_err().exit_code(), 2, "{argv:?}");
        }
    }

    #[test]
    fn env_shell_parses() {
        use crate::env::Shell;
        let c = Cli::try_parse_from(["flotilla", "env"]).unwrap();
        assert!(matches!(c.command, Command::Env { shell: Shell::Sh }));
        for (arg, want) in [
            ("sh", Shell::Sh),
            ("fish", Shell::Fish),
            ("powershell", Shell::Powershell),
            ("dotenv", Shell::Dotenv),
        ] {
            let c = Cli::try_parse_from(["flotilla", "env", "--shell", arg]).unwrap();
            assert!(matches!(c.command, Command::Env { shell } if shell == want), "{arg}");
        }
        let e = Cli::try_parse_from(["flotilla", "env", "--shell", "cmd"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn sql_bucket_and_logs_commands_parse() {
        let c = Cli::try_parse_from(["flotilla", "sql", "database", "create", "app"]).unwrap();
        assert!(
            matches!(c.command, Command::Sql(SqlCmd::Database(ResourceCmd::Create { name })) if name == "app")
        );
        let c = Cli::try_parse_from(["flotilla", "bucket", "delete", "abc"]).unwrap();
        assert!(matches!(c.command, Command::Bucket(ResourceCmd::Delete { id }) if id == "abc"));
        let c = Cli::try_parse_from(["flotilla", "logs", "dep1"]).unwrap();
        assert!(
            matches!(c.command, Command::Logs(LogsArgs { deployment: Some(d), project: None, .. }) if d == "dep1")
        );
        let c =
            Cli::try_parse_from(["flotilla", "logs", "-p", "site", "--status", "error", "-q", "boom", "-f"])
                .unwrap();
        match c.command {
            Command::Logs(a) => {
                assert_eq!(
                    (a.project.as_deref(), a.status.as_deref(), a.search.as_deref(), a.follow, a.limit),
                    (Some("site"), Some("error"), Some("boom"), true, 50)
                );
            }
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from([
            "flotilla", "deploy", "d", "-p", "x", "--server", "s", "--sql", "DB=1", "--bucket", "F=2",
        ])
        .unwrap();
        assert!(matches!(c.command, Command::Deploy(a) if a.sql == ["DB=1"] && a.bucket == ["F=2"]));
    }

    #[test]
    fn kv_namespace_commands_parse() {
        let c = Cli::try_parse_from(["flotilla", "kv", "namespace", "create", "sessions", "--json"]).unwrap();
        assert!(c.json);
        assert!(
            matches!(c.command, Command::Kv(KvCmd::Namespace(NamespaceCmd::Create { title })) if title == "sessions")
        );
        let c = Cli::try_parse_from(["flotilla", "kv", "namespace", "delete", "abc"]).unwrap();
        assert!(
            matches!(c.command, Command::Kv(KvCmd::Namespace(NamespaceCmd::Delete { namespace })) if namespace == "abc")
        );
        let c = Cli::try_parse_from(["flotilla", "kv", "namespace", "list"]).unwrap();
        assert!(matches!(c.command, Command::Kv(KvCmd::Namespace(NamespaceCmd::List))));
    }

    #[test]
    fn webhook_and_drain_commands_parse() {
        let c = Cli::try_parse_from([
            "flotilla",
            "webhooks",
            "add",
            "-p",
            "site",
            "https://a.example/h",
            "--events",
            "deployment.failed",
        ])
        .unwrap();
        assert!(
            matches!(c.command, Command::Webhooks(WebhooksCmd::Add { project, receiver, events: Some(e) })
            if project == "site" && receiver == "https://a.example/h" && e == "deployment.failed")
        );
        assert_eq!(c.url, None, "the receiver is not the platform URL");
        let c = Cli::try_parse_from(["flotilla", "webhooks", "redeliver", "-p", "s", "h1", "msg_1"]).unwrap();
        assert!(matches!(c.command, Command::Webhooks(WebhooksCmd::Redeliver { id, delivery, .. })
            if id == "h1" && delivery == "msg_1"));
        let c = Cli::try_parse_from([
            "flotilla",
            "drains",
            "add",
            "-p",
            "s",
            "https://a.example/d",
            "--sampling",
            "0.5",
        ])
        .unwrap();
        assert!(
            matches!(c.command, Command::Drains(DrainsCmd::Add { sampling: Some(r), sources: None, .. }) if r == 0.5)
        );
        assert!(
            Cli::try_parse_from(["flotilla", "webhooks", "ping", "h1"]).is_err(),
            "--project is required"
        );
    }

    #[test]
    fn global_flags_anywhere() {
        let c = Cli::try_parse_from(["flotilla", "projects", "list", "--json", "--url", "http://x"]).unwrap();
        assert!(c.json);
        assert_eq!(c.url.as_deref(), Some("http://x"));
        let c = Cli::try_parse_from(["flotilla", "deploy", "d", "-p", "s", "--env", "A=1", "--env", "B=2"])
            .unwrap();
        match c.command {
            Command::Deploy(d) => {
                assert_eq!(d.env, vec!["A=1", "B=2"]);
                assert_eq!(d.concurrency, 3);
            }
            other => panic!("{other:?}"),
        }
    }
}
