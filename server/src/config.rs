//! Typed server configuration, read once at startup. Every bad value fails
//! loudly with the name of the variable and how to fix it.
//!
//! Leptos settings come from the `LEPTOS_*` variables that `cargo leptos` sets
//! (see the configuration reference in `docs/configuration.md`); when the
//! binary runs on its own, the defaults below apply.

use std::net::SocketAddr;

use leptos::config::{Env, LeptosOptions};

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub leptos: LeptosOptions,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={value:?} is not valid: {hint}")]
    Invalid { var: &'static str, value: String, hint: &'static str },
}

const DEFAULT_ADDR: &str = "127.0.0.1:3000";

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment in production, a
    /// map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

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
            .env(env)
            .build();
        leptos.hash_files = get("LEPTOS_HASH_FILES").is_some_and(|v| v == "true");
        Ok(Self { leptos })
    }

    /// Settings for a server on `addr` with every other value at its default
    /// (used by tests, which bind port 0).
    pub fn for_addr(addr: SocketAddr) -> Self {
        let mut settings = Self::from_lookup(|_| None).unwrap_or_else(|_| unreachable!());
        settings.leptos.site_addr = addr;
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
    fn bad_env_and_reload_port_are_rejected() {
        assert!(from(&[("LEPTOS_ENV", "staging")]).unwrap_err().to_string().contains("LEPTOS_ENV"));
        assert!(from(&[("LEPTOS_RELOAD_PORT", "x")]).unwrap_err().to_string().contains("LEPTOS_RELOAD_PORT"));
    }

    #[test]
    fn production_is_recognised() {
        assert_eq!(from(&[("LEPTOS_ENV", "PROD")]).unwrap().leptos.env, Env::PROD);
    }
}
