//! The Gatehouse server: configuration, telemetry, router assembly, startup and
//! graceful shutdown. `main.rs` only calls into this library, so tests can start
//! the whole server on a free port.

pub mod api_v1;
pub mod assets;
pub mod config;
pub mod edge;
pub mod health;
pub mod hot;
pub mod metrics;
pub mod request_ids;
pub mod security;
pub mod sessions;
pub mod startup;
pub mod telemetry;

/// mimalloc for every binary built on this library (the server, its tests and
/// benchmarks): under load, glibc's allocator (`malloc`, `free` and their
/// consolidation across threads) was a quarter of the samples of the session
/// hot path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
