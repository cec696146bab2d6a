//! Retry policy (pure): which failures are worth another try, how long to wait (exponential
//! backoff, capped, or the server's `Retry-After`), and when parallel uploads drop to one stream.

use std::time::Duration;

/// What a finished attempt looked like, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The request never got an HTTP answer (connection refused, reset, timeout).
    Transport,
    /// An HTTP status, with the server's `Retry-After` (already parsed) if it sent one.
    Status { code: u16, retry_after: Option<Duration> },
}

/// Whether the request may run again without changing what the server ends up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads and uploads (the server dedupes by hash): every transient failure is retried.
    Safe,
    /// Creates something (a deployment): only retried when the server says it did nothing (429).
    Unsafe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts in total (the first one included).
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// A `Retry-After` longer than this is not waited for: the failure is reported instead.
    pub max_retry_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_attempts: 5,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// Is this outcome a transient failure (worth retrying at all)?
pub fn is_transient(outcome: Outcome, idem: Idempotency) -> bool {
    match (outcome, idem) {
        (Outcome::Status { code: 429, .. }, _) => true,
        (_, Idempotency::Unsafe) => false,
        (Outcome::Transport, Idempotency::Safe) => true,
        // 501 (not implemented) and 505 will not change on a retry.
        (Outcome::Status { code, .. }, Idempotency::Safe) => matches!(code, 408 | 500 | 502 | 503 | 504),
    }
}

/// How long to wait before attempt `attempt + 1` after `attempt` (1-based) ended in `outcome`;
/// `None` means give up and report this outcome.
pub fn next_delay(policy: &Policy, attempt: u32, outcome: Outcome, idem: Idempotency) -> Option<Duration> {
    if attempt >= policy.max_attempts || !is_transient(outcome, idem) {
        return None;
    }
    if let Outcome::Status { retry_after: Some(wait), .. } = outcome {
        return (wait <= policy.max_retry_after).then_some(wait);
    }
    Some(backoff(policy, attempt))
}

/// `base * 2^(attempt-1)`, capped.
pub fn backoff(policy: &Policy, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
    policy.base.checked_mul(factor).map_or(policy.cap, |d| d.min(policy.cap))
}

/// Parses `Retry-After`: delta-seconds or an HTTP-date (relative to `now`). Past dates mean
/// "now"; anything unparseable is ignored (backoff applies).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX).min(86_400)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// Consecutive server errors (5xx) after which parallel uploads drop to one stream.
pub const DROP_TO_ONE_AFTER: u32 = 2;

/// Tracks upload outcomes and decides the concurrency the next bucket may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    limit: usize,
    consecutive_5xx: u32,
    dropped: bool,
}

impl Throttle {
    pub fn new(limit: usize) -> Self {
        Throttle { limit: limit.max(1), consecutive_5xx: 0, dropped: false }
    }

    pub fn limit(&self) -> usize {
        if self.dropped {
            1
        } else {
            self.limit
        }
    }

    /// Records one attempt's outcome; returns true when this call made it drop to one stream.
    pub fn record(&mut self, outcome: Option<Outcome>) -> bool {
        match outcome {
            Some(Outcome::Status { code, .. }) if (500..600).contains(&code) => {
                self.consecutive_5xx += 1;
                if self.consecutive_5xx >= DROP_TO_ONE_AFTER && !self.dropped && self.limit > 1 {
                    self.dropped = true;
                    return true;
                }
            }
            // A success resets the streak; it does not undo a drop (the server asked for calm).
            None => self.consecutive_5xx = 0,
            Some(_) => {}
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn st(code: u16) -> Outcome {
        Outcome::Status { code, retry_after: None }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = Policy::default();
        let got: Vec<u64> = (1..=6).map(|a| backoff(&p, a).as_millis() as u64).collect();
        assert_eq!(got, vec![500, 1000, 2000, 4000, 8000, 8000]);
        assert_eq!(backoff(&p, 200), p.cap);
    }

    #[test]
    fn transient_failures_table() {
        use Idempotency::*;
        let cases = [
            (Outcome::Transport, Safe, true),
            (Outcome::Transport, Unsafe, false),
            (st(429), Unsafe, true),
            (st(429), Safe, true),
            (st(500), Safe, true),
            (st(503), Safe, true),
            (st(503), Unsafe, false),
            (st(501), Safe, false),
            (st(400), Safe, false),
            (st(401), Safe, false),
            (st(404), Safe, false),
            (st(413), Safe, false),
        ];
        for (o, i, want) in cases {
            assert_eq!(is_transient(o, i), want, "{o:?} {i:?}");
        }
    }

    #[test]
    fn retry_after_wins_over_backoff_and_attempts_are_bounded() {
        let p = Policy::default();
        let o = Outcome::Status { code: 429, retry_after: Some(Duration::from_secs(3)) };
        assert_eq!(next_delay(&p, 1, o, Idempotency::Unsafe), Some(Duration::from_secs(3)));
        assert_eq!(next_delay(&p, 2, st(503), Idempotency::Safe), Some(Duration::from_secs(1)));
        assert_eq!(next_delay(&p, p.max_attempts, st(503), Idempotency::Safe), None);
        assert_eq!(next_delay(&p, 1, st(400), Idempotency::Safe), None);
        let long = Outcome::Status { code: 429, retry_after: Some(Duration::from_secs(3600)) };
        assert_eq!(next_delay(&p, 1, long, Idempotency::Safe), None);
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = chrono::Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        for junk in ["", "-1", "1.5", "soon", "Wed, 99 Oct 2015", "\u{0}"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn repeated_5xx_drops_to_one_stream() {
        let mut t = Throttle::new(3);
        assert_eq!(t.limit(), 3);
        assert!(!t.record(Some(st(503))));
        assert!(!t.record(None)); // success resets the streak
        assert!(!t.record(Some(st(502))));
        assert_eq!(t.limit(), 3);
        assert!(t.record(Some(st(500))));
        assert_eq!(t.limit(), 1);
        assert!(!t.record(Some(st(500))), "drops only once");
        t.record(None);
        assert_eq!(t.limit(), 1, "stays at one stream");
        // 429s are not server errors: they have Retry-After and do not drop.
        let mut t = Throttle::new(3);
        t.record(Some(st(429)));
        t.record(Some(st(429)));
        assert_eq!(t.limit(), 3);
        assert_eq!(Throttle::new(0).limit(), 1);
    }
}
