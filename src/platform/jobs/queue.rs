//! The `DEPLOY_QUEUE` and `DEPLOY_DLQ` consumer: decodes each message on its own and hands it
//! to the deployment workflow, the purge or GC, then carries out what the delivery policy
//! (`crate::deploy::deploy_plan` / `purge_plan`, pure and tested natively) says: ack, retry
//! with a delay, re-enqueue then ack, give up or mark failed. Transient failures are retried by
//! the queue with backoff; after its retries a job lands on `DEPLOY_DLQ`, whose consumer marks a
//! still-pending deployment failed. Every message of a batch is acked or retried on its own.

use worker::{Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage};

use super::purge::{purge, Progress};
use super::workflow::{backstop_secs, fail, run, Ran};
use crate::deploy::{deploy_plan, purge_plan, Delivery, DeployOutcome, Effect, PurgeOutcome, StepError};
use crate::error::ApiError;
use crate::lifecycle::{Status, StepFailure};
use crate::platform::http::log;
use crate::platform::store::d1_deployments::D1Deployments;
use crate::platform::store::queue::{enqueue_after, DeployJob, Job, PurgeJob};

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
            Some(Job::Hook(job)) => super::hooks::handle_delivery(env, &job, dead_letter, &msg).await,
            Some(Job::Drain(job)) => super::hooks::handle_drain(env, &job, dead_letter, &msg).await,
        }
    }
    Ok(())
}

async fn handle_deploy(env: &Env, job: &DeployJob, dead_letter: bool, msg: &RawMessage) {
    let mut failure = None;
    let outcome = if dead_letter {
        DeployOutcome::DeadLettered
    } else {
        match run(env, job, true).await {
            Ok(Ran::Done) => DeployOutcome::Done,
            Ok(Ran::Held) => DeployOutcome::Held,
            Err((e @ StepError::Permanent { .. }, _)) => {
                failure = Some(e.public());
                DeployOutcome::Permanent
            }
            Err((StepError::Transient(reason), attempt)) => {
                log(
                    "warn",
                    &job.deployment_id,
                    serde_json::json!({ "msg": "step failed", "attempt": attempt, "error": reason }),
                );
                DeployOutcome::Transient { attempt }
            }
        }
    };
    let plan = deploy_plan(outcome, held_delay_secs(env));
    let id = &job.deployment_id;
    let ok = match (plan.effect, failure) {
        (Effect::Nothing, _) => true,
        (Effect::GiveUp, _) => report(id, "giving up failed", give_up(env, job).await),
        (Effect::MarkFailed, Some(why)) => report(id, "marking failed", fail(env, id, &why).await),
        (Effect::MarkFailed, None) => false, // only a permanent error marks failed
        (Effect::Requeue { after_secs }, _) => report(
            id,
            "deferring a held deployment",
            enqueue_after(env, &Job::Deploy(job.clone()), after_secs).await,
        ),
    };
    settle(msg, plan.settle(ok));
}

/// One purge chunk; the next chunk goes out as a new message so each stays small.
async fn handle_purge(env: &Env, job: &PurgeJob, dead_letter: bool, msg: &RawMessage) {
    let outcome = if dead_letter {
        // Retries ran out: leave the data for a later delete/purge and say so loudly.
        log("error", &job.project_id, serde_json::json!({ "msg": "project purge gave up; data remains" }));
        PurgeOutcome::DeadLettered
    } else {
        match purge(env, &job.project_id).await {
            Ok(Progress::Done) => {
                log("info", &job.project_id, serde_json::json!({ "msg": "project purged" }));
                PurgeOutcome::Done
            }
            Ok(Progress::More) => PurgeOutcome::More,
            Err(e) => {
                log(
                    "warn",
                    &job.project_id,
                    serde_json::json!({ "msg": "purge chunk failed; will retry", "error": e.log_detail() }),
                );
                PurgeOutcome::Failed
            }
        }
    };
    let plan = purge_plan(outcome);
    let ok = match plan.effect {
        Effect::Requeue { after_secs } => report(
            &job.project_id,
            "purge continuation",
            enqueue_after(env, &Job::Purge(job.clone()), after_secs).await,
        ),
        _ => true,
    };
    settle(msg, plan.settle(ok));
}

/// Whether an effect succeeded; a failure is logged (raw detail only to the log).
fn report(id: &str, what: &str, result: Result<(), ApiError>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            log("warn", id, serde_json::json!({ "msg": what, "error": e.log_detail() }));
            false
        }
    }
}

/// Carries out the policy's verdict on the message.
fn settle(msg: &RawMessage, delivery: Delivery) {
    match delivery {
        Delivery::Ack => msg.ack(),
        Delivery::Retry { delay_secs: None } => msg.retry(),
        Delivery::Retry { delay_secs: Some(delay) } => {
            msg.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(delay).build())
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
