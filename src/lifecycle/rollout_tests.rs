//! Rollout operations against the in-memory fakes: the routing record follows every change,
//! completion is a promote, and the cron's tick advances, completes and auto-aborts.

use std::cell::Cell;
use std::rc::Rc;

use super::fake::{block_on, FakeRoutes, FakeStore};
use super::rollout::*;
use super::*;
use crate::routing::Split;

const P: &str = "p1";
const MIN: i64 = 60_000;

fn setup() -> (Rc<FakeStore>, Rc<FakeRoutes>) {
    let s = Rc::new(FakeStore::default());
    s.add_project(P);
    let r = Rc::new(FakeRoutes::default());
    s.add_deployment(P, "old");
    assert!(matches!(block_on(activate_new(&*s, &*r, "old", 1)).unwrap(), Activation::Activated { .. }));
    // A staged deployment: ready, not active.
    s.add_deployment(P, "new");
    s.set(|w| w.deployments.get_mut("new").unwrap().activate = Some(false));
    assert_eq!(block_on(activate_new(&*s, &*r, "new", 2)).unwrap(), Activation::Staged);
    (s, r)
}

fn steps() -> Vec<Step> {
    vec![
        Step { percent: 10, minutes: 5 },
        Step { percent: 50, minutes: 5 },
        Step { percent: 100, minutes: 5 },
    ]
}

fn code(e: LifecycleError) -> &'static str {
    match e {
        LifecycleError::Refused { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

struct Stats(Cell<(SideStats, SideStats)>);

impl RolloutStats for Stats {
    async fn sides(&self, _: &str, _: &str, _: &str, _: i64) -> StoreResult<(SideStats, SideStats)> {
        Ok(self.0.get())
    }
}

fn quiet() -> Stats {
    Stats(Cell::new((SideStats::default(), SideStats::default())))
}

#[test]
fn a_started_rollout_reaches_the_routing_record_and_only_one_runs() {
    let (s, r) = setup();
    block_on(start(&*s, &*r, P, "new", steps(), None, 10)).unwrap();
    let rec = r.record(P).unwrap();
    assert_eq!(rec.rollout, Some(Split { to: "new".into(), percent: 10 }));
    assert_eq!(rec.active_deployment_id.as_deref(), Some("old"), "production unchanged");
    let again = block_on(start(&*s, &*r, P, "new", steps(), None, 11)).unwrap_err();
    assert_eq!(code(again), "rollout_in_progress");
    // Paused keeps the split; abort removes it (and the project keeps its last rollout).
    block_on(control(&*s, &*r, P, Control::Pause, 12)).unwrap();
    assert_eq!(r.record(P).unwrap().rollout.map(|x| x.percent), Some(10));
    block_on(control(&*s, &*r, P, Control::Abort, 13)).unwrap();
    assert_eq!(r.record(P).unwrap().rollout, None);
    let last = s.project_now(P).rollout.unwrap();
    assert_eq!((last.status, last.reason.as_deref()), (RolloutStatus::Aborted, Some("aborted")));
    assert_eq!(code(block_on(control(&*s, &*r, P, Control::Resume, 14)).unwrap_err()), "no_rollout");
}

#[test]
fn only_ready_deployments_of_the_project_and_not_the_active_one() {
    let (s, r) = setup();
    assert_eq!(code(block_on(start(&*s, &*r, P, "old", steps(), None, 10)).unwrap_err()), "already_active");
    s.add_deployment(P, "pending");
    assert_eq!(
        code(block_on(start(&*s, &*r, P, "pending", steps(), None, 10)).unwrap_err()),
        "deployment_not_ready"
    );
    s.add_project("p2");
    s.add_deployment("p2", "foreign");
    assert_eq!(
        block_on(start(&*s, &*r, P, "foreign", steps(), None, 10)).unwrap_err(),
        LifecycleError::DeploymentNotFound
    );
}

#[test]
fn completing_promotes_the_new_deployment_in_one_swap() {
    let (s, r) = setup();
    block_on(start(&*s, &*r, P, "new", steps(), None, 10)).unwrap();
    block_on(control(&*s, &*r, P, Control::Complete, 20)).unwrap();
    let p = s.project_now(P);
    assert_eq!(p.active_deployment_id.as_deref(), Some("new"));
    assert_eq!(p.rollout.unwrap().status, RolloutStatus::Completed);
    assert_eq!((s.status("old"), s.status("new")), (Status::Superseded, Status::Completed));
    let rec = r.record(P).unwrap();
    assert_eq!((rec.active_deployment_id.as_deref(), rec.rollout), (Some("new"), None));
    assert!(rec.recent.contains(&"old".to_string()), "the old side stays pinnable");
}

#[test]
fn the_cron_steps_completes_and_auto_aborts() {
    let (s, r) = setup();
    block_on(start(&*s, &*r, P, "new", steps(), Some(0.05), 0)).unwrap();
    let q = quiet();
    assert_eq!(block_on(tick(&*s, &*r, &q, P, 4 * MIN)).unwrap(), Tick::Unchanged);
    assert_eq!(block_on(tick(&*s, &*r, &q, P, 5 * MIN)).unwrap(), Tick::Stepped);
    assert_eq!(r.record(P).unwrap().rollout.unwrap().percent, 50);
    assert_eq!(block_on(tick(&*s, &*r, &q, P, 15 * MIN)).unwrap(), Tick::Complete);
    assert_eq!(s.project_now(P).active_deployment_id.as_deref(), Some("new"));
    assert_eq!(block_on(tick(&*s, &*r, &q, P, 99 * MIN)).unwrap(), Tick::Unchanged);

    let (s, r) = setup();
    block_on(start(&*s, &*r, P, "new", steps(), Some(0.05), 0)).unwrap();
    let failing =
        Stats(Cell::new((SideStats { requests: 40, errors: 40 }, SideStats { requests: 400, errors: 0 })));
    assert!(matches!(block_on(tick(&*s, &*r, &failing, P, MIN)).unwrap(), Tick::Abort(_)));
    let p = s.project_now(P);
    assert_eq!(p.active_deployment_id.as_deref(), Some("old"));
    let last = p.rollout.unwrap();
    assert!(last.status == RolloutStatus::Aborted && last.reason.unwrap().starts_with("auto_aborted"));
    assert_eq!(r.record(P).unwrap().rollout, None, "all traffic back on the old side");
}

#[test]
fn a_deploy_or_promote_meanwhile_ends_the_rollout() {
    let (s, r) = setup();
    block_on(start(&*s, &*r, P, "new", steps(), None, 10)).unwrap();
    s.add_deployment(P, "newer");
    assert!(matches!(block_on(activate_new(&*s, &*r, "newer", 20)).unwrap(), Activation::Activated { .. }));
    let last = s.project_now(P).rollout.unwrap();
    assert_eq!(last.status, RolloutStatus::Aborted);
    assert!(last.reason.unwrap().starts_with("superseded"));
    assert_eq!(r.record(P).unwrap().rollout, None);
}

#[test]
fn retention_keeps_the_deployment_being_rolled_out() {
    let (s, r) = setup();
    block_on(start(&*s, &*r, P, "new", steps(), None, 10)).unwrap();
    let expired = block_on(expire_old(&*s, &*r, P, 0, 20)).unwrap();
    assert!(expired.is_empty(), "{expired:?}");
    assert_eq!(s.status("new"), Status::Completed);
}

#[test]
fn a_held_split_stays_until_changed_and_replaces_a_stepped_rollout() {
    let (s, r) = setup();
    block_on(start(&*s, &*r, P, "new", steps(), None, 0)).unwrap();
    block_on(hold_split(&*s, &*r, P, "new", 30, 1)).unwrap();
    assert_eq!(r.record(P).unwrap().rollout, Some(Split { to: "new".into(), percent: 30 }));
    // No step by time: a week later the cron leaves it as it is.
    assert_eq!(block_on(tick(&*s, &*r, &quiet(), P, 7 * 24 * 60 * MIN)).unwrap(), Tick::Unchanged);
    block_on(hold_split(&*s, &*r, P, "new", 60, 2)).unwrap();
    assert_eq!(r.record(P).unwrap().rollout.unwrap().percent, 60);
    assert_eq!(code(block_on(hold_split(&*s, &*r, P, "old", 60, 3)).unwrap_err()), "already_active");
    block_on(control(&*s, &*r, P, Control::Complete, 4)).unwrap();
    assert_eq!(s.project_now(P).active_deployment_id.as_deref(), Some("new"));
}
