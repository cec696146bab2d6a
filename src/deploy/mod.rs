//! Deployment decisions (pure): upload manifests and bucket planning, deploy-request
//! validation, the compact per-deployment manifest, the workflow state machine and the queue
//! delivery policy.

mod budget;
mod checks;
mod compact;
mod delivery;
mod manifest;
mod raw;
mod request;
#[cfg(test)]
mod robustness_tests;
mod rules;
mod server_code;
mod shims;
mod waves;
mod workflow;

pub use budget::*;
pub use checks::*;
pub use compact::*;
pub use delivery::*;
pub use manifest::*;
pub use raw::*;
pub use request::*;
pub use rules::*;
pub use server_code::*;
pub use shims::*;
pub use waves::*;
pub use workflow::*;
