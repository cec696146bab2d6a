//! Live tail (issue 29, item 2): which of a project's fresh invocation records a viewer of
//! `GET /__api/projects/:id/tail` sees, and how they are framed as Server-Sent Events. Pure: the
//! per-project TailHub object (src/js/main.mjs) only holds the viewers' streams and asks this
//! (through src/platform/jobs/tail.rs) what to write to each.
//!
//! A record is the JSON of `GET /__api/projects/:id/logs` (`InvocationRecord::to_log_json`),
//! with `id` null: a live event is sent before anyone could page past it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::logs::InvocationRecord;
use crate::domain::iso8601;
use crate::error::ApiError;

/// Viewers one project may have at once (Cloudflare's `wrangler tail` cap); the next gets 429.
pub const MAX_VIEWERS: usize = 10;
/// Frames a viewer may have unread before it is dropped (the tenant never waits for a viewer).
pub const MAX_QUEUED_FRAMES: usize = 64;
/// Seconds between the SSE heartbeat comments that keep idle connections open.
pub const HEARTBEAT_SECS: u32 = 15;
/// Characters of a path prefix, a method and a search text a filter may hold.
const MAX_PATH: usize = 512;
const MAX_METHOD: usize = 16;
const MAX_SEARCH: usize = 200;

/// Which status a viewer wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StatusFilter {
    /// The status class: 2 for `2xx` ... 5 for `5xx`.
    Class(u16),
    /// Runs that did not end `ok`, threw or logged an error (`level` = `error`, as /logs).
    Error,
}

/// A viewer's filters; every one that is set must match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TailFilter {
    pub status: Option<StatusFilter>,
    /// Upper case.
    pub method: Option<String>,
    /// The URL path starts with this (case-sensitive, as paths are).
    pub path: Option<String>,
    /// Lower case; searched in the URL, console lines and exceptions.
    pub search: Option<String>,
    /// The share of matching records sent (0..=1).
    pub sample: f64,
    pub deployment_id: Option<String>,
    /// `wrangler tail --status`: the runtime outcomes wanted (`ok`, `exception`, ...).
    pub outcomes: Option<Vec<String>>,
    /// `wrangler tail --method`: any of these (upper case).
    pub methods: Option<Vec<String>>,
}

impl Default for TailFilter {
    fn default() -> Self {
        TailFilter {
            status: None,
            method: None,
            path: None,
            search: None,
            sample: 1.0,
            deployment_id: None,
            outcomes: None,
            methods: None,
        }
    }
}

/// Parses `GET /__api/projects/:id/tail`'s query (already split into pairs).
pub fn parse_tail_filter(pairs: &[(String, String)]) -> Result<TailFilter, ApiError> {
    let mut f = TailFilter::default();
    for (k, v) in pairs {
        match k.as_str() {
            "status" => {
                f.status = Some(match v.as_str() {
                    "2xx" => StatusFilter::Class(2),
                    "3xx" => StatusFilter::Class(3),
                    "4xx" => StatusFilter::Class(4),
                    "5xx" => StatusFilter::Class(5),
                    "error" => StatusFilter::Error,
                    _ => return Err(ApiError::bad("status", "must be one of 2xx, 3xx, 4xx, 5xx, error")),
                })
            }
            "method" => {
                if v.is_empty() || v.len() > MAX_METHOD || !v.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(ApiError::bad("method", "must be an HTTP method such as GET"));
                }
                f.method = Some(v.to_ascii_uppercase());
            }
            "path" => {
                if !v.starts_with('/') || v.chars().count() > MAX_PATH {
                    return Err(ApiError::bad(
                        "path",
                        format!("must start with / (at most {MAX_PATH} characters)"),
                    ));
                }
                f.path = Some(v.clone());
            }
            "q" => {
                if v.chars().count() > MAX_SEARCH {
                    return Err(ApiError::bad("q", format!("at most {MAX_SEARCH} characters")));
                }
                f.search = (!v.is_empty()).then(|| v.to_lowercase());
            }
            "sample" => {
                f.sample = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.0..=1.0).contains(s))
                    .ok_or_else(|| ApiError::bad("sample", "must be a number from 0 to 1"))?;
            }
            "deploymentId" => {
                if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return Err(ApiError::bad("deploymentId", "must be a deployment id"));
                }
                f.deployment_id = Some(v.clone());
            }
            _ => return Err(ApiError::bad(k, "is not a parameter of this endpoint")),
        }
    }
    Ok(f)
}

/// The path of an absolute URL (`/` when it has none), without its query.
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    }
}

fn contains_text(record: &Value, needle: &str) -> bool {
    let has = |v: &Value| v.as_str().is_some_and(|s| s.to_lowercase().contains(needle));
    if has(&record["request"]["url"]) {
        return true;
    }
    let items = |k: &str| record.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
    items("logs").iter().any(|l| has(&l["message"]))
        || items("exceptions").iter().any(|e| has(&e["message"]) || has(&e["name"]) || has(&e["stack"]))
}

impl TailFilter {
    /// Whether `record` (the /logs shape) is sent; `roll` is a uniform draw from [0, 1) for
    /// sampling.
    pub fn matches(&self, record: &Value, roll: f64) -> bool {
        if let Some(d) = &self.deployment_id {
            if record["deploymentId"].as_str() != Some(d.as_str()) {
                return false;
            }
        }
        match self.status {
            Some(StatusFilter::Class(c)) if record["status"].as_u64().map(|s| s / 100) != Some(c as u64) => {
                return false
            }
            Some(StatusFilter::Error) if record["level"].as_str() != Some("error") => return false,
            _ => {}
        }
        if let Some(o) = &self.outcomes {
            if !record["outcome"].as_str().is_some_and(|x| o.iter().any(|w| w == x)) {
                return false;
            }
        }
        if let Some(ms) = &self.methods {
            let m = record["request"]["method"].as_str().map(str::to_ascii_uppercase).unwrap_or_default();
            if !ms.contains(&m) {
                return false;
            }
        }
        if let Some(m) = &self.method {
            if record["request"]["method"].as_str().map(str::to_ascii_uppercase).as_deref()
                != Some(m.as_str())
            {
                return false;
            }
        }
        if let Some(p) = &self.path {
            if !record["request"]["url"].as_str().is_some_and(|u| url_path(u).starts_with(p.as_str())) {
                return false;
            }
        }
        if let Some(q) = &self.search {
            if !contains_text(record, q) {
                return false;
            }
        }
        // `roll < 1.0` always; a sample of 1 sends everything, 0 nothing.
        roll < self.sample
    }

    /// The SSE text for the records of `records_json` (a JSON array) this viewer sees: one
    /// `data:` event per record; empty when none matches or the input is not an array.
    /// `rolls` gives one sampling draw per record.
    pub fn frames(&self, records_json: &str, mut rolls: impl FnMut() -> f64) -> String {
        let Ok(Value::Array(records)) = serde_json::from_str::<Value>(records_json) else {
            return String::new();
        };
        let mut out = String::new();
        for r in &records {
            if self.matches(r, rolls()) {
                // serde_json never writes a raw newline, so one `data:` line is one event.
                out.push_str("data: ");
                out.push_str(&r.to_string());
                out.push_str("\n\n");
            }
        }
        out
    }
}

/// `POST /client/v4/accounts/:a/workers/scripts/:name/tails`'s body as `wrangler tail` sends
/// it: `{"filters": [{"sampling_rate": n} | {"outcome": [...]} | {"method": [...]} |
/// {"query": "..."} | {"scriptVersion": "..."} | {"header": ...} | {"client_ip": [...]}]}`.
/// Request headers and client addresses are never kept, so `header` and `client_ip` filters are
/// refused by name rather than silently matching everything.
pub fn parse_wrangler_filters(body: &Value) -> Result<TailFilter, ApiError> {
    let mut f = TailFilter::default();
    let empty = Vec::new();
    let filters = match body.get("filters") {
        None | Some(Value::Null) => &empty,
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ApiError::bad("filters", "must be an array")),
    };
    let strings = |v: &Value, field: &str| -> Result<Vec<String>, ApiError> {
        let list = v.as_array().ok_or_else(|| ApiError::bad(field, "must be a list of strings"))?;
        list.iter()
            .map(|s| {
                s.as_str()
                    .filter(|s| !s.is_empty() && s.len() <= 32)
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::bad(field, "must be a list of strings"))
            })
            .collect()
    };
    for item in filters.iter().take(16) {
        let Some((k, v)) = item.as_object().and_then(|o| o.iter().next()) else {
            return Err(ApiError::bad("filters", "each filter is an object with one field"));
        };
        match k.as_str() {
            "sampling_rate" => {
                f.sample = v
                    .as_f64()
                    .filter(|s| (0.0..=1.0).contains(s))
                    .ok_or_else(|| ApiError::bad("sampling_rate", "must be a number from 0 to 1"))?
            }
            "outcome" => f.outcomes = Some(strings(v, "outcome")?),
            "method" => {
                f.methods = Some(strings(v, "method")?.iter().map(|m| m.to_ascii_uppercase()).collect())
            }
            "query" => {
                let q = v.as_str().ok_or_else(|| ApiError::bad("query", "must be a string"))?;
                if q.chars().count() > MAX_SEARCH {
                    return Err(ApiError::bad("query", format!("at most {MAX_SEARCH} characters")));
                }
                f.search = (!q.is_empty()).then(|| q.to_lowercase());
            }
            "scriptVersion" => f.deployment_id = v.as_str().map(str::to_string),
            "header" | "client_ip" => {
                return Err(ApiError::bad(
                    k,
                    "is not supported: request headers and client addresses are never kept",
                ))
            }
            _ => return Err(ApiError::bad(k, "is not a tail filter")),
        }
    }
    Ok(f)
}

fn epoch_ms(v: &Value) -> i64 {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
        .or_else(|| v.as_i64())
        .unwrap_or(0)
}

/// A /logs-shaped record as one `trace-v1` message (what `wrangler tail` prints). Console lines
/// were joined to one text when captured; they go out as a one-item `message`.
pub fn trace_event(record: &Value, script_name: &str) -> Value {
    let items = |k: &str| record.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
    let logs: Vec<Value> = items("logs")
        .iter()
        .map(|l| json!({ "message": [l["message"]], "level": l["level"], "timestamp": l["at"] }))
        .collect();
    let exceptions: Vec<Value> = items("exceptions")
        .iter()
        .map(|e| json!({ "name": e["name"], "message": e["message"], "stack": e["stack"], "timestamp": e["at"] }))
        .collect();
    json!({
        "outcome": record["outcome"],
        "scriptName": script_name,
        "scriptVersion": { "id": record["deploymentId"] },
        "exceptions": exceptions,
        "logs": logs,
        "eventTimestamp": epoch_ms(&record["at"]),
        "event": {
            "request": { "url": record["request"]["url"], "method": record["request"]["method"], "headers": {} },
            "response": { "status": record["status"] },
        },
    })
}

impl TailFilter {
    /// The `trace-v1` messages for the records of `records_json` this viewer sees, as a JSON
    /// array of message texts.
    pub fn trace_messages(
        &self,
        records_json: &str,
        script_name: &str,
        mut rolls: impl FnMut() -> f64,
    ) -> String {
        let Ok(Value::Array(records)) = serde_json::from_str::<Value>(records_json) else {
            return "[]".into();
        };
        let out: Vec<String> = records
            .iter()
            .filter(|r| self.matches(r, rolls()))
            .map(|r| trace_event(r, script_name).to_string())
            .collect();
        serde_json::to_string(&out).unwrap_or_else(|_| "[]".into())
    }
}

impl InvocationRecord {
    /// This record as `GET /__api/projects/:id/logs` returns one (`id` null: not yet stored).
    pub fn to_log_json(&self, deployment_id: &str) -> Value {
        let part = |k: &str, empty: Value| self.detail.get(k).cloned().unwrap_or(empty);
        json!({
            "id": null,
            "at": iso8601(self.at.max(0) as u64),
            "deploymentId": deployment_id,
            "outcome": self.outcome,
            "level": self.level,
            "request": { "method": self.method, "url": self.url },
            "status": self.status,
            "wallMs": self.wall_ms,
            "cpuMs": self.cpu_ms,
            "logs": part("logs", json!([])),
            "exceptions": part("exceptions", json!([])),
            "droppedLines": part("droppedLines", json!(0)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_gen::{Gen, NASTY};

    fn p(s: &[(&str, &str)]) -> Result<TailFilter, ApiError> {
        parse_tail_filter(&s.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    fn rec(method: &str, url: &str, status: u16, level: &str, line: &str) -> Value {
        json!({
            "id": null, "at": "2026-12-07T00:00:00.000Z", "deploymentId": "d-1", "outcome": "ok", "level": level,
            "request": { "method": method, "url": url }, "status": status, "wallMs": 1, "cpuMs": 0,
            "logs": [{ "level": "log", "at": 1, "message": line }], "exceptions": [], "droppedLines": 0,
        })
    }

    #[test]
    fn the_filter_query_is_validated() {
        let f = p(&[
            ("status", "4xx"),
            ("method", "post"),
            ("path", "/api"),
            ("q", "Glass"),
            ("sample", "0.5"),
            ("deploymentId", "d-1"),
        ])
        .unwrap();
        assert_eq!(
            f,
            TailFilter {
                status: Some(StatusFilter::Class(4)),
                method: Some("POST".into()),
                path: Some("/api".into()),
                search: Some("glass".into()),
                sample: 0.5,
                deployment_id: Some("d-1".into()),
                ..TailFilter::default()
            }
        );
        assert_eq!(p(&[]).unwrap(), TailFilter::default());
        assert_eq!(p(&[("status", "error")]).unwrap().status, Some(StatusFilter::Error));
        for (k, v) in [
            ("status", "6xx"),
            ("method", "G T"),
            ("method", ""),
            ("path", "api"),
            ("sample", "1.5"),
            ("sample", "NaN"),
            ("sample", "-0.1"),
            ("deploymentId", "../x"),
            ("nope", "1"),
        ] {
            assert_eq!(p(&[(k, v)]).unwrap_err().field(), k, "{k}={v}");
        }
        assert_eq!(p(&[("q", &"x".repeat(201))]).unwrap_err().field(), "q");
    }

    #[test]
    fn every_set_filter_must_match() {
        let r = rec("GET", "http://a.localhost/api/users?x=1", 404, "info", "looking for Glass");
        let yes = |q: &[(&str, &str)]| p(q).unwrap().matches(&r, 0.3);
        assert!(yes(&[]));
        assert!(yes(&[("status", "4xx"), ("method", "get"), ("path", "/api/"), ("q", "GLASS")]));
        assert!(yes(&[("q", "x=1")]), "the URL is searched");
        assert!(yes(&[("deploymentId", "d-1")]));
        assert!(!yes(&[("deploymentId", "d-2")]));
        assert!(!yes(&[("status", "5xx")]));
        assert!(!yes(&[("status", "error")]));
        assert!(!yes(&[("method", "POST")]));
        assert!(!yes(&[("path", "/users")]));
        assert!(!yes(&[("path", "/api/users?")]), "the query is not part of the path");
        assert!(!yes(&[("q", "steel")]));
        assert!(yes(&[("sample", "0.5")]) && !yes(&[("sample", "0.2")]) && !yes(&[("sample", "0")]));
        let thrown = json!({ "level": "error", "status": 500, "request": { "method": "GET", "url": "http://a/x" },
                             "exceptions": [{ "name": "TypeError", "message": "boom" }] });
        assert!(p(&[("status", "error"), ("q", "typeerror")]).unwrap().matches(&thrown, 0.0));
        assert!(p(&[("path", "/")]).unwrap().matches(&json!({ "request": { "url": "http://a" } }), 0.0));
    }

    #[test]
    fn frames_are_one_sse_event_per_matching_record() {
        let records = json!([
            rec("GET", "http://a/ok", 200, "info", "line\nwith newline"),
            rec("GET", "http://a/missing", 404, "info", "")
        ])
        .to_string();
        let text = p(&[("status", "2xx")]).unwrap().frames(&records, || 0.0);
        assert!(text.starts_with("data: {") && text.ends_with("}\n\n"), "{text}");
        assert_eq!(text.matches("\n\n").count(), 1);
        let back: Value = serde_json::from_str(text.trim_start_matches("data: ").trim_end()).unwrap();
        assert_eq!(back["logs"][0]["message"], "line\nwith newline");
        assert_eq!(TailFilter::default().frames(&records, || 0.0).matches("data: ").count(), 2);
        assert_eq!(TailFilter::default().frames("nope", || 0.0), "");
    }

    #[test]
    fn a_live_record_has_the_logs_shape() {
        let event = json!({ "outcome": "ok", "eventTimestamp": 1000, "wallTime": 2, "cpuTime": 1, "logs": [],
                            "event": { "request": { "method": "GET", "url": "http://a/x" }, "response": { "status": 200 } } });
        let r = super::super::logs::record_of(&event).unwrap().to_log_json("d-1");
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "at",
                "deploymentId",
                "outcome",
                "level",
                "request",
                "status",
                "wallMs",
                "cpuMs",
                "logs",
                "exceptions",
                "droppedLines"
            ]
        );
        assert_eq!((r["status"].as_u64(), r["at"].as_str()), (Some(200), Some("1970-01-01T00:00:01.000Z")));
    }

    #[test]
    fn wrangler_filters_are_read_and_applied() {
        let body = json!({ "filters": [{ "sampling_rate": 0.5 }, { "outcome": ["exception", "exceededCpu"] },
                                       { "method": ["get"] }, { "query": "Glass" }] });
        let f = parse_wrangler_filters(&body).unwrap();
        assert_eq!((f.sample, f.search.as_deref()), (0.5, Some("glass")));
        assert_eq!(f.methods, Some(vec!["GET".to_string()]));
        let mut r = rec("GET", "http://a/x", 500, "error", "glass");
        r["outcome"] = json!("exception");
        assert!(f.matches(&r, 0.1));
        assert!(!f.matches(&r, 0.6));
        r["outcome"] = json!("ok");
        assert!(!f.matches(&r, 0.1));
        assert_eq!(parse_wrangler_filters(&json!({})).unwrap(), TailFilter::default());
        assert_eq!(parse_wrangler_filters(&json!({ "filters": [] })).unwrap(), TailFilter::default());
        for (body, field) in [
            (json!({ "filters": [{ "header": { "key": "x" } }] }), "header"),
            (json!({ "filters": [{ "client_ip": ["self"] }] }), "client_ip"),
            (json!({ "filters": [{ "sampling_rate": 2 }] }), "sampling_rate"),
            (json!({ "filters": [{ "outcome": "ok" }] }), "outcome"),
            (json!({ "filters": [{ "nope": 1 }] }), "nope"),
            (json!({ "filters": 1 }), "filters"),
        ] {
            assert_eq!(parse_wrangler_filters(&body).unwrap_err().field(), field, "{body}");
        }
    }

    #[test]
    fn a_trace_message_has_wranglers_shape() {
        let mut r = rec("POST", "http://a/x", 500, "error", "hello");
        r["exceptions"] = json!([{ "name": "Error", "message": "boom", "stack": "at x", "at": 5 }]);
        let t = trace_event(&r, "site");
        assert_eq!(t["scriptName"], "site");
        assert_eq!(t["eventTimestamp"], 1_796_601_600_000i64);
        assert_eq!(t["logs"][0], json!({ "message": ["hello"], "level": "log", "timestamp": 1 }));
        assert_eq!(t["exceptions"][0]["message"], "boom");
        assert_eq!(t["event"]["request"], json!({ "url": "http://a/x", "method": "POST", "headers": {} }));
        let msgs: Vec<String> = serde_json::from_str(&TailFilter::default().trace_messages(
            &json!([r]).to_string(),
            "site",
            || 0.0,
        ))
        .unwrap();
        assert_eq!(serde_json::from_str::<Value>(&msgs[0]).unwrap(), t);
    }

    #[test]
    fn no_filter_input_panics() {
        let mut g = Gen(0x7a12);
        let keys = ["status", "method", "path", "q", "sample", "deploymentId", "x"];
        for _ in 0..3000 {
            let pairs: Vec<(String, String)> = (0..g.below(4))
                .map(|_| {
                    let k = if g.one_in(8) { g.string(NASTY, 6) } else { g.pick(&keys).to_string() };
                    (k, g.string(NASTY, 8))
                })
                .collect();
            let f = parse_tail_filter(&pairs).unwrap_or_default();
            let record = g
                .object(&["request", "status", "level", "logs", "exceptions", "deploymentId"], |g, _| {
                    g.json(NASTY, 3)
                });
            let _ = f.matches(&record, 0.5);
            let _ = f.frames(&g.mutate(&json!([record]).to_string()), || 0.5);
            let _ = f.trace_messages(&json!([record]).to_string(), "s", || 0.5);
            let body = json!({ "filters": [g.object(&["sampling_rate", "outcome", "method", "query", "scriptVersion"], |g, _| g.json(NASTY, 2))] });
            let _ = parse_wrangler_filters(&body);
        }
    }
}
