//! The HTTP side: one blocking `ureq` agent, the platform's JSON error envelope turned into a
//! [`Failure`] (server message + request id), and retries per [`crate::retry`].

use std::time::Duration;

use serde_json::Value;

use crate::retry::{next_delay, parse_retry_after, Idempotency, Outcome, Policy};

/// A request that did not succeed, as the user should see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// HTTP status; `None` when no answer arrived.
    pub status: Option<u16>,
    /// The envelope's machine code (`bad_request`, ...), or `network_error`/`bad_response`.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub details: Option<Box<Value>>,
}

impl Failure {
    pub fn is_auth(&self) -> bool {
        matches!(self.status, Some(401 | 403))
    }

    /// Builds a failure from an error response's status, body and `x-request-id`.
    pub fn from_response(status: u16, body: &str, header_request_id: Option<String>) -> Failure {
        let v: Option<Value> = serde_json::from_str(body).ok();
        let field = |k: &str| v.as_ref().and_then(|v| v.get(k)).and_then(Value::as_str).map(str::to_string);
        let message = field("message").unwrap_or_else(|| {
            let snippet: String = body.chars().take(200).collect();
            if snippet.trim().is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {}", snippet.trim())
            }
        });
        Failure {
            status: Some(status),
            code: field("error").unwrap_or_else(|| format!("http_{status}")),
            message,
            request_id: field("requestId").or(header_request_id),
            details: v.as_ref().and_then(|v| v.get("details")).cloned().map(Box::new),
        }
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub next_cursor: Option<String>,
}

impl Reply {
    pub fn json(&self) -> Result<Value, Failure> {
        serde_json::from_str(&self.body).map_err(|e| Failure {
            status: Some(self.status),
            code: "bad_response".into(),
            message: format!("the server answered something that is not JSON ({e})"),
            request_id: None,
            details: None,
        })
    }
}

/// A reader that reports how many bytes it has handed out (the upload progress of a file).
struct Counting<'a, R> {
    inner: R,
    sent: &'a dyn Fn(u64),
    at: u64,
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        (self.sent)(self.at);
        Ok(n)
    }
}

pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
    pub policy: Policy,
}

/// One request to send.
pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: Option<&'a Value>,
    /// Overrides the API token (upload JWTs).
    pub bearer: Option<&'a str>,
    pub headers: &'a [(&'a str, &'a str)],
    pub idem: Idempotency,
}

impl<'a> Req<'a> {
    pub fn new(method: &'a str, path: &'a str) -> Self {
        let idem = if method == "GET" { Idempotency::Safe } else { Idempotency::Unsafe };
        Req { method, path, body: None, bearer: None, headers: &[], idem }
    }
    pub fn body(mut self, body: &'a Value) -> Self {
        self.body = Some(body);
        self
    }
    pub fn idem(mut self, idem: Idempotency) -> Self {
        self.idem = idem;
        self
    }
}

impl Client {
    pub fn new(base: &str, token: &str) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(15))
            .timeout_read(Duration::from_secs(180))
            .user_agent(concat!("flotilla-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Client { base: base.to_string(), token: token.to_string(), agent, policy: Policy::default() }
    }

    /// Sends with retries; `observe` sees every attempt's outcome (`None` = success).
    #[allow(clippy::result_large_err)] // the closure returns ureq's own (large) error type
    pub fn send_observed(
        &self,
        req: &Req<'_>,
        observe: &mut dyn FnMut(Option<Outcome>),
    ) -> Result<Reply, Failure> {
        let payload = req.body.map(Value::to_string);
        let mut send = |r: ureq::Request| match &payload {
            Some(p) => r.set("content-type", "application/json").send_string(p),
            None => r.call(),
        };
        self.send_with(req, &mut send, observe)
    }

    /// Sends a file as the raw request body (`application/octet-stream`, `Content-Length` =
    /// `size`), streamed from disk (never read whole), with the same retries as JSON requests.
    /// `sent` sees the bytes of each attempt as they go (from 0 again on a retry).
    #[allow(clippy::result_large_err)] // the closure returns ureq's own (large) error type
    /// Sends bytes `offset..offset + len` of `file` as the raw body (re-read from disk on every
    /// attempt); `sent` hears how many of them went out so far.
    pub fn send_file(
        &self,
        req: &Req<'_>,
        file: &std::path::Path,
        offset: u64,
        len: u64,
        sent: &dyn Fn(u64),
    ) -> Result<Reply, Failure> {
        let mut send = |r: ureq::Request| {
            use std::io::Seek;
            let io = |e: std::io::Error| {
                ureq::Error::from(std::io::Error::other(format!("{}: {e}", file.display())))
            };
            let mut f = std::fs::File::open(file).map_err(io)?;
            f.seek(std::io::SeekFrom::Start(offset)).map_err(io)?;
            let reader = Counting { inner: std::io::BufReader::with_capacity(1 << 20, f), sent, at: 0 };
            r.set("content-type", "application/octet-stream")
                .set("content-length", &len.to_string())
                .send(std::io::Read::take(reader, len))
        };
        self.send_with(req, &mut send, &mut |_| {})
    }

    fn send_with(
        &self,
        req: &Req<'_>,
        send: &mut dyn FnMut(ureq::Request) -> Result<ureq::Response, ureq::Error>,
        observe: &mut dyn FnMut(Option<Outcome>),
    ) -> Result<Reply, Failure> {
        let url = format!("{}{}", self.base, req.path);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut r = self
                .agent
                .request(req.method, &url)
                .set("authorization", &format!("Bearer {}", req.bearer.unwrap_or(&self.token)))
                .set("accept", "application/json");
            for (k, v) in req.headers {
                r = r.set(k, v);
            }
            let result = send(r);
            let (outcome, failure) = match result {
                Ok(resp) => {
                    observe(None);
                    let status = resp.status();
                    let next_cursor = resp.header("x-next-cursor").map(str::to_string);
                    let body = resp.into_string().map_err(|e| Failure {
                        status: Some(status),
                        code: "network_error".into(),
                        message: format!("reading the response failed: {e}"),
                        request_id: None,
                        details: None,
                    })?;
                    return Ok(Reply { status, body, next_cursor });
                }
                Err(ureq::Error::Status(code, resp)) => {
                    let retry_after =
                        resp.header("retry-after").and_then(|v| parse_retry_after(v, chrono::Utc::now()));
                    let rid = resp.header("x-request-id").map(str::to_string);
                    let body = resp.into_string().unwrap_or_default();
                    (Outcome::Status { code, retry_after }, Failure::from_response(code, &body, rid))
                }
                Err(ureq::Error::Transport(t)) => (
                    Outcome::Transport,
                    Failure {
                        status: None,
                        code: "network_error".into(),
                        message: format!("cannot reach {}: {}", self.base, t),
                        request_id: None,
                        details: None,
                    },
                ),
            };
            observe(Some(outcome));
            match next_delay(&self.policy, attempt, outcome, req.idem) {
                Some(wait) => std::thread::sleep(wait),
                None => return Err(failure),
            }
        }
    }

    pub fn send(&self, req: &Req<'_>) -> Result<Reply, Failure> {
        self.send_observed(req, &mut |_| {})
    }

    pub fn get(&self, path: &str) -> Result<Value, Failure> {
        self.send(&Req::new("GET", path))?.json()
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(&Req::new("POST", path).body(body))?.json()
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(&Req::new("PUT", path).body(body).idem(Idempotency::Safe))?.json()
    }

    /// A PATCH of settings: setting the same values twice is harmless, so it may be retried.
    pub fn patch(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(&Req::new("PATCH", path).body(body).idem(Idempotency::Safe))?.json()
    }

    pub fn delete(&self, path: &str) -> Result<Value, Failure> {
        self.send(&Req::new("DELETE", path))?.json()
    }
}

/// Percent-encodes one path segment (ids, slugs, hostnames, alias names are mostly safe).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'*') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_reader_reports_the_position_as_bytes_go() {
        let seen = std::cell::RefCell::new(Vec::new());
        let sent = |at: u64| seen.borrow_mut().push(at);
        let data = vec![7u8; 10];
        let mut r = Counting { inner: std::io::Cursor::new(&data), sent: &sent, at: 0 };
        let mut buf = [0u8; 4];
        let mut out = Vec::new();
        loop {
            let n = std::io::Read::read(&mut r, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, data);
        assert_eq!(*seen.borrow(), vec![4, 8, 10, 10]);
    }

    #[test]
    fn envelope_becomes_failure_with_request_id() {
        let body = r#"{"success":false,"error":"not_found","message":"Project not found","requestId":"req-1","timestamp":"t"}"#;
        let f = Failure::from_response(404, body, Some("hdr".into()));
        assert_eq!(f.code, "not_found");
        assert_eq!(f.message, "Project not found");
        assert_eq!(f.request_id.as_deref(), Some("req-1"));
        assert!(!f.is_auth());
        assert!(Failure::from_response(401, "{}", None).is_auth());
        assert!(Failure::from_response(403, "", None).is_auth());
    }

    #[test]
    fn non_json_errors_still_say_something() {
        let f = Failure::from_response(502, "<html>Bad gateway</html>", Some("r9".into()));
        assert_eq!(f.code, "http_502");
        assert!(f.message.contains("Bad gateway"), "{}", f.message);
        assert_eq!(f.request_id.as_deref(), Some("r9"));
        assert_eq!(Failure::from_response(500, "", None).message, "HTTP 500");
        let long = "x".repeat(10_000);
        assert!(Failure::from_response(500, &long, None).message.len() < 300);
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("my-site_1"), "my-site_1");
        assert_eq!(seg("*.example.com"), "*.example.com");
        assert_eq!(seg("a/b?c"), "a%2Fb%3Fc");
    }
}
