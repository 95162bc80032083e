//! `/onboarding`: a new user picks a display name, then continues to where
//! they were going. Works without JavaScript (a plain form POST).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::session::{CompleteOnboarding, UserView};
use crate::components::auth::require_user;
use crate::components::error::ErrorMessage;
use crate::ids;

#[component]
pub fn OnboardingPage() -> impl IntoView {
    let action = ServerAction::<CompleteOnboarding>::new();
    view! {
        <Title text="Welcome" />
        {require_user(true, move |u| view! { <Onboarding user=u action /> }.into_any())}
    }
}

#[component]
fn Onboarding(user: UserView, action: ServerAction<CompleteOnboarding>) -> impl IntoView {
    let query = use_query_map();
    let return_to = move || query.read().get("return_to").unwrap_or_else(|| "/".into());
    view! {
        <section class="panel">
            <h1>"Welcome!"</h1>
            <p>"One last step: choose the name this app shows for you. You can change it later."</p>
            <ActionForm action attr:data-testid=ids::ONBOARDING_FORM attr:class="form">
                <label for="display_name">"Display name"</label>
                <input
                    id="display_name"
                    name="display_name"
                    data-testid=ids::ONBOARDING_NAME
                    value=user.suggested_display_name.clone()
                    required
                    maxlength=rules::display_name::DISPLAY_NAME_MAX.to_string()
                    autocomplete="nickname"
                />
                <input type="hidden" name="return_to" value=return_to />
                <button type="submit" class="button" data-testid=ids::ONBOARDING_SUBMIT>"Continue"</button>
            </ActionForm>
            {action.value().get_untracked().and_then(Result::err).map(|e| view! { <ErrorMessage error=e /> })}
        </section>
    }
}
