//! A service calling the Gatehouse JSON API on its own behalf: it gets a
//! client-credentials token from the OpenID provider (audience
//! `gatehouse-api`, scope `settings:read`) and calls `/api/v1`.
//!
//! With the app running (`scripts/run`):
//!
//! ```sh
//! cargo run --example service_client             # token + what a service may and may not do
//! cargo run --example service_client -- <sub>    # also reads that user's settings
//! ```
//!
//! Environment (defaults fit `scripts/run` with the embedded provider):
//! `GATEHOUSE_URL` (`http://127.0.0.1:3000`), `OIDC_ISSUER`
//! (`http://localhost:3001/`), `SERVICE_CLIENT_ID` (`gatehouse-service`),
//! `SERVICE_CLIENT_SECRET` (its development secret), `GATEHOUSE_API_AUDIENCE`
//! (`gatehouse-api`). The token is never printed.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line example reports on the terminal

use std::process::ExitCode;

use serde_json::Value;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_string())
}

/// Where the app and the provider are, and who the service is.
pub(crate) struct Config {
    pub(crate) app: String,
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) secret: String,
    pub(crate) audience: String,
    /// A user whose settings to read.
    pub(crate) sub: Option<String>,
}

impl Config {
    fn from_env() -> Self {
        Config {
            app: env("GATEHOUSE_URL", "http://127.0.0.1:3000"),
            issuer: env("OIDC_ISSUER", "http://localhost:3001/"),
            client_id: env("SERVICE_CLIENT_ID", "gatehouse-service"),
            secret: env("SERVICE_CLIENT_SECRET", "gatehouse-service-dev-secret-not-for-production"),
            audience: env("GATEHOUSE_API_AUDIENCE", "gatehouse-api"),
            sub: std::env::args().nth(1),
        }
    }
}

/// What the service saw.
pub(crate) struct Report {
    /// `GET /api/v1/me` (a route for users): status and answer.
    pub(crate) me: (u16, Value),
    /// `GET /api/v1/users/{sub}/settings`, when a subject was given.
    pub(crate) settings: Option<(u16, Value)>,
}

/// Gets a token and calls the API, printing each step.
pub(crate) async fn run(cfg: &Config) -> Result<Report, String> {
    let app = cfg.app.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;

    // 1. Discover the token endpoint and get a client-credentials token.
    let discovery = format!("{}/.well-known/openid-configuration", cfg.issuer.trim_end_matches('/'));
    let meta: Value = http
        .get(&discovery)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("cannot read {discovery} ({e}); is the app running (scripts/run) and OIDC_ISSUER right?"))?
        .json()
        .await
        .map_err(|e| format!("{discovery} is not JSON: {e}"))?;
    let token_endpoint = meta["token_endpoint"].as_str().ok_or("the provider publishes no token_endpoint")?;
    let r = http
        .post(token_endpoint)
        .basic_auth(&cfg.client_id, Some(&cfg.secret))
        .form(&[("grant_type", "client_credentials"), ("audience", &cfg.audience), ("scope", "settings:read")])
        .send()
        .await
        .map_err(|e| format!("the token endpoint cannot be reached: {e}"))?;
    let status = r.status();
    let body: Value = r.json().await.map_err(|e| format!("the token endpoint answered {status} without JSON: {e}"))?;
    let token = body["access_token"]
        .as_str()
        .ok_or_else(|| format!("no token ({status}): {} {}", body["error"], body["error_description"]))?
        .to_string();
    println!(
        "token: client_credentials for {}, scope {}, expires in {} s",
        cfg.client_id, body["scope"], body["expires_in"]
    );

    // 2. A route for users refuses a service's token.
    let call = |path: String| {
        let req = http.get(format!("{app}{path}")).bearer_auth(&token);
        async move {
            let r = req.send().await.map_err(|e| format!("{app} cannot be reached: {e}"))?;
            let status = r.status().as_u16();
            Ok::<_, String>((status, r.json::<Value>().await.unwrap_or_default()))
        }
    };
    let me = call("/api/v1/me".into()).await?;
    println!("GET /api/v1/me → {} {}", me.0, me.1);

    // 3. A route for services: a user's settings.
    let settings = match &cfg.sub {
        None => {
            println!("pass a user's subject (shown on /profile) to read their settings");
            None
        }
        Some(sub) => {
            let s = call(format!("/api/v1/users/{sub}/settings")).await?;
            println!("GET /api/v1/users/{sub}/settings → {} {}", s.0, s.1);
            Some(s)
        }
    };
    Ok(Report { me, settings })
}

#[allow(dead_code)] // the tests include this file as a module and call `run`
#[tokio::main]
async fn main() -> ExitCode {
    match run(&Config::from_env()).await {
        Ok(Report { me: (status, _), .. }) if status != 403 => {
            eprintln!("service_client: /api/v1/me should refuse a service's token, but answered {status}");
            ExitCode::FAILURE
        }
        Ok(Report { settings: Some((status, _)), .. }) if status != 200 => {
            eprintln!("service_client: the API answered {status}");
            ExitCode::FAILURE
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("service_client: {e}");
            ExitCode::FAILURE
        }
    }
}
