//! A local OpenID Connect provider compatible with Hanko Identity: Hydra's OIDC
//! paths and Kratos' identity shapes (see `idp/README.md`). Real RS256
//! signatures, PKCE, single-use codes and rotating refresh tokens, persisted
//! in SQLite. It must never approve a request it cannot verify.

pub mod admin;
pub mod authorize;
pub mod config;
pub mod db;
pub mod html;
pub mod identity;
pub mod keys;
pub mod logout;
pub mod mailbox;
pub mod oauth;
pub mod oidc;
pub mod passkey;
pub mod profile;
pub mod ratelimit;
pub mod stats;
pub mod testkit;
pub mod token;
pub mod util;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use url::Url;

pub use config::Config;

/// Shared state of every handler.
#[derive(Clone)]
pub struct Provider {
    pub config: Arc<Config>,
    pub db: db::Db,
    pub keys: keys::Keys,
    /// The issuer exactly as published (always ends with `/`, like Hydra v1).
    pub issuer: Arc<str>,
    pub http: reqwest::Client,
    /// Tokens issued since start, by grant type and client (`GET /stats/tokens`).
    pub stats: Arc<stats::TokenStats>,
    /// Per-IP request limits of the sign-in steps.
    pub limits: Arc<ratelimit::Limiters>,
    /// The Content-Security-Policy of every page (form-action lists the clients' origins).
    pub csp: Arc<str>,
    /// The same for the pages that load the passkey script: it allows that one file.
    pub csp_with_script: Arc<str>,
    /// The passkey relying party (from the issuer); `None` when the issuer's
    /// host cannot have passkeys (an IP address).
    pub passkeys: passkey::Rp,
}

impl Provider {
    /// `issuer` joined with a path relative to it (e.g. `oauth2/token`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path.trim_start_matches('/'))
    }

    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

/// Why the provider could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source} (is another process using it? change `listen` or IDP_LISTEN)")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("cannot load signing keys: {0}")]
    Keys(#[from] keys::KeyError),
    #[error("cannot seed identity {email}: {message}")]
    Seed { email: String, message: String },
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// A bound, not yet running provider.
pub struct Idp {
    listener: TcpListener,
    provider: Provider,
}

impl Idp {
    /// Binds the listener (port 0 picks a free port), opens storage, loads keys
    /// and seeds identities from the config.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let provider = Self::provider(config, addr).await?;
        Ok(Self { listener, provider })
    }

    /// Builds the handler state without binding (for embedding in another router).
    pub async fn provider(config: Config, addr: SocketAddr) -> Result<Provider, StartError> {
        let issuer = match &config.issuer {
            Some(url) => url.to_string(),
            // Browsers allow passkeys on domain names only: a loopback
            // listener is published as localhost (which reaches it).
            None if addr.ip().is_loopback() => format!("http://localhost:{}/", addr.port()),
            None => format!("http://{addr}/"),
        };
        let issuer = if issuer.ends_with('/') { issuer } else { format!("{issuer}/") };
        let db = db::open(&config.storage).await?;
        let retention = config.ttl.access_token.max(config.ttl.id_token);
        let keys = keys::Keys::load(db.clone(), retention, config.signing_alg).await?;
        for seed in &config.identities {
            if identity::find_by_email(&db, &seed.email)
                .await
                .map_err(|e| StartError::Seed { email: seed.email.clone(), message: e.to_string() })?
                .is_none()
            {
                let traits = identity::traits_from(&seed.email, seed.first_name.as_deref(), seed.last_name.as_deref());
                identity::create(&db, identity::IdentityInput::new(traits))
                    .await
                    .map_err(|e| StartError::Seed { email: seed.email.clone(), message: e.to_string() })?;
            }
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StartError::Http(e.to_string()))?;
        let limits = Arc::new(ratelimit::Limiters::new(&config.rate_limits));
        let csp = html::csp_for(&config);
        let csp_with_script = csp.replacen(
            "script-src 'none'",
            &format!("script-src {issuer}{}", html::SCRIPT_PATH.trim_start_matches('/')),
            1,
        );
        let passkeys = match passkey::relying_party(&issuer, config.ttl.passkey_challenge) {
            Ok(rp) => Some(Arc::new(rp)),
            Err(why) => {
                tracing::warn!(%why, "passkeys are off; sign-in uses passcodes only");
                None
            }
        };
        Ok(Provider {
            config: Arc::new(config),
            db,
            keys,
            issuer: issuer.into(),
            http,
            stats: Arc::default(),
            limits,
            csp: csp.into(),
            csp_with_script: csp_with_script.into(),
            passkeys,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| self.provider.config.listen)
    }

    pub fn issuer(&self) -> &str {
        &self.provider.issuer
    }

    pub fn provider_handle(&self) -> Provider {
        self.provider.clone()
    }

    /// Serves until the process is stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then stops accepting, lets the
    /// requests in flight finish and stops its background work.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let provider = self.provider.clone();
        let housekeeping = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Err(e) = db::cleanup(&provider.db, db::now()).await {
                    tracing::warn!(error = ?e.to_string(), "cleanup of expired records failed");
                }
                provider.limits.retain_recent();
                // Picks up keys rotated by `idp rotate-key` and drops expired ones.
                if let Err(e) = provider.keys.reload().await {
                    tracing::warn!(error = ?e.to_string(), "reloading signing keys failed");
                }
            }
        });
        // The peer address keys the per-IP rate limits.
        use axum::serve::ListenerExt as _;
        // Answers go out without waiting for the client's delayed ACK (Nagle).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
            }
        });
        let db = self.provider.db.clone();
        let served = axum::serve(listener, router(self.provider).into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        housekeeping.abort();
        db.close().await;
        served
    }
}

/// Every route of the provider. The mailbox routes exist only in `dev_mode`.
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so the
/// rate limits are per client IP; without `ConnectInfo` all clients share one
/// budget.
pub fn router(provider: Provider) -> Router {
    let mut router = Router::new()
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/.well-known/jwks.json", get(oidc::jwks))
        .route("/oauth2/auth", get(authorize::authorize))
        .route("/login", get(authorize::login_page).post(authorize::submit_email))
        .route("/login/register", post(authorize::submit_registration))
        .route("/login/passcode", post(authorize::submit_passcode))
        .route("/login/resend", post(authorize::resend_passcode))
        .route("/login/passkey/start", post(authorize::passkey_sign_in_start))
        .route("/login/passkey/finish", post(authorize::passkey_sign_in_finish))
        .route("/passkeys/offer", get(authorize::passkey_offer_page))
        .route("/passkeys/register/start", post(profile::register_start))
        .route("/passkeys/register/finish", post(profile::register_finish))
        .route("/profile/passkeys/{id}/{action}", post(profile::change_passkey))
        .route("/oauth2/token", post(token::token))
        .route("/userinfo", get(oidc::userinfo).post(oidc::userinfo))
        .route("/oauth2/revoke", post(token::revoke))
        .route("/oauth2/introspect", post(token::introspect))
        .route("/oauth2/tokens", axum::routing::delete(token::delete_client_tokens))
        .route("/stats/tokens", get(stats::tokens))
        .route("/oauth2/sessions/logout", get(logout::logout).post(logout::logout))
        .route("/admin/identities", get(admin::list).post(admin::create))
        .route("/admin/identities/{id}", get(admin::get).put(admin::update).delete(admin::delete))
        .route("/admin/identities/{id}/credentials/{type}", axum::routing::delete(admin::delete_credential))
        .route("/schemas/{id}", get(oidc::schema))
        .route("/profile", get(profile::show).post(profile::save))
        .route(html::STYLESHEET_PATH, get(html::stylesheet))
        .route(html::SCRIPT_PATH, get(html::script))
        .route("/health/alive", get(|| async { "ok" }));
    if provider.config.dev_mode {
        router = router.route("/mailbox", get(mailbox::page_route)).route("/mailbox/messages", get(mailbox::messages));
    }
    router
        .layer(axum::middleware::from_fn_with_state(provider.clone(), ratelimit::per_ip))
        .layer(axum::middleware::from_fn_with_state(provider.clone(), html::security_headers))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(provider)
}

/// One span per request: the method, the path without its query (which can
/// carry an `id_token_hint`, a `code` or a `state`), and the caller's
/// `X-Request-Id` (the app sends the id of the request it is serving).
fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).filter(|id| {
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    });
    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path(), request_id = id.unwrap_or("-"))
}

/// Parses an issuer URL for display in errors.
pub fn parse_url(s: &str) -> Option<Url> {
    Url::parse(s).ok()
}
