//! Sessions at rest: the session store holds no usable token, and a signed-in
//! session survives a restart of the server (SQLite in the data directory).
#![expect(clippy::unwrap_used)]

mod common;

use common::*;

/// A fresh directory under the system's temp dir.
/// Every session record and token row, as the bytes the store keeps.
async fn dump_sessions(dir: &std::path::Path) -> Vec<u8> {
    let url = format!("sqlite://{}?mode=ro", dir.join("sessions.sqlite3").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let sessions: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT data FROM tower_sessions").fetch_all(&pool).await.unwrap();
    let tokens: Vec<(Vec<u8>,)> =
        sqlx::query_as("SELECT CAST(id || ' ' || sub || ' ' || sealed AS BLOB) FROM gatehouse_tokens")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(tokens.len(), 1, "one sign-in, one token row");
    pool.close().await;
    sessions.into_iter().chain(tokens).flat_map(|(d,)| d).collect()
}

#[tokio::test]
async fn the_session_store_holds_no_usable_token() {
    let dir = temp_dir("dump");
    let mut settings = test_settings();
    settings.data_dir = Some(dir.clone());
    let app = spawn_app_with(settings).await;
    signed_in(&app, "user@example.com").await;
    assert_eq!(api(&app, "userinfo").await.status(), 200, "the session's access token works");

    let dump = dump_sessions(&dir).await;
    let text = String::from_utf8_lossy(&dump);
    assert!(text.contains("user@example.com"), "the dump is of the signed-in session");
    // A JWT is `eyJ….eyJ….…` (a JSON header and payload); the sealed base64
    // may hold the three letters by chance, never that shape.
    let jwt_like = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .find(|s| s.split('.').filter(|part| part.starts_with("eyJ")).count() >= 2);
    assert_eq!(jwt_like, None, "no JWT (access or ID token) in the store");
    // No string in the store is a token the provider considers live (the refresh token is opaque).
    assert_no_live_token(&provider_base(&app).await, &text).await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_signed_in_session_survives_a_restart() {
    let dir = temp_dir("restart");
    let mut settings = test_settings();
    settings.data_dir = Some(dir.clone());
    let first = server::startup::Application::build(settings.clone()).await.unwrap();
    let app = TestApp { base: format!("http://{}", first.addr()), client: browser() };
    let running = tokio::spawn(first.run_until_stopped());
    signed_in(&app, "user@example.com").await;
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    assert!(reqwest::get(format!("{}/healthz", app.base)).await.is_err(), "the first server is gone");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("token-keys")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is the owner's only");
    }

    // Same data directory, new process state, new port (cookies are not port-bound).
    let again = spawn_app_with(settings).await;
    let app = TestApp { base: again.base, client: app.client.clone() };
    let me: serde_json::Value = api(&app, "current_user").await.json().await.unwrap();
    assert_eq!(me["email"], "user@example.com", "still signed in: {me}");
    // The sealed tokens still open: sign-out sends the ID token to the provider.
    let token = me["logout_token"].as_str().unwrap().to_string();
    let r = app.client.post(format!("{}/logout", app.base)).form(&[("logout_token", token)]).send().await.unwrap();
    assert!(location(&r).contains("id_token_hint=eyJ"), "{}", location(&r));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn sign_out_revokes_the_refresh_token_at_the_provider() {
    let app = spawn_app_with(test_settings()).await;
    signed_in(&app, "user@example.com").await;
    let provider = provider_base(&app).await;
    let revoked = || async {
        let stats: serde_json::Value = provider_stats(&provider).await;
        stats["revoked_refresh_token"]["gatehouse"].as_u64().unwrap_or(0)
    };
    assert_eq!(revoked().await, 0);
    let me: serde_json::Value = api(&app, "current_user").await.json().await.unwrap();
    let token = me["logout_token"].as_str().unwrap().to_string();
    let r = app.client.post(format!("{}/logout", app.base)).form(&[("logout_token", token)]).send().await.unwrap();
    assert!(location(&r).contains("/oauth2/sessions/logout"), "{}", location(&r));
    assert_eq!(revoked().await, 1, "the session's refresh token was revoked at sign-out");
}

/// Requests of one session within the cache bound reuse its decoded record;
/// a sign-out in one tab must still end it for the other at once, whatever
/// that tab read a moment before — with SQLite and with Redis.
#[tokio::test]
async fn a_tab_that_just_read_the_session_is_signed_out_with_the_other_at_once() {
    for redis in [None, Some(RedisServer::start().await)] {
        let mut settings = test_settings();
        settings.session_cache_ms = 10_000; // far longer than the test: only invalidation can end it
        if let Some(r) = &redis {
            settings.redis_url = Some(r.url.clone().into());
            settings.token_keys =
                Some(bff::sealing::TokenKeys::parse(&bff::sealing::TokenKeys::generate_line("tabs")).unwrap());
        }
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let app = spawn_app_with(settings).await;
        let tab1 = TestApp { base: app.base.clone(), client: browser_with_jar(jar.clone()) };
        let tab2 = TestApp { base: app.base.clone(), client: browser_with_jar(jar.clone()) };
        signed_in(&tab1, "user@example.com").await;
        for _ in 0..5 {
            assert!(is_signed_in(&tab2).await, "the second tab shares the session");
        }
        let me: serde_json::Value = api(&tab1, "current_user").await.json().await.unwrap();
        let token = me["logout_token"].as_str().unwrap().to_string();
        let stale = reqwest::cookie::CookieStore::cookies(&*jar, &app.base.parse().unwrap())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let r = tab1.client.post(format!("{}/logout", app.base)).form(&[("logout_token", token)]).send().await.unwrap();
        assert!(r.status().is_redirection(), "signed out: {}", r.status());
        // The browser drops the cookie with the answer; a request still
        // carrying it (a tab's request in flight) must find nothing.
        let r = reqwest::Client::new()
            .post(format!("{}/api/current_user", app.base))
            .header("cookie", stale)
            .header("origin", &app.base)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "null", "the old cookie reads no session (redis: {})", redis.is_some());
        assert!(!is_signed_in(&tab2).await, "the other tab is signed out too");
    }
}

async fn token_rows(dir: &std::path::Path) -> i64 {
    let url = format!("sqlite://{}?mode=ro", dir.join("sessions.sqlite3").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM gatehouse_tokens").fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

/// Starts the server; aborting the handle stops it.
async fn stoppable(settings: server::config::Settings) -> (TestApp, tokio::task::JoinHandle<std::io::Result<()>>) {
    let app = server::startup::Application::build(settings).await.unwrap();
    let base = format!("http://{}", app.addr());
    (TestApp { base, client: browser() }, tokio::spawn(app.run_until_stopped()))
}

/// Starts the server again on the same data (the cleanup runs at start, then
/// every ten minutes), waits until `want` token rows are left, and returns
/// the new instance and how many rows there are.
async fn after_cleanup(settings: server::config::Settings, dir: &std::path::Path, want: i64) -> (TestApp, i64) {
    let again = spawn_app_with(settings).await;
    let mut left = token_rows(dir).await;
    for _ in 0..40 {
        if left == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left = token_rows(dir).await;
    }
    (again, left)
}

#[tokio::test]
async fn expired_sign_ins_are_cleaned_up() {
    let dir = temp_dir("cleanup");
    let mut settings = test_settings();
    settings.data_dir = Some(dir.clone());
    // Long enough for a sign-in on a busy machine, short enough to wait out.
    settings.session_lifetime_secs = 3;
    let (app, running) = stoppable(settings.clone()).await;
    signed_in(&app, "user@example.com").await;
    assert_eq!(token_rows(&dir).await, 1);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    running.abort();
    let _ = running.await;

    let (again, left) = after_cleanup(settings, &dir, 0).await;
    assert_eq!(left, 0, "expired token rows are deleted");
    let stats = provider_stats(&provider_base(&again).await).await;
    assert_eq!(stats["revoked_refresh_token"]["gatehouse"], 1, "and their refresh tokens revoked: {stats}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn an_idle_expired_sign_in_is_ended_and_its_refresh_token_revoked() {
    let dir = temp_dir("idle-cleanup");
    let mut settings = test_settings();
    settings.data_dir = Some(dir.clone());
    settings.session_idle_secs = 4;
    let (app, running) = stoppable(settings.clone()).await;
    signed_in(&app, "user@example.com").await;
    // A second, active sign-in must survive the cleanup.
    let active = TestApp { base: app.base.clone(), client: browser() };
    signed_in(&active, "admin@example.com").await;
    assert_eq!(token_rows(&dir).await, 2);
    for _ in 0..14 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(is_signed_in(&active).await, "requests keep a session alive past the idle timeout");
    }
    assert!(!is_signed_in(&app).await, "the idle session ended");
    running.abort();
    let _ = running.await;

    let (again, left) = after_cleanup(settings, &dir, 1).await;
    assert_eq!(left, 1, "only the active sign-in's row is left");
    let stats = provider_stats(&provider_base(&again).await).await;
    assert_eq!(stats["revoked_refresh_token"]["gatehouse"], 1, "the idle one's refresh token was revoked: {stats}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_second_sign_in_in_one_session_replaces_the_first_and_revokes_its_refresh_token() {
    let dir = temp_dir("second-sign-in");
    let mut settings = test_settings();
    settings.data_dir = Some(dir.clone());
    let app = spawn_app_with(settings).await;
    // Two tabs start signing in; both finish, in the one session of this browser.
    let first = app.client.get(format!("{}/login?return_to=/a", app.base)).send().await.unwrap();
    let second = app.client.get(format!("{}/login?return_to=/b", app.base)).send().await.unwrap();
    for started in [first, second] {
        let back = idp::testkit::sign_in(&app.client, &location(&started), "user@example.com").await.unwrap();
        assert_eq!(app.client.get(back).send().await.unwrap().status(), 303);
    }
    assert!(is_signed_in(&app).await);
    assert_eq!(token_rows(&dir).await, 1, "the first sign-in's row is gone, not left behind as a dead session");
    let provider = provider_base(&app).await;
    let stats = provider_stats(&provider).await;
    assert_eq!(stats["revoked_refresh_token"]["gatehouse"], 1, "its refresh token was revoked: {stats}");
    let list: Vec<serde_json::Value> = api(&app, "my_sessions").await.json().await.unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    std::fs::remove_dir_all(&dir).ok();
}

async fn queued_revocations(dir: &std::path::Path) -> i64 {
    let url = format!("sqlite://{}?mode=ro", dir.join("sessions.sqlite3").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM gatehouse_revocations").fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

/// Sign-out while the provider cannot be reached: the session ends at once,
/// and the refresh token's revocation is queued and done by the cleanup once
/// the provider answers again — it does not stay usable until it expires.
#[tokio::test]
async fn a_revocation_the_provider_missed_is_done_by_the_cleanup_later() {
    let provider = provider_behind_relay().await;
    let dir = temp_dir("revoke-retry");
    let mut settings = external_to(test_settings(), &provider.issuer);
    settings.leptos.site_addr = provider.app_addr;
    settings.data_dir = Some(dir.clone());
    let (app, running) = stoppable(settings.clone()).await;
    signed_in(&app, "user@example.com").await;
    let revoked = || async {
        let stats: serde_json::Value = provider_stats(&provider.direct).await;
        stats["revoked_refresh_token"][APP_CLIENT].as_u64().unwrap_or(0)
    };

    provider.relay.set_down(true);
    let me: serde_json::Value = api(&app, "current_user").await.json().await.unwrap();
    let token = me["logout_token"].as_str().unwrap().to_string();
    let r = app.client.post(format!("{}/logout", app.base)).form(&[("logout_token", token)]).send().await.unwrap();
    assert!(r.status().is_redirection(), "sign-out goes on without the provider: {}", r.status());
    assert!(!is_signed_in(&app).await, "signed out at once");
    assert_eq!(revoked().await, 0, "the provider heard nothing");
    assert_eq!(queued_revocations(&dir).await, 1, "the revocation is queued");

    provider.relay.set_down(false);
    running.abort();
    let _ = running.await;
    let _again = spawn_app_with(settings).await; // its cleanup runs at start
    for _ in 0..60 {
        if revoked().await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(revoked().await, 1, "revoked once the provider answers");
    assert_eq!(queued_revocations(&dir).await, 0, "and no longer queued");
    std::fs::remove_dir_all(&dir).ok();
}
