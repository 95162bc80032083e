//! The user's tokens, kept beside the session (not inside its record) in the
//! shared session database, sealed, one row per sign-in ("grant"). Keeping them
//! out of the session record means a request that saves its session at the end
//! can never write back a spent refresh token over a rotated one.
//!
//! Refresh is single-flight per sign-in across every instance that shares the
//! database: the refresher takes a lease on the row (renewed while the refresh
//! is in flight); everyone else waits for the lease to go and then re-reads the
//! row instead of refreshing again.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use crate::oidc::{RelyingParty, TokenSet};
use crate::sealing::{SealError, Sealed, TokenKeys};

/// The tokens as sealed into a row. Private: nothing outside `bff` can name it.
#[derive(Clone, Serialize, Deserialize)]
struct StoredTokens {
    access_token: String,
    refresh_token: Option<String>,
    id_token: String,
    expires_at: Option<i64>,
}

impl From<TokenSet> for StoredTokens {
    fn from(t: TokenSet) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            id_token: t.id_token,
            expires_at: t.expires_at,
        }
    }
}

impl From<StoredTokens> for TokenSet {
    fn from(t: StoredTokens) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            id_token: t.id_token,
            expires_at: t.expires_at,
        }
    }
}

/// One sign-in of a user, as they may see it (no token, no row id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// A random handle for ending it.
    pub id: String,
    pub user_agent: Option<String>,
    pub signed_in_at: i64,
    pub last_seen_at: i64,
    /// The session asking.
    pub current: bool,
}

/// How long the revocation of an ended sign-in's refresh token is retried
/// when the provider does not answer.
pub const REVOCATION_RETRY_SECS: i64 = 3 * 24 * 3600;

/// A refresh token whose revocation failed, queued for another try.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Revocation {
    pub sub: String,
    /// The ended sign-in's sealed row (opened only to revoke).
    pub sealed: String,
    pub attempts: i64,
    pub retry_at: i64,
    pub queued_at: i64,
}

/// The latest check of a sign-in's standing with the provider, kept in its
/// token row (not in the session record, where the last request to save would
/// win): concurrent checks on any instance settle on the one started last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StandingRow {
    /// When the check started (Unix milliseconds).
    pub at_ms: i64,
    /// What it found (the session's own format).
    pub json: String,
}

/// A request of a live sign-in (see [`Tokens::check_in`]).
pub(crate) struct CheckIn {
    /// Whether the activity was noted now.
    pub touched: bool,
    /// The latest check of the user's standing, if any since the sign-in.
    pub standing: Option<StandingRow>,
}

/// Why no usable access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The sign-in is over (refresh refused, tokens gone or unreadable): sign in again.
    #[error("the session ended: {0}")]
    Ended(String),
    /// The provider could not be reached for a refresh; try again later.
    #[error("{0}")]
    Unavailable(String),
    #[error("token store failure: {0}")]
    Store(String),
    #[error(transparent)]
    Seal(#[from] SealError),
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> Self {
        TokenError::Store(e.to_string())
    }
}

impl From<fred::error::Error> for TokenError {
    fn from(e: fred::error::Error) -> Self {
        TokenError::Store(e.to_string())
    }
}

/// Where the token rows live: the SQLite session database, or Redis.
#[derive(Clone)]
pub enum TokenStore {
    Sqlite(SqlitePool),
    Redis(crate::redis_store::Pool),
}

/// Token rows, their leases and the refresh policy.
#[derive(Clone)]
pub struct Tokens {
    inner: Arc<Inner>,
}

struct Inner {
    store: TokenStore,
    keys: TokenKeys,
    rp: RelyingParty,
    /// Refresh when the access token has less than this left.
    skew_secs: i64,
    /// How long a refresh lease lasts without renewal.
    lease: Duration,
    /// How long a caller waits for someone else's refresh.
    max_wait: Duration,
    /// Sessions end this long after their last request (the session layer's
    /// idle timeout); a row unseen for longer is ended by [`Tokens::end_expired`].
    idle_secs: i64,
    /// What recent requests found in each row, for at most the cache bound
    /// ([`Tokens::with_cache`]); this instance's own changes drop the entry.
    recent: crate::ttl_cache::TtlCache<String, Recent>,
}

/// A row's state as a request found it.
#[derive(Clone)]
struct Recent {
    last_seen: i64,
    standing: Option<StandingRow>,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS gatehouse_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    sub TEXT NOT NULL,
    sid TEXT,
    sealed TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    lock_holder TEXT,
    lock_until INTEGER NOT NULL DEFAULT 0,
    public_id TEXT,
    user_agent TEXT,
    created_at INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER NOT NULL DEFAULT 0,
    confirmed_at INTEGER NOT NULL DEFAULT 0,
    standing TEXT
);
CREATE INDEX IF NOT EXISTS gatehouse_tokens_sub ON gatehouse_tokens(sub);
CREATE INDEX IF NOT EXISTS gatehouse_tokens_sid ON gatehouse_tokens(sid);
CREATE INDEX IF NOT EXISTS gatehouse_tokens_expiry ON gatehouse_tokens(expires_at);
CREATE TABLE IF NOT EXISTS gatehouse_revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sub TEXT NOT NULL,
    sealed TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    retry_at INTEGER NOT NULL,
    queued_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS gatehouse_revocations_due ON gatehouse_revocations(retry_at);
CREATE TABLE IF NOT EXISTS gatehouse_logout_jtis (
    jti TEXT PRIMARY KEY NOT NULL,
    remember_until INTEGER NOT NULL
);";

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

impl Tokens {
    /// Opens the token rows in `store`, creating the SQLite table if needed.
    pub async fn open(
        store: TokenStore,
        keys: TokenKeys,
        rp: RelyingParty,
        skew_secs: i64,
    ) -> Result<Self, TokenError> {
        if let TokenStore::Sqlite(db) = &store {
            Self::migrate(db).await?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                keys,
                rp,
                skew_secs,
                lease: Duration::from_secs(10),
                max_wait: Duration::from_secs(15),
                idle_secs: i64::MAX,
                recent: crate::ttl_cache::TtlCache::new(Duration::ZERO, 1),
            }),
        })
    }

    /// Rows unseen for longer than the sessions' idle timeout are ended by
    /// [`Tokens::end_expired`]. Call before sharing the handle.
    pub fn with_idle_timeout(mut self, idle_secs: i64) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.idle_secs = idle_secs.max(1);
        }
        self
    }

    /// Keeps what a request found in a row for up to `bound`, so the next
    /// requests of that sign-in within it read no store: a sign-in ended on
    /// another instance is seen here within `bound` (on this one, at once).
    /// Call before sharing the handle.
    pub fn with_cache(mut self, bound: Duration, max_entries: usize) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.recent = crate::ttl_cache::TtlCache::new(bound, max_entries);
        }
        self
    }

    /// The cache bound and size of [`Tokens::with_cache`] (the session
    /// records a request decoded are reused under the same bound).
    pub(crate) fn cache_config(&self) -> (Duration, usize) {
        (self.inner.recent.ttl(), self.inner.recent.max())
    }

    /// The sessions' idle timeout ([`Tokens::with_idle_timeout`]).
    pub(crate) fn idle_secs(&self) -> i64 {
        self.inner.idle_secs
    }

    /// How stale `last_seen` may get: a minute, less for short idle timeouts.
    fn touch_every(&self) -> i64 {
        (self.inner.idle_secs / 10).clamp(1, 60)
    }

    async fn migrate(db: &SqlitePool) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(SCHEMA).execute(db).await?;
        // Tables created before the session list lack its columns.
        let columns: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM pragma_table_info('gatehouse_tokens')").fetch_all(db).await?;
        for (name, ddl) in [
            ("public_id", "ALTER TABLE gatehouse_tokens ADD COLUMN public_id TEXT"),
            ("user_agent", "ALTER TABLE gatehouse_tokens ADD COLUMN user_agent TEXT"),
            ("created_at", "ALTER TABLE gatehouse_tokens ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0"),
            ("last_seen", "ALTER TABLE gatehouse_tokens ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0"),
            ("confirmed_at", "ALTER TABLE gatehouse_tokens ADD COLUMN confirmed_at INTEGER NOT NULL DEFAULT 0"),
            ("standing", "ALTER TABLE gatehouse_tokens ADD COLUMN standing TEXT"),
        ] {
            if !columns.iter().any(|(c,)| c == name) {
                sqlx::query(ddl).execute(db).await?;
            }
        }
        sqlx::query("CREATE UNIQUE INDEX IF NOT EXISTS gatehouse_tokens_public ON gatehouse_tokens(public_id)")
            .execute(db)
            .await?;
        Ok(())
    }

    /// The provider these tokens are from.
    pub(crate) fn rp(&self) -> &RelyingParty {
        &self.inner.rp
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.inner.keys
    }

    /// Stores a new sign-in's tokens; returns the row id the session keeps.
    pub(crate) async fn insert(
        &self,
        sub: &str,
        sid: Option<&str>,
        tokens: TokenSet,
        session_expires_at: i64,
        user_agent: Option<&str>,
    ) -> Result<String, TokenError> {
        let id = crate::session::random_token();
        let sealed = self.seal(tokens, sub)?;
        let now = crate::unix_now();
        let agent: Option<String> = user_agent.map(|a| a.chars().filter(|c| !c.is_control()).take(300).collect());
        let public_id = crate::session::random_token();
        let db = match &self.inner.store {
            TokenStore::Sqlite(db) => db,
            TokenStore::Redis(pool) => {
                let row = crate::redis_store::NewRow {
                    id: &id,
                    sub,
                    sid,
                    sealed: &sealed,
                    expires_at: session_expires_at,
                    public_id: &public_id,
                    user_agent: agent.as_deref(),
                    now,
                };
                crate::redis_store::insert(pool, row).await?;
                return Ok(id);
            }
        };
        sqlx::query(
            "INSERT INTO gatehouse_tokens (id, sub, sid, sealed, expires_at, public_id, user_agent, created_at, last_seen)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(sub)
        .bind(sid)
        .bind(sealed)
        .bind(session_expires_at)
        .bind(public_id)
        .bind(agent)
        .bind(now)
        .bind(now)
        .execute(db)
        .await?;
        Ok(id)
    }

    /// A request of sign-in `id`: `None` when it is over (a back-channel
    /// logout or an ended session deletes its row), else whether the activity
    /// was noted now — at most once a minute (less with a short idle timeout):
    /// one read per request, a write only when due. The read also brings the
    /// latest check of the user's standing.
    pub(crate) async fn check_in(&self, id: &str, now: i64) -> Result<Option<CheckIn>, TokenError> {
        if let Some(r) = self.inner.recent.get(&id.to_string()) {
            if r.last_seen >= now - self.touch_every() {
                return Ok(Some(CheckIn { touched: false, standing: r.standing }));
            }
        }
        let read_at = std::time::Instant::now();
        let found = self.check_in_store(id, now).await?;
        match &found {
            Some((last_seen, check_in)) => self.inner.recent.insert_at(
                id.to_string(),
                Recent { last_seen: *last_seen, standing: check_in.standing.clone() },
                read_at,
            ),
            None => self.inner.recent.remove(&id.to_string()),
        }
        Ok(found.map(|(_, check_in)| check_in))
    }

    /// [`Tokens::check_in`] at the store; also returns `last_seen` after it.
    async fn check_in_store(&self, id: &str, now: i64) -> Result<Option<(i64, CheckIn)>, TokenError> {
        let db = match &self.inner.store {
            TokenStore::Sqlite(db) => db,
            TokenStore::Redis(pool) => {
                return Ok(crate::redis_store::check_in(pool, id, now, self.touch_every())
                    .await?
                    .map(|(touched, last_seen, standing)| (last_seen, CheckIn { touched, standing })))
            }
        };
        let seen: Option<(i64, i64, Option<String>)> =
            sqlx::query_as("SELECT last_seen, confirmed_at, standing FROM gatehouse_tokens WHERE id = ?")
                .bind(id)
                .fetch_optional(db)
                .await?;
        let Some((last_seen, at_ms, json)) = seen else { return Ok(None) };
        let standing = json.map(|json| StandingRow { at_ms, json });
        if last_seen < now - self.touch_every() {
            sqlx::query("UPDATE gatehouse_tokens SET last_seen = ? WHERE id = ?")
                .bind(now)
                .bind(id)
                .execute(db)
                .await?;
            return Ok(Some((now, CheckIn { touched: true, standing })));
        }
        Ok(Some((last_seen, CheckIn { touched: false, standing })))
    }

    /// Forgets what requests found in row `id` (this instance changed it).
    fn forget_recent(&self, id: &str) {
        self.inner.recent.remove(&id.to_string());
    }

    /// Records the outcome of a standing check started at `started_ms`,
    /// unless a check started later has already recorded its own; returns the
    /// row's standing after that (this one, or the newer one), or `None`
    /// when the sign-in is over.
    pub(crate) async fn record_standing(
        &self,
        id: &str,
        started_ms: i64,
        json: &str,
    ) -> Result<Option<StandingRow>, TokenError> {
        self.forget_recent(id);
        let db = match &self.inner.store {
            TokenStore::Sqlite(db) => db,
            TokenStore::Redis(pool) => {
                let row = crate::redis_store::record_standing(pool, id, started_ms, json).await?;
                self.forget_recent(id);
                return Ok(row);
            }
        };
        sqlx::query("UPDATE gatehouse_tokens SET confirmed_at = ?, standing = ? WHERE id = ? AND confirmed_at < ?")
            .bind(started_ms)
            .bind(json)
            .bind(id)
            .bind(started_ms)
            .execute(db)
            .await?;
        let row: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT confirmed_at, standing FROM gatehouse_tokens WHERE id = ?")
                .bind(id)
                .fetch_optional(db)
                .await?;
        self.forget_recent(id);
        Ok(row.map(|(at_ms, json)| StandingRow { at_ms, json: json.unwrap_or_default() }))
    }

    /// The user's sign-ins in this app, newest first; `current` marks row `current_id`.
    pub(crate) async fn sign_ins(&self, sub: &str, current_id: &str) -> Result<Vec<SignIn>, TokenError> {
        type Row = (String, Option<String>, Option<String>, i64, i64);
        let db = match &self.inner.store {
            TokenStore::Sqlite(db) => db,
            TokenStore::Redis(pool) => {
                let mut rows = crate::redis_store::sign_ins(pool, sub, crate::unix_now()).await?;
                rows.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| b.0.cmp(&a.0)));
                return Ok(rows
                    .into_iter()
                    .map(|(id, public_id, user_agent, created_at, last_seen)| SignIn {
                        id: public_id,
                        user_agent,
                        signed_in_at: created_at,
                        last_seen_at: last_seen,
                        current: id == current_id,
                    })
                    .collect());
            }
        };
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, public_id, user_agent, created_at, last_seen FROM gatehouse_tokens
             WHERE sub = ? AND public_id IS NOT NULL ORDER BY created_at DESC, rowid DESC",
        )
        .bind(sub)
        .fetch_all(db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, public_id, user_agent, created_at, last_seen)| SignIn {
                id: public_id.unwrap_or_default(),
                user_agent,
                signed_in_at: created_at,
                last_seen_at: last_seen,
                current: id == current_id,
            })
            .collect())
    }

    /// Ends the user's sign-in `public_id` unless it is `current_id`; whether one ended.
    pub(crate) async fn end_sign_in(&self, sub: &str, public_id: &str, current_id: &str) -> Result<bool, TokenError> {
        let db = match &self.inner.store {
            TokenStore::Sqlite(db) => db,
            TokenStore::Redis(pool) => {
                let Some(id) = crate::redis_store::by_public_id(pool, public_id).await? else { return Ok(false) };
                if id == current_id || !crate::redis_store::ids_for(pool, Some(sub), None).await?.contains(&id) {
                    return Ok(false);
                }
                return self.end(&id).await;
            }
        };
        let id: Option<(String,)> =
            sqlx::query_as("SELECT id FROM gatehouse_tokens WHERE sub = ? AND public_id = ? AND id <> ?")
                .bind(sub)
                .bind(public_id)
                .bind(current_id)
                .fetch_optional(db)
                .await?;
        match id {
            Some((id,)) => self.end(&id).await,
            None => Ok(false),
        }
    }

    fn seal(&self, tokens: TokenSet, sub: &str) -> Result<String, TokenError> {
        let sealed = self.inner.keys.seal(&StoredTokens::from(tokens), sub)?;
        serde_json::to_string(&sealed).map_err(|_| TokenError::Seal(SealError::Encoding))
    }

    /// Row `id` as stored: its `sub` and sealed tokens.
    async fn raw_row(&self, id: &str) -> Result<Option<(String, String)>, TokenError> {
        Ok(match &self.inner.store {
            TokenStore::Sqlite(db) => {
                sqlx::query_as("SELECT sub, sealed FROM gatehouse_tokens WHERE id = ?")
                    .bind(id)
                    .fetch_optional(db)
                    .await?
            }
            TokenStore::Redis(pool) => crate::redis_store::read(pool, id).await?.map(|r| (r.sub, r.sealed)),
        })
    }

    async fn read(&self, id: &str, sub: &str) -> Result<Option<TokenSet>, TokenError> {
        let row = self.raw_row(id).await?;
        let Some((row_sub, sealed)) = row else { return Ok(None) };
        if row_sub != sub {
            return Err(TokenError::Ended("the token row belongs to another user".into()));
        }
        let sealed: Sealed = serde_json::from_str(&sealed).map_err(|_| TokenError::Seal(SealError::Corrupt))?;
        Ok(Some(self.inner.keys.open::<StoredTokens>(&sealed, sub)?.into()))
    }

    /// The tokens of row `id` as they are (no refresh), e.g. the ID token for sign-out.
    pub(crate) async fn current(&self, id: &str, sub: &str) -> Result<Option<TokenSet>, TokenError> {
        self.read(id, sub).await
    }

    /// Ends sign-in `id` for good (its session is over): the row is deleted
    /// and, when this call deleted it, its refresh token is revoked at the
    /// provider. Whether a row was deleted.
    pub(crate) async fn end(&self, id: &str) -> Result<bool, TokenError> {
        self.forget_recent(id);
        let row = self.raw_row(id).await?;
        let Some((sub, sealed)) = row else { return Ok(false) };
        let deleted = match &self.inner.store {
            TokenStore::Sqlite(db) => {
                sqlx::query("DELETE FROM gatehouse_tokens WHERE id = ?").bind(id).execute(db).await?.rows_affected()
                    == 1
            }
            TokenStore::Redis(pool) => crate::redis_store::delete(pool, id).await?,
        };
        // Again after the write: a read between the first forget and the
        // delete must not stay cached.
        self.forget_recent(id);
        if deleted {
            self.revoke(&sealed, &sub, crate::unix_now(), 0).await;
        }
        Ok(deleted)
    }

    /// Revokes the refresh token sealed in `sealed` (a row of `sub`) at the
    /// provider. When the provider cannot be reached (or answers 5xx, 429 or
    /// 408), the sealed row is queued and the cleanup tries again with
    /// back-off for up to [`REVOCATION_RETRY_SECS`]; a definitive refusal is
    /// logged and dropped. Best effort: a failure to queue is logged, never
    /// returned (the sign-in has ended either way). Whether it was revoked now.
    async fn revoke(&self, sealed: &str, sub: &str, queued_at: i64, attempts: i64) -> bool {
        let refresh = serde_json::from_str::<Sealed>(sealed)
            .ok()
            .and_then(|s| self.inner.keys.open::<StoredTokens>(&s, sub).ok())
            .map(|t| t.refresh_token);
        let token = match refresh {
            Some(Some(token)) => token,
            Some(None) => return true, // nothing to revoke
            None => {
                tracing::error!(sub = %sub, "an ended sign-in's tokens cannot be opened (key removed?); its refresh token is not revoked");
                return false;
            }
        };
        let error = match self.inner.rp.revoke_refresh_token(&token).await {
            Ok(_) => return true,
            Err(e) => e,
        };
        let now = crate::unix_now();
        if !error.transient {
            tracing::error!(sub = %sub, error = %error,
                "the provider refused to revoke the refresh token of an ended sign-in; it stays valid until it expires");
            return false;
        }
        if now.saturating_sub(queued_at) >= REVOCATION_RETRY_SECS {
            tracing::error!(sub = %sub, attempts = attempts + 1, error = %error,
                "gave up revoking the refresh token of an ended sign-in; it stays valid at the provider until it expires");
            return false;
        }
        // The first retry at the next cleanup (every ten minutes), then at
        // most hourly.
        let retry_at = if attempts == 0 { now } else { now + (60_i64 << attempts.clamp(0, 6)).min(3600) };
        tracing::warn!(sub = %sub, attempts = attempts + 1, retry_at, error = %error,
            "the refresh token of an ended sign-in could not be revoked; it will be tried again");
        let entry = Revocation {
            sub: sub.to_string(),
            sealed: sealed.to_string(),
            attempts: attempts + 1,
            retry_at,
            queued_at,
        };
        if let Err(e) = self.queue_revocation(&entry).await {
            tracing::error!(sub = %sub, error = %e, "a failed revocation could not be queued for another try");
        }
        false
    }

    async fn queue_revocation(&self, r: &Revocation) -> Result<(), TokenError> {
        match &self.inner.store {
            TokenStore::Sqlite(db) => {
                sqlx::query(
                    "INSERT INTO gatehouse_revocations (sub, sealed, attempts, retry_at, queued_at) VALUES (?, ?, ?, ?, ?)",
                )
                .bind(&r.sub)
                .bind(&r.sealed)
                .bind(r.attempts)
                .bind(r.retry_at)
                .bind(r.queued_at)
                .execute(db)
                .await?;
            }
            TokenStore::Redis(pool) => {
                crate::redis_store::queue_revocation(pool, r, r.queued_at + REVOCATION_RETRY_SECS).await?;
            }
        }
        Ok(())
    }

    /// Tries again the revocations that are due (see [`Tokens::revoke`]);
    /// each is taken by one instance. Returns how many succeeded.
    pub async fn retry_revocations(&self, now: i64) -> Result<u64, TokenError> {
        let due: Vec<Revocation> = match &self.inner.store {
            TokenStore::Sqlite(db) => {
                let rows: Vec<(i64, String, String, i64, i64, i64)> = sqlx::query_as(
                    "SELECT id, sub, sealed, attempts, retry_at, queued_at FROM gatehouse_revocations
                     WHERE retry_at <= ? LIMIT 100",
                )
                .bind(now)
                .fetch_all(db)
                .await?;
                let mut taken = Vec::new();
                for (id, sub, sealed, attempts, retry_at, queued_at) in rows {
                    let r = sqlx::query("DELETE FROM gatehouse_revocations WHERE id = ?").bind(id).execute(db).await?;
                    if r.rows_affected() == 1 {
                        taken.push(Revocation { sub, sealed, attempts, retry_at, queued_at });
                    }
                }
                taken
            }
            TokenStore::Redis(pool) => crate::redis_store::take_due_revocations(pool, now).await?,
        };
        let mut revoked = 0;
        for r in due {
            if self.revoke(&r.sealed, &r.sub, r.queued_at, r.attempts).await {
                tracing::info!(sub = %r.sub, attempts = r.attempts + 1, "the refresh token of an ended sign-in is revoked now");
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    pub(crate) async fn delete(&self, id: &str) -> Result<(), TokenError> {
        self.forget_recent(id);
        match &self.inner.store {
            TokenStore::Sqlite(db) => {
                sqlx::query("DELETE FROM gatehouse_tokens WHERE id = ?").bind(id).execute(db).await?;
            }
            TokenStore::Redis(pool) => {
                crate::redis_store::delete(pool, id).await?;
            }
        }
        self.forget_recent(id);
        Ok(())
    }

    /// Ends the sign-ins whose session is over — past the absolute end, or
    /// unseen for longer than the idle timeout (the session record is gone):
    /// each refresh token is revoked at the provider, then the row deleted.
    /// Also forgets logout-token ids no longer worth remembering (Redis
    /// expires those itself). Returns the rows ended. Several instances may
    /// run it at once: each row is ended, and its token revoked, once.
    pub async fn end_expired(&self, now: i64) -> Result<u64, TokenError> {
        // `last_seen` lags a request by up to `touch_every`; rows from before it was kept have 0.
        let unseen_since = now.saturating_sub(self.inner.idle_secs).saturating_sub(self.touch_every() + 1);
        let mut ended = 0;
        loop {
            let ids: Vec<String> = match &self.inner.store {
                TokenStore::Sqlite(db) => {
                    sqlx::query("DELETE FROM gatehouse_logout_jtis WHERE remember_until <= ?")
                        .bind(now)
                        .execute(db)
                        .await?;
                    sqlx::query_scalar(
                        "SELECT id FROM gatehouse_tokens
                         WHERE expires_at <= ? OR (last_seen > 0 AND last_seen < ?) LIMIT 100",
                    )
                    .bind(now)
                    .bind(unseen_since)
                    .fetch_all(db)
                    .await?
                }
                TokenStore::Redis(pool) => crate::redis_store::due(pool, now, unseen_since).await?,
            };
            if ids.is_empty() {
                return Ok(ended);
            }
            for id in ids {
                // A row ended meanwhile by someone else is simply gone.
                if self.end(&id).await? {
                    ended += 1;
                } else if let TokenStore::Redis(pool) = &self.inner.store {
                    crate::redis_store::forget(pool, &id).await?;
                }
            }
        }
    }

    /// Records a logout token's `jti`; `false` if it was seen before (a replay).
    pub async fn remember_logout_jti(&self, jti: &str, until: i64) -> Result<bool, TokenError> {
        let db = match &self.inner.store {
            TokenStore::Sqlite(db) => db,
            TokenStore::Redis(pool) => return Ok(crate::redis_store::remember_jti(pool, jti, until).await?),
        };
        let r = sqlx::query("INSERT OR IGNORE INTO gatehouse_logout_jtis (jti, remember_until) VALUES (?, ?)")
            .bind(jti)
            .bind(until)
            .execute(db)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Ends every sign-in of provider session `sid` (of user `sub`, when both
    /// are given) or, with only `sub`, every sign-in of that user: rows
    /// deleted, refresh tokens revoked. Their sessions end at their next
    /// request, on any instance.
    pub async fn end_sign_ins(&self, sub: Option<&str>, sid: Option<&str>) -> Result<u64, TokenError> {
        let db = match &self.inner.store {
            TokenStore::Sqlite(db) => db,
            TokenStore::Redis(pool) => {
                let mut n = 0;
                for id in crate::redis_store::ids_for(pool, sub, sid).await? {
                    n += u64::from(self.end(&id).await?);
                }
                return Ok(n);
            }
        };
        let q = match (sub, sid) {
            (Some(sub), Some(sid)) => {
                sqlx::query_as("SELECT id FROM gatehouse_tokens WHERE sid = ? AND sub = ?").bind(sid).bind(sub)
            }
            (None, Some(sid)) => sqlx::query_as("SELECT id FROM gatehouse_tokens WHERE sid = ?").bind(sid),
            (Some(sub), None) => sqlx::query_as("SELECT id FROM gatehouse_tokens WHERE sub = ?").bind(sub),
            (None, None) => return Ok(0),
        };
        let ids: Vec<(String,)> = q.fetch_all(db).await?;
        let mut n = 0;
        for (id,) in ids {
            n += u64::from(self.end(&id).await?);
        }
        Ok(n)
    }

    fn fresh(&self, t: &TokenSet, now: i64) -> bool {
        match t.expires_at {
            Some(exp) => exp - self.inner.skew_secs > now,
            None => true,
        }
    }

    /// A usable access token for row `id` of user `sub`: the stored one while
    /// it has more than the skew left, else refreshed — by exactly one caller
    /// across all instances; the others wait and read its result. A definitive
    /// refresh failure deletes the row and answers [`TokenError::Ended`].
    pub(crate) async fn access_token(&self, id: &str, sub: &str) -> Result<String, TokenError> {
        let started = std::time::Instant::now();
        let holder = crate::session::random_token();
        loop {
            let Some(tokens) = self.read(id, sub).await? else {
                return Err(TokenError::Ended("the session's tokens are gone".into()));
            };
            if self.fresh(&tokens, crate::unix_now()) {
                return Ok(tokens.access_token);
            }
            if tokens.refresh_token.is_none() {
                // Nothing to refresh with: use it until the provider says otherwise.
                return Ok(tokens.access_token);
            }
            if self.try_lock(id, &holder).await? {
                let result = self.refresh_locked(id, sub, &holder).await;
                self.unlock(id, &holder).await?;
                return result;
            }
            if started.elapsed() > self.inner.max_wait {
                return Err(TokenError::Unavailable("waited too long for another refresh of this session".into()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Holding the lease: re-read (someone may have just refreshed), refresh,
    /// store the rotated tokens. The lease is renewed while the provider works.
    async fn refresh_locked(&self, id: &str, sub: &str, holder: &str) -> Result<String, TokenError> {
        let Some(tokens) = self.read(id, sub).await? else {
            return Err(TokenError::Ended("the session's tokens are gone".into()));
        };
        if self.fresh(&tokens, crate::unix_now()) {
            return Ok(tokens.access_token);
        }
        let renew = {
            let (this, id, holder) = (self.clone(), id.to_string(), holder.to_string());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(this.inner.lease / 3);
                every.tick().await;
                loop {
                    every.tick().await;
                    match this.renew(&id, &holder).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!("the refresh lease was lost while the provider answered; the rotated tokens are still stored");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "the refresh lease could not be renewed");
                            break;
                        }
                    }
                }
            })
        };
        let result = self.inner.rp.refresh(&tokens, sub).await;
        renew.abort();
        match result {
            Ok(new) => {
                let access = new.access_token.clone();
                let sealed = self.seal(new, sub)?;
                // The provider has rotated the refresh token: the new one is the
                // only one that works, so it is stored even if the lease was
                // lost meanwhile (whoever holds it re-reads before refreshing).
                // Only a row that is gone (the session ended) refuses it.
                let stored = match &self.inner.store {
                    TokenStore::Sqlite(db) => {
                        sqlx::query("UPDATE gatehouse_tokens SET sealed = ? WHERE id = ?")
                            .bind(sealed)
                            .bind(id)
                            .execute(db)
                            .await?
                            .rows_affected()
                            == 1
                    }
                    TokenStore::Redis(pool) => crate::redis_store::replace_sealed(pool, id, &sealed).await?,
                };
                if !stored {
                    tracing::warn!(sub = %sub, "tokens refreshed for a session that ended meanwhile; they are dropped");
                    return Err(TokenError::Ended("the session ended during the refresh".into()));
                }
                tracing::info!(sub = %sub, "tokens refreshed");
                Ok(access)
            }
            Err(e) if e.is_definitive() => {
                tracing::info!(sub = %sub, error = %e, "refresh refused; the session ends");
                self.delete(id).await?;
                Err(TokenError::Ended(e.to_string()))
            }
            Err(e) => {
                tracing::warn!(sub = %sub, error = %e, "refresh failed; will retry on the next call");
                Err(TokenError::Unavailable(e.to_string()))
            }
        }
    }

    async fn try_lock(&self, id: &str, holder: &str) -> Result<bool, TokenError> {
        let db = match &self.inner.store {
            TokenStore::Sqlite(db) => db,
            TokenStore::Redis(pool) => {
                let lease = self.inner.lease.as_millis() as i64;
                return Ok(crate::redis_store::try_lock(pool, id, holder, lease).await?);
            }
        };
        let now = now_ms();
        let until = now + self.inner.lease.as_millis() as i64;
        let r = sqlx::query(
            "UPDATE gatehouse_tokens SET lock_holder = ?, lock_until = ? WHERE id = ? AND (lock_holder IS NULL OR lock_until < ?)",
        )
        .bind(holder)
        .bind(until)
        .bind(id)
        .bind(now)
        .execute(db)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn renew(&self, id: &str, holder: &str) -> Result<bool, TokenError> {
        let db = match &self.inner.store {
            TokenStore::Sqlite(db) => db,
            TokenStore::Redis(pool) => {
                let lease = self.inner.lease.as_millis() as i64;
                return Ok(crate::redis_store::renew(pool, id, holder, lease).await?);
            }
        };
        let until = now_ms() + self.inner.lease.as_millis() as i64;
        let r = sqlx::query("UPDATE gatehouse_tokens SET lock_until = ? WHERE id = ? AND lock_holder = ?")
            .bind(until)
            .bind(id)
            .bind(holder)
            .execute(db)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn unlock(&self, id: &str, holder: &str) -> Result<(), TokenError> {
        let db = match &self.inner.store {
            TokenStore::Sqlite(db) => db,
            TokenStore::Redis(pool) => return Ok(crate::redis_store::unlock(pool, id, holder).await?),
        };
        sqlx::query("UPDATE gatehouse_tokens SET lock_holder = NULL, lock_until = 0 WHERE id = ? AND lock_holder = ?")
            .bind(id)
            .bind(holder)
            .execute(db)
            .await?;
        Ok(())
    }
}
