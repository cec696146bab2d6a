//! Validated domain newtypes (parse at the boundary, never panic) and small pure helpers:
//! ids, slugs, names, content hashes, hostnames and custom domains, timestamps, request-body fields, projects.

mod custom_domain;
mod hostname;
mod ids;
mod input;
mod project;
mod resource;
#[cfg(test)]
mod robustness_tests;
mod time;

pub use custom_domain::*;
pub use hostname::*;
pub use ids::*;
pub use input::*;
pub use project::*;
pub use resource::*;
pub use time::*;
