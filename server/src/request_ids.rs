//! Every request's id ([`bff::request_id`]): kept from a well-formed
//! incoming `X-Request-Id` (a proxy's), else made here; put on the request
//! (the request span logs it on every line), answered in `X-Request-Id`, and
//! current while the request is served, so calls to the provider carry it.
//! No allocation beyond the id itself: the future is the task-local scope's.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use bff::request_id::{acceptable, generate, HEADER};

/// `Router::layer(RequestIds)`, outermost.
#[derive(Clone, Copy)]
pub struct RequestIds;

impl<S> tower::Layer<S> for RequestIds {
    type Service = WithRequestId<S>;
    fn layer(&self, inner: S) -> WithRequestId<S> {
        WithRequestId { inner }
    }
}

#[derive(Clone)]
pub struct WithRequestId<S> {
    inner: S,
}

/// The id of `req`: its own when acceptable, else a new one.
fn id_of(req: &Request) -> HeaderValue {
    match req.headers().get(HEADER) {
        Some(v) if acceptable(v.as_bytes()) => v.clone(),
        _ => generate(),
    }
}

impl<S> tower::Service<Request> for WithRequestId<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = IdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = id_of(&req);
        req.headers_mut().insert(HeaderName::from_static(HEADER), id.clone());
        IdFuture { inner: bff::request_id::scope(id.clone(), self.inner.call(req)), value: Some(id) }
    }
}

pin_project_lite::pin_project! {
    pub struct IdFuture<F> {
        #[pin]
        inner: tokio::task::futures::TaskLocalFuture<HeaderValue, F>,
        value: Option<HeaderValue>,
    }
}

impl<F, E> Future for IdFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if let Some(value) = this.value.take() {
            res.headers_mut().insert(HeaderName::from_static(HEADER), value);
        }
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;
    use tower::{Layer as _, Service as _, ServiceExt as _};

    #[tokio::test]
    async fn an_id_is_kept_or_made_answered_and_current_while_serving() {
        let svc = tower::service_fn(|req: Request| async move {
            let current = bff::request_id::current().unwrap();
            assert_eq!(req.headers()[HEADER], current, "the request carries the current id");
            Ok::<_, std::convert::Infallible>(Response::new(axum::body::Body::empty()))
        });
        let mut svc = RequestIds.layer(svc);
        let kept = axum::http::Request::builder().header(HEADER, "lb-42").body(axum::body::Body::empty()).unwrap();
        let res = svc.ready().await.unwrap().call(kept).await.unwrap();
        assert_eq!(res.headers()[HEADER], "lb-42");
        for bad in ["", "two words", "<x>"] {
            let req = axum::http::Request::builder().header(HEADER, bad).body(axum::body::Body::empty()).unwrap();
            let res = svc.ready().await.unwrap().call(req).await.unwrap();
            let id = res.headers()[HEADER].to_str().unwrap().to_string();
            assert!(id.len() == 24 && id != bad, "{bad:?} replaced by {id}");
        }
    }
}
