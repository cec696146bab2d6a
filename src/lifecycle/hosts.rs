//! The cron's reconciliation of custom-domain routing records (ROUTES_KV `host:<hostname>`)
//! with D1, which owns them: a host record should exist exactly for an `active` domain of a
//! live project, naming that project. Decided here over [`HostStore`]; bounded per run, and
//! resumed from a stored cursor on both sides so every record and every domain is visited in
//! turn however many there are.
//!
//! - Records (the KV listing): one whose domain is gone, pending or of a deleted project is
//!   deleted; one naming the wrong project is rewritten.
//! - Domains (D1, by hostname): an active domain whose record is missing or wrong gets it
//!   written.
//!
//! A rewrite can race a detach (the row goes between our read and our write): every rewritten
//! record is checked against D1 once more and deleted if its domain no longer routes.

use std::collections::{BTreeMap, BTreeSet};

use super::StoreResult;

/// Records and domains one cron run visits (each side): a KV read each, a write for each
/// drifted one.
pub const HOST_RECONCILE_CHUNK: usize = 25;

/// Cursor names (see [`HostStore::cursor`]).
pub const HOST_RECORDS_CURSOR: &str = "hosts.records";
pub const HOST_DOMAINS_CURSOR: &str = "hosts.domains";

#[allow(async_fn_in_trait)] // single-threaded Workers runtime: no Send bounds wanted
pub trait HostStore {
    /// For each of `hostnames` that should route: its active domain's live project.
    async fn owners(&self, hostnames: &[String]) -> StoreResult<BTreeMap<String, String>>;
    /// Up to `limit` (hostname, project) of active domains of live projects, by hostname,
    /// after `after`.
    async fn active_after(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<(String, String)>>;
    /// One page of host record names from the listing, and the cursor of the next page.
    async fn list_records(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<String>, Option<String>)>;
    /// The project a host record names (`None`: no record).
    async fn record(&self, hostname: &str) -> StoreResult<Option<String>>;
    async fn put_record(&self, hostname: &str, project_id: &str) -> StoreResult<()>;
    async fn delete_record(&self, hostname: &str) -> StoreResult<()>;
    /// Where the walk named `name` resumes (`None`: from the start).
    async fn cursor(&self, name: &str) -> StoreResult<Option<String>>;
    async fn set_cursor(&self, name: &str, cursor: Option<&str>) -> StoreResult<()>;
    /// Drops the isolate's cached host answers (after any write, failed ones too).
    fn forget_hosts(&self);
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostReport {
    /// Records written (missing or naming the wrong project).
    pub repaired: usize,
    /// Records deleted (their domain no longer routes).
    pub deleted: usize,
    /// Records that could not be read or written (left for the next run).
    pub failed: usize,
}

/// What a record should become, given what it names and what D1 says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFix {
    Keep,
    Put(String),
    Delete,
}

pub fn host_fix(have: Option<&str>, want: Option<&str>) -> HostFix {
    match (have, want) {
        (Some(h), Some(w)) if h == w => HostFix::Keep,
        (_, Some(w)) => HostFix::Put(w.to_string()),
        (Some(_), None) => HostFix::Delete,
        (None, None) => HostFix::Keep,
    }
}

/// One bounded run: up to `limit` records and up to `limit` domains. A record that cannot be
/// read or written is counted and left for the next run; a failed listing or cursor ends the
/// run (with the error).
pub async fn reconcile_hosts<S: HostStore>(s: &S, limit: usize) -> StoreResult<HostReport> {
    let mut report = HostReport::default();
    let out = walk(s, limit, &mut report).await;
    if report != HostReport::default() {
        s.forget_hosts();
    }
    out.map(|()| report)
}

async fn walk<S: HostStore>(s: &S, limit: usize, report: &mut HostReport) -> StoreResult<()> {
    let mut seen = BTreeSet::new();
    let mut written = Vec::new();

    // Records first: the only way to find those whose domain row is gone.
    let cursor = s.cursor(HOST_RECORDS_CURSOR).await?;
    let (names, next) = s.list_records(cursor.as_deref(), limit).await?;
    let owners = s.owners(&names).await?;
    for name in &names {
        seen.insert(name.clone());
        fix(s, name, owners.get(name).map(String::as_str), report, &mut written).await;
    }
    if next != cursor {
        s.set_cursor(HOST_RECORDS_CURSOR, next.as_deref()).await?;
    }

    // Then domains, for records that are missing altogether.
    let after = s.cursor(HOST_DOMAINS_CURSOR).await?;
    let rows = s.active_after(after.as_deref(), limit).await?;
    for (name, project) in rows.iter().filter(|(n, _)| !seen.contains(n)) {
        fix(s, name, Some(project), report, &mut written).await;
    }
    let next = if rows.len() >= limit.max(1) { rows.last().map(|(n, _)| n.clone()) } else { None };
    if next != after {
        s.set_cursor(HOST_DOMAINS_CURSOR, next.as_deref()).await?;
    }

    // A detach may have run between our read of D1 and our write: look once more.
    if !written.is_empty() {
        let names: Vec<String> = written.iter().map(|(n, _)| n.clone()).collect();
        let now = s.owners(&names).await?;
        for (name, _) in written.iter().filter(|(n, p)| now.get(n) != Some(p)) {
            match s.delete_record(name).await {
                Ok(()) => {
                    report.repaired -= 1;
                    report.deleted += 1;
                }
                Err(_) => report.failed += 1,
            }
        }
    }
    Ok(())
}

async fn fix<S: HostStore>(
    s: &S,
    name: &str,
    want: Option<&str>,
    report: &mut HostReport,
    written: &mut Vec<(String, String)>,
) {
    let have = match s.record(name).await {
        Ok(h) => h,
        Err(_) => {
            report.failed += 1;
            return;
        }
    };
    match host_fix(have.as_deref(), want) {
        HostFix::Keep => {}
        HostFix::Put(project) => match s.put_record(name, &project).await {
            Ok(()) => {
                report.repaired += 1;
                written.push((name.to_string(), project));
            }
            Err(_) => report.failed += 1,
        },
        HostFix::Delete => match s.delete_record(name).await {
            Ok(()) => report.deleted += 1,
            Err(_) => report.failed += 1,
        },
    }
}

#[cfg(test)]
#[path = "hosts_tests.rs"]
mod tests;
