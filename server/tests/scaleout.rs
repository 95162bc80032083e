//! Several instances on one PostgreSQL (`GATEHOUSE_DATABASE_URL`), with and
//! without Redis for the sessions, against a throwaway PostgreSQL server
//! (`bff::testing::PgServer`): every instance sees the same users (onboarding
//! finished on A is seen on B at once; a display-name change on B reaches A),
//! the same audit trail, refreshes once for 20 parallel calls over both, and
//! hears a back-channel logout received by the other. With PostgreSQL
//! stopped, pages that need it answer 503 and recover when it is back.
#![expect(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bff::testing::PgServer;
use common::*;
use serde_json::Value;

const SKEW: i64 = 3600 - 4;

fn settings_on(database_url: &str, redis: Option<&RedisServer>, keys: &str) -> server::config::Settings {
    let mut s = test_settings();
    s.database_url = Some(database_url.to_string().into());
    s.redis_url = redis.map(|r| r.url.clone().into());
    s.token_keys = Some(bff::sealing::TokenKeys::parse(keys).unwrap());
    s.refresh_skew_secs = SKEW;
    s
}

/// `check` until it holds, for at most `within`.
async fn eventually(within: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < within, "{what} (waited {within:?})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn two_instances_behave_as_one(redis: Option<&RedisServer>) {
    let pg = PgServer::start();
    let url = pg.create_database("app");
    let keys = bff::sealing::TokenKeys::generate_line("shared");
    let a = spawn_app_with(settings_on(&url, redis, &keys)).await;
    let provider = provider_base(&a).await;
    // B uses A's provider as any external one, with the same admins and Admin API.
    let mut settings = external_to(settings_on(&url, redis, &keys), &provider);
    settings.admin.emails = Some(vec!["admin@example.com".into()]);
    settings.admin.api = Some(admin_api_at(&format!("{}/", provider.trim_end_matches('/'))));
    let b = spawn_app_with(settings).await;
    let on = |app: &TestApp, client: &reqwest::Client| TestApp { base: app.base.clone(), client: client.clone() };

    // Onboarding finished on A is seen on B, which had read the user before.
    let user = TestApp { base: a.base.clone(), client: browser() };
    let r = sign_in_as(&user, "user@example.com", "/").await;
    assert_eq!(location(&r), "/onboarding?return_to=%2F");
    let user_on_b = on(&b, &user.client);
    assert_eq!(current_user(&user_on_b).await["needs_onboarding"], true, "a session started on A works on B");
    assert!(onboard(&user, "Ada", "/").await.status().is_redirection());
    let me = current_user(&user_on_b).await;
    assert_eq!((me["needs_onboarding"].as_bool(), me["display_name"].as_str()), (Some(false), Some("Ada")), "{me}");
    // A display-name change on B reaches A (which had read it) at once.
    assert_eq!(current_user(&user).await["display_name"], "Ada");
    assert!(onboard(&user_on_b, "Ada L", "/").await.status().is_redirection());
    eventually(Duration::from_millis(500), "the change made on B reached A", async || {
        current_user(&user).await["display_name"] == "Ada L"
    })
    .await;

    // An admin action on A appears in B's audit trail.
    let admin = TestApp { base: a.base.clone(), client: browser() };
    signed_in(&admin, "admin@example.com").await;
    let form = [("email", "new@example.com"), ("first_name", ""), ("last_name", ""), ("academic_degree", "")];
    let r = api_form(&admin, "admin_create_identity", &form).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let audit: Value = api_form(&on(&b, &admin.client), "admin_audit", &[]).await.json().await.unwrap();
    assert_eq!(audit["rows"][0]["action"], "create", "{audit}");
    assert_eq!(audit["rows"][0]["target"], "new@example.com", "{audit}");

    // 20 parallel calls over both instances refresh once.
    tokio::time::sleep(Duration::from_secs(5)).await; // the access token is now due
    let before = refreshes(&provider).await;
    let statuses = userinfo_in_parallel(&user.client, [&a.base, &b.base], 20).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(refreshes(&provider).await - before, 1, "20 parallel calls over two instances, one refresh");

    // The provider's back-channel logout (the identity is deactivated) reaches A; B sees it
    // within the session cache bound (1 s).
    assert!(is_signed_in(&user_on_b).await);
    deactivate(&admin, "user@example.com").await;
    eventually(Duration::from_millis(1500), "a back-channel logout received by A ends the session on B", async || {
        !is_signed_in(&user_on_b).await
    })
    .await;
}

#[tokio::test]
async fn two_instances_on_postgres_alone_behave_as_one() {
    two_instances_behave_as_one(None).await;
}

#[tokio::test]
async fn two_instances_on_redis_and_postgres_behave_as_one() {
    let redis = RedisServer::start().await;
    two_instances_behave_as_one(Some(&redis)).await;
}

#[tokio::test]
async fn with_postgres_stopped_pages_answer_503_and_everything_recovers_when_it_is_back() {
    let mut pg = PgServer::start();
    let url = pg.create_database("app");
    let keys = bff::sealing::TokenKeys::generate_line("outage");
    let app = spawn_app_with(settings_on(&url, None, &keys)).await;
    sign_up(&app, "user@example.com").await;
    assert_eq!(current_user(&app).await["display_name"], "Tester");

    pg.stop();
    // Past the session cache bound: every request must read the store.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = api(&app, "current_user").await;
    assert_eq!(r.status(), 503, "a clear 503 for the app's client");
    assert_eq!(r.text().await.unwrap(), "\"Unavailable\"");
    // The home page (streamed, its header sent before the session is read)
    // says so where the user's name would be; the profile, which cannot be
    // shown without the store, answers 503.
    for (path, want) in [("/", None), ("/profile", Some(503))] {
        let r = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
        let status = r.status().as_u16();
        let html = r.text().await.unwrap();
        assert!(want.is_none_or(|s| s == status) && status != 500, "{path}: {status}");
        assert!(html.contains("The service is briefly unavailable."), "{path} says what is wrong: {html}");
    }
    let r = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200, "the app itself is alive");

    pg.resume();
    // Nothing lost, no restart: the same session, the same user.
    eventually(Duration::from_secs(15), "the app recovers once PostgreSQL is back", async || {
        api(&app, "current_user").await.status() == 200
    })
    .await;
    let me = current_user(&app).await;
    assert_eq!((me["email"].as_str(), me["display_name"].as_str()), (Some("user@example.com"), Some("Tester")));
    assert_eq!(app.client.get(format!("{}/profile", app.base)).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn two_instances_starting_at_once_on_an_empty_database_both_come_up() {
    let pg = PgServer::start();
    let url = pg.create_database("empty");
    let keys = bff::sealing::TokenKeys::generate_line("together");
    let (a, b) = tokio::join!(
        server::startup::Application::build(settings_on(&url, None, &keys)),
        server::startup::Application::build(settings_on(&url, None, &keys)),
    );
    let (a, b) = (a.expect("A starts"), b.expect("B starts"));
    let versions = pg.psql("empty", "SELECT count(*) FROM schema_migrations");
    assert_eq!(versions.trim(), "5", "each migration recorded once");
    let a_base = format!("http://{}", a.addr());
    let b_base = format!("http://{}", b.addr());
    tokio::spawn(a.run_until_stopped());
    tokio::spawn(b.run_until_stopped());
    for base in [&a_base, &b_base] {
        let r = browser().get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{base}");
    }
    // Each serves sign-ins on the shared tables (each with its own embedded provider here).
    for base in [a_base, b_base] {
        let app = TestApp { base, client: browser() };
        sign_up(&app, "user@example.com").await;
        assert_eq!(current_user(&app).await["display_name"], "Tester");
    }
}
