//! Sign-in and sign-out as plain axum routes (seed 000): `GET /login` starts
//! the code flow and receives the provider's redirect; `POST /logout` ends the
//! session here and at the provider; `GET /logout` is where the provider
//! returns after sign-out; `POST /backchannel-logout` receives the provider's
//! logout tokens.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_sessions::Session;
use url::Url;

use crate::metrics::{metrics, SignInFailure};
use crate::oidc::RelyingParty;
use crate::session::AuthSession;
use crate::users::{Profile, UserStore};
use crate::{unix_now as now, ReturnTo};

/// The server side of sign-in: the provider, the sessions' tokens, the users
/// and identity management. Its parts are private: code outside `bff` reaches
/// a session through [`Bff::session`], the Admin API only through
/// [`crate::admin::Admin::authorize`], and never a token.
///
/// ```
/// // Its services are reachable…
/// fn users(bff: &bff::routes::Bff) -> &bff::users::UserStore { bff.users() }
/// ```
///
/// ```compile_fail,E0616
/// // …the sessions' token store is not.
/// fn peek(bff: &bff::routes::Bff) -> &bff::tokens::Tokens { &bff.tokens }
/// ```
pub struct Bff {
    rp: RelyingParty,
    public_url: Url,
    users: UserStore,
    session_lifetime_secs: i64,
    account_url: Option<String>,
    admin: crate::admin::Admin,
    tokens: crate::tokens::Tokens,
    decoded: std::sync::Arc<crate::session::DecodedSessions>,
    pending: crate::pending::PendingCookie,
    stylesheet_href: String,
}

/// What [`Bff::new`] is made of.
pub struct BffParts {
    pub rp: RelyingParty,
    /// The app's public origin, e.g. `http://127.0.0.1:3000`.
    pub public_url: Url,
    pub users: UserStore,
    /// The absolute session lifetime in seconds (the idle timeout is the session layer's).
    pub session_lifetime_secs: i64,
    /// The provider's self-service account page (Hanko: `<issuer>/profile`), if any.
    pub account_url: Option<String>,
    /// Identity management for admins.
    pub admin: crate::admin::Admin,
    /// The sessions' tokens (sealed, refreshed single-flight).
    pub tokens: crate::tokens::Tokens,
    /// Logins in flight, each sealed in its own short-lived cookie (no server-side state for anonymous visitors).
    pub pending: crate::pending::PendingCookie,
    /// Where the site's stylesheet is served (its name carries a hash when
    /// the build hashes file names), for the pages this module renders itself.
    pub stylesheet_href: String,
}

impl Bff {
    /// How many sign-ins the token store holds (`None`: it cannot tell cheaply).
    pub async fn active_sessions(&self) -> Result<Option<i64>, crate::tokens::TokenError> {
        self.tokens.count_active(now()).await
    }

    /// Whether the provider answers (see [`RelyingParty::reachable`]), for readiness checks.
    pub async fn provider_reachable(&self) -> bool {
        self.rp.reachable().await
    }

    pub fn new(p: BffParts) -> Self {
        Self {
            rp: p.rp,
            public_url: p.public_url,
            users: p.users,
            session_lifetime_secs: p.session_lifetime_secs,
            account_url: p.account_url,
            admin: p.admin,
            decoded: std::sync::Arc::new(crate::session::DecodedSessions::new(&p.tokens)),
            tokens: p.tokens,
            pending: p.pending,
            stylesheet_href: p.stylesheet_href,
        }
    }

    /// The typed session of a request.
    pub fn session(&self, session: Session) -> AuthSession {
        AuthSession::new(session, self.tokens.clone(), self.decoded.clone())
    }

    /// The app's local user records (display names, onboarding).
    pub fn users(&self) -> &UserStore {
        &self.users
    }

    /// Who may manage identities, and the way to do it ([`crate::admin::Admin::authorize`]).
    pub fn admin(&self) -> &crate::admin::Admin {
        &self.admin
    }

    /// The provider's self-service account page, if any.
    pub fn account_url(&self) -> Option<&str> {
        self.account_url.as_deref()
    }

    /// The app's public origin.
    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// Ends every sign-in of identity `id` in this app, on every instance, as
    /// the admin `by` (audited).
    pub async fn end_sessions(
        &self,
        by: &crate::admin::AdminIdentities<'_>,
        id: &str,
    ) -> Result<u64, crate::tokens::TokenError> {
        by.end_sessions(&self.tokens, id).await
    }
}

/// `/onboarding?return_to=…`: where a user goes before onboarding is done.
pub fn onboarding_href(return_to: &ReturnTo) -> String {
    rules::paths::onboarding(return_to.as_str())
}

pub fn router<S: Clone + Send + Sync + 'static>(bff: Arc<Bff>) -> Router<S> {
    Router::new()
        .route(rules::paths::LOGIN, get(login))
        .route(rules::paths::LOGOUT, get(after_logout).post(logout))
        .route(crate::backchannel::PATH, axum::routing::post(backchannel_logout))
        .with_state(bff)
}

/// `POST /backchannel-logout` (OIDC Back-Channel Logout 1.0): a verified,
/// never-seen logout token ends the sign-ins it names, on every instance.
/// Anything else is a 400 and touches nothing.
async fn backchannel_logout(State(bff): State<Arc<Bff>>, Form(f): Form<HashMap<String, String>>) -> Response {
    let json = |status: StatusCode, body: serde_json::Value| {
        let mut r = (status, axum::Json(body)).into_response();
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    };
    let refuse = |why: String| {
        tracing::warn!(reason = ?why, "back-channel logout refused");
        metrics().backchannel_logout("refused");
        json(StatusCode::BAD_REQUEST, serde_json::json!({"error": "invalid_request", "error_description": why}))
    };
    let Some(token) = f.get("logout_token") else { return refuse("logout_token is missing".into()) };
    let claims = match bff.rp.verify_logout_token(token, now()).await {
        Ok(c) => c,
        Err(e) => return refuse(e.to_string()),
    };
    let store_error = |e: crate::tokens::TokenError| {
        use crate::store::Outage as _;
        tracing::error!(error = %e, "back-channel logout: token store failure");
        // The provider retries a logout it could not deliver: 503 says "later".
        let status = if e.is_outage() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
        metrics().backchannel_logout("error");
        json(status, serde_json::json!({"error": "server_error"}))
    };
    match bff.tokens.remember_logout_jti(&claims.jti, claims.remember_until).await {
        Ok(true) => {}
        Ok(false) => return refuse(crate::backchannel::LogoutTokenError::Replayed.to_string()),
        Err(e) => return store_error(e),
    }
    match bff.tokens.end_sign_ins(claims.sub.as_deref(), claims.sid.as_deref()).await {
        Ok(n) => {
            tracing::info!(sub = ?claims.sub, sid = ?claims.sid, sessions = n, "back-channel logout");
            metrics().backchannel_logout("ok");
            json(StatusCode::OK, serde_json::json!({}))
        }
        Err(e) => {
            // Not carried out: the provider's retry of this token must not be refused as a replay.
            if let Err(forget) = bff.tokens.forget_logout_jti(&claims.jti).await {
                tracing::warn!(error = %forget, "back-channel logout: its token id stays remembered");
            }
            store_error(e)
        }
    }
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The friendly page every sign-in failure ends on: what happened and a way back.
fn failure(bff: &Bff, status: StatusCode, message: &str, return_to: &ReturnTo) -> Response {
    let again = rules::paths::login(return_to.as_str());
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Sign-in failed · Gatehouse</title>\
<link rel=\"stylesheet\" href=\"{}\"></head><body><div class=\"shell\"><header class=\"header\"><a class=\"brand\" href=\"/\">Gatehouse</a></header>\
<main class=\"main\" id=\"main\"><section class=\"panel panel--error\" data-testid=\"signin-error\" role=\"alert\">\
<h1>Sign-in did not complete</h1><p>{}</p><div class=\"actions\"><a class=\"button\" href=\"{}\" data-testid=\"signin-retry\">Try again</a> \
<a class=\"button button--secondary\" href=\"/\">Home</a></div></section></main></div></body></html>",
        escape(&bff.stylesheet_href),
        escape(message),
        escape(&again)
    );
    let mut r = (status, Html(body)).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#x27;")
}

fn store_failure(bff: &Bff, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "session store failure during sign-in");
    failure(
        bff,
        StatusCode::INTERNAL_SERVER_ERROR,
        "We could not save your session. Please try again.",
        &ReturnTo::root(),
    )
}

/// What `/login` says while the provider does not answer (503, `Retry-After: 5`).
pub const PROVIDER_DOWN: &str = "The identity provider is not reachable right now — try again in a moment.";

/// `GET /login`: starts sign-in, or finishes it when the provider comes back
/// with `code` + `state` (or `error`). Logins in flight live in a sealed
/// cookie: nothing is stored for a visitor who is not signed in, and a
/// callback with an unknown `state` writes nothing.
async fn login(
    State(bff): State<Arc<Bff>>,
    session: Session,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let auth = bff.session(session);
    let return_to = ReturnTo::parse_or_root(q.get("return_to").map(String::as_str));
    let with_cookies = |mut r: Response, set: Vec<HeaderValue>| {
        for v in set {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        r
    };

    if let Some(error) = q.get("error") {
        // The provider refused or the user cancelled; consume the pending login if any.
        let (pending, delete) = match q.get("state") {
            Some(state) => bff.pending.take(&headers, state, now()),
            None => (Err(crate::pending::PendingError::Unknown), None),
        };
        // Logged escaped: the values come from the query string.
        tracing::info!(error = ?crate::clip(error, 200), description = ?q.get("error_description").map(|d| crate::clip(d, 200)), "the provider ended sign-in with an error");
        let message = if error == "access_denied" {
            "Sign-in was cancelled or denied at the identity provider."
        } else {
            "The identity provider could not sign you in."
        };
        metrics().sign_in_failed(SignInFailure::ProviderError);
        let back = pending.map(|p| p.return_to).unwrap_or(return_to);
        return with_cookies(failure(&bff, StatusCode::BAD_REQUEST, message, &back), delete.into_iter().collect());
    }

    if let (Some(code), Some(state)) = (q.get("code"), q.get("state")) {
        let (pending, delete) = bff.pending.take(&headers, state, now());
        let delete: Vec<HeaderValue> = delete.into_iter().collect();
        let pending = match pending {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "sign-in callback with an unknown or replayed state");
                metrics().sign_in_failed(SignInFailure::UnknownState);
                let r = failure(
                    &bff,
                    StatusCode::BAD_REQUEST,
                    "This sign-in link is not valid any more.",
                    &ReturnTo::root(),
                );
                return with_cookies(r, delete);
            }
        };
        // RFC 9207: the response must come from this app's provider (mix-up defence).
        if let Err(e) = bff.rp.check_authorization_response_iss(q.get("iss").map(String::as_str)) {
            tracing::warn!(error = ?e.to_string(), "sign-in refused: the authorization response's issuer");
            metrics().sign_in_failed(SignInFailure::IssuerMismatch);
            let r = failure(
                &bff,
                StatusCode::BAD_GATEWAY,
                "We could not verify your sign-in with the identity provider.",
                &pending.return_to,
            );
            return with_cookies(r, delete);
        }
        let (user, tokens) = match bff.rp.finish(code, &pending).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = ?e.to_string(), "sign-in failed at the code exchange or ID-token validation");
                metrics().sign_in_failed(SignInFailure::Exchange);
                let r = failure(
                    &bff,
                    StatusCode::BAD_GATEWAY,
                    "We could not verify your sign-in with the identity provider.",
                    &pending.return_to,
                );
                return with_cookies(r, delete);
            }
        };
        let profile = Profile {
            sub: user.sub.clone(),
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
        };
        let local = match bff.users.upsert(&profile, now()).await {
            Ok(u) => u,
            Err(e) => {
                metrics().sign_in_failed(SignInFailure::Store);
                return store_failure(&bff, e);
            }
        };
        if let Err(e) = auth
            .login(
                &user,
                tokens,
                now(),
                bff.session_lifetime_secs,
                headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()),
            )
            .await
        {
            metrics().sign_in_failed(SignInFailure::Store);
            return store_failure(&bff, e);
        }
        metrics().sign_in_completed();
        tracing::info!(sub = %user.sub, new = local.needs_onboarding(), "signed in");
        if local.needs_onboarding() {
            return with_cookies(redirect(&onboarding_href(&pending.return_to)), delete);
        }
        return with_cookies(redirect(pending.return_to.as_str()), delete);
    }

    match auth.user().await {
        Ok(Some(_)) => return redirect(return_to.as_str()),
        Ok(None) => {}
        Err(e) => return store_failure(&bff, e),
    }
    // The browser is about to be sent to the provider: if it does not
    // answer, say so here rather than leave the browser at a dead host.
    if !bff.rp.reachable().await {
        metrics().sign_in_failed(SignInFailure::ProviderUnreachable);
        let mut r = failure(&bff, StatusCode::SERVICE_UNAVAILABLE, PROVIDER_DOWN, &return_to);
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return r;
    }
    let (url, state, pending) = bff.rp.start(return_to, now());
    let set = bff.pending.start(&headers, &state, pending, now());
    metrics().sign_in_started();
    with_cookies(redirect(url.as_str()), set)
}

/// `POST /logout` from the app's own form (it must carry the session's logout
/// token): deletes the session, then signs out at the provider.
async fn logout(State(bff): State<Arc<Bff>>, session: Session, Form(f): Form<HashMap<String, String>>) -> Response {
    let auth = bff.session(session);
    let expected = match auth.logout_token().await {
        Ok(Some(t)) => t,
        Ok(None) => return redirect("/"),
        Err(e) => return store_failure(&bff, e),
    };
    let given = f.get("logout_token").map(String::as_str).unwrap_or_default();
    if given.len() != expected.len() || !given.bytes().zip(expected.bytes()).fold(true, |ok, (a, b)| ok & (a == b)) {
        tracing::warn!("sign-out refused: missing or wrong logout token");
        return (StatusCode::FORBIDDEN, Html("<!DOCTYPE html><title>Sign-out refused</title><p>Sign out from the app's own menu.</p><p><a href=\"/\">Home</a></p>")).into_response();
    }
    // The session and its sign-in end here; its refresh token is revoked (or
    // queued for another try, should the provider not answer).
    let id_token = match auth.logout().await {
        Ok(t) => t,
        Err(e) => return store_failure(&bff, e),
    };
    match (bff.rp.end_session_endpoint(), id_token) {
        (Some(end), Some(hint)) => {
            let mut url = end.clone();
            let back = bff.public_url.join(rules::paths::LOGOUT).map(|u| u.to_string()).unwrap_or_default();
            url.query_pairs_mut()
                .append_pair("id_token_hint", &hint)
                .append_pair("post_logout_redirect_uri", &back)
                .append_pair("state", &crate::random_token());
            redirect(url.as_str())
        }
        _ => redirect("/"),
    }
}

/// `GET /logout`: the provider's return after sign-out (or a stray visit).
async fn after_logout() -> Response {
    redirect("/")
}
