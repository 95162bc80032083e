//! The authorization endpoint and the login UI behind it, modelled on Hanko:
//! email → (registration for a new email) → a 6-digit passcode from the
//! mailbox → provider session → authorization code. Code flow only.

use std::collections::HashMap;

use axum::extract::{Form, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::html::{error_page, esc, page};
use crate::identity::{self, Identity, IdentityInput, State as IdState};
use crate::oauth::{self, has_scope};
use crate::{db, mailbox, passkey, ratelimit, util, Provider};

pub const SESSION_COOKIE: &str = "idp_session";
const LOGIN_COOKIE: &str = "idp_login";
/// How many sign-ins one browser may have in flight (tabs); the cookie lists their ids.
const MAX_PARALLEL_LOGINS: usize = 4;

/// The login requests this browser started, newest first.
fn login_ids(headers: &HeaderMap) -> Vec<String> {
    util::cookie(headers, LOGIN_COOKIE)
        .unwrap_or_default()
        .split('.')
        .filter(|s| !s.is_empty())
        .take(MAX_PARALLEL_LOGINS)
        .map(str::to_string)
        .collect()
}

/// Whether `id` is one of the login requests this browser started.
fn started_here(headers: &HeaderMap, id: &str) -> bool {
    !id.is_empty() && login_ids(headers).iter().fold(false, |found, c| found | util::secure_eq(id, c))
}
const MAX_PASSCODE_ATTEMPTS: i64 = 3;
const MAX_PASSCODE_SENDS: i64 = 5;

/// "5 minutes", "1 minute", "30 seconds".
fn ttl_text(secs: i64) -> String {
    match secs {
        s if s % 60 == 0 && s / 60 == 1 => "1 minute".into(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

/// A validated authorization request, kept while the user signs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    #[serde(default)]
    pub login_hint: Option<String>,
    /// Resource servers the access token is for (`audience`, space-separated, as Hydra takes it).
    #[serde(default)]
    pub audience: Vec<String>,
}

/// A provider session (the SSO cookie).
#[derive(Debug, Clone)]
pub struct Session {
    pub sid: String,
    pub csrf: String,
    pub identity: Identity,
    pub auth_time: i64,
    /// How the user authenticated (RFC 8176 `amr` values, space-separated), e.g. `otp`.
    pub amr: String,
}

fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `redirect_uri` with response parameters appended (RFC 6749 §4.1.2).
fn redirect_to_client(redirect_uri: &str, params: &[(&str, Option<&str>)]) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect",
            "The application's redirect address is not valid.",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    see_other(url.as_str())
}

fn redirect_error(req: &AuthRequest, issuer: &str, error: &str, description: &str) -> Response {
    redirect_to_client(
        &req.redirect_uri,
        &[
            ("error", Some(error)),
            ("error_description", Some(description)),
            ("state", req.state.as_deref()),
            ("iss", Some(issuer)),
        ],
    )
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = ?e.to_string(), "login flow failure");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The sign-in service failed. Please go back to the application and try again.",
    )
}

/// Reads the provider session from the cookie, if it is valid and its identity active.
pub async fn current_session(provider: &Provider, headers: &HeaderMap) -> Result<Option<Session>, sqlx::Error> {
    let Some(cookie) = util::cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let row: Option<(String, String, String, i64, String)> =
        sqlx::query_as("SELECT sid, csrf, identity_id, auth_time, amr FROM sessions WHERE id = ? AND expires_at > ?")
            .bind(util::hash(&cookie))
            .bind(db::now())
            .fetch_optional(&provider.db)
            .await?;
    let Some((sid, csrf, identity_id, auth_time, amr)) = row else {
        return Ok(None);
    };
    Ok(oauth::active_identity(provider, &identity_id).await?.map(|identity| Session {
        sid,
        csrf,
        identity,
        auth_time,
        amr,
    }))
}

/// `GET /oauth2/auth`
pub async fn authorize(State(provider): State<Provider>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let params = match oauth::single_params(pairs) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Invalid sign-in request", &e),
    };
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());

    // Until client and redirect URI are known to be valid, errors never redirect.
    let Some(client_id) = get("client_id") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid sign-in request",
            "The request names no application (client_id is missing).",
        );
    };
    let Some(client) = provider.config.client(client_id) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Unknown application",
            "The application that sent you here is not registered with this provider.",
        );
    };
    let Some(redirect_uri) = get("redirect_uri") else {
        return error_page(StatusCode::BAD_REQUEST, "Invalid sign-in request", "The request has no redirect_uri.");
    };
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect address",
            "The redirect_uri is not registered for this application, so you cannot be sent back to it.",
        );
    }
    let mut req = AuthRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope: String::new(),
        state: get("state").map(str::to_string),
        nonce: get("nonce").map(str::to_string),
        code_challenge: None,
        login_hint: get("login_hint").map(str::to_string),
        audience: Vec::new(),
    };
    let iss = provider.issuer.to_string();
    let fail = |req: &AuthRequest, e: &str, d: &str| redirect_error(req, &iss, e, d);

    match get("response_type") {
        Some("code") => {}
        None => return fail(&req, "invalid_request", "response_type is missing"),
        Some(_) => return fail(&req, "unsupported_response_type", "only response_type=code is supported"),
    }
    if get("request").is_some() || get("request_uri").is_some() {
        return fail(&req, "request_not_supported", "request objects are not supported");
    }
    if let Some(mode) = get("response_mode") {
        if mode != "query" {
            return fail(&req, "invalid_request", "only response_mode=query is supported");
        }
    }
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return fail(&req, "unauthorized_client", "this client may not use the authorization code flow");
    }
    let scope: Vec<&str> = get("scope").unwrap_or_default().split_whitespace().collect();
    if !scope.contains(&"openid") {
        return fail(&req, "invalid_scope", "the openid scope is required");
    }
    if let Some(s) = scope.iter().find(|s| !client.scopes.iter().any(|c| c == *s)) {
        return fail(&req, "invalid_scope", &format!("the scope {s} is not allowed for this client"));
    }
    let mut unique = Vec::new();
    for s in scope {
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    req.scope = unique.join(" ");
    for a in get("audience").unwrap_or_default().split_whitespace() {
        if !client.audiences.iter().any(|c| c == a) {
            return fail(&req, "invalid_request", &format!("the audience {a} is not allowed for this client"));
        }
        if !req.audience.iter().any(|r| r == a) {
            req.audience.push(a.to_string());
        }
    }

    match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), Some("S256")) => {
            if c.len() != 43 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return fail(
                    &req,
                    "invalid_request",
                    "code_challenge must be a base64url SHA-256 digest (43 characters)",
                );
            }
            req.code_challenge = Some(c.to_string());
        }
        (Some(_), None) | (Some(_), Some("plain")) => {
            return fail(&req, "invalid_request", "code_challenge_method must be S256; plain is not accepted");
        }
        (_, Some(_)) => {
            return fail(&req, "invalid_request", "code_challenge_method must be S256 with a code_challenge")
        }
        (None, None) => {
            if client.auth_method == crate::config::AuthMethod::None {
                return fail(&req, "invalid_request", "PKCE (code_challenge with S256) is required for public clients");
            }
        }
    }

    let prompt: Vec<&str> = get("prompt").unwrap_or_default().split_whitespace().collect();
    if prompt.contains(&"none") && prompt.len() > 1 {
        return fail(&req, "invalid_request", "prompt=none cannot be combined with other values");
    }
    let session = match current_session(&provider, &headers).await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let max_age_expired = match get("max_age").map(str::parse::<i64>) {
        None => false,
        Some(Ok(age)) if age >= 0 => session.as_ref().is_some_and(|s| db::now() - s.auth_time > age),
        Some(_) => return fail(&req, "invalid_request", "max_age must be a non-negative integer"),
    };
    if prompt.contains(&"none") {
        return match session {
            Some(s) if !max_age_expired => issue_code(&provider, &req, &s).await,
            _ => fail(&req, "login_required", "the user is not signed in at the provider"),
        };
    }
    if let Some(s) = session.filter(|_| !prompt.contains(&"login") && !max_age_expired) {
        return issue_code(&provider, &req, &s).await;
    }
    start_login(&provider, &req, &headers).await
}

/// Creates a login request and sends the browser to the email form.
async fn start_login(provider: &Provider, req: &AuthRequest, headers: &HeaderMap) -> Response {
    let id = util::random_token();
    let now = db::now();
    let params = serde_json::to_string(req).unwrap_or_default();
    let res =
        sqlx::query("INSERT INTO login_requests (id, csrf, params, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&id)
            .bind(util::random_token())
            .bind(params)
            .bind(now)
            .bind(now + provider.config.ttl.login_request)
            .execute(&provider.db)
            .await;
    if let Err(e) = res {
        return internal(e);
    }
    let mut r = see_other(&format!("/login?login_challenge={id}"));
    let mut ids = login_ids(headers);
    ids.insert(0, id);
    ids.truncate(MAX_PARALLEL_LOGINS);
    if let Ok(v) =
        HeaderValue::from_str(&util::set_cookie(LOGIN_COOKIE, &ids.join("."), "/", None, provider.secure_cookies()))
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Creates the grant and a single-use code, then redirects to the client.
async fn issue_code(provider: &Provider, req: &AuthRequest, session: &Session) -> Response {
    let user = oauth::GrantUser {
        identity_id: &session.identity.id,
        sid: &session.sid,
        auth_time: session.auth_time,
        amr: &session.amr,
    };
    let grant = match oauth::create_grant(provider, &req.client_id, &req.scope, Some(user), &req.audience).await {
        Ok(g) => g,
        Err(e) => return internal(e),
    };
    let code = util::random_token();
    let res = sqlx::query(
        "INSERT INTO codes (hash, grant_id, redirect_uri, nonce, code_challenge, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(util::hash(&code))
    .bind(&grant.id)
    .bind(&req.redirect_uri)
    .bind(&req.nonce)
    .bind(&req.code_challenge)
    .bind(db::now() + provider.config.ttl.authorization_code)
    .execute(&provider.db)
    .await;
    if let Err(e) = res {
        return internal(e);
    }
    redirect_to_client(
        &req.redirect_uri,
        &[
            ("code", Some(&code)),
            ("scope", Some(&req.scope)),
            ("state", req.state.as_deref()),
            ("iss", Some(&provider.issuer)),
        ],
    )
}

/// A pending login: the stored request plus where the user is in the flow.
struct Pending {
    id: String,
    csrf: String,
    req: AuthRequest,
    email: Option<String>,
    identity_id: Option<String>,
    passcode_hash: Option<String>,
    passcode_expires_at: Option<i64>,
    passcode_ttl: i64,
}

const EXPIRED: &str = "This sign-in attempt has expired or is not valid in this browser. Go back to the application and start signing in again.";

async fn load_pending(provider: &Provider, id: &str) -> Result<Option<Pending>, sqlx::Error> {
    type Row = (String, String, String, Option<String>, Option<String>, Option<String>, Option<i64>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, csrf, params, email, identity_id, passcode_hash, passcode_expires_at FROM login_requests WHERE id = ? AND expires_at > ?",
    )
    .bind(id)
    .bind(db::now())
    .fetch_optional(&provider.db)
    .await?;
    Ok(row.and_then(|r| {
        Some(Pending {
            id: r.0,
            csrf: r.1,
            req: serde_json::from_str(&r.2).ok()?,
            email: r.3,
            identity_id: r.4,
            passcode_hash: r.5,
            passcode_expires_at: r.6,
            passcode_ttl: provider.config.ttl.passcode,
        })
    }))
}

/// A form posted to a login step, accepted only for a live login request that
/// belongs to this browser (cookie) and carries its CSRF token. Every login
/// step takes this extractor, so none can skip the check.
pub struct PendingForm {
    pending: Pending,
    form: HashMap<String, String>,
}

impl axum::extract::FromRequest<Provider> for PendingForm {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, provider: &Provider) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let Form(form) =
            Form::<HashMap<String, String>>::from_request(req, provider).await.map_err(IntoResponse::into_response)?;
        let pending = pending_for_post(provider, &headers, &form).await?;
        Ok(Self { pending, form })
    }
}

/// Loads the login request a form was posted for, checking that it belongs to
/// this browser (cookie) and that the CSRF token matches.
async fn pending_for_post(
    provider: &Provider,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Pending, Response> {
    let id = form.get("login_challenge").map(String::as_str).unwrap_or_default();
    if !started_here(headers, id) {
        return Err(error_page(StatusCode::FORBIDDEN, "Sign-in expired", EXPIRED));
    }
    let pending = match load_pending(provider, id).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(error_page(StatusCode::BAD_REQUEST, "Sign-in expired", EXPIRED)),
        Err(e) => return Err(internal(e)),
    };
    let csrf = form.get("csrf").map(String::as_str).unwrap_or_default();
    if !util::secure_eq(csrf, &pending.csrf) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form could not be verified (CSRF check failed). Reload the page and try again.",
        ));
    }
    Ok(pending)
}

fn hidden(p: &Pending) -> String {
    format!(
        "<input type=\"hidden\" name=\"login_challenge\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&p.id),
        esc(&p.csrf)
    )
}

fn alert(error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"error\" role=\"alert\" data-testid=\"login-error\">{}</p>", esc(e)))
        .unwrap_or_default()
}

/// A page of the login flow: 422 when it shows an error, 200 otherwise.
fn step_page(title: &str, error: Option<&str>, body: &str) -> Response {
    page(if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }, title, body)
}

fn email_form(p: &Pending, email: &str, error: Option<&str>) -> Response {
    step_page(
        "Sign in",
        error,
        &format!(
            "<h1>Sign in or create an account</h1>{}<form method=\"post\" action=\"/login\">{}\
<label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username webauthn\" required value=\"{}\" autofocus>\
<input type=\"hidden\" name=\"passkey\" value=\"\" data-passkey-capable=\"any\">\
<button type=\"submit\">Continue</button></form>{}",
            alert(error),
            hidden(p),
            esc(email),
            passkey_sign_in_button(p),
        ),
    )
}

fn registration_form(p: &Pending, email: &str, error: Option<&str>) -> Response {
    step_page(
        "Create account",
        error,
        &format!(
            "<h1>Create your account</h1><p class=\"info\">No account uses <strong>{}</strong> yet. Tell us your name to create one.</p>{}\
<form method=\"post\" action=\"/login/register\">{}\
<label for=\"first_name\">First name</label><input id=\"first_name\" name=\"first_name\" autocomplete=\"given-name\" required>\
<label for=\"last_name\">Last name <span class=\"muted\">(optional)</span></label><input id=\"last_name\" name=\"last_name\" autocomplete=\"family-name\">\
<button type=\"submit\">Create account</button></form>",
            esc(email),
            alert(error),
            hidden(p)
        ),
    )
}

fn passcode_form(p: &Pending, email: &str, error: Option<&str>) -> Response {
    step_page(
        "Enter passcode",
        error,
        &format!(
            "<h1>Enter your passcode</h1><p class=\"info\">We sent a 6-digit passcode to <strong>{}</strong>. It is valid for {}.</p>{}\
<form method=\"post\" action=\"/login/passcode\">{}\
<label for=\"passcode\">Passcode</label><input id=\"passcode\" name=\"passcode\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" required autofocus>\
<input type=\"hidden\" name=\"passkey\" value=\"\" data-passkey-capable=\"platform\">\
<button type=\"submit\">Sign in</button></form>\
<form method=\"post\" action=\"/login/resend\">{}<button type=\"submit\" class=\"secondary\">Send a new passcode</button></form>",
            esc(email),
            ttl_text(p.passcode_ttl),
            alert(error),
            hidden(p),
            hidden(p)
        ),
    )
}

/// Below the email form: signing in with whichever passkey the browser has
/// (shown by the page's script when the browser can do passkeys).
fn passkey_sign_in_button(p: &Pending) -> String {
    format!(
        "<div class=\"passkey-alt\" data-passkey-only hidden><p class=\"muted\">or</p>\
<p class=\"error\" role=\"alert\" data-testid=\"passkey-error\" data-passkey-status hidden></p>\
<button type=\"button\" class=\"secondary\" data-passkey-signin data-passkey-conditional data-mode=\"discover\" data-challenge=\"{}\" data-csrf=\"{}\" \
data-testid=\"passkey-signin\">Sign in with a passkey</button></div>",
        esc(&p.id),
        esc(&p.csrf)
    )
}

/// The email step for someone with passkeys: the browser asks for one at
/// once; a passcode by email stays the fallback.
fn passkey_step(p: &Pending, email: &str) -> Response {
    step_page(
        "Use your passkey",
        None,
        &format!(
            "<h1>Use your passkey</h1><p class=\"info\">Confirm it is you, <strong>{}</strong>, with the passkey \
on this device or your phone.</p>\
<p class=\"error\" role=\"alert\" data-testid=\"passkey-error\" data-passkey-status hidden></p>\
<div class=\"actions\"><button type=\"button\" data-passkey-signin data-passkey-auto data-challenge=\"{}\" data-csrf=\"{}\" \
data-testid=\"passkey-signin\">Sign in with your passkey</button></div>\
<form method=\"post\" action=\"/login/resend\">{}<button type=\"submit\" class=\"secondary\" data-testid=\"passcode-instead\">\
Email me a passcode instead</button></form>",
            esc(email),
            esc(&p.id),
            esc(&p.csrf),
            hidden(p)
        ),
    )
}

/// A JSON answer to the passkey script.
pub(crate) fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A failed ceremony as JSON: the message says what to do; internals are logged.
pub fn ceremony_error(e: &passkey::CeremonyError) -> Response {
    use passkey::CeremonyError as E;
    if e.is_internal() {
        tracing::error!(error = ?e.to_string(), "passkey ceremony failure");
    } else {
        tracing::info!(reason = %e, "passkey ceremony refused");
    }
    let status = match e {
        E::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        E::Disabled => StatusCode::NOT_FOUND,
        E::Duplicate | E::TooMany => StatusCode::CONFLICT,
        E::Inactive => StatusCode::FORBIDDEN,
        E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    json(status, serde_json::json!({ "error": e.message() }))
}

/// `POST /login/passkey/start`: options for `navigator.credentials.get`, for
/// the identity named at the email step, else for any discoverable passkey.
pub async fn passkey_sign_in_start(
    State(provider): State<Provider>,
    PendingForm { pending: p, form }: PendingForm,
) -> Response {
    let Some(wa) = provider.passkeys.as_deref() else {
        return ceremony_error(&passkey::CeremonyError::Disabled);
    };
    let ttl = provider.config.ttl.passkey_challenge;
    // The email form asks for any passkey (`mode=discover`); the step after
    // the email for the passkeys of the identity named there.
    let identity = if form.get("mode").is_some_and(|m| m == "discover") { None } else { p.identity_id.as_deref() };
    if identity.is_none() && form.get("mode").is_none_or(|m| m != "discover") {
        return ceremony_error(&passkey::CeremonyError::Unknown);
    }
    match passkey::start_sign_in(wa, &provider.db, identity, &p.id, ttl).await {
        Ok(started) => json(StatusCode::OK, serde_json::to_value(started).unwrap_or_default()),
        Err(e) => ceremony_error(&e),
    }
}

/// `POST /login/passkey/finish`: verifies the passkey, starts the provider
/// session (`amr` `hwk`/`swk` with `user`) and answers where to go next.
pub async fn passkey_sign_in_finish(
    State(provider): State<Provider>,
    headers: HeaderMap,
    PendingForm { pending: p, form }: PendingForm,
) -> Response {
    let Some(wa) = provider.passkeys.as_deref() else {
        return ceremony_error(&passkey::CeremonyError::Disabled);
    };
    let ceremony = form.get("ceremony").map(String::as_str).unwrap_or_default();
    let credential = form.get("credential").map(String::as_str).unwrap_or_default();
    let signed_in = match passkey::finish_sign_in(wa, &provider.db, ceremony, &p.id, credential).await {
        Ok(s) => s,
        Err(e) => return ceremony_error(&e),
    };
    let identity = match oauth::active_identity(&provider, &signed_in.identity_id).await {
        Ok(Some(i)) => i,
        Ok(None) => return json(StatusCode::FORBIDDEN, serde_json::json!({ "error": INACTIVE })),
        Err(e) => return internal_json(e),
    };
    let (session, cookies) = match start_session(&provider, &headers, &p, identity, &signed_in.amr).await {
        Ok(s) => s,
        Err(_) => return internal_json("cannot start the session"),
    };
    let redirect = issue_code(&provider, &p.req, &session).await;
    // Signed in either way: without a code the browser still gets the session
    // (its next attempt at the application signs in at once).
    let mut resp = match redirect.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()) {
        Some(next) => json(StatusCode::OK, serde_json::json!({ "next": next })),
        None => internal_json("no redirect after a passkey sign-in"),
    };
    for c in cookies {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

fn internal_json(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = ?e.to_string(), "passkey sign-in failure");
    json(StatusCode::INTERNAL_SERVER_ERROR, serde_json::json!({ "error": "Something went wrong. Please try again." }))
}

/// `GET /login?login_challenge=…`: the email form.
pub async fn login_page(State(provider): State<Provider>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let id = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "login_challenge")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !started_here(&headers, &id) {
        return error_page(StatusCode::BAD_REQUEST, "Sign-in expired", EXPIRED);
    }
    match load_pending(&provider, &id).await {
        Ok(Some(p)) => {
            let hint = p.req.login_hint.clone().unwrap_or_default();
            email_form(&p, &hint, None)
        }
        Ok(None) => error_page(StatusCode::BAD_REQUEST, "Sign-in expired", EXPIRED),
        Err(e) => internal(e),
    }
}

fn looks_like_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && e.len() <= 320
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

const INACTIVE: &str = "This account has been deactivated. Contact your administrator to have it reactivated.";

/// `POST /login`: the email step.
pub async fn submit_email(State(provider): State<Provider>, PendingForm { pending: p, form }: PendingForm) -> Response {
    let email = form.get("email").map(|e| e.trim().to_string()).unwrap_or_default();
    if !looks_like_email(&email) {
        return email_form(&p, &email, Some("Enter a valid email address, like name@example.com."));
    }
    let found = match identity::find_by_email(&provider.db, &email).await {
        Ok(f) => f,
        Err(e) => return internal(e),
    };
    let res = sqlx::query("UPDATE login_requests SET email = ?, identity_id = ? WHERE id = ?")
        .bind(&email)
        .bind(found.as_ref().map(|i| i.id.clone()))
        .bind(&p.id)
        .execute(&provider.db)
        .await;
    if let Err(e) = res {
        return internal(e);
    }
    match found {
        Some(i) if i.state == IdState::Inactive => email_form(&p, &email, Some(INACTIVE)),
        Some(i) if provider.passkeys.is_some() && form.get("passkey").is_some_and(|v| v == "1") => {
            match passkey::count(&provider.db, &i.id).await {
                Ok(0) => send_passcode(&provider, &p, &i.id, i.email()).await,
                Ok(_) => passkey_step(&p, i.email()),
                Err(e) => internal(e),
            }
        }
        Some(i) => send_passcode(&provider, &p, &i.id, i.email()).await,
        None => registration_form(&p, &email, None),
    }
}

/// `POST /login/register`: creates the identity for a new email.
pub async fn submit_registration(
    State(provider): State<Provider>,
    PendingForm { pending: p, form }: PendingForm,
) -> Response {
    let Some(email) = p.email.clone() else {
        return email_form(&p, "", Some("Enter your email address first."));
    };
    let first = form.get("first_name").map(|s| s.trim()).unwrap_or_default();
    if first.is_empty() {
        return registration_form(&p, &email, Some("Enter your first name."));
    }
    let traits = identity::traits_from(&email, Some(first), form.get("last_name").map(String::as_str));
    let created = match identity::create(&provider.db, IdentityInput::new(traits)).await {
        Ok(i) => i,
        Err(identity::IdentityError::Duplicate) => match identity::find_by_email(&provider.db, &email).await {
            Ok(Some(i)) => i,
            Ok(None) => return registration_form(&p, &email, Some("Please try again.")),
            Err(e) => return internal(e),
        },
        Err(identity::IdentityError::Schema(reason)) => return registration_form(&p, &email, Some(&reason)),
        Err(e) => return internal(e),
    };
    if created.state == IdState::Inactive {
        return email_form(&p, &email, Some(INACTIVE));
    }
    if let Err(e) = sqlx::query("UPDATE login_requests SET identity_id = ?, registered = 1 WHERE id = ?")
        .bind(&created.id)
        .bind(&p.id)
        .execute(&provider.db)
        .await
    {
        return internal(e);
    }
    send_passcode(&provider, &p, &created.id, created.email()).await
}

async fn send_passcode(provider: &Provider, p: &Pending, identity_id: &str, email: &str) -> Response {
    // A locked identity gets no passcode: it could not be used anyway.
    match ratelimit::identity_locked(provider, identity_id).await {
        Ok(Some(secs)) => return ratelimit::identity_locked_page(secs),
        Ok(None) => {}
        Err(e) => return internal(e),
    }
    let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
    // At most MAX_PASSCODE_SENDS passcodes per sign-in attempt, so resending
    // cannot be used to reset the attempt limit without end.
    let res = sqlx::query(
        "UPDATE login_requests SET passcode_hash = ?, passcode_expires_at = ?, attempts = 0, sends = sends + 1 WHERE id = ? AND sends < ?",
    )
    .bind(util::hash(&format!("{}:{code}", p.id)))
    .bind(db::now() + provider.config.ttl.passcode)
    .bind(&p.id)
    .bind(MAX_PASSCODE_SENDS)
    .execute(&provider.db)
    .await;
    match res {
        Ok(r) if r.rows_affected() == 1 => {}
        Ok(_) => {
            return passcode_form(
                p,
                email,
                Some("Too many passcodes were requested. Go back to the application and start signing in again."),
            )
        }
        Err(e) => return internal(e),
    }
    let body = format!(
        "Your passcode is {code}. It is valid for {}. If you did not try to sign in, ignore this email.",
        ttl_text(provider.config.ttl.passcode)
    );
    if let Err(e) = mailbox::send(provider, email, "Your sign-in passcode", &body, Some(&code)).await {
        return internal(e);
    }
    passcode_form(p, email, None)
}

/// `POST /login/resend`: a fresh passcode (resets the attempt counter).
pub async fn resend_passcode(
    State(provider): State<Provider>,
    PendingForm { pending: p, .. }: PendingForm,
) -> Response {
    let Some(identity_id) = p.identity_id.clone() else {
        return email_form(&p, "", Some("Enter your email address first."));
    };
    match oauth::active_identity(&provider, &identity_id).await {
        Ok(Some(i)) => send_passcode(&provider, &p, &i.id, i.email()).await,
        Ok(None) => email_form(&p, p.email.as_deref().unwrap_or_default(), Some(INACTIVE)),
        Err(e) => internal(e),
    }
}

/// `POST /login/passcode`: checks the passcode (5-minute TTL, 3 attempts,
/// single use), starts the provider session and returns to the client.
pub async fn submit_passcode(
    State(provider): State<Provider>,
    headers: HeaderMap,
    PendingForm { pending: p, form }: PendingForm,
) -> Response {
    let email = p.email.clone().unwrap_or_default();
    let (Some(identity_id), Some(hash), Some(expires)) =
        (p.identity_id.clone(), p.passcode_hash.clone(), p.passcode_expires_at)
    else {
        return passcode_form(&p, &email, Some("This passcode is no longer valid. Request a new passcode."));
    };
    if expires <= db::now() {
        return passcode_form(&p, &email, Some("This passcode has expired. Request a new passcode."));
    }
    // Too many wrong passcodes for this identity (across all its login requests):
    // nothing is checked until the lock expires, not even a correct passcode.
    // (A quick refusal; the guess is counted atomically below.)
    match ratelimit::identity_locked(&provider, &identity_id).await {
        Ok(Some(secs)) => return ratelimit::identity_locked_page(secs),
        Ok(None) => {}
        Err(e) => return internal(e),
    }
    // Claim an attempt atomically, so parallel guesses cannot exceed the limit.
    let claimed: Result<Option<(i64,)>, _> = sqlx::query_as(
        "UPDATE login_requests SET attempts = attempts + 1 WHERE id = ? AND attempts < ? RETURNING attempts",
    )
    .bind(&p.id)
    .bind(MAX_PASSCODE_ATTEMPTS)
    .fetch_optional(&provider.db)
    .await;
    let attempts = match claimed {
        Ok(Some((n,))) => n,
        Ok(None) => return passcode_form(&p, &email, Some("Too many wrong passcodes. Request a new passcode.")),
        Err(e) => return internal(e),
    };
    // Count the guess against the identity BEFORE comparing, in one statement,
    // so parallel guesses over many login requests cannot exceed the
    // identity's limit (a read-only check above cannot stop them).
    let reserved = match ratelimit::reserve_passcode_guess(&provider, &identity_id).await {
        Ok(ratelimit::Guess::Reserved(n)) => n,
        Ok(ratelimit::Guess::Refused(secs)) => {
            // Nothing was compared: give the login request its attempt back.
            let refund = sqlx::query("UPDATE login_requests SET attempts = attempts - 1 WHERE id = ? AND attempts > 0")
                .bind(&p.id)
                .execute(&provider.db)
                .await;
            if let Err(e) = refund {
                return internal(e);
            }
            return ratelimit::identity_locked_page(secs);
        }
        Err(e) => return internal(e),
    };
    let given = form.get("passcode").map(|s| s.trim()).unwrap_or_default();
    if !util::secure_eq(&util::hash(&format!("{}:{given}", p.id)), &hash) {
        match ratelimit::record_failed_passcode(&provider, &identity_id, reserved).await {
            Ok(Some(secs)) => return ratelimit::identity_locked_page(secs),
            Ok(None) => {}
            Err(e) => return internal(e),
        }
        let msg = if attempts >= MAX_PASSCODE_ATTEMPTS {
            "Too many wrong passcodes. Request a new passcode.".to_string()
        } else {
            format!("That passcode is not correct. {} attempt(s) left.", MAX_PASSCODE_ATTEMPTS - attempts)
        };
        return passcode_form(&p, &email, Some(&msg));
    }
    // A parallel wrong guess may have locked the identity meanwhile.
    match ratelimit::identity_locked(&provider, &identity_id).await {
        Ok(Some(secs)) => return ratelimit::identity_locked_page(secs),
        Ok(None) => {}
        Err(e) => return internal(e),
    }
    // Single use: only one request can consume the passcode.
    let consumed = sqlx::query("UPDATE login_requests SET passcode_hash = NULL WHERE id = ? AND passcode_hash = ?")
        .bind(&p.id)
        .bind(&hash)
        .execute(&provider.db)
        .await;
    match consumed {
        Ok(r) if r.rows_affected() == 1 => {}
        Ok(_) => return passcode_form(&p, &email, Some("This passcode was already used. Request a new passcode.")),
        Err(e) => return internal(e),
    }
    let identity = match oauth::active_identity(&provider, &identity_id).await {
        Ok(Some(i)) => i,
        Ok(None) => return email_form(&p, &email, Some(INACTIVE)),
        Err(e) => return internal(e),
    };
    if let Err(e) = identity::mark_verified(&provider.db, &identity.id).await {
        return internal(e);
    }
    if let Err(e) = ratelimit::clear_failed_passcodes(&provider, &identity.id).await {
        return internal(e);
    }
    // Offered once the browser said it can make a passkey (the page's script
    // sets `passkey=1`), to someone who has none yet.
    let offer = if provider.passkeys.is_some() && form.get("passkey").is_some_and(|v| v == "1") {
        match passkey::count(&provider.db, &identity.id).await {
            Ok(n) => n == 0,
            Err(e) => return internal(e),
        }
    } else {
        false
    };
    // A passcode sent by email is a one-time password (RFC 8176 `otp`).
    let (session, cookies) = match start_session(&provider, &headers, &p, identity, "otp").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // The offer is a page of its own (a reload does not post the passcode again).
    let mut resp = if offer {
        see_other(&format!(
            "/passkeys/offer?{}",
            url::form_urlencoded::Serializer::new(String::new()).append_pair("next", &continue_url(&p.req)).finish()
        ))
    } else {
        issue_code(&provider, &p.req, &session).await
    };
    for c in cookies {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// Ends the login request and starts the provider session for `identity`,
/// signed in by `amr` (RFC 8176 values, space-separated). Returns the session
/// and the cookies to set: the session cookie, and the login cookie without
/// this request (other tabs' sign-ins stay valid).
async fn start_session(
    provider: &Provider,
    headers: &HeaderMap,
    p: &Pending,
    identity: Identity,
    amr: &str,
) -> Result<(Session, Vec<HeaderValue>), Response> {
    let _ = sqlx::query("DELETE FROM login_requests WHERE id = ?").bind(&p.id).execute(&provider.db).await;
    if let Some(old) = util::cookie(headers, SESSION_COOKIE) {
        let _ = sqlx::query("DELETE FROM sessions WHERE id = ?").bind(util::hash(&old)).execute(&provider.db).await;
    }
    let cookie = util::random_token();
    let now = db::now();
    let session = Session {
        sid: uuid::Uuid::new_v4().to_string(),
        csrf: util::random_token(),
        identity,
        auth_time: now,
        amr: amr.into(),
    };
    let res = sqlx::query("INSERT INTO sessions (id, sid, csrf, identity_id, auth_time, created_at, expires_at, amr) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(util::hash(&cookie))
        .bind(&session.sid)
        .bind(&session.csrf)
        .bind(&session.identity.id)
        .bind(now)
        .bind(now)
        .bind(now + provider.config.ttl.session)
        .bind(&session.amr)
        .execute(&provider.db)
        .await;
    if let Err(e) = res {
        return Err(internal(e));
    }
    let secure = provider.secure_cookies();
    let others: Vec<String> = login_ids(headers).into_iter().filter(|i| *i != p.id).collect();
    let login_cookie = if others.is_empty() {
        util::set_cookie(LOGIN_COOKIE, "", "/", Some(0), secure)
    } else {
        util::set_cookie(LOGIN_COOKIE, &others.join("."), "/", None, secure)
    };
    let cookies =
        [util::set_cookie(SESSION_COOKIE, &cookie, "/", Some(provider.config.ttl.session), secure), login_cookie]
            .iter()
            .filter_map(|c| HeaderValue::from_str(c).ok())
            .collect();
    Ok((session, cookies))
}

/// Where the browser goes to finish signing in once it has a provider
/// session: the original authorization request, which now returns at once
/// with a code (a code made earlier could expire while the user decides).
fn continue_url(req: &AuthRequest) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code").append_pair("client_id", &req.client_id);
    q.append_pair("redirect_uri", &req.redirect_uri).append_pair("scope", &req.scope);
    for (k, v) in [("state", &req.state), ("nonce", &req.nonce)] {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    if let Some(c) = &req.code_challenge {
        q.append_pair("code_challenge", c).append_pair("code_challenge_method", "S256");
    }
    if !req.audience.is_empty() {
        q.append_pair("audience", &req.audience.join(" "));
    }
    format!("/oauth2/auth?{}", q.finish())
}

/// `GET /passkeys/offer?next=/oauth2/auth?…`: after a passcode sign-in, the
/// offer to create a passkey for next time. `next` must be an authorization
/// request on this provider (nothing else is followed).
pub async fn passkey_offer_page(
    State(provider): State<Provider>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let next = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .filter(|n| n.starts_with("/oauth2/auth?") && !n.contains(['\\', '\r', '\n']))
        .unwrap_or_default();
    if next.is_empty() {
        return error_page(StatusCode::BAD_REQUEST, "Invalid address", "Go back to the application and sign in again.");
    }
    match current_session(&provider, &headers).await {
        Ok(Some(s)) => passkey_offer(&next, &s),
        // The session ended meanwhile: the authorization request signs in again.
        Ok(None) => see_other(&next),
        Err(e) => internal(e),
    }
}

fn passkey_offer(next: &str, s: &Session) -> Response {
    page(
        StatusCode::OK,
        "Create a passkey",
        &format!(
            "<h1>Sign in faster next time</h1><p class=\"info\">You are signed in as <strong>{email}</strong>. \
Create a passkey and next time you sign in with your fingerprint, face or screen lock, with no passcode to wait for.</p>\
<p class=\"error\" role=\"alert\" data-testid=\"passkey-error\" data-passkey-status hidden></p>\
<div class=\"actions\"><button type=\"button\" data-passkey-register data-csrf=\"{csrf}\" data-next=\"{next}\" \
data-testid=\"passkey-create\">Create a passkey</button>\
<a class=\"button button--secondary\" href=\"{next}\" data-testid=\"passkey-skip\">Not now</a></div>",
            email = esc(s.identity.email()),
            csrf = esc(&s.csrf),
            next = esc(next),
        ),
    )
}

/// Whether `scope` asks for a refresh token.
pub fn wants_offline(scope: &str) -> bool {
    has_scope(scope, "offline_access")
}
