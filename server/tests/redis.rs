//! Sessions in Redis (`GATEHOUSE_REDIS_URL`) with a throwaway `redis-server`:
//! two instances share one Redis — a session started on A works on B, 20
//! parallel calls over both refresh once, a back-channel logout received by A
//! ends the session on B; a session survives a restart; a dump of Redis holds
//! no usable token.
#![expect(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const SKEW: i64 = 3600 - 4;

fn settings_with(redis: &RedisServer, keys: &str) -> server::config::Settings {
    let mut s = test_settings();
    s.redis_url = Some(redis.url.clone().into());
    s.token_keys = Some(bff::sealing::TokenKeys::parse(keys).unwrap());
    s.refresh_skew_secs = SKEW;
    s
}

#[tokio::test]
async fn two_instances_share_sessions_refresh_once_and_hear_back_channel_logout() {
    let redis = RedisServer::start().await;
    let keys = bff::sealing::TokenKeys::generate_line("shared");
    let a = spawn_app_with(settings_with(&redis, &keys)).await;
    let provider = provider_base(&a).await;
    let b = spawn_app_with(external_to(settings_with(&redis, &keys), &provider)).await;
    let b = TestApp { base: b.base, client: a.client.clone() };

    signed_in(&a, "user@example.com").await;
    assert_eq!(current_user(&b).await["email"], "user@example.com", "a session started on A works on B");
    let other = TestApp { base: a.base.clone(), client: browser() };
    signed_in(&other, "user@example.com").await;
    let list: Vec<Value> = api(&b, "my_sessions").await.json().await.unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let other_id = list.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(api_form(&a, "end_my_session", &[("id", &other_id)]).await.status(), 200);
    let other_on_b = TestApp { base: b.base.clone(), client: other.client.clone() };
    assert!(current_user(&other_on_b).await.is_null(), "ended from A, signed out on B");

    tokio::time::sleep(Duration::from_secs(5)).await; // the access token is now due
    let statuses = userinfo_in_parallel(&a.client, [&a.base, &b.base], 20).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(refreshes(&provider).await, 1, "20 parallel calls over two instances, one refresh");
    assert_eq!(current_user(&a).await["email"], "user@example.com", "still signed in");

    // The provider's back-channel logout (the identity is deactivated) reaches A; B sees it.
    let admin = TestApp { base: a.base.clone(), client: browser() };
    signed_in(&admin, "admin@example.com").await;
    deactivate(&admin, "user@example.com").await;
    // B may reuse what it read for up to the session cache bound (1 s).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(current_user(&b).await.is_null(), "a back-channel logout received by A ends the session on B");
}

/// Each instance reuses a session it read for up to the cache bound
/// (`GATEHOUSE_SESSION_CACHE_MS`, 1 s): a session ended on one instance is
/// refused at once there and within the bound on every other: sign-out, and
/// "end this session" from another device (every end goes through one
/// `Tokens::end`, which drops this instance's entry at once).
#[tokio::test]
async fn a_session_ended_on_one_instance_is_refused_on_the_other_within_the_cache_bound() {
    let redis = RedisServer::start().await;
    let keys = bff::sealing::TokenKeys::generate_line("shared");
    let a = spawn_app_with(settings_with(&redis, &keys)).await;
    let provider = provider_base(&a).await;
    let b = spawn_app_with(external_to(settings_with(&redis, &keys), &provider)).await;
    let bound = Duration::from_millis(1000);
    let on = |app: &TestApp, client: &reqwest::Client| TestApp { base: app.base.clone(), client: client.clone() };

    // 1. Sign-out on A.
    let user = TestApp { base: a.base.clone(), client: browser() };
    signed_in(&user, "user@example.com").await;
    for _ in 0..3 {
        assert_eq!(current_user(&on(&b, &user.client)).await["email"], "user@example.com", "B reads (and keeps) it");
    }
    let token = current_user(&user).await["logout_token"].as_str().unwrap().to_string();
    let r = user.client.post(format!("{}/logout", a.base)).form(&[("logout_token", token)]).send().await.unwrap();
    assert!(r.status().is_redirection());
    assert!(current_user(&user).await.is_null(), "refused at once on A");
    tokio::time::sleep(bound + Duration::from_millis(150)).await;
    assert!(current_user(&on(&b, &user.client)).await.is_null(), "refused on B within the bound");

    // 2. Ended from another device (on A) while B keeps serving it.
    let phone = TestApp { base: a.base.clone(), client: browser() };
    let laptop = TestApp { base: a.base.clone(), client: browser() };
    signed_in(&phone, "user@example.com").await;
    signed_in(&laptop, "user@example.com").await;
    assert!(is_signed_in(&on(&b, &phone.client)).await);
    let list: Vec<Value> = api(&laptop, "my_sessions").await.json().await.unwrap();
    let laptop_row = list.iter().find(|s| s["current"] == true).unwrap()["id"].as_str().unwrap().to_string();
    let phone_row = list.iter().find(|s| s["current"] == false && s["id"] != laptop_row.as_str());
    let phone_row = phone_row.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(api_form(&laptop, "end_my_session", &[("id", &phone_row)]).await.status(), 200);
    tokio::time::sleep(bound + Duration::from_millis(150)).await;
    assert!(!is_signed_in(&on(&b, &phone.client)).await, "the ended device is refused on B within the bound");
    assert!(is_signed_in(&on(&b, &laptop.client)).await, "the other device goes on");
}

#[tokio::test]
async fn a_session_survives_a_restart_and_redis_holds_no_usable_token() {
    let redis = RedisServer::start().await;
    let keys = bff::sealing::TokenKeys::generate_line("k1");
    let first = server::startup::Application::build(settings_with(&redis, &keys)).await.unwrap();
    let app = TestApp { base: format!("http://{}", first.addr()), client: browser() };
    let running = tokio::spawn(first.run_until_stopped());
    signed_in(&app, "user@example.com").await;
    let provider = provider_base(&app).await;

    let dump = redis.dump();
    assert!(dump.contains("user@example.com"), "the dump holds the session:\n{dump}");
    assert!(dump.contains("gatehouse:tok:"), "and its sealed token row:\n{dump}");
    assert!(!dump.contains("eyJ"), "no JWT in Redis");
    assert_no_live_token(&provider, &dump).await;

    // Everything expires by itself (no cleanup job needed in Redis).
    for key in redis.cli(&["--scan"]).lines().filter(|k| !k.is_empty()) {
        let ttl: i64 = redis.cli(&["TTL", key]).trim().parse().unwrap();
        assert!(ttl > 0, "{key} has no expiry ({ttl})");
    }

    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    let again = spawn_app_with(settings_with(&redis, &keys)).await;
    let app = TestApp { base: again.base, client: app.client.clone() };
    let user = current_user(&app).await;
    assert_eq!(user["email"], "user@example.com", "still signed in after the restart");
    let token = user["logout_token"].as_str().unwrap().to_string();
    let r = app.client.post(format!("{}/logout", app.base)).form(&[("logout_token", token)]).send().await.unwrap();
    assert!(location(&r).contains("id_token_hint=eyJ"), "the sealed tokens still open: {}", location(&r));
    assert!(!redis.dump().contains("gatehouse:tok:"), "sign-out deleted the token row");
}

/// Sign-in rows in Redis: how many, and the refresh tokens the provider revoked.
fn redis_token_rows(redis: &RedisServer) -> usize {
    redis.cli(&["--scan", "--pattern", "gatehouse:tok:*"]).lines().filter(|l| !l.is_empty()).count()
}

/// Starts an instance on `settings` (its cleanup runs at start) and waits
/// until `want` token rows are left in Redis; returns it and the count.
async fn after_redis_cleanup(settings: server::config::Settings, redis: &RedisServer, want: usize) -> (TestApp, usize) {
    let again = spawn_app_with(settings).await;
    let mut left = redis_token_rows(redis);
    for _ in 0..40 {
        if left == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = redis_token_rows(redis);
    }
    (again, left)
}

#[tokio::test]
async fn sign_ins_past_their_end_or_idle_are_ended_and_revoked_in_redis_too() {
    let redis = RedisServer::start().await;
    let keys = bff::sealing::TokenKeys::generate_line("k1");
    let dir = temp_dir("redis-cleanup");
    let mut settings = settings_with(&redis, &keys);
    settings.data_dir = Some(dir.clone());
    settings.session_idle_secs = 4;
    let first = server::startup::Application::build(settings.clone()).await.unwrap();
    let idle = TestApp { base: format!("http://{}", first.addr()), client: browser() };
    let running = tokio::spawn(first.run_until_stopped());
    signed_in(&idle, "user@example.com").await;
    let active = TestApp { base: idle.base.clone(), client: browser() };
    signed_in(&active, "admin@example.com").await;
    assert_eq!(redis_token_rows(&redis), 2);
    for _ in 0..14 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!current_user(&active).await.is_null(), "requests keep a session alive past the idle timeout");
    }
    running.abort();
    let _ = running.await;

    // The idle sign-in is ended by the cleanup of the next instance to start,
    // its refresh token revoked — not dropped silently by Redis later.
    let (again, left) = after_redis_cleanup(settings.clone(), &redis, 1).await;
    assert_eq!(left, 1, "only the active sign-in's row is left");
    let provider = provider_base(&again).await;
    let stats = provider_stats(&provider).await;
    assert_eq!(stats["revoked_refresh_token"][APP_CLIENT], 1, "the idle one's refresh token was revoked: {stats}");
    let active = TestApp { base: again.base.clone(), client: active.client.clone() };
    assert_eq!(current_user(&active).await["email"], "admin@example.com", "the active one goes on");

    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn sign_ins_past_their_absolute_end_are_ended_and_revoked_in_redis() {
    let redis = RedisServer::start().await;
    let keys = bff::sealing::TokenKeys::generate_line("k1");
    let dir = temp_dir("redis-expired");
    let mut settings = settings_with(&redis, &keys);
    settings.data_dir = Some(dir.clone());
    settings.session_lifetime_secs = 1;
    let first = server::startup::Application::build(settings.clone()).await.unwrap();
    let app = TestApp { base: format!("http://{}", first.addr()), client: browser() };
    let running = tokio::spawn(first.run_until_stopped());
    signed_in(&app, "user@example.com").await;
    assert_eq!(redis_token_rows(&redis), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    running.abort();
    let _ = running.await;

    let (again, left) = after_redis_cleanup(settings, &redis, 0).await;
    assert_eq!(left, 0, "the row past its absolute end is gone");
    let stats = provider_stats(&provider_base(&again).await).await;
    assert_eq!(stats["revoked_refresh_token"][APP_CLIENT], 1, "and its refresh token revoked: {stats}");
    for key in redis.cli(&["--scan"]).lines().filter(|k| !k.is_empty()) {
        let ttl: i64 = redis.cli(&["TTL", key]).trim().parse().unwrap();
        assert!(ttl > 0, "{key} has no expiry ({ttl}): nothing in Redis grows without bound");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A sign-out while the provider is unreachable queues the revocation in
/// Redis; the next cleanup (here: a new instance's, at start) does it.
#[tokio::test]
async fn a_missed_revocation_is_queued_in_redis_and_done_later() {
    let redis = RedisServer::start().await;
    let keys = bff::sealing::TokenKeys::generate_line("k1");
    let provider = provider_behind_relay().await;
    let mut settings = external_to(settings_with(&redis, &keys), &provider.issuer);
    settings.leptos.site_addr = provider.app_addr;
    let first = server::startup::Application::build(settings.clone()).await.unwrap();
    let app = TestApp { base: format!("http://{}", first.addr()), client: browser() };
    let running = tokio::spawn(first.run_until_stopped());
    signed_in(&app, "user@example.com").await;
    let revoked = || async {
        let stats: Value = provider_stats(&provider.direct).await;
        stats["revoked_refresh_token"][APP_CLIENT].as_u64().unwrap_or(0)
    };

    provider.relay.set_down(true);
    let token = current_user(&app).await["logout_token"].as_str().unwrap().to_string();
    let r = app.client.post(format!("{}/logout", app.base)).form(&[("logout_token", token)]).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert!(current_user(&app).await.is_null(), "signed out at once");
    assert_eq!(redis.cli(&["HLEN", "gatehouse:revoke"]).trim(), "1", "the revocation is queued");
    let ttl: i64 = redis.cli(&["TTL", "gatehouse:revoke"]).trim().parse().unwrap();
    assert!(ttl > 0, "the queue expires ({ttl})");
    assert_eq!(revoked().await, 0);

    provider.relay.set_down(false);
    running.abort();
    let _ = running.await;
    let _again = spawn_app_with(settings).await;
    for _ in 0..60 {
        if revoked().await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(revoked().await, 1, "revoked once the provider answers");
    assert_eq!(redis.cli(&["HLEN", "gatehouse:revoke"]).trim(), "0");
}

#[tokio::test]
async fn an_unreachable_redis_stops_startup_with_a_clear_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut settings = test_settings();
    settings.redis_url = Some(format!("redis://127.0.0.1:{port}").into());
    let err = server::startup::Application::build(settings).await.err().expect("startup fails").to_string();
    assert!(err.contains("GATEHOUSE_REDIS_URL") && err.contains("Redis"), "{err}");
}
