//! `/profile`: a signed-in user edits their own traits (validated against the
//! identity schema, like the Admin API).

use std::collections::HashMap;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::authorize::{current_session, Session};
use crate::html::{error_page, esc, page};
use crate::identity::{self, IdentityInput};
use crate::{util, Provider};

fn form(s: &Session, notice: Option<(&str, &str)>) -> Response {
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
<button type=\"submit\">Save</button></form>",
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
pub async fn show(State(p): State<Provider>, headers: HeaderMap) -> Response {
    match current_session(&p, &headers).await {
        Ok(Some(s)) => form(&s, None),
        Ok(None) => not_signed_in(),
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "profile lookup failed");
            error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again.")
        }
    }
}

/// `POST /profile`
pub async fn save(State(p): State<Provider>, headers: HeaderMap, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut s = match current_session(&p, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_signed_in(),
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "profile lookup failed");
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again.");
        }
    };
    if !util::secure_eq(f.get("csrf").map(String::as_str).unwrap_or_default(), &s.csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form could not be verified. Reload the page and try again.",
        );
    }
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
            form(&s, Some(("info", "Your profile was saved.")))
        }
        Err(identity::IdentityError::Schema(reason)) => form(&s, Some(("error", &reason))),
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "profile update failed");
            form(&s, Some(("error", "Your profile could not be saved. Please try again.")))
        }
    }
}
