//! Scoped API tokens (`/__api/tokens`) and the audit trail (`/__api/audit`). The secret is
//! generated here, answered once, and only its SHA-256 is stored. Touches D1.

use serde_json::json;
use worker::{Request, Response};

use super::{internal, query_pairs, read_body, Ctx, MAX_JSON_BODY};
use crate::access::{check_mint, format_secret, hash_secret, hint, parse_create_token, Principal, Projects};
use crate::access::{RequestedProjects, TokenRow};
use crate::domain::hex_lower;
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::{now_ms, random_bytes};
use crate::platform::http;
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_access::D1Access;

const AUDIT_LIMIT_DEFAULT: u32 = 50;
const AUDIT_LIMIT_MAX: u32 = 200;
/// Revoked ids named in one `token.revoke` audit row (the count is always exact).
const AUDIT_IDS_MAX: usize = 100;

fn respond(status: u16, body: serde_json::Value) -> ApiResult<Response> {
    http::ok(status, body).map_err(internal)
}

pub async fn create(req: &mut Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let now = now_ms() as i64;
    let input = parse_create_token(&read_body(req, MAX_JSON_BODY).await?, now)?;
    let projects = match &input.projects {
        RequestedProjects::All => Projects::All,
        RequestedProjects::Keys(keys) => {
            let store = D1Projects::new(ctx.env)?;
            let mut ids = Vec::new();
            for key in keys {
                let row = store.get(key).await?.filter(|r| ctx.principal.reaches(&r.id));
                let row = row.ok_or_else(|| ApiError::bad("projects", format!("no project `{key}`")))?;
                ids.push(row.id);
            }
            ids.sort();
            ids.dedup();
            Projects::Only(ids)
        }
    };
    check_mint(&ctx.principal, &projects, &input.scopes, input.expires_at)?;
    let secret = format_secret(random_bytes::<24>());
    let row = TokenRow {
        id: format!("tok_{}", hex_lower(&random_bytes::<8>())),
        name: input.name.clone(),
        hint: hint(&secret),
        projects: projects.to_json().to_string(),
        scopes: json!(input.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>()).to_string(),
        created_by: ctx.principal.id().to_string(),
        parent_id: match &ctx.principal {
            Principal::Token(g) => Some(g.token_id.clone()),
            _ => None,
        },
        created_at: now,
        expires_at: input.expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    D1Access::new(ctx.env)?.insert_token(&row, &hash_secret(&secret)).await?;
    let mut note = ctx.note.borrow_mut();
    note.detail = Some(json!({ "tokenId": row.id, "name": row.name, "projects": projects.to_json(),
                               "scopes": row.scopes().iter().map(|s| s.as_str()).collect::<Vec<_>>() }));
    respond(
        201,
        json!({
            "token": row.to_json(now),
            "secret": secret,
            "note": "Store the secret now: it is shown only once and cannot be recovered.",
        }),
    )
}

/// Root sees every token; a token sees itself and the tokens it minted.
fn minted_by(p: &Principal) -> Option<&str> {
    match p {
        Principal::Root => None,
        other => Some(other.id()),
    }
}

pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let now = now_ms() as i64;
    let rows = D1Access::new(ctx.env)?.list_tokens(minted_by(&ctx.principal)).await?;
    let tokens: Vec<_> = rows.iter().map(|r| r.to_json(now)).collect();
    respond(200, json!({ "count": tokens.len(), "tokens": tokens }))
}

/// Revokes the token and every token below it (children, grandchildren, ...) in one statement;
/// `revoked` counts those this call revoked (already revoked ones are not counted again).
pub async fn revoke(id: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let access = D1Access::new(ctx.env)?;
    let row = access.token(id).await?.filter(|r| match minted_by(&ctx.principal) {
        None => true,
        Some(p) => r.created_by == p || r.id == p,
    });
    let row = row.ok_or_else(|| ApiError::not_found("Token"))?;
    let now = now_ms() as i64;
    let revoked = access.revoke_tree(&row.id, now).await?;
    ctx.note.borrow_mut().detail = Some(
        json!({ "tokenId": row.id, "name": row.name, "revoked": revoked.len(),
                                                "revokedIds": revoked.iter().take(AUDIT_IDS_MAX).collect::<Vec<_>>() }),
    );
    let row = access.token(&row.id).await?.ok_or_else(|| ApiError::not_found("Token"))?;
    respond(200, json!({ "token": row.to_json(now), "revoked": revoked.len() }))
}

/// `GET /__api/audit?project=&cursor=&limit=`, newest first. A project-scoped token sees only
/// rows of its projects.
pub async fn audit(req: &Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (mut project, mut cursor, mut limit) = (None, None, AUDIT_LIMIT_DEFAULT);
    for (k, v) in query_pairs(req) {
        match k.as_str() {
            "project" => project = Some(v),
            "cursor" => {
                let n = v.parse::<i64>().ok().filter(|n| *n > 0);
                cursor =
                    Some(n.ok_or_else(|| ApiError::bad("cursor", "is not a cursor returned by this API"))?);
            }
            "limit" => {
                limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=AUDIT_LIMIT_MAX).contains(n))
                    .ok_or_else(|| ApiError::bad("limit", format!("must be 1-{AUDIT_LIMIT_MAX}")))?;
            }
            other => {
                return Err(ApiError::bad(other, "unknown query parameter; allowed: project, cursor, limit"))
            }
        }
    }
    let project_id = match &project {
        None => None,
        Some(key) => {
            let row = D1Projects::new(ctx.env)?.get(key).await?;
            // Deleted projects keep their audit rows: a uuid is taken as is.
            let id = match row {
                Some(r) => r.id,
                None if crate::domain::is_uuid(key) => key.to_ascii_lowercase(),
                None => return Err(ApiError::not_found("Project")),
            };
            ctx.principal.require_project(&id, key)?;
            Some(id)
        }
    };
    let rows = D1Access::new(ctx.env)?
        .list_audit(project_id.as_deref(), &ctx.principal.projects(), cursor, limit + 1)
        .await?;
    let more = rows.len() > limit as usize;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = if more { rows.last().map(|r| r.id.to_string()) } else { None };
    let entries: Vec<_> = rows.iter().map(|r| r.to_json()).collect();
    respond(200, json!({ "count": entries.len(), "entries": entries, "cursor": next }))
}
