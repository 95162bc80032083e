//! Token refresh against the real embedded provider: ahead of expiry, exactly
//! once for many parallel calls — also across two server instances sharing
//! one session database — and a refused refresh ends the session cleanly.
#![expect(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

/// The embedded provider's access tokens live 3600 s (`idp/dev.toml`); with
/// this skew a fresh one counts as due for refresh after 4 s.
const SKEW: i64 = 3600 - 4;

async fn refreshes(provider: &str) -> u64 {
    let stats: serde_json::Value = provider_stats(provider).await;
    stats["refresh_token"][APP_CLIENT].as_u64().unwrap_or(0)
}

async fn userinfo_calls(apps: &[&TestApp], n: usize) -> Vec<u16> {
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let app = apps[i % apps.len()];
            let (client, url) = (app.client.clone(), format!("{}/api/userinfo", app.base));
            tokio::spawn(async move {
                client.post(url).header("accept", "application/json").send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut out = Vec::new();
    for c in calls {
        out.push(c.await.unwrap());
    }
    out
}

#[tokio::test]
async fn parallel_calls_on_two_instances_refresh_once_and_all_succeed() {
    let dir = temp_dir("refresh");
    let mut settings = test_settings();
    settings.data_dir = Some(dir.clone());
    settings.refresh_skew_secs = SKEW;
    let a = spawn_app_with(settings.clone()).await;
    let provider = provider_base(&a).await;

    // Instance B: the same session database and keys, the same provider (as an external one).
    let b = spawn_app_with(external_to(settings, &provider)).await;
    let b = TestApp { base: b.base, client: a.client.clone() };

    signed_in(&a, "user@example.com").await;
    let me: serde_json::Value = api(&b, "current_user").await.json().await.unwrap();
    assert_eq!(me["email"], "user@example.com", "a session started on A works on B");
    assert_eq!(userinfo_calls(&[&a, &b], 2).await, [200, 200], "fresh tokens: no refresh");
    assert_eq!(refreshes(&provider).await, 0);

    tokio::time::sleep(Duration::from_secs(5)).await; // the access token is now due
    let statuses = userinfo_calls(&[&a, &b], 20).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(refreshes(&provider).await, 1, "20 parallel calls over two instances, one refresh");
    let me: serde_json::Value = api(&a, "current_user").await.json().await.unwrap();
    assert_eq!(me["email"], "user@example.com", "still signed in");

    // The rotated refresh token was stored: the next due refresh works too.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(userinfo_calls(&[&b, &a], 6).await, [200; 6]);
    assert_eq!(refreshes(&provider).await, 2);

    // The provider ends the user's sessions (the identity is deactivated): its
    // back-channel logout reaches A, and the session ends on B too.
    let admin = TestApp { base: a.base.clone(), client: browser() };
    signed_in(&admin, "admin@example.com").await;
    deactivate(&admin, "user@example.com").await;
    // B may reuse what it read for up to the session cache bound (1 s).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let me: serde_json::Value = api(&b, "current_user").await.json().await.unwrap();
    assert!(me.is_null(), "a back-channel logout received by A ends the session on B: {me}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_refused_refresh_ends_the_session_with_a_clear_message() {
    let mut settings = test_settings();
    settings.refresh_skew_secs = SKEW;
    let app = spawn_app_with(settings).await;
    let provider = provider_base(&app).await;
    signed_in(&app, "user@example.com").await;
    assert_eq!(api(&app, "userinfo").await.status(), 200);

    // The provider forgets every grant of the app: its refresh token is now refused.
    revoke_app_grants(&provider).await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    let r = api(&app, "userinfo").await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), serde_json::json!("SessionEnded"));
    let me: serde_json::Value = api(&app, "current_user").await.json().await.unwrap();
    assert!(me.is_null(), "signed out, not half signed in: {me}");
    assert_eq!(api(&app, "userinfo").await.status(), 401, "no loop: still just signed out");
    // The page says so and offers to sign in again.
    let page = browser().get(format!("{}/profile", app.base)).send().await.unwrap();
    assert!(location(&page).starts_with("/login"), "a signed-out visitor is sent to sign in");
}

async fn lease_of(dir: &std::path::Path) -> (Option<String>, String) {
    let url = format!("sqlite://{}", dir.join("sessions.sqlite3").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let row: (Option<String>, String) =
        sqlx::query_as("SELECT lock_holder, sealed FROM gatehouse_tokens").fetch_one(&pool).await.unwrap();
    pool.close().await;
    row
}

async fn steal_lease(dir: &std::path::Path, for_ms: i64) {
    let url = format!("sqlite://{}", dir.join("sessions.sqlite3").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    sqlx::query("UPDATE gatehouse_tokens SET lock_holder = 'another-instance', lock_until = ?")
        .bind(now_ms + for_ms)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test]
async fn a_lease_lost_during_a_refresh_keeps_the_rotated_tokens_and_the_family_alive() {
    let dir = temp_dir("lost-lease");
    let provider = provider_behind_relay().await;
    let mut settings = external_to(test_settings(), &provider.issuer);
    settings.leptos.site_addr = provider.app_addr;
    settings.data_dir = Some(dir.clone());
    settings.refresh_skew_secs = SKEW;
    let app = spawn_app_with(settings).await;
    signed_in(&app, "user@example.com").await;
    tokio::time::sleep(Duration::from_secs(5)).await; // the access token is now due

    // The provider answers slowly; while the refresh is in flight, another
    // instance takes the lease (as if ours had lapsed).
    provider.relay.set_delay(800);
    let (before_holder, before_sealed) = lease_of(&dir).await;
    assert!(before_holder.is_none());
    let call = tokio::spawn({
        let (client, url) = (app.client.clone(), format!("{}/api/userinfo", app.base));
        async move { client.post(url).header("accept", "application/json").send().await.unwrap().status().as_u16() }
    });
    let mut holder = None;
    for _ in 0..100 {
        holder = lease_of(&dir).await.0;
        if holder.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(holder.is_some(), "the refresh took the lease");
    steal_lease(&dir, 1500).await;
    assert_eq!(call.await.unwrap(), 200, "the refresh still succeeds");
    provider.relay.set_delay(0);

    let (after_holder, after_sealed) = lease_of(&dir).await;
    assert_ne!(after_sealed, before_sealed, "the rotated tokens were stored although the lease was lost");
    assert_eq!(after_holder.as_deref(), Some("another-instance"), "someone else's lease is not released");
    assert_eq!(refreshes(&provider.issuer).await, 1);

    // The next refresh uses the rotated refresh token: no reuse, no family revocation.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(api(&app, "userinfo").await.status(), 200);
    assert_eq!(refreshes(&provider.issuer).await, 2);
    let stats = provider_stats(&provider.issuer).await;
    assert_eq!(stats["revoked_refresh_token"][APP_CLIENT].as_u64().unwrap_or(0), 0, "{stats}");
    assert!(is_signed_in(&app).await);
    std::fs::remove_dir_all(&dir).ok();
}
