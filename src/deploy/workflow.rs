//! The deployment workflow as a state machine: validate -> stage -> verify -> activate ->
//! cleanup. Steps are idempotent; a redelivered job resumes at the first unfinished step.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Validate,
    Stage,
    Verify,
    Activate,
    Cleanup,
}

pub const STEPS: [Step; 5] = [Step::Validate, Step::Stage, Step::Verify, Step::Activate, Step::Cleanup];

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Validate => "validate",
            Step::Stage => "stage",
            Step::Verify => "verify",
            Step::Activate => "activate",
            Step::Cleanup => "cleanup",
        }
    }
    pub fn parse(s: &str) -> Option<Step> {
        STEPS.into_iter().find(|st| st.as_str() == s)
    }
    /// Progress (0-100) once this step has completed.
    pub fn progress_after(self) -> u8 {
        match self {
            Step::Validate => 20,
            Step::Stage => 50,
            Step::Verify => 70,
            Step::Activate => 90,
            Step::Cleanup => 100,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Skipped,
}

impl StepStatus {
    pub fn parse(s: &str) -> StepStatus {
        match s {
            "running" => StepStatus::Running,
            "completed" => StepStatus::Completed,
            "failed" => StepStatus::Failed,
            "skipped" => StepStatus::Skipped,
            _ => StepStatus::Pending,
        }
    }
}

/// Whether a stored status is final (SPEC.md §3); unknown text counts as not final.
pub fn is_terminal(status: &str) -> bool {
    crate::lifecycle::Status::parse(status).is_some_and(|s| s.is_terminal())
}

/// The first step not yet completed (or skipped), given each step's recorded status.
pub fn next_step(statuses: &[(Step, StepStatus)]) -> Option<Step> {
    STEPS.into_iter().find(|s| {
        !statuses
            .iter()
            .any(|(st, status)| st == s && matches!(status, StepStatus::Completed | StepStatus::Skipped))
    })
}

/// How a step failed: permanent failures end the deployment at once; transient ones are
/// retried by the queue (with backoff) until its retries run out and the DLQ takes over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// A stable machine code and a sentence for the user (no binding internals).
    Permanent { code: &'static str, message: String },
    /// A platform dependency failed; the text is raw and goes only to the log.
    Transient(String),
}

impl StepError {
    pub fn permanent(code: &'static str, message: impl Into<String>) -> StepError {
        StepError::Permanent { code, message: message.into() }
    }

    /// What the log gets (may include raw binding errors).
    pub fn log_text(&self) -> &str {
        match self {
            StepError::Permanent { message, .. } | StepError::Transient(message) => message,
        }
    }

    /// What the user sees on the deployment record.
    pub fn public(&self) -> crate::lifecycle::StepFailure {
        match self {
            StepError::Permanent { code, message } => {
                crate::lifecycle::StepFailure::new(code, message.clone())
            }
            StepError::Transient(_) => crate::lifecycle::StepFailure::new(
                "platform_unavailable",
                "A platform service was temporarily unavailable; the step is retried automatically",
            ),
        }
    }
}

/// Queue retry delay for the n-th attempt (1-based): 2 s, 4 s, 8 s ... capped at 60 s.
pub fn retry_delay_secs(attempt: u32) -> u32 {
    2u32.saturating_pow(attempt.clamp(1, 6)).min(60)
}

/// Attempts a deployment gets in all (SPEC.md §4: one try plus two retries), whoever runs them:
/// the deploy request's immediate run counts as the first.
pub const MAX_ATTEMPTS: i64 = 3;

/// How long a runner holds a deployment after its last step boundary while a step is still
/// `running`: a queue delivery inside it leaves the work to that runner (and comes back later);
/// a runner that died leaves a `running` step behind and the next delivery after this takes over.
pub const LEASE_MS: i64 = 60_000;

/// Whether another runner is working on the deployment right now: one of its steps is
/// `running` and the record moved (`updated_at`, bumped at every step start and finish) less
/// than [`LEASE_MS`] ago. Holding is only an optimisation against doing the work twice: every
/// step is idempotent and activation is a compare-and-swap, so two runners stay correct.
pub fn held_by_runner(statuses: &[(Step, StepStatus)], updated_at: i64, now: i64) -> bool {
    statuses.iter().any(|(_, s)| *s == StepStatus::Running) && now.saturating_sub(updated_at) < LEASE_MS
}

/// What a failed attempt leads to: `true` = the attempts are used up and the deployment is
/// failed now, `false` = the queue retries it with backoff.
pub fn attempts_exhausted(attempt: i64) -> bool {
    attempt >= MAX_ATTEMPTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use StepStatus::*;

    #[test]
    fn a_running_step_holds_the_deployment_only_within_the_lease() {
        let running = [(Step::Validate, Completed), (Step::Stage, Running)];
        assert!(held_by_runner(&running, 1_000, 1_000));
        assert!(held_by_runner(&running, 1_000, 1_000 + LEASE_MS - 1));
        assert!(!held_by_runner(&running, 1_000, 1_000 + LEASE_MS), "a dead runner's lease lapses");
        // A clock that went backwards (another isolate) still holds, never panics.
        assert!(held_by_runner(&running, 5_000, 1_000));
        assert!(held_by_runner(&running, i64::MAX, i64::MIN));
        let idle = [(Step::Validate, Completed), (Step::Stage, Failed), (Step::Verify, Pending)];
        assert!(!held_by_runner(&idle, 1_000, 1_000), "a failed step is free to retry at once");
        assert!(!held_by_runner(&[], 1_000, 1_000));
    }

    #[test]
    fn three_attempts_in_all() {
        assert!(!attempts_exhausted(1));
        assert!(!attempts_exhausted(2));
        assert!(attempts_exhausted(3));
        assert!(attempts_exhausted(4));
    }

    #[test]
    fn next_step_resumes_after_completed_steps() {
        assert_eq!(next_step(&[]), Some(Step::Validate));
        assert_eq!(next_step(&[(Step::Validate, Completed), (Step::Stage, Running)]), Some(Step::Stage));
        assert_eq!(
            next_step(&[(Step::Validate, Completed), (Step::Stage, Completed), (Step::Verify, Failed)]),
            Some(Step::Verify)
        );
        let all: Vec<_> = STEPS.iter().map(|s| (*s, Completed)).collect();
        assert_eq!(next_step(&all), None);
        let mut skipped = all.clone();
        skipped[4].1 = Skipped;
        assert_eq!(next_step(&skipped), None);
    }

    #[test]
    fn step_names_round_trip_and_progress_increases() {
        let mut last = 0;
        for s in STEPS {
            assert_eq!(Step::parse(s.as_str()), Some(s));
            assert!(s.progress_after() > last);
            last = s.progress_after();
        }
        assert_eq!(last, 100);
        assert_eq!(Step::parse("nope"), None);
    }

    #[test]
    fn backoff() {
        assert_eq!(retry_delay_secs(0), 2);
        assert_eq!(retry_delay_secs(1), 2);
        assert_eq!(retry_delay_secs(2), 4);
        assert_eq!(retry_delay_secs(30), 60);
    }

    #[test]
    fn terminal_statuses() {
        assert!(is_terminal("completed") && is_terminal("failed") && is_terminal("expired"));
        assert!(!is_terminal("queued") && !is_terminal("in_progress") && !is_terminal("bogus"));
    }

    #[test]
    fn transient_errors_never_show_raw_text() {
        let e = StepError::Transient("D1_ERROR: no such table: secret_stuff".into());
        assert!(e.log_text().contains("secret_stuff"));
        let public = e.public();
        assert_eq!(public.code, "platform_unavailable");
        assert!(!public.message.contains("D1") && !public.message.contains("secret"));
        let p = StepError::permanent("files_missing", "2 file(s) are not stored");
        assert_eq!(p.public().code, "files_missing");
    }
}
