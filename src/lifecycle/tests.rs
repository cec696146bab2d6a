//! Lifecycle rules against the in-memory fakes, with failures and concurrent writers injected
//! at every write.

use std::collections::{BTreeSet, HashSet};
use std::rc::Rc;

use super::fake::{block_on, FakeRoutes, FakeStore};
use super::*;

const P: &str = "p1";

fn setup() -> (Rc<FakeStore>, Rc<FakeRoutes>) {
    let s = Rc::new(FakeStore::default());
    s.add_project(P);
    (s, Rc::new(FakeRoutes::default()))
}

fn activate(s: &FakeStore, r: &FakeRoutes, id: &str) -> Activation {
    block_on(activate_new(s, r, id, 100)).unwrap()
}

fn live(s: &FakeStore, r: &FakeRoutes, id: &str) {
    s.add_deployment(P, id);
    assert!(matches!(activate(s, r, id), Activation::Activated { route_error: None, .. }));
}

fn refused_code(e: LifecycleError) -> &'static str {
    match e {
        LifecycleError::Refused { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn activation_swaps_d1_then_publishes_a_stamped_record() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    let p = s.project_now(P);
    assert_eq!(p.active_deployment_id.as_deref(), Some("d1"));
    assert_eq!(s.status("d1"), Status::Completed);
    let rec = r.record(P).unwrap();
    assert_eq!(rec.generation, p.generation);
    assert_eq!(p.routed_generation, p.generation, "confirmed in D1");
    assert_eq!(r.serving(P).as_deref(), Some("d1"));
    assert!(s.world.borrow().deployments["d1"].activated_at.is_some());
}

#[test]
fn d1_cas_failure_leaves_nothing_visible_and_a_retry_succeeds() {
    let (s, r) = setup();
    s.add_deployment(P, "d1");
    s.fail("swap", 1);
    assert!(matches!(block_on(activate_new(&*s, &*r, "d1", 1)), Err(LifecycleError::Store(_))));
    assert_eq!(r.serving(P), None, "KV is never ahead of D1");
    assert_eq!(*r.puts.borrow(), 0);
    assert_eq!(s.status("d1"), Status::InProgress, "still pending, so the queue retries it");
    assert!(matches!(activate(&s, &r, "d1"), Activation::Activated { .. }));
    assert_eq!(r.serving(P).as_deref(), Some("d1"));
}

#[test]
fn kv_write_failing_after_the_cas_is_reconciled_by_the_sweep() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    s.add_deployment(P, "d2");
    r.fail("put", 1);
    let out = activate(&s, &r, "d2");
    assert!(matches!(out, Activation::Activated { route_error: Some(_), .. }), "{out:?}");
    // D1 says d2 and the deployment is completed; the cache still lags.
    assert_eq!(s.status("d2"), Status::Completed);
    assert_eq!(r.serving(P).as_deref(), Some("d1"));
    let report = block_on(sweep(&*s, &*r, 1_000, 60_000, 50)).unwrap();
    assert_eq!(report.routes_repaired, 1);
    assert_eq!(r.serving(P).as_deref(), Some("d2"));
    let p = s.project_now(P);
    assert_eq!(p.routed_generation, p.generation);
    // A second sweep finds nothing to do.
    assert_eq!(block_on(sweep(&*s, &*r, 1_000, 60_000, 50)).unwrap().routes_repaired, 0);
}

#[test]
fn mark_routed_failing_only_leaves_the_project_for_the_sweep() {
    let (s, r) = setup();
    s.add_deployment(P, "d1");
    s.fail("mark_routed", 1);
    assert!(matches!(activate(&s, &r, "d1"), Activation::Activated { route_error: Some(_), .. }));
    assert_eq!(r.serving(P).as_deref(), Some("d1"), "the record itself was written");
    let puts = *r.puts.borrow();
    block_on(sweep(&*s, &*r, 1, 60_000, 50)).unwrap();
    assert_eq!(*r.puts.borrow(), puts, "an up-to-date record is not rewritten");
    let p = s.project_now(P);
    assert_eq!(p.routed_generation, p.generation);
}

#[test]
fn an_older_deployment_finishing_last_never_serves() {
    let (s, r) = setup();
    s.add_deployment(P, "old");
    s.add_deployment(P, "new");
    assert!(matches!(activate(&s, &r, "new"), Activation::Activated { .. }));
    assert_eq!(activate(&s, &r, "old"), Activation::Superseded);
    assert_eq!(s.status("old"), Status::Superseded);
    assert_eq!(r.serving(P).as_deref(), Some("new"));
    assert!(r.served.borrow().iter().all(|(_, d)| d.as_deref() != Some("old")));
}

fn permutations(v: Vec<usize>) -> Vec<Vec<usize>> {
    if v.len() <= 1 {
        return vec![v];
    }
    let mut out = Vec::new();
    for i in 0..v.len() {
        let mut rest = v.clone();
        let x = rest.remove(i);
        for mut p in permutations(rest) {
            p.insert(0, x);
            out.push(p);
        }
    }
    out
}

#[test]
fn four_deployments_finishing_in_any_order_leave_the_newest_active_and_none_pending() {
    for order in permutations(vec![0, 1, 2, 3]) {
        let (s, r) = setup();
        let ids: Vec<String> = (0..4).map(|i| s.add_deployment(P, &format!("d{i}"))).collect();
        for &i in &order {
            activate(&s, &r, &ids[i]);
        }
        assert_eq!(s.project_now(P).active_deployment_id.as_deref(), Some("d3"), "{order:?}");
        assert_eq!(r.serving(P).as_deref(), Some("d3"), "{order:?}");
        for id in &ids {
            assert!(s.status(id).is_terminal(), "{order:?}: {id} is {:?}", s.status(id));
        }
        assert_eq!(s.status("d3"), Status::Completed);
        // What visitors saw only ever moved forward.
        let seen: Vec<String> = r.served.borrow().iter().filter_map(|(_, d)| d.clone()).collect();
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{order:?}: {seen:?}");
    }
}

#[test]
fn a_redelivered_activate_is_harmless() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    let (swaps, puts) = (*s.swaps.borrow(), *r.puts.borrow());
    assert_eq!(activate(&s, &r, "d1"), Activation::AlreadyFinished(Status::Completed));
    assert_eq!((*s.swaps.borrow(), *r.puts.borrow()), (swaps, puts));
    // A late redelivery after a newer deployment went live changes nothing either.
    live(&s, &r, "d2");
    assert_eq!(activate(&s, &r, "d1"), Activation::AlreadyFinished(Status::Superseded));
    assert_eq!(r.serving(P).as_deref(), Some("d2"));
}

#[test]
fn delete_racing_activation_is_never_served() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    s.add_deployment(P, "d2");
    // The DELETE's swap lands between the activation's read and its swap.
    s.before_next_swap(|w| {
        let p = w.projects.get_mut(P).unwrap();
        p.deleted = true;
        p.generation += 1;
    });
    assert_eq!(activate(&s, &r, "d2"), Activation::ProjectGone);
    assert_eq!(s.status("d2"), Status::Failed);
    assert!(r.served.borrow().iter().all(|(_, d)| d.as_deref() != Some("d2")));
    // The delete's own publish (or the sweep) leaves a tombstone.
    block_on(sweep(&*s, &*r, 1, 60_000, 50)).unwrap();
    assert_eq!(r.serving(P), None);
    assert!(r.record(P).unwrap().deleted);
}

#[test]
fn delete_landing_after_the_activation_cas_but_before_its_kv_write_still_wins() {
    let (s, r) = setup();
    s.add_deployment(P, "d1");
    let s2 = s.clone();
    // The activation's put is slow: meanwhile DELETE swaps D1 and publishes its tombstone.
    r.before_next_put(move |records| {
        let mut w = s2.world.borrow_mut();
        let p = w.projects.get_mut(P).unwrap();
        p.deleted = true;
        p.generation += 1;
        records.insert(P.into(), p.route_record());
    });
    assert!(matches!(activate(&s, &r, "d1"), Activation::Activated { .. }));
    // The activation re-checked the row after writing and re-published the tombstone.
    assert_eq!(r.serving(P), None);
    assert!(r.record(P).unwrap().deleted);
}

#[test]
fn disable_racing_activation_wins() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    s.add_deployment(P, "d2");
    s.before_next_swap(|w| {
        let p = w.projects.get_mut(P).unwrap();
        p.enabled = false;
        p.generation += 1;
    });
    assert!(matches!(activate(&s, &r, "d2"), Activation::Activated { .. }));
    let p = s.project_now(P);
    assert!(!p.enabled, "the activation's swap kept the disable");
    assert_eq!(r.serving(P), None);
    // Enabling again serves the newest deployment.
    block_on(set_enabled(&*s, &*r, P, true, 5)).unwrap();
    assert_eq!(r.serving(P).as_deref(), Some("d2"));
}

#[test]
fn disable_and_delete_go_through_the_swap() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    let g = s.project_now(P).generation;
    let out = block_on(set_enabled(&*s, &*r, P, false, 5)).unwrap();
    assert!(!out.project.enabled);
    assert_eq!(out.project.generation, g + 1);
    assert_eq!(r.serving(P), None);
    // Idempotent: disabling a disabled project does not bump the generation.
    assert_eq!(block_on(set_enabled(&*s, &*r, P, false, 6)).unwrap().project.generation, g + 1);
    block_on(delete_project(&*s, &*r, P, 7)).unwrap();
    assert!(r.record(P).unwrap().deleted);
    assert_eq!(block_on(delete_project(&*s, &*r, P, 8)).unwrap_err(), LifecycleError::ProjectNotFound);
    assert_eq!(block_on(set_enabled(&*s, &*r, P, true, 8)).unwrap_err(), LifecycleError::ProjectNotFound);
}

#[test]
fn rollback_defaults_to_the_previous_live_deployment_and_forward_again() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    live(&s, &r, "d2");
    live(&s, &r, "d3");
    let out = block_on(switch_to(&*s, &*r, P, None, Explicit::Rollback, 9)).unwrap();
    assert_eq!((out.from.as_deref(), out.to.as_str()), (Some("d3"), "d2"));
    assert_eq!(s.status("d3"), Status::RolledBack);
    assert_eq!(r.serving(P).as_deref(), Some("d2"));
    block_on(switch_to(&*s, &*r, P, None, Explicit::Rollback, 10)).unwrap();
    assert_eq!(r.serving(P).as_deref(), Some("d1"));
    let e = block_on(switch_to(&*s, &*r, P, None, Explicit::Rollback, 11)).unwrap_err();
    assert_eq!(refused_code(e), "no_previous_deployment");
    // Forward again to the rolled-back one, explicitly.
    block_on(switch_to(&*s, &*r, P, Some("d3"), Explicit::Rollback, 12)).unwrap();
    assert_eq!(r.serving(P).as_deref(), Some("d3"));
    assert_eq!(s.status("d3"), Status::Completed);
    assert_eq!(s.status("d1"), Status::RolledBack);
}

#[test]
fn rollback_refuses_failed_expired_pending_foreign_and_active_targets() {
    let (s, r) = setup();
    s.add_project("other");
    live(&s, &r, "d1");
    s.add_deployment(P, "bad");
    block_on(fail_deployment(&*s, "bad", &StepFailure::new("x", "y"), 1)).unwrap();
    s.add_deployment(P, "running");
    s.add_deployment("other", "foreign");
    s.set(|w| w.deployments.get_mut("foreign").unwrap().status = Status::Completed);
    live(&s, &r, "d2");
    s.set(|w| w.deployments.get_mut("d1").unwrap().status = Status::Expired);
    let go = |t: &str| block_on(switch_to(&*s, &*r, P, Some(t), Explicit::Rollback, 5)).unwrap_err();
    assert_eq!(refused_code(go("bad")), "deployment_failed");
    assert_eq!(refused_code(go("d1")), "deployment_expired");
    assert_eq!(refused_code(go("running")), "deployment_not_ready");
    assert_eq!(refused_code(go("d2")), "already_active");
    assert_eq!(go("foreign"), LifecycleError::DeploymentNotFound);
    assert_eq!(go("nope"), LifecycleError::DeploymentNotFound);
    assert_eq!(r.serving(P).as_deref(), Some("d2"));
    let e = block_on(switch_to(&*s, &*r, "ghost", None, Explicit::Rollback, 5)).unwrap_err();
    assert_eq!(e, LifecycleError::ProjectNotFound);
}

#[test]
fn rollback_racing_expiry_never_serves_an_expired_deployment() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    live(&s, &r, "d2");
    s.before_next_swap(|w| w.deployments.get_mut("d1").unwrap().status = Status::Expired);
    let e = block_on(switch_to(&*s, &*r, P, Some("d1"), Explicit::Rollback, 5)).unwrap_err();
    assert_eq!(refused_code(e), "deployment_expired");
    assert_eq!(r.serving(P).as_deref(), Some("d2"));
}

#[test]
fn an_older_deployment_in_flight_stays_superseded_after_a_rollback() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    s.add_deployment(P, "d2"); // slow
    live(&s, &r, "d3");
    block_on(switch_to(&*s, &*r, P, Some("d1"), Explicit::Rollback, 5)).unwrap();
    assert_eq!(activate(&s, &r, "d2"), Activation::Superseded);
    assert_eq!(r.serving(P).as_deref(), Some("d1"));
    // A deployment created after the rollback goes live as usual.
    live(&s, &r, "d4");
    assert_eq!(r.serving(P).as_deref(), Some("d4"));
}

#[test]
fn staged_deploys_wait_for_promote() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    s.add_deployment(P, "d2");
    s.set(|w| w.deployments.get_mut("d2").unwrap().activate = Some(false));
    assert_eq!(activate(&s, &r, "d2"), Activation::Staged);
    assert_eq!(s.status("d2"), Status::Completed);
    assert_eq!(r.serving(P).as_deref(), Some("d1"));
    let out = block_on(promote(&*s, &*r, "d2", 5)).unwrap();
    assert_eq!(out.from.as_deref(), Some("d1"));
    assert_eq!(r.serving(P).as_deref(), Some("d2"));
    assert_eq!(s.status("d1"), Status::Superseded);
    // A staged deployment that never went live is not a default rollback target.
    s.set(|w| w.projects.get_mut(P).unwrap().auto_activate = false);
    s.add_deployment(P, "d3");
    assert_eq!(activate(&s, &r, "d3"), Activation::Staged, "autoActivate: false stages by default");
    s.add_deployment(P, "d4");
    s.set(|w| w.deployments.get_mut("d4").unwrap().activate = Some(true));
    assert!(matches!(activate(&s, &r, "d4"), Activation::Activated { .. }), "an explicit activate wins");
    block_on(switch_to(&*s, &*r, P, None, Explicit::Rollback, 9)).unwrap();
    assert_eq!(r.serving(P).as_deref(), Some("d2"), "skips the never-live d3");
}

#[test]
fn aliases_move_by_swap_and_pin_their_deployment() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    live(&s, &r, "d2");
    let staging = AliasName::parse("staging").unwrap();
    block_on(set_alias(&*s, &*r, P, &staging, "d1", 5)).unwrap();
    assert_eq!(r.record(P).unwrap().aliases.get("staging").map(String::as_str), Some("d1"));
    // Re-pointing to the same target is a no-op swap-wise.
    let g = s.project_now(P).generation;
    block_on(set_alias(&*s, &*r, P, &staging, "d1", 6)).unwrap();
    assert_eq!(s.project_now(P).generation, g);
    // Retention keeps the aliased one even with keep = 0.
    assert!(block_on(expire_old(&*s, &*r, P, 0, 7)).unwrap().is_empty());
    s.add_deployment(P, "bad");
    block_on(fail_deployment(&*s, "bad", &StepFailure::new("x", "y"), 1)).unwrap();
    let e = block_on(set_alias(&*s, &*r, P, &staging, "bad", 8)).unwrap_err();
    assert_eq!(refused_code(e), "deployment_failed");
    block_on(remove_alias(&*s, &*r, P, &staging, 9)).unwrap();
    assert!(r.record(P).unwrap().aliases.is_empty());
    let e = block_on(remove_alias(&*s, &*r, P, &staging, 10)).unwrap_err();
    assert_eq!(refused_code(e), "alias_not_found");
    assert_eq!(block_on(expire_old(&*s, &*r, P, 0, 11)).unwrap(), vec!["d1".to_string()]);
}

#[test]
fn aliases_per_project_are_capped_but_existing_ones_still_move() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    live(&s, &r, "d2");
    let name = |i: usize| AliasName::parse(&format!("a{i}")).unwrap();
    for i in 0..MAX_ALIASES {
        block_on(set_alias(&*s, &*r, P, &name(i), "d1", 5)).unwrap();
    }
    assert_eq!(s.project_now(P).aliases.len(), 100);
    let g = s.project_now(P).generation;
    let e = block_on(set_alias(&*s, &*r, P, &name(MAX_ALIASES), "d1", 6)).unwrap_err();
    assert_eq!(e, LifecycleError::Limit { what: "Aliases per project", limit: 100 });
    let api = crate::error::ApiError::from(e);
    assert_eq!(api.status(), 413);
    assert_eq!(api.message(), "Aliases per project exceeds the limit of 100");
    assert_eq!(s.project_now(P).generation, g, "nothing written");
    assert!(!r.record(P).unwrap().aliases.contains_key("a100"));
    // At the cap an existing alias still moves, and removing one makes room.
    block_on(set_alias(&*s, &*r, P, &name(0), "d2", 7)).unwrap();
    assert_eq!(r.record(P).unwrap().aliases.get("a0").map(String::as_str), Some("d2"));
    block_on(remove_alias(&*s, &*r, P, &name(1), 8)).unwrap();
    block_on(set_alias(&*s, &*r, P, &name(MAX_ALIASES), "d1", 9)).unwrap();
    assert_eq!(s.project_now(P).aliases.len(), 100);
}

#[test]
fn alias_names() {
    for ok in ["staging", "pr-42", "a", "v2", "cafe", "feature-x1"] {
        assert!(AliasName::parse(ok).is_ok(), "{ok}");
    }
    for bad in ["", "Staging", "-x", "x-", "a--b", "deadbeef", "0123456789", "a.b", "a_b", &"x".repeat(33)] {
        assert!(AliasName::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_sweep_fails_stuck_deployments_and_they_never_go_live_later() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    s.add_deployment(P, "stuck");
    let report = block_on(sweep(&*s, &*r, 1_000_000, 60_000, 50)).unwrap();
    assert_eq!(report.stuck_failed, 1);
    assert_eq!(s.status("stuck"), Status::Failed);
    assert_eq!(s.world.borrow().failures["stuck"].code, "timed_out");
    assert_eq!(activate(&s, &r, "stuck"), Activation::AlreadyFinished(Status::Failed));
    assert_eq!(r.serving(P).as_deref(), Some("d1"));
}

#[test]
fn the_dead_letter_path_never_fails_a_live_deployment() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    let why = StepFailure::new("gave_up", "gave up");
    assert!(!block_on(fail_deployment(&*s, "d1", &why, 5)).unwrap());
    assert_eq!(s.status("d1"), Status::Completed);
}

#[test]
fn publish_never_replaces_a_newer_generation() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    let mut newer = r.record(P).unwrap();
    newer.generation += 10;
    newer.active_deployment_id = Some("future".into());
    r.records.borrow_mut().insert(P.into(), newer);
    let puts = *r.puts.borrow();
    s.set(|w| w.projects.get_mut(P).unwrap().routed_generation = 0);
    block_on(publish(&*s, &*r, P)).unwrap();
    assert_eq!(*r.puts.borrow(), puts);
    assert_eq!(r.serving(P).as_deref(), Some("future"));
}

#[test]
fn contention_is_bounded() {
    let (s, r) = setup();
    s.add_deployment(P, "d1");
    *s.contend.borrow_mut() = MAX_SWAP_ATTEMPTS - 1;
    assert!(matches!(activate(&s, &r, "d1"), Activation::Activated { .. }), "the last attempt wins");
    s.add_deployment(P, "d2");
    *s.contend.borrow_mut() = MAX_SWAP_ATTEMPTS;
    assert_eq!(block_on(activate_new(&*s, &*r, "d2", 1)).unwrap_err(), LifecycleError::Contended);
    assert_eq!(s.status("d2"), Status::InProgress, "left for the queue to retry");
    assert_eq!(r.serving(P).as_deref(), Some("d1"));
}

#[test]
fn retention_keeps_active_aliased_and_the_newest_n() {
    let (s, r) = setup();
    for i in 1..=6 {
        live(&s, &r, &format!("d{i}"));
    }
    s.add_deployment(P, "bad");
    block_on(fail_deployment(&*s, "bad", &StepFailure::new("x", "y"), 1)).unwrap();
    block_on(switch_to(&*s, &*r, P, Some("d1"), Explicit::Rollback, 5)).unwrap();
    let all = block_on(s.deployments(P)).unwrap();
    let aliased: BTreeSet<String> = ["d2".to_string()].into();
    let mut out = plan_retention(&all, Some("d1"), &aliased, 2);
    out.sort();
    assert_eq!(out, vec!["d3", "d4"], "keeps d6, d5 (newest 2), d1 (active), d2 (aliased)");
    // The store re-checks: an id that became active meanwhile is not expired.
    block_on(switch_to(&*s, &*r, P, Some("d3"), Explicit::Rollback, 6)).unwrap();
    assert!(!block_on(s.expire("d3", 7)).unwrap());
    assert_eq!(s.status("bad"), Status::Failed, "failed history rows are kept as they are");
}

#[test]
fn gc_marks_then_deletes_after_the_grace_period_and_unmarks_reused_bodies() {
    let grace = 100;
    let a = |h: &str, created: i64, since: Option<i64>| StoredAsset {
        hash: h.into(),
        created_at: created,
        unreferenced_since: since,
    };
    let stored = vec![
        a("kept", 0, None),
        a("reused", 0, Some(10)),
        a("young", 950, None),
        a("new-orphan", 0, None),
        a("waiting", 0, Some(950)),
        a("expired", 0, Some(900)),
    ];
    let referenced: HashSet<&str> = ["kept", "reused"].into();
    let plan = plan_gc(&stored, |h| referenced.contains(h), 1_000, grace);
    assert_eq!(
        plan,
        vec![
            GcAction::Unmark("reused".into()),
            GcAction::Mark("new-orphan".into()),
            GcAction::Delete("expired".into()),
        ]
    );
}

#[test]
fn hash_keys_are_the_32_bytes_of_lowercase_hex_content_addresses() {
    let h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let k = hash_key(h).unwrap();
    assert_eq!((k[0], k[1], k[31]), (0xe3, 0xb0, 0x55));
    let back: String = k.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(back, h);
    for bad in ["", &h[..63], &format!("{h}0"), &h.to_uppercase(), &h.replace('e', "g"), &"é".repeat(32)] {
        assert_eq!(hash_key(bad), None, "{bad}");
    }
    // Different hashes, different keys (a collision would let GC delete a referenced body).
    assert_ne!(hash_key(h), hash_key(&h.replace("55", "54")));
}

#[test]
fn wrangler_manifests_outlive_their_tokens_and_the_grace_period() {
    let span = crate::auth::SESSION_SPAN_MS;
    // Written at 0: kept while a token could still name it, dead after.
    assert!(wrangler_manifest_cutoff(span, 1_500, span) <= 0);
    assert!(wrangler_manifest_cutoff(span + 1, 1_500, span) > 0);
    // A grace period longer than the span wins.
    let day = 24 * 3600 * 1000;
    assert!(wrangler_manifest_cutoff(day, day, span) <= 0);
    assert!(wrangler_manifest_cutoff(day + 1, day, span) > 0);
}

#[test]
fn gc_never_deletes_a_referenced_body() {
    // Deterministic pseudo-random tables (no extra crates): a referenced hash is never deleted,
    // and nothing is deleted before it was marked at least `grace` ago.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    for _ in 0..500 {
        let now = 10_000 + next(10_000) as i64;
        let grace = 1 + next(5_000) as i64;
        let stored: Vec<StoredAsset> = (0..20)
            .map(|i| StoredAsset {
                hash: format!("h{i}"),
                created_at: next(now as u64) as i64,
                unreferenced_since: (next(2) == 0).then(|| next(now as u64) as i64),
            })
            .collect();
        let names: Vec<String> = (0..20).filter(|_| next(2) == 0).map(|i| format!("h{i}")).collect();
        let referenced: HashSet<&str> = names.iter().map(String::as_str).collect();
        for action in plan_gc(&stored, |h| referenced.contains(h), now, grace) {
            if let GcAction::Delete(h) = action {
                assert!(!referenced.contains(h.as_str()));
                let s = stored.iter().find(|s| s.hash == h).unwrap();
                assert!(s.unreferenced_since.unwrap() <= now - grace);
                assert!(s.created_at <= now - grace);
            }
        }
    }
}

#[test]
fn the_service_invalidates_the_pointer_it_moves_even_when_the_write_fails() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    let after_swap = |d: &str| vec![format!("deployment:{d}"), format!("route:{P}")];
    assert_eq!(*r.forgotten.borrow(), after_swap("d1"), "after the publish");
    r.forgotten.borrow_mut().clear();
    s.add_deployment(P, "d2");
    r.fail("put", 1);
    let out = activate(&s, &r, "d2");
    assert!(matches!(out, Activation::Activated { route_error: Some(_), .. }), "{out:?}");
    assert_eq!(*r.forgotten.borrow(), after_swap("d2"), "a failed write leaves KV unknown");
}

#[test]
fn every_deployment_that_becomes_ready_is_forgotten_so_cached_preview_misses_go() {
    // Activated, staged and superseded deployments are all servable at their preview URL: a
    // visitor may have asked for `<prefix>--<slug>` a moment before, and this isolate cached
    // that miss (serve::cache). Failing ones never became servable and drop nothing.
    let (s, r) = setup();
    let forgot = |r: &FakeRoutes, d: &str| r.forgotten.borrow().contains(&format!("deployment:{d}"));
    s.add_deployment(P, "old");
    live(&s, &r, "new");
    assert!(forgot(&r, "new"), "activated");
    assert_eq!(activate(&s, &r, "old"), Activation::Superseded);
    assert!(forgot(&r, "old"), "superseded");
    s.add_deployment(P, "staged");
    s.set(|w| w.deployments.get_mut("staged").unwrap().activate = Some(false));
    assert_eq!(activate(&s, &r, "staged"), Activation::Staged);
    assert!(forgot(&r, "staged"), "staged");
    r.forgotten.borrow_mut().clear();
    assert_eq!(activate(&s, &r, "staged"), Activation::AlreadyFinished(Status::Completed));
    s.add_deployment(P, "orphan");
    s.set(|w| w.projects.get_mut(P).unwrap().deleted = true);
    assert_eq!(activate(&s, &r, "orphan"), Activation::ProjectGone);
    assert!(r.forgotten.borrow().is_empty(), "nothing became servable: {:?}", r.forgotten.borrow());
}

#[test]
fn retention_forgets_each_deployment_before_it_expires() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    live(&s, &r, "d2");
    r.forgotten.borrow_mut().clear();
    assert_eq!(block_on(expire_old(&*s, &*r, P, 0, 50)).unwrap(), vec!["d1".to_string()]);
    assert_eq!(*r.forgotten.borrow(), vec!["deployment:d1".to_string()]);
}

#[test]
fn the_sql_status_lists_are_the_enum_sets() {
    assert_eq!(PENDING_SQL, sql_list(&Status::PENDING));
    assert_eq!(READY_SQL, sql_list(&Status::READY));
    let live: Vec<Status> = Status::PENDING.into_iter().chain(Status::READY).collect();
    assert_eq!(LIVE_SQL, sql_list(&live));
    assert!(Status::ready_str("rolled_back") && !Status::ready_str("expired") && !Status::ready_str("bogus"));
}

#[test]
fn a_provisional_project_is_abandoned_only_once_no_token_of_it_can_be_used() {
    let span = crate::auth::SESSION_SPAN_MS;
    let now = 10 * span;
    let old = Provisional { created_at: now - span - 1, last_session_at: None, deployments: 0 };
    assert!(provisional_abandoned(&old, now, span), "older than the span, never uploaded");
    // Created within the span: a deploy of it may still complete.
    assert!(!provisional_abandoned(&Provisional { created_at: now - span, ..old }, now, span));
    assert!(!provisional_abandoned(&Provisional { created_at: now - 1, ..old }, now, span));
    // An old project a later `wrangler deploy` of the same name reuses: its session counts.
    let reused = Provisional { last_session_at: Some(now - span + 1_000), ..old };
    assert!(!provisional_abandoned(&reused, now, span));
    assert!(provisional_abandoned(&Provisional { last_session_at: Some(now - span - 1), ..old }, now, span));
    // A deployment means its upload got that far: never abandoned.
    assert!(!provisional_abandoned(&Provisional { deployments: 1, ..old }, now, span));
    // The span follows `UPLOAD_SESSION_TTL_SECS`: a shorter TTL frees the name sooner.
    let short = crate::auth::session_span_ms(60);
    let young = Provisional { created_at: now - short - 1, ..old };
    assert!(provisional_abandoned(&young, now, short));
    assert!(!provisional_abandoned(&young, now, span));
    assert_eq!(provisional_cutoff(i64::MIN + 1, 10), i64::MIN, "no overflow");
}

#[test]
fn the_routing_record_lists_earlier_production_deployments_newest_first() {
    let (s, r) = setup();
    live(&s, &r, "d1");
    assert!(r.record(P).unwrap().recent.is_empty());
    live(&s, &r, "d2");
    live(&s, &r, "d3");
    assert_eq!(r.record(P).unwrap().recent, ["d2", "d1"]);
    // A staged preview that never went live is never listed (pins must not reach it).
    s.add_deployment(P, "d4");
    s.set(|w| w.projects.get_mut(P).unwrap().auto_activate = false);
    let _ = activate(&s, &r, "d4");
    block_on(publish(&*s, &*r, P)).unwrap();
    assert_eq!(r.record(P).unwrap().recent, ["d2", "d1"]);
    // Expired ones drop out at the next publish.
    s.set(|w| w.deployments.get_mut("d1").unwrap().status = Status::Expired);
    assert_eq!(s.project_now(P).recent, ["d2"]);
}
