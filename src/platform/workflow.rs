//! The deployment workflow run by the `DEPLOY_QUEUE` consumer: validate -> stage -> verify ->
//! activate -> cleanup, each step recorded in D1 as it happens. Transient failures are retried
//! by the queue with backoff; after its retries the job lands on `DEPLOY_DLQ`, whose consumer
//! marks the deployment failed. The previously active deployment keeps serving throughout.

use std::collections::BTreeSet;

use serde::Deserialize;

use worker::{Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder};

use super::bindings::now_ms;
use super::d1::D1Projects;
use super::d1_deployments::{step_statuses, D1Deployments, DeploymentRow};
use super::d1_uploads::D1Uploads;
use super::http::log;
use super::loader::{dispatch, load_bundle, Target as LoaderTarget};
use super::purge::{purge, Progress};
use super::storage::{enqueue, DeployJob, Job, KvAssets, KvRoutes, PurgeJob, R2Blobs};
use crate::assets::{content_type_for, AssetConfig, HeaderRules, RedirectRules};
use crate::deploy::{
    is_terminal, next_step, retry_delay_secs, unique_hashes, DeploymentManifest, ServerInfo, Step, StepError,
    UploadManifest, RULE_FILES,
};
use crate::error::ApiError;
use crate::routing::RouteRecord;

/// How long the verify step waits for new server code to answer its probe request.
const VERIFY_TIMEOUT_MS: i32 = 10_000;

/// `deployments.config` as written by the deploy endpoint.
#[derive(Debug, Deserialize)]
struct StoredConfig {
    #[serde(rename = "manifestKey")]
    manifest_key: String,
    assets: AssetConfig,
    #[serde(default)]
    redirects: RedirectRules,
    #[serde(default)]
    headers: HeaderRules,
    #[serde(rename = "projectName", default)]
    project_name: Option<String>,
    #[serde(default)]
    fault: Option<String>,
    #[serde(default)]
    server: Option<ServerInfo>,
}

fn transient(e: ApiError) -> StepError {
    StepError::Transient(e.log_detail())
}

/// Handles one batch from either queue. The dead-letter queue is recognised by its name
/// ending in `-dlq` (wrangler.toml: `flotilla-deploy-dlq`).
pub async fn handle_batch(batch: MessageBatch<Job>, env: &Env) -> worker::Result<()> {
    let dead_letter = batch.queue().ends_with("-dlq");
    let messages = match batch.messages() {
        Ok(m) => m,
        Err(e) => {
            // Unparseable jobs can never succeed; retrying them would only spin.
            log(
                "error",
                "queue",
                serde_json::json!({ "msg": "undecodable queue batch", "error": e.to_string() }),
            );
            batch.ack_all();
            return Ok(());
        }
    };
    for msg in messages {
        let job = match msg.body().clone() {
            Job::Deploy(job) => job,
            Job::Purge(job) => {
                handle_purge(env, &job, dead_letter, &msg).await;
                continue;
            }
        };
        if dead_letter {
            if let Err(e) = give_up(env, &job).await {
                log(
                    "error",
                    &job.deployment_id,
                    serde_json::json!({ "msg": "DLQ handling failed", "error": e.log_detail() }),
                );
                msg.retry();
                continue;
            }
            msg.ack();
            continue;
        }
        match run(env, &job).await {
            Ok(()) => msg.ack(),
            Err((StepError::Permanent(reason), _)) => {
                if let Err(e) = fail(env, &job.deployment_id, &reason).await {
                    log(
                        "error",
                        &job.deployment_id,
                        serde_json::json!({ "msg": "marking failed", "error": e.log_detail() }),
                    );
                }
                msg.ack();
            }
            Err((StepError::Transient(reason), attempt)) => {
                log(
                    "warn",
                    &job.deployment_id,
                    serde_json::json!({ "msg": "step failed; will retry", "error": reason }),
                );
                let delay = retry_delay_secs(attempt.max(1) as u32);
                msg.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(delay).build());
            }
        }
    }
    Ok(())
}

/// One purge chunk; the next chunk goes out as a new message so each stays small.
async fn handle_purge(env: &Env, job: &PurgeJob, dead_letter: bool, msg: &worker::Message<Job>) {
    if dead_letter {
        // Retries ran out: leave the data for a later delete/purge and say so loudly.
        log("error", &job.project_id, serde_json::json!({ "msg": "project purge gave up; data remains" }));
        msg.ack();
        return;
    }
    match purge(env, &job.project_id).await {
        Ok(Progress::Done) => {
            log("info", &job.project_id, serde_json::json!({ "msg": "project purged" }));
            msg.ack();
        }
        Ok(Progress::More) => match enqueue(env, &Job::Purge(job.clone())).await {
            Ok(()) => msg.ack(),
            Err(e) => {
                log(
                    "warn",
                    &job.project_id,
                    serde_json::json!({ "msg": "purge continuation", "error": e.log_detail() }),
                );
                msg.retry();
            }
        },
        Err(e) => {
            log(
                "warn",
                &job.project_id,
                serde_json::json!({ "msg": "purge chunk failed; will retry", "error": e.log_detail() }),
            );
            msg.retry_with_options(
                &QueueRetryOptionsBuilder::new().with_delay_seconds(retry_delay_secs(1)).build(),
            );
        }
    }
}

/// Runs the remaining steps. Redelivered jobs of finished deployments do nothing.
async fn run(env: &Env, job: &DeployJob) -> Result<(), (StepError, i64)> {
    let deployments = D1Deployments::new(env).map_err(|e| (transient(e), 0))?;
    let Some(d) = deployments.get(&job.deployment_id).await.map_err(|e| (transient(e), 0))? else {
        return Ok(()); // nothing to do for a job without a record
    };
    if is_terminal(&d.status) {
        return Ok(());
    }
    let attempt = deployments.start_attempt(&d.id, now_ms() as i64).await.map_err(|e| (transient(e), 0))?;
    let config: StoredConfig = serde_json::from_str(&d.config)
        .map_err(|e| (StepError::Permanent(format!("stored config is unreadable: {e}")), attempt))?;
    let mut cx = StepCx { env, d: &d, config: &config, manifest: None };
    loop {
        let rows = deployments.steps(&d.id).await.map_err(|e| (transient(e), attempt))?;
        let Some(step) = next_step(&step_statuses(&rows)) else { return Ok(()) };
        deployments.step_started(&d.id, step, now_ms() as i64).await.map_err(|e| (transient(e), attempt))?;
        match cx.run_step(step).await {
            Ok(message) => {
                deployments
                    .step_finished(&d.id, step, &message, now_ms() as i64)
                    .await
                    .map_err(|e| (transient(e), attempt))?;
                if step == Step::Activate {
                    deployments
                        .finish(&d.id, "completed", None, now_ms() as i64)
                        .await
                        .map_err(|e| (transient(e), attempt))?;
                }
            }
            Err(e) => {
                let _ = deployments.step_failed(&d.id, step, e.message(), now_ms() as i64).await;
                if step == Step::Cleanup {
                    // The deployment is already live; cleanup is best effort and runs again next deploy.
                    return Ok(());
                }
                return Err((e, attempt));
            }
        }
    }
}

struct StepCx<'a> {
    env: &'a Env,
    d: &'a DeploymentRow,
    config: &'a StoredConfig,
    manifest: Option<UploadManifest>,
}

impl StepCx<'_> {
    fn injected(&self, step: Step) -> Result<(), StepError> {
        if self.config.fault.as_deref() == Some(step.as_str()) {
            return Err(StepError::Transient(format!(
                "injected fault in {} (FAULT_INJECTION)",
                step.as_str()
            )));
        }
        Ok(())
    }

    async fn upload_manifest(&mut self) -> Result<&UploadManifest, StepError> {
        if self.manifest.is_none() {
            let m: Option<UploadManifest> = R2Blobs::new(self.env)
                .map_err(transient)?
                .get_json(&self.config.manifest_key)
                .await
                .map_err(transient)?;
            self.manifest =
                Some(m.ok_or_else(|| StepError::Permanent("the upload manifest is missing".into()))?);
        }
        Ok(self.manifest.as_ref().expect("set above")) // ok: assigned just above
    }

    fn served_files(
        manifest: &UploadManifest,
    ) -> impl Iterator<Item = (&String, &crate::deploy::ManifestEntry)> {
        manifest.iter().filter(|(p, _)| !RULE_FILES.contains(&p.as_str()))
    }

    async fn run_step(&mut self, step: Step) -> Result<String, StepError> {
        self.injected(step)?;
        match step {
            Step::Validate => self.validate().await,
            Step::Stage => self.stage().await,
            Step::Verify => self.verify().await,
            Step::Activate => self.activate().await,
            Step::Cleanup => self.cleanup().await,
        }
    }

    async fn validate(&mut self) -> Result<String, StepError> {
        let project_id = self.d.project_id.clone();
        let projects = D1Projects::new(self.env).map_err(transient)?;
        if projects.get(&project_id).await.map_err(transient)?.is_none() {
            return Err(StepError::Permanent("the project was deleted".into()));
        }
        let env = self.env;
        let manifest = self.upload_manifest().await?;
        let unique = unique_hashes(manifest);
        let hashes: Vec<&str> = unique.iter().map(|(h, _)| h.as_str()).collect();
        let stored = D1Uploads::new(env)
            .map_err(transient)?
            .stored_hashes(&project_id, &hashes)
            .await
            .map_err(transient)?;
        let missing: BTreeSet<&str> = hashes.iter().copied().filter(|h| !stored.contains(*h)).collect();
        if let Some((path, _)) = manifest.iter().find(|(_, e)| missing.contains(e.hash.as_str())) {
            return Err(StepError::Permanent(format!(
                "{} file(s) are not stored for this project (e.g. {path})",
                missing.len()
            )));
        }
        Ok(format!("{} files ({} unique) present for this project", manifest.len(), unique.len()))
    }

    async fn stage(&mut self) -> Result<String, StepError> {
        let (project_id, deployment_id) = (self.d.project_id.clone(), self.d.id.clone());
        let (assets, redirects, headers) =
            (self.config.assets, self.config.redirects.clone(), self.config.headers.clone());
        let env = self.env;
        let manifest = self.upload_manifest().await?;
        let files = Self::served_files(manifest)
            .map(|(p, e)| {
                let ct = e
                    .content_type
                    .clone()
                    .or_else(|| content_type_for(p).map(str::to_string))
                    .unwrap_or_default();
                (p.clone(), (e.hash.clone(), ct, e.size))
            })
            .collect();
        if let Some(server) = &self.config.server {
            let bundle = load_bundle(env, &project_id, &deployment_id).await.map_err(transient)?;
            if bundle.digest() != server.digest {
                return Err(StepError::Permanent(
                    "the stored server bundle does not match its digest".into(),
                ));
            }
        }
        let staged = DeploymentManifest {
            v: 1,
            project_id,
            deployment_id: deployment_id.clone(),
            config: assets,
            redirects,
            headers,
            files,
            server: self.config.server.clone(),
        };
        let body = serde_json::to_string(&staged).map_err(|e| StepError::Permanent(e.to_string()))?;
        KvRoutes::new(env)
            .map_err(transient)?
            .put_manifest(&deployment_id, &body)
            .await
            .map_err(transient)?;
        Ok(format!("staged immutable manifest: {} files, {} bytes", staged.files.len(), body.len()))
    }

    async fn verify(&mut self) -> Result<String, StepError> {
        let routes = KvRoutes::new(self.env).map_err(transient)?;
        let text = routes
            .manifest_text(&self.d.id)
            .await
            .map_err(transient)?
            .ok_or_else(|| StepError::Transient("staged manifest not readable yet".into()))?;
        let staged: DeploymentManifest = serde_json::from_str(&text)
            .map_err(|e| StepError::Permanent(format!("staged manifest does not parse: {e}")))?;
        if staged.deployment_id != self.d.id || staged.project_id != self.d.project_id {
            return Err(StepError::Permanent("staged manifest belongs to another deployment".into()));
        }
        let expected = Self::served_files(self.upload_manifest().await?).count();
        if staged.files.len() != expected {
            return Err(StepError::Permanent(format!(
                "staged {} files, expected {expected}",
                staged.files.len()
            )));
        }
        // The manifest routes: the root resolves without error, and a body it names is readable.
        let lookup = |p: &str| staged.lookup(p).map(|(h, _, _)| h.as_str());
        let root = crate::assets::resolve_asset(&staged.config, "/", &lookup);
        if let Some((_, (hash, _, _))) = staged.files.iter().next() {
            if !KvAssets::new(self.env)
                .map_err(transient)?
                .exists(&staged.project_id, hash)
                .await
                .map_err(transient)?
            {
                return Err(StepError::Transient(format!("asset body {hash} not readable")));
            }
        }
        let mut note = String::new();
        if let Some(server) = &staged.server {
            // The code must start and answer one request before any visitor can reach it.
            let project = D1Projects::new(self.env)
                .map_err(transient)?
                .get(&staged.project_id)
                .await
                .map_err(transient)?
                .ok_or_else(|| StepError::Permanent("the project was deleted".into()))?;
            let target = LoaderTarget {
                project_id: staged.project_id.clone(),
                deployment_id: staged.deployment_id.clone(),
                digest: server.digest.clone(),
                outbound_allowed: project.outbound == "allow",
            };
            let probe = worker::Request::new("https://verify.flotilla.invalid/", worker::Method::Get)
                .map_err(|e| StepError::Transient(e.to_string()))?;
            match dispatch(self.env, &target, probe, VERIFY_TIMEOUT_MS).await {
                Ok(resp) => note = format!("; server code answered {}", resp.status_code()),
                Err(e) => {
                    return Err(StepError::Permanent(format!(
                        "server code failed to start: {}",
                        e.message()
                    )));
                }
            }
        }
        Ok(format!("staged manifest loads and routes ({} files; / -> {root:?}){note}", staged.files.len()))
    }

    async fn activate(&mut self) -> Result<String, StepError> {
        let projects = D1Projects::new(self.env).map_err(transient)?;
        let project = projects
            .get(&self.d.project_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| StepError::Permanent("the project was deleted".into()))?;
        let files = Self::served_files(self.upload_manifest().await?).count() as i64;
        // The routing record is the pointer visitors follow: swap it first (the staged deployment
        // is verified), then record the truth in D1. If D1 never succeeds, the DLQ consumer
        // points the record back at what D1 says is active.
        let record = RouteRecord {
            project_id: project.id.clone(),
            slug: project.slug.clone(),
            enabled: project.enabled != 0,
            active_deployment_id: Some(self.d.id.clone()),
            outbound_allowed: project.outbound == "allow",
        };
        KvRoutes::new(self.env).map_err(transient)?.put_route(&record).await.map_err(transient)?;
        let live = projects
            .activate(
                &project.id,
                &self.d.id,
                files,
                self.config.server.is_some(),
                self.config.project_name.as_deref(),
                now_ms() as i64,
            )
            .await
            .map_err(transient)?;
        if !live {
            return Err(StepError::Permanent("the project was deleted".into()));
        }
        Ok(format!("now serving deployment {} for {}", self.d.id, project.slug))
    }

    async fn cleanup(&mut self) -> Result<String, StepError> {
        let uploads = D1Uploads::new(self.env).map_err(transient)?;
        let expired = uploads.expired(&self.d.project_id, now_ms() as i64).await.map_err(transient)?;
        let blobs = R2Blobs::new(self.env).map_err(transient)?;
        for (_, key) in &expired {
            blobs.delete(key).await.map_err(transient)?;
        }
        let ids: Vec<String> = expired.into_iter().map(|(id, _)| id).collect();
        uploads.delete_sessions(&ids).await.map_err(transient)?;
        Ok(format!(
            "removed {} expired upload session(s); asset bodies are kept so earlier deployments stay restorable",
            ids.len()
        ))
    }
}

/// Marks a deployment failed and makes sure visitors follow what D1 says is active.
async fn fail(env: &Env, deployment_id: &str, reason: &str) -> Result<(), ApiError> {
    let deployments = D1Deployments::new(env)?;
    deployments.finish(deployment_id, "failed", Some(reason), now_ms() as i64).await?;
    if let Some(d) = deployments.get(deployment_id).await? {
        reconcile_route(env, &d.project_id).await?;
    }
    Ok(())
}

/// Rewrites a project's routing record from D1 (the source of truth).
pub async fn reconcile_route(env: &Env, project_id: &str) -> Result<(), ApiError> {
    let projects = D1Projects::new(env)?;
    let routes = KvRoutes::new(env)?;
    match projects.get(project_id).await? {
        Some(p) => {
            routes
                .put_route(&RouteRecord {
                    project_id: p.id.clone(),
                    slug: p.slug.clone(),
                    enabled: p.enabled != 0,
                    active_deployment_id: p.active_deployment_id.clone(),
                    outbound_allowed: p.outbound == "allow",
                })
                .await
        }
        None => Ok(()),
    }
}

/// DLQ: the job exhausted its retries. Record why, using the last step error.
async fn give_up(env: &Env, job: &DeployJob) -> Result<(), ApiError> {
    let deployments = D1Deployments::new(env)?;
    let Some(d) = deployments.get(&job.deployment_id).await? else { return Ok(()) };
    if is_terminal(&d.status) {
        return Ok(());
    }
    let steps = deployments.steps(&d.id).await?;
    let last_error = steps.iter().rev().find_map(|s| s.error.clone());
    let reason = match last_error {
        Some(e) => format!("gave up after {} attempts: {e}", d.attempts),
        None => format!("gave up after {} attempts", d.attempts),
    };
    fail(env, &d.id, &reason).await
}
