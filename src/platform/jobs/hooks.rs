//! Webhooks and log drains, the I/O half (issue 29 items 5 and 6): [`emit`] turns a lifecycle
//! event into queued deliveries and drain lines, [`drain_logs`] feeds invocation logs to
//! drains, and the `DEPLOY_QUEUE` consumer sends them ([`handle_delivery`], [`handle_drain`]),
//! signed, with the retry schedule of `crate::observe::hooks`. Nothing is ever sent from the
//! request that caused it. Touches D1 (`DB`), the queue and outbound fetch.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use worker::{Env, Fetch, Headers, MessageExt, Method, RawMessage, Request, RequestInit};

use crate::error::{ApiError, ApiResult};
use crate::observe::hooks::{
    batch_len, delivered, drain_retry_after, event_line, event_payload, log_line, ndjson, record_json,
    retry_after, sampled, signed_headers, subscribed, HookKind, BATCH_LINES,
};
use crate::observe::InvocationRecord;
use crate::platform::bindings::{now_ms, random_bytes};
use crate::platform::http::log;
use crate::platform::secrets::Sealer;
use crate::platform::store::d1_hooks::{Attempt, D1Hooks, DeliveryRow, HookRow};
use crate::platform::store::queue::{enqueue_after, DrainJob, HookJob, Job};

/// A receiver gets this long to answer.
const SEND_TIMEOUT_MS: u32 = 10_000;
/// How long a new drain line waits for others to join its batch.
const FLUSH_DELAY_SECS: u32 = 1;
/// A pending flush whose due time is this far past was lost (its message never came): the next
/// line queues a new one.
const FLUSH_STALE_MS: i64 = 10 * 60 * 1000;

/// Hooks of deleted projects the cron removes per run.
const ORPHANS_PER_RUN: u32 = 20;
/// A pending delivery of a deleted project's hook older than the whole retry schedule (about
/// 17 hours) will not be sent any more.
const ORPHAN_STALL_MS: i64 = 24 * 3600 * 1000;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = AbortSignal, js_name = timeout)]
    fn abort_after(ms: u32) -> worker::web_sys::AbortSignal;
}

/// The name a hook's secret is sealed under (bound to its project by the sealer).
pub fn secret_name(hook_id: &str) -> String {
    format!("hook:{hook_id}")
}

/// Queues one delivery of `event` to a webhook.
pub async fn queue_delivery(
    env: &Env,
    hooks: &D1Hooks,
    hook: &HookRow,
    event: &str,
    payload: &Value,
) -> ApiResult<String> {
    let now = now_ms() as i64;
    let d = DeliveryRow {
        id: format!("msg_{}", crate::platform::bindings::new_uuid().replace('-', "")),
        hook_id: hook.id.clone(),
        project_id: hook.project_id.clone(),
        event: event.to_string(),
        payload: payload.to_string(),
        status: "pending".into(),
        attempts: 0,
        created_at: now,
        updated_at: now,
    };
    hooks.create_delivery(&d).await?;
    enqueue_after(env, &Job::Hook(HookJob { delivery_id: d.id.clone(), retry: 0 }), 0).await?;
    Ok(d.id)
}

/// A lifecycle event of a project: one queued delivery per subscribed webhook, one line per
/// drain taking events. Best effort: a failure is logged, the change that caused it stands.
/// `data` holds ids and statuses only (never tokens, secrets or headers).
pub async fn emit(env: &Env, project_id: &str, event: &str, data: Value) {
    if let Err(e) = try_emit(env, project_id, event, data).await {
        log(
            "warn",
            project_id,
            json!({ "msg": "webhook event not queued", "event": event, "error": e.log_detail() }),
        );
    }
}

async fn try_emit(env: &Env, project_id: &str, event: &str, data: Value) -> ApiResult<()> {
    let hooks = D1Hooks::new(env)?;
    let all = hooks.for_project(project_id).await?;
    if all.is_empty() {
        return Ok(());
    }
    let payload = event_payload(event, now_ms(), data);
    for hook in &all {
        if hook.kind == HookKind::Webhook.as_str() {
            if subscribed(&hook.topics(), event) {
                queue_delivery(env, &hooks, hook, event, &payload).await?;
            }
        } else if hook.topics().iter().any(|t| t == "events") {
            feed(env, &hooks, hook, &[event_line(project_id, &payload)]).await?;
        }
    }
    Ok(())
}

/// Invocation logs of one tail call, to every drain of the project that takes logs (sampled).
pub async fn drain_logs(env: &Env, project_id: &str, deployment_id: &str, records: &[InvocationRecord]) {
    let fed = async {
        let hooks = D1Hooks::new(env)?;
        for hook in log_drains(env, &hooks, project_id).await?.iter() {
            let lines: Vec<String> = records
                .iter()
                .filter(|_| sampled(hook.sampling, draw()))
                .map(|r| log_line(project_id, &record_json(deployment_id, r)))
                .collect();
            if !lines.is_empty() {
                feed(env, &hooks, hook, &lines).await?;
            }
        }
        Ok::<(), ApiError>(())
    };
    if let Err(e) = fed.await {
        log("warn", project_id, json!({ "msg": "drain lines not queued", "error": e.log_detail() }));
    }
}

/// A project's drains that take logs (shared, read-only).
type Drains = Rc<Vec<HookRow>>;

thread_local! {
    /// Per isolate, for `ROUTE_CACHE_TTL_MS`: the drains of a project that take logs. Every
    /// run of server code is a tail call; without this each would cost a D1 read even for the
    /// many projects that have no drain.
    static LOG_DRAINS: RefCell<HashMap<String, (u64, Drains)>> = RefCell::new(HashMap::new());
}
/// Projects whose drains one isolate remembers.
const LOG_DRAINS_CACHED: usize = 1024;

async fn log_drains(env: &Env, hooks: &D1Hooks, project_id: &str) -> ApiResult<Drains> {
    let now = now_ms();
    let hit = LOG_DRAINS
        .with(|c| c.borrow().get(project_id).filter(|(until, _)| *until > now).map(|(_, v)| v.clone()));
    if let Some(v) = hit {
        return Ok(v);
    }
    let drains: Vec<HookRow> = hooks
        .for_project(project_id)
        .await?
        .into_iter()
        .filter(|h| h.kind == HookKind::Drain.as_str() && h.topics().iter().any(|t| t == "logs"))
        .collect();
    let drains = Rc::new(drains);
    let ttl = crate::platform::bindings::settings(env).route_cache_ttl_ms;
    if ttl > 0 {
        LOG_DRAINS.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= LOG_DRAINS_CACHED {
                c.retain(|_, (until, _)| *until > now);
                if c.len() >= LOG_DRAINS_CACHED {
                    c.clear();
                }
            }
            c.insert(project_id.to_string(), (now + ttl, drains.clone()));
        });
    }
    Ok(drains)
}

/// Drops this isolate's copy of a project's drains (after one was added or removed here).
pub fn forget_log_drains(project_id: &str) {
    LOG_DRAINS.with(|c| c.borrow_mut().remove(project_id));
}

/// A uniform draw in [0, 1).
fn draw() -> f64 {
    let b = random_bytes::<4>();
    u32::from_le_bytes(b) as f64 / (u32::MAX as f64 + 1.0)
}

/// Appends lines to a drain's backlog and makes sure one flush is queued.
async fn feed(env: &Env, hooks: &D1Hooks, hook: &HookRow, lines: &[String]) -> ApiResult<()> {
    hooks.append_backlog(&hook.id, lines).await?;
    schedule_flush(env, hooks, &hook.id, FLUSH_DELAY_SECS, 0).await
}

async fn schedule_flush(env: &Env, hooks: &D1Hooks, hook_id: &str, delay: u32, retry: u32) -> ApiResult<()> {
    let now = now_ms() as i64;
    let due = now + i64::from(delay) * 1000;
    if hooks.claim_flush(hook_id, due, now - FLUSH_STALE_MS).await? {
        let job = Job::Drain(DrainJob { drain_id: hook_id.to_string(), retry });
        if let Err(e) = enqueue_after(env, &job, delay).await {
            hooks.release_flush(hook_id).await?;
            return Err(e);
        }
    }
    Ok(())
}

/// One POST to a receiver: its status, or why there was none (the error names no header).
async fn post(
    hook: &HookRow,
    id: &str,
    body: &str,
    content_type: &'static str,
    env: &Env,
) -> Result<u16, String> {
    let secret = match Sealer::new(env).await {
        Ok(s) => s.open(&hook.project_id, &secret_name(&hook.id), &hook.secret).await,
        Err(e) => Err(e),
    }
    .map_err(|e| {
        log("error", &hook.id, json!({ "msg": "hook secret unreadable", "error": e.log_detail() }));
        "the signing secret could not be read".to_string()
    })?;
    let signed = signed_headers(&secret, id, now_ms(), body, content_type)
        .ok_or_else(|| "the signing secret is malformed".to_string())?;
    let headers = Headers::new();
    for (k, v) in signed {
        headers.set(k, &v).map_err(|_| "bad header".to_string())?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(JsValue::from_str(body)));
    let req = Request::new_with_init(&hook.url, &init).map_err(|_| "the URL is not valid".to_string())?;
    let signal = worker::AbortSignal::from(abort_after(SEND_TIMEOUT_MS));
    match Fetch::Request(req).send_with_signal(&signal).await {
        Ok(resp) => Ok(resp.status_code()),
        Err(e) => {
            log("info", &hook.id, json!({ "msg": "hook receiver unreachable", "error": e.to_string() }));
            Err("no answer (connection failed or timed out)".into())
        }
    }
}

/// Sends one webhook delivery; on failure queues the next try after the schedule's delay, or
/// marks it failed when the schedule is spent.
pub async fn handle_delivery(env: &Env, job: &HookJob, dead_letter: bool, msg: &RawMessage) {
    if dead_letter {
        log("error", &job.delivery_id, json!({ "msg": "webhook delivery dead-lettered" }));
        msg.ack();
        return;
    }
    match deliver(env, job).await {
        Ok(()) => msg.ack(),
        Err(e) => {
            log(
                "warn",
                &job.delivery_id,
                json!({ "msg": "webhook delivery failed; the queue retries", "error": e.log_detail() }),
            );
            msg.retry();
        }
    }
}

async fn deliver(env: &Env, job: &HookJob) -> ApiResult<()> {
    let hooks = D1Hooks::new(env)?;
    let Some(d) = hooks.delivery(&job.delivery_id).await? else { return Ok(()) };
    if d.status != "pending" {
        return Ok(()); // a redelivered message of a settled delivery
    }
    let Some(hook) = hooks.get_by_id(&d.hook_id).await? else { return Ok(()) };
    let started = now_ms();
    let sent = post(&hook, &d.id, &d.payload, "application/json", env).await;
    let at = now_ms();
    let (status, error) = match &sent {
        Ok(s) => (Some(*s), None),
        Err(why) => (None, Some(why.as_str())),
    };
    let ok = status.is_some_and(delivered);
    let next = if ok { None } else { retry_after(job.retry) };
    let state = match (ok, next) {
        (true, _) => "succeeded",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    };
    let attempt =
        Attempt { number: d.attempts + 1, at: at as i64, status, error, duration_ms: (at - started) as i64 };
    hooks.record_attempt(&d.id, &attempt, state).await?;
    hooks.set_last_status(&hook.id, status.unwrap_or(0)).await?;
    if let Some(delay) = next {
        let again = Job::Hook(HookJob { delivery_id: d.id.clone(), retry: job.retry + 1 });
        enqueue_after(env, &again, delay).await?;
    }
    Ok(())
}

/// Sends one batch of a drain's backlog; queues the next batch, or the same one again after
/// the schedule's delay when the receiver did not take it.
pub async fn handle_drain(env: &Env, job: &DrainJob, dead_letter: bool, msg: &RawMessage) {
    if dead_letter {
        msg.ack();
        return;
    }
    match flush(env, job).await {
        Ok(()) => msg.ack(),
        Err(e) => {
            log(
                "warn",
                &job.drain_id,
                json!({ "msg": "drain flush failed; the queue retries", "error": e.log_detail() }),
            );
            msg.retry();
        }
    }
}

async fn flush(env: &Env, job: &DrainJob) -> ApiResult<()> {
    let hooks = D1Hooks::new(env)?;
    let Some(hook) = hooks.get_by_id(&job.drain_id).await? else { return Ok(()) };
    let lines = hooks.backlog(&hook.id, BATCH_LINES).await?;
    if !lines.is_empty() {
        let n = batch_len(&lines.iter().map(|l| l.line.len()).collect::<Vec<_>>());
        let batch: Vec<String> = lines[..n].iter().map(|l| l.line.clone()).collect();
        let body = ndjson(&batch);
        let id = format!("batch_{}", crate::platform::bindings::new_uuid().replace('-', ""));
        let sent = post(&hook, &id, &body, "application/x-ndjson", env).await;
        let status = sent.as_ref().copied().unwrap_or(0);
        hooks.set_last_status(&hook.id, status).await?;
        if !delivered(status) {
            // Keep the lines (the backlog stays bounded) and try again later.
            let delay = drain_retry_after(job.retry);
            hooks.release_flush(&hook.id).await?;
            return schedule_flush(env, &hooks, &hook.id, delay, job.retry + 1).await;
        }
        hooks.drop_through(&hook.id, lines[n - 1].id).await?;
    }
    // Release first, then look: a line appended meanwhile either saw the claim released and
    // queued its own flush, or is seen here.
    hooks.release_flush(&hook.id).await?;
    if hooks.backlog_len(&hook.id).await? > 0 {
        schedule_flush(env, &hooks, &hook.id, 0, 0).await?;
    }
    Ok(())
}

/// Cron: webhook deliveries past LOG_RETENTION_DAYS go (bounded), and so do the hooks of
/// deleted projects once their last delivery (`project.deleted`) settled, or stalled for longer
/// than the whole retry schedule.
pub async fn sweep(env: &Env, now: i64) {
    let swept = async {
        let hooks = D1Hooks::new(env)?;
        let days = env.var("LOG_RETENTION_DAYS").ok().map(|v| v.to_string());
        let cutoff = crate::observe::retention_cutoff(now as u64, days.as_deref());
        let expired = hooks.delete_expired_deliveries(cutoff, crate::observe::RETENTION_BATCH).await?;
        let orphans = hooks.orphans(now - ORPHAN_STALL_MS, ORPHANS_PER_RUN).await?;
        for id in &orphans {
            hooks.delete(id).await?;
        }
        Ok::<_, ApiError>((expired, orphans.len()))
    };
    match swept.await {
        Ok((0, 0)) => {}
        Ok((expired, orphans)) => log(
            "info",
            "cron",
            json!({ "msg": "webhook data deleted", "expiredDeliveries": expired, "hooksOfDeletedProjects": orphans }),
        ),
        Err(e) => log("error", "cron", json!({ "msg": "webhook sweep failed", "error": e.log_detail() })),
    }
}
