//! The one loading-and-error gate every section that loads data goes through.

use leptos::prelude::*;
use serde::{de::DeserializeOwned, Serialize};

use crate::components::error::ErrorMessage;
use crate::error::AppError;

/// What a page loads for one of its sections: `None` when it was not asked
/// for (the visitor is about to be sent elsewhere, or may not see it), else
/// the server's answer.
pub type Loaded<T> = Resource<Option<Result<T, AppError>>>;

/// Shows `loading` until `data` has arrived, then nothing when it was not
/// asked for, the error in place (after `error_heading`, when given), or
/// `children` with the value.
#[component]
pub fn Gate<T, F, V>(
    data: Loaded<T>,
    /// What the section says while it loads, e.g. "Loading the identity…".
    loading: &'static str,
    /// A heading shown above an error, for sections whose value holds the page's heading.
    #[prop(optional)]
    error_heading: Option<&'static str>,
    children: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    F: Fn(T) -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    view! {
        <Suspense fallback=move || view! { <p class="muted">{loading}</p> }>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    match data.await {
                        None => ().into_any(),
                        Some(Err(error)) => view! {
                            {error_heading.map(|h| view! { <h1>{h}</h1> })}
                            <ErrorMessage error />
                        }
                            .into_any(),
                        Some(Ok(value)) => children(value).into_any(),
                    }
                })
            }}
        </Suspense>
    }
}
