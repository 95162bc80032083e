//! `/admin/identities/:id`: one identity — edit its traits, activate or
//! deactivate it, end its sessions in this app, or go to delete it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use rules::paths;

use super::fields::{other_error, server_fields, IdentityFields};
use super::{badge, is_admin, require_admin, AdminNav, NoticeBanner};
use crate::api::admin::{
    admin_get_identity, AdminDeleteIdentity, AdminEndSessions, AdminRemovePasskey, AdminSetIdentityState,
    AdminUpdateIdentity, IdentityDetail, IdentityRow, LastUsed, PasskeyRow,
};
use crate::components::auth::use_current_user;
use crate::components::confirm::{Confirm, ConfirmAction};
use crate::components::error::ErrorMessage;
use crate::components::gate::{Gate, Loaded};
use crate::components::time::Ago;
use crate::ids;
use leptos::server_fn::ServerFn;

#[component]
pub fn AdminIdentityPage() -> impl IntoView {
    let user = use_current_user().0;
    let params = use_params_map();
    let query = use_query_map();
    let identity: Loaded<IdentityDetail> = Resource::new(
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
                        <IdentityPage detail=row />
                    </Gate>
                </section>
            }
                .into_any()
        })}
    }
}

#[component]
fn IdentityPage(detail: IdentityDetail) -> impl IntoView {
    let IdentityDetail { row, passkeys } = detail;
    let (email, id) = (row.email.clone(), row.id.clone());
    view! {
        <EditIdentity row />
        <Passkeys email id passkeys />
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
    let (id, fields_row) = (row.id.clone(), row.clone());
    let field = |k: &str, v: &str| (k.to_string(), v.to_string());
    let (message, confirm_label) = if row.state.is_active() {
        ("They are signed out everywhere and cannot sign in until an admin activates them again.", "Yes, deactivate")
    } else {
        ("They can sign in again.", "Yes, activate")
    };
    let state_confirm = Confirm {
        title: format!("{switch_label} {}?", row.email),
        message: message.into(),
        confirm_label: confirm_label.into(),
        confirm_testid: format!("{}-confirm", ids::ADMIN_TOGGLE_STATE),
        action: AdminSetIdentityState::PATH.into(),
        fields: vec![field("id", &row.id), field("state", next_state.as_str())],
    };
    let end_confirm = Confirm {
        title: format!("End every session of {}?", row.email),
        message: "They are signed out of this app on every device and must sign in again.".into(),
        confirm_label: "Yes, end all sessions".into(),
        confirm_testid: format!("{}-confirm", ids::ADMIN_END_SESSIONS),
        action: AdminEndSessions::PATH.into(),
        fields: vec![field("id", &row.id)],
    };
    let delete_confirm = Confirm {
        title: format!("Delete {}?", row.email),
        message:
            "The identity, its sign-in sessions and its tokens are removed at the provider. This cannot be undone."
                .into(),
        confirm_label: "Yes, delete this identity".into(),
        confirm_testid: ids::ADMIN_DELETE_CONFIRM.into(),
        action: AdminDeleteIdentity::PATH.into(),
        fields: vec![field("id", &row.id), field("confirm", "delete")],
    };
    let actions = view! {
        <div class="actions">
            <ConfirmAction
                label=switch_label.to_string()
                class=if row.state.is_active() { "button button--secondary" } else { "button" }.to_string()
                testid=ids::ADMIN_TOGGLE_STATE.to_string()
                confirm=state_confirm
            />
            <ConfirmAction
                label="End all sessions in this app".to_string()
                class="button button--secondary".to_string()
                testid=ids::ADMIN_END_SESSIONS.to_string()
                confirm=end_confirm
            />
            <ConfirmAction
                label="Delete…".to_string()
                class="button button--danger".to_string()
                testid=ids::ADMIN_DELETE_LINK.to_string()
                href=paths::admin_delete(&row.id)
                confirm=delete_confirm
            />
        </div>
    }
    .into_any();
    view! {
        <h1>{row.email.clone()} " " {badge(row.state)}</h1>
        <p class="muted">"Created " <Ago unix=row.created_unix /> {format!(" · id {}", row.id)}</p>
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
        {actions}
        {other_error(switched).map(|e| view! { <ErrorMessage error=e /> })}
        {other_error(ended).map(|e| view! { <ErrorMessage error=e /> })}
    }
}

/// The identity's passkeys at the provider, each removable (audited).
#[component]
fn Passkeys(email: String, id: String, passkeys: Option<Vec<PasskeyRow>>) -> impl IntoView {
    let removed = ServerAction::<AdminRemovePasskey>::new().value().get_untracked();
    let list = match passkeys {
        None => view! {
            <p class="muted">"This identity has passkeys, but the identity provider does not list them here."</p>
        }
        .into_any(),
        Some(passkeys) if passkeys.is_empty() => view! {
            <p class="muted" data-testid=ids::ADMIN_PASSKEYS_EMPTY>
                "No passkeys: this identity signs in with a passcode by email."
            </p>
        }
        .into_any(),
        Some(passkeys) => passkey_list(&email, &id, passkeys),
    };
    view! {
        <h2>"Passkeys"</h2>
        {list}
        {other_error(removed).map(|e| view! { <ErrorMessage error=e /> })}
    }
}

/// Each passkey with its dates (those the provider gives) and "Remove".
fn passkey_list(email: &str, id: &str, passkeys: Vec<PasskeyRow>) -> AnyView {
    let items = passkeys
        .into_iter()
        .map(|p| {
                let name = if p.name.trim().is_empty() { "Unnamed passkey".to_string() } else { p.name.clone() };
                let confirm = Confirm {
                    title: format!("Remove the passkey {name} of {email}?"),
                    message: "It can no longer sign in to this identity. They can still sign in with a passcode and add a new passkey.".into(),
                    confirm_label: "Yes, remove it".into(),
                    confirm_testid: format!("{}-confirm", ids::ADMIN_REMOVE_PASSKEY),
                    action: AdminRemovePasskey::PATH.into(),
                    fields: vec![("passkey".to_string(), p.id.clone()), ("id".to_string(), id.to_string())],
                };
                view! {
                    <li data-testid=ids::ADMIN_PASSKEY>
                        <div>
                            <strong>{name}</strong>
                            <p class="muted small">
                                {p.added_unix.map(|t| view! { "Added " <Ago unix=t /> })}
                                {match (p.added_unix.is_some(), p.last_used) {
                                    (_, LastUsed::Unknown) => ().into_any(),
                                    (added, LastUsed::Never) => {
                                        if added { " · never used" } else { "Never used" }.into_any()
                                    }
                                    (added, LastUsed::At(t)) => view! {
                                        {if added { " · last used " } else { "Last used " }}
                                        <Ago unix=t />
                                    }
                                    .into_any(),
                                }}
                            </p>
                        </div>
                        <ConfirmAction
                            label="Remove".to_string()
                            class="button button--danger button--small".to_string()
                            testid=ids::ADMIN_REMOVE_PASSKEY.to_string()
                            confirm=confirm
                        />
                    </li>
                }
            })
            .collect_view();
    view! { <ul class="list" data-testid=ids::ADMIN_PASSKEYS>{items}</ul> }.into_any()
}
