//! Counts of tokens issued since the provider started, by grant type and
//! client, at `GET /stats/tokens` — how tests and benchmarks see, from the
//! provider's side, how often an app really fetched or refreshed a token.
//! Holds no token and no identity. Needs a client-credentials token with the
//! statistics audience (`stats_audience`, default `provider-stats`); an Admin
//! API token is refused, and a statistics token is refused by the Admin API.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::Provider;

/// The key under which refresh tokens revoked through `/oauth2/revoke` are counted.
pub const REVOKED_REFRESH_TOKEN: &str = "revoked_refresh_token";

/// `grant_type` (or [`REVOKED_REFRESH_TOKEN`]) → `client_id` → count.
#[derive(Debug, Default)]
pub struct TokenStats {
    issued: Mutex<BTreeMap<String, BTreeMap<String, u64>>>,
}

impl TokenStats {
    pub fn count(&self, grant_type: &str, client_id: &str) {
        let mut m = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(grant_type.to_string()).or_default().entry(client_id.to_string()).or_default() += 1;
    }

    pub fn get(&self, grant_type: &str, client_id: &str) -> u64 {
        let m = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        m.get(grant_type).and_then(|c| c.get(client_id)).copied().unwrap_or(0)
    }

    fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.issued.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// `GET /stats/tokens` → `{"client_credentials": {"gatehouse-admin": 1}, …}`.
/// Requires `Authorization: Bearer` with a statistics token (401/403 otherwise).
pub async fn tokens(State(p): State<Provider>, headers: HeaderMap) -> Response {
    let forbidden = "the statistics need a client-credentials token whose audience includes the statistics audience";
    if let Err(r) = crate::admin::authorize_for(&p, &headers, &p.config.stats_audience, forbidden).await {
        return r;
    }
    Json(p.stats.snapshot()).into_response()
}
