//! Identity management for admins (`/api/admin_*`). Each function checks on
//! the server that the caller is signed in (401) and an admin (403) before
//! anything else: the identity service is only reachable through that check
//! (`bff::admin::Admin::authorize`). Neither the admin's nor the server's
//! token is ever part of an answer.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use rules::identity::IdentityState;
#[cfg(feature = "ssr")]
use rules::{notice::Notice, paths};

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::forms::FieldError;

/// One identity as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRow {
    pub id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub academic_degree: Option<String>,
    pub state: IdentityState,
    /// RFC 3339 as the provider says it.
    pub created_at: String,
    /// The same in Unix seconds (0 when the provider's time is unreadable).
    #[serde(default)]
    pub created_unix: i64,
}

/// One identity with what only its own page shows. Kept apart from
/// [`IdentityRow`], which the identity form's island receives: the bundle
/// does not carry what the island never reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityDetail {
    #[serde(flatten)]
    pub row: IdentityRow,
    /// The identity's passkeys at the provider; `None` when it has some but
    /// the provider does not list them.
    pub passkeys: Option<Vec<PasskeyRow>>,
}

/// One passkey of an identity, as the provider lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyRow {
    /// The credential id (what removing it names).
    pub id: String,
    pub name: String,
    /// Unix seconds, when the provider says in a readable form.
    pub added_unix: Option<i64>,
    pub last_used: LastUsed,
}

/// When a passkey was last used, as far as the provider says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LastUsed {
    /// The provider does not say (Kratos does not).
    Unknown,
    Never,
    /// Unix seconds.
    At(i64),
}

impl IdentityRow {
    /// "Dr. Ada Lovelace", or "" without a name.
    pub fn full_name(&self) -> String {
        [self.academic_degree.as_deref(), self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A page of the identity table (1-based pages, as in the URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityList {
    pub rows: Vec<IdentityRow>,
    pub page: u64,
    pub per_page: u64,
    /// All identities matching the filter, when the provider says.
    pub total: Option<u64>,
    /// The number of pages, when the total is known.
    pub pages: Option<u64>,
    pub has_next: bool,
    pub has_prev: bool,
    /// The search that produced this page, when there was one (words, state or order).
    pub search: Option<SearchCounts>,
}

/// What a search found: how many identities were read, how many match, and
/// how the matches of the words split by state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchCounts {
    pub scanned: u64,
    pub matching: u64,
    pub active: u64,
    pub inactive: u64,
    /// Only the first identities were searched (the provider holds more).
    pub truncated: bool,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
}

/// A page of the audit trail, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditList {
    pub rows: Vec<AuditRow>,
    pub page: u64,
    pub pages: u64,
    pub total: u64,
}

/// The page size of the identity table: one of 25, 50, 100 (default 25).
pub fn page_size(requested: Option<u64>) -> u64 {
    match requested {
        Some(n) if [25, 50, 100].contains(&n) => n,
        _ => 25,
    }
}

/// Entries per page of the audit trail.
pub const AUDIT_PER_PAGE: u64 = 50;

#[cfg(feature = "ssr")]
mod server {
    use bff::admin::api::AdminError;
    use bff::admin::model::{Identity, Name, Passkeys, Traits};
    use bff::admin::{AdminDenied, AdminIdentities};
    use bff::routes::Bff;

    use super::{FieldError, IdentityDetail, IdentityRow, LastUsed, PasskeyRow};
    use crate::api::server::{fail, failed, session};
    use crate::error::AppError;
    use crate::forms::IdentityForm;

    /// The identity service for the signed-in admin, their standing confirmed
    /// with the provider when it is older than the recheck interval: 401 for
    /// nobody, 403 for anyone else, 502 when the provider cannot confirm it.
    pub(super) async fn authorize(bff: &Bff) -> Result<AdminIdentities<'_>, AppError> {
        let auth = session().await?;
        bff.admin().authorize_session(&auth).await.map_err(|e| match e {
            AdminDenied::SignedOut => fail(AppError::Unauthenticated),
            AdminDenied::NotAdmin | AdminDenied::Unconfirmed => fail(AppError::Forbidden),
            AdminDenied::ProviderUnavailable(_) => fail(AppError::Upstream),
            AdminDenied::NotConfigured => {
                tracing::error!(error = %e, "identity management requested");
                fail(AppError::NotConfigured)
            }
            AdminDenied::Session(e) => failed("session read failed", e),
        })
    }

    /// What the admin sees for each Admin API failure; causes are logged.
    pub(super) fn admin_error(e: AdminError) -> AppError {
        match e {
            AdminError::NotFound => fail(AppError::NotFound),
            AdminError::NotRemoved => fail(AppError::Validation {
                field: "passkey".into(),
                message: "The identity provider did not remove this passkey (it may not remove passkeys one by one). \
Remove it in the provider's own console."
                    .into(),
            }),
            AdminError::Conflict => {
                fail(AppError::Fields(vec![FieldError::new("email", "An identity with this email already exists.")]))
            }
            AdminError::Invalid(errors) => fail(AppError::Fields(
                errors.into_iter().map(|e| FieldError { field: e.field, message: e.message }).collect(),
            )),
            e @ (AdminError::Refused(_) | AdminError::Token(_)) => {
                tracing::error!(error = %e, "the Admin API refused this server");
                fail(AppError::Upstream)
            }
            e => {
                tracing::warn!(error = %e, "Admin API call failed");
                fail(AppError::Upstream)
            }
        }
    }

    pub(super) fn parse_form(email: &str, first: &str, last: &str, degree: &str) -> Result<Traits, AppError> {
        let f = IdentityForm::parse(email, first, last, degree).map_err(|errs| fail(AppError::Fields(errs)))?;
        Ok(Traits {
            email: f.email,
            name: Name { first: f.first_name, last: f.last_name, academic_degree: f.academic_degree },
        })
    }

    pub(super) fn detail(i: Identity) -> IdentityDetail {
        let passkeys = match i.passkeys() {
            Passkeys::None => Some(Vec::new()),
            Passkeys::Unlisted => None,
            Passkeys::Listed(keys) => Some(
                keys.iter()
                    .map(|p| PasskeyRow {
                        id: p.id.clone(),
                        name: p.display_name.clone(),
                        added_unix: p.added_unix(),
                        last_used: match p.last_used_unix() {
                            None => LastUsed::Unknown,
                            Some(None) => LastUsed::Never,
                            Some(Some(t)) => LastUsed::At(t),
                        },
                    })
                    .collect(),
            ),
        };
        IdentityDetail { row: row(i), passkeys }
    }

    pub(super) fn row(i: Identity) -> IdentityRow {
        let created_unix = i.created_unix();
        IdentityRow {
            id: i.id,
            email: i.traits.email,
            first_name: i.traits.name.first,
            last_name: i.traits.name.last,
            academic_degree: i.traits.name.academic_degree,
            state: i.state,
            created_unix,
            created_at: i.created_at,
        }
    }

    pub(super) fn check_id(id: &str) -> Result<&str, AppError> {
        let id = id.trim();
        // `.` and `..` would be dropped from the Admin API's URL path, naming another resource.
        if id.is_empty() || id.len() > 128 || id == "." || id == ".." {
            return Err(fail(AppError::NotFound));
        }
        Ok(id)
    }

    /// A passkey's credential id as providers write it: base64 or base64url,
    /// up to WebAuthn's 1023 bytes.
    pub(super) fn check_passkey_id(id: &str) -> Result<&str, AppError> {
        let id = id.trim();
        let ok = !id.is_empty()
            && id.len() <= 1400
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_+/=".contains(&b));
        if !ok {
            return Err(fail(AppError::NotFound));
        }
        Ok(id)
    }

    pub(super) fn audit_error(e: bff::store::StoreError) -> AppError {
        failed("audit trail read failed", e)
    }
}

/// A page of identities (1-based): the provider's own paging, optionally
/// only the one with `email`; or, given words (`q`, matched against email
/// and name), a `state` or a `sort` (`newest`, `oldest`), a search over the
/// identities the provider lists (see `bff::admin::AdminIdentities::search`).
#[server(prefix = "/api", endpoint = "admin_list_identities", client = crate::api::client::AppClient)]
pub async fn admin_list_identities(
    page: Option<u64>,
    per_page: Option<u64>,
    email: Option<String>,
    #[server(default)] q: Option<String>,
    #[server(default)] state: Option<String>,
    #[server(default)] sort: Option<String>,
) -> Result<IdentityList, AppError> {
    use self::server::*;
    use crate::api::server::*;
    use bff::admin::model::{page_count, SearchQuery, Sort};
    let bff = bff()?;
    let admin = authorize(&bff).await?;
    let per_page = page_size(per_page);
    let page = page.unwrap_or(1).max(1);
    let search = SearchQuery {
        text: q.map(|t| t.trim().chars().take(200).collect::<String>()).filter(|t| !t.is_empty()),
        email: email.as_deref().map(str::trim).filter(|e| !e.is_empty()).map(str::to_string),
        state: state.as_deref().and_then(IdentityState::parse),
        sort: sort.as_deref().map(Sort::parse).unwrap_or_default(),
        page: page - 1,
        per_page,
    };
    if search.needs_scan() {
        let found = admin.search(&search).await.map_err(admin_error)?;
        let pages = page_count(found.matching, per_page);
        return Ok(IdentityList {
            has_next: page < pages,
            has_prev: page > 1,
            rows: found.items.into_iter().map(row).collect(),
            page,
            per_page,
            total: Some(found.matching),
            pages: Some(pages),
            search: Some(SearchCounts {
                scanned: found.scanned,
                matching: found.matching,
                active: found.active,
                inactive: found.inactive,
                truncated: found.truncated,
            }),
        });
    }
    let q = bff::admin::model::ListQuery { page: page - 1, per_page, email: search.email };
    let p = admin.list(&q).await.map_err(admin_error)?;
    let pages = p.total.map(|t| page_count(t, per_page));
    Ok(IdentityList {
        has_next: p.next.is_some() || pages.is_some_and(|n| page < n),
        has_prev: page > 1,
        rows: p.items.into_iter().map(row).collect(),
        page,
        per_page,
        total: p.total,
        pages,
        search: None,
    })
}

/// One identity.
#[server(prefix = "/api", endpoint = "admin_get_identity", client = crate::api::client::AppClient)]
pub async fn admin_get_identity(id: String) -> Result<IdentityDetail, AppError> {
    use self::server::*;
    use crate::api::server::*;
    let bff = bff()?;
    let admin = authorize(&bff).await?;
    admin.get_detail(check_id(&id)?).await.map(detail).map_err(admin_error)
}

/// Creates an active identity, then shows it.
#[server(prefix = "/api", endpoint = "admin_create_identity", client = crate::api::client::AppClient)]
pub async fn admin_create_identity(
    email: String,
    first_name: String,
    last_name: String,
    academic_degree: String,
) -> Result<String, AppError> {
    use self::server::*;
    use crate::api::server::*;
    let bff = bff()?;
    let admin = authorize(&bff).await?;
    let traits = parse_form(&email, &first_name, &last_name, &academic_degree)?;
    let created = admin.create(&traits).await.map_err(admin_error)?;
    leptos_axum::redirect(&paths::admin_identity(&created.id, Some(Notice::Created)));
    Ok(created.id)
}

/// Replaces an identity's traits (its state stays).
#[server(prefix = "/api", endpoint = "admin_update_identity", client = crate::api::client::AppClient)]
pub async fn admin_update_identity(
    id: String,
    email: String,
    first_name: String,
    last_name: String,
    academic_degree: String,
) -> Result<(), AppError> {
    use self::server::*;
    use crate::api::server::*;
    let bff = bff()?;
    let admin = authorize(&bff).await?;
    let id = check_id(&id)?;
    let traits = parse_form(&email, &first_name, &last_name, &academic_degree)?;
    admin.update(id, &traits).await.map_err(admin_error)?;
    leptos_axum::redirect(&paths::admin_identity(id, Some(Notice::Saved)));
    Ok(())
}

/// Activates (`state=active`) or deactivates (`state=inactive`) an identity.
#[server(prefix = "/api", endpoint = "admin_set_identity_state", client = crate::api::client::AppClient)]
pub async fn admin_set_identity_state(id: String, state: String) -> Result<(), AppError> {
    use self::server::*;
    use crate::api::server::*;
    let bff = bff()?;
    let admin = authorize(&bff).await?;
    let id = check_id(&id)?;
    let Some(state) = IdentityState::parse(&state) else {
        return Err(fail(AppError::Validation { field: "state".into(), message: "must be active or inactive".into() }));
    };
    admin.set_state(id, state).await.map_err(admin_error)?;
    leptos_axum::redirect(&paths::admin_identity(id, Some(Notice::for_state(state))));
    Ok(())
}

/// Ends every session of an identity in this app (on every instance).
#[server(prefix = "/api", endpoint = "admin_end_sessions", client = crate::api::client::AppClient)]
pub async fn admin_end_sessions(id: String) -> Result<(), AppError> {
    use self::server::*;
    use crate::api::server::*;
    let bff = bff()?;
    let admin = authorize(&bff).await?;
    let id = check_id(&id)?;
    bff.end_sessions(&admin, id).await.map_err(|e| failed("ending sessions failed", e))?;
    leptos_axum::redirect(&paths::admin_identity(id, Some(Notice::SessionsEnded)));
    Ok(())
}

/// Removes one passkey of an identity at the provider (audited).
#[server(prefix = "/api", endpoint = "admin_remove_passkey", client = crate::api::client::AppClient)]
pub async fn admin_remove_passkey(id: String, passkey: String) -> Result<(), AppError> {
    use self::server::*;
    use crate::api::server::*;
    let bff = bff()?;
    let admin = authorize(&bff).await?;
    let id = check_id(&id)?;
    let passkey = check_passkey_id(&passkey)?;
    admin.remove_passkey(id, passkey).await.map_err(admin_error)?;
    leptos_axum::redirect(&paths::admin_identity(id, Some(Notice::PasskeyRemoved)));
    Ok(())
}

/// Deletes an identity; `confirm` must be `delete` (the confirmation step's form sends it).
#[server(prefix = "/api", endpoint = "admin_delete_identity", client = crate::api::client::AppClient)]
pub async fn admin_delete_identity(id: String, confirm: String) -> Result<(), AppError> {
    use self::server::*;
    use crate::api::server::*;
    let bff = bff()?;
    let admin = authorize(&bff).await?;
    let id = check_id(&id)?;
    if confirm != "delete" {
        return Err(fail(AppError::Validation {
            field: "confirm".into(),
            message: "confirm the deletion on the confirmation page".into(),
        }));
    }
    admin.delete(id).await.map_err(admin_error)?;
    leptos_axum::redirect(&format!("{}?notice={}", paths::ADMIN_IDENTITIES, Notice::Deleted.code()));
    Ok(())
}

/// A page (1-based) of the audit trail, newest first.
#[server(prefix = "/api", endpoint = "admin_audit", client = crate::api::client::AppClient)]
pub async fn admin_audit(page: Option<u64>) -> Result<AuditList, AppError> {
    use self::server::*;
    use crate::api::server::*;
    let bff = bff()?;
    let admin = authorize(&bff).await?;
    let page = page.unwrap_or(1).max(1);
    let (entries, total) = admin.audit(page - 1, AUDIT_PER_PAGE).await.map_err(audit_error)?;
    Ok(AuditList {
        rows: entries
            .into_iter()
            .map(|e| AuditRow {
                at: e.at,
                actor: e.actor_email.unwrap_or(e.actor_sub),
                action: e.action,
                target: e.target_email.or(e.target_id).unwrap_or_default(),
                outcome: e.outcome,
            })
            .collect(),
        page,
        pages: total.div_ceil(AUDIT_PER_PAGE).max(1),
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_the_offered_ones() {
        assert_eq!(page_size(None), 25);
        assert_eq!(page_size(Some(100)), 100);
        assert_eq!(page_size(Some(50)), 50);
        assert_eq!(page_size(Some(7)), 25);
        assert_eq!(page_size(Some(100_000)), 25);
    }

    #[test]
    fn rows_show_names_and_dates() {
        let r = IdentityRow {
            id: "1".into(),
            email: "a@example.com".into(),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            academic_degree: Some("Dr.".into()),
            state: IdentityState::Active,
            created_at: "2026-11-24T19:40:12Z".into(),
            created_unix: 1_795_981_212,
        };
        assert_eq!(r.full_name(), "Dr. Ada Lovelace");
    }
}
