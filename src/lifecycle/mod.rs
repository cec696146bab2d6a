//! The deployment lifecycle (pure, no `worker` types): what a project serves is one
//! compare-and-swap on its D1 row (a generation counter); the ROUTES_KV routing record is a
//! cache derived from that row. Activation, ordering, rollback, promote, aliases, enable /
//! disable / delete, reconcile, the stuck-deployment sweep and retention are decided here over
//! small storage traits; `platform/` implements the traits over D1/KV/Queues, and the
//! in-memory fakes in `fake.rs` (tests only) can be told to fail at every write.

pub mod envs;
mod hosts;
mod namespaces;
mod purge;
mod retention;
pub mod rollout;
mod service;

#[cfg(test)]
mod asset_race_tests;
#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod race_tests;
#[cfg(test)]
mod rollout_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use hosts::*;
pub use namespaces::*;
pub use purge::*;
pub use retention::*;
pub use service::*;

use crate::error::ApiError;
use crate::routing::RouteRecord;

/// Deployment status values (SPEC.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Queued,
    InProgress,
    Completed,
    Failed,
    Superseded,
    RolledBack,
    Expired,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Queued,
        Status::InProgress,
        Status::Completed,
        Status::Failed,
        Status::Superseded,
        Status::RolledBack,
        Status::Expired,
    ];
    /// Not finished yet: the workflow may still move it.
    pub const PENDING: [Status; 2] = [Status::Queued, Status::InProgress];
    /// Built, verified and kept: may be served (preview, alias) and activated explicitly.
    pub const READY: [Status; 3] = [Status::Completed, Status::Superseded, Status::RolledBack];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Superseded => "superseded",
            Status::RolledBack => "rolled_back",
            Status::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        !Status::PENDING.contains(&self)
    }

    pub fn is_ready(self) -> bool {
        Status::READY.contains(&self)
    }

    /// Whether a stored status string is ready (see [`Status::READY`]); unknown text is not.
    pub fn ready_str(s: &str) -> bool {
        Status::parse(s).is_some_and(Status::is_ready)
    }
}

/// [`Status::PENDING`] as an SQL list for `status IN (...)`, as a macro so SQL text can
/// `concat!` it at compile time (a test keeps it in step with the enum).
#[macro_export]
macro_rules! pending_sql {
    () => {
        "'queued', 'in_progress'"
    };
}
/// [`Status::READY`] as an SQL list (see [`pending_sql!`]).
#[macro_export]
macro_rules! ready_sql {
    () => {
        "'completed', 'superseded', 'rolled_back'"
    };
}
pub const PENDING_SQL: &str = pending_sql!();
pub const READY_SQL: &str = ready_sql!();
/// [`Status::PENDING`] then [`Status::READY`]: every deployment that is or may become servable.
pub const LIVE_SQL: &str = concat!(pending_sql!(), ", ", ready_sql!());

/// `statuses` as an SQL list of quoted names.
pub fn sql_list(statuses: &[Status]) -> String {
    statuses.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ")
}

/// A project's row as the lifecycle sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectState {
    pub id: String,
    pub slug: String,
    pub enabled: bool,
    pub deleted: bool,
    pub active_deployment_id: Option<String>,
    /// Bumped by every swap; the routing record carries the generation it was built from.
    pub generation: i64,
    /// The generation last confirmed written to ROUTES_KV (the sweep repairs lagging ones).
    pub routed_generation: i64,
    /// Highest deployment sequence number ever activated automatically or explicitly:
    /// automatic activation only moves past it.
    pub activated_seq: i64,
    pub outbound_allowed: bool,
    /// `false` = locked publishing: deploys stage a preview; only promote/rollback go live.
    pub auto_activate: bool,
    /// `previewAccess = "link"` (protected previews).
    pub preview_link: bool,
    pub aliases: BTreeMap<String, String>,
    /// Earlier production deployments still kept, newest activation first
    /// (`RouteRecord::recent`).
    pub recent: Vec<String>,
    pub skew: crate::routing::SkewSettings,
    /// `lifecycle::envs`: target -> env digest (`RouteRecord::envs`).
    pub envs: envs::EnvRefs,
    /// SHA-256 hex of the bypass token (`RouteRecord::bypass`).
    pub bypass: Option<String>,
    /// The project's current or last gradual rollout.
    pub rollout: Option<rollout::Rollout>,
}

impl ProjectState {
    /// The routing record this row implies.
    pub fn route_record(&self) -> RouteRecord {
        RouteRecord {
            project_id: self.id.clone(),
            slug: self.slug.clone(),
            enabled: self.enabled && !self.deleted,
            active_deployment_id: if self.deleted { None } else { self.active_deployment_id.clone() },
            outbound_allowed: self.outbound_allowed,
            generation: self.generation,
            deleted: self.deleted,
            preview_link: self.preview_link,
            aliases: if self.deleted { BTreeMap::new() } else { self.aliases.clone() },
            recent: if self.deleted { Vec::new() } else { self.recent.clone() },
            skew: self.skew,
            envs: if self.deleted { BTreeMap::new() } else { envs::record_refs(&self.envs) },
            bypass: if self.deleted { None } else { self.bypass.clone() },
            rollout: self
                .rollout
                .as_ref()
                .filter(|r| r.status.is_live() && !self.deleted)
                .map(|r| crate::routing::Split { to: r.deployment_id.clone(), percent: r.percent() }),
        }
    }
}

/// A deployment as the lifecycle sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentState {
    pub id: String,
    pub project_id: String,
    /// Per-project creation order (1, 2, 3 ...), assigned atomically when it is recorded.
    pub seq: i64,
    pub status: Status,
    /// When it first went live (None: never served as the project's production deployment).
    pub activated_at: Option<i64>,
    /// The deploy request's `activate` (None: follow the project's `autoActivate`).
    pub activate: Option<bool>,
    pub assets_count: i64,
    pub has_server_code: bool,
    /// The deploy request's `projectName` (renames the project when it goes live).
    pub project_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A deployment's status moves from one of `from` to `to` (no-op otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub deployment_id: String,
    pub from: Vec<Status>,
    pub to: Status,
    /// Also record that it went live now (sets `activated_at` if unset).
    pub activated: bool,
}

/// One compare-and-swap on a project row, with the deployment status changes that belong to it.
/// The store applies all of it atomically iff the row still has `expected_generation`, is not
/// deleted, and (when `require` is set) that deployment belongs to the project and has one of
/// the listed statuses. Then `generation` becomes `expected_generation + 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub project_id: String,
    pub expected_generation: i64,
    pub active: Option<String>,
    pub enabled: bool,
    pub deleted: bool,
    pub activated_seq: i64,
    /// Project facts that follow the newly active deployment.
    pub active_facts: Option<ActiveFacts>,
    pub require: Option<(String, Vec<Status>)>,
    pub changes: Vec<StatusChange>,
    /// Set (`Some(id)`) or remove (`None`) one alias.
    pub alias: Option<(String, Option<String>)>,
    /// The project's rollout as it is to be stored (unchanged unless the caller sets it).
    pub rollout: Option<rollout::Rollout>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFacts {
    pub assets_count: i64,
    pub has_server_code: bool,
    pub rename: Option<String>,
}

impl Swap {
    /// A swap that changes nothing yet (callers set what moves).
    pub fn from_state(p: &ProjectState) -> Swap {
        Swap {
            project_id: p.id.clone(),
            expected_generation: p.generation,
            active: p.active_deployment_id.clone(),
            enabled: p.enabled,
            deleted: p.deleted,
            activated_seq: p.activated_seq,
            active_facts: None,
            require: None,
            changes: Vec::new(),
            alias: None,
            rollout: p.rollout.clone(),
        }
    }
}

/// A storage failure. The text is for the worker log only (it may hold raw binding errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

pub type StoreResult<T> = Result<T, StoreError>;

/// The D1 side of the lifecycle.
#[allow(async_fn_in_trait)] // single-threaded Workers runtime: no Send bounds wanted
pub trait ProjectStore {
    /// A project by id or slug, deleted ones included (`deleted` says so).
    async fn project(&self, key: &str) -> StoreResult<Option<ProjectState>>;
    async fn deployment(&self, id: &str) -> StoreResult<Option<DeploymentState>>;
    /// Every deployment of a project, newest (highest `seq`) first.
    async fn deployments(&self, project_id: &str) -> StoreResult<Vec<DeploymentState>>;
    /// Applies a [`Swap`]; `Some(new_generation)` when it took effect, `None` when the row moved.
    async fn swap(&self, swap: &Swap, now: i64) -> StoreResult<Option<i64>>;
    /// Ends a pending deployment without activating it (`failed`, `superseded`, or `completed`
    /// for a staged one); only if its status is one of `from`. Returns whether it changed.
    async fn finish(
        &self,
        id: &str,
        from: &[Status],
        to: Status,
        error: Option<&StepFailure>,
        now: i64,
    ) -> StoreResult<bool>;
    /// Records that ROUTES_KV holds `generation` (never lowers it).
    async fn mark_routed(&self, project_id: &str, generation: i64) -> StoreResult<()>;
    /// Projects whose routing record lags their row (up to `limit`).
    async fn lagging(&self, limit: u32) -> StoreResult<Vec<ProjectState>>;
    /// Pending deployments not updated since `before` (up to `limit`).
    async fn stuck(&self, before: i64, limit: u32) -> StoreResult<Vec<DeploymentState>>;
    /// Marks a ready deployment `expired` unless it is active, aliased or being rolled out
    /// (checked atomically).
    async fn expire(&self, id: &str, now: i64) -> StoreResult<bool>;
}

/// The ROUTES_KV side: routing records, stored under the slug and the id.
#[allow(async_fn_in_trait)]
pub trait RouteStore {
    async fn get(&self, project_id: &str) -> StoreResult<Option<RouteRecord>>;
    async fn put(&self, record: &RouteRecord) -> StoreResult<()>;
    /// Drops every cached copy of this project's pointer (the visitor caches). The service
    /// calls it after each routing write, failed ones too (what storage holds is then unknown):
    /// invalidation belongs to whoever moves the pointer, never to a storage adapter.
    fn forget_route(&self, record: &RouteRecord);
    /// Drops cached copies of a deployment (its manifest, preview lookups naming it, cached
    /// misses for prefixes of its id): called before a deployment stops being servable, and
    /// after it becomes servable (the activate step made it ready).
    fn forget_deployment(&self, deployment_id: &str);
}

/// Why a deployment failed, as a user sees it: a stable machine code and a sentence. Raw
/// binding errors never go here (they go to the log with the deployment or request id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    pub code: &'static str,
    pub message: String,
}

impl StepFailure {
    pub fn new(code: &'static str, message: impl Into<String>) -> StepFailure {
        StepFailure { code, message: message.into() }
    }
}

/// What a lifecycle operation can end in besides success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleError {
    ProjectNotFound,
    DeploymentNotFound,
    /// The current state forbids it: a stable code and a sentence that says why.
    Refused {
        code: &'static str,
        message: String,
    },
    /// A count limit of the project is reached (e.g. aliases): `what` names it.
    Limit {
        what: &'static str,
        limit: u64,
    },
    /// The row kept moving under us (many concurrent writers); the caller may retry.
    Contended,
    Store(StoreError),
}

impl From<StoreError> for LifecycleError {
    fn from(e: StoreError) -> Self {
        LifecycleError::Store(e)
    }
}

impl LifecycleError {
    fn refused(code: &'static str, message: impl Into<String>) -> LifecycleError {
        LifecycleError::Refused { code, message: message.into() }
    }
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::ProjectNotFound => ApiError::not_found("Project"),
            LifecycleError::DeploymentNotFound => ApiError::not_found("Deployment"),
            LifecycleError::Refused { code, message } => ApiError::State { code, reason: message },
            LifecycleError::Limit { what, limit } => ApiError::PayloadTooLarge { what: what.into(), limit },
            LifecycleError::Contended => {
                ApiError::Conflict { reason: "The project changed while this request ran; retry it".into() }
            }
            LifecycleError::Store(StoreError(detail)) => ApiError::internal(detail),
        }
    }
}

pub type LifecycleResult<T> = Result<T, LifecycleError>;
