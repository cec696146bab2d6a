//! Seeing what tenant code does (issue 29), pure: turning the Worker Loader's tail events into
//! bounded log records, the log query's input, retention decisions, and what each live tail
//! viewer sees (tail.rs). The wasm side
//! (src/platform/store/d1_logs.rs, api/logs.rs) only stores and reads what these decide.

mod logs;
mod tail;

pub use logs::*;
pub use tail::*;
