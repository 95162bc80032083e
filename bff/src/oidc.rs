//! The OpenID Connect relying party: discovery (with retry), the authorization
//! request with PKCE S256, `state` and `nonce`, and the code exchange with full
//! ID-token validation (signature via JWKS, `iss`, `aud`, `azp`, `exp`, `iat`,
//! `nonce`, `at_hash`). Works against any standard provider.

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse,
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
    #[error("the token response's token_type is {0:?}, not Bearer")]
    TokenType(String),
    #[error("{0} (RFC 9207 mix-up defence)")]
    ResponseIssuer(String),
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
    /// `first_name` (Hanko) or `given_name` (standard).
    pub first_name: Option<String>,
    /// `last_name` (Hanko) or `family_name` (standard).
    pub last_name: Option<String>,
    /// Every verified claim with its JSON type, except the one-time `nonce` and the token hashes.
    pub claims: Vec<(String, serde_json::Value)>,
}

/// The claims of a JWT whose signature was already verified, with their JSON
/// types, except the one-time `nonce` and the token hashes.
fn verified_claims(jwt: &str) -> Vec<(String, serde_json::Value)> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    let map: serde_json::Map<String, serde_json::Value> = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    map.into_iter().filter(|(k, _)| !matches!(k.as_str(), "nonce" | "at_hash" | "c_hash")).collect()
}

/// A claim's value as display text: a string as it is, anything else as JSON.
pub fn display_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The first of `names` that is a string claim.
fn claim(claims: &[(String, serde_json::Value)], names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| claims.iter().find(|(k, _)| k == n).and_then(|(_, v)| v.as_str()).map(str::to_string))
}

/// A discovered provider and this app's registration with it.
#[derive(Clone)]
pub struct RelyingParty {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    config: RpConfig,
    metadata: CoreProviderMetadata,
    /// The flow (URLs, PKCE, code and refresh exchanges); it never judges a token.
    client: Client,
    /// The provider's signing keys: the one cache every token kind is verified with.
    keys: std::sync::Arc<crate::jwt::KeyCache>,
    http: reqwest::Client,
    endpoints: Endpoints,
    /// Discovery advertises `authorization_response_iss_parameter_supported`
    /// (RFC 9207): every authorization response must then carry `iss`.
    iss_parameter_required: bool,
}

/// The provider endpoints the app uses beyond the flow itself, all from the one
/// discovery document.
struct Endpoints {
    end_session: Option<Url>,
    revocation: Option<Url>,
    userinfo: Option<Url>,
}

impl Endpoints {
    /// What the app cannot do with this provider, as errors in the log at startup.
    fn log_missing(&self, issuer: &str, has_token_endpoint: bool) {
        if !has_token_endpoint {
            tracing::error!(issuer, "the provider's discovery document declares no token_endpoint: nobody can sign in");
        }
        if self.end_session.is_none() {
            tracing::error!(issuer, "the provider's discovery document declares no end_session_endpoint: signing out ends only the app's session, not the one at the provider");
        }
        if self.revocation.is_none() {
            tracing::error!(issuer, "the provider's discovery document declares no revocation_endpoint: refresh tokens cannot be revoked at sign-out; they stay valid until they expire");
        }
        if self.userinfo.is_none() {
            tracing::error!(issuer, "the provider's discovery document declares no userinfo_endpoint: profiles are not refreshed from the provider");
        }
    }
}

/// One fetch of the discovery document (validated: the issuer must be the one
/// asked for), then the keys from its `jwks_uri` into a new key cache.
/// Returns the metadata, the raw document (for the members the typed metadata
/// lacks) and the primed cache.
async fn fetch_metadata(
    http: &reqwest::Client,
    issuer: &IssuerUrl,
    keys: &crate::jwt::KeyCacheConfig,
) -> Result<(CoreProviderMetadata, serde_json::Value, crate::jwt::KeyCache), String> {
    let url = discovery_url(issuer.as_str());
    let r =
        http.get(&url).header(reqwest::header::ACCEPT, "application/json").send().await.map_err(|e| error_chain(&e))?;
    if !r.status().is_success() {
        return Err(format!("{url} answered {}", r.status()));
    }
    let raw: serde_json::Value = r.json().await.map_err(|e| format!("{url} is not JSON: {}", error_chain(&e)))?;
    let metadata: CoreProviderMetadata =
        serde_json::from_value(raw.clone()).map_err(|e| format!("{url} is not a valid discovery document: {e}"))?;
    if metadata.issuer() != issuer {
        return Err(format!(
            "{url} declares the issuer {:?}, not {:?} (OpenID Connect Discovery 4.3)",
            metadata.issuer().as_str(),
            issuer.as_str()
        ));
    }
    let cache = crate::jwt::KeyCache::new(metadata.jwks_uri().url().clone(), keys.clone())?;
    cache.prime().await.map_err(|e| format!("the provider's signing keys cannot be fetched: {e}"))?;
    Ok((metadata, raw, cache))
}

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

fn build_client(metadata: CoreProviderMetadata, cfg: &RpConfig) -> Result<Client, OidcError> {
    let redirect =
        RedirectUrl::new(cfg.redirect_url.clone()).map_err(|_| OidcError::BadRedirect(cfg.redirect_url.clone()))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(cfg.client_id.clone()),
        cfg.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect)
    .set_auth_type(match cfg.auth {
        ClientAuth::ClientSecretPost | ClientAuth::None => AuthType::RequestBody,
        ClientAuth::ClientSecretBasic => AuthType::BasicAuth,
    }))
}

impl RelyingParty {
    /// Discovers the provider, retrying with backoff (0.25 s doubling, up to
    /// `attempts` tries) so the app can start before its provider.
    pub async fn discover(cfg: &RpConfig, attempts: u32) -> Result<Self, OidcError> {
        Self::discover_with(cfg, attempts, crate::jwt::KeyCacheConfig::default()).await
    }

    /// [`Self::discover`] with the signing-key cache bounds given.
    pub async fn discover_with(
        cfg: &RpConfig,
        attempts: u32,
        keys: crate::jwt::KeyCacheConfig,
    ) -> Result<Self, OidcError> {
        let issuer = IssuerUrl::new(cfg.issuer.clone()).map_err(|_| OidcError::BadIssuer(cfg.issuer.clone()))?;
        RedirectUrl::new(cfg.redirect_url.clone()).map_err(|_| OidcError::BadRedirect(cfg.redirect_url.clone()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OidcError::Discovery { issuer: cfg.issuer.clone(), attempts: 0, last: e.to_string() })?;
        let mut delay = Duration::from_millis(250);
        let mut last = String::new();
        for attempt in 1..=attempts.max(1) {
            match fetch_metadata(&http, &issuer, &keys).await {
                Ok((metadata, raw, cache)) => {
                    let url_of = |k: &str| raw.get(k).and_then(|v| v.as_str()).and_then(|s| Url::parse(s).ok());
                    let endpoints = Endpoints {
                        end_session: url_of("end_session_endpoint"),
                        revocation: url_of("revocation_endpoint"),
                        userinfo: metadata.userinfo_endpoint().map(|u| u.url().clone()),
                    };
                    endpoints.log_missing(&cfg.issuer, metadata.token_endpoint().is_some());
                    let iss_parameter_required = raw
                        .get("authorization_response_iss_parameter_supported")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false);
                    let client = build_client(metadata.clone(), cfg)?;
                    return Ok(Self {
                        inner: std::sync::Arc::new(Inner {
                            config: cfg.clone(),
                            metadata,
                            client,
                            keys: std::sync::Arc::new(cache),
                            http,
                            endpoints,
                            iss_parameter_required,
                        }),
                    });
                }
                Err(e) => {
                    last = e;
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

    fn client(&self) -> &Client {
        &self.inner.client
    }

    pub fn end_session_endpoint(&self) -> Option<&Url> {
        self.inner.endpoints.end_session.as_ref()
    }

    pub fn revocation_endpoint(&self) -> Option<&Url> {
        self.inner.endpoints.revocation.as_ref()
    }

    /// Checks the RFC 9207 `iss` parameter of an authorization response: when
    /// present it must be this provider's issuer, and it must be present when
    /// the provider advertises `authorization_response_iss_parameter_supported`
    /// (a mix-up attack sends the user back with another provider's code).
    pub fn check_authorization_response_iss(&self, iss: Option<&str>) -> Result<(), OidcError> {
        match iss {
            Some(iss) if iss == self.issuer() => Ok(()),
            Some(iss) => Err(OidcError::ResponseIssuer(format!(
                "the authorization response names the issuer {:?}, not {:?}",
                crate::clip(iss, 200),
                self.issuer()
            ))),
            None if self.inner.iss_parameter_required => Err(OidcError::ResponseIssuer(
                "the authorization response carries no iss parameter, which the provider advertises".into(),
            )),
            None => Ok(()),
        }
    }

    /// The provider's issuer identifier, exactly as discovered.
    pub fn issuer(&self) -> &str {
        self.inner.metadata.issuer().as_str()
    }

    /// Where the provider publishes its signing keys.
    pub fn jwks_uri(&self) -> &Url {
        self.inner.metadata.jwks_uri().url()
    }

    /// This app's client id at the provider.
    pub fn client_id(&self) -> &str {
        &self.inner.config.client_id
    }

    /// The provider's signing keys, for every verifier of its tokens (ID and
    /// logout tokens here, access tokens in [`crate::bearer::BearerVerifier::with_keys`]).
    pub fn key_cache(&self) -> &std::sync::Arc<crate::jwt::KeyCache> {
        &self.inner.keys
    }

    /// The token endpoint (where the Admin API client gets its token by default).
    pub fn token_endpoint(&self) -> Option<Url> {
        self.inner.metadata.token_endpoint().map(|u| u.url().clone())
    }

    pub fn userinfo_endpoint(&self) -> Option<&Url> {
        self.inner.endpoints.userinfo.as_ref()
    }

    /// Builds the authorization URL and what the callback will need.
    /// Returns `(url, state, pending)`.
    pub fn start(&self, return_to: ReturnTo, now: i64) -> (Url, String, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client();
        let mut req = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for s in self.inner.config.scopes.iter().filter(|s| *s != "openid") {
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

    /// Exchanges the code and validates the ID token (including `nonce` and
    /// `at_hash`). An ID token signed with a key we do not know yet makes us
    /// fetch the provider's keys again (rate-limited) and verify once more.
    pub async fn finish(&self, code: &str, pending: &PendingLogin) -> Result<(VerifiedUser, TokenSet), OidcError> {
        let tokens = self
            .client()
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| OidcError::NoTokenEndpoint)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.inner.http)
            .await
            .map_err(|e| OidcError::Exchange(error_chain(&e)))?;
        check_token_type(tokens.token_type()).map_err(OidcError::TokenType)?;
        let id_token = tokens.id_token().ok_or(OidcError::NoIdToken)?;
        let keys = self.check_id_token(&id_token.to_string()).await?;
        verify(&self.id_token_verifier(&keys), &tokens, pending)
    }

    /// What the app checks on every ID token itself, before `openidconnect`
    /// checks the claims with the same keys: the shared header, key and
    /// signature checks ([`crate::jwt::verify`]: RS256 or ES256 only, whatever
    /// discovery advertises; no `crit`; the key published for signatures, named
    /// by `kid` unless it is the only one, refetched once within the cooldown
    /// when unknown), and the audience rule (`azp`, when present, is this
    /// client; several audiences need it). Returns the keys that verified it.
    async fn check_id_token(
        &self,
        id_token: &str,
    ) -> Result<std::sync::Arc<openidconnect::core::CoreJsonWebKeySet>, OidcError> {
        let signed = crate::jwt::verify(&self.inner.keys, id_token, &crate::jwt::Policy::ID_TOKEN)
            .await
            .map_err(|e| OidcError::IdToken(e.to_string()))?;
        check_audience(&signed.claims, self.client_id()).map_err(OidcError::IdToken)?;
        Ok(signed.keys)
    }

    /// `openidconnect`'s claims check (`iss`, `aud`, `exp`, `nonce`, the
    /// signature once more) with `keys`, the app's algorithm list instead of
    /// whatever discovery advertises, and the `iat` skew bound. Extra audiences
    /// are judged by [`check_audience`] (several need `azp`), not refused outright.
    fn id_token_verifier(
        &self,
        keys: &openidconnect::core::CoreJsonWebKeySet,
    ) -> openidconnect::core::CoreIdTokenVerifier<'static> {
        openidconnect::core::CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.inner.config.client_id.clone()),
            self.inner.metadata.issuer().clone(),
            keys.clone(),
        )
        .set_allowed_algs([
            openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ])
        .set_other_audience_verifier_fn(|_| true)
        .set_issue_time_verifier_fn(|iat| check_iat(iat.timestamp(), crate::unix_now()))
    }

    /// Refreshes `old` with its refresh token. A new ID token, if the provider
    /// sends one, is fully verified and must be about `expected_sub` (its issuer
    /// is this provider's by the verifier); what the provider does not send
    /// again (ID token, rotated refresh token) is kept from `old`.
    pub async fn refresh(&self, old: &TokenSet, expected_sub: &str) -> Result<TokenSet, RefreshError> {
        let Some(refresh_token) = &old.refresh_token else {
            return Err(RefreshError::Refused("the session has no refresh token".into()));
        };
        let refresh_token = RefreshToken::new(refresh_token.clone());
        let request = self
            .client()
            .exchange_refresh_token(&refresh_token)
            .map_err(|_| RefreshError::Unavailable("the provider publishes no token endpoint".into()))?;
        let tokens = request.request_async(&self.inner.http).await.map_err(|e| match &e {
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

    /// Revokes a refresh token at the provider's revocation endpoint (RFC 7009),
    /// authenticating as at the token endpoint. `Ok(false)`: the provider
    /// publishes no revocation endpoint.
    pub async fn revoke_refresh_token(&self, token: &str) -> Result<bool, String> {
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
        let r = request.form(&form).send().await.map_err(|e| error_chain(&e))?;
        if r.status().is_success() {
            Ok(true)
        } else {
            Err(format!("the revocation endpoint answered {}", r.status()))
        }
    }

    /// Reads fresh claims from the provider's userinfo endpoint with the
    /// session's access token. The answer must be about `expected_sub`
    /// (OpenID Connect Core 5.3.2), or it is refused.
    pub async fn userinfo(
        &self,
        access_token: &str,
        expected_sub: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, UserinfoError> {
        let url = self.userinfo_endpoint().ok_or(UserinfoError::NoEndpoint)?;
        let r = self
            .inner
            .http
            .get(url.clone())
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
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

/// How far in the future an ID token's `iat` may lie (clock skew between us and the provider).
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;

/// `iat` must not be in the future beyond the allowed skew (the `openidconnect`
/// crate leaves this check to the application).
fn check_iat(iat: i64, now: i64) -> Result<(), String> {
    if iat > now + MAX_CLOCK_SKEW_SECS {
        Err(format!("the ID token was issued {} s in the future", iat - now))
    } else {
        Ok(())
    }
}

/// The response of a code or refresh exchange must issue a Bearer token
/// (RFC 6749 section 7.1; the comparison is case-insensitive). Returns the
/// type sent otherwise.
fn check_token_type(t: &openidconnect::core::CoreTokenType) -> Result<(), String> {
    match t {
        openidconnect::core::CoreTokenType::Bearer => Ok(()),
        other => Err(crate::clip(other.as_ref(), 40)),
    }
}

/// OpenID Connect Core 3.1.3.7 steps 3 to 5: `aud` holds this client; `azp`,
/// when present, is this client; several audiences need `azp`.
fn check_audience(claims: &serde_json::Map<String, serde_json::Value>, client_id: &str) -> Result<(), String> {
    use serde_json::Value;
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err("the aud claim is missing or not a string or array".into()),
    };
    if !audiences.contains(&client_id) {
        return Err("the aud claim does not name this client".into());
    }
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        Some(azp) => Err(format!("azp is {:?}, not this client", crate::clip(&azp.to_string(), 100))),
        None if audiences.len() > 1 => Err("several audiences and no azp naming this client".into()),
        None => Ok(()),
    }
}

fn verify(
    verifier: &openidconnect::core::CoreIdTokenVerifier<'_>,
    tokens: &openidconnect::core::CoreTokenResponse,
    pending: &PendingLogin,
) -> Result<(VerifiedUser, TokenSet), OidcError> {
    let other = |e: &dyn std::error::Error| OidcError::IdToken(error_chain(e));
    let id_token = tokens.id_token().ok_or(OidcError::NoIdToken)?;
    let claims = id_token.claims(verifier, &Nonce::new(pending.nonce.clone())).map_err(|e| other(&e))?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token.signing_alg().map_err(|e| other(&e))?;
        let key = id_token.signing_key(verifier).map_err(|e| other(&e))?;
        let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key).map_err(|e| other(&e))?;
        if actual != *expected {
            return Err(OidcError::IdToken("at_hash does not match the access token".into()));
        }
    }
    let shown = verified_claims(&id_token.to_string());
    let user = VerifiedUser {
        sub: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        sid: claim(&shown, &["sid"]),
        first_name: claim(&shown, &["first_name", "given_name"]),
        last_name: claim(&shown, &["last_name", "family_name"]),
        claims: shown,
    };
    let now = crate::unix_now();
    let set = TokenSet {
        access_token: tokens.access_token().secret().clone(),
        refresh_token: tokens.refresh_token().map(|r| r.secret().clone()),
        id_token: id_token.to_string(),
        expires_at: tokens.expires_in().map(|d| now + d.as_secs() as i64),
    };
    Ok((user, set))
}

fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    /// A provider whose clock runs ahead (or that forges `iat`): its ID tokens
    /// are refused beyond the allowed skew. The tokens are signed with the
    /// local provider's real key, so only `iat` differs.
    #[tokio::test]
    async fn an_id_token_issued_in_the_future_is_refused() {
        let cfg = idp::Config::in_memory("127.0.0.1:0".parse().unwrap());
        let idp = idp::Idp::build(cfg).await.unwrap();
        let (issuer, provider) = (idp.issuer().to_string(), idp.provider_handle());
        tokio::spawn(idp.run_until_stopped());
        let rp = RelyingParty::discover(
            &RpConfig {
                issuer: issuer.clone(),
                client_id: idp::config::DEV_APP_CLIENT_ID.into(),
                client_secret: Some("unused".into()),
                auth: ClientAuth::ClientSecretBasic,
                redirect_url: "http://127.0.0.1:9/login".into(),
                scopes: vec!["openid".into()],
            },
            3,
        )
        .await
        .unwrap();
        let pending =
            PendingLogin { pkce_verifier: "v".into(), nonce: "n".into(), return_to: ReturnTo::root(), started_at: 0 };
        let now = crate::unix_now();
        for (iat, accepted) in [(now - 5, true), (now + MAX_CLOCK_SKEW_SECS - 5, true), (now + 3600, false)] {
            let claims = serde_json::json!({
                "iss": issuer, "sub": "someone", "aud": [idp::config::DEV_APP_CLIENT_ID],
                "exp": now + 600, "iat": iat, "nonce": "n",
            });
            let id_token = provider.keys.sign("JWT", &claims);
            let response: openidconnect::core::CoreTokenResponse = serde_json::from_value(serde_json::json!({
                "access_token": "at", "token_type": "Bearer", "id_token": id_token,
            }))
            .unwrap();
            let keys = rp.key_cache().keys(false).await.unwrap().0;
            let result = verify(&rp.id_token_verifier(&keys), &response, &pending);
            assert_eq!(result.is_ok(), accepted, "iat = now {:+} s", iat - now);
        }
    }

    #[test]
    fn iat_skew_bounds() {
        assert!(check_iat(100, 100).is_ok());
        assert!(check_iat(100 + MAX_CLOCK_SKEW_SECS, 100).is_ok());
        assert!(check_iat(101 + MAX_CLOCK_SKEW_SECS, 100).is_err());
    }
}
