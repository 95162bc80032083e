//! Session records keyed by a keyed hash of the cookie value, never by the
//! value itself: the store (SQLite rows, Redis keys) holds
//! `HMAC-SHA-256(key, id)` truncated to 128 bits, so a dump, a backup or a
//! stolen Redis snapshot cannot be turned back into a cookie.
//!
//! The key is derived from the token keys (`GATEHOUSE_TOKEN_KEYS` or the key
//! file), so it is kept, shared across instances and rotated exactly like
//! them: a record stored under an older key is found, moved under the current
//! key, and the old one deleted.

use hmac::{Hmac, Mac as _};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::sealing::TokenKeys;

/// A session store whose records are keyed by the hashed session id.
#[derive(Clone)]
pub struct HashedIds<S> {
    inner: S,
    /// One HMAC state per key, keyed once; each lookup clones it.
    keys: std::sync::Arc<Vec<Hmac<sha2::Sha256>>>,
}

impl<S> std::fmt::Debug for HashedIds<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashedIds").field("keys", &self.keys.len()).finish_non_exhaustive()
    }
}

impl<S> HashedIds<S> {
    pub fn new(inner: S, keys: &TokenKeys) -> Self {
        let keyed = keys.session_id_keys().iter().map(|k| crate::sealing::hmac_for(k)).collect();
        Self { inner, keys: std::sync::Arc::new(keyed) }
    }

    /// The id the store keeps for the browser's `id`, under `key`.
    fn stored_id(key: &Hmac<sha2::Sha256>, id: &Id) -> Id {
        let mut mac = key.clone();
        mac.update(&id.0.to_le_bytes());
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        Id(i128::from_le_bytes(first))
    }

    fn current(&self, id: &Id) -> Id {
        match self.keys.first() {
            Some(k) => Self::stored_id(k, id),
            None => unreachable!("token keys always hold one key"),
        }
    }
}

#[async_trait::async_trait]
impl<S: SessionStore + Clone> SessionStore for HashedIds<S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Stores only create what does not exist yet (Redis: `SET NX`) and pick
        // another id when it does; that id would not be our hash, so it is
        // undone and a fresh browser id tried (2^-128: in practice never).
        loop {
            let wanted = self.current(&record.id);
            let mut stored = record.clone();
            stored.id = wanted;
            self.inner.create(&mut stored).await?;
            if stored.id == wanted {
                return Ok(());
            }
            self.inner.delete(&stored.id).await?;
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let mut stored = record.clone();
        stored.id = self.current(&record.id);
        self.inner.save(&stored).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        for (i, key) in self.keys.iter().enumerate() {
            let hashed = Self::stored_id(key, id);
            let Some(mut record) = self.inner.load(&hashed).await? else { continue };
            record.id = *id;
            if i > 0 {
                // Stored under an older key: copy it under the current one,
                // then drop the old record. Two requests of one browser may
                // race here; the loser's create finds the record already
                // moved (a store then picks another id, which is removed).
                let mut moved = record.clone();
                moved.id = self.current(id);
                let wanted = moved.id;
                self.inner.create(&mut moved).await?;
                if moved.id != wanted {
                    self.inner.delete(&moved.id).await?;
                }
                self.inner.delete(&hashed).await?;
            }
            return Ok(Some(record));
        }
        Ok(None)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        for key in self.keys.iter() {
            self.inner.delete(&Self::stored_id(key, id)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// In-memory store with Redis's rules (create only what is absent, save
    /// only what exists), to see what the wrapper hands the real one.
    #[derive(Debug, Clone, Default)]
    struct Memory(Arc<Mutex<HashMap<i128, Record>>>);

    #[async_trait::async_trait]
    impl SessionStore for Memory {
        async fn create(&self, r: &mut Record) -> session_store::Result<()> {
            let mut all = self.0.lock().unwrap();
            while all.contains_key(&r.id.0) {
                r.id = Id::default();
            }
            all.insert(r.id.0, r.clone());
            Ok(())
        }
        async fn save(&self, r: &Record) -> session_store::Result<()> {
            if let Some(old) = self.0.lock().unwrap().get_mut(&r.id.0) {
                *old = r.clone();
            }
            Ok(())
        }
        async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
            let found = self.0.lock().unwrap().get(&id.0).cloned();
            // Let a concurrent request interleave, as a real store's I/O does.
            tokio::task::yield_now().await;
            Ok(found)
        }
        async fn delete(&self, id: &Id) -> session_store::Result<()> {
            self.0.lock().unwrap().remove(&id.0);
            Ok(())
        }
    }

    fn record() -> Record {
        Record { id: Id::default(), data: HashMap::new(), expiry_date: time::OffsetDateTime::now_utc() }
    }

    #[tokio::test]
    async fn the_store_never_sees_the_browsers_id() {
        let keys = TokenKeys::parse(&TokenKeys::generate_line("k1")).unwrap();
        let memory = Memory::default();
        let store = HashedIds::new(memory.clone(), &keys);
        let mut r = record();
        let browser_id = r.id;
        store.create(&mut r).await.unwrap();
        assert_eq!(r.id, browser_id, "the cookie keeps the browser's id");
        let stored: Vec<i128> = memory.0.lock().unwrap().keys().copied().collect();
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0], browser_id.0, "the store holds a hash");
        // The stored id, presented as a cookie, opens nothing.
        assert!(store.load(&Id(stored[0])).await.unwrap().is_none());
        assert_eq!(store.load(&browser_id).await.unwrap().unwrap().id, browser_id);
        r.data.insert("k".into(), serde_json::json!(1));
        store.save(&r).await.unwrap();
        assert_eq!(store.load(&browser_id).await.unwrap().unwrap().data["k"], 1, "saved over the hashed record");
        store.delete(&browser_id).await.unwrap();
        assert!(memory.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn records_move_to_the_current_key_on_rotation() {
        let old = TokenKeys::generate_line("old");
        let memory = Memory::default();
        let before = HashedIds::new(memory.clone(), &TokenKeys::parse(&old).unwrap());
        let mut r = record();
        before.create(&mut r).await.unwrap();
        let rotated = HashedIds::new(
            memory.clone(),
            &TokenKeys::parse(&format!("{},{old}", TokenKeys::generate_line("new"))).unwrap(),
        );
        assert!(rotated.load(&r.id).await.unwrap().is_some(), "found under the old key");
        assert!(before.load(&r.id).await.unwrap().is_none(), "moved away from the old key");
        assert!(rotated.load(&r.id).await.unwrap().is_some(), "and kept under the new one");
        assert_eq!(memory.0.lock().unwrap().len(), 1);
        let other = HashedIds::new(memory.clone(), &TokenKeys::parse(&TokenKeys::generate_line("new")).unwrap());
        assert!(other.load(&r.id).await.unwrap().is_none(), "another key finds nothing");
    }

    #[tokio::test]
    async fn two_requests_moving_one_record_at_once_keep_it_once_under_the_browsers_id() {
        let old = TokenKeys::generate_line("old");
        let memory = Memory::default();
        let mut r = record();
        HashedIds::new(memory.clone(), &TokenKeys::parse(&old).unwrap()).create(&mut r).await.unwrap();
        let keys = TokenKeys::parse(&format!("{},{old}", TokenKeys::generate_line("new"))).unwrap();
        let (a, b) = (HashedIds::new(memory.clone(), &keys), HashedIds::new(memory.clone(), &keys));
        let (ra, rb) = tokio::join!(a.load(&r.id), b.load(&r.id));
        assert_eq!(ra.unwrap().unwrap().id, r.id);
        assert_eq!(rb.unwrap().unwrap().id, r.id, "the second request keeps the browser's id");
        assert_eq!(memory.0.lock().unwrap().len(), 1, "one record, no orphan: {:?}", memory.0.lock().unwrap().keys());
        assert!(a.load(&r.id).await.unwrap().is_some());
    }
}
