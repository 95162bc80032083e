//! The OpenID Connect relying party, against any standard provider:
//! `discovery` (one validated fetch, retried with backoff; every endpoint
//! from that document), the sign-in `flow` (authorization request with PKCE
//! S256, `state` and `nonce`; the RFC 9207 `iss` check; the code exchange with
//! every ID-token check: header, key and signature through [`crate::jwt`],
//! `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`, `at_hash`, `token_type`),
//! `refresh`, and the provider's other `endpoints` (revocation, userinfo).

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse,
};
use url::Url;

use crate::{PendingLogin, ReturnTo};

mod discovery;
mod endpoints;
mod flow;
mod refresh;

use discovery::Endpoints;
pub use endpoints::{RevokeError, UserinfoError};
pub use flow::MAX_CLOCK_SKEW_SECS;
pub use refresh::RefreshError;

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

/// `reqwest` for `openidconnect`, adding the current request's id to each call.
struct TaggedHttp<'a>(&'a reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for TaggedHttp<'_> {
    type Error = <reqwest::Client as openidconnect::AsyncHttpClient<'c>>::Error;
    type Future = <reqwest::Client as openidconnect::AsyncHttpClient<'c>>::Future;

    fn call(&'c self, mut request: openidconnect::HttpRequest) -> Self::Future {
        crate::request_id::tag_http(&mut request);
        self.0.call(request)
    }
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
    /// The last answer of [`RelyingParty::reachable`] and when it was taken;
    /// held across a probe, so callers wait for the one probe in flight.
    probe: tokio::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

impl RelyingParty {
    fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The HTTP client for `openidconnect`'s requests, each tagged with the
    /// id of the request being served ([`crate::request_id`]).
    fn tagged_http(&self) -> TaggedHttp<'_> {
        TaggedHttp(&self.inner.http)
    }

    pub fn end_session_endpoint(&self) -> Option<&Url> {
        self.inner.endpoints.end_session.as_ref()
    }

    pub fn revocation_endpoint(&self) -> Option<&Url> {
        self.inner.endpoints.revocation.as_ref()
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

    /// The provider endpoints this app would reach in the clear (plain `http`
    /// to a host other than this machine), by discovery member name. Their
    /// answers decide who is signed in and who is an admin (userinfo is not
    /// signed), so production refuses them.
    pub fn cleartext_endpoints(&self) -> Vec<(&'static str, Url)> {
        let m = &self.inner.metadata;
        let mut all = vec![
            ("issuer", Url::parse(self.issuer()).ok()),
            ("authorization_endpoint", Some(m.authorization_endpoint().url().clone())),
            ("token_endpoint", self.token_endpoint()),
            ("jwks_uri", Some(self.jwks_uri().clone())),
            ("userinfo_endpoint", self.userinfo_endpoint().cloned()),
            ("end_session_endpoint", self.end_session_endpoint().cloned()),
            ("revocation_endpoint", self.revocation_endpoint().cloned()),
        ];
        all.retain(|(_, url)| url.as_ref().is_some_and(is_cleartext_remote));
        all.into_iter().filter_map(|(name, url)| Some((name, url?))).collect()
    }
}

/// Whether requests to `url` cross the network unencrypted: plain `http` to a
/// host other than loopback (`127.0.0.0/8`, `::1`, `localhost`).
pub fn is_cleartext_remote(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    };
    url.scheme() != "https" && !loopback
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
mod cleartext_tests {
    use super::*;

    #[test]
    fn only_https_or_this_machine_is_private() {
        let remote = |u: &str| is_cleartext_remote(&Url::parse(u).expect("a URL"));
        assert!(remote("http://login.example.com/userinfo"));
        assert!(remote("http://10.0.0.5:4444/"));
        assert!(!remote("https://login.example.com/userinfo"));
        assert!(!remote("http://127.0.0.1:4444/"));
        assert!(!remote("http://127.8.0.1/"));
        assert!(!remote("http://[::1]:4444/"));
        assert!(!remote("http://localhost:4444/"));
        assert!(!remote("http://idp.localhost/"));
        assert!(remote("http://localhost.example.com/"));
    }
}
