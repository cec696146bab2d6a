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

/// A message on `DEPLOY_QUEUE`; the kinds have disjoint required fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Job {
    Deploy(DeployJob),
    Purge(PurgeJob),
    Gc(GcJob),
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
