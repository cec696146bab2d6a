//! The wrangler-compatible surface at `/client/v4` (pure): Cloudflare's response envelope, the
//! route table, wrangler's asset hash and manifest, the script upload metadata mapped onto
//! a native deploy request, and the deployment and version history wrangler sees. The thin handlers are in `api/cf.rs`.
//!
//! What wrangler 4.164 calls (observed against a logging server, in this order):
//!
//! `wrangler deploy` (assets only): `GET /accounts/:a/workers/services/:name` (404 + code 10090
//! means "new Worker") · `GET /accounts/:a/workers/subdomain` · `GET .../scripts/:name/deployments`
//! · `POST .../scripts/:name/assets-upload-session {manifest: {"/path": {hash, size}}}` (answer
//! `{jwt, buckets}`) · per bucket `POST /accounts/:a/workers/assets/upload?base64=true` (multipart,
//! one part per hash whose body is the file's base64 text, `Authorization: Bearer <upload jwt>`;
//! the response of the last bucket carries the completion `jwt`) · `PUT .../scripts/:name?
//! excludeScript=true&bindings_inherit=strict` (multipart: a `metadata` JSON part
//! `{assets: {jwt, config}, compatibility_date, compatibility_flags}`) · `GET
//! .../workers/workers/:name` · `GET .../workers/subdomain` · `POST .../scripts/:name/subdomain
//! {enabled: true}`.
//!
//! `wrangler deploy` (Worker + assets) adds `GET .../scripts/:name/secrets` after the services
//! call and `GET .../scripts/:name/settings` before the PUT, whose metadata then also holds
//! `main_module`, `bindings` (`plain_text`, `json`, `assets`, ...), `keep_bindings:
//! ["secret_text", "secret_key"]`, `code_update_strategy`, `assets.config.{html_handling,
//! not_found_handling, run_worker_first, _redirects, _headers}`, followed by one part per module
//! (`application/javascript+module`, `text/plain`, ... and `application/source-map` for maps).
//!
//! `wrangler secret put` -> `PUT .../scripts/:name/secrets {name, text, type: "secret_text"}`;
//! `secret list` -> `GET .../secrets`; `secret delete` -> `DELETE .../secrets/:secret`;
//! `deployments list` -> `GET .../scripts/:name/deployments` then `GET .../versions/:id` each;
//! `versions list` -> `GET .../versions?deployable=true`; `rollback [id]` -> `GET
//! .../deployments`, `GET .../versions/:id`, `POST .../deployments {strategy: "percentage",
//! versions: [{version_id, percentage: 100}], annotations}`; `versions upload` -> `POST
//! .../scripts/:name/versions` (multipart, as deploy; the version does not go live);
//! `versions deploy <a>@10% <b>@90% -y` -> `GET .../deployments`, `GET .../versions/:id` each,
//! `GET .../versions?deployable=true`, then `POST .../deployments {strategy: "percentage",
//! versions: [{version_id, percentage}, ...]}` (two versions: a held rollout split, see
//! `deployments::traffic_action`); `deployments status` -> `GET .../deployments` and the
//! versions of the first; `delete` -> `GET
//! .../scripts/:name/references`, `GET .../workers/tails/by-consumer/:name`, `DELETE
//! .../workers/services/:name?force=false`, `GET .../storage/kv/namespaces`. With no account id
//! wrangler first calls `GET /accounts`; `whoami` calls `GET /user/tokens/verify`.
//!
//! KV (`kv_namespaces`): a first deploy without an id lists `GET .../storage/kv/namespaces?
//! per_page=100&order=title&direction=asc&page=1` and, without a namespace titled
//! `<worker>-<binding in lower case>`, creates one with `POST .../storage/kv/namespaces {title}`,
//! then sends `{type: "kv_namespace", name, namespace_id}`; a redeploy reads `GET .../settings`
//! and sends `{name, type: "inherit"}`. `kv key put|get|delete` -> `PUT|GET|DELETE
//! .../storage/kv/namespaces/:id/values/:key` (PUT multipart `value` + `metadata` with
//! `--metadata`, `?expiration_ttl=` with `--ttl`); `kv key list` -> `GET .../:id/keys?prefix=`
//! (follows `result_info.cursor`); `kv bulk put|delete` -> `PUT|DELETE .../:id/bulk` (JSON, 1000
//! entries a request). `--binding X` resolves the id through `GET .../settings`.
//!
//! R2 (`r2_buckets`, src/api/cf_r2.rs): a first deploy checks `GET .../r2/buckets/:name` (404
//! with code 10006 = create), lists `GET .../r2/buckets` (`result.buckets`) and creates with
//! `POST .../r2/buckets {name}` (sent as text/plain), then sends `{type: "r2_bucket", name,
//! bucket_name}`; a redeploy reads `GET .../settings` (`bucket_name`). `r2 object put|get|delete
//! <b>/<key> --remote` -> `PUT|GET|DELETE .../r2/buckets/:b/objects/<key>` (the key unencoded,
//! slashes and all; raw bodies; PUT carries `content-type`, `content-length` and the other HTTP
//! metadata headers, and needs a response body).
//! D1 (`d1_databases`, `wrangler d1 create|list|info|delete|execute --remote --command`): the
//! calls and shapes are in `d1.rs`.

mod assets;
mod d1;
mod deployments;
mod envelope;
mod kv;
mod names;
mod r2;
#[cfg(test)]
mod robustness_tests;
mod routes;
mod script;
mod secrets;

pub use assets::*;
pub use d1::*;
pub use deployments::*;
pub use envelope::*;
pub use kv::*;
pub use names::*;
pub use r2::*;
pub use routes::*;
pub use script::*;
pub use secrets::*;
