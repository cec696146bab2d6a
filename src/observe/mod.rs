//! Seeing what tenant code does (issue 29), pure: turning the Worker Loader's tail events into
//! bounded log records, the log query's input, retention decisions, what each live tail
//! viewer sees (tail.rs), and webhooks and log drains (`hooks`: events, signatures, retries,
//! batches). The wasm side (src/platform/store/d1_logs.rs, d1_hooks.rs, api/logs.rs,
//! api/hooks.rs, jobs/hooks.rs) only stores, queues and sends what these decide.

pub mod hooks;
mod logs;
mod tail;

pub use logs::*;
pub use tail::*;
