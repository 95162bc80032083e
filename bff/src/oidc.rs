//! The OpenID Connect relying party: discovery (with retry), the authorization
//! request with PKCE S256, `state` and `nonce`, and the code exchange with full
//! ID-token validation (signature via JWKS, `iss`, `aud`, `azp`, `exp`, `iat`,
//! `nonce`, `at_hash`). Works against any standard provider.

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use url::Url;

use crate::{PendingLogin, ReturnTo};

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// How the app authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    ClientSecretBasic,
    ClientSecretPost,
    /// A public client (PKCE only).
    None,
}

/// What the relying party needs to know.
#[derive(Clone)]
pub struct RpConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub auth: ClientAuth,
    /// The app's callback, e.g. `http://127.0.0.1:3000/login`.
    pub redirect_url: String,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for RpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("auth", &self.auth)
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Why signing in failed. Messages are for logs; users see a friendly page.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the issuer URL {0:?} is not valid")]
    BadIssuer(String),
    #[error("the redirect URL {0:?} is not valid")]
    BadRedirect(String),
    #[error("the provider at {issuer} did not answer discovery after {attempts} attempts: {last}")]
    Discovery { issuer: String, attempts: u32, last: String },
    #[error("the provider publishes no token endpoint")]
    NoTokenEndpoint,
    #[error("the code exchange failed: {0}")]
    Exchange(String),
    #[error("the provider returned no ID token")]
    NoIdToken,
    #[error("the ID token is not valid: {0}")]
    IdToken(String),
}

/// The tokens of a signed-in session. Deliberately neither `Serialize` nor
/// `Debug`-printable: it lives in the server-side session store only.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: String,
    /// Unix seconds.
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSet { .. }")
    }
}

/// The verified identity from the ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    pub sub: String,
    pub email: Option<String>,
    pub sid: Option<String>,
}

/// A discovered provider and this app's registration with it.
#[derive(Clone)]
pub struct RelyingParty {
    client: Client,
    http: reqwest::Client,
    scopes: Vec<String>,
    end_session_endpoint: Option<Url>,
    revocation_endpoint: Option<Url>,
}

impl RelyingParty {
    /// Discovers the provider, retrying with backoff (0.25 s doubling, up to
    /// `attempts` tries) so the app can start before its provider.
    pub async fn discover(cfg: &RpConfig, attempts: u32) -> Result<Self, OidcError> {
        let issuer = IssuerUrl::new(cfg.issuer.clone()).map_err(|_| OidcError::BadIssuer(cfg.issuer.clone()))?;
        let redirect =
            RedirectUrl::new(cfg.redirect_url.clone()).map_err(|_| OidcError::BadRedirect(cfg.redirect_url.clone()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OidcError::Discovery { issuer: cfg.issuer.clone(), attempts: 0, last: e.to_string() })?;
        let mut delay = Duration::from_millis(250);
        let mut last = String::new();
        for attempt in 1..=attempts.max(1) {
            match CoreProviderMetadata::discover_async(issuer.clone(), &http).await {
                Ok(metadata) => {
                    // Endpoints the core metadata type does not carry.
                    let raw: serde_json::Value = match http.get(discovery_url(&cfg.issuer)).send().await {
                        Ok(r) => r.json().await.unwrap_or_default(),
                        Err(_) => serde_json::Value::Null,
                    };
                    let url_of = |k: &str| raw[k].as_str().and_then(|s| Url::parse(s).ok());
                    let client = CoreClient::from_provider_metadata(
                        metadata,
                        ClientId::new(cfg.client_id.clone()),
                        cfg.client_secret.clone().map(ClientSecret::new),
                    )
                    .set_redirect_uri(redirect)
                    .set_auth_type(match cfg.auth {
                        ClientAuth::ClientSecretPost | ClientAuth::None => AuthType::RequestBody,
                        ClientAuth::ClientSecretBasic => AuthType::BasicAuth,
                    });
                    return Ok(Self {
                        client,
                        http,
                        scopes: cfg.scopes.clone(),
                        end_session_endpoint: url_of("end_session_endpoint"),
                        revocation_endpoint: url_of("revocation_endpoint"),
                    });
                }
                Err(e) => {
                    last = error_chain(&e);
                    tracing::warn!(attempt, error = %last, "OpenID provider discovery failed; retrying");
                    if attempt < attempts {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        Err(OidcError::Discovery { issuer: cfg.issuer.clone(), attempts, last })
    }

    pub fn end_session_endpoint(&self) -> Option<&Url> {
        self.end_session_endpoint.as_ref()
    }

    pub fn revocation_endpoint(&self) -> Option<&Url> {
        self.revocation_endpoint.as_ref()
    }

    /// Builds the authorization URL and what the callback will need.
    /// Returns `(url, state, pending)`.
    pub fn start(&self, return_to: ReturnTo, now: i64) -> (Url, String, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = self
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for s in self.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.url();
        let pending = PendingLogin {
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            return_to,
            started_at: now,
        };
        (url, state.secret().clone(), pending)
    }

    /// Exchanges the code and validates the ID token (including `nonce` and `at_hash`).
    pub async fn finish(&self, code: &str, pending: &PendingLogin) -> Result<(VerifiedUser, TokenSet), OidcError> {
        let tokens = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| OidcError::NoTokenEndpoint)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Exchange(error_chain(&e)))?;
        let id_token = tokens.id_token().ok_or(OidcError::NoIdToken)?;
        let verifier = self.client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce.clone()))
            .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token.signing_alg().map_err(|e| OidcError::IdToken(error_chain(&e)))?;
            let key = id_token.signing_key(&verifier).map_err(|e| OidcError::IdToken(error_chain(&e)))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
            if actual != *expected {
                return Err(OidcError::IdToken("at_hash does not match the access token".into()));
            }
        }
        let user =
            VerifiedUser { sub: claims.subject().to_string(), email: claims.email().map(|e| e.to_string()), sid: None };
        let now = chrono_now();
        let set = TokenSet {
            access_token: tokens.access_token().secret().clone(),
            refresh_token: tokens.refresh_token().map(|r| r.secret().clone()),
            id_token: id_token.to_string(),
            expires_at: tokens.expires_in().map(|d| now + d.as_secs() as i64),
        };
        Ok((user, set))
    }
}

fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
