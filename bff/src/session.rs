//! The typed session: named keys and methods over `tower-sessions`, so no code
//! scatters raw keys around. Tokens are stored only here, server-side.

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::oidc::{TokenSet, VerifiedUser};
use crate::pending::{PendingError, PendingLogin, PendingLogins};

const PENDING: &str = "gatehouse.pending";
const AUTH: &str = "gatehouse.auth";

/// Who is signed in: safe to show, holds no token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    pub sub: String,
    pub email: Option<String>,
    pub signed_in_at: i64,
    /// The verified ID-token claims (without `nonce`, `at_hash`, `c_hash`), for display.
    #[serde(default)]
    pub claims: Vec<(String, String)>,
}

/// Tokens as stored in the session record. Private to this crate: nothing
/// outside `bff` can name it, so it cannot be returned to the browser.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredTokens {
    access_token: String,
    refresh_token: Option<String>,
    id_token: String,
    expires_at: Option<i64>,
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredAuth {
    user: SessionUser,
    tokens: StoredTokens,
    /// Per-session token the sign-out form must carry (cross-site sign-out is refused).
    logout_token: String,
    /// The absolute end of this session (Unix seconds), however active it is.
    #[serde(default = "never")]
    expires_at: i64,
}

fn never() -> i64 {
    i64::MAX
}

/// Errors of the session store (logged; the user sees a generic message).
#[derive(Debug, thiserror::Error)]
#[error("session store failure: {0}")]
pub struct SessionError(#[from] tower_sessions::session::Error);

/// The session of the current request, with typed operations.
#[derive(Clone)]
pub struct AuthSession {
    session: Session,
}

impl AuthSession {
    pub fn new(session: Session) -> Self {
        Self { session }
    }

    /// The signed-in state, if any and not past its absolute lifetime (an
    /// expired one is deleted from the store here).
    async fn auth(&self) -> Result<Option<StoredAuth>, SessionError> {
        let Some(auth) = self.session.get::<StoredAuth>(AUTH).await? else { return Ok(None) };
        if crate::unix_now() >= auth.expires_at {
            tracing::info!(sub = %auth.user.sub, "session reached its absolute lifetime");
            self.session.flush().await?;
            return Ok(None);
        }
        Ok(Some(auth))
    }

    pub async fn user(&self) -> Result<Option<SessionUser>, SessionError> {
        Ok(self.auth().await?.map(|a| a.user))
    }

    /// The token the sign-out form must send back.
    pub async fn logout_token(&self) -> Result<Option<String>, SessionError> {
        Ok(self.auth().await?.map(|a| a.logout_token))
    }

    pub async fn add_pending(&self, state: String, login: PendingLogin, now: i64) -> Result<(), SessionError> {
        let mut all: PendingLogins = self.session.get(PENDING).await?.unwrap_or_default();
        all.insert(state, login, now);
        self.session.insert(PENDING, all).await?;
        Ok(())
    }

    /// Takes the pending login for `state` (single use).
    pub async fn take_pending(
        &self,
        state: &str,
        now: i64,
    ) -> Result<Result<PendingLogin, PendingError>, SessionError> {
        let mut all: PendingLogins = self.session.get(PENDING).await?.unwrap_or_default();
        let taken = all.take(state, now);
        self.session.insert(PENDING, all).await?;
        Ok(taken)
    }

    /// Signs the user in: a new session id (no fixation), then the tokens.
    /// The session ends `lifetime_secs` after `now` at the latest.
    pub async fn login(
        &self,
        user: &VerifiedUser,
        tokens: TokenSet,
        now: i64,
        lifetime_secs: i64,
    ) -> Result<(), SessionError> {
        self.session.cycle_id().await?;
        let auth = StoredAuth {
            user: SessionUser {
                sub: user.sub.clone(),
                email: user.email.clone(),
                signed_in_at: now,
                claims: user.claims.clone(),
            },
            tokens: StoredTokens {
                access_token: tokens.access_token,
                refresh_token: tokens.refresh_token,
                id_token: tokens.id_token,
                expires_at: tokens.expires_at,
            },
            logout_token: random_token(),
            expires_at: now.saturating_add(lifetime_secs),
        };
        self.session.insert(AUTH, auth).await?;
        Ok(())
    }

    /// Deletes the session from the store; returns the ID token for the
    /// provider's end-session request, if the user was signed in.
    pub async fn logout(&self) -> Result<Option<String>, SessionError> {
        let id_token = self.session.get::<StoredAuth>(AUTH).await?.map(|a| a.tokens.id_token);
        self.session.flush().await?;
        Ok(id_token)
    }

    /// The access token, for server-side calls to the provider (never for the browser).
    pub async fn access_token(&self) -> Result<Option<String>, SessionError> {
        Ok(self.auth().await?.map(|a| a.tokens.access_token))
    }
}

pub(crate) fn random_token() -> String {
    use openidconnect::CsrfToken;
    CsrfToken::new_random().secret().clone()
}
