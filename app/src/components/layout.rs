//! The app shell: header with the product name and sign-in status, footer with
//! facts about the server (loaded through a server function).

use leptos::prelude::*;

use crate::api::system::server_info;
use crate::components::auth::{login_href, use_current_user, SignOutForm};
use crate::{ids, PRODUCT_NAME};

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
            <a class="brand" href="/">{PRODUCT_NAME}</a>
            <nav class="nav" aria-label="Account" data-testid=ids::SIGNIN_STATUS>
                <Transition fallback=|| view! { <span class="signin-status">"…"</span> }>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(Some(u)) => {
                                view! {
                                    {u.is_admin.then(|| view! {
                                        <a href="/admin/identities" data-testid=ids::ADMIN_NAV>"Admin"</a>
                                    })}
                                    <a class="signin-status" href="/profile" data-testid=ids::SIGNED_IN_AS>
                                        {u.email.clone().unwrap_or_else(|| u.sub.clone())}
                                    </a>
                                    <SignOutForm logout_token=u.logout_token.clone() />
                                }
                                    .into_any()
                            }
                            Ok(None) => {
                                view! {
                                    <a rel="external" href=signin_href data-testid=ids::SIGNIN_LINK>"Sign in"</a>
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

/// The page footer: the product name and the live server status.
#[component]
pub fn Footer() -> impl IntoView {
    view! {
        <footer class="footer">
            <span class="footer__product">{PRODUCT_NAME}</span>
            <ServerStatus />
        </footer>
    }
}

/// The server's version and uptime, with a refresh button once the bundle
/// runs. An island: the only part of the shell that runs in the browser. It
/// is the last island of every page, so it also marks the page as hydrated
/// (`data-hydrated="true"` on `<body>`) once every island before it has.
#[island]
fn ServerStatus() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let info = Resource::new(move || refresh.get(), |_| server_info());
    // Effects only run in the browser, so the button appears once hydrated.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| {
        hydrated.set(true);
        #[cfg(feature = "hydrate")]
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <span class="footer__status">
            <Transition fallback=|| view! { <span class="muted">"Loading server status…"</span> }>
                <ErrorBoundary fallback=|errors| {
                    view! {
                        <span class="error-text" data-testid=ids::SERVER_INFO_ERROR>
                            {move || {
                                errors.get().into_iter().next().map(|(_, e)| e.to_string()).unwrap_or_default()
                            }}
                        </span>
                    }
                }>
                    {move || Suspend::new(async move {
                        info.await.map(|status| {
                            view! {
                                <span data-testid=ids::SERVER_INFO>
                                    {format!("Server v{} · up {}", status.version, status.uptime_human())}
                                </span>
                            }
                        })
                    })}
                </ErrorBoundary>
            </Transition>
            <Show when=move || hydrated.get()>
                <button
                    type="button"
                    class="button button--small"
                    data-testid=ids::SERVER_INFO_REFRESH
                    on:click=move |_| refresh.update(|n| *n += 1)
                >
                    "Refresh"
                </button>
            </Show>
        </span>
    }
}
