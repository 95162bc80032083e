//! Who is signed in, read from the server-side session (no network call).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the UI may know about the signed-in user. Holds no OAuth token; the
/// `logout_token` is the per-session CSRF token the sign-out form must send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub sub: String,
    pub email: Option<String>,
    pub logout_token: String,
}

/// The signed-in user, or `None`.
#[server(prefix = "/api", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<UserView>, AppError> {
    let session: tower_sessions::Session = leptos_axum::extract().await.map_err(|e| {
        tracing::error!(error = %e, "no session layer in front of the app");
        AppError::Internal
    })?;
    let auth = bff::session::AuthSession::new(session);
    let internal = |e: bff::session::SessionError| {
        tracing::error!(error = %e, "session read failed");
        AppError::Internal
    };
    let Some(user) = auth.user().await.map_err(internal)? else { return Ok(None) };
    let logout_token = auth.logout_token().await.map_err(internal)?.unwrap_or_default();
    Ok(Some(UserView { sub: user.sub, email: user.email, logout_token }))
}
