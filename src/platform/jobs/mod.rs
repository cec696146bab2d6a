//! Background work driven by `DEPLOY_QUEUE` and the cron trigger: the deployment workflow,
//! retention/GC and the sweep (routing and host records), the purge of deleted projects.

pub mod cron;
pub mod gc;
pub mod hooks;
pub mod hosts;
pub mod purge;
pub mod queue;
pub mod tail;
pub mod workflow;
