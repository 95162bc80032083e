//! `POST /oauth2/token` (authorization_code, refresh_token, client_credentials)
//! and `POST /oauth2/revoke` (RFC 7009).

use std::collections::HashMap;

use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::config::{AuthMethod, ClientConfig};
use crate::oauth::{self, OAuthError, TokenResponse};
use crate::{db, util, Provider};

fn no_store(resp: impl IntoResponse) -> Response {
    let mut r = resp.into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// `POST /oauth2/token`
pub async fn token(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    match handle(&provider, &headers, pairs).await {
        Ok(tokens) => no_store(Json(tokens)),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    provider: &Provider,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Result<TokenResponse, OAuthError> {
    // `audience` may repeat (client_credentials); everything else must not.
    let audiences: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "audience")
        .flat_map(|(_, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let form = oauth::single_params(pairs.into_iter().filter(|(k, _)| k != "audience").collect())
        .map_err(OAuthError::invalid_request)?;
    let client = oauth::authenticate_client(provider, headers, &form)?;
    let grant_type = form.get("grant_type").map(String::as_str).unwrap_or_default();
    if grant_type.is_empty() {
        return Err(OAuthError::invalid_request("grant_type is missing"));
    }
    if !["authorization_code", "refresh_token", "client_credentials"].contains(&grant_type) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type {grant_type} is not supported"),
        ));
    }
    if !client.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!("this client may not use grant_type {grant_type}"),
        ));
    }
    let issued = match grant_type {
        "authorization_code" => authorization_code(provider, client, &form).await,
        "refresh_token" => refresh_token(provider, client, &form).await,
        _ => client_credentials(provider, client, &form, audiences).await,
    }?;
    provider.stats.count(grant_type, &client.id);
    Ok(issued)
}

/// `DELETE /oauth2/tokens?client_id=…` (Hydra's "delete a client's access
/// tokens"): revokes every grant of the client, with its access and refresh
/// tokens. Hydra trusts its admin port's network position; here the client
/// itself must authenticate, and may only delete its own tokens.
pub async fn delete_client_tokens(
    State(provider): State<Provider>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let Some(target) = query.get("client_id").filter(|c| !c.is_empty()) else {
        return OAuthError::invalid_request("client_id is missing").into_response();
    };
    let client = match oauth::authenticate_client(&provider, &headers, &HashMap::new()) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if client.id != *target {
        return OAuthError::new(StatusCode::FORBIDDEN, "access_denied", "a client may delete only its own tokens")
            .into_response();
    }
    let grants: Result<Vec<(String,)>, _> = sqlx::query_as("SELECT id FROM grants WHERE client_id = ? AND revoked = 0")
        .bind(target)
        .fetch_all(&provider.db)
        .await;
    let grants = match grants {
        Ok(g) => g,
        Err(e) => return OAuthError::server_error(e).into_response(),
    };
    for (g,) in &grants {
        if let Err(e) = oauth::revoke_grant(&provider, g).await {
            return OAuthError::server_error(e).into_response();
        }
    }
    tracing::info!(client_id = ?target, grants = grants.len(), "deleted every token of a client");
    StatusCode::NO_CONTENT.into_response()
}

async fn authorization_code(
    provider: &Provider,
    client: &ClientConfig,
    form: &HashMap<String, String>,
) -> Result<TokenResponse, OAuthError> {
    let code =
        form.get("code").filter(|c| !c.is_empty()).ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    type Row = (String, String, Option<String>, Option<String>, i64, Option<i64>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT grant_id, redirect_uri, nonce, code_challenge, expires_at, used_at FROM codes WHERE hash = ?",
    )
    .bind(util::hash(code))
    .fetch_optional(&provider.db)
    .await
    .map_err(OAuthError::server_error)?;
    let (grant_id, redirect_uri, nonce, challenge, expires_at, used_at) =
        row.ok_or_else(|| OAuthError::invalid_grant("the authorization code is invalid"))?;
    let grant = oauth::load_grant(provider, &grant_id)
        .await
        .map_err(OAuthError::server_error)?
        .ok_or_else(|| OAuthError::invalid_grant("the authorization code is invalid"))?;
    if grant.client_id != client.id {
        return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
    }
    if used_at.is_some() {
        // A replayed code: revoke everything the first redemption issued.
        oauth::revoke_grant(provider, &grant.id).await.map_err(OAuthError::server_error)?;
        tracing::warn!(client_id = ?client.id, "authorization code replayed; grant revoked");
        return Err(OAuthError::invalid_grant("the authorization code was already used"));
    }
    if expires_at <= db::now() {
        return Err(OAuthError::invalid_grant("the authorization code expired"));
    }
    if form.get("redirect_uri") != Some(&redirect_uri) {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
    }
    match (challenge.as_deref(), form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !util::valid_verifier(verifier) || !util::secure_eq(&util::s256(verifier), challenge) {
                return Err(OAuthError::invalid_grant("the PKCE code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing (PKCE)")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge",
            ))
        }
        (None, None) => {}
    }
    // Single use, even under concurrent redemption.
    let marked = sqlx::query("UPDATE codes SET used_at = ? WHERE hash = ? AND used_at IS NULL")
        .bind(db::now())
        .bind(util::hash(code))
        .execute(&provider.db)
        .await
        .map_err(OAuthError::server_error)?;
    if marked.rows_affected() != 1 {
        oauth::revoke_grant(provider, &grant.id).await.map_err(OAuthError::server_error)?;
        return Err(OAuthError::invalid_grant("the authorization code was already used"));
    }
    let identity_id = grant.identity_id.clone().ok_or_else(|| OAuthError::invalid_grant("the grant has no user"))?;
    let identity = oauth::active_identity(provider, &identity_id)
        .await
        .map_err(OAuthError::server_error)?
        .ok_or_else(|| OAuthError::invalid_grant("the user's account is deactivated or deleted"))?;
    oauth::issue_user_tokens(provider, client, &grant, &identity, nonce.as_deref())
        .await
        .map_err(OAuthError::server_error)
}

async fn refresh_token(
    provider: &Provider,
    client: &ClientConfig,
    form: &HashMap<String, String>,
) -> Result<TokenResponse, OAuthError> {
    let token = form
        .get("refresh_token")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let hash = util::hash(token);
    let row: Option<(String, i64, Option<i64>)> =
        sqlx::query_as("SELECT grant_id, expires_at, used_at FROM refresh_tokens WHERE hash = ?")
            .bind(&hash)
            .fetch_optional(&provider.db)
            .await
            .map_err(OAuthError::server_error)?;
    let (grant_id, expires_at, used_at) =
        row.ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid"))?;
    let grant = oauth::load_grant(provider, &grant_id)
        .await
        .map_err(OAuthError::server_error)?
        .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid"))?;
    if grant.client_id != client.id {
        return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
    }
    if grant.revoked {
        return Err(OAuthError::invalid_grant("the refresh token was revoked"));
    }
    if used_at.is_some() {
        oauth::revoke_grant(provider, &grant.id).await.map_err(OAuthError::server_error)?;
        tracing::warn!(client_id = ?client.id, "spent refresh token reused; token family revoked");
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used; all tokens of this grant are revoked",
        ));
    }
    if expires_at <= db::now() {
        return Err(OAuthError::invalid_grant("the refresh token expired"));
    }
    let mut grant = grant;
    if let Some(scope) = form.get("scope").filter(|s| !s.trim().is_empty()) {
        if let Some(s) = scope.split_whitespace().find(|s| !oauth::has_scope(&grant.scope, s)) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("the scope {s} was not granted"),
            ));
        }
        // Narrowing is per response; the grant keeps its scope for later refreshes.
        grant.scope =
            grant.scope.split_whitespace().filter(|g| oauth::has_scope(scope, g)).collect::<Vec<_>>().join(" ");
    }
    let marked = sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL")
        .bind(db::now())
        .bind(&hash)
        .execute(&provider.db)
        .await
        .map_err(OAuthError::server_error)?;
    if marked.rows_affected() != 1 {
        oauth::revoke_grant(provider, &grant.id).await.map_err(OAuthError::server_error)?;
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used; all tokens of this grant are revoked",
        ));
    }
    let identity_id = grant.identity_id.clone().ok_or_else(|| OAuthError::invalid_grant("the grant has no user"))?;
    let identity = oauth::active_identity(provider, &identity_id)
        .await
        .map_err(OAuthError::server_error)?
        .ok_or_else(|| OAuthError::invalid_grant("the user's account is deactivated or deleted"))?;
    let mut full = grant.clone();
    let mut resp =
        oauth::issue_user_tokens(provider, client, &grant, &identity, None).await.map_err(OAuthError::server_error)?;
    if resp.refresh_token.is_none() && oauth::has_scope(&full.scope, "offline_access") {
        // Narrowed away offline_access: still rotate so the family continues.
        full.scope = grant.scope.clone();
        let t = util::random_token();
        let now = db::now();
        sqlx::query("INSERT INTO refresh_tokens (hash, grant_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(util::hash(&t))
            .bind(&grant.id)
            .bind(now)
            .bind(now + provider.config.ttl.refresh_token)
            .execute(&provider.db)
            .await
            .map_err(OAuthError::server_error)?;
        resp.refresh_token = Some(t);
    }
    Ok(resp)
}

async fn client_credentials(
    provider: &Provider,
    client: &ClientConfig,
    form: &HashMap<String, String>,
    audiences: Vec<String>,
) -> Result<TokenResponse, OAuthError> {
    let scope: Vec<&str> = form.get("scope").map(|s| s.split_whitespace().collect()).unwrap_or_default();
    if let Some(s) = scope.iter().find(|s| !client.scopes.iter().any(|c| c == *s) || **s == "offline_access") {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("the scope {s} is not allowed for this client"),
        ));
    }
    if let Some(a) = audiences.iter().find(|a| !client.audiences.contains(a)) {
        return Err(OAuthError::invalid_request(format!("the audience {a} is not allowed for this client")));
    }
    let grant = oauth::create_grant(provider, &client.id, &scope.join(" "), None, &audiences)
        .await
        .map_err(OAuthError::server_error)?;
    let (access_token, expires_in) =
        oauth::issue_access_token(provider, &grant, audiences).await.map_err(OAuthError::server_error)?;
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in,
        scope: grant.scope,
        id_token: None,
        refresh_token: None,
    })
}

/// The request of `/oauth2/revoke` and `/oauth2/introspect`: an authenticated
/// client and a non-empty `token`, or the RFC error.
fn client_and_token<'p>(
    provider: &'p Provider,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Result<(&'p ClientConfig, String), OAuthError> {
    let form = oauth::single_params(pairs).map_err(OAuthError::invalid_request)?;
    let client = oauth::authenticate_client(provider, headers, &form)?;
    match form.get("token").filter(|t| !t.is_empty()) {
        Some(token) => Ok((client, token.clone())),
        None => Err(OAuthError::invalid_request("token is missing")),
    }
}

/// `POST /oauth2/revoke`: revokes a refresh token (and its whole grant) or an
/// access token. Unknown tokens and tokens of other clients get 200 (RFC 7009).
pub async fn revoke(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (client, token) = match client_and_token(&provider, &headers, pairs) {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    match revoke_token(&provider, client, &token).await {
        Ok(()) => no_store(StatusCode::OK),
        Err(e) => OAuthError::server_error(e).into_response(),
    }
}

async fn revoke_token(provider: &Provider, client: &ClientConfig, token: &str) -> Result<(), sqlx::Error> {
    let refresh: Option<(String,)> = sqlx::query_as("SELECT grant_id FROM refresh_tokens WHERE hash = ?")
        .bind(util::hash(token))
        .fetch_optional(&provider.db)
        .await?;
    if let Some((grant_id,)) = refresh {
        if oauth::load_grant(provider, &grant_id).await?.is_some_and(|g| g.client_id == client.id) {
            oauth::revoke_grant(provider, &grant_id).await?;
            provider.stats.count(crate::stats::REVOKED_REFRESH_TOKEN, &client.id);
        }
        return Ok(());
    }
    if let Ok((_, claims)) = provider.keys.verify::<oauth::AccessClaims>(token) {
        if claims.client_id == client.id {
            sqlx::query("DELETE FROM access_tokens WHERE jti = ?").bind(&claims.jti).execute(&provider.db).await?;
        }
    }
    Ok(())
}

/// `POST /oauth2/introspect` (RFC 7662, Hydra's admin path): an authenticated
/// confidential client asks whether a token is live (public clients get 401). Anything unknown, expired, used or
/// revoked is just `{"active": false}`.
pub async fn introspect(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let token = match client_and_token(&provider, &headers, pairs) {
        // Only confidential clients may ask: a public client's id is no secret.
        Ok((client, _)) if client.auth_method == AuthMethod::None || client.secret.is_none() => {
            return OAuthError::invalid_client(
                "token introspection needs a confidential client (client_secret_basic or client_secret_post)",
            )
            .into_response()
        }
        Ok((_, token)) => token,
        Err(e) => return e.into_response(),
    };
    match introspect_token(&provider, &token).await {
        Ok(body) => no_store(Json(body)),
        Err(e) => OAuthError::server_error(e).into_response(),
    }
}

async fn introspect_token(provider: &Provider, token: &str) -> Result<serde_json::Value, sqlx::Error> {
    if let Ok(c) = oauth::verify_access_token_str(provider, token).await {
        return Ok(serde_json::json!({
            "active": true, "token_use": "access_token", "token_type": "Bearer", "client_id": c.client_id,
            "sub": c.sub, "scope": c.scope, "exp": c.exp, "iat": c.iat, "nbf": c.nbf, "aud": c.aud, "iss": c.iss,
        }));
    }
    type Row = (String, i64, i64, Option<i64>);
    let refresh: Option<Row> =
        sqlx::query_as("SELECT grant_id, created_at, expires_at, used_at FROM refresh_tokens WHERE hash = ?")
            .bind(util::hash(token))
            .fetch_optional(&provider.db)
            .await?;
    if let Some((grant_id, iat, exp, None)) = refresh {
        if exp > db::now() {
            if let Some(g) = oauth::load_grant(provider, &grant_id).await?.filter(|g| !g.revoked) {
                return Ok(serde_json::json!({
                    "active": true, "token_use": "refresh_token", "client_id": g.client_id,
                    "sub": g.identity_id, "scope": g.scope, "exp": exp, "iat": iat, "iss": provider.issuer.as_ref(),
                }));
            }
        }
    }
    Ok(serde_json::json!({ "active": false }))
}
