//! What can go wrong, each with what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the build settings in {}: {message}", path.display())]
    Settings { path: PathBuf, message: String },
    #[error("{step} failed ({detail}); its output is above: fix it and run again")]
    Step { step: String, detail: String },
    #[error("cannot start {program}: {source}; {hint}")]
    Spawn {
        program: String,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("wasm-bindgen could not process {}: {message}", path.display())]
    Bindgen { path: PathBuf, message: String },
    /// A message that says it all (what happened and what to do).
    #[error("{0}")]
    Plain(String),
    #[error("cannot watch for Ctrl-C: {0}")]
    Signal(String),
    #[error("cannot listen for live reload on {addr}: {source}; stop what uses the port or set LEPTOS_RELOAD_PORT")]
    ReloadPort {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}
