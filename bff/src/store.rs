//! The app's SQL database, SQLite or PostgreSQL, behind one pool type
//! (sqlx's `Any` driver), and its numbered migrations.
//!
//! - **SQLite** (the default, zero setup): `app.sqlite3` under the data
//!   directory holds the users and the admin audit trail;
//!   `sessions.sqlite3` beside it holds the session records and the token
//!   rows. One instance's files.
//! - **PostgreSQL** (`GATEHOUSE_DATABASE_URL=postgres://…`): one database
//!   holds all of it, shared by every instance (the sessions and token rows
//!   move to Redis when Redis is configured).
//!
//! Every table is created and changed by a numbered migration
//! (`bff/migrations/<engine>/NNNN_name.sql`, the same numbers on both
//! engines), applied at startup and recorded in `schema_migrations`. Each is
//! applied once however many instances start at once: a migration's record
//! is written first, in the migration's own transaction, so a second
//! instance waits for the first and then finds it done.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

/// Which server a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A pool of connections to the app's database.
#[derive(Clone)]
pub struct Database {
    pool: AnyPool,
    engine: Engine,
    /// PostgreSQL's URL, for connections outside the pool (notifications).
    url: Option<std::sync::Arc<str>>,
    /// The private file of [`Database::memory`], removed with the last handle.
    temp: Option<std::sync::Arc<TempFile>>,
}

/// A database file (with its WAL and shared-memory files) removed on drop.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One schema change, in each engine's dialect (an empty text: nothing to do on that engine).
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// `migration!(version, "name", "NNNN_name")`: the file `NNNN_name.sql` of each engine.
macro_rules! migration {
    (postgres only: $version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: "",
            postgres: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        }
    };
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        }
    };
}

/// The app database's migrations (users, admin audit). Append only: never
/// edit one that has shipped.
pub const APP_MIGRATIONS: &[Migration] = &[
    migration!(1, "users", "0001_users"),
    migration!(2, "admin_audit", "0002_admin_audit"),
    // One instance per SQLite file: nobody to tell.
    migration!(postgres only: 5, "users_announced", "0005_users_announced"),
];

/// The session database's migrations (token rows; on PostgreSQL also the
/// session records). Append only.
pub const SESSION_MIGRATIONS: &[Migration] = &[
    migration!(3, "tokens", "0003_tokens"),
    // SQLite: tower-sessions' store creates its own table in its own file.
    migration!(postgres only: 4, "sessions", "0004_sessions"),
];

/// Failures of the database (logged; users see a generic message or a 503).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("GATEHOUSE_DATABASE_URL must start with sqlite: or postgres:// (got {0})")]
    Url(String),
    #[error("the database at {at} cannot be opened: {source}")]
    Open {
        at: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("Redis failed: {0}")]
    Redis(#[from] fred::error::Error),
}

impl StoreError {
    /// Whether the store could not be reached (worth a 503 and a retry), as
    /// opposed to a query it refused.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Open { .. } => true,
            StoreError::Query(e) | StoreError::Migration { source: e, .. } => unreachable_sql(e),
            StoreError::Redis(e) => matches!(
                e.kind(),
                fred::error::ErrorKind::IO | fred::error::ErrorKind::Timeout | fred::error::ErrorKind::Canceled
            ),
            StoreError::Url(_) => false,
        }
    }
}

/// A connection that failed or was cut (PostgreSQL stopped, restarting, or
/// not accepting connections), rather than a query the server refused.
fn unreachable_sql(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => true,
        // Class 08 (connection exception) and 57P01–57P03 (shut down, cannot connect now).
        sqlx::Error::Database(d) => {
            d.code().is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// Whether a failure is a store that cannot be reached (the caller answers
/// 503 and the user tries again), rather than a bug or a refused query.
pub trait Outage {
    fn is_outage(&self) -> bool;
}

impl Outage for StoreError {
    fn is_outage(&self) -> bool {
        self.is_unavailable()
    }
}

/// What logs and errors may show of a database URL: scheme, user, host,
/// port and database — never a password, never the query (which may carry
/// one), and nothing at all of a URL that does not parse.
pub fn redacted(url: &str) -> String {
    const UNREADABLE: &str = "<GATEHOUSE_DATABASE_URL, not a valid URL>";
    let Ok(u) = url::Url::parse(url) else { return UNREADABLE.into() };
    if u.scheme() == "sqlite" {
        return format!("sqlite://{}", u.path());
    }
    // A password with an unescaped `/` can parse as a port and a path
    // (`postgres://app:12345/x@db/app`): a database name has neither.
    if u.path().trim_start_matches('/').contains(['/', '@']) {
        return UNREADABLE.into();
    }
    let user = if u.username().is_empty() { String::new() } else { format!("{}@", u.username()) };
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{user}{}{port}{}", u.scheme(), u.host_str().unwrap_or_default(), u.path())
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("engine", &self.engine)
            .field("url", &self.url.as_deref().map(redacted))
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens `url`: `postgres://user:password@host/db` (or `postgresql://`),
    /// or `sqlite://path/to/file.sqlite3` (created when missing). Does not migrate.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(|source| StoreError::Open { at: redacted(url), source })?;
            return Ok(Self { pool, engine: Engine::Postgres, url: Some(url.into()), temp: None });
        }
        let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
            return Err(StoreError::Url(redacted(url)));
        };
        Self::sqlite(std::path::Path::new(path), max_connections).await
    }

    /// The SQLite file at `path` (created when missing).
    pub async fn sqlite(path: &std::path::Path, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        // sqlx reads the path percent-decoded and up to a `?`: escape those.
        let escaped: String = path
            .display()
            .to_string()
            .chars()
            .map(|c| match c {
                '%' => "%25".to_string(),
                '?' => "%3F".to_string(),
                '#' => "%23".to_string(),
                c => c.to_string(),
            })
            .collect();
        let url = format!("sqlite://{escaped}?mode=rwc");
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL with NORMAL: a commit is durable once the WAL is synced at a
                    // checkpoint; a crash of the process loses nothing, a power loss at
                    // most the last commits (never the database), and no fsync per commit.
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")
                        .await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|source| StoreError::Open { at: path.display().to_string(), source })?;
        Ok(Self { pool, engine: Engine::Sqlite, url: None, temp: None })
    }

    /// A private SQLite database for tests and for running without a data
    /// directory: a file of this process's own in the temporary directory,
    /// removed when the last handle goes. (An in-memory database would live
    /// only as long as one pooled connection: a connection dropped in the
    /// middle of a query would take every row with it.)
    pub async fn memory() -> Result<Self, StoreError> {
        let path =
            std::env::temp_dir().join(format!("gatehouse-{}-{}.sqlite3", std::process::id(), crate::random_token()));
        let mut db = Self::sqlite(&path, 4).await?;
        db.temp = Some(std::sync::Arc::new(TempFile(path)));
        Ok(db)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// PostgreSQL's URL (`None` on SQLite).
    pub(crate) fn postgres_url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// One trivial query: whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()).map_err(StoreError::Query)
    }

    /// Closes every connection (after the in-flight queries).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Applies the migrations of `set` not yet recorded, each in its own
    /// transaction with its record; returns how many were applied here.
    pub async fn migrate(&self, set: &[Migration]) -> Result<usize, StoreError> {
        self.create_migrations_table().await?;
        let mut applied = 0;
        for &m in set {
            let (version, name) = (m.version, m.name);
            let fail = move |source| StoreError::Migration { version, name, source };
            let mut tx = self.pool.begin().await.map_err(fail)?;
            // The record first: it takes the write lock, so a migrator that
            // comes second waits here and then finds the version taken.
            let claimed = sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)
                 ON CONFLICT (version) DO NOTHING",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(crate::unix_now())
            .execute(&mut *tx)
            .await
            .map_err(fail)?
            .rows_affected()
                == 1;
            if !claimed {
                tx.rollback().await.map_err(fail)?;
                continue;
            }
            let sql = match self.engine {
                Engine::Sqlite => m.sqlite,
                Engine::Postgres => m.postgres,
            };
            if !sql.trim().is_empty() {
                // `Executor::execute` with a plain text (no parameters): several
                // statements in one (sqlx's `raw_sql(..).execute` is not `Send`
                // for every lifetime, launchbadge/sqlx#3150).
                (&mut *tx).execute(sql).await.map_err(fail)?;
            }
            tx.commit().await.map_err(fail)?;
            tracing::info!(version = m.version, name = m.name, engine = ?self.engine, "database migrated");
            applied += 1;
        }
        Ok(applied)
    }

    /// Whether migration `version` is recorded.
    pub async fn has_migration(&self, version: i64) -> Result<bool, StoreError> {
        self.create_migrations_table().await?;
        let found: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn create_migrations_table(&self) -> Result<(), StoreError> {
        const DDL: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";
        let fail = |source| StoreError::Migration { version: 0, name: "schema_migrations", source };
        match self.engine {
            Engine::Sqlite => {
                sqlx::query(DDL).execute(&self.pool).await.map_err(fail)?;
            }
            Engine::Postgres => {
                // Two instances creating it at once would collide in the
                // catalog: one at a time, under a transaction-scoped lock.
                let mut tx = self.pool.begin().await.map_err(fail)?;
                sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(7215904461)) AS locked")
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
                sqlx::query(DDL).execute(&mut *tx).await.map_err(fail)?;
                tx.commit().await.map_err(fail)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;
    use crate::testing::PgServer;
    use crate::token_rows::{NewRow, SqlRows, TokenRows};
    use crate::tokens::Revocation;

    async fn postgres(server: &PgServer, name: &str) -> Database {
        Database::connect(&server.create_database(name), 5).await.unwrap()
    }

    fn versions(db_dump: &str) -> Vec<i64> {
        db_dump.lines().filter_map(|l| l.trim().parse().ok()).collect()
    }

    #[test]
    fn database_urls_are_shown_without_their_secrets() {
        for (url, shown) in [
            ("postgres://app:s3cret@db:5432/app", "postgres://app@db:5432/app"),
            ("postgres://app:ab/cd@db/app", "<GATEHOUSE_DATABASE_URL, not a valid URL>"),
            ("postgres://app:12345/x@db/app", "<GATEHOUSE_DATABASE_URL, not a valid URL>"),
            ("postgres://db/app?password=s3cret&sslmode=disable", "postgres://db/app"),
            ("postgresql://app:p%23ss@db/app", "postgresql://app@db/app"),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
    }

    #[tokio::test]
    async fn migrations_apply_once_on_both_engines() {
        let pg = PgServer::start();
        for db in [Database::memory().await.unwrap(), postgres(&pg, "once").await] {
            assert_eq!(db.migrate(APP_MIGRATIONS).await.unwrap(), 3, "{:?}", db.engine());
            assert_eq!(db.migrate(SESSION_MIGRATIONS).await.unwrap(), 2, "{:?}", db.engine());
            assert_eq!(db.migrate(APP_MIGRATIONS).await.unwrap(), 0, "twice applied is a no-op");
            assert_eq!(db.migrate(SESSION_MIGRATIONS).await.unwrap(), 0, "twice applied is a no-op");
            assert!(db.has_migration(3).await.unwrap() && !db.has_migration(99).await.unwrap());
        }
        assert_eq!(
            versions(&pg.psql("once", "SELECT version FROM schema_migrations ORDER BY version")),
            [1, 2, 3, 4, 5]
        );
    }

    #[tokio::test]
    async fn instances_starting_at_once_against_an_empty_database_all_come_up() {
        let pg = PgServer::start();
        let url = pg.create_database("race");
        let dir = std::env::temp_dir().join(format!("gatehouse-race-{}", crate::random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("app.sqlite3");
        let starts = (0..4).map(|i| {
            let (url, file) = (url.clone(), file.clone());
            tokio::spawn(async move {
                let db =
                    if i % 2 == 0 { Database::connect(&url, 2).await? } else { Database::sqlite(&file, 2).await? };
                let applied = db.migrate(APP_MIGRATIONS).await? + db.migrate(SESSION_MIGRATIONS).await?;
                Ok::<_, StoreError>((db.engine(), applied))
            })
        });
        let mut applied = std::collections::HashMap::new();
        for start in starts {
            let (engine, n) = start.await.unwrap().unwrap();
            *applied.entry(engine).or_insert(0) += n;
        }
        assert_eq!(applied[&Engine::Postgres], 5, "each migration applied by one of them");
        assert_eq!(applied[&Engine::Sqlite], 5, "each migration applied by one of them");
        assert_eq!(
            versions(&pg.psql("race", "SELECT version FROM schema_migrations ORDER BY version")),
            [1, 2, 3, 4, 5]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A session database as the release before numbered migrations left it.
    const UNNUMBERED: &str = "CREATE TABLE gatehouse_tokens (
        id TEXT PRIMARY KEY NOT NULL, sub TEXT NOT NULL, sid TEXT, sealed TEXT NOT NULL,
        expires_at INTEGER NOT NULL, lock_holder TEXT, lock_until INTEGER NOT NULL DEFAULT 0);
        INSERT INTO gatehouse_tokens (id, sub, sid, sealed, expires_at) VALUES ('row1', 'alice', 'sid1', 'sealed1', 4000000000);
        CREATE TABLE gatehouse_revocations (id INTEGER PRIMARY KEY AUTOINCREMENT, sub TEXT NOT NULL, sealed TEXT NOT NULL,
            attempts INTEGER NOT NULL, retry_at INTEGER NOT NULL, queued_at INTEGER NOT NULL);
        CREATE TABLE gatehouse_logout_jtis (jti TEXT PRIMARY KEY NOT NULL, remember_until INTEGER NOT NULL);";

    #[tokio::test]
    async fn a_data_directory_with_url_characters_in_its_path_opens_that_file() {
        let dir = std::env::temp_dir().join(format!("gatehouse-odd-%41?x#y-{}", crate::random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.sqlite3");
        let db = Database::sqlite(&path, 1).await.unwrap();
        db.migrate(APP_MIGRATIONS).await.unwrap();
        assert!(path.exists(), "the file at that very path");
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_session_database_from_before_numbered_migrations_upgrades_in_place() {
        let dir = std::env::temp_dir().join(format!("gatehouse-adopt-{}", crate::random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sessions.sqlite3");
        let old = Database::sqlite(&path, 1).await.unwrap();
        sqlx::raw_sql(UNNUMBERED).execute(old.pool()).await.unwrap();
        old.close().await;
        for _ in 0..2 {
            let db = Database::sqlite(&path, 2).await.unwrap();
            let rows = SqlRows::open(db.clone()).await.unwrap();
            assert_eq!(rows.read("row1").await.unwrap(), Some(("alice".into(), "sealed1".into())), "the row is kept");
            let seen = rows.check_in("row1", 100, 60).await.unwrap().unwrap();
            assert!(seen.last_seen >= 100, "the columns added later are there");
            assert!(db.has_migration(3).await.unwrap());
            db.close().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_postgres_database_of_an_earlier_schema_upgrades_in_place() {
        let pg = PgServer::start();
        let db = postgres(&pg, "earlier").await;
        // As an earlier schema left it: everything up to the token tables.
        db.migrate(APP_MIGRATIONS).await.unwrap();
        db.migrate(&SESSION_MIGRATIONS[..1]).await.unwrap();
        let users = crate::users::UserStore::new(db.clone()).await.unwrap();
        users.set_display_name("kept", "Kept", 1).await.unwrap();
        let rows = SqlRows::open(db.clone()).await.unwrap();
        assert!(db.has_migration(4).await.unwrap(), "the later migration is applied on open");
        assert_eq!(pg.psql("earlier", "SELECT count(*) FROM tower_sessions.session"), "0\n");
        assert_eq!(users.get("kept").await.unwrap().unwrap().display_name.as_deref(), Some("Kept"), "nothing lost");
        assert!(rows.read("none").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn token_rows_behave_the_same_on_both_engines() {
        let pg = PgServer::start();
        for db in [Database::memory().await.unwrap(), postgres(&pg, "rows").await] {
            let engine = db.engine();
            let rows = SqlRows::open(db).await.unwrap();
            let row = |id: &'static str, public_id: &'static str, now| NewRow {
                id,
                sub: "alice",
                sid: Some("sid1"),
                sealed: "sealed",
                expires_at: 1_000,
                public_id,
                user_agent: Some("Firefox"),
                now,
            };
            rows.insert(row("a", "pa", 100)).await.unwrap();
            rows.insert(row("b", "pb", 100)).await.unwrap();
            let listed: Vec<String> = rows.sign_ins("alice", 100).await.unwrap().into_iter().map(|r| r.id).collect();
            assert_eq!(listed, ["b", "a"], "newest first, the same second in the order made ({engine:?})");
            assert_eq!(rows.id_of_public("alice", "pa").await.unwrap().as_deref(), Some("a"));
            assert_eq!(rows.id_of_public("mallory", "pa").await.unwrap(), None, "another user's sign-in");
            // Activity is noted at most every `touch_every` seconds.
            assert!(!rows.check_in("a", 130, 60).await.unwrap().unwrap().touched);
            let seen = rows.check_in("a", 200, 60).await.unwrap().unwrap();
            assert!(seen.touched && seen.last_seen == 200 && seen.standing.is_none());
            // The newest standing check wins.
            assert_eq!(rows.record_standing("a", 5_000, "new").await.unwrap().unwrap().json, "new");
            assert_eq!(rows.record_standing("a", 4_000, "old").await.unwrap().unwrap().json, "new");
            // One refresh lease at a time.
            assert!(rows.try_lock("a", "me", 10_000).await.unwrap());
            assert!(!rows.try_lock("a", "you", 10_000).await.unwrap());
            assert!(rows.renew("a", "me", 10_000).await.unwrap() && !rows.renew("a", "you", 10_000).await.unwrap());
            rows.unlock("a", "me").await.unwrap();
            assert!(rows.try_lock("a", "you", 10_000).await.unwrap());
            assert!(rows.replace_sealed("a", "rotated").await.unwrap());
            assert_eq!(rows.read("a").await.unwrap(), Some(("alice".into(), "rotated".into())));
            // A logout token is accepted once.
            assert!(rows.remember_jti("j1", 500).await.unwrap() && !rows.remember_jti("j1", 500).await.unwrap());
            rows.forget_logout_jtis(600).await.unwrap();
            assert!(rows.remember_jti("j1", 900).await.unwrap(), "forgotten once past its time");
            // Revocations to retry are taken once.
            let r = Revocation { sub: "alice".into(), sealed: "s".into(), attempts: 1, retry_at: 50, queued_at: 40 };
            rows.queue_revocation(&r, 0).await.unwrap();
            assert!(rows.take_due_revocations(10).await.unwrap().is_empty(), "not due yet");
            assert_eq!(rows.take_due_revocations(60).await.unwrap().len(), 1);
            assert!(rows.take_due_revocations(60).await.unwrap().is_empty());
            let mut sid_rows = rows.ids_for(Some("alice"), Some("sid1")).await.unwrap();
            sid_rows.sort();
            assert_eq!(sid_rows, ["a", "b"]);
            assert_eq!(rows.due(2_000, 0).await.unwrap().len(), 2, "both past their end");
            assert!(rows.delete("a").await.unwrap() && !rows.delete("a").await.unwrap());
            assert!(rows.check_in("a", 300, 60).await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn users_and_the_audit_trail_work_on_postgres() {
        let pg = PgServer::start();
        let users = crate::users::UserStore::new(postgres(&pg, "users").await).await.unwrap();
        let p = crate::users::Profile { sub: "a".into(), email: Some("a@example.com".into()), ..Default::default() };
        assert!(users.upsert(&p, 100).await.unwrap().needs_onboarding());
        assert!(users.complete_onboarding("a", "Ada", 150).await.unwrap());
        let u = users.get("a").await.unwrap().unwrap();
        assert_eq!((u.display_name.as_deref(), u.onboarded_at, u.first_seen_at), (Some("Ada"), Some(150), 100));
        assert_eq!(users.set_display_name("api", "Api", 300).await.unwrap().onboarded_at, Some(300));
        let log = crate::admin::audit::AuditLog::new(users.database().clone());
        let entry = crate::admin::audit::NewAuditEntry {
            actor_sub: "admin",
            actor_email: Some("admin@example.com"),
            action: crate::admin::audit::AuditAction::Delete,
            target_id: Some("a"),
            target_email: None,
            outcome: "ok",
        };
        log.record(&entry, 400).await.unwrap();
        log.record(&entry, 401).await.unwrap();
        let (page, total) = log.page(0, 10).await.unwrap();
        assert_eq!((total, page.len(), page[0].at, page[0].action.as_str()), (2, 2, 401, "delete"));
    }

    #[tokio::test]
    async fn a_user_changed_on_one_instance_is_seen_on_the_other_at_once() {
        let pg = PgServer::start();
        let url = pg.create_database("instances");
        let a = crate::users::UserStore::new(Database::connect(&url, 2).await.unwrap()).await.unwrap();
        let b = crate::users::UserStore::new(Database::connect(&url, 2).await.unwrap()).await.unwrap();
        let p = crate::users::Profile { sub: "u'1".into(), ..Default::default() };
        b.upsert(&p, 1).await.unwrap();
        // Still onboarding: read afresh every time, on every instance.
        assert!(a.get("u'1").await.unwrap().unwrap().needs_onboarding());
        b.complete_onboarding("u'1", "Ada", 2).await.unwrap();
        assert!(!a.get("u'1").await.unwrap().unwrap().needs_onboarding(), "seen on the other at once");
        // `a` reuses its reads once it hears the others: a change made
        // behind every instance's back (psql, the announcing trigger off)
        // goes unseen while it does.
        let started = std::time::Instant::now();
        for round in 0.. {
            assert!(a.get("u'1").await.unwrap().is_some());
            pg.psql(
                "instances",
                &format!(
                    "BEGIN; ALTER TABLE users DISABLE TRIGGER gatehouse_users_changed;
                     UPDATE users SET email = 'probe{round}' WHERE sub = 'u''1';
                     ALTER TABLE users ENABLE TRIGGER gatehouse_users_changed; COMMIT;"
                ),
            );
            if a.get("u'1").await.unwrap().unwrap().email.as_deref() != Some(&format!("probe{round}")) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(4), "a never reused a read");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A read kept by `a` is dropped when `b` writes, or anyone else does,
        // well within the 5 s reuse.
        let seen = async |name: &str| {
            let t = std::time::Instant::now();
            while a.get("u'1").await.unwrap().unwrap().display_name.as_deref() != Some(name) {
                assert!(
                    t.elapsed() < Duration::from_secs(1),
                    "{name}: the change reached the other instance within a second"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        b.set_display_name("u'1", "Finished", 3).await.unwrap();
        seen("Finished").await;
        pg.psql("instances", "UPDATE users SET display_name = 'Outside' WHERE sub = 'u''1'");
        seen("Outside").await;
    }

    #[tokio::test]
    async fn a_stopped_server_is_reported_unavailable_and_recovers() {
        let mut pg = PgServer::start();
        let users = crate::users::UserStore::new(postgres(&pg, "outage").await).await.unwrap();
        pg.stop();
        let err = users.complete_onboarding("a", "Ada", 1).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        pg.resume();
        let mut recovered = false;
        for _ in 0..50 {
            if users.set_display_name("a", "Ada", 2).await.is_ok() {
                recovered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(recovered, "the pool reconnects once the server is back");
    }
}
