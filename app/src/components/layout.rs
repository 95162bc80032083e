//! The app shell: header with the product name and sign-in status, footer with
//! facts about the server (loaded through a server function).

use leptos::prelude::*;

use crate::api::system::{server_info, ServerStatus};
use crate::components::auth::{login_href, use_current_user, SignOutForm};
use crate::error::AppError;
use crate::{ids, PRODUCT_NAME};
use rules::paths;

#[component]
pub fn Header() -> impl IntoView {
    let user = use_current_user().0;
    let location = leptos_router::hooks::use_location();
    let signin_href = move || {
        let (path, search) = (location.pathname.get(), location.search.get());
        match search.trim_start_matches('?') {
            "" => login_href(&path),
            q => login_href(&format!("{path}?{q}")),
        }
    };
    view! {
        <header class="header">
            <a class="brand" href=paths::HOME>{PRODUCT_NAME}</a>
            <nav class="nav" aria-label="Account" data-testid=ids::SIGNIN_STATUS>
                <Transition fallback=|| view! { <span class="signin-status muted">"…"</span> }>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(Some(u)) => {
                                view! {
                                    {u.is_admin.then(|| view! {
                                        <a href=paths::ADMIN_IDENTITIES data-testid=ids::ADMIN_NAV>"Admin"</a>
                                    })}
                                    <a class="signin-status" href=paths::PROFILE data-testid=ids::SIGNED_IN_AS>
                                        {u.email.clone().unwrap_or_else(|| u.sub.clone())}
                                    </a>
                                    <SignOutForm logout_token=u.logout_token.clone() />
                                }
                                    .into_any()
                            }
                            Ok(None) => {
                                view! {
                                    <a class="button button--small" rel="external" href=signin_href data-testid=ids::SIGNIN_LINK>
                                        "Sign in"
                                    </a>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <span class="error-text">{e.to_string()}</span> }.into_any(),
                        }
                    })}
                </Transition>
            </nav>
        </header>
    }
}

/// The page footer: the product name and the server's status.
#[component]
pub fn Footer() -> impl IntoView {
    view! {
        <footer class="footer">
            <span class="footer__product">{PRODUCT_NAME}</span>
            <Suspense fallback=|| view! { <span class="muted">"Loading server status…"</span> }>
                {Suspend::new(async move { view! { <LiveServerStatus status=server_info().await /> } })}
            </Suspense>
        </footer>
    }
}

/// The server's version and uptime as rendered on the server, with a refresh
/// button once the bundle runs. An island; it is the last one of every page,
/// so it also marks the page as hydrated (`data-hydrated="true"` on `<body>`)
/// once every island before it has.
///
/// Islands take what the server loaded as props rather than loading it in a
/// `Resource`: resources are matched to their serialized data by creation
/// order, which differs between the server (outside suspense first) and the
/// browser (document order).
#[island]
fn LiveServerStatus(status: Result<ServerStatus, AppError>) -> impl IntoView {
    let refresh = Action::new(|_: &()| server_info());
    let current = move || refresh.value().get().unwrap_or_else(|| status.clone());
    // Effects only run in the browser, so the button appears once hydrated.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| {
        hydrated.set(true);
        #[cfg(feature = "hydrate")]
        {
            crate::components::time::localize_times();
            if let Some(body) = document().body() {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        }
    });

    view! {
        <span class="footer__status">
            {move || match current() {
                Ok(status) => view! {
                    <span data-testid=ids::SERVER_INFO>
                        {format!("Server v{} · up {}", status.version, status.uptime_human())}
                    </span>
                }
                    .into_any(),
                Err(e) => view! { <span class="error-text" data-testid=ids::SERVER_INFO_ERROR>{e.to_string()}</span> }
                    .into_any(),
            }}
            <Show when=move || hydrated.get()>
                <button
                    type="button"
                    class="button button--ghost button--small"
                    data-testid=ids::SERVER_INFO_REFRESH
                    disabled=move || refresh.pending().get()
                    on:click=move |_| {
                        refresh.dispatch(());
                    }
                >
                    "Refresh"
                </button>
            </Show>
        </span>
    }
}
