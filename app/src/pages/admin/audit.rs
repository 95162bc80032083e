//! `/admin/audit`: every admin action, newest first, a page at a time.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use rules::paths;

use super::{is_admin, require_admin, AdminNav};
use crate::api::admin::{admin_audit, AuditList};
use crate::components::auth::use_current_user;
use crate::components::gate::{Gate, Loaded};
use crate::components::time::Ago;
use crate::ids;

#[component]
pub fn AdminAuditPage() -> impl IntoView {
    let user = use_current_user().0;
    let query = use_query_map();
    let audit: Loaded<AuditList> = Resource::new(
        move || query.read().get("page").and_then(|p| p.parse::<u64>().ok()),
        move |page| async move {
            if is_admin(user).await {
                Some(admin_audit(page).await)
            } else {
                None
            }
        },
    );
    view! {
        <Title text="Audit trail" />
        {require_admin(move |_| {
            view! {
                <section class="panel">
                    <AdminNav />
                    <h1>"Audit trail"</h1>
                    <Gate data=audit loading="Loading…" let:list>
                        {audit_table(list)}
                    </Gate>
                </section>
            }
                .into_any()
        })}
    }
}

fn audit_table(a: AuditList) -> impl IntoView {
    let page = |n: u64| format!("{}?page={n}", paths::ADMIN_AUDIT);
    let prev = (a.page > 1).then(|| page(a.page - 1));
    let next = (a.page < a.pages).then(|| page(a.page + 1));
    if a.rows.is_empty() {
        return view! {
            <p class="muted">{format!("{} actions · page {} of {}", a.total, a.page, a.pages)}</p>
            <div class="empty" data-testid=ids::AUDIT_EMPTY>
                {if a.total == 0 {
                    view! { <p>"No admin actions yet. Every create, edit, state change, sign-out and delete will be listed here."</p> }.into_any()
                } else {
                    view! {
                        <p>"Nothing on this page."</p>
                        <a href=page(1)>"Back to the newest actions"</a>
                    }
                        .into_any()
                }}
            </div>
        }
        .into_any();
    }
    view! {
        <p class="muted">{format!("{} actions · page {} of {}", a.total, a.page, a.pages)}</p>
        <table class="table table--cards" data-testid=ids::AUDIT_TABLE>
            <thead>
                <tr><th scope="col">"When"</th><th scope="col">"Admin"</th><th scope="col">"Action"</th><th scope="col">"Identity"</th><th scope="col">"Outcome"</th></tr>
            </thead>
            <tbody>
                {a.rows
                    .into_iter()
                    .map(|r| view! {
                        <tr data-testid=ids::AUDIT_ROW>
                            <td data-label="When" class="nowrap"><Ago unix=r.at /></td>
                            <td data-label="Admin">{r.actor}</td>
                            <td data-label="Action">{r.action}</td>
                            <td data-label="Identity">{r.target}</td>
                            <td data-label="Outcome">{r.outcome}</td>
                        </tr>
                    })
                    .collect_view()}
            </tbody>
        </table>
        <nav class="pager" aria-label="Pages">
            {prev.map(|h| view! { <a href=h rel="prev">"← Newer"</a> })}
            {next.map(|h| view! { <a href=h rel="next">"Older →"</a> })}
        </nav>
    }
    .into_any()
}
