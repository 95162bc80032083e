//! Helpers shared by the integration tests: start the real server on a free port.
#![allow(dead_code, unreachable_pub)]

use server::config::Settings;
use server::startup::Application;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
}

/// A browser-like client: keeps cookies, does not follow redirects, and
/// accepts HTML as a browser navigating (or posting a form) does. Like a
/// browser on the app's own pages it sends `Sec-Fetch-Site: same-origin`
/// (a request may set its own to play a cross-site page). A request that gets
/// no complete answer in 30 s fails instead of hanging the suite.
pub fn browser() -> reqwest::Client {
    browser_with_jar(std::sync::Arc::new(reqwest::cookie::Jar::default()))
}

/// A [`browser`] whose cookies live in `jar` (to read the session cookie).
pub fn browser_with_jar(jar: std::sync::Arc<reqwest::cookie::Jar>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ACCEPT, reqwest::header::HeaderValue::from_static("text/html,*/*;q=0.8"));
    headers.insert("sec-fetch-site", reqwest::header::HeaderValue::from_static("same-origin"));
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar)
        .timeout(std::time::Duration::from_secs(30))
        // Plain HTTP on loopback: no root certificates to load. Loading the
        // system's and the bundled ones costs milliseconds per client, and the
        // sign-in benchmark builds one per sign-in, as a fresh browser would.
        .tls_built_in_root_certs(false)
        .build()
        .expect("http client")
}

pub fn test_settings() -> Settings {
    Settings::for_addr("127.0.0.1:0".parse().expect("loopback address"))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_settings()).await
}

pub async fn spawn_app_with(settings: Settings) -> TestApp {
    let app = Application::build(settings).await.expect("server starts");
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped());
    TestApp { base, client: browser() }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string).unwrap_or_default()
}

/// Signs `email` in at the provider starting from `/login?return_to=…` and
/// returns the app's answer to the provider's redirect.
pub async fn sign_in_as(app: &TestApp, email: &str, return_to: &str) -> reqwest::Response {
    let r = app.client.get(format!("{}/login?return_to={return_to}", app.base)).send().await.expect("login");
    assert_eq!(r.status(), 303);
    let back = idp::testkit::sign_in(&app.client, &location(&r), email).await.expect("provider sign-in");
    assert!(back.starts_with(&format!("{}/login?", app.base)), "{back}");
    app.client.get(back).send().await.expect("callback")
}

/// Calls server function `/api/<name>` as an API client (JSON, not a form post).
pub async fn api(app: &TestApp, name: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/{name}", app.base))
        .header("accept", "application/json")
        .send()
        .await
        .expect("api call")
}

/// Finishes onboarding with `name` the way the page's form does (no JavaScript).
pub async fn onboard(app: &TestApp, name: &str, return_to: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/complete_onboarding", app.base))
        .form(&[("display_name", name), ("return_to", return_to)])
        .send()
        .await
        .expect("onboarding")
}

/// Signs a new user in and onboards them; ends signed in.
pub async fn sign_up(app: &TestApp, email: &str) {
    let r = sign_in_as(app, email, "/").await;
    assert_eq!(location(&r), "/onboarding?return_to=%2F");
    let r = onboard(app, "Tester", "/").await;
    assert!(r.status().is_redirection(), "{}", r.status());
}

/// Calls server function `/api/<name>` with form fields, as an API client (JSON answers).
pub async fn api_form(app: &TestApp, name: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(format!("{}/api/{name}", app.base))
        .header("accept", "application/json")
        .form(fields)
        .send()
        .await
        .expect("api call")
}

/// The embedded provider's base URL (ends with `/`), read from where `/login` sends a browser.
pub async fn provider_base(app: &TestApp) -> String {
    let r = browser().get(format!("{}/login", app.base)).send().await.expect("login");
    let url = url::Url::parse(&location(&r)).expect("provider URL");
    format!("{}/", url.origin().ascii_serialization())
}

/// The embedded provider's client for reading its token statistics (`idp/dev.toml`).
const STATS_CLIENT: &str = "gatehouse-stats";
const STATS_SECRET: &str = "gatehouse-stats-dev-secret-not-for-production";

/// The provider's `/stats/tokens` (it needs an Admin API token).
pub async fn provider_stats(provider: &str) -> serde_json::Value {
    let token = machine_token(provider, (STATS_CLIENT, STATS_SECRET), "provider-stats", "").await;
    reqwest::Client::new()
        .get(format!("{provider}stats/tokens"))
        .bearer_auth(token)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats JSON")
}

/// Client-credentials tokens the provider issued to `client_id` so far.
pub async fn machine_tokens_issued(provider: &str, client_id: &str) -> u64 {
    provider_stats(provider).await["client_credentials"][client_id].as_u64().unwrap_or(0)
}

/// A throwaway `redis-server` on a free loopback port, keeping nothing on
/// disk; stopped when dropped. (`scripts/setup` installs Debian's `redis-server`.)
pub struct RedisServer {
    child: std::process::Child,
    pub port: u16,
    pub url: String,
}

impl RedisServer {
    pub async fn start() -> Self {
        let port = free_port();
        let mut child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is needed for these tests: run scripts/setup (or apt install redis-server)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Self { child, port, url: format!("redis://127.0.0.1:{port}") };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not start on port {port}");
    }

    /// `redis-cli` against this server; returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli (from redis-tools, installed with redis-server)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every key with its value(s), as text: what a dump of the store would show.
    pub fn dump(&self) -> String {
        let mut all = String::new();
        for key in self.cli(&["--scan"]).lines().filter(|l| !l.is_empty()) {
            let value = match self.cli(&["TYPE", key]).trim() {
                "string" => self.cli(&["--raw", "GET", key]),
                "hash" => self.cli(&["--raw", "HGETALL", key]),
                "set" => self.cli(&["--raw", "SMEMBERS", key]),
                other => format!("<{other}>"),
            };
            all.push_str(&format!("{key} = {value}\n"));
        }
        all
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The app's registration at the embedded provider (`idp/dev.toml`).
pub const APP_CLIENT: &str = "gatehouse";
pub const APP_SECRET: &str = "gatehouse-dev-secret-not-for-production";

/// A fresh directory under the system's temp dir.
/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port()
}

/// The repository's root directory.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A fresh virtualenv at `dir` with seed 004's pinned Python stack
/// (scripts/pyvenv); its python. Blocks while pip installs.
pub fn python_venv(dir: &std::path::Path) -> std::path::PathBuf {
    let out = std::process::Command::new("bash")
        .arg(repo_root().join("scripts/pyvenv"))
        .arg(dir)
        .output()
        .expect("scripts/pyvenv runs");
    assert!(out.status.success(), "scripts/pyvenv failed: {}", String::from_utf8_lossy(&out.stderr));
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// `token` with the first character of its signature changed: well-formed, but forged.
pub fn with_forged_signature(token: &str) -> String {
    let (rest, sig) = token.rsplit_once('.').expect("a JWS");
    format!("{rest}.{}{}", if sig.starts_with('A') { 'B' } else { 'A' }, &sig[1..])
}

pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    let dir = std::env::temp_dir().join(format!("gatehouse-test-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Signs `email` in (finishing onboarding the first time); ends signed in.
pub async fn signed_in(app: &TestApp, email: &str) {
    let r = sign_in_as(app, email, "/").await;
    if location(&r).starts_with("/onboarding") {
        assert!(onboard(app, "Someone", "/").await.status().is_redirection());
    }
}

/// The signed-in user as the app reports it (`null` when signed out).
pub async fn current_user(app: &TestApp) -> serde_json::Value {
    api(app, "current_user").await.json().await.expect("current_user JSON")
}

pub async fn is_signed_in(app: &TestApp) -> bool {
    !current_user(app).await.is_null()
}

/// Settings for a second instance that signs in at `provider` (another
/// instance's embedded provider) as an external one, as this app's client.
pub fn external_to(mut settings: Settings, provider: &str) -> Settings {
    settings.oidc = Some(server::config::OidcSettings {
        issuer: provider.to_string(),
        client_id: APP_CLIENT.into(),
        client_secret: Some(APP_SECRET.into()),
        auth: bff::oidc::ClientAuth::ClientSecretBasic,
        scopes: ["openid", "email", "profile", "offline_access"].map(String::from).to_vec(),
        account_url: None,
    });
    settings
}

/// Asserts that no token-like string in `text` is a token the provider considers live.
pub async fn assert_no_live_token(provider: &str, text: &str) {
    let candidates: std::collections::BTreeSet<&str> =
        text.split(|c: char| !(c.is_ascii_alphanumeric() || "._~+/-=".contains(c))).filter(|s| s.len() >= 20).collect();
    assert!(!candidates.is_empty(), "nothing token-like to check");
    for token in candidates {
        let v: serde_json::Value = reqwest::Client::new()
            .post(format!("{provider}oauth2/introspect"))
            .basic_auth(APP_CLIENT, Some(APP_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspect")
            .json()
            .await
            .expect("introspection JSON");
        assert_eq!(v["active"], false, "a live token: {}…", &token[..12]);
    }
}

/// Deactivates the identity with `email` through the admin server functions, as `admin`.
pub async fn deactivate(admin: &TestApp, email: &str) {
    let list: serde_json::Value =
        api_form(admin, "admin_list_identities", &[("email", email)]).await.json().await.expect("identity list");
    let id = list["rows"][0]["id"].as_str().expect("identity id").to_string();
    let r = api_form(admin, "admin_set_identity_state", &[("id", &id), ("state", "inactive")]).await;
    assert_eq!(r.status(), 200);
}

// The embedded provider's native app (public client, PKCE) and service clients (idp/dev.toml).
pub const CLI: &str = "gatehouse-cli";
pub const CLI_REDIRECT: &str = "http://127.0.0.1:8976/callback";
pub const VERIFIER: &str = "native-app-test-verifier-0123456789-abcdefghijklmnop";
pub const CHALLENGE: &str = "1kzUrT_Zmwgt8JDa1lSsIaZL5qUYCxj7UxlayfHZVPE";
pub const SERVICE: &str = "gatehouse-service";
pub const SERVICE_SECRET: &str = "gatehouse-service-dev-secret-not-for-production";

/// Signs `email` in at the provider as the native app would and returns the
/// token response (`Err` with the error redirect when the provider refuses).
pub async fn native_tokens(
    provider: &str,
    email: &str,
    scope: &str,
    audience: &str,
) -> Result<serde_json::Value, String> {
    let mut auth = url::Url::parse(&format!("{provider}oauth2/auth")).expect("native sign-in");
    auth.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLI)
        .append_pair("redirect_uri", CLI_REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "s1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    if !audience.is_empty() {
        auth.query_pairs_mut().append_pair("audience", audience);
    }
    let back = idp::testkit::sign_in(&browser(), auth.as_str(), email).await?;
    let back = url::Url::parse(&back).expect("native sign-in");
    let code = back.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).ok_or(back.to_string())?;
    let r = reqwest::Client::new()
        .post(format!("{provider}oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CLI_REDIRECT),
            ("client_id", CLI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("native sign-in");
    assert_eq!(r.status(), 200);
    Ok(r.json().await.expect("native sign-in"))
}

pub async fn user_token(provider: &str, email: &str, scope: &str) -> String {
    let t = native_tokens(provider, email, scope, "gatehouse-api").await.expect("native sign-in");
    t["access_token"].as_str().expect("native sign-in").to_string()
}

pub async fn service_token(provider: &str, scope: &str) -> String {
    machine_token(provider, (SERVICE, SERVICE_SECRET), "gatehouse-api", scope).await
}

/// A client-credentials access token of `client` (id, secret) for `audience`.
pub async fn machine_token(provider: &str, client: (&str, &str), audience: &str, scope: &str) -> String {
    let mut form = vec![("grant_type", "client_credentials"), ("audience", audience)];
    if !scope.is_empty() {
        form.push(("scope", scope));
    }
    let r = reqwest::Client::new()
        .post(format!("{provider}oauth2/token"))
        .basic_auth(client.0, Some(client.1))
        .form(&form)
        .send()
        .await
        .expect("client-credentials request");
    assert_eq!(r.status(), 200, "client-credentials token for {}", client.0);
    r.json::<serde_json::Value>().await.expect("token response")["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

/// The provider revokes every grant of the app's client (its access and
/// refresh tokens die with them); nothing tells the app.
pub async fn revoke_app_grants(provider: &str) {
    let r = reqwest::Client::new()
        .delete(format!("{provider}oauth2/tokens?client_id={APP_CLIENT}"))
        .basic_auth(APP_CLIENT, Some(APP_SECRET))
        .send()
        .await
        .expect("token deletion");
    assert_eq!(r.status(), 204);
}

/// A TCP relay in front of a provider that can be cut or slowed: while it is
/// down, every connection (pooled ones included) is closed at once; with a
/// delay, each new connection waits that long before it is relayed.
pub struct Relay {
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    hold_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

/// Copies the provider's answers back to the client, each read held `hold` first.
async fn hold_answers(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    hold: std::time::Duration,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        tokio::time::sleep(hold).await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    let _ = to.shutdown().await;
}

impl Relay {
    pub async fn start(listener: tokio::net::TcpListener, to: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let relay = Relay {
            down: Default::default(),
            delay_ms: Default::default(),
            hold_ms: Default::default(),
            conns: Default::default(),
        };
        let (down, delay, hold, conns) =
            (relay.down.clone(), relay.delay_ms.clone(), relay.hold_ms.clone(), relay.conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if down.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let wait = std::time::Duration::from_millis(delay.load(Ordering::SeqCst));
                let hold = std::time::Duration::from_millis(hold.load(Ordering::SeqCst));
                let h = tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let Ok(mut out) = tokio::net::TcpStream::connect(to).await else { return };
                    if hold.is_zero() {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                    let ((in_read, in_write), (out_read, out_write)) = (inbound.into_split(), out.into_split());
                    let ask = async move {
                        let (mut r, mut w) = (in_read, out_write);
                        let _ = tokio::io::copy(&mut r, &mut w).await;
                    };
                    tokio::join!(ask, hold_answers(out_read, in_write, hold));
                });
                conns.lock().expect("relay connections").push(h);
            }
        });
        relay
    }

    fn close_all(&self) {
        for h in self.conns.lock().expect("relay connections").drain(..) {
            h.abort();
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
        if down {
            self.close_all();
        }
    }

    /// On new connections, the provider's answers are held `ms` before they
    /// are passed on (the provider has answered, the client does not know
    /// yet). A hold closes the open connections first; ending it (0) does not,
    /// so answers held already still arrive.
    pub fn set_answer_hold(&self, ms: u64) {
        self.hold_ms.store(ms, std::sync::atomic::Ordering::SeqCst);
        if ms > 0 {
            self.close_all();
        }
    }

    /// Closes the open connections; new ones wait `ms` before they are relayed.
    pub fn set_delay(&self, ms: u64) {
        self.delay_ms.store(ms, std::sync::atomic::Ordering::SeqCst);
        self.close_all();
    }
}

/// A provider of its own (the development configuration, in memory, no
/// back-channel logout) reachable only through a [`Relay`], and the address the
/// app must listen on (registered as the app's redirect URI before it starts).
pub struct RelayedProvider {
    /// Where the app must listen.
    pub app_addr: std::net::SocketAddr,
    /// The relay's URL, with `/`.
    pub issuer: String,
    /// The provider itself, bypassing the relay, with `/`.
    pub direct: String,
    pub relay: Relay,
}

pub async fn provider_behind_relay() -> RelayedProvider {
    let app_addr = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("address");
    let relay_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("relay port");
    let issuer = format!("http://{}/", relay_listener.local_addr().expect("relay address"));
    let mut cfg = idp::Config::from_toml(idp::config::DEV_CONFIG, "dev.toml").expect("dev config");
    cfg.listen = "127.0.0.1:0".parse().expect("loopback");
    cfg.issuer = Some(url::Url::parse(&issuer).expect("issuer"));
    cfg.storage = idp::config::Storage::Memory;
    let client = cfg.clients.iter_mut().find(|c| c.id == APP_CLIENT).expect("app client");
    client.redirect_uris = vec![format!("http://{app_addr}/login")];
    client.post_logout_redirect_uris = vec![format!("http://{app_addr}/logout")];
    client.backchannel_logout_uri = None;
    let idp = idp::Idp::build(cfg).await.expect("provider starts");
    let direct = format!("http://{}/", idp.addr());
    let relay = Relay::start(relay_listener, idp.addr()).await;
    tokio::spawn(idp.run_until_stopped());
    RelayedProvider { app_addr, issuer, direct, relay }
}

/// The development configuration's Admin API client, for the Admin API at `base` (with `/`).
pub fn admin_api_at(base: &str) -> server::config::AdminApiSettings {
    server::config::AdminApiSettings {
        url: url::Url::parse(&format!("{base}admin/")).expect("admin URL"),
        client_id: "gatehouse-admin".into(),
        client_secret: "gatehouse-admin-dev-secret-not-for-production".into(),
        auth: bff::oidc::ClientAuth::ClientSecretBasic,
        token_url: None,
        audience: vec!["admin-api".into()],
        scope: String::new(),
    }
}

/// Creates `n` identities `bench-00000@example.com`, … through the provider's Admin API over HTTP (the
/// app's client is only reachable through an admin's authorization), 16 at a time.
pub async fn seed_identities(provider: &str, n: usize) {
    let http = reqwest::Client::new();
    let token: std::sync::Arc<str> =
        machine_token(provider, ("gatehouse-admin", "gatehouse-admin-dev-secret-not-for-production"), "admin-api", "")
            .await
            .into();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (http, token, next, provider) = (http.clone(), token.clone(), next.clone(), provider.to_string());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let body = serde_json::json!({
                        "schema_id": "default",
                        "state": "active",
                        "traits": {
                            "email": format!("bench-{i:05}@example.com"),
                            "name": { "first": format!("First{i}"), "last": "Bench" },
                        },
                    });
                    let r = http
                        .post(format!("{provider}admin/identities"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .expect("the Admin API answers");
                    assert!(r.status().is_success(), "seeding identity {i}: {}", r.status());
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("a seeding worker");
    }
}

/// The local provider as benchmarks run it: signing with `alg`, its data in
/// `dir` (`None`: in memory), per-IP limits lifted (every request comes from
/// 127.0.0.1), accepting the apps listening at `apps`. Returns its issuer.
pub async fn bench_provider(
    alg: idp::keys::SigningAlg,
    dir: Option<&std::path::Path>,
    apps: &[std::net::SocketAddr],
) -> String {
    let mut cfg = idp::Config::from_toml(idp::config::DEV_CONFIG, "idp/dev.toml").expect("the development config");
    cfg.signing_alg = alg;
    cfg.listen = "127.0.0.1:0".parse().expect("loopback address");
    cfg.issuer = None;
    cfg.storage = match dir {
        Some(d) => idp::config::Storage::Dir(d.to_path_buf()),
        None => idp::config::Storage::Memory,
    };
    cfg.rate_limits.authorize_per_ip = u32::MAX;
    cfg.rate_limits.email_per_ip = u32::MAX;
    cfg.rate_limits.passcode_per_ip = u32::MAX;
    let client = cfg.clients.iter_mut().find(|c| c.id == APP_CLIENT).expect("the app's client");
    client.redirect_uris = apps.iter().map(|a| format!("http://{a}/login")).collect();
    client.post_logout_redirect_uris = apps.iter().map(|a| format!("http://{a}/logout")).collect();
    client.backchannel_logout_uri = None;
    let provider = idp::Idp::build(cfg).await.expect("the provider starts");
    let issuer = provider.issuer().to_string();
    tokio::spawn(provider.run_until_stopped());
    issuer
}

/// A benchmark's bound from the environment (`BENCH_…`), or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The e-mail of the `i`th identity `seed_identities` creates.
pub fn bench_email(i: u64) -> String {
    format!("bench-{i:05}@example.com")
}

/// An app listening at `addr` that signs in at `issuer`, as benchmarks run
/// it: one client from one address makes every request, so the limiter is
/// checked on every request but never answers 429.
pub fn bench_app_settings(issuer: &str, addr: std::net::SocketAddr) -> Settings {
    let mut settings = external_to(test_settings(), issuer);
    settings.leptos.site_addr = addr;
    let lifted = Some(bff::rate_limit::Rate { count: 10_000_000, period: std::time::Duration::from_secs(1) });
    settings.rate_limits =
        bff::rate_limit::Limits { sign_in: lifted, write: lifted, api: lifted, ..bff::rate_limit::Limits::default() };
    settings
}

/// How many refreshes the provider has answered for the app's client.
pub async fn refreshes(provider: &str) -> u64 {
    provider_stats(provider).await["refresh_token"][APP_CLIENT].as_u64().unwrap_or(0)
}

/// `n` parallel `/api/userinfo` calls of `client`'s session, alternating
/// between the instances at `bases`; their statuses.
pub async fn userinfo_in_parallel(client: &reqwest::Client, bases: [&str; 2], n: usize) -> Vec<u16> {
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let (client, url) = (client.clone(), format!("{}/api/userinfo", bases[i % 2]));
            tokio::spawn(async move {
                client.post(url).header("accept", "application/json").send().await.expect("userinfo").status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.expect("userinfo task"));
    }
    statuses
}
