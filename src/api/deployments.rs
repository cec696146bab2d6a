//! Phase 3 of the upload and the deployment resource: `deploy` validates synchronously,
//! records a queued deployment, enqueues the workflow job and (by default) waits for it;
//! `GET` endpoints expose the record. Touches D1, ASSETS_KV (rule files), BLOBS, DEPLOY_QUEUE.

use std::time::Duration;

use serde_json::{json, Value};
use worker::{Delay, Request, Response};

use super::projects::load;
use super::{internal, query_pairs, read_body, Ctx};
use crate::auth::{verify_token, TokenKind};
use crate::deploy::{build_rules, is_terminal, parse_deploy_request, ServerBundle, UploadManifest};
use crate::domain::{kind_label, ProjectRow, ResourceScope};
use crate::error::{ApiError, ApiResult};
use crate::keys::bundle_key;
use crate::lifecycle::Status;
use crate::platform::bindings::{self, new_uuid, now_ms};
use crate::platform::http;
use crate::platform::jobs::workflow;
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_deployments::{render, D1Deployments, NewDeployment};
use crate::platform::store::d1_resources::D1Resources;
use crate::platform::store::d1_uploads::D1Uploads;
use crate::platform::store::kv::KvAssets;
use crate::platform::store::queue::{enqueue_after, DeployJob, Job};
use crate::platform::store::r2::R2Blobs;

/// How long a synchronous deploy waits for the workflow before answering 202 instead.
const WAIT_LIMIT_MS: u64 = 60_000;
/// How often it re-reads the record once the immediate run left the deployment to the queue.
const POLL_MS: u64 = 250;

/// What the workflow reads back from `deployments.config`.
pub fn stored_config(
    session_id: &str,
    manifest_key: &str,
    req: &crate::deploy::DeployRequest,
    bundle: Option<&ServerBundle>,
    redirects: &crate::assets::RedirectRules,
    headers: &crate::assets::HeaderRules,
) -> Value {
    json!({
        "sessionId": session_id,
        "manifestKey": manifest_key,
        "assets": req.config,
        "redirects": redirects,
        "headers": headers,
        "server": bundle.map(|b| crate::deploy::ServerInfo {
            digest: b.digest(),
            run_worker_first: req.run_worker_first.clone(),
        }),
        "projectName": req.project_name.as_ref().map(|n| n.as_str()),
        "activate": req.activate,
        "fault": req.fault,
    })
}

async fn rule_file(
    kv: &KvAssets,
    project_id: &str,
    manifest: &UploadManifest,
    path: &str,
) -> ApiResult<Option<String>> {
    let Some(entry) = manifest.get(path) else { return Ok(None) };
    let text = kv.text(project_id, &entry.hash).await?.ok_or_else(|| {
        ApiError::internal(format!("{path} is in the manifest but its body is missing from ASSETS_KV"))
    })?;
    Ok(Some(text))
}

/// A deploy body carries the server code as base64 (up to `MAX_BUNDLE_BYTES`, 10 MiB, which
/// base64 makes 4/3 as large) besides config, rules and vars: the generic 1 MiB JSON limit
/// would cap code near 700 KiB for the API, the CLI and MCP (which deploys through here).
pub const MAX_DEPLOY_BODY: usize = crate::deploy::MAX_BUNDLE_BYTES * 4 / 3 + 2 * 1024 * 1024;

pub async fn deploy(req: &mut Request, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let faults = bindings::var_or(ctx.env, "FAULT_INJECTION", "") == "enabled";
    let input = parse_deploy_request(&read_body(req, MAX_DEPLOY_BODY).await?, faults)?;
    let project = load(&D1Projects::new(ctx.env)?, key).await?;
    let prepared = prepare(&project, &input, ctx).await?;
    let prefer_async = req
        .headers()
        .get("prefer")
        .ok()
        .flatten()
        .map(|p| p.to_ascii_lowercase().contains("respond-async"))
        .unwrap_or(false);
    let (id, done) = launch(&project, prepared, !prefer_async, ctx).await?;
    if done {
        finished(&project, &id, ctx).await
    } else {
        accepted(&project, &id, ctx).await
    }
}

/// A validated deployment, ready to be recorded and run: what the workflow reads back.
pub struct Prepared {
    pub session_id: String,
    pub config: Value,
    pub stats: Value,
    pub bundle: Option<crate::deploy::ServerBundle>,
    /// Ignored rule lines, logged on the deployment at level `warn`.
    pub warnings: Vec<String>,
}

/// Checks a deploy request against its upload session (completion JWT, principal, every file
/// stored, rule files, server code limits); writes nothing.
pub async fn prepare(
    project: &ProjectRow,
    input: &crate::deploy::DeployRequest,
    ctx: &Ctx<'_>,
) -> ApiResult<Prepared> {
    let secret = bindings::secret(ctx.env, bindings::JWT_SECRET);
    let claims =
        verify_token(secret.as_bytes(), &input.completion_jwt, TokenKind::Completion, &project.id, now_ms())?;
    if claims.prn != ctx.principal.id() {
        return Err(ApiError::Forbidden {
            reason: "This upload was started by another principal; only it can deploy it".into(),
        });
    }
    let quotas = ctx.quotas();
    if let Some(b) = &input.server_code {
        quotas.check_server_code(b.modules.len() as u64, b.total_bytes() as u64)?;
        check_bindings(b, ctx).await?;
    }

    let uploads = D1Uploads::new(ctx.env)?;
    let session =
        uploads.session(&claims.sid).await?.filter(|s| s.project_id == project.id).ok_or_else(|| {
            ApiError::bad("completionJwt", "its upload session no longer exists; start a new one")
        })?;
    let remaining = uploads.remaining(&session.id).await?;
    if remaining > 0 {
        return Err(ApiError::bad(
            "completionJwt",
            format!("the upload is incomplete: {remaining} files missing"),
        ));
    }
    let manifest: UploadManifest = R2Blobs::new(ctx.env)?
        .get_json(&session.manifest_key)
        .await?
        .ok_or_else(|| ApiError::internal("upload manifest missing from R2"))?;
    let kv = KvAssets::new(ctx.env)?;
    let rules = build_rules(
        rule_file(&kv, &project.id, &manifest, "/_redirects").await?.as_deref(),
        rule_file(&kv, &project.id, &manifest, "/_headers").await?.as_deref(),
        input.redirects.as_ref(),
        input.headers.as_ref(),
        input.config.html_handling,
    )?;
    let stats = json!({
        "serverCode": input.server_code.as_ref().map(|b| json!({
            "modules": b.modules.len(),
            "bytes": b.total_bytes(),
            "envVars": b.env.keys().chain(b.json_env.keys()).collect::<Vec<_>>(),
            "secrets": b.secrets.keys().collect::<Vec<_>>(),
        })),
        "files": session.file_count,
        "uniqueHashes": session.unique_count,
        "newAssets": session.missing_count,
        "skippedAssets": session.unique_count - session.missing_count,
    });
    let mut bundle = input.server_code.clone();
    if let Some(b) = bundle.as_mut() {
        resolve_services(b, project, ctx).await?;
    }
    // Stored with its generated main module (if any), made before the digest that covers it.
    let bundle = bundle.map(ServerBundle::with_shims);
    let config = stored_config(
        &session.id,
        &session.manifest_key,
        input,
        bundle.as_ref(),
        &rules.redirects,
        &rules.headers,
    );
    let warnings = rules.warnings;
    Ok(Prepared { session_id: session.id, config, stats, bundle, warnings })
}

/// Every resource in `config.bindings` must be one of that kind the caller reaches
/// (src/domain/resource.rs `ResourceScope`); one it does not is a 404 naming the binding, as if
/// it did not exist.
async fn check_bindings(bundle: &crate::deploy::ServerBundle, ctx: &Ctx<'_>) -> ApiResult<()> {
    let mut bindings = bundle.resource_bindings().peekable();
    if bindings.peek().is_none() {
        return Ok(());
    }
    let store = D1Resources::new(ctx.env)?;
    let scope = ResourceScope::of(&ctx.principal);
    for (kind, name, id) in bindings {
        if store.get(kind, id, &scope).await?.is_none() {
            return Err(ApiError::not_found(format!("{} `{id}` (binding `{name}`)", kind_label(kind))));
        }
    }
    Ok(())
}

/// Service bindings name a project by id or slug: stored as its slug, and only a project the
/// caller reaches (the deploying project itself always). Any other is a 404 naming the binding,
/// the same whether it exists or not.
async fn resolve_services(
    bundle: &mut crate::deploy::ServerBundle,
    project: &ProjectRow,
    ctx: &Ctx<'_>,
) -> ApiResult<()> {
    for (name, key) in bundle.services.iter_mut() {
        if *key == project.id || *key == project.slug {
            *key = project.slug.clone();
            continue;
        }
        match D1Projects::new(ctx.env)?.get(key).await? {
            Some(p) if ctx.principal.reaches(&p.id) => *key = p.slug,
            _ => return Err(ApiError::not_found(format!("service `{key}` (binding `{name}`)"))),
        }
    }
    Ok(())
}

/// Records a prepared deployment, stores its bundle, queues the workflow and, with `wait`,
/// waits for it. Returns the deployment id and whether it reached a terminal status.
pub async fn launch(
    project: &ProjectRow,
    p: Prepared,
    wait: bool,
    ctx: &Ctx<'_>,
) -> ApiResult<(String, bool)> {
    let quotas = ctx.quotas();
    let id = new_uuid();
    let now = now_ms() as i64;
    // Counted once everything is validated: a refused deploy wrote nothing.
    ctx.consume(&quotas.deploys, &project.id, 1).await?;
    if let Some(bundle) = &p.bundle {
        // Immutable per deployment id and invisible until activation; kept for rollback.
        R2Blobs::new(ctx.env)?.put_json(&bundle_key(&project.id, &id), bundle).await?;
    }
    let deployments = D1Deployments::new(ctx.env)?;
    let new = NewDeployment {
        id: &id,
        project_id: &project.id,
        session_id: &p.session_id,
        config: &p.config,
        stats: &p.stats,
        created_by: ctx.principal.id(),
        warnings: &p.warnings,
    };
    deployments.create(&new, now).await?;
    if let Some(bundle) = &p.bundle {
        D1Resources::new(ctx.env)?.record_bindings(&id, &project.id, bundle).await?;
    }
    ctx.note(&project.id, json!({ "deploymentId": id }));
    let created = json!({ "projectId": project.id, "deploymentId": id });
    crate::platform::jobs::hooks::emit(ctx.env, &project.id, "deployment.created", created).await;
    // The workflow runs right away in this invocation (waitUntil) whenever it can; the queue
    // message, sent first, is the durable backstop and waits `DEPLOY_BACKSTOP_SECS` so that it
    // normally finds the work done (workflow.rs `run_now`). Without waitUntil and without a
    // waiting client, the queue alone runs it, at once.
    let immediate = wait || bindings::has_wait_until(ctx.env);
    let delay = if immediate { workflow::backstop_secs(ctx.env) } else { 0 };
    let job = Job::Deploy(DeployJob { deployment_id: id.clone() });
    if let Err(e) = enqueue_after(ctx.env, &job, delay).await {
        // Nothing will ever run it: say so on the record instead of leaving it queued forever.
        let why = crate::lifecycle::StepFailure::new(
            "enqueue_failed",
            "The deployment job could not be queued; nothing changed, deploy again",
        );
        let store = crate::platform::store::d1_lifecycle::D1Lifecycle::new(ctx.env)?;
        crate::lifecycle::fail_deployment(&store, &id, &why, now_ms() as i64).await?;
        return Err(e);
    }
    let started = now_ms();
    let finished = workflow::Finished::default();
    if immediate {
        let (env, run_id, done) = (ctx.env.clone(), id.clone(), finished.clone());
        let work = async move {
            workflow::run_now(&env, &run_id).await;
            done.set();
        };
        if let Err(work) = bindings::wait_until(ctx.env, work) {
            work.await; // no waitUntil here: run it inline (only reached with `wait`)
        }
    }
    if wait {
        // The immediate run normally ends the deployment; when it could not (a transient failure
        // left to the queue's retries), follow the record like any waiting client.
        finished.wait(WAIT_LIMIT_MS).await;
        while now_ms() - started < WAIT_LIMIT_MS {
            let Some(d) = deployments.get(&id).await? else { break };
            if is_terminal(&d.status) {
                return Ok((id, true));
            }
            Delay::from(Duration::from_millis(POLL_MS)).await;
        }
    }
    Ok((id, false))
}

async fn full_record(
    project: &ProjectRow,
    id: &str,
    ctx: &Ctx<'_>,
) -> ApiResult<(Value, crate::platform::store::d1_deployments::DeploymentRow)> {
    let deployments = D1Deployments::new(ctx.env)?;
    let d = deployments.get(id).await?.ok_or_else(|| ApiError::not_found("Deployment"))?;
    let steps = deployments.steps(id).await?;
    // The first 500 lines at most; GET /deployments/:id/logs pages through all of them.
    let logs = deployments.logs(id, 0, 500).await?;
    Ok((render(&d, &steps, Some(&logs), &project.slug, &ctx.urls), d))
}

async fn finished(project: &ProjectRow, id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (record, d) = full_record(project, id, ctx).await?;
    if Status::parse(&d.status) == Some(Status::Superseded) {
        // Not a failure: a deployment created later went live first (activation only moves forward).
        return Err(ApiError::State {
            code: "deployment_superseded",
            reason: "A newer deployment went live first; this one was superseded and never served".into(),
        });
    }
    if Status::parse(&d.status) != Some(Status::Completed) {
        return Err(ApiError::Unprocessable {
            reason: format!("Deployment failed: {}", d.error.as_deref().unwrap_or("unknown error")),
            details: Some(json!({ "deployment": record })),
        });
    }
    let stats = &record["stats"];
    let mut out = json!({
        "deployment": record,
        "deployedAssets": stats["files"],
        "newAssets": stats["newAssets"],
        "skippedAssets": stats["skippedAssets"],
        "url": ctx.urls.project_url(&project.slug),
    });
    ctx.urls.add_path_url(&mut out, "pathUrl", &project.slug);
    http::ok(200, out).map_err(internal)
}

async fn accepted(project: &ProjectRow, id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (record, _) = full_record(project, id, ctx).await?;
    let status_url = format!("/__api/deployments/{id}");
    let mut resp =
        http::ok(202, json!({ "deployment": record, "statusUrl": status_url })).map_err(internal)?;
    resp.headers_mut().set("location", &status_url).map_err(internal)?;
    Ok(resp)
}

pub async fn get(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let deployments = D1Deployments::new(ctx.env)?;
    let d = deployments.get(id).await?.ok_or_else(|| ApiError::not_found("Deployment"))?;
    // A deployment of a deleted project is gone with it.
    let project = load(&D1Projects::new(ctx.env)?, &d.project_id)
        .await
        .map_err(|_| ApiError::not_found("Deployment"))?;
    let (record, _) = full_record(&project, id, ctx).await?;
    http::ok(200, json!({ "deployment": record })).map_err(internal)
}

pub async fn list(req: &Request, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = load(&D1Projects::new(ctx.env)?, key).await?;
    let limit = match query_pairs(req).iter().find(|(k, _)| k == "limit") {
        Some((_, v)) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::bad("limit", "must be an integer 1-100"))?,
        None => 20,
    };
    let deployments = D1Deployments::new(ctx.env)?;
    let rows = deployments.list(&project.id, limit).await?;
    let mut out = Vec::with_capacity(rows.len());
    for d in &rows {
        let steps = deployments.steps(&d.id).await?;
        let mut v = render(d, &steps, None, &project.slug, &ctx.urls);
        v["active"] = json!(project.active_deployment_id.as_deref() == Some(d.id.as_str()));
        out.push(v);
    }
    http::ok(200, json!({ "deployments": out, "count": out.len() })).map_err(internal)
}
