//! Structured logs through `tracing`. Filter with `RUST_LOG` (default: `info`).
//! Never log a token, secret or cookie value.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber. Safe to call more than once.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let _ = fmt().with_env_filter(filter).with_target(false).try_init();
}
