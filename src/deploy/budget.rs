//! Per-invocation budgets (pure): Cloudflare's limits, how the D1 adapters chunk the lists a
//! big deployment produces, and how many storage operations each step of a deployment of N
//! files makes in one Worker invocation, so tests can hold every step under the limits.
//!
//! Cloudflare's documented limits (developers.cloudflare.com, read 2026-12-02):
//! - Workers Paid: 10,000 subrequests per request (Free: 50); 128 MB memory per isolate;
//!   5 min CPU (configurable); 100 MB request body on the Free/Pro plans.
//! - Workers KV: 1,000 operations per Worker invocation (a bulk get counts as one); the
//!   footnote counts every external service together ("up to 1,000 operations to external
//!   services, e.g. 500 KV reads and 500 R2 reads"); values up to 25 MiB.
//! - D1: 1,000 queries per Worker invocation on Workers Paid (50 on Free); 100 bound
//!   parameters per query; 100 KB per SQL statement; 2 MB per string, BLOB or row.
//! - Queues: 128 KB per message, at most 100 messages per consumer batch and per sendBatch,
//!   15 min wall time per consumer invocation.
//!
//! We hold every invocation to the tightest reading: at most [`OPS_PER_INVOCATION`] storage
//! operations in total (KV + R2 + D1 statements + queue sends), with every statement of a
//! D1 `batch` counted on its own.

use serde::Serialize;

/// KV's (and the external-services footnote's) 1,000 operations per invocation.
pub const KV_OPS_PER_INVOCATION: usize = 1_000;
/// D1's 1,000 queries per invocation (Workers Paid).
pub const D1_QUERIES_PER_INVOCATION: usize = 1_000;
/// Our budget for all storage operations of one invocation (the tightest of the above).
pub const OPS_PER_INVOCATION: usize = 1_000;
/// Largest KV value (a staged manifest must fit).
pub const KV_MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;
/// D1's limit on one bound string.
pub const D1_MAX_STRING_BYTES: usize = 2_000_000;

/// Hashes per D1 statement when a list travels as one JSON-array parameter
/// (`IN (SELECT value FROM json_each(?2))`): 5,000 x 67 bytes = 335 KB, far below 2 MB.
pub const HASHES_PER_STATEMENT: usize = 5_000;
/// Upload-session rows per statement (`[hash, size, contentType]`, at most ~350 bytes each
/// with the longest content type): at most 700 KB per parameter.
pub const ROWS_PER_STATEMENT: usize = 2_000;

/// `items` as JSON arrays of at most `per` items each: one bound parameter per statement.
pub fn json_chunks<T: Serialize>(items: &[T], per: usize) -> Vec<String> {
    items.chunks(per.max(1)).map(|c| serde_json::to_string(c).unwrap_or_else(|_| "[]".to_string())).collect()
}

/// Storage operations of one invocation, by service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ops {
    pub d1: usize,
    pub kv: usize,
    pub r2: usize,
    pub queue: usize,
}

impl Ops {
    pub fn total(&self) -> usize {
        self.d1 + self.kv + self.r2 + self.queue
    }

    /// Within every limit above.
    pub fn within_limits(&self) -> bool {
        self.d1 <= D1_QUERIES_PER_INVOCATION
            && self.kv <= KV_OPS_PER_INVOCATION
            && self.total() <= OPS_PER_INVOCATION
    }
}

impl std::ops::Add for Ops {
    type Output = Ops;
    fn add(self, o: Ops) -> Ops {
        Ops { d1: self.d1 + o.d1, kv: self.kv + o.kv, r2: self.r2 + o.r2, queue: self.queue + o.queue }
    }
}

/// Statements needed for `n` list items at `per` items per statement.
pub fn statements(n: usize, per: usize) -> usize {
    n.div_ceil(per.max(1))
}
