//! Flotilla: a multi-tenant deployment platform in one Cloudflare Worker.
//!
//! Pure modules (`domain`, `routing`, `assets`, `auth`, `access`, `error`) compile and test natively;
//! everything that touches a binding lives under `platform`/`api` and is wasm-only.

pub mod access;
pub mod assets;
pub mod auth;
pub mod compat;
pub mod deploy;
pub mod domain;
pub mod error;
pub mod join;
pub mod keys;
pub mod lifecycle;
pub mod mcp;
pub mod observe;
pub mod routing;
pub mod runtime;
pub mod storage;
#[cfg(test)]
mod test_gen;
pub mod ui;

#[cfg(all(target_arch = "wasm32", not(feature = "site")))]
mod api;
#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod platform;
