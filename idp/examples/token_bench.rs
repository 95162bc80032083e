//! Token-endpoint throughput for the authorization-code exchange, on loopback.
//!
//! ```text
//! cargo run --release -p idp --example token_bench -- [--codes N] [--concurrency C]
//! ```
//!
//! Starts the provider in-process with SQLite in a temporary directory, signs a
//! user in once through the HTML login (email + mailbox passcode), collects N
//! codes through SSO (`GET /oauth2/auth` answers with a code at once), then
//! exchanges them with C concurrent clients (PKCE, `client_secret_basic`) and
//! reports requests/s and latency percentiles. Bounded: N codes, one pass.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use idp::config::{AuthMethod, ClientConfig, Config, SeedIdentity, Storage};

const SECRET: &str = "bench-client-secret-0123456789";
const REDIRECT: &str = "http://127.0.0.1:9/cb";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn field(html: &str, name: &str) -> String {
    let m = format!("name=\"{name}\" value=\"");
    let s = html.find(&m).unwrap() + m.len();
    html[s..s + html[s..].find('"').unwrap()].to_string()
}

fn loc(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::main]
async fn main() {
    let codes = arg("--codes", 2000);
    let concurrency = arg("--concurrency", 16);
    let dir = std::env::temp_dir().join(format!("idp-bench-{}", uuid::Uuid::new_v4()));
    let mut cfg = Config::in_memory("127.0.0.1:0".parse().unwrap());
    cfg.storage = Storage::Dir(dir.clone());
    cfg.dev_mode = true; // the passcode comes from the mailbox
                         // N authorization requests from one IP in seconds: far above the default per-IP limit.
    cfg.rate_limits.authorize_per_ip = u32::try_from(codes).unwrap_or(u32::MAX).saturating_add(10);
    cfg.clients = vec![ClientConfig {
        id: "bench".into(),
        secret: Some(SECRET.into()),
        auth_method: AuthMethod::ClientSecretBasic,
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "email".into(), "profile".into(), "offline_access".into()],
        audiences: vec![],
    }];
    cfg.identities =
        vec![SeedIdentity { email: "bench@example.com".into(), first_name: Some("B".into()), last_name: None }];
    let server = idp::Idp::build(cfg).await.unwrap();
    let issuer = server.issuer().to_string();
    tokio::spawn(server.run_until_stopped());

    let verifier = "bench-verifier-0123456789-0123456789-0123456789";
    let challenge = idp::util::s256(verifier);
    let auth_url = format!(
        "{issuer}oauth2/auth?client_id=bench&redirect_uri={REDIRECT}&response_type=code&scope=openid+email+profile+offline_access&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256"
    );
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = browser.get(&auth_url).send().await.unwrap();
    let page =
        browser.get(format!("{issuer}{}", loc(&r).trim_start_matches('/'))).send().await.unwrap().text().await.unwrap();
    let (lc, csrf) = (field(&page, "login_challenge"), field(&page, "csrf"));
    browser
        .post(format!("{issuer}login"))
        .form(&[("login_challenge", lc.as_str()), ("csrf", csrf.as_str()), ("email", "bench@example.com")])
        .send()
        .await
        .unwrap();
    let mail: serde_json::Value = browser
        .get(format!("{issuer}mailbox/messages?email=bench@example.com"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let passcode = mail[0]["passcode"].as_str().unwrap().to_string();
    browser
        .post(format!("{issuer}login/passcode"))
        .form(&[("login_challenge", lc.as_str()), ("csrf", csrf.as_str()), ("passcode", passcode.as_str())])
        .send()
        .await
        .unwrap();

    let t0 = Instant::now();
    let mut pool = Vec::with_capacity(codes);
    for _ in 0..codes {
        let r = browser.get(&auth_url).send().await.unwrap();
        let url = url::Url::parse(&loc(&r)).unwrap();
        pool.push(url.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned());
    }
    let authorize_rps = codes as f64 / t0.elapsed().as_secs_f64();

    let pool = Arc::new(Mutex::new(pool));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(codes)));
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (pool, latencies, issuer) = (pool.clone(), latencies.clone(), issuer.clone());
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let Some(code) = pool.lock().unwrap().pop() else { break };
                let start = Instant::now();
                let r = http
                    .post(format!("{issuer}oauth2/token"))
                    .basic_auth("bench", Some(SECRET))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT),
                        ("code_verifier", verifier),
                    ])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "exchange failed");
                let _ = r.bytes().await.unwrap();
                latencies.lock().unwrap().push(start.elapsed());
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = t0.elapsed();
    let mut lat: Vec<Duration> = latencies.lock().unwrap().clone();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    println!("authorization codes via SSO: {codes} in sequence, {authorize_rps:.0} req/s");
    println!(
        "code exchange: {} requests, concurrency {concurrency}, {:.0} req/s, latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    let _ = std::fs::remove_dir_all(dir);
}
