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
use crate::{db, mailbox, ratelimit, util, Provider};

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
<label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required value=\"{}\" autofocus>\
<button type=\"submit\">Continue</button></form>",
            alert(error),
            hidden(p),
            esc(email)
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
    let _ = sqlx::query("DELETE FROM login_requests WHERE id = ?").bind(&p.id).execute(&provider.db).await;
    if let Some(old) = util::cookie(&headers, SESSION_COOKIE) {
        let _ = sqlx::query("DELETE FROM sessions WHERE id = ?").bind(util::hash(&old)).execute(&provider.db).await;
    }
    let cookie = util::random_token();
    let now = db::now();
    // A passcode sent by email is a one-time password (RFC 8176 `otp`).
    let session = Session {
        sid: uuid::Uuid::new_v4().to_string(),
        csrf: util::random_token(),
        identity,
        auth_time: now,
        amr: "otp".into(),
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
        return internal(e);
    }
    let mut resp = issue_code(&provider, &p.req, &session).await;
    let secure = provider.secure_cookies();
    // Other tabs' sign-ins stay valid.
    let others: Vec<String> = login_ids(&headers).into_iter().filter(|i| *i != p.id).collect();
    let login_cookie = if others.is_empty() {
        util::set_cookie(LOGIN_COOKIE, "", "/", Some(0), secure)
    } else {
        util::set_cookie(LOGIN_COOKIE, &others.join("."), "/", None, secure)
    };
    for c in [util::set_cookie(SESSION_COOKIE, &cookie, "/", Some(provider.config.ttl.session), secure), login_cookie] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Whether `scope` asks for a refresh token.
pub fn wants_offline(scope: &str) -> bool {
    has_scope(scope, "offline_access")
}
