//! The rules of the SQL binding tenant code gets (issue 27), pure: which statements a tenant may
//! run, how a statement list becomes one atomic call of its database's SQLite Durable Object,
//! and how the object's answer becomes D1's result shape, `meta` and error texts.
//!
//! Each database is its own SQLite Durable Object (`idFromName(databaseId)`), so no statement can
//! name another tenant's data; what is refused here is what could reach past the tenant's own
//! tables inside that object: `ATTACH`/`DETACH`, `VACUUM`, `PRAGMA` outside a read-mostly
//! allow-list, transaction control (the object runs every list in one transaction itself), and any
//! name starting with `_cf_` (the runtime's tables) or `sqlite_` (SQLite's, except the schema
//! tables and a few harmless functions). The check works on tokens (strings, quoted identifiers
//! and comments are skipped as SQLite skips them), never on the raw text. Refusals read as the
//! runtime's own (`not authorized: SQLITE_AUTH`), behind D1's `D1_ERROR: ` prefix.
//!
//! The protocol with the object (src/js/main.mjs `TenantSqlDatabase`) is JSON both ways:
//! `{max, queries: [{sql, params}]}` in, where a BLOB parameter is an array of bytes (as D1's own
//! binding sends it); `{ok, size, results: [{columns, rows, read, written, changes, lastRowId,
//! ms}]}` or `{ok: false, error, index, full?}` out.

use serde::Deserialize;
use serde_json::{json, Value};

/// Per-database size cap when `SQL_DB_MAX_BYTES` is unset or unreadable (100 MB).
pub const DEFAULT_MAX_BYTES: u64 = 100_000_000;
/// Statements in one `batch()` (D1 allows far more; this keeps one transaction bounded).
pub const BATCH_MAX: usize = 1000;
/// Bytes of SQL text in one statement (D1's limit is 100 KB).
pub const SQL_MAX_BYTES: usize = 100_000;
/// Bound parameters in one statement (D1's limit).
pub const PARAMS_MAX: usize = 100;

/// The runtime's text for what SQLite's authorizer refuses (also what we answer).
pub const NOT_AUTHORIZED: &str = "not authorized: SQLITE_AUTH";
/// The runtime's text for `BEGIN` and friends in a Durable Object.
pub const NO_TRANSACTIONS: &str = "To execute a transaction, please use the state.storage.transaction() or \
    state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT statements. The \
    JavaScript API is safer because it will automatically roll back on exceptions, and because it interacts \
    correctly with Durable Objects' automatic atomic write coalescing.";

/// `PRAGMA`s tenant code may run (schema introspection and foreign-key switches, as D1 allows).
const PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "foreign_keys",
    "defer_foreign_keys",
    "optimize",
];
/// `sqlite_` names that are not internals: the schema tables and harmless functions.
const SQLITE_NAMES: &[&str] =
    &["sqlite_master", "sqlite_schema", "sqlite_sequence", "sqlite_version", "sqlite_source_id"];

/// An error as tenant code sees it: a JS `Error` with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub message: String,
}

impl SqlError {
    /// D1's prefix for a failed query (`D1_ERROR: no such table: t: SQLITE_ERROR`).
    pub fn d1(inner: impl AsRef<str>) -> SqlError {
        SqlError { message: format!("D1_ERROR: {}", inner.as_ref()) }
    }
}

/// The per-database cap from the `SQL_DB_MAX_BYTES` var (bytes; unset or unreadable: 100 MB).
pub fn max_bytes(var: Option<&str>) -> u64 {
    var.and_then(|v| v.trim().parse::<u64>().ok()).filter(|n| *n > 0).unwrap_or(DEFAULT_MAX_BYTES)
}

/// A bound parameter after D1's binding converted it (booleans are already 1/0).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    Number(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Param {
    fn to_json(&self) -> Value {
        match self {
            Param::Null => Value::Null,
            Param::Number(n) => json!(n),
            Param::Text(s) => json!(s),
            Param::Blob(b) => json!(b),
        }
    }
}

/// D1's message for a value `bind()` does not take (`typeof` and `String(value)` of it).
pub fn type_error(js_type: &str, shown: &str) -> SqlError {
    SqlError { message: format!("D1_TYPE_ERROR: Type '{js_type}' not supported for value '{shown}'") }
}

/// One prepared statement: its text and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub sql: String,
    pub params: Vec<Param>,
}

/// One parameter as JSON carries it: null, a number, a string, a boolean (1/0) or an array of
/// bytes (a BLOB); anything else is D1's type error.
pub fn param(p: &Value) -> Result<Param, SqlError> {
    Ok(match p {
        Value::Null => Param::Null,
        Value::Number(n) => Param::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Param::Text(s.clone()),
        Value::Bool(b) => Param::Number(f64::from(u8::from(*b))),
        Value::Array(a) if a.iter().all(|b| b.as_u64().is_some_and(|b| b < 256)) => {
            Param::Blob(a.iter().filter_map(Value::as_u64).map(|b| b as u8).collect())
        }
        other => return Err(type_error("object", &other.to_string())),
    })
}

/// A rows-and-columns result (what [`results`] gives) with its rows as objects, as D1's client
/// and REST API show them.
pub fn to_objects(result: &Value) -> Value {
    let columns: Vec<&str> = result["results"]["columns"]
        .as_array()
        .map(|c| c.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let rows: Vec<Value> = result["results"]["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    let mut o = serde_json::Map::new();
                    for (i, cell) in row.as_array().map(Vec::as_slice).unwrap_or(&[]).iter().enumerate() {
                        if let Some(c) = columns.get(i) {
                            o.insert(c.to_string(), cell.clone());
                        }
                    }
                    Value::Object(o)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = result.clone();
    out["results"] = Value::Array(rows);
    out
}

/// The shim's statement list (`[{sql, params}]`, as JSON) as queries. The shim already converted
/// parameters as D1's `bind()` does (booleans to 1/0, buffers to byte arrays); anything else that
/// reaches here is refused with D1's type error, so only these four kinds reach SQLite.
pub fn parse_queries(json_text: &str) -> Result<Vec<Query>, SqlError> {
    let bad = || SqlError::d1("statements must be a list of {sql, params}");
    let list: Vec<Value> = serde_json::from_str(json_text).map_err(|_| bad())?;
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let sql = item.get("sql").and_then(Value::as_str).ok_or_else(bad)?.to_string();
        let params = item.get("params").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        let params = params.iter().map(param).collect::<Result<Vec<_>, _>>()?;
        out.push(Query { sql, params });
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Word,
    Quoted,
    Str,
    Semi,
    Other,
}

/// SQLite's tokens, as (kind, start, end) byte ranges; comments and whitespace dropped. An
/// unterminated string, identifier or comment runs to the end (SQLite then refuses it).
fn tokens(sql: &str) -> Vec<(Tok, usize, usize)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(b.len());
        } else if c == b'\'' || c == b'"' || c == b'`' || c == b'[' {
            let close = if c == b'[' { b']' } else { c };
            i += 1;
            loop {
                if i >= b.len() {
                    break;
                }
                if b[i] == close {
                    // A doubled quote is an escaped one (not inside [...]).
                    if c != b'[' && b.get(i + 1) == Some(&close) {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            out.push((if c == b'\'' { Tok::Str } else { Tok::Quoted }, start, i));
        } else if c == b';' {
            i += 1;
            out.push((Tok::Semi, start, i));
        } else if word(c) && !c.is_ascii_digit() {
            while i < b.len() && word(b[i]) {
                i += 1;
            }
            out.push((Tok::Word, start, i));
        } else if c.is_ascii_digit() {
            // A number (SQLite refuses identifier characters right after one): never a name.
            i += 1;
            while i < b.len() && (word(b[i]) || b[i] == b'.') {
                i += 1;
            }
            out.push((Tok::Other, start, i));
        } else if c == b'?' {
            // `?` or `?NNN`: digits only, as SQLite reads it (`?abc` is `?` then a name).
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push((Tok::Other, start, i));
        } else if (c == b':' || c == b'@') && b.get(i + 1).is_some_and(|n| word(*n)) {
            // `:name`, `@name`: parameters, never names.
            i += 1;
            while i < b.len() && word(b[i]) {
                i += 1;
            }
            out.push((Tok::Other, start, i));
        } else {
            // One character (a whole UTF-8 sequence is taken by `word` above).
            i += 1;
            out.push((Tok::Other, start, i));
        }
    }
    out
}

/// The text of an identifier token: a quoted one without its quotes (escapes undone).
fn name(sql: &str, t: (Tok, usize, usize)) -> String {
    let s = &sql[t.1..t.2];
    match t.0 {
        Tok::Quoted => {
            let q = &s[..1];
            let inner = s.get(1..s.len().saturating_sub(1).max(1)).unwrap_or("");
            let close = if q == "[" { "]" } else { q };
            inner.replace(&format!("{close}{close}"), close)
        }
        _ => s.to_string(),
    }
}

fn is(sql: &str, t: &(Tok, usize, usize), kw: &str) -> bool {
    t.0 == Tok::Word && sql[t.1..t.2].eq_ignore_ascii_case(kw)
}

/// The statements of `sql`, split at top-level semicolons (not inside strings, identifiers,
/// comments or a `CREATE TRIGGER ... BEGIN ... END` body). Empty ones are dropped; each keeps
/// its text without the semicolon.
pub fn split(sql: &str) -> Vec<&str> {
    let toks = tokens(sql);
    let mut out = Vec::new();
    let mut first: Option<usize> = None; // index of the statement's first token
    let mut depth = 0u32; // inside a trigger body: BEGIN/CASE ... END nesting
    for (k, t) in toks.iter().enumerate() {
        let f = *first.get_or_insert(k);
        if t.0 == Tok::Semi && depth == 0 {
            if k > f {
                out.push(sql[toks[f].1..toks[k - 1].2].trim());
            }
            first = None;
            continue;
        }
        let trigger =
            is(sql, &toks[f], "create") && toks[f + 1..=k].iter().take(3).any(|x| is(sql, x, "trigger"));
        if trigger {
            if is(sql, t, "begin") || (depth > 0 && is(sql, t, "case")) {
                depth += 1;
            } else if is(sql, t, "end") && depth > 0 {
                depth -= 1;
            }
        }
    }
    if let Some(f) = first {
        if let Some(last) = toks.last() {
            if last.0 != Tok::Semi {
                out.push(sql[toks[f].1..last.2].trim());
            }
        }
    }
    out
}

/// Whether one statement's text may run, or SQLite's/the runtime's message for why not.
pub fn check(sql: &str) -> Result<(), String> {
    let toks = tokens(sql);
    if let Some(first) = toks.iter().find(|t| t.0 != Tok::Semi) {
        for kw in ["begin", "commit", "end", "rollback", "savepoint", "release"] {
            if is(sql, first, kw) {
                return Err(NO_TRANSACTIONS.into());
            }
        }
    }
    for (k, t) in toks.iter().enumerate() {
        if !matches!(t.0, Tok::Word | Tok::Quoted) {
            continue;
        }
        let n = name(sql, *t).to_ascii_lowercase();
        let refused = match n.as_str() {
            "attach" | "detach" | "vacuum" if t.0 == Tok::Word => true,
            // A function may be named by a quoted identifier too.
            "load_extension" => true,
            "pragma" if t.0 == Tok::Word => !pragma_allowed(sql, &toks[k + 1..]),
            _ if n.starts_with("_cf_") => true,
            _ if n.starts_with("sqlite_") => !SQLITE_NAMES.contains(&n.as_str()),
            _ if n.starts_with("pragma_") && t.0 == Tok::Word => !PRAGMAS.contains(&&n["pragma_".len()..]),
            _ => false,
        };
        if refused {
            return Err(NOT_AUTHORIZED.into());
        }
    }
    Ok(())
}

/// `PRAGMA [main.]name ...`: only the allow-list, only on the main schema.
fn pragma_allowed(sql: &str, rest: &[(Tok, usize, usize)]) -> bool {
    let mut rest = rest.iter();
    let Some(mut t) = rest.next() else { return false };
    if let Some(dot) = rest.clone().next() {
        if &sql[dot.1..dot.2] == "." {
            if !name(sql, *t).eq_ignore_ascii_case("main") {
                return false;
            }
            rest.next();
            let Some(n) = rest.next() else { return false };
            t = n;
        }
    }
    matches!(t.0, Tok::Word | Tok::Quoted) && PRAGMAS.contains(&name(sql, *t).to_ascii_lowercase().as_str())
}

/// One atomic call of the database object for `queries`, as its JSON, or the error D1 gives
/// before running anything (`prefix` is `D1_ERROR` or, for `exec`, the caller shapes it).
pub fn plan(queries: &[Query], max: u64) -> Result<String, (usize, String)> {
    if queries.len() > BATCH_MAX {
        return Err((0, format!("too many statements in one batch (at most {BATCH_MAX})")));
    }
    let mut out = Vec::with_capacity(queries.len());
    for (i, q) in queries.iter().enumerate() {
        if q.sql.len() > SQL_MAX_BYTES {
            return Err((i, format!("statement too long (at most {SQL_MAX_BYTES} bytes): SQLITE_TOOBIG")));
        }
        if q.params.len() > PARAMS_MAX {
            return Err((i, format!("too many SQL variables (at most {PARAMS_MAX}): SQLITE_ERROR")));
        }
        let stmts = split(&q.sql);
        if stmts.is_empty() {
            return Err((i, "No SQL statements detected.".into()));
        }
        for s in &stmts {
            check(s).map_err(|e| (i, e))?;
        }
        out.push(json!({ "sql": q.sql, "params": q.params.iter().map(Param::to_json).collect::<Vec<_>>() }));
    }
    Ok(json!({ "max": max, "queries": out }).to_string())
}

#[derive(Debug, Deserialize)]
struct Raw {
    ok: bool,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    results: Vec<RawResult>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    index: usize,
    #[serde(default)]
    full: bool,
}

#[derive(Debug, Deserialize)]
struct RawResult {
    #[serde(default)]
    columns: Vec<String>,
    #[serde(default)]
    rows: Vec<Vec<Value>>,
    #[serde(default)]
    read: u64,
    #[serde(default)]
    written: u64,
    #[serde(default)]
    changes: u64,
    #[serde(default, rename = "lastRowId")]
    last_row_id: i64,
    #[serde(default)]
    ms: f64,
}

/// The database object's answer as D1's per-query results (`{success, meta, results: {columns,
/// rows}}`, the rows-and-columns shape D1's client turns into objects), or the failing query's
/// index and message (without D1's prefix).
pub fn results(answer: &str, max: u64) -> Result<Vec<Value>, (usize, String)> {
    let raw: Raw =
        serde_json::from_str(answer).map_err(|_| (0, "internal error: unreadable answer".to_string()))?;
    if !raw.ok {
        if raw.full {
            return Err((raw.index, format!("Exceeded maximum DB size of {max} bytes: SQLITE_FULL")));
        }
        return Err((raw.index, raw.error.unwrap_or_else(|| "Something went wrong".into())));
    }
    let changed_db = raw.results.iter().any(|r| r.written > 0);
    Ok(raw
        .results
        .into_iter()
        .map(|r| {
            json!({
                "success": true,
                "meta": {
                    "served_by": "flotilla-sql",
                    "duration": r.ms,
                    "changes": r.changes,
                    "last_row_id": r.last_row_id,
                    "changed_db": changed_db,
                    "size_after": raw.size,
                    "rows_read": r.read,
                    "rows_written": r.written,
                },
                "results": { "columns": r.columns, "rows": r.rows },
            })
        })
        .collect())
}

/// `exec(sql)`: D1 runs each line of the text as one query (its client splits on newlines);
/// blank lines are skipped.
pub fn exec_queries(sql: &str) -> Vec<Query> {
    sql.trim()
        .split('\n')
        .filter(|l| !split(l).is_empty())
        .map(|l| Query { sql: l.to_string(), params: Vec::new() })
        .collect()
}

/// D1's `exec` error: `D1_EXEC_ERROR: Error in line N: <line>: <message>`.
pub fn exec_error(queries: &[Query], index: usize, message: &str) -> SqlError {
    let line = queries.get(index).map(|q| q.sql.as_str()).unwrap_or("");
    SqlError { message: format!("D1_EXEC_ERROR: Error in line {}: {line}: {message}", index + 1) }
}

/// D1's `exec` result: `{count, duration}` over the per-line results.
pub fn exec_result(results: &[Value]) -> Value {
    let duration: f64 = results.iter().filter_map(|r| r["meta"]["duration"].as_f64()).sum();
    json!({ "count": results.len(), "duration": duration })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_gen::{Gen, NASTY};

    fn q(sql: &str) -> Query {
        Query { sql: sql.into(), params: vec![] }
    }

    #[test]
    fn statements_split_at_top_level_semicolons_only() {
        assert_eq!(
            split("CREATE TABLE t(a); INSERT INTO t VALUES (';');"),
            ["CREATE TABLE t(a)", "INSERT INTO t VALUES (';')"]
        );
        assert_eq!(split(" ; -- x;\n /* ; */ ;"), Vec::<&str>::new());
        assert_eq!(split("SELECT \"a;b\", [c;d], `e;f` FROM t"), ["SELECT \"a;b\", [c;d], `e;f` FROM t"]);
        let trig = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = CASE WHEN 1 THEN 2 END; DELETE FROM u; END";
        assert_eq!(split(&format!("{trig}; SELECT 1")), [trig, "SELECT 1"]);
        assert_eq!(split("SELECT 'unterminated; still'"), ["SELECT 'unterminated; still'"]);
    }

    /// Tokens as SQLite reads them: `?` takes only digits (`?abc` is `?` then the name `abc`);
    /// `:name`, `@name` and `$name` take identifier characters.
    #[test]
    fn parameters_are_tokenized_as_sqlite_does() {
        let kinds =
            |sql: &str| tokens(sql).iter().map(|t| (t.0, sql[t.1..t.2].to_string())).collect::<Vec<_>>();
        assert_eq!(kinds("?12abc"), [(Tok::Other, "?12".to_string()), (Tok::Word, "abc".to_string())]);
        assert_eq!(
            kinds(":a.b"),
            [(Tok::Other, ":a".to_string()), (Tok::Other, ".".to_string()), (Tok::Word, "b".to_string())]
        );
        assert_eq!(kinds("@x 1.5e3"), [(Tok::Other, "@x".to_string()), (Tok::Other, "1.5e3".to_string())]);
        assert_eq!(check("SELECT ?_cf_x"), Err(NOT_AUTHORIZED.to_string()));
    }

    #[test]
    fn internals_attach_and_pragmas_are_refused() {
        for bad in [
            "ATTACH DATABASE 'x.db' AS x",
            "attach 'x' as y",
            "DETACH x",
            "VACUUM",
            "PRAGMA journal_mode=off",
            "PRAGMA writable_schema = 1",
            "pragma temp.table_info(t)",
            "PRAGMA",
            "SELECT * FROM _cf_KV",
            "SELECT * FROM \"_CF_METADATA\"",
            "SELECT * FROM [_cf_x]",
            "SELECT * FROM sqlite_dbpage",
            "SELECT * FROM pragma_database_list",
            "SELECT load_extension('x')",
            "SELECT \"load_extension\"('x')",
            "SELECT 1 FROM t; ATTACH 'x' AS y",
            "/* hi */ ATTACH 'x' AS y",
        ] {
            let e = plan(&[q(bad)], 10).unwrap_err();
            assert_eq!(e.1, NOT_AUTHORIZED, "{bad}");
        }
        for tx in ["BEGIN", "begin transaction", "COMMIT", "ROLLBACK", "SAVEPOINT a", "RELEASE a", "END"] {
            assert_eq!(plan(&[q(tx)], 10).unwrap_err().1, NO_TRANSACTIONS, "{tx}");
        }
        for ok in [
            "PRAGMA table_info(t)",
            "PRAGMA main.table_info('t')",
            "pragma foreign_keys = on",
            "PRAGMA defer_foreign_keys = true",
            "SELECT name FROM sqlite_master WHERE type = 'table'",
            "SELECT * FROM pragma_table_info('t')",
            "SELECT 'ATTACH', \"pragma\" FROM t -- VACUUM",
            "SELECT sqlite_version()",
            "INSERT INTO t (a) VALUES ('_cf_ in a string is data')",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT RAISE(ROLLBACK, 'no'); END",
        ] {
            assert!(plan(&[q(ok)], 10).is_ok(), "{ok}");
        }
        assert_eq!(plan(&[q("  -- nothing\n")], 10).unwrap_err().1, "No SQL statements detected.");
    }

    #[test]
    fn plans_carry_parameters_as_d1_sends_them() {
        let p = plan(
            &[Query {
                sql: "INSERT INTO t VALUES (?, ?, ?, ?)".into(),
                params: vec![
                    Param::Null,
                    Param::Number(1.5),
                    Param::Text("x".into()),
                    Param::Blob(vec![0, 255]),
                ],
            }],
            7,
        )
        .unwrap();
        assert_eq!(
            p,
            r#"{"max":7,"queries":[{"sql":"INSERT INTO t VALUES (?, ?, ?, ?)","params":[null,1.5,"x",[0,255]]}]}"#
        );
        let many = vec![q("SELECT 1"); BATCH_MAX + 1];
        assert!(plan(&many, 1).is_err());
        let params = Query { sql: "SELECT 1".into(), params: vec![Param::Null; PARAMS_MAX + 1] };
        assert!(plan(&[params], 1).unwrap_err().1.contains("too many SQL variables"));
        assert_eq!(
            type_error("undefined", "undefined").message,
            "D1_TYPE_ERROR: Type 'undefined' not supported for value 'undefined'"
        );
    }

    #[test]
    fn answers_become_d1_results_and_errors() {
        let a = r#"{"ok":true,"size":12288,"results":[
            {"columns":[],"rows":[],"read":0,"written":2,"changes":2,"lastRowId":2,"ms":0.5},
            {"columns":["a","b"],"rows":[[1,"x"],[2,[1,2]]],"read":2,"written":0,"changes":0,"lastRowId":2,"ms":0}]}"#;
        let r = results(a, 100).unwrap();
        assert_eq!(r[0]["meta"]["changes"], 2);
        assert_eq!(r[0]["meta"]["last_row_id"], 2);
        assert_eq!(r[0]["meta"]["rows_written"], 2);
        assert_eq!(r[1]["meta"]["rows_read"], 2);
        assert_eq!(r[1]["meta"]["changed_db"], true);
        assert_eq!(r[1]["meta"]["size_after"], 12288);
        assert_eq!(r[1]["results"], json!({"columns": ["a", "b"], "rows": [[1, "x"], [2, [1, 2]]]}));
        assert_eq!(r[1]["success"], true);
        let e =
            results(r#"{"ok":false,"error":"no such table: nope: SQLITE_ERROR","index":1}"#, 1).unwrap_err();
        assert_eq!(e, (1, "no such table: nope: SQLITE_ERROR".to_string()));
        assert_eq!(SqlError::d1(e.1).message, "D1_ERROR: no such table: nope: SQLITE_ERROR");
        let full = results(r#"{"ok":false,"full":true,"index":0}"#, 8192).unwrap_err();
        assert_eq!(full.1, "Exceeded maximum DB size of 8192 bytes: SQLITE_FULL");
        assert!(results("not json", 1).is_err());
        assert_eq!(max_bytes(None), DEFAULT_MAX_BYTES);
        assert_eq!(max_bytes(Some("5000")), 5000);
        assert_eq!(max_bytes(Some("0")), DEFAULT_MAX_BYTES);
        assert_eq!(max_bytes(Some("lots")), DEFAULT_MAX_BYTES);
    }

    #[test]
    fn the_shims_statements_are_read_strictly() {
        let qs = parse_queries(r#"[{"sql":"SELECT ?","params":[null,1,"a",true,[1,2]]},{"sql":"SELECT 1"}]"#)
            .unwrap();
        assert_eq!(
            qs[0].params,
            [
                Param::Null,
                Param::Number(1.0),
                Param::Text("a".into()),
                Param::Number(1.0),
                Param::Blob(vec![1, 2])
            ]
        );
        assert_eq!(qs[1].params, []);
        assert!(parse_queries(r#"[{"sql":"SELECT ?","params":[{"a":1}]}]"#)
            .unwrap_err()
            .message
            .starts_with("D1_TYPE_ERROR"));
        assert!(parse_queries(r#"[{"sql":"SELECT ?","params":[[256]]}]"#).is_err());
        assert!(parse_queries(r#"{"sql":"x"}"#).is_err());
        assert!(parse_queries(r#"[{"params":[]}]"#).is_err());
    }

    #[test]
    fn rows_become_objects() {
        let r = json!({"success": true, "meta": {"changes": 0}, "results": {"columns": ["a", "b"], "rows": [[1, "x"], [2, null]]}});
        assert_eq!(
            to_objects(&r),
            json!({"success": true, "meta": {"changes": 0}, "results": [{"a": 1, "b": "x"}, {"a": 2, "b": null}]})
        );
    }

    #[test]
    fn exec_runs_each_line() {
        let qs = exec_queries("CREATE TABLE t(a);\n\nINSERT INTO t VALUES (1);\n");
        assert_eq!(qs, [q("CREATE TABLE t(a);"), q("INSERT INTO t VALUES (1);")]);
        assert_eq!(
            exec_error(&qs, 1, "boom: SQLITE_ERROR").message,
            "D1_EXEC_ERROR: Error in line 2: INSERT INTO t VALUES (1);: boom: SQLITE_ERROR"
        );
        let r = exec_result(&[json!({"meta": {"duration": 1.0}}), json!({"meta": {"duration": 2.0}})]);
        assert_eq!(r, json!({"count": 2, "duration": 3.0}));
    }

    /// Whatever SQL text a tenant sends, nothing panics; and a refused statement appended after
    /// any mix of strings, quoted names and comments (closed ones) is still found and refused,
    /// so nothing can hide one from the check.
    #[test]
    fn no_sql_text_panics_or_hides_a_refused_statement() {
        let mut g = Gen(0x5EED_0027_0005_0001);
        let mut pieces: Vec<&str> = NASTY.to_vec();
        pieces.extend([
            "'",
            "\"",
            "`",
            "[",
            "]",
            "--",
            "/*",
            "*/",
            ";",
            "ATTACH",
            "pragma",
            "_cf_",
            "sqlite_",
            "BEGIN",
            "END",
            "CREATE TRIGGER",
            "CASE",
            "?1",
            ":a",
            "x'00'",
            "\u{0}",
            "é",
        ]);
        let safe = [
            "SELECT 1",
            "'a;b'",
            "\"q\"\"x\"",
            "[a;b]",
            "`c``d`",
            "/* ; ATTACH */",
            "-- ;ATTACH\n",
            "'it''s'",
            " ",
            "t",
            ",",
            "(",
            ")",
            "+",
            "'BEGIN'",
            "\"END\"",
        ];
        let refused =
            ["ATTACH 'x' AS y", "PRAGMA journal_mode=off", "SELECT * FROM _cf_KV", "VACUUM", "DETACH y"];
        for _ in 0..20_000 {
            let text = g.string(&pieces, 30);
            let _ = plan(&[q(&text)], 1);
            let _ = exec_queries(&text);
            let _ = results(&text, 1);
            let mut prefix = String::new();
            for _ in 0..g.below(8) {
                prefix.push_str(g.pick(&safe));
            }
            let bad = g.pick(&refused);
            let sql = format!("{prefix};\n{bad}");
            assert_eq!(plan(&[q(&sql)], 1).unwrap_err().1, NOT_AUTHORIZED, "{sql:?}");
            assert!(plan(&[q(&prefix), q(&format!("{bad};{prefix}"))], 1).is_err(), "{prefix:?}");
        }
    }
}
