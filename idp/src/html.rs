//! Minimal server-rendered HTML for the provider's own pages (login, passcode,
//! registration, profile, mailbox, errors). Every dynamic value is escaped.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

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

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;background:#f3f4f6;color:#111;margin:0}\
main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:10px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:.75rem 0 .25rem;font-weight:600}\
input{width:100%;padding:.55rem;border:1px solid #bbb;border-radius:6px;font:inherit;box-sizing:border-box}\
button{margin-top:1rem;width:100%;padding:.6rem;border:0;border-radius:6px;background:#1f3a5f;color:#fff;font:inherit;cursor:pointer}\
.error{background:#fdecea;color:#a4262c;padding:.6rem .8rem;border-radius:6px}.info{background:#eef4fb;padding:.6rem .8rem;border-radius:6px}\
.muted{color:#555;font-size:.9rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}\
.brand{font-weight:700;color:#1f3a5f}";

/// A complete page with `title` and `body` (already escaped HTML).
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · Local Identity</title><style>{STYLE}</style></head><body><main><p class=\"brand\">Local Identity</p>{body}</main></body></html>",
        esc(title)
    );
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    resp
}

/// An error page: what happened and what to do. Never redirects.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, title, &format!("<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>", esc(title), esc(message)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(super::esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;");
    }
}
