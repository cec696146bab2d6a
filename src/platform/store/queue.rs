//! The `DEPLOY_QUEUE` producer and the job messages it carries.

use serde::{Deserialize, Serialize};
use worker::Env;

use crate::error::{ApiError, ApiResult};
use crate::platform::bindings;

/// Run a deployment's workflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeployJob {
    #[serde(rename = "deploymentId")]
    pub deployment_id: String,
}

/// Remove everything a deleted project owns (one chunk per message).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeJob {
    #[serde(rename = "purgeProjectId")]
    pub project_id: String,
}

/// Retention and garbage collection for one project (one bounded run per message).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GcJob {
    #[serde(rename = "gcProjectId")]
    pub project_id: String,
    /// Where a continuing run starts in the project's stored bodies (an earlier report's `next`).
    #[serde(rename = "gcAfter", default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Send one webhook delivery (`retry`: how many sends of this round failed before).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookJob {
    #[serde(rename = "hookDeliveryId")]
    pub delivery_id: String,
    #[serde(rename = "hookRetry", default)]
    pub retry: u32,
}

/// Send the next batch of a log drain's backlog.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrainJob {
    #[serde(rename = "drainId")]
    pub drain_id: String,
    #[serde(rename = "drainRetry", default)]
    pub retry: u32,
}

/// A message on `DEPLOY_QUEUE`; the kinds have disjoint required fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Job {
    Deploy(DeployJob),
    Purge(PurgeJob),
    Gc(GcJob),
    Hook(HookJob),
    Drain(DrainJob),
}

pub async fn enqueue(env: &Env, job: &Job) -> ApiResult<()> {
    enqueue_after(env, job, 0).await
}

/// Sends a job that the consumer sees no earlier than `delay_secs` from now (0: at once).
pub async fn enqueue_after(env: &Env, job: &Job, delay_secs: u32) -> ApiResult<()> {
    let queue = env.queue(bindings::DEPLOY_QUEUE).map_err(|e| ApiError::internal(format!("queue: {e}")))?;
    let sent = if delay_secs == 0 {
        queue.send(job).await
    } else {
        queue.send(worker::MessageBuilder::new(job).delay_seconds(delay_secs).build()).await
    };
    sent.map_err(|e| ApiError::internal(format!("queue send: {e}")))
}
