//! Bearer access tokens (RFC 9068 JWTs) verified against the provider's JWKS,
//! for the JSON API that services and native apps call.
//!
//! - The header, key and signature checks and the key cache are the ones every
//!   token kind shares ([`crate::jwt`]); with [`BearerVerifier::with_keys`] the
//!   cache is the relying party's own, so ID, logout and access tokens see one
//!   key set.
//! - Only RS256 and ES256; `typ` `at+jwt` (configurable); exact `iss`; the
//!   configured audience inside `aud`; `exp` / `nbf` with a small leeway.
//! - Strict base64url (no padding, no other alphabet); bounded sizes; every
//!   failure is a typed error whose message names the claim, never a key.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use url::Url;

use crate::jwt::{JwtError, KeyCache, KeyCacheConfig, Policy};

/// The largest token accepted (bytes); anything longer is refused unread.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Verified tokens remembered (by SHA-256), so a client reusing its token
/// costs a hash and a lookup instead of an RSA verification.
const MAX_VERIFIED: usize = 10_000;

/// What a verifier checks, and how it caches keys.
#[derive(Debug, Clone)]
pub struct BearerConfig {
    /// The exact `iss` (the provider's issuer identifier).
    pub issuer: String,
    pub jwks_uri: Url,
    /// Must be one of the token's `aud` values, when set.
    pub audience: Option<String>,
    /// Require the header `typ` `at+jwt` (RFC 9068).
    pub require_at_jwt: bool,
    /// Leeway for `exp` and `nbf`.
    pub leeway_secs: i64,
    /// Bounds for the cache lifetime the provider's `Cache-Control` asks for.
    pub min_cache: Duration,
    pub max_cache: Duration,
    /// At most one refetch for unknown `kid`s per this long; also how long
    /// a failed fetch waits before the next try.
    pub refetch_cooldown: Duration,
    /// Bound on one JWKS fetch.
    pub fetch_timeout: Duration,
    /// Also take the token from this cookie when there is no `Authorization`
    /// header (open-source Hanko sends its session JWT in a cookie named
    /// `hanko`). Off by default; a query parameter is never read.
    pub cookie: Option<String>,
}

impl BearerConfig {
    /// Sensible defaults for `issuer` and `jwks_uri`: RFC 9068 tokens, 30 s
    /// leeway, cache between 1 minute and 1 hour, 30 s refetch cooldown.
    pub fn new(issuer: impl Into<String>, jwks_uri: Url) -> Self {
        Self {
            issuer: issuer.into(),
            jwks_uri,
            audience: None,
            require_at_jwt: true,
            leeway_secs: 30,
            min_cache: Duration::from_secs(60),
            max_cache: Duration::from_secs(3600),
            refetch_cooldown: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
            cookie: None,
        }
    }
}

/// Why a token was refused. Messages are safe to return to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("no bearer token")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The token's `alg` (kept for logs and tests, never echoed to the caller).
    #[error("signing algorithm not accepted (RS256 or ES256 only)")]
    Algorithm(String),
    #[error("not an access token (typ must be at+jwt)")]
    Type,
    #[error("signed with an unknown key")]
    UnknownKey,
    #[error("no key id, and the provider has several signing keys")]
    AmbiguousKey,
    #[error("the header names critical extensions this server does not understand")]
    Critical,
    #[error("bad signature")]
    Signature,
    #[error("wrong issuer")]
    Issuer,
    #[error("wrong audience")]
    Audience,
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYetValid,
    #[error("missing scope {0}")]
    InsufficientScope(String),
    #[error("this route needs a user's token, not a service's")]
    UserRequired,
    /// The provider's keys could not be fetched yet (503: try again).
    #[error("the provider's signing keys cannot be fetched; try again later")]
    KeysUnavailable,
}

impl BearerError {
    /// The HTTP status: 403 for a missing scope or a service's token where a
    /// user's is needed, 503 when no keys could be fetched, else 401.
    pub fn status(&self) -> u16 {
        match self {
            BearerError::InsufficientScope(_) | BearerError::UserRequired => 403,
            BearerError::KeysUnavailable => 503,
            _ => 401,
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 section 3).
    pub fn www_authenticate(&self) -> String {
        match self {
            BearerError::Missing => "Bearer".to_string(),
            BearerError::InsufficientScope(scope) => {
                format!("Bearer error=\"insufficient_scope\", error_description=\"{self}\", scope=\"{scope}\"")
            }
            BearerError::UserRequired => format!("Bearer error=\"insufficient_scope\", error_description=\"{self}\""),
            _ => format!("Bearer error=\"invalid_token\", error_description=\"{self}\""),
        }
    }
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessClaims {
    pub sub: String,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    /// Every claim, as sent.
    pub claims: serde_json::Map<String, Value>,
}

impl AccessClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// [`BearerError::InsufficientScope`] unless the token carries `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), BearerError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(BearerError::InsufficientScope(scope.to_string()))
        }
    }

    /// A client-credentials token: its subject is the client itself.
    pub fn is_service(&self) -> bool {
        self.client_id.as_deref() == Some(self.sub.as_str())
    }

    /// [`BearerError::UserRequired`] for a service's token.
    pub fn require_user(&self) -> Result<(), BearerError> {
        if self.is_service() {
            Err(BearerError::UserRequired)
        } else {
            Ok(())
        }
    }
}

/// A token that passed every check but time, with the key set it was checked against.
struct Verified {
    claims: AccessClaims,
    times: crate::jwt::Times,
    generation: u64,
}

impl From<crate::jwt::TimeError> for BearerError {
    fn from(e: crate::jwt::TimeError) -> Self {
        use crate::jwt::TimeError as T;
        match e {
            T::Expired | T::TooOld | T::Missing(_) | T::NotANumber("exp") => BearerError::Expired,
            T::NotYetValid | T::IssuedInFuture(_) | T::NotANumber("nbf") => BearerError::NotYetValid,
            T::NotANumber(_) => BearerError::Malformed("a time claim is not a number"),
        }
    }
}

/// Verifies bearer tokens for one provider. Share one per process.
pub struct BearerVerifier {
    cfg: BearerConfig,
    keys: Arc<KeyCache>,
    verified: RwLock<std::collections::HashMap<[u8; 32], Verified>>,
}

impl From<JwtError> for BearerError {
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::Malformed(m) => BearerError::Malformed(m),
            JwtError::Algorithm(alg) => BearerError::Algorithm(alg),
            JwtError::Critical => BearerError::Critical,
            JwtError::Type(_) => BearerError::Type,
            JwtError::UnknownKey => BearerError::UnknownKey,
            JwtError::AmbiguousKey => BearerError::AmbiguousKey,
            JwtError::Signature => BearerError::Signature,
            JwtError::KeysUnavailable => BearerError::KeysUnavailable,
        }
    }
}

impl BearerVerifier {
    /// A verifier with a key cache of its own (from the config's bounds); the
    /// keys are fetched on first use.
    pub fn new(cfg: BearerConfig) -> Result<Self, String> {
        let keys = KeyCache::new(
            cfg.jwks_uri.clone(),
            KeyCacheConfig {
                min_cache: cfg.min_cache,
                max_cache: cfg.max_cache,
                refetch_cooldown: cfg.refetch_cooldown,
                fetch_timeout: cfg.fetch_timeout,
            },
        )?;
        Ok(Self::with_keys(cfg, Arc::new(keys)))
    }

    /// A verifier sharing `keys` (the relying party's, for the same provider):
    /// the config's cache bounds are then the cache's own.
    pub fn with_keys(cfg: BearerConfig, keys: Arc<KeyCache>) -> Self {
        Self { cfg, keys, verified: RwLock::new(std::collections::HashMap::new()) }
    }

    /// How many times the JWKS was fetched (by any user of the shared cache).
    pub fn jwks_fetches(&self) -> u64 {
        self.keys.fetches()
    }

    /// The access-token policy, with the configured leeway.
    fn policy(&self) -> Policy {
        let kind = if self.cfg.require_at_jwt { Policy::ACCESS_TOKEN } else { Policy::UNTYPED_ACCESS_TOKEN };
        Policy { leeway_secs: self.cfg.leeway_secs, ..kind }
    }

    /// `exp` / `nbf` (and a future `iat`) at `now`, with the leeway.
    fn check_time(&self, times: crate::jwt::Times, now: i64) -> Result<(), BearerError> {
        self.policy().check_time_values(times, now).map_err(BearerError::from)
    }

    /// Verifies `token` at Unix time `now`. A token verified before against
    /// the current keys is only checked for time again.
    pub async fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, BearerError> {
        use sha2::Digest as _;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(BearerError::Malformed("too long"));
        }
        // A remembered verdict counts only while its keys are the current, fresh ones.
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(((_, generation), true)) = self.keys.cached() {
            let known = self
                .verified
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&digest)
                .and_then(|v| (v.generation == generation).then(|| (v.times, v.claims.clone())));
            if let Some((times, claims)) = known {
                self.check_time(times, now)?;
                return Ok(claims);
            }
        }
        let (claims, times, generation) = self.verify_fully(token, now).await?;
        let mut verified = self.verified.write().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= MAX_VERIFIED {
            verified.retain(|_, v| v.generation == generation && self.check_time(v.times, now).is_ok());
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
        }
        verified.insert(digest, Verified { claims: claims.clone(), times, generation });
        Ok(claims)
    }

    /// Every check, with a signature verification.
    /// Returns the claims, their times and the generation of the keys that verified it.
    async fn verify_fully(&self, token: &str, now: i64) -> Result<(AccessClaims, crate::jwt::Times, u64), BearerError> {
        let policy = self.policy();
        let signed = crate::jwt::verify(&self.keys, token, &policy).await?;
        let (claims, generation) = (signed.claims, signed.generation);
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
        if text("iss").as_deref() != Some(self.cfg.issuer.as_str()) {
            return Err(BearerError::Issuer);
        }
        if let Some(audience) = &self.cfg.audience {
            let ok = match claims.get("aud") {
                Some(Value::String(a)) => a == audience,
                Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(audience)),
                _ => false,
            };
            if !ok {
                return Err(BearerError::Audience);
            }
        }
        // NumericDate may have a fraction (RFC 7519); a non-number time is refused, not ignored.
        let times = policy.check_times(&claims, now)?;
        let sub = text("sub").ok_or(BearerError::Malformed("no sub"))?;
        let scopes = text("scope").map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
        Ok((AccessClaims { sub, client_id: text("client_id"), scopes, claims }, times, generation))
    }
}

/// The bearer token of a request: `Authorization: Bearer …`, else (when
/// configured) the cookie. Never the query string (RFC 6750 section 2.3 is
/// not supported: URLs end up in logs and `Referer`s).
pub fn token_of<'a>(headers: &'a axum::http::HeaderMap, cookie: Option<&str>) -> Result<&'a str, BearerError> {
    use axum::http::header;
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| BearerError::Malformed("the Authorization header is not ASCII"))?;
        let (scheme, token) = v.split_once(' ').ok_or(BearerError::Missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(BearerError::Missing);
        }
        let token = token.trim_matches(' ');
        return if token.is_empty() { Err(BearerError::Missing) } else { Ok(token) };
    }
    let name = cookie.ok_or(BearerError::Missing)?;
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('='))
        .filter(|t| !t.is_empty())
        .ok_or(BearerError::Missing)
}

impl BearerVerifier {
    /// Verifies the token a request carries (see [`token_of`]) now.
    pub async fn verify_request(&self, headers: &axum::http::HeaderMap) -> Result<AccessClaims, BearerError> {
        let token = token_of(headers, self.cfg.cookie.as_deref())?;
        self.verify(token, crate::unix_now()).await
    }
}

impl axum::response::IntoResponse for BearerError {
    /// RFC 6750: 401 (or 403 for a missing scope) with `WWW-Authenticate` and
    /// a JSON body `{"error", "error_description"}`.
    fn into_response(self) -> axum::response::Response {
        use axum::http::{header, HeaderValue, StatusCode};
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        let error = match &self {
            BearerError::Missing => "unauthorized",
            BearerError::InsufficientScope(_) | BearerError::UserRequired => "insufficient_scope",
            BearerError::KeysUnavailable => "temporarily_unavailable",
            _ => "invalid_token",
        };
        let body = serde_json::json!({ "error": error, "error_description": self.to_string() });
        let mut r = (status, axum::Json(body)).into_response();
        if self == BearerError::KeysUnavailable {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        } else if let Ok(v) = HeaderValue::from_str(&self.www_authenticate()) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// The verifier an app shares with its API routes (axum state or extension).
pub type SharedVerifier = std::sync::Arc<BearerVerifier>;

/// Extractor: the verified token of the request. Reads what
/// [`require_bearer`] put in the request's extensions, else verifies with the
/// [`SharedVerifier`] from the state.
#[derive(Debug, Clone)]
pub struct Bearer(pub AccessClaims);

/// Extractor: like [`Bearer`], but a service's (client-credentials) token is
/// refused with 403: the route acts for a user.
#[derive(Debug, Clone)]
pub struct UserBearer(pub AccessClaims);

impl<S> axum::extract::FromRequestParts<S> for Bearer
where
    SharedVerifier: axum::extract::FromRef<S>,
    S: Send + Sync,
{
    type Rejection = BearerError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<AccessClaims>() {
            return Ok(Bearer(c.clone()));
        }
        let verifier = <SharedVerifier as axum::extract::FromRef<S>>::from_ref(state);
        let claims = verifier.verify_request(&parts.headers).await?;
        parts.extensions.insert(claims.clone());
        Ok(Bearer(claims))
    }
}

impl<S> axum::extract::FromRequestParts<S> for UserBearer
where
    SharedVerifier: axum::extract::FromRef<S>,
    S: Send + Sync,
{
    type Rejection = BearerError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Bearer(claims) = Bearer::from_request_parts(parts, state).await?;
        claims.require_user()?;
        Ok(UserBearer(claims))
    }
}

/// Middleware (a tower layer through `axum::middleware::from_fn_with_state`):
/// refuses requests without a valid token and hands the claims to handlers
/// as a request extension.
pub async fn require_bearer(
    axum::extract::State(verifier): axum::extract::State<SharedVerifier>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match verifier.verify_request(req.headers()).await {
        Ok(claims) => {
            req.extensions_mut().insert(claims);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_header_or_the_configured_cookie_only() {
        use axum::http::{HeaderMap, HeaderValue};
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.append(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert_eq!(token_of(&h(&[("authorization", "Bearer abc")]), None), Ok("abc"));
        assert_eq!(token_of(&h(&[("authorization", "bearer  abc ")]), None), Ok("abc"));
        assert_eq!(token_of(&h(&[("authorization", "Basic abc")]), None), Err(BearerError::Missing));
        assert_eq!(token_of(&h(&[("authorization", "Bearer ")]), None), Err(BearerError::Missing));
        assert_eq!(token_of(&h(&[("cookie", "hanko=abc")]), None), Err(BearerError::Missing), "cookie not enabled");
        assert_eq!(token_of(&h(&[("cookie", "x=1; hanko=abc")]), Some("hanko")), Ok("abc"));
        assert_eq!(token_of(&h(&[("cookie", "hankoX=abc")]), Some("hanko")), Err(BearerError::Missing));
        assert_eq!(
            token_of(&h(&[("authorization", "Bearer hdr"), ("cookie", "hanko=c")]), Some("hanko")),
            Ok("hdr"),
            "the header wins"
        );
    }

    #[test]
    fn errors_say_what_to_do_in_the_header() {
        assert_eq!(BearerError::Missing.www_authenticate(), "Bearer");
        assert_eq!(
            BearerError::Expired.www_authenticate(),
            "Bearer error=\"invalid_token\", error_description=\"expired\""
        );
        let scope = BearerError::InsufficientScope("settings:write".into());
        assert_eq!(scope.status(), 403);
        assert_eq!(
            scope.www_authenticate(),
            "Bearer error=\"insufficient_scope\", error_description=\"missing scope settings:write\", \
             scope=\"settings:write\""
        );
        assert_eq!(BearerError::KeysUnavailable.status(), 503);
        // RFC 6750 section 3: error_description is %x20-21 / %x23-5B / %x5D-7E; a hostile `alg` is not echoed.
        for e in [
            BearerError::Malformed("not base64url"),
            BearerError::Algorithm("\"evil\"\r\nX: y\u{e9}".into()),
            BearerError::Type,
            BearerError::UnknownKey,
            BearerError::Signature,
            BearerError::Issuer,
            BearerError::Audience,
            BearerError::Expired,
            BearerError::NotYetValid,
            BearerError::InsufficientScope("settings:read".into()),
            BearerError::UserRequired,
        ] {
            let header = e.www_authenticate();
            let description = header.split("error_description=\"").nth(1).unwrap_or_default();
            let description = &description[..description.find('"').unwrap_or(description.len())];
            assert!(!description.is_empty(), "{header}");
            assert!(description.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)), "{header}");
            assert!(!header.contains("evil"), "{header}");
        }
    }
}
