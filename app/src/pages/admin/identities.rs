//! `/admin/identities`: the identity table with its filter and pages, and the
//! form that creates an identity.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use rules::paths;

use super::fields::{other_error, server_fields, IdentityFields};
use super::{badge, href, is_admin, require_admin, AdminNav, NoticeBanner};
use crate::api::admin::{admin_list_identities, AdminCreateIdentity, IdentityList};
use crate::components::auth::use_current_user;
use crate::components::error::ErrorMessage;
use crate::components::gate::{Gate, Loaded};
use crate::components::time::Ago;
use crate::ids;

#[component]
pub fn AdminIdentitiesPage() -> impl IntoView {
    let user = use_current_user().0;
    let query = use_query_map();
    let num = |v: Option<String>| v.and_then(|v| v.trim().parse::<u64>().ok());
    let list: Loaded<IdentityList> = Resource::new(
        move || {
            let q = query.read();
            let search = (q.get("q"), q.get("state"), q.get("sort"));
            (num(q.get("page")), num(q.get("per_page")), q.get("email"), search, q.get("notice"))
        },
        move |(page, per_page, email, (q, state, sort), _)| async move {
            if is_admin(user).await {
                Some(admin_list_identities(page, per_page, email, q, state, sort).await)
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
    let get = move |k: &str| query.read().get(k).unwrap_or_default();
    let per_page = move || query.read().get("per_page").unwrap_or_else(|| "25".into());
    let filtered = move || ["q", "state", "sort", "email"].iter().any(|k| !get(k).is_empty());
    // A labelled select of the filter form whose choice follows the query `key`.
    let choice = move |key: &'static str,
                       label: &'static str,
                       testid: &'static str,
                       options: &[(&'static str, &'static str)]| {
        let id = format!("filter-{key}");
        let options = options
            .iter()
            .map(|&(value, text)| view! { <option value=value selected=move || get(key) == value>{text}</option> })
            .collect_view();
        view! {
            <div class="field">
                <label for=id.clone()>{label}</label>
                <select id=id name=key data-testid=testid>{options}</select>
            </div>
        }
    };
    view! {
        <section class="panel">
            <AdminNav />
            <h1>"Identities"</h1>
            <NoticeBanner />
            <Form method="GET" action=paths::ADMIN_IDENTITIES attr:class="toolbar" attr:data-testid=ids::ADMIN_FILTER attr:role="search">
                <div class="field">
                    <label for="filter-q">"Search"</label>
                    <input id="filter-q" name="q" type="search" placeholder="Email or name" value=move || get("q") data-testid=ids::ADMIN_SEARCH />
                </div>
                {choice("state", "State", ids::ADMIN_STATE_FILTER, &[("", "All states"), ("active", "Active"), ("inactive", "Inactive")])}
                {choice("sort", "Order", ids::ADMIN_SORT, &[("", "As listed"), ("newest", "Newest first"), ("oldest", "Oldest first")])}
                <div class="field">
                    <label for="per-page">"Per page"</label>
                    <select id="per-page" name="per_page" data-testid=ids::ADMIN_PER_PAGE>
                        {["25", "50", "100"]
                            .map(|n| view! { <option value=n selected=move || per_page() == n>{n}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div class="actions">
                    <button type="submit" class="button button--secondary">"Apply"</button>
                    {move || filtered().then(|| view! { <a href=paths::ADMIN_IDENTITIES data-testid=ids::ADMIN_CLEAR>"Clear"</a> })}
                </div>
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
    for k in ["per_page", "email", "q", "state", "sort"] {
        if let Some(v) = query.get(k).filter(|v| !v.is_empty()) {
            pairs.push((k.into(), v));
        }
    }
    href(paths::ADMIN_IDENTITIES, &pairs)
}

/// "1 identity", "3 identities".
fn identities(n: u64) -> String {
    if n == 1 {
        "1 identity".into()
    } else {
        format!("{n} identities")
    }
}

/// The counts above the table.
fn summary(list: &IdentityList) -> String {
    let pages = match list.pages {
        Some(pages) => format!(" · page {} of {pages}", list.page),
        None => format!(" · page {}", list.page),
    };
    match (&list.search, list.total) {
        (Some(s), _) => {
            let more = if s.truncated { " (the first ones only: narrow the search)" } else { "" };
            format!(
                "{} of {} match{more} · {} active · {} inactive{pages}",
                s.matching,
                identities(s.scanned),
                s.active,
                s.inactive
            )
        }
        (None, Some(total)) => format!("{}{pages}", identities(total)),
        (None, None) => format!("Page {}", list.page),
    }
}

#[component]
fn IdentityTable(list: IdentityList) -> impl IntoView {
    let query = use_query_map().get_untracked();
    let summary = summary(&list);
    let prev = list.has_prev.then(|| page_href(&query, list.page - 1));
    let next = list.has_next.then(|| page_href(&query, list.page + 1));
    let empty = list.rows.is_empty();
    let searched = ["q", "state", "email"].iter().any(|k| query.get(k).is_some_and(|v| !v.is_empty()));
    view! {
        <p class="muted" data-testid=ids::ADMIN_TOTAL role="status">{summary}</p>
        {if empty {
            view! {
                <div class="empty" data-testid=ids::ADMIN_EMPTY>
                    {if list.total.is_some_and(|t| t > 0) || (list.page > 1 && !searched) {
                        // Past the last page (an old link, or rows deleted since).
                        view! {
                            <p>"Nothing on this page."</p>
                            <a href=page_href(&query, 1)>"Back to the first page"</a>
                        }
                            .into_any()
                    } else if searched {
                        view! {
                            <p>"No identities match."</p>
                            <a href=paths::ADMIN_IDENTITIES>"Clear the search"</a>
                        }
                            .into_any()
                    } else {
                        view! { <p>"No identities yet. Create the first one below."</p> }.into_any()
                    }}
                </div>
            }
                .into_any()
        } else {
            view! {
                <table class="table table--cards" data-testid=ids::ADMIN_TABLE>
                    <thead>
                        <tr><th scope="col">"Email"</th><th scope="col">"Name"</th><th scope="col">"State"</th><th scope="col">"Created"</th></tr>
                    </thead>
                    <tbody>
                        {list
                            .rows
                            .into_iter()
                            .map(|r| {
                                view! {
                                    <tr data-testid=ids::ADMIN_ROW>
                                        <td data-label="Email"><a href=paths::admin_identity(&r.id, None)>{r.email.clone()}</a></td>
                                        <td data-label="Name">{r.full_name()}</td>
                                        <td data-label="State">{badge(r.state)}</td>
                                        <td data-label="Created" class="nowrap"><Ago unix=r.created_unix /></td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            }
                .into_any()
        }}
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
