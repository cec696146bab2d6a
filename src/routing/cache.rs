//! Isolate-memory caches of the visitor hot path (pure: time is passed in, no bindings).
//!
//! - [`TtlCache`]: answers that may change (routing records, custom-host owners, preview
//!   prefixes) kept at most `ttl_ms`, bounded by entry count. An invalidation bumps an epoch,
//!   so a read that started before it (an `await` on KV) cannot re-insert what it replaced.
//!   "Not found" is an answer like any other (`TtlCache<Option<_>>`): a visitor naming unknown
//!   projects, hosts or preview prefixes costs one storage read per name per `ttl_ms`, not one
//!   per request; whoever creates what a name stands for drops the miss (see [`preview_key`]).
//! - [`ByteLru`]: immutable values (deployment manifests) bounded by their total byte cost,
//!   evicting the least recently used entries one at a time instead of clearing everything.

use std::collections::{BTreeMap, HashMap};

/// A cache whose entries are misses once older than `ttl_ms`.
#[derive(Debug)]
pub struct TtlCache<V> {
    ttl_ms: u64,
    cap: usize,
    epoch: u64,
    entries: HashMap<String, (u64, V)>,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(ttl_ms: u64, cap: usize) -> TtlCache<V> {
        TtlCache { ttl_ms, cap, epoch: 0, entries: HashMap::new() }
    }

    /// Changes the staleness bound (the var is read per isolate); existing entries obey it at once.
    pub fn set_ttl(&mut self, ttl_ms: u64) {
        self.ttl_ms = ttl_ms;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value cached for `key` if it was fetched less than `ttl_ms` before `now_ms`.
    /// A clock that went backwards counts as expired (never serve something of unknown age).
    pub fn get(&mut self, key: &str, now_ms: u64) -> Option<V> {
        self.get_fresh(key, now_ms).map(|(_, v)| v)
    }

    /// Like [`TtlCache::get`], with the time after which the value stops being served
    /// (fetch time + `ttl_ms`): a copy kept elsewhere must not outlive it.
    pub fn get_fresh(&mut self, key: &str, now_ms: u64) -> Option<(u64, V)> {
        let (at, v) = self.entries.get(key)?;
        if now_ms >= *at && now_ms - *at < self.ttl_ms {
            return Some((*at + self.ttl_ms, v.clone()));
        }
        self.entries.remove(key);
        None
    }

    /// Take this before the read whose result goes to [`TtlCache::insert`].
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Caches `value` fetched at `now_ms`, unless something was invalidated since `epoch`
    /// (then the value may predate that change and is dropped). A zero TTL caches nothing.
    pub fn insert(&mut self, epoch: u64, key: &str, value: V, now_ms: u64) {
        if self.ttl_ms == 0 || self.cap == 0 || epoch != self.epoch {
            return;
        }
        if self.entries.len() >= self.cap && !self.entries.contains_key(key) {
            let ttl = self.ttl_ms;
            self.entries.retain(|_, (at, _)| now_ms >= *at && now_ms - *at < ttl);
            if self.entries.len() >= self.cap {
                // Still full of fresh entries: drop the oldest one.
                if let Some(oldest) =
                    self.entries.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone())
                {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(key.to_string(), (now_ms, value));
    }

    /// Drops `key` (this isolate just changed what it stands for).
    pub fn remove(&mut self, key: &str) {
        self.epoch += 1;
        self.entries.remove(key);
    }

    /// Drops every entry `keep` refuses.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &V) -> bool) {
        self.epoch += 1;
        self.entries.retain(|k, (_, v)| keep(k, v));
    }

    pub fn clear(&mut self) {
        self.epoch += 1;
        self.entries.clear();
    }
}

/// The preview cache's key: a project's `<prefix>--<slug>` (or `<slug>@<prefix>`) lookup.
pub fn preview_key(project_id: &str, prefix: &str) -> String {
    format!("{project_id}/{prefix}")
}

/// Whether a cached preview answer (under [`preview_key`]) stays when `deployment_id` becomes
/// servable (it completed) or stops being servable (expired, collected): an answer naming it
/// goes, and so does a miss for any prefix of its id (that prefix may match it now, or may have
/// been ambiguous because of it). Everything else stays.
pub fn preview_answer_survives(key: &str, answer: Option<&str>, deployment_id: &str) -> bool {
    match answer {
        Some(id) => id != deployment_id,
        None => !key.rsplit_once('/').is_some_and(|(_, prefix)| deployment_id.starts_with(prefix)),
    }
}

/// A least-recently-used cache bounded by the sum of its entries' byte costs.
#[derive(Debug)]
pub struct ByteLru<V> {
    max_bytes: usize,
    bytes: usize,
    tick: u64,
    entries: HashMap<String, LruEntry<V>>,
    /// use tick -> key, oldest first.
    order: BTreeMap<u64, String>,
}

#[derive(Debug)]
struct LruEntry<V> {
    value: V,
    cost: usize,
    tick: u64,
}

impl<V: Clone> ByteLru<V> {
    pub fn new(max_bytes: usize) -> ByteLru<V> {
        ByteLru { max_bytes, bytes: 0, tick: 0, entries: HashMap::new(), order: BTreeMap::new() }
    }

    pub fn set_max_bytes(&mut self, max_bytes: usize) {
        self.max_bytes = max_bytes;
        self.evict_to(max_bytes);
    }

    /// Sum of the costs of what is cached.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// The cached value, marking it most recently used.
    pub fn get(&mut self, key: &str) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        let e = self.entries.get_mut(key)?;
        self.order.remove(&e.tick);
        e.tick = tick;
        self.order.insert(tick, key.to_string());
        Some(e.value.clone())
    }

    /// Caches `value` at `cost` bytes, evicting least recently used entries until it fits. A
    /// value costing more than the whole budget is not cached (and evicts nothing).
    pub fn insert(&mut self, key: &str, value: V, cost: usize) {
        self.remove(key);
        if cost > self.max_bytes {
            return;
        }
        self.evict_to(self.max_bytes - cost);
        self.tick += 1;
        self.order.insert(self.tick, key.to_string());
        self.entries.insert(key.to_string(), LruEntry { value, cost, tick: self.tick });
        self.bytes += cost;
    }

    pub fn remove(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            self.order.remove(&e.tick);
            self.bytes -= e.cost;
        }
    }

    fn evict_to(&mut self, budget: usize) {
        while self.bytes > budget {
            let Some((_, key)) = self.order.pop_first() else { break };
            if let Some(e) = self.entries.remove(&key) {
                self.bytes -= e.cost;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_entries_expire_after_the_bound_and_never_serve_an_unknown_age() {
        let mut c = TtlCache::new(1000, 8);
        c.insert(c.epoch(), "route:a", 1, 10_000);
        assert_eq!(c.get("route:a", 10_000), Some(1));
        assert_eq!(c.get("route:a", 10_999), Some(1), "inside the bound");
        assert_eq!(c.get("route:a", 11_000), None, "exactly ttl old is stale");
        assert!(c.is_empty(), "a stale entry is dropped on sight");
        c.insert(c.epoch(), "route:b", 2, 10_000);
        assert_eq!(c.get("route:b", 9_999), None, "clock went backwards");
    }

    #[test]
    fn a_fresh_entry_reports_when_it_stops_being_served() {
        let mut c = TtlCache::new(1000, 8);
        c.insert(c.epoch(), "k", 1, 10_000);
        assert_eq!(c.get_fresh("k", 10_000), Some((11_000, 1)));
        assert_eq!(c.get_fresh("k", 10_999), Some((11_000, 1)));
        assert_eq!(c.get_fresh("k", 11_000), None);
        c.insert(c.epoch(), "k", 2, 10_500);
        assert_eq!(c.get_fresh("k", 10_400), None, "clock went back: unknown age");
    }

    #[test]
    fn ttl_zero_disables_caching() {
        let mut c = TtlCache::new(0, 8);
        c.insert(c.epoch(), "k", 1, 5);
        assert_eq!(c.get("k", 5), None);
        assert!(c.is_empty());
    }

    #[test]
    fn set_ttl_applies_to_existing_entries() {
        let mut c = TtlCache::new(10_000, 8);
        c.insert(c.epoch(), "k", 1, 0);
        c.set_ttl(100);
        assert_eq!(c.get("k", 100), None);
    }

    #[test]
    fn ttl_invalidation_wins_over_a_read_that_started_before_it() {
        let mut c = TtlCache::new(1000, 8);
        let before = c.epoch();
        // ... a KV read is in flight; meanwhile this isolate activates and drops the key ...
        c.remove("route:a");
        c.insert(before, "route:a", "old", 0);
        assert_eq!(c.get("route:a", 1), None, "the pre-activation read is not cached");
        let after = c.epoch();
        c.insert(after, "route:a", "new", 2);
        assert_eq!(c.get("route:a", 3), Some("new"));
        let e = c.epoch();
        c.retain(|_, v| *v != "new");
        c.insert(e, "route:b", "x", 3);
        assert!(c.is_empty(), "retain and clear bump the epoch too");
        c.insert(c.epoch(), "route:b", "x", 3);
        c.clear();
        assert_eq!(c.get("route:b", 3), None);
    }

    #[test]
    fn ttl_cache_is_bounded_by_count_dropping_stale_then_oldest() {
        let mut c = TtlCache::new(100, 3);
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            c.insert(c.epoch(), k, i, i as u64 * 10);
        }
        c.insert(c.epoch(), "d", 3, 40);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("a", 40), None, "the oldest went");
        assert_eq!(c.get("d", 40), Some(3));
        // Stale entries go before fresh ones: at 125, b (10) and c (20) are stale.
        c.insert(c.epoch(), "e", 4, 125);
        assert_eq!((c.get("d", 125), c.get("e", 125)), (Some(3), Some(4)));
        assert_eq!(c.len(), 2);
        // Replacing a key at capacity evicts nothing else.
        c.insert(c.epoch(), "f", 5, 126);
        c.insert(c.epoch(), "f", 6, 127);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("f", 127), Some(6));
    }

    #[test]
    fn unknown_names_are_cached_as_misses_within_the_bound_and_a_count_limit() {
        // A flood of distinct unknown names: each is one cached miss, memory stays at the cap.
        let mut c: TtlCache<Option<u32>> = TtlCache::new(3000, 64);
        for i in 0..10_000u64 {
            let k = format!("route:nope-{i}");
            assert_eq!(c.get(&k, i), None, "never asked before: a storage read");
            c.insert(c.epoch(), &k, None, i);
            assert_eq!(c.get(&k, i), Some(None), "asked again within the bound: the cached miss");
            assert!(c.len() <= 64);
        }
        assert_eq!(c.get("route:nope-9999", 9_999 + 3000), None, "a miss obeys the same TTL as a hit");
    }

    #[test]
    fn a_deployment_becoming_ready_drops_the_misses_its_id_would_now_answer() {
        const DEP: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        let mut c: TtlCache<Option<String>> = TtlCache::new(3000, 16);
        let entries: [(&str, Option<&str>); 6] = [
            ("0a1b2c3d", None),                   // a miss for its 8-character prefix
            ("0a1b2c3d-4e5f", None),              // a longer prefix of it
            ("0a1b2c3e", None),                   // someone else's prefix
            ("ffffffff", Some(DEP)),              // an answer naming it (expiry drops it)
            ("12345678", Some("12345678-other")), // another deployment's answer
            ("0a1b2c3dxx", None),                 // not a prefix of it
        ];
        for (prefix, answer) in entries {
            c.insert(c.epoch(), &preview_key("p1", prefix), answer.map(str::to_string), 0);
        }
        c.retain(|k, v| preview_answer_survives(k, v.as_deref(), DEP));
        let mut kept = |prefix: &str| c.get(&preview_key("p1", prefix), 1).is_some();
        assert!(!kept("0a1b2c3d") && !kept("0a1b2c3d-4e5f"), "misses it now answers go");
        assert!(!kept("ffffffff"), "an answer naming it goes");
        assert!(kept("0a1b2c3e") && kept("12345678") && kept("0a1b2c3dxx"), "the rest stays");
    }

    #[test]
    fn lru_is_bounded_by_bytes_and_evicts_least_recently_used_first() {
        let mut c = ByteLru::new(100);
        c.insert("a", 'a', 40);
        c.insert("b", 'b', 40);
        assert_eq!(c.bytes(), 80);
        assert_eq!(c.get("a"), Some('a'), "a is now the most recently used");
        c.insert("c", 'c', 40);
        assert!(c.contains("a") && c.contains("c") && !c.contains("b"), "only b went, not everything");
        assert_eq!(c.bytes(), 80);
        c.insert("d", 'd', 100);
        assert_eq!((c.len(), c.bytes()), (1, 100), "a value may use the whole budget");
        c.insert("huge", 'h', 101);
        assert!(!c.contains("huge") && c.contains("d"), "too large to cache: nothing evicted");
    }

    #[test]
    fn lru_replacing_and_removing_keep_the_byte_count_exact() {
        let mut c = ByteLru::new(100);
        c.insert("a", 1, 30);
        c.insert("a", 2, 50);
        assert_eq!((c.len(), c.bytes(), c.get("a")), (1, 50, Some(2)));
        c.remove("a");
        c.remove("a");
        assert_eq!((c.len(), c.bytes()), (0, 0));
        for i in 0..50 {
            c.insert(&format!("k{i}"), i, 7);
            assert!(c.bytes() <= 100);
        }
        assert_eq!(c.len(), 14, "100 / 7");
        assert!(c.contains("k49") && !c.contains("k35"));
        c.set_max_bytes(20);
        assert_eq!((c.len(), c.bytes()), (2, 14));
        assert!(c.contains("k49") && c.contains("k48"));
    }
}
