//! `GET|POST /oauth2/sessions/logout` (RP-initiated logout) and OIDC
//! Back-Channel Logout delivery to every client that had a session.

use std::collections::HashMap;

use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::authorize::{current_session, Session, SESSION_COOKIE};
use crate::html::{error_page, esc, page};
use crate::{db, oauth, util, Provider};

#[derive(Debug, Deserialize)]
struct HintClaims {
    iss: String,
    sub: String,
    aud: serde_json::Value,
    sid: Option<String>,
}

fn invalid(message: &str) -> Response {
    error_page(StatusCode::BAD_REQUEST, "Sign-out failed", message)
}

/// Ends the provider session and notifies clients, then returns to the
/// registered `post_logout_redirect_uri` (with `state`) or shows a page.
pub async fn logout(
    State(p): State<Provider>,
    method: Method,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let params: HashMap<String, String> = match oauth::single_params(pairs) {
        Ok(m) => m,
        Err(e) => return invalid(&e),
    };
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let hint = match get("id_token_hint") {
        None => None,
        Some(t) => match p.keys.verify::<HintClaims>(t) {
            Ok((Some(typ), c)) if typ == "JWT" && c.iss == *p.issuer => Some(c),
            _ => return invalid("The id_token_hint is not a valid ID token of this provider."),
        },
    };
    let redirect = match (get("post_logout_redirect_uri"), &hint) {
        (None, _) => None,
        (Some(_), None) => return invalid("post_logout_redirect_uri requires an id_token_hint."),
        (Some(uri), Some(h)) => {
            let clients: Vec<String> = match &h.aud {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
                _ => Vec::new(),
            };
            let registered = clients
                .iter()
                .filter_map(|c| p.config.client(c))
                .any(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri));
            if !registered {
                return invalid("The post_logout_redirect_uri is not registered for this application.");
            }
            Some(uri.to_string())
        }
    };

    let mut ended: Vec<(String, String)> = Vec::new(); // (sid, sub)
    match current_session(&p, &headers).await {
        // Only an ID token of the signed-in user, or the user's own confirmation,
        // ends the session: a page from another site (no hint) or a hint of
        // another user must not sign them out.
        Ok(Some(s)) => {
            let own_hint = hint.as_ref().is_some_and(|h| util::secure_eq(&h.sub, &s.identity.id));
            let confirmed = method == Method::POST && util::secure_eq(get("csrf").unwrap_or_default(), &s.csrf);
            if !own_hint && !confirmed {
                return confirmation(&s, hint.is_some(), &params);
            }
            ended.push((s.sid, s.identity.id));
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "logout session lookup failed");
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Sign-out failed", "Please try again.");
        }
    }
    if let Some(h) = &hint {
        if let Some(sid) = &h.sid {
            let row: Option<(String,)> = sqlx::query_as("SELECT identity_id FROM sessions WHERE sid = ?")
                .bind(sid)
                .fetch_optional(&p.db)
                .await
                .unwrap_or(None);
            if row.is_some_and(|(id,)| id == h.sub) && !ended.iter().any(|(s, _)| s == sid) {
                ended.push((sid.clone(), h.sub.clone()));
            }
        }
    }
    for (sid, sub) in &ended {
        if let Err(e) = sqlx::query("DELETE FROM sessions WHERE sid = ?").bind(sid).execute(&p.db).await {
            tracing::error!(error = ?e.to_string(), "cannot delete provider session");
        }
        backchannel_logout(&p, sid, sub).await;
    }

    let mut resp = match redirect {
        Some(uri) => {
            let mut url = match Url::parse(&uri) {
                Ok(u) => u,
                Err(_) => return invalid("The post_logout_redirect_uri is not valid."),
            };
            if let Some(state) = get("state") {
                url.query_pairs_mut().append_pair("state", state);
            }
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(url.as_str()) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => page(StatusCode::OK, "Signed out", "<h1>You are signed out</h1><p>You can close this window.</p>"),
    };
    if let Ok(v) = HeaderValue::from_str(&util::set_cookie(SESSION_COOKIE, "", "/", Some(0), p.secure_cookies())) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// Asks the signed-in user to confirm. The form posts back with the session's
/// CSRF token and the request's hint, redirect URI and state, so a confirmed
/// sign-out continues exactly as the application asked.
fn confirmation(s: &Session, other_user: bool, params: &HashMap<String, String>) -> Response {
    let carried: String = ["id_token_hint", "post_logout_redirect_uri", "state"]
        .iter()
        .filter_map(|k| params.get(*k).filter(|v| !v.is_empty()).map(|v| (k, v)))
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)))
        .collect();
    let note = if other_user {
        "<p class=\"info\" data-testid=\"logout-other-user\">The application asked to sign out a different account than the one signed in here.</p>"
    } else {
        ""
    };
    page(
        StatusCode::OK,
        "Sign out",
        &format!(
            "<h1>Sign out?</h1>{note}<p>You are signed in as <strong>{}</strong>.</p>\
<form method=\"post\" action=\"/oauth2/sessions/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{carried}\
<button type=\"submit\">Sign out</button></form>",
            esc(s.identity.email()),
            esc(&s.csrf)
        ),
    )
}

/// POSTs a signed `logout_token` to each client with a back-channel logout URI
/// that holds a grant from the session `sid`. Failures are logged, not fatal.
pub async fn backchannel_logout(p: &Provider, sid: &str, sub: &str) {
    let clients: Vec<(String,)> =
        match sqlx::query_as("SELECT DISTINCT client_id FROM grants WHERE sid = ?").bind(sid).fetch_all(&p.db).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = ?e.to_string(), "cannot list clients for back-channel logout");
                return;
            }
        };
    let mut tasks = Vec::new();
    for (client_id,) in clients {
        let Some(uri) = p.config.client(&client_id).and_then(|c| c.backchannel_logout_uri.clone()) else {
            continue;
        };
        let now = db::now();
        let token = p.keys.sign(
            "logout+jwt",
            &json!({
                "iss": p.issuer.as_ref(), "aud": [client_id], "iat": now, "exp": now + 120,
                "jti": uuid::Uuid::new_v4().to_string(), "sid": sid, "sub": sub,
                "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
            }),
        );
        let http = p.http.clone();
        tasks.push(tokio::spawn(async move {
            match http.post(&uri).form(&[("logout_token", token)]).send().await {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(client_id = ?client_id, "back-channel logout delivered")
                }
                Ok(r) => tracing::warn!(client_id = ?client_id, status = %r.status(), "back-channel logout refused"),
                Err(e) => tracing::warn!(client_id = ?client_id, error = ?e.to_string(), "back-channel logout failed"),
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}
