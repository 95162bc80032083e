//! Refreshing a session's tokens: the refresh grant, its `token_type`, and a
//! new ID token checked like the first and about the same subject.

use super::flow::check_token_type;
use super::*;

/// Why the session's tokens could not be refreshed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The provider refused the refresh token for good (`invalid_grant`, …): the session is over.
    #[error("the provider refused the refresh token: {0}")]
    Refused(String),
    /// The refreshed ID token is invalid or about someone else: the session is over.
    #[error("the refreshed ID token is not acceptable: {0}")]
    IdToken(String),
    /// Worth trying again later (network, provider errors).
    #[error("the refresh failed: {0}")]
    Unavailable(String),
}

impl RefreshError {
    /// Whether the session cannot go on.
    pub fn is_definitive(&self) -> bool {
        !matches!(self, RefreshError::Unavailable(_))
    }
}

impl RelyingParty {
    /// Refreshes `old` with its refresh token. A new ID token, if the provider
    /// sends one, is fully verified and must be about `expected_sub` (its issuer
    /// is this provider's by the verifier); what the provider does not send
    /// again (ID token, rotated refresh token) is kept from `old`.
    #[tracing::instrument(name = "token_refresh", skip_all)]
    pub async fn refresh(&self, old: &TokenSet, expected_sub: &str) -> Result<TokenSet, RefreshError> {
        let Some(refresh_token) = &old.refresh_token else {
            return Err(RefreshError::Refused("the session has no refresh token".into()));
        };
        let refresh_token = RefreshToken::new(refresh_token.clone());
        let request = self
            .client()
            .exchange_refresh_token(&refresh_token)
            .map_err(|_| RefreshError::Unavailable("the provider publishes no token endpoint".into()))?;
        let tokens = request.request_async(&self.tagged_http()).await.map_err(|e| match &e {
            RequestTokenError::ServerResponse(r) => {
                let code = r.error().as_ref().to_string();
                match code.as_str() {
                    "invalid_grant" | "invalid_client" | "unauthorized_client" | "invalid_scope" => {
                        RefreshError::Refused(error_chain(&e))
                    }
                    _ => RefreshError::Unavailable(error_chain(&e)),
                }
            }
            _ => RefreshError::Unavailable(error_chain(&e)),
        })?;
        check_token_type(tokens.token_type())
            .map_err(|t| RefreshError::Refused(format!("the token response's token_type is {t:?}, not Bearer")))?;
        let id_token = match tokens.id_token() {
            None => old.id_token.clone(),
            Some(id_token) => {
                let keys = self
                    .check_id_token(&id_token.to_string())
                    .await
                    .map_err(|e| RefreshError::IdToken(e.to_string()))?;
                // A refreshed ID token carries no nonce, or the original one (Core 12.2).
                let claims = id_token
                    .claims(&self.id_token_verifier(&keys), |_: Option<&Nonce>| Ok(()))
                    .map_err(|e| RefreshError::IdToken(error_chain(&e)))?;
                if claims.subject().as_str() != expected_sub {
                    return Err(RefreshError::IdToken(format!(
                        "it is about subject {:?}, not the signed-in {expected_sub:?}",
                        claims.subject().as_str()
                    )));
                }
                id_token.to_string()
            }
        };
        let now = crate::unix_now();
        Ok(TokenSet {
            access_token: tokens.access_token().secret().clone(),
            refresh_token: tokens.refresh_token().map(|r| r.secret().clone()).or_else(|| old.refresh_token.clone()),
            id_token,
            expires_at: tokens.expires_in().map(|d| now + d.as_secs() as i64),
        })
    }
}
