//! The page for any path the router does not know. Answers with HTTP 404.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::ids;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Page not found" />
        <section class="panel" data-testid=ids::NOT_FOUND>
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. Check the link, or start again from the home page."</p>
            <p><a class="button" href="/">"Go to the home page"</a></p>
        </section>
    }
}
