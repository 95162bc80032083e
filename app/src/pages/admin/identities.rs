//! `/admin/identities`: the identity table with its filter and pages, and the
//! form that creates an identity.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use rules::paths;

use super::fields::{other_error, server_fields, IdentityFields};
use super::{badge, is_admin, require_admin, AdminNav, NoticeBanner};
use crate::api::admin::{admin_list_identities, AdminCreateIdentity, IdentityList};
use crate::components::auth::use_current_user;
use crate::components::error::ErrorMessage;
use crate::components::gate::{Gate, Loaded};
use crate::ids;

#[component]
pub fn AdminIdentitiesPage() -> impl IntoView {
    let user = use_current_user().0;
    let query = use_query_map();
    let num = |v: Option<String>| v.and_then(|v| v.trim().parse::<u64>().ok());
    let list: Loaded<IdentityList> = Resource::new(
        move || {
            let q = query.read();
            (num(q.get("page")), num(q.get("per_page")), q.get("email"), q.get("notice"))
        },
        move |(page, per_page, email, _)| async move {
            if is_admin(user).await {
                Some(admin_list_identities(page, per_page, email).await)
            } else {
                None
            }
        },
    );
    view! {
        <Title text="Identities" />
        {require_admin(move |_| view! { <Identities list /> }.into_any())}
    }
}

#[component]
fn Identities(list: Loaded<IdentityList>) -> impl IntoView {
    let query = use_query_map();
    let email = move || query.read().get("email").unwrap_or_default();
    let per_page = move || query.read().get("per_page").unwrap_or_else(|| "25".into());
    view! {
        <section class="panel">
            <AdminNav />
            <h1>"Identities"</h1>
            <NoticeBanner />
            <Form method="GET" action=paths::ADMIN_IDENTITIES attr:class="toolbar" attr:data-testid=ids::ADMIN_FILTER>
                <label for="filter-email">"Email"</label>
                <input id="filter-email" name="email" type="search" placeholder="exact email" value=email />
                <label for="per-page">"Per page"</label>
                <select id="per-page" name="per_page" data-testid=ids::ADMIN_PER_PAGE>
                    {["25", "50", "100"]
                        .map(|n| view! { <option value=n selected=move || per_page() == n>{n}</option> })
                        .collect_view()}
                </select>
                <button type="submit" class="button button--small">"Show"</button>
            </Form>
            <Gate data=list loading="Loading identities…" let:list>
                <IdentityTable list />
            </Gate>
            <CreateIdentity />
        </section>
    }
}

/// `/admin/identities?…` with `page` replaced.
fn page_href(query: &leptos_router::params::ParamsMap, page: u64) -> String {
    let mut pairs: Vec<(String, String)> = vec![("page".into(), page.to_string())];
    for k in ["per_page", "email"] {
        if let Some(v) = query.get(k).filter(|v| !v.is_empty()) {
            pairs.push((k.into(), v));
        }
    }
    let qs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", paths::encode_query_value(v))).collect();
    format!("{}?{}", paths::ADMIN_IDENTITIES, qs.join("&"))
}

#[component]
fn IdentityTable(list: IdentityList) -> impl IntoView {
    let query = use_query_map().get_untracked();
    let summary = match (list.total, list.pages) {
        (Some(total), Some(pages)) => format!("{total} identities · page {} of {pages}", list.page),
        _ => format!("Page {}", list.page),
    };
    let prev = list.has_prev.then(|| page_href(&query, list.page - 1));
    let next = list.has_next.then(|| page_href(&query, list.page + 1));
    let empty = list.rows.is_empty();
    view! {
        <p class="muted" data-testid=ids::ADMIN_TOTAL>{summary}</p>
        <table class="table" data-testid=ids::ADMIN_TABLE>
            <thead>
                <tr><th>"Email"</th><th>"Name"</th><th>"State"</th><th>"Created"</th></tr>
            </thead>
            <tbody>
                {list
                    .rows
                    .into_iter()
                    .map(|r| {
                        view! {
                            <tr data-testid=ids::ADMIN_ROW>
                                <td><a href=paths::admin_identity(&r.id, None)>{r.email.clone()}</a></td>
                                <td>{r.full_name()}</td>
                                <td>{badge(r.state)}</td>
                                <td>{r.created_short()}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        {empty.then(|| view! { <p class="muted">"No identity matches."</p> })}
        <nav class="pager" aria-label="Pages">
            {prev.map(|h| view! { <a href=h rel="prev" data-testid=ids::ADMIN_PREV>"← Previous"</a> })}
            {next.map(|h| view! { <a href=h rel="next" data-testid=ids::ADMIN_NEXT>"Next →"</a> })}
        </nav>
    }
}

#[component]
fn CreateIdentity() -> impl IntoView {
    let action = ServerAction::<AdminCreateIdentity>::new();
    let answer = action.value().get_untracked();
    let server_errors = server_fields(answer.clone());
    view! {
        <h2>"Create an identity"</h2>
        <ActionForm action attr:class="form" attr:data-testid=ids::ADMIN_CREATE_FORM>
            <IdentityFields
                row=None
                server_errors=server_errors.clone()
                submit_label="Create identity".to_string()
                submit_testid=ids::ADMIN_CREATE_SUBMIT.to_string()
            />
        </ActionForm>
        {other_error(answer).map(|e| view! { <ErrorMessage error=e /> })}
    }
}
