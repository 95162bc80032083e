//! Shared building blocks of the app shell.

pub mod auth;
pub mod confirm;
pub mod error;
pub mod gate;
pub mod layout;
pub mod time;
pub mod toast;
