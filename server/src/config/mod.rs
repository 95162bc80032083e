//! Typed server configuration, read once at startup from the defaults, an
//! optional TOML file (`GATEHOUSE_CONFIG`) and the environment ([`layers`]).
//! Every bad value fails loudly with the name of the variable (and the file
//! key it came from) and how to fix it; secrets are never repeated.
//!
//! Leptos settings come from the `LEPTOS_*` variables that `scripts/sitebuild` sets
//! (see the configuration reference in `docs/configuration.md`); when the
//! binary runs on its own, the defaults below apply.

pub mod layers;

use std::net::SocketAddr;

use leptos::config::{Env, LeptosOptions};

pub use layers::Layers;

/// A value that must never be printed or logged: its `Debug` shows
/// `[redacted]`, and it has no `Display`. [`Secret::expose`] hands it to the
/// one place that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the connection or request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.into())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Everything the server needs to start. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct Settings {
    pub leptos: LeptosOptions,
    /// The app's public origin; `None` means `http://<bound address>`.
    pub public_url: Option<url::Url>,
    /// An external OpenID provider; `None` embeds the local provider.
    pub oidc: Option<OidcSettings>,
    /// Where the embedded provider listens (when `oidc` is `None`).
    pub idp_addr: SocketAddr,
    /// The embedded provider's signing algorithm (`GATEHOUSE_IDP_SIGNING_ALG`).
    pub idp_signing_alg: idp::keys::SigningAlg,
    /// Where sessions and the embedded provider keep their data; `None` keeps them in memory.
    pub data_dir: Option<std::path::PathBuf>,
    /// Sessions end this many seconds after their last request
    /// (`GATEHOUSE_SESSION_IDLE_MINUTES`).
    pub session_idle_secs: i64,
    /// Sessions end this many seconds after sign-in, however active
    /// (`GATEHOUSE_SESSION_LIFETIME_MINUTES`).
    pub session_lifetime_secs: i64,
    /// How long a session record and its sign-in's state, once read, are
    /// reused from memory (`GATEHOUSE_SESSION_CACHE_MS`; 0: never): the bound
    /// within which a session ended on another instance is refused here.
    pub session_cache_ms: u64,
    /// Who is an admin and how to reach the Admin API.
    pub admin: AdminSettings,
    /// `GATEHOUSE_TOKEN_KEYS`: the keys that seal tokens in session records;
    /// `None` uses `<data dir>/token-keys` (created on first start) or, in
    /// memory, a key of this process.
    pub token_keys: Option<bff::sealing::TokenKeys>,
    /// `GATEHOUSE_REFRESH_SKEW_SECONDS`: refresh the access token when it has less than this left.
    pub refresh_skew_secs: i64,
    /// Bounds of the provider's signing-key cache (shared by ID, logout and
    /// access tokens): `Cache-Control` clamped to 1 min – 1 h, 30 s refetch
    /// cooldown, 5 s fetch timeout. Not read from the environment.
    pub signing_keys: bff::jwt::KeyCacheConfig,
    /// `GATEHOUSE_REDIS_URL`: keep sessions and their tokens in Redis (several
    /// instances); `None` keeps them in the database below.
    pub redis_url: Option<Secret>,
    /// `GATEHOUSE_DATABASE_URL`: `postgres://…` keeps the users, the admin
    /// audit trail and (without Redis) the sessions and token rows in
    /// PostgreSQL, shared by every instance; `sqlite://path` puts the users
    /// and audit trail in that SQLite file. `None`: SQLite files under
    /// `GATEHOUSE_DATA_DIR` (memory without one).
    pub database_url: Option<Secret>,
    /// `GATEHOUSE_DATABASE_MAX_CONNECTIONS`: the most connections to
    /// PostgreSQL in each of this instance's two pools (app data; sessions),
    /// besides one that listens for other instances' changes.
    pub database_max_connections: u32,
    /// The JSON API (`/api/v1`) for services and native apps.
    pub api: ApiSettings,
    /// `GATEHOUSE_DEV_PROVIDER=1`: run the embedded development provider even
    /// outside development (the test command does, for the release build).
    pub dev_provider: bool,
    /// `GATEHOUSE_RATE_LIMIT_*` and `GATEHOUSE_TRUSTED_PROXY_HOPS`.
    pub rate_limits: bff::rate_limit::Limits,
    /// `LEPTOS_WATCH` (set by `scripts/sitebuild watch`): serve the live-reload script.
    pub live_reload: bool,
    /// `GATEHOUSE_SHUTDOWN_SECONDS`: how long requests in flight may take to
    /// finish once shutdown begins (SIGTERM, Ctrl-C).
    pub shutdown_secs: u64,
    /// `GATEHOUSE_LOG_FORMAT`: `text` (the default) or `json`.
    pub log_format: crate::telemetry::LogFormat,
    /// `GATEHOUSE_METRICS_ADDR`: where Prometheus metrics are served
    /// (`/metrics`, a listener of its own); `None`: nowhere.
    pub metrics_addr: Option<SocketAddr>,
    /// `GATEHOUSE_OTLP_*`: where OpenTelemetry traces are exported; `None`:
    /// nowhere.
    pub otlp: Option<crate::telemetry::OtlpSettings>,
}

/// `GATEHOUSE_API_*`: how `/api/v1` checks Bearer tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// `GATEHOUSE_API_AUDIENCE`: a token's `aud` must contain it (default `gatehouse-api`).
    pub audience: String,
    /// `GATEHOUSE_API_TOKEN_COOKIE`: also read the token from this cookie
    /// (e.g. `hanko`, as open-source Hanko's frontends send it). Unset: header only.
    pub cookie: Option<String>,
}

/// The audience the embedded provider issues API tokens for.
pub const DEFAULT_API_AUDIENCE: &str = "gatehouse-api";

/// Who may manage identities, and the Admin API they are managed through.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// `GATEHOUSE_ADMIN_EMAILS`; `None` means the default: `admin@example.com`
    /// with the embedded provider, nobody with an external one.
    pub emails: Option<Vec<String>>,
    /// `GATEHOUSE_ADMIN_SUBJECTS`.
    pub subjects: Vec<String>,
    /// `GATEHOUSE_ADMIN_CLAIM` as `name=value`, e.g. `roles=admin`.
    pub claim: Option<(String, String)>,
    /// The external provider's Admin API; the embedded provider's is used without it.
    pub api: Option<AdminApiSettings>,
    /// `OIDC_ADMIN_TIMEOUT_SECONDS`: bound on every Admin API and token request.
    pub timeout_secs: u64,
    /// `GATEHOUSE_ADMIN_RECHECK_SECONDS`: an admin's standing is confirmed with
    /// the provider (userinfo) before an admin call when it is older than this.
    pub recheck_secs: i64,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            emails: None,
            subjects: Vec::new(),
            claim: None,
            api: None,
            timeout_secs: 10,
            recheck_secs: DEFAULT_ADMIN_RECHECK_SECS,
        }
    }
}

/// `OIDC_ADMIN_*`: the Admin API and the machine client that calls it.
#[derive(Debug, Clone)]
pub struct AdminApiSettings {
    pub url: url::Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub auth: bff::oidc::ClientAuth,
    /// Defaults to the provider's discovered token endpoint.
    pub token_url: Option<url::Url>,
    pub audience: Vec<String>,
    pub scope: String,
}

/// A comma- or space-separated list.
fn list(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn http_url(raw: &str) -> Option<url::Url> {
    url::Url::parse(raw.trim()).ok().filter(|u| matches!(u.scheme(), "http" | "https"))
}

fn admin_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<AdminSettings, ConfigError> {
    let claim = match get("GATEHOUSE_ADMIN_CLAIM") {
        None => None,
        Some(raw) => Some(
            raw.split_once('=')
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .filter(|(n, v)| !n.is_empty() && !v.is_empty())
                .ok_or(ConfigError::Invalid {
                    var: "GATEHOUSE_ADMIN_CLAIM",
                    value: raw.clone(),
                    hint: "use claim=value, e.g. roles=admin (a string claim equal to the value or an array containing it)",
                })?,
        ),
    };
    let timeout_secs = match get("OIDC_ADMIN_TIMEOUT_SECONDS") {
        None => 10,
        Some(raw) => raw.trim().parse::<u64>().ok().filter(|s| (1..=300).contains(s)).ok_or(ConfigError::Invalid {
            var: "OIDC_ADMIN_TIMEOUT_SECONDS",
            value: raw.clone(),
            hint: "use a number of seconds between 1 and 300, e.g. 10",
        })?,
    };
    let recheck_secs = match get("GATEHOUSE_ADMIN_RECHECK_SECONDS") {
        None => DEFAULT_ADMIN_RECHECK_SECS,
        Some(raw) => {
            raw.trim().parse::<i64>().ok().filter(|s| (0..=86_400).contains(s)).ok_or(ConfigError::Invalid {
                var: "GATEHOUSE_ADMIN_RECHECK_SECONDS",
                value: raw.clone(),
                hint: "use a number of seconds between 0 (every admin call) and 86400, e.g. 300",
            })?
        }
    };
    let api = match get("OIDC_ADMIN_API_URL") {
        None => None,
        Some(raw) => {
            let url = http_url(&raw).ok_or(ConfigError::Invalid {
                var: "OIDC_ADMIN_API_URL",
                value: raw.clone(),
                hint: "use the Admin API's base URL, e.g. https://login.example.com/admin (identities are under /identities)",
            })?;
            let client_id = get("OIDC_ADMIN_CLIENT_ID").ok_or(ConfigError::Invalid {
                var: "OIDC_ADMIN_CLIENT_ID",
                value: String::new(),
                hint: "set the id of the client-credentials client allowed to call the Admin API (required with OIDC_ADMIN_API_URL)",
            })?;
            let client_secret = get("OIDC_ADMIN_CLIENT_SECRET").ok_or(ConfigError::Invalid {
                var: "OIDC_ADMIN_CLIENT_SECRET",
                value: String::new(),
                hint: "set that client's secret (required with OIDC_ADMIN_API_URL)",
            })?;
            let auth = match get("OIDC_ADMIN_CLIENT_AUTH").as_deref().unwrap_or("client_secret_basic") {
                "client_secret_basic" => bff::oidc::ClientAuth::ClientSecretBasic,
                "client_secret_post" => bff::oidc::ClientAuth::ClientSecretPost,
                other => {
                    return Err(ConfigError::Invalid {
                        var: "OIDC_ADMIN_CLIENT_AUTH",
                        value: other.to_string(),
                        hint: "use client_secret_basic or client_secret_post",
                    })
                }
            };
            let token_url = match get("OIDC_ADMIN_TOKEN_URL") {
                None => None,
                Some(raw) => Some(http_url(&raw).ok_or(ConfigError::Invalid {
                    var: "OIDC_ADMIN_TOKEN_URL",
                    value: raw.clone(),
                    hint: "use the token endpoint's URL, or leave it unset to use the discovered one",
                })?),
            };
            Some(AdminApiSettings {
                url,
                client_id,
                client_secret: client_secret.into(),
                auth,
                token_url,
                audience: get("OIDC_ADMIN_AUDIENCE").map(|a| list(&a)).unwrap_or_default(),
                scope: get("OIDC_ADMIN_SCOPE").unwrap_or_default(),
            })
        }
    };
    Ok(AdminSettings {
        // `none`: nobody by email (an empty value is unset, so the default).
        emails: get("GATEHOUSE_ADMIN_EMAILS").map(|e| if e.trim() == "none" { Vec::new() } else { list(&e) }),
        subjects: get("GATEHOUSE_ADMIN_SUBJECTS").map(|s| list(&s)).unwrap_or_default(),
        claim,
        api,
        timeout_secs,
        recheck_secs,
    })
}

/// How old an admin's confirmed standing may be before an admin call checks again.
pub const DEFAULT_ADMIN_RECHECK_SECS: i64 = 300;

/// The external provider and this app's registration with it.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub auth: bff::oidc::ClientAuth,
    pub scopes: Vec<String>,
    /// The provider's self-service account page, linked from `/profile`.
    pub account_url: Option<String>,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={value:?} is not valid: {hint}")]
    Invalid { var: &'static str, value: String, hint: &'static str },
    /// A required setting is missing.
    #[error("{var} is not set: {hint}")]
    Missing { var: &'static str, hint: &'static str },
    /// A secret is invalid; its value is never repeated.
    #[error("{var} is not valid: {reason}")]
    Secret { var: &'static str, reason: String },
    /// The configuration file (or a variable) cannot be read.
    #[error("{what} cannot be read: {reason}")]
    Unreadable { what: String, reason: String },
    /// A bad value that came from the configuration file.
    #[error("{error} (set as `{key}` in {file})")]
    InFile { error: Box<ConfigError>, key: String, file: std::path::PathBuf },
}

impl ConfigError {
    /// The variable the error is about.
    pub fn var(&self) -> Option<&'static str> {
        match self {
            ConfigError::Invalid { var, .. } | ConfigError::Missing { var, .. } | ConfigError::Secret { var, .. } => {
                Some(var)
            }
            ConfigError::InFile { error, .. } => error.var(),
            ConfigError::Unreadable { .. } => None,
        }
    }
}

const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// What a URL setting may show of a refused value: its scheme, never the rest
/// (it may hold a password).
fn scheme_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme.len() <= 16
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) =>
        {
            format!("a value starting with {scheme}://")
        }
        _ => "a value without a URL scheme".to_string(),
    }
}

impl Settings {
    /// Reads the settings from the process environment and the file its
    /// `GATEHOUSE_CONFIG` names (unknown keys are ignored: see
    /// [`Layers::warnings`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_layers(&Layers::from_env()?)
    }

    /// Reads the settings from merged layers; an error about a value from
    /// the file names its key there.
    pub fn from_layers(layers: &Layers) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| layers.get(name)).map_err(|error| {
            match error.var().and_then(|var| layers.origin(var)) {
                Some(layers::Origin::File { path, key }) => {
                    ConfigError::InFile { error: Box::new(error), key: key.clone(), file: path.clone() }
                }
                _ => error,
            }
        })
    }

    /// Reads the settings through `lookup` (the merged layers in production,
    /// a map in tests). Every name it asks for is one of [`layers::KEYS`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            debug_assert!(layers::find(name).is_some(), "{name} is read but not listed in config::layers::KEYS");
            lookup(name).filter(|v| !v.trim().is_empty())
        };

        let addr_raw = get("LEPTOS_SITE_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_string());
        let site_addr: SocketAddr = addr_raw.trim().parse().map_err(|_| ConfigError::Invalid {
            var: "LEPTOS_SITE_ADDR",
            value: addr_raw.clone(),
            hint: "use host:port with an IP address, e.g. 127.0.0.1:3000",
        })?;

        let env = match get("LEPTOS_ENV").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("dev") | Some("development") => Env::DEV,
            Some("prod") | Some("production") => Env::PROD,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    var: "LEPTOS_ENV",
                    value: get("LEPTOS_ENV").unwrap_or_default(),
                    hint: "use DEV or PROD",
                })
            }
        };

        let reload_port = match get("LEPTOS_RELOAD_PORT") {
            None => 3002,
            Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
                var: "LEPTOS_RELOAD_PORT",
                value: raw.clone(),
                hint: "use a port number, e.g. 3002",
            })?,
        };

        let mut leptos = LeptosOptions::builder()
            .output_name(get("LEPTOS_OUTPUT_NAME").unwrap_or_else(|| "gatehouse".into()))
            .site_root(get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()))
            .site_pkg_dir(get("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into()))
            .site_addr(site_addr)
            .reload_port(reload_port)
            .env(env.clone())
            .build();
        // Unset: hashed names when the build left its hash file beside this binary.
        leptos.hash_files = match get("LEPTOS_HASH_FILES") {
            Some(v) => v.trim() == "true",
            None => std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| dir.join(&*leptos.hash_file).is_file()))
                .unwrap_or(false),
        };

        let public_url = match get("GATEHOUSE_PUBLIC_URL") {
            None => None,
            Some(raw) => {
                let url = url::Url::parse(raw.trim())
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/");
                Some(url.ok_or(ConfigError::Invalid {
                    var: "GATEHOUSE_PUBLIC_URL",
                    value: raw.clone(),
                    hint: "use the app's origin, e.g. https://app.example.com",
                })?)
            }
        };
        let oidc = match get("OIDC_ISSUER") {
            None => None,
            Some(issuer) => {
                if url::Url::parse(issuer.trim()).is_err() {
                    return Err(ConfigError::Invalid {
                        var: "OIDC_ISSUER",
                        value: issuer,
                        hint: "use the provider's issuer URL, e.g. https://login.example.com/",
                    });
                }
                let client_id = get("OIDC_CLIENT_ID").ok_or(ConfigError::Invalid {
                    var: "OIDC_CLIENT_ID",
                    value: String::new(),
                    hint: "set the client id registered at the provider (required with OIDC_ISSUER)",
                })?;
                let auth = match get("OIDC_CLIENT_AUTH").as_deref().unwrap_or("client_secret_basic") {
                    "client_secret_basic" => bff::oidc::ClientAuth::ClientSecretBasic,
                    "client_secret_post" => bff::oidc::ClientAuth::ClientSecretPost,
                    "none" => bff::oidc::ClientAuth::None,
                    other => {
                        return Err(ConfigError::Invalid {
                            var: "OIDC_CLIENT_AUTH",
                            value: other.to_string(),
                            hint: "use client_secret_basic, client_secret_post or none",
                        })
                    }
                };
                let client_secret = get("OIDC_CLIENT_SECRET").map(Secret::from);
                if auth != bff::oidc::ClientAuth::None && client_secret.is_none() {
                    return Err(ConfigError::Invalid {
                        var: "OIDC_CLIENT_SECRET",
                        value: String::new(),
                        hint: "set the client secret (or OIDC_CLIENT_AUTH=none for a public client)",
                    });
                }
                let scopes = list(&get("OIDC_SCOPES").unwrap_or_else(|| "openid email profile offline_access".into()));
                if !scopes.iter().any(|s| s == "openid") {
                    return Err(ConfigError::Invalid {
                        var: "OIDC_SCOPES",
                        value: scopes.join(" "),
                        hint: "must include openid",
                    });
                }
                let account_url = match get("OIDC_ACCOUNT_URL") {
                    None => None,
                    Some(raw) => Some(
                        url::Url::parse(raw.trim())
                            .ok()
                            .filter(|u| matches!(u.scheme(), "http" | "https"))
                            .map(|u| u.to_string())
                            .ok_or(ConfigError::Invalid {
                                var: "OIDC_ACCOUNT_URL",
                                value: raw.clone(),
                                hint: "use the provider's account page, e.g. https://login.example.com/profile",
                            })?,
                    ),
                };
                Some(OidcSettings {
                    issuer: issuer.trim().to_string(),
                    client_id,
                    client_secret,
                    auth,
                    scopes,
                    account_url,
                })
            }
        };
        let idp_raw = get("GATEHOUSE_IDP_ADDR").unwrap_or_else(|| "127.0.0.1:3001".into());
        let idp_addr: SocketAddr = idp_raw.trim().parse().map_err(|_| ConfigError::Invalid {
            var: "GATEHOUSE_IDP_ADDR",
            value: idp_raw.clone(),
            hint: "use IP:port, e.g. 127.0.0.1:3001",
        })?;
        let idp_signing_alg = match get("GATEHOUSE_IDP_SIGNING_ALG").as_deref().map(str::trim) {
            None | Some("RS256") => idp::keys::SigningAlg::RS256,
            Some("ES256") => idp::keys::SigningAlg::ES256,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "GATEHOUSE_IDP_SIGNING_ALG",
                    value: other.to_string(),
                    hint: "use RS256 (the default, as Hydra signs) or ES256",
                })
            }
        };
        let data_dir = match get("GATEHOUSE_DATA_DIR").as_deref() {
            Some(":memory:") => None,
            Some(dir) => Some(std::path::PathBuf::from(dir)),
            None => Some(std::path::PathBuf::from(".data")),
        };
        let session_idle_minutes = match get("GATEHOUSE_SESSION_IDLE_MINUTES") {
            None => 12 * 60,
            Some(raw) => raw.trim().parse::<i64>().ok().filter(|m| *m > 0).ok_or(ConfigError::Invalid {
                var: "GATEHOUSE_SESSION_IDLE_MINUTES",
                value: raw.clone(),
                hint: "use a positive number of minutes, e.g. 720",
            })?,
        };
        let session_lifetime_minutes = match get("GATEHOUSE_SESSION_LIFETIME_MINUTES") {
            None => 7 * 24 * 60,
            Some(raw) => raw.trim().parse::<i64>().ok().filter(|m| (1..=366 * 24 * 60).contains(m)).ok_or(
                ConfigError::Invalid {
                    var: "GATEHOUSE_SESSION_LIFETIME_MINUTES",
                    value: raw.clone(),
                    hint: "use a number of minutes between 1 and 527040 (a year), e.g. 10080 (a week)",
                },
            )?,
        };
        let admin = admin_settings(&get)?;
        let dev_provider = match get("GATEHOUSE_DEV_PROVIDER").as_deref().map(str::trim) {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "GATEHOUSE_DEV_PROVIDER",
                    value: other.to_string(),
                    hint: "use 1 to run the embedded development provider outside development, or leave it unset",
                })
            }
        };
        if oidc.is_none() && !dev_provider {
            let loopback = site_addr.ip().is_loopback() && idp_addr.ip().is_loopback();
            if env != Env::DEV || !loopback {
                return Err(ConfigError::Missing {
                    var: "OIDC_ISSUER",
                    hint: "set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET to your OpenID provider. \
The embedded development provider (every passcode readable at /mailbox, secrets from the repository, admin@example.com is admin) \
starts only with LEPTOS_ENV=DEV on loopback addresses, or when GATEHOUSE_DEV_PROVIDER=1 says so explicitly",
                });
            }
        }
        if env == Env::PROD && public_url.is_none() && !site_addr.ip().is_loopback() {
            return Err(ConfigError::Missing {
                var: "GATEHOUSE_PUBLIC_URL",
                hint: "in production set the https URL browsers use (e.g. https://app.example.com/): it decides the sign-in redirect, the cookie's Secure flag and the origin cross-site checks compare with",
            });
        }
        if let Some(url) = &public_url {
            if env == Env::PROD && bff::oidc::is_cleartext_remote(url) {
                return Err(ConfigError::Invalid {
                    var: "GATEHOUSE_PUBLIC_URL",
                    value: url.to_string(),
                    hint: "in production the app must be served over https so the session cookie can be Secure; use the https:// URL browsers see",
                });
            }
        }
        let rate = |var: &'static str, default: Option<bff::rate_limit::Rate>| match get(var) {
            None => Ok(default),
            Some(raw) if raw.trim() == "off" => Ok(None),
            Some(raw) => bff::rate_limit::Rate::parse(&raw).map(Some).ok_or(ConfigError::Invalid {
                var,
                value: raw.clone(),
                hint: "use requests per period as N/s, N/min or N/h (e.g. 120/min), or off",
            }),
        };
        let defaults = bff::rate_limit::Limits::default();
        let rate_limits = bff::rate_limit::Limits {
            sign_in: rate("GATEHOUSE_RATE_LIMIT_SIGNIN", defaults.sign_in)?,
            write: rate("GATEHOUSE_RATE_LIMIT_WRITE", defaults.write)?,
            api: rate("GATEHOUSE_RATE_LIMIT_API", defaults.api)?,
            backchannel: rate("GATEHOUSE_RATE_LIMIT_BACKCHANNEL", defaults.backchannel)?,
            trusted_proxy_hops: match get("GATEHOUSE_TRUSTED_PROXY_HOPS") {
                None => 0,
                Some(raw) => raw.trim().parse::<u8>().ok().filter(|h| *h <= 10).ok_or(ConfigError::Invalid {
                    var: "GATEHOUSE_TRUSTED_PROXY_HOPS",
                    value: raw.clone(),
                    hint: "use how many proxies of yours add to X-Forwarded-For, 0 to 10 (0: use the connection's address)",
                })?,
            },
        };
        Ok(Self {
            dev_provider,
            rate_limits,
            leptos,
            public_url,
            oidc,
            idp_addr,
            idp_signing_alg,
            data_dir,
            session_idle_secs: session_idle_minutes.saturating_mul(60),
            session_lifetime_secs: session_lifetime_minutes * 60,
            database_max_connections: match get("GATEHOUSE_DATABASE_MAX_CONNECTIONS") {
                None => 10,
                Some(raw) => raw.trim().parse::<u32>().ok().filter(|n| (1..=100).contains(n)).ok_or(
                    ConfigError::Invalid {
                        var: "GATEHOUSE_DATABASE_MAX_CONNECTIONS",
                        value: raw.clone(),
                        hint: "use a whole number from 1 to 100; 10 is the default",
                    },
                )?,
            },
            session_cache_ms: match get("GATEHOUSE_SESSION_CACHE_MS") {
                None => 1000,
                Some(raw) => raw.trim().parse::<u64>().ok().filter(|ms| *ms <= 10_000).ok_or(ConfigError::Invalid {
                    var: "GATEHOUSE_SESSION_CACHE_MS",
                    value: raw.clone(),
                    hint: "use milliseconds from 0 (read the store on every request) to 10000; 1000 is the default",
                })?,
            },
            admin,
            redis_url: match get("GATEHOUSE_REDIS_URL") {
                None => None,
                Some(raw) if raw.trim().starts_with("redis://") => Some(Secret::new(raw.trim())),
                Some(raw) => {
                    return Err(ConfigError::Secret {
                        var: "GATEHOUSE_REDIS_URL",
                        reason: format!(
                            "use redis://[user:password@]host:port[/db] (got a value starting with {:?}; TLS is not built in)",
                            raw.trim().split("://").next().unwrap_or_default()
                        ),
                    })
                }
            },
            database_url: match get("GATEHOUSE_DATABASE_URL") {
                None => None,
                Some(raw) => {
                    let url = raw.trim();
                    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
                    let sqlite = url.strip_prefix("sqlite://").is_some_and(|path| !path.is_empty());
                    let readable = url::Url::parse(url)
                        .is_ok_and(|u| !u.path().trim_start_matches('/').contains(['/', '@']));
                    if postgres && !readable {
                        return Err(ConfigError::Secret {
                            var: "GATEHOUSE_DATABASE_URL",
                            reason: "it does not parse as postgres://user:password@host:port/database: percent-encode \
                                     the password's special characters (/ as %2F, @ as %40, # as %23, ? as %3F)"
                                .into(),
                        });
                    }
                    if !postgres && !sqlite {
                        return Err(ConfigError::Secret {
                            var: "GATEHOUSE_DATABASE_URL",
                            reason: format!(
                                "use postgres://user:password@host:port/database or sqlite:///path/to/app.sqlite3 (got {})",
                                scheme_of(url)
                            ),
                        });
                    }
                    Some(Secret::new(url))
                }
            },
            signing_keys: bff::jwt::KeyCacheConfig::default(),
            refresh_skew_secs: match get("GATEHOUSE_REFRESH_SKEW_SECONDS") {
                None => 60,
                Some(raw) => {
                    raw.trim().parse::<i64>().ok().filter(|s| (0..=86_400).contains(s)).ok_or(ConfigError::Invalid {
                        var: "GATEHOUSE_REFRESH_SKEW_SECONDS",
                        value: raw.clone(),
                        hint: "use whole seconds from 0 to 86400, e.g. 60",
                    })?
                }
            },
            api: ApiSettings {
                audience: get("GATEHOUSE_API_AUDIENCE")
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .unwrap_or_else(|| DEFAULT_API_AUDIENCE.into()),
                cookie: match get("GATEHOUSE_API_TOKEN_COOKIE").map(|c| c.trim().to_string()) {
                    None => None,
                    Some(c) if c.is_empty() => None,
                    Some(c) if c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) => Some(c),
                    Some(c) => {
                        return Err(ConfigError::Invalid {
                            var: "GATEHOUSE_API_TOKEN_COOKIE",
                            value: c,
                            hint: "use a cookie name of letters, digits, '-', '_' or '.', e.g. hanko",
                        })
                    }
                },
            },
            live_reload: get("LEPTOS_WATCH").is_some(),
            log_format: match get("GATEHOUSE_LOG_FORMAT").as_deref().map(str::trim) {
                None | Some("text") => crate::telemetry::LogFormat::Text,
                Some("json") => crate::telemetry::LogFormat::Json,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        var: "GATEHOUSE_LOG_FORMAT",
                        value: other.to_string(),
                        hint: "use text (lines for people) or json (one JSON object a line)",
                    })
                }
            },
            metrics_addr: match get("GATEHOUSE_METRICS_ADDR").as_deref().map(str::trim) {
                None => Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
                Some("off") => None,
                Some(raw) => Some(raw.parse().map_err(|_| ConfigError::Invalid {
                    var: "GATEHOUSE_METRICS_ADDR",
                    value: raw.to_string(),
                    hint: "use IP:port, e.g. 127.0.0.1:9464 (metrics are not authenticated: keep them off public addresses), or off",
                })?),
            },
            shutdown_secs: match get("GATEHOUSE_SHUTDOWN_SECONDS") {
                None => 30,
                Some(raw) => raw.trim().parse::<u64>().ok().filter(|s| *s <= 3600).ok_or(ConfigError::Invalid {
                    var: "GATEHOUSE_SHUTDOWN_SECONDS",
                    value: raw.clone(),
                    hint: "use whole seconds from 0 (stop at once) to 3600; 30 is the default",
                })?,
            },
            otlp: match get("GATEHOUSE_OTLP_ENDPOINT").as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => None,
                Some(raw) => {
                    let endpoint = url::Url::parse(raw)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                        .filter(|u| u.username().is_empty() && u.password().is_none())
                        .filter(|u| u.query().is_none() && u.fragment().is_none())
                        .ok_or_else(|| ConfigError::Invalid {
                            var: "GATEHOUSE_OTLP_ENDPOINT",
                            value: scheme_of(raw),
                            hint: "use the collector's OTLP/HTTP base URL, e.g. http://127.0.0.1:4318 (spans go to /v1/traces under it), without credentials (put them in GATEHOUSE_OTLP_HEADERS), query or fragment",
                        })?;
                    let headers = get("GATEHOUSE_OTLP_HEADERS").map(Secret::from);
                    if let Some(h) = &headers {
                        crate::telemetry::parse_headers(h.expose())
                            .map_err(|reason| ConfigError::Secret { var: "GATEHOUSE_OTLP_HEADERS", reason })?;
                    }
                    let service_name = get("GATEHOUSE_OTLP_SERVICE_NAME")
                        .map(|s| s.trim().to_string())
                        .unwrap_or_else(|| "gatehouse".into());
                    if service_name.is_empty() || service_name.chars().any(char::is_control) {
                        return Err(ConfigError::Invalid {
                            var: "GATEHOUSE_OTLP_SERVICE_NAME",
                            value: service_name,
                            hint: "use a short name for this service, e.g. gatehouse",
                        });
                    }
                    Some(crate::telemetry::OtlpSettings { endpoint, headers, service_name })
                }
            },
            token_keys: match get("GATEHOUSE_TOKEN_KEYS") {
                None => None,
                Some(raw) => Some(
                    bff::sealing::TokenKeys::parse(&raw)
                        .map_err(|e| ConfigError::Secret { var: "GATEHOUSE_TOKEN_KEYS", reason: e.to_string() })?,
                ),
            },
        })
    }

    /// Settings for a server on `addr`, with the embedded provider on a free
    /// port and sessions in memory (used by tests, which bind port 0).
    pub fn for_addr(addr: SocketAddr) -> Self {
        let mut settings = Self::from_lookup(|_| None).unwrap_or_else(|_| unreachable!());
        // Test clients all come from 127.0.0.1: the tests of the limits set their own.
        settings.rate_limits = bff::rate_limit::Limits::off();
        settings.leptos.site_addr = addr;
        settings.idp_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        settings.data_dir = None;
        settings.metrics_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        settings
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    /// The setting names written as string literals in `src` before its tests.
    fn names_in(src: &str) -> std::collections::BTreeSet<String> {
        let code = src.split("#[cfg(test)]").next().unwrap_or_default();
        code.split('"')
            .filter(|t| {
                ["GATEHOUSE_", "OIDC_", "LEPTOS_"].iter().any(|p| t.starts_with(p))
                    && t.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .map(String::from)
            .collect()
    }

    #[test]
    fn the_reference_lists_exactly_the_settings_the_code_reads() {
        let listed: std::collections::BTreeSet<String> = layers::KEYS.iter().map(|k| k.name.to_string()).collect();
        // Read here: every listed key and nothing else.
        assert_eq!(names_in(include_str!("mod.rs")), listed, "config/mod.rs reads exactly layers::KEYS");
        // Documented: the same keys and the file variable, each in a table's first column.
        let doc = include_str!("../../../docs/configuration.md");
        let documented: std::collections::BTreeSet<String> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .filter(|n| ["GATEHOUSE_", "OIDC_", "LEPTOS_"].iter().any(|p| n.starts_with(p)))
            .map(String::from)
            .collect();
        let mut expected = listed.clone();
        expected.insert(layers::CONFIG_VAR.to_string());
        let missing: Vec<_> = expected.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "docs/configuration.md: undocumented {missing:?}; documented but not read {extra:?}"
        );
    }

    #[test]
    fn each_listed_default_is_the_one_the_code_uses() {
        let base = [
            ("OIDC_ISSUER", "https://login.example.com/"),
            ("OIDC_CLIENT_ID", "app"),
            ("OIDC_CLIENT_SECRET", "s"),
            ("OIDC_ADMIN_API_URL", "https://login.example.com/admin"),
            ("OIDC_ADMIN_CLIENT_ID", "m"),
            ("OIDC_ADMIN_CLIENT_SECRET", "s"),
        ];
        let unset = format!("{:?}", from(&base).unwrap());
        for k in layers::KEYS {
            let Some(default) = k.default else { continue };
            let mut pairs = base.to_vec();
            pairs.push((k.name, default));
            let set = format!("{:?}", from(&pairs).unwrap());
            assert_eq!(set, unset, "{}={default:?} is not what the code uses when it is unset", k.name);
        }
    }

    #[test]
    fn settings_and_their_errors_never_show_a_secret() {
        let s = from(&[
            ("OIDC_ISSUER", "https://login.example.com/"),
            ("OIDC_CLIENT_ID", "app"),
            ("OIDC_CLIENT_SECRET", "hunter2-client"),
            ("OIDC_ADMIN_API_URL", "https://login.example.com/admin"),
            ("OIDC_ADMIN_CLIENT_ID", "m"),
            ("OIDC_ADMIN_CLIENT_SECRET", "hunter2-admin"),
            ("GATEHOUSE_DATABASE_URL", "postgres://app:hunter2-db@db/app"),
            ("GATEHOUSE_REDIS_URL", "redis://:hunter2-redis@cache:6379"),
        ])
        .unwrap();
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(s.oidc.unwrap().client_secret.unwrap().expose(), "hunter2-client");
    }

    /// Bad configurations and what they say: each names the setting, its value
    /// unless secret, and the fix.
    #[test]
    fn bad_configurations_say_what_to_fix() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("LEPTOS_SITE_ADDR", "localhost:3000")], "LEPTOS_SITE_ADDR=\"localhost:3000\" is not valid: use host:port with an IP address"),
            (&[("LEPTOS_ENV", "staging")], "LEPTOS_ENV=\"staging\" is not valid: use DEV or PROD"),
            (&[("OIDC_ISSUER", "not a url")], "OIDC_ISSUER=\"not a url\" is not valid: use the provider's issuer URL"),
            (&[("OIDC_ISSUER", "https://x/")], "OIDC_CLIENT_ID=\"\" is not valid: set the client id registered at the provider"),
            (&[("OIDC_ISSUER", "https://x/"), ("OIDC_CLIENT_ID", "c")], "OIDC_CLIENT_SECRET=\"\" is not valid: set the client secret (or OIDC_CLIENT_AUTH=none"),
            (&[("OIDC_ISSUER", "https://x/"), ("OIDC_CLIENT_ID", "c"), ("OIDC_CLIENT_AUTH", "none"), ("OIDC_SCOPES", "email profile")], "OIDC_SCOPES=\"email profile\" is not valid: must include openid"),
            (&[("GATEHOUSE_SESSION_IDLE_MINUTES", "0")], "GATEHOUSE_SESSION_IDLE_MINUTES=\"0\" is not valid: use a positive number of minutes"),
            (&[("GATEHOUSE_RATE_LIMIT_SIGNIN", "lots")], "GATEHOUSE_RATE_LIMIT_SIGNIN=\"lots\" is not valid: use requests per period as N/s, N/min or N/h"),
            (&[("GATEHOUSE_ADMIN_CLAIM", "roles")], "GATEHOUSE_ADMIN_CLAIM=\"roles\" is not valid: use claim=value"),
            (&[("GATEHOUSE_LOG_FORMAT", "yaml")], "GATEHOUSE_LOG_FORMAT=\"yaml\" is not valid: use text"),
            (&[("GATEHOUSE_METRICS_ADDR", "localhost")], "GATEHOUSE_METRICS_ADDR=\"localhost\" is not valid: use IP:port"),
            (&[("GATEHOUSE_OTLP_ENDPOINT", "collector:4318")], "GATEHOUSE_OTLP_ENDPOINT=\"a value without a URL scheme\" is not valid: use the collector's OTLP/HTTP base URL"),
            (&[("GATEHOUSE_OTLP_ENDPOINT", "https://u:s3cret@otel.example.com")], "GATEHOUSE_OTLP_ENDPOINT=\"a value starting with https://\" is not valid: use the collector's OTLP/HTTP base URL"),
            (&[("GATEHOUSE_OTLP_ENDPOINT", "http://127.0.0.1:4318"), ("GATEHOUSE_OTLP_HEADERS", "s3cret")], "GATEHOUSE_OTLP_HEADERS is not valid: pair 1 has no '='"),
            (&[("GATEHOUSE_SHUTDOWN_SECONDS", "1m")], "GATEHOUSE_SHUTDOWN_SECONDS=\"1m\" is not valid: use whole seconds from 0"),
            (&[("LEPTOS_ENV", "PROD")], "OIDC_ISSUER is not set: set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"),
            (&[("LEPTOS_ENV", "PROD"), ("GATEHOUSE_DEV_PROVIDER", "1"), ("GATEHOUSE_PUBLIC_URL", "http://app.example.com/")], "GATEHOUSE_PUBLIC_URL=\"http://app.example.com/\" is not valid: in production the app must be served over https"),
            (&[("GATEHOUSE_TOKEN_KEYS", "k1:c2hvcnQ=")], "GATEHOUSE_TOKEN_KEYS is not valid:"),
            (&[("GATEHOUSE_REDIS_URL", "rediss://u:hunter2@h")], "GATEHOUSE_REDIS_URL is not valid: use redis://[user:password@]host:port[/db]"),
        ];
        for (pairs, expected) in cases {
            let err = from(pairs).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{pairs:?}:\n  got      {err}\n  expected {expected}…");
            assert!(!err.contains("hunter2") && !err.contains("c2hvcnQ"), "a secret is not repeated: {err}");
        }
    }

    #[test]
    fn a_bad_value_from_the_file_names_its_key_there() {
        let dir = std::env::temp_dir().join(format!("gatehouse-config-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gatehouse.toml");
        std::fs::write(&path, "session_lifetime_minutes = 0\n[oidc]\nclient_auth = \"mtls\"\n").unwrap();
        let env = |extra: &[(&str, &str)]| {
            let mut v = vec![(layers::CONFIG_VAR.to_string(), path.display().to_string())];
            v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Settings::from_layers(&Layers::read(v).unwrap()).unwrap_err().to_string()
        };
        let err = env(&[]);
        assert!(
            err.starts_with("GATEHOUSE_SESSION_LIFETIME_MINUTES=\"0\" is not valid")
                && err.ends_with(&format!("(set as `session_lifetime_minutes` in {})", path.display())),
            "{err}"
        );
        // The environment wins, so the next bad value is the file's [oidc] one.
        let err = env(&[
            ("GATEHOUSE_SESSION_LIFETIME_MINUTES", "60"),
            ("OIDC_ISSUER", "https://x/"),
            ("OIDC_CLIENT_ID", "c"),
            ("OIDC_CLIENT_SECRET", "s"),
        ]);
        assert!(err.contains("OIDC_CLIENT_AUTH=\"mtls\"") && err.contains("(set as `oidc.client_auth` in"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn api_settings_default_to_the_embedded_audience_and_no_cookie() {
        let s = from(&[]).unwrap();
        assert_eq!(s.api, ApiSettings { audience: "gatehouse-api".into(), cookie: None });
        let s =
            from(&[("GATEHOUSE_API_AUDIENCE", " https://api.example.com "), ("GATEHOUSE_API_TOKEN_COOKIE", "hanko")])
                .unwrap();
        assert_eq!(s.api, ApiSettings { audience: "https://api.example.com".into(), cookie: Some("hanko".into()) });
        let msg = from(&[("GATEHOUSE_API_TOKEN_COOKIE", "a=b; c")]).unwrap_err().to_string();
        assert!(msg.contains("GATEHOUSE_API_TOKEN_COOKIE"), "{msg}");
    }

    #[test]
    fn token_keys_parse_and_a_bad_one_is_named_but_not_echoed() {
        let line = bff::sealing::TokenKeys::generate_line("k2");
        let s = from(&[("GATEHOUSE_TOKEN_KEYS", &format!("{line},{}", bff::sealing::TokenKeys::generate_line("k1")))])
            .unwrap();
        assert_eq!(s.token_keys.unwrap().current_id(), "k2");
        assert!(from(&[]).unwrap().token_keys.is_none());
        let secret = "k1:c2VjcmV0LXRvby1zaG9ydA==";
        let msg = from(&[("GATEHOUSE_TOKEN_KEYS", secret)]).unwrap_err().to_string();
        assert!(msg.starts_with("GATEHOUSE_TOKEN_KEYS is not valid") && msg.contains("32 bytes"), "{msg}");
        assert!(!msg.contains("c2VjcmV0"), "the secret is not repeated: {msg}");
    }

    #[test]
    fn database_urls_are_checked_without_echoing_them() {
        let ok =
            |url: &str| from(&[("GATEHOUSE_DATABASE_URL", url)]).unwrap().database_url.map(|u| u.expose().to_string());
        assert_eq!(
            ok(" postgres://app:pw@127.0.0.1:5432/app ").as_deref(),
            Some("postgres://app:pw@127.0.0.1:5432/app")
        );
        assert_eq!(ok("postgresql://db/app").as_deref(), Some("postgresql://db/app"));
        assert_eq!(
            ok("sqlite:///var/lib/gatehouse/app.sqlite3").as_deref(),
            Some("sqlite:///var/lib/gatehouse/app.sqlite3")
        );
        assert!(from(&[]).unwrap().database_url.is_none(), "SQLite under the data directory by default");
        assert_eq!(from(&[]).unwrap().database_max_connections, 10);
        assert_eq!(from(&[("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "25")]).unwrap().database_max_connections, 25);
        for bad in ["0", "101", "ten"] {
            let msg = from(&[("GATEHOUSE_DATABASE_MAX_CONNECTIONS", bad)]).unwrap_err().to_string();
            assert!(msg.starts_with("GATEHOUSE_DATABASE_MAX_CONNECTIONS=") && msg.contains("1 to 100"), "{msg}");
        }
        for bad in [
            "mysql://root:hunter2@db/app",
            "hunter2",
            "sqlite://",
            "postgres://app:hunter2/x@db/app",
            "postgres://app:hun#ter2@db/app",
        ] {
            let msg = from(&[("GATEHOUSE_DATABASE_URL", bad)]).unwrap_err().to_string();
            assert!(msg.starts_with("GATEHOUSE_DATABASE_URL is not valid") && msg.contains("postgres://"), "{msg}");
            assert!(!msg.contains("hunter2"), "the password is not repeated: {msg}");
        }
    }

    #[test]
    fn redis_urls_are_checked_without_echoing_them() {
        assert_eq!(
            from(&[("GATEHOUSE_REDIS_URL", " redis://127.0.0.1:6379/0 ")])
                .unwrap()
                .redis_url
                .as_ref()
                .map(Secret::expose),
            Some("redis://127.0.0.1:6379/0")
        );
        assert!(from(&[]).unwrap().redis_url.is_none());
        let msg = from(&[("GATEHOUSE_REDIS_URL", "rediss://user:hunter2@example.com")]).unwrap_err().to_string();
        assert!(msg.starts_with("GATEHOUSE_REDIS_URL is not valid") && msg.contains("redis://"), "{msg}");
        assert!(!msg.contains("hunter2"), "the password is not repeated: {msg}");
    }

    #[test]
    fn defaults_are_local_and_safe() {
        let s = from(&[]).unwrap();
        assert_eq!(s.leptos.site_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(&*s.leptos.output_name, "gatehouse");
        assert_eq!(s.leptos.env, Env::DEV);
    }

    #[test]
    fn bad_address_names_the_variable_and_the_fix() {
        let err = from(&[("LEPTOS_SITE_ADDR", "localhost:port")]).unwrap_err().to_string();
        assert!(err.contains("LEPTOS_SITE_ADDR"), "{err}");
        assert!(err.contains("127.0.0.1:3000"), "{err}");
    }

    #[test]
    fn the_embedded_providers_signing_algorithm_is_rs256_unless_es256_is_asked_for() {
        use idp::keys::SigningAlg;
        assert_eq!(from(&[]).unwrap().idp_signing_alg, SigningAlg::RS256);
        assert_eq!(from(&[("GATEHOUSE_IDP_SIGNING_ALG", "ES256")]).unwrap().idp_signing_alg, SigningAlg::ES256);
        for bad in ["es256", "HS256", "none"] {
            let err = from(&[("GATEHOUSE_IDP_SIGNING_ALG", bad)]).unwrap_err().to_string();
            assert!(err.contains("GATEHOUSE_IDP_SIGNING_ALG") && err.contains("ES256"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn bad_env_and_reload_port_are_rejected() {
        assert!(from(&[("LEPTOS_ENV", "staging")]).unwrap_err().to_string().contains("LEPTOS_ENV"));
        assert!(from(&[("LEPTOS_RELOAD_PORT", "x")]).unwrap_err().to_string().contains("LEPTOS_RELOAD_PORT"));
    }

    #[test]
    fn session_lifetimes_have_defaults_and_bounds() {
        let s = from(&[]).unwrap();
        assert_eq!((s.session_idle_secs, s.session_lifetime_secs), (720 * 60, 7 * 24 * 3600));
        assert_eq!(from(&[("GATEHOUSE_SESSION_LIFETIME_MINUTES", "90")]).unwrap().session_lifetime_secs, 5400);
        for bad in ["0", "-3", "abc", "600000"] {
            let err = from(&[("GATEHOUSE_SESSION_LIFETIME_MINUTES", bad)]).unwrap_err().to_string();
            assert!(err.contains("GATEHOUSE_SESSION_LIFETIME_MINUTES"), "{err}");
        }
        assert!(from(&[("GATEHOUSE_SESSION_IDLE_MINUTES", "0")]).is_err());
    }

    #[test]
    fn admin_settings_parse_and_fail_loudly() {
        let s = from(&[]).unwrap();
        assert!(s.admin.emails.is_none() && s.admin.api.is_none());
        assert_eq!(s.admin.timeout_secs, 10);
        assert_eq!(s.admin.recheck_secs, 300);
        let s = from(&[
            ("GATEHOUSE_ADMIN_EMAILS", "a@example.com, b@example.com"),
            ("GATEHOUSE_ADMIN_SUBJECTS", "s1 s2"),
            ("GATEHOUSE_ADMIN_CLAIM", "roles=admin"),
            ("OIDC_ADMIN_API_URL", "https://idp.example.com/admin"),
            ("OIDC_ADMIN_CLIENT_ID", "machine"),
            ("OIDC_ADMIN_CLIENT_SECRET", "s3cret"),
            ("OIDC_ADMIN_CLIENT_AUTH", "client_secret_post"),
            ("OIDC_ADMIN_AUDIENCE", "admin-api"),
        ])
        .unwrap();
        assert_eq!(s.admin.emails.as_deref(), Some(&["a@example.com".to_string(), "b@example.com".to_string()][..]));
        assert_eq!(from(&[("GATEHOUSE_ADMIN_EMAILS", "none")]).unwrap().admin.emails, Some(Vec::new()));
        assert_eq!(from(&[("GATEHOUSE_ADMIN_EMAILS", " ")]).unwrap().admin.emails, None, "empty is unset");
        assert_eq!(s.admin.subjects, ["s1", "s2"]);
        assert_eq!(s.admin.claim, Some(("roles".into(), "admin".into())));
        let api = s.admin.api.unwrap();
        assert_eq!((api.client_id.as_str(), api.auth), ("machine", bff::oidc::ClientAuth::ClientSecretPost));
        assert_eq!(api.audience, ["admin-api"]);
        assert!(!format!("{api:?}").contains("s3cret"), "the secret is not printed");

        for (pairs, var) in [
            (&[("GATEHOUSE_ADMIN_CLAIM", "roles")][..], "GATEHOUSE_ADMIN_CLAIM"),
            (&[("OIDC_ADMIN_API_URL", "ftp://x")][..], "OIDC_ADMIN_API_URL"),
            (&[("OIDC_ADMIN_API_URL", "https://x/admin")][..], "OIDC_ADMIN_CLIENT_ID"),
            (
                &[("OIDC_ADMIN_API_URL", "https://x/admin"), ("OIDC_ADMIN_CLIENT_ID", "m")][..],
                "OIDC_ADMIN_CLIENT_SECRET",
            ),
            (
                &[
                    ("OIDC_ADMIN_API_URL", "https://x/admin"),
                    ("OIDC_ADMIN_CLIENT_ID", "m"),
                    ("OIDC_ADMIN_CLIENT_SECRET", "s"),
                    ("OIDC_ADMIN_CLIENT_AUTH", "none"),
                ][..],
                "OIDC_ADMIN_CLIENT_AUTH",
            ),
            (&[("OIDC_ADMIN_TIMEOUT_SECONDS", "0")][..], "OIDC_ADMIN_TIMEOUT_SECONDS"),
            (&[("GATEHOUSE_ADMIN_RECHECK_SECONDS", "-1")][..], "GATEHOUSE_ADMIN_RECHECK_SECONDS"),
            (&[("GATEHOUSE_ADMIN_RECHECK_SECONDS", "5m")][..], "GATEHOUSE_ADMIN_RECHECK_SECONDS"),
        ] {
            let err = from(pairs).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
        }
    }

    #[test]
    fn production_is_recognised() {
        let s = from(&[("LEPTOS_ENV", "PROD"), ("GATEHOUSE_DEV_PROVIDER", "1")]).unwrap();
        assert_eq!(s.leptos.env, Env::PROD);
    }

    #[test]
    fn the_development_provider_runs_only_in_development_on_loopback_or_when_asked() {
        assert!(from(&[]).is_ok(), "development on loopback");
        for pairs in [
            &[("LEPTOS_ENV", "PROD")][..],
            &[("LEPTOS_SITE_ADDR", "0.0.0.0:3000")][..],
            &[("GATEHOUSE_IDP_ADDR", "0.0.0.0:3001")][..],
            &[("LEPTOS_ENV", "PROD"), ("GATEHOUSE_DEV_PROVIDER", "0")][..],
        ] {
            let err = from(pairs).unwrap_err().to_string();
            assert!(err.contains("OIDC_ISSUER") && err.contains("GATEHOUSE_DEV_PROVIDER=1"), "{pairs:?}: {err}");
        }
        let s = from(&[("LEPTOS_ENV", "PROD"), ("GATEHOUSE_DEV_PROVIDER", "1")]).unwrap();
        assert!(s.dev_provider && s.oidc.is_none());
        let s = from(&[
            ("LEPTOS_ENV", "PROD"),
            ("OIDC_ISSUER", "https://login.example.com/"),
            ("OIDC_CLIENT_ID", "c"),
            ("OIDC_CLIENT_SECRET", "s"),
        ]);
        assert!(s.is_ok(), "an external provider needs no override");
        assert!(from(&[("GATEHOUSE_DEV_PROVIDER", "yes please")])
            .unwrap_err()
            .to_string()
            .contains("GATEHOUSE_DEV_PROVIDER"));
    }

    #[test]
    fn production_refuses_a_plain_http_public_url() {
        let prod = [("LEPTOS_ENV", "PROD"), ("GATEHOUSE_DEV_PROVIDER", "1")];
        let with = |url: &'static str| {
            let mut p = prod.to_vec();
            p.push(("GATEHOUSE_PUBLIC_URL", url));
            from(&p)
        };
        assert!(with("https://app.example.com/").is_ok());
        assert!(with("http://127.0.0.1:3000/").is_ok() && with("http://localhost:3000/").is_ok());
        let err = with("http://app.example.com/").unwrap_err().to_string();
        assert!(err.contains("GATEHOUSE_PUBLIC_URL") && err.contains("https"), "{err}");
        assert!(from(&[("GATEHOUSE_PUBLIC_URL", "http://app.example.com/")]).is_ok(), "development may use http");
        let mut p = prod.to_vec();
        p.push(("LEPTOS_SITE_ADDR", "0.0.0.0:3000"));
        let err = from(&p).unwrap_err().to_string();
        assert!(err.contains("GATEHOUSE_PUBLIC_URL"), "production on a public address names its URL: {err}");
    }

    #[test]
    fn rate_limits_have_defaults_can_be_changed_or_switched_off() {
        let s = from(&[]).unwrap();
        assert_eq!(s.rate_limits, bff::rate_limit::Limits::default());
        let s = from(&[
            ("GATEHOUSE_RATE_LIMIT_SIGNIN", "10/min"),
            ("GATEHOUSE_RATE_LIMIT_API", "off"),
            ("GATEHOUSE_TRUSTED_PROXY_HOPS", "1"),
        ])
        .unwrap();
        assert_eq!(s.rate_limits.sign_in, Some(bff::rate_limit::Rate::per_minute(10)));
        assert_eq!(s.rate_limits.api, None);
        assert_eq!(s.rate_limits.trusted_proxy_hops, 1);
        for (var, bad) in [
            ("GATEHOUSE_RATE_LIMIT_WRITE", "lots"),
            ("GATEHOUSE_RATE_LIMIT_BACKCHANNEL", "0/s"),
            ("GATEHOUSE_TRUSTED_PROXY_HOPS", "-1"),
        ] {
            let err = from(&[(var, bad)]).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
        }
    }
}
