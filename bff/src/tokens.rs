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

use crate::oidc::{RelyingParty, TokenSet};
use crate::sealing::{SealError, Sealed, TokenKeys};
use crate::store::StoreError;
use crate::token_rows::{NewRow, TokenRows};

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
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
}

impl crate::store::Outage for TokenError {
    fn is_outage(&self) -> bool {
        matches!(self, TokenError::Store(e) if e.is_unavailable())
    }
}

/// Where the token rows live: the SQL database (the SQLite session file, or
/// PostgreSQL), or Redis.
#[derive(Clone)]
pub enum TokenStore {
    Sql(crate::store::Database),
    Redis(crate::redis_store::Pool),
}

/// Token rows, their leases and the refresh policy.
#[derive(Clone)]
pub struct Tokens {
    inner: Arc<Inner>,
}

struct Inner {
    rows: Box<dyn TokenRows>,
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

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

impl Tokens {
    /// Opens the token rows in `store` (migrating a SQL database).
    pub async fn open(
        store: TokenStore,
        keys: TokenKeys,
        rp: RelyingParty,
        skew_secs: i64,
    ) -> Result<Self, TokenError> {
        let rows: Box<dyn TokenRows> = match store {
            TokenStore::Sql(db) => Box::new(crate::token_rows::SqlRows::open(db).await?),
            TokenStore::Redis(pool) => Box::new(crate::token_rows::RedisRows::new(pool)),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                rows,
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
        let id = crate::random_token();
        let sealed = self.seal(tokens, sub)?;
        let now = crate::unix_now();
        let agent: Option<String> = user_agent.map(|a| a.chars().filter(|c| !c.is_control()).take(300).collect());
        let public_id = crate::random_token();
        let row = NewRow {
            id: &id,
            sub,
            sid,
            sealed: &sealed,
            expires_at: session_expires_at,
            public_id: &public_id,
            user_agent: agent.as_deref(),
            now,
        };
        self.inner.rows.insert(row).await?;
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
        Ok(self
            .inner
            .rows
            .check_in(id, now, self.touch_every())
            .await?
            .map(|seen| (seen.last_seen, CheckIn { touched: seen.touched, standing: seen.standing })))
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
        let row = self.inner.rows.record_standing(id, started_ms, json).await?;
        // Again after the write: a read in between must not stay cached.
        self.forget_recent(id);
        Ok(row)
    }

    /// The user's sign-ins in this app, newest first; `current` marks row `current_id`.
    pub(crate) async fn sign_ins(&self, sub: &str, current_id: &str) -> Result<Vec<SignIn>, TokenError> {
        let rows = self.inner.rows.sign_ins(sub, crate::unix_now()).await?;
        Ok(rows
            .into_iter()
            .map(|r| SignIn {
                current: r.id == current_id,
                id: r.public_id,
                user_agent: r.user_agent,
                signed_in_at: r.created_at,
                last_seen_at: r.last_seen,
            })
            .collect())
    }

    /// Ends the user's sign-in `public_id` unless it is `current_id`; whether one ended.
    pub(crate) async fn end_sign_in(&self, sub: &str, public_id: &str, current_id: &str) -> Result<bool, TokenError> {
        match self.inner.rows.id_of_public(sub, public_id).await? {
            Some(id) if id != current_id => self.end(&id).await,
            _ => Ok(false),
        }
    }

    fn seal(&self, tokens: TokenSet, sub: &str) -> Result<String, TokenError> {
        let sealed = self.inner.keys.seal(&StoredTokens::from(tokens), sub)?;
        serde_json::to_string(&sealed).map_err(|_| TokenError::Seal(SealError::Encoding))
    }

    /// Row `id` as stored: its `sub` and sealed tokens.
    async fn raw_row(&self, id: &str) -> Result<Option<(String, String)>, TokenError> {
        Ok(self.inner.rows.read(id).await?)
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
        let deleted = self.inner.rows.delete(id).await?;
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
        Ok(self.inner.rows.queue_revocation(r, r.queued_at + REVOCATION_RETRY_SECS).await?)
    }

    /// Tries again the revocations that are due (see [`Tokens::revoke`]);
    /// each is taken by one instance. Returns how many succeeded.
    pub async fn retry_revocations(&self, now: i64) -> Result<u64, TokenError> {
        let due = self.inner.rows.take_due_revocations(now).await?;
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
        self.inner.rows.delete(id).await?;
        self.forget_recent(id);
        Ok(())
    }

    /// Ends the sign-ins whose session is over — past the absolute end, or
    /// unseen for longer than the idle timeout (the session record is gone):
    /// each refresh token is revoked at the provider, then the row deleted.
    /// Also forgets logout-token ids no longer worth remembering (Redis
    /// expires those itself). Returns the rows ended. Several instances may
    /// run it at once: each row is ended, and its token revoked, once.
    #[tracing::instrument(skip_all)]
    pub async fn end_expired(&self, now: i64) -> Result<u64, TokenError> {
        // `last_seen` lags a request by up to `touch_every`; rows from before it was kept have 0.
        let unseen_since = now.saturating_sub(self.inner.idle_secs).saturating_sub(self.touch_every() + 1);
        let mut ended = 0;
        loop {
            self.inner.rows.forget_logout_jtis(now).await?;
            let ids = self.inner.rows.due(now, unseen_since).await?;
            if ids.is_empty() {
                return Ok(ended);
            }
            for id in ids {
                // A row ended meanwhile by someone else is simply gone.
                if self.end(&id).await? {
                    ended += 1;
                } else {
                    self.inner.rows.forget(&id).await?;
                }
            }
        }
    }

    /// How many sign-ins are stored and not past their absolute end (`None`:
    /// the store cannot tell cheaply, as with Redis).
    pub async fn count_active(&self, now: i64) -> Result<Option<i64>, TokenError> {
        Ok(self.inner.rows.count(now).await?)
    }

    /// Records a logout token's `jti`; `false` if it was seen before (a replay).
    pub async fn remember_logout_jti(&self, jti: &str, until: i64) -> Result<bool, TokenError> {
        Ok(self.inner.rows.remember_jti(jti, until).await?)
    }

    /// Forgets a logout token's `jti` whose logout could not be carried out,
    /// so that the provider's retry of it is heard rather than refused.
    pub async fn forget_logout_jti(&self, jti: &str) -> Result<(), TokenError> {
        Ok(self.inner.rows.forget_jti(jti).await?)
    }

    /// Ends every sign-in of provider session `sid` (of user `sub`, when both
    /// are given) or, with only `sub`, every sign-in of that user: rows
    /// deleted, refresh tokens revoked. Their sessions end at their next
    /// request, on any instance.
    #[tracing::instrument(skip_all, fields(sub = ?sub, sid = ?sid))]
    pub async fn end_sign_ins(&self, sub: Option<&str>, sid: Option<&str>) -> Result<u64, TokenError> {
        let mut n = 0;
        for id in self.inner.rows.ids_for(sub, sid).await? {
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
        let holder = crate::random_token();
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
        crate::metrics::metrics().refresh(result.is_ok());
        match result {
            Ok(new) => {
                let access = new.access_token.clone();
                let sealed = self.seal(new, sub)?;
                // The provider has rotated the refresh token: the new one is the
                // only one that works, so it is stored even if the lease was
                // lost meanwhile (whoever holds it re-reads before refreshing).
                // Only a row that is gone (the session ended) refuses it.
                let stored = self.inner.rows.replace_sealed(id, &sealed).await?;
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
        Ok(self.inner.rows.try_lock(id, holder, self.lease_ms()).await?)
    }

    async fn renew(&self, id: &str, holder: &str) -> Result<bool, TokenError> {
        Ok(self.inner.rows.renew(id, holder, self.lease_ms()).await?)
    }

    async fn unlock(&self, id: &str, holder: &str) -> Result<(), TokenError> {
        Ok(self.inner.rows.unlock(id, holder).await?)
    }

    fn lease_ms(&self) -> i64 {
        self.inner.lease.as_millis() as i64
    }
}
