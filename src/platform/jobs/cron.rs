//! The cron trigger: the lifecycle sweep (repairs lagging routing records, ends stuck
//! deployments), reconciliation of custom-domain `host:` records with D1, deletion of abandoned
//! provisional projects, continued deletion of KV namespaces and buckets, purge retries, GC scheduling, expiry of custom domains left pending, pruning
//! of old quota counters. Each part runs
//! even if an earlier one failed; failures go to the log.

use serde_json::json;
use worker::Env;

use super::gc::{stamp, var_ms, Id};
use crate::domain::{KIND_BUCKET, KIND_KV, KIND_SQL};
use crate::error::{ApiError, ApiResult};
use crate::lifecycle;
use crate::platform::bindings::now_ms;
use crate::platform::http::log;
use crate::platform::serve::cache::LiveRoutes;
use crate::platform::store::d1::{all_rows, database, num};
use crate::platform::store::d1_lifecycle::D1Lifecycle;
use crate::platform::store::d1_resources::D1Resources;
use crate::platform::store::queue::{enqueue, GcJob, Job, PurgeJob};
use crate::platform::store::tenant_bucket::remove_objects;
use crate::platform::store::tenant_kv::remove_keys;
use crate::storage::bucket::{TenantBucket, BUCKETS_PER_RUN, BUCKET_OBJECTS_PER_RUN};
use crate::storage::kv::TenantNamespace;

/// `DEPLOY_DEADLINE_MS` (default 15 min): a deployment pending longer is failed by the sweep.
fn deadline(env: &Env) -> i64 {
    var_ms(env, "DEPLOY_DEADLINE_MS", 15 * 60 * 1000)
}

/// The cron trigger: lifecycle sweep, purge retries, GC scheduling. Each part runs even if an
/// earlier one failed; failures go to the log.
pub async fn scheduled(env: &Env) {
    let now = now_ms() as i64;
    let sweep = async {
        let store = D1Lifecycle::new(env)?;
        let routes = LiveRoutes::new(env)?;
        lifecycle::sweep(&store, &routes, now, deadline(env), 50).await.map_err(ApiError::from)
    };
    match sweep.await {
        Ok(r) => log(
            "info",
            "cron",
            json!({ "msg": "sweep", "routesRepaired": r.routes_repaired, "routesFailed": r.routes_failed,
                    "stuckFailed": r.stuck_failed }),
        ),
        Err(e) => log("error", "cron", json!({ "msg": "sweep failed", "error": e.log_detail() })),
    }
    // Gradual rollouts: auto-abort, step advancement, completion.
    match rollouts(env, now).await {
        Ok((0, _)) => {}
        Ok((n, changed)) => log("info", "cron", json!({ "msg": "rollouts", "live": n, "changed": changed })),
        Err(e) => log("error", "cron", json!({ "msg": "rollouts failed", "error": e.log_detail() })),
    }
    // Custom-domain `host:` records, reconciled with D1 like route records (bounded per run).
    let hosts = async {
        let store = super::hosts::LiveHosts::new(env)?;
        lifecycle::reconcile_hosts(&store, lifecycle::HOST_RECONCILE_CHUNK).await.map_err(ApiError::from)
    };
    match hosts.await {
        Ok(r) => log(
            "info",
            "cron",
            json!({ "msg": "host records", "repaired": r.repaired, "deleted": r.deleted, "failed": r.failed }),
        ),
        Err(e) => log("error", "cron", json!({ "msg": "host records failed", "error": e.log_detail() })),
    }
    // Provisional projects whose deploy never came are deleted; their purges remove the rows too.
    match abandon_provisional(env, now).await {
        Ok(0) => {}
        Ok(n) => {
            log("info", "cron", json!({ "msg": "abandoned provisional projects deleted", "deleted": n }))
        }
        Err(e) => log(
            "error",
            "cron",
            json!({ "msg": "deleting abandoned projects failed", "error": e.log_detail() }),
        ),
    }
    // KV namespaces whose DELETE was not called until they were empty.
    let namespaces = async {
        let store = Namespaces { env, d1: D1Resources::new(env)? };
        lifecycle::continue_namespace_deletions(
            &store,
            now,
            lifecycle::NAMESPACES_PER_RUN,
            lifecycle::NAMESPACE_KEYS_PER_RUN,
        )
        .await
        .map_err(ApiError::from)
    };
    match namespaces.await {
        Ok(r) if r == lifecycle::NamespaceReport::default() => {}
        Ok(r) => log(
            "info",
            "cron",
            json!({ "msg": "namespace deletions continued", "keysRemoved": r.removed, "finished": r.finished,
                    "failed": r.failed }),
        ),
        Err(e) => {
            log("error", "cron", json!({ "msg": "namespace deletions failed", "error": e.log_detail() }))
        }
    }
    // Buckets likewise (the same bounded loop; one list and one bulk delete per bucket).
    let buckets = async {
        let store = Buckets { env, d1: D1Resources::new(env)? };
        lifecycle::continue_namespace_deletions(&store, now, BUCKETS_PER_RUN, BUCKET_OBJECTS_PER_RUN)
            .await
            .map_err(ApiError::from)
    };
    match buckets.await {
        Ok(r) if r == lifecycle::NamespaceReport::default() => {}
        Ok(r) => log(
            "info",
            "cron",
            json!({ "msg": "bucket deletions continued", "objectsRemoved": r.removed, "finished": r.finished,
                    "failed": r.failed }),
        ),
        Err(e) => log("error", "cron", json!({ "msg": "bucket deletions failed", "error": e.log_detail() })),
    }
    // SQL databases whose DELETE could not remove their data (one `deleteAll` each, retried).
    let databases = async {
        let store = SqlDatabases { env, d1: D1Resources::new(env)? };
        lifecycle::continue_namespace_deletions(&store, now, lifecycle::NAMESPACES_PER_RUN, u32::MAX)
            .await
            .map_err(ApiError::from)
    };
    match databases.await {
        Ok(r) if r == lifecycle::NamespaceReport::default() => {}
        Ok(r) => log(
            "info",
            "cron",
            json!({ "msg": "database deletions continued", "finished": r.finished, "failed": r.failed }),
        ),
        Err(e) => {
            log("error", "cron", json!({ "msg": "database deletions failed", "error": e.log_detail() }))
        }
    }
    if let Err(e) = schedule_jobs(env, now).await {
        log("error", "cron", json!({ "msg": "scheduling purges/GC failed", "error": e.log_detail() }));
    }
    // Custom domains left pending past their window are released (bounded per run).
    let ttl = crate::domain::pending_ttl_ms(
        env.var("DOMAIN_PENDING_TTL_MS").ok().map(|v| v.to_string()).as_deref(),
    );
    let expired =
        crate::platform::outbound::expire_pending_domains(env, now, ttl, crate::domain::EXPIRE_PENDING_CHUNK);
    match expired.await {
        Ok(n) => log("info", "cron", json!({ "msg": "pending domains expired", "released": n })),
        Err(e) => {
            log("error", "cron", json!({ "msg": "expiring pending domains failed", "error": e.log_detail() }))
        }
    }
    // Quota counters of windows long past are dead weight.
    let q = crate::platform::bindings::quotas(env);
    let longest = q.deploys.window_secs.max(q.upload_bytes.window_secs) as i64 * 1000;
    let pruned = async {
        crate::platform::store::d1_access::D1Access::new(env)?.prune_counters(now - 2 * longest).await
    };
    if let Err(e) = pruned.await {
        log("error", "cron", json!({ "msg": "pruning quota counters failed", "error": e.log_detail() }));
    }
    // SQL files `wrangler d1 execute --file` uploaded and never ran (their upload URL lasts an
    // hour; `ingest` deletes what it runs): gone after two.
    let imports = async {
        let blobs = crate::platform::store::r2::R2Blobs::new(env)?;
        let stale: Vec<String> = blobs
            .list(crate::keys::sql_import_prefix(), 100)
            .await?
            .into_iter()
            .filter(|(_, at)| *at < now - 2 * 3_600_000)
            .map(|(k, _)| k)
            .collect();
        blobs.delete_many(&stale).await?;
        Ok::<_, ApiError>(stale.len())
    };
    match imports.await {
        Ok(0) => {}
        Ok(n) => log("info", "cron", json!({ "msg": "abandoned SQL imports deleted", "count": n })),
        Err(e) => log(
            "error",
            "cron",
            json!({ "msg": "deleting abandoned SQL imports failed", "error": e.log_detail() }),
        ),
    }
    // Kept invocation logs past LOG_RETENTION_DAYS, then those of deleted projects (bounded).
    let logs = async {
        let store = crate::platform::store::d1_logs::D1Logs::new(env)?;
        let days = env.var("LOG_RETENTION_DAYS").ok().map(|v| v.to_string());
        let cutoff = crate::observe::retention_cutoff(now as u64, days.as_deref());
        let expired = store.delete_expired(cutoff, crate::observe::RETENTION_BATCH).await?;
        let orphaned = store.delete_orphans(crate::observe::RETENTION_BATCH).await?;
        Ok::<_, ApiError>((expired, orphaned))
    };
    match logs.await {
        Ok((0, 0)) => {}
        Ok((expired, orphaned)) => log(
            "info",
            "cron",
            json!({ "msg": "invocation logs deleted", "expired": expired, "ofDeletedProjects": orphaned }),
        ),
        Err(e) => log("error", "cron", json!({ "msg": "deleting old logs failed", "error": e.log_detail() })),
    }
    super::hooks::sweep(env, now).await;
}

/// [`lifecycle::NamespaceStore`] over D1 (`resources`) and `TENANT_KV`.
struct Namespaces<'e> {
    env: &'e Env,
    d1: D1Resources,
}

impl lifecycle::NamespaceStore for Namespaces<'_> {
    async fn unfinished(&self, limit: usize) -> lifecycle::StoreResult<Vec<String>> {
        self.d1.unfinished(KIND_KV, limit).await.map_err(store_err)
    }

    async fn remove_keys(&self, id: &str, max: u32) -> lifecycle::StoreResult<(u32, bool)> {
        let ns = TenantNamespace::new(id)
            .ok_or_else(|| lifecycle::StoreError(format!("stored namespace id `{id}` is malformed")))?;
        remove_keys(self.env, &ns, max).await.map_err(store_err)
    }

    async fn mark_purged(&self, id: &str, now: i64) -> lifecycle::StoreResult<()> {
        self.d1.mark_purged(id, now).await.map_err(store_err)
    }
}

/// [`lifecycle::NamespaceStore`] over D1 (`resources`, kind bucket) and `BLOBS`.
struct Buckets<'e> {
    env: &'e Env,
    d1: D1Resources,
}

impl lifecycle::NamespaceStore for Buckets<'_> {
    async fn unfinished(&self, limit: usize) -> lifecycle::StoreResult<Vec<String>> {
        self.d1.unfinished(KIND_BUCKET, limit).await.map_err(store_err)
    }

    async fn remove_keys(&self, id: &str, max: u32) -> lifecycle::StoreResult<(u32, bool)> {
        let bucket = TenantBucket::new(id)
            .ok_or_else(|| lifecycle::StoreError(format!("stored bucket id `{id}` is malformed")))?;
        remove_objects(self.env, &bucket, max).await.map_err(store_err)
    }

    async fn mark_purged(&self, id: &str, now: i64) -> lifecycle::StoreResult<()> {
        self.d1.mark_purged(id, now).await.map_err(store_err)
    }
}

/// [`lifecycle::NamespaceStore`] over D1 (`resources`) and `TENANT_SQL`: a database's data goes
/// in one step (its object's `deleteAll`), so "keys" are that one step.
struct SqlDatabases<'e> {
    env: &'e Env,
    d1: D1Resources,
}

impl lifecycle::NamespaceStore for SqlDatabases<'_> {
    async fn unfinished(&self, limit: usize) -> lifecycle::StoreResult<Vec<String>> {
        self.d1.unfinished(KIND_SQL, limit).await.map_err(store_err)
    }

    async fn remove_keys(&self, id: &str, _max: u32) -> lifecycle::StoreResult<(u32, bool)> {
        crate::platform::store::tenant_sql::destroy(self.env, id).await.map_err(store_err)?;
        Ok((1, false))
    }

    async fn mark_purged(&self, id: &str, now: i64) -> lifecycle::StoreResult<()> {
        self.d1.mark_purged(id, now).await.map_err(store_err)
    }
}

fn store_err(e: ApiError) -> lifecycle::StoreError {
    lifecycle::StoreError(e.log_detail())
}

/// Deletes up to [`lifecycle::ABANDONED_CHUNK`] provisional projects no deploy can complete on
/// any more ([`lifecycle::provisional_abandoned`]), oldest first.
async fn abandon_provisional(env: &Env, now: i64) -> ApiResult<usize> {
    #[derive(serde::Deserialize)]
    struct Row {
        id: String,
        created_at: i64,
        last_session_at: Option<i64>,
        deployments: i64,
    }
    let span = crate::auth::session_span_ms(crate::platform::bindings::token_ttl_secs(env));
    let cutoff = lifecycle::provisional_cutoff(now, span);
    // The whole condition in SQL too, so the batch is never filled with projects still waiting.
    let rows: Vec<Row> = all_rows(database(env)?.prepare(
            "SELECT p.id, p.created_at, \
             (SELECT MAX(s.created_at) FROM upload_sessions s WHERE s.project_id = p.id) AS last_session_at, \
             (SELECT COUNT(*) FROM deployments d WHERE d.project_id = p.id) AS deployments \
             FROM projects p WHERE p.provisional = 1 AND p.deleted_at IS NULL AND p.created_at < ?1 \
             AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.project_id = p.id) \
             AND NOT EXISTS (SELECT 1 FROM upload_sessions s WHERE s.project_id = p.id AND s.created_at >= ?1) \
             ORDER BY p.created_at LIMIT ?2",
        )
        .bind(&[num(cutoff), num(lifecycle::ABANDONED_CHUNK as i64)]))
    .await?;
    let (store, routes) = (D1Lifecycle::new(env)?, LiveRoutes::new(env)?);
    let mut deleted = 0;
    for r in rows {
        let p = lifecycle::Provisional {
            created_at: r.created_at,
            last_session_at: r.last_session_at,
            deployments: r.deployments.max(0) as u64,
        };
        if !lifecycle::provisional_abandoned(&p, now, span) {
            continue;
        }
        // The same swap as `DELETE /__api/projects/:id` (a racing activation loses; the routing
        // record becomes a tombstone until the purge).
        match lifecycle::delete_project(&store, &routes, &r.id, now).await {
            Ok(_) => {
                deleted += 1;
                // Its purge, queued as the API's delete queues it (the swap stamped its heartbeat,
                // so a failed enqueue is retried by `schedule_jobs` once the stall window passed).
                if let Err(e) = enqueue(env, &Job::Purge(PurgeJob { project_id: r.id.clone() })).await {
                    log(
                        "warn",
                        &r.id,
                        json!({ "msg": "purge not queued; the cron retries it", "error": e.log_detail() }),
                    );
                }
            }
            Err(e) => log(
                "warn",
                &r.id,
                json!({ "msg": "abandoned provisional project not deleted", "error": ApiError::from(e).log_detail() }),
            ),
        }
    }
    Ok(deleted)
}

async fn schedule_jobs(env: &Env, now: i64) -> ApiResult<()> {
    let db = database(env)?;
    let ids = |sql: &'static str, at: i64| {
        let db = &db;
        async move { all_rows::<Id>(db.prepare(sql).bind(&[num(at)])).await }
    };
    // Purges whose enqueue failed or whose chain stopped: every chunk stamps
    // `purge_requested_at` (its heartbeat), so a chain still running is never queued twice.
    for p in ids(
        "SELECT id FROM projects WHERE deleted_at IS NOT NULL AND purged_at IS NULL \
         AND COALESCE(purge_requested_at, 0) < ?1 LIMIT 20",
        lifecycle::purge_stall_cutoff(now),
    )
    .await?
    {
        enqueue(env, &Job::Purge(PurgeJob { project_id: p.id.clone() })).await?;
        stamp(&db, "purge_requested_at", &p.id, now).await?;
    }
    // GC: the projects that waited longest, at most once an hour each.
    for p in ids(
        "SELECT id FROM projects WHERE deleted_at IS NULL AND COALESCE(gc_at, 0) < ?1 - 3600000 \
         ORDER BY COALESCE(gc_at, 0) LIMIT 10",
        now,
    )
    .await?
    {
        enqueue(env, &Job::Gc(GcJob { project_id: p.id.clone(), after: None })).await?;
        stamp(&db, "gc_at", &p.id, now).await?;
    }
    Ok(())
}

/// Ticks every live rollout (`lifecycle::rollout::tick`); one project's failure does not stop
/// the others. Returns (live rollouts, how many changed).
async fn rollouts(env: &Env, now: i64) -> ApiResult<(usize, usize)> {
    let store = D1Lifecycle::new(env)?;
    let routes = LiveRoutes::new(env)?;
    let ids = store.live_rollouts(100).await.map_err(|e| ApiError::internal(e.0))?;
    let mut changed = 0;
    for id in &ids {
        match lifecycle::rollout::tick(&store, &routes, &store, id, now).await {
            Ok(lifecycle::rollout::Tick::Unchanged) => {}
            Ok(t) => {
                changed += 1;
                log("info", "cron", json!({ "msg": "rollout", "projectId": id, "tick": format!("{t:?}") }));
            }
            Err(e) => log(
                "error",
                "cron",
                json!({ "msg": "rollout tick failed", "projectId": id, "error": ApiError::from(e).log_detail() }),
            ),
        }
    }
    Ok((ids.len(), changed))
}
