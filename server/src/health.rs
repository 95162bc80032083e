//! Health for load balancers and orchestrators: `GET /healthz` says the
//! process answers; `GET /readyz` says whether it can serve sign-ins now —
//! the provider answers its discovery URL, and the session store and the
//! database answer a trivial request, each within its timeout. A failing
//! dependency turns it `503` with JSON naming it; the reasons are logged,
//! never sent.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_sessions::SessionStore as _;

/// How long the session store and the database may take to answer.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` checks.
pub struct Readiness {
    pub bff: Arc<bff::routes::Bff>,
    /// The session store itself (not its in-memory cache).
    pub sessions: crate::sessions::SessionBackend,
    pub database: bff::store::Database,
}

/// `/healthz` and `/readyz`.
pub fn router(readiness: Arc<Readiness>) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(readiness)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Whether a store answered in time; why not goes to the log.
fn answered<T, E: std::fmt::Display>(name: &str, outcome: Result<Result<T, E>, tokio::time::error::Elapsed>) -> bool {
    match outcome {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::warn!(dependency = name, error = %e, "not ready");
            false
        }
        Err(_) => {
            tracing::warn!(
                dependency = name,
                timeout_ms = STORE_TIMEOUT.as_millis() as u64,
                "not ready: no answer in time"
            );
            false
        }
    }
}

async fn readyz(State(r): State<Arc<Readiness>>) -> Response {
    let provider = r.bff.provider_reachable();
    // A made-up session id: reading it is a real query that finds nothing.
    let id = tower_sessions::session::Id::default();
    let sessions = tokio::time::timeout(STORE_TIMEOUT, r.sessions.load(&id));
    let database = tokio::time::timeout(STORE_TIMEOUT, r.database.ping());
    let (provider, sessions, database) = tokio::join!(provider, sessions, database);
    let checks = [
        ("provider", provider, "not reachable"),
        ("sessions", answered("sessions", sessions), "not answering"),
        ("database", answered("database", database), "not answering"),
    ];
    let failing: Vec<&str> = checks.iter().filter(|(_, ok, _)| !ok).map(|(name, _, _)| *name).collect();
    let body = serde_json::json!({
        "status": if failing.is_empty() { "ready" } else { "unavailable" },
        "checks": checks.iter().map(|(name, ok, bad)| (name.to_string(), serde_json::Value::from(if *ok { "ok" } else { *bad })))
            .collect::<serde_json::Map<_, _>>(),
        "failing": failing,
    });
    let status = if failing.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status != StatusCode::OK {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    res
}
