//! Everything logged during a whole session — sign-in at the embedded
//! provider (in this process, logging too), a token refresh, an admin
//! action and sign-out — at `debug` for every crate, in both log formats,
//! holds none of the issued tokens, secrets, cookie values or passcodes.
#![expect(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;

/// Where the subscriber writes: one buffer for the whole test binary.
#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// The value of the `logout_token` field of the signed-in page.
fn logout_token(html: &str) -> String {
    let m = "name=\"logout_token\" value=\"";
    let s = html.find(m).unwrap() + m.len();
    html[s..s + html[s..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn a_whole_session_logs_no_token_secret_cookie_or_passcode() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    // Text lines and JSON lines, both at debug for every crate.
    use tracing_subscriber::layer::SubscriberExt as _;
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("debug"))
        // Without timestamps: their digits could pass for a six-digit passcode.
        .with(tracing_subscriber::fmt::layer().without_time().with_writer(Capture(buffer.clone())).with_ansi(false))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .without_time()
                .with_current_span(true)
                .with_writer(Capture(buffer.clone())),
        );
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let key_line = bff::sealing::TokenKeys::generate_line("leak");
    let mut settings = test_settings();
    settings.token_keys = Some(bff::sealing::TokenKeys::parse(&key_line).unwrap());
    // Every use of the access token refreshes it first.
    settings.refresh_skew_secs = 365 * 24 * 3600;
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let app = spawn_app_with(settings).await;
    let app = TestApp { base: app.base, client: browser_with_jar(jar.clone()) };
    let provider = provider_base(&app).await;

    signed_in(&app, "admin@example.com").await;
    let cookies = reqwest::cookie::CookieStore::cookies(&*jar, &app.base.parse().unwrap()).unwrap();
    let cookies = cookies.to_str().unwrap().to_string();
    let info = api_form(&app, "userinfo", &[]).await;
    assert_eq!(info.status(), 200, "userinfo, after a refresh");
    let created = api_form(
        &app,
        "admin_create_identity",
        &[("email", "leak-check@example.com"), ("first_name", "Leak"), ("last_name", "Check"), ("academic_degree", "")],
    )
    .await;
    assert!(created.status().is_success() || created.status().is_redirection(), "{}", created.status());
    let logs_so_far = String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned();
    // Tokens still live at this point (the refreshed ones among them).
    assert_no_live_token(&provider, &logs_so_far).await;

    let html = app.client.get(&app.base).send().await.unwrap().text().await.unwrap();
    let out = app
        .client
        .post(format!("{}/logout", app.base))
        .form(&[("logout_token", logout_token(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303, "signed out");

    let mailbox: serde_json::Value =
        reqwest::get(format!("{provider}mailbox/messages")).await.unwrap().json().await.unwrap();
    let passcodes: Vec<String> =
        mailbox.as_array().unwrap().iter().filter_map(|m| m["passcode"].as_str().map(String::from)).collect();
    assert!(!passcodes.is_empty(), "the sign-in sent a passcode: {mailbox}");

    let logs = String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned();
    assert!(logs.contains("signed in") && logs.contains("\"level\":\"INFO\""), "both formats were captured");
    assert!(logs.lines().count() > 100, "debug logs of every crate were captured");
    let key_material = key_line.split_once(':').unwrap().1.to_string();
    let mut secrets: Vec<(&str, String)> = vec![
        ("the app's client secret", APP_SECRET.into()),
        ("the Admin API client's secret", "gatehouse-admin-dev-secret-not-for-production".into()),
        ("the token key", key_material),
    ];
    for cookie in cookies.split(';') {
        let (name, value) = cookie.trim().split_once('=').unwrap();
        secrets.push(("a cookie value", value.to_string()));
        assert!(value.len() >= 16, "{name} has a value worth looking for");
    }
    for (what, secret) in &secrets {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(secret.as_str())).take(3).collect();
        assert!(lines.is_empty(), "{what} is in the logs: {lines:#?}");
    }
    // A passcode is six digits: looked for as a number of its own.
    let numbers: std::collections::BTreeSet<&str> =
        logs.split(|c: char| !c.is_ascii_digit()).filter(|n| n.len() == 6).collect();
    for passcode in &passcodes {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(passcode.as_str())).collect();
        assert!(!numbers.contains(passcode.as_str()), "a passcode is in the logs: {lines:#?}");
    }
    // The code exchange at the provider carries the id of the app's request
    // that made it: the same id is on the app's lines and the provider's.
    let exchange = logs
        .lines()
        .find(|l| l.contains("path=/oauth2/token request_id=") && !l.contains("request_id=\"-\""))
        .expect("the provider logged the app's request id on the code exchange");
    let id = exchange.split("request_id=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
    assert_eq!(id.len(), 24, "{exchange}");
    assert!(logs.contains(&format!("request{{id={id} method=GET route=/login}}")), "the app's line with {id}");
    // JWTs (ID and access tokens, logout hints) start with the encoding of `{"`.
    assert!(!logs.contains("eyJ"), "a JWT is in the logs");
}
