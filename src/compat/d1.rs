//! wrangler's D1 calls at `/client/v4/accounts/:a/d1/database...`, pure: the request bodies and
//! Cloudflare's answers as wrangler 4.164 reads them. `d1_databases` without an id on a first
//! deploy: `GET /d1/database/:name` (404, code 7404) -> `GET /d1/database?per_page=1000&page=1`
//! -> `POST /d1/database {name}` (reads `uuid`), then the script metadata binds `{type: "d1",
//! name, id}`; a redeploy reads it back from `…/settings`, sends `inherit` and checks `GET
//! /d1/database/:uuid`. `wrangler d1 create|list|info|delete`; `wrangler d1 execute <db> --remote
//! --command` -> `GET /d1/database/<name>?fields=uuid,name` then `POST /d1/database/:uuid/query
//! {sql, params?}` (so do `d1 migrations apply --remote`'s calls). A name resolves only among
//! the caller's own databases, an id among those it reaches. Every statement goes through
//! `storage::sql`, the binding's rules.

use serde_json::{json, Value};

use crate::domain::ResourceRow;
use crate::error::ApiError;
use crate::storage::sql::{self, Query};

/// D1's code for a database it does not find.
pub const CF_D1_NOT_FOUND: u32 = 7404;
/// D1's code for a name that already exists.
pub const CF_D1_EXISTS: u32 = 7502;
/// D1's code for a failed query.
pub const CF_D1_QUERY: u32 = 7500;

/// A database as D1's API shows it (`uuid` is our id; `file_size` when it was read).
pub fn cf_database(r: &ResourceRow, file_size: Option<u64>) -> Value {
    json!({
        "uuid": r.id,
        "name": r.title,
        "created_at": crate::domain::iso8601(r.created_at.max(0) as u64),
        "version": "production",
        "num_tables": Value::Null,
        "file_size": file_size,
    })
}

/// `POST /d1/database {name, primary_location_hint?, jurisdiction?}`: the name, as
/// `/__api/sql/databases` takes it (location hints mean nothing here and are ignored).
pub fn parse_create(body: &[u8]) -> Result<String, ApiError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::bad("body", "must be a JSON object"))?;
    let name = v.get("name").and_then(Value::as_str).ok_or_else(|| ApiError::bad("name", "is required"))?;
    crate::domain::parse_create_database(json!({ "name": name }).to_string().as_bytes())
}

/// `POST /d1/database/:id/query {sql, params?}`: one query per statement of `sql` (parameters
/// only with a single statement, as D1 says), checked by the binding's rules when planned.
pub fn parse_query(body: &[u8]) -> Result<Vec<Query>, ApiError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::bad("body", "must be a JSON object"))?;
    let text = v.get("sql").and_then(Value::as_str).ok_or_else(|| ApiError::bad("sql", "is required"))?;
    let params = match v.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(sql::param)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::bad("params", e.message))?,
        Some(_) => return Err(ApiError::bad("params", "must be an array")),
    };
    let statements = sql::split(text);
    if statements.len() > 1 && !params.is_empty() {
        return Err(ApiError::bad("params", "can only be used with a single SQL statement"));
    }
    if statements.is_empty() {
        return Err(ApiError::bad("sql", "No SQL statements detected."));
    }
    Ok(statements.into_iter().map(|s| Query { sql: s.to_string(), params: params.clone() }).collect())
}

/// The largest SQL file `wrangler d1 execute --file --remote` may upload (it runs as one
/// transaction in the database's object).
pub const MAX_IMPORT_BYTES: usize = 8 * 1024 * 1024;

/// `POST /d1/database/:id/import`, wrangler's `execute --file`: `init` asks where to upload a
/// file with this MD5, `ingest` runs it once uploaded, `poll` asks after a run (ours finish
/// within `ingest`, so there is never one to ask after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportAction {
    Init { etag: String },
    Ingest { etag: String },
    Poll,
}

pub fn parse_import(body: &[u8]) -> Result<ImportAction, ApiError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::bad("body", "must be a JSON object"))?;
    let etag = || {
        v.get("etag")
            .and_then(Value::as_str)
            .filter(|e| e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| ApiError::bad("etag", "must be the file's MD5 (32 hex digits)"))
    };
    match v.get("action").and_then(Value::as_str) {
        Some("init") => Ok(ImportAction::Init { etag: etag()? }),
        Some("ingest") => Ok(ImportAction::Ingest { etag: etag()? }),
        Some("poll") => Ok(ImportAction::Poll),
        _ => Err(ApiError::bad("action", "must be one of init, ingest, poll")),
    }
}

/// The statements of an uploaded SQL file (no parameters), checked by the binding's rules when
/// planned.
pub fn file_queries(text: &str) -> Result<Vec<Query>, ApiError> {
    let statements = sql::split(text);
    if statements.is_empty() {
        return Err(ApiError::bad("file", "No SQL statements detected."));
    }
    Ok(statements.into_iter().map(|s| Query { sql: s.to_string(), params: Vec::new() }).collect())
}

/// What `ingest` answers once the file ran: `status: complete` with D1's summary (its
/// `result`, read by wrangler: `num_queries`, `final_bookmark`, `meta`).
pub fn import_complete(results: &[Value]) -> Value {
    let sum = |k: &str| results.iter().filter_map(|r| r["meta"][k].as_f64()).sum::<f64>();
    let size_after = results.last().and_then(|r| r["meta"]["size_after"].as_u64()).unwrap_or(0);
    json!({
        "success": true,
        "status": "complete",
        "type": "import",
        "messages": [format!("Executed {} statements in one transaction.", results.len())],
        "result": {
            "num_queries": results.len(),
            // There are no bookmarks (point-in-time restore) here; wrangler prints it.
            "final_bookmark": "none",
            "meta": { "duration": sum("duration"), "rows_read": sum("rows_read") as u64,
                      "rows_written": sum("rows_written") as u64, "changes": sum("changes") as u64,
                      "size_after": size_after },
        },
    })
}

/// An import that did not run (nothing changed: it is one transaction); wrangler prints `error`.
pub fn import_failed(error: &str) -> Value {
    json!({ "success": false, "status": "error", "type": "import", "error": error, "messages": [] })
}

/// The `result` of a query call: one D1 result per statement, rows as objects.
pub fn query_result(results: &[Value]) -> Value {
    Value::Array(results.iter().map(sql::to_objects).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bodies_split_into_checked_statements() {
        let q = parse_query(br#"{"sql":"CREATE TABLE t (a); INSERT INTO t VALUES ('x;y');"}"#).unwrap();
        assert_eq!(
            q.iter().map(|q| q.sql.as_str()).collect::<Vec<_>>(),
            ["CREATE TABLE t (a)", "INSERT INTO t VALUES ('x;y')"]
        );
        let one = parse_query(br#"{"sql":"SELECT ?","params":[1,"a",null,true]}"#).unwrap();
        assert_eq!(one[0].params.len(), 4);
        assert!(parse_query(br#"{"sql":"SELECT 1; SELECT ?","params":[1]}"#).is_err());
        assert!(parse_query(br#"{"sql":"  "}"#).is_err());
        assert!(parse_query(br#"{"params":[]}"#).is_err());
        assert!(parse_query(br#"{"sql":"SELECT ?","params":[{"a":1}]}"#).is_err());
        // Refusals come when the list is planned, with the binding's text.
        let bad = parse_query(br#"{"sql":"SELECT 1; ATTACH 'x' AS y"}"#).unwrap();
        assert_eq!(sql::plan(&bad, 1).unwrap_err().1, sql::NOT_AUTHORIZED);
    }

    #[test]
    fn import_actions_parse_and_summaries_add_up() {
        let md5 = "0123456789ABCDEF0123456789abcdef";
        assert_eq!(
            parse_import(format!(r#"{{"action":"init","etag":"{md5}"}}"#).as_bytes()).unwrap(),
            ImportAction::Init { etag: md5.to_ascii_lowercase() }
        );
        assert_eq!(
            parse_import(format!(r#"{{"action":"ingest","etag":"{md5}","filename":"x.sql"}}"#).as_bytes())
                .unwrap(),
            ImportAction::Ingest { etag: md5.to_ascii_lowercase() }
        );
        assert_eq!(parse_import(br#"{"action":"poll","current_bookmark":"b"}"#).unwrap(), ImportAction::Poll);
        for bad in [
            &br#"{"action":"init"}"#[..],
            br#"{"action":"init","etag":"../x"}"#,
            br#"{"action":"nope"}"#,
            b"[]",
            b"{",
        ] {
            assert!(parse_import(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let r = |read: u64, written: u64, size: u64| json!({ "meta": { "duration": 0.5, "rows_read": read, "rows_written": written, "changes": written, "size_after": size } });
        let done = import_complete(&[r(1, 2, 100), r(3, 4, 200)]);
        assert_eq!(done["success"], true);
        assert_eq!(done["status"], "complete");
        assert_eq!(done["result"]["num_queries"], 2);
        assert_eq!(done["result"]["meta"]["rows_read"], 4);
        assert_eq!(done["result"]["meta"]["rows_written"], 6);
        assert_eq!(done["result"]["meta"]["size_after"], 200);
        assert_eq!(done["result"]["meta"]["duration"], 1.0);
        assert_eq!(import_failed("no such table: x")["error"], "no such table: x");
        let q = file_queries("-- a dump\nCREATE TABLE t (a);\nINSERT INTO t VALUES ('1;2');\n").unwrap();
        assert_eq!(q.len(), 2);
        assert!(file_queries("  -- nothing\n").is_err());
    }

    #[test]
    fn databases_look_like_d1s() {
        let r = ResourceRow {
            id: "0123456789abcdef0123456789abcdef".into(),
            kind: "sql".into(),
            title: "app".into(),
            created_by: "root".into(),
            created_at: 0,
        };
        let v = cf_database(&r, Some(8192));
        assert_eq!(v["uuid"], r.id);
        assert_eq!(v["name"], "app");
        assert_eq!(v["file_size"], 8192);
        assert_eq!(parse_create(br#"{"name":" app ","primary_location_hint":"weur"}"#).unwrap(), "app");
        assert!(parse_create(br#"{"name":""}"#).is_err());
        let res = query_result(&[
            json!({"success": true, "meta": {}, "results": {"columns": ["n"], "rows": [[1]]}}),
        ]);
        assert_eq!(res, json!([{"success": true, "meta": {}, "results": [{"n": 1}]}]));
    }
}
