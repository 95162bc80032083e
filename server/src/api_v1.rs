//! `/api/v1`: the JSON API for services and native apps. Every call carries an
//! RFC 9068 access token (`Authorization: Bearer`) that `bff::bearer` verifies
//! against the provider's JWKS; browsers use the session instead and never see
//! a token. The OpenAPI document at `/api/v1/openapi.json` is generated from
//! the handlers below.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bff::bearer::{Bearer, BearerError, SharedVerifier, UserBearer};
use bff::users::{LocalUser, UserStore};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{OpenApi, ToSchema};

/// Scope to read a user's settings.
pub const SCOPE_READ: &str = "settings:read";
/// Scope to change a user's settings.
pub const SCOPE_WRITE: &str = "settings:write";
/// Longer subjects are not looked up (no provider issues them).
const MAX_SUB_BYTES: usize = 255;

/// What the API handlers share.
#[derive(Clone, FromRef)]
pub struct ApiState {
    pub verifier: SharedVerifier,
    pub users: UserStore,
}

/// The routes under `/api/v1`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(me))
        .route("/api/v1/settings", get(get_settings).put(put_settings))
        .route("/api/v1/users/{sub}/settings", get(user_settings))
        .route("/api/v1/{*rest}", axum::routing::any(not_found))
        .with_state(state)
}

/// The OpenAPI 3.1 description of this API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse API",
        version = "1",
        description = "For services and native apps. Send an access token from the OpenID provider as \
                       `Authorization: Bearer <token>`; its `aud` must contain the API's audience \
                       (`GATEHOUSE_API_AUDIENCE`, default `gatehouse-api`)."
    ),
    paths(me, get_settings, put_settings, user_settings),
    components(schemas(Me, Settings, SettingsUpdate, ApiError)),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// An error: `error` is a stable code, `error_description` says what to do.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    #[schema(example = "invalid_token")]
    pub error: String,
    pub error_description: String,
}

/// Failures of an API call; token failures carry `WWW-Authenticate`.
#[derive(Debug)]
pub enum Failure {
    Token(BearerError),
    Invalid(String),
    Forbidden(&'static str),
    NotFound,
    Internal,
}

impl From<BearerError> for Failure {
    fn from(e: BearerError) -> Self {
        Failure::Token(e)
    }
}

impl From<bff::users::UserStoreError> for Failure {
    fn from(e: bff::users::UserStoreError) -> Self {
        tracing::error!(error = %e, "user store failure in the JSON API");
        Failure::Internal
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, error, description) = match self {
            Failure::Token(e) => return e.into_response(),
            Failure::Invalid(d) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", d),
            Failure::Forbidden(d) => (StatusCode::FORBIDDEN, "forbidden", d.into()),
            Failure::NotFound => (StatusCode::NOT_FOUND, "not_found", "There is no such resource.".into()),
            Failure::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The request could not be completed. Try again later.".into(),
            ),
        };
        (status, Json(ApiError { error: error.into(), error_description: description })).into_response()
    }
}

async fn not_found() -> Failure {
    Failure::NotFound
}

/// The settings a user keeps in this app (the web app edits the same ones).
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Settings {
    /// The name shown in the app; `null` until chosen.
    pub display_name: Option<String>,
    /// Whether the user finished onboarding (chose a display name).
    pub onboarded: bool,
}

impl From<Option<LocalUser>> for Settings {
    fn from(u: Option<LocalUser>) -> Self {
        match u {
            Some(u) => Settings { onboarded: !u.needs_onboarding(), display_name: u.display_name },
            None => Settings { display_name: None, onboarded: false },
        }
    }
}

/// A change of settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    /// 1–40 characters; whitespace is collapsed.
    #[schema(example = "Ada Lovelace")]
    pub display_name: String,
}

/// Who the token speaks for.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The user's subject identifier at the provider.
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    /// Every claim of the access token, as sent.
    #[schema(value_type = Object)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    pub settings: Settings,
}

/// The caller: subject, token claims and local settings. User tokens only.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, description = "No token, or an invalid one", body = ApiError),
        (status = 403, description = "A service's token", body = ApiError),
    )
)]
async fn me(State(users): State<UserStore>, UserBearer(token): UserBearer) -> Result<Json<Me>, Failure> {
    let settings = users.get(&token.sub).await?.into();
    Ok(Json(Me { sub: token.sub, client_id: token.client_id, scopes: token.scopes, claims: token.claims, settings }))
}

/// The caller's settings. User tokens with `settings:read`.
#[utoipa::path(
    get, path = "/api/v1/settings", tag = "settings",
    security(("bearer" = ["settings:read"])),
    responses(
        (status = 200, body = Settings),
        (status = 401, body = ApiError),
        (status = 403, description = "Missing scope, or a service's token", body = ApiError),
    )
)]
async fn get_settings(
    State(users): State<UserStore>,
    UserBearer(token): UserBearer,
) -> Result<Json<Settings>, Failure> {
    token.require_scope(SCOPE_READ)?;
    Ok(Json(users.get(&token.sub).await?.into()))
}

/// Changes the caller's settings. User tokens with `settings:write`.
#[utoipa::path(
    put, path = "/api/v1/settings", tag = "settings",
    security(("bearer" = ["settings:write"])),
    request_body = SettingsUpdate,
    responses(
        (status = 200, body = Settings),
        (status = 401, body = ApiError),
        (status = 403, description = "Missing scope, or a service's token", body = ApiError),
        (status = 422, description = "Not valid JSON, or a display name that is not allowed", body = ApiError),
    )
)]
async fn put_settings(
    State(users): State<UserStore>,
    UserBearer(token): UserBearer,
    body: Result<Json<SettingsUpdate>, JsonRejection>,
) -> Result<Json<Settings>, Failure> {
    token.require_scope(SCOPE_WRITE)?;
    let Json(update) = body.map_err(|e| {
        Failure::Invalid(format!("Send a JSON object like {{\"display_name\": \"Ada\"}} ({})", e.body_text()))
    })?;
    let name = bff::users::validate_display_name(&update.display_name).map_err(|e| Failure::Invalid(e.to_string()))?;
    Ok(Json(Some(users.set_display_name(&token.sub, &name, bff::unix_now()).await?).into()))
}

/// A user's settings, for services (client credentials) with `settings:read`;
/// a user's token may read only its own.
#[utoipa::path(
    get, path = "/api/v1/users/{sub}/settings", tag = "settings",
    security(("bearer" = ["settings:read"])),
    params(("sub" = String, Path, description = "The user's subject identifier")),
    responses(
        (status = 200, body = Settings),
        (status = 401, body = ApiError),
        (status = 403, description = "Missing scope, or another user's settings", body = ApiError),
        (status = 404, description = "The app does not know this user", body = ApiError),
    )
)]
async fn user_settings(
    State(users): State<UserStore>,
    Bearer(token): Bearer,
    Path(sub): Path<String>,
) -> Result<Json<Settings>, Failure> {
    token.require_scope(SCOPE_READ)?;
    if sub.len() > MAX_SUB_BYTES {
        return Err(Failure::NotFound);
    }
    if !token.is_service() && token.sub != sub {
        return Err(Failure::Forbidden("A user's token may read only that user's settings."));
    }
    match users.get(&sub).await? {
        Some(u) => Ok(Json(Some(u).into())),
        None => Err(Failure::NotFound),
    }
}

/// The verifier for the provider `rp` talks to, with this API's audience,
/// sharing `rp`'s signing-key cache (one key set for every token kind).
pub fn verifier(rp: &bff::oidc::RelyingParty, api: &crate::config::ApiSettings) -> Result<SharedVerifier, String> {
    let mut cfg = bff::bearer::BearerConfig::new(rp.issuer(), rp.jwks_uri().clone());
    cfg.audience = Some(api.audience.clone());
    cfg.cookie = api.cookie.clone();
    Ok(Arc::new(bff::bearer::BearerVerifier::with_keys(cfg, rp.key_cache().clone())))
}
