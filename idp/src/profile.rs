//! `/profile`: a signed-in user edits their own traits (validated against the
//! identity schema, like the Admin API).

use std::collections::HashMap;

use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use crate::authorize::{ceremony_error, current_session, json, Session, SESSION_COOKIE};
use crate::html::{error_page, esc, page};
use crate::identity::{self, IdentityInput};
use crate::passkey::{self, PasskeyInfo};
use crate::{util, Provider};

/// "3 Dec 2026, 14:05 UTC".
fn when(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map(|d| d.format("%-d %b %Y, %H:%M UTC").to_string()).unwrap_or_default()
}

/// The passkeys section: each with its dates, a rename form and a delete
/// form; "Add a passkey" appears when the browser can make one.
fn passkeys_section(s: &Session, keys: &[PasskeyInfo], enabled: bool) -> String {
    if !enabled {
        return "<h2>Passkeys</h2><p class=\"muted\">Passkeys need the provider to run on a domain name \
(for example http://localhost). Sign in with a passcode meanwhile.</p>"
            .into();
    }
    let csrf = esc(&s.csrf);
    let mut html = String::from("<h2 id=\"passkeys\">Passkeys</h2>");
    if keys.is_empty() {
        html.push_str(
            "<p class=\"muted\" data-testid=\"passkeys-empty\">You have no passkeys yet. With one you sign in \
with your fingerprint, face or screen lock instead of a passcode.</p>",
        );
    } else {
        html.push_str("<ul class=\"list passkeys\" data-testid=\"passkeys\">");
        for (n, k) in keys.iter().enumerate() {
            let id = esc(&k.id);
            let used = k.last_used_at.map_or_else(|| "never used".to_string(), |t| format!("last used {}", when(t)));
            html.push_str(&format!(
                "<li data-testid=\"passkey\"><p><strong data-testid=\"passkey-name\">{name}</strong> \
<span class=\"muted\">added {added}, {used}</span></p>\
<form method=\"post\" action=\"/profile/passkeys/{id}/rename\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><label for=\"passkey-name-{n}\">Name of this passkey</label>\
<input id=\"passkey-name-{n}\" name=\"name\" value=\"{name}\" maxlength=\"{max}\" required>\
<button type=\"submit\" class=\"secondary\">Rename</button></form>\
<form method=\"post\" action=\"/profile/passkeys/{id}/delete\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" class=\"danger\" aria-label=\"Delete the passkey {name}\">Delete</button></form></li>",
                name = esc(&k.name),
                added = esc(&when(k.created_at)),
                used = esc(&used),
                max = passkey::MAX_NAME_CHARS,
            ));
        }
        html.push_str("</ul>");
    }
    html.push_str(&format!(
        "<div data-passkey-only hidden><p class=\"error\" role=\"alert\" data-testid=\"passkey-error\" data-passkey-status hidden></p>\
<button type=\"button\" data-passkey-register data-csrf=\"{csrf}\" data-next=\"/profile?added=1#passkeys\" \
data-testid=\"passkey-add\">Add a passkey</button></div>"
    ));
    html
}

async fn form_with_passkeys(p: &Provider, s: &Session, notice: Option<(&str, &str)>) -> Response {
    match passkey::list(&p.db, &s.identity.id).await {
        Ok(keys) => form(s, notice, &passkeys_section(s, &keys, p.passkeys.is_some())),
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "passkey lookup failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again.")
        }
    }
}

fn form(s: &Session, notice: Option<(&str, &str)>, passkeys: &str) -> Response {
    let t = &s.identity.traits;
    let v = |k: &str| esc(t["name"][k].as_str().unwrap_or_default());
    let notice = notice
        .map(|(class, msg)| {
            format!("<p class=\"{class}\" role=\"status\" data-testid=\"profile-notice\">{}</p>", esc(msg))
        })
        .unwrap_or_default();
    page(
        if notice.contains("error") { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK },
        "Your profile",
        &format!(
            "<h1>Your profile</h1>{notice}<form method=\"post\" action=\"/profile\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<label for=\"email\">Email</label><input id=\"email\" value=\"{}\" disabled>\
<label for=\"first\">First name</label><input id=\"first\" name=\"first\" value=\"{}\">\
<label for=\"last\">Last name</label><input id=\"last\" name=\"last\" value=\"{}\">\
<label for=\"degree\">Academic degree</label><input id=\"degree\" name=\"academic-degree\" value=\"{}\">\
<button type=\"submit\">Save</button></form>{passkeys}",
            esc(&s.csrf),
            esc(s.identity.email()),
            v("first"),
            v("last"),
            v("academic-degree")
        ),
    )
}

fn not_signed_in() -> Response {
    error_page(
        StatusCode::UNAUTHORIZED,
        "Not signed in",
        "Sign in through an application first, then come back to edit your profile.",
    )
}

/// `GET /profile`
pub async fn show(
    State(p): State<Provider>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    match current_session(&p, &headers).await {
        Ok(Some(s)) => {
            let notice = q.contains_key("added").then_some(("info", "Your passkey was added."));
            form_with_passkeys(&p, &s, notice).await
        }
        Ok(None) => not_signed_in(),
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "profile lookup failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again.")
        }
    }
}

/// `POST /profile`
pub async fn save(State(p): State<Provider>, headers: HeaderMap, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut s = match checked_session(&p, &headers, &f).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut traits = identity::traits_from(
        s.identity.email(),
        f.get("first").map(String::as_str),
        f.get("last").map(String::as_str),
    );
    if let Some(d) = f.get("academic-degree").map(|d| d.trim()).filter(|d| !d.is_empty()) {
        if traits.get("name").is_none() {
            traits["name"] = serde_json::json!({});
        }
        traits["name"]["academic-degree"] = serde_json::json!(d);
    }
    let input = IdentityInput {
        schema_id: s.identity.schema_id.clone(),
        traits,
        state: s.identity.state,
        metadata_public: s.identity.metadata_public.clone(),
        metadata_admin: s.identity.metadata_admin.clone(),
    };
    match identity::update(&p.db, &s.identity.id, input).await {
        Ok(updated) => {
            s.identity = updated;
            form_with_passkeys(&p, &s, Some(("info", "Your profile was saved."))).await
        }
        Err(identity::IdentityError::Schema(reason)) => form_with_passkeys(&p, &s, Some(("error", &reason))).await,
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "profile update failed");
            form_with_passkeys(&p, &s, Some(("error", "Your profile could not be saved. Please try again."))).await
        }
    }
}

/// The signed-in session of a form post whose CSRF token matches, else the page to answer.
async fn checked_session(p: &Provider, headers: &HeaderMap, f: &HashMap<String, String>) -> Result<Session, Response> {
    let s = match current_session(p, headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(not_signed_in()),
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "profile lookup failed");
            return Err(error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again."));
        }
    };
    if !util::secure_eq(f.get("csrf").map(String::as_str).unwrap_or_default(), &s.csrf) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form could not be verified. Reload the page and try again.",
        ));
    }
    Ok(s)
}

/// `POST /profile/passkeys/{id}/rename` (with `name`) and
/// `POST /profile/passkeys/{id}/delete`: one of the signed-in user's passkeys.
pub async fn change_passkey(
    State(p): State<Provider>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let s = match checked_session(&p, &headers, &f).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (done, ok, verb) = match action.as_str() {
        "rename" => {
            let name = f.get("name").map(String::as_str).unwrap_or_default();
            (passkey::rename(&p.db, &s.identity.id, &id, name).await, "Your passkey was renamed.", "renamed")
        }
        "delete" => (
            passkey::delete(&p.db, &s.identity.id, &id).await,
            "Your passkey was deleted. Remove it from your device or password manager too.",
            "deleted",
        ),
        _ => return error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page."),
    };
    let failed = format!("Your passkey could not be {verb}. Please try again.");
    let notice = match done {
        Ok(true) => ("info", ok),
        Ok(false) => ("error", "That passkey does not exist any more."),
        Err(e) => {
            tracing::error!(error = ?e.to_string(), action = %verb, "passkey change failed");
            ("error", failed.as_str())
        }
    };
    form_with_passkeys(&p, &s, Some(notice)).await
}

/// The relying party and the session of a passkey registration request
/// (cookie and CSRF token, the cookie being what the ceremony is bound to),
/// or a JSON refusal.
async fn registration_session(
    p: &Provider,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<(std::sync::Arc<webauthn_rs::prelude::Webauthn>, Session, String), Response> {
    let Some(wa) = p.passkeys.clone() else {
        return Err(ceremony_error(&passkey::CeremonyError::Disabled));
    };
    let refuse = |status, msg: &str| json(status, serde_json::json!({ "error": msg }));
    let cookie = util::cookie(headers, SESSION_COOKIE).unwrap_or_default();
    let s = match current_session(p, headers).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "You are not signed in any more. Sign in again, then add your passkey.",
            ))
        }
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "profile lookup failed");
            return Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong. Please try again."));
        }
    };
    if !util::secure_eq(f.get("csrf").map(String::as_str).unwrap_or_default(), &s.csrf) {
        return Err(refuse(StatusCode::FORBIDDEN, "The request could not be verified. Reload the page and try again."));
    }
    Ok((wa, s, cookie))
}

/// `POST /passkeys/register/start`: options for `navigator.credentials.create`.
pub async fn register_start(
    State(p): State<Provider>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let (wa, s, cookie) = match registration_session(&p, &headers, &f).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let display = [s.identity.first_name(), s.identity.last_name()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let user = passkey::NewPasskeyUser {
        identity_id: &s.identity.id,
        email: s.identity.email(),
        display_name: if display.is_empty() { s.identity.email() } else { &display },
    };
    match passkey::start_registration(&wa, &p.db, user, &cookie, p.config.ttl.passkey_challenge).await {
        Ok(started) => json(StatusCode::OK, serde_json::to_value(started).unwrap_or_default()),
        Err(e) => ceremony_error(&e),
    }
}

/// `POST /passkeys/register/finish`: stores the new passkey, named after the browser.
pub async fn register_finish(
    State(p): State<Provider>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let (wa, s, cookie) = match registration_session(&p, &headers, &f).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let name = match f.get("name").filter(|n| !n.trim().is_empty()) {
        Some(n) => n.clone(),
        None => passkey::name_from_user_agent(
            headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default(),
        ),
    };
    let ceremony = f.get("ceremony").map(String::as_str).unwrap_or_default();
    let credential = f.get("credential").map(String::as_str).unwrap_or_default();
    match passkey::finish_registration(&wa, &p.db, ceremony, &cookie, &s.identity.id, credential, &name).await {
        Ok(info) => json(StatusCode::OK, serde_json::json!({ "passkey": info })),
        Err(e) => ceremony_error(&e),
    }
}
