-- Every admin action on an identity: who, what, on which identity, how it ended, when.
CREATE TABLE IF NOT EXISTS admin_audit (
    id           INTEGER PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor_sub    TEXT NOT NULL,
    actor_email  TEXT,
    action       TEXT NOT NULL,
    target_id    TEXT,
    target_email TEXT,
    outcome      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS admin_audit_target ON admin_audit (target_id);
