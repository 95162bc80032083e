//! A small in-process cache whose entries live at most a fixed time: what
//! another instance changes is seen here within that bound, and what this
//! instance changes it invalidates at once. Bounded in size: when full, the
//! expired entries go, and if that frees nothing, everything does. Expired
//! entries are also swept once per `ttl` by the next write, so memory follows
//! the recent load rather than the highest one.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    max: usize,
    map: RwLock<HashMap<K, (Instant, V)>>,
    /// When each key was last removed (kept for one `ttl`): a read that
    /// started before a removal must not put the old value back.
    removed: RwLock<HashMap<K, Instant>>,
    /// When expired entries were last swept out.
    swept: std::sync::Mutex<Instant>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// Entries live `ttl`; at most `max` are kept. A zero `ttl` keeps nothing.
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max: max.max(1),
            map: RwLock::new(HashMap::new()),
            removed: RwLock::new(HashMap::new()),
            swept: std::sync::Mutex::new(Instant::now()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn max(&self) -> usize {
        self.max
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The value stored less than `ttl` ago.
    pub fn get(&self, key: &K) -> Option<V> {
        if !self.enabled() {
            return None;
        }
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        self.insert_at(key, value, Instant::now());
    }

    /// Stores `value` as read at `read_at`, unless the key was removed after
    /// the read started or holds a value read later (a read that started
    /// before a change must not undo it, nor outlive its bound).
    pub fn insert_at(&self, key: K, value: V, read_at: Instant) {
        if !self.enabled() {
            return;
        }
        self.sweep();
        let removed = self.removed.read().unwrap_or_else(|p| p.into_inner()).get(&key).copied();
        if removed.is_some_and(|at| at >= read_at) {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.get(&key).is_some_and(|(at, _)| *at > read_at) {
            return;
        }
        if map.len() >= self.max && !map.contains_key(&key) {
            map.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if map.len() >= self.max {
                map.clear();
            }
        }
        map.insert(key, (read_at, value));
    }

    pub fn remove(&self, key: &K) {
        if !self.enabled() {
            return;
        }
        {
            let mut removed = self.removed.write().unwrap_or_else(|p| p.into_inner());
            if removed.len() >= self.max {
                removed.retain(|_, at| at.elapsed() < self.ttl);
                if removed.len() >= self.max {
                    removed.clear();
                }
            }
            removed.insert(key.clone(), Instant::now());
        }
        self.map.write().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Drops expired entries and removal marks, at most once per `ttl` (a
    /// write that finds another sweeping goes on).
    fn sweep(&self) {
        {
            let Ok(mut swept) = self.swept.try_lock() else { return };
            if swept.elapsed() < self.ttl {
                return;
            }
            *swept = Instant::now();
        }
        self.map.write().unwrap_or_else(|p| p.into_inner()).retain(|_, (at, _)| at.elapsed() < self.ttl);
        self.removed.write().unwrap_or_else(|p| p.into_inner()).retain(|_, at| at.elapsed() < self.ttl);
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_swept_by_a_later_write() {
        let c = TtlCache::new(Duration::from_millis(30), 1000);
        for i in 0..100 {
            c.insert(i, i);
            c.remove(&(i + 1000));
        }
        assert_eq!(c.len(), 100);
        std::thread::sleep(Duration::from_millis(40));
        c.insert(-1, -1);
        assert_eq!(c.len(), 1, "only the new entry is left");
        assert!(c.removed.read().unwrap_or_else(|p| p.into_inner()).is_empty(), "old removal marks are gone");
    }

    #[test]
    fn entries_expire_are_removed_and_the_size_is_bounded() {
        let c = TtlCache::new(Duration::from_millis(50), 3);
        c.insert("a", 1);
        assert_eq!(c.get(&"a"), Some(1));
        c.remove(&"a");
        assert_eq!(c.get(&"a"), None);
        c.insert("b", 2);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(&"b"), None, "older than the bound");
        for (i, k) in ["c", "d", "e", "f"].into_iter().enumerate() {
            c.insert(k, i);
        }
        assert!(c.len() <= 3, "bounded: {}", c.len());
        assert_eq!(c.get(&"f"), Some(3));
        let off = TtlCache::new(Duration::ZERO, 3);
        off.insert("a", 1);
        assert_eq!(off.get(&"a"), None, "a zero bound caches nothing");
        let stale = TtlCache::new(Duration::from_millis(50), 3);
        stale.insert_at("a", 1, Instant::now() - Duration::from_millis(60));
        assert_eq!(stale.get(&"a"), None, "a read older than the bound is not kept");
    }

    #[test]
    fn a_read_that_started_before_a_change_does_not_undo_it() {
        let c = TtlCache::new(Duration::from_secs(5), 10);
        let before = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        c.remove(&"row"); // this instance ended the row
        c.insert_at("row", "live", before); // a read from before the end finishes later
        assert_eq!(c.get(&"row"), None, "the ended row stays ended");
        c.insert("row", "new"); // a read after the removal is kept
        assert_eq!(c.get(&"row"), Some("new"));
        c.insert_at("row", "older", before);
        assert_eq!(c.get(&"row"), Some("new"), "an older read does not replace a newer value");
    }
}
