//! Two or more runners of the same deployments interleaved at every store call: the deploy
//! request's immediate run and the queue's backstop delivery (or a redelivery) may overlap.
//! Whatever the interleaving, a deployment goes live at most once, the generation moves once
//! per activation, nothing live is ever failed, and the routing record ends up matching D1.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::fake::{FakeRoutes, FakeStore};
use super::*;

const P: &str = "p1";

/// Resolves after being polled `n` more times: a point where another runner may go first.
struct Pause(u32);

impl Future for Pause {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        Poll::Pending
    }
}

/// One runner's view of the shared fakes: before every call it pauses a pseudo-random number
/// of turns (its own seed), so each seed gives a different interleaving of the runners.
struct Runner<'a> {
    s: &'a FakeStore,
    r: &'a FakeRoutes,
    seed: Cell<u64>,
}

impl<'a> Runner<'a> {
    fn new(s: &'a FakeStore, r: &'a FakeRoutes, seed: u64) -> Runner<'a> {
        Runner { s, r, seed: Cell::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1) }
    }

    fn pause(&self) -> Pause {
        let mut x = self.seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.set(x);
        Pause((x % 4) as u32)
    }
}

impl ProjectStore for Runner<'_> {
    async fn project(&self, key: &str) -> StoreResult<Option<ProjectState>> {
        self.pause().await;
        self.s.project(key).await
    }
    async fn deployment(&self, id: &str) -> StoreResult<Option<DeploymentState>> {
        self.pause().await;
        self.s.deployment(id).await
    }
    async fn deployments(&self, project_id: &str) -> StoreResult<Vec<DeploymentState>> {
        self.pause().await;
        self.s.deployments(project_id).await
    }
    async fn swap(&self, swap: &Swap, now: i64) -> StoreResult<Option<i64>> {
        self.pause().await;
        self.s.swap(swap, now).await
    }
    async fn finish(
        &self,
        id: &str,
        from: &[Status],
        to: Status,
        error: Option<&StepFailure>,
        now: i64,
    ) -> StoreResult<bool> {
        self.pause().await;
        self.s.finish(id, from, to, error, now).await
    }
    async fn mark_routed(&self, project_id: &str, generation: i64) -> StoreResult<()> {
        self.pause().await;
        self.s.mark_routed(project_id, generation).await
    }
    async fn lagging(&self, limit: u32) -> StoreResult<Vec<ProjectState>> {
        self.pause().await;
        self.s.lagging(limit).await
    }
    async fn stuck(&self, before: i64, limit: u32) -> StoreResult<Vec<DeploymentState>> {
        self.pause().await;
        self.s.stuck(before, limit).await
    }
    async fn expire(&self, id: &str, now: i64) -> StoreResult<bool> {
        self.pause().await;
        self.s.expire(id, now).await
    }
}

impl RouteStore for Runner<'_> {
    async fn get(&self, project_id: &str) -> StoreResult<Option<RouteRecord>> {
        self.pause().await;
        self.r.get(project_id).await
    }
    async fn put(&self, record: &RouteRecord) -> StoreResult<()> {
        self.pause().await;
        self.r.put(record).await
    }
    fn forget_route(&self, record: &RouteRecord) {
        self.r.forget_route(record)
    }
    fn forget_deployment(&self, deployment_id: &str) {
        self.r.forget_deployment(deployment_id)
    }
}

/// Polls every future in turn until all are done (a single-threaded interleaving executor).
fn run_all<T>(futures: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
    let mut futures: Vec<_> = futures.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..100_000 {
        let mut pending = false;
        for (i, slot) in futures.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(&mut cx) {
                    Poll::Ready(v) => {
                        out[i] = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if !pending {
            return out.into_iter().map(|v| v.expect("every runner finished")).collect();
        }
    }
    panic!("runners did not finish");
}

fn activation<'a>(
    s: &'a FakeStore,
    r: &'a FakeRoutes,
    id: &'a str,
    seed: u64,
) -> Pin<Box<dyn Future<Output = Outcome> + 'a>> {
    Box::pin(async move {
        let runner = Runner::new(s, r, seed);
        Outcome::Activate(activate_new(&runner, &runner, id, 100 + seed as i64).await)
    })
}

fn failing<'a>(s: &'a FakeStore, id: &'a str, seed: u64) -> Pin<Box<dyn Future<Output = Outcome> + 'a>> {
    Box::pin(async move {
        let unused = FakeRoutes::default();
        let runner = Runner::new(s, &unused, seed);
        let why = StepFailure::new("server_code_failed", "The server code failed to start");
        Outcome::Fail(fail_deployment(&runner, id, &why, 100 + seed as i64).await)
    })
}

#[derive(Debug)]
enum Outcome {
    Activate(LifecycleResult<Activation>),
    Fail(LifecycleResult<bool>),
}

fn activated(outcomes: &[Outcome]) -> usize {
    outcomes.iter().filter(|o| matches!(o, Outcome::Activate(Ok(Activation::Activated { .. })))).count()
}

/// The routing record matches D1 unless an activation reported that it could not write it yet
/// (then D1 says the record lags, and the sweep repairs it).
fn routes_consistent(s: &FakeStore, r: &FakeRoutes, outcomes: &[Outcome]) {
    let p = s.project_now(P);
    let route_errors = outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Activate(Ok(Activation::Activated { route_error: Some(_), .. }))));
    if route_errors {
        assert!(p.routed_generation <= p.generation);
    } else {
        assert_eq!(r.record(P), Some(p.route_record()), "KV matches D1");
        assert_eq!(p.routed_generation, p.generation);
    }
    // Never ahead of D1, and never serving something D1 does not call active.
    assert!(r.record(P).is_none_or(|rec| rec.generation <= p.generation));
}

#[test]
fn two_runners_of_one_deployment_activate_it_exactly_once() {
    for seed in 0..400u64 {
        let (s, r) = (FakeStore::default(), FakeRoutes::default());
        s.add_project(P);
        s.add_deployment(P, "d0");
        crate::lifecycle::fake::block_on(activate_new(&s, &r, "d0", 1)).unwrap();
        s.add_deployment(P, "d1");
        let before = s.project_now(P).generation;
        let outcomes = run_all(vec![activation(&s, &r, "d1", seed), activation(&s, &r, "d1", seed + 1_000)]);
        assert_eq!(activated(&outcomes), 1, "seed {seed}: {outcomes:?}");
        for o in &outcomes {
            assert!(
                matches!(
                    o,
                    Outcome::Activate(Ok(
                        Activation::Activated { .. } | Activation::AlreadyFinished(Status::Completed)
                    ))
                ),
                "seed {seed}: {o:?}"
            );
        }
        let p = s.project_now(P);
        assert_eq!(p.generation, before + 1, "seed {seed}: one swap took effect");
        assert_eq!(p.active_deployment_id.as_deref(), Some("d1"));
        assert_eq!(s.status("d1"), Status::Completed);
        assert_eq!(s.status("d0"), Status::Superseded);
        routes_consistent(&s, &r, &outcomes);
    }
}

#[test]
fn racing_runners_of_two_deployments_end_on_the_newer_one() {
    for seed in 0..400u64 {
        let (s, r) = (FakeStore::default(), FakeRoutes::default());
        s.add_project(P);
        s.add_deployment(P, "d1");
        s.add_deployment(P, "d2");
        let before = s.project_now(P).generation;
        // Each deployment has its immediate run and a backstop delivery, all interleaved.
        let outcomes = run_all(vec![
            activation(&s, &r, "d1", seed),
            activation(&s, &r, "d2", seed + 1_000),
            activation(&s, &r, "d1", seed + 2_000),
            activation(&s, &r, "d2", seed + 3_000),
        ]);
        let p = s.project_now(P);
        assert_eq!(p.active_deployment_id.as_deref(), Some("d2"), "seed {seed}: {outcomes:?}");
        assert_eq!(s.status("d2"), Status::Completed);
        assert_eq!(s.status("d1"), Status::Superseded, "seed {seed}");
        let n = activated(&outcomes);
        assert!((1..=2).contains(&n), "seed {seed}: each deployment went live at most once: {outcomes:?}");
        assert_eq!(p.generation, before + n as i64, "seed {seed}: one generation per activation");
        routes_consistent(&s, &r, &outcomes);
    }
}

#[test]
fn a_runner_failing_a_deployment_never_fails_one_that_went_live() {
    for seed in 0..400u64 {
        let (s, r) = (FakeStore::default(), FakeRoutes::default());
        s.add_project(P);
        s.add_deployment(P, "d1");
        let outcomes = run_all(vec![activation(&s, &r, "d1", seed), failing(&s, "d1", seed + 1_000)]);
        let p = s.project_now(P);
        match s.status("d1") {
            Status::Completed => {
                assert_eq!(p.active_deployment_id.as_deref(), Some("d1"), "seed {seed}");
                assert_eq!(activated(&outcomes), 1);
                routes_consistent(&s, &r, &outcomes);
            }
            Status::Failed => {
                assert_eq!(p.active_deployment_id, None, "seed {seed}: a failed deployment is never live");
                assert_eq!(activated(&outcomes), 0, "seed {seed}: {outcomes:?}");
                assert_eq!(r.serving(P), None);
            }
            other => panic!("seed {seed}: ended {other:?}"),
        }
        assert!(
            outcomes.iter().all(|o| !matches!(o, Outcome::Activate(Err(_)) | Outcome::Fail(Err(_)))),
            "{outcomes:?}"
        );
    }
}
