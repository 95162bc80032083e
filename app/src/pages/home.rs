//! The landing page. A visitor learns what the product does and can sign in
//! or create an account; a signed-in user is greeted with where to go next
//! (profile, sessions, and the admin dashboard for admins).

use leptos::prelude::*;
use leptos_meta::Title;
use rules::paths;

use crate::api::session::UserView;
use crate::components::auth::{login_href, use_current_user};
use crate::ids;

#[component]
pub fn HomePage() -> impl IntoView {
    let user = use_current_user().0;
    view! {
        <Title text="" />
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) => view! { <Welcome user=u /> }.into_any(),
                    _ => view! { <Visitor /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What a visitor sees: what this is, why it is safe, and the way in.
#[component]
fn Visitor() -> impl IntoView {
    view! {
        <section class="hero" aria-labelledby="home-heading">
            <h1 id="home-heading" data-testid=ids::HOME_HEADING>"Sign-in for Rust web apps"</h1>
            <p class="lead">
                "Gatehouse signs you in with an OpenID Connect provider. The server runs the whole "
                "flow and keeps every token; your browser only holds an opaque session cookie."
            </p>
            <div class="actions">
                <a class="button" rel="external" href=login_href(paths::PROFILE) data-testid=ids::HOME_SIGNIN>
                    "Sign in or create an account"
                </a>
            </div>
        </section>
        <ul class="cards" aria-label="What you get">
            <li class="card">
                <h2>"No tokens in your browser"</h2>
                <p>"Access, refresh and ID tokens stay on the server. Nothing a script could steal reaches the page."</p>
            </li>
            <li class="card">
                <h2>"Passwordless"</h2>
                <p>"Sign in with a one-time passcode sent to your email. New here? The same step creates your account."</p>
            </li>
            <li class="card">
                <h2>"Sign out everywhere"</h2>
                <p>"See every device you are signed in on and end any session you do not recognise."</p>
            </li>
        </ul>
    }
}

/// What a signed-in user sees: a greeting and where to go next.
#[component]
fn Welcome(user: UserView) -> impl IntoView {
    let onboarding = user.needs_onboarding.then(|| {
        view! {
            <li>
                <a class="card" href=paths::onboarding(paths::HOME)>
                    <h3>"Finish setting up"</h3>
                    <p>"Choose the name this app shows for you."</p>
                </a>
            </li>
        }
    });
    let admin = user.is_admin.then(|| {
        view! {
            <li>
                <a class="card" href=paths::ADMIN_IDENTITIES data-testid=ids::HOME_ADMIN>
                    <h3>"Admin dashboard"</h3>
                    <p>"Find, create, edit and deactivate identities, and read the audit trail."</p>
                </a>
            </li>
        }
    });
    view! {
        <section class="hero" aria-labelledby="home-heading">
            <h1 id="home-heading" data-testid=ids::HOME_HEADING>"Sign-in for Rust web apps"</h1>
            <p class="lead greeting" data-testid=ids::GREETING>{format!("Welcome back, {}.", user.label())}</p>
        </section>
        <h2 class="visually-hidden">"Where to next"</h2>
        <ul class="cards">
            {onboarding}
            <li>
                <a class="card" href=paths::PROFILE data-testid=ids::HOME_PROFILE>
                    <h3>"Your profile"</h3>
                    <p>"Your name, your email and how you signed in."</p>
                </a>
            </li>
            <li>
                <a class="card" href=format!("{}#sessions", paths::PROFILE)>
                    <h3>"Your sessions"</h3>
                    <p>"Every device you are signed in on. End the ones you do not recognise."</p>
                </a>
            </li>
            {admin}
        </ul>
    }
}
