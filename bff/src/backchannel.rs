//! OpenID Connect Back-Channel Logout 1.0, the receiving side: the provider
//! posts a signed `logout_token` to [`PATH`] when a user signs out there (or
//! is deactivated); every session of that sign-in (`sid`) or user (`sub`) ends,
//! on every instance sharing the session database.

use serde_json::Value;

use crate::oidc::RelyingParty;

/// Where the provider posts logout tokens (register `<public URL>/backchannel-logout`).
pub const PATH: &str = "/backchannel-logout";
/// The `events` member a logout token must carry.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How old a logout token may be (by its `iat`).
pub const MAX_AGE_SECS: i64 = 300;

/// Why a logout token was refused (logged; the provider gets a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    #[error("not a signed JWT: {0}")]
    Malformed(&'static str),
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("typ {0:?} is not logout+jwt")]
    Type(String),
    #[error("the header names critical extensions this app does not understand")]
    Critical,
    #[error("signed with a key the provider does not publish")]
    UnknownKey,
    #[error("no key id, and the provider publishes several signing keys")]
    AmbiguousKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("issued by {0:?}, not this app's provider")]
    Issuer(String),
    #[error("not addressed to this app")]
    Audience,
    #[error("iat is missing, in the future or older than {MAX_AGE_SECS} s: {0}")]
    Stale(crate::jwt::TimeError),
    #[error("expired")]
    Expired,
    #[error("the back-channel logout event is missing")]
    Events,
    #[error("a logout token must not carry a nonce")]
    Nonce,
    #[error("neither sid nor sub")]
    NoSubject,
    #[error("jti is missing")]
    NoJti,
    #[error("jti was seen before (replay)")]
    Replayed,
    #[error("the provider's signing keys are unavailable")]
    KeysUnavailable,
}

/// What a verified logout token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub jti: String,
    /// Until when the `jti` must be remembered (Unix seconds).
    pub remember_until: i64,
}

impl From<crate::jwt::JwtError> for LogoutTokenError {
    fn from(e: crate::jwt::JwtError) -> Self {
        use crate::jwt::JwtError as E;
        match e {
            E::Malformed(m) => LogoutTokenError::Malformed(m),
            E::Algorithm(alg) => LogoutTokenError::Algorithm(alg),
            E::Critical => LogoutTokenError::Critical,
            E::Type(typ) => LogoutTokenError::Type(typ),
            E::UnknownKey => LogoutTokenError::UnknownKey,
            E::AmbiguousKey => LogoutTokenError::AmbiguousKey,
            E::Signature => LogoutTokenError::Signature,
            E::KeysUnavailable => LogoutTokenError::KeysUnavailable,
        }
    }
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

impl RelyingParty {
    /// Verifies a logout token: the shared header checks (RS256 or ES256, no
    /// `crit`), signature by a key the provider publishes for signatures, `typ`,
    /// the times of [`crate::jwt::Policy::LOGOUT_TOKEN`] (`iat` at most 5 minutes
    /// old, `exp`), `iss`, `aud`, the `events` member, no `nonce`, `sid` and/or `sub`,
    /// `jti` present. (Replay of `jti` is checked by the caller's shared store.)
    pub async fn verify_logout_token(&self, token: &str, now: i64) -> Result<LogoutClaims, LogoutTokenError> {
        let policy = crate::jwt::Policy::LOGOUT_TOKEN;
        let signed = crate::jwt::verify(self.key_cache(), token.trim(), &policy).await?;
        let times = policy.check_times(&signed.claims, now).map_err(|e| match e {
            crate::jwt::TimeError::Expired | crate::jwt::TimeError::NotANumber("exp") => LogoutTokenError::Expired,
            other => LogoutTokenError::Stale(other),
        })?;
        let (exp, iat) = (times.exp, times.iat.unwrap_or(now));
        let claims = Value::Object(signed.claims);
        let iss = text(&claims, "iss").unwrap_or_default();
        if iss != self.issuer() {
            return Err(LogoutTokenError::Issuer(iss));
        }
        let client_id = self.client_id();
        let audience_ok = match claims.get("aud") {
            Some(Value::String(a)) => a == client_id,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(client_id)),
            _ => false,
        };
        if !audience_ok {
            return Err(LogoutTokenError::Audience);
        }
        if !claims.get("events").and_then(|e| e.get(EVENT)).is_some_and(Value::is_object) {
            return Err(LogoutTokenError::Events);
        }
        if claims.get("nonce").is_some() {
            return Err(LogoutTokenError::Nonce);
        }
        let (sub, sid) = (text(&claims, "sub"), text(&claims, "sid"));
        if sub.is_none() && sid.is_none() {
            return Err(LogoutTokenError::NoSubject);
        }
        let jti = text(&claims, "jti").ok_or(LogoutTokenError::NoJti)?;
        Ok(LogoutClaims { sub, sid, jti, remember_until: exp.unwrap_or(iat + MAX_AGE_SECS).max(iat + MAX_AGE_SECS) })
    }
}
