//! Security headers on every response of the app, and the Content-Security-
//! Policy of its HTML pages.
//!
//! Leptos renders each page with a fresh nonce on its inline hydration script;
//! the shell hands that nonce to this layer in [`app::NONCE_HEADER`] (removed
//! here, never sent), and the policy allows exactly that script plus the
//! app's own files. Pages rendered outside Leptos (sign-in failures, refusals)
//! have no script at all and get `script-src 'none'`.

use std::ops::ControlFlow;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::response::Response;

/// What the headers depend on.
#[derive(Debug, Clone)]
pub struct HeaderPolicy {
    /// `form-action` sources: the app itself and the provider (sign-out
    /// posts to the app, which redirects to the provider's end-session endpoint).
    form_action: String,
    /// Extra `connect-src` sources (the live-reload socket of `scripts/sitebuild watch`).
    connect_extra: String,
    hsts: bool,
}

impl HeaderPolicy {
    /// `provider_origins`: where sign-out's redirects go (the issuer's and the
    /// end-session endpoint's origins, e.g. `https://login.example.com`).
    pub fn new(public_url: &url::Url, provider_origins: &[String], reload_port: Option<u32>) -> Self {
        let mut form_action = "'self'".to_string();
        let mut seen = Vec::new();
        for origin in provider_origins
            .iter()
            .filter(|o| *o != "null" && !o.contains(|c: char| c == ';' || c == ',' || c.is_whitespace()))
        {
            if !seen.contains(origin) {
                form_action.push(' ');
                form_action.push_str(origin);
                seen.push(origin.clone());
            }
        }
        let connect_extra = match reload_port {
            Some(port) => format!(" ws://127.0.0.1:{port} ws://localhost:{port}"),
            None => String::new(),
        };
        Self { form_action, connect_extra, hsts: public_url.scheme() == "https" }
    }

    /// The Content-Security-Policy of an HTML page (with the nonce of its inline script, if any).
    pub fn csp(&self, nonce: Option<&str>) -> String {
        let script = match nonce {
            Some(n) => format!("'self' 'nonce-{n}' 'wasm-unsafe-eval'"),
            None => "'none'".to_string(),
        };
        format!(
            "default-src 'self'; script-src {script}; style-src 'self'; img-src 'self' data:; font-src 'self'; \
connect-src 'self'{}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {}",
            self.connect_extra, self.form_action
        )
    }
}

/// Adds the headers to every answer (`edge::layer(policy)`).
impl crate::edge::Middleware for Arc<HeaderPolicy> {
    type Memo = ();

    fn before(&self, _req: &mut Request) -> ControlFlow<Response> {
        ControlFlow::Continue(())
    }

    fn after(&self, (): (), res: &mut Response) {
        let nonce = res.headers_mut().remove(app::NONCE_HEADER);
        let is_html = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/html"));
        let h = res.headers_mut();
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        // `same-origin`, not `no-referrer`: with `no-referrer` a browser sends
        // `Origin: null` on form posts, which the CSRF check must refuse.
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
        if self.hsts {
            h.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=63072000; includeSubDomains"),
            );
        }
        if is_html {
            let nonce = nonce.as_ref().and_then(|n| n.to_str().ok()).filter(|n| is_nonce(n));
            if let Ok(csp) = HeaderValue::from_str(&self.csp(nonce)) {
                h.insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            h.insert(
                "permissions-policy",
                HeaderValue::from_static(
                    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
                ),
            );
            h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
        }
    }
}

/// A nonce as Leptos makes them (base64url); anything else is not put in the policy.
fn is_nonce(n: &str) -> bool {
    (16..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_policy_allows_the_nonce_the_app_and_the_provider_only() {
        let p = HeaderPolicy::new(
            &url::Url::parse("http://127.0.0.1:3000/").unwrap(),
            &["http://127.0.0.1:3001".into(), "http://127.0.0.1:3001".into(), "https://logout.example.com".into()],
            None,
        );
        let csp = p.csp(Some("abcdefghijklmnopqrstuv"));
        assert!(csp.contains("script-src 'self' 'nonce-abcdefghijklmnopqrstuv' 'wasm-unsafe-eval';"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        for d in [
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self' http://127.0.0.1:3001",
        ] {
            assert!(csp.contains(d), "{d}: {csp}");
        }
        assert!(p.csp(None).contains("script-src 'none'"));
        assert!(!p.hsts);
        assert!(HeaderPolicy::new(&url::Url::parse("https://app.example.com/").unwrap(), &[], None).hsts);
    }

    #[test]
    fn only_well_formed_nonces_reach_the_policy() {
        assert!(is_nonce("AbC-_0123456789abcdef"));
        for bad in ["", "short", "has space 1234567890", "quote'1234567890123", "semi;colon12345678901"] {
            assert!(!is_nonce(bad), "{bad}");
        }
    }
}
