//! Compact JWS pieces shared by every token verifier (ID tokens, logout tokens,
//! access tokens): the three-part split, strict base64url with size limits, the
//! protected header (algorithm allow-list, `crit` refused) and the signature
//! check against a key set (`use: enc` keys never used, a `kid`-less token
//! refused when the set holds several signing keys).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{CoreJsonWebKeySet, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey as _;
use serde_json::Value;

use super::JwtError;

/// The largest JOSE header accepted (bytes, decoded).
pub(crate) const MAX_HEADER_BYTES: usize = 1024;

/// `header.payload.signature`, still encoded; `None` unless exactly three parts.
pub(crate) fn split(token: &str) -> Option<(&str, &str, &str)> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Some((h, p, s)),
        _ => None,
    }
}

/// Strict base64url without padding, refused beyond `max` decoded bytes
/// (checked on the encoded length, before decoding).
pub(crate) fn decode(part: &str, max: usize) -> Result<Vec<u8>, JwtError> {
    if part.len() > max.div_ceil(3) * 4 {
        return Err(JwtError::Malformed("a part is too large"));
    }
    URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed("not base64url"))
}

/// A protected header that passed the checks every token kind shares.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub alg: CoreJwsSigningAlgorithm,
    pub kid: Option<String>,
    /// As sent, for the policy of each token kind to judge.
    pub typ: Option<String>,
}

/// The only signature algorithms accepted for any token, whatever a provider
/// advertises: symmetric ones would be verified with a shared secret, `none`
/// with nothing.
pub(crate) fn accepted_algorithm(name: &str) -> Option<CoreJwsSigningAlgorithm> {
    match name {
        "RS256" => Some(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256),
        "ES256" => Some(CoreJwsSigningAlgorithm::EcdsaP256Sha256),
        _ => None,
    }
}

/// Decodes and checks the protected header: JSON object, accepted `alg`, no `crit`.
pub(crate) fn header(encoded: &str) -> Result<Header, JwtError> {
    let header: serde_json::Map<String, Value> = serde_json::from_slice(&decode(encoded, MAX_HEADER_BYTES)?)
        .map_err(|_| JwtError::Malformed("header is not a JSON object"))?;
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    let alg = accepted_algorithm(alg_name).ok_or_else(|| JwtError::Algorithm(crate::clip(alg_name, 40)))?;
    if header.contains_key("crit") {
        return Err(JwtError::Critical);
    }
    let text = |k: &str| header.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(Header { alg, kid: text("kid"), typ: text("typ") })
}

/// Verifies `signature` over `message` (`header.payload`) with the signing key
/// named by `kid`. Keys published for encryption (`use: enc`) are never used;
/// a token without `kid` is verified only when the set holds exactly one
/// signing key.
pub(crate) fn verify(
    keys: &CoreJsonWebKeySet,
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), JwtError> {
    let signing = keys.keys().iter().filter(|k| !matches!(k.key_use(), Some(CoreJsonWebKeyUse::Encryption)));
    let candidates: Vec<_> = match kid {
        Some(kid) => signing.filter(|k| k.key_id().map(|id| id.as_str()) == Some(kid)).collect(),
        None => {
            let all: Vec<_> = signing.collect();
            if all.len() > 1 {
                return Err(JwtError::AmbiguousKey);
            }
            all
        }
    };
    if candidates.is_empty() {
        return Err(JwtError::UnknownKey);
    }
    if candidates.iter().any(|k| k.verify_signature(alg, message, signature).is_ok()) {
        Ok(())
    } else {
        Err(JwtError::Signature)
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    fn enc(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn headers_with_other_algorithms_or_crit_are_refused() {
        for alg in ["HS256", "HS512", "none", "RS512", "PS256", "", "rs256"] {
            assert!(matches!(header(&enc(&serde_json::json!({"alg": alg}))), Err(JwtError::Algorithm(_))), "{alg}");
        }
        let crit = serde_json::json!({"alg": "RS256", "kid": "k", "crit": ["exp"], "exp": 1});
        assert_eq!(header(&enc(&crit)).unwrap_err(), JwtError::Critical);
        assert!(header("e30=").is_err(), "padding is not base64url");
        assert!(header(&"A".repeat(2000)).is_err(), "oversized header");
        assert!(header(&enc(&serde_json::json!(["RS256"]))).is_err(), "not an object");
        let ok = header(&enc(&serde_json::json!({"alg": "ES256", "kid": "k", "typ": "JWT"}))).unwrap();
        assert_eq!(ok.alg, CoreJwsSigningAlgorithm::EcdsaP256Sha256);
        assert_eq!((ok.kid.as_deref(), ok.typ.as_deref()), (Some("k"), Some("JWT")));
    }

    #[test]
    fn encryption_keys_and_kidless_tokens_with_several_keys_are_refused() {
        let key = |kid: &str, use_: &str| serde_json::json!({"kty": "RSA", "kid": kid, "use": use_, "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXbw", "e": "AQAB"});
        let set = |keys: Vec<Value>| -> CoreJsonWebKeySet {
            serde_json::from_value(serde_json::json!({"keys": keys})).unwrap()
        };
        let alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        // Only an encryption key carries the kid: as good as unknown.
        assert_eq!(verify(&set(vec![key("a", "enc")]), Some("a"), &alg, b"m", b"s"), Err(JwtError::UnknownKey));
        assert_eq!(verify(&set(vec![key("a", "enc")]), None, &alg, b"m", b"s"), Err(JwtError::UnknownKey));
        // No kid: fine with one signing key (an encryption key beside it does not count), refused with two.
        assert_eq!(
            verify(&set(vec![key("a", "sig"), key("b", "enc")]), None, &alg, b"m", b"s"),
            Err(JwtError::Signature)
        );
        assert_eq!(
            verify(&set(vec![key("a", "sig"), key("b", "sig")]), None, &alg, b"m", b"s"),
            Err(JwtError::AmbiguousKey)
        );
        assert_eq!(verify(&set(vec![key("a", "sig")]), Some("b"), &alg, b"m", b"s"), Err(JwtError::UnknownKey));
    }
}
