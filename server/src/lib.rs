//! The Gatehouse server: configuration, telemetry, router assembly, startup and
//! graceful shutdown. `main.rs` only calls into this library, so tests can start
//! the whole server on a free port.

pub mod api_v1;
pub mod assets;
pub mod config;
pub mod security;
pub mod sessions;
pub mod startup;
pub mod telemetry;
