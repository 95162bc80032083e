//! Server-side context handed to components and server functions.

use std::time::Instant;

/// Facts about the running server process, provided as Leptos context.
#[derive(Debug, Clone)]
pub struct ServerContext {
    pub started_at: Instant,
}

impl ServerContext {
    pub fn new() -> Self {
        Self { started_at: Instant::now() }
    }
}

impl Default for ServerContext {
    fn default() -> Self {
        Self::new()
    }
}
