//! Prometheus metrics: every request counted by method, route pattern and
//! status with its latency ([`RequestMetrics`]), and `GET /metrics` on a
//! listener of its own (`GATEHOUSE_METRICS_ADDR`) rendering
//! [`bff::metrics`] in the OpenMetrics text format. The sign-in, refresh,
//! back-channel, Admin API, key-fetch and refusal counters are kept where
//! those things happen (in `bff`).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Counts each answered request with its time to the response's headers.
#[derive(Clone)]
pub struct RequestMetrics;

impl crate::edge::Middleware for RequestMetrics {
    type Memo = (Instant, Method, Option<MatchedPath>);
    fn before(&self, req: &mut Request) -> ControlFlow<Response, Self::Memo> {
        ControlFlow::Continue((Instant::now(), req.method().clone(), req.extensions().get::<MatchedPath>().cloned()))
    }

    fn after(&self, (started, method, route): Self::Memo, res: &mut Response) {
        const UNMATCHED: &str = "unmatched";
        let route = route.as_ref().map_or(UNMATCHED, |r| r.as_str());
        bff::metrics::metrics().request(method.as_str(), route, res.status().as_u16(), started.elapsed().as_secs_f64());
    }
}

/// `GET /metrics` (the only route of the metrics listener).
pub fn router(bff: Arc<bff::routes::Bff>) -> Router {
    Router::new().route("/metrics", get(render)).with_state(bff)
}

async fn render(State(bff): State<Arc<bff::routes::Bff>>) -> Response {
    // Read at each scrape where the store can tell cheaply (not Redis).
    match tokio::time::timeout(Duration::from_secs(2), bff.active_sessions()).await {
        Ok(Ok(Some(n))) => bff::metrics::metrics().set_active_sessions(n),
        Ok(Ok(None)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: the sessions could not be counted"),
        Err(_) => tracing::warn!("metrics: counting the sessions took too long"),
    }
    let mut res = bff::metrics::metrics().render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
