//! Tokens sealed at rest: the session record holds the user's tokens only as
//! XChaCha20-Poly1305 ciphertext under a named key, bound to the session's
//! user (`sub` as associated data), so a dump of the session store — SQLite
//! rows or Redis values — holds no usable token, and a sealed blob copied
//! into another user's record does not open.
//!
//! Keys rotate by name: the first key seals, every listed key opens. Drop a key
//! only after the sessions it sealed have expired; a session whose key is gone
//! is ended (the user signs in again).

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// A key id: 1–32 of `A–Z a–z 0–9 _ -`.
fn valid_kid(kid: &str) -> bool {
    (1..=32).contains(&kid.len()) && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why a key list was refused (the message names the fix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no key given: use id:base64key, e.g. k1:{example}")]
    Empty { example: String },
    #[error("{0:?} is not id:base64key (id of 1-32 letters, digits, - or _; key 32 bytes in standard base64)")]
    Malformed(String),
    #[error("key {0:?} is not 32 bytes of standard base64 (generate one with: openssl rand -base64 32)")]
    BadKey(String),
    #[error("key id {0:?} is listed twice")]
    Duplicate(String),
}

/// The keys that seal and open session tokens.
#[derive(Clone)]
pub struct TokenKeys {
    current: String,
    keys: Arc<HashMap<String, XChaCha20Poly1305>>,
    /// Per key (the sealing key first, then the others as listed): the key
    /// that hashes session ids for the session store ([`crate::session_ids`]).
    id_keys: Arc<Vec<[u8; 32]>>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<_> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("TokenKeys").field("current", &self.current).field("ids", &ids).finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Parses `id:base64key[,id:base64key…]` (commas or whitespace); the first seals.
    pub fn parse(list: &str) -> Result<Self, KeyError> {
        let mut current = None;
        let mut keys = HashMap::new();
        let mut id_keys = Vec::new();
        for item in list.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()) {
            let (kid, key) = item.split_once(':').ok_or_else(|| KeyError::Malformed(item.into()))?;
            if !valid_kid(kid) {
                return Err(KeyError::Malformed(item.into()));
            }
            let bytes = STANDARD.decode(key).map_err(|_| KeyError::BadKey(kid.into()))?;
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| KeyError::BadKey(kid.into()))?;
            if keys.insert(kid.to_string(), cipher).is_some() {
                return Err(KeyError::Duplicate(kid.into()));
            }
            id_keys.push(derive(&bytes, b"gatehouse session-id key v1"));
            current.get_or_insert_with(|| kid.to_string());
        }
        let current = current.ok_or_else(|| KeyError::Empty { example: Self::generate_line("k1") })?;
        Ok(Self { current, keys: Arc::new(keys), id_keys: Arc::new(id_keys) })
    }

    /// A fresh random key as one `id:base64key` item.
    pub fn generate_line(kid: &str) -> String {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        format!("{kid}:{}", STANDARD.encode(key))
    }

    /// The keys that hash session ids, the current one first.
    pub(crate) fn session_id_keys(&self) -> &[[u8; 32]] {
        &self.id_keys
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Seals `value` for the session of `sub`.
    pub(crate) fn seal<T: Serialize>(&self, value: &T, sub: &str) -> Result<Sealed, SealError> {
        let plain = serde_json::to_vec(value).map_err(|_| SealError::Encoding)?;
        let cipher = self.keys.get(&self.current).ok_or(SealError::UnknownKey)?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct =
            cipher.encrypt(&nonce, Payload { msg: &plain, aad: sub.as_bytes() }).map_err(|_| SealError::Encoding)?;
        Ok(Sealed { kid: self.current.clone(), nonce: URL_SAFE_NO_PAD.encode(nonce), ct: URL_SAFE_NO_PAD.encode(ct) })
    }

    /// Opens a value sealed for the session of `sub`.
    pub(crate) fn open<T: DeserializeOwned>(&self, sealed: &Sealed, sub: &str) -> Result<T, SealError> {
        let cipher = self.keys.get(&sealed.kid).ok_or(SealError::UnknownKey)?;
        let nonce = URL_SAFE_NO_PAD.decode(&sealed.nonce).map_err(|_| SealError::Corrupt)?;
        if nonce.len() != 24 {
            return Err(SealError::Corrupt);
        }
        let ct = URL_SAFE_NO_PAD.decode(&sealed.ct).map_err(|_| SealError::Corrupt)?;
        let plain = cipher
            .decrypt(XNonce::from_slice(&nonce), Payload { msg: &ct, aad: sub.as_bytes() })
            .map_err(|_| SealError::Corrupt)?;
        serde_json::from_slice(&plain).map_err(|_| SealError::Corrupt)
    }
}

/// An HMAC-SHA-256 state keyed with `key`.
pub(crate) fn hmac_for(key: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac;
    let Ok(mac) = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac
}

/// HMAC-SHA-256 of `label` under `key`: a separate key for another purpose.
pub(crate) fn derive(key: &[u8], label: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = hmac_for(key);
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl TokenKeys {
    /// Seals `value` bound to `context` as one compact string
    /// (`kid.nonce.ciphertext`, all cookie-safe characters).
    pub(crate) fn seal_compact<T: Serialize>(&self, value: &T, context: &str) -> Result<String, SealError> {
        let s = self.seal(value, context)?;
        Ok(format!("{}.{}.{}", s.kid, s.nonce, s.ct))
    }

    /// Opens a value of [`Self::seal_compact`] sealed for `context`.
    pub(crate) fn open_compact<T: DeserializeOwned>(&self, compact: &str, context: &str) -> Result<T, SealError> {
        let mut parts = compact.splitn(3, '.');
        let (Some(kid), Some(nonce), Some(ct)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SealError::Corrupt);
        };
        self.open(&Sealed { kid: kid.into(), nonce: nonce.into(), ct: ct.into() }, context)
    }
}

/// A sealed value as stored: key id, nonce and ciphertext (base64url).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Sealed {
    kid: String,
    nonce: String,
    ct: String,
}

/// Why a sealed value did not open (the session is then ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed with a key that is no longer configured")]
    UnknownKey,
    #[error("the sealed value is corrupt or was sealed for another session")]
    Corrupt,
    #[error("the value could not be encoded")]
    Encoding,
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    fn keys(list: &str) -> TokenKeys {
        TokenKeys::parse(list).unwrap()
    }

    #[test]
    fn sealed_values_open_only_for_their_session_and_key() {
        let k = keys(&TokenKeys::generate_line("a"));
        let sealed = k.seal(&"secret-access-token", "user-1").unwrap();
        let stored = serde_json::to_string(&sealed).unwrap();
        assert!(!stored.contains("secret-access-token"));
        assert_eq!(k.open::<String>(&sealed, "user-1").unwrap(), "secret-access-token");
        assert_eq!(k.open::<String>(&sealed, "user-2"), Err(SealError::Corrupt), "bound to the session's user");
        let other = keys(&TokenKeys::generate_line("a"));
        assert_eq!(other.open::<String>(&sealed, "user-1"), Err(SealError::Corrupt), "same id, other key");
        let mut tampered = sealed.clone();
        tampered.ct.replace_range(0..1, if tampered.ct.starts_with('A') { "B" } else { "A" });
        assert_eq!(k.open::<String>(&tampered, "user-1"), Err(SealError::Corrupt));
        assert_ne!(k.seal(&"x", "u").unwrap().nonce, k.seal(&"x", "u").unwrap().nonce, "fresh nonces");
    }

    #[test]
    fn keys_rotate_by_id() {
        let old = TokenKeys::generate_line("old");
        let new = TokenKeys::generate_line("new");
        let before = keys(&old);
        let sealed = before.seal(&42u32, "u").unwrap();
        let rotated = keys(&format!("{new}, {old}"));
        assert_eq!(rotated.current_id(), "new");
        assert_eq!(rotated.open::<u32>(&sealed, "u").unwrap(), 42, "the old key still opens");
        assert_eq!(rotated.seal(&1u32, "u").unwrap().kid, "new", "the first key seals");
        let dropped = keys(&new);
        assert_eq!(dropped.open::<u32>(&sealed, "u"), Err(SealError::UnknownKey));
    }

    #[test]
    fn bad_key_lists_are_refused_with_the_fix() {
        assert!(matches!(TokenKeys::parse(" , "), Err(KeyError::Empty { .. })));
        assert_eq!(TokenKeys::parse("nocolon").unwrap_err(), KeyError::Malformed("nocolon".into()));
        assert_eq!(TokenKeys::parse("bad id:AAAA").unwrap_err(), KeyError::Malformed("bad".into()));
        assert_eq!(TokenKeys::parse("k:c2hvcnQ=").unwrap_err(), KeyError::BadKey("k".into()));
        let line = TokenKeys::generate_line("k");
        assert_eq!(TokenKeys::parse(&format!("{line},{line}")).unwrap_err(), KeyError::Duplicate("k".into()));
        let msg = TokenKeys::parse("").unwrap_err().to_string();
        assert!(msg.contains("k1:"), "{msg}");
    }

    #[test]
    fn debug_shows_ids_not_keys() {
        let line = TokenKeys::generate_line("k1");
        let shown = format!("{:?}", keys(&line));
        assert!(shown.contains("k1") && !shown.contains(line.split_once(':').unwrap().1), "{shown}");
    }
}
