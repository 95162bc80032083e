//! The server function every page calls, `POST /api/current_user`, answered
//! by a plain axum handler: the same answer as the server function (the same
//! [`app::api::session::user_view`], the same JSON, the same error encoding),
//! without building a reactive owner, cloning the request's parts and boxing
//! the function's service per call. The server function itself stays: the
//! server renders pages with it, and its client calls this route.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use leptos::server_fn::error::{FromServerFnError, SERVER_FN_ERROR_HEADER};

use app::error::AppError;

use crate::startup::AppState;

/// Where the server function lives (its `#[server]` prefix and endpoint).
pub const CURRENT_USER: &str = "/api/current_user";

/// `POST /api/current_user`.
pub(crate) async fn current_user(State(state): State<AppState>, req: Request) -> Response {
    // A browser's own form post (it accepts HTML) goes back where it came
    // from, as Leptos answers such posts to a server function.
    let back_to = accepts_html(&req).then(|| req.headers().get(header::REFERER).cloned()).flatten();
    let Some(session) = req.extensions().get::<tower_sessions::Session>().cloned() else {
        tracing::error!("no session layer in front of {CURRENT_USER}");
        return error(&AppError::Internal);
    };
    let bff = &state.server.bff;
    let auth = bff.session(session);
    let mut res = match app::api::session::user_view(&auth, bff).await {
        Ok(view) => match serde_json::to_vec(&view) {
            Ok(json) => ok_json(json),
            Err(e) => {
                tracing::error!(error = %e, "current user could not be encoded");
                error(&AppError::Internal)
            }
        },
        Err(e) if bff::store::Outage::is_outage(&e) => {
            tracing::warn!(error = %e, "{}: a store is unavailable", e.what());
            error(&AppError::Unavailable)
        }
        Err(e) => {
            tracing::error!(error = %e, "{}", e.what());
            error(&AppError::Internal)
        }
    };
    if let Some(referer) = back_to {
        if !res.headers().contains_key(header::LOCATION) {
            *res.status_mut() = StatusCode::FOUND;
            res.headers_mut().insert(header::LOCATION, referer);
        }
    }
    res
}

fn accepts_html(req: &Request) -> bool {
    req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

fn ok_json(json: Vec<u8>) -> Response {
    let mut res = Response::new(Body::from(json));
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// A server function's error answer: the error's status, the
/// `serverfnerror` header naming the function, the error encoded as the
/// client decodes it.
fn error(err: &AppError) -> Response {
    let mut res = Response::new(Body::from(err.ser()));
    *res.status_mut() = StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut().insert(SERVER_FN_ERROR_HEADER, HeaderValue::from_static(CURRENT_USER));
    res
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_error_is_answered_as_the_server_function_client_decodes_it() {
        let res = error(&AppError::Internal);
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()[SERVER_FN_ERROR_HEADER], CURRENT_USER);
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert_eq!(AppError::de(body), AppError::Internal);
        let res = error(&AppError::Unauthenticated);
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let res = error(&AppError::Unavailable);
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
