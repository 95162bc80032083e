//! Router assembly, binding, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use app::state::ServerContext;
use app::{shell, App};
use axum::extract::{FromRef, MatchedPath, Request};
use axum::routing::get;
use axum::{Json, Router};
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::config::Settings;

/// The one state struct of the server; handlers extract the parts they need.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub server: Arc<ServerContext>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}. Is another process using it? Set LEPTOS_SITE_ADDR to a free address.")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot read the bound address: {0}")]
    LocalAddr(std::io::Error),
}

/// A bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
}

impl Application {
    /// Binds the listener and assembles the router. Port 0 picks a free port.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let requested = settings.leptos.site_addr;
        let listener =
            TcpListener::bind(requested).await.map_err(|source| StartupError::Bind { addr: requested, source })?;
        let addr = listener.local_addr().map_err(StartupError::LocalAddr)?;
        let state = AppState { leptos_options: settings.leptos, server: Arc::new(ServerContext::new()) };
        Ok(Self { listener, addr, router: router(state) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown_signal()).await
    }
}

/// The full router: health check, the Leptos app and its server functions,
/// static files, and request tracing.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let server_ctx = state.server.clone();
    let fallback_ctx = state.server.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .leptos_routes_with_context(&state, routes, move || leptos::context::provide_context((*server_ctx).clone()), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            move || leptos::context::provide_context((*fallback_ctx).clone()),
            shell,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "unmatched".to_owned());
            tracing::info_span!("request", method = %req.method(), route = %route)
        }))
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
