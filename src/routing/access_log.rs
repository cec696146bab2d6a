//! The per-request log line (pure): which requests get one, and the JSON text itself, written
//! straight into one `String` (no `serde_json::Value` tree per request). Under `wrangler dev`
//! every line is shipped to wrangler's Node process, which made it the largest per-request
//! cost outside the runtime; in production it is Workers Logs volume.

/// Which requests are logged: every error (5xx), every slow one, every management call, and
/// one in `every` of the rest (visitor traffic).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogPolicy {
    /// Log one in this many sampled requests; 0 = none, 1 = all.
    pub every: u64,
    /// A request that took at least this long is always logged.
    pub slow_ms: u64,
}

impl LogPolicy {
    pub const DEFAULT_RATE: f64 = 0.01;
    pub const DEFAULT_SLOW_MS: u64 = 1000;

    /// From the vars `LOG_SAMPLE_RATE` (0..=1, share of visitor requests logged) and
    /// `LOG_SLOW_MS`; unparseable values fall back to the defaults.
    pub fn from_vars(rate: Option<&str>, slow_ms: Option<&str>) -> LogPolicy {
        let rate = rate
            .and_then(|r| r.trim().parse::<f64>().ok())
            .filter(|r| r.is_finite() && (0.0..=1.0).contains(r))
            .unwrap_or(LogPolicy::DEFAULT_RATE);
        let every = if rate <= 0.0 { 0 } else { (1.0 / rate).round().max(1.0) as u64 };
        let slow_ms =
            slow_ms.and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(LogPolicy::DEFAULT_SLOW_MS);
        LogPolicy { every, slow_ms }
    }

    /// Whether request number `seq` (a per-isolate counter) gets a line.
    pub fn should_log(&self, visitor: bool, status: u16, ms: u64, seq: u64) -> bool {
        if status >= 500 || ms >= self.slow_ms || !visitor {
            return true;
        }
        self.every != 0 && seq.is_multiple_of(self.every)
    }
}

/// `{"level":..,"requestId":..,"at":..,"method":..,"path":..,"status":..,"ms":..}`.
pub fn request_line(
    level: &str,
    request_id: &str,
    at: &str,
    method: &str,
    path: &str,
    status: u16,
    ms: u64,
) -> String {
    let mut s = String::with_capacity(96 + path.len());
    s.push_str("{\"level\":");
    push_json_str(&mut s, level);
    s.push_str(",\"requestId\":");
    push_json_str(&mut s, request_id);
    s.push_str(",\"at\":");
    push_json_str(&mut s, at);
    s.push_str(",\"method\":");
    push_json_str(&mut s, method);
    s.push_str(",\"path\":");
    push_json_str(&mut s, path);
    s.push_str(",\"status\":");
    s.push_str(&status.to_string());
    s.push_str(",\"ms\":");
    s.push_str(&ms.to_string());
    s.push('}');
    s
}

/// Appends `v` as a JSON string literal (RFC 8259 escaping).
pub fn push_json_str(s: &mut String, v: &str) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                s.push_str("\\u00");
                s.push(HEX[(c as usize) >> 4] as char);
                s.push(HEX[(c as usize) & 15] as char);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_slow_and_management_requests_are_always_logged() {
        let p = LogPolicy { every: 0, slow_ms: 500 };
        assert!(p.should_log(true, 500, 1, 1));
        assert!(p.should_log(true, 503, 1, 1));
        assert!(p.should_log(true, 200, 500, 1));
        assert!(p.should_log(false, 200, 1, 1), "API/MCP calls");
        assert!(!p.should_log(true, 200, 499, 1));
        assert!(!p.should_log(true, 404, 1, 1), "a visitor's 404 is traffic, not an error");
    }

    #[test]
    fn visitor_requests_are_sampled_one_in_every() {
        let p = LogPolicy { every: 4, slow_ms: u64::MAX };
        let logged = (1..=100).filter(|&n| p.should_log(true, 200, 0, n)).count();
        assert_eq!(logged, 25);
        let all = LogPolicy { every: 1, slow_ms: u64::MAX };
        assert!((1..=10).all(|n| all.should_log(true, 304, 0, n)));
    }

    #[test]
    fn policy_from_vars() {
        assert_eq!(LogPolicy::from_vars(None, None), LogPolicy { every: 100, slow_ms: 1000 });
        assert_eq!(LogPolicy::from_vars(Some("1"), Some("50")), LogPolicy { every: 1, slow_ms: 50 });
        assert_eq!(LogPolicy::from_vars(Some("0"), None).every, 0);
        assert_eq!(LogPolicy::from_vars(Some("0.3"), None).every, 3);
        assert_eq!(LogPolicy::from_vars(Some("0.001"), None).every, 1000);
        for bad in ["-1", "2", "NaN", "inf", "x", ""] {
            assert_eq!(LogPolicy::from_vars(Some(bad), Some("x")), LogPolicy::from_vars(None, None), "{bad}");
        }
    }

    #[test]
    fn the_line_is_valid_json_with_the_fields_even_for_hostile_paths() {
        let path = "/a\"b\\c\n\u{1}é/\u{7f}";
        let line = request_line("info", "rid", "2026-01-01T00:00:00.000Z", "GET", path, 404, 7);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"level": "info", "requestId": "rid", "at": "2026-01-01T00:00:00.000Z",
                               "method": "GET", "path": path, "status": 404, "ms": 7})
        );
    }
}
