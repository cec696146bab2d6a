//! The visitor path: every request to a project enters here (and the visitor-only build holds
//! little else). `site` serves a project, `preview` resolves and guards preview URLs, `fast` is the Rust half of the JS fast path, `cache`
//! the isolate's copies of hot storage reads, `split` a gradual rollout's side, `loader` runs server code, `hosts` routes custom
//! domains.

pub mod cache;
pub mod fast;
pub mod hosts;
pub mod loader;
mod preview;
pub mod site;
pub mod skew;
mod split;
