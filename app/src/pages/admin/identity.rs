//! `/admin/identities/:id`: one identity — edit its traits, activate or
//! deactivate it, end its sessions in this app, or go to delete it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use rules::paths;

use super::fields::{other_error, server_fields, IdentityFields};
use super::{badge, is_admin, require_admin, AdminNav, NoticeBanner};
use crate::api::admin::{
    admin_get_identity, AdminEndSessions, AdminSetIdentityState, AdminUpdateIdentity, IdentityRow,
};
use crate::components::auth::use_current_user;
use crate::components::error::ErrorMessage;
use crate::components::gate::{Gate, Loaded};
use crate::ids;

#[component]
pub fn AdminIdentityPage() -> impl IntoView {
    let user = use_current_user().0;
    let params = use_params_map();
    let query = use_query_map();
    let identity: Loaded<IdentityRow> = Resource::new(
        move || (params.read().get("id").unwrap_or_default(), query.read().get("notice")),
        move |(id, _)| async move {
            if is_admin(user).await {
                Some(admin_get_identity(id).await)
            } else {
                None
            }
        },
    );
    view! {
        <Title text="Identity" />
        {require_admin(move |_| {
            view! {
                <section class="panel">
                    <AdminNav />
                    <NoticeBanner />
                    <Gate data=identity loading="Loading the identity…" error_heading="Identity" let:row>
                        <EditIdentity row />
                    </Gate>
                </section>
            }
                .into_any()
        })}
    }
}

#[component]
fn EditIdentity(row: IdentityRow) -> impl IntoView {
    // Each action's refusal arrives with the redirect back here (`__err`).
    let (update, state, end) = (
        ServerAction::<AdminUpdateIdentity>::new(),
        ServerAction::<AdminSetIdentityState>::new(),
        ServerAction::<AdminEndSessions>::new(),
    );
    let (saved, switched, ended) =
        (update.value().get_untracked(), state.value().get_untracked(), end.value().get_untracked());
    let next_state = row.state.toggled();
    let switch_label = if row.state.is_active() { "Deactivate" } else { "Activate" };
    let server_errors = server_fields(saved.clone());
    let (id, id2, id3, fields_row) = (row.id.clone(), row.id.clone(), row.id.clone(), row.clone());
    view! {
        <h1>{row.email.clone()} " " {badge(row.state)}</h1>
        <p class="muted">{format!("Created {} · id {}", row.created_short(), row.id)}</p>
        <ActionForm action=update attr:class="form" attr:data-testid=ids::ADMIN_EDIT_FORM>
            <input type="hidden" name="id" value=id.clone() />
            <IdentityFields
                row=Some(fields_row.clone())
                server_errors=server_errors.clone()
                submit_label="Save changes".to_string()
                submit_testid=ids::ADMIN_SAVE.to_string()
            />
        </ActionForm>
        {other_error(saved).map(|e| view! { <ErrorMessage error=e /> })}
        <h2>"Access"</h2>
        <p class="muted">
            {if row.state.is_active() {
                "Deactivating signs this identity out everywhere and stops it from signing in."
            } else {
                "This identity cannot sign in until it is activated."
            }}
        </p>
        <div class="actions">
            <ActionForm action=state attr:class="inline-form">
                <input type="hidden" name="id" value=id2.clone() />
                <input type="hidden" name="state" value=next_state.as_str() />
                <button type="submit" class="button" data-testid=ids::ADMIN_TOGGLE_STATE>{switch_label}</button>
            </ActionForm>
            <ActionForm action=end attr:class="inline-form">
                <input type="hidden" name="id" value=id3.clone() />
                <button type="submit" class="button button--light" data-testid=ids::ADMIN_END_SESSIONS>
                    "End all sessions in this app"
                </button>
            </ActionForm>
            <a class="button button--danger" href=paths::admin_delete(&row.id) data-testid=ids::ADMIN_DELETE_LINK>
                "Delete…"
            </a>
        </div>
        {other_error(switched).map(|e| view! { <ErrorMessage error=e /> })}
        {other_error(ended).map(|e| view! { <ErrorMessage error=e /> })}
    }
}
