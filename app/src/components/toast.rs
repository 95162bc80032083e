//! A short confirmation after an action ("Identity created."): a toast in the
//! corner that announces itself to screen readers (`role="status"`). It does
//! not vanish on a timer, so nobody has to read against the clock (WCAG
//! 2.2.1); "Dismiss" is a plain link to the same page without the notice, so
//! it works with or without JavaScript and costs the bundle nothing. On a
//! phone it sits in the page's flow instead of over it (`.toast` in
//! `style/main.css`).

use leptos::prelude::*;

/// `text`, with a link that dismisses it by loading `dismiss_href`.
#[component]
pub fn Toast(text: String, testid: &'static str, dismiss_href: String) -> impl IntoView {
    view! {
        <div class="toast" role="status">
            <span data-testid=testid>{text}</span>
            <a class="button button--ghost button--small" href=dismiss_href data-testid="toast-dismiss">
                "Dismiss"
            </a>
        </div>
    }
}
