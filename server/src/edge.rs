//! Lean middleware for the checks every request passes (security headers,
//! rate limits, the cross-site check, caching, compression policy).
//!
//! Each of them decides synchronously before the request goes on and may
//! edit the answer afterwards. `axum::middleware::from_fn` would run them as
//! async functions: per request and per layer it clones the inner service,
//! splits and rebuilds the request for its extractors and boxes two futures —
//! which, over six layers, cost the session hot path about 40 % of its
//! throughput (measured with `scripts/bench session`). Here a layer is a
//! plain `tower` service whose future is the inner one plus the edit.

use std::convert::Infallible;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;

/// One check: what happens before the request goes on, and after.
pub trait Middleware: Clone + Send + Sync + 'static {
    /// What `before` hands to `after` (often nothing).
    type Memo: Send + 'static;
    /// Looks at (and may edit) the request; `Break` answers in its place.
    fn before(&self, req: &mut Request) -> ControlFlow<Response, Self::Memo>;
    /// Edits the answer.
    fn after(&self, _memo: Self::Memo, _res: &mut Response) {}
}

/// `Router::layer(edge::layer(m))`.
pub fn layer<M: Middleware>(m: M) -> EdgeLayer<M> {
    EdgeLayer(m)
}

#[derive(Clone)]
pub struct EdgeLayer<M>(M);

impl<S, M: Middleware> tower::Layer<S> for EdgeLayer<M> {
    type Service = Edge<M, S>;
    fn layer(&self, inner: S) -> Edge<M, S> {
        Edge { m: self.0.clone(), inner }
    }
}

#[derive(Clone)]
pub struct Edge<M, S> {
    m: M,
    inner: S,
}

impl<M, S> tower::Service<Request> for Edge<M, S>
where
    M: Middleware,
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<M, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match self.m.before(&mut req) {
            ControlFlow::Continue(memo) => {
                EdgeFuture::Inner { fut: self.inner.call(req), after: Some((self.m.clone(), memo)) }
            }
            ControlFlow::Break(answer) => EdgeFuture::Answered { answer: Some(answer) },
        }
    }
}

pin_project_lite::pin_project! {
    #[project = EdgeFutureProj]
    pub enum EdgeFuture<M: Middleware, F> {
        Inner { #[pin] fut: F, after: Option<(M, M::Memo)> },
        Answered { answer: Option<Response> },
    }
}

impl<M: Middleware, F: Future<Output = Result<Response, Infallible>>> Future for EdgeFuture<M, F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            EdgeFutureProj::Inner { fut, after } => {
                let Ok(mut res) = std::task::ready!(fut.poll(cx));
                if let Some((m, memo)) = after.take() {
                    m.after(memo, &mut res);
                }
                Poll::Ready(Ok(res))
            }
            EdgeFutureProj::Answered { answer } => Poll::Ready(Ok(answer.take().unwrap_or_else(|| {
                let mut r = Response::default();
                *r.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                r
            }))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;
    use axum::response::IntoResponse as _;
    use axum::routing::get;
    use tower::ServiceExt as _;

    #[derive(Clone)]
    struct Tag;
    impl Middleware for Tag {
        type Memo = bool;
        fn before(&self, req: &mut Request) -> ControlFlow<Response, bool> {
            if req.uri().path() == "/refused" {
                return ControlFlow::Break((axum::http::StatusCode::FORBIDDEN, "no").into_response());
            }
            req.headers_mut().insert("x-seen", axum::http::HeaderValue::from_static("1"));
            ControlFlow::Continue(req.uri().path() == "/tagged")
        }
        fn after(&self, tagged: bool, res: &mut Response) {
            if tagged {
                res.headers_mut().insert("x-tag", axum::http::HeaderValue::from_static("yes"));
            }
        }
    }

    #[tokio::test]
    async fn before_can_edit_or_answer_and_after_edits_the_answer() {
        let app = axum::Router::new()
            .route("/tagged", get(|h: axum::http::HeaderMap| async move { format!("{:?}", h.get("x-seen")) }))
            .route("/refused", get(|| async { "reached" }))
            .layer(layer(Tag));
        let call = |path: &'static str| {
            app.clone().oneshot(axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap())
        };
        let r = call("/tagged").await.unwrap();
        assert_eq!(r.headers()["x-tag"], "yes");
        let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"Some(\"1\")", "the handler saw the edited request");
        let r = call("/refused").await.unwrap();
        assert_eq!(r.status(), 403, "answered before the handler");
        let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"no");
        let r = call("/missing").await.unwrap();
        assert_eq!(r.status(), 404);
        assert!(r.headers().get("x-tag").is_none());
    }
}
