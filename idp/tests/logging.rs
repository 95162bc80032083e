//! What the provider writes to its log, captured at TRACE level: passcodes only
//! in dev mode, and request values that cannot forge log lines. One test per
//! process, since it installs the global subscriber.
#![expect(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use idp::config::Storage;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
    /// Whether `digits` appears in the log as a whole number.
    fn has_number(&self, digits: &str) -> bool {
        self.text().split(|c: char| !c.is_ascii_digit()).any(|n| n == digits)
    }
}

async fn stored_passcode(idp: &TestIdp, email: &str) -> String {
    let (code,): (String,) =
        sqlx::query_as("SELECT passcode FROM mailbox WHERE recipient = ? ORDER BY seq DESC LIMIT 1")
            .bind(email)
            .fetch_one(&idp.provider.db)
            .await
            .unwrap();
    code
}

#[tokio::test]
async fn passcodes_are_never_logged_and_request_values_cannot_forge_lines() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    // Not in dev mode: a whole sign-in (with a wrong guess first) logs no passcode, at any level.
    let mut cfg = test_config(Storage::Memory);
    cfg.dev_mode = false;
    let idp = spawn_with(cfg).await;
    let b = browser();
    let (_, _, challenge, csrf) = idp.submit_email(&b, &idp.auth_url("web", &[]), "user@example.com").await;
    let code = stored_passcode(&idp, "user@example.com").await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_eq!(idp.submit_passcode(&b, &challenge, &csrf, &wrong).await.status(), 422);
    assert_eq!(idp.submit_passcode(&b, &challenge, &csrf, &code).await.status(), 303);
    let text = log.text();
    assert!(text.contains("mail stored in the local mailbox"), "the delivery itself is logged: {text}");
    assert!(!log.has_number(&code), "the passcode {code} was logged:\n{text}");
    assert!(!log.has_number(&wrong), "a guessed passcode was logged:\n{text}");

    // Values with line breaks from a request stay on their line.
    log.clear();
    let forged = "x\nFORGED level=ERROR admin signed in\r\nFORGED";
    let b = browser();
    let _ = b.get(idp.auth_url("web", &[("state", forged), ("login_hint", forged), ("nonce", forged)])).send().await;
    let _ = b.get(idp.auth_url(forged, &[])).send().await;
    let (_, _, c, s) = idp.submit_email(&b, &idp.auth_url("web", &[]), "admin@example.com").await;
    let _ = b
        .post(idp.url("login"))
        .form(&[("login_challenge", c.as_str()), ("csrf", s.as_str()), ("email", forged)])
        .send()
        .await;
    let _ = b
        .post(idp.url("login/passcode"))
        .form(&[("login_challenge", c.as_str()), ("csrf", s.as_str()), ("passcode", forged)])
        .send()
        .await;
    let _ = reqwest::Client::new()
        .post(idp.url("oauth2/token"))
        .form(&[("client_id", forged), ("grant_type", forged)])
        .send()
        .await;
    let _ = reqwest::Client::new()
        .delete(idp.url("oauth2/tokens?client_id=x%0AFORGED"))
        .basic_auth("web", Some(SECRET))
        .send()
        .await;
    let _ = b.get(idp.url("oauth2/sessions/logout?id_token_hint=x%0AFORGED&state=%0AFORGED")).send().await;
    let text = log.text();
    assert!(!text.is_empty());
    assert!(!text.lines().any(|l| l.trim_start().starts_with("FORGED")), "a forged log line:\n{text}");

    // Dev mode neither: the passcode is read at /mailbox, never in the log.
    log.clear();
    let idp = spawn().await;
    let (_, _, _, _) = idp.submit_email(&browser(), &idp.auth_url("web", &[]), "user@example.com").await;
    let code = idp.passcode("user@example.com").await;
    assert!(log.text().contains("read it at /mailbox"), "the delivery is logged:\n{}", log.text());
    assert!(!log.has_number(&code), "dev mode logged the passcode:\n{}", log.text());
}
