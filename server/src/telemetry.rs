//! Structured logs through `tracing`: text for people, or one JSON object a
//! line (`GATEHOUSE_LOG_FORMAT=json`) for log collectors. Filter with
//! `RUST_LOG` (default: `info`). Every line of a request carries its
//! request span (its id, method and route). Never log a token, secret or
//! cookie value (`server/tests/log_leaks.rs` checks a whole session's logs).

use tracing_subscriber::{fmt, EnvFilter};

/// How log lines are written (`GATEHOUSE_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber. Safe to call more than once (the first wins).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let _ = match format {
        LogFormat::Text => fmt().with_env_filter(filter).with_target(false).try_init(),
        LogFormat::Json => {
            fmt().json().with_env_filter(filter).with_current_span(true).with_span_list(false).try_init()
        }
    };
}
