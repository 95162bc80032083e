//! Server-side sign-in for Gatehouse: the OpenID Connect relying party, the
//! typed session, token handling, authorization and the local user store.
//! It has no Leptos dependency and must never hand a token to anything that
//! could serialize it for the browser.

pub mod admin;
pub mod backchannel;
pub mod bearer;
pub mod csrf;
pub mod jwt;
pub mod metrics;
pub mod oidc;
pub mod pending;
pub mod rate_limit;
pub(crate) mod redis_store;
pub mod request_id;
pub mod return_to;
pub mod routes;
pub mod sealing;
pub mod session;
pub mod session_ids;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub(crate) mod token_rows;
pub mod tokens;
pub mod ttl_cache;
pub mod users;

pub use pending::PendingLogin;
pub use return_to::ReturnTo;

/// The current time in Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A fresh random value (32 bytes, URL-safe base64) for ids and one-time tokens.
pub(crate) fn random_token() -> String {
    openidconnect::CsrfToken::new_random().secret().clone()
}

/// At most `max` characters of a value from a request, for logs and error texts.
pub(crate) fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
