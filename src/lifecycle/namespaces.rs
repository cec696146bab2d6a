//! Finishing the deletion of KV namespaces (issue 27): `DELETE /__api/kv/namespaces/:id` makes
//! a namespace unreachable at once but removes at most 500 of its keys per call, so a caller
//! that never calls again would leave its keys in `TENANT_KV` for ever. The cron continues
//! every such deletion here, in bounded batches, until the namespace is empty; only then is it
//! marked purged (the row stays, so the id is never reused). `platform/jobs/cron.rs` implements
//! [`NamespaceStore`] over D1 and `TENANT_KV`.

use super::StoreResult;

/// Deleted namespaces one cron run looks at, longest deleted first.
pub const NAMESPACES_PER_RUN: usize = 5;
/// Keys one cron run removes at most, over all namespaces (one subrequest each; the cron's
/// other parts need theirs too).
pub const NAMESPACE_KEYS_PER_RUN: u32 = 250;

#[allow(async_fn_in_trait)] // single-threaded Workers runtime: no Send bounds wanted
pub trait NamespaceStore {
    /// Up to `limit` namespaces deleted but not purged, longest deleted first.
    async fn unfinished(&self, limit: usize) -> StoreResult<Vec<String>>;
    /// Removes up to `max` of the namespace's keys: how many it removed, and whether any remain.
    async fn remove_keys(&self, id: &str, max: u32) -> StoreResult<(u32, bool)>;
    /// The namespace's data is all gone.
    async fn mark_purged(&self, id: &str, now: i64) -> StoreResult<()>;
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceReport {
    pub removed: u32,
    /// Namespaces marked purged.
    pub finished: usize,
    /// Namespaces whose removal failed this run (the next run retries).
    pub failed: usize,
}

/// One cron run: removes up to `keys` keys from up to `namespaces` deleted namespaces, and
/// marks purged each one found empty. A failure on one namespace leaves it for the next run
/// and does not stop the others.
pub async fn continue_namespace_deletions<S: NamespaceStore>(
    s: &S,
    now: i64,
    namespaces: usize,
    keys: u32,
) -> StoreResult<NamespaceReport> {
    let mut report = NamespaceReport::default();
    let mut budget = keys;
    for id in s.unfinished(namespaces).await? {
        if budget == 0 {
            break;
        }
        let step = async {
            let (removed, more) = s.remove_keys(&id, budget).await?;
            if !more {
                s.mark_purged(&id, now).await?;
            }
            Ok::<_, super::StoreError>((removed, more))
        };
        match step.await {
            Ok((removed, more)) => {
                // The store never removes more than asked; counted defensively all the same.
                budget = budget.saturating_sub(removed.max(1));
                report.removed += removed;
                report.finished += usize::from(!more);
            }
            Err(_) => report.failed += 1,
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::*;
    use crate::lifecycle::fake::{block_on, Faults};

    /// (keys left, deleted at, purged at).
    type Row = (u32, i64, Option<i64>);

    /// id -> its row.
    #[derive(Default)]
    struct Fake {
        rows: RefCell<BTreeMap<String, Row>>,
        faults: Faults,
    }

    impl NamespaceStore for Fake {
        async fn unfinished(&self, limit: usize) -> StoreResult<Vec<String>> {
            self.faults.check("unfinished")?;
            let rows = self.rows.borrow();
            let mut v: Vec<_> = rows.iter().filter(|(_, r)| r.2.is_none()).collect();
            v.sort_by_key(|(_, r)| r.1);
            Ok(v.into_iter().take(limit).map(|(id, _)| id.clone()).collect())
        }
        async fn remove_keys(&self, id: &str, max: u32) -> StoreResult<(u32, bool)> {
            self.faults.check("remove_keys")?;
            let mut rows = self.rows.borrow_mut();
            let r = rows.get_mut(id).unwrap();
            let n = r.0.min(max);
            r.0 -= n;
            Ok((n, r.0 > 0))
        }
        async fn mark_purged(&self, id: &str, now: i64) -> StoreResult<()> {
            self.faults.check("mark_purged")?;
            self.rows.borrow_mut().get_mut(id).unwrap().2 = Some(now);
            Ok(())
        }
    }

    fn fake(rows: &[(&str, u32, i64)]) -> Fake {
        let f = Fake { faults: Faults::new("TENANT_KV"), ..Fake::default() };
        for (id, keys, at) in rows {
            f.rows.borrow_mut().insert(id.to_string(), (*keys, *at, None));
        }
        f
    }

    #[test]
    fn a_deletion_left_half_done_is_finished_run_by_run_within_the_budget() {
        let f = fake(&[("big", 1200, 1), ("small", 3, 2), ("empty", 0, 3)]);
        let mut runs = Vec::new();
        for now in 10..20 {
            let r = block_on(continue_namespace_deletions(&f, now, NAMESPACES_PER_RUN, 500)).unwrap();
            assert!(r.removed <= 500, "bounded: {r:?}");
            runs.push(r);
            if f.rows.borrow().values().all(|r| r.2.is_some()) {
                break;
            }
        }
        assert_eq!(runs.iter().map(|r| r.removed).collect::<Vec<_>>(), [500, 500, 203]);
        let rows = f.rows.borrow();
        // Marked purged only once empty: the big one on the third run, the others with it.
        assert_eq!(rows["big"], (0, 1, Some(12)));
        assert_eq!(rows["small"], (0, 2, Some(12)));
        assert_eq!(rows["empty"], (0, 3, Some(12)));
        drop(rows);
        // Nothing left to do: a run changes nothing.
        let r = block_on(continue_namespace_deletions(&f, 30, NAMESPACES_PER_RUN, 500)).unwrap();
        assert_eq!(r, NamespaceReport::default());
    }

    #[test]
    fn a_namespace_with_keys_left_is_never_marked_purged_and_a_failure_is_retried() {
        for op in ["unfinished", "remove_keys", "mark_purged"] {
            let f = fake(&[("a", 7, 1), ("b", 2, 2)]);
            f.faults.fail(op, 1);
            let first = block_on(continue_namespace_deletions(&f, 10, NAMESPACES_PER_RUN, 100));
            for (id, r) in f.rows.borrow().iter() {
                assert!(r.2.is_none() || r.0 == 0, "{op}: {id} marked purged with {} keys left", r.0);
            }
            if op != "unfinished" {
                assert_eq!(first.unwrap().failed, 1, "{op}: one namespace failed, the run went on");
            }
            for now in 11..20 {
                block_on(continue_namespace_deletions(&f, now, NAMESPACES_PER_RUN, 5)).unwrap();
            }
            assert!(f.rows.borrow().values().all(|r| r.0 == 0 && r.2.is_some()), "{op}: finished later");
        }
    }
}
