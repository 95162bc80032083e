//! RS256 signing keys: generated on first start and persisted, published in the
//! JWKS, rotated on request. A retired key stays in the JWKS until every token
//! it signed has expired.

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

use crate::db::{self, Db};

struct Key {
    kid: String,
    signing: SigningKey<Sha256>,
    public: RsaPublicKey,
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

fn generate() -> Result<(String, RsaPrivateKey), KeyError> {
    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok((uuid::Uuid::new_v4().to_string(), key))
}

fn to_key(kid: String, private: RsaPrivateKey) -> Arc<Key> {
    let public = private.to_public_key();
    Arc::new(Key { kid, signing: SigningKey::<Sha256>::new(private), public })
}

impl Keys {
    /// Loads the keys, generating the first one if there is none.
    pub async fn load(db: Db, retention: i64) -> Result<Self, KeyError> {
        let set = Self::read(&db, retention).await?;
        let set = match set {
            Some(set) => set,
            None => {
                Self::insert_new(&db).await?;
                Self::read(&db, retention).await?.ok_or_else(|| KeyError::Generate("no key after generation".into()))?
            }
        };
        Ok(Self { set: Arc::new(RwLock::new(Arc::new(set))), db, retention })
    }

    async fn insert_new(db: &Db) -> Result<String, KeyError> {
        let (kid, private) =
            tokio::task::spawn_blocking(generate).await.map_err(|e| KeyError::Generate(e.to_string()))??;
        let pem = private.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::Generate(e.to_string()))?;
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
            let private = RsaPrivateKey::from_pkcs8_pem(&pem)
                .map_err(|e| KeyError::Corrupt { kid: kid.clone(), message: e.to_string() })?;
            published.push(to_key(kid, private));
        }
        Ok(published.first().cloned().map(|active| KeySet { active, published }))
    }

    /// Adds a new active key; the previous one stays published until its tokens expire.
    pub async fn rotate(&self) -> Result<String, KeyError> {
        let kid = Self::insert_new(&self.db).await?;
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

    /// Signs `claims` as a compact JWS with the active key.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> String {
        let header = serde_json::json!({ "alg": "RS256", "typ": typ, "kid": self.active_kid() });
        self.sign_with_header(&header, claims)
    }

    /// Signs `claims` with the active key (RS256) under exactly `header`, whatever
    /// it says: for tests that play a provider with unusual headers.
    pub fn sign_with_header<T: Serialize>(&self, header: &serde_json::Value, claims: &T) -> String {
        let key = self.current().active.clone();
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(payload));
        // Blinded: a fresh random blinding factor per signature keeps the RSA
        // private-key operation's timing independent of the key (the signature
        // itself is the same deterministic RS256 value).
        let sig: Signature = key.signing.sign_with_rng(&mut rand::thread_rng(), signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(sig.to_bytes()))
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
        if header["alg"] != "RS256" {
            return Err(JwtError::Header);
        }
        let kid = header["kid"].as_str().ok_or(JwtError::UnknownKey)?;
        let set = self.current();
        let key = set.published.iter().find(|k| k.kid == kid).ok_or(JwtError::UnknownKey)?;
        let sig = Signature::try_from(B64.decode(s).map_err(|_| JwtError::Malformed)?.as_slice())
            .map_err(|_| JwtError::Signature)?;
        VerifyingKey::<Sha256>::new(key.public.clone())
            .verify(format!("{h}.{p}").as_bytes(), &sig)
            .map_err(|_| JwtError::Signature)?;
        let claims = serde_json::from_slice(&B64.decode(p).map_err(|_| JwtError::Malformed)?)
            .map_err(|_| JwtError::Malformed)?;
        Ok((header["typ"].as_str().map(str::to_string), claims))
    }

    /// The JSON Web Key Set with every published public key.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .current()
            .published
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
                    "n": B64.encode(k.public.n().to_bytes_be()),
                    "e": B64.encode(k.public.e().to_bytes_be()),
                })
            })
            .collect();
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
        let keys = Keys::load(db, 3600).await.unwrap();
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
        VerifyingKey::<Sha256>::new(set.active.public.clone()).verify(input.as_bytes(), &sig).unwrap();
        let mut tampered = a.clone();
        tampered.insert(a.find('.').unwrap() + 1, 'e');
        assert_eq!(keys.verify::<serde_json::Value>(&tampered).unwrap_err(), JwtError::Signature);
    }
}
