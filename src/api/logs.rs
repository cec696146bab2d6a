//! `GET /__api/projects/:id/logs`: the kept invocation logs of a project's server code (issue
//! 29), newest first, filtered by time, deployment, status class, errors and text. The query
//! rules are src/observe/logs.rs; the rows come from the InvocationTail capture.

use serde_json::json;
use worker::{Request, Response};

use super::{internal, query_pairs, Ctx};
use crate::error::ApiResult;
use crate::observe::parse_log_query;
use crate::platform::http;
use crate::platform::store::d1::D1Projects;
use crate::platform::store::d1_logs::D1Logs;

pub async fn list(req: &Request, key: &str, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let q = parse_log_query(&query_pairs(req))?;
    let project = super::projects::load(&D1Projects::new(ctx.env)?, key).await?;
    let (logs, cursor) = D1Logs::new(ctx.env)?.query(&project.id, &q).await?;
    http::ok(200, json!({ "projectId": project.id, "count": logs.len(), "logs": logs, "cursor": cursor }))
        .map_err(internal)
}
