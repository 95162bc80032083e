-- Each sign-in's sealed tokens (one row per sign-in), refresh leases, the
-- revocations to try again and the logout-token ids already seen. In the
-- session database (sessions.sqlite3).
CREATE TABLE IF NOT EXISTS gatehouse_tokens (
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
CREATE UNIQUE INDEX IF NOT EXISTS gatehouse_tokens_public ON gatehouse_tokens(public_id);
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
);
