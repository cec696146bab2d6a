//! wasm-only adapters over the Worker bindings, in rooms by what they serve. Everything here is
//! thin: load what a pure decision needs, call it, carry out the result.
//!
//! - `serve/`: the visitor path (site serving, the JS fast path, isolate caches, loader dispatch)
//! - `jobs/`: the queue workflow, GC and the cron sweep, purge
//! - `store/`: D1/KV/R2/queue repositories (no caching decisions, no calls back up)
//! - `bindings`, `http`, `secrets`, `outbound`, `mcp_session`: shared plumbing and one DO shell
//!
//! Imports run one way: `serve` and `jobs` use `store`; `store` uses only the plumbing.

pub mod bindings;
pub mod http;
#[cfg(not(feature = "site"))]
pub mod jobs;
#[cfg(not(feature = "site"))]
pub mod mcp_session;
#[cfg(not(feature = "site"))]
pub mod outbound;
pub mod secrets;
pub mod serve;
pub mod store;
