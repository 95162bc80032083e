//! `/admin/identities/:id/delete`: the confirmation step before an identity
//! is deleted (the server function refuses a delete without it).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use rules::paths;

use super::{is_admin, require_admin, AdminNav};
use crate::api::admin::{admin_get_identity, AdminDeleteIdentity, IdentityDetail, IdentityRow};
use crate::components::auth::use_current_user;
use crate::components::error::ErrorMessage;
use crate::components::gate::{Gate, Loaded};
use crate::ids;

#[component]
pub fn AdminDeletePage() -> impl IntoView {
    let user = use_current_user().0;
    let params = use_params_map();
    let identity: Loaded<IdentityDetail> = Resource::new(
        move || params.read().get("id").unwrap_or_default(),
        move |id| async move {
            if is_admin(user).await {
                Some(admin_get_identity(id).await)
            } else {
                None
            }
        },
    );
    view! {
        <Title text="Delete identity" />
        {require_admin(move |_| {
            view! {
                <section class="panel">
                    <AdminNav />
                    <Gate data=identity loading="Loading the identity…" error_heading="Delete identity" let:row>
                        <ConfirmDelete row=row.row />
                    </Gate>
                </section>
            }
                .into_any()
        })}
    }
}

#[component]
fn ConfirmDelete(row: IdentityRow) -> impl IntoView {
    let action = ServerAction::<AdminDeleteIdentity>::new();
    let refused = action.value().get_untracked().and_then(Result::err);
    let back = paths::admin_identity(&row.id, None);
    view! {
        <h1>"Delete " {row.email.clone()} "?"</h1>
        <p>"The identity, its sign-in sessions and its tokens are removed at the provider. This cannot be undone."</p>
        <ActionForm action attr:class="actions" attr:data-testid=ids::ADMIN_DELETE_FORM>
            <input type="hidden" name="id" value=row.id.clone() />
            <input type="hidden" name="confirm" value="delete" />
            <button type="submit" class="button button--danger" data-testid=ids::ADMIN_DELETE_CONFIRM>
                "Yes, delete this identity"
            </button>
            <a class="button button--secondary" href=back.clone()>"Cancel"</a>
        </ActionForm>
        {refused.map(|e| view! { <ErrorMessage error=e /> })}
    }
}
