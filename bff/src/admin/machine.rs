//! The server's own access token for the Admin API (OAuth 2.0 client
//! credentials, seed 003). Cached until shortly before it expires; callers
//! that need it while it is being fetched wait for that one fetch instead of
//! starting their own. The token never leaves this module except as an opaque
//! [`MachineToken`] that cannot be serialized.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;

use crate::oidc::ClientAuth;

/// The client this server authenticates as at the token endpoint.
#[derive(Clone)]
pub struct MachineClient {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: String,
    /// `client_secret_basic` or `client_secret_post` (a public client cannot use client credentials).
    pub auth: ClientAuth,
    /// `audience` values to request (Hydra), e.g. the Admin API's.
    pub audience: Vec<String>,
    /// `scope` to request, space-separated; empty asks for none.
    pub scope: String,
}

impl std::fmt::Debug for MachineClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineClient")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("auth", &self.auth)
            .field("audience", &self.audience)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// An access token of this server. Deliberately neither `Serialize` nor `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct MachineToken(Arc<str>);

impl MachineToken {
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for MachineToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MachineToken(..)")
    }
}

/// Why no machine token could be obtained. Messages are for operators (logs).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error(
        "the token endpoint refused the Admin API client ({status} {error}: {description}); check OIDC_ADMIN_CLIENT_ID, OIDC_ADMIN_CLIENT_SECRET, OIDC_ADMIN_AUDIENCE and OIDC_ADMIN_SCOPE"
    )]
    Refused { status: u16, error: String, description: String },
    #[error("the token endpoint did not answer in time")]
    Timeout,
    #[error("the token endpoint cannot be reached: {0}")]
    Transport(String),
    #[error("the token endpoint's answer is not a token response: {0}")]
    BadResponse(String),
}

struct Cached {
    token: MachineToken,
    /// When to fetch a new one (some time before the provider's expiry).
    renew_at: Instant,
}

/// Fetches and caches the machine token.
pub struct MachineTokens {
    client: MachineClient,
    http: reqwest::Client,
    /// Held across a fetch: this is what makes concurrent callers share one.
    cached: tokio::sync::Mutex<Option<Cached>>,
    fetches: AtomicU64,
}

/// Lifetime assumed when the token response has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// How long before expiry a token is renewed: a quarter of its lifetime, at most a minute.
fn renew_margin(lifetime: Duration) -> Duration {
    (lifetime / 4).min(Duration::from_secs(60))
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(serde::Deserialize, Default)]
struct OAuthErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl MachineTokens {
    pub fn new(client: MachineClient, http: reqwest::Client) -> Self {
        Self { client, http, cached: tokio::sync::Mutex::new(None), fetches: AtomicU64::new(0) }
    }

    /// How many tokens were fetched from the provider since startup.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A valid token: the cached one, or a new one (one fetch for all concurrent callers).
    pub async fn get(&self) -> Result<MachineToken, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        *cached = Some(Cached { token: token.clone(), renew_at: Instant::now() + lifetime - renew_margin(lifetime) });
        Ok(token)
    }

    /// Forgets `stale` (the provider refused it), unless another caller already replaced it.
    pub async fn invalidate(&self, stale: &MachineToken) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == stale) {
            *cached = None;
        }
    }

    #[tracing::instrument(skip_all, fields(client_id = %self.client.client_id))]
    async fn fetch(&self) -> Result<(MachineToken, Duration), TokenError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let c = &self.client;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if !c.scope.trim().is_empty() {
            form.push(("scope", c.scope.trim()));
        }
        for a in &c.audience {
            form.push(("audience", a));
        }
        let mut req = self.http.post(c.token_url.clone()).header(reqwest::header::ACCEPT, "application/json");
        match c.auth {
            ClientAuth::ClientSecretBasic => {
                // RFC 6749 §2.3.1: form-encode both parts before Basic.
                let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                req = req.basic_auth(enc(&c.client_id), Some(enc(&c.client_secret)));
            }
            ClientAuth::ClientSecretPost | ClientAuth::None => {
                form.push(("client_id", &c.client_id));
                form.push(("client_secret", &c.client_secret));
            }
        }
        let resp = crate::request_id::tag(req.form(&form)).send().await.map_err(|e| {
            if e.is_timeout() {
                TokenError::Timeout
            } else {
                TokenError::Transport(e.to_string())
            }
        })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| TokenError::Transport(e.to_string()))?;
        if !status.is_success() {
            let err: OAuthErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            let e = TokenError::Refused {
                status: status.as_u16(),
                error: err.error,
                description: err.error_description.chars().take(200).collect(),
            };
            tracing::error!(error = %e, "cannot get an Admin API token");
            return Err(e);
        }
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| TokenError::BadResponse(e.to_string()))?;
        if t.access_token.is_empty() {
            return Err(TokenError::BadResponse("empty access_token".into()));
        }
        let lifetime = t.expires_in.map(Duration::from_secs).unwrap_or(DEFAULT_LIFETIME);
        tracing::info!(expires_in = lifetime.as_secs(), "fetched an Admin API token");
        Ok((MachineToken(Arc::from(t.access_token)), lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_shortly_before_expiry() {
        assert_eq!(renew_margin(Duration::from_secs(3600)), Duration::from_secs(60));
        assert_eq!(renew_margin(Duration::from_secs(120)), Duration::from_secs(30));
        assert_eq!(renew_margin(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(renew_margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn tokens_do_not_print() {
        let t = MachineToken(Arc::from("secret-value"));
        assert_eq!(format!("{t:?}"), "MachineToken(..)");
    }
}
