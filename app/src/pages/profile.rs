//! `/profile`: who you are first (initials, name, email and whether it is
//! verified, how and when you signed in), the provider's account page and
//! sign-out; then your sessions in this app (ending any other one); then, in
//! a collapsed "Technical details", the ID token's claims and fresh userinfo
//! with readable dates.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::session::{my_sessions, profile, userinfo, EndMySession, ProfileView, SessionView, UserView};
use crate::components::auth::{require_user, use_current_user, SignOutForm};
use crate::components::error::ErrorMessage;
use crate::components::gate::{Gate, Loaded};
use crate::components::time::Ago;
use crate::error::AppError;
use crate::format::{claim_value, initials, sign_in_method};
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
        <section class="panel" id="sessions" aria-labelledby="sessions-heading">
            <h2 id="sessions-heading">"Your sessions"</h2>
            <p class="muted">"Where you are signed in to this app. End a session you do not recognise."</p>
            <Gate data=sessions loading="Loading your sessions…" let:rows>
                <SessionList rows end />
            </Gate>
            {end.value().get_untracked().and_then(Result::err).map(|e| view! { <ErrorMessage error=e /> })}
        </section>
    }
}

#[component]
fn SessionList(rows: Vec<SessionView>, end: ServerAction<EndMySession>) -> impl IntoView {
    view! {
        <ul class="list" data-testid=ids::SESSION_LIST>
            {rows
                .into_iter()
                .map(|s| view! {
                    <li data-testid=ids::SESSION_ROW>
                        <div>
                            <strong>{s.device.clone()}</strong>
                            <div class="muted small">
                                "Signed in " <Ago unix=s.signed_in_at />
                                " · last active " <Ago unix=s.last_seen_at />
                            </div>
                        </div>
                        {if s.current {
                            view! { <span class="badge badge--ok" data-testid=ids::SESSION_CURRENT>"This session"</span> }.into_any()
                        } else {
                            view! {
                                <ActionForm action=end attr:class="inline-form">
                                    <input type="hidden" name="id" value=s.id.clone() />
                                    <button
                                        type="submit"
                                        class="button button--secondary button--small"
                                        data-testid=ids::SESSION_END
                                        aria-label=format!("End the session on {}", s.device)
                                    >
                                        "End session"
                                    </button>
                                </ActionForm>
                            }
                                .into_any()
                        }}
                    </li>
                })
                .collect_view()}
        </ul>
    }
}

/// Claims as a readable definition list (times as dates).
fn claims_list(rows: Vec<(String, String)>, testid: &'static str) -> impl IntoView {
    view! {
        <dl class="facts" data-testid=testid>
            {rows
                .into_iter()
                .map(|(k, v)| {
                    let shown = claim_value(&k, &v);
                    view! { <dt>{k}</dt><dd>{shown}</dd> }
                })
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
        <Gate data loading="Loading your profile…" let:p>
            <Overview user=user.clone() p=p.clone() />
            <Sessions sessions end />
            <TechnicalDetails p />
        </Gate>
    }
}

/// Who you are: initials, name, email and whether it is verified, how and
/// when you signed in, the provider's account page, and sign-out.
#[component]
fn Overview(user: UserView, p: ProfileView) -> impl IntoView {
    let name = p.display_name.clone().unwrap_or_else(|| user.label());
    let method = sign_in_method(&p.amr).unwrap_or("Signed in");
    let at = (!p.provider.is_empty()).then(|| format!(" at {}", p.provider));
    view! {
        <section class="panel" aria-labelledby="profile-heading">
            <div class="identity">
                <span class="avatar" aria-hidden="true">{initials(&name)}</span>
                <div class="identity__text">
                    <h1 id="profile-heading" data-testid=ids::DISPLAY_NAME>{name}</h1>
                    <p>
                        {p.email.clone().unwrap_or_default()} " "
                        {match p.email_verified {
                            Some(true) => view! { <span class="badge badge--ok">"Verified"</span> }.into_any(),
                            Some(false) => view! { <span class="badge badge--off">"Not verified"</span> }.into_any(),
                            None => ().into_any(),
                        }}
                    </p>
                    <p class="muted small" data-testid=ids::SIGN_IN_METHOD>
                        {method} {at} " " <Ago unix=p.signed_in_at />
                        " · member since " <Ago unix=p.first_seen_at />
                    </p>
                </div>
            </div>
            // A <div>, not a <p>: a <form> inside a <p> makes the browser's
            // parser close the <p> early, and hydration then finds other nodes.
            <div class="actions mt-4">
                {p.provider_profile_url.clone().map(|href| view! {
                    <a class="button button--secondary" rel="external" href=href data-testid=ids::PROVIDER_PROFILE_LINK>
                        "Manage your name and passkeys at the identity provider"
                    </a>
                })}
                <SignOutForm logout_token=user.logout_token.clone() />
            </div>
        </section>
    }
}

/// The raw material, collapsed: the ID token's claims and fresh userinfo.
#[component]
fn TechnicalDetails(p: ProfileView) -> impl IntoView {
    view! {
        <section class="panel">
            <details class="disclosure" data-testid=ids::TECHNICAL_DETAILS>
                <summary><h2 class="summary-heading">"Technical details"</h2></summary>
                <p class="muted small">
                    "What the identity provider told this app about you. The tokens themselves never leave the server."
                </p>
                <h3>"ID token claims"</h3>
                {claims_list(p.id_claims.clone(), ids::ID_CLAIMS)}
                <Suspense fallback=|| view! { <p class="muted">"Asking the identity provider…"</p> }>
                    {Suspend::new(async move { view! { <FreshClaims claims=userinfo().await /> } })}
                </Suspense>
            </details>
        </section>
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
        <div class="section-head mt-4">
            <h3>"Fresh from the identity provider (userinfo)"</h3>
            <Show when=move || hydrated.get()>
                <button
                    type="button"
                    class="button button--secondary button--small"
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
            Ok(rows) => claims_list(rows, ids::USERINFO).into_any(),
            Err(e) => view! { <ErrorMessage error=e /> }.into_any(),
        }}
    }
}
