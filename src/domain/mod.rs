//! Validated domain newtypes (parse at the boundary, never panic) and small pure helpers:
//! ids, slugs, names, content hashes, hostnames, timestamps, request-body fields, projects.

mod ids;
mod input;
mod project;
mod time;

pub use ids::*;
pub use input::*;
pub use project::*;
pub use time::*;
