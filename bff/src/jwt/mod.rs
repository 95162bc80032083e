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
//!   may have; it returns the claims for the kind's own claim checks
//!   (`iss`, `aud`/`azp`, times, required members), which live beside the kind:
//!   `oidc` (ID tokens), `backchannel` (logout tokens), `bearer` (access tokens).

pub(crate) mod compact;
pub mod keys;

pub use keys::{KeyCache, KeyCacheConfig};

/// What a token kind requires of the header and size, beyond the checks all share.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Accepted `typ` values (compared case-insensitively).
    pub typ: &'static [&'static str],
    /// Whether a token without `typ` is refused.
    pub typ_required: bool,
    /// The largest token accepted (bytes).
    pub max_bytes: usize,
}

impl Policy {
    /// ID tokens: any `typ` (providers send `JWT` or nothing).
    pub const ID_TOKEN: Policy = Policy { typ: &[], typ_required: false, max_bytes: 16 * 1024 };
    /// Logout tokens: `logout+jwt` when a `typ` is sent (Back-Channel Logout 1.0 section 2.4).
    pub const LOGOUT_TOKEN: Policy =
        Policy { typ: &["logout+jwt", "application/logout+jwt"], typ_required: false, max_bytes: 8 * 1024 };
    /// Access tokens: `at+jwt` (RFC 9068 section 2.1).
    pub const ACCESS_TOKEN: Policy =
        Policy { typ: &["at+jwt", "application/at+jwt"], typ_required: true, max_bytes: 8 * 1024 };
    /// Access tokens from a provider that does not type them.
    pub const UNTYPED_ACCESS_TOKEN: Policy = Policy { typ: &[], typ_required: false, max_bytes: 8 * 1024 };

    fn accepts_typ(&self, typ: Option<&str>) -> bool {
        match typ {
            None => !self.typ_required,
            Some(_) if self.typ.is_empty() => true,
            Some(t) => self.typ.iter().any(|ok| ok.eq_ignore_ascii_case(t)),
        }
    }
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

/// A NumericDate claim (RFC 7519: seconds, possibly with a fraction), whole
/// seconds; `None` when absent or not a number.
pub fn numeric_date(claims: &serde_json::Value, name: &str) -> Option<i64> {
    claims.get(name).and_then(serde_json::Value::as_f64).filter(|v| v.is_finite()).map(|v| v as i64)
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
}
