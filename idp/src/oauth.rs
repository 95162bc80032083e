//! Shared OAuth 2.0 machinery: errors in RFC 6749 shape, client
//! authentication exactly as registered, grants, and token issuance.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{AuthMethod, ClientConfig};
use crate::db;
use crate::identity::{self, Identity};
use crate::util;
use crate::Provider;

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// Set when the client tried HTTP Basic: answer with a `WWW-Authenticate` challenge.
    pub basic_challenge: bool,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into(), basic_challenge: false }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
    }
    pub fn server_error(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = ?e.to_string(), "token endpoint failure");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "The provider failed to handle the request.")
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(json!({ "error": self.error, "error_description": self.description })))
            .into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.basic_challenge {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"oauth2\""));
        }
        resp
    }
}

/// A form body as name → value, refusing repeated parameters (RFC 6749 §3.1).
pub fn single_params(pairs: Vec<(String, String)>) -> Result<std::collections::HashMap<String, String>, String> {
    let mut map = std::collections::HashMap::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), v).is_some() {
            return Err(format!("the parameter {k} is included more than once"));
        }
    }
    Ok(map)
}

fn form_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
}

/// Authenticates the client with exactly the method it registered.
pub fn authenticate_client<'a>(
    provider: &'a Provider,
    headers: &HeaderMap,
    form: &std::collections::HashMap<String, String>,
) -> Result<&'a ClientConfig, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    let (client_id, secret, method) = match (basic, form.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request("use exactly one client authentication method"));
        }
        (Some(b64), None) => {
            let bad = || OAuthError {
                basic_challenge: true,
                ..OAuthError::invalid_client("malformed HTTP Basic credentials")
            };
            let decoded = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
            let (id, secret) = (form_decode(id).ok_or_else(bad)?, form_decode(secret).ok_or_else(bad)?);
            if form.get("client_id").is_some_and(|f| *f != id) {
                return Err(OAuthError::invalid_request("client_id in the body differs from the authenticated client"));
            }
            (id, Some(secret), AuthMethod::ClientSecretBasic)
        }
        (None, Some(secret)) => {
            let id =
                form.get("client_id").cloned().ok_or_else(|| OAuthError::invalid_client("client_id is missing"))?;
            (id, Some(secret.clone()), AuthMethod::ClientSecretPost)
        }
        (None, None) => {
            let id = form
                .get("client_id")
                .cloned()
                .ok_or_else(|| OAuthError::invalid_client("client authentication is missing"))?;
            (id, None, AuthMethod::None)
        }
    };
    let challenge = method == AuthMethod::ClientSecretBasic;
    let fail = |d: &str| OAuthError { basic_challenge: challenge, ..OAuthError::invalid_client(d) };
    let client = provider.config.client(&client_id).ok_or_else(|| fail("unknown client or wrong credentials"))?;
    if client.auth_method != method {
        return Err(fail(&format!(
            "this client must authenticate with {}, not {}",
            client.auth_method.as_str(),
            method.as_str()
        )));
    }
    if let (Some(given), Some(expected)) = (secret.as_deref(), client.secret.as_deref()) {
        if !util::secure_eq(given, expected) {
            return Err(fail("unknown client or wrong credentials"));
        }
    }
    Ok(client)
}

/// A grant: one authorization by a user (or a client) that tokens descend from.
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub identity_id: Option<String>,
    pub scope: String,
    pub sid: Option<String>,
    pub auth_time: Option<i64>,
    /// How the user authenticated (RFC 8176 `amr` values, space-separated); empty for machine grants.
    pub amr: String,
    pub revoked: bool,
    /// Audiences (resource servers) the grant's access tokens are for, besides the client.
    pub audience: Vec<String>,
}

/// Who a user grant is for and how they signed in.
#[derive(Debug, Clone, Copy)]
pub struct GrantUser<'a> {
    pub identity_id: &'a str,
    /// The provider session's id (the ID token's `sid`).
    pub sid: &'a str,
    pub auth_time: i64,
    /// RFC 8176 `amr` values, space-separated.
    pub amr: &'a str,
}

/// Records a grant: a user's (`user`), or the client's own (client credentials, `None`).
pub async fn create_grant(
    provider: &Provider,
    client_id: &str,
    scope: &str,
    user: Option<GrantUser<'_>>,
    audience: &[String],
) -> Result<Grant, sqlx::Error> {
    let identity_id = user.map(|u| u.identity_id);
    let sid = user.map(|u| u.sid);
    let auth_time = user.map(|u| u.auth_time);
    let amr = user.map(|u| u.amr).unwrap_or_default();
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO grants (id, client_id, identity_id, scope, sid, auth_time, created_at, audience, amr) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(client_id)
    .bind(identity_id)
    .bind(scope)
    .bind(sid)
    .bind(auth_time)
    .bind(db::now())
    .bind(audience.join(" "))
    .bind(amr)
    .execute(&provider.db)
    .await?;
    Ok(Grant {
        id,
        client_id: client_id.into(),
        identity_id: identity_id.map(Into::into),
        scope: scope.into(),
        sid: sid.map(Into::into),
        auth_time,
        amr: amr.into(),
        revoked: false,
        audience: audience.to_vec(),
    })
}

pub async fn load_grant(provider: &Provider, id: &str) -> Result<Option<Grant>, sqlx::Error> {
    type Row = (String, String, Option<String>, String, Option<String>, Option<i64>, i64, String, String);
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, client_id, identity_id, scope, sid, auth_time, revoked, audience, amr FROM grants WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(&provider.db)
    .await?;
    Ok(row.map(|r| Grant {
        id: r.0,
        client_id: r.1,
        identity_id: r.2,
        scope: r.3,
        sid: r.4,
        auth_time: r.5,
        revoked: r.6 != 0,
        audience: r.7.split_whitespace().map(String::from).collect(),
        amr: r.8,
    }))
}

/// Revokes a grant and everything issued from it (refresh-token family and access tokens).
pub async fn revoke_grant(provider: &Provider, grant_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE grants SET revoked = 1 WHERE id = ?").bind(grant_id).execute(&provider.db).await?;
    sqlx::query("DELETE FROM access_tokens WHERE grant_id = ?").bind(grant_id).execute(&provider.db).await?;
    sqlx::query("UPDATE refresh_tokens SET used_at = COALESCE(used_at, ?) WHERE grant_id = ?")
        .bind(db::now())
        .bind(grant_id)
        .execute(&provider.db)
        .await?;
    Ok(())
}

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split_whitespace().any(|s| s == wanted)
}

/// RFC 9068 access-token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// The token endpoint's success response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Claims about the identity that `scope` releases.
pub fn identity_claims(identity: &Identity, scope: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("user_id".into(), json!(identity.id));
    if has_scope(scope, "email") {
        m.insert("email".into(), json!(identity.email()));
        m.insert("email_verified".into(), json!(identity.verified_at.is_some()));
    }
    if has_scope(scope, "profile") {
        if let Some(f) = identity.first_name() {
            m.insert("first_name".into(), json!(f));
        }
        if let Some(l) = identity.last_name() {
            m.insert("last_name".into(), json!(l));
        }
        if let Some(d) = identity.traits["name"]["academic-degree"].as_str() {
            m.insert("academic_degree".into(), json!(d));
        }
    }
    m
}

/// Signs an access token for the grant and records its `jti`.
pub async fn issue_access_token(
    provider: &Provider,
    grant: &Grant,
    aud: Vec<String>,
) -> Result<(String, i64), sqlx::Error> {
    let now = db::now();
    let ttl = provider.config.ttl.access_token;
    let claims = AccessClaims {
        iss: provider.issuer.to_string(),
        sub: grant.identity_id.clone().unwrap_or_else(|| grant.client_id.clone()),
        aud,
        exp: now + ttl,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: grant.client_id.clone(),
        scope: grant.scope.clone(),
        auth_time: grant.auth_time,
        sid: grant.sid.clone(),
    };
    sqlx::query("INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES (?, ?, ?)")
        .bind(&claims.jti)
        .bind(&grant.id)
        .bind(claims.exp)
        .execute(&provider.db)
        .await?;
    Ok((provider.keys.sign("at+jwt", &claims), ttl))
}

/// Issues access, ID and (with `offline_access`) refresh tokens for a user grant.
pub async fn issue_user_tokens(
    provider: &Provider,
    client: &ClientConfig,
    grant: &Grant,
    identity: &Identity,
    nonce: Option<&str>,
) -> Result<TokenResponse, sqlx::Error> {
    // The client itself, plus the resource servers the authorization request named.
    let mut aud = vec![client.id.clone()];
    // Only audiences the client may still ask for: a refresh after a config change drops the others.
    aud.extend(grant.audience.iter().filter(|a| **a != client.id && client.audiences.contains(a)).cloned());
    let (access_token, expires_in) = issue_access_token(provider, grant, aud).await?;
    let now = db::now();
    let mut id = identity_claims(identity, &grant.scope);
    id.insert("iss".into(), json!(provider.issuer.as_ref()));
    id.insert("sub".into(), json!(identity.id));
    id.insert("aud".into(), json!([client.id]));
    id.insert("iat".into(), json!(now));
    id.insert("exp".into(), json!(now + provider.config.ttl.id_token));
    id.insert("rat".into(), json!(grant.auth_time.unwrap_or(now)));
    id.insert("auth_time".into(), json!(grant.auth_time.unwrap_or(now)));
    id.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    id.insert("at_hash".into(), json!(util::at_hash(&access_token)));
    if let Some(sid) = &grant.sid {
        id.insert("sid".into(), json!(sid));
    }
    // How the user signed in (RFC 8176), when the grant recorded it.
    let amr: Vec<&str> = grant.amr.split_whitespace().collect();
    if !amr.is_empty() {
        id.insert("amr".into(), json!(amr));
    }
    if let Some(nonce) = nonce {
        id.insert("nonce".into(), json!(nonce));
    }
    let id_token = provider.keys.sign("JWT", &Value::Object(id));

    let refresh_token =
        if has_scope(&grant.scope, "offline_access") && client.grant_types.iter().any(|g| g == "refresh_token") {
            let token = util::random_token();
            sqlx::query("INSERT INTO refresh_tokens (hash, grant_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
                .bind(util::hash(&token))
                .bind(&grant.id)
                .bind(now)
                .bind(now + provider.config.ttl.refresh_token)
                .execute(&provider.db)
                .await?;
            Some(token)
        } else {
            None
        };
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in,
        scope: grant.scope.clone(),
        id_token: Some(id_token),
        refresh_token,
    })
}

/// Why a bearer token was refused.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error("no bearer token was sent")]
    Missing,
    #[error("{0}")]
    Invalid(&'static str),
}

/// Verifies an access token issued by this provider: signature, `typ`, issuer,
/// expiry, and that neither it nor its grant was revoked.
pub async fn verify_access_token(provider: &Provider, headers: &HeaderMap) -> Result<AccessClaims, BearerError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(BearerError::Missing)?;
    verify_access_token_str(provider, token).await
}

/// Checks an access token: our signature and issuer, `at+jwt`, not expired,
/// not revoked.
pub async fn verify_access_token_str(provider: &Provider, token: &str) -> Result<AccessClaims, BearerError> {
    let (typ, claims): (Option<String>, AccessClaims) =
        provider.keys.verify(token).map_err(|_| BearerError::Invalid("the access token is invalid"))?;
    if typ.as_deref() != Some("at+jwt") || claims.iss != *provider.issuer {
        return Err(BearerError::Invalid("the token is not an access token of this provider"));
    }
    if claims.exp <= db::now() {
        return Err(BearerError::Invalid("the access token expired"));
    }
    let live: Option<(i64,)> =
        sqlx::query_as("SELECT g.revoked FROM access_tokens a JOIN grants g ON g.id = a.grant_id WHERE a.jti = ?")
            .bind(&claims.jti)
            .fetch_optional(&provider.db)
            .await
            .map_err(|e| {
                tracing::error!(error = ?e.to_string(), "access token lookup failed");
                BearerError::Invalid("the access token cannot be checked right now")
            })?;
    match live {
        Some((0,)) => Ok(claims),
        _ => Err(BearerError::Invalid("the access token was revoked")),
    }
}

/// Loads the active identity a grant belongs to.
pub async fn active_identity(provider: &Provider, identity_id: &str) -> Result<Option<Identity>, sqlx::Error> {
    identity::active(&provider.db, identity_id).await
}
