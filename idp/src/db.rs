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
    auth_time INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    amr TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS login_requests (
    id TEXT PRIMARY KEY, csrf TEXT NOT NULL, params TEXT NOT NULL, email TEXT, identity_id TEXT,
    registered INTEGER NOT NULL DEFAULT 0, passcode_hash TEXT, passcode_expires_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, sends INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS grants (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, identity_id TEXT, scope TEXT NOT NULL,
    sid TEXT, auth_time INTEGER, revoked INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,
    audience TEXT NOT NULL DEFAULT '', amr TEXT NOT NULL DEFAULT '');
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
-- A recipient's newest messages without reading everyone's (a day of sign-ins is kept).
CREATE INDEX IF NOT EXISTS mailbox_recipient ON mailbox(recipient COLLATE NOCASE, seq);
-- Wrong passcodes per identity across all its login requests, and its passcode lock (with back-off).
CREATE TABLE IF NOT EXISTS passcode_failures (
    identity_id TEXT PRIMARY KEY, window_start INTEGER NOT NULL, failures INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0, lockouts INTEGER NOT NULL DEFAULT 0);
-- Passkeys: id is the WebAuthn credential id (base64url), credential the webauthn-rs Passkey (JSON,
-- public key and sign count; no secret).
CREATE TABLE IF NOT EXISTS passkeys (
    id TEXT PRIMARY KEY, identity_id TEXT NOT NULL, name TEXT NOT NULL, credential TEXT NOT NULL,
    backup_eligible INTEGER NOT NULL DEFAULT 0, sign_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, last_used_at INTEGER);
CREATE INDEX IF NOT EXISTS passkeys_identity ON passkeys(identity_id);
-- A passkey ceremony between its options and its answer (id and binding hashed; taken once).
CREATE TABLE IF NOT EXISTS passkey_ceremonies (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, binding TEXT NOT NULL, identity_id TEXT,
    state TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
"#;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create the data directory {path}: {source}")]
    Dir { path: String, source: std::io::Error },
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot restrict the permissions of {path}: {source}")]
    Permissions { path: String, source: std::io::Error },
}

const DB_FILE: &str = "idp.sqlite3";

/// Creates the data directory (and missing parents) readable by the owner only
/// (0700), whatever the umask, and tightens an existing one.
fn create_private_dir(dir: &std::path::Path) -> Result<(), DbError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let err = |source| DbError::Dir { path: dir.display().to_string(), source };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(err)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)
}

/// Creates the database file with mode 0600 before SQLite does (SQLite gives
/// its `-wal` and `-shm` files the database file's mode).
fn create_private_file(path: &std::path::Path) -> Result<(), DbError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|source| DbError::Permissions { path: path.display().to_string(), source })
}

/// Sets 0600 on the database and its `-wal`/`-shm`/`-journal` files (files of
/// an earlier version may have been created with the umask's mode).
fn restrict_db_files(dir: &std::path::Path) -> Result<(), DbError> {
    use std::os::unix::fs::PermissionsExt;
    let entries = std::fs::read_dir(dir).map_err(|source| DbError::Dir { path: dir.display().to_string(), source })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with(DB_FILE) && path.is_file() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|source| DbError::Permissions { path: path.display().to_string(), source })?;
        }
    }
    Ok(())
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
            create_private_dir(dir)?;
            let path = dir.join(DB_FILE);
            create_private_file(&path)?;
            (
                SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(std::time::Duration::from_secs(5))
                    // WAL with NORMAL: a commit is durable once the WAL is synced at a
                    // checkpoint; a crash of the process loses nothing, a power loss at
                    // most the last commits (never the database), and no fsync per commit.
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal),
                4,
                path.display().to_string(),
            )
        }
    };
    let opts = opts.foreign_keys(true);
    // Switching a new file to WAL and creating the schema need a moment of
    // exclusive access; another process (or a busy machine) may hold it
    // longer than the busy timeout covers, so a busy open is tried again.
    let mut attempt = 0;
    let pool = loop {
        attempt += 1;
        match open_pool(opts.clone(), max).await {
            Err(e) if attempt < 5 && is_busy(&e) => {
                tracing::warn!(path = %label, attempt, "the database is busy; opening it again");
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
            r => break r.map_err(|source| DbError::Open { path: label.clone(), source })?,
        }
    };
    if let Storage::Dir(dir) = storage {
        restrict_db_files(dir)?;
    }
    Ok(pool)
}

async fn open_pool(opts: SqliteConnectOptions, max: u32) -> Result<Db, sqlx::Error> {
    let pool = SqlitePoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(opts)
        .await?;
    sqlx::raw_sql(SCHEMA).execute(&pool).await?;
    upgrade(&pool).await?;
    Ok(pool)
}

/// SQLITE_BUSY or SQLITE_LOCKED.
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "5" || c == "6")
}

/// Brings a database created by an earlier version up to the schema above.
async fn upgrade(pool: &Db) -> Result<(), sqlx::Error> {
    // (table, column) pairs added since the first schema; all default to ''.
    for (table, column) in [("grants", "audience"), ("grants", "amr"), ("sessions", "amr")] {
        let (has,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?")
            .bind(table)
            .bind(column)
            .fetch_one(pool)
            .await?;
        if has > 0 {
            continue;
        }
        let sql = format!("ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL DEFAULT ''");
        match sqlx::query(&sql).execute(pool).await {
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
    sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at < ?").bind(now).execute(db).await?;
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
    // Failure counts and locks nobody has touched for a month.
    sqlx::query("DELETE FROM passcode_failures WHERE window_start < ?1 AND locked_until < ?1")
        .bind(now - 30 * 24 * 3600)
        .execute(db)
        .await?;
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
            let (amr,): (String,) =
                sqlx::query_as("SELECT amr FROM grants WHERE id = 'g1'").fetch_one(&db).await.unwrap();
            assert_eq!(amr, "", "nor a recorded sign-in method");
            db.close().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_data_dir_is_private_and_every_database_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let parent = std::env::temp_dir().join(format!("idp-modes-{}", uuid::Uuid::new_v4()));
        let dir = parent.join("nested").join("idp");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let db = open(&Storage::Dir(dir.clone())).await.unwrap();
        sqlx::query("INSERT INTO mailbox (recipient, subject, body, created_at) VALUES ('a', 'b', 'c', 1)")
            .execute(&db)
            .await
            .unwrap();
        cleanup(&db, now()).await.unwrap();
        assert_eq!(mode(&dir), 0o700, "the data directory");
        assert_eq!(mode(&parent.join("nested")), 0o700, "a created parent");
        let names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        for suffix in ["", "-wal", "-shm"] {
            assert!(names.contains(&format!("{DB_FILE}{suffix}")), "{names:?}");
        }
        for name in &names {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
        db.close().await;
        // An existing directory and files with loose modes are tightened on open.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join(DB_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        let db = open(&Storage::Dir(dir.clone())).await.unwrap();
        assert_eq!(mode(&dir), 0o700);
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            assert_eq!(mode(&e.path()), 0o600, "{:?}", e.file_name());
        }
        db.close().await;
        let _ = std::fs::remove_dir_all(&parent);
    }
}
