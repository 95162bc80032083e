//! `/profile`: who the provider says you are (ID-token claims and fresh
//! userinfo), what this app keeps (display name, first and last visit), a
//! link to the provider's self-service page, the user's sessions in this app
//! (ending any other one), and sign-out.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::session::{my_sessions, profile, userinfo, EndMySession, ProfileView, SessionView, UserView};
use crate::components::auth::{require_user, use_current_user, SignOutForm};
use crate::components::error::ErrorMessage;
use crate::components::gate::{Gate, Loaded};
use crate::error::AppError;
use crate::format::when;
use crate::ids;

#[component]
pub fn ProfilePage() -> impl IntoView {
    // Resources live at page level (never inside a Suspend, where every
    // re-render would create new ones) and load only for a signed-in user.
    // Each fetch first waits for the signed-in user, so nothing is asked of
    // the server for a visitor who is about to be redirected.
    let user = use_current_user().0;
    let ready = move || async move { matches!(user.await, Ok(Some(u)) if !u.needs_onboarding) };
    let data: Loaded<ProfileView> = Resource::new(
        || (),
        move |_| async move {
            if ready().await {
                Some(profile().await)
            } else {
                None
            }
        },
    );
    let end = ServerAction::<EndMySession>::new();
    let sessions: Loaded<Vec<SessionView>> = Resource::new(
        move || end.version().get(),
        move |_| async move {
            if ready().await {
                Some(my_sessions().await)
            } else {
                None
            }
        },
    );
    view! {
        <Title text="Your profile" />
        {require_user(false, move |u| view! { <Profile user=u data sessions end /> }.into_any())}
    }
}

/// The user's sessions in this app; any other one can be ended here.
#[component]
fn Sessions(sessions: Loaded<Vec<SessionView>>, end: ServerAction<EndMySession>) -> impl IntoView {
    view! {
        <h2>"Your sessions"</h2>
        <p class="muted">"Where you are signed in to this app. End a session you do not recognise."</p>
        <Gate data=sessions loading="Loading your sessions…" let:rows>
            <SessionTable rows end />
        </Gate>
        {end.value().get_untracked().and_then(Result::err).map(|e| view! { <ErrorMessage error=e /> })}
    }
}

#[component]
fn SessionTable(rows: Vec<SessionView>, end: ServerAction<EndMySession>) -> impl IntoView {
    view! {
        <table class="table" data-testid=ids::SESSION_LIST>
            <thead>
                <tr><th>"Device"</th><th>"Signed in"</th><th>"Last active"</th><th></th></tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|s| view! {
                        <tr data-testid=ids::SESSION_ROW>
                            <td>{s.device.clone()}</td>
                            <td>{when(s.signed_in_at)}</td>
                            <td>{when(s.last_seen_at)}</td>
                            <td>
                                {if s.current {
                                    view! { <span class="badge" data-testid=ids::SESSION_CURRENT>"This session"</span> }.into_any()
                                } else {
                                    view! {
                                        <ActionForm action=end attr:class="inline-form">
                                            <input type="hidden" name="id" value=s.id.clone() />
                                            <button type="submit" class="button button--small" data-testid=ids::SESSION_END>
                                                "End"
                                            </button>
                                        </ActionForm>
                                    }
                                        .into_any()
                                }}
                            </td>
                        </tr>
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

fn claims_table(rows: Vec<(String, String)>, testid: &'static str) -> impl IntoView {
    view! {
        <dl class="claims" data-testid=testid>
            {rows
                .into_iter()
                .map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> })
                .collect_view()}
        </dl>
    }
}

#[component]
fn Profile(
    user: UserView,
    data: Loaded<ProfileView>,
    sessions: Loaded<Vec<SessionView>>,
    end: ServerAction<EndMySession>,
) -> impl IntoView {
    view! {
        <section class="panel">
            <h1>{format!("Hello, {}", user.label())}</h1>
            <Gate data loading="Loading your profile…" let:p>
                <AppFacts p />
            </Gate>
            <Suspense fallback=|| view! { <p class="muted">"Asking the identity provider…"</p> }>
                {Suspend::new(async move { view! { <FreshClaims claims=userinfo().await /> } })}
            </Suspense>
            <Sessions sessions end />
            // A <div>, not a <p>: a <form> inside a <p> makes the browser's
            // parser close the <p> early, and hydration then finds other nodes.
            <div class="actions">
                <SignOutForm logout_token=user.logout_token.clone() />
            </div>
        </section>
    }
}

/// What this app keeps about the user, their ID token's claims, and the link
/// to the provider's own profile page.
#[component]
fn AppFacts(p: ProfileView) -> impl IntoView {
    view! {
        <h2>"In this app"</h2>
        <dl class="claims">
            <dt>"Display name"</dt>
            <dd data-testid=ids::DISPLAY_NAME>{p.display_name.clone().unwrap_or_default()}</dd>
            <dt>"Email"</dt>
            <dd>{p.email.clone().unwrap_or_default()}</dd>
            <dt>"First seen"</dt>
            <dd>{when(p.first_seen_at)}</dd>
            <dt>"Signed in"</dt>
            <dd>{when(p.signed_in_at)}</dd>
        </dl>
        <h2>"From your ID token"</h2>
        {claims_table(p.id_claims.clone(), ids::ID_CLAIMS)}
        {p.provider_profile_url.clone().map(|href| view! {
            <p>
                <a class="button button--light" rel="external" href=href data-testid=ids::PROVIDER_PROFILE_LINK>
                    "Manage your email and passkeys at the identity provider"
                </a>
            </p>
        })}
    }
}

/// What the provider's userinfo endpoint says right now: asked on every page
/// load (on the server), and again with the Refresh button once the bundle
/// runs. An island, given the first answer as a prop (see `LiveServerStatus`
/// in the layout for why islands take props instead of loading resources).
#[island]
fn FreshClaims(claims: Result<Vec<(String, String)>, AppError>) -> impl IntoView {
    let refresh = Action::new(|_: &()| userinfo());
    let pending = refresh.pending();
    let current = move || refresh.value().get().unwrap_or_else(|| claims.clone());
    // Effects only run in the browser, so the button appears once hydrated.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <div class="section-head">
            <h2>"Fresh from the identity provider"</h2>
            <Show when=move || hydrated.get()>
                <button
                    type="button"
                    class="button button--small"
                    data-testid=ids::USERINFO_REFRESH
                    on:click=move |_| {
                        refresh.dispatch(());
                    }
                    disabled=move || pending.get()
                >
                    {move || if pending.get() { "Refreshing…" } else { "Refresh" }}
                </button>
            </Show>
        </div>
        {move || match current() {
            Ok(rows) => claims_table(rows, ids::USERINFO).into_any(),
            Err(e) => view! { <ErrorMessage error=e /> }.into_any(),
        }}
    }
}
