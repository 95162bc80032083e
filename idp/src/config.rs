//! Provider configuration: a TOML file (see `idp/README.md` and `idp/dev.toml`)
//! with environment overrides. Parsed into typed values at load; every problem
//! is reported with where it is and how to fix it.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use crate::keys::SigningAlg;

/// How a client authenticates at the token endpoint (exactly one per client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }
}

/// A registered OAuth client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub id: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default = "default_auth_method")]
    pub auth_method: AuthMethod,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Audiences (resource servers) this client may ask for: `audience` at the
    /// token endpoint (`client_credentials`) and at `/oauth2/auth`.
    #[serde(default)]
    pub audiences: Vec<String>,
}

fn default_auth_method() -> AuthMethod {
    AuthMethod::ClientSecretBasic
}
fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".into(), "refresh_token".into()]
}
fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile", "offline_access"].map(String::from).to_vec()
}

/// An identity created at startup when no identity with its email exists.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedIdentity {
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

/// Lifetimes, in seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ttls {
    pub access_token: i64,
    pub id_token: i64,
    pub refresh_token: i64,
    pub authorization_code: i64,
    pub passcode: i64,
    pub session: i64,
    pub login_request: i64,
    /// How long a passkey ceremony (its challenge) may take, from the options to the answer.
    pub passkey_challenge: i64,
}

impl Default for Ttls {
    fn default() -> Self {
        Self {
            access_token: 3600,
            id_token: 3600,
            refresh_token: 30 * 24 * 3600,
            authorization_code: 60,
            passcode: 300,
            session: 24 * 3600,
            login_request: 30 * 60,
            passkey_challenge: 300,
        }
    }
}

/// Request limits (`[rate_limits]`). Per-IP limits count requests from one
/// client IP (the socket's peer address) in a sliding `window`; the identity
/// limit counts wrong passcodes for one account across all its sign-ins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Seconds; the window of the per-IP limits.
    pub window: u64,
    /// `GET /oauth2/auth` per client IP per window.
    pub authorize_per_ip: u32,
    /// `POST /login` and `POST /login/register` per client IP per window.
    pub email_per_ip: u32,
    /// `POST /login/passcode` and `POST /login/resend` per client IP per window.
    pub passcode_per_ip: u32,
    /// The passkey ceremonies (`POST /login/passkey/*`, `POST /passkeys/*`) per client IP per window.
    pub passkey_per_ip: u32,
    /// Wrong passcodes one identity may get within `failed_passcode_window`
    /// before its passcode step is locked.
    pub failed_passcodes_per_identity: u32,
    /// Seconds; the window in which wrong passcodes of an identity are counted.
    pub failed_passcode_window: i64,
    /// Seconds; how long the first lock lasts. Each further lock within a day
    /// lasts twice as long as the one before, at most a day.
    pub lockout: i64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            window: 60,
            authorize_per_ip: 300,
            email_per_ip: 300,
            passcode_per_ip: 300,
            passkey_per_ip: 300,
            failed_passcodes_per_identity: 10,
            failed_passcode_window: 3600,
            lockout: 3600,
        }
    }
}

/// Where the provider keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A SQLite database file `idp.sqlite3` in this directory (created if missing).
    Dir(PathBuf),
    /// Nothing survives the process (tests).
    Memory,
}

/// The file format, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    issuer: Option<String>,
    data_dir: Option<String>,
    admin_audience: Option<String>,
    stats_audience: Option<String>,
    #[serde(default)]
    signing_alg: SigningAlg,
    #[serde(default)]
    dev_mode: bool,
    #[serde(default)]
    ttl: Ttls,
    #[serde(default)]
    rate_limits: RateLimits,
    #[serde(default)]
    clients: Vec<ClientConfig>,
    #[serde(default)]
    identities: Vec<SeedIdentity>,
}

/// Validated provider configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Set when the issuer is fixed by config; otherwise derived from the bound address.
    pub issuer: Option<Url>,
    pub storage: Storage,
    /// The `aud` a client-credentials token needs for the Admin API.
    pub admin_audience: String,
    /// The `aud` a client-credentials token needs for `/stats/tokens` (and
    /// all it grants: an Admin API token cannot read the stats, nor a stats
    /// token use the Admin API).
    pub stats_audience: String,
    /// The algorithm of new signing keys: `RS256` (the default, as Hydra) or
    /// `ES256` (P-256, a fraction of RSA's signing cost).
    pub signing_alg: SigningAlg,
    /// Development mode: serves the mailbox (`/mailbox`, `/mailbox/messages`)
    /// and logs passcodes. Off unless set (`dev_mode = true`, as in `dev.toml`).
    pub dev_mode: bool,
    pub ttl: Ttls,
    pub rate_limits: RateLimits,
    pub clients: Vec<ClientConfig>,
    pub identities: Vec<SeedIdentity>,
}

/// A configuration problem, with where it is and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("{what} is not valid: {hint}")]
    Invalid { what: String, hint: String },
}

pub const DEFAULT_ADMIN_AUDIENCE: &str = "admin-api";
pub const DEFAULT_STATS_AUDIENCE: &str = "provider-stats";

/// The checked-in development configuration (`idp/dev.toml`).
pub const DEV_CONFIG: &str = include_str!("../dev.toml");

/// The id of the Gatehouse web app's client in [`DEV_CONFIG`].
pub const DEV_APP_CLIENT_ID: &str = "gatehouse";

impl Config {
    /// Parses a TOML document (`origin` names it in error messages).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: origin.to_string(), message: e.message().to_string() })?;
        Self::validate(raw)
    }

    /// Reads a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// A provider with no clients and in-memory storage on `listen`.
    pub fn in_memory(listen: SocketAddr) -> Self {
        Self {
            listen,
            issuer: None,
            storage: Storage::Memory,
            admin_audience: DEFAULT_ADMIN_AUDIENCE.into(),
            stats_audience: DEFAULT_STATS_AUDIENCE.into(),
            signing_alg: SigningAlg::default(),
            dev_mode: false,
            ttl: Ttls::default(),
            rate_limits: RateLimits::default(),
            clients: Vec::new(),
            identities: Vec::new(),
        }
    }

    /// Applies `IDP_LISTEN`, `IDP_ISSUER` and `IDP_DATA_DIR` from `lookup`.
    pub fn with_env(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if let Some(v) = lookup("IDP_LISTEN").filter(|v| !v.is_empty()) {
            self.listen = parse_listen(&v, "IDP_LISTEN")?;
        }
        if let Some(v) = lookup("IDP_ISSUER").filter(|v| !v.is_empty()) {
            self.issuer = Some(parse_issuer(&v, "IDP_ISSUER")?);
        }
        if let Some(v) = lookup("IDP_DATA_DIR").filter(|v| !v.is_empty()) {
            self.storage = parse_storage(&v);
        }
        Ok(self)
    }

    pub fn client(&self, id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.id == id)
    }

    fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        let listen = parse_listen(raw.listen.as_deref().unwrap_or("127.0.0.1:3001"), "listen")?;
        let issuer = raw.issuer.as_deref().map(|s| parse_issuer(s, "issuer")).transpose()?;
        let storage = parse_storage(raw.data_dir.as_deref().unwrap_or(".data/idp"));
        let ttl = raw.ttl;
        for (name, v) in [
            ("ttl.access_token", ttl.access_token),
            ("ttl.id_token", ttl.id_token),
            ("ttl.refresh_token", ttl.refresh_token),
            ("ttl.authorization_code", ttl.authorization_code),
            ("ttl.passcode", ttl.passcode),
            ("ttl.session", ttl.session),
            ("ttl.login_request", ttl.login_request),
            ("ttl.passkey_challenge", ttl.passkey_challenge),
        ] {
            if v <= 0 {
                return Err(invalid(name, "must be a positive number of seconds"));
            }
        }
        if ttl.authorization_code > 60 {
            return Err(invalid("ttl.authorization_code", "must be at most 60 seconds"));
        }
        let rl = &raw.rate_limits;
        for (name, v) in [
            ("rate_limits.window", rl.window as i64),
            ("rate_limits.authorize_per_ip", i64::from(rl.authorize_per_ip)),
            ("rate_limits.email_per_ip", i64::from(rl.email_per_ip)),
            ("rate_limits.passcode_per_ip", i64::from(rl.passcode_per_ip)),
            ("rate_limits.passkey_per_ip", i64::from(rl.passkey_per_ip)),
            ("rate_limits.failed_passcodes_per_identity", i64::from(rl.failed_passcodes_per_identity)),
            ("rate_limits.failed_passcode_window", rl.failed_passcode_window),
            ("rate_limits.lockout", rl.lockout),
        ] {
            if v <= 0 {
                return Err(invalid(name, "must be a positive number"));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for c in &raw.clients {
            let what = |field: &str| format!("clients[{}].{field}", c.id);
            if c.id.trim().is_empty() {
                return Err(invalid("clients[].id", "must not be empty"));
            }
            if !seen.insert(c.id.clone()) {
                return Err(invalid(&what("id"), "is registered twice"));
            }
            match (c.auth_method, c.secret.as_deref()) {
                (AuthMethod::None, Some(_)) => {
                    return Err(invalid(&what("secret"), "a public client (auth_method = \"none\") has no secret"))
                }
                (AuthMethod::None, None) => {}
                (_, Some(s)) if s.len() >= 16 => {}
                _ => {
                    return Err(invalid(
                        &what("secret"),
                        "a confidential client needs a secret of at least 16 characters",
                    ))
                }
            }
            for uri in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris).chain(&c.backchannel_logout_uri) {
                let u = Url::parse(uri)
                    .map_err(|_| invalid(&what("redirect_uris"), &format!("{uri:?} is not an absolute URL")))?;
                if u.fragment().is_some() {
                    return Err(invalid(&what("redirect_uris"), &format!("{uri:?} must not contain a fragment")));
                }
            }
            for g in &c.grant_types {
                if !["authorization_code", "refresh_token", "client_credentials"].contains(&g.as_str()) {
                    return Err(invalid(
                        &what("grant_types"),
                        &format!("{g:?} is not supported (authorization_code, refresh_token, client_credentials)"),
                    ));
                }
            }
            if c.grant_types.iter().any(|g| g == "client_credentials") && c.auth_method == AuthMethod::None {
                return Err(invalid(&what("grant_types"), "client_credentials needs a confidential client"));
            }
        }
        let admin_audience = raw.admin_audience.unwrap_or_else(|| DEFAULT_ADMIN_AUDIENCE.into());
        if raw.clients.iter().any(|c| c.id == admin_audience) {
            return Err(invalid(
                "admin_audience",
                "must differ from every client id (user tokens carry their client id as audience)",
            ));
        }
        let stats_audience = raw.stats_audience.unwrap_or_else(|| DEFAULT_STATS_AUDIENCE.into());
        if raw.clients.iter().any(|c| c.id == stats_audience) {
            return Err(invalid(
                "stats_audience",
                "must differ from every client id (user tokens carry their client id as audience)",
            ));
        }
        if stats_audience == admin_audience {
            return Err(invalid(
                "stats_audience",
                "must differ from admin_audience (a stats token must not manage identities)",
            ));
        }
        Ok(Self {
            listen,
            issuer,
            storage,
            admin_audience,
            stats_audience,
            signing_alg: raw.signing_alg,
            dev_mode: raw.dev_mode,
            ttl,
            rate_limits: raw.rate_limits,
            clients: raw.clients,
            identities: raw.identities,
        })
    }
}

fn invalid(what: &str, hint: &str) -> ConfigError {
    ConfigError::Invalid { what: what.to_string(), hint: hint.to_string() }
}

fn parse_listen(v: &str, what: &str) -> Result<SocketAddr, ConfigError> {
    v.trim().parse().map_err(|_| invalid(&format!("{what} = {v:?}"), "use IP:port, e.g. 127.0.0.1:3001"))
}

fn parse_issuer(v: &str, what: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(v.trim())
        .map_err(|_| invalid(&format!("{what} = {v:?}"), "use an absolute http(s) URL, e.g. http://localhost:3001/"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(&format!("{what} = {v:?}"), "use an http(s) URL without query or fragment"));
    }
    if url.path() != "/" {
        return Err(invalid(
            &format!("{what} = {v:?}"),
            "the provider serves from the root: use scheme://host[:port]/",
        ));
    }
    Ok(url)
}

fn parse_storage(v: &str) -> Storage {
    if v == ":memory:" {
        Storage::Memory
    } else {
        Storage::Dir(PathBuf::from(v))
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_checked_in_dev_config_is_valid() {
        let cfg = Config::from_toml(include_str!("../dev.toml"), "dev.toml").unwrap();
        assert!(cfg.client("gatehouse").is_some());
        assert!(cfg.identities.iter().any(|i| i.email == "admin@example.com"));
        assert!(cfg.dev_mode, "the development config serves the mailbox");
        let stats = cfg.client("gatehouse-stats").unwrap();
        assert_eq!(stats.audiences, ["provider-stats"], "gatehouse-stats may read /stats/tokens, nothing else");
        assert_eq!(cfg.stats_audience, "provider-stats");
        assert_eq!(cfg.rate_limits, RateLimits::default());
    }

    #[test]
    fn dev_mode_is_off_and_limits_are_generous_unless_configured() {
        let cfg = Config::from_toml("", "x.toml").unwrap();
        assert!(!cfg.dev_mode);
        assert!(!Config::in_memory("127.0.0.1:0".parse().unwrap()).dev_mode);
        assert_eq!(cfg.rate_limits.authorize_per_ip, 300);
        assert_eq!(cfg.rate_limits.failed_passcodes_per_identity, 10);
        let cfg =
            Config::from_toml("dev_mode = true\n[rate_limits]\nwindow = 2\npasscode_per_ip = 5", "x.toml").unwrap();
        assert!(cfg.dev_mode);
        assert_eq!((cfg.rate_limits.window, cfg.rate_limits.passcode_per_ip), (2, 5));
        assert_eq!(cfg.rate_limits.email_per_ip, 300, "unset keys keep their defaults");
        let err = Config::from_toml("[rate_limits]\nemail_per_ip = 0", "x.toml").unwrap_err().to_string();
        assert!(err.contains("rate_limits.email_per_ip"), "{err}");
        let err = Config::from_toml("[rate_limits]\nbogus = 1", "x.toml").unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn bad_values_name_the_field() {
        let err = Config::from_toml("listen = \"nope\"", "x.toml").unwrap_err().to_string();
        assert!(err.contains("listen"), "{err}");
        let err = Config::from_toml("[[clients]]\nid = \"a\"\nsecret = \"short\"", "x.toml").unwrap_err().to_string();
        assert!(err.contains("clients[a].secret"), "{err}");
        let err = Config::from_toml("bogus = 1", "x.toml").unwrap_err().to_string();
        assert!(err.contains("x.toml") && err.contains("bogus"), "{err}");
        let err =
            Config::from_toml("admin_audience = \"x\"\nstats_audience = \"x\"", "x.toml").unwrap_err().to_string();
        assert!(err.contains("stats_audience"), "{err}");
        let cfg = Config::from_toml("stats_audience = \"metrics\"", "x.toml").unwrap();
        assert_eq!((cfg.stats_audience.as_str(), cfg.admin_audience.as_str()), ("metrics", "admin-api"));
        let err = Config::from_toml("[ttl]\nauthorization_code = 600", "x.toml").unwrap_err().to_string();
        assert!(err.contains("authorization_code"), "{err}");
    }
}
