//! Times as people read them: "2 minutes ago", with the exact time on hover.

use leptos::prelude::*;

use crate::format::{iso, now, relative, when};

/// `unix` relative to the server's clock ("2 minutes ago") in a `<time>`
/// whose tooltip holds the exact time: in UTC as rendered, then in the
/// reader's own time zone once the bundle runs (see [`localize_times`]).
/// For server-rendered pages only (islands have no clock; see [`now`]).
#[component]
pub fn Ago(unix: i64) -> impl IntoView {
    if unix <= 0 {
        return view! { <span>"never"</span> }.into_any();
    }
    view! {
        <time datetime=iso(unix) title=when(unix) data-local="">
            {relative(unix, now())}
        </time>
    }
    .into_any()
}

/// Rewrites the tooltip of every `<time data-local>` on the page to the
/// exact time in the browser's time zone and locale. Runs once per page,
/// after hydration (called by the page's last island).
#[cfg(feature = "hydrate")]
pub fn localize_times() {
    use wasm_bindgen::JsCast;
    let Ok(list) = document().query_selector_all("time[data-local]") else { return };
    for i in 0..list.length() {
        let Some(el) = list.item(i).and_then(|n| n.dyn_into::<web_sys::Element>().ok()) else { continue };
        let Some(at) = el.get_attribute("datetime") else { continue };
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(&at));
        if date.get_time().is_nan() {
            continue;
        }
        let local = String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED));
        let _ = el.set_attribute("title", &local);
    }
}
