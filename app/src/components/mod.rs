//! Shared building blocks of the app shell.

pub mod auth;
pub mod error;
pub mod gate;
pub mod layout;
