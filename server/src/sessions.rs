//! Where sessions and their token rows live: SQLite (a file in the data
//! directory, or memory; one host) or Redis (`GATEHOUSE_REDIS_URL`; several
//! instances behind a load balancer).

use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_redis_store::fred::prelude::*;
use tower_sessions_redis_store::RedisStore;
use tower_sessions_sqlx_store::SqliteStore;

/// The session store the app was configured with.
#[derive(Debug, Clone)]
pub enum SessionBackend {
    Sqlite(SqliteStore),
    Redis(RedisStore<Pool>),
}

#[async_trait::async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.create(record).await,
            Self::Redis(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.save(record).await,
            Self::Redis(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Sqlite(s) => s.load(id).await,
            Self::Redis(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.delete(id).await,
            Self::Redis(s) => s.delete(id).await,
        }
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
