//! Host record reconciliation against an in-memory D1 + KV that can be told to fail.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::lifecycle::fake::{block_on, Faults};
use crate::lifecycle::StoreResult;

#[derive(Default, Clone, Debug, PartialEq)]
struct World {
    /// hostname -> (project, active)
    domains: BTreeMap<String, (String, bool)>,
    deleted_projects: BTreeSet<String>,
    /// ROUTES_KV `host:` records: hostname -> project.
    records: BTreeMap<String, String>,
    cursors: BTreeMap<String, String>,
}

type Hook = Box<dyn FnOnce(&mut World)>;

struct Fake {
    w: RefCell<World>,
    faults: Faults,
    forgets: RefCell<usize>,
    /// Runs once just before the next record write: a concurrent detach.
    before_put: RefCell<Option<Hook>>,
    /// Names each `list_records`/`record`/`put_record`/`delete_record` touched.
    touched: RefCell<Vec<String>>,
}

impl Fake {
    fn new(w: World) -> Fake {
        Fake {
            w: RefCell::new(w),
            faults: Faults::new("STORE"),
            forgets: RefCell::default(),
            before_put: RefCell::default(),
            touched: RefCell::default(),
        }
    }
}

impl HostStore for Fake {
    async fn owners(&self, hostnames: &[String]) -> StoreResult<BTreeMap<String, String>> {
        self.faults.check("owners")?;
        let w = self.w.borrow();
        Ok(hostnames
            .iter()
            .filter_map(|h| match w.domains.get(h) {
                Some((p, true)) if !w.deleted_projects.contains(p) => Some((h.clone(), p.clone())),
                _ => None,
            })
            .collect())
    }
    async fn active_after(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<(String, String)>> {
        self.faults.check("active_after")?;
        let w = self.w.borrow();
        Ok(w.domains
            .iter()
            .filter(|(h, (p, active))| {
                *active && !w.deleted_projects.contains(p) && after.is_none_or(|a| h.as_str() > a)
            })
            .take(limit)
            .map(|(h, (p, _))| (h.clone(), p.clone()))
            .collect())
    }
    async fn list_records(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<String>, Option<String>)> {
        self.faults.check("list_records")?;
        let w = self.w.borrow();
        let after: Vec<&String> =
            w.records.keys().filter(|h| cursor.is_none_or(|c| h.as_str() > c)).collect();
        let page: Vec<String> = after.iter().take(limit).map(|h| h.to_string()).collect();
        let next = (after.len() > limit).then(|| page.last().cloned()).flatten();
        Ok((page, next))
    }
    async fn record(&self, hostname: &str) -> StoreResult<Option<String>> {
        self.faults.check("record")?;
        self.touched.borrow_mut().push(hostname.into());
        Ok(self.w.borrow().records.get(hostname).cloned())
    }
    async fn put_record(&self, hostname: &str, project_id: &str) -> StoreResult<()> {
        if let Some(hook) = self.before_put.borrow_mut().take() {
            hook(&mut self.w.borrow_mut());
        }
        self.faults.check("put_record")?;
        self.w.borrow_mut().records.insert(hostname.into(), project_id.into());
        Ok(())
    }
    async fn delete_record(&self, hostname: &str) -> StoreResult<()> {
        self.faults.check("delete_record")?;
        self.w.borrow_mut().records.remove(hostname);
        Ok(())
    }
    async fn cursor(&self, name: &str) -> StoreResult<Option<String>> {
        self.faults.check("cursor")?;
        Ok(self.w.borrow().cursors.get(name).cloned())
    }
    async fn set_cursor(&self, name: &str, cursor: Option<&str>) -> StoreResult<()> {
        self.faults.check("set_cursor")?;
        let mut w = self.w.borrow_mut();
        match cursor {
            Some(c) => w.cursors.insert(name.into(), c.into()),
            None => w.cursors.remove(name),
        };
        Ok(())
    }
    fn forget_hosts(&self) {
        *self.forgets.borrow_mut() += 1;
    }
}

/// What the records should be: exactly the active domains of live projects.
fn wanted(w: &World) -> BTreeMap<String, String> {
    w.domains
        .iter()
        .filter(|(_, (p, active))| *active && !w.deleted_projects.contains(p))
        .map(|(h, (p, _))| (h.clone(), p.clone()))
        .collect()
}

fn messy() -> World {
    let mut w = World::default();
    let d = |w: &mut World, h: &str, p: &str, active: bool| {
        w.domains.insert(h.into(), (p.into(), active));
    };
    d(&mut w, "ok.example", "p1", true);
    w.records.insert("ok.example".into(), "p1".into());
    d(&mut w, "missing.example", "p1", true);
    d(&mut w, "wrong.example", "p2", true);
    w.records.insert("wrong.example".into(), "p1".into());
    d(&mut w, "pending.example", "p1", false);
    w.records.insert("pending.example".into(), "p1".into());
    w.records.insert("gone.example".into(), "p3".into());
    d(&mut w, "dead.example", "p9", true);
    w.deleted_projects.insert("p9".into());
    w.records.insert("dead.example".into(), "p9".into());
    w
}

#[test]
fn each_kind_of_drift_is_repaired_and_correct_records_stay() {
    let fake = Fake::new(messy());
    let report = block_on(reconcile_hosts(&fake, 50)).unwrap();
    assert_eq!(report, HostReport { repaired: 2, deleted: 3, failed: 0 });
    let w = fake.w.borrow();
    assert_eq!(w.records, wanted(&w));
    assert_eq!(w.records.get("wrong.example").map(String::as_str), Some("p2"));
    assert!(w.cursors.is_empty(), "one page covered everything: the walks start over next time");
    assert_eq!(*fake.forgets.borrow(), 1, "the host cache is dropped after writes");
    drop(w);
    // A second run finds nothing to do and writes nothing.
    assert_eq!(block_on(reconcile_hosts(&fake, 50)).unwrap(), HostReport::default());
    assert_eq!(*fake.forgets.borrow(), 1);
}

#[test]
fn runs_are_bounded_and_the_walks_resume_until_everything_is_visited() {
    let mut w = World::default();
    for i in 0..9 {
        w.domains.insert(format!("d{i}.example"), ("p1".into(), true));
        w.records.insert(format!("stale{i}.example"), "p1".into());
    }
    let fake = Fake::new(w);
    let mut runs = 0;
    while fake.w.borrow().records != wanted(&fake.w.borrow()) {
        fake.touched.borrow_mut().clear();
        let r = block_on(reconcile_hosts(&fake, 2)).unwrap();
        assert!(r.repaired + r.deleted <= 4, "{r:?}");
        assert!(fake.touched.borrow().len() <= 4, "at most a page of records and a page of domains");
        runs += 1;
        assert!(runs < 20, "never converged");
    }
    assert!(runs >= 5, "9 of each, 2 per run: {runs} runs");
}

const OPS: [&str; 8] = [
    "owners",
    "active_after",
    "list_records",
    "record",
    "put_record",
    "delete_record",
    "cursor",
    "set_cursor",
];

#[test]
fn a_failure_anywhere_is_left_for_the_next_run_which_repairs_it() {
    for op in OPS {
        for times in [1, 3] {
            let fake = Fake::new(messy());
            fake.faults.fail(op, times);
            let mut errors = 0;
            for _ in 0..10 {
                match block_on(reconcile_hosts(&fake, 50)) {
                    Ok(r) if r == HostReport::default() => break,
                    Ok(_) => {}
                    Err(e) => {
                        assert!(e.0.contains(op), "{op}: {e:?}");
                        errors += 1;
                    }
                }
            }
            assert!(errors <= times, "{op}");
            let w = fake.w.borrow();
            assert_eq!(w.records, wanted(&w), "{op} x{times}");
        }
    }
}

#[test]
fn a_detach_racing_a_rewrite_never_leaves_the_record_behind() {
    let fake = Fake::new(messy());
    // The domain is detached (row deleted) between our D1 read and our KV write.
    *fake.before_put.borrow_mut() = Some(Box::new(|w: &mut World| {
        w.domains.remove("missing.example");
        w.domains.remove("wrong.example");
    }));
    block_on(reconcile_hosts(&fake, 50)).unwrap();
    let w = fake.w.borrow();
    assert!(!w.records.contains_key("wrong.example"), "{:?}", w.records);
    assert_eq!(w.records, wanted(&w));
}

#[test]
fn what_a_record_becomes() {
    assert_eq!(host_fix(Some("p"), Some("p")), HostFix::Keep);
    assert_eq!(host_fix(None, Some("p")), HostFix::Put("p".into()));
    assert_eq!(host_fix(Some("q"), Some("p")), HostFix::Put("p".into()));
    assert_eq!(host_fix(Some("q"), None), HostFix::Delete);
    assert_eq!(host_fix(None, None), HostFix::Keep);
}
