//! Minimal server-rendered HTML for the provider's own pages (login, passcode,
//! registration, profile, mailbox, errors). Every dynamic value is escaped.
//! Pages have no inline scripts and no inline styles: the stylesheet is served
//! at [`STYLESHEET_PATH`] and the one script (passkeys, on the pages that
//! offer them) at [`SCRIPT_PATH`], so the Content-Security-Policy needs no
//! `'unsafe-inline'` and no nonces. [`security_headers`] adds the headers to every page.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::Config;
use crate::Provider;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The app's design system (`style/main.css`), so the provider's pages and
/// the app look like one product; the provider's own rules sit at its end
/// under `body.idp`.
const STYLE: &str = include_str!("../../style/main.css");

/// Where the pages' stylesheet is served.
pub const STYLESHEET_PATH: &str = "/assets/idp.css";

/// The passkey script (WebAuthn calls need JavaScript); pages work without it.
const SCRIPT: &str = include_str!("passkey.js");

/// Where the passkey script is served.
pub const SCRIPT_PATH: &str = "/assets/passkey.js";

/// Marks a page that loads [`SCRIPT_PATH`]; [`security_headers`] then allows
/// that one script in its CSP and removes the marker.
const SCRIPT_MARKER: &str = "x-idp-passkey-script";

/// `GET /assets/passkey.js`
pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// A file embedded in the binary, cached for an hour.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    r
}

/// The CSP a page carries when no middleware replaces it (see [`csp_for`]).
const BASE_CSP: &str = "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; object-src 'none'; \
base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// `GET /assets/idp.css`
pub async fn stylesheet() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// A CSP source for the origin of `uri`: `scheme://host[:port]`, or `scheme:`
/// for URLs without a host-based origin (custom schemes of native apps).
fn source_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let origin = url.origin();
    let source = if origin.is_tuple() { origin.ascii_serialization() } else { format!("{}:", url.scheme()) };
    // Anything that could end the directive or the header is left out.
    source.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b',' && b != b'\'').then_some(source)
}

/// The Content-Security-Policy of the provider's pages. `form-action` allows
/// the registered clients' origins: browsers (Chromium) check it on the
/// redirect that follows a form post (passcode → client, logout → client).
pub fn csp_for(config: &Config) -> String {
    let mut sources: Vec<String> = Vec::new();
    for c in &config.clients {
        for uri in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
            if let Some(s) = source_of(uri) {
                if !sources.contains(&s) {
                    sources.push(s);
                }
            }
        }
    }
    let mut csp = BASE_CSP.to_string();
    for s in sources {
        csp.push(' ');
        csp.push_str(&s);
    }
    csp
}

/// Middleware: security headers. Every response gets `nosniff` (and HSTS
/// when the issuer is https); HTML responses also get the CSP, framing,
/// referrer, permissions and opener policies.
pub async fn security_headers(State(p): State<Provider>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if p.secure_cookies() {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    if is_html {
        // Only a page with the passkey script may run a script, and only that file.
        let csp = if h.remove(SCRIPT_MARKER).is_some() { &p.csp_with_script } else { &p.csp };
        if let Ok(v) = HeaderValue::from_str(csp) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        h.insert(
            "permissions-policy",
            HeaderValue::from_static(
                "camera=(), microphone=(), geolocation=(), payment=(), usb=(), \
publickey-credentials-create=(self), publickey-credentials-get=(self)",
            ),
        );
        h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    }
    resp
}

/// A complete page with `title` and `body` (already escaped HTML).
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let script = if body.contains("data-passkey") {
        format!("<script src=\"{SCRIPT_PATH}\" defer></script>")
    } else {
        String::new()
    };
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · Local Identity</title><link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\">{script}</head>\
<body class=\"idp\"><a class=\"skip-link\" href=\"#main\">Skip to content</a><div class=\"shell\">\
<header class=\"header\"><span class=\"brand\">Local Identity</span></header>\
<main class=\"main\" id=\"main\"><section class=\"panel\">{body}</section></main>\
<footer class=\"footer\"><span>A local, Hanko-Identity-compatible OpenID provider for development</span></footer></div></body></html>",
        esc(title)
    );
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(BASE_CSP));
    if !script.is_empty() {
        h.insert(SCRIPT_MARKER, HeaderValue::from_static("1"));
    }
    resp
}

/// An error page: what happened and what to do. Never redirects.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, title, &format!("<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>", esc(title), esc(message)))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    #[test]
    fn form_action_allows_exactly_the_client_origins() {
        let cfg = crate::Config::from_toml(
            "[[clients]]\nid = \"a\"\nauth_method = \"none\"\nredirect_uris = [\"http://127.0.0.1:3000/login\", \"com.example.app:/cb\"]\n\
post_logout_redirect_uris = [\"https://app.example:8443/out?x=1\", \"http://127.0.0.1:3000/logout\"]",
            "x.toml",
        )
        .unwrap();
        let csp = super::csp_for(&cfg);
        assert!(
            csp.ends_with("form-action 'self' http://127.0.0.1:3000 com.example.app: https://app.example:8443"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(super::esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;");
    }
}
