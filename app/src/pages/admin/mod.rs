//! The admin dashboard, one module per page: `/admin/identities` (table,
//! filter, paging, create), `/admin/identities/:id` (edit, activate or
//! deactivate, end sessions), `/admin/identities/:id/delete` (confirmation)
//! and `/admin/audit`. The pages are rendered on the server and work as plain
//! links and form posts; the one island is the identity form's fields
//! (`fields`), checked as they are typed once the bundle runs. Hiding these
//! pages from non-admins is only courtesy: every server function checks.

pub mod audit;
pub mod delete;
pub mod fields;
pub mod identities;
pub mod identity;

pub use audit::AdminAuditPage;
pub use delete::AdminDeletePage;
pub use identities::AdminIdentitiesPage;
pub use identity::AdminIdentityPage;

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use rules::identity::IdentityState;
use rules::notice::Notice;
use rules::paths;

use crate::api::session::UserView;
use crate::components::auth::require_user;
use crate::components::toast::Toast;
use crate::error::AppError;
use crate::ids;

/// Renders `page` for a signed-in admin; a non-admin sees "forbidden" (HTTP 403).
fn require_admin<F>(page: F) -> impl IntoView
where
    F: Fn(UserView) -> AnyView + Clone + Send + Sync + 'static,
{
    require_user(false, move |u| if u.is_admin { page(u) } else { view! { <Forbidden /> }.into_any() })
}

#[component]
fn Forbidden() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(http::StatusCode::FORBIDDEN);
    }
    view! {
        <section class="panel panel--error" data-testid=ids::ADMIN_FORBIDDEN>
            <h1>"Forbidden"</h1>
            <p>"This page is for administrators. If you need access, ask one of them."</p>
            <p><a href=paths::HOME>"Back to the home page"</a></p>
        </section>
    }
}

/// Waits for the signed-in user; true for an onboarded admin (only then is the server asked).
async fn is_admin(user: Resource<Result<Option<UserView>, AppError>>) -> bool {
    matches!(user.await, Ok(Some(u)) if u.is_admin && !u.needs_onboarding)
}

#[component]
fn AdminNav() -> impl IntoView {
    view! {
        <nav class="subnav" aria-label="Administration">
            <A href=paths::ADMIN_IDENTITIES>"Identities"</A>
            <A href=paths::ADMIN_AUDIT>"Audit trail"</A>
        </nav>
    }
}

/// The toast after a redirect (`?notice=…`).
#[component]
fn NoticeBanner() -> impl IntoView {
    let query = use_query_map();
    move || {
        let notice = Notice::parse(query.read().get("notice").as_deref()?)?;
        let path = leptos_router::hooks::use_location().pathname.get_untracked();
        let rest: Vec<(String, String)> =
            query.get_untracked().into_iter().filter(|(k, _)| k != "notice").map(|(k, v)| (k.to_string(), v)).collect();
        let dismiss_href = href(&path, &rest);
        Some(view! { <Toast text=notice.text().to_string() testid=ids::ADMIN_NOTICE dismiss_href /> })
    }
}

/// `path` with the query `pairs` (values percent-encoded), or `path` alone without any.
fn href(path: &str, pairs: &[(String, String)]) -> String {
    let qs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", paths::encode_query_value(v))).collect();
    if qs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", qs.join("&"))
    }
}

fn badge(state: IdentityState) -> impl IntoView {
    let class = if state.is_active() { "badge badge--ok" } else { "badge badge--off" };
    view! { <span class=class data-testid=ids::ADMIN_STATE>{state.as_str()}</span> }
}
