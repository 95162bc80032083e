//! Signing keys — RS256 (RSA-2048, as Hydra signs by default) or ES256 (P-256,
//! `signing_alg = "ES256"`): generated on first start and persisted, published
//! in the JWKS, rotated on request. A retired key stays in the JWKS until every
//! token it signed has expired. When the configured algorithm changes, the
//! next start adds a key of the new algorithm; the old one retires as usual.

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::db::{self, Db};

/// The JWS algorithm new keys are made for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSA-2048 with SHA-256 (PKCS#1 v1.5): what Hydra and most providers use.
    #[default]
    RS256,
    /// ECDSA P-256 with SHA-256: much cheaper to sign with.
    ES256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
        }
    }
}

// A few keys per provider, each behind an `Arc`: the size difference costs nothing.
#[expect(clippy::large_enum_variant)]
enum Material {
    /// `fast` signs (ring: 0.62 ms a signature against 1.86 ms for the `rsa`
    /// crate's blinded signing, RSA-2048 on this project's 2-CPU machine);
    /// `signing` is only the fallback should ring detect a fault in its own
    /// result and refuse to return it.
    Rsa {
        fast: ring::signature::RsaKeyPair,
        signing: SigningKey<Sha256>,
        public: RsaPublicKey,
    },
    Ec {
        signing: p256::ecdsa::SigningKey,
        public: p256::ecdsa::VerifyingKey,
    },
}

struct Key {
    kid: String,
    material: Material,
}

impl Key {
    fn alg(&self) -> SigningAlg {
        match self.material {
            Material::Rsa { .. } => SigningAlg::RS256,
            Material::Ec { .. } => SigningAlg::ES256,
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match &self.material {
            // ring's private-key operation runs in constant time (no blinding
            // needed) and checks its result before returning it.
            Material::Rsa { fast, signing, .. } => {
                let mut sig = vec![0u8; fast.public().modulus_len()];
                let rng = ring::rand::SystemRandom::new();
                match fast.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, input, &mut sig) {
                    Ok(()) => sig,
                    Err(_) => {
                        tracing::warn!(
                            "ring refused an RSA signature (a computation fault); signing with the rsa crate"
                        );
                        let sig: Signature = signing.sign_with_rng(&mut rand::thread_rng(), input);
                        sig.to_vec()
                    }
                }
            }
            // Deterministic (RFC 6979); JWS wants the raw 64-byte r ‖ s.
            Material::Ec { signing, .. } => {
                use p256::ecdsa::signature::Signer;
                let sig: p256::ecdsa::Signature = signing.sign(input);
                sig.to_bytes().to_vec()
            }
        }
    }

    fn verify(&self, input: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            Material::Rsa { public, .. } => Signature::try_from(sig)
                .is_ok_and(|sig| VerifyingKey::<Sha256>::new(public.clone()).verify(input, &sig).is_ok()),
            Material::Ec { public, .. } => {
                use p256::ecdsa::signature::Verifier as _;
                p256::ecdsa::Signature::from_slice(sig).is_ok_and(|sig| public.verify(input, &sig).is_ok())
            }
        }
    }

    fn jwk(&self) -> serde_json::Value {
        match &self.material {
            Material::Rsa { public, .. } => serde_json::json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                "n": B64.encode(public.n().to_bytes_be()),
                "e": B64.encode(public.e().to_bytes_be()),
            }),
            Material::Ec { public, .. } => {
                let point = public.to_sec1_point(false);
                serde_json::json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256", "kid": self.kid,
                    "x": point.x().map(|x| B64.encode(x)).unwrap_or_default(),
                    "y": point.y().map(|y| B64.encode(y)).unwrap_or_default(),
                })
            }
        }
    }
}

struct KeySet {
    active: Arc<Key>,
    /// Every key in the JWKS, the active one first.
    published: Vec<Arc<Key>>,
}

/// The provider's signing keys. Cheap to clone.
#[derive(Clone)]
pub struct Keys {
    set: Arc<RwLock<Arc<KeySet>>>,
    db: Db,
    /// How long a retired key stays published (the longest token lifetime).
    retention: i64,
    /// The algorithm of new keys.
    alg: SigningAlg,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key storage failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored key {kid} cannot be read: {message}")]
    Corrupt { kid: String, message: String },
    #[error("key generation failed: {0}")]
    Generate(String),
}

/// Why a JWT was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm or type is not accepted")]
    Header,
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
}

/// A new key as its PKCS#8 PEM.
fn generate(alg: SigningAlg) -> Result<String, KeyError> {
    let pem = match alg {
        SigningAlg::RS256 => {
            let key =
                RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| KeyError::Generate(e.to_string()))?;
            key.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::Generate(e.to_string()))?.to_string()
        }
        SigningAlg::ES256 => {
            use p256::pkcs8::EncodePrivateKey as _;
            use rand::RngCore as _;
            // A uniformly random scalar: 32 random bytes, drawn again in the
            // (2^-128-likely) case they are zero or not below the group order.
            let key = loop {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&bytes) {
                    break key;
                }
            };
            key.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).map_err(|e| KeyError::Generate(e.to_string()))?.to_string()
        }
    };
    Ok(pem)
}

/// Reads a stored key: RSA or P-256, whichever its PKCS#8 document holds.
fn to_key(kid: String, pem: &str) -> Result<Arc<Key>, KeyError> {
    let material = match RsaPrivateKey::from_pkcs8_pem(pem) {
        Ok(private) => {
            let public = private.to_public_key();
            let refused = |message: String| KeyError::Corrupt { kid: kid.clone(), message };
            let der = private.to_pkcs8_der().map_err(|e| refused(format!("RSA key not re-encodable: {e}")))?;
            let fast = ring::signature::RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(|e| {
                refused(format!("RSA key refused for signing ({e}): use RSA-2048 or larger, e = 65537"))
            })?;
            Material::Rsa { fast, signing: SigningKey::<Sha256>::new(private), public }
        }
        Err(rsa_error) => {
            use p256::pkcs8::DecodePrivateKey as _;
            let signing = p256::ecdsa::SigningKey::from_pkcs8_pem(pem).map_err(|ec_error| KeyError::Corrupt {
                kid: kid.clone(),
                message: format!("neither RSA ({rsa_error}) nor P-256 ({ec_error})"),
            })?;
            Material::Ec { public: *signing.verifying_key(), signing }
        }
    };
    Ok(Arc::new(Key { kid, material }))
}

impl Keys {
    /// Loads the keys, generating a first one (or, when the active key is of
    /// another algorithm, a new active one) of `alg`.
    pub async fn load(db: Db, retention: i64, alg: SigningAlg) -> Result<Self, KeyError> {
        let set = match Self::read(&db, retention).await? {
            Some(set) if set.active.alg() == alg => set,
            _ => {
                Self::insert_new(&db, alg).await?;
                Self::read(&db, retention).await?.ok_or_else(|| KeyError::Generate("no key after generation".into()))?
            }
        };
        Ok(Self { set: Arc::new(RwLock::new(Arc::new(set))), db, retention, alg })
    }

    async fn insert_new(db: &Db, alg: SigningAlg) -> Result<String, KeyError> {
        let kid = uuid::Uuid::new_v4().to_string();
        let pem = tokio::task::spawn_blocking(move || generate(alg))
            .await
            .map_err(|e| KeyError::Generate(e.to_string()))??;
        let now = db::now();
        let mut tx = db.begin().await?;
        sqlx::query("UPDATE keys SET active = 0, retired_at = ? WHERE active = 1").bind(now).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO keys (kid, private_pem, created_at, active) VALUES (?, ?, ?, 1)")
            .bind(&kid)
            .bind(pem.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(kid)
    }

    async fn read(db: &Db, retention: i64) -> Result<Option<KeySet>, KeyError> {
        let cutoff = db::now() - retention;
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kid, private_pem, active FROM keys WHERE active = 1 OR retired_at >= ? ORDER BY active DESC, created_at DESC",
        )
        .bind(cutoff)
        .fetch_all(db)
        .await?;
        let mut published = Vec::new();
        for (kid, pem, _) in rows {
            published.push(to_key(kid, &pem)?);
        }
        Ok(published.first().cloned().map(|active| KeySet { active, published }))
    }

    /// Adds a new active key; the previous one stays published until its tokens expire.
    pub async fn rotate(&self) -> Result<String, KeyError> {
        let kid = Self::insert_new(&self.db, self.alg).await?;
        self.reload().await?;
        Ok(kid)
    }

    /// Re-reads the keys from storage (drops keys whose retention has passed).
    pub async fn reload(&self) -> Result<(), KeyError> {
        if let Some(set) = Self::read(&self.db, self.retention).await? {
            *self.set.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        }
        Ok(())
    }

    fn current(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn active_kid(&self) -> String {
        self.current().active.kid.clone()
    }

    /// The algorithm the active key signs with.
    pub fn active_alg(&self) -> SigningAlg {
        self.current().active.alg()
    }

    /// Every algorithm a published key signs with, the active one first.
    pub fn published_algs(&self) -> Vec<&'static str> {
        let mut algs: Vec<&'static str> = Vec::new();
        for k in &self.current().published {
            if !algs.contains(&k.alg().as_str()) {
                algs.push(k.alg().as_str());
            }
        }
        algs
    }

    /// Signs `claims` as a compact JWS with the active key.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> String {
        let key = self.current().active.clone();
        let header = serde_json::json!({ "alg": key.alg().as_str(), "typ": typ, "kid": key.kid });
        Self::sign_as(&key, &header, claims)
    }

    /// Signs `claims` with the active key under exactly `header`, whatever it
    /// says: for tests that play a provider with unusual headers.
    pub fn sign_with_header<T: Serialize>(&self, header: &serde_json::Value, claims: &T) -> String {
        Self::sign_as(&self.current().active, header, claims)
    }

    fn sign_as<T: Serialize>(key: &Key, header: &serde_json::Value, claims: &T) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(payload));
        let sig = key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(sig))
    }

    /// Verifies the signature of a token signed by this provider and returns its
    /// header `typ` and claims. Expiry and audience are the caller's to check.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<(Option<String>, T), JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwtError::Malformed);
        };
        let header: serde_json::Value = serde_json::from_slice(&B64.decode(h).map_err(|_| JwtError::Malformed)?)
            .map_err(|_| JwtError::Malformed)?;
        let kid = header["kid"].as_str().ok_or(JwtError::UnknownKey)?;
        let set = self.current();
        let key = set.published.iter().find(|k| k.kid == kid).ok_or(JwtError::UnknownKey)?;
        // The key decides the algorithm; a header naming another one is refused.
        if header["alg"] != key.alg().as_str() {
            return Err(JwtError::Header);
        }
        let sig = B64.decode(s).map_err(|_| JwtError::Malformed)?;
        if !key.verify(format!("{h}.{p}").as_bytes(), &sig) {
            return Err(JwtError::Signature);
        }
        let claims = serde_json::from_slice(&B64.decode(p).map_err(|_| JwtError::Malformed)?)
            .map_err(|_| JwtError::Malformed)?;
        Ok((header["typ"].as_str().map(str::to_string), claims))
    }

    /// The JSON Web Key Set with every published public key.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self.current().published.iter().map(|k| k.jwk()).collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn blinded_signatures_are_plain_rs256_and_verify() {
        let db = db::open(&crate::config::Storage::Memory).await.unwrap();
        let keys = Keys::load(db, 3600, SigningAlg::RS256).await.unwrap();
        let claims = serde_json::json!({ "sub": "someone", "n": 1 });
        let (a, b) = (keys.sign("JWT", &claims), keys.sign("JWT", &claims));
        // PKCS#1 v1.5 is deterministic: blinding changes how the signature is
        // computed, not its value.
        assert_eq!(a, b);
        let (typ, back): (Option<String>, serde_json::Value) = keys.verify(&a).unwrap();
        assert_eq!((typ.as_deref(), back), (Some("JWT"), claims));
        // It verifies with the published key as a plain RS256 signature.
        let set = keys.current();
        let (input, sig) = a.rsplit_once('.').unwrap();
        let sig = Signature::try_from(B64.decode(sig).unwrap().as_slice()).unwrap();
        let Material::Rsa { public, .. } = &set.active.material else { panic!("an RSA key") };
        VerifyingKey::<Sha256>::new(public.clone()).verify(input.as_bytes(), &sig).unwrap();
        let mut tampered = a.clone();
        tampered.insert(a.find('.').unwrap() + 1, 'e');
        assert_eq!(keys.verify::<serde_json::Value>(&tampered).unwrap_err(), JwtError::Signature);
    }

    #[tokio::test]
    async fn es256_keys_sign_raw_signatures_publish_ec_jwks_and_replace_an_rsa_key() {
        let db = db::open(&crate::config::Storage::Memory).await.unwrap();
        let rsa = Keys::load(db.clone(), 3600, SigningAlg::RS256).await.unwrap();
        let old = rsa.sign("JWT", &serde_json::json!({ "sub": "before" }));
        // Configured for ES256 now: a new active P-256 key; the RSA key stays published.
        let keys = Keys::load(db, 3600, SigningAlg::ES256).await.unwrap();
        assert_eq!(keys.active_alg(), SigningAlg::ES256);
        assert_eq!(keys.published_algs(), ["ES256", "RS256"]);
        let claims = serde_json::json!({ "sub": "someone" });
        let token = keys.sign("JWT", &claims);
        let header: serde_json::Value =
            serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!((header["alg"].as_str(), header["kid"].as_str()), (Some("ES256"), Some(keys.active_kid().as_str())));
        assert_eq!(B64.decode(token.rsplit('.').next().unwrap()).unwrap().len(), 64, "JWS ES256 is raw r ‖ s");
        assert_eq!(keys.verify::<serde_json::Value>(&token).unwrap().1, claims);
        assert!(keys.verify::<serde_json::Value>(&old).is_ok(), "tokens of the retired RSA key still verify");
        let jwks = keys.jwks();
        let ec = &jwks["keys"][0];
        assert_eq!(
            (ec["kty"].as_str(), ec["crv"].as_str(), ec["alg"].as_str()),
            (Some("EC"), Some("P-256"), Some("ES256"))
        );
        assert_eq!(B64.decode(ec["x"].as_str().unwrap()).unwrap().len(), 32);
        assert_eq!(jwks["keys"][1]["kty"], "RSA");
        // A header that names another algorithm than the key's is refused.
        let (input, sig) = token.rsplit_once('.').unwrap();
        let (_, payload) = input.split_once('.').unwrap();
        let forged_header = B64.encode(serde_json::json!({ "alg": "RS256", "kid": keys.active_kid() }).to_string());
        let forged = format!("{forged_header}.{payload}.{sig}");
        assert_eq!(keys.verify::<serde_json::Value>(&forged).unwrap_err(), JwtError::Header);
        let mut tampered = token.clone();
        tampered.insert(token.find('.').unwrap() + 1, 'e');
        assert!(keys.verify::<serde_json::Value>(&tampered).is_err());
    }
}
