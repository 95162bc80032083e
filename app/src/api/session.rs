//! Who is signed in and what the provider and this app know about them.
//! Stable URLs under `/api/`; a call without a session gets 401 JSON.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the UI may know about the signed-in user. Holds no OAuth token; the
/// `logout_token` is the per-session CSRF token the sign-out form must send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub sub: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub needs_onboarding: bool,
    /// What the onboarding form suggests (the display name, else the provider's names, else the email's local part).
    pub suggested_display_name: String,
    pub logout_token: String,
    /// Whether to show admin navigation. Only a hint for the UI: every admin
    /// server function checks again.
    #[serde(default)]
    pub is_admin: bool,
}

impl UserView {
    /// The name to greet the user with.
    pub fn label(&self) -> String {
        self.display_name.clone().or_else(|| self.email.clone()).unwrap_or_else(|| self.sub.clone())
    }
}

/// What `/profile` shows besides fresh userinfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileView {
    /// The verified ID-token claims (no token, no nonce, no token hashes).
    pub id_claims: Vec<(String, String)>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub signed_in_at: i64,
    /// The provider's self-service page (traits, passkeys), when it has one.
    pub provider_profile_url: Option<String>,
    /// The `email_verified` claim.
    pub email_verified: Option<bool>,
    /// How the user authenticated at the provider (the `amr` claim, RFC 8176).
    pub amr: Vec<String>,
    /// The provider's host name (from the `iss` claim), e.g. `login.example.com`.
    pub provider: String,
}

/// The signed-in user, or `None` (from the session and the local user table; no network).
///
/// The server also answers `POST /api/current_user` itself, through
/// [`user_view`] (the same answer, without the server-function machinery:
/// it is the call every page makes).
#[server(prefix = "/api", endpoint = "current_user", client = crate::api::client::AppClient)]
pub async fn current_user() -> Result<Option<UserView>, AppError> {
    use crate::api::server::*;
    let auth = session().await?;
    let bff = bff()?;
    user_view(&auth, &bff).await.map_err(|e| failed(e.what(), e))
}

/// Why [`user_view`] could not answer (logged; the caller gets `AppError::Internal`).
#[cfg(feature = "ssr")]
#[derive(Debug, thiserror::Error)]
pub enum UserViewError {
    #[error(transparent)]
    Session(#[from] bff::session::SessionError),
    #[error(transparent)]
    Users(#[from] bff::users::UserStoreError),
}

#[cfg(feature = "ssr")]
impl bff::store::Outage for UserViewError {
    fn is_outage(&self) -> bool {
        match self {
            UserViewError::Session(e) => e.is_outage(),
            UserViewError::Users(e) => e.is_outage(),
        }
    }
}

#[cfg(feature = "ssr")]
impl UserViewError {
    /// What failed, for the log line.
    pub fn what(&self) -> &'static str {
        match self {
            UserViewError::Session(_) => "session read failed",
            UserViewError::Users(_) => "user lookup failed",
        }
    }
}

/// What [`current_user`] answers for this session.
#[cfg(feature = "ssr")]
pub async fn user_view(
    auth: &bff::session::AuthSession,
    bff: &bff::routes::Bff,
) -> Result<Option<UserView>, UserViewError> {
    let Some(user) = auth.user().await? else { return Ok(None) };
    let logout_token = auth.logout_token().await?.unwrap_or_default();
    let local = bff.users().get(user.sub()).await?;
    Ok(Some(UserView {
        is_admin: bff.admin().is_admin(&user),
        sub: user.sub().to_string(),
        email: user.email().map(str::to_string),
        display_name: local.as_ref().and_then(|l| l.display_name.clone()),
        needs_onboarding: local.as_ref().is_none_or(|l| l.needs_onboarding()),
        suggested_display_name: local.as_ref().map(|l| l.suggested_display_name()).unwrap_or_default(),
        logout_token,
    }))
}

/// Fresh claims from the provider's `/userinfo`, read with the session's
/// access token on the server. The answer must be about the signed-in user.
#[server(prefix = "/api", endpoint = "userinfo", client = crate::api::client::AppClient)]
pub async fn userinfo() -> Result<Vec<(String, String)>, AppError> {
    use crate::api::server::*;
    let (auth, user) = require_user().await?;
    match auth.userinfo().await {
        Ok(Some(claims)) => Ok(claims),
        Ok(None) => Err(fail(AppError::SessionEnded)),
        Err(bff::session::SessionError::Tokens(bff::tokens::TokenError::Unavailable(why))) => {
            tracing::warn!(sub = %user.sub(), error = %why, "no fresh access token");
            Err(fail(AppError::Upstream))
        }
        Err(bff::session::SessionError::Userinfo(bff::oidc::UserinfoError::Unauthorized)) => {
            tracing::info!(sub = %user.sub(), "the provider no longer accepts this session's access token");
            Err(fail(AppError::Upstream))
        }
        Err(bff::session::SessionError::Userinfo(e @ bff::oidc::UserinfoError::SubjectMismatch { .. })) => {
            tracing::error!(error = %e, "userinfo answered for another subject; refusing it");
            Err(fail(AppError::Upstream))
        }
        Err(bff::session::SessionError::Userinfo(e)) => {
            tracing::warn!(error = %e, "userinfo failed");
            Err(fail(AppError::Upstream))
        }
        Err(e) => Err(failed("session read failed", e)),
    }
}

/// The profile page's data: ID-token claims and local settings.
#[server(prefix = "/api", endpoint = "profile", client = crate::api::client::AppClient)]
pub async fn profile() -> Result<ProfileView, AppError> {
    use crate::api::server::*;
    let (_, user) = require_user().await?;
    let bff = bff()?;
    let local = bff.users().get(user.sub()).await.map_err(|e| failed("user lookup failed", e))?;
    Ok(ProfileView {
        id_claims: user.display_claims(),
        display_name: local.as_ref().and_then(|l| l.display_name.clone()),
        email: user.email().map(str::to_string),
        first_seen_at: local.as_ref().map(|l| l.first_seen_at).unwrap_or_default(),
        last_seen_at: local.as_ref().map(|l| l.last_seen_at).unwrap_or_default(),
        signed_in_at: user.signed_in_at(),
        provider_profile_url: bff.account_url().map(str::to_string),
        email_verified: user.claim("email_verified").and_then(|v| v.as_bool()),
        amr: user
            .claim("amr")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        provider: user
            .claim("iss")
            .and_then(|v| v.as_str())
            .and_then(|iss| iss.split("://").nth(1))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .unwrap_or_default(),
    })
}

/// Saves the display name, finishes onboarding and continues to `return_to`
/// (a same-origin path; anything else goes home).
#[server(prefix = "/api", endpoint = "complete_onboarding", client = crate::api::client::AppClient)]
pub async fn complete_onboarding(display_name: String, return_to: Option<String>) -> Result<(), AppError> {
    use crate::api::server::*;
    let (_, user) = require_user().await?;
    let name = bff::users::validate_display_name(&display_name)
        .map_err(|e| fail(AppError::Validation { field: "Display name".into(), message: e.to_string() }))?;
    let now = bff::unix_now();
    let saved =
        bff()?.users().complete_onboarding(user.sub(), &name, now).await.map_err(|e| failed("onboarding save", e))?;
    if !saved {
        return Err(internal("onboarding save", "the signed-in user has no row in the user table"));
    }
    tracing::info!(sub = %user.sub(), "onboarding completed");
    leptos_axum::redirect(bff::ReturnTo::parse_or_root(return_to.as_deref()).as_str());
    Ok(())
}

/// One of the signed-in user's sessions in this app (no token, no session id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// A handle for ending it.
    pub id: String,
    /// E.g. "Firefox on Linux".
    pub device: String,
    pub signed_in_at: i64,
    pub last_seen_at: i64,
    /// The session asking.
    pub current: bool,
}

/// The signed-in user's sessions in this app, newest first.
#[server(prefix = "/api", endpoint = "my_sessions", client = crate::api::client::AppClient)]
pub async fn my_sessions() -> Result<Vec<SessionView>, AppError> {
    use crate::api::server::*;
    let (auth, _) = require_user().await?;
    let list = auth.sign_ins().await.map_err(|e| failed("session list failed", e))?;
    Ok(list
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            device: crate::format::device(s.user_agent.as_deref()),
            signed_in_at: s.signed_in_at,
            last_seen_at: s.last_seen_at,
            current: s.current,
        })
        .collect())
}

/// Ends another of the signed-in user's sessions (this one ends with sign-out).
#[server(prefix = "/api", endpoint = "end_my_session", client = crate::api::client::AppClient)]
pub async fn end_my_session(id: String) -> Result<(), AppError> {
    use crate::api::server::*;
    let (auth, user) = require_user().await?;
    let ended = auth.end_other_sign_in(&id).await.map_err(|e| failed("ending a session failed", e))?;
    if !ended {
        return Err(fail(AppError::NotFound));
    }
    tracing::info!(sub = %user.sub(), "the user ended one of their other sessions");
    Ok(())
}
