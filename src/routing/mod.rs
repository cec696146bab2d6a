//! Request routing (pure): which surface a request is for (SPEC.md §2), and which API route
//! a method + path names. No bindings; the fetch handler calls these and dispatches.

mod access_log;
pub mod affinity;
mod api;
pub mod cache;
mod host;
#[cfg(test)]
mod openapi_tests;
mod pages;
pub mod pin;
pub mod preview;
mod record;
#[cfg(test)]
mod robustness_tests;

pub use access_log::*;
pub use api::*;
pub use host::*;
pub use pages::*;
pub use record::*;
