//! The Identity Admin API in Kratos shapes (`/admin/identities`): list with
//! paging, get, create, full-replace update and delete. Requires a Bearer
//! access token whose audience is the Admin API.

// Helpers return a ready `Response` as their error, the axum idiom; it is built once per request.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::identity::{self, rfc3339, IdentityError, IdentityInput, State as IdState};
use crate::oauth::{self, BearerError};
use crate::passkey;
use crate::Provider;

pub const DEFAULT_PER_PAGE: i64 = 250;
pub const MAX_PER_PAGE: i64 = 1000;

/// A Kratos-style error body.
pub fn kratos_error(status: StatusCode, reason: &str) -> Response {
    let message = match status.as_u16() {
        400 => "The request was malformed or contained invalid parameters",
        401 => "The request could not be authorized",
        403 => "The requested action was forbidden",
        404 => "Unable to locate the resource",
        409 => "Unable to insert or update resource because a resource with that value exists already",
        _ => "An internal server error occurred, please contact the system administrator",
    };
    let body = json!({ "error": {
        "code": status.as_u16(),
        "status": status.canonical_reason().unwrap_or_default(),
        "reason": reason,
        "message": message,
    }});
    (status, Json(body)).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = ?e.to_string(), "admin API failure");
    kratos_error(StatusCode::INTERNAL_SERVER_ERROR, "")
}

/// Checks the Bearer token: 401 when missing or invalid, 403 without the Admin API audience.
pub(crate) async fn authorize(p: &Provider, headers: &HeaderMap) -> Result<(), Response> {
    authorize_for(
        p,
        headers,
        &p.config.admin_audience,
        "the Admin API needs a client-credentials token whose audience includes the Admin API",
    )
    .await
}

/// Checks the Bearer token: 401 when missing or invalid, 403 unless it is a
/// client-credentials token whose `aud` includes `audience` (`forbidden` says why).
/// Guards the Admin API and, with its own audience, `/stats/tokens`.
pub(crate) async fn authorize_for(
    p: &Provider,
    headers: &HeaderMap,
    audience: &str,
    forbidden: &str,
) -> Result<(), Response> {
    match oauth::verify_access_token(p, headers).await {
        // Only client-credentials tokens (no user behind them) with the audience.
        Ok(c) if c.sub == c.client_id && c.sid.is_none() && c.aud.iter().any(|a| a == audience) => Ok(()),
        Ok(_) => Err(kratos_error(StatusCode::FORBIDDEN, forbidden)),
        Err(e) => {
            let reason = match e {
                BearerError::Missing => "an access token is required (Authorization: Bearer …)",
                BearerError::Invalid(why) => why,
            };
            let mut r = kratos_error(StatusCode::UNAUTHORIZED, reason);
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            Err(r)
        }
    }
}

fn parse_int(params: &HashMap<String, String>, name: &str, default: i64) -> Result<i64, Response> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= if name == "page" { 0 } else { 1 }).ok_or_else(|| {
            kratos_error(
                StatusCode::BAD_REQUEST,
                &format!("{name} must be a {} integer", if name == "page" { "non-negative" } else { "positive" }),
            )
        }),
    }
}

/// `GET /admin/identities?page=&per_page=&credentials_identifier=`
pub async fn list(
    State(p): State<Provider>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = authorize(&p, &headers).await {
        return r;
    }
    let page = match parse_int(&params, "page", 0) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let per_page = match parse_int(&params, "per_page", DEFAULT_PER_PAGE) {
        Ok(v) => v.min(MAX_PER_PAGE),
        Err(r) => return r,
    };
    let filter = params.get("credentials_identifier").map(|s| s.trim()).filter(|s| !s.is_empty());
    let (items, total) = match identity::list(&p.db, page, per_page, filter).await {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let body: Vec<Value> = items.iter().map(|i| i.to_json(&p.issuer)).collect();
    let mut resp = Json(body).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        h.insert("x-total-count", v);
    }
    if let Ok(v) = HeaderValue::from_str(&link_header(&p.url("admin/identities"), page, per_page, total)) {
        h.insert(header::LINK, v);
    }
    resp
}

/// RFC 8288 `Link` header with first/next/prev/last pages (0-based).
pub fn link_header(base: &str, page: i64, per_page: i64, total: i64) -> String {
    let last = if total == 0 { 0 } else { (total - 1) / per_page };
    let link = |n: i64, rel: &str| format!("<{base}?page={n}&per_page={per_page}>; rel=\"{rel}\"");
    let mut links = vec![link(0, "first")];
    if page < last {
        links.push(link(page + 1, "next"));
    }
    if page > 0 {
        links.push(link((page - 1).min(last), "prev"));
    }
    links.push(link(last, "last"));
    links.join(",")
}

/// `GET /admin/identities/{id}[?include_credential=webauthn]`: the identity
/// with its `credentials`; as in Kratos, a credential's `config` (the list of
/// passkeys) only when `include_credential` names its type.
pub async fn get(
    State(p): State<Provider>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Response {
    if let Err(r) = authorize(&p, &headers).await {
        return r;
    }
    let i = match identity::get(&p.db, &id).await {
        Ok(Some(i)) => i,
        Ok(None) => return kratos_error(StatusCode::NOT_FOUND, "no identity with this id"),
        Err(e) => return internal(e),
    };
    let keys = match passkey::list(&p.db, &i.id).await {
        Ok(k) => k,
        Err(e) => return internal(e),
    };
    let include = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "include_credential" && v == "webauthn");
    let mut body = i.to_json(&p.issuer);
    body["credentials"] = credentials_json(&i, &keys, include);
    Json(body).into_response()
}

/// An identity's credentials in Kratos' shape: `webauthn` with its passkeys
/// under `config.credentials` (id, display name, dates; never key material)
/// when `include_config`. Absent without passkeys.
pub fn credentials_json(i: &identity::Identity, keys: &[passkey::PasskeyInfo], include_config: bool) -> Value {
    if keys.is_empty() {
        return json!({});
    }
    let first = keys.iter().map(|k| k.created_at).min().unwrap_or_default();
    let last = keys.iter().map(|k| k.last_used_at.unwrap_or(k.created_at).max(k.created_at)).max().unwrap_or_default();
    let creds: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "id": k.id,
                "display_name": k.name,
                "added_at": rfc3339(k.created_at),
                "last_used_at": k.last_used_at.map(rfc3339),
                "is_passwordless": true,
                "backup_eligible": k.backup_eligible,
            })
        })
        .collect();
    let mut webauthn = json!({
        "type": "webauthn",
        "identifiers": [i.email()],
        "version": 1,
        "created_at": rfc3339(first),
        "updated_at": rfc3339(last),
    });
    if include_config {
        webauthn["config"] = json!({ "credentials": creds });
    }
    json!({ "webauthn": webauthn })
}

/// `DELETE /admin/identities/{id}/credentials/{type}?identifier=<credential id>`
/// → 204: deletes one passkey (`identifier`), or all of them (no `identifier`).
/// Only `webauthn` credentials can be deleted (a passcode by email is not a
/// stored credential).
pub async fn delete_credential(
    State(p): State<Provider>,
    headers: HeaderMap,
    Path((id, kind)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = authorize(&p, &headers).await {
        return r;
    }
    if kind != "webauthn" {
        return kratos_error(
            StatusCode::BAD_REQUEST,
            &format!("credentials of type {kind:?} cannot be deleted; only webauthn"),
        );
    }
    match identity::get(&p.db, &id).await {
        Ok(Some(_)) => {}
        Ok(None) => return kratos_error(StatusCode::NOT_FOUND, "no identity with this id"),
        Err(e) => return internal(e),
    }
    let deleted = match params.get("identifier").map(|s| s.trim()) {
        Some("") => {
            return kratos_error(
                StatusCode::BAD_REQUEST,
                "identifier: must name a credential (leave it out to delete all)",
            )
        }
        Some(cred) => passkey::delete(&p.db, &id, cred).await.map(u64::from),
        None => passkey::delete_all(&p.db, &id).await,
    };
    match deleted {
        Ok(0) => kratos_error(StatusCode::NOT_FOUND, "the identity has no such webauthn credential"),
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    schema_id: String,
    traits: Value,
    #[serde(default)]
    state: Option<IdState>,
    #[serde(default)]
    metadata_public: Option<Value>,
    #[serde(default)]
    metadata_admin: Option<Value>,
}

fn parse_body(bytes: &Bytes) -> Result<Body, Response> {
    serde_json::from_slice::<Body>(bytes)
        .map_err(|e| kratos_error(StatusCode::BAD_REQUEST, &format!("the request body is not valid: {e}")))
}

fn write_error(e: IdentityError) -> Response {
    match e {
        IdentityError::Schema(reason) => kratos_error(StatusCode::BAD_REQUEST, &reason),
        IdentityError::Duplicate => kratos_error(StatusCode::CONFLICT, "an identity with this email already exists"),
        IdentityError::NotFound => kratos_error(StatusCode::NOT_FOUND, "no identity with this id"),
        IdentityError::Db(e) => internal(e),
    }
}

/// `POST /admin/identities` → 201 with `Location`.
pub async fn create(State(p): State<Provider>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&p, &headers).await {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let input = IdentityInput {
        schema_id: body.schema_id,
        traits: body.traits,
        state: body.state.unwrap_or(IdState::Active),
        metadata_public: body.metadata_public,
        metadata_admin: body.metadata_admin,
    };
    match identity::create(&p.db, input).await {
        Ok(i) => {
            let mut r = (StatusCode::CREATED, Json(i.to_json(&p.issuer))).into_response();
            if let Ok(v) = HeaderValue::from_str(&p.url(&format!("admin/identities/{}", i.id))) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Err(e) => write_error(e),
    }
}

/// `PUT /admin/identities/{id}` — full replace; `state` is required as in Kratos.
pub async fn update(State(p): State<Provider>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(r) = authorize(&p, &headers).await {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(state) = body.state else {
        return kratos_error(StatusCode::BAD_REQUEST, "state: is required (active or inactive)");
    };
    let input = IdentityInput {
        schema_id: body.schema_id,
        traits: body.traits,
        state,
        metadata_public: body.metadata_public,
        metadata_admin: body.metadata_admin,
    };
    match identity::update(&p.db, &id, input).await {
        Ok(i) => {
            if i.state == IdState::Inactive {
                // A deactivated identity is signed out everywhere at once.
                end_everything(&p, &i.id).await;
            }
            Json(i.to_json(&p.issuer)).into_response()
        }
        Err(e) => write_error(e),
    }
}

/// `DELETE /admin/identities/{id}` → 204.
pub async fn delete(State(p): State<Provider>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authorize(&p, &headers).await {
        return r;
    }
    if matches!(identity::get(&p.db, &id).await, Ok(Some(_))) {
        end_everything(&p, &id).await;
    }
    match identity::delete(&p.db, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => write_error(e),
    }
}

/// Ends every provider session of an identity (with back-channel logout to the
/// clients) and revokes all its grants.
async fn end_everything(p: &Provider, identity_id: &str) {
    let sessions: Vec<(String,)> = sqlx::query_as("SELECT sid FROM sessions WHERE identity_id = ?")
        .bind(identity_id)
        .fetch_all(&p.db)
        .await
        .unwrap_or_default();
    for (sid,) in sessions {
        let _ = sqlx::query("DELETE FROM sessions WHERE sid = ?").bind(&sid).execute(&p.db).await;
        crate::logout::backchannel_logout(p, &sid, identity_id).await;
    }
    let grants: Vec<(String,)> = sqlx::query_as("SELECT id FROM grants WHERE identity_id = ? AND revoked = 0")
        .bind(identity_id)
        .fetch_all(&p.db)
        .await
        .unwrap_or_default();
    for (g,) in grants {
        if let Err(e) = oauth::revoke_grant(p, &g).await {
            tracing::error!(error = ?e.to_string(), "cannot revoke grant of a deactivated identity");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::link_header;

    #[test]
    fn link_header_paging_math() {
        let b = "http://x/admin/identities";
        let h = link_header(b, 0, 2, 5);
        assert!(h.contains("page=0&per_page=2>; rel=\"first\""));
        assert!(h.contains("page=1&per_page=2>; rel=\"next\""));
        assert!(!h.contains("rel=\"prev\""));
        assert!(h.contains("page=2&per_page=2>; rel=\"last\""));
        let h = link_header(b, 2, 2, 5);
        assert!(!h.contains("rel=\"next\""));
        assert!(h.contains("page=1&per_page=2>; rel=\"prev\""));
        let h = link_header(b, 0, 250, 0);
        assert!(h.contains("page=0&per_page=250>; rel=\"last\""));
    }
}
