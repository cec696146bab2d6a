//! The wrangler-compatible API (`/client/v4`, SPEC.md §3a): authenticate with a Flotilla
//! token, apply the same scope/project policy and audit row as `/__api`, and map each call onto
//! the native services (upload sessions, `deployments::prepare`/`launch`, lifecycle rollback,
//! project delete). Decisions live in `crate::compat`; every answer is Cloudflare's envelope.
//! Touches D1, ASSETS_KV, BLOBS and DEPLOY_QUEUE through the native services.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use worker::{Request, Response};

use super::cf_assets::{entry_bytes, read_form};
use super::deployments::{launch, prepare, Prepared};
use super::projects::create_with_slug;
use super::uploads::{admit_manifest, jwt_secret, open_session};
use super::{audit, authorize, internal, read_body, Ctx, Note, MAX_JSON_BODY};
use crate::access::{Need, Principal, Scope};

use crate::auth::{issue_token, TokenKind};
use crate::compat::*;
use crate::deploy::{parse_deploy_request, plan_buckets, BUCKET_MAX_BYTES, BUCKET_MAX_FILES};
use crate::domain::{is_resource_id, iso8601, ProjectRow, ResourceScope, KIND_BUCKET, KIND_KV, KIND_SQL};
use crate::error::{ApiError, ApiResult};
use crate::keys::wrangler_manifest_key;
use crate::lifecycle::Status;
use crate::platform::bindings::{new_uuid, now_ms};
use crate::platform::http;
use crate::platform::secrets::Sealer;
use crate::platform::serve::cache::LiveRoutes;
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_access::D1Access;
use crate::platform::store::d1_deployments::{D1Deployments, DeploymentRow};
use crate::platform::store::d1_lifecycle::D1Lifecycle;
use crate::platform::store::d1_resources::{Created, D1Resources};
use crate::platform::store::d1_wrangler::D1Wrangler;
use crate::platform::store::r2::R2Blobs;

/// Wrangler sends {path: {hash (32 hex), size}}: ~90 bytes a file, ~9 MB for 100,000 files.
const MAX_MANIFEST_BODY: usize = 32 * 1024 * 1024;
/// Server code (10 MiB) plus metadata and framing.
const MAX_SCRIPT_BODY: usize = 12 * 1024 * 1024;

pub(super) fn respond(status: u16, body: &Value) -> ApiResult<Response> {
    http::json(status, body).map_err(internal)
}

pub(super) fn ok(result: Value) -> ApiResult<Response> {
    respond(200, &cf_success(result))
}

/// Every `/client/v4` request: never a native envelope, an HTML page or a bare 500.
pub async fn handle(mut req: Request, outer: &Ctx<'_>, path: &str) -> ApiResult<Response> {
    let route = match_cf(req.method().as_ref(), path);
    let ctx = Ctx::new(outer.env, outer.meta, outer.urls.clone());
    let result = run(&mut req, ctx, &route).await;
    match result {
        Ok(r) => Ok(r),
        Err(e) => {
            if e.status() >= 500 {
                let fields =
                    json!({ "error": e.code(), "detail": e.log_detail(), "route": format!("{route:?}") });
                http::log("error", &outer.meta.request_id, fields);
            }
            let (status, mut body) = cf_error(&e);
            // A first deploy: wrangler expects exactly this code for "no such Worker".
            if matches!(route, CfRoute::GetService(_)) && status == 404 {
                body = cf_failure(CF_WORKER_NOT_FOUND, "This Worker does not exist on your account.");
            }
            // Cloudflare's codes for a namespace (10013) or key (10009) it does not find.
            if status == 404 && route.kv_namespace().is_some() {
                let code = if e.message().starts_with("Key") { CF_KEY_NOT_FOUND } else { CF_KV_NOT_FOUND };
                body = cf_failure(code, &e.message());
            }
            // R2's codes for a bucket (10006: wrangler provisions on it) or object it does not find.
            if status == 404 && route.r2_bucket().is_some() {
                let code =
                    if e.message().starts_with("Object") { CF_OBJECT_NOT_FOUND } else { CF_BUCKET_NOT_FOUND };
                body = cf_failure(code, &e.message());
            }
            // D1's codes: a database it does not find (7404), a name taken (7502), a failed query.
            let mut status = status;
            if route.is_d1() {
                let code = match status {
                    404 => Some(CF_D1_NOT_FOUND),
                    409 if matches!(route, CfRoute::D1Create) => Some(CF_D1_EXISTS),
                    422 => Some(CF_D1_QUERY),
                    _ => None,
                };
                if let Some(code) = code {
                    body = cf_failure(code, &e.message());
                }
                if status == 422 {
                    status = 400;
                }
            }
            let mut resp = http::json(status, &body).map_err(internal)?;
            for (k, v) in e.headers() {
                resp.headers_mut().set(k, &v).map_err(internal)?;
            }
            Ok(resp)
        }
    }
}

async fn run(req: &mut Request, ctx: Ctx<'_>, route: &CfRoute) -> ApiResult<Response> {
    let (need, action) = cf_policy(route);
    let principal = match need {
        Need::UploadJwt | Need::TailTicket => Principal::Anonymous,
        _ => {
            let auth = req.headers().get("authorization").ok().flatten();
            D1Access::new(ctx.env)?.authenticate(ctx.env, auth.as_deref(), now_ms() as i64).await?
        }
    };
    let ctx = Ctx { principal, ..ctx };
    let result = match authorize(&ctx, &need, action.is_some()).await {
        Ok(()) => dispatch(req, &ctx, route).await,
        Err(e) => Err(e),
    };
    if let Some(action) = action {
        audit(&ctx, action, &result).await;
    }
    result
}

async fn dispatch(req: &mut Request, ctx: &Ctx<'_>, route: &CfRoute) -> ApiResult<Response> {
    use CfRoute::*;
    match route {
        VerifyToken => ok(json!({ "id": ctx.principal.id(), "status": "active" })),
        ListAccounts => {
            let (page, per_page) = cf_page_params(&super::query_pairs(req));
            respond(200, &cf_page(vec![account()], page, per_page))
        }
        Memberships => {
            let (page, per_page) = cf_page_params(&super::query_pairs(req));
            let roles = if ctx.principal.has_scope(Scope::Manage) { "Administrator" } else { "Member" };
            let m = json!({ "id": format!("membership-{}", ctx.principal.id()), "status": "accepted",
                            "account": account(), "roles": [roles] });
            respond(200, &cf_page(vec![m], page, per_page))
        }
        User => respond(
            403,
            &cf_failure(
                CF_NO_USER_DETAILS,
                &format!("A Flotilla token has no user profile or email (this one is `{}`).", ctx.principal.id()),
            ),
        ),
        RemotePreview => respond(400, &cf_failure(CF_NO_REMOTE_PREVIEW, REMOTE_PREVIEW_REFUSED)),
        AccountSubdomain => ok(json!({ "subdomain": ctx.urls.domain })),
        KvNamespaces => list_namespaces(req, ctx).await,
        CreateKvNamespace => create_namespace(req, ctx).await,
        KvGetValue(ns, key) => super::cf_kv::get_value(ns, key, ctx).await,
        KvPutValue(ns, key) => super::cf_kv::put_value(req, ns, key, ctx).await,
        KvDeleteValue(ns, key) => super::cf_kv::delete_value(ns, key, ctx).await,
        KvListKeys(ns) => super::cf_kv::list_keys(req, ns, ctx).await,
        KvBulkPut(ns) => super::cf_kv::bulk_put(req, ns, ctx).await,
        KvBulkDelete(ns) => super::cf_kv::bulk_delete(req, ns, ctx).await,
        R2Buckets => super::cf_r2::list_buckets(req, ctx).await,
        CreateR2Bucket => super::cf_r2::create_bucket(req, ctx).await,
        GetR2Bucket(b) => super::cf_r2::get_bucket(b, ctx).await,
        R2GetObject(b, key) => super::cf_r2::get_object(b, key, ctx).await,
        R2PutObject(b, key) => super::cf_r2::put_object(req, b, key, ctx).await,
        R2DeleteObject(b, key) => super::cf_r2::delete_object(b, key, ctx).await,
        D1List => super::cf_d1::list(req, ctx).await,
        D1Create => super::cf_d1::create(req, ctx).await,
        D1Get(db) => super::cf_d1::get(db, ctx).await,
        D1Delete(db) => super::cf_d1::delete(db, ctx).await,
        D1Query(db) => super::cf_d1::query(req, db, ctx).await,
        D1Import(db) => super::cf_d1::import(req, db, ctx).await,
        D1ImportUpload(token) => super::cf_d1::import_upload(req, token, ctx).await,
        D1Export(db) => super::cf_d1::unsupported(db, "`wrangler d1 export --remote`", ctx).await,
        TailsByConsumer(_) => ok(json!([])),
        CreateTail(name) => super::cf_tail::create(req, name, ctx).await,
        TailSocket(name, id) => super::cf_tail::socket(req, name, id, ctx).await,
        DeleteTail(name, id) => super::cf_tail::delete(name, id, ctx).await,
        References(name) => {
            existing(name, ctx).await?;
            ok(json!({}))
        }
        GetService(name) => service(&existing(name, ctx).await?),
        GetWorker(name) => {
            let p = existing(name, ctx).await?;
            ok(json!({ "id": p.slug, "name": p.slug, "created_on": iso(p.created_at), "updated_on": iso(p.updated_at),
                       // `url`: its host is what wrangler prints as the Worker's trigger after a
                       // deploy (without it, it makes up `<name>.<subdomain>.workers.dev`).
                       "subdomain": { "enabled": true, "previews_enabled": false, "url": ctx.urls.project_url(&p.slug) },
                       "logpush": false,
                       "observability": { "enabled": false }, "tags": [] }))
        }
        ScriptSettings(name) => {
            let p = existing(name, ctx).await?;
            let kv = active_kv(&p, ctx).await?;
            let d1 = active_of(&p, KIND_SQL, ctx).await?;
            let buckets = bucket_names(&active_buckets(&p, ctx).await?, ctx).await?;
            ok(json!({ "bindings": settings_bindings(&kv, &d1, &buckets), "compatibility_flags": [], "placement": {}, "tail_consumers": [],
                       "logpush": false, "observability": { "enabled": false }, "tags": [] }))
        }
        // The project's URL is always on; nothing to switch.
        ScriptSubdomain(_) => ok(json!({ "enabled": true, "previews_enabled": false })),
        AssetsUploadSession(name) => upload_session(req, name, ctx).await,
        AssetsUpload => super::cf_assets::upload(req, ctx).await,
        PutScript(name) => {
            let (project, id, has_assets, has_code) = settle(put_script(req, name, true, ctx).await, name, ctx).await?;
            let now = iso(now_ms() as i64);
            ok(json!({ "id": project.slug, "etag": id, "deployment_id": id, "startup_time_ms": 0,
                       "has_assets": has_assets, "has_modules": has_code,
                       "handlers": if has_code { json!(["fetch"]) } else { json!([]) },
                       "created_on": now, "modified_on": now }))
        }
        UploadVersion(name) => {
            let (_, id, _, has_code) = settle(put_script(req, name, false, ctx).await, name, ctx).await?;
            let mut v = render_version(&VersionView {
                id: &id, number: 0, created_ms: now_ms() as i64, author: AUTHOR, has_server_code: has_code,
            });
            v["resources"]["script"]["etag"] = json!(id);
            v["startup_time_ms"] = json!(0);
            ok(v)
        }
        // Tail consumers, logpush, observability and tags have no Flotilla meaning: accepted, unchanged.
        PatchScriptSettings(name) => {
            existing(name, ctx).await?;
            ok(json!({}))
        }
        ListSecrets(name) => {
            let p = existing(name, ctx).await?;
            let rows = D1Wrangler::new(ctx.env)?.secrets(&p.id).await?;
            ok(Value::Array(rows.iter().map(|r| json!({ "name": r.name, "type": "secret_text" })).collect()))
        }
        PutSecret(name) => put_secret(req, name, ctx).await,
        DeleteSecret(name, secret) => delete_secret(name, secret, ctx).await,
        ListDeployments(name) => list_deployments(name, ctx).await,
        ListVersions(name) => {
            let p = existing(name, ctx).await?;
            ok(versions_list(history(&p, ctx).await?.iter().map(deployed).collect()))
        }
        GetVersion(name, id) => {
            let p = existing(name, ctx).await?;
            ok(version_by_id(history(&p, ctx).await?.iter().map(deployed).collect(), id)?)
        }
        CreateDeployment(name) => create_deployment(req, name, ctx).await,
        DeleteService(name) => {
            let p = existing(name, ctx).await?;
            super::projects::delete(&p.id, ctx).await?;
            ok(json!(null))
        }
        Unsupported { method, path } => Err(ApiError::NotImplemented {
            what: format!("`{method} /client/v4{path}` (Flotilla's wrangler API covers deploy, secrets, deployments, versions, rollback, delete, KV, D1 and R2)"),
        }),
    }
}

/// The one account every Flotilla token sees (`CLOUDFLARE_ACCOUNT_ID` may be anything).
fn account() -> Value {
    json!({ "id": "flotilla", "name": "Flotilla" })
}

/// What remote development gets, in one line wrangler prints as is.
pub const REMOTE_PREVIEW_REFUSED: &str =
    "Flotilla does not offer remote development (`wrangler dev --remote`, \
     `remote: true` bindings, or tools built on them such as OpenNext's `populateCache remote` for an R2 \
     incremental cache): run `wrangler dev` locally and deploy with `wrangler deploy`.";

/// After a script upload: an accepted one makes a provisional project (created by this
/// deploy's upload session) an ordinary one; a refused one deletes a provisional project that
/// has no deployment, and its purge removes the row too, so the refusal leaves nothing behind
/// and the name stays free (a tombstone would reserve it for ever).
async fn settle<T>(
    out: ApiResult<(ProjectRow, T, bool, bool)>,
    name: &str,
    ctx: &Ctx<'_>,
) -> ApiResult<(ProjectRow, T, bool, bool)> {
    let store = D1Projects::new(ctx.env)?;
    match out {
        Ok(done) => {
            store.settle(&done.0.id).await?;
            Ok(done)
        }
        Err(refused) => {
            let abandoned = async {
                if let Some(id) = store.abandoned(name).await? {
                    super::projects::delete(&id, ctx).await?;
                }
                Ok::<_, ApiError>(())
            };
            if let Err(e) = abandoned.await {
                http::log(
                    "warn",
                    &ctx.meta.request_id,
                    json!({ "msg": "provisional project not removed", "error": e.log_detail() }),
                );
            }
            Err(refused)
        }
    }
}

fn iso(ms: i64) -> String {
    iso8601(ms.max(0) as u64)
}

/// The project whose slug is the Worker name (never one whose id it is).
async fn by_slug(name: &str, ctx: &Ctx<'_>) -> ApiResult<Option<ProjectRow>> {
    Ok(worker_project(D1Projects::new(ctx.env)?.get(name).await?, name))
}

/// The project a Worker name names, or 404 (answered as 10090 on the services route).
pub(super) async fn existing(name: &str, ctx: &Ctx<'_>) -> ApiResult<ProjectRow> {
    by_slug(name, ctx).await?.ok_or_else(|| ApiError::not_found(format!("Worker `{name}`")))
}

/// The Worker's project, created on first deploy with the name as its slug. Creating needs
/// the same right as `POST /__api/projects` (manage on every project). A name that cannot be a
/// slug (UUID-shaped, `--`, ...) creates nothing: it is refused before anything is written.
async fn project_for_deploy(name: &str, ctx: &Ctx<'_>) -> ApiResult<ProjectRow> {
    if let Some(p) = by_slug(name, ctx).await? {
        return Ok(p);
    }
    let slug = worker_slug(name)?;
    ctx.principal.require_scope(Scope::Manage)?;
    ctx.principal.require_all_projects()?;
    let row = create_with_slug(&slug, ctx).await?;
    // Until a script upload is accepted: a refused one then leaves no project (`refused`).
    D1Projects::new(ctx.env)?.mark_provisional(&row.id).await?;
    // Its own audit row, as `POST /__api/projects` writes; the call's own row follows.
    ctx.note(&row.id, json!({ "slug": row.slug, "via": "wrangler" }));
    let created = Response::empty().map(|r| r.with_status(201)).map_err(internal);
    audit(ctx, "project.create", &created).await;
    ctx.note.borrow_mut().project_id = Some(row.id.clone());
    Ok(row)
}

fn service(p: &ProjectRow) -> ApiResult<Response> {
    let script = json!({ "id": p.slug, "tag": p.id, "etag": p.active_deployment_id, "handlers": ["fetch"],
                         "last_deployed_from": "wrangler", "created_on": iso(p.created_at), "modified_on": iso(p.updated_at) });
    ok(json!({ "id": p.slug, "created_on": iso(p.created_at), "modified_on": iso(p.updated_at),
               "default_environment": { "environment": "production", "created_on": iso(p.created_at),
                                        "modified_on": iso(p.updated_at), "script": script } }))
}

/// `POST /scripts/:name/assets-upload-session`: which of wrangler's hashes the project lacks.
async fn upload_session(req: &mut Request, name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let body = read_body(req, MAX_MANIFEST_BODY).await?;
    let manifest = crate::compat::parse_wrangler_session_body(&body)?;
    drop(body);
    let project = project_for_deploy(name, ctx).await?;
    let unique = wrangler_unique(&manifest);
    let hashes: Vec<&str> = unique.keys().copied().collect();
    let known = D1Wrangler::new(ctx.env)?.known(&project.id, &hashes, true).await?;
    let missing: Vec<(String, u64)> = unique
        .iter()
        .filter(|(h, _)| !known.contains_key(**h))
        .map(|(h, (_, s))| (h.to_string(), *s))
        .collect();
    // Wrangler sends every file in a base64 bucket and itself refuses files over 25 MiB: larger
    // ones (stored in BLOBS) take the native raw upload path only.
    if manifest.values().any(|e| e.size > crate::deploy::KV_MAX_FILE_BYTES) {
        return Err(ApiError::PayloadTooLarge {
            what: "File size in bytes (wrangler uploads)".into(),
            limit: crate::deploy::KV_MAX_FILE_BYTES,
        });
    }
    admit_manifest(ctx, &project.id, manifest.values().map(|e| e.size), &missing).await?;
    let sid = new_uuid();
    R2Blobs::new(ctx.env)?.put_json(&wrangler_manifest_key(&project.id, &sid), &manifest).await?;
    let buckets = plan_buckets(&missing, BUCKET_MAX_FILES, BUCKET_MAX_BYTES);
    let kind = if buckets.is_empty() { TokenKind::Completion } else { TokenKind::Upload };
    let ttl = crate::platform::bindings::token_ttl_secs(ctx.env);
    let jwt = issue_token(&jwt_secret(ctx)?, kind, &project.id, &sid, ctx.principal.id(), now_ms(), ttl)?;
    ctx.note(&project.id, json!({ "sessionId": sid, "files": manifest.len(), "missing": missing.len() }));
    ok(json!({ "jwt": jwt, "buckets": buckets }))
}

/// Current secrets, sealed, for a bundle.
async fn sealed_secrets(project_id: &str, ctx: &Ctx<'_>) -> ApiResult<BTreeMap<String, String>> {
    let rows = D1Wrangler::new(ctx.env)?.secrets(project_id).await?;
    Ok(rows.into_iter().map(|r| (r.name, r.ciphertext)).collect())
}

/// Encrypts `plain` (name -> value) for `project_id`; stores nothing.
async fn seal(
    project_id: &str,
    plain: &BTreeMap<String, String>,
    ctx: &Ctx<'_>,
) -> ApiResult<Vec<(String, String)>> {
    if plain.is_empty() {
        return Ok(Vec::new());
    }
    let sealer = Sealer::new(ctx.env).await?;
    let mut rows = Vec::with_capacity(plain.len());
    for (k, v) in plain {
        rows.push((k.clone(), sealer.seal(project_id, k, v).await?));
    }
    Ok(rows)
}

async fn store_sealed(project_id: &str, rows: &[(String, String)], ctx: &Ctx<'_>) -> ApiResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    D1Wrangler::new(ctx.env)?.put_secrets(project_id, rows, now_ms() as i64).await
}

/// `PUT /scripts/:name`: the script upload becomes a native deploy request, and runs through
/// `deployments::prepare` + `launch` like `POST /__api/projects/:id/deploy`.
/// Returns the project, the deployment id, and whether it has assets and server code.
async fn put_script(
    req: &mut Request,
    name: &str,
    activate: bool,
    ctx: &Ctx<'_>,
) -> ApiResult<(ProjectRow, String, bool, bool)> {
    let (form, names) = read_form(req, MAX_SCRIPT_BODY).await?;
    let meta_entry = form.get("metadata").ok_or_else(|| ApiError::bad("metadata", "part is required"))?;
    let meta = parse_metadata(&entry_bytes(meta_entry).await?.0)?;
    let mut modules = Vec::new();
    for n in names.iter().filter(|n| n.as_str() != "metadata") {
        let Some(entry) = form.get(n) else { continue };
        let (bytes, ct) = entry_bytes(entry).await?;
        if let Some(kind) = module_kind(n, &ct)? {
            modules.push(ModulePart { name: n.clone(), kind, bytes });
        }
    }
    let project = project_for_deploy(name, ctx).await?;
    let mut meta = meta;
    if !meta.inherit.is_empty() {
        let d1 = active_of(&project, KIND_SQL, ctx).await?;
        resolve_inherited(
            &mut meta,
            &active_kv(&project, ctx).await?,
            &d1,
            &active_buckets(&project, ctx).await?,
        )?;
    }
    check_kv(&meta, ctx).await?;
    resolve_buckets(&mut meta, ctx).await?;
    let (manifest, wrangler_session) = match &meta.assets_jwt {
        Some(jwt) => {
            super::cf_assets::native_manifest(&project, jwt, ctx).await.map(|(m, sid)| (m, Some(sid)))?
        }
        None => Default::default(),
    };
    let opened = open_session(&project, &manifest, ctx).await?;
    if let Some(sid) = wrangler_session {
        // The native session now holds the manifest; wrangler never reuses a session, so its
        // own copy is dead (GC removes the ones whose deploy never came).
        if let Err(e) = R2Blobs::new(ctx.env)?.delete(&wrangler_manifest_key(&project.id, &sid)).await {
            worker::console_warn!("wrangler session manifest {sid} not deleted: {e:?}");
        }
    }
    let body = deploy_body(&meta, &opened.jwt, &modules, activate)?;
    let mut input = parse_deploy_request(body.to_string().as_bytes(), false)?;
    // The upload's `secret_text` bindings join the stored secrets only once the deployment is
    // accepted: a refused upload leaves the project's secrets as they were.
    let new_secrets = seal(&project.id, &meta.secrets, ctx).await?;
    if let Some(b) = input.server_code.as_mut() {
        b.json_env = meta.json_vars.clone();
        b.assets_binding = meta.assets_binding.clone().filter(|n| n != "ASSETS");
        let mut all = sealed_secrets(&project.id, ctx).await?;
        all.extend(new_secrets.iter().cloned());
        b.secrets = all;
    }
    let prepared = prepare(&project, &input, ctx).await?;
    store_sealed(&project.id, &new_secrets, ctx).await?;
    let id = go_live(&project, prepared, ctx).await?;
    Ok((project, id, !manifest.is_empty(), input.server_code.is_some()))
}

/// The KV bindings of the project's active deployment (name -> namespace id).
async fn active_kv(project: &ProjectRow, ctx: &Ctx<'_>) -> ApiResult<BTreeMap<String, String>> {
    active_of(project, KIND_KV, ctx).await
}

/// The project's active deployment's bindings of `kind` (name -> resource id).
async fn active_of(project: &ProjectRow, kind: &str, ctx: &Ctx<'_>) -> ApiResult<BTreeMap<String, String>> {
    match project.active_deployment_id.as_deref() {
        Some(active) => D1Resources::new(ctx.env)?.bindings_of(active, kind).await,
        None => Ok(BTreeMap::new()),
    }
}

/// The bucket bindings of the project's active deployment (name -> bucket id).
async fn active_buckets(project: &ProjectRow, ctx: &Ctx<'_>) -> ApiResult<BTreeMap<String, String>> {
    active_of(project, KIND_BUCKET, ctx).await
}

/// Binding -> bucket name, for `GET .../settings` (a bucket deleted since is left out: wrangler
/// then provisions or names one anew).
async fn bucket_names(ids: &BTreeMap<String, String>, ctx: &Ctx<'_>) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let store = D1Resources::new(ctx.env)?;
    for (name, id) in ids {
        if let Some(row) = store.get(KIND_BUCKET, id, &ResourceScope::All).await? {
            out.insert(name.clone(), row.title);
        }
    }
    Ok(out)
}

/// Every `r2_bucket` binding's `bucket_name` must be one of the caller's OWN live buckets (a
/// name never reaches another tenant's `files`); otherwise R2's 404 naming the binding.
async fn resolve_buckets(meta: &mut ScriptMetadata, ctx: &Ctx<'_>) -> ApiResult<()> {
    if meta.bucket_names.is_empty() {
        return Ok(());
    }
    let store = D1Resources::new(ctx.env)?;
    for (name, bucket) in std::mem::take(&mut meta.bucket_names) {
        match store.own_by_title(KIND_BUCKET, ctx.principal.id(), &bucket).await? {
            Some(row) => {
                meta.buckets.insert(name, row.id);
            }
            None => {
                return Err(ApiError::not_found(format!("Bucket `{bucket}` (r2_bucket binding `{name}`)")))
            }
        }
    }
    Ok(())
}

/// Every `kv_namespace` binding must name a namespace the caller reaches (as the native
/// deploy checks); one it does not is Cloudflare's 404 naming the binding.
async fn check_kv(meta: &ScriptMetadata, ctx: &Ctx<'_>) -> ApiResult<()> {
    if meta.kv.is_empty() {
        return Ok(());
    }
    let store = D1Resources::new(ctx.env)?;
    let scope = ResourceScope::of(&ctx.principal);
    for (name, id) in &meta.kv {
        let found = is_resource_id(id) && store.get(KIND_KV, id, &scope).await?.is_some();
        if !found {
            return Err(ApiError::not_found(format!("KV namespace `{id}` (kv_namespace binding `{name}`)")));
        }
    }
    Ok(())
}

/// `GET /storage/kv/namespaces?page=&per_page=`: the caller's OWN namespaces by title, so
/// wrangler's lookup by title (auto-provisioning) never finds another tenant's namespace.
async fn list_namespaces(req: &Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let q = super::query_pairs(req);
    let (page, per_page) = cf_page_params(&q);
    let rows = D1Resources::new(ctx.env)?
        .list_own(KIND_KV, ctx.principal.id(), per_page, (page - 1).saturating_mul(per_page))
        .await?;
    let items: Vec<Value> = rows.iter().map(cf_namespace).collect();
    let mut body = cf_success(json!(items));
    body["result_info"] = json!({ "page": page, "per_page": per_page, "count": items.len() });
    respond(200, &body)
}

/// `POST /storage/kv/namespaces {title}`: a namespace owned by the caller, as
/// `POST /__api/kv/namespaces` makes it (a title it already has is refused).
async fn create_namespace(req: &mut Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (row, created) = super::kv::insert_namespace(req, ctx).await?;
    match created {
        Created::Ok => {
            ctx.note.borrow_mut().detail =
                Some(json!({ "namespaceId": row.id, "title": row.title, "via": "wrangler" }));
            ok(cf_namespace(&row))
        }
        Created::TitleTaken => Err(ApiError::Conflict {
            reason: format!("a namespace with this account ID and title already exists: `{}`", row.title),
        }),
    }
}

/// Launches and waits; a deployment that did not go live is an error with its reason.
async fn go_live(project: &ProjectRow, prepared: Prepared, ctx: &Ctx<'_>) -> ApiResult<String> {
    let (id, done) = launch(project, prepared, true, ctx).await?;
    let d = D1Deployments::new(ctx.env)?.get(&id).await?.ok_or_else(|| ApiError::not_found("Deployment"))?;
    match (done, Status::parse(&d.status)) {
        (true, Some(Status::Completed)) => Ok(id),
        (true, Some(Status::Superseded)) => Err(ApiError::Conflict {
            reason: format!("Deployment {id} was superseded: a newer deployment went live first"),
        }),
        (true, _) => Err(ApiError::Unprocessable {
            reason: format!("Deployment {id} failed: {}", d.error.as_deref().unwrap_or("unknown error")),
            details: None,
        }),
        (false, _) => Err(ApiError::Unavailable { detail: format!("deployment {id} still running") }),
    }
}

/// A secret change rolls out as a new deployment with the active one's assets and code.
/// Its files are the active deployment's staged manifest (`filesFrom`), never the upload
/// session that made it: that session expires and is collected, and a rollout must still work
/// long after the last deploy. `secrets` is the whole set the new deployment gets.
async fn roll_out_secrets(
    project: &ProjectRow,
    secrets: BTreeMap<String, String>,
    ctx: &Ctx<'_>,
) -> ApiResult<Option<String>> {
    let Some(active) = project.active_deployment_id.as_deref() else { return Ok(None) };
    let d =
        D1Deployments::new(ctx.env)?.get(active).await?.ok_or_else(|| ApiError::not_found("Deployment"))?;
    let mut config: Value = serde_json::from_str(&d.config).map_err(|e| ApiError::internal(e.to_string()))?;
    if config.get("server").map(Value::is_null).unwrap_or(true) {
        return Ok(None); // assets only: no code reads secrets
    }
    let bundle = crate::platform::serve::loader::load_bundle(ctx.env, &project.id, active).await?;
    let mut bundle = (*bundle).clone();
    bundle.secrets = secrets;
    config["server"]["digest"] = json!(bundle.digest());
    config["activate"] = json!(true);
    config["filesFrom"] = json!(active);
    let stats: Value = serde_json::from_str(&d.stats).unwrap_or(json!({}));
    let prepared = Prepared {
        session_id: d.upload_session_id.clone().unwrap_or_default(),
        config,
        stats,
        bundle: Some(bundle),
        warnings: Vec::new(), // the active deployment's rules, already parsed
    };
    Ok(Some(go_live(project, prepared, ctx).await?))
}

async fn put_secret(req: &mut Request, name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (secret, value) = parse_secret(&read_body(req, MAX_JSON_BODY).await?)?;
    let project = existing(name, ctx).await?;
    let sealed = seal(&project.id, &BTreeMap::from([(secret.clone(), value)]), ctx).await?;
    let mut all = sealed_secrets(&project.id, ctx).await?;
    all.extend(sealed.iter().cloned());
    // The rollout first, then the stored set: a refused rollout (422) leaves the project's
    // secrets as they were, so what is stored and what serves never disagree.
    let deployment = roll_out_secrets(&project, all, ctx).await?;
    store_sealed(&project.id, &sealed, ctx).await?;
    ctx.note(&project.id, json!({ "secret": secret, "deploymentId": deployment }));
    ok(json!({ "name": secret, "type": "secret_text" }))
}

async fn delete_secret(name: &str, secret: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = existing(name, ctx).await?;
    let mut all = sealed_secrets(&project.id, ctx).await?;
    if all.remove(secret).is_none() {
        return Err(ApiError::not_found(format!("Secret `{secret}`")));
    }
    // As for put: the stored secret goes only once the deployment without it went live.
    let deployment = roll_out_secrets(&project, all, ctx).await?;
    D1Wrangler::new(ctx.env)?.delete_secret(&project.id, secret).await?;
    ctx.note(&project.id, json!({ "secret": secret, "deleted": true, "deploymentId": deployment }));
    ok(json!(null))
}

/// The project's latest deployments (what `crate::compat::deployable` picks from).
async fn history(project: &ProjectRow, ctx: &Ctx<'_>) -> ApiResult<Vec<DeploymentRow>> {
    D1Deployments::new(ctx.env)?.list(&project.id, 100).await
}

fn deployed(d: &DeploymentRow) -> Deployed<'_> {
    Deployed {
        id: &d.id,
        seq: d.seq,
        status: &d.status,
        created_ms: d.created_at,
        activated_ms: d.activated_at,
        config: &d.config,
    }
}

/// `GET .../deployments`: the order and dates are `crate::compat::deployments_list`.
async fn list_deployments(name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let project = existing(name, ctx).await?;
    let rows = history(&project, ctx).await?;
    let active = project.active_deployment_id.as_deref();
    let rolling = live_split(&project.id, ctx).await?;
    let split = rolling.as_ref().map(|(to, pct)| (to.as_str(), *pct));
    ok(deployments_list(active, project.updated_at, rows.iter().map(deployed).collect(), split))
}

/// The project's live rollout as (deployment, percent), if one runs.
async fn live_split(project_id: &str, ctx: &Ctx<'_>) -> ApiResult<Option<(String, u8)>> {
    use crate::lifecycle::ProjectStore;
    let p = D1Lifecycle::new(ctx.env)?.project(project_id).await.map_err(|e| ApiError::internal(e.0))?;
    Ok(p.and_then(|p| p.rollout).filter(|r| r.status.is_live()).map(|r| {
        let pct = r.percent();
        (r.deployment_id, pct)
    }))
}

/// `POST /scripts/:name/deployments` (from `wrangler deploy` after a version upload, and from
/// `wrangler rollback`): instant, like `POST /__api/projects/:id/rollback {deploymentId}`.
async fn create_deployment(req: &mut Request, name: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let traffic = parse_cf_deployment(&read_body(req, MAX_JSON_BODY).await?)?;
    let project = existing(name, ctx).await?;
    let rolling = live_split(&project.id, ctx).await?;
    let active = project.active_deployment_id.as_deref();
    let action = traffic_action(&traffic, active, rolling.as_ref().map(|(d, _)| d.as_str()))?;
    let (store, routes) = (D1Lifecycle::new(ctx.env)?, LiveRoutes::new(ctx.env)?);
    let now = now_ms() as i64;
    use crate::lifecycle::rollout::{self, Control};
    let out = match action {
        CfAction::Switch(target) => return switch_deployment(target, &project, ctx).await,
        CfAction::Complete => rollout::control(&store, &routes, &project.id, Control::Complete, now).await?,
        CfAction::Abort => rollout::control(&store, &routes, &project.id, Control::Abort, now).await?,
        CfAction::Hold { to, percent } => {
            rollout::hold_split(&store, &routes, &project.id, &to, percent, now).await?
        }
    };
    let r = out.project.rollout.as_ref();
    *ctx.note.borrow_mut() = Note {
        project_id: Some(project.id.clone()),
        detail: Some(json!({ "rollout": r.map(|r| &r.deployment_id), "status": r.map(|r| r.status),
                             "percent": r.map(|r| r.percent()) })),
        principal: None,
    };
    let now_active = out.project.active_deployment_id.clone().unwrap_or_default();
    match r.filter(|r| r.status.is_live()) {
        Some(r) => {
            let pct = r.percent();
            let versions = [(r.deployment_id.as_str(), pct), (now_active.as_str(), 100 - pct)];
            ok(render_split(&now_active, now, AUTHOR, None, &versions))
        }
        None => ok(render_deployment(&now_active, now, AUTHOR, None)),
    }
}

/// One version at 100 %: a promote (newer than what serves) or a rollback.
async fn switch_deployment(target: String, project: &ProjectRow, ctx: &Ctx<'_>) -> ApiResult<Response> {
    // Newer than what serves: a version going live (deploy); older: a rollback.
    let deployments = D1Deployments::new(ctx.env)?;
    let target_row = deployments.get(&target).await?;
    let active_row = match project.active_deployment_id.as_deref() {
        Some(a) => deployments.get(a).await?,
        None => None,
    };
    fn facts(d: &Option<DeploymentRow>) -> Option<(&str, i64)> {
        d.as_ref().map(|d| (d.project_id.as_str(), d.seq))
    }
    let kind = switch_kind(&project.id, facts(&target_row), facts(&active_row))?;
    let (store, routes) = (D1Lifecycle::new(ctx.env)?, LiveRoutes::new(ctx.env)?);
    let now = now_ms() as i64;
    let out = crate::lifecycle::switch_to(&store, &routes, &project.id, Some(&target), kind, now).await?;
    *ctx.note.borrow_mut() = Note {
        project_id: Some(project.id.clone()),
        detail: Some(json!({ "from": out.from, "to": out.to })),
        principal: None,
    };
    ok(render_deployment(&out.to, now, AUTHOR, None))
}
