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

/// One error, in place (for a failed load or action inside a page).
#[component]
pub fn ErrorMessage(error: AppError) -> impl IntoView {
    view! {
        <p class="error-text" role="alert" data-testid=ids::ERROR_MESSAGE>
            {error.to_string()}
        </p>
    }
}
