//! After-response capture of server code runs (issue 29): the `InvocationTail` entrypoint
//! (src/js/main.mjs), handed to each loaded isolate as its tail with the project and deployment
//! in its props, calls this with the JSON text of its events. src/observe/logs.rs cuts them to
//! records; they are stored in one D1 batch, then handed to the project's TailHub object (live
//! viewers, `GET /__api/projects/:id/tail`), which answers at once when nobody watches, and to
//! the project's log drains (jobs/hooks.rs).
//! Failures go to the log, never to the visitor (the response is long gone).

use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use worker::js_sys::{Math, Promise};
use worker::{Env, Method, Request, RequestInit};

use crate::error::{ApiError, ApiResult};
use crate::observe::{records_from_tail, TailFilter};
use crate::platform::bindings;
use crate::platform::http::log;
use crate::platform::store::d1_logs::D1Logs;

/// A class rather than a function: worker-build's module re-exports only classes.
#[wasm_bindgen]
pub struct InvocationRecorder {
    env: Env,
}

#[wasm_bindgen]
impl InvocationRecorder {
    #[wasm_bindgen(constructor)]
    pub fn new(env: JsValue) -> InvocationRecorder {
        InvocationRecorder { env: env.unchecked_into() }
    }

    /// Stores the records of one `tail(events)` call (`events_json`: its array as JSON text)
    /// and hands them to the project's live viewers.
    pub fn record(&self, project_id: String, deployment_id: String, events_json: String) -> Promise {
        let env = self.env.clone();
        future_to_promise(async move {
            let records = records_from_tail(&events_json);
            if records.is_empty() || project_id.is_empty() {
                return Ok(JsValue::UNDEFINED);
            }
            let stored = async { D1Logs::new(&env)?.insert(&project_id, &deployment_id, &records).await };
            if let Err(e) = stored.await {
                log(
                    "error",
                    "tail",
                    json!({ "msg": "storing invocation logs failed", "projectId": project_id, "error": e.log_detail() }),
                );
            }
            let live: Vec<Value> = records.iter().map(|r| r.to_log_json(&deployment_id)).collect();
            if let Err(e) = publish(&env, &project_id, Value::Array(live).to_string()).await {
                log(
                    "error",
                    "tail",
                    json!({ "msg": "live tail not reached", "projectId": project_id, "error": e.log_detail() }),
                );
            }
            super::hooks::drain_logs(&env, &project_id, &deployment_id, &records).await;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// The project's TailHub object (one per project, `idFromName(projectId)`).
pub fn hub(env: &Env, project_id: &str) -> ApiResult<worker::Stub> {
    let ns = env.durable_object(bindings::TAIL_HUB).map_err(|e| ApiError::internal(e.to_string()))?;
    ns.id_from_name(project_id).and_then(|id| id.get_stub()).map_err(|e| ApiError::internal(e.to_string()))
}

/// One POST of a JSON array of /logs-shaped records; the object answers before reading it when
/// nobody watches.
async fn publish(env: &Env, project_id: &str, records_json: String) -> ApiResult<()> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(records_json.into()));
    let req = Request::new_with_init("https://tail-hub/publish", &init)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    hub(env, project_id)?.fetch_with_request(req).await.map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(())
}

/// One live viewer's filter, made by TailHub (src/js/main.mjs) from the viewer's filter JSON for
/// one publish and freed at once: JS never keeps a Rust object across awaits.
#[wasm_bindgen]
pub struct TailViewer {
    filter: TailFilter,
}

#[wasm_bindgen]
impl TailViewer {
    /// `filter_json`: the TailFilter the API validated (`GET /__api/projects/:id/tail`);
    /// unreadable JSON sees everything it is allowed to (it only ever comes from us).
    #[wasm_bindgen(constructor)]
    pub fn new(filter_json: String) -> TailViewer {
        TailViewer { filter: serde_json::from_str(&filter_json).unwrap_or_default() }
    }

    /// The SSE text to write to this viewer for `records_json` (empty: nothing).
    pub fn frames(&self, records_json: String) -> String {
        self.filter.frames(&records_json, Math::random)
    }

    /// The `trace-v1` messages (`wrangler tail`) for `records_json`, as a JSON array of texts.
    pub fn trace(&self, records_json: String, script_name: String) -> String {
        self.filter.trace_messages(&records_json, &script_name, Math::random)
    }
}
