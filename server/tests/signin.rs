//! Sign-in and sign-out through the server against the embedded provider, over
//! real HTTP: the session id is rotated at login, `state` is single use,
//! provider errors end on a friendly page, and sign-out kills the old cookie.
#![expect(clippy::unwrap_used)]

mod common;

use common::spawn_app;

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gatehouse="))
        .map(|c| c.split(';').next().unwrap().to_string())
}

/// Signs `email` in starting from `/login?return_to=…`; returns the app's final redirect response.
async fn sign_in(app: &common::TestApp, return_to: &str) -> reqwest::Response {
    let r = app.client.get(format!("{}/login?return_to={return_to}", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to_provider = location(&r);
    let back = idp::testkit::sign_in(&app.client, &to_provider, "user@example.com").await.unwrap();
    assert!(back.starts_with(&format!("{}/login?", app.base)), "{back}");
    app.client.get(back).send().await.unwrap()
}

#[tokio::test]
async fn full_login_rotates_the_session_and_returns_to_the_page() {
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/login?return_to=/somewhere%3Fx%3D1", app.base)).send().await.unwrap();
    let before = session_cookie(&r).expect("a session is created for the pending login");
    let back = idp::testkit::sign_in(&app.client, &location(&r), "user@example.com").await.unwrap();
    let r = app.client.get(back).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/somewhere?x=1");
    let after = session_cookie(&r).expect("a new session id is issued at login");
    assert_ne!(before, after, "session id rotated");
    // Signed in: /login goes straight to return_to.
    let r = app.client.get(format!("{}/login?return_to=/profile", app.base)).send().await.unwrap();
    assert_eq!(location(&r), "/profile");
}

#[tokio::test]
async fn hostile_return_to_falls_back_to_home() {
    let app = spawn_app().await;
    let r = sign_in(&app, "https%3A%2F%2Fevil.example%2F").await;
    assert_eq!(location(&r), "/");
}

#[tokio::test]
async fn replayed_or_unknown_state_and_provider_errors_end_on_a_friendly_page() {
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/login", app.base)).send().await.unwrap();
    let back = idp::testkit::sign_in(&app.client, &location(&r), "user@example.com").await.unwrap();
    assert_eq!(app.client.get(&back).send().await.unwrap().status(), 303);
    // Replay of the same callback.
    let r = app.client.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("Try again") && html.contains("signin-error"), "{html}");
    // Unknown state.
    let other =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = other.get(format!("{}/login?code=abc&state=forged", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Provider error.
    let r = other.get(format!("{}/login?error=access_denied&state=x", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("cancelled or denied"));
    let r = other.get(format!("{}/login?return_to=/profile", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 303, "and no session was created: sign-in starts again");
    assert!(!location(&r).starts_with('/'));
}

#[tokio::test]
async fn logout_needs_the_session_token_and_kills_the_old_cookie() {
    let app = spawn_app().await;
    let r = sign_in(&app, "/").await;
    let cookie = session_cookie(&r).unwrap();
    let html = app.client.get(&app.base).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("user@example.com"), "the header shows who is signed in");
    // Cross-site: no or a wrong token is refused.
    let r = app.client.post(format!("{}/logout", app.base)).form(&[("logout_token", "forged")]).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let token = {
        let m = "name=\"logout_token\" value=\"";
        let s = html.find(m).unwrap() + m.len();
        html[s..s + html[s..].find('"').unwrap()].to_string()
    };
    let r =
        app.client.post(format!("{}/logout", app.base)).form(&[("logout_token", token.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let end = location(&r);
    assert!(end.contains("/oauth2/sessions/logout?id_token_hint="), "{end}");
    assert!(end.contains("post_logout_redirect_uri="));
    // The provider sends us back to /logout, which lands on home.
    let r = app.client.get(&end).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(location(&r).starts_with(&format!("{}/logout?state=", app.base)), "{}", location(&r));
    // The old cookie is dead server-side.
    let raw = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let html = raw.get(&app.base).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("user@example.com"));
}
