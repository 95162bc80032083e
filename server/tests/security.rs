//! The app's defences, each attacked over HTTP against the real server and its
//! embedded provider: cross-site writes, security headers, sessions at rest,
//! no stored state for anonymous visitors, rate limits, fail-closed startup
//! and forged log lines.
#![expect(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use reqwest::cookie::CookieStore as _;
use serde_json::Value;

/// A browser-like client whose cookies the test can read, and a second
/// client on the same cookies that sends no `Sec-Fetch-Site` of its own
/// (what a cross-site page's request carries is set per request).
fn jar_clients() -> (reqwest::Client, reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let build = |same_origin: bool| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::ACCEPT, reqwest::header::HeaderValue::from_static("text/html,*/*;q=0.8"));
        if same_origin {
            headers.insert("sec-fetch-site", reqwest::header::HeaderValue::from_static("same-origin"));
        }
        reqwest::Client::builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    };
    (build(true), build(false), jar)
}

/// The value of the app's session cookie in `jar`.
fn session_cookie(jar: &reqwest::cookie::Jar, base: &str) -> String {
    let header = jar.cookies(&base.parse().unwrap()).unwrap();
    header
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("gatehouse="))
        .expect("a session cookie")
        .to_string()
}

/// What a cross-site page (or a same-site sibling) can make a browser send.
const ATTACKS: &[&[(&str, &str)]] = &[
    &[("origin", "http://evil.example"), ("sec-fetch-site", "cross-site")],
    &[("origin", "http://evil.example")],
    &[("sec-fetch-site", "cross-site")],
    &[("sec-fetch-site", "same-site")],
    &[("origin", "null")],
    &[],
];

#[tokio::test]
async fn cross_site_writes_are_refused_with_a_signed_in_cookie_and_same_origin_ones_work() {
    let (client, bare, _) = jar_clients();
    let app = spawn_app().await;
    let app = TestApp { base: app.base, client };
    signed_in(&app, "admin@example.com").await;
    let user = current_user(&app).await;
    let logout_token = user["logout_token"].as_str().unwrap().to_string();
    let name_before = user["display_name"].clone();

    let writes: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("api/complete_onboarding", vec![("display_name", "Forged Name"), ("return_to", "/")]),
        (
            "api/admin_create_identity",
            vec![
                ("email", "csrf-victim@example.com"),
                ("first_name", "C"),
                ("last_name", "S"),
                ("academic_degree", ""),
            ],
        ),
        ("api/end_my_session", vec![("id", "anything")]),
        ("logout", vec![("logout_token", logout_token.as_str())]),
    ];
    for (path, fields) in &writes {
        for attack in ATTACKS {
            for accept in ["application/json", "text/html"] {
                let mut req = bare.post(format!("{}/{path}", app.base)).header("accept", accept).form(fields);
                for (k, v) in *attack {
                    req = req.header(*k, *v);
                }
                let r = req.send().await.unwrap();
                assert_eq!(r.status(), 403, "{path} with {attack:?}");
                let body = r.text().await.unwrap();
                if accept == "application/json" {
                    let v: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(v["error"], "forbidden", "{body}");
                } else {
                    assert!(body.contains("Request refused"), "{body}");
                }
            }
        }
    }
    // Nothing happened.
    assert!(is_signed_in(&app).await, "still signed in");
    assert_eq!(current_user(&app).await["display_name"], name_before);
    let list: Value =
        api_form(&app, "admin_list_identities", &[("email", "csrf-victim@example.com")]).await.json().await.unwrap();
    assert_eq!(list["rows"].as_array().unwrap().len(), 0, "no identity was created: {list}");

    // The same writes from the app's own origin work (Origin, as browsers send on form posts).
    let same = |path: &str| bare.post(format!("{}/{path}", app.base)).header("origin", app.base.as_str());
    let r = same("api/admin_create_identity").form(&writes[1].1).send().await.unwrap();
    assert!(r.status().is_redirection(), "created: {}", r.status());
    let r = same("api/complete_onboarding").form(&writes[0].1).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(current_user(&app).await["display_name"], "Forged Name");
    let r = same("logout").form(&writes[3].1).send().await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert!(!is_signed_in(&app).await, "signed out");
}

#[tokio::test]
async fn reads_and_server_to_server_calls_are_not_checked() {
    let (_, bare, _) = jar_clients();
    let app = spawn_app().await;
    let r = bare.get(format!("{}/", app.base)).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(r.status(), 200, "a link from another site still opens the app");
    // The back-channel logout is signed and comes from the provider, never a browser.
    let r = bare
        .post(format!("{}/backchannel-logout", app.base))
        .header("origin", "http://evil.example")
        .form(&[("logout_token", "not-a-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "judged by its token, not its origin");
    // /api/v1 takes Bearer tokens only, so no origin check applies.
    let r = bare
        .put(format!("{}/api/v1/settings", app.base))
        .header("origin", "http://evil.example")
        .header("authorization", "Bearer x.y.z")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn with_a_token_cookie_the_api_checks_the_origin_of_unsafe_calls() {
    let mut settings = test_settings();
    settings.api.cookie = Some("hanko".into());
    let app = spawn_app_with(settings).await;
    let (_, bare, _) = jar_clients();
    let provider = provider_base(&app).await;
    let token = user_token(&provider, "user@example.com", "openid settings:write").await;
    let put = |origin: &str| {
        bare.put(format!("{}/api/v1/settings", app.base))
            .header("origin", origin)
            .header("cookie", format!("hanko={token}"))
            .json(&serde_json::json!({"display_name": "Via Cookie"}))
    };
    let r = put("http://evil.example").send().await.unwrap();
    assert_eq!(r.status(), 403, "a cross-site page riding on the cookie");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "forbidden");
    assert_eq!(put(&app.base).send().await.unwrap().status(), 200, "the app's own origin");
}

#[tokio::test]
async fn html_pages_carry_the_security_headers_and_a_fresh_nonce() {
    let app = spawn_app().await;
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let r = app.client.get(format!("{}/", app.base)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        assert!(h.get(app::NONCE_HEADER).is_none(), "the internal header is not sent");
        let csp = h["content-security-policy"].to_str().unwrap().to_string();
        for part in [
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "'wasm-unsafe-eval'",
            "form-action 'self' http://localhost:",
        ] {
            assert!(csp.contains(part), "{part}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        assert!(h["permissions-policy"].to_str().unwrap().contains("camera=()"));
        assert!(h.get("strict-transport-security").is_none(), "no HSTS on http");
        let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap().to_string();
        let body = r.text().await.unwrap();
        // Every inline script carries this response's nonce.
        let scripts = body.matches("<script").count();
        assert!(scripts > 0, "the hydration script is inline");
        assert_eq!(body.matches(&format!("nonce=\"{nonce}\"")).count(), scripts, "{body}");
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a fresh nonce per response");

    // Pages outside Leptos (a sign-in failure) have no script at all.
    let r = app.client.get(format!("{}/login?code=x&state=y", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'none'"));
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    // A 404 page and JSON answers get the generic headers too.
    let r = app.client.get(format!("{}/no-such-page", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("'nonce-"));
    let r = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn https_public_urls_get_hsts_and_secure_host_cookies() {
    let mut settings = test_settings();
    settings.public_url = Some(url::Url::parse("https://app.example.com/").unwrap());
    let app = spawn_app_with(settings).await;
    let r = app.client.get(format!("{}/", app.base)).send().await.unwrap();
    assert!(r.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));
    let r = app.client.get(format!("{}/login", app.base)).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-gatehouse-login-") && cookie.contains("Secure"), "{cookie}");
}

/// Session records in the SQLite store.
async fn session_rows(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let url = format!("sqlite://{}?mode=ro", dir.join("sessions.sqlite3").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows = sqlx::query_as("SELECT id, data FROM tower_sessions").fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_dump_of_the_sqlite_store_holds_no_session_cookie_and_files_are_private() {
    let dir = temp_dir("at-rest");
    let mut settings = test_settings();
    settings.data_dir = Some(dir.clone());
    let app = spawn_app_with(settings).await;
    let (client, _, jar) = jar_clients();
    let bare = reqwest::Client::new();
    let app = TestApp { base: app.base, client };
    signed_in(&app, "user@example.com").await;
    let cookie = session_cookie(&jar, &app.base);

    let rows = session_rows(&dir).await;
    assert_eq!(rows.len(), 1, "one signed-in session");
    let bytes = std::fs::read(dir.join("sessions.sqlite3")).unwrap();
    let wal = std::fs::read(dir.join("sessions.sqlite3-wal")).unwrap_or_default();
    for blob in [&bytes, &wal] {
        assert!(!blob.windows(cookie.len()).any(|w| w == cookie.as_bytes()), "the cookie value is not in the store");
    }
    // What the store does hold, presented as a cookie, signs nobody in.
    for (id, _) in &rows {
        assert_ne!(id, &cookie);
        let r = bare
            .post(format!("{}/api/current_user", app.base))
            .header("accept", "application/json")
            .header("sec-fetch-site", "same-origin")
            .header("cookie", format!("gatehouse={id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap(), Value::Null, "a stored id is not a session cookie");
    }
    assert!(is_signed_in(&app).await, "the real cookie still works");

    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700, "data directory");
        for entry in walk(&dir) {
            let m = mode(&entry);
            if entry.is_dir() {
                assert_eq!(m, 0o700, "{}", entry.display());
            } else {
                assert_eq!(m, 0o600, "{}", entry.display());
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(unix)]
#[tokio::test]
async fn with_an_external_provider_a_missing_data_directory_is_created_private() {
    let first = spawn_app().await;
    let provider = provider_base(&first).await;
    let dir = temp_dir("external").join("not").join("there");
    let mut settings = external_to(test_settings(), &provider);
    settings.data_dir = Some(dir.clone());
    let app = spawn_app_with(settings).await;
    assert!(app.client.get(format!("{}/healthz", app.base)).send().await.unwrap().status().is_success());
    assert_eq!(mode(&dir), 0o700);
    let files = walk(&dir);
    assert!(files.iter().any(|f| f.ends_with("sessions.sqlite3")), "{files:?}");
    for f in files.iter().filter(|f| f.is_file()) {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(walk(&path));
        }
        all.push(path);
    }
    all
}

#[tokio::test]
async fn a_dump_of_redis_holds_no_session_cookie() {
    let redis = RedisServer::start().await;
    let mut settings = test_settings();
    settings.redis_url = Some(redis.url.clone().into());
    let app = spawn_app_with(settings).await;
    let (client, _, jar) = jar_clients();
    let bare = reqwest::Client::new();
    let app = TestApp { base: app.base, client };
    signed_in(&app, "user@example.com").await;
    let cookie = session_cookie(&jar, &app.base);
    let dump = redis.dump();
    assert!(dump.contains("user@example.com"), "the dump is of the signed-in session");
    assert!(!dump.contains(&cookie), "the cookie value is not in Redis");
    for key in redis.cli(&["--scan"]).lines().filter(|l| !l.is_empty()) {
        let id = key.rsplit(':').next().unwrap();
        let r = bare
            .post(format!("{}/api/current_user", app.base))
            .header("accept", "application/json")
            .header("sec-fetch-site", "same-origin")
            .header("cookie", format!("gatehouse={id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap(), Value::Null, "key {key} is not a session cookie");
    }
}

#[tokio::test]
async fn anonymous_visitors_and_bogus_callbacks_store_nothing() {
    let dir = temp_dir("flood");
    let mut settings = test_settings();
    settings.data_dir = Some(dir.clone());
    let app = spawn_app_with(settings).await;
    let before = session_rows(&dir).await.len();
    let raw = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let requests: Vec<String> = (0..1000)
        .flat_map(|i| {
            [
                format!("{}/login?return_to=/p{i}", app.base),
                format!("{}/login?code=c{i}&state=s{i}", app.base),
                format!("{}/login?error=access_denied&state=s{i}", app.base),
            ]
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for chunk in requests.chunks(50) {
        let answers = futures_join(chunk.iter().map(|u| raw.get(u).send())).await;
        for a in answers {
            *statuses.entry(a.unwrap().status().as_u16()).or_insert(0) += 1;
        }
    }
    assert_eq!(statuses.get(&303), Some(&1000), "{statuses:?}");
    assert_eq!(statuses.get(&400), Some(&2000), "{statuses:?}");
    assert_eq!(session_rows(&dir).await.len(), before, "not one record was written");
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs the futures concurrently and collects their outputs in order.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn limited_app(limits: bff::rate_limit::Limits) -> TestApp {
    let mut settings = test_settings();
    settings.rate_limits = limits;
    spawn_app_with(settings).await
}

/// Sends `make()` until the answer is 429; returns that answer and how many got through.
async fn until_limited(make: impl Fn() -> reqwest::RequestBuilder) -> (reqwest::Response, usize) {
    for passed in 0..100 {
        let r = make().send().await.unwrap();
        if r.status() == 429 {
            return (r, passed);
        }
    }
    panic!("never limited");
}

#[tokio::test]
async fn every_limited_endpoint_answers_429_past_its_limit_and_recovers() {
    let per_second = |n| Some(bff::rate_limit::Rate { count: n, period: Duration::from_secs(1) });
    let off = bff::rate_limit::Limits::off();
    type Make = Box<dyn Fn(&TestApp) -> reqwest::RequestBuilder>;
    let cases: Vec<(&str, bff::rate_limit::Limits, Make, bool)> = vec![
        (
            "sign-in start",
            bff::rate_limit::Limits { sign_in: per_second(3), ..off.clone() },
            Box::new(|a: &TestApp| a.client.get(format!("{}/login", a.base))),
            false,
        ),
        (
            "sign-in callback",
            bff::rate_limit::Limits { sign_in: per_second(3), ..off.clone() },
            Box::new(|a: &TestApp| a.client.get(format!("{}/login?code=a&state=b", a.base))),
            false,
        ),
        (
            "server function write",
            bff::rate_limit::Limits { write: per_second(3), ..off.clone() },
            Box::new(|a: &TestApp| {
                a.client.post(format!("{}/api/current_user", a.base)).header("accept", "application/json")
            }),
            true,
        ),
        (
            "sign-out",
            bff::rate_limit::Limits { write: per_second(3), ..off.clone() },
            Box::new(|a: &TestApp| a.client.post(format!("{}/logout", a.base)).form(&[("logout_token", "x")])),
            false,
        ),
        (
            "api v1",
            bff::rate_limit::Limits { api: per_second(3), ..off.clone() },
            Box::new(|a: &TestApp| a.client.get(format!("{}/api/v1/me", a.base))),
            true,
        ),
        (
            "back-channel logout",
            bff::rate_limit::Limits { backchannel: per_second(3), ..off.clone() },
            Box::new(|a: &TestApp| {
                a.client.post(format!("{}/backchannel-logout", a.base)).form(&[("logout_token", "x")])
            }),
            true,
        ),
    ];
    for (name, limits, make, json) in cases {
        let app = limited_app(limits).await;
        let (r, passed) = until_limited(|| make(&app)).await;
        assert_eq!(passed, 3, "{name}: the burst gets through");
        let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&wait), "{name}: Retry-After {wait}");
        let body = r.text().await.unwrap();
        if json {
            assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "too_many_requests", "{name}");
        } else {
            assert!(body.contains("Too many requests"), "{name}: {body}");
        }
        tokio::time::sleep(Duration::from_secs(wait)).await;
        assert_ne!(make(&app).send().await.unwrap().status(), 429, "{name}: recovers after Retry-After");
    }
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let one = Some(bff::rate_limit::Rate { count: 1, period: Duration::from_secs(60) });
    let limits =
        bff::rate_limit::Limits { sign_in: one, write: None, api: None, backchannel: None, trusted_proxy_hops: 0 };
    let app = limited_app(limits.clone()).await;
    let login = |ip: &str| app.client.get(format!("{}/login", app.base)).header("x-forwarded-for", ip.to_string());
    assert_eq!(login("1.1.1.1").send().await.unwrap().status(), 303);
    assert_eq!(login("2.2.2.2").send().await.unwrap().status(), 429, "a forged header does not buy a fresh allowance");

    let app = limited_app(bff::rate_limit::Limits { trusted_proxy_hops: 1, ..limits }).await;
    let login = |ip: &str| app.client.get(format!("{}/login", app.base)).header("x-forwarded-for", ip.to_string());
    assert_eq!(login("1.1.1.1").send().await.unwrap().status(), 303);
    assert_eq!(login("1.1.1.1").send().await.unwrap().status(), 429);
    assert_eq!(login("2.2.2.2").send().await.unwrap().status(), 303, "behind our proxy, clients are told apart");
    assert_eq!(login("9.9.9.9, 2.2.2.2").send().await.unwrap().status(), 429, "only our proxy's entry counts");
}

/// The server binary with `env`, its output captured.
fn server_command(env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GATEHOUSE_DATA_DIR", ":memory:")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[test]
fn production_without_a_provider_refuses_to_start() {
    let out = server_command(&[("LEPTOS_ENV", "PROD"), ("LEPTOS_SITE_ADDR", &format!("127.0.0.1:{}", free_port()))])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("OIDC_ISSUER") && text.contains("GATEHOUSE_DEV_PROVIDER=1"), "{text}");
}

#[tokio::test]
async fn the_explicit_override_starts_it_and_provider_errors_cannot_forge_log_lines() {
    let port = free_port();
    let mut child = server_command(&[
        ("LEPTOS_ENV", "PROD"),
        ("GATEHOUSE_DEV_PROVIDER", "1"),
        ("LEPTOS_SITE_ADDR", &format!("127.0.0.1:{port}")),
        ("GATEHOUSE_IDP_ADDR", &format!("127.0.0.1:{}", free_port())),
    ])
    .spawn()
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..200 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if up {
        let forged = "x%0A2026-01-01T00:00:00Z%20INFO%20FORGED%20admin%20signed%20in";
        let r = reqwest::get(format!("{base}/login?error={forged}&error_description={forged}")).await.unwrap();
        assert_eq!(r.status(), 400);
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(up, "the server starts with GATEHOUSE_DEV_PROVIDER=1: {text}");
    assert!(text.contains("the provider ended sign-in with an error"), "{text}");
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("2026-01-01T00:00:00Z")),
        "a newline from the query string started a log line: {text}"
    );
}

#[test]
fn the_wasm_client_header_is_the_one_the_server_knows() {
    assert_eq!(app::api::client::CLIENT_HEADER, bff::csrf::CLIENT_HEADER);
}
