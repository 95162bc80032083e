//! SQLite storage: one database file in the data directory (or in memory for
//! tests). The schema is created on start; all timestamps are Unix seconds.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;

use crate::config::Storage;

pub type Db = SqlitePool;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS keys (
    kid TEXT PRIMARY KEY, private_pem TEXT NOT NULL, created_at INTEGER NOT NULL,
    active INTEGER NOT NULL, retired_at INTEGER);
CREATE TABLE IF NOT EXISTS identities (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, traits TEXT NOT NULL,
    schema_id TEXT NOT NULL, state TEXT NOT NULL, state_changed_at INTEGER NOT NULL,
    metadata_public TEXT, metadata_admin TEXT, verified_at INTEGER,
    address_id TEXT NOT NULL, recovery_id TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
-- The Admin API lists identities oldest first: paging walks this index instead of sorting the table.
CREATE INDEX IF NOT EXISTS identities_created ON identities(created_at);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, sid TEXT NOT NULL UNIQUE, csrf TEXT NOT NULL, identity_id TEXT NOT NULL,
    auth_time INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS login_requests (
    id TEXT PRIMARY KEY, csrf TEXT NOT NULL, params TEXT NOT NULL, email TEXT, identity_id TEXT,
    registered INTEGER NOT NULL DEFAULT 0, passcode_hash TEXT, passcode_expires_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, sends INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS grants (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, identity_id TEXT, scope TEXT NOT NULL,
    sid TEXT, auth_time INTEGER, revoked INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,
    audience TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS grants_sid ON grants(sid);
CREATE TABLE IF NOT EXISTS codes (
    hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, redirect_uri TEXT NOT NULL, nonce TEXT,
    code_challenge TEXT, expires_at INTEGER NOT NULL, used_at INTEGER);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, used_at INTEGER);
CREATE TABLE IF NOT EXISTS access_tokens (
    jti TEXT PRIMARY KEY, grant_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mailbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL COLLATE NOCASE,
    subject TEXT NOT NULL, body TEXT NOT NULL, passcode TEXT, created_at INTEGER NOT NULL);
"#;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create the data directory {path}: {source}")]
    Dir { path: String, source: std::io::Error },
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
}

/// Opens (creating if needed) the database and its schema.
pub async fn open(storage: &Storage) -> Result<Db, DbError> {
    let (opts, max, label) = match storage {
        Storage::Memory => (
            SqliteConnectOptions::from_str("sqlite::memory:")
                .map_err(|source| DbError::Open { path: ":memory:".into(), source })?,
            1,
            ":memory:".to_string(),
        ),
        Storage::Dir(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| DbError::Dir { path: dir.display().to_string(), source })?;
            let path = dir.join("idp.sqlite3");
            (
                SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(std::time::Duration::from_secs(5)),
                4,
                path.display().to_string(),
            )
        }
    };
    let opts = opts.foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(opts)
        .await
        .map_err(|source| DbError::Open { path: label.clone(), source })?;
    sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(|source| DbError::Open { path: label.clone(), source })?;
    upgrade(&pool).await.map_err(|source| DbError::Open { path: label, source })?;
    Ok(pool)
}

/// Brings a database created by an earlier version up to the schema above.
async fn upgrade(pool: &Db) -> Result<(), sqlx::Error> {
    let (has_audience,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM pragma_table_info('grants') WHERE name = 'audience'")
            .fetch_one(pool)
            .await?;
    if has_audience == 0 {
        match sqlx::query("ALTER TABLE grants ADD COLUMN audience TEXT NOT NULL DEFAULT ''").execute(pool).await {
            // Another process opening the same file added it first.
            Err(e) if e.to_string().contains("duplicate column") => {}
            r => {
                r?;
            }
        }
    }
    Ok(())
}

/// Deletes expired short-lived records. Called periodically.
pub async fn cleanup(db: &Db, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_requests WHERE expires_at < ?").bind(now).execute(db).await?;
    sqlx::query("DELETE FROM codes WHERE expires_at < ?").bind(now - 3600).execute(db).await?;
    sqlx::query("DELETE FROM sessions WHERE expires_at < ?").bind(now).execute(db).await?;
    sqlx::query("DELETE FROM access_tokens WHERE expires_at < ?").bind(now).execute(db).await?;
    sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < ?").bind(now).execute(db).await?;
    // Grants with nothing left to redeem (client-credentials grants once their token expired).
    sqlx::query(
        "DELETE FROM grants WHERE identity_id IS NULL AND created_at < ? AND id NOT IN (SELECT grant_id FROM access_tokens) \
         AND id NOT IN (SELECT grant_id FROM refresh_tokens) AND id NOT IN (SELECT grant_id FROM codes)",
    )
    .bind(now - 3600)
    .execute(db)
    .await?;
    sqlx::query("DELETE FROM mailbox WHERE created_at < ?").bind(now - 24 * 3600).execute(db).await?;
    Ok(())
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_database_of_an_earlier_version_gains_grant_audiences_and_keeps_its_grants() {
        let dir = std::env::temp_dir().join(format!("idp-upgrade-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        {
            let opts = SqliteConnectOptions::new().filename(dir.join("idp.sqlite3")).create_if_missing(true);
            let old = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
            sqlx::raw_sql(
                "CREATE TABLE grants (id TEXT PRIMARY KEY, client_id TEXT NOT NULL, identity_id TEXT, scope TEXT NOT NULL,
                 sid TEXT, auth_time INTEGER, revoked INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
                 INSERT INTO grants (id, client_id, scope, created_at) VALUES ('g1', 'c', 'openid', 1);",
            )
            .execute(&old)
            .await
            .unwrap();
            old.close().await;
        }
        for _ in 0..2 {
            let db = open(&Storage::Dir(dir.clone())).await.unwrap();
            let (audience,): (String,) =
                sqlx::query_as("SELECT audience FROM grants WHERE id = 'g1'").fetch_one(&db).await.unwrap();
            assert_eq!(audience, "", "an old grant has no extra audience");
            db.close().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
