//! Security hardening, each tried by an attack: the mailbox only in dev mode,
//! security headers on every page, per-IP and per-identity rate limits, logout
//! with another user's ID token, introspection and stats authentication,
//! private data files.
#![expect(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::*;
use idp::config::{RateLimits, Storage};
use serde_json::Value;

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers().get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap()
}

/// A config whose per-IP limits are `n` per `window` seconds for the given step only.
fn limited(window: u64, authorize: u32, email: u32, passcode: u32) -> idp::Config {
    let mut cfg = test_config(Storage::Memory);
    cfg.rate_limits = RateLimits {
        window,
        authorize_per_ip: authorize,
        email_per_ip: email,
        passcode_per_ip: passcode,
        ..cfg.rate_limits
    };
    cfg
}

/// A browser whose requests come from another loopback address.
fn browser_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(ip))
        .build()
        .unwrap()
}

/// Starts a login request in `b` and returns its challenge and CSRF token.
async fn start_login(idp: &TestIdp, b: &reqwest::Client) -> (String, String) {
    let r = b.get(idp.auth_url("web", &[])).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let page = b.get(idp.url(&location(&r))).send().await.unwrap().text().await.unwrap();
    (hidden_value(&page, "login_challenge").unwrap(), hidden_value(&page, "csrf").unwrap())
}

#[tokio::test]
async fn the_mailbox_exists_only_in_dev_mode() {
    let mut cfg = test_config(Storage::Memory);
    cfg.dev_mode = false;
    let idp = spawn_with(cfg).await;
    for path in ["mailbox", "mailbox/messages", "mailbox/messages?email=user@example.com"] {
        assert_eq!(reqwest::get(idp.url(path)).await.unwrap().status(), 404, "{path}");
    }
    // Sign-in still works; the passcode is only in the database.
    let (status, html, _, _) = idp.submit_email(&browser(), &idp.auth_url("web", &[]), "user@example.com").await;
    assert_eq!(status, 200, "{html}");
    assert!(reqwest::get(idp.url("mailbox/messages?email=user@example.com")).await.unwrap().status() == 404);

    let mut cfg = test_config(Storage::Memory);
    cfg.dev_mode = true;
    let idp = spawn_with(cfg).await;
    for path in ["mailbox", "mailbox/messages"] {
        assert_eq!(reqwest::get(idp.url(path)).await.unwrap().status(), 200, "{path}");
    }
    // The default is off: a config file without `dev_mode` has no mailbox.
    assert!(!idp::Config::from_toml("", "x.toml").unwrap().dev_mode);
}

/// Checks the security headers and that the page has no inline script or
/// style (the passkey script is a file of the provider's own).
async fn assert_hardened(what: &str, r: reqwest::Response) -> String {
    let h = r.headers().clone();
    let get = |k: &str| h.get(k).map(|v| v.to_str().unwrap().to_string()).unwrap_or_else(|| panic!("{what}: no {k}"));
    assert!(get("content-type").starts_with("text/html"), "{what}");
    let csp = get("content-security-policy");
    let body = r.text().await.unwrap();
    // A page runs no script, or exactly the provider's passkey file.
    let script = if body.contains("<script src=\"/assets/passkey.js\" defer></script>") {
        let d = csp.split(';').map(str::trim).find(|d| d.starts_with("script-src")).unwrap().to_string();
        assert!(d.starts_with("script-src http://localhost:") && d.ends_with("/assets/passkey.js"), "{what}: {d}");
        assert_eq!(d.split_whitespace().count(), 2, "{what}: one source only: {d}");
        d
    } else {
        "script-src 'none'".to_string()
    };
    for d in [
        "default-src 'self'",
        script.as_str(),
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self' http://127.0.0.1:9",
    ] {
        assert!(csp.split(';').any(|x| x.trim() == d), "{what}: CSP lacks {d:?}: {csp}");
    }
    assert!(!csp.contains("unsafe"), "{what}: {csp}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert!(["no-referrer", "strict-origin-when-cross-origin"].contains(&get("referrer-policy").as_str()), "{what}");
    let pp = get("permissions-policy");
    for f in ["camera=()", "microphone=()", "geolocation=()"] {
        assert!(pp.contains(f), "{what}: {pp}");
    }
    assert_eq!(get("cross-origin-opener-policy"), "same-origin", "{what}");
    assert!(h.get("strict-transport-security").is_none(), "{what}: no HSTS over http");
    assert!(h.get("x-idp-passkey-script").is_none(), "{what}: the internal marker is not sent");
    let lower = body.to_ascii_lowercase();
    // The one script a page may load is the provider's own passkey file.
    let without_own = lower.replace("<script src=\"/assets/passkey.js\" defer></script>", "");
    assert!(!without_own.contains("<script"), "{what}: inline script: {body}");
    assert!(!lower.contains("javascript:"), "{what}: a javascript: URL: {body}");
    for handler in [" onclick=", " onload=", " onerror=", " onsubmit="] {
        assert!(!lower.contains(handler), "{what}: inline handler {handler}: {body}");
    }
    assert!(!lower.contains("<style"), "{what}: inline stylesheet: {body}");
    assert!(!lower.contains("style="), "{what}: style attribute: {body}");
    assert!(lower.contains("<link rel=\"stylesheet\" href=\"/assets/idp.css\">"), "{what}");
    body
}

#[tokio::test]
async fn every_page_carries_the_security_headers_and_no_inline_script_or_style() {
    let idp = spawn_with(limited(60, 300, 300, 3)).await;
    let b = browser();
    // Login (email form), passcode form, registration form.
    let r = b.get(idp.auth_url("web", &[])).send().await.unwrap();
    let login = location(&r);
    let page = assert_hardened("login", b.get(idp.url(&login)).send().await.unwrap()).await;
    let (challenge, csrf) = (hidden_value(&page, "login_challenge").unwrap(), hidden_value(&page, "csrf").unwrap());
    let form =
        |email: &str| [("login_challenge", challenge.clone()), ("csrf", csrf.clone()), ("email", email.to_string())];
    let r = b.post(idp.url("login")).form(&form("new.one@example.com")).send().await.unwrap();
    assert!(assert_hardened("registration", r).await.contains("Create your account"));
    let r = b.post(idp.url("login")).form(&form("user@example.com")).send().await.unwrap();
    let passcode_page = assert_hardened("passcode", r).await;
    assert!(passcode_page.contains("class=\"secondary\""), "the resend button is styled by class");
    // A wrong passcode (422 page), then the per-IP limit page (429).
    let r = idp.submit_passcode(&b, &challenge, &csrf, "12345x").await;
    assert_eq!(r.status(), 422);
    assert_hardened("wrong passcode", r).await;
    let code = idp.passcode("user@example.com").await;
    let r = idp.submit_passcode(&b, &challenge, &csrf, &code).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = idp.submit_passcode(&b, &challenge, &csrf, &code).await;
    assert_eq!(r.status(), 403, "the login request is gone");
    assert_hardened("expired sign-in", r).await;
    let r = idp.submit_passcode(&b, &challenge, &csrf, &code).await;
    assert_eq!(r.status(), 429, "the fourth passcode request of this IP");
    assert_hardened("rate limited", r).await;
    // Profile, mailbox, logout confirmation, error pages.
    assert_hardened("profile", b.get(idp.url("profile")).send().await.unwrap()).await;
    assert_hardened("mailbox", b.get(idp.url("mailbox")).send().await.unwrap()).await;
    let r = b.get(idp.url("oauth2/sessions/logout")).send().await.unwrap();
    assert!(assert_hardened("logout confirmation", r).await.contains("Sign out?"));
    let r = b.get(idp.auth_url("nobody", &[])).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_hardened("error page", r).await;
    let r = browser().get(idp.url("profile")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_hardened("not signed in", r).await;
    let r = browser().get(idp.url("oauth2/sessions/logout")).send().await.unwrap();
    assert!(assert_hardened("signed out", r).await.contains("You are signed out"));
    // The stylesheet is a same-origin file, not sniffable as anything else.
    let r = reqwest::get(idp.url("assets/idp.css")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.text().await.unwrap().contains("button.secondary"));
    // JSON responses are not sniffable either.
    let r = reqwest::get(idp.url(".well-known/openid-configuration")).await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn an_https_issuer_adds_strict_transport_security() {
    let mut cfg = test_config(Storage::Memory);
    cfg.issuer = Some(url::Url::parse("https://idp.example/").unwrap());
    let idp = idp::Idp::build(cfg).await.unwrap();
    let addr = idp.addr();
    let server = tokio::spawn(idp.run_until_stopped());
    let r = reqwest::get(format!("http://{addr}/health/alive")).await.unwrap();
    assert!(r.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    let r = reqwest::get(format!("http://{addr}/profile")).await.unwrap();
    assert!(r.headers().contains_key("strict-transport-security"));
    assert!(r.headers().contains_key("content-security-policy"));
    server.abort();
}

#[tokio::test]
async fn authorization_requests_are_limited_per_ip_and_recover() {
    let idp = spawn_with(limited(5, 3, 300, 300)).await;
    let b = browser();
    for _ in 0..3 {
        assert_eq!(b.get(idp.auth_url("web", &[])).send().await.unwrap().status(), 303);
    }
    let r = b.get(idp.auth_url("web", &[])).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let wait = retry_after(&r);
    assert!((1..=2).contains(&wait), "{wait}");
    assert!(r.text().await.unwrap().contains("Please wait"));
    // A JSON client gets the JSON error.
    let r = b.get(idp.auth_url("web", &[])).header("accept", "application/json").send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "too_many_requests");
    // Another client IP has its own budget.
    let other = browser_from(Ipv4Addr::new(127, 0, 0, 2));
    assert_eq!(other.get(idp.auth_url("web", &[])).send().await.unwrap().status(), 303);
    // Other endpoints are not limited by this limit.
    assert_eq!(b.get(idp.url(".well-known/jwks.json")).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    assert_eq!(b.get(idp.auth_url("web", &[])).send().await.unwrap().status(), 303, "recovered");
}

#[tokio::test]
async fn the_email_step_is_limited_per_ip_and_recovers() {
    let idp = spawn_with(limited(5, 300, 3, 300)).await;
    let b = browser();
    let (challenge, csrf) = start_login(&idp, &b).await;
    let email = |e: &str| {
        b.post(idp.url("login")).form(&[("login_challenge", challenge.as_str()), ("csrf", csrf.as_str()), ("email", e)])
    };
    assert_eq!(email("new.one@example.com").send().await.unwrap().status(), 200);
    let register = || {
        b.post(idp.url("login/register")).form(&[
            ("login_challenge", challenge.as_str()),
            ("csrf", csrf.as_str()),
            ("first_name", ""),
        ])
    };
    assert_eq!(register().send().await.unwrap().status(), 422);
    assert_eq!(email("new.one@example.com").send().await.unwrap().status(), 200);
    // The fourth email-step request (registration counts too) is refused.
    let r = register().send().await.unwrap();
    assert_eq!(r.status(), 429);
    let r = email("user@example.com").send().await.unwrap();
    assert_eq!(r.status(), 429);
    let wait = retry_after(&r);
    assert!(r.text().await.unwrap().contains("too many"));
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    let r = email("user@example.com").send().await.unwrap();
    assert_eq!(r.status(), 200, "recovered");
    assert!(r.text().await.unwrap().contains("Enter your passcode"));
}

#[tokio::test]
async fn the_passcode_step_is_limited_per_ip_and_recovers() {
    let idp = spawn_with(limited(5, 300, 300, 3)).await;
    let b = browser();
    let (_, _, challenge, csrf) = idp.submit_email(&b, &idp.auth_url("web", &[]), "user@example.com").await;
    let good = idp.passcode("user@example.com").await;
    let wrong = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    let resend =
        || b.post(idp.url("login/resend")).form(&[("login_challenge", challenge.as_str()), ("csrf", csrf.as_str())]);
    assert_eq!(idp.submit_passcode(&b, &challenge, &csrf, &wrong).await.status(), 422);
    assert_eq!(idp.submit_passcode(&b, &challenge, &csrf, &wrong).await.status(), 422);
    assert_eq!(resend().send().await.unwrap().status(), 200);
    // Over the limit: refused before the passcode is even looked at, resend too.
    let fresh = idp.passcode("user@example.com").await;
    let r = idp.submit_passcode(&b, &challenge, &csrf, &fresh).await;
    assert_eq!(r.status(), 429);
    let wait = retry_after(&r);
    assert_eq!(resend().send().await.unwrap().status(), 429);
    // Another client IP is not affected (its own browser and login request).
    let other = browser_from(Ipv4Addr::new(127, 0, 0, 3));
    let (_, _, c2, s2) = idp.submit_email(&other, &idp.auth_url("web", &[]), "admin@example.com").await;
    let code2 = idp.passcode("admin@example.com").await;
    assert_eq!(idp.submit_passcode(&other, &c2, &s2, &code2).await.status(), 303);
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    let r = idp.submit_passcode(&b, &challenge, &csrf, &fresh).await;
    assert_eq!(r.status(), 303, "recovered, and the refused request did not use an attempt");
}

#[tokio::test]
async fn without_connect_info_all_clients_share_one_budget_and_nothing_panics() {
    // Embedded in another app's router, served without ConnectInfo.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let provider = idp::Idp::provider(limited(60, 2, 300, 300), addr).await.unwrap();
    let app = axum::Router::new().merge(idp::router(provider));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!(
        "http://{addr}/oauth2/auth?client_id=web&redirect_uri={REDIRECT}&response_type=code&scope=openid&state=s"
    );
    assert_eq!(browser().get(&url).send().await.unwrap().status(), 303);
    assert_eq!(browser_from(Ipv4Addr::new(127, 0, 0, 4)).get(&url).send().await.unwrap().status(), 303);
    let r = browser().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429, "one shared key when the peer address is unknown");
    assert!(r.headers().contains_key("retry-after"));
    server.abort();
}

/// Guesses wrong passcodes for `email` over fresh login requests (three per
/// request, as many requests as needed) until the provider answers 429;
/// returns how many wrong passcodes were checked and the 429 response.
async fn guess_until_locked(idp: &TestIdp, email: &str, max_guesses: usize) -> (usize, reqwest::Response) {
    let mut wrong = 0;
    loop {
        let b = browser();
        let (challenge, csrf) = start_login(idp, &b).await;
        let r = b
            .post(idp.url("login"))
            .form(&[("login_challenge", challenge.as_str()), ("csrf", csrf.as_str()), ("email", email)])
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            return (wrong, r);
        }
        assert_eq!(r.status(), 200);
        let good: u32 = idp.passcode(email).await.parse().unwrap();
        for i in 1..=3 {
            let guess = format!("{:06}", (good + i) % 1_000_000);
            let r = idp.submit_passcode(&b, &challenge, &csrf, &guess).await;
            if r.status() == 429 {
                return (wrong + 1, r);
            }
            assert_eq!(r.status(), 422);
            wrong += 1;
            assert!(wrong < max_guesses, "{max_guesses} wrong passcodes and still not locked");
        }
    }
}

#[tokio::test]
async fn wrong_passcodes_across_fresh_login_requests_lock_only_that_identity() {
    let mut cfg = test_config(Storage::Memory);
    cfg.rate_limits.lockout = 2;
    let idp = spawn_with(cfg).await;
    // The real user has a passcode in hand before the attack starts.
    let victim = browser();
    let (_, _, v_challenge, v_csrf) = idp.submit_email(&victim, &idp.auth_url("web", &[]), "user@example.com").await;
    let v_code = idp.passcode("user@example.com").await;

    let (wrong, r) = guess_until_locked(&idp, "user@example.com", 30).await;
    assert_eq!(wrong, 10, "the tenth wrong passcode locks the identity");
    assert_eq!(r.status(), 429);
    let wait = retry_after(&r);
    assert!((1..=2).contains(&wait), "{wait}");
    assert!(r.text().await.unwrap().contains("Please wait"));
    // Locked: even the correct passcode is refused, and new login requests get no passcode.
    let r = idp.submit_passcode(&victim, &v_challenge, &v_csrf, &v_code).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.unwrap().contains("wrong passcodes"));
    let sent: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM mailbox WHERE recipient = 'user@example.com'")
        .fetch_one(&idp.provider.db)
        .await
        .unwrap();
    let (_, r) = guess_until_locked(&idp, "user@example.com", 1).await;
    assert_eq!(r.status(), 429);
    let after: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM mailbox WHERE recipient = 'user@example.com'")
        .fetch_one(&idp.provider.db)
        .await
        .unwrap();
    assert_eq!(sent, after, "no passcode is sent to a locked identity");
    // Another identity signs in as usual.
    idp.login(&browser(), &idp.auth_url("web", &[]), "admin@example.com").await;

    // After the lock, the user's passcode works (the refused tries used no attempt).
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
    let r = idp.submit_passcode(&victim, &v_challenge, &v_csrf, &v_code).await;
    assert_eq!(r.status(), 303);
    // Back-off: the next lock lasts twice as long.
    let (wrong, r) = guess_until_locked(&idp, "user@example.com", 30).await;
    assert_eq!(wrong, 10);
    let wait = retry_after(&r);
    assert!((3..=4).contains(&wait), "the second lock lasts longer: {wait}");
}

#[tokio::test]
async fn a_passcode_lock_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("idp-lock-{}", uuid::Uuid::new_v4()));
    let cfg = test_config(Storage::Dir(dir.clone()));
    {
        let idp = spawn_with(cfg.clone()).await;
        let (wrong, _) = guess_until_locked(&idp, "user@example.com", 30).await;
        assert_eq!(wrong, 10);
    }
    let idp = spawn_with(cfg).await;
    let (wrong, r) = guess_until_locked(&idp, "user@example.com", 1).await;
    assert_eq!((wrong, r.status().as_u16()), (0, 429), "still locked after the restart");
    assert!(retry_after(&r) > 3000, "the default lock lasts an hour");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_hint_for_another_user_asks_before_signing_out() {
    let idp = spawn().await;
    let b = browser();
    idp.login(&b, &idp.auth_url("web", &[]), "user@example.com").await;
    // A valid ID token, but of another user (signed in elsewhere).
    let other = idp.tokens_for("admin@example.com").await;
    let hint = other["id_token"].as_str().unwrap();
    let mut u = url::Url::parse(&idp.url("oauth2/sessions/logout")).unwrap();
    u.query_pairs_mut()
        .append_pair("id_token_hint", hint)
        .append_pair("post_logout_redirect_uri", POST_LOGOUT)
        .append_pair("state", "bye");
    let r = b.get(u.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 200, "a confirmation, not a redirect");
    let page = r.text().await.unwrap();
    assert!(page.contains("Sign out?") && page.contains("user@example.com"), "{page}");
    let still_signed_in = || async {
        let r = b.get(idp.auth_url("web", &[("prompt", "none")])).send().await.unwrap();
        query_of(&location(&r)).contains_key("code")
    };
    assert!(still_signed_in().await, "the user's session is alive");
    assert_eq!(b.get(idp.url("profile")).send().await.unwrap().status(), 200);
    assert!(idp.logout_tokens.lock().unwrap().is_empty(), "no back-channel logout yet");
    // The same by POST with a forged CSRF token.
    let r = b
        .post(idp.url("oauth2/sessions/logout"))
        .form(&[("id_token_hint", hint), ("csrf", "forged"), ("post_logout_redirect_uri", POST_LOGOUT)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Sign out?"));
    assert!(still_signed_in().await);
    // The user confirms: the form carries the hint, redirect URI and state.
    let form: Vec<(&str, String)> = ["csrf", "id_token_hint", "post_logout_redirect_uri", "state"]
        .into_iter()
        .map(|k| (k, hidden_value(&page, k).unwrap_or_else(|| panic!("no {k} in {page}"))))
        .collect();
    let r = b.post(idp.url("oauth2/sessions/logout")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), format!("{POST_LOGOUT}?state=bye"));
    let r = b.get(idp.auth_url("web", &[("prompt", "none")])).send().await.unwrap();
    assert_eq!(query_of(&location(&r))["error"], "login_required", "confirmed: signed out");
}

#[tokio::test]
async fn introspection_needs_a_confidential_client() {
    let idp = spawn().await;
    let t = idp.tokens_for("user@example.com").await;
    let at = t["access_token"].as_str().unwrap();
    let introspect = || reqwest::Client::new().post(idp.url("oauth2/introspect"));
    let refused = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 401);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_client", "{v}");
    };
    // A public client only names itself: not enough.
    refused(introspect().form(&[("client_id", "public"), ("token", at)]).send().await.unwrap()).await;
    // No client authentication at all.
    refused(introspect().form(&[("token", at)]).send().await.unwrap()).await;
    // A public client cannot pass a made-up secret either.
    refused(
        introspect().basic_auth("public", Some("made-up-secret-123456")).form(&[("token", at)]).send().await.unwrap(),
    )
    .await;
    // Confidential clients, with either method.
    let r = introspect().basic_auth("web", Some(SECRET)).form(&[("token", at)]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    let r = introspect().form(&[("client_id", "post"), ("client_secret", SECRET), ("token", at)]).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn token_stats_need_a_stats_token_and_refuse_admin_api_tokens() {
    let idp = spawn().await;
    let stats = || reqwest::Client::new().get(idp.url("stats/tokens"));
    let r = stats().send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(stats().bearer_auth("junk").send().await.unwrap().status(), 401);
    let user = idp.tokens_for("user@example.com").await;
    let r = stats().bearer_auth(user["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 403, "a user's token");
    let api_only = idp.machine_token("api").await;
    assert_eq!(stats().bearer_auth(&api_only).send().await.unwrap().status(), 403, "another audience");
    let admin = idp.machine_token("admin-api").await;
    assert_eq!(stats().bearer_auth(&admin).send().await.unwrap().status(), 403, "an Admin API token");
    let reader = idp.machine_token("provider-stats").await;
    let r = stats().bearer_auth(&reader).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["client_credentials"]["machine"], 3, "{v}");
    assert_eq!(v["authorization_code"]["web"], 1, "{v}");
}

#[tokio::test]
async fn a_stats_token_cannot_use_the_admin_api() {
    let idp = spawn().await;
    let reader = idp.machine_token("provider-stats").await;
    let admin = reqwest::Client::new();
    let r = admin.get(idp.url("admin/identities")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(r.status(), 403, "listing identities");
    let r = admin
        .post(idp.url("admin/identities"))
        .bearer_auth(&reader)
        .json(&serde_json::json!({"schema_id": "default", "traits": {"email": "mallory@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "creating an identity");
    let all: Value = admin
        .get(idp.url("admin/identities"))
        .bearer_auth(idp.machine_token("admin-api").await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = all.as_array().unwrap().iter().find(|i| i["traits"]["email"] == "user@example.com").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin.delete(idp.url(&format!("admin/identities/{id}"))).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(r.status(), 403, "deleting an identity");
    assert_eq!(all.as_array().unwrap().len(), 2, "nothing was created");
    // The checked-in stats client gets only the statistics audience.
    let dev = idp::Config::from_toml(idp::config::DEV_CONFIG, "dev.toml").unwrap();
    let stats_client = dev.client("gatehouse-stats").unwrap();
    assert_eq!(stats_client.audiences, ["provider-stats"]);
    assert!(!stats_client.audiences.contains(&dev.admin_audience));
}

#[tokio::test]
async fn head_requests_to_the_authorization_endpoint_are_limited_like_get() {
    let idp = spawn_with(limited(60, 3, 300, 300)).await;
    let b = browser();
    let head = || b.head(idp.auth_url("web", &[])).send();
    for _ in 0..3 {
        assert_eq!(head().await.unwrap().status(), 303);
    }
    let r = head().await.unwrap();
    assert_eq!(r.status(), 429, "HEAD is served by the GET handler, so it is limited too");
    assert!(r.headers().contains_key("retry-after"));
    let r = b.get(idp.auth_url("web", &[])).send().await.unwrap();
    assert_eq!(r.status(), 429, "HEAD and GET share one budget");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_requests").fetch_one(&idp.provider.db).await.unwrap();
    assert_eq!(n, 3, "refused requests create no login request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passcodes_over_many_login_requests_get_at_most_the_identity_limit_compared() {
    // On disk, so several database connections serve the guesses in parallel.
    let dir = std::env::temp_dir().join(format!("idp-parallel-{}", uuid::Uuid::new_v4()));
    let idp = spawn_with(test_config(Storage::Dir(dir.clone()))).await;
    let email = "user@example.com";
    // The real user has a passcode in hand before the attack starts.
    let victim = browser();
    let (_, _, v_challenge, v_csrf) = idp.submit_email(&victim, &idp.auth_url("web", &[]), email).await;
    let v_code = idp.passcode(email).await;
    // The attacker opens 20 login requests for the email (3 attempts each)...
    let mut guesses = Vec::new();
    for _ in 0..20 {
        let b = browser();
        let (status, html, challenge, csrf) = idp.submit_email(&b, &idp.auth_url("web", &[]), email).await;
        assert_eq!(status, 200, "{html}");
        let good: u32 = idp.passcode(email).await.parse().unwrap();
        for i in 1..=3 {
            guesses.push((b.clone(), challenge.clone(), csrf.clone(), format!("{:06}", (good + i) % 1_000_000)));
        }
    }
    // ...and fires all 60 wrong guesses at once.
    let url = idp.url("login/passcode");
    let tasks: Vec<_> = guesses
        .into_iter()
        .map(|(b, challenge, csrf, guess)| {
            let url = url.clone();
            tokio::spawn(async move {
                let r = b
                    .post(url)
                    .form(&[("login_challenge", challenge), ("csrf", csrf), ("passcode", guess)])
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                (status, r.text().await.unwrap())
            })
        })
        .collect();
    let mut wrong = 0;
    let mut refused = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            422 => {
                assert!(body.contains("passcode"), "{body}");
                wrong += 1;
            }
            429 => refused += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // At most 10 compared: nine answered "not correct", the tenth locked the
    // identity (429), and every other guess was refused before comparing.
    assert!(wrong <= 9, "{wrong} wrong passcodes were answered as compared; the identity limit is 10");
    assert_eq!(wrong + refused, 60);
    // The identity is locked now: even the correct passcode is refused.
    let r = idp.submit_passcode(&victim, &v_challenge, &v_csrf, &v_code).await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("wrong passcodes"));
    drop(idp);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_provider_keeps_its_data_directory_and_files_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("idp-private-{}", uuid::Uuid::new_v4())).join("idp");
    let idp = spawn_with(test_config(Storage::Dir(dir.clone()))).await;
    idp.tokens_for("user@example.com").await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.len() >= 3, "database, -wal and -shm: {files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{f:?}");
    }
    drop(idp);
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}
