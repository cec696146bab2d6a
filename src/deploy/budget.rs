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

/// Per-run chunks of the cron GC and of one purge message (src/platform/jobs/gc.rs, purge.rs):
/// each invocation does a bounded share and leaves the rest to the next run or message.
pub const GC_DELETE_CHUNK: usize = 100;
pub const GC_COLLECT_CHUNK: usize = 25;
/// `project_assets` rows one GC query reads (keyset pages by hash): a run holds one page of rows
/// at a time, and one page's marks fit one statement.
pub const GC_PAGE_ROWS: usize = HASHES_PER_STATEMENT;
/// Pages one GC run reads before it leaves the rest to the next run (a cursor in its job): up
/// to 500,000 stored bodies per run.
pub const GC_PAGES_PER_RUN: usize = 100;
/// Expired upload sessions removed per run (cleanup step, GC).
pub const EXPIRED_SESSIONS_CHUNK: usize = 50;
/// Objects one R2 or KV list call returns in GC and purge.
pub const LIST_CHUNK: usize = 200;
pub const PURGE_ASSET_CHUNK: usize = 200;
pub const PURGE_DEPLOYMENT_CHUNK: usize = 25;
pub const PURGE_SESSION_CHUNK: usize = 50;
/// Custom domains one purge message releases (a KV read and delete each, and a Cloudflare for
/// SaaS delete for the registered ones: 50 outbound calls, the Workers Free subrequest limit).
pub const PURGE_DOMAIN_CHUNK: usize = 50;

/// What every API request may spend before its own work: token lookup and `last_used`,
/// project load, the two quota counters (per token, per project), the audit row, and the
/// routing-record repair a lifecycle call may do. A generous bound, not an exact count.
pub const REQUEST_OVERHEAD: Ops = Ops { d1: 16, kv: 4, r2: 0, queue: 1 };

/// One storage model per step of a deployment of `files` files (`unique` distinct bodies,
/// `missing` of them new), counted from the adapters' code and chunk sizes.
pub mod steps {
    use super::*;
    use crate::deploy::BUCKET_MAX_FILES;

    const fn d1(n: usize) -> Ops {
        Ops { d1: n, kv: 0, r2: 0, queue: 0 }
    }

    /// `POST .../assets-upload-session` (native): stored_hashes, the session row and its
    /// progress rows, the manifest to R2.
    pub fn upload_session(unique: usize, missing: usize) -> Ops {
        REQUEST_OVERHEAD
            + d1(statements(unique, HASHES_PER_STATEMENT) + 1 + statements(missing, ROWS_PER_STATEMENT))
            + Ops { r2: 1, ..Ops::default() }
    }

    /// The wrangler-compatible session: known() over every hash, the manifest to R2.
    pub fn wrangler_session(unique: usize) -> Ops {
        REQUEST_OVERHEAD + d1(statements(unique, HASHES_PER_STATEMENT)) + Ops { r2: 1, ..Ops::default() }
    }

    /// One native bucket of `n` files (at most `BUCKET_MAX_FILES`): principal check, the
    /// session's rows (99 per statement), the upload lease against GC (two statements per
    /// JSON array), one KV put per body, the uploaded marks (98 and 49 per statement), the
    /// lease's end and the remaining count.
    pub fn bucket(n: usize) -> Ops {
        let n = n.min(BUCKET_MAX_FILES);
        REQUEST_OVERHEAD
            + d1(1
                + statements(n, 99)
                + 2 * statements(n, HASHES_PER_STATEMENT)
                + statements(n, 98)
                + statements(n, 49)
                + statements(n, HASHES_PER_STATEMENT)
                + 1)
            + Ops { kv: n, ..Ops::default() }
    }

    /// One wrangler bucket: the manifest from R2, the upload lease against GC (two statements
    /// per JSON array) and stored_hashes of the bucket, one KV put per new body, two rows per
    /// file and the lease's end, then known() over the whole session.
    pub fn wrangler_bucket(n: usize, unique: usize) -> Ops {
        let n = n.min(BUCKET_MAX_FILES);
        REQUEST_OVERHEAD
            + d1(4 * statements(n, HASHES_PER_STATEMENT) + 2 * n + statements(unique, HASHES_PER_STATEMENT))
            + Ops { kv: n, r2: 1, ..Ops::default() }
    }

    /// `POST .../deployments` prepare + accept: the session and its remaining count, the deploy
    /// sequence, the deployment row, its five step rows and first log line, and for a waiting
    /// client the final read of the deployment and its log; the upload manifest from R2 (twice),
    /// the two rule files from KV, the job. Wrangler's script upload first turns its session
    /// into a native one: known() and the stored rows over every hash, the session row, the
    /// sealed secrets, an extra project read; its manifest from R2, the native manifest to R2,
    /// the wrangler manifest deleted, the bundle to R2. (Counted against the real adapters by
    /// tests/integration/budget.test.mjs.)
    pub fn deploy(unique: usize, wrangler: bool) -> Ops {
        let (d1_extra, r2_extra) =
            if wrangler { (2 * statements(unique, HASHES_PER_STATEMENT) + 3, 4) } else { (0, 0) };
        REQUEST_OVERHEAD + d1(2 + 8 + 2 + d1_extra) + Ops { kv: 2, r2: 2 + r2_extra, queue: 1, d1: 0 }
    }

    /// The queue consumer running every step in one invocation: bookkeeping (four reads of the
    /// deployment, the claim, the step list before the run and after each step, and per step:
    /// running, current step, completed, progress and up to three log lines), validate (the
    /// reclaim: clear marks, read rows), stage (bundle, one KV put), verify (the manifest back,
    /// the reclaim again, one body, one probe), activate (the swap, the routing record), cleanup
    /// (expired sessions: one bulk R2 delete, two D1 statements).
    pub fn workflow(unique: usize) -> Ops {
        let bookkeeping = 4 + 1 + 7 + 5 * 7;
        let validate = Ops { d1: 1 + 2 * statements(unique, HASHES_PER_STATEMENT), r2: 1, ..Ops::default() };
        let stage = Ops { kv: 1, r2: 1, ..Ops::default() };
        let verify = Ops { d1: 1 + 2 * statements(unique, HASHES_PER_STATEMENT), kv: 2, queue: 0, r2: 0 }
            + Ops { kv: 1, ..Ops::default() }; // + probe
        let activate = Ops { d1: 8, kv: 3, ..Ops::default() };
        let cleanup = Ops {
            d1: 1 + 2 * statements(EXPIRED_SESSIONS_CHUNK, HASHES_PER_STATEMENT),
            r2: 1,
            ..Ops::default()
        };
        d1(bookkeeping) + validate + stage + verify + activate + cleanup
    }

    /// One GC run: expiry, collecting expired deployments, reading the kept manifests, then
    /// per page of `project_assets` one read and its marks and unmarks (one statement each),
    /// deleting a chunk of bodies, expired sessions and orphaned blobs (per prefix: one list,
    /// one D1 query, one bulk delete; wrangler session manifests: one list, one bulk delete;
    /// large bodies: one list, one D1 query, one R2 delete each).
    pub fn gc(kept_manifests: usize, pending_manifests: usize, pages: usize) -> Ops {
        let expire = d1(6);
        // A collected manifest is deleted under its key and its legacy key.
        let collect =
            Ops { d1: 1 + GC_COLLECT_CHUNK, kv: 2 * GC_COLLECT_CHUNK, r2: GC_COLLECT_CHUNK, queue: 0 };
        let referenced = Ops { d1: 2, kv: kept_manifests, r2: pending_manifests, queue: 0 };
        let scan = d1(3 * pages.min(GC_PAGES_PER_RUN));
        // The claim, the row delete and the release each take the hashes as one JSON array.
        let delete = Ops { kv: GC_DELETE_CHUNK, ..d1(3 * statements(GC_DELETE_CHUNK, HASHES_PER_STATEMENT)) };
        let sessions = Ops {
            d1: 1 + 2 * statements(EXPIRED_SESSIONS_CHUNK, HASHES_PER_STATEMENT),
            r2: 1,
            ..Ops::default()
        };
        let orphans =
            Ops { d1: 2 * statements(LIST_CHUNK, HASHES_PER_STATEMENT), r2: 2 + 2, ..Ops::default() };
        let wrangler = Ops { r2: 2, ..Ops::default() };
        let large =
            Ops { d1: statements(LIST_CHUNK, HASHES_PER_STATEMENT), r2: 1 + LIST_CHUNK, ..Ops::default() };
        expire + collect + referenced + scan + delete + sessions + orphans + wrangler + large + d1(1)
    }

    /// The costliest purge message (each also checks the tombstone, stamps its heartbeat and
    /// sends the next one):
    /// a chunk of bodies (a KV delete each), of deployments (manifest, bundle, three rows
    /// each), of sessions (one bulk R2 delete), or the stray-object sweep (one KV list, a KV
    /// delete per stray body, a KV list of deployment manifests and two deletes each, four R2
    /// lists, one bulk R2 delete).
    pub fn purge_message() -> Ops {
        let assets =
            Ops { d1: 3 + statements(PURGE_ASSET_CHUNK, 99), kv: PURGE_ASSET_CHUNK, queue: 1, r2: 0 };
        let deployments = Ops {
            d1: 3 + 3 * PURGE_DEPLOYMENT_CHUNK,
            // The manifest under its key and its legacy key.
            kv: 2 * PURGE_DEPLOYMENT_CHUNK,
            r2: PURGE_DEPLOYMENT_CHUNK,
            queue: 1,
        };
        let sessions =
            Ops { d1: 3 + 2 * statements(PURGE_SESSION_CHUNK, HASHES_PER_STATEMENT), r2: 1, queue: 1, kv: 0 };
        let stray =
            Ops { d1: 2, kv: 1 + PURGE_ASSET_CHUNK + 1 + 2 * PURGE_DEPLOYMENT_CHUNK, r2: 4 + 1, queue: 1 };
        // A chunk of domains: the list, a host read and delete each, one delete of the released
        // rows (98 per statement), then the last statements of the purge and its tombstone.
        let domains = Ops {
            d1: 3 + 1 + statements(PURGE_DOMAIN_CHUNK, 98) + 5,
            kv: 2 * PURGE_DOMAIN_CHUNK + 1,
            r2: 0,
            queue: 1,
        };
        [assets, deployments, sessions, stray, domains].into_iter().max_by_key(Ops::total).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::steps::*;
    use super::*;
    use crate::deploy::{
        plan_buckets, BUCKET_MAX_BYTES, BUCKET_MAX_FILES, MAX_CONTENT_TYPE_BYTES, MAX_FILES,
    };

    fn hashes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:064x}")).collect()
    }

    #[test]
    fn hash_lists_fit_one_bound_parameter_each() {
        let hs = hashes(MAX_FILES);
        let refs: Vec<&str> = hs.iter().map(String::as_str).collect();
        let lists = json_chunks(&refs, HASHES_PER_STATEMENT);
        assert_eq!(lists.len(), statements(MAX_FILES, HASHES_PER_STATEMENT));
        assert_eq!(lists.len(), 20);
        let back: Vec<String> =
            lists.iter().flat_map(|l| serde_json::from_str::<Vec<String>>(l).unwrap()).collect();
        assert_eq!(back, hs, "every hash once, in order");
        assert!(lists.iter().all(|l| l.len() <= D1_MAX_STRING_BYTES), "{}", lists[0].len());
        // Session rows with the longest content type D1 can still bind.
        let ct = "x".repeat(MAX_CONTENT_TYPE_BYTES);
        let rows: Vec<(String, u64, Option<String>)> =
            hs.iter().map(|h| (h.clone(), u64::from(u32::MAX), Some(ct.clone()))).collect();
        let lists = json_chunks(&rows, ROWS_PER_STATEMENT);
        assert_eq!(lists.len(), statements(MAX_FILES, ROWS_PER_STATEMENT));
        assert!(lists.iter().all(|l| l.len() <= D1_MAX_STRING_BYTES), "{}", lists[0].len());
        assert!(json_chunks::<String>(&[], 10).is_empty());
    }

    #[test]
    fn every_step_of_a_100k_file_deployment_stays_under_the_invocation_limits() {
        for files in [20_000, MAX_FILES] {
            let missing: Vec<(String, u64)> = hashes(files).into_iter().map(|h| (h, 1024)).collect();
            let buckets = plan_buckets(&missing, BUCKET_MAX_FILES, BUCKET_MAX_BYTES);
            let largest = buckets.iter().map(Vec::len).max().unwrap();
            assert!(largest <= BUCKET_MAX_FILES);
            let cases = [
                ("upload session", upload_session(files, files)),
                ("wrangler session", wrangler_session(files)),
                ("bucket", bucket(largest)),
                ("wrangler bucket", wrangler_bucket(largest, files)),
                ("deploy", deploy(files, false)),
                ("wrangler deploy", deploy(files, true)),
                ("queue workflow", workflow(files)),
                // Retained deployments (RETAIN_COMPLETED 20 + active + 4 aliases), each with
                // its own bodies: more pages than one run reads.
                ("gc", gc(25, 5, statements(25 * files, GC_PAGE_ROWS))),
                ("purge message", purge_message()),
            ];
            for (step, ops) in cases {
                println!("{files} files, {step}: {ops:?}, total {}", ops.total());
                assert!(ops.within_limits(), "{files} files, {step}: {ops:?} (total {})", ops.total());
            }
            // The old one-placeholder-per-hash statements would not have fit.
            assert!(
                statements(files, 99) + statements(files, 33) > D1_QUERIES_PER_INVOCATION || files < 50_000
            );
        }
    }

    /// The model for the integration test that counts what the adapters really do
    /// (tests/integration/budget.test.mjs runs this test and reads its `BUDGET_MODEL` line):
    /// `BUDGET_FILES` distinct new files in one bucket, two deployments kept, GC reading
    /// `BUDGET_GC_PAGE_ROWS` rows per page (the integration runner's `GC_PAGE_ROWS`).
    #[test]
    fn model_for_the_integration_test() {
        let files: usize = std::env::var("BUDGET_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(120);
        let page_rows: usize =
            std::env::var("BUDGET_GC_PAGE_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(GC_PAGE_ROWS);
        assert!(files <= BUCKET_MAX_FILES, "one bucket");
        let o =
            |ops: Ops| serde_json::json!({ "d1": ops.d1, "kv": ops.kv, "r2": ops.r2, "queue": ops.queue });
        let model = serde_json::json!({
            "files": files,
            "uploadSession": o(upload_session(files, files)),
            "bucket": o(bucket(files)),
            "deploy": o(deploy(files, false) + workflow(files)),
            "wranglerSession": o(wrangler_session(files)),
            "wranglerBucket": o(wrangler_bucket(files, files)),
            "wranglerDeploy": o(deploy(files, true) + workflow(files)),
            "gc": o(gc(2, 0, statements(2 * files, page_rows))),
        });
        println!("BUDGET_MODEL {model}");
    }

    #[test]
    fn the_limits_bind() {
        // A step that did one KV read per file would be refused by the model.
        let per_file = Ops { kv: MAX_FILES, ..Ops::default() };
        assert!(!per_file.within_limits());
        assert!(!Ops { d1: D1_QUERIES_PER_INVOCATION + 1, ..Ops::default() }.within_limits());
        assert!(!Ops { d1: 600, kv: 600, ..Ops::default() }.within_limits());
        assert!(Ops { d1: 500, kv: 500, ..Ops::default() }.within_limits());
    }
}
