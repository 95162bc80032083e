//! Cross-site request forgery defence for every unsafe method of the app
//! (server functions, `/logout`, onboarding, admin actions): the request must
//! show that it comes from the app's own origin.
//!
//! - `Origin` present: it must equal the public URL's origin.
//! - `Origin` absent: `Sec-Fetch-Site` must be `same-origin`.
//! - Neither: refused (every browser that runs the app sends one of them,
//!   also on a plain form post, so the no-JavaScript forms keep working).
//!
//! The app's own WASM client also sends [`CLIENT_HEADER`], which a cross-site
//! page cannot add without a CORS preflight (the app never grants one). It is
//! defence in depth: the origin check above is what decides.
//!
//! `/backchannel-logout` (server to server, signed) is exempt; `/api/v1`
//! (Bearer, no cookies) is not routed through this layer unless it reads a
//! token from a cookie.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The header the app's WASM client adds to every server-function call.
pub const CLIENT_HEADER: &str = "x-gatehouse-client";

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrfRefusal {
    #[error("Origin {0:?} is not the app's origin")]
    CrossOrigin(String),
    #[error("Sec-Fetch-Site is {0:?}, not same-origin")]
    CrossSite(String),
    #[error("the request carries neither Origin nor Sec-Fetch-Site")]
    NoProof,
}

/// The app's origin, as browsers serialize it in `Origin`.
#[derive(Debug, Clone)]
pub struct OriginCheck {
    origin: String,
}

impl OriginCheck {
    pub fn new(public_url: &url::Url) -> Self {
        Self { origin: public_url.origin().ascii_serialization() }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether `headers` prove a same-origin request.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), CsrfRefusal> {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("<not text>");
            return if origin == self.origin {
                Ok(())
            } else {
                Err(CsrfRefusal::CrossOrigin(crate::clip(origin, 100)))
            };
        }
        match headers.get("sec-fetch-site").map(|v| v.to_str().unwrap_or("<not text>")) {
            Some("same-origin") => Ok(()),
            Some(other) => Err(CsrfRefusal::CrossSite(crate::clip(other, 100))),
            None => Err(CsrfRefusal::NoProof),
        }
    }
}

/// Methods that change state (everything but GET, HEAD, OPTIONS, TRACE).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// Whether the caller wants JSON rather than a page (server-function API
/// callers, the WASM client).
pub fn wants_json(req_headers: &HeaderMap, path: &str) -> bool {
    let accept = req_headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("text/html") {
        return false;
    }
    accept.contains("json") || path.starts_with("/api/") || req_headers.contains_key(CLIENT_HEADER)
}

/// The answer to a cross-site request with an unsafe method (`None`: it
/// may go on). The back-channel logout endpoint is exempt: the provider
/// posts to it, authenticated by its signed logout token.
pub fn refuse(check: &OriginCheck, req: &Request) -> Option<Response> {
    if !is_unsafe(req.method()) || req.uri().path() == crate::backchannel::PATH {
        return None;
    }
    let why = check.check(req.headers()).err()?;
    tracing::warn!(method = %req.method(), path = ?req.uri().path(), reason = %why, "cross-site request refused");
    crate::metrics::metrics().refused(crate::metrics::Refusal::Csrf);
    Some(refusal(wants_json(req.headers(), req.uri().path())))
}

/// The same check for `/api/v1` when it also reads its token from a cookie:
/// a request that sends no `Authorization` header may be riding on that
/// cookie, so its unsafe methods must come from the app's origin.
pub fn refuse_api_cookie(check: &OriginCheck, req: &Request) -> Option<Response> {
    if !is_unsafe(req.method()) || req.headers().contains_key(header::AUTHORIZATION) {
        return None;
    }
    let why = check.check(req.headers()).err()?;
    tracing::warn!(method = %req.method(), path = ?req.uri().path(), reason = %why, "cross-site API request refused");
    crate::metrics::metrics().refused(crate::metrics::Refusal::Csrf);
    Some(refusal(true))
}

/// `403` with a JSON body for API callers and a short page for browsers.
pub fn refusal(json: bool) -> Response {
    let mut r = if json {
        (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({
                "error": "forbidden",
                "error_description": "cross-site request refused: send it from the app's own pages",
            })),
        )
            .into_response()
    } else {
        (
            StatusCode::FORBIDDEN,
            Html(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Request refused · Gatehouse</title></head>\
<body><main><h1>Request refused</h1><p>This request did not come from Gatehouse's own pages, so it was not carried out. \
Go back to the app and try again from there.</p><p><a href=\"/\">Home</a></p></main></body></html>",
            ),
        )
            .into_response()
    };
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    fn check() -> OriginCheck {
        OriginCheck::new(&url::Url::parse("https://app.example.com/").unwrap())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_apps_origin_passes() {
        assert_eq!(check().check(&headers(&[("origin", "https://app.example.com")])), Ok(()));
        assert_eq!(check().check(&headers(&[("sec-fetch-site", "same-origin")])), Ok(()));
    }

    #[test]
    fn other_origins_and_sites_are_refused() {
        for origin in [
            "http://evil.example",
            "https://app.example.com.evil.example",
            "http://app.example.com",
            "https://app.example.com:444",
            "https://sub.app.example.com",
            "null",
            "",
        ] {
            let r = check().check(&headers(&[("origin", origin), ("sec-fetch-site", "same-origin")]));
            assert!(matches!(r, Err(CsrfRefusal::CrossOrigin(_))), "{origin}: {r:?}");
        }
        for site in ["cross-site", "same-site", "none", "SAME-ORIGIN"] {
            let r = check().check(&headers(&[("sec-fetch-site", site)]));
            assert!(matches!(r, Err(CsrfRefusal::CrossSite(_))), "{site}: {r:?}");
        }
        assert_eq!(check().check(&HeaderMap::new()), Err(CsrfRefusal::NoProof));
    }

    #[test]
    fn only_unsafe_methods_are_checked() {
        assert!(!is_unsafe(&Method::GET) && !is_unsafe(&Method::HEAD) && !is_unsafe(&Method::OPTIONS));
        assert!(is_unsafe(&Method::POST) && is_unsafe(&Method::PUT) && is_unsafe(&Method::DELETE));
        assert!(is_unsafe(&Method::PATCH) && is_unsafe(&Method::from_bytes(b"PROPFIND").unwrap()));
    }

    #[test]
    fn refusal_reasons_are_clipped() {
        let long = "x".repeat(500);
        let r = check().check(&headers(&[("origin", &long)])).unwrap_err().to_string();
        assert!(r.len() < 200, "{r}");
    }
}
