//! After-response capture of server code runs (issue 29): the `InvocationTail` entrypoint
//! (src/js/main.mjs), handed to each loaded isolate as its tail with the project and deployment
//! in its props, calls this with the JSON text of its events. src/observe/logs.rs cuts them to
//! records; they are stored in one D1 batch. Failures go to the log, never to the visitor (the
//! response is long gone).

use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use worker::js_sys::Promise;
use worker::Env;

use crate::observe::records_from_tail;
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

    /// Stores the records of one `tail(events)` call (`events_json`: its array as JSON text).
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
            super::hooks::drain_logs(&env, &project_id, &deployment_id, &records).await;
            Ok(JsValue::UNDEFINED)
        })
    }
}
