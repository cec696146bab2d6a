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
