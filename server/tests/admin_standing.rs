//! Fresh authority: an admin call confirms the caller's standing with the
//! provider (userinfo with the session's tokens) when the last confirmation is
//! older than `GATEHOUSE_ADMIN_RECHECK_SECONDS`. An admin the provider demotes
//! or refuses loses admin at once (403, audited) without any back-channel
//! logout; a provider that cannot be reached refuses admin actions only.
#![expect(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

/// Just over the one-second recheck interval these tests use.
const PAST_RECHECK: Duration = Duration::from_millis(1100);

fn settings_with_recheck(emails: &[&str]) -> server::config::Settings {
    let mut settings = test_settings();
    settings.admin.emails = Some(emails.iter().map(|e| e.to_string()).collect());
    settings.admin.recheck_secs = 1;
    settings
}

fn as_browser(app: &TestApp) -> TestApp {
    TestApp { base: app.base.clone(), client: browser() }
}

/// Signs the embedded admin in (in a browser of its own) and creates `email` at the provider.
async fn admin_creating(app: &TestApp, email: &str) -> TestApp {
    let admin = as_browser(app);
    signed_in(&admin, "admin@example.com").await;
    let r = api_form(
        &admin,
        "admin_create_identity",
        &[("email", email), ("first_name", "Bo"), ("last_name", ""), ("academic_degree", "")],
    )
    .await;
    assert_eq!(r.status(), 200, "{email} created");
    admin
}

/// Changes an identity's email at the provider, as `admin`.
async fn change_email(admin: &TestApp, from: &str, to: &str) {
    let list: serde_json::Value =
        api_form(admin, "admin_list_identities", &[("email", from)]).await.json().await.unwrap();
    let id = list["rows"][0]["id"].as_str().unwrap().to_string();
    let fields = [("id", id.as_str()), ("email", to), ("first_name", ""), ("last_name", ""), ("academic_degree", "")];
    assert_eq!(api_form(admin, "admin_update_identity", &fields).await.status(), 200);
}

async fn refusals(admin: &TestApp) -> Vec<serde_json::Value> {
    let audit: serde_json::Value = api_form(admin, "admin_audit", &[]).await.json().await.unwrap();
    audit["rows"].as_array().unwrap().iter().filter(|r| r["action"] == "access refused").cloned().collect()
}

#[tokio::test]
async fn an_admin_whose_email_changes_at_the_provider_is_refused_within_the_recheck_interval() {
    let app = spawn_app_with(settings_with_recheck(&["admin@example.com", "boss@example.com"])).await;
    let admin = admin_creating(&app, "boss@example.com").await;
    signed_in(&app, "boss@example.com").await;
    assert_eq!(api_form(&app, "admin_list_identities", &[]).await.status(), 200, "an admin by verified email");

    // At the provider, the identity's email changes: the address that made
    // this user an admin is no longer theirs. No back-channel logout is sent.
    change_email(&admin, "boss@example.com", "former-boss@example.com").await;

    tokio::time::sleep(PAST_RECHECK).await;
    let r = api_form(&app, "admin_list_identities", &[]).await;
    assert_eq!(r.status(), 403, "the fresh claims no longer make them an admin");
    assert_eq!(api_form(&app, "admin_audit", &[]).await.status(), 403, "every admin call, not just one");
    // Still signed in, with the provider's current claims and no admin navigation.
    let me = current_user(&app).await;
    assert_eq!(me["email"], "former-boss@example.com", "{me}");
    assert_eq!(me["is_admin"], false, "{me}");
    let refused = refusals(&admin).await;
    assert_eq!(refused.len(), 1, "the loss is audited once: {refused:?}");
    assert!(refused[0]["outcome"].as_str().unwrap().contains("no longer an admin"), "{refused:?}");
}

#[tokio::test]
async fn an_admin_the_provider_refuses_is_refused_and_audited() {
    let app = spawn_app_with(settings_with_recheck(&["admin@example.com", "boss@example.com"])).await;
    admin_creating(&app, "boss@example.com").await;
    signed_in(&app, "boss@example.com").await;
    assert_eq!(api_form(&app, "admin_list_identities", &[]).await.status(), 200);

    // The provider revokes every grant of the app; nothing tells the app.
    revoke_app_grants(&provider_base(&app).await).await;

    tokio::time::sleep(PAST_RECHECK).await;
    assert_eq!(api_form(&app, "admin_list_identities", &[]).await.status(), 403);
    let admin = as_browser(&app);
    signed_in(&admin, "admin@example.com").await;
    let refused = refusals(&admin).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0]["outcome"].as_str().unwrap().contains("provider refused"), "{refused:?}");
}

#[tokio::test]
async fn within_the_interval_no_recheck_is_made() {
    // With a long interval, a demotion at the provider shows only after it.
    let mut settings = settings_with_recheck(&["admin@example.com", "boss@example.com"]);
    settings.admin.recheck_secs = 3600;
    let app = spawn_app_with(settings).await;
    let admin = admin_creating(&app, "boss@example.com").await;
    signed_in(&app, "boss@example.com").await;
    change_email(&admin, "boss@example.com", "former-boss@example.com").await;
    tokio::time::sleep(PAST_RECHECK).await;
    assert_eq!(api_form(&app, "admin_list_identities", &[]).await.status(), 200, "confirmed at sign-in, 1 s ago");
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_refuses_admin_actions_only() {
    // Sign-in, refresh and userinfo go through the relay; the Admin API is
    // reached directly (its machine token is fetched once and cached), so
    // cutting the relay leaves only the user's standing unconfirmable.
    let provider = provider_behind_relay().await;
    let relay = &provider.relay;
    let mut settings = external_to(settings_with_recheck(&["admin@example.com"]), &provider.issuer);
    settings.leptos.site_addr = provider.app_addr;
    settings.admin.api = Some(admin_api_at(&provider.direct));
    let app = spawn_app_with(settings).await;
    signed_in(&app, "admin@example.com").await;
    assert_eq!(api_form(&app, "admin_list_identities", &[]).await.status(), 200);

    relay.set_down(true);
    tokio::time::sleep(PAST_RECHECK).await;
    let r = api_form(&app, "admin_list_identities", &[]).await;
    assert_eq!(r.status(), 502, "fails closed while the standing cannot be confirmed");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, serde_json::json!("Upstream"));
    let me = current_user(&app).await;
    assert_eq!(me["email"], "admin@example.com", "everything else goes on: {me}");
    let page = app.client.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200, "pages that need no provider call still render");
    assert!(page.text().await.unwrap().contains("admin@example.com"), "signed in");

    relay.set_down(false);
    assert_eq!(api_form(&app, "admin_list_identities", &[]).await.status(), 200, "back once the provider answers");
}

/// Two admin calls check the user's standing at once; the one that started
/// first gets its answer last. Its older "still an admin" must not overwrite
/// the newer "no longer an admin", on any later call.
#[tokio::test]
async fn an_older_standing_check_answered_last_does_not_restore_admin() {
    older_check_answered_last(None).await;
}

/// The same with the sign-ins in Redis.
#[tokio::test]
async fn an_older_standing_check_answered_last_does_not_restore_admin_with_redis() {
    let redis = RedisServer::start().await;
    older_check_answered_last(Some(&redis)).await;
}

async fn older_check_answered_last(redis: Option<&RedisServer>) {
    let provider = provider_behind_relay().await;
    let relay = &provider.relay;
    let mut settings = external_to(settings_with_recheck(&["boss@example.com"]), &provider.issuer);
    settings.admin.recheck_secs = 5;
    if let Some(redis) = redis {
        settings.redis_url = Some(redis.url.clone().into());
        settings.token_keys =
            Some(bff::sealing::TokenKeys::parse(&bff::sealing::TokenKeys::generate_line("k")).unwrap());
    }
    settings.leptos.site_addr = provider.app_addr;
    settings.admin.api = Some(admin_api_at(&provider.direct));
    let app = spawn_app_with(settings).await;

    // The identity, made directly at the provider's Admin API.
    let admin_api = format!("{}admin/identities", provider.direct);
    let token = machine_token(
        &provider.direct,
        ("gatehouse-admin", "gatehouse-admin-dev-secret-not-for-production"),
        "admin-api",
        "",
    )
    .await;
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(&admin_api)
        .bearer_auth(&token)
        .json(&serde_json::json!({"schema_id": "default", "traits": {"email": "boss@example.com"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap_or_else(|| panic!("created: {created}")).to_string();
    signed_in(&app, "boss@example.com").await;
    assert_eq!(api_form(&app, "admin_list_identities", &[]).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(5100)).await;

    // Call A asks the provider; its answer ("admin") is held back 1.5 s.
    relay.set_answer_hold(1500);
    let first = {
        let app = TestApp { base: app.base.clone(), client: app.client.clone() };
        tokio::spawn(async move { api_form(&app, "admin_list_identities", &[]).await.status() })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Meanwhile the provider changes the email that made them an admin…
    let changed = serde_json::json!({
        "schema_id": "default", "state": "active", "traits": {"email": "former-boss@example.com"},
    });
    let r = http.put(format!("{admin_api}/{id}")).bearer_auth(&token).json(&changed).send().await.unwrap();
    assert_eq!(r.status(), 200, "email changed at the provider: {}", r.text().await.unwrap());
    // …and call B, started later and answered at once, sees it.
    relay.set_answer_hold(0);
    assert_eq!(api_form(&app, "admin_list_identities", &[]).await.status(), 403, "B: no longer an admin");

    // A's older answer arrives last: the newer standing stands, for A too.
    assert_eq!(first.await.unwrap(), 403, "A settles on the newer answer");
    assert_eq!(
        api_form(&app, "admin_list_identities", &[]).await.status(),
        403,
        "a later call within the interval is not restored to admin by the older answer"
    );
    assert_eq!(current_user(&app).await["email"], "former-boss@example.com");
}
