//! A small in-process cache whose entries live at most a fixed time: what
//! another instance changes is seen here within that bound, and what this
//! instance changes it invalidates at once. Bounded in size: when full, the
//! expired entries go, and if that frees nothing, everything does.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    max: usize,
    map: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// Entries live `ttl`; at most `max` are kept. A zero `ttl` keeps nothing.
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self { ttl, max: max.max(1), map: RwLock::new(HashMap::new()) }
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

    /// Stores `value` as read at `read_at` (a read that started before a
    /// write must not outlive the write's bound).
    pub fn insert_at(&self, key: K, value: V, read_at: Instant) {
        if !self.enabled() {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max && !map.contains_key(&key) {
            map.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if map.len() >= self.max {
                map.clear();
            }
        }
        map.insert(key, (read_at, value));
    }

    pub fn remove(&self, key: &K) {
        if self.enabled() {
            self.map.write().unwrap_or_else(|p| p.into_inner()).remove(key);
        }
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
}
