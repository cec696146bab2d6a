//! Lifecycle operations over [`ProjectStore`] + [`RouteStore`]. Every change to what a project
//! serves is one [`Swap`] (a CAS on the generation); the routing record is published only after
//! the swap took effect, and re-published while the row keeps moving.

use super::*;

/// How often an operation re-reads and retries a swap that lost a race.
pub const MAX_SWAP_ATTEMPTS: usize = 8;

/// Writes the routing record the project row implies, unless ROUTES_KV already holds a newer
/// generation, then confirms the row did not move meanwhile (a slower writer holding an older
/// row might otherwise have the last word). Records the confirmed generation in D1.
pub async fn publish<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    project_id: &str,
) -> LifecycleResult<()> {
    for _ in 0..3 {
        let Some(p) = store.project(project_id).await? else { return Ok(()) };
        let want = p.route_record();
        let current = routes.get(&p.id).await?;
        let newer_there = current.as_ref().is_some_and(|c| c.generation > p.generation);
        if !newer_there && current.as_ref() != Some(&want) {
            let written = routes.put(&want).await;
            routes.forget_route(&want);
            written?;
        }
        let again = store.project(&p.id).await?;
        if again.as_ref().map(|a| a.generation) == Some(p.generation) {
            if p.routed_generation < p.generation {
                store.mark_routed(&p.id, p.generation).await?;
            }
            return Ok(());
        }
    }
    Err(LifecycleError::Contended)
}

/// What the workflow's activate step came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activation {
    /// The swap took effect. `route_error`: the routing record could not be written yet (D1
    /// is the truth; the sweep repairs the cache).
    Activated { generation: i64, route_error: Option<StoreError> },
    /// Created before the deployment that is (or was) live: ends `superseded`, never served.
    Superseded,
    /// `activate: false` or `autoActivate: false`: ready as a preview, production unchanged.
    Staged,
    /// The project was deleted first: the deployment ends `failed`.
    ProjectGone,
    /// Already finished (a redelivered or late message): nothing changed.
    AlreadyFinished(Status),
}

fn project_gone() -> StepFailure {
    StepFailure::new("project_deleted", "The project was deleted before this deployment could go live")
}

/// Activates a newly built deployment, moving only forward.
pub async fn activate_new<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    deployment_id: &str,
    now: i64,
) -> LifecycleResult<Activation> {
    for _ in 0..MAX_SWAP_ATTEMPTS {
        let d = store.deployment(deployment_id).await?.ok_or(LifecycleError::DeploymentNotFound)?;
        if d.status.is_terminal() {
            return Ok(Activation::AlreadyFinished(d.status));
        }
        let p = match store.project(&d.project_id).await? {
            Some(p) if !p.deleted => p,
            _ => {
                if store.finish(&d.id, &Status::PENDING, Status::Failed, Some(&project_gone()), now).await? {
                    return Ok(Activation::ProjectGone);
                }
                continue;
            }
        };
        let outcome = if d.seq <= p.activated_seq {
            Some((Status::Superseded, Activation::Superseded))
        } else if !d.activate.unwrap_or(p.auto_activate) {
            Some((Status::Completed, Activation::Staged))
        } else {
            None
        };
        if let Some((status, outcome)) = outcome {
            if store.finish(&d.id, &Status::PENDING, status, None, now).await? {
                // Ready now (staged or superseded, both servable as previews): a cached
                // "no such prefix" for its id must not outlive this.
                routes.forget_deployment(&d.id);
                return Ok(outcome);
            }
            continue; // finished concurrently: re-read and report what happened
        }
        let mut swap = Swap::from_state(&p);
        swap.active = Some(d.id.clone());
        swap.activated_seq = d.seq;
        swap.active_facts = Some(ActiveFacts {
            assets_count: d.assets_count,
            has_server_code: d.has_server_code,
            rename: d.project_name.clone(),
        });
        swap.require = Some((d.id.clone(), Status::PENDING.to_vec()));
        swap.changes.push(went_live(&d.id, &Status::PENDING));
        if let Some(old) = &p.active_deployment_id {
            swap.changes.push(moved_away(old, Status::Superseded));
        }
        swap.rollout = superseded(&p, &d.id, now);
        if let Some(generation) = store.swap(&swap, now).await? {
            routes.forget_deployment(&d.id);
            let route_error = publish_error(publish(store, routes, &p.id).await)?;
            return Ok(Activation::Activated { generation, route_error });
        }
    }
    Err(LifecycleError::Contended)
}

fn went_live(id: &str, from: &[Status]) -> StatusChange {
    StatusChange {
        deployment_id: id.to_string(),
        from: from.to_vec(),
        to: Status::Completed,
        activated: true,
    }
}

fn moved_away(id: &str, to: Status) -> StatusChange {
    StatusChange { deployment_id: id.to_string(), from: vec![Status::Completed], to, activated: false }
}

/// A publish failure after a successful swap is not the operation's failure: the swap is the
/// truth and the sweep repairs the cache. Contention while publishing is reported the same way.
pub(super) fn publish_error(r: LifecycleResult<()>) -> LifecycleResult<Option<StoreError>> {
    match r {
        Ok(()) => Ok(None),
        Err(LifecycleError::Store(e)) => Ok(Some(e)),
        Err(LifecycleError::Contended) => Ok(Some(StoreError("routing record contended".into()))),
        Err(other) => Err(other),
    }
}

pub(super) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Refuses to serve a deployment that is not ready, saying why.
pub fn check_ready(d: &DeploymentState) -> LifecycleResult<()> {
    let id = short(&d.id);
    match d.status {
        s if s.is_ready() => Ok(()),
        Status::Failed => Err(LifecycleError::refused(
            "deployment_failed",
            format!("Deployment {id} failed and was never ready, so it cannot be served"),
        )),
        Status::Expired => Err(LifecycleError::refused(
            "deployment_expired",
            format!(
                "Deployment {id} expired under the retention policy and its files were collected; \
                 deploy it again instead"
            ),
        )),
        _ => Err(LifecycleError::refused(
            "deployment_not_ready",
            format!("Deployment {id} is still {}; wait until it completes", d.status.as_str()),
        )),
    }
}

/// The default rollback target: the newest ready deployment created before the active one
/// that was live before (staged-only deployments are not "previous production").
pub fn rollback_target<'a>(
    deployments: &'a [DeploymentState],
    active: Option<&str>,
) -> Option<&'a DeploymentState> {
    let active_seq =
        active.and_then(|a| deployments.iter().find(|d| d.id == a)).map(|d| d.seq).unwrap_or(i64::MAX);
    deployments
        .iter()
        .filter(|d| d.seq < active_seq && d.status.is_ready() && d.activated_at.is_some())
        .max_by_key(|d| d.seq)
}

/// Which explicit activation this is; decides what the deployment moved away from becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Explicit {
    Rollback,
    Promote,
}

/// The result of an explicit switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switched {
    pub project_id: String,
    pub from: Option<String>,
    pub to: String,
    pub generation: i64,
    pub route_error: Option<StoreError>,
}

pub(super) async fn live_project<S: ProjectStore>(store: &S, key: &str) -> LifecycleResult<ProjectState> {
    match store.project(key).await? {
        Some(p) if !p.deleted => Ok(p),
        _ => Err(LifecycleError::ProjectNotFound),
    }
}

pub(super) async fn project_deployment<S: ProjectStore>(
    store: &S,
    project_id: &str,
    id: &str,
) -> LifecycleResult<DeploymentState> {
    // A foreign deployment is indistinguishable from a missing one (no probing across projects).
    store
        .deployment(id)
        .await?
        .filter(|d| d.project_id == project_id)
        .ok_or(LifecycleError::DeploymentNotFound)
}

/// Rollback (`project_key`, optional target) or promote (target required): one swap, no
/// re-upload; the deployment moved away from stays reachable at its preview URL.
pub async fn switch_to<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    project_key: &str,
    target: Option<&str>,
    kind: Explicit,
    now: i64,
) -> LifecycleResult<Switched> {
    for _ in 0..MAX_SWAP_ATTEMPTS {
        let p = live_project(store, project_key).await?;
        let d = match target {
            Some(id) => project_deployment(store, &p.id, id).await?,
            None => {
                let all = store.deployments(&p.id).await?;
                rollback_target(&all, p.active_deployment_id.as_deref()).cloned().ok_or_else(|| {
                    LifecycleError::refused(
                        "no_previous_deployment",
                        "There is no earlier ready deployment to roll back to; name one with `deploymentId`",
                    )
                })?
            }
        };
        check_ready(&d)?;
        if p.active_deployment_id.as_deref() == Some(d.id.as_str()) {
            return Err(LifecycleError::refused(
                "already_active",
                format!("Deployment {} is already the active deployment", short(&d.id)),
            ));
        }
        let mut swap = switch_swap(&p, &d, kind);
        swap.rollout = superseded(&p, &d.id, now);
        if let Some(generation) = store.swap(&swap, now).await? {
            let route_error = publish_error(publish(store, routes, &p.id).await)?;
            return Ok(Switched {
                project_id: p.id.clone(),
                from: p.active_deployment_id.clone(),
                to: d.id,
                generation,
                route_error,
            });
        }
    }
    Err(LifecycleError::Contended)
}

/// The swap that makes ready deployment `d` the active one of `p` (rollback, promote, and a
/// rollout's completion).
pub(super) fn switch_swap(p: &ProjectState, d: &DeploymentState, kind: Explicit) -> Swap {
    let mut swap = Swap::from_state(p);
    swap.active = Some(d.id.clone());
    swap.activated_seq = p.activated_seq.max(d.seq);
    swap.active_facts =
        Some(ActiveFacts { assets_count: d.assets_count, has_server_code: d.has_server_code, rename: None });
    swap.require = Some((d.id.clone(), Status::READY.to_vec()));
    swap.changes.push(went_live(&d.id, &Status::READY));
    if let Some(old) = &p.active_deployment_id {
        let to = match kind {
            Explicit::Rollback => Status::RolledBack,
            Explicit::Promote => Status::Superseded,
        };
        swap.changes.push(moved_away(old, to));
    }
    swap
}

/// The project's rollout once `went_live` is the active deployment by other means (a deploy,
/// promote or rollback): a live rollout ends aborted, saying so; an ended one stays as it was.
fn superseded(p: &ProjectState, went_live: &str, now: i64) -> Option<rollout::Rollout> {
    let mut r = p.rollout.clone()?;
    if r.status.is_live() {
        let why = format!("superseded: deployment {} was made active directly", short(went_live));
        r.end(rollout::RolloutStatus::Aborted, &why, now);
    }
    Some(r)
}

/// Promote: the project is the deployment's own.
pub async fn promote<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    deployment_id: &str,
    now: i64,
) -> LifecycleResult<Switched> {
    let d = store.deployment(deployment_id).await?.ok_or(LifecycleError::DeploymentNotFound)?;
    switch_to(store, routes, &d.project_id, Some(&d.id), Explicit::Promote, now).await
}

/// What a project-row change came to: the new row and whether the cache is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub project: ProjectState,
    pub route_error: Option<StoreError>,
}

/// Retries `edit` on the freshest live row until its swap takes effect.
pub(super) async fn change_project<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    key: &str,
    now: i64,
    edit: impl Fn(&ProjectState) -> LifecycleResult<Option<Swap>>,
) -> LifecycleResult<Changed> {
    for _ in 0..MAX_SWAP_ATTEMPTS {
        let p = live_project(store, key).await?;
        let Some(swap) = edit(&p)? else {
            // Nothing to change; still make sure the cache says what the row says.
            let route_error = publish_error(publish(store, routes, &p.id).await)?;
            return Ok(Changed { project: p, route_error });
        };
        if store.swap(&swap, now).await?.is_some() {
            let route_error = publish_error(publish(store, routes, &p.id).await)?;
            let project = store.project(&p.id).await?.ok_or(LifecycleError::ProjectNotFound)?;
            return Ok(Changed { project, route_error });
        }
    }
    Err(LifecycleError::Contended)
}

pub async fn set_enabled<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    key: &str,
    enabled: bool,
    now: i64,
) -> LifecycleResult<Changed> {
    change_project(store, routes, key, now, |p| {
        Ok((p.enabled != enabled).then(|| Swap { enabled, ..Swap::from_state(p) }))
    })
    .await
}

/// Marks the project deleted (it stops serving at once: the routing record becomes a
/// tombstone). The purge of its data runs later, through the queue.
pub async fn delete_project<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    key: &str,
    now: i64,
) -> LifecycleResult<Changed> {
    change_project(store, routes, key, now, |p| Ok(Some(Swap { deleted: true, ..Swap::from_state(p) }))).await
}

/// Points `name` at a ready deployment of the project (creating or moving the alias).
pub async fn set_alias<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    key: &str,
    name: &AliasName,
    deployment_id: &str,
    now: i64,
) -> LifecycleResult<Changed> {
    let p = live_project(store, key).await?;
    let d = project_deployment(store, &p.id, deployment_id).await?;
    check_ready(&d)?;
    change_project(store, routes, &p.id, now, |p| {
        if p.aliases.get(name.as_str()) == Some(&d.id) {
            return Ok(None);
        }
        // Checked on the row the swap is conditional on: concurrent new names cannot overshoot.
        if !p.aliases.contains_key(name.as_str()) && p.aliases.len() >= MAX_ALIASES {
            return Err(LifecycleError::Limit { what: "Aliases per project", limit: MAX_ALIASES as u64 });
        }
        let mut swap = Swap::from_state(p);
        swap.require = Some((d.id.clone(), Status::READY.to_vec()));
        swap.alias = Some((name.as_str().to_string(), Some(d.id.clone())));
        Ok(Some(swap))
    })
    .await
}

pub async fn remove_alias<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    key: &str,
    name: &AliasName,
    now: i64,
) -> LifecycleResult<Changed> {
    change_project(store, routes, key, now, |p| {
        if !p.aliases.contains_key(name.as_str()) {
            return Err(LifecycleError::refused("alias_not_found", format!("No alias named `{name}`")));
        }
        Ok(Some(Swap { alias: Some((name.as_str().to_string(), None)), ..Swap::from_state(p) }))
    })
    .await
}

/// Aliases one project may hold. Each lives in the project's D1 row and in its routing record
/// (read on every visitor request), and pins its deployment against retention, so the count
/// is bounded; moving or removing an alias is always allowed.
pub const MAX_ALIASES: usize = 100;

/// An alias name: a DNS label piece (it is served at `<alias>--<slug>.<domain>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasName(String);

impl AliasName {
    pub const MAX_LEN: usize = 32;

    /// Lowercase letters, digits and single hyphens, 1-32 characters, not starting or ending
    /// with a hyphen; not 8+ hex characters (those address deployments by id prefix).
    pub fn parse(s: &str) -> Result<AliasName, String> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(format!("must be 1-{} characters", Self::MAX_LEN));
        }
        if !s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
            return Err("may contain only lowercase letters, digits and hyphens".into());
        }
        if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
            return Err("may not start or end with a hyphen or contain `--`".into());
        }
        if s.len() >= 8 && s.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-') {
            return Err("looks like a deployment id prefix; include a letter beyond a-f".into());
        }
        Ok(AliasName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AliasName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub routes_repaired: usize,
    pub routes_failed: usize,
    pub stuck_failed: usize,
}

/// The cron sweep's lifecycle part: repair routing records that lag their row, and end
/// deployments stuck pending past the deadline (they can never go live afterwards: the
/// activation swap requires a pending deployment).
pub async fn sweep<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    now: i64,
    stuck_after_ms: i64,
    limit: u32,
) -> LifecycleResult<SweepReport> {
    let mut report = SweepReport::default();
    for p in store.lagging(limit).await? {
        match publish(store, routes, &p.id).await {
            Ok(()) => report.routes_repaired += 1,
            Err(_) => report.routes_failed += 1,
        }
    }
    let timed_out = StepFailure::new(
        "timed_out",
        "The deployment did not finish in time and was stopped; the previous deployment keeps serving",
    );
    for d in store.stuck(now - stuck_after_ms, limit).await? {
        if store.finish(&d.id, &Status::PENDING, Status::Failed, Some(&timed_out), now).await? {
            report.stuck_failed += 1;
        }
    }
    Ok(report)
}

/// Ends a pending deployment as failed (the workflow gave up, or a permanent step error).
/// A deployment that already went live is never marked failed.
pub async fn fail_deployment<S: ProjectStore>(
    store: &S,
    deployment_id: &str,
    why: &StepFailure,
    now: i64,
) -> LifecycleResult<bool> {
    Ok(store.finish(deployment_id, &Status::PENDING, Status::Failed, Some(why), now).await?)
}
