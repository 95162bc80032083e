//! The local user store: one row per provider subject (`sub`), upserted at
//! every sign-in, with the settings this app keeps itself (the display name
//! chosen at onboarding). Schema changes are numbered migrations in
//! `bff/migrations/`, applied at startup and recorded in `schema_migrations`.
//! The admin audit trail (`admin::audit`) lives in the same database.

use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

/// The migrations, in order. Append only: never edit one that has shipped.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "users", include_str!("../migrations/0001_users.sql")),
    (2, "admin_audit", include_str!("../migrations/0002_admin_audit.sql")),
];

pub use rules::display_name::{validate_display_name, DisplayNameError, DISPLAY_NAME_MAX};

/// A user as this app knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalUser {
    pub sub: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub onboarded_at: Option<i64>,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
}

impl LocalUser {
    /// Onboarding is finished once a display name was chosen.
    pub fn needs_onboarding(&self) -> bool {
        self.onboarded_at.is_none()
    }

    /// A sensible suggestion for the onboarding form.
    pub fn suggested_display_name(&self) -> String {
        if let Some(d) = &self.display_name {
            return d.clone();
        }
        let full = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !full.is_empty() {
            return full;
        }
        self.email.as_deref().and_then(|e| e.split('@').next()).unwrap_or_default().to_string()
    }
}

/// What the provider says about a user at sign-in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub sub: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// Failures of the user store (logged; users see a generic message).
#[derive(Debug, thiserror::Error)]
pub enum UserStoreError {
    #[error("the user database cannot be opened at {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration { version: i64, name: &'static str, source: sqlx::Error },
    #[error("user database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// The user table.
#[derive(Clone, Debug)]
pub struct UserStore {
    pool: SqlitePool,
    /// Recent reads by `sub`. Every write goes through this store and replaces
    /// or drops its entry, so a read never sees an older row than the last
    /// write of this process; the lifetime bounds staleness should another
    /// process write the same file.
    recent: std::sync::Arc<std::sync::RwLock<Recent>>,
}

/// Recent reads, and a count of writes so a read that raced a write is not kept.
#[derive(Debug, Default)]
struct Recent {
    users: std::collections::HashMap<String, (std::time::Instant, Option<LocalUser>)>,
    writes: u64,
}

/// How long a read of a user is reused.
const RECENT_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// At most this many users are remembered.
const RECENT_MAX: usize = 10_000;

impl UserStore {
    /// Opens `path` (creating it), or an in-memory database when `None`, and migrates it.
    pub async fn open(path: Option<&std::path::Path>) -> Result<Self, UserStoreError> {
        let (opts, max, label) = match path {
            Some(p) => (
                SqliteConnectOptions::new()
                    .filename(p)
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(std::time::Duration::from_secs(5))
                    // WAL with NORMAL: a commit is durable once the WAL is synced at a
                    // checkpoint; a crash of the process loses nothing, a power loss at
                    // most the last commits (never the database), and no fsync per commit.
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal),
                4,
                p.display().to_string(),
            ),
            None => (SqliteConnectOptions::new().in_memory(true), 1, ":memory:".to_string()),
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await
            .map_err(|source| UserStoreError::Open { path: label, source })?;
        let store = Self { pool, recent: Default::default() };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not yet recorded, each in its own transaction.
    pub async fn migrate(&self) -> Result<(), UserStoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        for &(version, name, sql) in MIGRATIONS {
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&self.pool)
                .await?;
            if done.is_some() {
                continue;
            }
            let fail = |source| UserStoreError::Migration { version, name, source };
            let mut tx = self.pool.begin().await.map_err(fail)?;
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(fail)?;
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(version)
                .bind(name)
                .bind(crate::unix_now())
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            tx.commit().await.map_err(fail)?;
            tracing::info!(version, name, "user database migrated");
        }
        Ok(())
    }

    /// The admin audit trail, in the same database.
    pub fn audit_log(&self) -> crate::admin::audit::AuditLog {
        crate::admin::audit::AuditLog::new(self.pool.clone())
    }

    /// Records a sign-in: creates the user or refreshes what the provider
    /// says about them. Returns the stored user.
    pub async fn upsert(&self, p: &Profile, now: i64) -> Result<LocalUser, UserStoreError> {
        let row = sqlx::query(
            "INSERT INTO users (sub, email, first_name, last_name, first_seen_at, last_seen_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (sub) DO UPDATE SET email = excluded.email, first_name = excluded.first_name,
                 last_name = excluded.last_name, last_seen_at = excluded.last_seen_at
             RETURNING sub, email, first_name, last_name, display_name, onboarded_at, first_seen_at, last_seen_at",
        )
        .bind(&p.sub)
        .bind(&p.email)
        .bind(&p.first_name)
        .bind(&p.last_name)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        self.forget(&p.sub);
        Ok(from_row(&row))
    }

    /// Keeps a read made when `writes` was the write count, unless a write came since.
    fn keep(&self, sub: &str, user: Option<LocalUser>, writes: u64) {
        let mut recent = self.recent.write().unwrap_or_else(|p| p.into_inner());
        if recent.writes != writes {
            return;
        }
        if recent.users.len() >= RECENT_MAX && !recent.users.contains_key(sub) {
            recent.users.retain(|_, (at, _)| at.elapsed() < RECENT_TTL);
            if recent.users.len() >= RECENT_MAX {
                recent.users.clear();
            }
        }
        recent.users.insert(sub.to_string(), (std::time::Instant::now(), user));
    }

    /// After a write of `sub`: its next read goes to the database.
    fn forget(&self, sub: &str) {
        let mut recent = self.recent.write().unwrap_or_else(|p| p.into_inner());
        recent.writes += 1;
        recent.users.remove(sub);
    }

    /// The user with `sub`; a read of the last few seconds is reused.
    pub async fn get(&self, sub: &str) -> Result<Option<LocalUser>, UserStoreError> {
        let writes = {
            let recent = self.recent.read().unwrap_or_else(|p| p.into_inner());
            if let Some((at, user)) = recent.users.get(sub) {
                if at.elapsed() < RECENT_TTL {
                    return Ok(user.clone());
                }
            }
            recent.writes
        };
        let row = sqlx::query(
            "SELECT sub, email, first_name, last_name, display_name, onboarded_at, first_seen_at, last_seen_at
             FROM users WHERE sub = $1",
        )
        .bind(sub)
        .fetch_optional(&self.pool)
        .await?;
        let user = row.as_ref().map(from_row);
        self.keep(sub, user.clone(), writes);
        Ok(user)
    }

    /// Saves the display name (already validated) and marks onboarding done.
    /// Returns `false` when the user does not exist.
    pub async fn complete_onboarding(&self, sub: &str, display_name: &str, now: i64) -> Result<bool, UserStoreError> {
        let r =
            sqlx::query("UPDATE users SET display_name = $1, onboarded_at = COALESCE(onboarded_at, $2) WHERE sub = $3")
                .bind(display_name)
                .bind(now)
                .bind(sub)
                .execute(&self.pool)
                .await;
        self.forget(sub);
        Ok(r?.rows_affected() == 1)
    }

    /// Saves the display name (already validated) for `sub`, creating the
    /// user when they have only used the JSON API so far. Onboarding counts as
    /// done. Returns the stored user.
    pub async fn set_display_name(&self, sub: &str, display_name: &str, now: i64) -> Result<LocalUser, UserStoreError> {
        let row = sqlx::query(
            "INSERT INTO users (sub, display_name, onboarded_at, first_seen_at, last_seen_at)
             VALUES ($1, $2, $3, $3, $3)
             ON CONFLICT (sub) DO UPDATE SET display_name = excluded.display_name,
                 onboarded_at = COALESCE(users.onboarded_at, excluded.onboarded_at)
             RETURNING sub, email, first_name, last_name, display_name, onboarded_at, first_seen_at, last_seen_at",
        )
        .bind(sub)
        .bind(display_name)
        .bind(now)
        .fetch_one(&self.pool)
        .await;
        self.forget(sub);
        Ok(from_row(&row?))
    }
}

fn from_row(row: &sqlx::sqlite::SqliteRow) -> LocalUser {
    LocalUser {
        sub: row.get("sub"),
        email: row.get("email"),
        first_name: row.get("first_name"),
        last_name: row.get("last_name"),
        display_name: row.get("display_name"),
        onboarded_at: row.get("onboarded_at"),
        first_seen_at: row.get("first_seen_at"),
        last_seen_at: row.get("last_seen_at"),
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    fn profile(sub: &str) -> Profile {
        Profile { sub: sub.into(), email: Some(format!("{sub}@example.com")), first_name: None, last_name: None }
    }

    #[tokio::test]
    async fn first_sign_in_creates_a_user_who_needs_onboarding() {
        let store = UserStore::open(None).await.unwrap();
        let u = store.upsert(&profile("a"), 100).await.unwrap();
        assert!(u.needs_onboarding());
        assert_eq!((u.first_seen_at, u.last_seen_at), (100, 100));
        assert_eq!(u.suggested_display_name(), "a");
        assert!(store.complete_onboarding("a", "Ada", 150).await.unwrap());
        let mut p = profile("a");
        p.email = Some("new@example.com".into());
        let u = store.upsert(&p, 200).await.unwrap();
        assert!(!u.needs_onboarding());
        assert_eq!(u.display_name.as_deref(), Some("Ada"));
        assert_eq!(u.email.as_deref(), Some("new@example.com"), "provider data is refreshed");
        assert_eq!((u.first_seen_at, u.last_seen_at, u.onboarded_at), (100, 200, Some(150)));
        assert!(!store.complete_onboarding("nobody", "X", 1).await.unwrap());
        assert_eq!(store.get("api").await.unwrap(), None);
        let api_only = store.set_display_name("api", "Api User", 300).await.unwrap();
        assert_eq!(store.get("api").await.unwrap(), Some(api_only.clone()), "a remembered absence is dropped");
        assert_eq!((api_only.display_name.as_deref(), api_only.onboarded_at), (Some("Api User"), Some(300)));
        assert_eq!(store.get("a").await.unwrap().unwrap().display_name.as_deref(), Some("Ada"));
        let u = store.set_display_name("a", "Ada L", 400).await.unwrap();
        assert_eq!(store.get("a").await.unwrap().unwrap().display_name.as_deref(), Some("Ada L"), "a write is seen");
        assert_eq!((u.display_name.as_deref(), u.onboarded_at), (Some("Ada L"), Some(150)), "first onboarding kept");
        assert_eq!(u.email.as_deref(), Some("new@example.com"));
    }

    #[tokio::test]
    async fn users_survive_a_restart_and_migrations_run_once() {
        let dir = std::env::temp_dir().join(format!("gatehouse-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.sqlite3");
        let _ = std::fs::remove_file(&path);
        {
            let store = UserStore::open(Some(&path)).await.unwrap();
            store.upsert(&profile("b"), 1).await.unwrap();
            store.complete_onboarding("b", "Bea", 2).await.unwrap();
        }
        let store = UserStore::open(Some(&path)).await.unwrap();
        store.migrate().await.unwrap();
        assert_eq!(store.get("b").await.unwrap().unwrap().display_name.as_deref(), Some("Bea"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
