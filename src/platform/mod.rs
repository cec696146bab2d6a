//! wasm-only adapters over the Worker bindings. Everything here is thin: load what a pure
//! decision needs, call it, carry out the result.

pub mod bindings;
pub mod cache;
pub mod d1;
pub mod d1_access;
pub mod d1_deployments;
pub mod d1_domains;
pub mod d1_lifecycle;
pub mod d1_uploads;
pub mod d1_wrangler;
pub mod domains;
pub mod fast;
pub mod gc;
pub mod health;
pub mod http;
pub mod loader;
pub mod mcp_http;
pub mod mcp_session;
pub mod purge;
pub mod secrets;
pub mod serve;
pub mod storage;
pub mod workflow;
