//! The provider's other endpoints, all from discovery: token revocation
//! (RFC 7009) and userinfo.

use super::*;

/// Why fresh user information could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UserinfoError {
    #[error("the provider publishes no userinfo endpoint")]
    NoEndpoint,
    #[error("the provider refused the access token (expired, revoked, or the user is no longer served)")]
    Unauthorized,
    #[error("the userinfo request failed: {0}")]
    Upstream(String),
    #[error("the userinfo response is about subject {got:?}, not the signed-in {expected:?}")]
    SubjectMismatch { expected: String, got: String },
}

/// Why a revocation failed, and whether trying again later may help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RevokeError {
    /// The provider could not be reached, or answered 5xx, 429 or 408.
    pub transient: bool,
    pub message: String,
}

/// How long an answer of [`RelyingParty::reachable`] stands: a provider that
/// answered is asked again after 5 s, one that did not after 1 s (so its
/// return is noticed at once).
const REACHABLE_FOR: Duration = Duration::from_secs(5);
const UNREACHABLE_FOR: Duration = Duration::from_secs(1);
/// How long a probe waits for the provider.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl RelyingParty {
    /// Whether the provider answers its discovery URL within [`PROBE_TIMEOUT`]
    /// (any 2xx). Answers are reused briefly and one probe runs at a time, so
    /// a crowd of sign-ins during an outage costs the provider one request a
    /// second. A change either way is logged once.
    pub async fn reachable(&self) -> bool {
        let mut last = self.inner.probe.lock().await;
        if let Some((at, ok)) = *last {
            if at.elapsed() < if ok { REACHABLE_FOR } else { UNREACHABLE_FOR } {
                return ok;
            }
        }
        let url = discovery::discovery_url(self.issuer());
        let outcome = match crate::request_id::tag(self.inner.http.get(&url).timeout(PROBE_TIMEOUT)).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("{url} answered {}", r.status())),
            Err(e) => Err(error_chain(&e)),
        };
        let was = last.map(|(_, ok)| ok);
        match (&outcome, was) {
            (Err(e), Some(true) | None) => {
                tracing::warn!(issuer = %self.issuer(), error = %e, "the OpenID provider is not reachable")
            }
            (Ok(()), Some(false)) => tracing::info!(issuer = %self.issuer(), "the OpenID provider is reachable again"),
            _ => {}
        }
        *last = Some((std::time::Instant::now(), outcome.is_ok()));
        outcome.is_ok()
    }

    /// Revokes a refresh token at the provider's revocation endpoint (RFC 7009),
    /// authenticating as at the token endpoint. `Ok(false)`: the provider
    /// publishes no revocation endpoint.
    #[tracing::instrument(name = "token_revocation", skip_all)]
    pub async fn revoke_refresh_token(&self, token: &str) -> Result<bool, RevokeError> {
        let Some(url) = self.revocation_endpoint() else { return Ok(false) };
        let cfg = &self.inner.config;
        let mut form = vec![("token", token), ("token_type_hint", "refresh_token")];
        let mut request = self.inner.http.post(url.clone());
        match cfg.auth {
            ClientAuth::ClientSecretBasic => {
                let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                request = request.basic_auth(enc(&cfg.client_id), cfg.client_secret.as_deref().map(enc));
            }
            ClientAuth::ClientSecretPost => {
                form.push(("client_id", &cfg.client_id));
                form.push(("client_secret", cfg.client_secret.as_deref().unwrap_or_default()));
            }
            ClientAuth::None => form.push(("client_id", &cfg.client_id)),
        }
        let r = crate::request_id::tag(request.form(&form))
            .send()
            .await
            .map_err(|e| RevokeError { transient: true, message: error_chain(&e) })?;
        let status = r.status();
        if status.is_success() {
            return Ok(true);
        }
        let transient = status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408;
        Err(RevokeError { transient, message: format!("the revocation endpoint answered {status}") })
    }

    /// Reads fresh claims from the provider's userinfo endpoint with the
    /// session's access token. The answer must be about `expected_sub`
    /// (OpenID Connect Core 5.3.2), or it is refused.
    #[tracing::instrument(name = "userinfo", skip_all)]
    pub async fn userinfo(
        &self,
        access_token: &str,
        expected_sub: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, UserinfoError> {
        let url = self.userinfo_endpoint().ok_or(UserinfoError::NoEndpoint)?;
        let r = crate::request_id::tag(
            self.inner
                .http
                .get(url.clone())
                .bearer_auth(access_token)
                .header(reqwest::header::ACCEPT, "application/json"),
        )
        .send()
        .await
        .map_err(|e| UserinfoError::Upstream(error_chain(&e)))?;
        // 401 (RFC 6750: invalid_token) or 403 (insufficient_scope, or a user
        // the provider no longer serves): the provider refuses this user's token.
        if matches!(r.status(), reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN) {
            return Err(UserinfoError::Unauthorized);
        }
        if !r.status().is_success() {
            return Err(UserinfoError::Upstream(format!("status {}", r.status())));
        }
        let map: serde_json::Map<String, serde_json::Value> =
            r.json().await.map_err(|e| UserinfoError::Upstream(format!("not a JSON object: {e}")))?;
        let got = map.get("sub").and_then(|v| v.as_str()).unwrap_or_default();
        if got != expected_sub {
            return Err(UserinfoError::SubjectMismatch { expected: expected_sub.into(), got: got.into() });
        }
        Ok(map)
    }
}
