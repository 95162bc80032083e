//! Router assembly, binding, and graceful shutdown.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;

use app::state::ServerContext;
use app::{shell, App};
use axum::extract::{FromRef, MatchedPath, Request};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list_with_exclusions, LeptosRoutes};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::config::{AdminApiSettings, Settings};

/// The one state of the server; handlers extract the parts they need. One
/// `Arc`: Leptos clones the state into every server function call.
#[derive(Clone)]
pub struct AppState(Arc<AppStateParts>);

pub struct AppStateParts {
    pub leptos_options: LeptosOptions,
    pub server: Arc<ServerContext>,
}

impl AppState {
    pub fn new(leptos_options: LeptosOptions, server: Arc<ServerContext>) -> Self {
        Self(Arc::new(AppStateParts { leptos_options, server }))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateParts;
    fn deref(&self) -> &AppStateParts {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}. Is another process using it? Set LEPTOS_SITE_ADDR to a free address.")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot listen for metrics on {addr}: {source}. Set GATEHOUSE_METRICS_ADDR to a free address, or off.")]
    MetricsBind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot read the bound address: {0}")]
    LocalAddr(std::io::Error),
    #[error("the embedded identity provider cannot start: {0}")]
    Idp(String),
    #[error("{0}. Check OIDC_ISSUER and that the provider is running.")]
    Oidc(#[from] bff::oidc::OidcError),
    #[error("the session store cannot be opened: {0}")]
    Sessions(String),
    #[error("{0}. Check GATEHOUSE_DATA_DIR.")]
    Users(String),
    #[error("identity management cannot be set up: {0}")]
    Admin(String),
    #[error("the session token keys cannot be loaded: {0}")]
    Keys(String),
    #[error("the JSON API cannot be set up: {0}")]
    Api(String),
    #[error("the data directory cannot be made private: {0}. Check GATEHOUSE_DATA_DIR and its owner.")]
    DataDir(String),
    #[error("the provider would be reached in the clear: {0}. Its answers decide who is signed in and who is an admin, so production needs https for every provider endpoint (or a provider on this machine); fix the provider's discovery document or OIDC_ISSUER")]
    Cleartext(String),
}

/// A bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    background: Background,
    /// Closed once the last request has finished.
    databases: Vec<bff::store::Database>,
    /// How long requests in flight may take once shutdown begins.
    grace: std::time::Duration,
    /// The metrics listener and its router (`GATEHOUSE_METRICS_ADDR`).
    metrics: Option<(TcpListener, Router)>,
}

/// The provider this app signs in with, discovered.
struct Provider {
    rp: bff::oidc::RelyingParty,
    issuer: String,
    /// The embedded provider's Admin API client (`None` with an external provider).
    embedded_admin_api: Option<AdminApiSettings>,
    account_url: Option<String>,
}

/// Where sessions, their tokens and the app's data are kept.
struct Stores {
    token_keys: bff::sealing::TokenKeys,
    app_db: bff::store::Database,
    token_store: bff::tokens::TokenStore,
    sessions: crate::sessions::SessionBackend,
    /// The store whose expired sessions the cleanup deletes (Redis expires its own).
    expiring: Option<crate::sessions::SessionBackend>,
}

/// Work that runs beside the server (the embedded provider, the session
/// cleanup), told to stop when the server stops.
struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    fn new() -> Self {
        Self { stop: tokio::sync::watch::channel(false).0, tasks: Vec::new() }
    }

    /// Completes when the server stops.
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    /// Runs `work` until the server stops (it is dropped then, between awaits).
    fn spawn(&mut self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let stopped = self.stopped();
        self.tasks.push(tokio::spawn(async move {
            tokio::select! {
                () = work => {}
                () = stopped => {}
            }
        }));
    }

    /// Runs `work`, which watches [`Self::stopped`] itself to stop gracefully.
    fn spawn_graceful(&mut self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(work));
    }

    async fn stop(self, within: std::time::Duration) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(within, task).await.is_err() {
                tracing::warn!("a background task did not stop in time; aborted");
                abort.abort();
            }
        }
    }
}

impl Application {
    /// Binds the listener and assembles the router. Port 0 picks a free port.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let requested = settings.leptos.site_addr;
        let listener =
            TcpListener::bind(requested).await.map_err(|source| StartupError::Bind { addr: requested, source })?;
        let addr = listener.local_addr().map_err(StartupError::LocalAddr)?;
        if let Some(dir) = &settings.data_dir {
            private_dir(dir).map_err(|e| StartupError::DataDir(format!("{}: {e}", dir.display())))?;
            private_files_in(dir).map_err(|e| StartupError::DataDir(format!("{}: {e}", dir.display())))?;
        }
        let public_url = match &settings.public_url {
            Some(u) => u.clone(),
            None => url::Url::parse(&format!("http://{addr}/")).map_err(|e| StartupError::Idp(e.to_string()))?,
        };
        let mut background = Background::new();
        let provider = connect_provider(&settings, &public_url, &mut background).await?;
        let stores = open_stores(&settings).await?;
        let databases = match &stores.token_store {
            bff::tokens::TokenStore::Sql(db) => vec![stores.app_db.clone(), db.clone()],
            bff::tokens::TokenStore::Redis(_) => vec![stores.app_db.clone()],
        };
        if settings.leptos.env == leptos::config::Env::PROD {
            let options = &settings.leptos;
            crate::assets::precompress_in_background(
                std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir),
            );
        }
        let grace = std::time::Duration::from_secs(settings.shutdown_secs);
        let metrics_listener = match settings.metrics_addr {
            Some(at) => {
                Some(TcpListener::bind(at).await.map_err(|source| StartupError::MetricsBind { addr: at, source })?)
            }
            None => None,
        };
        let (router, metrics_router) = assemble(settings, provider, stores, public_url, &mut background).await?;
        let metrics = metrics_listener.map(|l| (l, metrics_router));
        Ok(Self { listener, addr, router, background, databases, grace, metrics })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Where `/metrics` is served (`None`: `GATEHOUSE_METRICS_ADDR=off`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves until Ctrl-C or SIGTERM, then shuts down gracefully ([`Self::run_until`]).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes; then stops accepting connections,
    /// lets the requests in flight finish (for up to `GATEHOUSE_SHUTDOWN_SECONDS`),
    /// stops the background work and the embedded provider, and closes the
    /// databases.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt as _;
        use std::future::IntoFuture as _;
        let Application { listener, router, mut background, databases, grace, metrics, .. } = self;
        if let Some((metrics_listener, metrics_router)) = metrics {
            let stopped = background.stopped();
            background.spawn_graceful(async move {
                if let Err(e) = axum::serve(metrics_listener, metrics_router).with_graceful_shutdown(stopped).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }
        // Streamed pages go out in several writes: without TCP_NODELAY,
        // Nagle's algorithm holds the later ones until the client's delayed
        // ACK (~40 ms per page on a kept-alive connection).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
            }
        });
        let (begun, mut has_begun) = tokio::sync::watch::channel(false);
        let signal = async move {
            shutdown.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: no new connections; finishing the requests in flight"
            );
            let _ = begun.send(true);
        };
        let deadline = async move {
            if has_begun.wait_for(|b| *b).await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let serve = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(signal)
            .into_future();
        let served = tokio::select! {
            served = serve => served,
            () = deadline => {
                tracing::warn!(grace_secs = grace.as_secs(), "requests still in flight at the end of the grace period; stopping anyway");
                Ok(())
            }
        };
        background.stop(std::time::Duration::from_secs(5)).await;
        for db in databases {
            db.close().await;
        }
        tracing::info!("stopped");
        served
    }
}

/// The provider: the embedded one (started here, stopped with the server)
/// or the configured one, discovered with retries.
async fn connect_provider(
    settings: &Settings,
    public_url: &url::Url,
    background: &mut Background,
) -> Result<Provider, StartupError> {
    let (rp_config, embedded_admin_api) = match &settings.oidc {
        Some(o) => (
            bff::oidc::RpConfig {
                issuer: o.issuer.clone(),
                client_id: o.client_id.clone(),
                client_secret: o.client_secret.as_ref().map(|s| s.expose().to_string()),
                auth: o.auth,
                redirect_url: join(public_url, "login"),
                scopes: o.scopes.clone(),
            },
            None,
        ),
        None => {
            tracing::warn!("signing in with the embedded DEVELOPMENT provider: every passcode is readable at its /mailbox; set OIDC_ISSUER for real use");
            let (rp, admin) = start_embedded_idp(settings, public_url, background).await?;
            (rp, Some(admin))
        }
    };
    let rp = bff::oidc::RelyingParty::discover_with(&rp_config, 8, settings.signing_keys.clone()).await?;
    refuse_cleartext(settings, &rp)?;
    tracing::info!(issuer = %rp_config.issuer, client_id = %rp_config.client_id, "OpenID provider discovered");
    // The embedded provider has Hanko's self-service page.
    let account_url = match &settings.oidc {
        Some(o) => o.account_url.clone(),
        None => Some(join_str(&rp_config.issuer, "profile")),
    };
    Ok(Provider { rp, issuer: rp_config.issuer, embedded_admin_api, account_url })
}

/// The token keys, the app database and the session stores.
async fn open_stores(settings: &Settings) -> Result<Stores, StartupError> {
    let token_keys = token_keys(settings)?;
    tracing::info!(key = %token_keys.current_id(), "session tokens are sealed");
    let app_db = app_database(settings).await?;
    let (token_store, sessions, expiring) = session_stores(settings, &app_db).await?;
    Ok(Stores { token_keys, app_db, token_store, sessions, expiring })
}

/// The services (sessions, tokens, users, admin, the JSON API, readiness)
/// and the router with its layers.
async fn assemble(
    settings: Settings,
    provider: Provider,
    stores: Stores,
    public_url: url::Url,
    background: &mut Background,
) -> Result<(Router, Router), StartupError> {
    let Provider { rp, issuer, embedded_admin_api, account_url } = provider;
    let Stores { token_keys, app_db, token_store, sessions: session_backend, expiring } = stores;
    // A session and its sign-in, once read, are reused for this long: the
    // bound within which an end on another instance is seen here.
    let cache_bound = std::time::Duration::from_millis(settings.session_cache_ms);
    let session_store = crate::sessions::Cached::new(session_backend.clone(), cache_bound, 100_000);
    let secure = public_url.scheme() == "https";
    let sessions = session_layer(&settings, &public_url, bff::session_ids::HashedIds::new(session_store, &token_keys));
    let users = bff::users::UserStore::new(app_db.clone()).await.map_err(|e| StartupError::Users(e.to_string()))?;
    let admin = build_admin(&settings, embedded_admin_api, &rp, &users)?;
    let pending = bff::pending::PendingCookie::new(token_keys.clone(), secure);
    let tokens = bff::tokens::Tokens::open(token_store, token_keys, rp.clone(), settings.refresh_skew_secs)
        .await
        .map_err(|e| StartupError::Sessions(e.to_string()))?
        .with_idle_timeout(settings.session_idle_secs)
        .with_cache(cache_bound, 100_000);
    background.spawn(cleanup(expiring, tokens.clone()));
    let api = crate::api_v1::ApiState {
        verifier: crate::api_v1::verifier(&rp, &settings.api).map_err(StartupError::Api)?,
        users: users.clone(),
    };
    // Sign-out posts to the app, which redirects to the provider's end-session endpoint.
    let provider_origins: Vec<String> = url::Url::parse(&issuer)
        .ok()
        .into_iter()
        .chain(rp.end_session_endpoint().cloned())
        .map(|u| u.origin().ascii_serialization())
        .collect();
    let reload_port = settings.live_reload.then_some(settings.leptos.reload_port);
    let header_policy = Arc::new(crate::security::HeaderPolicy::new(&public_url, &provider_origins, reload_port));
    let origin_check = Arc::new(bff::csrf::OriginCheck::new(&public_url));
    let limiter = Arc::new(bff::rate_limit::RateLimiter::new(&settings.rate_limits));
    let bff = Arc::new(bff::routes::Bff::new(bff::routes::BffParts {
        rp,
        public_url,
        users,
        session_lifetime_secs: settings.session_lifetime_secs,
        account_url,
        admin,
        tokens,
        pending,
        stylesheet_href: stylesheet_href(&settings.leptos),
    }));
    let readiness =
        Arc::new(crate::health::Readiness { bff: bff.clone(), sessions: session_backend, database: app_db });
    let metrics = crate::metrics::router(bff.clone());
    let state = AppState::new(settings.leptos, Arc::new(ServerContext::new(bff.clone())));
    // The JSON API authenticates with Bearer tokens only: no session layer,
    // and no CSRF check unless it also reads a token from a cookie.
    let mut api = crate::api_v1::router(api)
        .layer(crate::edge::layer(CachePolicy { immutable: false }))
        .layer(TraceLayer::new_for_http().make_span_with(request_span));
    if settings.api.cookie.is_some() {
        api = api.layer(crate::edge::layer(ApiCookieCrossSite(origin_check.clone())));
    }
    let app = router(state)
        .merge(bff::routes::router(bff))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(sessions)
        .layer(crate::edge::layer(SessionStoreDown))
        .layer(crate::edge::layer(CrossSite(origin_check)))
        .merge(api)
        .merge(crate::health::router(readiness).layer(crate::edge::layer(CachePolicy { immutable: false })))
        .layer(crate::edge::layer(limiter))
        .layer(crate::edge::layer(header_policy))
        .layer(compression())
        .layer(crate::edge::layer(NoCompressionWithASession))
        .layer(crate::edge::layer(crate::metrics::RequestMetrics))
        .layer(crate::request_ids::RequestIds);
    Ok((app, metrics))
}

fn join_str(base: &str, path: &str) -> String {
    format!("{}/{path}", base.trim_end_matches('/'))
}

fn join(base: &url::Url, path: &str) -> String {
    base.join(path).map(|u| u.to_string()).unwrap_or_default()
}

/// The admin policy (the embedded provider makes `admin@example.com` an admin
/// unless `GATEHOUSE_ADMIN_EMAILS` says otherwise) and the Admin API client:
/// the configured one, else the embedded provider's.
fn build_admin(
    settings: &Settings,
    embedded: Option<AdminApiSettings>,
    rp: &bff::oidc::RelyingParty,
    users: &bff::users::UserStore,
) -> Result<bff::admin::Admin, StartupError> {
    let a = &settings.admin;
    let emails = a.emails.clone().unwrap_or_else(|| match embedded {
        Some(_) => vec![EMBEDDED_ADMIN_EMAIL.to_string()],
        None => Vec::new(),
    });
    let policy = bff::admin::AdminPolicy::new(emails, a.subjects.clone(), a.claim.clone());
    let api = match a.api.clone().or(embedded) {
        None => None,
        Some(s) => {
            let token_url = s.token_url.clone().or_else(|| rp.token_endpoint()).ok_or_else(|| {
                StartupError::Admin("the provider publishes no token endpoint; set OIDC_ADMIN_TOKEN_URL".into())
            })?;
            let client = bff::admin::machine::MachineClient {
                token_url,
                client_id: s.client_id.clone(),
                client_secret: s.client_secret.expose().to_string(),
                auth: s.auth,
                audience: s.audience.clone(),
                scope: s.scope.clone(),
            };
            let timeout = std::time::Duration::from_secs(a.timeout_secs);
            let api = bff::admin::api::AdminApi::new(&s.url, client, timeout)
                .map_err(|e| StartupError::Admin(e.to_string()))?;
            tracing::info!(admin_api = %s.url, client_id = %s.client_id, "identity management enabled");
            Some(api)
        }
    };
    if api.is_some() && policy.is_empty() {
        tracing::warn!("an Admin API is configured but nobody is an admin: set GATEHOUSE_ADMIN_EMAILS, GATEHOUSE_ADMIN_SUBJECTS or GATEHOUSE_ADMIN_CLAIM");
    }
    Ok(bff::admin::Admin::new(policy, api, bff::admin::audit::AuditLog::new(users.database().clone()), a.recheck_secs))
}

/// The admin of the embedded provider's seeded identities.
pub const EMBEDDED_ADMIN_EMAIL: &str = "admin@example.com";

/// The embedded provider's machine client for its Admin API (in `idp/dev.toml`).
const EMBEDDED_ADMIN_CLIENT_ID: &str = "gatehouse-admin";

/// Starts the local provider in this process, registering this app (its
/// redirect, post-logout and back-channel URIs) as the `gatehouse` client.
/// Returns the sign-in client and the Admin API client.
async fn start_embedded_idp(
    settings: &Settings,
    public_url: &url::Url,
    background: &mut Background,
) -> Result<(bff::oidc::RpConfig, AdminApiSettings), StartupError> {
    let mut cfg = idp::Config::from_toml(idp::config::DEV_CONFIG, "built-in idp/dev.toml")
        .map_err(|e| StartupError::Idp(e.to_string()))?;
    cfg.listen = settings.idp_addr;
    cfg.issuer = None;
    cfg.signing_alg = settings.idp_signing_alg;
    cfg.storage = match &settings.data_dir {
        Some(dir) => idp::config::Storage::Dir(dir.join("idp")),
        None => idp::config::Storage::Memory,
    };
    let client = cfg
        .clients
        .iter_mut()
        .find(|c| c.id == idp::config::DEV_APP_CLIENT_ID)
        .ok_or_else(|| StartupError::Idp("the dev config has no gatehouse client".into()))?;
    client.redirect_uris = vec![join(public_url, "login")];
    client.post_logout_redirect_uris = vec![join(public_url, "logout")];
    client.backchannel_logout_uri = Some(join(public_url, bff::backchannel::PATH.trim_start_matches('/')));
    let secret = client.secret.clone();
    let admin_client = cfg
        .client(EMBEDDED_ADMIN_CLIENT_ID)
        .ok_or_else(|| StartupError::Idp("the dev config has no gatehouse-admin client".into()))?;
    let admin_secret = admin_client.secret.clone().unwrap_or_default();
    let admin_audience = cfg.admin_audience.clone();
    let idp = idp::Idp::build(cfg).await.map_err(|e| StartupError::Idp(e.to_string()))?;
    let issuer = idp.issuer().to_string();
    tracing::info!(issuer = %issuer, mailbox = %format!("{issuer}mailbox"), "embedded identity provider started");
    let stopped = background.stopped();
    background.spawn_graceful(async move {
        if let Err(e) = idp.run_until(stopped).await {
            tracing::error!(error = %e, "embedded identity provider stopped");
        }
    });
    let admin_url = url::Url::parse(&join_str(&issuer, "admin/")).map_err(|e| StartupError::Idp(e.to_string()))?;
    let admin = AdminApiSettings {
        url: admin_url,
        client_id: EMBEDDED_ADMIN_CLIENT_ID.into(),
        client_secret: admin_secret.into(),
        auth: bff::oidc::ClientAuth::ClientSecretBasic,
        token_url: None,
        audience: vec![admin_audience],
        scope: String::new(),
    };
    let rp = bff::oidc::RpConfig {
        issuer,
        client_id: idp::config::DEV_APP_CLIENT_ID.into(),
        client_secret: secret,
        auth: bff::oidc::ClientAuth::ClientSecretBasic,
        redirect_url: join(public_url, "login"),
        scopes: ["openid", "email", "profile", "offline_access"].map(String::from).to_vec(),
    };
    Ok((rp, admin))
}

/// The keys that seal session tokens: `GATEHOUSE_TOKEN_KEYS`, else
/// `<data dir>/token-keys` (created with one random key on first start, owner
/// read/write only, so sessions survive restarts), else a key of this process.
fn token_keys(settings: &Settings) -> Result<bff::sealing::TokenKeys, StartupError> {
    use bff::sealing::TokenKeys;
    if let Some(keys) = &settings.token_keys {
        return Ok(keys.clone());
    }
    let Some(dir) = &settings.data_dir else {
        return TokenKeys::parse(&TokenKeys::generate_line("memory")).map_err(|e| StartupError::Keys(e.to_string()));
    };
    let path = dir.join("token-keys");
    let fix = || {
        format!("{}: fix or delete it (deleting it signs everyone out), or set GATEHOUSE_TOKEN_KEYS", path.display())
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => TokenKeys::parse(&text).map_err(|e| StartupError::Keys(format!("{e}. {}", fix()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| StartupError::Keys(format!("{}: {e}", dir.display())))?;
            let line = TokenKeys::generate_line(&format!("k{}", bff::unix_now()));
            write_private(&path, &format!("{line}\n")).map_err(|e| StartupError::Keys(format!("{e}. {}", fix())))?;
            tracing::info!(path = %path.display(), "created the session token key");
            TokenKeys::parse(&line).map_err(|e| StartupError::Keys(e.to_string()))
        }
        Err(e) => Err(StartupError::Keys(format!("{e}. {}", fix()))),
    }
}

/// Creates `dir` (and its parents) if missing and makes it owner-only (0700).
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}

/// Makes every file directly in `dir` owner read/write only (files left by
/// an older version, SQLite's `-wal` and `-shm`); the provider's own
/// directory is its to tighten.
fn private_files_in(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::set_permissions(entry.path(), std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Creates `path` empty if missing and makes it owner read/write only
/// (0600), before SQLite opens it: SQLite gives its `-wal` and `-shm` files
/// the database file's mode.
fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(())
}

/// Writes a new file readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// The session database: SQLite in the data directory, or memory. Session
/// records and the token table live here.
async fn session_db(settings: &Settings) -> Result<sqlx::SqlitePool, StartupError> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let opts = match &settings.data_dir {
        Some(dir) => {
            let path = dir.join("sessions.sqlite3");
            private_file(&path).map_err(|e| StartupError::Sessions(format!("{}: {e}", path.display())))?;
            SqliteConnectOptions::new()
                .filename(dir.join("sessions.sqlite3"))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(std::time::Duration::from_secs(5))
                // WAL with NORMAL: a commit is durable once the WAL is synced at a
                // checkpoint; a crash of the process loses nothing, a power loss at
                // most the last commits (never the database), and no fsync per commit.
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
        }
        None => SqliteConnectOptions::new().in_memory(true),
    };
    SqlitePoolOptions::new()
        .max_connections(if settings.data_dir.is_some() { 4 } else { 1 })
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(opts)
        .await
        .map_err(|e| StartupError::Sessions(e.to_string()))
}

/// The provider endpoints (and the Admin API) this app would reach in the
/// clear: refused in production, a warning otherwise.
fn refuse_cleartext(settings: &Settings, rp: &bff::oidc::RelyingParty) -> Result<(), StartupError> {
    let mut cleartext: Vec<String> = rp.cleartext_endpoints().into_iter().map(|(k, u)| format!("{k} {u}")).collect();
    if let Some(api) = settings.admin.api.as_ref() {
        let token_url = api.token_url.iter();
        for url in std::iter::once(&api.url).chain(token_url) {
            if bff::oidc::is_cleartext_remote(url) {
                cleartext.push(format!("Admin API {url}"));
            }
        }
    }
    if cleartext.is_empty() {
        return Ok(());
    }
    let list = cleartext.join(", ");
    if settings.leptos.env == leptos::config::Env::PROD {
        return Err(StartupError::Cleartext(list));
    }
    tracing::warn!(endpoints = %list, "the provider is reached over plain http; production refuses this");
    Ok(())
}

/// At start and every ten minutes: deletes expired session records (SQLite;
/// Redis expires them itself), and ends the sign-ins past their absolute end
/// or idle timeout (their refresh tokens revoked at the provider, their token
/// rows deleted) in either store, and tries again the revocations the provider
/// did not answer (with back-off, for up to three days).
async fn cleanup(expiring: Option<crate::sessions::SessionBackend>, tokens: bff::tokens::Tokens) {
    use crate::sessions::SessionBackend;
    use tower_sessions::ExpiredDeletion as _;
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        if let Some(Err(e)) = match &expiring {
            Some(SessionBackend::Sqlite(store)) => Some(store.delete_expired().await),
            Some(SessionBackend::Postgres(store)) => Some(store.delete_expired().await),
            Some(SessionBackend::Redis(_)) | None => None,
        } {
            tracing::warn!(error = %e, "expired session cleanup failed");
        }
        match tokens.end_expired(bff::unix_now()).await {
            Ok(n) if n > 0 => tracing::info!(rows = n, "expired sign-ins ended"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expired token cleanup failed"),
        }
        if let Err(e) = tokens.retry_revocations(bff::unix_now()).await {
            tracing::warn!(error = %e, "retrying failed refresh-token revocations failed");
        }
    }
}

/// The app database (users, admin audit; without Redis on PostgreSQL also
/// the sessions and token rows): `GATEHOUSE_DATABASE_URL`, else
/// `app.sqlite3` in the data directory, else memory.
async fn app_database(settings: &Settings) -> Result<bff::store::Database, StartupError> {
    let users = |e: bff::store::StoreError| StartupError::Users(e.to_string());
    let sqlite_file = |path: std::path::PathBuf| async move {
        private_file(&path).map_err(|e| StartupError::Users(format!("{}: {e}", path.display())))?;
        bff::store::Database::sqlite(&path, 4).await.map_err(users)
    };
    match (settings.database_url.as_ref().map(crate::config::Secret::expose), &settings.data_dir) {
        (Some(url), _) if url.starts_with("sqlite://") => {
            sqlite_file(std::path::PathBuf::from(url.trim_start_matches("sqlite://"))).await
        }
        (Some(url), _) => {
            let db = bff::store::Database::connect(url, settings.database_max_connections).await.map_err(|e| {
                StartupError::Users(format!("{e}. Check GATEHOUSE_DATABASE_URL and that PostgreSQL is running."))
            })?;
            tracing::info!(database = %bff::store::redacted(url), "users and the audit trail are kept in PostgreSQL");
            Ok(db)
        }
        (None, Some(dir)) => sqlite_file(dir.join("app.sqlite3")).await,
        (None, None) => bff::store::Database::memory().await.map_err(users),
    }
}

/// The session store, the token store, and the store whose expired sessions
/// the cleanup deletes: all in Redis when `GATEHOUSE_REDIS_URL` is set, else
/// in PostgreSQL when the app database is PostgreSQL, else in the SQLite
/// session database (`sessions.sqlite3` in the data directory, or memory).
async fn session_stores(
    settings: &Settings,
    app_db: &bff::store::Database,
) -> Result<
    (bff::tokens::TokenStore, crate::sessions::SessionBackend, Option<crate::sessions::SessionBackend>),
    StartupError,
> {
    use crate::sessions::SessionBackend;
    if let Some(url) = settings.redis_url.as_ref().map(crate::config::Secret::expose) {
        let pool = crate::sessions::connect_redis(url, std::time::Duration::from_secs(10)).await.map_err(|e| {
            StartupError::Sessions(format!("{e}. Check GATEHOUSE_REDIS_URL and that Redis is running."))
        })?;
        tracing::info!("sessions are kept in Redis");
        let store = tower_sessions_redis_store::RedisStore::new(pool.clone());
        return Ok((bff::tokens::TokenStore::Redis(pool), SessionBackend::Redis(store), None));
    }
    if let (bff::store::Engine::Postgres, Some(url)) =
        (app_db.engine(), settings.database_url.as_ref().map(crate::config::Secret::expose))
    {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(settings.database_max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| {
                StartupError::Sessions(format!(
                    "the session database at {} cannot be opened: {e}. Check GATEHOUSE_DATABASE_URL.",
                    bff::store::redacted(url)
                ))
            })?;
        tracing::info!("sessions are kept in PostgreSQL");
        // Its table is made by the session migrations (bff::store), which
        // the token store applies before the app serves.
        let store = SessionBackend::Postgres(tower_sessions_sqlx_store::PostgresStore::new(pool));
        return Ok((bff::tokens::TokenStore::Sql(app_db.clone()), store.clone(), Some(store)));
    }
    let db = session_db(settings).await?;
    let store = tower_sessions_sqlx_store::SqliteStore::new(db.clone());
    store.migrate().await.map_err(|e| StartupError::Sessions(e.to_string()))?;
    let tokens_db = match &settings.data_dir {
        Some(dir) => bff::store::Database::sqlite(&dir.join("sessions.sqlite3"), 4).await,
        None => bff::store::Database::memory().await,
    }
    .map_err(|e| StartupError::Sessions(e.to_string()))?;
    let store = SessionBackend::Sqlite(store);
    Ok((bff::tokens::TokenStore::Sql(tokens_db), store.clone(), Some(store)))
}

/// Sessions in the session store: an opaque id in an HttpOnly,
/// SameSite=Lax cookie; `Secure` and `__Host-` on https.
fn session_layer<S: tower_sessions::SessionStore + Clone>(
    settings: &Settings,
    public_url: &url::Url,
    store: S,
) -> tower_sessions::SessionManagerLayer<S> {
    let secure = public_url.scheme() == "https";
    // Secure (and the __Host- prefix) follow the public URL; config refuses
    // a production public URL that is not https.
    let name = if secure { "__Host-gatehouse" } else { "gatehouse" };
    tower_sessions::SessionManagerLayer::new(store)
        .with_name(name)
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        .with_path("/")
        .with_expiry(tower_sessions::Expiry::OnInactivity(time::Duration::seconds(settings.session_idle_secs)))
}

/// Where the site's stylesheet is served: `/pkg/<output>.css`, or with
/// hashed file names `/pkg/<output>.<hash>.css` from the build's hash file
/// (beside the server binary, as Leptos reads it).
pub fn stylesheet_href(options: &LeptosOptions) -> String {
    let hashes = options.hash_files.then(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(&*options.hash_file)))
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    });
    stylesheet_href_from(options, hashes.as_deref())
}

/// [`stylesheet_href`] given the hash file's text (`None`: names are not hashed).
fn stylesheet_href_from(options: &LeptosOptions, hashes: Option<&str>) -> String {
    let (pkg, name) = (&options.site_pkg_dir, &options.output_name);
    let Some(hashes) = hashes else { return format!("/{pkg}/{name}.css") };
    match hashes.lines().find_map(|line| line.trim().strip_prefix("css:").map(str::trim)) {
        Some(hash) => format!("/{pkg}/{name}.{hash}.css"),
        None => {
            tracing::warn!(hash_file = %options.hash_file, "file hashing is on but the build's hash file has no css entry; pages rendered outside Leptos lose their styles");
            format!("/{pkg}/{name}.css")
        }
    }
}

/// The app's router: the Leptos app and its server functions, `current_user`
/// and static files (sign-in routes, request spans and the defences are
/// added around it in `assemble`).
pub fn router(state: AppState) -> Router {
    // `current_user` is answered by `hot::current_user` (the server function
    // stays for rendering; its route is left to the handler).
    let routes = generate_route_list_with_exclusions(App, Some(vec![crate::hot::CURRENT_USER.to_string()]));
    let server_ctx = state.server.clone();
    let fallback_ctx = state.server.clone();
    // The bundle and the favicon are served here, outside Leptos: its file
    // fallback opens a reactive owner under whatever owner is current on the
    // thread and applies that owner's response options, so a redirect being
    // rendered for another request could land on a static file.
    let site_root = std::path::PathBuf::from(&*state.leptos_options.site_root);
    let pkg_dir = state.leptos_options.site_pkg_dir.to_string();
    let bundle = tower_http::services::ServeDir::new(site_root.join(&pkg_dir)).precompressed_br().precompressed_gzip();
    let immutable = state.leptos_options.hash_files;
    Router::new()
        .nest_service(&format!("/{pkg_dir}"), bundle)
        .route_service("/favicon.svg", tower_http::services::ServeFile::new(site_root.join("favicon.svg")))
        .route(crate::hot::CURRENT_USER, axum::routing::post(crate::hot::current_user))
        .leptos_routes_with_context(&state, routes, move || leptos::context::provide_context((*server_ctx).clone()), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            move || leptos::context::provide_context((*fallback_ctx).clone()),
            shell,
        ))
        .layer(crate::edge::layer(CachePolicy { immutable }))
        .with_state(state)
}

/// One span per request, named by the matched route (never the raw path,
/// whose query may carry a code or a state), with the request's id
/// (`crate::request_ids`): every log line of the request shows both.
fn request_span(req: &Request) -> tracing::Span {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
    let id = req.headers().get(bff::request_id::HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", id = %id, method = %req.method(), route = %route)
}

/// The session layer answers an empty `500` when the session store refuses
/// to save (PostgreSQL or Redis down); that answer becomes a `503` that says
/// so — a short page for a browser, the app's error JSON for its client.
#[derive(Clone)]
struct SessionStoreDown;

impl crate::edge::Middleware for SessionStoreDown {
    /// Whether the client wants HTML.
    type Memo = bool;
    fn before(&self, req: &mut Request) -> ControlFlow<axum::response::Response, bool> {
        let html = req
            .headers()
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        ControlFlow::Continue(html)
    }

    fn after(&self, html: bool, res: &mut axum::response::Response) {
        use axum::body::HttpBody as _;
        use axum::http::{header, HeaderValue, StatusCode};
        let empty = res.body().size_hint().exact() == Some(0) && !res.headers().contains_key(header::CONTENT_TYPE);
        if res.status() != StatusCode::INTERNAL_SERVER_ERROR || !empty {
            return;
        }
        let (body, kind) =
            if html { (STORE_DOWN_PAGE, "text/html; charset=utf-8") } else { ("\"Unavailable\"", "application/json") };
        *res = axum::response::Response::new(axum::body::Body::from(body));
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

const STORE_DOWN_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Briefly unavailable</title></head>\
<body><main><h1>Briefly unavailable</h1><p>The service cannot reach its session store right now. \
Please try again in a moment.</p><p><a href=\"/\">Try again</a></p></main></body></html>";

/// Refuses unsafe requests from other sites (`bff::csrf`).
#[derive(Clone)]
struct CrossSite(Arc<bff::csrf::OriginCheck>);

impl crate::edge::Middleware for CrossSite {
    type Memo = ();
    fn before(&self, req: &mut Request) -> ControlFlow<axum::response::Response> {
        bff::csrf::refuse(&self.0, req).map_or(ControlFlow::Continue(()), ControlFlow::Break)
    }
}

/// The same for `/api/v1` when it reads its token from a cookie.
#[derive(Clone)]
struct ApiCookieCrossSite(Arc<bff::csrf::OriginCheck>);

impl crate::edge::Middleware for ApiCookieCrossSite {
    type Memo = ();
    fn before(&self, req: &mut Request) -> ControlFlow<axum::response::Response> {
        bff::csrf::refuse_api_cookie(&self.0, req).map_or(ControlFlow::Continue(()), ControlFlow::Break)
    }
}

/// Answers `429` to a client over its limit (`bff::rate_limit`).
impl crate::edge::Middleware for Arc<bff::rate_limit::RateLimiter> {
    type Memo = ();
    fn before(&self, req: &mut Request) -> ControlFlow<axum::response::Response> {
        bff::rate_limit::refuse(self, req).map_or(ControlFlow::Continue(()), ControlFlow::Break)
    }
}

/// Responses compressed on the fly: HTML and JSON above 1 KiB (brotli at
/// quality 4, or gzip, as the client accepts). Precompressed static files
/// already carry `Content-Encoding` and pass through.
fn compression() -> tower_http::compression::CompressionLayer<
    tower_http::compression::predicate::And<
        tower_http::compression::DefaultPredicate,
        tower_http::compression::predicate::SizeAbove,
    >,
> {
    use tower_http::compression::predicate::{Predicate as _, SizeAbove};
    tower_http::compression::CompressionLayer::new()
        .compress_when(tower_http::compression::DefaultPredicate::new().and(SizeAbove::new(1024)))
}

/// Signed-in pages and answers hold secrets (the sign-out token, personal
/// data) next to text a request can choose (a search term): compressed, their
/// sizes would leak those secrets byte by byte (BREACH). A request carrying a
/// session cookie therefore gets them uncompressed; the static bundle, which
/// holds no secret, is still sent precompressed.
#[derive(Clone)]
struct NoCompressionWithASession;

impl crate::edge::Middleware for NoCompressionWithASession {
    type Memo = ();
    fn before(&self, req: &mut Request) -> ControlFlow<axum::response::Response> {
        no_compression_with_a_session(req);
        ControlFlow::Continue(())
    }
}

fn no_compression_with_a_session(req: &mut Request) {
    let has_session = req
        .headers()
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('=').map(|(name, _)| name))
        .any(|name| name == "gatehouse" || name == "__Host-gatehouse");
    if has_session && !req.uri().path().starts_with("/pkg/") {
        req.headers_mut().remove(axum::http::header::ACCEPT_ENCODING);
    }
}

/// Whether the file name in `path` carries a content hash as hashed builds
/// name them: `<name>.<hash>.<extension>`, the hash 16 or more characters of
/// URL-safe base64 (`gatehouse.gtsL5fi5ZRUiFMcshwtwhw.css`).
fn hashed_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1].iter().any(|p| {
            let hash = p.strip_suffix("_bg").unwrap_or(p);
            hash.len() >= 16 && hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Pages and API answers depend on who is signed in: no cache may keep them.
/// A file of the built bundle under `/pkg/` is cached for a year as
/// `immutable` when its name carries a content hash (`LEPTOS_HASH_FILES`
/// builds), else revalidated on each use — also an unhashed name in a hashed
/// build, which the next build may fill with other bytes. Either way, and in
/// a `304 Not Modified` too, it varies with `Accept-Encoding` (precompressed copies).
#[derive(Clone)]
struct CachePolicy {
    /// Whether this build hashes its file names.
    immutable: bool,
}

/// What the request's path says of the answer: (a bundle file, its name hashed, a static file).
type PathKind = (bool, bool, bool);

impl crate::edge::Middleware for CachePolicy {
    type Memo = PathKind;

    fn before(&self, req: &mut Request) -> ControlFlow<axum::response::Response, PathKind> {
        let path = req.uri().path();
        let bundle = path.starts_with("/pkg/");
        ControlFlow::Continue((bundle, bundle && self.immutable && hashed_name(path), bundle || path == "/favicon.svg"))
    }

    fn after(&self, (bundle, hashed, is_static): PathKind, res: &mut axum::response::Response) {
        use axum::http::{header, HeaderValue, StatusCode};
        let ok = res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED;
        let headers = res.headers_mut();
        if bundle && ok {
            headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
            let policy = if hashed { "public, max-age=31536000, immutable" } else { "no-cache" };
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        } else if !is_static {
            headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod stylesheet_tests {
    use super::*;

    #[test]
    fn the_stylesheet_is_found_under_its_hashed_name() {
        let options = LeptosOptions::builder().output_name("gatehouse").build();
        assert_eq!(stylesheet_href_from(&options, None), "/pkg/gatehouse.css");
        let hashes = "js: a1\nwasm: b2\ncss: gtsL5fi5ZRUiFMcshwtwhw\n";
        assert_eq!(stylesheet_href_from(&options, Some(hashes)), "/pkg/gatehouse.gtsL5fi5ZRUiFMcshwtwhw.css");
        assert_eq!(stylesheet_href_from(&options, Some("")), "/pkg/gatehouse.css", "no css entry: the plain name");
    }
}

#[cfg(test)]
mod cache_tests {
    use super::hashed_name;

    #[test]
    fn only_content_hashed_file_names_count_as_hashed() {
        assert!(hashed_name("/pkg/gatehouse.gtsL5fi5ZRUiFMcshwtwhw.css"));
        assert!(hashed_name("/pkg/gatehouse.gtsL5fi5ZRUiFMcshwtwhw_bg.wasm"));
        assert!(hashed_name("/pkg/gatehouse.gts-L5fi5ZRUiFMcsh_w.js"));
        assert!(!hashed_name("/pkg/gatehouse.css"), "no hash");
        assert!(!hashed_name("/pkg/gatehouse_bg.wasm"));
        assert!(!hashed_name("/pkg/gatehouse.min.js"), "a short middle part is no hash");
        assert!(!hashed_name("/pkg/gatehouse.gtsL5fi5ZRUiFMcshw!hw.css"), "not base64url");
        assert!(!hashed_name("/pkg/"));
    }
}

#[cfg(test)]
mod store_down_tests {
    use super::*;
    use crate::edge::Middleware as _;

    fn request(accept: &str) -> Request {
        let mut req = Request::new(axum::body::Body::empty());
        req.headers_mut().insert(axum::http::header::ACCEPT, accept.parse().unwrap_or_else(|_| unreachable!()));
        req
    }

    fn answer(accept: &str, mut res: axum::response::Response) -> axum::response::Response {
        let ControlFlow::Continue(memo) = SessionStoreDown.before(&mut request(accept)) else { unreachable!() };
        SessionStoreDown.after(memo, &mut res);
        res
    }

    fn empty_500() -> axum::response::Response {
        let mut res = axum::response::Response::default();
        *res.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        res
    }

    #[test]
    fn the_session_layers_empty_500_becomes_a_503_that_says_why() {
        let page = answer("text/html,*/*", empty_500());
        assert_eq!(page.status(), 503);
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(page.headers()["retry-after"], "5");
        let json = answer("application/json", empty_500());
        assert_eq!(
            (json.status().as_u16(), json.headers()["content-type"].to_str().ok()),
            (503, Some("application/json"))
        );
        // Any other answer is left as it is.
        let mut with_body = axum::response::Response::new(axum::body::Body::from("details"));
        *with_body.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        assert_eq!(answer("text/html", with_body).status(), 500);
        assert_eq!(answer("text/html", axum::response::Response::default()).status(), 200);
    }
}
