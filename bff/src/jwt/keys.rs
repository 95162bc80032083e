//! The provider's signing keys, fetched from its `jwks_uri` and cached — one
//! cache per provider, shared by every token kind (ID, logout and access
//! tokens), so a rotation seen by one is seen by all and an unknown-`kid`
//! flood costs one fetch per cooldown whatever token it comes in.
//!
//! - Cached for the response's `Cache-Control: max-age`, clamped to bounds.
//! - A token with an unknown `kid` triggers one refetch, single-flight and at
//!   most once per cooldown; a refetch replaces the whole set, so a withdrawn
//!   key is gone with it.
//! - When the provider is unreachable, the cached keys keep working and count
//!   as fresh for a cooldown, so an outage costs one try per cooldown, not one
//!   per request. While one request refreshes stale keys, the others use the
//!   stale ones.
//! - The generation counts changes of the key set, so a verdict remembered
//!   for a token holds only for the keys it was checked with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use serde_json::Value;
use url::Url;

/// How a key cache fetches and keeps keys.
#[derive(Debug, Clone)]
pub struct KeyCacheConfig {
    /// Bounds for the cache lifetime the provider's `Cache-Control` asks for.
    pub min_cache: Duration,
    pub max_cache: Duration,
    /// At most one refetch for unknown `kid`s per this long; also how long
    /// a failed fetch waits before the next try.
    pub refetch_cooldown: Duration,
    /// Bound on one fetch.
    pub fetch_timeout: Duration,
}

impl Default for KeyCacheConfig {
    /// Cached between 1 minute and 1 hour, 30 s refetch cooldown, 5 s fetch timeout.
    fn default() -> Self {
        Self {
            min_cache: Duration::from_secs(60),
            max_cache: Duration::from_secs(3600),
            refetch_cooldown: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

struct Cached {
    keys: Arc<CoreJsonWebKeySet>,
    /// The key set as fetched, to tell whether a fetch changed it.
    json: Value,
    fresh_until: Instant,
    generation: u64,
}

/// Keys to verify with, and their generation.
pub type Keys = (Arc<CoreJsonWebKeySet>, u64);

/// One provider's signing keys. Share one per provider (it is cheap to clone
/// an `Arc` of it) among every verifier of that provider's tokens.
pub struct KeyCache {
    jwks_uri: Url,
    cfg: KeyCacheConfig,
    http: reqwest::Client,
    cache: RwLock<Option<Cached>>,
    /// Serialises fetches; holds when the last refetch for an unknown `kid` happened.
    refetch: tokio::sync::Mutex<Option<Instant>>,
    /// When a fetch last failed with no keys cached: no new try for a cooldown.
    failed_empty: std::sync::Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

/// `max-age` from a `Cache-Control` value.
fn max_age(cache_control: Option<&str>) -> Option<Duration> {
    cache_control?.split(',').find_map(|d| {
        let (k, v) = d.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case("max-age").then(|| v.trim().parse().ok().map(Duration::from_secs))?
    })
}

impl KeyCache {
    /// A cache for the keys at `jwks_uri`; they are fetched on first use (or by [`KeyCache::prime`]).
    pub fn new(jwks_uri: Url, cfg: KeyCacheConfig) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.fetch_timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            jwks_uri,
            cfg,
            http,
            cache: RwLock::new(None),
            refetch: tokio::sync::Mutex::new(None),
            failed_empty: std::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        })
    }

    /// How many times the keys were fetched (successfully or not).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetches the keys now, whatever the cooldowns say (at startup); the
    /// error says why there are none.
    pub async fn prime(&self) -> Result<(), String> {
        let _guard = self.refetch.lock().await;
        self.fetch().await
    }

    /// The cached keys, their generation, and whether they are fresh.
    pub(crate) fn cached(&self) -> Option<(Keys, bool)> {
        let guard = self.cache.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|c| ((c.keys.clone(), c.generation), Instant::now() < c.fresh_until))
    }

    async fn download(&self) -> Result<(CoreJsonWebKeySet, Value, Duration), String> {
        let r = crate::request_id::tag(self.http.get(self.jwks_uri.clone()))
            .send()
            .await
            .map_err(|e| crate::oidc::error_chain(&e))?;
        if !r.status().is_success() {
            return Err(format!("status {}", r.status()));
        }
        let age = max_age(r.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()));
        let json: Value = r.json().await.map_err(|e| e.to_string())?;
        let keys: CoreJsonWebKeySet = serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
        Ok((keys, json, age.unwrap_or(self.cfg.min_cache).clamp(self.cfg.min_cache, self.cfg.max_cache)))
    }

    /// Fetches the key set. On failure the cached keys stay and count as
    /// fresh for one cooldown; with nothing cached, the next try also waits a cooldown.
    async fn fetch(&self) -> Result<(), String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.download().await;
        crate::metrics::metrics().jwks_fetch(result.is_ok());
        let mut guard = self.cache.write().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok((keys, json, ttl)) => {
                let generation = match guard.as_ref() {
                    Some(old) if old.json == json => old.generation,
                    Some(old) => {
                        tracing::info!(jwks = %self.jwks_uri, "the provider's signing keys changed");
                        old.generation + 1
                    }
                    None => 1,
                };
                *guard = Some(Cached { keys: Arc::new(keys), json, fresh_until: Instant::now() + ttl, generation });
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, jwks = %self.jwks_uri, "fetching the provider's signing keys failed; keeping the cached ones");
                match guard.as_mut() {
                    Some(c) => c.fresh_until = Instant::now() + self.cfg.refetch_cooldown,
                    None => *self.failed_empty.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now()),
                }
                Err(e)
            }
        }
    }

    /// Keys to verify with: the cache, refreshed when stale (while one
    /// request refreshes, the others use the stale keys); with `unknown_kid`,
    /// refetched at most once per cooldown. `None`: no keys at all.
    pub async fn keys(&self, unknown_kid: bool) -> Option<Keys> {
        let mut last = match self.cached() {
            Some((keys, true)) if !unknown_kid => return Some(keys),
            Some((keys, false)) if !unknown_kid => match self.refetch.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Some(keys),
            },
            None if self
                .failed_empty
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|at| at.elapsed() < self.cfg.refetch_cooldown) =>
            {
                return None
            }
            _ => self.refetch.lock().await,
        };
        // Someone may have fetched while we waited.
        if let Some((keys, fresh)) = self.cached() {
            let cooling = last.is_some_and(|at| at.elapsed() < self.cfg.refetch_cooldown);
            if (fresh && !unknown_kid) || (unknown_kid && cooling) {
                return Some(keys);
            }
        }
        if unknown_kid {
            *last = Some(Instant::now());
        }
        let _ = self.fetch().await;
        self.cached().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(max_age(Some("public, max-age=600")), Some(Duration::from_secs(600)));
        assert_eq!(max_age(Some("Max-Age = 5")), Some(Duration::from_secs(5)));
        assert_eq!(max_age(Some("no-store")), None);
        assert_eq!(max_age(None), None);
    }
}
