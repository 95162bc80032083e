//! The one error type that crosses the wire between server functions and the
//! browser. It carries only what a user may see; causes are logged on the
//! server and never serialized.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// Errors a server function can return to the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in to continue.")]
    Unauthenticated,
    /// The sign-in could not be kept alive (the provider refused to refresh it); the session is gone.
    #[error("Your session ended. Please sign in again.")]
    SessionEnded,
    #[error("You do not have permission to do that.")]
    Forbidden,
    #[error("Not found.")]
    NotFound,
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// Several form fields were refused; each message belongs next to its field.
    #[error("Please correct the highlighted fields.")]
    Fields(Vec<crate::forms::FieldError>),
    #[error("Identity management is not set up on this server.")]
    NotConfigured,
    #[error("The identity provider is not responding. Please try again in a moment.")]
    Upstream,
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    /// A store the server needs (its database, its session store) is not answering.
    #[error("The service is briefly unavailable. Please try again in a moment.")]
    Unavailable,
    #[error("Could not reach the server: {0}")]
    Transport(String),
}

impl AppError {
    /// The HTTP status the server should answer with for this error.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Unauthenticated | AppError::SessionEnded => 401,
            AppError::Forbidden => 403,
            AppError::NotFound => 404,
            AppError::Validation { .. } | AppError::Fields(_) => 422,
            AppError::NotConfigured | AppError::Unavailable => 503,
            AppError::Upstream => 502,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(msg) | ServerFnErrorErr::Response(msg) => AppError::Transport(msg),
            _ => AppError::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_match_meaning() {
        assert_eq!(AppError::Unauthenticated.status_code(), 401);
        assert_eq!(AppError::Forbidden.status_code(), 403);
        assert_eq!(AppError::NotFound.status_code(), 404);
        assert_eq!(AppError::Internal.status_code(), 500);
        assert_eq!(AppError::Unavailable.status_code(), 503);
        assert_eq!(AppError::Fields(vec![]).status_code(), 422);
    }

    #[test]
    fn round_trips_as_json_without_internals() {
        let err = AppError::Validation { field: "email".into(), message: "is not valid".into() };
        let json = serde_json::to_string(&err).expect("serialize");
        let back: AppError = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, err);
        assert_eq!(back.to_string(), "email: is not valid");
    }

    #[test]
    fn framework_errors_do_not_leak_details() {
        let err = AppError::from_server_fn_error(ServerFnErrorErr::ServerError("db password wrong".into()));
        assert_eq!(err, AppError::Internal);
        assert!(!err.to_string().contains("password"));
    }
}
