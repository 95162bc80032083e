//! Discovery: one fetch of the provider's document (retried with backoff),
//! validated, with every endpoint the app uses taken from it, and the first
//! fetch of its signing keys.

use super::*;

/// The provider endpoints the app uses beyond the flow itself, all from the one
/// discovery document.
pub(super) struct Endpoints {
    pub(super) end_session: Option<Url>,
    pub(super) revocation: Option<Url>,
    pub(super) userinfo: Option<Url>,
}

impl Endpoints {
    /// What the app cannot do with this provider, as errors in the log at startup.
    pub(super) fn log_missing(&self, issuer: &str, has_token_endpoint: bool) {
        if !has_token_endpoint {
            tracing::error!(issuer, "the provider's discovery document declares no token_endpoint: nobody can sign in");
        }
        if self.end_session.is_none() {
            tracing::error!(issuer, "the provider's discovery document declares no end_session_endpoint: signing out ends only the app's session, not the one at the provider");
        }
        if self.revocation.is_none() {
            tracing::error!(issuer, "the provider's discovery document declares no revocation_endpoint: refresh tokens cannot be revoked at sign-out; they stay valid until they expire");
        }
        if self.userinfo.is_none() {
            tracing::error!(issuer, "the provider's discovery document declares no userinfo_endpoint: profiles are not refreshed from the provider");
        }
    }
}

/// One fetch of the discovery document (validated: the issuer must be the one
/// asked for), then the keys from its `jwks_uri` into a new key cache.
/// Returns the metadata, the raw document (for the members the typed metadata
/// lacks) and the primed cache.
pub(super) async fn fetch_metadata(
    http: &reqwest::Client,
    issuer: &IssuerUrl,
    keys: &crate::jwt::KeyCacheConfig,
) -> Result<(CoreProviderMetadata, serde_json::Value, crate::jwt::KeyCache), String> {
    let url = discovery_url(issuer.as_str());
    let r =
        http.get(&url).header(reqwest::header::ACCEPT, "application/json").send().await.map_err(|e| error_chain(&e))?;
    if !r.status().is_success() {
        return Err(format!("{url} answered {}", r.status()));
    }
    let raw: serde_json::Value = r.json().await.map_err(|e| format!("{url} is not JSON: {}", error_chain(&e)))?;
    let metadata: CoreProviderMetadata =
        serde_json::from_value(raw.clone()).map_err(|e| format!("{url} is not a valid discovery document: {e}"))?;
    if metadata.issuer() != issuer {
        return Err(format!(
            "{url} declares the issuer {:?}, not {:?} (OpenID Connect Discovery 4.3)",
            metadata.issuer().as_str(),
            issuer.as_str()
        ));
    }
    let cache = crate::jwt::KeyCache::new(metadata.jwks_uri().url().clone(), keys.clone())?;
    cache.prime().await.map_err(|e| format!("the provider's signing keys cannot be fetched: {e}"))?;
    Ok((metadata, raw, cache))
}

pub(super) fn build_client(metadata: CoreProviderMetadata, cfg: &RpConfig) -> Result<Client, OidcError> {
    let redirect =
        RedirectUrl::new(cfg.redirect_url.clone()).map_err(|_| OidcError::BadRedirect(cfg.redirect_url.clone()))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(cfg.client_id.clone()),
        cfg.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect)
    .set_auth_type(match cfg.auth {
        ClientAuth::ClientSecretPost | ClientAuth::None => AuthType::RequestBody,
        ClientAuth::ClientSecretBasic => AuthType::BasicAuth,
    }))
}

pub(super) fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

impl RelyingParty {
    /// Discovers the provider, retrying with backoff (0.25 s doubling, up to
    /// `attempts` tries) so the app can start before its provider.
    pub async fn discover(cfg: &RpConfig, attempts: u32) -> Result<Self, OidcError> {
        Self::discover_with(cfg, attempts, crate::jwt::KeyCacheConfig::default()).await
    }

    /// [`Self::discover`] with the signing-key cache bounds given.
    pub async fn discover_with(
        cfg: &RpConfig,
        attempts: u32,
        keys: crate::jwt::KeyCacheConfig,
    ) -> Result<Self, OidcError> {
        let issuer = IssuerUrl::new(cfg.issuer.clone()).map_err(|_| OidcError::BadIssuer(cfg.issuer.clone()))?;
        RedirectUrl::new(cfg.redirect_url.clone()).map_err(|_| OidcError::BadRedirect(cfg.redirect_url.clone()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OidcError::Discovery { issuer: cfg.issuer.clone(), attempts: 0, last: e.to_string() })?;
        let mut delay = Duration::from_millis(250);
        let mut last = String::new();
        for attempt in 1..=attempts.max(1) {
            match fetch_metadata(&http, &issuer, &keys).await {
                Ok((metadata, raw, cache)) => {
                    let url_of = |k: &str| raw.get(k).and_then(|v| v.as_str()).and_then(|s| Url::parse(s).ok());
                    let endpoints = Endpoints {
                        end_session: url_of("end_session_endpoint"),
                        revocation: url_of("revocation_endpoint"),
                        userinfo: metadata.userinfo_endpoint().map(|u| u.url().clone()),
                    };
                    endpoints.log_missing(&cfg.issuer, metadata.token_endpoint().is_some());
                    let iss_parameter_required = raw
                        .get("authorization_response_iss_parameter_supported")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false);
                    let client = build_client(metadata.clone(), cfg)?;
                    return Ok(Self {
                        inner: std::sync::Arc::new(Inner {
                            config: cfg.clone(),
                            metadata,
                            client,
                            keys: std::sync::Arc::new(cache),
                            http,
                            endpoints,
                            iss_parameter_required,
                            probe: tokio::sync::Mutex::new(Some((std::time::Instant::now(), true))),
                        }),
                    });
                }
                Err(e) => {
                    last = e;
                    tracing::warn!(attempt, error = %last, "OpenID provider discovery failed; retrying");
                    if attempt < attempts {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        Err(OidcError::Discovery { issuer: cfg.issuer.clone(), attempts, last })
    }
}
