//! The SQL binding server code gets (issue 27): one SQLite Durable Object per database
//! (`TENANT_SQL`, class `TenantSqlDatabase` in src/js/main.mjs, `idFromName(databaseId)`). A
//! class exported by the full build (`TenantSqlStore`), which the `TenantSql` entrypoint
//! constructs with its `env` and the database id from its props: statements are checked and
//! planned by src/storage/sql.rs, run by the object in one transaction, and its answer shaped
//! into D1's results and errors there too. A database deleted through the API stops answering
//! (checked in D1, cached briefly, as for KV namespaces).

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use worker::Env;

use crate::domain::KIND_SQL;
use crate::error::{ApiError, ApiResult};
use crate::platform::bindings::now_ms;
use crate::platform::store::d1_resources::D1Resources;
use crate::platform::store::js::call;
use crate::storage::sql::{self, SqlError};

/// The Durable Object namespace binding (wrangler.toml).
pub const TENANT_SQL: &str = "TENANT_SQL";

/// How long an isolate trusts "this database is live" (ms), as for KV namespaces.
const LIVE_TTL_MS: f64 = 30_000.0;

thread_local! {
    static LIVE: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
}

/// Drops this isolate's "live" mark for a database (the delete handler calls it).
pub fn forget(id: &str) {
    LIVE.with(|l| l.borrow_mut().remove(id));
}

fn js_err(e: SqlError) -> JsValue {
    js_sys::Error::new(&e.message).into()
}

/// The database's object stub.
fn stub(env: &JsValue, id: &str) -> Result<JsValue, JsValue> {
    let ns = Reflect::get(env, &TENANT_SQL.into())?;
    if ns.is_undefined() {
        return Err(js_sys::Error::new("the platform has no TENANT_SQL binding").into());
    }
    let oid = call(&ns, "idFromName", &[id.into()])?;
    call(&ns, "get", &[oid])
}

/// Calls `method` of the database's object and awaits it.
async fn on_object(env: &JsValue, id: &str, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let p: Promise = call(&stub(env, id)?, method, args)?.unchecked_into();
    JsFuture::from(p).await
}

fn api_err(what: &str, e: JsValue) -> ApiError {
    let detail = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_default();
    ApiError::internal(format!("TENANT_SQL {what}: {detail}"))
}

/// Removes every table and row of a deleted database (one call; `deleteAll` is atomic).
pub async fn destroy(env: &Env, id: &str) -> ApiResult<()> {
    let env: &JsValue = env.as_ref();
    on_object(env, id, "destroy", &[]).await.map_err(|e| api_err("destroy", e))?;
    Ok(())
}

/// Runs a checked plan (src/storage/sql.rs `plan`) in the database's object: its JSON answer.
pub async fn run_plan(env: &Env, id: &str, plan: String) -> ApiResult<String> {
    let env: &JsValue = env.as_ref();
    let v = on_object(env, id, "run", &[plan.into()]).await.map_err(|e| api_err("run", e))?;
    Ok(v.as_string().unwrap_or_default())
}

/// The database's size in bytes.
pub async fn size(env: &Env, id: &str) -> ApiResult<u64> {
    let env: &JsValue = env.as_ref();
    let v = on_object(env, id, "size", &[]).await.map_err(|e| api_err("size", e))?;
    Ok(v.as_f64().unwrap_or(0.0) as u64)
}

#[wasm_bindgen]
pub struct TenantSqlStore {
    env: JsValue,
    id: String,
    max: u64,
}

impl TenantSqlStore {
    /// Refuses with D1's text for a missing database once it is deleted.
    async fn ensure_live(env: &Env, id: &str) -> Result<(), JsValue> {
        let now = now_ms() as f64;
        if LIVE.with(|l| l.borrow().get(id).is_some_and(|t| now - *t < LIVE_TTL_MS)) {
            return Ok(());
        }
        let internal = |e: ApiError| JsValue::from(js_sys::Error::new(&e.log_detail()));
        let live = crate::domain::is_resource_id(id)
            && D1Resources::new(env).map_err(internal)?.is_live(KIND_SQL, id).await.map_err(internal)?;
        if !live {
            return Err(js_err(SqlError::d1("no such database: it was deleted")));
        }
        LIVE.with(|l| l.borrow_mut().insert(id.to_string(), now));
        Ok(())
    }

    /// Runs a checked plan; the object's answer as D1 results, or (index, message).
    async fn run(
        env: JsValue,
        id: String,
        plan: String,
        max: u64,
    ) -> Result<Result<Vec<serde_json::Value>, (usize, String)>, JsValue> {
        Self::ensure_live(env.unchecked_ref(), &id).await?;
        let answer = on_object(&env, &id, "run", &[plan.into()]).await?;
        Ok(sql::results(&answer.as_string().unwrap_or_default(), max))
    }
}

fn to_js(v: &serde_json::Value) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(&v.to_string())
}

#[wasm_bindgen]
impl TenantSqlStore {
    #[wasm_bindgen(constructor)]
    pub fn new(env: JsValue, database_id: String) -> TenantSqlStore {
        let var = Reflect::get(&env, &"SQL_DB_MAX_BYTES".into()).ok().and_then(|v| v.as_string());
        TenantSqlStore { max: sql::max_bytes(var.as_deref()), env, id: database_id }
    }

    /// `[{sql, params}]` -> D1's per-query results (`{success, meta, results: {columns, rows}}`),
    /// all statements in one transaction; the first failure rolls all back and rejects with
    /// D1's `D1_ERROR: ...`.
    pub fn query(&self, queries: JsValue) -> Promise {
        let (env, id, max) = (self.env.clone(), self.id.clone(), self.max);
        future_to_promise(async move {
            let text = js_sys::JSON::stringify(&queries).ok().and_then(|s| s.as_string()).unwrap_or_default();
            let queries = sql::parse_queries(&text).map_err(js_err)?;
            let plan = sql::plan(&queries, max).map_err(|(_, e)| js_err(SqlError::d1(e)))?;
            match Self::run(env, id, plan, max).await? {
                Ok(results) => to_js(&serde_json::Value::Array(results)),
                Err((_, e)) => Err(js_err(SqlError::d1(e))),
            }
        })
    }

    /// D1's `exec(sql)`: each line one query, `{count, duration}`; `D1_EXEC_ERROR: ...` on failure.
    pub fn exec(&self, text: String) -> Promise {
        let (env, id, max) = (self.env.clone(), self.id.clone(), self.max);
        future_to_promise(async move {
            let queries = sql::exec_queries(&text);
            let plan = sql::plan(&queries, max).map_err(|(i, e)| js_err(sql::exec_error(&queries, i, &e)))?;
            match Self::run(env, id, plan, max).await? {
                Ok(results) => to_js(&sql::exec_result(&results)),
                Err((i, e)) => Err(js_err(sql::exec_error(&queries, i, &e))),
            }
        })
    }
}
