//! The identity form's fields (email, first and last name, academic degree)
//! and how their errors are shown: the island the create and edit forms share.

use leptos::prelude::*;

use crate::api::admin::IdentityRow;
use crate::error::AppError;
use crate::forms::{message_for, FieldError, IdentityForm};
use crate::ids;

/// The messages for each field: the browser's own check of what is typed
/// (after hydration) first, else what the server answered.
fn field_error(
    field: &'static str,
    local: Memo<Vec<FieldError>>,
    server: impl Fn() -> Vec<FieldError> + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        message_for(&local.get(), field).or_else(|| message_for(&server(), field)).map(|m| {
            view! { <p class="field-error" role="alert" data-testid=format!("field-error-{field}")>{m}</p> }
        })
    }
}

pub(super) fn server_fields<T>(value: Option<Result<T, AppError>>) -> Vec<FieldError> {
    match value {
        Some(Err(AppError::Fields(errs))) => errs,
        _ => Vec::new(),
    }
}

pub(super) fn other_error<T>(value: Option<Result<T, AppError>>) -> Option<AppError> {
    match value {
        Some(Err(AppError::Fields(errs))) => {
            // Field messages sit next to their fields; a form-level one is shown here.
            message_for(&errs, "form").map(|m| AppError::Validation { field: "Form".into(), message: m })
        }
        Some(Err(e)) => Some(e),
        _ => None,
    }
}

/// The four trait inputs, checked as they are typed. Each carries its value
/// as the `value` attribute (the server-rendered page); after hydration the
/// signals follow what is typed. There is deliberately no `prop:value`:
/// hydration would write the signal's initial value into the input and wipe
/// what was typed before the island woke up.
#[derive(Clone, Copy)]
struct TraitInputs {
    email: RwSignal<String>,
    first: RwSignal<String>,
    last: RwSignal<String>,
    degree: RwSignal<String>,
    /// Which fields the admin has changed (only those show local errors).
    touched: RwSignal<Vec<&'static str>>,
}

impl TraitInputs {
    fn new(row: Option<&IdentityRow>) -> Self {
        let v = |s: Option<&Option<String>>| s.and_then(|s| s.clone()).unwrap_or_default();
        Self {
            email: RwSignal::new(row.map(|r| r.email.clone()).unwrap_or_default()),
            first: RwSignal::new(v(row.map(|r| &r.first_name))),
            last: RwSignal::new(v(row.map(|r| &r.last_name))),
            degree: RwSignal::new(v(row.map(|r| &r.academic_degree))),
            touched: RwSignal::new(Vec::new()),
        }
    }

    fn local_errors(self) -> Memo<Vec<FieldError>> {
        Memo::new(move |_| {
            let touched = self.touched.get();
            match IdentityForm::parse(&self.email.get(), &self.first.get(), &self.last.get(), &self.degree.get()) {
                Ok(_) => Vec::new(),
                Err(errs) => errs.into_iter().filter(|e| touched.contains(&e.field.as_str())).collect(),
            }
        })
    }

    fn view(
        self,
        local: Memo<Vec<FieldError>>,
        server: impl Fn() -> Vec<FieldError> + Clone + Send + Sync + 'static,
    ) -> impl IntoView {
        let touch = move |f: &'static str| {
            self.touched.update(|t| {
                if !t.contains(&f) {
                    t.push(f)
                }
            })
        };
        let s = server.clone();
        let s2 = server.clone();
        let s3 = server.clone();
        view! {
            <label for="email">"Email"</label>
            <input
                id="email"
                name="email"
                inputmode="email"
                autocomplete="off"
                data-testid=ids::ADMIN_EMAIL
                value=self.email.get_untracked()
                on:input=move |ev| {
                    self.email.set(event_target_value(&ev));
                    touch("email");
                }
            />
            {field_error("email", local, s)}
            <label for="first_name">"First name"</label>
            <input
                id="first_name"
                name="first_name"
                data-testid=ids::ADMIN_FIRST_NAME
                value=self.first.get_untracked()
                on:input=move |ev| {
                    self.first.set(event_target_value(&ev));
                    touch("first_name");
                }
            />
            {field_error("first_name", local, s2)}
            <label for="last_name">"Last name"</label>
            <input
                id="last_name"
                name="last_name"
                data-testid=ids::ADMIN_LAST_NAME
                value=self.last.get_untracked()
                on:input=move |ev| {
                    self.last.set(event_target_value(&ev));
                    touch("last_name");
                }
            />
            {field_error("last_name", local, s3)}
            <label for="academic_degree">"Academic degree"</label>
            <input
                id="academic_degree"
                name="academic_degree"
                placeholder="e.g. Dr."
                value=self.degree.get_untracked()
                on:input=move |ev| {
                    self.degree.set(event_target_value(&ev));
                    touch("academic_degree");
                }
            />
            {field_error("academic_degree", local, server)}
        }
    }
}

/// The identity form's inputs and submit button: an island, so the browser
/// checks each field as it is typed (and keeps the button disabled while one
/// is wrong). The server checks again on submit; its answers arrive as
/// `server_errors` after the redirect back to the form.
#[island]
pub fn IdentityFields(
    row: Option<IdentityRow>,
    server_errors: Vec<FieldError>,
    submit_label: String,
    submit_testid: String,
) -> impl IntoView {
    let inputs = TraitInputs::new(row.as_ref());
    let local = inputs.local_errors();
    view! {
        {inputs.view(local, move || server_errors.clone())}
        <button type="submit" class="button" data-testid=submit_testid disabled=move || !local.get().is_empty()>
            {submit_label}
        </button>
    }
}
