//! The deployment workflow (run by the queue consumer, `super::queue`, or at once by the deploy
//! request): validate -> stage -> verify -> activate -> cleanup, each step recorded in D1 as it
//! happens. Activation is the lifecycle's compare-and-swap (src/lifecycle); the swap itself
//! ends the deployment (`completed`, `superseded`), so nothing after it can leave a live
//! deployment pending or let the DLQ fail it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};

use serde::Deserialize;

use worker::Env;

use crate::assets::{content_type_for, AssetConfig, HeaderRules, RedirectRules};
use crate::deploy::{
    check_manifest_size, held_by_runner, next_step, served_files, validate_files, verify_staged, CheckStore,
    DeploymentManifest, FileTable, ServerInfo, Step, StepError, UploadManifest,
};
use crate::error::ApiError;
use crate::lifecycle::{self, Activation, LifecycleError, Status, StepFailure, StoreError, StoreResult};
use crate::platform::bindings::now_ms;
use crate::platform::http::log;
use crate::platform::serve::cache::LiveRoutes;
use crate::platform::serve::loader::{dispatch, load_bundle, Forward, Target as LoaderTarget};
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_deployments::{step_statuses, D1Deployments, DeploymentRow};
use crate::platform::store::d1_lifecycle::D1Lifecycle;
use crate::platform::store::d1_uploads::D1Uploads;
use crate::platform::store::kv::KvRoutes;
use crate::platform::store::queue::DeployJob;
use crate::platform::store::r2::{AssetBodies, R2Blobs};

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
    #[serde(default)]
    fault: Option<String>,
    #[serde(default)]
    server: Option<ServerInfo>,
    /// A rollout of an existing deployment (a secret change): its files are that deployment's
    /// staged manifest, not an upload session's (which expires and is collected).
    #[serde(rename = "filesFrom", default)]
    files_from: Option<String>,
}

fn transient(e: ApiError) -> StepError {
    StepError::Transient(e.log_detail())
}

/// How long the durable queue message of a deployment that is also run at once waits before
/// the consumer looks at it (var `DEPLOY_BACKSTOP_SECS`).
pub fn backstop_secs(env: &Env) -> u32 {
    crate::platform::bindings::var_or(env, "DEPLOY_BACKSTOP_SECS", "2").parse().unwrap_or(2).min(3600)
}

/// Set once by an immediate run when it ends; the deploy request that started it awaits it.
#[derive(Clone, Default)]
pub struct Finished(Rc<RefCell<(bool, Option<Waker>)>>);

impl Finished {
    pub fn set(&self) {
        let waker = {
            let mut s = self.0.borrow_mut();
            s.0 = true;
            s.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Waits until [`Finished::set`] or `limit_ms`; returns whether it was set.
    pub async fn wait(&self, limit_ms: u64) -> bool {
        let mut timeout = std::pin::pin!(worker::Delay::from(std::time::Duration::from_millis(limit_ms)));
        std::future::poll_fn(|cx| {
            let mut s = self.0.borrow_mut();
            if s.0 {
                return Poll::Ready(true);
            }
            s.1 = Some(cx.waker().clone());
            drop(s);
            timeout.as_mut().poll(cx).map(|_| false)
        })
        .await
    }
}

/// What a run came to when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Ran {
    /// Every remaining step ran, or there was nothing left to do.
    Done,
    /// Another runner holds the deployment (a step is running, within the lease): nothing done.
    Held,
}

/// The fast path of a deploy: runs the deployment's workflow right away, in the request that
/// created it, instead of waiting for the queue's batch. The queue message sent before it is
/// the durable backstop: it finds the work done and acks, resumes whatever this run could not
/// finish (a transient failure, an isolate that went away), or defers while this run holds the
/// deployment. Returns once the run ended; the record says how.
pub async fn run_now(env: &Env, deployment_id: &str) {
    let job = DeployJob { deployment_id: deployment_id.to_string() };
    match run(env, &job, false).await {
        Ok(_) => {}
        Err((e @ StepError::Permanent { .. }, _)) => {
            if let Err(err) = fail(env, deployment_id, &e.public()).await {
                // The backstop message runs the failing step again and records it.
                log(
                    "warn",
                    deployment_id,
                    serde_json::json!({ "msg": "marking failed", "error": err.log_detail() }),
                );
            }
        }
        Err((StepError::Transient(reason), _)) => {
            log(
                "warn",
                deployment_id,
                serde_json::json!({ "msg": "step failed; the queue retries it", "error": reason }),
            );
        }
    }
}

/// Runs the remaining steps. Redelivered jobs of finished deployments do nothing, except that
/// a deployment the activate step finished still gets its cleanup step. With `respect_lease`
/// (queue deliveries) a deployment another runner is working on is left alone ([`Ran::Held`]).
pub(super) async fn run(env: &Env, job: &DeployJob, respect_lease: bool) -> Result<Ran, (StepError, i64)> {
    let deployments = D1Deployments::new(env).map_err(|e| (transient(e), 0))?;
    let Some(d) = deployments.get(&job.deployment_id).await.map_err(|e| (transient(e), 0))? else {
        return Ok(Ran::Done); // nothing to do for a job without a record
    };
    let status = Status::parse(&d.status);
    let finished = status.is_some_and(|s| s.is_terminal());
    if finished && !matches!(status, Some(Status::Completed | Status::Superseded)) {
        return Ok(Ran::Done);
    }
    if respect_lease {
        let rows = deployments.steps(&d.id).await.map_err(|e| (transient(e), 0))?;
        let statuses = step_statuses(&rows);
        if next_step(&statuses).is_none() {
            return Ok(Ran::Done); // a redelivery of a finished job: ack without touching anything
        }
        if held_by_runner(&statuses, d.updated_at, now_ms() as i64) {
            return Ok(Ran::Held);
        }
    }
    let attempt = if finished {
        d.attempts
    } else {
        deployments.start_attempt(&d.id, now_ms() as i64).await.map_err(|e| (transient(e), 0))?
    };
    let config: StoredConfig = serde_json::from_str(&d.config).map_err(|_| {
        (
            StepError::permanent("config_unreadable", "The deployment's stored configuration is unreadable"),
            attempt,
        )
    })?;
    let mut cx = StepCx { env, d: &d, config: &config, manifest: None, attempt };
    loop {
        let rows = deployments.steps(&d.id).await.map_err(|e| (transient(e), attempt))?;
        let Some(step) = next_step(&step_statuses(&rows)) else { return Ok(Ran::Done) };
        if finished && step == Step::Activate {
            // The swap ended the deployment, but its step was never recorded (the write after
            // the swap failed): record it now, or the step would show running for ever.
            let message = format!("activated: the swap had already ended the deployment {}", d.status);
            deployments
                .step_finished(&d.id, step, &message, now_ms() as i64)
                .await
                .map_err(|e| (transient(e), attempt))?;
            continue;
        }
        if finished && step != Step::Cleanup {
            return Ok(Ran::Done); // finished by a swap or the sweep: only cleanup may still run
        }
        deployments.step_started(&d.id, step, now_ms() as i64).await.map_err(|e| (transient(e), attempt))?;
        match cx.run_step(step).await.and_then(|m| cx.injected_after(step).map(|()| m)) {
            Ok(message) => {
                deployments
                    .step_finished(&d.id, step, &message, now_ms() as i64)
                    .await
                    .map_err(|e| (transient(e), attempt))?;
            }
            Err(e) => {
                if let StepError::Transient(raw) = &e {
                    log(
                        "warn",
                        &d.id,
                        serde_json::json!({ "msg": "step error", "step": step.as_str(), "error": raw }),
                    );
                }
                let public = e.public();
                let _ =
                    deployments.step_failed(&d.id, step, public.code, &public.message, now_ms() as i64).await;
                if step == Step::Cleanup {
                    // The deployment already finished; cleanup is best effort and the cron GC
                    // does the same work later.
                    return Ok(Ran::Done);
                }
                return Err((e, attempt));
            }
        }
    }
}

/// The validate/verify checks' reads over D1 (rows), KV (staged manifests) and R2/KV (bodies);
/// what they decide is `crate::deploy::{validate_files, verify_staged}`.
struct Checks<'a> {
    env: &'a Env,
}

fn store_err(e: ApiError) -> StoreError {
    StoreError(e.log_detail())
}

impl CheckStore for Checks<'_> {
    async fn project_exists(&self, project_id: &str) -> StoreResult<bool> {
        Ok(D1Projects::new(self.env).map_err(store_err)?.get(project_id).await.map_err(store_err)?.is_some())
    }
    async fn reclaim(&self, project_id: &str, hashes: &[&str]) -> StoreResult<BTreeSet<String>> {
        D1Uploads::new(self.env).map_err(store_err)?.reclaim(project_id, hashes).await.map_err(store_err)
    }
    async fn staged_manifest(&self, project_id: &str, deployment_id: &str) -> StoreResult<Option<String>> {
        KvRoutes::new(self.env)
            .map_err(store_err)?
            .manifest_text(project_id, deployment_id)
            .await
            .map_err(store_err)
    }
    async fn body_exists(&self, project_id: &str, hash: &str, size: u64) -> StoreResult<bool> {
        AssetBodies::new(self.env).map_err(store_err)?.exists(project_id, hash, size).await.map_err(store_err)
    }
}

struct StepCx<'a> {
    env: &'a Env,
    d: &'a DeploymentRow,
    config: &'a StoredConfig,
    manifest: Option<UploadManifest>,
    attempt: i64,
}

impl StepCx<'_> {
    fn injected(&self, step: Step) -> Result<(), StepError> {
        let fault = self.config.fault.as_deref();
        let once = fault.and_then(|f| f.strip_prefix("once:"));
        if fault == Some(step.as_str()) || (once == Some(step.as_str()) && self.attempt <= 1) {
            return Err(StepError::Transient(format!(
                "injected fault in {} (FAULT_INJECTION)",
                step.as_str()
            )));
        }
        Ok(())
    }

    /// `after:<step>`: the first attempt fails just after the step did its work.
    fn injected_after(&self, step: Step) -> Result<(), StepError> {
        let after = self.config.fault.as_deref().and_then(|f| f.strip_prefix("after:"));
        if after == Some(step.as_str()) && self.attempt <= 1 {
            return Err(StepError::Transient(format!(
                "injected fault after {} (FAULT_INJECTION)",
                step.as_str()
            )));
        }
        Ok(())
    }

    async fn upload_manifest(&mut self) -> Result<&UploadManifest, StepError> {
        if self.manifest.is_none() {
            if let Some(source) = self.config.files_from.clone() {
                self.manifest = Some(self.files_of(&source).await?);
                return Ok(self.manifest.as_ref().expect("set above")); // ok: assigned just above
            }
            let m: Option<UploadManifest> = R2Blobs::new(self.env)
                .map_err(transient)?
                .get_json(&self.config.manifest_key)
                .await
                .map_err(transient)?;
            self.manifest = Some(m.ok_or_else(|| {
                StepError::permanent("upload_manifest_missing", "The upload session's manifest is missing")
            })?);
        }
        Ok(self.manifest.as_ref().expect("set above")) // ok: assigned just above
    }

    /// The files another deployment of this project serves (its staged manifest).
    async fn files_of(&self, source: &str) -> Result<UploadManifest, StepError> {
        let gone = || {
            StepError::permanent(
                "source_deployment_missing",
                format!("Deployment {source}, whose files this rollout serves, is no longer stored"),
            )
        };
        let routes = KvRoutes::new(self.env).map_err(transient)?;
        let text =
            routes.manifest_text(&self.d.project_id, source).await.map_err(transient)?.ok_or_else(gone)?;
        let staged = DeploymentManifest::decode(text)
            .map_err(|e| StepError::Transient(format!("source manifest does not parse: {e}")))?;
        if staged.project_id != self.d.project_id {
            return Err(gone());
        }
        Ok(staged.upload_manifest())
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
        let (env, project_id) = (self.env, self.d.project_id.clone());
        let manifest = self.upload_manifest().await?;
        validate_files(&Checks { env }, &project_id, manifest).await
    }

    async fn stage(&mut self) -> Result<String, StepError> {
        let (project_id, deployment_id) = (self.d.project_id.clone(), self.d.id.clone());
        let (assets, redirects, headers) =
            (self.config.assets, self.config.redirects.clone(), self.config.headers.clone());
        let env = self.env;
        let manifest = self.upload_manifest().await?;
        let files = FileTable::build(served_files(manifest).map(|(p, e)| {
            let ct = e.content_type.as_deref().or_else(|| content_type_for(p)).unwrap_or_default();
            (p, &e.hash, ct, e.size)
        }))
        .map_err(|e| {
            StepError::permanent("manifest_unstorable", format!("The manifest cannot be stored: {e}"))
        })?;
        if let Some(server) = &self.config.server {
            let bundle = load_bundle(env, &project_id, &deployment_id).await.map_err(transient)?;
            if bundle.digest() != server.digest {
                return Err(StepError::permanent(
                    "bundle_mismatch",
                    "The stored server bundle does not match its digest",
                ));
            }
        }
        let staged = DeploymentManifest::new(
            project_id,
            deployment_id.clone(),
            assets,
            redirects,
            headers,
            files,
            self.config.server.clone(),
        );
        let body = staged.encode().map_err(|e| StepError::Transient(e.to_string()))?;
        check_manifest_size(body.len())?;
        KvRoutes::new(env)
            .map_err(transient)?
            .put_manifest(&self.d.project_id, &deployment_id, &body)
            .await
            .map_err(transient)?;
        Ok(format!("staged immutable manifest: {} files, {} bytes", staged.files.len(), body.len()))
    }

    async fn verify(&mut self) -> Result<String, StepError> {
        let (env, d) = (self.env, self.d);
        let manifest = self.upload_manifest().await?;
        let (staged, checked) = verify_staged(&Checks { env }, &d.id, &d.project_id, manifest).await?;
        let mut note = String::new();
        if let Some(server) = &staged.server {
            // The code must start and answer one request before any visitor can reach it.
            let project = D1Projects::new(self.env)
                .map_err(transient)?
                .get(&staged.project_id)
                .await
                .map_err(transient)?
                .ok_or_else(|| StepError::permanent("project_deleted", "The project was deleted"))?;
            let target = LoaderTarget {
                project_id: staged.project_id.clone(),
                deployment_id: staged.deployment_id.clone(),
                digest: server.digest.clone(),
                outbound_allowed: project.outbound == "allow",
                // The deployment's own env only (its secrets included), no scoped env.
                env: "p".into(),
            };
            let probe = worker::Request::new("https://verify.flotilla.invalid/", worker::Method::Get)
                .map_err(|e| StepError::Transient(e.to_string()))?;
            match dispatch(self.env, &target, &probe, Forward { url: None, prefix: "" }, VERIFY_TIMEOUT_MS)
                .await
            {
                Ok(resp) => note = format!("; server code answered {}", resp.status_code()),
                Err(e) => {
                    return Err(StepError::permanent(
                        "server_code_failed",
                        format!("The server code failed to start: {}", e.message()),
                    ));
                }
            }
        }
        Ok(format!("{checked}{note}"))
    }

    /// The lifecycle's activation: one compare-and-swap in D1, then the routing record.
    async fn activate(&mut self) -> Result<String, StepError> {
        let store = D1Lifecycle::new(self.env).map_err(transient)?;
        let routes = LiveRoutes::new(self.env).map_err(transient)?;
        let outcome = lifecycle::activate_new(&store, &routes, &self.d.id, now_ms() as i64).await;
        let events: &[&str] = match &outcome {
            Ok(Activation::Activated { .. }) => &["deployment.succeeded", "deployment.activated"],
            Ok(Activation::Superseded | Activation::Staged) => &["deployment.succeeded"],
            _ => &[],
        };
        for event in events {
            let status = if *event == "deployment.activated" { "active" } else { "ready" };
            let data = serde_json::json!({ "projectId": self.d.project_id, "deploymentId": self.d.id, "status": status });
            crate::platform::jobs::hooks::emit(self.env, &self.d.project_id, event, data).await;
        }
        match outcome {
            Ok(Activation::Activated { generation, route_error }) => {
                if let Some(e) = &route_error {
                    log(
                        "warn",
                        &self.d.id,
                        serde_json::json!({ "msg": "routing record not written yet", "error": e.0 }),
                    );
                }
                Ok(format!(
                    "now serving this deployment (generation {generation}){}",
                    if route_error.is_some() { "; the routing cache is being repaired" } else { "" }
                ))
            }
            Ok(Activation::Superseded) => {
                Ok("a newer deployment is already live; this one is superseded and was never served".into())
            }
            Ok(Activation::Staged) => {
                Ok("staged: ready at its preview URL; production is unchanged until it is promoted".into())
            }
            Ok(Activation::ProjectGone) => Err(StepError::permanent(
                "project_deleted",
                "The project was deleted before this deployment went live",
            )),
            Ok(Activation::AlreadyFinished(s)) => Ok(format!("already {}", s.as_str())),
            Err(LifecycleError::Store(e)) => Err(StepError::Transient(e.0)),
            Err(e) => Err(StepError::Transient(format!("{e:?}"))),
        }
    }

    async fn cleanup(&mut self) -> Result<String, StepError> {
        let removed =
            crate::platform::jobs::gc::remove_expired_sessions(self.env, &self.d.project_id, now_ms() as i64)
                .await
                .map_err(transient)?;
        Ok(format!(
            "removed {removed} expired upload session(s); asset bodies are kept so earlier deployments stay restorable"
        ))
    }
}

/// Marks a still-pending deployment failed (never one that already went live). KV is never
/// ahead of D1, so nothing needs re-pointing.
pub(super) async fn fail(env: &Env, deployment_id: &str, why: &StepFailure) -> Result<(), ApiError> {
    let store = D1Lifecycle::new(env)?;
    let failed = lifecycle::fail_deployment(&store, deployment_id, why, now_ms() as i64)
        .await
        .map_err(ApiError::from)?;
    if failed {
        if let Some(d) = D1Deployments::new(env)?.get(deployment_id).await? {
            let data = serde_json::json!({
                "projectId": d.project_id, "deploymentId": d.id, "status": "failed", "errorCode": why.code,
            });
            crate::platform::jobs::hooks::emit(env, &d.project_id, "deployment.failed", data).await;
        }
    }
    Ok(())
}
