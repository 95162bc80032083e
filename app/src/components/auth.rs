//! The signed-in user as shared UI state, the sign-out form, and the guard
//! that sends signed-out visitors of protected pages to sign in.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::api::session::{current_user, UserView};
use crate::components::error::ErrorMessage;
use crate::error::AppError;
use crate::ids;

pub use rules::paths::{login as login_href, onboarding as onboarding_href};

/// The current path and query, e.g. `/profile?tab=1`: from the router while
/// rendering on the server, from the address bar in an island in the browser
/// (which has no router).
pub fn current_path() -> String {
    #[cfg(feature = "hydrate")]
    {
        let location = window().location();
        format!("{}{}", location.pathname().unwrap_or_default(), location.search().unwrap_or_default())
    }
    #[cfg(not(feature = "hydrate"))]
    router_path()
}

#[cfg(not(feature = "hydrate"))]
fn router_path() -> String {
    let location = use_location();
    let (path, search) = (location.pathname.get_untracked(), location.search.get_untracked());
    match search.trim_start_matches('?') {
        "" => path,
        q => format!("{path}?{q}"),
    }
}

/// The signed-in user, loaded once per navigation and shared by the header and the pages.
#[derive(Clone, Copy)]
pub struct CurrentUser(pub Resource<Result<Option<UserView>, AppError>>);

/// Creates the shared [`CurrentUser`]; call once, inside the router.
pub fn provide_current_user() -> CurrentUser {
    let location = use_location();
    let user = CurrentUser(Resource::new(move || location.pathname.get(), |_| current_user()));
    provide_context(user);
    user
}

pub fn use_current_user() -> CurrentUser {
    use_context::<CurrentUser>().unwrap_or_else(provide_current_user)
}

/// Leaves for `href`: an HTTP redirect while rendering on the server, a full
/// page load in the browser (sign-in is not a client-side route).
pub fn leave_for(href: &str) {
    #[cfg(feature = "ssr")]
    leptos_axum::redirect(href);
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(href);
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    let _ = href;
}

/// The sign-out button: a POST with the session's logout token, so no other
/// site can sign the user out.
#[component]
pub fn SignOutForm(logout_token: String) -> impl IntoView {
    view! {
        <form method="post" action=rules::paths::LOGOUT class="signout-form">
            <input type="hidden" name="logout_token" value=logout_token />
            <button type="submit" class="button button--secondary button--small" data-testid=ids::SIGNOUT_BUTTON>
                "Sign out"
            </button>
        </form>
    }
}

/// Renders `page` for a signed-in user who finished onboarding. Anyone else
/// is sent to sign in (or to onboarding) and back here afterwards.
pub fn require_user<F>(allow_onboarding_pending: bool, page: F) -> impl IntoView
where
    F: Fn(UserView) -> AnyView + Clone + Send + Sync + 'static,
{
    let user = use_current_user().0;
    let here = current_path();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {
                let (page, here) = (page.clone(), here.clone());
                move || {
                    let (page, here) = (page.clone(), here.clone());
                    Suspend::new(async move {
                        match user.await {
                            Ok(Some(u)) if u.needs_onboarding && !allow_onboarding_pending => {
                                let href = onboarding_href(&here);
                                leave_for(&href);
                                view! {
                                    <p class="panel">
                                        <a href=href>"Finish setting up your account"</a>
                                        " to continue."
                                    </p>
                                }
                                    .into_any()
                            }
                            Ok(Some(u)) => page(u),
                            Ok(None) => {
                                let href = login_href(&here);
                                leave_for(&href);
                                view! {
                                    <p class="panel" data-testid=ids::SIGNIN_REQUIRED>
                                        "Please "
                                        <a rel="external" href=href>"sign in"</a>
                                        " to see this page."
                                    </p>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <ErrorMessage error=e /> }.into_any(),
                        }
                    })
                }
            }
        </Suspense>
    }
}
