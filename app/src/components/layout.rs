//! The app shell: header with the product name and sign-in status, footer with
//! facts about the server (loaded through a server function).

use leptos::prelude::*;

use crate::api::system::server_info;
use crate::{ids, PRODUCT_NAME};

#[component]
pub fn Header() -> impl IntoView {
    view! {
        <header class="header">
            <a class="brand" href="/">{PRODUCT_NAME}</a>
            <nav class="nav" aria-label="Account">
                <span class="signin-status" data-testid=ids::SIGNIN_STATUS>
                    "Sign-in is not configured yet"
                </span>
            </nav>
        </header>
    }
}

#[component]
pub fn Footer() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let info = Resource::new(move || refresh.get(), |_| server_info());
    // Effects only run in the browser, so the button appears once hydrated.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <footer class="footer">
            <span class="footer__product">{PRODUCT_NAME}</span>
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
        </footer>
    }
}
