//! Management API (`/__api`): authenticate, match the route (pure), run the handler. One file
//! per resource; handlers return `ApiResult<Response>` and errors are rendered once, upstream.

mod buckets;
mod cf;
mod cf_assets;
mod cf_d1;
mod cf_kv;
mod cf_r2;
mod cf_tail;
mod deployments;
mod domains;
mod envs;
pub mod health;
mod hooks;
mod kv;
mod lifecycle;
mod logs;
pub mod mcp;
mod previews;
mod projects;
mod resources;
mod rollouts;
mod sql;
mod tail;
mod tokens;
mod uploads;

pub use cf::handle as cf_handle;

use std::cell::RefCell;

use serde_json::{json, Value};
use worker::{Env, Request, Response};

use crate::access::quota::{Quotas, Rate};
use crate::access::{policy, Need, Principal};
use crate::domain::UrlBase;
use crate::error::{ApiError, ApiResult};
use crate::observe::hooks::HookKind;
use crate::platform::bindings::now_ms;
use crate::platform::http::{self, RequestMeta};
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_access::{AuditEntry, D1Access};
use crate::routing::{match_api, ApiRoute};

/// Largest JSON body the management endpoints read (uploads have their own limit).
pub const MAX_JSON_BODY: usize = 1024 * 1024;

pub struct Ctx<'a> {
    pub env: &'a Env,
    pub meta: &'a RequestMeta,
    pub urls: UrlBase,
    /// Who is calling; `Anonymous` until `handle` has authenticated the request.
    pub principal: Principal,
    /// What the audit row of this call records besides the route (set by handlers).
    pub note: RefCell<Note>,
}

#[derive(Default)]
pub struct Note {
    pub project_id: Option<String>,
    pub detail: Option<Value>,
    /// The principal when the call was authorised by something else than an API token (the
    /// upload JWT carries the principal that opened the session).
    pub principal: Option<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(env: &'a Env, meta: &'a RequestMeta, urls: UrlBase) -> Ctx<'a> {
        Ctx { env, meta, urls, principal: Principal::Anonymous, note: RefCell::default() }
    }

    /// Records the project and what changed for this call's audit row. Never put secrets here.
    pub fn note(&self, project_id: &str, detail: Value) {
        let mut n = self.note.borrow_mut();
        n.project_id = Some(project_id.to_string());
        n.detail = Some(detail);
    }

    pub fn quotas(&self) -> Quotas {
        crate::platform::bindings::quotas(self.env)
    }

    /// Takes `amount` of `rate` from the project and, for a token, from the token; refuses with
    /// 429 naming the limit when either is spent (and gives back what it already took).
    pub async fn consume(&self, rate: &Rate, project_id: &str, amount: u64) -> ApiResult<()> {
        let access = D1Access::new(self.env)?;
        let now = now_ms();
        let project = format!("project:{project_id}");
        if !access.consume(&project, rate, amount, now).await? {
            return Err(rate.exceeded("this project", now));
        }
        if let Principal::Token(g) = &self.principal {
            if !access.consume(&format!("token:{}", g.token_id), rate, amount, now).await? {
                access.refund(&project, rate, amount, now).await?;
                return Err(rate.exceeded("this token", now));
            }
        }
        Ok(())
    }
}

pub use crate::platform::http::internal;

/// Reads a request body, refusing more than `limit` bytes with a 413 naming the limit.
pub async fn read_body(req: &mut Request, limit: usize) -> ApiResult<Vec<u8>> {
    let too_large = || ApiError::PayloadTooLarge { what: "Request body".into(), limit: limit as u64 };
    if let Ok(Some(len)) = req.headers().get("content-length") {
        if len.trim().parse::<u64>().map(|n| n > limit as u64).unwrap_or(false) {
            return Err(too_large());
        }
    }
    let body = req.bytes().await.map_err(internal)?;
    if body.len() > limit {
        return Err(too_large());
    }
    Ok(body)
}

pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.url()
        .map(|u| u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

/// Authenticates, checks the route's scope and project, runs the handler, and writes one audit
/// row for every call that changes something.
pub async fn handle(mut req: Request, outer: &Ctx<'_>, path: &str) -> ApiResult<Response> {
    let route = match_api(req.method().as_ref(), path);
    let (need, action) = policy(&route);
    let env = outer.env;
    let principal = match need {
        // Bucket uploads carry the session's upload JWT instead of an API token.
        Need::UploadJwt => Principal::Anonymous,
        _ => {
            let auth = req.headers().get("authorization").ok().flatten();
            D1Access::new(env)?.authenticate(env, auth.as_deref(), now_ms() as i64).await?
        }
    };
    let ctx = Ctx::new(env, outer.meta, outer.urls.clone());
    let ctx = Ctx { principal, ..ctx };
    let result = match authorize(&ctx, &need, action.is_some()).await {
        Ok(()) => dispatch(&mut req, &ctx, route).await,
        Err(e) => Err(e),
    };
    if let Some(action) = action {
        audit(&ctx, action, &result).await;
    }
    result
}

/// The route's requirement against the principal. Project-bound calls resolve the project (so
/// a token for A naming B by slug is refused, and the audit row knows the project id); root
/// reads skip that lookup, their handlers load the project anyway.
pub(super) async fn authorize(ctx: &Ctx<'_>, need: &Need, audited: bool) -> ApiResult<()> {
    let p = &ctx.principal;
    if *p == Principal::Root && !audited {
        return Ok(());
    }
    match need {
        Need::Nothing | Need::UploadJwt | Need::TailTicket => Ok(()),
        Need::Any(scope) => p.require_scope(*scope),
        Need::AllProjects(scope) => {
            p.require_scope(*scope)?;
            p.require_all_projects()
        }
        Need::Project(key, scope) | Need::Worker(key, scope) => {
            p.require_scope(*scope)?;
            let mut project = D1Projects::new(ctx.env)?.get(key).await?;
            if matches!(need, Need::Worker(..)) {
                project = crate::compat::worker_project(project, key);
            }
            match project {
                Some(row) => {
                    p.require_project(&row.id, key)?;
                    ctx.note.borrow_mut().project_id = Some(row.id);
                    Ok(())
                }
                // No such project: the handler answers (its 404, or the first `wrangler deploy`
                // creating it, which needs manage on every project) for root and for a token
                // that sees every project; such a token learns nothing it could not list.
                // Any other token gets the same 404 and learns nothing either.
                None if *p == Principal::Root || p.require_all_projects().is_ok() => Ok(()),
                None => Err(ApiError::not_found("Project")),
            }
        }
        Need::Deployment(id, scope) => {
            p.require_scope(*scope)?;
            match D1Access::new(ctx.env)?.deployment_project(id).await? {
                Some(project_id) => {
                    p.require_project(&project_id, &project_id)?;
                    ctx.note.borrow_mut().project_id = Some(project_id);
                    Ok(())
                }
                None if *p == Principal::Root => Ok(()),
                None => Err(ApiError::not_found("Deployment")),
            }
        }
    }
}

/// One audit row: who, what, which project, the request id and the outcome. A failure to write
/// it is logged; the call itself already happened and its answer stands.
pub(super) async fn audit(ctx: &Ctx<'_>, action: &str, result: &ApiResult<Response>) {
    let note = std::mem::take(&mut *ctx.note.borrow_mut());
    let actor = note.principal.as_deref().unwrap_or(ctx.principal.id());
    if actor == "anonymous" {
        return; // refused before anyone was identified: nothing changed
    }
    let (status, outcome) = match result {
        Ok(r) => (r.status_code(), "ok"),
        Err(e) => (e.status(), e.code()),
    };
    let entry = AuditEntry {
        at: now_ms() as i64,
        request_id: &ctx.meta.request_id,
        actor,
        action,
        project_id: note.project_id.as_deref(),
        detail: note.detail.as_ref(),
        status,
        outcome,
    };
    let written = match D1Access::new(ctx.env) {
        Ok(a) => a.audit(&entry).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        let fields = json!({ "msg": "audit row not written", "action": action, "error": e.log_detail() });
        http::log("error", &ctx.meta.request_id, fields);
    }
}

async fn dispatch(req: &mut Request, ctx: &Ctx<'_>, route: ApiRoute) -> ApiResult<Response> {
    match route {
        ApiRoute::ListProjects => projects::list(req, ctx).await,
        ApiRoute::CreateProject => projects::create(req, ctx).await,
        ApiRoute::GetProject(id) => projects::get(&id, ctx).await,
        ApiRoute::UpdateProject(id) => projects::update(req, &id, ctx).await,
        ApiRoute::DeleteProject(id) => projects::delete(&id, ctx).await,
        ApiRoute::CreateUploadSession(id) => uploads::create_session(req, &id, ctx).await,
        ApiRoute::UploadAssets(id) => uploads::upload(req, &id, ctx).await,
        ApiRoute::UploadRaw(id, hash) => uploads::upload_raw(req, &id, &hash, ctx).await,
        ApiRoute::Deploy(id) => deployments::deploy(req, &id, ctx).await,
        ApiRoute::ListDeployments(id) => deployments::list(req, &id, ctx).await,
        ApiRoute::GetDeployment(id) => deployments::get(&id, ctx).await,
        ApiRoute::DeploymentLogs(id) => lifecycle::logs(req, &id, ctx).await,
        ApiRoute::ProjectLogs(id) => logs::list(req, &id, ctx).await,
        ApiRoute::ProjectTail(id) => tail::open(req, &id, ctx).await,
        ApiRoute::Promote(id) => lifecycle::promote(&id, ctx).await,
        ApiRoute::Rollback(id) => lifecycle::rollback(req, &id, ctx).await,
        ApiRoute::GetRollout(id) => rollouts::get(&id, ctx).await,
        ApiRoute::StartRollout(id) => rollouts::start(req, &id, ctx).await,
        ApiRoute::ControlRollout(id, action) => rollouts::control(&id, &action, ctx).await,
        ApiRoute::ListAliases(id) => lifecycle::list_aliases(&id, ctx).await,
        ApiRoute::GetAlias(id, name) => lifecycle::get_alias(&id, &name, ctx).await,
        ApiRoute::PutAlias(id, name) => lifecycle::put_alias(req, &id, &name, ctx).await,
        ApiRoute::DeleteAlias(id, name) => lifecycle::delete_alias(&id, &name, ctx).await,
        ApiRoute::RunGc(id) => lifecycle::run_gc(req, &id, ctx).await,
        ApiRoute::ListEnv(id) => envs::list(&id, ctx).await,
        ApiRoute::PutEnv(id, scope, name) => envs::put(req, &id, &scope, &name, ctx).await,
        ApiRoute::DeleteEnv(id, scope, name) => envs::delete(&id, &scope, &name, ctx).await,
        ApiRoute::CreateBypassToken(id) => envs::create_bypass(&id, ctx).await,
        ApiRoute::DeleteBypassToken(id) => envs::delete_bypass(&id, ctx).await,
        ApiRoute::CreateToken => tokens::create(req, ctx).await,
        ApiRoute::ListTokens => tokens::list(ctx).await,
        ApiRoute::RevokeToken(id) => tokens::revoke(&id, ctx).await,
        ApiRoute::ListAudit => tokens::audit(req, ctx).await,
        ApiRoute::ListDomains(id) => domains::list(&id, ctx).await,
        ApiRoute::AddDomain(id) => domains::add(req, &id, ctx).await,
        ApiRoute::GetDomain(id, host) => domains::get(&id, &host, ctx).await,
        ApiRoute::VerifyDomain(id, host) => domains::verify(&id, &host, ctx).await,
        ApiRoute::DeleteDomain(id, host) => domains::delete(&id, &host, ctx).await,
        ApiRoute::ListWebhooks(id) => hooks::list(&id, HookKind::Webhook, ctx).await,
        ApiRoute::CreateWebhook(id) => hooks::create(req, &id, HookKind::Webhook, ctx).await,
        ApiRoute::DeleteWebhook(id, hid) => hooks::delete(&id, &hid, HookKind::Webhook, ctx).await,
        ApiRoute::PingWebhook(id, hid) => hooks::ping(&id, &hid, ctx).await,
        ApiRoute::ListDeliveries(id, hid) => hooks::deliveries(&id, &hid, ctx).await,
        ApiRoute::Redeliver(id, hid, did) => hooks::redeliver(&id, &hid, &did, ctx).await,
        ApiRoute::ListDrains(id) => hooks::list(&id, HookKind::Drain, ctx).await,
        ApiRoute::CreateDrain(id) => hooks::create(req, &id, HookKind::Drain, ctx).await,
        ApiRoute::DeleteDrain(id, did) => hooks::delete(&id, &did, HookKind::Drain, ctx).await,
        ApiRoute::PreviewLink(id) => previews::create_link(req, &id, ctx).await,
        ApiRoute::ListKvNamespaces => kv::list(req, ctx).await,
        ApiRoute::CreateKvNamespace => kv::create(req, ctx).await,
        ApiRoute::GetKvNamespace(id) => kv::get(&id, ctx).await,
        ApiRoute::DeleteKvNamespace(id) => kv::delete(&id, ctx).await,
        ApiRoute::ListBuckets => buckets::list(req, ctx).await,
        ApiRoute::CreateBucket => buckets::create(req, ctx).await,
        ApiRoute::GetBucket(id) => buckets::get(&id, ctx).await,
        ApiRoute::DeleteBucket(id) => buckets::delete(&id, ctx).await,
        ApiRoute::ListSqlDatabases => sql::list(req, ctx).await,
        ApiRoute::CreateSqlDatabase => sql::create(req, ctx).await,
        ApiRoute::GetSqlDatabase(id) => sql::get(&id, ctx).await,
        ApiRoute::DeleteSqlDatabase(id) => sql::delete(&id, ctx).await,
        ApiRoute::MethodNotAllowed(allowed) => Err(ApiError::MethodNotAllowed { allowed }),
        ApiRoute::NotFound => Err(ApiError::not_found("API route")),
    }
}
