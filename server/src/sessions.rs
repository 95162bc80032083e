//! Where sessions and their token rows live: SQLite (a file in the data
//! directory, or memory; one host), PostgreSQL (`GATEHOUSE_DATABASE_URL`;
//! several instances) or Redis (`GATEHOUSE_REDIS_URL`; several instances).

use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_redis_store::fred::prelude::*;
use tower_sessions_redis_store::RedisStore;
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The session store the app was configured with.
#[derive(Debug, Clone)]
pub enum SessionBackend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
    Redis(RedisStore<Pool>),
}

#[async_trait::async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.create(record).await,
            Self::Postgres(s) => s.create(record).await,
            Self::Redis(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.save(record).await,
            Self::Postgres(s) => s.save(record).await,
            Self::Redis(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Sqlite(s) => s.load(id).await,
            Self::Postgres(s) => s.load(id).await,
            Self::Redis(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.delete(id).await,
            Self::Postgres(s) => s.delete(id).await,
            Self::Redis(s) => s.delete(id).await,
        }
    }
}

/// Session records read or written recently, reused from memory for at most
/// the cache bound: a burst of requests of one session reads the store once.
/// This instance's writes replace the entry and its deletes drop it; a change
/// made by another instance is seen here within the bound.
#[derive(Clone)]
pub struct Cached<S> {
    inner: S,
    recent: std::sync::Arc<bff::ttl_cache::TtlCache<Id, Record>>,
}

impl<S> std::fmt::Debug for Cached<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached").field("entries", &self.recent.len()).finish_non_exhaustive()
    }
}

impl<S> Cached<S> {
    /// Keeps records for `bound` (zero: never), at most `max` of them.
    pub fn new(inner: S, bound: std::time::Duration, max: usize) -> Self {
        Self { inner, recent: std::sync::Arc::new(bff::ttl_cache::TtlCache::new(bound, max)) }
    }
}

#[async_trait::async_trait]
impl<S: SessionStore + Clone> SessionStore for Cached<S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.inner.create(record).await?;
        self.recent.insert(record.id, record.clone());
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.recent.remove(&record.id);
        self.inner.save(record).await?;
        self.recent.insert(record.id, record.clone());
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.recent.get(id) {
            if record.expiry_date > time::OffsetDateTime::now_utc() {
                return Ok(Some(record));
            }
            self.recent.remove(id);
        }
        let read_at = std::time::Instant::now();
        let record = self.inner.load(id).await?;
        if let Some(r) = &record {
            self.recent.insert_at(*id, r.clone(), read_at);
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.recent.remove(id);
        let deleted = self.inner.delete(id).await;
        // Again after the write: a load between the first remove and the
        // delete must not stay cached.
        self.recent.remove(id);
        deleted
    }
}

/// Connects to Redis at `url` (`redis://[user:password@]host:port[/db]`),
/// waiting at most `timeout` for the first connection.
pub async fn connect_redis(url: &str, timeout: std::time::Duration) -> Result<Pool, String> {
    let config = Config::from_url(url).map_err(|e| format!("GATEHOUSE_REDIS_URL is not a redis:// URL: {e}"))?;
    let policy = ReconnectPolicy::new_exponential(0, 100, 5_000, 2);
    let pool = Pool::new(config, None, None, Some(policy), 4).map_err(|e| e.to_string())?;
    match tokio::time::timeout(timeout, pool.init()).await {
        Ok(Ok(_)) => Ok(pool),
        Ok(Err(e)) => Err(format!("cannot reach Redis: {e}")),
        Err(_) => Err(format!("Redis did not answer within {} s", timeout.as_secs())),
    }
}
