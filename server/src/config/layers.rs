//! Where each setting comes from. Three layers, each over the one before:
//!
//! 1. the defaults in code;
//! 2. an optional TOML file named by `GATEHOUSE_CONFIG` (read with `figment`);
//! 3. the environment.
//!
//! In the file, a `GATEHOUSE_*` variable is a top-level key without the prefix,
//! in lower case, and `OIDC_*` / `LEPTOS_*` variables are keys of the `[oidc]`
//! and `[leptos]` tables (`OIDC_CLIENT_ID` is `client_id` under `[oidc]`). A
//! list may be a TOML array. Every key the server reads is in [`KEYS`]; any
//! other `GATEHOUSE_*` / `OIDC_*` variable or file key is reported with the
//! closest valid key, and its value is never shown.

use std::collections::BTreeMap;
use std::path::PathBuf;

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;

use super::ConfigError;

/// How a setting's value may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// As it is.
    Plain,
    /// Never: shown as `[redacted]`.
    Secret,
    /// A URL that may hold a password: shown without it.
    Url,
}

/// A setting the server reads.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Its environment variable.
    pub name: &'static str,
    pub kind: Kind,
    /// The value used when it is unset, as it would be written (`None`: no
    /// value, or one worked out at startup — see docs/configuration.md).
    pub default: Option<&'static str>,
}

const fn key(name: &'static str, default: Option<&'static str>) -> Key {
    Key { name, kind: Kind::Plain, default }
}

const fn secret(name: &'static str) -> Key {
    Key { name, kind: Kind::Secret, default: None }
}

const fn url(name: &'static str) -> Key {
    Key { name, kind: Kind::Url, default: None }
}

/// Every setting, in the order `--check-config` prints them.
pub const KEYS: &[Key] = &[
    key("LEPTOS_SITE_ADDR", Some("127.0.0.1:3000")),
    key("LEPTOS_ENV", Some("DEV")),
    key("LEPTOS_SITE_ROOT", Some("target/site")),
    key("LEPTOS_SITE_PKG_DIR", Some("pkg")),
    key("LEPTOS_OUTPUT_NAME", Some("gatehouse")),
    key("LEPTOS_RELOAD_PORT", Some("3002")),
    key("LEPTOS_HASH_FILES", None),
    key("LEPTOS_WATCH", None),
    key("GATEHOUSE_PUBLIC_URL", None),
    key("OIDC_ISSUER", None),
    key("OIDC_CLIENT_ID", None),
    secret("OIDC_CLIENT_SECRET"),
    key("OIDC_CLIENT_AUTH", Some("client_secret_basic")),
    key("OIDC_SCOPES", Some("openid email profile offline_access")),
    key("OIDC_ACCOUNT_URL", None),
    key("GATEHOUSE_IDP_ADDR", Some("127.0.0.1:3001")),
    key("GATEHOUSE_IDP_SIGNING_ALG", Some("RS256")),
    key("GATEHOUSE_DEV_PROVIDER", Some("0")),
    key("GATEHOUSE_DATA_DIR", Some(".data")),
    key("GATEHOUSE_SESSION_IDLE_MINUTES", Some("720")),
    key("GATEHOUSE_SESSION_LIFETIME_MINUTES", Some("10080")),
    key("GATEHOUSE_SESSION_CACHE_MS", Some("1000")),
    secret("GATEHOUSE_TOKEN_KEYS"),
    url("GATEHOUSE_DATABASE_URL"),
    key("GATEHOUSE_DATABASE_MAX_CONNECTIONS", Some("10")),
    url("GATEHOUSE_REDIS_URL"),
    key("GATEHOUSE_REFRESH_SKEW_SECONDS", Some("60")),
    key("GATEHOUSE_RATE_LIMIT_SIGNIN", Some("120/min")),
    key("GATEHOUSE_RATE_LIMIT_WRITE", Some("300/min")),
    key("GATEHOUSE_RATE_LIMIT_API", Some("6000/min")),
    key("GATEHOUSE_RATE_LIMIT_BACKCHANNEL", Some("600/min")),
    key("GATEHOUSE_TRUSTED_PROXY_HOPS", Some("0")),
    key("GATEHOUSE_ADMIN_EMAILS", None),
    key("GATEHOUSE_ADMIN_SUBJECTS", None),
    key("GATEHOUSE_ADMIN_CLAIM", None),
    key("GATEHOUSE_ADMIN_RECHECK_SECONDS", Some("300")),
    key("OIDC_ADMIN_API_URL", None),
    key("OIDC_ADMIN_CLIENT_ID", None),
    secret("OIDC_ADMIN_CLIENT_SECRET"),
    key("OIDC_ADMIN_CLIENT_AUTH", Some("client_secret_basic")),
    key("OIDC_ADMIN_TOKEN_URL", None),
    key("OIDC_ADMIN_AUDIENCE", None),
    key("OIDC_ADMIN_SCOPE", None),
    key("OIDC_ADMIN_TIMEOUT_SECONDS", Some("10")),
    key("GATEHOUSE_API_AUDIENCE", Some(super::DEFAULT_API_AUDIENCE)),
    key("GATEHOUSE_API_TOKEN_COOKIE", None),
    key("GATEHOUSE_SHUTDOWN_SECONDS", Some("30")),
    key("GATEHOUSE_METRICS_ADDR", Some("127.0.0.1:9464")),
    key("GATEHOUSE_LOG_FORMAT", Some("text")),
    url("GATEHOUSE_OTLP_ENDPOINT"),
    secret("GATEHOUSE_OTLP_HEADERS"),
    key("GATEHOUSE_OTLP_SERVICE_NAME", Some("gatehouse")),
];

/// The variable that names the configuration file (read from the environment only).
pub const CONFIG_VAR: &str = "GATEHOUSE_CONFIG";

/// Variables with the same prefixes that belong to the tools around the
/// server (the file variable itself, the test harness, the example client):
/// never reported as unknown.
const NOT_SETTINGS: &[&str] = &[CONFIG_VAR, "GATEHOUSE_PG_BIN", "GATEHOUSE_URL"];

/// The setting named `name`, if the server reads it.
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The prefixes of the variables this configuration is read from, each with
/// the file table that holds them ("" for the top level).
const TABLES: &[(&str, &str)] = &[("GATEHOUSE_", ""), ("OIDC_", "oidc"), ("LEPTOS_", "leptos")];

/// `OIDC_CLIENT_ID` → `oidc.client_id`; `GATEHOUSE_DATA_DIR` → `data_dir`.
pub fn file_key(name: &str) -> String {
    for (prefix, table) in TABLES {
        if let Some(rest) = name.strip_prefix(prefix) {
            let rest = rest.to_ascii_lowercase();
            return if table.is_empty() { rest } else { format!("{table}.{rest}") };
        }
    }
    name.to_ascii_lowercase()
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The configuration file, under this key.
    File {
        path: PathBuf,
        key: String,
    },
    Environment,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File { path, key } => write!(f, "{} ({key})", path.display()),
            Origin::Environment => f.write_str("environment"),
        }
    }
}

/// The configuration file and the environment, merged.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    values: BTreeMap<&'static str, (String, Origin)>,
    file: Option<PathBuf>,
    warnings: Vec<String>,
}

impl Layers {
    /// The process environment (and the file it names).
    pub fn from_env() -> Result<Self, ConfigError> {
        // A variable that is not UTF-8 cannot be one of ours (or is reported
        // by name when it has our prefix).
        let mut unreadable = Vec::new();
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| match (k.into_string(), v.into_string()) {
                (Ok(k), Ok(v)) => Some((k, v)),
                (Ok(k), Err(_)) if TABLES.iter().any(|(p, _)| k.starts_with(p)) => {
                    unreadable.push(k);
                    None
                }
                _ => None,
            })
            .collect();
        if let Some(var) = unreadable.first() {
            return Err(ConfigError::Unreadable {
                what: var.clone(),
                reason: "its value is not valid UTF-8; set it again as plain text".into(),
            });
        }
        Self::read(vars)
    }

    /// `env`, and the file its `GATEHOUSE_CONFIG` names.
    pub fn read(env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> =
            env.into_iter().filter(|(k, _)| TABLES.iter().any(|(p, _)| k.starts_with(p))).collect();
        let mut layers = Layers::default();
        let mut figment = Figment::new();
        if let Some(path) = env.get(CONFIG_VAR).map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            if let Err(e) = std::fs::File::open(&path) {
                return Err(ConfigError::Unreadable {
                    what: format!("{CONFIG_VAR}={}", path.display()),
                    reason: format!("{e}; create the file or unset {CONFIG_VAR}"),
                });
            }
            figment = figment.merge(Toml::file_exact(&path));
            layers.file = Some(path);
        }
        // The environment as the file's shape, so figment lays it over the
        // file key by key. Values stay text: `GATEHOUSE_ADMIN_SUBJECTS=0042`
        // is not a number.
        let mut from_env = Dict::new();
        for (name, value) in &env {
            // An empty variable is unset (it does not hide the file's value).
            if value.trim().is_empty() {
                continue;
            }
            if NOT_SETTINGS.contains(&name.as_str()) || name.starts_with("LEPTOS_") && find(name).is_none() {
                // The build commands set LEPTOS_* variables the server has no use for.
                continue;
            }
            if find(name).is_none() {
                layers.warnings.push(unknown(name, KEYS.iter().map(|k| k.name.to_string()), "environment variable"));
                continue;
            }
            let key = file_key(name);
            match key.split_once('.') {
                Some((table, rest)) => {
                    let Value::Dict(_, t) =
                        from_env.entry(table.to_string()).or_insert_with(|| Value::from(Dict::new()))
                    else {
                        continue;
                    };
                    t.insert(rest.to_string(), Value::from(value.clone()));
                }
                None => {
                    from_env.insert(key, Value::from(value.clone()));
                }
            }
        }
        let merged: Dict =
            figment.merge(Serialized::defaults(from_env)).extract().map_err(|e| ConfigError::Unreadable {
                what: layers
                    .file
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the environment".into()),
                reason: format!("{e}; write it as TOML (KEY = \"value\", tables [oidc] and [leptos])"),
            })?;
        let file_keys = || KEYS.iter().map(|k| file_key(k.name));
        for (top, value) in merged {
            let entries: Vec<(String, Value)> = match (&value, TABLES.iter().find(|(_, t)| *t == top)) {
                (Value::Dict(_, table), Some(_)) => {
                    table.iter().map(|(k, v)| (format!("{top}.{k}"), v.clone())).collect()
                }
                _ => vec![(top, value)],
            };
            for (key, value) in entries {
                let Some(setting) = KEYS.iter().find(|k| file_key(k.name) == key) else {
                    layers.warnings.push(unknown(&key, file_keys(), &format!("key in {}", layers.file_name())));
                    continue;
                };
                let from_env = env.contains_key(setting.name);
                let origin = match (&layers.file, from_env) {
                    (Some(path), false) => Origin::File { path: path.clone(), key: key.clone() },
                    _ => Origin::Environment,
                };
                let text = text(&value).ok_or_else(|| ConfigError::Unreadable {
                    what: origin.to_string(),
                    reason: format!(
                        "{key} must be text, a number, true/false or a list of those (it sets {})",
                        setting.name
                    ),
                })?;
                layers.values.insert(setting.name, (text, origin));
            }
        }
        Ok(layers)
    }

    /// The value of `name` from the file or the environment (`None`: unset).
    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).map(|(v, _)| v.clone())
    }

    /// Where `name`'s value came from (`None`: unset, so its default).
    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.values.get(name).map(|(_, o)| o)
    }

    /// The unknown variables and file keys, each with the closest valid one.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn file_name(&self) -> String {
        self.file.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "the configuration file".into())
    }

    /// The effective configuration, one setting a line, with where it came
    /// from; secrets never shown (`server --check-config`).
    pub fn describe(&self) -> String {
        let mut out = format!(
            "# Effective configuration: the defaults, then {}, then the environment.\n\
             # Secrets are shown as [redacted]; URLs without their passwords.\n",
            self.file
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| format!("no file ({CONFIG_VAR} unset)"))
        );
        let width = KEYS.iter().map(|k| k.name.len()).max().unwrap_or(0);
        for k in KEYS {
            let (value, origin) = match self.values.get(k.name) {
                Some((v, origin)) => (Some(shown(k, v)), origin.to_string()),
                None => (k.default.map(|d| format!("{d:?}")), "default".to_string()),
            };
            match value {
                Some(v) => out.push_str(&format!("{:<width$} = {v}  # {origin}\n", k.name)),
                None => out.push_str(&format!("{:<width$}   # unset\n", k.name)),
            }
        }
        out
    }
}

/// A value as `--check-config` shows it.
fn shown(key: &Key, value: &str) -> String {
    match key.kind {
        Kind::Plain => format!("{value:?}"),
        Kind::Secret => "[redacted]".into(),
        // Scheme, user, host, port and database only, as the logs show it.
        Kind::Url if url::Url::parse(value.trim()).is_ok() => format!("{:?}", bff::store::redacted(value.trim())),
        Kind::Url => "[redacted: not a valid URL]".into(),
    }
}

/// A file or environment value as the text the settings are parsed from.
fn text(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(_, s) => s.clone(),
        Value::Char(_, c) => c.to_string(),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => match n.to_i128() {
            Some(i) => i.to_string(),
            None => n.to_f64()?.to_string(),
        },
        Value::Empty(_, _) => String::new(),
        Value::Array(_, items) => items.iter().map(text).collect::<Option<Vec<_>>>()?.join(","),
        Value::Dict(_, _) => return None,
    })
}

/// "unknown environment variable GATEHOUSE_ADMIN_EMAIL (ignored): did you mean GATEHOUSE_ADMIN_EMAILS?"
fn unknown(name: &str, valid: impl Iterator<Item = String>, what: &str) -> String {
    let closest = valid.min_by_key(|v| distance(&name.to_ascii_lowercase(), &v.to_ascii_lowercase()));
    match closest {
        Some(c) => format!("unknown {what} {name} (ignored): did you mean {c}?"),
        None => format!("unknown {what} {name} (ignored)"),
    }
}

/// Levenshtein distance (the names are short ASCII).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn temp() -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gatehouse-config-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The file a test writes its configuration to.
    fn write(dir: &std::path::Path, text: &str) -> PathBuf {
        let path = dir.join("gatehouse.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn file_keys_follow_the_variable_names() {
        assert_eq!(file_key("OIDC_CLIENT_ID"), "oidc.client_id");
        assert_eq!(file_key("LEPTOS_SITE_ADDR"), "leptos.site_addr");
        assert_eq!(file_key("GATEHOUSE_DATA_DIR"), "data_dir");
        let mut names: Vec<_> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KEYS.len(), "each key once");
    }

    #[test]
    fn the_environment_wins_over_the_file_and_the_file_over_the_defaults() {
        let dir = temp();
        let path = write(
            &dir,
            "public_url = \"https://app.example.com/\"\nsession_idle_minutes = 30\nadmin_emails = [\"a@example.com\", \"b@example.com\"]\n\
             [oidc]\nissuer = \"https://login.example.com/\"\nclient_id = \"from-file\"\nclient_secret = \"file-secret\"\n\
             [leptos]\nsite_addr = \"127.0.0.1:4000\"\n",
        );
        let layers = Layers::read(env(&[
            (CONFIG_VAR, path.to_str().unwrap()),
            ("OIDC_CLIENT_ID", "from-env"),
            ("GATEHOUSE_ADMIN_SUBJECTS", "0042"),
        ]))
        .unwrap();
        assert_eq!(layers.get("OIDC_CLIENT_ID").as_deref(), Some("from-env"));
        assert_eq!(layers.origin("OIDC_CLIENT_ID"), Some(&Origin::Environment));
        assert_eq!(layers.get("OIDC_ISSUER").as_deref(), Some("https://login.example.com/"));
        assert_eq!(layers.origin("OIDC_ISSUER"), Some(&Origin::File { path: path.clone(), key: "oidc.issuer".into() }));
        assert_eq!(layers.get("GATEHOUSE_SESSION_IDLE_MINUTES").as_deref(), Some("30"));
        assert_eq!(layers.get("GATEHOUSE_ADMIN_EMAILS").as_deref(), Some("a@example.com,b@example.com"));
        assert_eq!(layers.get("GATEHOUSE_ADMIN_SUBJECTS").as_deref(), Some("0042"), "text stays text");
        assert_eq!(layers.get("LEPTOS_SITE_ADDR").as_deref(), Some("127.0.0.1:4000"));
        assert_eq!(layers.get("GATEHOUSE_REDIS_URL"), None);
        assert!(layers.warnings().is_empty(), "{:?}", layers.warnings());
        let settings = super::super::Settings::from_layers(&layers).unwrap();
        assert_eq!(settings.session_idle_secs, 30 * 60);
        assert_eq!(settings.oidc.as_ref().unwrap().client_id, "from-env");
        assert_eq!(settings.leptos.site_addr.port(), 4000);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn unknown_variables_and_keys_are_reported_with_the_closest_valid_one_and_never_their_value() {
        let dir = temp();
        let path = write(
            &dir,
            "admin_email = \"boss@example.com\"\n[oidc]\nclient_secrt = \"hunter2\"\n[smtp]\nhost = \"x\"\n",
        );
        let layers = Layers::read(env(&[
            (CONFIG_VAR, path.to_str().unwrap()),
            ("GATEHOUSE_ADMIN_EMAIL", "boss@example.com"),
            ("OIDC_CLIENT_SECRIT", "hunter2"),
            ("LEPTOS_BIN_DIR", "server"),
            ("GATEHOUSE_PG_BIN", "/usr/lib/postgresql/15/bin"),
        ]))
        .unwrap();
        let all = layers.warnings().join("\n");
        assert!(
            all.contains(
                "unknown environment variable GATEHOUSE_ADMIN_EMAIL (ignored): did you mean GATEHOUSE_ADMIN_EMAILS?"
            ),
            "{all}"
        );
        assert!(all.contains("OIDC_CLIENT_SECRIT (ignored): did you mean OIDC_CLIENT_SECRET?"), "{all}");
        assert!(all.contains("admin_email (ignored): did you mean admin_emails?"), "{all}");
        assert!(all.contains("oidc.client_secrt (ignored): did you mean oidc.client_secret?"), "{all}");
        assert!(all.contains("smtp (ignored)"), "{all}");
        assert!(!all.contains("hunter2") && !all.contains("boss@"), "values are never shown: {all}");
        assert!(!all.contains("LEPTOS_BIN_DIR") && !all.contains("PG_BIN"), "other tools' variables: {all}");
        assert_eq!(layers.warnings().len(), 5, "{all}");
        assert_eq!(layers.get("GATEHOUSE_ADMIN_EMAILS"), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_missing_or_broken_file_is_an_error_that_names_it() {
        let dir = temp();
        let missing = dir.join("nope.toml");
        let err = Layers::read(env(&[(CONFIG_VAR, missing.to_str().unwrap())])).unwrap_err().to_string();
        assert!(err.contains("nope.toml") && err.contains("unset GATEHOUSE_CONFIG"), "{err}");
        let broken = write(&dir, "public_url = \"https://x/\n");
        let err = Layers::read(env(&[(CONFIG_VAR, broken.to_str().unwrap())])).unwrap_err().to_string();
        assert!(err.contains("gatehouse.toml") && err.contains("TOML"), "{err}");
        let table = write(&dir, "[oidc.issuer]\nurl = \"https://x/\"\n");
        let err = Layers::read(env(&[(CONFIG_VAR, table.to_str().unwrap())])).unwrap_err().to_string();
        assert!(err.contains("oidc.issuer must be text") && err.contains("OIDC_ISSUER"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_description_shows_every_setting_and_no_secret() {
        let layers = Layers::read(env(&[
            ("OIDC_ISSUER", "https://login.example.com/"),
            ("OIDC_CLIENT_ID", "app"),
            ("OIDC_CLIENT_SECRET", "hunter2-client"),
            ("OIDC_ADMIN_CLIENT_SECRET", "hunter2-admin"),
            ("GATEHOUSE_TOKEN_KEYS", "k1:aHVudGVyMi10b2tlbi1rZXktbWF0ZXJpYWwtMzJieXQ="),
            ("GATEHOUSE_DATABASE_URL", "postgres://app:hunter2-db@db.internal:5432/gatehouse"),
            ("GATEHOUSE_REDIS_URL", "redis://:hunter2-redis@cache:6379/0"),
        ]))
        .unwrap();
        let text = layers.describe();
        for k in KEYS {
            assert!(text.contains(k.name), "{} missing:\n{text}", k.name);
        }
        assert!(!text.contains("hunter2") && !text.contains("aHVudGVy"), "{text}");
        assert!(text.contains("postgres://app@db.internal:5432/gatehouse"), "{text}");
        assert!(text.contains("OIDC_CLIENT_SECRET") && text.contains("[redacted]"), "{text}");
        assert!(text.contains("\"https://login.example.com/\"  # environment"), "{text}");
        assert!(text.contains("\"720\"  # default"), "{text}");
        // A password with an unescaped `/` or `@` is not shown either.
        for bad in ["postgres://app:hunter2/x@db/app", "postgres://app:p@ss@db/app", "not a url hunter2"] {
            let text = Layers::read(env(&[("GATEHOUSE_DATABASE_URL", bad)])).unwrap().describe();
            assert!(!text.contains("hunter2") && !text.contains("ss@db"), "{bad}: {text}");
        }
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }
}
