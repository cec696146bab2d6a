//! The `DEPLOY_QUEUE` and `DEPLOY_DLQ` consumer: decodes each message on its own and hands it
//! to the deployment workflow, the purge or GC. Transient failures are retried by the queue
//! with backoff; after its retries a job lands on `DEPLOY_DLQ`, whose consumer marks a
//! still-pending deployment failed. Every message of a batch is acked or retried on its own.

use worker::{Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage};

use super::purge::{purge, Progress};
use super::workflow::{backstop_secs, fail, run, Ran};
use crate::deploy::{attempts_exhausted, retry_delay_secs, StepError};
use crate::error::ApiError;
use crate::lifecycle::{Status, StepFailure};
use crate::platform::http::log;
use crate::platform::store::d1_deployments::D1Deployments;
use crate::platform::store::queue::{enqueue, enqueue_after, DeployJob, Job, PurgeJob};

/// Handles one batch from either queue. The dead-letter queue is recognised by its name
/// ending in `-dlq` (wrangler.toml: `flotilla-deploy-dlq`). Each message is decoded on its own:
/// one undecodable message is acked (it can never succeed) without touching the others.
pub async fn handle_batch(batch: MessageBatch<Job>, env: &Env) -> worker::Result<()> {
    let dead_letter = batch.queue().ends_with("-dlq");
    for msg in batch.raw_iter() {
        let job = js_sys::JSON::stringify(&msg.body())
            .ok()
            .and_then(|s| s.as_string())
            .and_then(|s| serde_json::from_str::<Job>(&s).ok());
        match job {
            None => {
                log(
                    "error",
                    "queue",
                    serde_json::json!({ "msg": "undecodable queue message; dropped", "id": msg.id() }),
                );
                msg.ack();
            }
            Some(Job::Deploy(job)) => handle_deploy(env, &job, dead_letter, &msg).await,
            Some(Job::Purge(job)) => handle_purge(env, &job, dead_letter, &msg).await,
            Some(Job::Gc(job)) => crate::platform::jobs::gc::handle(env, &job, dead_letter, &msg).await,
        }
    }
    Ok(())
}

async fn handle_deploy(env: &Env, job: &DeployJob, dead_letter: bool, msg: &RawMessage) {
    if dead_letter {
        if let Err(e) = give_up(env, job).await {
            log(
                "error",
                &job.deployment_id,
                serde_json::json!({ "msg": "DLQ handling failed", "error": e.log_detail() }),
            );
            msg.retry();
            return;
        }
        msg.ack();
        return;
    }
    match run(env, job, true).await {
        Ok(Ran::Done) => msg.ack(),
        // Another runner (the deploy request's immediate run) is on it: come back later with a
        // fresh message, so waiting never uses up the queue's retries.
        Ok(Ran::Held) => match enqueue_after(env, &Job::Deploy(job.clone()), held_delay_secs(env)).await {
            Ok(()) => msg.ack(),
            Err(e) => {
                log(
                    "warn",
                    &job.deployment_id,
                    serde_json::json!({ "msg": "deferring a held deployment", "error": e.log_detail() }),
                );
                msg.retry_with_options(
                    &QueueRetryOptionsBuilder::new().with_delay_seconds(held_delay_secs(env)).build(),
                );
            }
        },
        Err((e @ StepError::Permanent { .. }, _)) => {
            if let Err(err) = fail(env, &job.deployment_id, &e.public()).await {
                log(
                    "error",
                    &job.deployment_id,
                    serde_json::json!({ "msg": "marking failed", "error": err.log_detail() }),
                );
                msg.retry();
                return;
            }
            msg.ack();
        }
        Err((StepError::Transient(reason), attempt)) if attempts_exhausted(attempt) => {
            // The immediate run counts as an attempt, so the budget can run out before the
            // queue's own retries do: end it the way the DLQ would.
            log(
                "warn",
                &job.deployment_id,
                serde_json::json!({ "msg": "step failed; attempts used up", "error": reason }),
            );
            match give_up(env, job).await {
                Ok(()) => msg.ack(),
                Err(e) => {
                    log(
                        "error",
                        &job.deployment_id,
                        serde_json::json!({ "msg": "giving up failed", "error": e.log_detail() }),
                    );
                    msg.retry();
                }
            }
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

/// One purge chunk; the next chunk goes out as a new message so each stays small.
async fn handle_purge(env: &Env, job: &PurgeJob, dead_letter: bool, msg: &RawMessage) {
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

/// How long a delivery that found the deployment held comes back later: a runner inside a step
/// that took longer than the backstop delay is working on something big.
fn held_delay_secs(env: &Env) -> u32 {
    backstop_secs(env).max(5)
}

/// DLQ: the job exhausted its retries. Record why, using the last step error (already a
/// user-facing sentence).
async fn give_up(env: &Env, job: &DeployJob) -> Result<(), ApiError> {
    let deployments = D1Deployments::new(env)?;
    let Some(d) = deployments.get(&job.deployment_id).await? else { return Ok(()) };
    if Status::parse(&d.status).is_some_and(|s| s.is_terminal()) {
        return Ok(());
    }
    let steps = deployments.steps(&d.id).await?;
    let last_error = steps.iter().rev().find_map(|s| s.error.clone());
    let reason = match last_error {
        Some(e) => format!("Gave up after {} attempts: {e}", d.attempts),
        None => format!("Gave up after {} attempts", d.attempts),
    };
    fail(env, &d.id, &StepFailure::new("retries_exhausted", reason)).await
}
