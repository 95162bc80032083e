//! The Gatehouse user interface: the app shell, pages and the server functions
//! they call. Compiled twice — with `ssr` into the server and with `hydrate`
//! into the browser bundle. Server-only code sits behind the `ssr` feature so
//! it can never reach the WASM build.

pub mod api;
pub mod components;
pub mod error;
pub mod format;
pub mod pages;

/// The input rules and test ids the server shares with this bundle (crate `rules`).
pub use rules::{forms, ids};
#[cfg(feature = "ssr")]
pub mod state;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, Link, Meta, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use crate::components::auth::provide_current_user;
use crate::components::error::ErrorPanel;
use crate::components::layout::{Footer, Header};
use crate::pages::admin::{AdminAuditPage, AdminDeletePage, AdminIdentitiesPage, AdminIdentityPage};
use crate::pages::{home::HomePage, not_found::NotFound, onboarding::OnboardingPage, profile::ProfilePage};

/// The product name shown in the header and page titles.
pub const PRODUCT_NAME: &str = "Gatehouse";

/// The response header through which the shell hands the server the nonce
/// of this page's inline scripts (the server turns it into the
/// Content-Security-Policy and never sends it).
pub const NONCE_HEADER: &str = "x-gatehouse-csp-nonce";

/// The HTML document rendered by the server around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>()) {
        if let Ok(value) = http::HeaderValue::from_str(&nonce) {
            response.insert_header(http::HeaderName::from_static(NONCE_HEADER), value);
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options=options.clone() islands=true />
                <HashedStylesheet options id="leptos" />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The root component: shell layout, routes and the top-level error boundary.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Title formatter=|page: String| {
            if page.is_empty() { PRODUCT_NAME.to_string() } else { format!("{page} · {PRODUCT_NAME}") }
        } />
        <Meta name="description" content="Sign-in for Rust web apps, with every token kept on the server." />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Router>
            <Shell />
        </Router>
    }
}

/// Everything inside the router: the shared signed-in user, layout and routes.
#[component]
fn Shell() -> impl IntoView {
    provide_current_user();
    view! {
            <a class="skip-link" href="#main">"Skip to content"</a>
            <div class="shell">
                <Header />
                <main class="main" id="main" tabindex="-1">
                    <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                        <Routes fallback=NotFound>
                            // In-order streaming: every page is complete without JavaScript.
                            <Route path=path!("/") view=HomePage ssr=SsrMode::InOrder />
                            // Protected pages render fully before answering, so a signed-out
                            // visitor gets a real HTTP redirect to sign in.
                            <Route path=path!("/profile") view=ProfilePage ssr=SsrMode::Async />
                            <Route path=path!("/onboarding") view=OnboardingPage ssr=SsrMode::Async />
                            <Route path=path!("/admin/identities") view=AdminIdentitiesPage ssr=SsrMode::Async />
                            <Route path=path!("/admin/identities/:id") view=AdminIdentityPage ssr=SsrMode::Async />
                            <Route path=path!("/admin/identities/:id/delete") view=AdminDeletePage ssr=SsrMode::Async />
                            <Route path=path!("/admin/audit") view=AdminAuditPage ssr=SsrMode::Async />
                        </Routes>
                    </ErrorBoundary>
                </main>
                <Footer />
            </div>
    }
}

/// Browser entry point: makes the islands on this page interactive (each
/// `#[island]` hydrates itself; everything else stays server-rendered HTML).
/// Called from the `frontend` crate so the islands' exported hydration
/// functions are linked into the bundle.
#[cfg(feature = "hydrate")]
pub fn hydrate_islands() {
    leptos::mount::hydrate_islands();
}
