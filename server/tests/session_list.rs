//! The user's own session list and the admin's "end all sessions", over HTTP:
//! two browsers of one user see each other, one ends the other; nobody can end
//! a session that is not theirs; an admin ends every session of an identity.
#![expect(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Version/17.1 Mobile/15E148 Safari/604.1";

fn browser_as(base: &str, user_agent: &str) -> TestApp {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ACCEPT, reqwest::header::HeaderValue::from_static("text/html,*/*;q=0.8"));
    headers.insert("sec-fetch-site", reqwest::header::HeaderValue::from_static("same-origin"));
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    TestApp { base: base.to_string(), client }
}

async fn sessions(app: &TestApp) -> Vec<Value> {
    let r = api(app, "my_sessions").await;
    assert_eq!(r.status(), 200);
    r.json::<Vec<Value>>().await.unwrap()
}

#[tokio::test]
async fn a_user_sees_their_sessions_and_ends_another_one() {
    let app = spawn_app().await;
    let laptop = browser_as(&app.base, FIREFOX);
    let phone = browser_as(&app.base, SAFARI);
    assert_eq!(api(&laptop, "my_sessions").await.status(), 401);
    assert_eq!(api_form(&laptop, "end_my_session", &[("id", "x")]).await.status(), 401);
    signed_in(&laptop, "user@example.com").await;
    signed_in(&phone, "user@example.com").await;
    let stranger = browser_as(&app.base, FIREFOX);
    signed_in(&stranger, "admin@example.com").await;

    let list = sessions(&laptop).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let devices: Vec<(&str, bool)> =
        list.iter().map(|s| (s["device"].as_str().unwrap(), s["current"].as_bool().unwrap())).collect();
    assert_eq!(devices, [("Safari on iOS", false), ("Firefox on Linux", true)], "newest first, this one marked");
    let text = serde_json::to_string(&list).unwrap();
    assert!(!text.contains("eyJ"), "no token in the list");
    let (phone_id, laptop_id) = (list[0]["id"].as_str().unwrap(), list[1]["id"].as_str().unwrap());

    // Nobody ends a session that is not theirs, and this one ends by signing out.
    assert_eq!(api_form(&stranger, "end_my_session", &[("id", phone_id)]).await.status(), 404);
    assert_eq!(api_form(&laptop, "end_my_session", &[("id", laptop_id)]).await.status(), 404);
    assert!(is_signed_in(&phone).await && is_signed_in(&laptop).await);

    let provider = provider_base(&app).await;
    let revoked =
        || async { provider_stats(&provider).await["revoked_refresh_token"]["gatehouse"].as_u64().unwrap_or(0) };
    assert_eq!(revoked().await, 0);
    assert_eq!(api_form(&laptop, "end_my_session", &[("id", phone_id)]).await.status(), 200);
    assert!(!is_signed_in(&phone).await, "the phone is signed out");
    assert_eq!(revoked().await, 1, "and its refresh token revoked at the provider");
    assert!(is_signed_in(&laptop).await, "the laptop is not");
    assert_eq!(sessions(&laptop).await.len(), 1);
    assert!(is_signed_in(&stranger).await);
}

#[tokio::test]
async fn an_admin_ends_every_session_of_an_identity() {
    let app = spawn_app().await;
    let (one, two) = (browser_as(&app.base, FIREFOX), browser_as(&app.base, SAFARI));
    signed_in(&one, "user@example.com").await;
    signed_in(&two, "user@example.com").await;
    assert_eq!(api_form(&one, "admin_end_sessions", &[("id", "x")]).await.status(), 403, "not for users");
    let admin = browser_as(&app.base, FIREFOX);
    signed_in(&admin, "admin@example.com").await;
    let list: Value =
        api_form(&admin, "admin_list_identities", &[("email", "user@example.com")]).await.json().await.unwrap();
    let id = list["rows"][0]["id"].as_str().unwrap().to_string();

    assert_eq!(api_form(&admin, "admin_end_sessions", &[("id", &id)]).await.status(), 200);
    assert!(!is_signed_in(&one).await && !is_signed_in(&two).await, "both sessions ended");
    let stats = provider_stats(&provider_base(&app).await).await;
    assert_eq!(stats["revoked_refresh_token"]["gatehouse"], 2, "both refresh tokens revoked: {stats}");
    assert!(is_signed_in(&admin).await);
    let audit: Value = api_form(&admin, "admin_audit", &[]).await.json().await.unwrap();
    assert_eq!(audit["rows"][0]["action"], "end sessions");
    assert_eq!(audit["rows"][0]["outcome"], "ok: 2 ended");
    assert_eq!(audit["rows"][0]["target"], "user@example.com");
}
