//! Gradual rollouts (pure; README "Gradual rollouts"): production traffic split between the
//! active deployment and a new one, moved through steps `[{percent, minutes}]` by the cron,
//! paused, resumed, completed (the new deployment becomes the active one, as a promote) or
//! aborted (by hand, or by the auto-abort rule below). The state is one JSON value in the
//! project's D1 row, changed only by the row's generation swap; the routing record carries
//! just `{to, percent}` (`routing::Split`) so the visitor path splits without a D1 read.

use serde::{Deserialize, Serialize};

/// At most this many steps per rollout.
pub const MAX_STEPS: usize = 10;
/// A step lasts at most a week.
pub const MAX_STEP_MINUTES: u32 = 7 * 24 * 60;
/// The auto-abort rule needs at least this many requests on the new side (and compares with
/// the old side only when that has as many too; fewer count as a 0 % error rate there): one
/// error in two requests is noise, not a signal.
pub const MIN_SAMPLE: u64 = 20;

/// One step: `percent` of production visitors get the new deployment for `minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub percent: u8,
    pub minutes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    Running,
    Paused,
    Completed,
    Aborted,
}

impl RolloutStatus {
    /// Traffic is split (a paused rollout keeps its current split; only its clock stops).
    pub fn is_live(self) -> bool {
        matches!(self, RolloutStatus::Running | RolloutStatus::Paused)
    }
}

/// A project's rollout (the last one is kept after it ends, so its outcome stays visible).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// The deployment being rolled out.
    pub deployment_id: String,
    /// The deployment that was active when it started (the "old side").
    pub from_deployment_id: String,
    pub steps: Vec<Step>,
    /// Index of the current step.
    pub step: usize,
    pub status: RolloutStatus,
    pub started_at: i64,
    /// When the current step's clock started (moved forward by the time spent paused).
    pub step_started_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<i64>,
    /// Auto-abort margin: abort when the new side's 5xx ratio exceeds the old side's by more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max5xx_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// Why it ended (`completed`, `aborted`, `auto_aborted: ...`, `superseded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set by `wrangler versions deploy a@x% b@y%`: the split holds until changed (no steps by
    /// time, as on Cloudflare).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
}

/// `max5xx_ratio` is never NaN ([`validate_max_ratio`]), so equality is total.
impl Eq for Rollout {}

/// Requests and 5xx answers per side since the rollout started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SideStats {
    pub requests: u64,
    pub errors: u64,
}

impl SideStats {
    pub fn ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

/// What one cron tick decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Tick {
    /// Nothing to do (paused, ended, or the step's time is not up).
    Unchanged,
    /// Moved to a later step.
    Stepped,
    /// The last step's time is up: complete it (promote the new deployment).
    Complete,
    /// The new side fails more than allowed: abort, with the reason.
    Abort(String),
}

/// Checks the requested steps: 1..=[`MAX_STEPS`], percents 1..=100 strictly rising, minutes
/// at most [`MAX_STEP_MINUTES`]. The message says what is wrong.
pub fn validate_steps(steps: &[Step]) -> Result<(), String> {
    if steps.is_empty() || steps.len() > MAX_STEPS {
        return Err(format!("`steps` must have 1-{MAX_STEPS} entries"));
    }
    let mut last = 0u8;
    for (i, s) in steps.iter().enumerate() {
        if s.percent == 0 || s.percent > 100 {
            return Err(format!("`steps[{i}].percent` must be 1-100"));
        }
        if s.percent <= last {
            return Err(format!("`steps[{i}].percent` must be higher than the step before"));
        }
        if s.minutes > MAX_STEP_MINUTES {
            return Err(format!("`steps[{i}].minutes` must be at most {MAX_STEP_MINUTES}"));
        }
        last = s.percent;
    }
    Ok(())
}

/// Checks `autoAbort.max5xxRatio`: a fraction 0..=1.
pub fn validate_max_ratio(r: Option<f64>) -> Result<(), String> {
    match r {
        Some(r) if !(r.is_finite() && (0.0..=1.0).contains(&r)) => {
            Err("`autoAbort.max5xxRatio` must be a number from 0 to 1".into())
        }
        _ => Ok(()),
    }
}

impl Rollout {
    pub fn new(
        deployment_id: &str,
        from: &str,
        steps: Vec<Step>,
        max5xx_ratio: Option<f64>,
        now: i64,
    ) -> Rollout {
        Rollout {
            deployment_id: deployment_id.to_string(),
            from_deployment_id: from.to_string(),
            steps,
            step: 0,
            status: RolloutStatus::Running,
            started_at: now,
            step_started_at: now,
            paused_at: None,
            max5xx_ratio,
            ended_at: None,
            reason: None,
            manual: false,
        }
    }

    /// The share of production visitors the new deployment gets now (0 once it ended).
    pub fn percent(&self) -> u8 {
        if !self.status.is_live() {
            return 0;
        }
        self.steps.get(self.step).map(|s| s.percent).unwrap_or(100)
    }

    /// When the current step's time is up (None while paused or ended).
    pub fn next_step_at(&self) -> Option<i64> {
        let s = self.steps.get(self.step).filter(|_| !self.manual)?;
        (self.status == RolloutStatus::Running).then(|| self.step_started_at + i64::from(s.minutes) * 60_000)
    }

    pub fn pause(&mut self, now: i64) -> Result<(), &'static str> {
        match self.status {
            RolloutStatus::Running => {
                self.status = RolloutStatus::Paused;
                self.paused_at = Some(now);
                Ok(())
            }
            RolloutStatus::Paused => Err("The rollout is already paused"),
            _ => Err("The rollout has ended"),
        }
    }

    /// Resumes the clock where it stopped: the time spent paused does not count.
    pub fn resume(&mut self, now: i64) -> Result<(), &'static str> {
        match self.status {
            RolloutStatus::Paused => {
                let paused = now - self.paused_at.unwrap_or(now);
                self.step_started_at += paused.max(0);
                self.paused_at = None;
                self.status = RolloutStatus::Running;
                Ok(())
            }
            RolloutStatus::Running => Err("The rollout is not paused"),
            _ => Err("The rollout has ended"),
        }
    }

    /// Ends it (`Completed` or `Aborted`) with a reason.
    pub fn end(&mut self, status: RolloutStatus, reason: &str, now: i64) {
        self.status = status;
        self.paused_at = None;
        self.ended_at = Some(now);
        self.reason = Some(reason.to_string());
    }

    /// The cron's decision at `now` given each side's counts: auto-abort first (also while
    /// paused: a failing new side must stop taking traffic), then step advancement.
    pub fn tick(&mut self, now: i64, new: SideStats, old: SideStats) -> Tick {
        if !self.status.is_live() {
            return Tick::Unchanged;
        }
        if let Some(reason) = self.abort_reason(new, old) {
            return Tick::Abort(reason);
        }
        let mut stepped = false;
        while let Some(due) = self.next_step_at() {
            if now < due {
                break;
            }
            if self.step + 1 >= self.steps.len() {
                return Tick::Complete;
            }
            self.step += 1;
            self.step_started_at = due;
            stepped = true;
        }
        if stepped {
            Tick::Stepped
        } else {
            Tick::Unchanged
        }
    }

    /// Why the auto-abort rule fires, if it does: the new side has at least [`MIN_SAMPLE`]
    /// requests and its 5xx ratio exceeds the old side's by more than `max5xxRatio`.
    pub fn abort_reason(&self, new: SideStats, old: SideStats) -> Option<String> {
        let margin = self.max5xx_ratio?;
        if new.requests < MIN_SAMPLE {
            return None;
        }
        let old_ratio = if old.requests >= MIN_SAMPLE { old.ratio() } else { 0.0 };
        (new.ratio() - old_ratio > margin).then(|| {
            format!(
                "auto_aborted: 5xx ratio {:.3} ({}/{}) on the new deployment vs {:.3} on the old exceeds the margin {margin}",
                new.ratio(),
                new.errors,
                new.requests,
                old_ratio
            )
        })
    }
}

// ---- Operations over the lifecycle stores (each change is one generation swap) ----

use super::service::{change_project, live_project, project_deployment, short, switch_swap, Explicit};
use super::{
    check_ready, publish, publish_error, Changed, LifecycleError, LifecycleResult, ProjectStore, RouteStore,
    MAX_SWAP_ATTEMPTS,
};

/// Per-side request and 5xx counts of a project's deployments since a time (the store reads
/// what the invocation log already records; no write on the visitor path).
#[allow(async_fn_in_trait)]
pub trait RolloutStats {
    /// `(new side, old side)` counts since `since` (ms).
    async fn sides(
        &self,
        project_id: &str,
        new: &str,
        old: &str,
        since: i64,
    ) -> super::StoreResult<(SideStats, SideStats)>;
}

fn refused(code: &'static str, message: impl Into<String>) -> LifecycleError {
    LifecycleError::Refused { code, message: message.into() }
}

fn live(p: &super::ProjectState) -> LifecycleResult<Rollout> {
    p.rollout
        .clone()
        .filter(|r| r.status.is_live())
        .ok_or_else(|| refused("no_rollout", "The project has no rollout in progress"))
}

/// Starts rolling out ready deployment `deployment_id` of project `key` (steps and margin
/// already validated): refused while another rollout is live, without an active deployment,
/// or for the active deployment itself.
pub async fn start<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    key: &str,
    deployment_id: &str,
    steps: Vec<Step>,
    max5xx_ratio: Option<f64>,
    now: i64,
) -> LifecycleResult<Changed> {
    let p = live_project(store, key).await?;
    let d = project_deployment(store, &p.id, deployment_id).await?;
    check_ready(&d)?;
    change_project(store, routes, &p.id, now, |p| {
        if let Some(r) = p.rollout.as_ref().filter(|r| r.status.is_live()) {
            return Err(refused(
                "rollout_in_progress",
                format!(
                    "Deployment {} is already being rolled out; complete or abort that rollout first",
                    short(&r.deployment_id)
                ),
            ));
        }
        let Some(from) = p.active_deployment_id.as_deref() else {
            return Err(refused(
                "no_active_deployment",
                "The project has no active deployment to roll out from; promote one instead",
            ));
        };
        if from == d.id {
            return Err(refused(
                "already_active",
                format!("Deployment {} is already the active deployment", short(&d.id)),
            ));
        }
        let mut swap = super::Swap::from_state(p);
        swap.require = Some((d.id.clone(), super::Status::READY.to_vec()));
        swap.rollout = Some(Rollout::new(&d.id, from, steps.clone(), max5xx_ratio, now));
        Ok(Some(swap))
    })
    .await
}

/// `wrangler versions deploy <new>@<percent>% <active>@...`: serves `deployment_id` to
/// `percent` (1-99) of production and holds it there. Changes the live rollout of that
/// deployment (its steps give way to the fixed split); a live rollout of another deployment
/// ends `aborted` (`superseded`) and this one starts.
pub async fn hold_split<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    key: &str,
    deployment_id: &str,
    percent: u8,
    now: i64,
) -> LifecycleResult<Changed> {
    let p = live_project(store, key).await?;
    let d = project_deployment(store, &p.id, deployment_id).await?;
    check_ready(&d)?;
    let percent = percent.clamp(1, 99);
    change_project(store, routes, &p.id, now, |p| {
        let Some(from) = p.active_deployment_id.as_deref() else {
            return Err(refused(
                "no_active_deployment",
                "The project has no active deployment to split with",
            ));
        };
        if from == d.id {
            return Err(refused(
                "already_active",
                format!("Deployment {} is the active deployment", short(&d.id)),
            ));
        }
        let steps = vec![Step { percent, minutes: 0 }];
        let next = match p.rollout.clone().filter(|r| r.status.is_live() && r.deployment_id == d.id) {
            Some(mut r) => {
                r.steps = steps;
                r.step = 0;
                r.status = RolloutStatus::Running;
                r.paused_at = None;
                r.step_started_at = now;
                r.manual = true;
                r
            }
            None => Rollout { manual: true, ..Rollout::new(&d.id, from, steps, None, now) },
        };
        let mut swap = super::Swap::from_state(p);
        swap.require = Some((d.id.clone(), super::Status::READY.to_vec()));
        swap.rollout = Some(next);
        Ok(Some(swap))
    })
    .await
}

/// A change to a live rollout by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    /// The new deployment becomes the active one now (the same swap as a promote).
    Complete,
    Abort,
}

impl Control {
    pub fn parse(s: &str) -> Option<Control> {
        match s {
            "pause" => Some(Control::Pause),
            "resume" => Some(Control::Resume),
            "complete" => Some(Control::Complete),
            "abort" => Some(Control::Abort),
            _ => None,
        }
    }
}

/// Pauses, resumes, completes or aborts the project's live rollout.
pub async fn control<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    key: &str,
    action: Control,
    now: i64,
) -> LifecycleResult<Changed> {
    if action == Control::Complete {
        let p = live_project(store, key).await?;
        return finish(store, routes, &p.id, None, now).await;
    }
    change_project(store, routes, key, now, |p| {
        let mut r = live(p)?;
        match action {
            Control::Pause => r.pause(now).map_err(|m| refused("rollout_paused", m))?,
            Control::Resume => r.resume(now).map_err(|m| refused("rollout_not_paused", m))?,
            _ => r.end(RolloutStatus::Aborted, "aborted", now),
        }
        Ok(Some(super::Swap { rollout: Some(r), ..super::Swap::from_state(p) }))
    })
    .await
}

/// Completes the live rollout: the new deployment goes live (as a promote) and the rollout
/// ends `completed`, in one swap. `expect`: the rollout's start time the caller decided on
/// (the cron), so a rollout replaced meanwhile is not completed by mistake.
async fn finish<S: ProjectStore, R: RouteStore>(
    store: &S,
    routes: &R,
    project_id: &str,
    expect: Option<i64>,
    now: i64,
) -> LifecycleResult<Changed> {
    for _ in 0..MAX_SWAP_ATTEMPTS {
        let p = live_project(store, project_id).await?;
        let mut r = live(&p)?;
        if expect.is_some_and(|t| t != r.started_at) {
            return Err(refused("no_rollout", "The rollout changed meanwhile"));
        }
        let d = project_deployment(store, &p.id, &r.deployment_id).await?;
        check_ready(&d)?;
        r.end(RolloutStatus::Completed, "completed", now);
        let mut swap = switch_swap(&p, &d, Explicit::Promote);
        swap.rollout = Some(r);
        if store.swap(&swap, now).await?.is_some() {
            let route_error = publish_error(publish(store, routes, &p.id).await)?;
            let project = store.project(&p.id).await?.ok_or(LifecycleError::ProjectNotFound)?;
            return Ok(Changed { project, route_error });
        }
    }
    Err(LifecycleError::Contended)
}

/// The cron's step for one project: applies the auto-abort rule and advances (or completes)
/// the live rollout. Returns what it decided (`Unchanged` also without a live rollout).
pub async fn tick<S: ProjectStore, R: RouteStore, C: RolloutStats>(
    store: &S,
    routes: &R,
    stats: &C,
    project_id: &str,
    now: i64,
) -> LifecycleResult<Tick> {
    let p = live_project(store, project_id).await?;
    let Ok(r) = live(&p) else { return Ok(Tick::Unchanged) };
    let (new, old) = stats.sides(&p.id, &r.deployment_id, &r.from_deployment_id, r.started_at).await?;
    let mut next = r.clone();
    let decided = next.tick(now, new, old);
    match &decided {
        Tick::Unchanged => {}
        Tick::Complete => {
            finish(store, routes, &p.id, Some(r.started_at), now).await?;
        }
        Tick::Stepped | Tick::Abort(_) => {
            if let Tick::Abort(reason) = &decided {
                next.end(RolloutStatus::Aborted, reason, now);
            }
            change_project(store, routes, &p.id, now, |p| {
                // Only the rollout this tick looked at (another may have replaced it).
                if p.rollout.as_ref() != Some(&r) {
                    return Ok(None);
                }
                Ok(Some(super::Swap { rollout: Some(next.clone()), ..super::Swap::from_state(p) }))
            })
            .await?;
        }
    }
    Ok(decided)
}

// ---- The API's view ----

/// A start request (`POST /__api/projects/:id/rollouts`):
/// `{deploymentId, steps: [{percent, minutes}], autoAbort?: {max5xxRatio?}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    pub deployment_id: String,
    pub steps: Vec<Step>,
    pub max5xx_ratio: Option<f64>,
}

impl StartRequest {
    pub fn parse(body: &[u8]) -> Result<StartRequest, crate::error::ApiError> {
        use crate::error::ApiError;
        let o = crate::domain::JsonObject::parse(body, false)?;
        o.only(&["deploymentId", "steps", "autoAbort"])?;
        let deployment_id = o
            .opt_str("deploymentId")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::bad("deploymentId", "is required"))?
            .to_string();
        let raw = o.get("steps").ok_or_else(|| ApiError::bad("steps", "is required"))?;
        let list = raw.as_array().ok_or_else(|| ApiError::bad("steps", "must be an array"))?;
        let mut steps = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let field = |k: &str| format!("steps[{i}].{k}");
            let num = |k: &str, max: u64| {
                v.get(k)
                    .and_then(serde_json::Value::as_u64)
                    .filter(|n| *n <= max)
                    .ok_or_else(|| ApiError::bad(field(k), format!("must be a whole number 0-{max}")))
            };
            if v.as_object().is_none_or(|m| m.keys().any(|k| k != "percent" && k != "minutes")) {
                return Err(ApiError::bad(format!("steps[{i}]"), "must be {percent, minutes}"));
            }
            steps.push(Step {
                percent: num("percent", 100)? as u8,
                minutes: num("minutes", u64::from(MAX_STEP_MINUTES))? as u32,
            });
        }
        validate_steps(&steps).map_err(|m| ApiError::bad("steps", m))?;
        let max5xx_ratio = match o.opt_object("autoAbort")? {
            None => None,
            Some(a) => {
                if a.keys().any(|k| k != "max5xxRatio") {
                    return Err(ApiError::bad("autoAbort", "only `max5xxRatio` is known"));
                }
                match a.get("max5xxRatio") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(v) => Some(
                        v.as_f64()
                            .ok_or_else(|| ApiError::bad("autoAbort.max5xxRatio", "must be a number"))?,
                    ),
                }
            }
        };
        validate_max_ratio(max5xx_ratio).map_err(|m| ApiError::bad("autoAbort.max5xxRatio", m))?;
        Ok(StartRequest { deployment_id, steps, max5xx_ratio })
    }
}

impl Rollout {
    /// The API's JSON: the stored state plus `percent` and `nextStepAt`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("percent".into(), self.percent().into());
            o.insert("nextStepAt".into(), self.next_step_at().into());
            o.insert("autoAbort".into(), serde_json::json!({ "max5xxRatio": self.max5xx_ratio }));
            o.remove("max5xxRatio");
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_000_000_000;
    const MIN: i64 = 60_000;

    fn steps(list: &[(u8, u32)]) -> Vec<Step> {
        list.iter().map(|&(percent, minutes)| Step { percent, minutes }).collect()
    }

    fn quiet() -> SideStats {
        SideStats::default()
    }

    #[test]
    fn steps_must_rise_and_stay_bounded() {
        assert!(validate_steps(&steps(&[(10, 5), (50, 5), (100, 0)])).is_ok());
        assert!(validate_steps(&[]).is_err());
        assert!(validate_steps(&steps(&[(0, 5)])).is_err());
        assert!(validate_steps(&steps(&[(101, 5)])).is_err());
        assert!(validate_steps(&steps(&[(50, 5), (50, 5)])).unwrap_err().contains("steps[1]"));
        assert!(validate_steps(&steps(&[(50, 5), (10, 5)])).is_err());
        assert!(validate_steps(&steps(&[(50, MAX_STEP_MINUTES + 1)])).is_err());
        assert!(validate_steps(&[Step { percent: 1, minutes: 1 }; MAX_STEPS + 1]).is_err());
        assert!(validate_max_ratio(Some(0.05)).is_ok() && validate_max_ratio(None).is_ok());
        assert!(validate_max_ratio(Some(-0.1)).is_err() && validate_max_ratio(Some(f64::NAN)).is_err());
    }

    #[test]
    fn advances_by_time_and_completes_after_the_last_step() {
        let mut r = Rollout::new("new", "old", steps(&[(10, 5), (50, 5), (100, 5)]), None, T0);
        assert_eq!(r.percent(), 10);
        assert_eq!(r.tick(T0 + 4 * MIN, quiet(), quiet()), Tick::Unchanged);
        assert_eq!(r.tick(T0 + 5 * MIN, quiet(), quiet()), Tick::Stepped);
        assert_eq!((r.step, r.percent(), r.step_started_at), (1, 50, T0 + 5 * MIN));
        // A cron that missed runs catches up step by step, each step timed from the last.
        let mut late = Rollout::new("new", "old", steps(&[(10, 5), (50, 5), (100, 5)]), None, T0);
        assert_eq!(late.tick(T0 + 11 * MIN, quiet(), quiet()), Tick::Stepped);
        assert_eq!((late.step, late.step_started_at), (2, T0 + 10 * MIN));
        assert_eq!(late.tick(T0 + 15 * MIN, quiet(), quiet()), Tick::Complete);
        // Zero-minute steps pass at the next tick.
        let mut fast = Rollout::new("new", "old", steps(&[(10, 0), (20, 0)]), None, T0);
        assert_eq!(fast.tick(T0, quiet(), quiet()), Tick::Complete);
    }

    #[test]
    fn pause_stops_the_clock_and_resume_does_not_count_the_pause() {
        let mut r = Rollout::new("new", "old", steps(&[(10, 5), (100, 5)]), None, T0);
        r.pause(T0 + 2 * MIN).unwrap();
        assert_eq!(r.pause(T0 + 2 * MIN), Err("The rollout is already paused"));
        assert_eq!(r.percent(), 10, "a paused rollout keeps its split");
        assert_eq!(r.tick(T0 + 60 * MIN, quiet(), quiet()), Tick::Unchanged);
        r.resume(T0 + 62 * MIN).unwrap();
        assert_eq!(r.resume(T0 + 62 * MIN), Err("The rollout is not paused"));
        assert_eq!(
            r.tick(T0 + 64 * MIN, quiet(), quiet()),
            Tick::Unchanged,
            "2 of 5 minutes ran before the pause"
        );
        assert_eq!(r.tick(T0 + 65 * MIN, quiet(), quiet()), Tick::Stepped);
    }

    #[test]
    fn ended_rollouts_split_nothing_and_refuse_controls() {
        let mut r = Rollout::new("new", "old", steps(&[(10, 5)]), Some(0.1), T0);
        r.end(RolloutStatus::Aborted, "aborted", T0 + MIN);
        assert_eq!(r.percent(), 0);
        assert_eq!(r.pause(T0), Err("The rollout has ended"));
        assert_eq!(r.resume(T0), Err("The rollout has ended"));
        let bad = SideStats { requests: 100, errors: 100 };
        assert_eq!(r.tick(T0 + 99 * MIN, bad, quiet()), Tick::Unchanged);
    }

    #[test]
    fn auto_aborts_only_on_a_real_sample_and_beyond_the_margin() {
        let r = Rollout::new("new", "old", steps(&[(10, 60)]), Some(0.05), T0);
        let s = |requests, errors| SideStats { requests, errors };
        assert_eq!(r.abort_reason(s(2, 1), s(100, 0)), None, "1 error in 2 requests is noise");
        assert_eq!(r.abort_reason(s(19, 19), s(100, 0)), None);
        assert!(r.abort_reason(s(20, 20), s(100, 0)).unwrap().starts_with("auto_aborted"));
        assert_eq!(r.abort_reason(s(100, 10), s(100, 6)), None, "0.10 - 0.06 is within 0.05");
        assert!(r.abort_reason(s(100, 12), s(100, 6)).is_some());
        // An old side too small to compare counts as error-free.
        assert!(r.abort_reason(s(100, 6), s(3, 3)).is_some());
        let without = Rollout { max5xx_ratio: None, ..r.clone() };
        assert_eq!(without.abort_reason(s(100, 100), s(100, 0)), None, "no autoAbort, no abort");
        // Auto-abort wins over a step that is also due, and also applies while paused.
        let mut paused = r.clone();
        paused.pause(T0).unwrap();
        assert!(matches!(paused.tick(T0 + 120 * MIN, s(50, 50), s(50, 0)), Tick::Abort(_)));
    }

    #[test]
    fn start_requests_are_checked_field_by_field() {
        let ok = br#"{"deploymentId":"d2","steps":[{"percent":10,"minutes":5},{"percent":100,"minutes":0}],"autoAbort":{"max5xxRatio":0.05}}"#;
        let r = StartRequest::parse(ok).unwrap();
        assert_eq!((r.deployment_id.as_str(), r.steps.len(), r.max5xx_ratio), ("d2", 2, Some(0.05)));
        let bad: [(&[u8], &str); 7] = [
            (br#"{"steps":[{"percent":10,"minutes":5}]}"#, "deploymentId"),
            (br#"{"deploymentId":"d"}"#, "steps"),
            (br#"{"deploymentId":"d","steps":[{"percent":101,"minutes":5}]}"#, "steps[0].percent"),
            (br#"{"deploymentId":"d","steps":[{"percent":10,"minutes":-1}]}"#, "steps[0].minutes"),
            (br#"{"deploymentId":"d","steps":[{"percent":10,"minutes":1,"x":1}]}"#, "steps[0]"),
            (
                br#"{"deploymentId":"d","steps":[{"percent":10,"minutes":1}],"autoAbort":{"max5xxRatio":2}}"#,
                "autoAbort.max5xxRatio",
            ),
            (br#"{"deploymentId":"d","steps":[],"extra":1}"#, "extra"),
        ];
        for (body, field) in bad {
            let e = StartRequest::parse(body).unwrap_err();
            let text = format!("{e:?}");
            assert!(text.contains(field), "{field} in {text}");
        }
    }

    #[test]
    fn state_round_trips_through_its_json() {
        let mut r = Rollout::new("new", "old", steps(&[(10, 5), (100, 5)]), Some(0.02), T0);
        r.pause(T0 + MIN).unwrap();
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""deploymentId":"new""#) && text.contains(r#""status":"paused""#), "{text}");
        assert!(text.contains(r#""max5xxRatio":0.02"#), "{text}");
        assert_eq!(serde_json::from_str::<Rollout>(&text).unwrap(), r);
    }
}
