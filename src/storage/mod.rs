//! Storage for tenant code (issue 27), pure: the rules behind the bindings server code gets.
//! The binding calls themselves are in `platform::store::{tenant_kv, tenant_sql, tenant_bucket}`.

pub mod bucket;
pub mod kv;
pub mod sql;
