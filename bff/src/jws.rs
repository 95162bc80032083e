//! Compact JWS pieces shared by the logout-token and bearer-token verifiers:
//! the three-part split and the signature check against a key set.

use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey as _;

/// `header.payload.signature`, still encoded; `None` unless exactly three parts.
pub(crate) fn split(token: &str) -> Option<(&str, &str, &str)> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Some((h, p, s)),
        _ => None,
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    /// No key in the set has this `kid`.
    UnknownKey,
    /// A key matched the `kid`, but none verifies the signature.
    Signature,
}

/// Verifies `signature` over `message` (`header.payload`) with the keys named
/// by `kid` (every key when the token names none).
pub(crate) fn verify(
    keys: &CoreJsonWebKeySet,
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), KeyCheck> {
    let mut candidates =
        keys.keys().iter().filter(|k| kid.is_none() || k.key_id().map(|id| id.as_str()) == kid).peekable();
    if candidates.peek().is_none() {
        return Err(KeyCheck::UnknownKey);
    }
    if candidates.any(|k| k.verify_signature(alg, message, signature).is_ok()) {
        Ok(())
    } else {
        Err(KeyCheck::Signature)
    }
}
