//! One verification core for every JWT the app accepts — ID tokens, logout
//! tokens and access tokens — driven by a policy per kind:
//!
//! - [`keys`]: the provider's signing keys, one cache per provider shared by
//!   every kind (`Cache-Control` within bounds, single-flight refetch on an
//!   unknown `kid` with one cooldown, cached keys through outages, withdrawn
//!   keys gone on refetch).
//! - [`compact`]: the compact JWS itself (strict base64url, size limits, the
//!   header with RS256/ES256 only and `crit` refused, key selection without
//!   `use: enc` keys and without guessing among several keys, the signature).
//! - [`verify`] with a [`Policy`]: the header `typ` a kind needs, the size it
//!   may have, and the times ([`Policy::check_times`]: `exp`, `nbf`, `iat` with
//!   the kind's leeway and maximum age); it returns the claims for the kind's
//!   own claim checks (`iss`, `aud`/`azp`, required members), which live
//!   beside the kind: `oidc` (ID tokens), `backchannel` (logout tokens),
//!   `bearer` (access tokens).

pub(crate) mod compact;
pub mod keys;

pub use keys::{KeyCache, KeyCacheConfig};

/// What a token kind requires of the header, size and times, beyond the checks all share.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Accepted `typ` values (compared case-insensitively).
    pub typ: &'static [&'static str],
    /// Whether a token without `typ` is refused.
    pub typ_required: bool,
    /// The largest token accepted (bytes).
    pub max_bytes: usize,
    /// Clock skew allowed between us and the provider, for `exp`, `nbf` and a future `iat`.
    pub leeway_secs: i64,
    /// Whether `exp` must be present.
    pub exp_required: bool,
    /// Whether `iat` must be present.
    pub iat_required: bool,
    /// How old a token may be, by its `iat` (`None`: no bound beyond `exp`).
    pub max_age_secs: Option<i64>,
}

impl Policy {
    /// ID tokens: any `typ` (providers send `JWT` or nothing); `exp` and `iat`
    /// required (OpenID Connect Core 2), 60 s of skew.
    pub const ID_TOKEN: Policy = Policy {
        typ: &[],
        typ_required: false,
        max_bytes: 16 * 1024,
        leeway_secs: 60,
        exp_required: true,
        iat_required: true,
        max_age_secs: None,
    };
    /// Logout tokens: `logout+jwt` when a `typ` is sent (Back-Channel Logout
    /// 1.0 section 2.4); `iat` required and at most 5 minutes old; 60 s of skew.
    pub const LOGOUT_TOKEN: Policy = Policy {
        typ: &["logout+jwt", "application/logout+jwt"],
        typ_required: false,
        max_bytes: 8 * 1024,
        leeway_secs: 60,
        exp_required: false,
        iat_required: true,
        max_age_secs: Some(crate::backchannel::MAX_AGE_SECS),
    };
    /// Access tokens: `at+jwt` (RFC 9068 section 2.1); `exp` required; 30 s of skew.
    pub const ACCESS_TOKEN: Policy = Policy {
        typ: &["at+jwt", "application/at+jwt"],
        typ_required: true,
        max_bytes: 8 * 1024,
        leeway_secs: 30,
        exp_required: true,
        iat_required: false,
        max_age_secs: None,
    };
    /// Access tokens from a provider that does not type them.
    pub const UNTYPED_ACCESS_TOKEN: Policy = Policy { typ: &[], typ_required: false, ..Policy::ACCESS_TOKEN };

    /// The kind's time rules on `claims` at `now`: `exp` (required or not),
    /// `nbf`, `iat` (required or not, not in the future, not older than the
    /// maximum age), each with the leeway. A time claim that is present but
    /// not a number is refused, never ignored.
    pub fn check_times(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
        now: i64,
    ) -> Result<Times, TimeError> {
        let date = |name: &'static str| match claims.get(name) {
            None => Ok(None),
            Some(v) => v.as_f64().filter(|v| v.is_finite()).map(|v| Some(v as i64)).ok_or(TimeError::NotANumber(name)),
        };
        let times = Times { exp: date("exp")?, nbf: date("nbf")?, iat: date("iat")? };
        if self.exp_required && times.exp.is_none() {
            return Err(TimeError::Missing("exp"));
        }
        if self.iat_required && times.iat.is_none() {
            return Err(TimeError::Missing("iat"));
        }
        self.check_time_values(times, now)?;
        Ok(times)
    }

    /// [`Policy::check_times`] on values already read (a remembered verdict).
    pub fn check_time_values(&self, times: Times, now: i64) -> Result<(), TimeError> {
        if times.exp.is_some_and(|exp| exp.saturating_add(self.leeway_secs) <= now) {
            return Err(TimeError::Expired);
        }
        if times.nbf.is_some_and(|nbf| nbf.saturating_sub(self.leeway_secs) > now) {
            return Err(TimeError::NotYetValid);
        }
        if let Some(iat) = times.iat {
            if iat.saturating_sub(self.leeway_secs) > now {
                return Err(TimeError::IssuedInFuture(iat.saturating_sub(now)));
            }
            if self.max_age_secs.is_some_and(|max| now.saturating_sub(iat) > max) {
                return Err(TimeError::TooOld);
            }
        }
        Ok(())
    }

    fn accepts_typ(&self, typ: Option<&str>) -> bool {
        match typ {
            None => !self.typ_required,
            Some(_) if self.typ.is_empty() => true,
            Some(t) => self.typ.iter().any(|ok| ok.eq_ignore_ascii_case(t)),
        }
    }
}

/// A token's time claims (whole seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Times {
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
}

/// Why a token's times were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("the {0} claim is missing")]
    Missing(&'static str),
    #[error("the {0} claim is not a number")]
    NotANumber(&'static str),
    #[error("expired")]
    Expired,
    #[error("not valid yet (nbf)")]
    NotYetValid,
    #[error("issued {0} s in the future")]
    IssuedInFuture(i64),
    #[error("issued too long ago")]
    TooOld,
}

/// Why a token failed the shared checks (each kind maps this to its own error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("signing algorithm {0:?} not accepted (RS256 or ES256 only)")]
    Algorithm(String),
    #[error("the header names critical extensions, which this app does not understand")]
    Critical,
    #[error("typ {0:?} is not accepted for this kind of token")]
    Type(String),
    #[error("signed with a key the provider does not publish for signatures")]
    UnknownKey,
    #[error("the token names no key id and the provider publishes several signing keys")]
    AmbiguousKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("the provider's signing keys are unavailable")]
    KeysUnavailable,
}

/// A token whose header, key and signature passed.
#[derive(Debug, Clone)]
pub struct Signed {
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The key set that verified it.
    pub keys: std::sync::Arc<openidconnect::core::CoreJsonWebKeySet>,
    /// The generation of the key set that verified it.
    pub generation: u64,
}

/// The checks every kind shares, in order: size, three parts, header
/// (algorithm, `crit`), the policy's `typ`, the key (refetched once when the
/// `kid` is unknown, within the cache's cooldown), the signature; then the
/// claims must be a JSON object. The claims themselves are the kind's to check.
pub async fn verify(keys: &KeyCache, token: &str, policy: &Policy) -> Result<Signed, JwtError> {
    if token.len() > policy.max_bytes {
        return Err(JwtError::Malformed("too long"));
    }
    let (h, p, s) = compact::split(token).ok_or(JwtError::Malformed("not three parts"))?;
    let header = compact::header(h)?;
    if !policy.accepts_typ(header.typ.as_deref()) {
        return Err(JwtError::Type(crate::clip(header.typ.as_deref().unwrap_or("(none)"), 40)));
    }
    let signature = compact::decode(s, 1024)?;
    let message = format!("{h}.{p}");
    let check = |set: &openidconnect::core::CoreJsonWebKeySet| {
        compact::verify(set, header.kid.as_deref(), &header.alg, message.as_bytes(), &signature)
    };
    let (mut set, mut generation) = keys.keys(false).await.ok_or(JwtError::KeysUnavailable)?;
    match check(&set) {
        Err(JwtError::UnknownKey) => {
            (set, generation) = keys.keys(true).await.ok_or(JwtError::KeysUnavailable)?;
            check(&set)?;
        }
        r => r?,
    }
    let claims = serde_json::from_slice(&compact::decode(p, policy.max_bytes)?)
        .map_err(|_| JwtError::Malformed("the claims are not a JSON object"))?;
    Ok(Signed { claims, keys: set, generation })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_accepts_its_typ_only() {
        assert!(Policy::ACCESS_TOKEN.accepts_typ(Some("AT+JWT")));
        assert!(!Policy::ACCESS_TOKEN.accepts_typ(Some("JWT")));
        assert!(!Policy::ACCESS_TOKEN.accepts_typ(None));
        assert!(Policy::LOGOUT_TOKEN.accepts_typ(None));
        assert!(Policy::LOGOUT_TOKEN.accepts_typ(Some("logout+jwt")));
        assert!(!Policy::LOGOUT_TOKEN.accepts_typ(Some("at+jwt")));
        assert!(Policy::ID_TOKEN.accepts_typ(Some("JWT")) && Policy::ID_TOKEN.accepts_typ(None));
    }

    fn claims(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn each_kind_has_its_own_time_rules() {
        use serde_json::json;
        let now = 1_000_000;
        let id = Policy::ID_TOKEN;
        assert!(id.check_times(&claims(json!({"exp": now + 10, "iat": now})), now).is_ok());
        assert_eq!(id.check_times(&claims(json!({"iat": now})), now), Err(TimeError::Missing("exp")));
        assert_eq!(id.check_times(&claims(json!({"exp": now + 10})), now), Err(TimeError::Missing("iat")));
        // The leeway, exactly.
        assert!(id.check_times(&claims(json!({"exp": now - 59, "iat": now + 60})), now).is_ok());
        assert_eq!(id.check_times(&claims(json!({"exp": now - 60, "iat": now})), now), Err(TimeError::Expired));
        assert_eq!(
            id.check_times(&claims(json!({"exp": now + 10, "iat": now + 61})), now),
            Err(TimeError::IssuedInFuture(61))
        );
        assert_eq!(id.check_times(&claims(json!({"exp": "soon", "iat": now})), now), Err(TimeError::NotANumber("exp")));

        let logout = Policy::LOGOUT_TOKEN;
        assert!(logout.check_times(&claims(json!({"iat": now - 300})), now).is_ok());
        assert_eq!(logout.check_times(&claims(json!({"iat": now - 301})), now), Err(TimeError::TooOld));
        assert_eq!(logout.check_times(&claims(json!({})), now), Err(TimeError::Missing("iat")));
        assert!(logout.check_times(&claims(json!({"iat": now as f64 + 0.5})), now).is_ok());

        let access = Policy::ACCESS_TOKEN;
        assert!(access.check_times(&claims(json!({"exp": now - 29})), now).is_ok());
        assert_eq!(access.check_times(&claims(json!({"exp": now - 30})), now), Err(TimeError::Expired));
        assert_eq!(
            access.check_times(&claims(json!({"exp": now + 60, "nbf": now + 31})), now),
            Err(TimeError::NotYetValid)
        );
        assert_eq!(
            access.check_times(&claims(json!({"exp": now + 60, "nbf": null})), now),
            Err(TimeError::NotANumber("nbf"))
        );
        assert_eq!(access.check_times(&claims(json!({"sub": "x"})), now), Err(TimeError::Missing("exp")));
        let strict = Policy { leeway_secs: 0, ..access };
        assert_eq!(strict.check_times(&claims(json!({"exp": now})), now), Err(TimeError::Expired));
    }
}
