//! wasm-only adapters over the Worker bindings. Everything here is thin: load what a pure
//! decision needs, call it, carry out the result.

pub mod bindings;
pub mod cache;
pub mod d1;
#[cfg(not(feature = "site"))]
pub mod d1_access;
pub mod d1_deployments;
pub mod d1_domains;
pub mod d1_lifecycle;
#[cfg(not(feature = "site"))]
pub mod d1_uploads;
#[cfg(not(feature = "site"))]
pub mod d1_wrangler;
pub mod domains;
pub mod fast;
#[cfg(not(feature = "site"))]
pub mod gc;
#[cfg(not(feature = "site"))]
pub mod health;
pub mod http;
pub mod loader;
#[cfg(not(feature = "site"))]
pub mod mcp_http;
#[cfg(not(feature = "site"))]
pub mod mcp_session;
#[cfg(not(feature = "site"))]
pub mod purge;
pub mod secrets;
pub mod serve;
pub mod storage;
#[cfg(not(feature = "site"))]
pub mod workflow;
