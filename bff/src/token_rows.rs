//! Where token rows live: one interface ([`TokenRows`]) and its two
//! backends side by side — the SQL database ([`SqlRows`]: SQLite or
//! PostgreSQL) and Redis ([`RedisRows`], the scripts in `redis_store`).
//! `tokens::Tokens` holds the policy (sealing, refresh, revocation, caching)
//! and reaches the rows only through this interface.

use async_trait::async_trait;

use crate::store::{Database, Engine, StoreError};
use crate::tokens::{Revocation, StandingRow};

/// A new token row (a new sign-in).
pub(crate) struct NewRow<'a> {
    pub id: &'a str,
    pub sub: &'a str,
    pub sid: Option<&'a str>,
    pub sealed: &'a str,
    pub expires_at: i64,
    pub public_id: &'a str,
    pub user_agent: Option<&'a str>,
    pub now: i64,
}

/// What a request of a live sign-in found in its row.
pub(crate) struct Seen {
    /// `last_seen` after this request.
    pub last_seen: i64,
    /// Whether this request noted the activity.
    pub touched: bool,
    pub standing: Option<StandingRow>,
}

/// A sign-in as listed for its user.
pub(crate) struct ListedRow {
    pub id: String,
    pub public_id: String,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_seen: i64,
}

/// The token rows' storage operations. Every change of one row is atomic.
#[async_trait]
pub(crate) trait TokenRows: Send + Sync {
    async fn insert(&self, row: NewRow<'_>) -> Result<(), StoreError>;
    /// Row `id` at a request at `now`: `None` when it is gone (Redis also
    /// answers `None` past the row's end; the session's own lifetime check
    /// ends it either way); notes the activity when the last note is older
    /// than `touch_every`.
    async fn check_in(&self, id: &str, now: i64, touch_every: i64) -> Result<Option<Seen>, StoreError>;
    /// Records a standing check started at `started_ms` unless a later one
    /// is recorded; the row's standing after that.
    async fn record_standing(&self, id: &str, started_ms: i64, json: &str) -> Result<Option<StandingRow>, StoreError>;
    /// The user's sign-ins, newest first.
    async fn sign_ins(&self, sub: &str, now: i64) -> Result<Vec<ListedRow>, StoreError>;
    /// The row id behind `public_id` when that sign-in is `sub`'s.
    async fn id_of_public(&self, sub: &str, public_id: &str) -> Result<Option<String>, StoreError>;
    /// Row `id`'s `sub` and sealed tokens.
    async fn read(&self, id: &str) -> Result<Option<(String, String)>, StoreError>;
    /// Deletes row `id`; whether this call deleted it.
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;
    /// How many sign-ins are stored (`None`: the store cannot tell cheaply).
    async fn count(&self, now: i64) -> Result<Option<i64>, StoreError>;
    /// Stores rotated tokens in row `id`; `false` when the row is gone.
    async fn replace_sealed(&self, id: &str, sealed: &str) -> Result<bool, StoreError>;
    async fn queue_revocation(&self, r: &Revocation, give_up_at: i64) -> Result<(), StoreError>;
    /// Takes (removes and returns) up to 100 revocations due at `now`, each by one caller only.
    async fn take_due_revocations(&self, now: i64) -> Result<Vec<Revocation>, StoreError>;
    /// Up to 100 ids of rows past their end at `now` or unseen since before `unseen_since`.
    async fn due(&self, now: i64, unseen_since: i64) -> Result<Vec<String>, StoreError>;
    /// Drops what the cleanup keeps about row `id` (already gone).
    async fn forget(&self, id: &str) -> Result<(), StoreError>;
    /// Drops the logout-token ids remembered until before `now`.
    async fn forget_logout_jtis(&self, now: i64) -> Result<(), StoreError>;
    /// Records a logout token's `jti` until `until`; `false` if it was recorded before.
    async fn remember_jti(&self, jti: &str, until: i64) -> Result<bool, StoreError>;
    /// Forgets a logout token's `jti` (its logout could not be carried out: the provider's retry must be heard).
    async fn forget_jti(&self, jti: &str) -> Result<(), StoreError>;
    /// Ids of the rows of `sid` (of `sub` when both are given) or of `sub`.
    async fn ids_for(&self, sub: Option<&str>, sid: Option<&str>) -> Result<Vec<String>, StoreError>;
    /// Takes the refresh lease of row `id` for `lease_ms` unless someone else holds it.
    async fn try_lock(&self, id: &str, holder: &str, lease_ms: i64) -> Result<bool, StoreError>;
    /// Extends `holder`'s lease; `false` when it was lost.
    async fn renew(&self, id: &str, holder: &str, lease_ms: i64) -> Result<bool, StoreError>;
    async fn unlock(&self, id: &str, holder: &str) -> Result<(), StoreError>;
}

/// Token rows in the SQL database (table `gatehouse_tokens` and its companions).
pub(crate) struct SqlRows {
    db: Database,
}

impl SqlRows {
    /// The database server's clock in Unix milliseconds, as SQL: instances
    /// on several hosts share one lease clock (their own clocks may differ).
    fn now_ms_sql(&self) -> &'static str {
        match self.db.engine() {
            Engine::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Engine::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// The rows in `db`, its session migrations applied (a SQLite session
    /// database from before numbered migrations is brought up to date first).
    pub(crate) async fn open(db: Database) -> Result<Self, StoreError> {
        if db.engine() == Engine::Sqlite && !db.has_migration(3).await? {
            adopt_unnumbered_sqlite(&db).await?;
        }
        db.migrate(crate::store::SESSION_MIGRATIONS).await?;
        Ok(Self { db })
    }
}

/// Token tables created before the numbered migrations, some before the
/// session list's columns: those columns are added so that migration 3
/// (`CREATE … IF NOT EXISTS`) finds the table it would have made.
async fn adopt_unnumbered_sqlite(db: &Database) -> Result<(), StoreError> {
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('gatehouse_tokens')").fetch_all(db.pool()).await?;
    if columns.is_empty() {
        return Ok(());
    }
    for (name, ddl) in [
        ("public_id", "ALTER TABLE gatehouse_tokens ADD COLUMN public_id TEXT"),
        ("user_agent", "ALTER TABLE gatehouse_tokens ADD COLUMN user_agent TEXT"),
        ("created_at", "ALTER TABLE gatehouse_tokens ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0"),
        ("last_seen", "ALTER TABLE gatehouse_tokens ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0"),
        ("confirmed_at", "ALTER TABLE gatehouse_tokens ADD COLUMN confirmed_at INTEGER NOT NULL DEFAULT 0"),
        ("standing", "ALTER TABLE gatehouse_tokens ADD COLUMN standing TEXT"),
    ] {
        if !columns.iter().any(|c| c == name) {
            // Another instance starting on the same file may have just added it.
            match sqlx::query(ddl).execute(db.pool()).await {
                Err(e) if e.to_string().contains("duplicate column name") => {}
                other => {
                    other?;
                }
            }
        }
    }
    tracing::info!("token tables from before numbered migrations adopted");
    Ok(())
}

#[async_trait]
impl TokenRows for SqlRows {
    async fn insert(&self, row: NewRow<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO gatehouse_tokens (id, sub, sid, sealed, expires_at, public_id, user_agent, created_at, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(row.id)
        .bind(row.sub)
        .bind(row.sid)
        .bind(row.sealed)
        .bind(row.expires_at)
        .bind(row.public_id)
        .bind(row.user_agent)
        .bind(row.now)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    async fn check_in(&self, id: &str, now: i64, touch_every: i64) -> Result<Option<Seen>, StoreError> {
        let seen: Option<(i64, i64, Option<String>)> =
            sqlx::query_as("SELECT last_seen, confirmed_at, standing FROM gatehouse_tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(self.db.pool())
                .await?;
        let Some((last_seen, at_ms, json)) = seen else { return Ok(None) };
        let standing = json.map(|json| StandingRow { at_ms, json });
        if last_seen < now - touch_every {
            sqlx::query("UPDATE gatehouse_tokens SET last_seen = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(self.db.pool())
                .await?;
            return Ok(Some(Seen { last_seen: now, touched: true, standing }));
        }
        Ok(Some(Seen { last_seen, touched: false, standing }))
    }

    async fn record_standing(&self, id: &str, started_ms: i64, json: &str) -> Result<Option<StandingRow>, StoreError> {
        sqlx::query("UPDATE gatehouse_tokens SET confirmed_at = $1, standing = $2 WHERE id = $3 AND confirmed_at < $1")
            .bind(started_ms)
            .bind(json)
            .bind(id)
            .execute(self.db.pool())
            .await?;
        let row: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT confirmed_at, standing FROM gatehouse_tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(row.map(|(at_ms, json)| StandingRow { at_ms, json: json.unwrap_or_default() }))
    }

    async fn sign_ins(&self, sub: &str, _now: i64) -> Result<Vec<ListedRow>, StoreError> {
        // Newest first; sign-ins of the same second in the order they were made.
        let sql = match self.db.engine() {
            Engine::Sqlite => {
                "SELECT id, public_id, user_agent, created_at, last_seen FROM gatehouse_tokens
                 WHERE sub = $1 AND public_id IS NOT NULL ORDER BY created_at DESC, rowid DESC"
            }
            Engine::Postgres => {
                "SELECT id, public_id, user_agent, created_at, last_seen FROM gatehouse_tokens
                 WHERE sub = $1 AND public_id IS NOT NULL ORDER BY created_at DESC, seq DESC"
            }
        };
        let rows: Vec<(String, Option<String>, Option<String>, i64, i64)> =
            sqlx::query_as(sql).bind(sub).fetch_all(self.db.pool()).await?;
        Ok(rows
            .into_iter()
            .map(|(id, public_id, user_agent, created_at, last_seen)| ListedRow {
                id,
                public_id: public_id.unwrap_or_default(),
                user_agent,
                created_at,
                last_seen,
            })
            .collect())
    }

    async fn id_of_public(&self, sub: &str, public_id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM gatehouse_tokens WHERE sub = $1 AND public_id = $2")
            .bind(sub)
            .bind(public_id)
            .fetch_optional(self.db.pool())
            .await?)
    }

    async fn read(&self, id: &str) -> Result<Option<(String, String)>, StoreError> {
        Ok(sqlx::query_as("SELECT sub, sealed FROM gatehouse_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?)
    }

    async fn count(&self, now: i64) -> Result<Option<i64>, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM gatehouse_tokens WHERE expires_at > $1")
            .bind(now)
            .fetch_one(self.db.pool())
            .await?;
        Ok(Some(n))
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM gatehouse_tokens WHERE id = $1").bind(id).execute(self.db.pool()).await?;
        Ok(r.rows_affected() == 1)
    }

    async fn replace_sealed(&self, id: &str, sealed: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE gatehouse_tokens SET sealed = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn queue_revocation(&self, r: &Revocation, _give_up_at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO gatehouse_revocations (sub, sealed, attempts, retry_at, queued_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&r.sub)
        .bind(&r.sealed)
        .bind(r.attempts)
        .bind(r.retry_at)
        .bind(r.queued_at)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    async fn take_due_revocations(&self, now: i64) -> Result<Vec<Revocation>, StoreError> {
        let rows: Vec<(i64, String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, sub, sealed, attempts, retry_at, queued_at FROM gatehouse_revocations
             WHERE retry_at <= $1 LIMIT 100",
        )
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        let mut taken = Vec::new();
        for (id, sub, sealed, attempts, retry_at, queued_at) in rows {
            let r =
                sqlx::query("DELETE FROM gatehouse_revocations WHERE id = $1").bind(id).execute(self.db.pool()).await?;
            if r.rows_affected() == 1 {
                taken.push(Revocation { sub, sealed, attempts, retry_at, queued_at });
            }
        }
        Ok(taken)
    }

    async fn due(&self, now: i64, unseen_since: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM gatehouse_tokens WHERE expires_at <= $1 OR (last_seen > 0 AND last_seen < $2) LIMIT 100",
        )
        .bind(now)
        .bind(unseen_since)
        .fetch_all(self.db.pool())
        .await?)
    }

    async fn forget(&self, _id: &str) -> Result<(), StoreError> {
        // The cleanup reads the table itself: nothing kept beside it.
        Ok(())
    }

    async fn forget_logout_jtis(&self, now: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM gatehouse_logout_jtis WHERE remember_until <= $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn remember_jti(&self, jti: &str, until: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO gatehouse_logout_jtis (jti, remember_until) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(until)
        .execute(self.db.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn forget_jti(&self, jti: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM gatehouse_logout_jtis WHERE jti = $1").bind(jti).execute(self.db.pool()).await?;
        Ok(())
    }

    async fn ids_for(&self, sub: Option<&str>, sid: Option<&str>) -> Result<Vec<String>, StoreError> {
        let q = match (sub, sid) {
            (Some(sub), Some(sid)) => {
                sqlx::query_scalar("SELECT id FROM gatehouse_tokens WHERE sid = $1 AND sub = $2").bind(sid).bind(sub)
            }
            (None, Some(sid)) => sqlx::query_scalar("SELECT id FROM gatehouse_tokens WHERE sid = $1").bind(sid),
            (Some(sub), None) => sqlx::query_scalar("SELECT id FROM gatehouse_tokens WHERE sub = $1").bind(sub),
            (None, None) => return Ok(Vec::new()),
        };
        Ok(q.fetch_all(self.db.pool()).await?)
    }

    async fn try_lock(&self, id: &str, holder: &str, lease_ms: i64) -> Result<bool, StoreError> {
        let now = self.now_ms_sql();
        let sql = format!(
            "UPDATE gatehouse_tokens SET lock_holder = $1, lock_until = {now} + $2
             WHERE id = $3 AND (lock_holder IS NULL OR lock_until < {now})"
        );
        let r = sqlx::query(&sql).bind(holder).bind(lease_ms).bind(id).execute(self.db.pool()).await?;
        Ok(r.rows_affected() == 1)
    }

    async fn renew(&self, id: &str, holder: &str, lease_ms: i64) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE gatehouse_tokens SET lock_until = {} + $1 WHERE id = $2 AND lock_holder = $3",
            self.now_ms_sql()
        );
        let r = sqlx::query(&sql).bind(lease_ms).bind(id).bind(holder).execute(self.db.pool()).await?;
        Ok(r.rows_affected() == 1)
    }

    async fn unlock(&self, id: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE gatehouse_tokens SET lock_holder = NULL, lock_until = 0 WHERE id = $1 AND lock_holder = $2",
        )
        .bind(id)
        .bind(holder)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

/// Token rows in Redis (`redis_store`'s keys and scripts).
pub(crate) struct RedisRows {
    pool: crate::redis_store::Pool,
}

impl RedisRows {
    pub(crate) fn new(pool: crate::redis_store::Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl TokenRows for RedisRows {
    async fn insert(&self, row: NewRow<'_>) -> Result<(), StoreError> {
        Ok(crate::redis_store::insert(&self.pool, row).await?)
    }

    async fn check_in(&self, id: &str, now: i64, touch_every: i64) -> Result<Option<Seen>, StoreError> {
        Ok(crate::redis_store::check_in(&self.pool, id, now, touch_every)
            .await?
            .map(|(touched, last_seen, standing)| Seen { last_seen, touched, standing }))
    }

    async fn record_standing(&self, id: &str, started_ms: i64, json: &str) -> Result<Option<StandingRow>, StoreError> {
        Ok(crate::redis_store::record_standing(&self.pool, id, started_ms, json).await?)
    }

    async fn sign_ins(&self, sub: &str, now: i64) -> Result<Vec<ListedRow>, StoreError> {
        let mut rows = crate::redis_store::sign_ins(&self.pool, sub, now).await?;
        rows.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| b.0.cmp(&a.0)));
        Ok(rows
            .into_iter()
            .map(|(id, public_id, user_agent, created_at, last_seen)| ListedRow {
                id,
                public_id,
                user_agent,
                created_at,
                last_seen,
            })
            .collect())
    }

    async fn id_of_public(&self, sub: &str, public_id: &str) -> Result<Option<String>, StoreError> {
        let Some(id) = crate::redis_store::by_public_id(&self.pool, public_id).await? else { return Ok(None) };
        let of_sub = crate::redis_store::ids_for(&self.pool, Some(sub), None).await?.contains(&id);
        Ok(of_sub.then_some(id))
    }

    async fn read(&self, id: &str) -> Result<Option<(String, String)>, StoreError> {
        Ok(crate::redis_store::read(&self.pool, id).await?.map(|r| (r.sub, r.sealed)))
    }

    async fn count(&self, _now: i64) -> Result<Option<i64>, StoreError> {
        // Counting would scan the keyspace.
        Ok(None)
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        Ok(crate::redis_store::delete(&self.pool, id).await?)
    }

    async fn replace_sealed(&self, id: &str, sealed: &str) -> Result<bool, StoreError> {
        Ok(crate::redis_store::replace_sealed(&self.pool, id, sealed).await?)
    }

    async fn queue_revocation(&self, r: &Revocation, give_up_at: i64) -> Result<(), StoreError> {
        Ok(crate::redis_store::queue_revocation(&self.pool, r, give_up_at).await?)
    }

    async fn take_due_revocations(&self, now: i64) -> Result<Vec<Revocation>, StoreError> {
        Ok(crate::redis_store::take_due_revocations(&self.pool, now).await?)
    }

    async fn due(&self, now: i64, unseen_since: i64) -> Result<Vec<String>, StoreError> {
        Ok(crate::redis_store::due(&self.pool, now, unseen_since).await?)
    }

    async fn forget(&self, id: &str) -> Result<(), StoreError> {
        Ok(crate::redis_store::forget(&self.pool, id).await?)
    }

    async fn forget_logout_jtis(&self, _now: i64) -> Result<(), StoreError> {
        // They expire in Redis on their own.
        Ok(())
    }

    async fn remember_jti(&self, jti: &str, until: i64) -> Result<bool, StoreError> {
        Ok(crate::redis_store::remember_jti(&self.pool, jti, until).await?)
    }

    async fn forget_jti(&self, jti: &str) -> Result<(), StoreError> {
        Ok(crate::redis_store::forget_jti(&self.pool, jti).await?)
    }

    async fn ids_for(&self, sub: Option<&str>, sid: Option<&str>) -> Result<Vec<String>, StoreError> {
        Ok(crate::redis_store::ids_for(&self.pool, sub, sid).await?)
    }

    async fn try_lock(&self, id: &str, holder: &str, lease_ms: i64) -> Result<bool, StoreError> {
        Ok(crate::redis_store::try_lock(&self.pool, id, holder, lease_ms).await?)
    }

    async fn renew(&self, id: &str, holder: &str, lease_ms: i64) -> Result<bool, StoreError> {
        Ok(crate::redis_store::renew(&self.pool, id, holder, lease_ms).await?)
    }

    async fn unlock(&self, id: &str, holder: &str) -> Result<(), StoreError> {
        Ok(crate::redis_store::unlock(&self.pool, id, holder).await?)
    }
}
