//! The admin dashboard: `/admin/identities` (table, filter, paging, create),
//! `/admin/identities/:id` (edit, activate/deactivate), `/admin/identities/:id/delete`
//! (confirmation) and `/admin/audit`. The pages are rendered on the server and
//! work as plain links and form posts; the one island is the identity form's
//! fields, checked as they are typed once the bundle runs. Hiding these pages
//! from non-admins is only courtesy: every server function checks.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::admin::{
    admin_audit, admin_get_identity, admin_list_identities, AdminCreateIdentity, AdminDeleteIdentity, AdminEndSessions,
    AdminSetIdentityState, AdminUpdateIdentity, AuditList, IdentityList, IdentityRow,
};
use crate::api::session::UserView;
use crate::components::auth::{require_user, use_current_user};
use crate::components::error::ErrorMessage;
use crate::error::AppError;
use crate::format::when;
use crate::forms::{message_for, FieldError, IdentityForm};
use crate::ids;

type Loaded<T> = Resource<Option<Result<T, AppError>>>;

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
            <p><a href="/">"Back to the home page"</a></p>
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
            <A href="/admin/identities">"Identities"</A>
            <A href="/admin/audit">"Audit trail"</A>
        </nav>
    }
}

/// The success banner after a redirect (`?notice=…`).
#[component]
fn Notice() -> impl IntoView {
    let query = use_query_map();
    move || {
        let text = match query.read().get("notice").as_deref() {
            Some("created") => "Identity created.",
            Some("saved") => "Changes saved.",
            Some("activated") => "Identity activated: it can sign in again.",
            Some("deactivated") => "Identity deactivated: it is signed out and cannot sign in.",
            Some("deleted") => "Identity deleted.",
            Some("sessions-ended") => "Every session of this identity in this app has ended.",
            _ => return None,
        };
        Some(view! { <p class="notice" role="status" data-testid=ids::ADMIN_NOTICE>{text}</p> })
    }
}

fn badge(active: bool) -> impl IntoView {
    let (class, text) = if active { ("badge badge--ok", "active") } else { ("badge badge--off", "inactive") };
    view! { <span class=class data-testid=ids::ADMIN_STATE>{text}</span> }
}

// ---------------------------------------------------------------- identities

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
            <Notice />
            <Form method="GET" action="/admin/identities" attr:class="toolbar" attr:data-testid=ids::ADMIN_FILTER>
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
            <Transition fallback=|| view! { <p class="muted">"Loading identities…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        None => ().into_any(),
                        Some(Err(e)) => view! { <ErrorMessage error=e /> }.into_any(),
                        Some(Ok(l)) => view! { <IdentityTable list=l /> }.into_any(),
                    }
                })}
            </Transition>
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
    let qs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    format!("/admin/identities?{}", qs.join("&"))
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
                        let href = format!("/admin/identities/{}", r.id);
                        view! {
                            <tr data-testid=ids::ADMIN_ROW>
                                <td><a href=href>{r.email.clone()}</a></td>
                                <td>{r.full_name()}</td>
                                <td>{badge(r.active)}</td>
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

fn server_fields<T>(value: Option<Result<T, AppError>>) -> Vec<FieldError> {
    match value {
        Some(Err(AppError::Fields(errs))) => errs,
        _ => Vec::new(),
    }
}

fn other_error<T>(value: Option<Result<T, AppError>>) -> Option<AppError> {
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
/// both as the `value` attribute (the server-rendered page, no JavaScript) and
/// as the live property.
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
                prop:value=move || self.email.get()
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
                prop:value=move || self.first.get()
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
                prop:value=move || self.last.get()
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
                prop:value=move || self.degree.get()
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
fn IdentityFields(
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

// ------------------------------------------------------------------ identity

#[component]
pub fn AdminIdentityPage() -> impl IntoView {
    let user = use_current_user().0;
    let params = use_params_map();
    let query = use_query_map();
    let update = ServerAction::<AdminUpdateIdentity>::new();
    let state = ServerAction::<AdminSetIdentityState>::new();
    let end = ServerAction::<AdminEndSessions>::new();
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
        {require_admin(move |_| view! { <IdentityDetail identity update state end /> }.into_any())}
    }
}

#[component]
fn IdentityDetail(
    identity: Loaded<IdentityRow>,
    update: ServerAction<AdminUpdateIdentity>,
    state: ServerAction<AdminSetIdentityState>,
    end: ServerAction<AdminEndSessions>,
) -> impl IntoView {
    view! {
        <section class="panel">
            <AdminNav />
            <Notice />
            <Suspense fallback=|| view! { <p class="muted">"Loading the identity…"</p> }>
                {move || Suspend::new(async move {
                    match identity.await {
                        None => ().into_any(),
                        Some(Err(e)) => view! {
                            <h1>"Identity"</h1>
                            <ErrorMessage error=e />
                            <p><a href="/admin/identities">"Back to all identities"</a></p>
                        }
                            .into_any(),
                        Some(Ok(row)) => view! { <EditIdentity row update state end /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn EditIdentity(
    row: IdentityRow,
    update: ServerAction<AdminUpdateIdentity>,
    state: ServerAction<AdminSetIdentityState>,
    end: ServerAction<AdminEndSessions>,
) -> impl IntoView {
    let (saved, switched, ended) =
        (update.value().get_untracked(), state.value().get_untracked(), end.value().get_untracked());
    let (next_state, switch_label) = if row.active { ("inactive", "Deactivate") } else { ("active", "Activate") };
    let delete_href = format!("/admin/identities/{}/delete", row.id);
    let server_errors = server_fields(saved.clone());
    let (id, id2, id3, fields_row) = (row.id.clone(), row.id.clone(), row.id.clone(), row.clone());
    view! {
        <h1>{row.email.clone()} " " {badge(row.active)}</h1>
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
            {if row.active {
                "Deactivating signs this identity out everywhere and stops it from signing in."
            } else {
                "This identity cannot sign in until it is activated."
            }}
        </p>
        <div class="actions">
            <ActionForm action=state attr:class="inline-form">
                <input type="hidden" name="id" value=id2.clone() />
                <input type="hidden" name="state" value=next_state />
                <button type="submit" class="button" data-testid=ids::ADMIN_TOGGLE_STATE>{switch_label}</button>
            </ActionForm>
            <ActionForm action=end attr:class="inline-form">
                <input type="hidden" name="id" value=id3.clone() />
                <button type="submit" class="button button--light" data-testid=ids::ADMIN_END_SESSIONS>
                    "End all sessions in this app"
                </button>
            </ActionForm>
            <a class="button button--danger" href=delete_href data-testid=ids::ADMIN_DELETE_LINK>"Delete…"</a>
        </div>
        {other_error(switched).map(|e| view! { <ErrorMessage error=e /> })}
        {other_error(ended).map(|e| view! { <ErrorMessage error=e /> })}
    }
}

// -------------------------------------------------------------------- delete

#[component]
pub fn AdminDeletePage() -> impl IntoView {
    let user = use_current_user().0;
    let params = use_params_map();
    let identity: Loaded<IdentityRow> = Resource::new(
        move || params.read().get("id").unwrap_or_default(),
        move |id| async move {
            if is_admin(user).await {
                Some(admin_get_identity(id).await)
            } else {
                None
            }
        },
    );
    let action = ServerAction::<AdminDeleteIdentity>::new();
    view! {
        <Title text="Delete identity" />
        {require_admin(move |_| {
            view! {
                <section class="panel">
                    <AdminNav />
                    <Suspense fallback=|| view! { <p class="muted">"Loading the identity…"</p> }>
                        {move || Suspend::new(async move {
                            match identity.await {
                                None => ().into_any(),
                                Some(Err(e)) => view! { <ErrorMessage error=e /> }.into_any(),
                                Some(Ok(row)) => view! { <ConfirmDelete row action /> }.into_any(),
                            }
                        })}
                    </Suspense>
                </section>
            }
                .into_any()
        })}
    }
}

#[component]
fn ConfirmDelete(row: IdentityRow, action: ServerAction<AdminDeleteIdentity>) -> impl IntoView {
    let refused = action.value().get_untracked().and_then(Result::err);
    let back = format!("/admin/identities/{}", row.id);
    view! {
        <h1>"Delete " {row.email.clone()} "?"</h1>
        <p>"The identity, its sign-in sessions and its tokens are removed at the provider. This cannot be undone."</p>
        <ActionForm action attr:class="actions" attr:data-testid=ids::ADMIN_DELETE_FORM>
            <input type="hidden" name="id" value=row.id.clone() />
            <input type="hidden" name="confirm" value="delete" />
            <button type="submit" class="button button--danger" data-testid=ids::ADMIN_DELETE_CONFIRM>
                "Yes, delete this identity"
            </button>
            <a class="button button--plain" href=back>"Cancel"</a>
        </ActionForm>
        {refused.map(|e| view! { <ErrorMessage error=e /> })}
    }
}

// --------------------------------------------------------------------- audit

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
                    <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                        {move || Suspend::new(async move {
                            match audit.await {
                                None => ().into_any(),
                                Some(Err(e)) => view! { <ErrorMessage error=e /> }.into_any(),
                                Some(Ok(a)) => audit_table(a).into_any(),
                            }
                        })}
                    </Transition>
                </section>
            }
                .into_any()
        })}
    }
}

fn audit_table(a: AuditList) -> impl IntoView {
    let prev = (a.page > 1).then(|| format!("/admin/audit?page={}", a.page - 1));
    let next = (a.page < a.pages).then(|| format!("/admin/audit?page={}", a.page + 1));
    view! {
        <p class="muted">{format!("{} actions · page {} of {}", a.total, a.page, a.pages)}</p>
        <table class="table" data-testid=ids::AUDIT_TABLE>
            <thead>
                <tr><th>"When"</th><th>"Admin"</th><th>"Action"</th><th>"Identity"</th><th>"Outcome"</th></tr>
            </thead>
            <tbody>
                {a.rows
                    .into_iter()
                    .map(|r| view! {
                        <tr data-testid=ids::AUDIT_ROW>
                            <td>{when(r.at)}</td>
                            <td>{r.actor}</td>
                            <td>{r.action}</td>
                            <td>{r.target}</td>
                            <td>{r.outcome}</td>
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
}
