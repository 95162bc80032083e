//! Identity management for admins: the Admin API client (`api`, `machine`),
//! the identity shapes (`model`), the audit trail (`audit`) and who may use
//! them (`AdminPolicy`).
//!
//! The only way to an [`AdminIdentities`] — the service that changes
//! identities — is [`Admin::authorize`] with the signed-in user: there is no
//! other constructor, so no code path can manage identities without the check.
//! Every change is written to the audit trail, whatever its outcome.

pub mod api;
pub mod audit;
pub mod machine;
pub mod model;

use crate::session::SessionUser;
use api::{AdminApi, AdminError};
use audit::{AuditAction, AuditLog, NewAuditEntry};
use model::{Identity, IdentityPage, IdentityState, ListQuery, Traits};

/// Who is an admin: listed emails (verified ones only), listed subjects, or a
/// claim in the ID token (a string equal to `value`, or an array containing it).
#[derive(Debug, Clone, Default)]
pub struct AdminPolicy {
    emails: Vec<String>,
    subjects: Vec<String>,
    claim: Option<(String, String)>,
}

impl AdminPolicy {
    pub fn new(emails: Vec<String>, subjects: Vec<String>, claim: Option<(String, String)>) -> Self {
        Self {
            emails: emails.into_iter().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()).collect(),
            subjects: subjects.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            claim,
        }
    }

    /// Whether anyone at all can be an admin.
    pub fn is_empty(&self) -> bool {
        self.emails.is_empty() && self.subjects.is_empty() && self.claim.is_none()
    }

    pub fn is_admin(&self, user: &SessionUser) -> bool {
        let claim = |name: &str| user.claims.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if self.subjects.contains(&user.sub) {
            return true;
        }
        // An email counts only when the provider vouches for it.
        let verified = claim("email_verified") == Some("true");
        if verified {
            if let Some(email) = user.email.as_deref().map(|e| e.trim().to_lowercase()) {
                if self.emails.contains(&email) {
                    return true;
                }
            }
        }
        match &self.claim {
            Some((name, value)) => match claim(name) {
                Some(v) if v == value => true,
                Some(v) => serde_json::from_str::<Vec<serde_json::Value>>(v)
                    .map(|items| items.iter().any(|i| i.as_str() == Some(value.as_str())))
                    .unwrap_or(false),
                None => false,
            },
            None => false,
        }
    }
}

/// Why the admin service was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdminDenied {
    #[error("the signed-in user is not an admin")]
    NotAdmin,
    #[error("no Admin API is configured (set OIDC_ADMIN_API_URL and the OIDC_ADMIN_CLIENT_* variables)")]
    NotConfigured,
}

/// Identity management as configured: the policy, the Admin API (if any) and the audit trail.
pub struct Admin {
    policy: AdminPolicy,
    api: Option<AdminApi>,
    audit: AuditLog,
}

impl Admin {
    pub fn new(policy: AdminPolicy, api: Option<AdminApi>, audit: AuditLog) -> Self {
        Self { policy, api, audit }
    }

    pub fn is_admin(&self, user: &SessionUser) -> bool {
        self.policy.is_admin(user)
    }

    /// The Admin API client, for metrics (token fetches); it cannot change identities by itself
    /// without an [`AdminIdentities`], which only [`Admin::authorize`] hands out.
    pub fn api(&self) -> Option<&AdminApi> {
        self.api.as_ref()
    }

    /// The identity service for `user`, if they are an admin.
    pub fn authorize<'a>(&'a self, user: &'a SessionUser) -> Result<AdminIdentities<'a>, AdminDenied> {
        if !self.policy.is_admin(user) {
            tracing::warn!(sub = %user.sub, "refused admin access");
            return Err(AdminDenied::NotAdmin);
        }
        let api = self.api.as_ref().ok_or(AdminDenied::NotConfigured)?;
        Ok(AdminIdentities { api, audit: &self.audit, actor: user })
    }
}

/// What an admin can do. Obtainable only from [`Admin::authorize`].
pub struct AdminIdentities<'a> {
    api: &'a AdminApi,
    audit: &'a AuditLog,
    actor: &'a SessionUser,
}

/// How an action ended, as the audit trail says it.
fn outcome<T>(r: &Result<T, AdminError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(AdminError::NotFound) => "not found",
        Err(AdminError::Conflict) => "conflict: email exists",
        Err(AdminError::Invalid(_)) => "invalid",
        Err(_) => "failed",
    }
}

impl AdminIdentities<'_> {
    pub fn actor(&self) -> &SessionUser {
        self.actor
    }

    pub async fn list(&self, q: &ListQuery) -> Result<IdentityPage, AdminError> {
        self.api.list(q).await
    }

    pub async fn get(&self, id: &str) -> Result<Identity, AdminError> {
        self.api.get(id).await
    }

    pub async fn create(&self, traits: &Traits) -> Result<Identity, AdminError> {
        let r = self.api.create(traits, IdentityState::Active).await;
        let id = r.as_ref().ok().map(|i| i.id.as_str());
        self.record(AuditAction::Create, id, Some(&traits.email), outcome(&r)).await;
        r
    }

    /// Replaces the traits, keeping the state.
    pub async fn update(&self, id: &str, traits: &Traits) -> Result<Identity, AdminError> {
        let r = match self.api.get(id).await {
            Ok(current) => self.api.update(id, traits, current.state).await,
            Err(e) => Err(e),
        };
        self.record(AuditAction::Update, Some(id), Some(&traits.email), outcome(&r)).await;
        r
    }

    /// Activates or deactivates, keeping the traits. A deactivated identity is
    /// signed out at the provider and cannot sign in.
    pub async fn set_state(&self, id: &str, state: IdentityState) -> Result<Identity, AdminError> {
        let action = match state {
            IdentityState::Active => AuditAction::Activate,
            IdentityState::Inactive => AuditAction::Deactivate,
        };
        let current = self.api.get(id).await;
        let email = current.as_ref().ok().map(|i| i.traits.email.clone());
        let r = match current {
            Ok(c) => self.api.update(id, &c.traits, state).await,
            Err(e) => Err(e),
        };
        self.record(action, Some(id), email.as_deref(), outcome(&r)).await;
        r
    }

    pub async fn delete(&self, id: &str) -> Result<(), AdminError> {
        let email = self.api.get(id).await.ok().map(|i| i.traits.email);
        let r = self.api.delete(id).await;
        self.record(AuditAction::Delete, Some(id), email.as_deref(), outcome(&r)).await;
        r
    }

    /// One page (0-based) of the audit trail, newest first, and the total.
    pub async fn audit(
        &self,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<audit::AuditEntry>, u64), crate::users::UserStoreError> {
        self.audit.page(page, per_page).await
    }

    /// Ends every sign-in of identity `id` in this app, on every instance (its
    /// `sub` at the provider is the identity id, as with Hanko/Kratos).
    pub async fn end_sessions(
        &self,
        tokens: &crate::tokens::Tokens,
        id: &str,
    ) -> Result<u64, crate::tokens::TokenError> {
        let email = self.api.get(id).await.ok().map(|i| i.traits.email);
        let r = tokens.end_sign_ins(Some(id), None).await;
        let outcome = match &r {
            Ok(n) => format!("ok: {n} ended"),
            Err(_) => "failed".to_string(),
        };
        self.record(AuditAction::EndSessions, Some(id), email.as_deref(), &outcome).await;
        r
    }

    async fn record(&self, action: AuditAction, target_id: Option<&str>, target_email: Option<&str>, outcome: &str) {
        let entry = NewAuditEntry {
            actor_sub: &self.actor.sub,
            actor_email: self.actor.email.as_deref(),
            action,
            target_id,
            target_email,
            outcome,
        };
        tracing::info!(actor = %self.actor.sub, action = action.as_str(), target = ?target_id, outcome, "admin action");
        if let Err(e) = self.audit.record(&entry, crate::unix_now()).await {
            tracing::error!(error = %e, "cannot write the admin audit trail");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(sub: &str, email: &str, verified: bool, extra: &[(&str, &str)]) -> SessionUser {
        let mut claims = vec![("email_verified".to_string(), verified.to_string())];
        claims.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        SessionUser { sub: sub.into(), email: Some(email.into()), signed_in_at: 0, claims }
    }

    #[test]
    fn admins_by_verified_email_subject_or_claim() {
        let p = AdminPolicy::new(vec![" Admin@Example.com ".into()], vec!["sub-42".into()], None);
        assert!(p.is_admin(&user("x", "admin@example.com", true, &[])));
        assert!(p.is_admin(&user("x", "ADMIN@example.com", true, &[])), "emails compare case-insensitively");
        assert!(!p.is_admin(&user("x", "admin@example.com", false, &[])), "an unverified email is not enough");
        assert!(!p.is_admin(&user("x", "user@example.com", true, &[])));
        assert!(p.is_admin(&user("sub-42", "user@example.com", false, &[])));

        let p = AdminPolicy::new(vec![], vec![], Some(("roles".into(), "admin".into())));
        assert!(p.is_admin(&user("x", "u@example.com", false, &[("roles", "[\"staff\",\"admin\"]")])));
        assert!(p.is_admin(&user("x", "u@example.com", false, &[("roles", "admin")])));
        assert!(!p.is_admin(&user("x", "u@example.com", false, &[("roles", "[\"administrator\"]")])));
        assert!(!p.is_admin(&user("x", "u@example.com", false, &[("roles", "superadmin")])));
        assert!(!p.is_admin(&user("x", "u@example.com", false, &[])));
        assert!(AdminPolicy::default().is_empty());
        assert!(!AdminPolicy::default().is_admin(&user("x", "", true, &[])));
    }
}
