//! Facts about the running server: version and uptime.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the footer shows about the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub version: String,
    pub uptime_seconds: u64,
}

impl ServerStatus {
    pub fn uptime_human(&self) -> String {
        format_uptime(self.uptime_seconds)
    }
}

/// Returns the server's version and uptime.
#[server(prefix = "/api", endpoint = "server_info", client = crate::api::client::AppClient)]
pub async fn server_info() -> Result<ServerStatus, AppError> {
    let ctx = use_context::<crate::state::ServerContext>().ok_or_else(|| {
        tracing::error!("ServerContext missing from Leptos context");
        AppError::Internal
    })?;
    Ok(ServerStatus {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: ctx.started_at.elapsed().as_secs(),
    })
}

/// Formats seconds as a short human duration: `42s`, `5m 3s`, `2h 10m`, `3d 4h`.
pub fn format_uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::format_uptime;

    #[test]
    fn uptime_is_short_and_human() {
        assert_eq!(format_uptime(0), "0s");
        assert_eq!(format_uptime(59), "59s");
        assert_eq!(format_uptime(60), "1m 0s");
        assert_eq!(format_uptime(3_599), "59m 59s");
        assert_eq!(format_uptime(3_600), "1h 0m");
        assert_eq!(format_uptime(86_399), "23h 59m");
        assert_eq!(format_uptime(90_061), "1d 1h");
    }
}
