//! Three-phase upload, phases 1 and 2: `assets-upload-session` (what is missing, in buckets
//! and as raw uploads, plus an upload JWT), `assets/upload` (verified base64 buckets into
//! ASSETS_KV) and `assets/raw/:hash` (one raw body, streamed and verified: into BLOBS above
//! 25 MiB, ASSETS_KV otherwise). Touches D1, ASSETS_KV and BLOBS (the session's manifest,
//! large bodies).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use worker::{Request, Response};

use super::projects::load;
use super::{internal, read_body, Ctx};
use crate::auth::{bearer_token, issue_token, session_span_ms, verify_token, TokenKind, UploadClaims};
use crate::deploy::UploadManifest;
use crate::deploy::{
    body_store, check_raw_length, check_upload_keys, content_types_by_hash, parse_upload_session_body,
    plan_uploads, store_in_waves, unique_hashes, BodyStore, Piece, RawProgress, BUCKET_MAX_BYTES,
    BUCKET_MAX_FILES, KV_MAX_FILE_BYTES, MAX_FILE_BYTES, RAW_PART_BYTES, WAVE_BYTES,
};
use crate::domain::{ContentHash, JsonObject, ProjectRow};
use crate::error::{ApiError, ApiResult};
use crate::keys::upload_manifest_key;
use crate::platform::bindings::{self, new_uuid, now_ms};
use crate::platform::http;
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_access::D1Access;
use crate::platform::store::d1_uploads::{D1Uploads, SessionRow};
use crate::platform::store::kv::{AssetMeta, KvAssets};
use crate::platform::store::r2::{PieceStored, R2Blobs};

/// A 20,000-file manifest is ~3 MB of JSON, a 100,000-file one ~14 MB (paths of ~20 bytes,
/// content types included); 32 MiB leaves room for longer paths.
const MAX_MANIFEST_BODY: usize = 32 * 1024 * 1024;
/// KV writes of one bucket in flight at once: Cloudflare lets an invocation hold six connections
/// open at a time (more would only queue), and one after the other a bucket of 200 small files
/// spent most of its time waiting on KV.
pub const KV_PUTS_IN_FLIGHT: usize = 6;
/// The largest bucket: one file of the largest size KV stores, base64-encoded, plus JSON
/// framing (larger files take the raw path).
const MAX_UPLOAD_BODY: usize = (KV_MAX_FILE_BYTES as usize) * 4 / 3 + 64 * 1024;

pub fn jwt_secret(ctx: &Ctx<'_>) -> ApiResult<Vec<u8>> {
    let s = bindings::secret(ctx.env, bindings::JWT_SECRET);
    if s.len() < 16 {
        return Err(ApiError::internal("JWT_SECRET is missing or shorter than 16 bytes"));
    }
    Ok(s.into_bytes())
}

pub async fn create_session(req: &mut Request, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let body = read_body(req, MAX_MANIFEST_BODY).await?;
    let manifest = parse_upload_session_body(&body)?;
    drop(body);
    let project = load(&D1Projects::new(ctx.env)?, key).await?;
    let opened = open_session(&project, &manifest, ctx).await?;
    ctx.note(
        &project.id,
        json!({ "sessionId": opened.session.id, "files": manifest.len(), "missing": opened.missing }),
    );
    http::ok(
        200,
        json!({
            "result": { "jwt": opened.jwt, "buckets": opened.buckets, "rawUploads": opened.raw },
            "sessionId": opened.session.id,
            "files": manifest.len(),
            "uniqueHashes": opened.unique,
            "missingHashes": opened.missing,
            "expiresInSeconds": bindings::token_ttl_secs(ctx.env),
        }),
    )
    .map_err(internal)
}

/// An upload session as opened: its row, what is missing (in buckets) and its JWT (the
/// completion token already when nothing is missing).
pub struct Opened {
    pub session: SessionRow,
    pub unique: usize,
    pub missing: usize,
    pub buckets: Vec<Vec<String>>,
    /// Hashes to send one by one to `PUT assets/raw/:hash` (too large for a bucket).
    pub raw: Vec<String>,
    pub jwt: String,
}

/// Per-deployment limits first (file count, total and largest size), then the upload-bytes
/// quota for what will actually be sent (`missing`): a refusal writes nothing. Shared by the
/// native and the wrangler-compatible upload sessions.
pub async fn admit_manifest(
    ctx: &Ctx<'_>,
    project_id: &str,
    sizes: impl Iterator<Item = u64>,
    missing: &[(String, u64)],
) -> ApiResult<()> {
    let quotas = ctx.quotas();
    let (mut files, mut total, mut largest) = (0u64, 0u64, 0u64);
    for size in sizes {
        files += 1;
        total = total.saturating_add(size);
        largest = largest.max(size);
    }
    quotas.check_manifest(files, total, largest)?;
    let sending = missing.iter().fold(0u64, |n, (_, s)| n.saturating_add(*s));
    if sending > 0 {
        ctx.consume(&quotas.upload_bytes, project_id, sending).await?;
    }
    Ok(())
}

/// Opens an upload session for a validated manifest (SHA-256 hashes): limits and the upload
/// quota first, so a refusal writes nothing; then the manifest to R2 and the rows to D1.
pub async fn open_session(
    project: &ProjectRow,
    manifest: &UploadManifest,
    ctx: &Ctx<'_>,
) -> ApiResult<Opened> {
    let secret = jwt_secret(ctx)?;
    let unique = unique_hashes(manifest);
    let uploads = D1Uploads::new(ctx.env)?;
    let hashes: Vec<&str> = unique.iter().map(|(h, _)| h.as_str()).collect();
    let stored = uploads.stored_hashes(&project.id, &hashes).await?;
    let missing: Vec<(String, u64)> = unique.iter().filter(|(h, _)| !stored.contains(h)).cloned().collect();
    admit_manifest(ctx, &project.id, manifest.values().map(|e| e.size), &missing).await?;
    let types = content_types_by_hash(manifest);
    let content_type_of = |hash: &str| types.get(hash).copied().flatten().map(str::to_string);

    let now = now_ms();
    let ttl = bindings::token_ttl_secs(ctx.env);
    let session = SessionRow {
        id: new_uuid(),
        project_id: project.id.clone(),
        manifest_key: String::new(),
        file_count: manifest.len() as i64,
        unique_count: unique.len() as i64,
        missing_count: missing.len() as i64,
        // No token of the session is accepted after its span, so nothing needs it after that.
        expires_at: now as i64 + session_span_ms(ttl),
        principal: ctx.principal.id().to_string(),
    };
    let session = SessionRow { manifest_key: upload_manifest_key(&project.id, &session.id), ..session };
    // The manifest goes to R2 first: a session row never points at a missing manifest.
    R2Blobs::new(ctx.env)?.put_json(&session.manifest_key, manifest).await?;
    let rows: Vec<(String, u64, Option<String>)> =
        missing.iter().map(|(h, s)| (h.clone(), *s, content_type_of(h))).collect();
    uploads.create_session(&session, &rows, now as i64).await?;

    let plan = plan_uploads(&missing, BUCKET_MAX_FILES, BUCKET_MAX_BYTES);
    let kind = if plan.is_empty() { TokenKind::Completion } else { TokenKind::Upload };
    let jwt = issue_token(&secret, kind, &project.id, &session.id, ctx.principal.id(), now, ttl)?;
    Ok(Opened {
        session,
        unique: unique.len(),
        missing: missing.len(),
        buckets: plan.buckets,
        raw: plan.raw,
        jwt,
    })
}

/// The project and claims of a request authorised by an upload session's JWT (not the admin
/// token), whose API token must still be live.
async fn upload_claims(
    req: &Request,
    key: &str,
    ctx: &Ctx<'_>,
) -> ApiResult<(Vec<u8>, ProjectRow, UploadClaims)> {
    let secret = jwt_secret(ctx)?;
    let auth = req.headers().get("authorization").ok().flatten();
    let token =
        bearer_token(auth.as_deref()).ok_or_else(|| ApiError::unauthorized("An upload token is required"))?;
    let project = load(&D1Projects::new(ctx.env)?, key).await.map_err(|e| match e {
        // Do not reveal which projects exist to a caller holding only an upload token.
        ApiError::NotFound { .. } => ApiError::unauthorized("Token was issued for a different project"),
        other => other,
    })?;
    let claims = verify_token(&secret, token, TokenKind::Upload, &project.id, now_ms())?;
    ctx.note.borrow_mut().principal = Some(claims.prn.clone());
    ctx.note(&project.id, json!({ "sessionId": claims.sid }));
    // The JWT outlives a revoked or expired API token only by the time it takes to check.
    if !D1Access::new(ctx.env)?.principal_live(&claims.prn, now_ms() as i64).await? {
        return Err(ApiError::unauthorized(
            "The API token that opened this upload session is no longer valid",
        ));
    }
    Ok((secret, project, claims))
}

/// The progress answer after bodies were stored: what remains, and the completion JWT once
/// nothing does.
async fn progress(
    secret: &[u8],
    ttl: i64,
    project: &ProjectRow,
    claims: &UploadClaims,
    uploads: &D1Uploads,
    mut result: Value,
) -> ApiResult<Response> {
    let remaining = uploads.remaining(&claims.sid).await?;
    result["remaining"] = json!(remaining);
    if remaining == 0 {
        result["jwt"] = json!(issue_token(
            secret,
            TokenKind::Completion,
            &project.id,
            &claims.sid,
            &claims.prn,
            now_ms(),
            ttl,
        )?);
    }
    http::ok(200, json!({ "result": result })).map_err(internal)
}

/// Authorised by the session's upload JWT (not the admin token). Every entry is checked
/// (decoded, sized and hashed, one at a time) before anything is written; then the bodies are
/// decoded again and stored a wave at a time (`deploy::store_in_waves`), each entry's text dropped as
/// it is decoded, so the invocation never holds a bucket's decoded bodies at once.
pub async fn upload(req: &mut Request, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let (secret, project, claims) = upload_claims(req, key, ctx).await?;
    let body = read_body(req, MAX_UPLOAD_BODY).await?;
    // Base64 needs no JSON escapes: each text borrows from the body rather than being copied
    // into a parsed tree (a 25 MiB file is 33 MiB of text; one copy of it, not two).
    let entries: BTreeMap<String, Text<'_>> =
        serde_json::from_slice(&body).map_err(|_| bucket_error(&body))?;
    let uploads = D1Uploads::new(ctx.env)?;
    let keys: Vec<String> = entries.keys().cloned().collect();
    if keys.is_empty() {
        return Err(ApiError::bad("body", "must map at least one hash to its base64 contents"));
    }
    check_upload_keys(keys.len())?;
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let files = uploads.session_files(&claims.sid, &key_refs).await?;

    // Verify everything before writing anything: a bad entry rejects the whole request. Each
    // entry is decoded, checked and dropped; the store below decodes it again, in its wave.
    let mut todo: Vec<(usize, u64)> = Vec::new();
    for (i, hash) in key_refs.iter().enumerate() {
        let Some(expected) = files.get(*hash) else {
            return Err(ApiError::bad(*hash, "is not a missing file of this upload session"));
        };
        let encoded = entries.get(*hash).map(|t| t.0.as_ref()).unwrap_or_default();
        if expected.uploaded_at.is_some() {
            continue; // a retried bucket: already stored, nothing to redo
        }
        if body_store(expected.size as u64) == BodyStore::Blobs {
            return Err(ApiError::bad(
                *hash,
                format!(
                    "is larger than {KV_MAX_FILE_BYTES} bytes: upload it alone with PUT assets/raw/{hash} \
                     (the session lists it in rawUploads)"
                ),
            ));
        }
        // Decoded and hashed here, and dropped at once: only its size is kept.
        let size = decode_verified(hash, encoded)?.len();
        if size as i64 != expected.size {
            return Err(ApiError::bad(
                *hash,
                format!("size mismatch: manifest says {} bytes, upload has {size}", expected.size),
            ));
        }
        todo.push((i, size as u64));
    }

    // GC's claim on any of them refuses the request (503, retryable) before a body is written.
    let guarded_at = now_ms() as i64;
    let leased: Vec<(&str, i64)> = todo.iter().map(|(i, s)| (key_refs[*i], *s as i64)).collect();
    uploads.guard_store(&project.id, &leased, guarded_at).await?;
    let kv = KvAssets::new(ctx.env)?;
    let texts = std::cell::RefCell::new(entries);
    let read = |i: &usize| {
        let hash = key_refs[*i];
        let text = texts.borrow_mut().remove(hash).map(|t| t.0).unwrap_or_default();
        std::future::ready(
            STANDARD.decode(text.as_bytes()).map_err(|_| ApiError::bad(hash, "is not valid base64")),
        )
    };
    let store = |i: &usize, bytes: Vec<u8>| {
        let hash = key_refs[*i];
        let meta = AssetMeta {
            size: bytes.len() as u64,
            content_type: files.get(hash).and_then(|f| f.content_type.clone()),
        };
        let (kv, project_id) = (&kv, project.id.as_str());
        async move { kv.put(project_id, hash, &bytes, &meta).await }
    };
    store_in_waves(&todo, KV_PUTS_IN_FLIGHT, WAVE_BYTES, read, store).await?;
    drop(texts);
    drop(body);
    // Marked only after the bodies are in KV: a crash in between means a harmless re-upload.
    uploads.mark_uploaded(&claims.sid, &project.id, &leased, guarded_at, now_ms() as i64).await?;
    let held = wasm_memory_bytes();
    ctx.note(&project.id, json!({ "sessionId": claims.sid, "files": todo.len(), "wasmMemoryBytes": held }));
    let result = json!({ "uploaded": todo.len(), "alreadyStored": keys.len() - todo.len() });
    progress(&secret, bindings::token_ttl_secs(ctx.env), &project, &claims, &uploads, result).await
}

/// A bucket entry's base64 text, borrowed from the request body when it has no escapes.
#[derive(serde::Deserialize)]
struct Text<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

/// What is wrong with a bucket body that is not a JSON object of strings.
fn bucket_error(body: &[u8]) -> ApiError {
    match JsonObject::parse(body, false) {
        Err(e) => e,
        Ok(o) => match o.keys().find(|k| !o.get(k).is_some_and(Value::is_string)) {
            Some(k) => ApiError::bad(k, "must be a base64 string"),
            None => ApiError::bad("body", "must map each hash to its base64 contents"),
        },
    }
}

/// One entry's bytes, verified against its hash.
fn decode_verified(hash: &str, text: &str) -> ApiResult<Vec<u8>> {
    let bytes = STANDARD.decode(text.as_bytes()).map_err(|_| ApiError::bad(hash, "is not valid base64"))?;
    if ContentHash::of(&bytes).as_str() != hash {
        return Err(ApiError::bad(hash, "SHA-256 of the uploaded bytes does not match the hash"));
    }
    Ok(bytes)
}

/// `PUT assets/raw/:hash`: one missing file of the session as the raw request body
/// (`application/octet-stream`, `Content-Length` = the manifest's size). Above 25 MiB the body
/// streams into BLOBS as a multipart upload, hashed on the way and completed only when the
/// SHA-256 matches (never held whole in memory); smaller bodies are read, verified and put in
/// ASSETS_KV like a one-file bucket. Authorised by the session's upload JWT.
pub async fn upload_raw(req: &mut Request, key: &str, hash: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    crate::domain::ContentHash::parse(hash).map_err(|e| ApiError::bad("hash", e.0))?;
    let (secret, project, claims) = upload_claims(req, key, ctx).await?;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let ct = header("content-type").unwrap_or_default();
    if ct.split(';').next().map(str::trim) != Some("application/octet-stream") {
        return Err(ApiError::bad("content-type", "must be application/octet-stream (the file's raw bytes)"));
    }
    let length = header("content-length");
    // Past the hard cap nothing is looked up or read.
    if let Some(n) = length.as_deref().and_then(|l| l.trim().parse::<u64>().ok()) {
        if n > MAX_FILE_BYTES {
            return Err(ApiError::PayloadTooLarge {
                what: "File size in bytes".into(),
                limit: MAX_FILE_BYTES,
            });
        }
    }
    let uploads = D1Uploads::new(ctx.env)?;
    let files = uploads.session_files(&claims.sid, &[hash]).await?;
    let Some(expected) = files.get(hash) else {
        return Err(ApiError::bad(hash, "is not a missing file of this upload session"));
    };
    let size = expected.size as u64;
    let piece = Piece::parse(header("content-range").as_deref(), size, RAW_PART_BYTES as u64)?;
    check_raw_length(length.as_deref(), piece.len(), MAX_FILE_BYTES)?;
    if expected.uploaded_at.is_some() {
        // A retried upload: already stored, nothing to redo (the body is not read).
        let done = json!({ "uploaded": 0, "alreadyStored": 1, "received": size, "size": size });
        return progress(&secret, bindings::token_ttl_secs(ctx.env), &project, &claims, &uploads, done).await;
    }
    // GC's claim on this body refuses the request (503, retryable) before a byte is written;
    // otherwise the lease keeps GC from claiming it until the body is recorded.
    let guarded_at = now_ms() as i64;
    uploads.guard_store(&project.id, &[(hash, size as i64)], guarded_at).await?;
    let content_type = expected.content_type.clone();
    match body_store(size) {
        BodyStore::Blobs => {
            let stored = RawProgress::parse(expected.raw_progress.as_deref(), RAW_PART_BYTES as u64);
            let received = stored.as_ref().map(|(_, m)| m.len()).unwrap_or(0);
            if piece.start > 0 && piece.start != received {
                return Err(ApiError::Conflict {
                    reason: format!(
                        "{hash}: {received} bytes were received so far; send the piece that starts there \
                         (Content-Range: bytes {received}-...)"
                    ),
                });
            }
            let body = req.stream().map_err(internal)?;
            let blobs = R2Blobs::new(ctx.env)?;
            let outcome = blobs.put_asset_piece(&project.id, hash, piece, stored, content_type, body).await?;
            match outcome {
                Ok(PieceStored::More(p)) => {
                    let text = serde_json::to_string(&p).map_err(|e| ApiError::internal(e.to_string()))?;
                    uploads.set_raw_progress(&claims.sid, hash, Some(&text)).await?;
                    let more =
                        json!({ "uploaded": 0, "alreadyStored": 0, "received": piece.end, "size": size });
                    return progress(
                        &secret,
                        bindings::token_ttl_secs(ctx.env),
                        &project,
                        &claims,
                        &uploads,
                        more,
                    )
                    .await;
                }
                Ok(PieceStored::Complete) => {}
                Err(e) => {
                    // A refused first or last piece took the upload with it: start again at 0.
                    if piece.start == 0 || piece.is_last() {
                        uploads.set_raw_progress(&claims.sid, hash, None).await?;
                    }
                    return Err(e);
                }
            }
        }
        BodyStore::Kv => {
            if piece != Piece::whole(size) {
                return Err(ApiError::bad(
                    "content-range",
                    "files up to 25 MiB are sent whole, in one request",
                ));
            }
            let bytes = read_body(req, size as usize).await?;
            if bytes.len() as u64 != size {
                return Err(ApiError::bad(
                    hash,
                    format!("size mismatch: manifest says {size} bytes, the body has {}", bytes.len()),
                ));
            }
            if ContentHash::of(&bytes).as_str() != hash {
                return Err(ApiError::bad(hash, "SHA-256 of the uploaded bytes does not match the hash"));
            }
            KvAssets::new(ctx.env)?.put(&project.id, hash, &bytes, &AssetMeta { size, content_type }).await?;
        }
    }
    // Marked only after the body is stored: a crash in between means a harmless re-upload.
    uploads
        .mark_uploaded(&claims.sid, &project.id, &[(hash, size as i64)], guarded_at, now_ms() as i64)
        .await?;
    if expected.raw_progress.is_some() {
        uploads.set_raw_progress(&claims.sid, hash, None).await?;
    }
    let done = json!({ "uploaded": 1, "alreadyStored": 0, "received": size, "size": size });
    progress(&secret, bindings::token_ttl_secs(ctx.env), &project, &claims, &uploads, done).await
}

/// The isolate's wasm memory (it only grows: the high-water mark so far), logged with each
/// bucket upload so the cost of large uploads shows in the request log.
pub fn wasm_memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size(0) as u64 * 65536;
    #[cfg(not(target_arch = "wasm32"))]
    0
}
