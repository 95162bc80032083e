//! Sign-in and sign-out through the server against the embedded provider, over
//! real HTTP: the session id is rotated at login, new users go through
//! onboarding, `state` is single use, provider errors end on a friendly page,
//! `return_to` never leaves the site, and sign-out kills the old cookie.
#![expect(clippy::unwrap_used)]

mod common;

use common::{
    api, browser, location, onboard, provider_base, provider_stats, sign_in_as, sign_up, spawn_app, spawn_app_with,
    test_settings,
};

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gatehouse="))
        .map(|c| c.split(';').next().unwrap().to_string())
}

#[tokio::test]
async fn a_new_user_is_onboarded_then_returns_to_the_page() {
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/login?return_to=/somewhere%3Fx%3D1", app.base)).send().await.unwrap();
    assert!(session_cookie(&r).is_none(), "nothing is stored for a visitor who is not signed in");
    let pending = r.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(pending.starts_with("gatehouse-login-") && pending.contains("HttpOnly"), "{pending}");
    let back = idp::testkit::sign_in(&app.client, &location(&r), "user@example.com").await.unwrap();
    let r = app.client.get(back).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/onboarding?return_to=%2Fsomewhere%3Fx%3D1", "first sign-in goes to onboarding");
    session_cookie(&r).expect("a session starts at sign-in");
    let cleared = r.headers().get_all("set-cookie").iter().any(|c| {
        let c = c.to_str().unwrap();
        c.starts_with("gatehouse-login-") && c.contains("=; ") && c.contains("Max-Age=0")
    });
    assert!(cleared, "the finished login is taken out of the sign-in cookie");

    // The onboarding page renders for the signed-in user, prefilled from the email.
    let html = app.client.get(format!("{}/onboarding?return_to=%2Fsomewhere", app.base)).send().await.unwrap();
    assert_eq!(html.status(), 200);
    let html = html.text().await.unwrap();
    assert!(html.contains("onboarding-form") && html.contains("value=\"Uma User\""), "from the ID token's names");

    // A bad name is refused with a message, and nothing is saved.
    let r = onboard(&app, "   ", "/somewhere").await;
    assert!(!r.status().is_success() || r.status().is_redirection());
    let r = app.client.get(format!("{}/profile", app.base)).send().await.unwrap();
    assert!(location(&r).starts_with("/onboarding?"), "still not onboarded: {}", location(&r));

    // A good one finishes onboarding and continues to return_to (never off-site).
    let r = onboard(&app, "  Ada   Lovelace ", "https://evil.example/").await;
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(location(&r), "/");
    let html = app.client.get(format!("{}/profile", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Ada Lovelace"), "the profile shows the display name");
    assert!(html.contains("Signed in with a one-time passcode"), "the sign-in method, from the ID token's amr: {html}");

    // Signed in: /login goes straight to return_to.
    let r = app.client.get(format!("{}/login?return_to=/profile", app.base)).send().await.unwrap();
    assert_eq!(location(&r), "/profile");
}

#[tokio::test]
async fn a_returning_user_skips_onboarding() {
    let app = spawn_app().await;
    sign_up(&app, "user@example.com").await;
    let again = common::TestApp { base: app.base.clone(), client: browser() };
    let r = sign_in_as(&again, "user@example.com", "/profile").await;
    assert_eq!(location(&r), "/profile");
}

/// The `return_to` parser is unit-tested with more variants; this proves the
/// HTTP path uses it, both when sign-in starts and when already signed in.
#[tokio::test]
async fn hostile_return_to_values_never_leave_the_site() {
    let app = spawn_app().await;
    let r = sign_in_as(&app, "user@example.com", "https%3A%2F%2Fevil.example%2F").await;
    assert_eq!(location(&r), "/onboarding?return_to=%2F");
    onboard(&app, "Tester", "/").await;
    let hostile = [
        "https://evil.example/",
        "http://evil.example",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "/%2F/evil.example",
        "/%2f%2fevil.example",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/\t/evil.example",
        "/%09/evil.example",
        "/\r\nLocation: https://evil.example",
        "/%0d%0aSet-Cookie:x=1",
        "evil.example",
        "./profile",
        "../profile",
        " /profile",
        "/%00",
        "/%252F%252Fevil.example",
        "%5C%5Cevil.example",
        "https:evil.example",
    ];
    let long = format!("/{}", "a".repeat(3000));
    for raw in hostile.iter().copied().chain([long.as_str()]) {
        let r = app.client.get(format!("{}/login", app.base)).query(&[("return_to", raw)]).send().await.unwrap();
        assert_eq!(r.status(), 303, "{raw:?}");
        assert_eq!(location(&r), "/", "{raw:?} must fall back to /");
    }
    for ok in ["/profile", "/a/b?c=d&e=f", "/search?q=%2F%2Fnot-a-host"] {
        let r = app.client.get(format!("{}/login", app.base)).query(&[("return_to", ok)]).send().await.unwrap();
        assert_eq!(location(&r), ok, "same-site paths are kept");
    }
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
    let other = browser();
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
async fn protected_pages_redirect_to_sign_in_and_the_api_answers_401() {
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/profile", app.base)).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["cache-control"], "no-store", "a per-user redirect is never cached");
    assert_eq!(location(&r), "/login?return_to=%2Fprofile");
    let r = app.client.get(format!("{}/onboarding?return_to=%2Fx", app.base)).send().await.unwrap();
    assert!(location(&r).starts_with("/login?return_to=%2Fonboarding%3Freturn_to%3D"), "{}", location(&r));
    for f in ["userinfo", "profile", "complete_onboarding"] {
        let r = app
            .client
            .post(format!("{}/api/{f}", app.base))
            .header("accept", "application/json")
            .form(&[("display_name", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "/api/{f}");
        assert!(r.text().await.unwrap().contains("Unauthenticated"), "/api/{f} answers JSON");
    }
    let r = api(&app, "current_user").await;
    assert_eq!((r.status().as_u16(), r.text().await.unwrap().as_str()), (200, "null"));
}

#[tokio::test]
async fn userinfo_is_fresh_from_the_provider_for_the_signed_in_user() {
    let app = spawn_app().await;
    sign_up(&app, "user@example.com").await;
    let r = api(&app, "userinfo").await;
    assert_eq!(r.status(), 200);
    let rows: Vec<(String, String)> = r.json().await.unwrap();
    let me: serde_json::Value = serde_json::from_str(&api(&app, "current_user").await.text().await.unwrap()).unwrap();
    assert!(rows.contains(&("sub".into(), me["sub"].as_str().unwrap().into())), "{rows:?}");
    assert!(rows.contains(&("email".into(), "user@example.com".into())), "{rows:?}");
    let html = app.client.get(format!("{}/profile", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id-claims") && html.contains("/profile\""), "claims and the provider's profile link");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_active() {
    let mut settings = test_settings();
    settings.session_lifetime_secs = 2;
    let app = spawn_app_with(settings).await;
    sign_up(&app, "user@example.com").await;
    let me = api(&app, "current_user").await.text().await.unwrap();
    assert!(me.contains("user@example.com"));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let me = api(&app, "current_user").await.text().await.unwrap();
    assert_eq!(me, "null", "the session is over");
    let stats = provider_stats(&provider_base(&app).await).await;
    assert_eq!(
        stats["revoked_refresh_token"]["gatehouse"], 1,
        "its refresh token revoked, not just forgotten: {stats}"
    );
}

#[tokio::test]
async fn logout_needs_the_session_token_and_kills_the_old_cookie() {
    let app = spawn_app().await;
    let r = sign_in_as(&app, "user@example.com", "/").await;
    let cookie = session_cookie(&r).unwrap();
    onboard(&app, "Tester", "/").await;
    let html = app.client.get(&app.base).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("user@example.com"), "the header shows who is signed in");
    // Cross-site: no or a wrong token is refused.
    let r = app.client.post(format!("{}/logout", app.base)).form(&[("logout_token", "forged")]).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = app.client.post(format!("{}/logout", app.base)).send().await.unwrap();
    assert!(r.status() == 403 || r.status().is_client_error(), "{}", r.status());
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
    let r = raw.get(format!("{}/profile", app.base)).header("cookie", &cookie).send().await.unwrap();
    assert!(location(&r).starts_with("/login?"), "/profile asks to sign in again");
}

/// The embedded provider on ES256 (`GATEHOUSE_IDP_SIGNING_ALG`): it publishes
/// a P-256 key, and the app signs users in with its ID tokens, refreshes
/// nothing by hand, and accepts its access tokens on `/api/v1`.
#[tokio::test]
async fn an_es256_provider_signs_users_in_and_its_access_tokens_pass_the_api() {
    use base64::Engine as _;
    let mut settings = test_settings();
    settings.idp_signing_alg = idp::keys::SigningAlg::ES256;
    let app = spawn_app_with(settings).await;
    let provider = provider_base(&app).await;
    let jwks: serde_json::Value =
        browser().get(format!("{provider}.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!((jwks["keys"][0]["kty"].as_str(), jwks["keys"][0]["crv"].as_str()), (Some("EC"), Some("P-256")));
    let discovery: serde_json::Value = browser()
        .get(format!("{provider}.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["id_token_signing_alg_values_supported"], serde_json::json!(["ES256"]));

    sign_up(&app, "user@example.com").await;
    let me: serde_json::Value = api(&app, "current_user").await.json().await.unwrap();
    assert_eq!(me["email"], "user@example.com", "signed in with an ES256 ID token");

    let token = common::user_token(&provider, "user@example.com", "openid email").await;
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let r = reqwest::Client::new().get(format!("{}/api/v1/me", app.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200, "an ES256 access token passes the API");
    let forged = common::with_forged_signature(&token);
    let r = reqwest::Client::new().get(format!("{}/api/v1/me", app.base)).bearer_auth(&forged).send().await.unwrap();
    assert_eq!(r.status(), 401, "and one with a changed signature does not");
}

/// `POST /api/current_user` is answered by the server's own handler; it keeps
/// the server function's protocol, which the app's client decodes.
#[tokio::test]
async fn current_user_keeps_the_server_function_protocol() {
    let app = spawn_app().await;
    let r = api(&app, "current_user").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.unwrap(), "null");
    // Only POST, as for every server function.
    let r = app.client.get(format!("{}/api/current_user", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    // A browser's own form post goes back to the page it came from.
    let from = format!("{}/profile", app.base);
    let r = app
        .client
        .post(format!("{}/api/current_user", app.base))
        .header("accept", "text/html")
        .header("referer", &from)
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (302, from));
    // Signed in: the user's view, with the sign-out form's token and no OAuth token.
    sign_up(&app, "user@example.com").await;
    let me: serde_json::Value = api(&app, "current_user").await.json().await.unwrap();
    assert_eq!(me["email"], "user@example.com");
    assert_eq!((me["needs_onboarding"].as_bool(), me["display_name"].as_str()), (Some(false), Some("Tester")));
    assert_eq!(me["is_admin"], false);
    assert!(me["logout_token"].as_str().is_some_and(|t| t.len() >= 20), "{me}");
    let keys: Vec<&str> = me.as_object().unwrap().keys().map(String::as_str).collect();
    assert!(
        keys.iter().all(|k| !k.contains("access") && !k.contains("refresh") && !k.contains("id_token")),
        "{keys:?}"
    );
}
