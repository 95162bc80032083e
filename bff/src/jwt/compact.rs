//! Compact JWS pieces shared by every token verifier (ID tokens, logout tokens,
//! access tokens): the three-part split, strict base64url with size limits, the
//! protected header (algorithm allow-list, `crit` refused) and the signature
//! check against a key set (`use: enc` keys never used, a `kid`-less token
//! refused when the set holds several signing keys).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
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
    if candidates.iter().any(|k| verify_one(k, alg, message, signature)) {
        Ok(())
    } else {
        Err(JwtError::Signature)
    }
}

/// One key's verdict. RS256 with a key of 2048 bits or more is checked by
/// `ring` (about 20 µs, against 250 µs for the `rsa` crate `openidconnect`
/// uses, which stays for smaller keys and every other algorithm).
fn verify_one(key: &CoreJsonWebKey, alg: &CoreJwsSigningAlgorithm, message: &[u8], signature: &[u8]) -> bool {
    if *alg == CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 {
        if let Some((n, e)) = rsa_components(key).filter(|(n, _)| n.len() >= 256) {
            let public = ring::signature::RsaPublicKeyComponents { n, e };
            return public.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, message, signature).is_ok();
        }
    }
    key.verify_signature(alg, message, signature).is_ok()
}

/// The modulus (leading zeros dropped) and exponent of an RSA key that may
/// verify RS256: published for signatures (or for no stated use) and for
/// RS256 (or no stated algorithm) — the key-compatibility rules of
/// `openidconnect`, which judges every other key.
fn rsa_components(key: &CoreJsonWebKey) -> Option<(Vec<u8>, Vec<u8>)> {
    let Ok(Value::Object(jwk)) = serde_json::to_value(key) else { return None };
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if field("kty") != Some("RSA")
        || !matches!(field("use"), None | Some("sig"))
        || !matches!(field("alg"), None | Some("RS256"))
    {
        return None;
    }
    let part = |name: &str| jwk.get(name).and_then(Value::as_str).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    let (n, e) = (part("n")?, part("e")?);
    let n = n.iter().position(|b| *b != 0).map(|first| n[first..].to_vec())?;
    Some((n, e))
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

    /// The fast RS256 check and `openidconnect`'s agree, on the local
    /// provider's real signatures: a good one passes both; a changed message,
    /// a flipped signature bit, a truncated signature and another key's
    /// signature fail both.
    #[tokio::test]
    async fn the_fast_rs256_check_agrees_with_openidconnect() {
        use idp::keys::{Keys, SigningAlg};
        let open = || idp::db::open(&idp::config::Storage::Memory);
        let keys = Keys::load(open().await.unwrap(), 3600, SigningAlg::RS256).await.unwrap();
        let other = Keys::load(open().await.unwrap(), 3600, SigningAlg::RS256).await.unwrap();
        let set: CoreJsonWebKeySet = serde_json::from_value(keys.jwks()).unwrap();
        let key = &set.keys()[0];
        let alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let parts = |token: String| {
            let (input, sig) = token.rsplit_once('.').unwrap();
            (input.as_bytes().to_vec(), URL_SAFE_NO_PAD.decode(sig).unwrap())
        };
        let (message, sig) = parts(keys.sign("JWT", &serde_json::json!({"sub": "a"})));
        let (_, foreign) = parts(other.sign("JWT", &serde_json::json!({"sub": "a"})));
        let mut flipped = sig.clone();
        flipped[100] ^= 1;
        let mut changed = message.clone();
        changed[5] ^= 1;
        let cases: [(&[u8], &[u8], bool); 5] = [
            (&message, &sig, true),
            (&changed, &sig, false),
            (&message, &flipped, false),
            (&message, &sig[..255], false),
            (&message, &foreign, false),
        ];
        for (i, (m, s, good)) in cases.into_iter().enumerate() {
            assert!(rsa_components(key).is_some(), "the fast path is the one tested");
            assert_eq!(verify_one(key, &alg, m, s), good, "case {i}");
            assert_eq!(key.verify_signature(&alg, m, s).is_ok(), good, "case {i}, openidconnect");
        }
        // The same key published for another algorithm or use verifies no
        // RS256 signature, on either path.
        let jwk = serde_json::to_value(key).unwrap();
        for (name, value) in [("alg", "ES256"), ("alg", "PS256"), ("alg", "RS384"), ("use", "enc")] {
            let mut other = jwk.clone();
            other[name] = Value::from(value);
            let other: CoreJsonWebKey = serde_json::from_value(other).unwrap();
            assert!(rsa_components(&other).is_none(), "{name}: {value}");
            assert!(!verify_one(&other, &alg, &message, &sig), "{name}: {value} verified a signature");
        }
    }
}
