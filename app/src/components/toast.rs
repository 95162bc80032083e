//! A short confirmation after an action ("Identity created."): a toast in the
//! corner that announces itself to screen readers (`role="status"`) and,
//! once the bundle runs, can be dismissed. It does not vanish on a timer, so
//! nobody has to read against the clock (WCAG 2.2.1). On a phone it sits in
//! the page's flow instead of over it (see `.toast` in `style/main.css`).

use leptos::prelude::*;

#[island]
pub fn Toast(text: String, testid: String) -> impl IntoView {
    let open = RwSignal::new(true);
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <div class="toast" role="status" hidden=move || !open.get()>
            <span data-testid=testid>{text}</span>
            <Show when=move || hydrated.get()>
                <button
                    type="button"
                    class="button button--ghost button--small"
                    data-testid="toast-dismiss"
                    on:click=move |_| {
                        open.set(false);
                        focus_main();
                    }
                >
                    "Dismiss"
                </button>
            </Show>
        </div>
    }
}

/// Gives focus to `<main>` (the dismissed toast had it), so keyboard users
/// continue from the page's content rather than from the top of the document.
fn focus_main() {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(main) =
            document().get_element_by_id("main").and_then(|m| m.dyn_into::<leptos::web_sys::HtmlElement>().ok())
        {
            let _ = main.focus();
        }
    }
}
