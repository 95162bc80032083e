//! Shared building blocks of the app shell.

pub mod error;
pub mod layout;
