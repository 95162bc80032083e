//! The local user store: one row per provider subject (`sub`), upserted at
//! every sign-in, with the settings this app keeps itself (the display name
//! chosen at onboarding), in the app database (`store`: SQLite or
//! PostgreSQL, migrated by [`crate::store::APP_MIGRATIONS`]). The admin audit
//! trail (`admin::audit`) lives in the same database.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::store::Database;

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
pub type UserStoreError = crate::store::StoreError;

/// The user table.
#[derive(Clone, Debug)]
pub struct UserStore {
    db: Database,
    /// Recent reads by `sub`. Every write goes through this store and drops
    /// its entry, so a read never sees an older row than the last write of
    /// this process. On PostgreSQL every write of a user, by whoever, is
    /// announced by a trigger (`NOTIFY gatehouse_users`, migration 5) and
    /// every instance drops its entry when it hears it; an instance that
    /// cannot hear (its listening connection is down) keeps nothing until it
    /// hears again.
    recent: std::sync::Arc<std::sync::RwLock<Recent>>,
}

/// Recent reads, and a count of writes so a read that raced a write is not kept.
#[derive(Debug)]
struct Recent {
    users: std::collections::HashMap<String, (std::time::Instant, Option<LocalUser>)>,
    writes: u64,
    /// Whether reads may be kept: always on SQLite (one instance's file); on
    /// PostgreSQL while this instance hears the other instances' writes.
    keeping: bool,
}

/// The PostgreSQL channel on which writes of users are announced (payload: the `sub`, hex-encoded).
const CHANNEL: &str = "gatehouse_users";

/// How long a read of a user is reused.
const RECENT_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// At most this many users are remembered.
const RECENT_MAX: usize = 10_000;

impl UserStore {
    /// Opens the SQLite file `path` (creating it), or an in-memory database
    /// when `None`, and migrates it.
    pub async fn open(path: Option<&std::path::Path>) -> Result<Self, UserStoreError> {
        let db = match path {
            Some(p) => Database::sqlite(p, 4).await?,
            None => Database::memory().await?,
        };
        Self::new(db).await
    }

    /// The users in `db`, migrated.
    pub async fn new(db: Database) -> Result<Self, UserStoreError> {
        let url = db.postgres_url().map(str::to_string);
        let recent = Recent { users: Default::default(), writes: 0, keeping: url.is_none() };
        let store = Self { db, recent: std::sync::Arc::new(std::sync::RwLock::new(recent)) };
        store.migrate().await?;
        if let Some(url) = url {
            listen(url, std::sync::Arc::downgrade(&store.recent));
        }
        Ok(store)
    }

    /// Applies the app database's migrations not yet recorded.
    pub async fn migrate(&self) -> Result<(), UserStoreError> {
        self.db.migrate(crate::store::APP_MIGRATIONS).await.map(|_| ())
    }

    /// The database the users are in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Records a sign-in: creates the user or refreshes what the provider
    /// says about them. Returns the stored user.
    #[tracing::instrument(skip_all, fields(sub = %p.sub))]
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
        .fetch_one(self.db.pool())
        .await?;
        self.forget(&p.sub);
        Ok(from_row(&row))
    }

    /// Keeps a read made when `writes` was the write count, unless a write came since.
    fn keep(&self, sub: &str, user: Option<LocalUser>, writes: u64) {
        let mut recent = self.recent.write().unwrap_or_else(|p| p.into_inner());
        if recent.writes != writes || !recent.keeping {
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
        forget(&self.recent, sub);
    }

    /// The user with `sub`; a read of the last few seconds is reused (of a
    /// user who finished onboarding).
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
        .fetch_optional(self.db.pool())
        .await?;
        let user = row.as_ref().map(from_row);
        // On PostgreSQL a user still onboarding is read afresh every time:
        // the moment they finish, on whichever instance, every instance must
        // let them in (the announcement of the change could arrive a moment
        // after their next request). On SQLite every write goes through this
        // store, which drops its entry at once.
        let shared = self.db.postgres_url().is_some();
        if !shared || user.as_ref().is_some_and(|u| !u.needs_onboarding()) {
            self.keep(sub, user.clone(), writes);
        }
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
                .execute(self.db.pool())
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
        .fetch_one(self.db.pool())
        .await;
        self.forget(sub);
        Ok(from_row(&row?))
    }
}

fn forget(recent: &std::sync::RwLock<Recent>, sub: &str) {
    let mut recent = recent.write().unwrap_or_else(|p| p.into_inner());
    recent.writes += 1;
    recent.users.remove(sub);
}

/// Hears the other instances' writes (`NOTIFY gatehouse_users`) for as long
/// as the store lives, dropping each changed user from `recent`. While the
/// listening connection is down, nothing is kept; it reconnects every second.
fn listen(url: String, recent: std::sync::Weak<std::sync::RwLock<Recent>>) {
    let set_keeping = |recent: &std::sync::RwLock<Recent>, keeping: bool| {
        let mut recent = recent.write().unwrap_or_else(|p| p.into_inner());
        recent.users.clear();
        recent.writes += 1;
        recent.keeping = keeping;
    };
    tokio::spawn(async move {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => {
                    // A lost connection ends `try_recv` at once (`None`), so that
                    // nothing is kept until this loop has listened again.
                    listener.eager_reconnect(false);
                    match listener.listen(CHANNEL).await {
                        Ok(()) => {
                            let Some(r) = recent.upgrade() else { return };
                            set_keeping(&r, true);
                            drop(r);
                            while let Ok(Some(n)) = listener.try_recv().await {
                                let Some(r) = recent.upgrade() else { return };
                                match unhex(n.payload()) {
                                    Some(sub) => forget(&r, &sub),
                                    None => set_keeping(&r, true),
                                }
                            }
                            tracing::warn!(
                                "lost the connection that hears other instances' user changes; reconnecting"
                            );
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot listen for other instances' user changes"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot connect to hear other instances' user changes"),
            }
            let Some(r) = recent.upgrade() else { return };
            set_keeping(&r, false);
            drop(r);
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

fn unhex(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect();
    String::from_utf8(bytes?).ok()
}

fn from_row(row: &AnyRow) -> LocalUser {
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
