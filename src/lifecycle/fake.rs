//! In-memory fakes of the lifecycle stores for native tests: the same semantics as the D1 and
//! KV adapters (atomic swaps, generation-stamped records), plus failure injection per
//! operation and hooks that run "concurrent" writers at the worst moment.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;

/// Runs a future whose awaits are all ready (the fakes never pend).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Per-operation failure injection shared by both fakes: op name -> how many more calls fail.
#[derive(Default)]
pub struct Faults {
    left: RefCell<HashMap<&'static str, usize>>,
    binding: &'static str,
}

impl Faults {
    pub fn new(binding: &'static str) -> Faults {
        Faults { left: RefCell::default(), binding }
    }

    pub fn fail(&self, op: &'static str, times: usize) {
        self.left.borrow_mut().insert(op, times);
    }

    pub fn check(&self, op: &'static str) -> StoreResult<()> {
        let mut f = self.left.borrow_mut();
        match f.get_mut(op) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(StoreError(format!("{}: injected failure in {op}", self.binding)))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Default)]
pub struct World {
    pub projects: BTreeMap<String, ProjectState>,
    pub deployments: BTreeMap<String, DeploymentState>,
    pub failures: BTreeMap<String, StepFailure>,
    pub facts: BTreeMap<String, ActiveFacts>,
}

type Hook = Box<dyn FnOnce(&mut World)>;

pub struct FakeStore {
    pub world: RefCell<World>,
    faults: Faults,
    /// Runs (once each) just before the next swap is applied: a concurrent writer.
    before_swap: RefCell<Vec<Hook>>,
    next_seq: RefCell<BTreeMap<String, i64>>,
    /// How many upcoming swaps lose their race (the row moves just before each).
    pub contend: RefCell<usize>,
    pub swaps: RefCell<usize>,
}

impl Default for FakeStore {
    fn default() -> Self {
        FakeStore {
            world: RefCell::default(),
            faults: Faults::new("D1_ERROR"),
            before_swap: RefCell::default(),
            next_seq: RefCell::default(),
            contend: RefCell::default(),
            swaps: RefCell::default(),
        }
    }
}

impl FakeStore {
    pub fn fail(&self, op: &'static str, times: usize) {
        self.faults.fail(op, times);
    }

    pub fn check(&self, op: &'static str) -> StoreResult<()> {
        self.faults.check(op)
    }

    pub fn before_next_swap(&self, hook: impl FnOnce(&mut World) + 'static) {
        self.before_swap.borrow_mut().push(Box::new(hook));
    }

    pub fn add_project(&self, id: &str) {
        let p = ProjectState {
            id: id.into(),
            slug: format!("{id}-slug"),
            enabled: true,
            deleted: false,
            active_deployment_id: None,
            generation: 1,
            routed_generation: 0,
            activated_seq: 0,
            outbound_allowed: false,
            auto_activate: true,
            preview_link: false,
            aliases: BTreeMap::new(),
            recent: Vec::new(),
            skew: Default::default(),
            envs: Default::default(),
            bypass: None,
            rollout: None,
        };
        self.world.borrow_mut().projects.insert(id.into(), p);
    }

    /// Records a new pending deployment (the next seq of its project) and returns its id.
    pub fn add_deployment(&self, project_id: &str, id: &str) -> String {
        let seq = {
            let mut s = self.next_seq.borrow_mut();
            let n = s.entry(project_id.into()).or_insert(0);
            *n += 1;
            *n
        };
        let d = DeploymentState {
            id: id.into(),
            project_id: project_id.into(),
            seq,
            status: Status::InProgress,
            activated_at: None,
            activate: None,
            assets_count: seq,
            has_server_code: false,
            project_name: None,
            created_at: seq,
            updated_at: seq,
        };
        self.world.borrow_mut().deployments.insert(id.into(), d);
        id.into()
    }

    pub fn status(&self, id: &str) -> Status {
        self.world.borrow().deployments[id].status
    }

    pub fn project_now(&self, id: &str) -> ProjectState {
        let w = self.world.borrow();
        with_recent(&w, &w.projects[id])
    }

    pub fn set(&self, f: impl FnOnce(&mut World)) {
        f(&mut self.world.borrow_mut())
    }
}

impl ProjectStore for FakeStore {
    async fn project(&self, key: &str) -> StoreResult<Option<ProjectState>> {
        self.check("project")?;
        let w = self.world.borrow();
        Ok(w.projects.values().find(|p| p.id == key || p.slug == key).map(|p| with_recent(&w, p)))
    }

    async fn deployment(&self, id: &str) -> StoreResult<Option<DeploymentState>> {
        self.check("deployment")?;
        Ok(self.world.borrow().deployments.get(id).cloned())
    }

    async fn deployments(&self, project_id: &str) -> StoreResult<Vec<DeploymentState>> {
        self.check("deployments")?;
        let mut v: Vec<_> = self
            .world
            .borrow()
            .deployments
            .values()
            .filter(|d| d.project_id == project_id)
            .cloned()
            .collect();
        v.sort_by_key(|d| std::cmp::Reverse(d.seq));
        Ok(v)
    }

    async fn swap(&self, swap: &Swap, now: i64) -> StoreResult<Option<i64>> {
        for hook in self.before_swap.borrow_mut().drain(..).collect::<Vec<_>>() {
            hook(&mut self.world.borrow_mut());
        }
        self.check("swap")?;
        *self.swaps.borrow_mut() += 1;
        if *self.contend.borrow() > 0 {
            *self.contend.borrow_mut() -= 1;
            if let Some(p) = self.world.borrow_mut().projects.get_mut(&swap.project_id) {
                p.generation += 1;
            }
        }
        let mut w = self.world.borrow_mut();
        let w = &mut *w;
        let Some(p) = w.projects.get_mut(&swap.project_id) else { return Ok(None) };
        if p.generation != swap.expected_generation || p.deleted {
            return Ok(None);
        }
        if let Some((id, from)) = &swap.require {
            match w.deployments.get(id) {
                Some(d) if d.project_id == p.id && from.contains(&d.status) => {}
                _ => return Ok(None),
            }
        }
        p.active_deployment_id = swap.active.clone();
        p.enabled = swap.enabled;
        p.deleted = swap.deleted;
        p.activated_seq = swap.activated_seq;
        p.rollout = swap.rollout.clone();
        p.generation += 1;
        if let Some((name, target)) = &swap.alias {
            match target {
                Some(t) => p.aliases.insert(name.clone(), t.clone()),
                None => p.aliases.remove(name),
            };
        }
        if let Some(f) = &swap.active_facts {
            w.facts.insert(p.id.clone(), f.clone());
        }
        for c in &swap.changes {
            if let Some(d) = w.deployments.get_mut(&c.deployment_id) {
                if c.from.contains(&d.status) {
                    d.status = c.to;
                    d.updated_at = now;
                    if c.activated && d.activated_at.is_none() {
                        d.activated_at = Some(now);
                    }
                }
            }
        }
        Ok(Some(p.generation))
    }

    async fn finish(
        &self,
        id: &str,
        from: &[Status],
        to: Status,
        error: Option<&StepFailure>,
        now: i64,
    ) -> StoreResult<bool> {
        self.check("finish")?;
        let mut w = self.world.borrow_mut();
        let Some(d) = w.deployments.get_mut(id) else { return Ok(false) };
        if !from.contains(&d.status) {
            return Ok(false);
        }
        d.status = to;
        d.updated_at = now;
        if let Some(e) = error {
            w.failures.insert(id.into(), e.clone());
        }
        Ok(true)
    }

    async fn mark_routed(&self, project_id: &str, generation: i64) -> StoreResult<()> {
        self.check("mark_routed")?;
        if let Some(p) = self.world.borrow_mut().projects.get_mut(project_id) {
            p.routed_generation = p.routed_generation.max(generation);
        }
        Ok(())
    }

    async fn lagging(&self, limit: u32) -> StoreResult<Vec<ProjectState>> {
        self.check("lagging")?;
        Ok(self
            .world
            .borrow()
            .projects
            .values()
            .filter(|p| p.routed_generation < p.generation)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn stuck(&self, before: i64, limit: u32) -> StoreResult<Vec<DeploymentState>> {
        self.check("stuck")?;
        Ok(self
            .world
            .borrow()
            .deployments
            .values()
            .filter(|d| !d.status.is_terminal() && d.updated_at < before)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn expire(&self, id: &str, now: i64) -> StoreResult<bool> {
        self.check("expire")?;
        let mut w = self.world.borrow_mut();
        let w = &mut *w;
        let Some(d) = w.deployments.get_mut(id) else { return Ok(false) };
        let pinned = w.projects.values().any(|p| {
            p.active_deployment_id.as_deref() == Some(id)
                || p.aliases.values().any(|a| a == id)
                || p.rollout.as_ref().is_some_and(|r| r.status.is_live() && r.deployment_id == id)
        });
        if pinned || !d.status.is_ready() {
            return Ok(false);
        }
        d.status = Status::Expired;
        d.updated_at = now;
        Ok(true)
    }
}

type PutHook = Box<dyn FnOnce(&mut BTreeMap<String, RouteRecord>)>;

/// ROUTES_KV fake: one record per project id (the adapter writes it under slug and id).
pub struct FakeRoutes {
    pub records: RefCell<BTreeMap<String, RouteRecord>>,
    faults: Faults,
    /// Runs just before the next put lands (a slower writer overtaking us).
    before_put: RefCell<Vec<PutHook>>,
    pub puts: RefCell<usize>,
    /// Every (project, deployment served) a put made visible, in order.
    pub served: RefCell<Vec<(String, Option<String>)>>,
    /// Every invalidation the service asked for, in order (`route:<project>`, `deployment:<id>`).
    pub forgotten: RefCell<Vec<String>>,
}

impl Default for FakeRoutes {
    fn default() -> Self {
        FakeRoutes {
            records: RefCell::default(),
            faults: Faults::new("KV"),
            before_put: RefCell::default(),
            puts: RefCell::default(),
            served: RefCell::default(),
            forgotten: RefCell::default(),
        }
    }
}

impl FakeRoutes {
    pub fn fail(&self, op: &'static str, times: usize) {
        self.faults.fail(op, times);
    }

    pub fn check(&self, op: &'static str) -> StoreResult<()> {
        self.faults.check(op)
    }

    pub fn before_next_put(&self, hook: impl FnOnce(&mut BTreeMap<String, RouteRecord>) + 'static) {
        self.before_put.borrow_mut().push(Box::new(hook));
    }

    /// What a visitor would be served for this project right now.
    pub fn serving(&self, project_id: &str) -> Option<String> {
        self.records.borrow().get(project_id).and_then(|r| r.serving().map(str::to_string))
    }

    pub fn record(&self, project_id: &str) -> Option<RouteRecord> {
        self.records.borrow().get(project_id).cloned()
    }
}

impl RouteStore for FakeRoutes {
    async fn get(&self, project_id: &str) -> StoreResult<Option<RouteRecord>> {
        self.check("get")?;
        Ok(self.records.borrow().get(project_id).cloned())
    }

    async fn put(&self, record: &RouteRecord) -> StoreResult<()> {
        for hook in self.before_put.borrow_mut().drain(..).collect::<Vec<_>>() {
            hook(&mut self.records.borrow_mut());
        }
        self.check("put")?;
        *self.puts.borrow_mut() += 1;
        self.served.borrow_mut().push((record.project_id.clone(), record.serving().map(str::to_string)));
        self.records.borrow_mut().insert(record.project_id.clone(), record.clone());
        Ok(())
    }

    fn forget_route(&self, record: &RouteRecord) {
        self.forgotten.borrow_mut().push(format!("route:{}", record.project_id));
    }

    fn forget_deployment(&self, deployment_id: &str) {
        self.forgotten.borrow_mut().push(format!("deployment:{deployment_id}"));
    }
}

/// The project row as D1's PROJECT_STATE reads it: with its earlier production deployments
/// still ready, newest activation first.
fn with_recent(w: &World, p: &ProjectState) -> ProjectState {
    let mut recent: Vec<&DeploymentState> = w
        .deployments
        .values()
        .filter(|d| d.project_id == p.id && d.activated_at.is_some() && d.status.is_ready())
        .filter(|d| Some(d.id.as_str()) != p.active_deployment_id.as_deref())
        .collect();
    recent.sort_by_key(|d| std::cmp::Reverse((d.activated_at, d.seq)));
    let recent = recent.into_iter().take(crate::routing::RECENT_MAX).map(|d| d.id.clone()).collect();
    ProjectState { recent, ..p.clone() }
}
