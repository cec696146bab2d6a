//! The wrangler-compatible asset upload (`/client/v4`, split from `cf.rs`): a bucket's
//! multipart form read part by part and checked against wrangler's hashes before anything is
//! stored, and the conversion of a finished wrangler session into a native upload manifest for
//! the script upload.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{FormData, FormEntry, Request, Response};

use super::cf::respond;
use super::projects::load;
use super::uploads::jwt_secret;
use super::{internal, Ctx};

use crate::auth::{bearer_token, issue_token, verify_any_project, verify_token, TokenKind};
use crate::compat::*;
use crate::deploy::{check_upload_keys, parse_upload_manifest, store_in_waves, WAVE_BYTES};
use crate::domain::{ContentHash, ProjectRow};
use crate::error::{ApiError, ApiResult};
use crate::keys::wrangler_manifest_key;
use crate::platform::bindings::now_ms;
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_access::D1Access;
use crate::platform::store::d1_uploads::D1Uploads;
use crate::platform::store::d1_wrangler::D1Wrangler;
use crate::platform::store::kv::{AssetMeta, KvAssets};
use crate::platform::store::r2::R2Blobs;

/// A bucket holds up to `BUCKET_MAX_BYTES`, but one file larger than that (up to the 25 MiB a
/// KV value holds) gets a bucket of its own: base64 makes it 4/3 as large.
const MAX_BUCKET_BODY: usize = (crate::deploy::KV_MAX_FILE_BYTES as usize) * 4 / 3 + 1024 * 1024;

fn form_names(form: &JsValue) -> ApiResult<Vec<String>> {
    let keys = js_sys::Reflect::get(form, &"keys".into())
        .and_then(|f| js_sys::Function::from(f).call0(form))
        .map_err(|_| ApiError::internal("FormData.keys failed"))?;
    let mut out = BTreeSet::new();
    if let Ok(Some(it)) = js_sys::try_iter(&keys) {
        for k in it.flatten() {
            if let Some(s) = k.as_string() {
                out.insert(s);
            }
        }
    }
    Ok(out.into_iter().collect())
}

pub(super) async fn read_form(req: &mut Request, limit: usize) -> ApiResult<(FormData, Vec<String>)> {
    if let Ok(Some(len)) = req.headers().get("content-length") {
        if len.trim().parse::<u64>().map(|n| n > limit as u64).unwrap_or(false) {
            return Err(ApiError::PayloadTooLarge { what: "Request body".into(), limit: limit as u64 });
        }
    }
    let form = req.form_data().await.map_err(|_| ApiError::bad("body", "must be multipart/form-data"))?;
    let js: JsValue = form.into();
    let names = form_names(&js)?;
    Ok((FormData::from(js), names))
}

/// One part's text (wrangler sends base64 text parts).
async fn part_text(hash: &str, e: FormEntry) -> ApiResult<String> {
    let (bytes, _) = entry_bytes(e).await?;
    String::from_utf8(bytes).map_err(|_| ApiError::bad(hash, "must be base64 text"))
}

pub(super) async fn entry_bytes(e: FormEntry) -> ApiResult<(Vec<u8>, String)> {
    match e {
        FormEntry::Field(s) => Ok((s.into_bytes(), String::new())),
        FormEntry::File(f) => {
            let ct = f.type_();
            Ok((f.bytes().await.map_err(internal)?, ct))
        }
    }
}

/// `POST /workers/assets/upload?base64=true`: one bucket, authorised by the session's upload
/// JWT. Every part is checked against wrangler's hash before anything is written; the parts go
/// through wasm one at a time (the form itself stays in JS), so an invocation holds about one
/// part's text and body, never a bucket's (`deploy::store_in_waves`).
pub(super) async fn upload(req: &mut Request, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let secret = jwt_secret(ctx)?;
    let auth = req.headers().get("authorization").ok().flatten();
    let token =
        bearer_token(auth.as_deref()).ok_or_else(|| ApiError::unauthorized("An upload token is required"))?;
    let claims = verify_any_project(&secret, token, TokenKind::Upload, now_ms())?;
    ctx.note.borrow_mut().principal = Some(claims.prn.clone());
    let project = load(&D1Projects::new(ctx.env)?, &claims.pid)
        .await
        .map_err(|_| ApiError::unauthorized("Token was issued for a project that no longer exists"))?;
    ctx.note(&project.id, json!({ "sessionId": claims.sid }));
    if !D1Access::new(ctx.env)?.principal_live(&claims.prn, now_ms() as i64).await? {
        return Err(ApiError::unauthorized(
            "The API token that opened this upload session is no longer valid",
        ));
    }
    let manifest: WranglerManifest = R2Blobs::new(ctx.env)?
        .get_json(&wrangler_manifest_key(&project.id, &claims.sid))
        .await?
        .ok_or_else(|| ApiError::bad("jwt", "its upload session no longer exists; deploy again"))?;
    let unique = wrangler_unique(&manifest);
    let (form, names) = read_form(req, MAX_BUCKET_BODY).await?;
    if names.is_empty() {
        return Err(ApiError::bad("body", "must hold at least one file part"));
    }
    check_upload_keys(names.len())?;
    // Every part is checked before anything is written, one at a time: its text against
    // wrangler's hash, then decoded for its size and SHA-256, and dropped. Only (hash, sha,
    // size) is kept; the bodies are decoded again below, a wave at a time.
    let mut checked: Vec<(String, String, i64)> = Vec::with_capacity(names.len());
    for hash in &names {
        let Some(entry) = form.get(hash) else { continue };
        let body = verify_part(&unique, hash, &part_text(hash, entry).await?)?;
        checked.push((hash.clone(), ContentHash::of(&body).as_str().to_string(), body.len() as i64));
    }
    // The lease first (GC's live claim on any body refuses the request, 503 and retryable),
    // then which bodies are stored: a row under no claim proves its body.
    let uploads = D1Uploads::new(ctx.env)?;
    let leased: Vec<(&str, i64)> = checked.iter().map(|(_, sha, size)| (sha.as_str(), *size)).collect();
    let guarded_at = now_ms() as i64;
    uploads.guard_store(&project.id, &leased, guarded_at).await?;
    let sha_refs: Vec<&str> = leased.iter().map(|(sha, _)| *sha).collect();
    let stored = uploads.stored_hashes(&project.id, &sha_refs).await?;
    let mut todo: Vec<(usize, u64)> = Vec::new();
    for (i, (_, sha, size)) in checked.iter().enumerate() {
        // One put per body, even if two parts of the bucket carry it.
        if !stored.contains(sha) && !checked[..i].iter().any(|(_, s, _)| s == sha) {
            todo.push((i, *size as u64));
        }
    }
    let kv = KvAssets::new(ctx.env)?;
    let read = |i: &usize| {
        let (hash, form, unique) = (&checked[*i].0, &form, &unique);
        async move {
            let entry = form.get(hash).ok_or_else(|| ApiError::internal("form part vanished"))?;
            verify_part(unique, hash, &part_text(hash, entry).await?)
        }
    };
    let put = |i: &usize, body: Vec<u8>| {
        let (kv, project_id, sha) = (&kv, project.id.as_str(), checked[*i].1.as_str());
        async move {
            kv.put(project_id, sha, &body, &AssetMeta { size: body.len() as u64, content_type: None }).await
        }
    };
    store_in_waves(&todo, super::uploads::KV_PUTS_IN_FLIGHT, WAVE_BYTES, read, put).await?;
    drop(form);
    // Recorded only after the bodies are in KV: a crash in between means a harmless re-upload.
    let store = D1Wrangler::new(ctx.env)?;
    store.record(&project.id, &checked, guarded_at, now_ms() as i64).await?;
    let held = super::uploads::wasm_memory_bytes();
    ctx.note(
        &project.id,
        json!({ "sessionId": claims.sid, "files": checked.len(), "wasmMemoryBytes": held }),
    );
    let hashes: Vec<&str> = unique.keys().copied().collect();
    let known = store.known(&project.id, &hashes, false).await?;
    if known.len() < hashes.len() {
        return respond(202, &cf_success(json!({})));
    }
    let ttl = crate::platform::bindings::token_ttl_secs(ctx.env);
    let jwt =
        issue_token(&secret, TokenKind::Completion, &project.id, &claims.sid, &claims.prn, now_ms(), ttl)?;
    respond(201, &cf_success(json!({ "jwt": jwt })))
}

/// The native manifest (SHA-256 addresses) for a finished wrangler upload, and its session id.
pub(super) async fn native_manifest(
    project: &ProjectRow,
    jwt: &str,
    ctx: &Ctx<'_>,
) -> ApiResult<(crate::deploy::UploadManifest, String)> {
    let claims = verify_token(&jwt_secret(ctx)?, jwt, TokenKind::Completion, &project.id, now_ms())?;
    if claims.prn != ctx.principal.id() {
        return Err(ApiError::Forbidden {
            reason: "This upload was started by another principal; only it can deploy it".into(),
        });
    }
    let manifest: WranglerManifest = R2Blobs::new(ctx.env)?
        .get_json(&wrangler_manifest_key(&project.id, &claims.sid))
        .await?
        .ok_or_else(|| ApiError::bad("assets.jwt", "its upload session no longer exists; deploy again"))?;
    let hashes: Vec<&str> = wrangler_unique(&manifest).keys().copied().collect();
    let known = D1Wrangler::new(ctx.env)?.known(&project.id, &hashes, false).await?;
    let mut native = serde_json::Map::new();
    for (path, e) in &manifest {
        let sha = known.get(&e.hash).ok_or_else(|| {
            ApiError::bad("assets.jwt", format!("the upload is incomplete: {path} is missing"))
        })?;
        native.insert(path.clone(), json!({ "hash": sha, "size": e.size }));
    }
    // An assets directory with nothing to upload (empty, or all in `.assetsignore`, as Astro's
    // `dist/` for a site without public files) is no assets, as on Cloudflare.
    if native.is_empty() {
        return Ok((Default::default(), claims.sid));
    }
    Ok((parse_upload_manifest(Some(&Value::Object(native)))?, claims.sid))
}
