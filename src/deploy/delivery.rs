//! Queue delivery policy (pure): what the `DEPLOY_QUEUE` / `DEPLOY_DLQ` consumer does with one
//! message, given which queue it came from and how its job went. The consumer
//! (`platform/jobs/queue.rs`) only carries out the returned [`Plan`]: perform its [`Effect`],
//! then settle the message with [`Plan::settle`] on whether the effect succeeded.

use super::{attempts_exhausted, retry_delay_secs};

/// How a deployment job's run ended, as the policy needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployOutcome {
    /// The message came from the dead-letter queue (the queue's retries are used up): the job
    /// is not run again.
    DeadLettered,
    /// Every remaining step ran, or there was nothing left to do.
    Done,
    /// Another runner holds the deployment (within its lease): nothing was done.
    Held,
    /// A step failed for good: the deployment is to be marked failed.
    Permanent,
    /// A step failed transiently on this attempt (1-based; 0 = before an attempt started).
    Transient { attempt: i64 },
}

/// How one purge chunk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeOutcome {
    /// The message came from the dead-letter queue: the chunk is not run again.
    DeadLettered,
    /// Nothing of the project is left.
    Done,
    /// This chunk finished; more remains for a next message.
    More,
    /// The chunk failed (a storage error); running it again is safe.
    Failed,
}

/// What happens to the message itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Done with it: never delivered again.
    Ack,
    /// Delivered again by the queue (uses up one of its retries; after the last, the DLQ),
    /// after `delay_secs` or the queue's default delay.
    Retry { delay_secs: Option<u32> },
}

/// The one side effect a delivery performs before it settles its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Nothing,
    /// Fail a still-pending deployment with its last step error ("gave up after N attempts").
    GiveUp,
    /// Fail the deployment with the permanent step error.
    MarkFailed,
    /// Send the same job again as a fresh message, seen no earlier than `after_secs` (0: at
    /// once). A fresh message does not use up the queue's retries.
    Requeue {
        after_secs: u32,
    },
}

/// The effect, and how the message settles when the effect succeeded or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub effect: Effect,
    pub on_success: Delivery,
    pub on_failure: Delivery,
}

impl Plan {
    fn settled(delivery: Delivery) -> Plan {
        Plan { effect: Effect::Nothing, on_success: delivery, on_failure: delivery }
    }

    /// An effect whose success acks the message and whose failure has the queue deliver it
    /// again (so the effect, or the whole job, is tried again).
    fn then_ack(effect: Effect, on_failure: Delivery) -> Plan {
        Plan { effect, on_success: Delivery::Ack, on_failure }
    }

    /// How the message settles once the effect ran (`Effect::Nothing` always "succeeds").
    pub fn settle(&self, effect_ok: bool) -> Delivery {
        if effect_ok || self.effect == Effect::Nothing {
            self.on_success
        } else {
            self.on_failure
        }
    }
}

/// A deployment job. From the DLQ the queue's retries are used up: give up (fail the deployment
/// if it is still pending), retrying the message if even that fails. On the main queue: a held
/// deployment comes back later as a fresh message (`held_delay_secs`), so waiting never uses up
/// retries; a permanent error marks the deployment failed; a transient one is retried with
/// backoff until [`attempts_exhausted`] (the immediate run counts as an attempt), then given up
/// the way the DLQ would.
pub fn deploy_plan(outcome: DeployOutcome, held_delay_secs: u32) -> Plan {
    let retry = Delivery::Retry { delay_secs: None };
    match outcome {
        DeployOutcome::DeadLettered => Plan::then_ack(Effect::GiveUp, retry),
        DeployOutcome::Done => Plan::settled(Delivery::Ack),
        DeployOutcome::Held => Plan::then_ack(
            Effect::Requeue { after_secs: held_delay_secs },
            Delivery::Retry { delay_secs: Some(held_delay_secs) },
        ),
        DeployOutcome::Permanent => Plan::then_ack(Effect::MarkFailed, retry),
        DeployOutcome::Transient { attempt } if attempts_exhausted(attempt) => {
            Plan::then_ack(Effect::GiveUp, retry)
        }
        DeployOutcome::Transient { attempt } => {
            let delay = retry_delay_secs(attempt.clamp(1, i64::from(u32::MAX)) as u32);
            Plan::settled(Delivery::Retry { delay_secs: Some(delay) })
        }
    }
}

/// A purge chunk. From the DLQ the retries ran out: ack (the data stays for a later purge; the
/// consumer logs it loudly). On the main queue: done acks; more remaining sends the next chunk
/// as a new message and acks (retrying this one if the send failed); a failed chunk is retried
/// with the first backoff delay.
pub fn purge_plan(outcome: PurgeOutcome) -> Plan {
    match outcome {
        PurgeOutcome::DeadLettered => Plan::settled(Delivery::Ack),
        PurgeOutcome::Done => Plan::settled(Delivery::Ack),
        PurgeOutcome::More => {
            Plan::then_ack(Effect::Requeue { after_secs: 0 }, Delivery::Retry { delay_secs: None })
        }
        PurgeOutcome::Failed => Plan::settled(Delivery::Retry { delay_secs: Some(retry_delay_secs(1)) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Delivery::*;

    const HELD: u32 = 7;

    fn both(plan: Plan) -> (Effect, Delivery, Delivery) {
        (plan.effect, plan.settle(true), plan.settle(false))
    }

    #[test]
    fn a_finished_deploy_is_acked_without_side_effects() {
        assert_eq!(both(deploy_plan(DeployOutcome::Done, HELD)), (Effect::Nothing, Ack, Ack));
    }

    #[test]
    fn a_held_deploy_comes_back_as_a_fresh_message_and_a_failed_send_retries_with_the_same_delay() {
        assert_eq!(
            both(deploy_plan(DeployOutcome::Held, HELD)),
            (Effect::Requeue { after_secs: HELD }, Ack, Retry { delay_secs: Some(HELD) })
        );
    }

    #[test]
    fn a_permanent_error_marks_failed_and_a_failed_mark_retries() {
        assert_eq!(
            both(deploy_plan(DeployOutcome::Permanent, HELD)),
            (Effect::MarkFailed, Ack, Retry { delay_secs: None })
        );
    }

    #[test]
    fn a_transient_error_with_attempts_left_retries_with_backoff_and_touches_nothing() {
        for (attempt, delay) in [(0, 2), (1, 2), (2, 4)] {
            let plan = deploy_plan(DeployOutcome::Transient { attempt }, HELD);
            assert_eq!(
                both(plan),
                (Effect::Nothing, Retry { delay_secs: Some(delay) }, Retry { delay_secs: Some(delay) })
            );
        }
        // A negative attempt count (a corrupt row) still gets the first delay, never a panic.
        let plan = deploy_plan(DeployOutcome::Transient { attempt: -5 }, HELD);
        assert_eq!(plan.settle(true), Retry { delay_secs: Some(2) });
    }

    #[test]
    fn a_transient_error_with_attempts_used_up_gives_up_like_the_dlq() {
        for attempt in [crate::deploy::MAX_ATTEMPTS, crate::deploy::MAX_ATTEMPTS + 1, i64::MAX] {
            assert_eq!(
                both(deploy_plan(DeployOutcome::Transient { attempt }, HELD)),
                (Effect::GiveUp, Ack, Retry { delay_secs: None }),
                "attempt {attempt}"
            );
        }
    }

    #[test]
    fn the_dead_letter_queue_gives_up_and_retries_if_that_fails() {
        assert_eq!(
            both(deploy_plan(DeployOutcome::DeadLettered, HELD)),
            (Effect::GiveUp, Ack, Retry { delay_secs: None })
        );
    }

    #[test]
    fn purge_chunks() {
        assert_eq!(both(purge_plan(PurgeOutcome::Done)), (Effect::Nothing, Ack, Ack));
        assert_eq!(
            both(purge_plan(PurgeOutcome::More)),
            (Effect::Requeue { after_secs: 0 }, Ack, Retry { delay_secs: None }),
            "the next chunk goes out before this one is acked"
        );
        let failed = Retry { delay_secs: Some(retry_delay_secs(1)) };
        assert_eq!(both(purge_plan(PurgeOutcome::Failed)), (Effect::Nothing, failed, failed));
        assert_eq!(
            both(purge_plan(PurgeOutcome::DeadLettered)),
            (Effect::Nothing, Ack, Ack),
            "DLQ: data stays"
        );
    }
}
