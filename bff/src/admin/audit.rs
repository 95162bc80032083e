//! The audit trail of admin actions, kept in the app database beside the
//! user table. Append only: nothing in the app edits or deletes an entry.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::store::Database;

use crate::store::StoreError;

/// What an admin did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditAction {
    Create,
    Update,
    Activate,
    Deactivate,
    Delete,
    EndSessions,
    /// One of the identity's passkeys removed.
    RemovePasskey,
    /// An admin call refused because the provider no longer vouches for the
    /// caller's admin standing (recorded with the claims the session still had).
    AccessRefused,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::Activate => "activate",
            AuditAction::Deactivate => "deactivate",
            AuditAction::Delete => "delete",
            AuditAction::EndSessions => "end sessions",
            AuditAction::RemovePasskey => "remove passkey",
            AuditAction::AccessRefused => "access refused",
        }
    }
}

/// One recorded action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub actor_sub: String,
    pub actor_email: Option<String>,
    /// `create`, `update`, `activate`, `deactivate`, `delete`, `end sessions`, `remove passkey` or `access refused`.
    pub action: String,
    pub target_id: Option<String>,
    pub target_email: Option<String>,
    /// `ok`, or what went wrong (`conflict`, `invalid`, `not found`, `failed`).
    pub outcome: String,
}

/// What to record.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub actor_sub: &'a str,
    pub actor_email: Option<&'a str>,
    pub action: AuditAction,
    pub target_id: Option<&'a str>,
    pub target_email: Option<&'a str>,
    pub outcome: &'a str,
}

/// The audit table.
#[derive(Clone, Debug)]
pub struct AuditLog {
    db: Database,
}

impl AuditLog {
    /// The audit table in `db` (the app database; its migrations make the table).
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub async fn record(&self, e: &NewAuditEntry<'_>, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO admin_audit (at, actor_sub, actor_email, action, target_id, target_email, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now)
        .bind(e.actor_sub)
        .bind(e.actor_email)
        .bind(e.action.as_str())
        .bind(e.target_id)
        .bind(e.target_email)
        .bind(e.outcome)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// One page (0-based) of entries, newest first, and how many there are in all.
    pub async fn page(&self, page: u64, per_page: u64) -> Result<(Vec<AuditEntry>, u64), StoreError> {
        let per_page = per_page.clamp(1, 1000) as i64;
        let offset = i64::try_from(page).unwrap_or(i64::MAX).saturating_mul(per_page);
        let rows = sqlx::query(
            "SELECT id, at, actor_sub, actor_email, action, target_id, target_email, outcome
             FROM admin_audit ORDER BY id DESC LIMIT $1 OFFSET $2",
        )
        .bind(per_page)
        .bind(offset)
        .fetch_all(self.db.pool())
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_audit").fetch_one(self.db.pool()).await?;
        let entries = rows
            .iter()
            .map(|r| AuditEntry {
                id: r.get("id"),
                at: r.get("at"),
                actor_sub: r.get("actor_sub"),
                actor_email: r.get("actor_email"),
                action: r.get("action"),
                target_id: r.get("target_id"),
                target_email: r.get("target_email"),
                outcome: r.get("outcome"),
            })
            .collect();
        Ok((entries, total.max(0) as u64))
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn entries_come_back_newest_first_and_paged() {
        let db = Database::memory().await.unwrap();
        db.migrate(crate::store::APP_MIGRATIONS).await.unwrap();
        let log = AuditLog::new(db);
        for (i, action) in [AuditAction::Create, AuditAction::Update, AuditAction::Delete].into_iter().enumerate() {
            let e = NewAuditEntry {
                actor_sub: "admin",
                actor_email: Some("admin@example.com"),
                action,
                target_id: Some("id-1"),
                target_email: Some("x@example.com"),
                outcome: "ok",
            };
            log.record(&e, 100 + i as i64).await.unwrap();
        }
        let (first, total) = log.page(0, 2).await.unwrap();
        assert_eq!(total, 3);
        assert_eq!(first.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["delete", "update"]);
        let (second, _) = log.page(1, 2).await.unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!((second[0].action.as_str(), second[0].at), ("create", 100));
        assert!(log.page(9, 2).await.unwrap().0.is_empty());
    }
}
