//! The landing page.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::ids;

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="" />
        <section class="hero">
            <h1 data-testid=ids::HOME_HEADING>"Sign-in for Rust web apps"</h1>
            <p class="lead">
                "Gatehouse signs users in with an OpenID Connect provider. The server runs the whole "
                "flow and keeps every token; your browser only holds an opaque session cookie."
            </p>
        </section>
    }
}
