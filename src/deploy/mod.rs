//! Deployment decisions (pure): upload manifests and bucket planning, deploy-request
//! validation, the compact per-deployment manifest, and the workflow state machine.

mod budget;
mod compact;
mod manifest;
mod raw;
mod request;
#[cfg(test)]
mod robustness_tests;
mod rules;
mod server_code;
mod waves;
mod workflow;

pub use budget::*;
pub use compact::*;
pub use manifest::*;
pub use raw::*;
pub use request::*;
pub use rules::*;
pub use server_code::*;
pub use waves::*;
pub use workflow::*;
