//! The id of the request being served: taken from a well-formed incoming
//! `X-Request-Id` (a proxy's) or made here, shown on every log line of the
//! request (the server's request span), answered in `X-Request-Id`, and sent
//! to the provider on every call made while serving it, so one id follows a
//! sign-in through both logs.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use axum::http::HeaderValue;

/// The header, in requests, responses and calls to the provider.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: HeaderValue;
}

/// `f`, run as the serving of request `id`.
pub fn scope<F: Future>(id: HeaderValue, f: F) -> tokio::task::futures::TaskLocalFuture<HeaderValue, F> {
    CURRENT.scope(id, f)
}

/// The id of the request being served by this task, if any.
pub fn current() -> Option<HeaderValue> {
    CURRENT.try_with(HeaderValue::clone).ok()
}

/// An incoming id worth keeping: 1–64 characters of letters, digits and `-_.:`.
pub fn acceptable(id: &[u8]) -> bool {
    (1..=64).contains(&id.len()) && id.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// A new id: this process's random prefix and a counter (24 hex digits).
pub fn generate() -> HeaderValue {
    static PREFIX: LazyLock<u32> =
        LazyLock::new(|| crate::random_token().bytes().fold(0u32, |h, b| h.rotate_left(5) ^ u32::from(b)));
    static NEXT: AtomicU64 = AtomicU64::new(0);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = (u128::from(*PREFIX) << 64) | u128::from(NEXT.fetch_add(1, Ordering::Relaxed));
    let mut id = [0u8; 24];
    for (i, digit) in id.iter_mut().enumerate() {
        *digit = HEX[((n >> (4 * (23 - i))) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// `req` with the current request's id, if any.
pub fn tag(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match current() {
        Some(id) => req.header(HEADER, id),
        None => req,
    }
}

/// The same for a request built by `openidconnect`.
pub(crate) fn tag_http(req: &mut openidconnect::HttpRequest) {
    if let Some(id) = current() {
        req.headers_mut().insert(HEADER, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_ids_are_kept() {
        assert!(acceptable(b"3f2a-77c1") && acceptable(b"a.b_c:d"));
        for bad in ["", "has space", "new\nline", "<script>", &"x".repeat(65)] {
            assert!(!acceptable(bad.as_bytes()), "{bad:?}");
        }
        let (a, b) = (generate(), generate());
        assert!(acceptable(a.as_bytes()) && a.len() == 24 && a != b, "{a:?} {b:?}");
    }

    #[tokio::test]
    async fn the_id_is_known_within_its_scope_only() {
        assert!(current().is_none());
        let seen = scope(HeaderValue::from_static("req-1"), async { current() }).await;
        assert_eq!(seen, Some(HeaderValue::from_static("req-1")));
        let tagged = scope(HeaderValue::from_static("req-2"), async {
            tag(reqwest::Client::new().get("http://127.0.0.1:9/")).build().unwrap_or_else(|_| unreachable!())
        })
        .await;
        assert_eq!(tagged.headers()[HEADER], "req-2");
    }
}
