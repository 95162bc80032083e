//! The landing page: a greeting for the signed-in user, "Sign in" otherwise.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::auth::{login_href, use_current_user};
use crate::ids;

#[component]
pub fn HomePage() -> impl IntoView {
    let user = use_current_user().0;
    view! {
        <Title text="" />
        <section class="hero">
            <h1 data-testid=ids::HOME_HEADING>"Sign-in for Rust web apps"</h1>
            <p class="lead">
                "Gatehouse signs users in with an OpenID Connect provider. The server runs the whole "
                "flow and keeps every token; your browser only holds an opaque session cookie."
            </p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(u)) => view! {
                            <p class="greeting" data-testid=ids::GREETING>
                                {format!("Welcome back, {}.", u.label())}
                                " "
                                <a class="button" href=rules::paths::PROFILE>"Your profile"</a>
                            </p>
                        }
                            .into_any(),
                        _ => view! {
                            <p>
                                <a class="button" rel="external" href=login_href(rules::paths::PROFILE) data-testid=ids::HOME_SIGNIN>
                                    "Sign in or create an account"
                                </a>
                            </p>
                        }
                            .into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
