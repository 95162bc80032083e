//! `/healthz`, `/readyz` and sign-in while the provider is down: a real
//! provider behind a relay that can be cut and restored.
#![expect(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

/// Longer than a "reachable" answer is reused (5 s).
const PAST_REACHABLE: Duration = Duration::from_millis(5_300);
/// Longer than an "unreachable" answer is reused (1 s).
const PAST_UNREACHABLE: Duration = Duration::from_millis(1_300);

async fn readyz(app: &TestApp) -> (u16, Option<String>, serde_json::Value) {
    let r = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (status, retry, r.json().await.unwrap())
}

#[tokio::test]
async fn readiness_and_sign_in_follow_the_provider_down_and_back_up() {
    let provider = provider_behind_relay().await;
    let mut settings = external_to(test_settings(), &provider.issuer);
    settings.leptos.site_addr = provider.app_addr;
    let app = spawn_app_with(settings).await;

    let health = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let (status, _, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"status": "ready", "failing": [],
            "checks": {"provider": "ok", "sessions": "ok", "database": "ok"}})
    );
    let login = app.client.get(format!("{}/login?return_to=/profile", app.base)).send().await.unwrap();
    assert_eq!(login.status(), 303);
    assert!(location(&login).starts_with(&provider.issuer), "to the provider: {}", location(&login));

    provider.relay.set_down(true);
    tokio::time::sleep(PAST_REACHABLE).await;
    let (status, retry, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["failing"], serde_json::json!(["provider"]), "names the failing dependency: {body}");
    assert_eq!(body["checks"]["provider"], "not reachable");
    assert_eq!(body["checks"]["sessions"], "ok");

    // The browser stays in the app, with a way to try again.
    let page = app.client.get(format!("{}/login?return_to=/profile", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 503);
    assert_eq!(page.headers().get("retry-after").unwrap(), "5");
    assert!(page.headers().get("set-cookie").is_none(), "nothing is started");
    let html = page.text().await.unwrap();
    assert!(html.contains("The identity provider is not reachable right now — try again in a moment."), "{html}");
    assert!(html.contains("href=\"/login?return_to=%2Fprofile\" data-testid=\"signin-retry\""), "{html}");

    // Back with no restart.
    provider.relay.set_down(false);
    tokio::time::sleep(PAST_UNREACHABLE).await;
    let (status, _, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    let login = app.client.get(format!("{}/login?return_to=/profile", app.base)).send().await.unwrap();
    assert_eq!(login.status(), 303);
    signed_in(&app, "user@example.com").await;
    assert_eq!(current_user(&app).await["email"], "user@example.com");
}
