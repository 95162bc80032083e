//! A destructive action that asks first: a button (or a link to a
//! confirmation page) that, once the bundle runs, opens a modal `<dialog>`
//! with the same form. Without JavaScript the button posts directly, or the
//! link leads to the server-rendered confirmation page. The browser's modal
//! dialog keeps focus inside it, closes on Escape and gives focus back.

use leptos::html::Dialog;
use leptos::prelude::*;

/// What the dialog says and does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Confirm {
    /// The dialog's heading, e.g. "Deactivate ada@example.com?".
    pub title: String,
    /// What happens, and whether it can be undone.
    pub message: String,
    /// The confirming button, e.g. "Yes, deactivate".
    pub confirm_label: String,
    /// The confirming button's test id.
    pub confirm_testid: String,
    /// Where the form posts (a server function's URL) and its hidden fields.
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// The button that opens the dialog. `href`: without JavaScript it is a link
/// to this confirmation page; otherwise a submit button of a form that posts
/// `confirm.fields` to `confirm.action` directly.
#[island]
pub fn ConfirmAction(
    label: String,
    class: String,
    testid: String,
    confirm: Confirm,
    #[prop(optional)] href: Option<String>,
) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    let (yes, no) = (NodeRef::<leptos::html::Button>::new(), NodeRef::<leptos::html::Button>::new());
    // Tab and Shift+Tab go round the dialog's two buttons: focus never leaves
    // it while it is open (the browser alone would move on to its own UI).
    let trap = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() != "Tab" {
            return;
        }
        let (Some(first), Some(last)) = (yes.get(), no.get()) else { return };
        let active = document().active_element();
        let is = |el: &leptos::web_sys::HtmlButtonElement| {
            active.as_ref().is_some_and(|a| a == el.as_ref() as &leptos::web_sys::Element)
        };
        if ev.shift_key() && is(&first) {
            ev.prevent_default();
            let _ = last.focus();
        } else if !ev.shift_key() && is(&last) {
            ev.prevent_default();
            let _ = first.focus();
        }
    };
    // Unique per page even with several dialogs of one kind (one per row):
    // the test id and the hidden fields' values (an identity's id, a
    // passkey's), as plain id characters; the same on the server and in the browser.
    let subject = confirm.fields.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join("-");
    let heading_id: String = format!("{}-{subject}-title", confirm.confirm_testid)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    let open = move |ev: leptos::ev::MouseEvent| {
        if let Some(d) = dialog.get() {
            ev.prevent_default();
            let _ = d.show_modal();
        }
    };
    let close = move |_| {
        if let Some(d) = dialog.get() {
            d.close();
        }
    };
    let hidden = |fields: &[(String, String)]| {
        fields.iter().map(|(k, v)| view! { <input type="hidden" name=k.clone() value=v.clone() /> }).collect_view()
    };
    let opener = match href {
        Some(href) => view! {
            <a class=class.clone() href=href data-testid=testid.clone() on:click=open>{label.clone()}</a>
        }
        .into_any(),
        None => view! {
            <form method="post" action=confirm.action.clone() class="inline-form">
                {hidden(&confirm.fields)}
                <button type="submit" class=class.clone() data-testid=testid.clone() on:click=open>{label.clone()}</button>
            </form>
        }
        .into_any(),
    };
    let labelled_by = heading_id.clone();
    view! {
        {opener}
        <dialog class="dialog" node_ref=dialog aria-labelledby=labelled_by on:keydown=trap>
            <h2 id=heading_id>{confirm.title.clone()}</h2>
            <p>{confirm.message.clone()}</p>
            <form method="post" action=confirm.action.clone()>
                {hidden(&confirm.fields)}
                <div class="actions">
                    <button type="submit" class="button button--danger" data-testid=confirm.confirm_testid.clone() node_ref=yes>
                        {confirm.confirm_label.clone()}
                    </button>
                    <button type="button" class="button button--secondary" on:click=close autofocus node_ref=no>
                        "Cancel"
                    </button>
                </div>
            </form>
        </dialog>
    }
    .into_any()
}
