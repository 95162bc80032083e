//! Server functions, grouped by area. Each is thin: check who is calling, call a
//! server-side service, map the result to a wire type.

pub mod admin;
pub mod client;
pub mod session;
pub mod system;

/// What every server function needs on the server: the context, the session, errors with their HTTP status.
#[cfg(feature = "ssr")]
pub(crate) mod server {
    use std::sync::Arc;

    use bff::session::{AuthSession, SessionUser};

    use crate::error::AppError;

    /// Answers with `err`'s HTTP status (401, 422, …) instead of 500 — except
    /// for a plain HTML form post (no JavaScript), which must stay the redirect
    /// back to the form that carries the error in its URL (`__err`), where the
    /// page shows it.
    pub(crate) fn fail(err: AppError) -> AppError {
        if plain_form_post() {
            return err;
        }
        if let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(code) = http::StatusCode::from_u16(err.status_code()) {
                opts.set_status(code);
            }
        }
        err
    }

    /// Whether the browser posted a form itself (it accepts HTML), rather than
    /// the app's code calling the server function.
    fn plain_form_post() -> bool {
        leptos::prelude::with_context::<http::request::Parts, _>(|p| {
            p.method == http::Method::POST
                && p.headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("text/html"))
        })
        .unwrap_or(false)
    }

    pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %e, "{what}");
        fail(AppError::Internal)
    }

    /// A failure of a store: 503 when it cannot be reached (logged as a
    /// warning), else as [`internal`].
    pub(crate) fn failed(what: &str, e: impl std::fmt::Display + bff::store::Outage) -> AppError {
        if e.is_outage() {
            tracing::warn!(error = %e, "{what}: a store is unavailable");
            return fail(AppError::Unavailable);
        }
        internal(what, e)
    }

    pub(crate) fn bff() -> Result<Arc<bff::routes::Bff>, AppError> {
        leptos::prelude::use_context::<crate::state::ServerContext>()
            .map(|c| c.bff)
            .ok_or_else(|| internal("server context", "ServerContext missing from Leptos context"))
    }

    pub(crate) async fn session() -> Result<AuthSession, AppError> {
        // Read from the request's extensions in place (extracting would clone
        // every header of the request).
        let session = leptos::prelude::with_context::<http::request::Parts, _>(|p| {
            p.extensions.get::<tower_sessions::Session>().cloned()
        })
        .flatten()
        .ok_or_else(|| internal("no session layer in front of the app", "Session missing from the request"))?;
        Ok(bff()?.session(session))
    }

    /// The signed-in user, or 401.
    pub(crate) async fn require_user() -> Result<(AuthSession, SessionUser), AppError> {
        let auth = session().await?;
        match auth.user().await.map_err(|e| failed("session read failed", e))? {
            Some(u) => Ok((auth, u)),
            None => Err(fail(AppError::Unauthenticated)),
        }
    }
}
