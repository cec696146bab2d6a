//! What the three storage APIs (`/__api/kv/namespaces`, `/__api/sql/databases`,
//! `/__api/buckets`) share: one resource row per namespace, database or bucket (migration 0015),
//! reached through `ResourceScope`; the 404 that never discloses another's resource; creation
//! owned by the caller; pages newest first; and the first DELETE's 409 while a live deployment
//! binds it. Each kind's file keeps only what is its own (its JSON shape and its data removal).

use serde_json::Value;
use worker::{Request, Response};

use super::{internal, query_pairs, Ctx};
use crate::domain::{
    is_resource_id, kind_label, parse_list_query, resource_id, ListCursor, ResourceRow, ResourceScope,
};
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::{now_ms, random_bytes};
use crate::platform::http;
use crate::platform::store::d1_resources::{Created, D1Resources};

pub fn respond(status: u16, body: Value) -> ApiResult<Response> {
    http::ok(status, body).map_err(internal)
}

/// What the audit row of this call records.
pub fn note(ctx: &Ctx<'_>, detail: Value) {
    ctx.note.borrow_mut().detail = Some(detail);
}

/// A live resource of `kind` the caller reaches, or a 404 naming only the kind.
pub async fn load(store: &D1Resources, kind: &str, id: &str, ctx: &Ctx<'_>) -> ApiResult<ResourceRow> {
    let missing = || ApiError::not_found(kind_label(kind));
    if !is_resource_id(id) {
        return Err(missing());
    }
    store.get(kind, id, &ResourceScope::of(&ctx.principal)).await?.ok_or_else(missing)
}

/// Inserts a resource of `kind` titled `title`, owned by the caller (the API and wrangler
/// create them so).
pub async fn insert(kind: &str, title: String, ctx: &Ctx<'_>) -> ApiResult<(ResourceRow, Created)> {
    let row = ResourceRow {
        id: resource_id(random_bytes::<16>()),
        kind: kind.into(),
        title,
        created_by: ctx.principal.id().to_string(),
        created_at: now_ms() as i64,
    };
    let created = D1Resources::new(ctx.env)?.insert(&row).await?;
    Ok((row, created))
}

/// `?limit=&cursor=`: a page of what the caller reaches, newest first, each rendered with the
/// projects that bind it; and the next page's cursor.
pub async fn page(
    req: &Request,
    kind: &str,
    ctx: &Ctx<'_>,
    render: impl Fn(&ResourceRow, &[String]) -> Value,
) -> ApiResult<(Vec<Value>, Option<String>)> {
    let q = parse_list_query(&query_pairs(req))?;
    let store = D1Resources::new(ctx.env)?;
    let scope = ResourceScope::of(&ctx.principal);
    let (rows, more) = store.list(kind, q.limit, q.cursor.as_ref(), &scope).await?;
    let cursor = match (more, rows.last()) {
        (true, Some(last)) => Some(ListCursor { created_at: last.created_at, id: last.id.clone() }.encode()),
        _ => None,
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(render(r, &store.bound_projects(&r.id).await?));
    }
    Ok((out, cursor))
}

/// The resource a DELETE is about: one whose data removal an earlier DELETE left unfinished
/// (deleted, not purged), else a live one, which is first checked (409 while a production or
/// aliased deployment of a live project binds it), then marked deleted and `forget`-ten by this
/// isolate's bindings.
pub async fn deleting(
    store: &D1Resources,
    kind: &str,
    id: &str,
    ctx: &Ctx<'_>,
    forget: fn(&str),
) -> ApiResult<ResourceRow> {
    if is_resource_id(id) {
        if let Some(r) = store.get_unpurged(kind, id, &ResourceScope::of(&ctx.principal)).await? {
            return Ok(r);
        }
    }
    let row = load(store, kind, id, ctx).await?;
    let serving = store.serving_bindings(&row.id).await?;
    if serving > 0 {
        let label = kind_label(kind);
        let label = label[..1].to_uppercase() + &label[1..];
        return Err(ApiError::Conflict {
            reason: format!(
                "{label} `{}` is bound by {serving} live deployment(s) (production or an alias); \
                 deploy without the binding or delete those projects first",
                row.title
            ),
        });
    }
    store.mark_deleted(&row.id, now_ms() as i64).await?;
    forget(&row.id);
    Ok(row)
}
