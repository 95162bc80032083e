//! Server-side context handed to components and server functions.

use std::sync::Arc;
use std::time::Instant;

/// Facts about the running server process and the sign-in machinery,
/// provided as Leptos context to server functions.
#[derive(Clone)]
pub struct ServerContext {
    pub started_at: Instant,
    pub bff: Arc<bff::routes::Bff>,
}

impl ServerContext {
    pub fn new(bff: Arc<bff::routes::Bff>) -> Self {
        Self { started_at: Instant::now(), bff }
    }
}
