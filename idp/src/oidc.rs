//! Discovery, JWKS, userinfo and the identity schema.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::identity;
use crate::oauth::{self, BearerError};
use crate::Provider;

/// `GET /.well-known/openid-configuration`
pub async fn discovery(State(p): State<Provider>) -> Json<Value> {
    Json(json!({
        "issuer": p.issuer.as_ref(),
        "authorization_endpoint": p.url("oauth2/auth"),
        "token_endpoint": p.url("oauth2/token"),
        "userinfo_endpoint": p.url("userinfo"),
        "jwks_uri": p.url(".well-known/jwks.json"),
        "end_session_endpoint": p.url("oauth2/sessions/logout"),
        "revocation_endpoint": p.url("oauth2/revoke"),
        "introspection_endpoint": p.url("oauth2/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "scopes_supported": ["openid", "offline_access", "email", "profile"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": p.keys.published_algs(),
        "userinfo_signing_alg_values_supported": ["none"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "sub", "aud", "iat", "exp", "auth_time", "rat", "jti", "sid", "nonce", "at_hash",
            "email", "email_verified", "first_name", "last_name", "user_id"],
        "prompt_values_supported": ["none", "login"],
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    }))
}

/// `GET /.well-known/jwks.json`
pub async fn jwks(State(p): State<Provider>) -> Response {
    let mut r = Json(p.keys.jwks()).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=600"));
    r
}

fn unauthorized(error: &str, description: &str) -> Response {
    let mut r =
        (StatusCode::UNAUTHORIZED, Json(json!({ "error": error, "error_description": description }))).into_response();
    let challenge = if error == "invalid_request" {
        "Bearer".to_string()
    } else {
        format!("Bearer error=\"{error}\", error_description=\"{}\"", description.replace('"', "'"))
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// `GET|POST /userinfo` — Bearer header only, never a query parameter.
pub async fn userinfo(State(p): State<Provider>, headers: HeaderMap) -> Response {
    let claims = match oauth::verify_access_token(&p, &headers).await {
        Ok(c) => c,
        Err(BearerError::Missing) => {
            return unauthorized("invalid_request", "send the access token in the Authorization header")
        }
        Err(BearerError::Invalid(why)) => return unauthorized("invalid_token", why),
    };
    if claims.sub == claims.client_id && !oauth::has_scope(&claims.scope, "openid") {
        return unauthorized("invalid_token", "the token does not belong to a user");
    }
    let identity = match oauth::active_identity(&p, &claims.sub).await {
        Ok(Some(i)) => i,
        Ok(None) => return unauthorized("invalid_token", "the token does not belong to an active user"),
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "userinfo lookup failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut out = oauth::identity_claims(&identity, &claims.scope);
    out.insert("sub".into(), json!(identity.id));
    out.insert("iss".into(), json!(p.issuer.as_ref()));
    out.insert("aud".into(), json!([claims.client_id]));
    if let Some(t) = claims.auth_time {
        out.insert("auth_time".into(), json!(t));
        out.insert("rat".into(), json!(t));
    }
    out.insert("iat".into(), json!(claims.iat));
    let mut r = Json(Value::Object(out)).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /schemas/{id}` — the identity schema (`ZGVmYXVsdA` or `default`).
pub async fn schema(Path(id): Path<String>) -> Response {
    if id == identity::schema_path_id(identity::DEFAULT_SCHEMA_ID) || id == identity::DEFAULT_SCHEMA_ID {
        Json(identity::schema().clone()).into_response()
    } else {
        crate::admin::kratos_error(StatusCode::NOT_FOUND, "no identity schema with this id")
    }
}
