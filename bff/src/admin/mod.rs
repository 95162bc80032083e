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

use crate::session::{AuthSession, SessionError, SessionUser, Standing};
use api::{AdminApi, AdminError};
use audit::{AuditAction, AuditLog, NewAuditEntry};
use model::{
    Identity, IdentityPage, IdentityState, ListQuery, SearchPage, SearchQuery, Traits, MAX_PER_PAGE, SCAN_LIMIT,
};

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

    /// Claims are judged by their JSON type: `email_verified` must be the
    /// boolean `true`, and the admin claim a string equal to the value or an
    /// array with that string in it (a string that merely reads like an array
    /// does not count).
    pub fn is_admin(&self, user: &SessionUser) -> bool {
        use serde_json::Value;
        if self.subjects.iter().any(|s| s == user.sub()) {
            return true;
        }
        // An email counts only when the provider vouches for it.
        if user.claim("email_verified") == Some(&Value::Bool(true)) {
            if let Some(email) = user.email().map(|e| e.trim().to_lowercase()) {
                if self.emails.contains(&email) {
                    return true;
                }
            }
        }
        match &self.claim {
            Some((name, value)) => match user.claim(name) {
                Some(Value::String(v)) => v == value,
                Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(value.as_str())),
                _ => false,
            },
            None => false,
        }
    }
}

/// Why the admin service was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminDenied {
    /// Nobody is signed in, or the session just ended.
    #[error("nobody is signed in")]
    SignedOut,
    #[error("the signed-in user is not an admin")]
    NotAdmin,
    /// The user's standing is older than the recheck interval: confirm it
    /// with [`AuthSession::confirmed_user`] first ([`Admin::authorize_session`] does).
    #[error("the user's admin standing was not confirmed with the provider recently")]
    Unconfirmed,
    /// The provider could not confirm the user's standing (down, timing out):
    /// admin actions fail closed until it answers.
    #[error("the provider could not confirm the user's standing: {0}")]
    ProviderUnavailable(String),
    #[error("no Admin API is configured (set OIDC_ADMIN_API_URL and the OIDC_ADMIN_CLIENT_* variables)")]
    NotConfigured,
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Identity management as configured: the policy, the Admin API (if any),
/// the audit trail and how old an admin's confirmed standing may be.
pub struct Admin {
    policy: AdminPolicy,
    api: Option<AdminApi>,
    audit: AuditLog,
    recheck_secs: i64,
}

impl Admin {
    /// An admin's standing is confirmed with the provider when it is older
    /// than `recheck_secs` (0: at every admin call).
    pub fn new(policy: AdminPolicy, api: Option<AdminApi>, audit: AuditLog, recheck_secs: i64) -> Self {
        Self { policy, api, audit, recheck_secs: recheck_secs.max(0) }
    }

    /// Whether `user`'s claims make them an admin (for showing admin
    /// navigation; admin calls go through [`Admin::authorize_session`]).
    pub fn is_admin(&self, user: &SessionUser) -> bool {
        self.policy.is_admin(user)
    }

    /// The identity service for `user`, if they are an admin by claims the
    /// provider vouched for within the recheck interval.
    pub fn authorize(&self, user: &SessionUser) -> Result<AdminIdentities<'_>, AdminDenied> {
        if self.policy.is_admin(user) && crate::unix_now().saturating_sub(user.confirmed_at()) > self.recheck_secs {
            tracing::error!(sub = %user.sub(), "admin access with an unconfirmed standing refused");
            return Err(AdminDenied::Unconfirmed);
        }
        self.grant(user)
    }

    /// The identity service for `user`, if the policy makes them an admin
    /// (their claims' age is the caller's to have checked).
    fn grant(&self, user: &SessionUser) -> Result<AdminIdentities<'_>, AdminDenied> {
        if !self.policy.is_admin(user) {
            tracing::warn!(sub = %user.sub(), "refused admin access");
            return Err(AdminDenied::NotAdmin);
        }
        let api = self.api.as_ref().ok_or(AdminDenied::NotConfigured)?;
        Ok(AdminIdentities { api, audit: &self.audit, actor: user.clone() })
    }

    /// The identity service for the session's user: their standing is
    /// confirmed with the provider first when it is older than the recheck
    /// interval. A user the provider refuses, or whose fresh claims no longer
    /// make them an admin, is refused at once and the refusal is audited; a
    /// provider that cannot be asked refuses admin actions (fail closed) and
    /// nothing else.
    pub async fn authorize_session(&self, auth: &AuthSession) -> Result<AdminIdentities<'_>, AdminDenied> {
        let user = match auth.confirmed_user(self.recheck_secs).await? {
            Standing::SignedOut => return Err(AdminDenied::SignedOut),
            Standing::Confirmed(user) => user,
            Standing::Reconfirmed { user, stale } => {
                if self.policy.is_admin(&stale) && !self.policy.is_admin(&user) {
                    tracing::warn!(sub = %user.sub(), "admin access refused: the provider no longer vouches for the admin claims");
                    self.refused(&user, "no longer an admin at the provider").await;
                }
                // Just confirmed: however long the provider took, these claims are current.
                return self.grant(&user);
            }
            Standing::Refused { stale, why, just_now } => {
                if just_now && self.policy.is_admin(&stale) {
                    tracing::warn!(sub = %stale.sub(), reason = %why, "admin access refused: the provider refused the user");
                    self.refused(&stale, "the provider refused the user's tokens").await;
                }
                return Err(AdminDenied::NotAdmin);
            }
            Standing::Unavailable { stale, why } => {
                if !self.policy.is_admin(&stale) {
                    return Err(AdminDenied::NotAdmin);
                }
                tracing::warn!(sub = %stale.sub(), reason = %why, "admin access refused: the provider could not confirm the user");
                return Err(AdminDenied::ProviderUnavailable(why));
            }
        };
        self.authorize(&user)
    }

    async fn refused(&self, actor: &SessionUser, outcome: &str) {
        record(&self.audit, actor, AuditAction::AccessRefused, None, None, outcome).await;
    }
}

/// Writes one audit entry by `actor`; a failure to write is logged.
async fn record(
    audit: &AuditLog,
    actor: &SessionUser,
    action: AuditAction,
    target_id: Option<&str>,
    target_email: Option<&str>,
    outcome: &str,
) {
    let entry =
        NewAuditEntry { actor_sub: actor.sub(), actor_email: actor.email(), action, target_id, target_email, outcome };
    tracing::info!(actor = %actor.sub(), action = action.as_str(), target = ?target_id, outcome, "admin action");
    if let Err(e) = audit.record(&entry, crate::unix_now()).await {
        tracing::error!(error = %e, "cannot write the admin audit trail");
    }
}

/// What an admin can do. Obtainable only from [`Admin::authorize`].
pub struct AdminIdentities<'a> {
    api: &'a AdminApi,
    audit: &'a AuditLog,
    actor: SessionUser,
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
        &self.actor
    }

    pub async fn list(&self, q: &ListQuery) -> Result<IdentityPage, AdminError> {
        self.api.list(q).await
    }

    /// Searches the identities by words in the email or name, state and
    /// creation time. Reads the provider's list a thousand at a time, up to
    /// [`SCAN_LIMIT`] identities, and filters here (the Admin API filters by
    /// exact email only).
    #[tracing::instrument(skip_all)]
    pub async fn search(&self, q: &SearchQuery) -> Result<SearchPage, AdminError> {
        let (all, truncated) = self.api.list_all(MAX_PER_PAGE, SCAN_LIMIT).await?;
        Ok(model::search_in(all, q, truncated))
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

    /// One identity with its passkeys listed, for its own page.
    pub async fn get_detail(&self, id: &str) -> Result<Identity, AdminError> {
        self.api.get_with_credentials(id).await
    }

    /// Removes one of the identity's passkeys at the provider
    /// ([`AdminApi::remove_passkey`]: checked by reading the identity again).
    /// The audit entry names the passkey.
    pub async fn remove_passkey(&self, id: &str, credential_id: &str) -> Result<(), AdminError> {
        let (email, passkey, r) = self.api.remove_passkey(id, credential_id).await;
        // The name is the user's own (at most 60 characters at the local provider; any length elsewhere).
        let name: Option<String> = passkey.map(|p| p.display_name.chars().take(60).collect());
        let outcome = match (&r, name) {
            (Ok(()), Some(name)) => format!("ok: {name:?}"),
            (Err(AdminError::NotRemoved), Some(name)) => format!("failed: {name:?} still listed by the provider"),
            (r, Some(name)) => format!("{}: {name:?}", outcome(r)),
            (r, None) => outcome(r).to_string(),
        };
        self.record(AuditAction::RemovePasskey, Some(id), email.as_deref(), &outcome).await;
        r
    }

    /// One page (0-based) of the audit trail, newest first, and the total.
    pub async fn audit(
        &self,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<audit::AuditEntry>, u64), crate::store::StoreError> {
        self.audit.page(page, per_page).await
    }

    /// Ends every sign-in of identity `id` in this app, on every instance (its
    /// `sub` at the provider is the identity id, as with Hanko/Kratos).
    pub(crate) async fn end_sessions(
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
        record(self.audit, &self.actor, action, target_id, target_email, outcome).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{json, Value};

    fn user(sub: &str, email: &str, verified: Value, extra: &[(&str, Value)]) -> SessionUser {
        let mut claims = vec![("email_verified".to_string(), verified)];
        claims.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        SessionUser::for_tests(sub, Some(email), claims)
    }

    #[test]
    fn admins_by_verified_email_subject_or_claim() {
        let yes = json!(true);
        let p = AdminPolicy::new(vec![" Admin@Example.com ".into()], vec!["sub-42".into()], None);
        assert!(p.is_admin(&user("x", "admin@example.com", yes.clone(), &[])));
        assert!(p.is_admin(&user("x", "ADMIN@example.com", yes.clone(), &[])), "emails compare case-insensitively");
        assert!(!p.is_admin(&user("x", "admin@example.com", json!(false), &[])), "an unverified email is not enough");
        assert!(!p.is_admin(&user("x", "admin@example.com", json!("true"), &[])), "verified means the boolean true");
        assert!(!p.is_admin(&user("x", "user@example.com", yes.clone(), &[])));
        assert!(p.is_admin(&user("sub-42", "user@example.com", json!(false), &[])));

        let p = AdminPolicy::new(vec![], vec![], Some(("roles".into(), "admin".into())));
        let no = json!(false);
        assert!(p.is_admin(&user("x", "u@example.com", no.clone(), &[("roles", json!(["staff", "admin"]))])));
        assert!(p.is_admin(&user("x", "u@example.com", no.clone(), &[("roles", json!("admin"))])));
        assert!(!p.is_admin(&user("x", "u@example.com", no.clone(), &[("roles", json!(["administrator"]))])));
        assert!(!p.is_admin(&user("x", "u@example.com", no.clone(), &[("roles", json!("superadmin"))])));
        // JSON types, not display text: a string that reads like an array is just a string.
        assert!(!p.is_admin(&user("x", "u@example.com", no.clone(), &[("roles", json!("[\"admin\"]"))])));
        assert!(!p.is_admin(&user("x", "u@example.com", no.clone(), &[("roles", json!({"admin": true}))])));
        assert!(!p.is_admin(&user("x", "u@example.com", no.clone(), &[("roles", json!([["admin"]]))])));
        assert!(!p.is_admin(&user("x", "u@example.com", no, &[])));
        assert!(AdminPolicy::default().is_empty());
        assert!(!AdminPolicy::default().is_admin(&user("x", "", yes, &[])));
    }
}
