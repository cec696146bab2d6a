//! Repositories over D1, KV, R2 and the queue. SQL and binding calls live here and only here;
//! nothing here decides what to cache or calls back into `serve`/`jobs`.

pub mod d1;
#[cfg(not(feature = "site"))]
pub mod d1_access;
pub mod d1_deployments;
pub mod d1_domains;
#[cfg(not(feature = "site"))]
pub mod d1_envs;
#[cfg(not(feature = "site"))]
pub mod d1_hooks;
#[cfg(not(feature = "site"))]
pub mod d1_lifecycle;
#[cfg(not(feature = "site"))]
pub mod d1_logs;
#[cfg(not(feature = "site"))]
pub mod d1_resources;
#[cfg(not(feature = "site"))]
pub mod d1_uploads;
#[cfg(not(feature = "site"))]
pub mod d1_wrangler;
pub mod js;
pub mod kv;
#[cfg(not(feature = "site"))]
pub mod queue;
pub mod r2;
#[cfg(not(feature = "site"))]
pub mod tenant_bucket;
#[cfg(not(feature = "site"))]
pub mod tenant_cache;
#[cfg(not(feature = "site"))]
pub mod tenant_images;
#[cfg(not(feature = "site"))]
pub mod tenant_kv;
#[cfg(not(feature = "site"))]
pub mod tenant_sql;
