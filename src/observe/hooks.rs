//! Webhooks and log drains (issue 29 items 5 and 6), pure: which events exist, what a hook's
//! create body may say, the Standard Webhooks signature (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed by the `whsec_`
//! secret), the retry schedule, event payloads, drain sampling and NDJSON batches. The wasm side
//! (src/platform/jobs/hooks.rs, store/d1_hooks.rs, api/hooks.rs) stores, queues and sends what
//! these decide.

use base64::Engine as _;
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::Algorithm as _;
use serde_json::{json, Map, Value};

use crate::domain::{iso8601, JsonObject};
use crate::error::ApiError;

/// Events a webhook can subscribe to.
pub const EVENTS: [&str; 9] = [
    "deployment.created",
    "deployment.succeeded",
    "deployment.failed",
    "deployment.activated",
    "deployment.rolled_back",
    "deployment.promoted",
    "domain.verified",
    "domain.failed",
    "project.deleted",
];
/// The test event `POST …/webhooks/:hid/ping` sends whatever the hook subscribed to.
pub const PING: &str = "webhook.ping";
/// What a drain can carry: invocation logs of server code, and the deployment events above.
pub const SOURCES: [&str; 2] = ["logs", "events"];
/// Hooks (webhooks plus drains) per project.
pub const MAX_HOOKS: usize = 20;
pub const MAX_URL: usize = 2048;
/// Retry delays after a failed attempt, in seconds (Standard Webhooks' schedule, shortened at
/// the start so a receiver that restarts is caught up quickly): after the last the delivery
/// is `failed`, and only a redeliver sends it again.
pub const RETRY_DELAYS: [u32; 7] = [5, 60, 300, 1800, 7200, 18000, 36000];
/// A drain keeps at most this many lines waiting; past it the oldest are dropped and counted.
pub const MAX_BACKLOG: u32 = 1000;
/// Lines and bytes in one drain POST.
pub const BATCH_LINES: u32 = 200;
pub const BATCH_BYTES: usize = 512 * 1024;
/// Deliveries listed per page.
pub const DELIVERIES_PAGE: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Webhook,
    Drain,
}

impl HookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::Webhook => "webhook",
            HookKind::Drain => "drain",
        }
    }
}

/// A validated create body: the URL, the events (webhook) or sources (drain) and, for a drain,
/// its sampling rate for invocation logs.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHook {
    pub url: String,
    pub topics: Vec<String>,
    pub sampling: f64,
}

/// Parses `{url, events?}` (webhook) or `{url, sources?, sampling?}` (drain). Without a list
/// every event / source is taken. `allow_loopback` is the dev-only allowance for
/// `http://localhost` / `http://127.0.0.1` receivers.
pub fn parse_new_hook(body: &[u8], kind: HookKind, allow_loopback: bool) -> Result<NewHook, ApiError> {
    let o = JsonObject::parse(body, false)?;
    let (list_field, known): (&str, &[&str]) = match kind {
        HookKind::Webhook => {
            o.only(&["url", "events"])?;
            ("events", &EVENTS)
        }
        HookKind::Drain => {
            o.only(&["url", "sources", "sampling"])?;
            ("sources", &SOURCES)
        }
    };
    let url = o.opt_str("url")?.ok_or_else(|| ApiError::bad("url", "is required"))?;
    let url = parse_hook_url(url, allow_loopback).map_err(|why| ApiError::bad("url", why))?;
    let topics = match o.get(list_field) {
        None | Some(Value::Null) => known.iter().map(|s| s.to_string()).collect(),
        Some(Value::Array(items)) => {
            let mut out: Vec<String> = Vec::new();
            for item in items {
                let name = item.as_str().filter(|s| known.contains(s)).ok_or_else(|| {
                    ApiError::bad(list_field, format!("each entry must be one of: {}", known.join(", ")))
                })?;
                if !out.iter().any(|s| s == name) {
                    out.push(name.to_string());
                }
            }
            if out.is_empty() {
                return Err(ApiError::bad(list_field, "must name at least one entry"));
            }
            out
        }
        Some(_) => return Err(ApiError::bad(list_field, "must be an array of strings")),
    };
    let sampling = match o.get("sampling") {
        None | Some(Value::Null) => 1.0,
        Some(v) => v
            .as_f64()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| ApiError::bad("sampling", "must be a number from 0 to 1"))?,
    };
    Ok(NewHook { url, topics, sampling })
}

/// A receiver URL: `https://` with a host, no credentials, no fragment; `http://` only to a
/// loopback host and only when `allow_loopback` (local development).
pub fn parse_hook_url(url: &str, allow_loopback: bool) -> Result<String, &'static str> {
    if url.len() > MAX_URL {
        return Err("must be at most 2048 characters");
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters");
    }
    let lower = url.to_ascii_lowercase();
    let (https, rest) = if let Some(r) = lower.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = lower.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("must be an https:// URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("must not carry credentials");
    }
    if url.contains('#') {
        return Err("must not have a fragment");
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    if host.is_empty() {
        return Err("must name a host");
    }
    if let Some(port) = authority
        .rsplit_once("]:")
        .map(|p| p.1)
        .or_else(|| (!authority.starts_with('[')).then(|| authority.split_once(':').map(|p| p.1)).flatten())
    {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err("has an invalid port");
        }
    }
    if !https {
        let loopback = matches!(host, "localhost" | "127.0.0.1" | "::1");
        if !(loopback && allow_loopback) {
            return Err(
                "must be an https:// URL (http:// is allowed only to localhost in local development)",
            );
        }
    }
    Ok(url.to_string())
}

/// A new signing secret from 24 random bytes: `whsec_` + base64, as Standard Webhooks writes it.
pub fn new_secret(random: &[u8; 24]) -> String {
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(random))
}

/// `webhook-signature` for one message: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`,
/// keyed by the secret's decoded bytes (`None` for a secret that is not `whsec_` + base64).
pub fn sign(secret: &str, id: &str, timestamp_secs: u64, body: &str) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let message = format!("{id}.{timestamp_secs}.{body}");
    let sig = Hs256.sign(&Hs256Key::new(key), message.as_bytes());
    Some(format!("v1,{}", b64.encode(jwt_compact::AlgorithmSignature::as_bytes(&sig))))
}

/// The three Standard Webhooks headers of one message, plus its content type.
pub fn signed_headers(
    secret: &str,
    id: &str,
    now_ms: u64,
    body: &str,
    content_type: &'static str,
) -> Option<Vec<(&'static str, String)>> {
    let ts = now_ms / 1000;
    let signature = sign(secret, id, ts, body)?;
    Some(vec![
        ("content-type", content_type.to_string()),
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", signature),
        ("user-agent", "Flotilla-Webhooks/1".to_string()),
    ])
}

/// What to do after attempt number `retry` (0 = the first send of this round) failed: come back
/// after this many seconds, or `None`: give up.
pub fn retry_after(retry: u32) -> Option<u32> {
    RETRY_DELAYS.get(retry as usize).copied()
}

/// A drain that keeps failing keeps its (bounded) backlog and tries again at the longest delay.
pub fn drain_retry_after(retry: u32) -> u32 {
    retry_after(retry).unwrap_or(RETRY_DELAYS[RETRY_DELAYS.len() - 1])
}

/// Whether a receiver's answer counts as delivered.
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The JSON body of an event (Standard Webhooks' `{type, timestamp, data}`). `data` is built by
/// the caller from ids and statuses only: never tokens, secrets or request headers.
pub fn event_payload(event: &str, now_ms: u64, data: Value) -> Value {
    json!({ "type": event, "timestamp": iso8601(now_ms), "data": data })
}

/// Whether a webhook subscribed to `event` (a ping reaches every hook).
pub fn subscribed(topics: &[String], event: &str) -> bool {
    event == PING || topics.iter().any(|t| t == event)
}

/// Whether one invocation log line goes to a drain sampling at `rate`, given a uniform draw
/// `draw` in [0, 1). Rate 1 keeps all, 0 none.
pub fn sampled(rate: f64, draw: f64) -> bool {
    rate >= 1.0 || draw < rate
}

/// A drain line for an invocation log record (the JSON the logs API returns).
pub fn log_line(project_id: &str, record: &Value) -> String {
    let mut m = Map::new();
    m.insert("source".into(), json!("logs"));
    m.insert("projectId".into(), json!(project_id));
    if let Value::Object(r) = record {
        for (k, v) in r {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Value::Object(m).to_string()
}

/// The JSON of one invocation record as the logs API shows it (without its row id), for drains.
pub fn record_json(deployment_id: &str, r: &crate::observe::InvocationRecord) -> Value {
    let mut v = r.to_log_json(deployment_id);
    if let Value::Object(o) = &mut v {
        o.remove("id");
    }
    v
}

/// A drain line for a deployment event (its webhook payload, tagged).
pub fn event_line(project_id: &str, payload: &Value) -> String {
    let mut line = json!({ "source": "events", "projectId": project_id });
    if let (Value::Object(l), Value::Object(p)) = (&mut line, payload) {
        for (k, v) in p {
            l.insert(k.clone(), v.clone());
        }
    }
    line.to_string()
}

/// How many of the oldest waiting `lines` (their lengths, oldest first) one POST carries: at
/// most [`BATCH_LINES`] and [`BATCH_BYTES`], but always at least one (a line is bounded by the
/// log record limits, so one line never exceeds what a receiver accepts).
pub fn batch_len(lines: &[usize]) -> usize {
    let mut bytes = 0;
    for (i, len) in lines.iter().enumerate() {
        bytes += len + 1;
        if i >= BATCH_LINES as usize || (i > 0 && bytes > BATCH_BYTES) {
            return i;
        }
    }
    lines.len()
}

/// NDJSON body of a batch: one JSON text per line, each ending in `\n`.
pub fn ndjson(lines: &[String]) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Lines to drop, oldest first, so a backlog of `len` keeps at most [`MAX_BACKLOG`].
pub fn overflow(len: u32) -> u32 {
    len.saturating_sub(MAX_BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac_reference(key: &[u8], msg: &[u8]) -> Vec<u8> {
        // RFC 2104 over sha2, independent of jwt-compact.
        use sha2::{Digest, Sha256};
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha256::new().chain_update(&ipad).chain_update(msg).finalize();
        Sha256::new().chain_update(&opad).chain_update(inner).finalize().to_vec()
    }

    #[test]
    fn signature_is_standard_webhooks_v1() {
        // The Standard Webhooks reference vector (standard-webhooks spec, "Signature scheme").
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        let sig = sign(secret, id, 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let key = base64::engine::general_purpose::STANDARD.decode(&secret[6..]).unwrap();
        let want = hmac_reference(&key, format!("{id}.1614265330.{body}").as_bytes());
        assert_eq!(sig, format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(want)));
    }

    #[test]
    fn a_secret_that_is_not_whsec_base64_signs_nothing() {
        assert_eq!(sign("plain", "a", 1, "{}"), None);
        assert_eq!(sign("whsec_***", "a", 1, "{}"), None);
        let s = new_secret(&[7; 24]);
        assert!(s.starts_with("whsec_") && sign(&s, "a", 1, "{}").is_some());
    }

    #[test]
    fn headers_carry_id_timestamp_in_seconds_and_signature() {
        let s = new_secret(&[1; 24]);
        let h = signed_headers(&s, "d1", 1_700_000_000_999, "{}", "application/json").unwrap();
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("webhook-id"), "d1");
        assert_eq!(get("webhook-timestamp"), "1700000000");
        assert_eq!(get("webhook-signature"), sign(&s, "d1", 1_700_000_000, "{}").unwrap());
    }

    #[test]
    fn urls_are_https_except_loopback_in_development() {
        let ok = |u: &str, dev: bool| parse_hook_url(u, dev).is_ok();
        assert!(ok("https://hooks.example.com/x?y=1", false));
        assert!(ok("https://hooks.example.com:8443/x", false));
        assert!(ok("http://127.0.0.1:9000/hook", true));
        assert!(ok("http://localhost:9000/hook", true));
        assert!(ok("http://[::1]:9000/hook", true));
        for bad in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://example.com/hook",
            "ftp://example.com",
            "https://user:pw@example.com/",
            "https://",
            "https:///x",
            "https://a.example/#frag",
            "https://a.example:0/",
            "https://a.example:99999/",
            "https://a.example/ x",
            "javascript:alert(1)",
        ] {
            assert!(!ok(bad, false), "{bad} accepted in production");
        }
        for bad in
            ["http://example.com/hook", "http://127.0.0.1.evil.example/", "http://localhost@evil.example/"]
        {
            assert!(!ok(bad, true), "{bad} accepted in development");
        }
        assert!(!ok(&format!("https://a.example/{}", "x".repeat(MAX_URL)), false));
    }

    #[test]
    fn create_bodies_take_a_subset_of_known_events_or_sources() {
        let w = |b: &str| parse_new_hook(b.as_bytes(), HookKind::Webhook, false);
        let d = |b: &str| parse_new_hook(b.as_bytes(), HookKind::Drain, false);
        let all = w(r#"{"url":"https://a.example/h"}"#).unwrap();
        assert_eq!(all.topics.len(), EVENTS.len());
        let some =
            w(r#"{"url":"https://a.example/h","events":["deployment.failed","deployment.failed"]}"#).unwrap();
        assert_eq!(some.topics, vec!["deployment.failed".to_string()]);
        assert_eq!(
            w(r#"{"url":"https://a.example/h","events":["deploy.x"]}"#).unwrap_err().field(),
            "events"
        );
        assert_eq!(w(r#"{"url":"https://a.example/h","events":[]}"#).unwrap_err().field(), "events");
        assert_eq!(w(r#"{"url":"https://a.example/h","sampling":1}"#).unwrap_err().field(), "sampling");
        assert_eq!(w(r#"{"events":["project.deleted"]}"#).unwrap_err().field(), "url");
        let drain = d(r#"{"url":"https://a.example/d","sources":["logs"],"sampling":0.25}"#).unwrap();
        assert_eq!((drain.topics, drain.sampling), (vec!["logs".to_string()], 0.25));
        assert_eq!(d(r#"{"url":"https://a.example/d"}"#).unwrap().sampling, 1.0);
        for bad in ["1.5", "-0.1", "\"half\""] {
            let body = format!(r#"{{"url":"https://a.example/d","sampling":{bad}}}"#);
            assert_eq!(d(&body).unwrap_err().field(), "sampling");
        }
        assert_eq!(d(r#"{"url":"https://a.example/d","events":["logs"]}"#).unwrap_err().field(), "events");
    }

    #[test]
    fn retries_back_off_then_give_up() {
        let delays: Vec<_> = (0..10).map(retry_after).collect();
        assert_eq!(delays[0], Some(5));
        assert!(delays.windows(2).all(|w| match (w[0], w[1]) {
            (Some(a), Some(b)) => b > a,
            (_, None) => true,
            (None, Some(_)) => false,
        }));
        assert_eq!(delays[RETRY_DELAYS.len()], None);
        // Queue message delays are capped at 12 hours.
        assert!(RETRY_DELAYS.iter().all(|d| *d <= 43_200));
        assert_eq!(drain_retry_after(99), 36000);
        assert!(delivered(200) && delivered(204) && !delivered(500) && !delivered(301) && !delivered(0));
    }

    #[test]
    fn batches_are_bounded_in_lines_and_bytes_but_never_empty() {
        assert_eq!(batch_len(&[]), 0);
        assert_eq!(batch_len(&[10; 5]), 5);
        assert_eq!(batch_len(&[10; 1000]), BATCH_LINES as usize);
        assert_eq!(batch_len(&[BATCH_BYTES * 2, 10]), 1);
        assert_eq!(batch_len(&[BATCH_BYTES / 2, BATCH_BYTES / 2, 10]), 1);
        assert_eq!(ndjson(&["{\"a\":1}".into(), "{}".into()]), "{\"a\":1}\n{}\n");
        assert_eq!((overflow(10), overflow(MAX_BACKLOG + 7)), (0, 7));
    }

    #[test]
    fn sampling_and_subscriptions() {
        assert!(sampled(1.0, 0.999) && !sampled(0.0, 0.0) && sampled(0.5, 0.49) && !sampled(0.5, 0.5));
        let topics = vec!["deployment.failed".to_string()];
        assert!(subscribed(&topics, "deployment.failed") && subscribed(&topics, PING));
        assert!(!subscribed(&topics, "deployment.created"));
    }

    #[test]
    fn drain_lines_are_single_json_lines_tagged_with_their_source() {
        let rec = json!({ "id": "1", "logs": [{ "message": "a\nb" }], "source": "spoofed" });
        let line = log_line("p1", &rec);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!((v["source"].as_str(), v["projectId"].as_str()), (Some("logs"), Some("p1")));
        let ev = event_payload("deployment.created", 0, json!({ "deploymentId": "d" }));
        let v: Value = serde_json::from_str(&event_line("p1", &ev)).unwrap();
        assert_eq!(v["type"], "deployment.created");
        assert_eq!(v["source"], "events");
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000Z");
    }
}
