//! Custom domains (`/__api/projects/:id/domains`): attach (pending, with a TXT challenge),
//! list, get, verify over DNS-over-HTTPS, delete. D1 (`domains`) is the truth; a verified
//! domain also gets a ROUTES_KV `host:<name>` record, written after D1 on verify and removed
//! before the row on delete. Optional Cloudflare for SaaS registration (platform::outbound).

use serde_json::json;
use worker::{Request, Response};

use super::projects::load;
use super::{internal, read_body, Ctx, MAX_JSON_BODY};
use crate::domain::{
    challenge_name, challenge_value, decide_verification, normalize_hostname, DomainRow, Hostname,
    HostnameRules, JsonObject, ProjectRow, SaasAnswer, Verification, STATUS_PENDING,
};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::{self, now_ms, random_bytes, var_or};
use crate::platform::http;
use crate::platform::outbound::{lookup_txt, Saas};
use crate::platform::serve::cache;
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_domains::{Attached, D1Domains};
use crate::platform::store::kv::KvRoutes;
use crate::routing::HostRecord;

fn respond(status: u16, body: serde_json::Value) -> ApiResult<Response> {
    http::ok(status, body).map_err(internal)
}

fn rules(ctx: &Ctx<'_>) -> HostnameRules {
    HostnameRules {
        platform_domain: var_or(ctx.env, bindings::PLATFORM_DOMAIN, "localhost"),
        allow_wildcards: var_or(ctx.env, bindings::ALLOW_WILDCARD_DOMAINS, "false") == "true",
    }
}

fn warn(ctx: &Ctx<'_>, msg: &str, e: &ApiError) {
    http::log("warn", &ctx.meta.request_id, json!({ "msg": msg, "error": e.log_detail() }));
}

/// The hostname as written in a URL path (`*` may arrive as `%2A`).
fn path_hostname(raw: &str) -> String {
    normalize_hostname(&raw.replace("%2A", "*").replace("%2a", "*"))
}

/// The project and one of its domains, or 404 (another project's domain is not found here).
async fn load_domain(
    key: &str,
    raw_host: &str,
    ctx: &Ctx<'_>,
) -> ApiResult<(ProjectRow, D1Domains, DomainRow)> {
    let project = load(&D1Projects::new(ctx.env)?, key).await?;
    let domains = D1Domains::new(ctx.env)?;
    let row = domains
        .get(&path_hostname(raw_host))
        .await?
        .filter(|d| d.project_id == project.id)
        .ok_or_else(|| ApiError::not_found("Domain"))?;
    Ok((project, domains, row))
}

/// What the central audit row of this call records (api::handle writes it).
fn audit(ctx: &Ctx<'_>, project_id: &str, hostname: &str) {
    ctx.note(project_id, json!({ "hostname": hostname }));
}

/// Refreshes the SSL status from Cloudflare for SaaS (best effort: reads never fail on it).
async fn refresh_ssl(ctx: &Ctx<'_>, domains: &D1Domains, row: &mut DomainRow) {
    let (Some(saas), Some(id)) = (Saas::from_env(ctx.env), row.saas_id.clone()) else { return };
    match saas.get(&id).await {
        Ok(SaasAnswer::Ok(h)) if row.ssl_status.as_deref() != Some(h.ssl_status.as_str()) => {
            let now = now_ms() as i64;
            match domains.set_ssl(&row.hostname, &h.id, &h.ssl_status, now).await {
                Ok(()) => {
                    row.ssl_status = Some(h.ssl_status);
                    row.updated_at = now;
                }
                Err(e) => warn(ctx, "ssl status not stored", &e),
            }
        }
        Ok(SaasAnswer::Ok(_)) => {}
        Ok(SaasAnswer::Refused(why)) => warn(
            ctx,
            "ssl status refresh refused",
            &ApiError::Upstream { service: "the Cloudflare API", detail: why },
        ),
        Err(e) => warn(ctx, "ssl status refresh failed", &e),
    }
}

/// Registers a proven domain's hostname with Cloudflare for SaaS (when configured and not
/// registered yet) and stores its id. If the id cannot be stored the registration is undone,
/// so no hostname is left at Cloudflare that no row names.
async fn register_saas(ctx: &Ctx<'_>, domains: &D1Domains, row: &DomainRow, now: i64) -> ApiResult<()> {
    let Some(saas) = Saas::from_env(ctx.env) else { return Ok(()) };
    if row.saas_id.is_some() {
        return Ok(());
    }
    let hostname = &row.hostname;
    match saas.create(hostname).await? {
        SaasAnswer::Ok(h) => match domains.set_ssl(hostname, &h.id, &h.ssl_status, now).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Err(e2) = saas.delete(&h.id).await {
                    warn(ctx, "custom hostname left in Cloudflare", &e2);
                }
                Err(e)
            }
        },
        SaasAnswer::Refused(why) => Err(ApiError::State {
            code: "saas_rejected",
            reason: format!("Cloudflare for SaaS refused `{hostname}`: {why}"),
        }),
    }
}

/// `POST /__api/projects/:id/domains {hostname}` -> 201 `{domain}` (pending).
pub async fn add(req: &mut Request, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let body = read_body(req, MAX_JSON_BODY).await?;
    let o = JsonObject::parse(&body, false)?;
    o.only(&["hostname"])?;
    let raw = o.opt_str("hostname")?.ok_or_else(|| ApiError::bad("hostname", "is required"))?;
    let hostname = Hostname::parse(raw, &rules(ctx)).map_err(|e| ApiError::bad("hostname", e.0))?;
    let projects = D1Projects::new(ctx.env)?;
    let project = load(&projects, key).await?;
    let domains = D1Domains::new(ctx.env)?;
    let taken = |reason: String| ApiError::Conflict { reason };
    if let Some(existing) = domains.get(hostname.as_str()).await? {
        return Err(taken(if existing.project_id == project.id {
            format!("`{hostname}` is already attached to this project")
        } else if projects.get(&existing.project_id).await?.is_some() {
            format!("`{hostname}` is already attached to another project")
        } else {
            format!("`{hostname}` is being removed with a deleted project; try again in a minute")
        }));
    }
    let now = now_ms() as i64;
    let row = DomainRow {
        hostname: hostname.to_string(),
        project_id: project.id.clone(),
        status: STATUS_PENDING.into(),
        verification: challenge_value(random_bytes::<16>()),
        created_at: now,
        updated_at: now,
        verified_at: None,
        checked_at: None,
        last_error: None,
        saas_id: None,
        ssl_status: None,
    };
    // A token is held to its caps (the root operator is not, as with projects): the counts
    // decide which limit to name, and the insert checks them again in one statement.
    let quotas = ctx.quotas();
    let caps = match ctx.principal {
        crate::access::Principal::Token(_) => {
            let (total, pending) = domains.count_by_creator(ctx.principal.id()).await?;
            quotas.check_domain_caps(total, pending)?;
            Some((quotas.domains_per_account, quotas.pending_domains_per_account))
        }
        _ => None,
    };
    // No Cloudflare for SaaS registration here: an attach proves nothing yet, so it costs
    // nothing at Cloudflare; verify registers the hostname once the TXT proof is found.
    match domains.insert(&row, ctx.principal.id(), caps).await? {
        Attached::Ok => {}
        Attached::Taken => return Err(taken(format!("`{hostname}` is already attached to a project"))),
        Attached::OverCap => {
            let (total, pending) = domains.count_by_creator(ctx.principal.id()).await?;
            quotas.check_domain_caps(total, pending)?;
            return Err(ApiError::TooManyRequests {
                retry_after_secs: 60,
                reason: "Quota exceeded: another attach by this token took its last free place under MAX_DOMAINS_PER_ACCOUNT / MAX_PENDING_DOMAINS_PER_ACCOUNT; try again"
                    .into(),
            });
        }
    }
    audit(ctx, &project.id, hostname.as_str());
    respond(201, json!({ "domain": row.to_json() }))
}

/// `GET /__api/projects/:id/domains`
pub async fn list(key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = load(&D1Projects::new(ctx.env)?, key).await?;
    let rows = D1Domains::new(ctx.env)?.list(&project.id).await?;
    let list: Vec<_> = rows.iter().map(DomainRow::to_json).collect();
    respond(200, json!({ "domains": list, "count": list.len() }))
}

/// `GET /__api/projects/:id/domains/:hostname`
pub async fn get(key: &str, host: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (_, domains, mut row) = load_domain(key, host, ctx).await?;
    refresh_ssl(ctx, &domains, &mut row).await;
    respond(200, json!({ "domain": row.to_json() }))
}

/// `POST /__api/projects/:id/domains/:hostname/verify`: looks up the TXT challenge; when one
/// value matches, the domain turns `active` and starts routing.
pub async fn verify(key: &str, host: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (project, domains, mut row) = load_domain(key, host, ctx).await?;
    refresh_ssl(ctx, &domains, &mut row).await;
    if row.is_active() {
        return respond(200, json!({ "domain": row.to_json(), "verified": true }));
    }
    let name = challenge_name(&row.hostname);
    let now = now_ms() as i64;
    let found = match lookup_txt(ctx.env, &name).await {
        Ok(f) => f,
        Err(e) => {
            let note = "The DNS resolver could not be reached or gave no usable answer";
            if let Err(e2) = domains.record_check(&row.hostname, Some(note), now).await {
                warn(ctx, "verify attempt not recorded", &e2);
            }
            return Err(e);
        }
    };
    match decide_verification(&name, &row.verification, &found) {
        Verification::Unproven(why) => {
            domains.record_check(&row.hostname, Some(&why), now).await?;
            let data = json!({ "projectId": project.id, "hostname": row.hostname, "reason": why });
            crate::platform::jobs::hooks::emit(ctx.env, &project.id, "domain.failed", data).await;
            Err(ApiError::State { code: "domain_unverified", reason: why })
        }
        Verification::Verified => {
            // Ownership is proven: only now is the hostname registered with Cloudflare for
            // SaaS. If that fails the domain stays pending with the reason, nothing routes.
            if let Err(e) = register_saas(ctx, &domains, &row, now).await {
                let note = format!("Cloudflare for SaaS registration failed: {}", e.message());
                if let Err(e2) = domains.record_check(&row.hostname, Some(&note), now).await {
                    warn(ctx, "verify attempt not recorded", &e2);
                }
                return Err(e);
            }
            domains.record_check(&row.hostname, None, now).await?;
            // D1 first: the KV record is a cache of it (a failed write is repaired on the
            // first visit, which finds the active row).
            let rec = HostRecord { project_id: project.id.clone() };
            let published = KvRoutes::new(ctx.env)?.put_host(&row.hostname, &rec).await;
            cache::forget_hosts();
            if let Err(e) = published {
                warn(ctx, "host record lags D1; the first visit repairs it", &e);
            }
            audit(ctx, &project.id, &row.hostname);
            let data = json!({ "projectId": project.id, "hostname": row.hostname });
            crate::platform::jobs::hooks::emit(ctx.env, &project.id, "domain.verified", data).await;
            let row = domains.get(&row.hostname).await?.unwrap_or(row);
            respond(200, json!({ "domain": row.to_json(), "verified": true }))
        }
    }
}

/// `DELETE /__api/projects/:id/domains/:hostname`: stops routing at once.
pub async fn delete(key: &str, host: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (project, domains, row) = load_domain(key, host, ctx).await?;
    // Cloudflare first: if it cannot be reached, nothing changed and the call can be retried.
    if let (Some(saas), Some(id)) = (Saas::from_env(ctx.env), row.saas_id.as_deref()) {
        saas.delete(id).await?;
    }
    // The routing record before the row, and once more after it: a visit in between could
    // re-publish the record from the still-present row.
    let routes = KvRoutes::new(ctx.env)?;
    let first = routes.delete_host(&row.hostname).await;
    cache::forget_hosts();
    first?;
    domains.delete(&row.hostname, &project.id).await?;
    let second = routes.delete_host(&row.hostname).await;
    cache::forget_hosts();
    if let Err(e) = second {
        warn(ctx, "host record delete (second pass) failed", &e);
    }
    audit(ctx, &project.id, &row.hostname);
    respond(200, json!({ "deleted": { "hostname": row.hostname } }))
}
