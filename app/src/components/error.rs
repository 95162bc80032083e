//! How errors are shown to the user: a calm panel with what to do next.

use leptos::prelude::*;

use crate::error::AppError;
use crate::ids;

/// Renders the errors caught by an `ErrorBoundary`. Only user-facing messages
/// reach this point; causes stay in the server log.
#[component]
pub fn ErrorPanel(errors: ArcRwSignal<Errors>) -> impl IntoView {
    let messages = move || errors.get().into_iter().map(|(_, e)| view! { <li>{e.to_string()}</li> }).collect_view();
    view! {
        <section class="panel panel--error" role="alert" data-testid=ids::ERROR_PANEL>
            <h2>"Something went wrong"</h2>
            <ul>{messages}</ul>
            <p><a href="/">"Back to the home page"</a></p>
        </section>
    }
}

/// One error, in place (for a failed load or action inside a page). When the
/// session is gone, a banner offers to sign in again and come back here.
#[component]
pub fn ErrorMessage(error: AppError) -> impl IntoView {
    if matches!(error, AppError::Unauthenticated | AppError::SessionEnded) {
        let href = crate::components::auth::login_href(&crate::components::auth::current_path());
        return view! {
            <div class="alert alert--warn actions" role="alert" data-testid=ids::SESSION_EXPIRED>
                <span data-testid=ids::ERROR_MESSAGE>{error.to_string()}</span>
                <a class="button button--small" rel="external" href=href data-testid=ids::SIGN_IN_AGAIN>"Sign in again"</a>
            </div>
        }
        .into_any();
    }
    view! {
        <p class="alert alert--error" role="alert" data-testid=ids::ERROR_MESSAGE>
            {error.to_string()}
        </p>
    }
    .into_any()
}
