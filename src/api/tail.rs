//! `GET /__api/projects/:id/tail`: the project's server code runs as they happen (issue 29),
//! as Server-Sent Events, one `data:` event per run in the shape of `GET .../logs` (with `id`
//! null). The filters are src/observe/tail.rs; the stream itself is held by the project's
//! TailHub object (src/js/main.mjs), which caps viewers and drops slow ones.

use worker::{Method, Request, RequestInit, Response};

use super::{internal, query_pairs, Ctx};
use crate::error::{ApiError, ApiResult};
use crate::observe::{parse_tail_filter, MAX_VIEWERS};
use crate::platform::jobs::tail::hub;
use crate::platform::store::d1::D1Projects;

pub async fn open(req: &Request, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let filter = parse_tail_filter(&query_pairs(req))?;
    let project = super::projects::load(&D1Projects::new(ctx.env)?, key).await?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(
        serde_json::to_string(&filter).map_err(|e| ApiError::internal(e.to_string()))?.into(),
    ));
    let viewer = Request::new_with_init("https://tail-hub/viewer", &init).map_err(internal)?;
    let resp = hub(ctx.env, &project.id)?.fetch_with_request(viewer).await.map_err(internal)?;
    match resp.status_code() {
        200 => Ok(resp),
        429 => Err(ApiError::TooManyRequests {
            retry_after_secs: 10,
            reason: format!("this project already has {MAX_VIEWERS} live tail viewers"),
        }),
        s => Err(ApiError::internal(format!("tail object answered {s}"))),
    }
}
