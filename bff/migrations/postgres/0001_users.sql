-- Local users, keyed by the provider's subject.
CREATE TABLE IF NOT EXISTS users (
    sub           TEXT PRIMARY KEY,
    email         TEXT,
    first_name    TEXT,
    last_name     TEXT,
    display_name  TEXT,
    onboarded_at  BIGINT,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);
