//! Invocation logs: what one run of a deployment's server code did, as the Worker Loader's
//! `tails` hand it to our `InvocationTail` entrypoint after the response (src/js/main.mjs), cut
//! to bounded records. Never panics on any input (the events come from tenant code's console
//! calls and exceptions); malformed events are skipped, not stored half-read.
//!
//! What is kept: outcome, method, URL (without its fragment), response status, wall and CPU
//! time as the runtime reports them, console lines (level, time, text) and exceptions (name,
//! message, stack). Request headers are never kept (cookies and tokens live there).

use serde_json::{json, Value};

use crate::error::ApiError;

/// Console lines kept per invocation (the rest are counted in `droppedLines`).
pub const MAX_LINES: usize = 64;
/// Characters kept of one console line, exception message or URL.
pub const MAX_TEXT: usize = 2048;
/// Characters kept of one exception stack.
pub const MAX_STACK: usize = 4096;
/// Exceptions kept per invocation.
pub const MAX_EXCEPTIONS: usize = 8;
/// Default and largest page of `GET /__api/projects/:id/logs`.
pub const DEFAULT_LOG_PAGE: u32 = 50;
pub const MAX_LOG_PAGE: u32 = 200;
/// How long logs are kept unless the operator says otherwise (LOG_RETENTION_DAYS).
pub const DEFAULT_RETENTION_DAYS: u64 = 7;
/// Rows the cron deletes per run (bounded, resumed next minute).
pub const RETENTION_BATCH: u32 = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct InvocationRecord {
    /// When the invocation started (ms since the epoch).
    pub at: i64,
    /// `ok`, `exception`, `exceededCpu`, `exceededMemory`, `canceled`, ... as the runtime says.
    pub outcome: String,
    pub method: String,
    pub url: String,
    pub status: Option<u16>,
    pub wall_ms: i64,
    pub cpu_ms: i64,
    /// `error` when anything threw or logged an error, else `warn` when anything warned, else `info`.
    pub level: &'static str,
    /// `{"logs": [...], "exceptions": [...], "droppedLines": n}` as stored and returned.
    pub detail: Value,
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// One console line's text: strings as they are, anything else as JSON, space-separated
/// (what `console.log` prints).
fn line_text(message: &Value) -> String {
    let parts: Vec<String> = match message {
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    };
    cut(&parts.join(" "), MAX_TEXT)
}

fn int(v: &Value) -> i64 {
    v.as_f64().filter(|f| f.is_finite()).map(|f| f.clamp(0.0, 9.0e15) as i64).unwrap_or(0)
}

fn text(v: &Value, max: usize) -> String {
    cut(v.as_str().unwrap_or_default(), max)
}

/// One tail event as a record, or `None` when it is not one of a request (no `event.request`).
pub fn record_of(event: &Value) -> Option<InvocationRecord> {
    let request = event.get("event")?.get("request")?;
    let method = text(request.get("method")?, 16);
    let mut url = request.get("url")?.as_str()?.to_string();
    if let Some(i) = url.find('#') {
        url.truncate(i);
    }
    let url = cut(&url, MAX_TEXT);
    let status = event
        .get("event")
        .and_then(|e| e.get("response"))
        .and_then(|r| r.get("status"))
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok());
    let mut level = "info";
    let raw_logs = event.get("logs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut logs = Vec::new();
    for l in raw_logs.iter().take(MAX_LINES) {
        let lvl = match l.get("level").and_then(Value::as_str).unwrap_or("log") {
            "error" => "error",
            "warn" => "warn",
            "debug" => "debug",
            "info" => "info",
            _ => "log",
        };
        if lvl == "error" {
            level = "error";
        } else if lvl == "warn" && level == "info" {
            level = "warn";
        }
        logs.push(json!({ "level": lvl, "at": int(&l["timestamp"]), "message": line_text(&l["message"]) }));
    }
    let exceptions: Vec<Value> = event
        .get("exceptions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .take(MAX_EXCEPTIONS)
        .map(|e| {
            json!({
                "name": text(&e["name"], 256),
                "message": text(&e["message"], MAX_TEXT),
                "stack": text(&e["stack"], MAX_STACK),
                "at": int(&e["timestamp"]),
            })
        })
        .collect();
    let outcome = cut(event.get("outcome").and_then(Value::as_str).unwrap_or("unknown"), 32);
    if !exceptions.is_empty() || outcome != "ok" || status.is_some_and(|s| s >= 500) {
        level = "error";
    }
    Some(InvocationRecord {
        at: int(&event["eventTimestamp"]),
        outcome,
        method,
        url,
        status,
        wall_ms: int(&event["wallTime"]),
        cpu_ms: int(&event["cpuTime"]),
        level,
        detail: json!({
            "logs": logs,
            "exceptions": exceptions,
            "droppedLines": raw_logs.len().saturating_sub(MAX_LINES),
        }),
    })
}

/// The records of a `tail(events)` call, given as the JSON text of its array.
pub fn records_from_tail(events_json: &str) -> Vec<InvocationRecord> {
    match serde_json::from_str::<Value>(events_json) {
        Ok(Value::Array(events)) => events.iter().filter_map(record_of).collect(),
        _ => Vec::new(),
    }
}

/// `GET /__api/projects/:id/logs` query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogQuery {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub deployment_id: Option<String>,
    /// 2, 4 or 5: the status class (`2xx`, `4xx`, `5xx`).
    pub status_class: Option<u16>,
    /// Only invocations that did not end `ok` or threw (`level=error`).
    pub errors_only: bool,
    /// Text searched in the URL and the console lines/exceptions (case-insensitive).
    pub search: Option<String>,
    pub limit: u32,
    /// Rows with a smaller id than this (newest first).
    pub before: Option<i64>,
}

fn time_param(name: &str, v: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = v.parse::<i64>() {
        if (0..=9_000_000_000_000_000).contains(&ms) {
            return Ok(ms);
        }
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_millis())
        .map_err(|_| ApiError::bad(name, "must be an RFC 3339 time or milliseconds since the epoch"))
}

/// Parses the query string (already split into pairs).
pub fn parse_log_query(pairs: &[(String, String)]) -> Result<LogQuery, ApiError> {
    let mut q = LogQuery { limit: DEFAULT_LOG_PAGE, ..LogQuery::default() };
    for (k, v) in pairs {
        match k.as_str() {
            "from" => q.from = Some(time_param("from", v)?),
            "to" => q.to = Some(time_param("to", v)?),
            "deploymentId" => {
                if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return Err(ApiError::bad("deploymentId", "must be a deployment id"));
                }
                q.deployment_id = Some(v.clone());
            }
            "status" => match v.as_str() {
                "2xx" => q.status_class = Some(2),
                "3xx" => q.status_class = Some(3),
                "4xx" => q.status_class = Some(4),
                "5xx" => q.status_class = Some(5),
                "error" => q.errors_only = true,
                _ => return Err(ApiError::bad("status", "must be one of 2xx, 3xx, 4xx, 5xx, error")),
            },
            "q" => {
                if v.chars().count() > 200 {
                    return Err(ApiError::bad("q", "at most 200 characters"));
                }
                if !v.is_empty() {
                    q.search = Some(v.clone());
                }
            }
            "limit" => {
                q.limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LOG_PAGE).contains(n))
                    .ok_or_else(|| ApiError::bad("limit", format!("must be 1-{MAX_LOG_PAGE}")))?;
            }
            "cursor" => {
                q.before = Some(
                    v.parse::<i64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| ApiError::bad("cursor", "is not a cursor"))?,
                );
            }
            _ => return Err(ApiError::bad(k, "is not a parameter of this endpoint")),
        }
    }
    if let (Some(f), Some(t)) = (q.from, q.to) {
        if f > t {
            return Err(ApiError::bad("from", "is after `to`"));
        }
    }
    Ok(q)
}

/// A LIKE pattern matching `s` anywhere, with `\` as the escape character.
pub fn like_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Logs older than this (ms) are deleted by the cron; `days` from LOG_RETENTION_DAYS (1..=365,
/// anything else is the default).
pub fn retention_cutoff(now_ms: u64, days: Option<&str>) -> i64 {
    let days = days.and_then(|d| d.trim().parse::<u64>().ok()).filter(|d| (1..=365).contains(d));
    now_ms.saturating_sub(days.unwrap_or(DEFAULT_RETENTION_DAYS) * 86_400_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_gen::{Gen, NASTY};

    fn event() -> Value {
        json!({
            "wallTime": 3, "cpuTime": 1, "outcome": "exception", "eventTimestamp": 1_796_669_265_166i64,
            "exceptions": [{ "stack": "    at Object.fetch (a.js:4:38)", "name": "Error", "message": "boom", "timestamp": 1_796_669_265_168i64 }],
            "logs": [
                { "message": ["hello", { "a": 1 }], "level": "log", "timestamp": 1_796_669_265_167i64 },
                { "message": ["careful"], "level": "warn", "timestamp": 1_796_669_265_168i64 },
            ],
            "event": {
                "request": { "url": "http://x.localhost/throw?a=1#frag", "method": "GET",
                             "headers": { "cookie": "session=secret", "authorization": "Bearer flt_x" } },
                "response": { "status": 500 },
            },
        })
    }

    #[test]
    fn an_event_becomes_a_bounded_record_without_headers() {
        let r = record_of(&event()).unwrap();
        assert_eq!((r.method.as_str(), r.url.as_str()), ("GET", "http://x.localhost/throw?a=1"));
        assert_eq!((r.status, r.outcome.as_str(), r.level), (Some(500), "exception", "error"));
        assert_eq!((r.at, r.wall_ms, r.cpu_ms), (1_796_669_265_166, 3, 1));
        assert_eq!(
            r.detail["logs"][0],
            json!({ "level": "log", "at": 1_796_669_265_167i64, "message": "hello {\"a\":1}" })
        );
        assert_eq!(r.detail["exceptions"][0]["message"], "boom");
        let stored = r.detail.to_string();
        assert!(!stored.contains("secret") && !stored.contains("flt_"), "headers are never kept: {stored}");
    }

    #[test]
    fn levels_follow_the_worst_line() {
        let mut e = event();
        e["outcome"] = json!("ok");
        e["exceptions"] = json!([]);
        e["event"]["response"]["status"] = json!(200);
        assert_eq!(record_of(&e).unwrap().level, "warn");
        e["logs"] = json!([{ "message": ["x"], "level": "log", "timestamp": 1 }]);
        assert_eq!(record_of(&e).unwrap().level, "info");
        e["logs"] = json!([{ "message": ["x"], "level": "error", "timestamp": 1 }]);
        assert_eq!(record_of(&e).unwrap().level, "error");
        e["logs"] = json!([]);
        e["outcome"] = json!("exceededCpu");
        assert_eq!(record_of(&e).unwrap().level, "error");
    }

    #[test]
    fn big_events_are_cut_and_say_so() {
        let mut e = event();
        e["logs"] = Value::Array(
            (0..100)
                .map(|i| json!({ "message": ["x".repeat(5000), i], "level": "log", "timestamp": i }))
                .collect(),
        );
        e["event"]["request"]["url"] = json!(format!("http://x/{}", "a".repeat(10_000)));
        let r = record_of(&e).unwrap();
        assert_eq!(r.detail["logs"].as_array().unwrap().len(), MAX_LINES);
        assert_eq!(r.detail["droppedLines"], 36);
        assert_eq!(r.detail["logs"][0]["message"].as_str().unwrap().chars().count(), MAX_TEXT + 1);
        assert_eq!(r.url.chars().count(), MAX_TEXT + 1);
    }

    #[test]
    fn events_that_are_not_requests_are_skipped() {
        assert_eq!(records_from_tail("not json"), vec![]);
        assert_eq!(records_from_tail("{}"), vec![]);
        let scheduled = json!([{ "outcome": "ok", "event": { "cron": "* * * * *" } }, event()]).to_string();
        assert_eq!(records_from_tail(&scheduled).len(), 1);
    }

    #[test]
    fn no_tail_input_panics() {
        let mut g = Gen(0x7a11);
        let fields = ["wallTime", "cpuTime", "outcome", "eventTimestamp", "exceptions", "logs", "event"];
        for _ in 0..3000 {
            let mut e = g.object(&fields, |g, _| g.json(NASTY, 3));
            if g.one_in(2) {
                e["event"] = json!({ "request": { "url": g.string(NASTY, 20), "method": g.json(NASTY, 1) },
                                     "response": { "status": g.json(NASTY, 1) } });
            }
            if g.one_in(3) {
                e["logs"] = json!([{ "message": g.json(NASTY, 3), "level": g.json(NASTY, 1), "timestamp": g.json(NASTY, 1) }]);
            }
            let _ = record_of(&e);
            let _ = records_from_tail(&g.mutate(&json!([e]).to_string()));
        }
    }

    #[test]
    fn the_query_is_validated() {
        let p = |s: &[(&str, &str)]| {
            parse_log_query(&s.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
        };
        let q = p(&[("status", "5xx"), ("q", "boom"), ("limit", "10"), ("cursor", "42"), ("from", "1000")])
            .unwrap();
        assert_eq!(
            q,
            LogQuery {
                from: Some(1000),
                status_class: Some(5),
                search: Some("boom".into()),
                limit: 10,
                before: Some(42),
                ..LogQuery::default()
            }
        );
        assert_eq!(p(&[("from", "2026-12-07T00:00:00Z")]).unwrap().from, Some(1_796_601_600_000));
        assert!(p(&[("status", "error")]).unwrap().errors_only);
        for (k, v) in [
            ("limit", "0"),
            ("limit", "201"),
            ("status", "6xx"),
            ("cursor", "-1"),
            ("from", "yesterday"),
            ("deploymentId", "../x"),
            ("x", "1"),
        ] {
            assert_eq!(p(&[(k, v)]).unwrap_err().field(), k, "{k}={v}");
        }
        assert_eq!(p(&[("from", "2000"), ("to", "1000")]).unwrap_err().field(), "from");
    }

    #[test]
    fn search_text_is_escaped_for_like() {
        assert_eq!(like_pattern(r"50%_a\b"), r"%50\%\_a\\b%");
    }

    #[test]
    fn retention_defaults_and_bounds() {
        let now = 10 * 86_400_000;
        assert_eq!(retention_cutoff(now, None), 3 * 86_400_000);
        assert_eq!(retention_cutoff(now, Some("1")), 9 * 86_400_000);
        assert_eq!(retention_cutoff(now, Some("0")), 3 * 86_400_000);
        assert_eq!(retention_cutoff(now, Some("junk")), 3 * 86_400_000);
        assert_eq!(retention_cutoff(1000, Some("30")), 0);
    }
}
