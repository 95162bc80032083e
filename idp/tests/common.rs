//! Test harness: a real provider on a free port with test clients, an HTTP
//! client with a cookie store and no automatic redirects, and helpers that walk
//! the HTML login flow the way a browser would.
#![allow(dead_code, unreachable_pub)]
#![expect(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use idp::config::{AuthMethod, ClientConfig, Config, SeedIdentity, Storage};
use idp::Idp;
use serde_json::Value;

pub const SECRET: &str = "test-client-secret-0123456789";
pub const REDIRECT: &str = "http://127.0.0.1:9/cb";
pub const POST_LOGOUT: &str = "http://127.0.0.1:9/logged-out";

pub struct TestIdp {
    pub issuer: String,
    pub provider: idp::Provider,
    /// Logout tokens received by the back-channel receiver.
    pub logout_tokens: Arc<Mutex<Vec<String>>>,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

fn client(id: &str, method: AuthMethod, grants: &[&str]) -> ClientConfig {
    ClientConfig {
        id: id.into(),
        secret: (method != AuthMethod::None).then(|| SECRET.to_string()),
        auth_method: method,
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![POST_LOGOUT.into()],
        backchannel_logout_uri: None,
        grant_types: grants.iter().map(|s| s.to_string()).collect(),
        scopes: ["openid", "email", "profile", "offline_access"].map(String::from).to_vec(),
        audiences: vec![],
    }
}

/// Starts a back-channel logout receiver and returns its URL and inbox.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let store = inbox.clone();
    let app = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move |axum::Form(f): axum::Form<HashMap<String, String>>| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push(f.get("logout_token").cloned().unwrap_or_default());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/backchannel", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, inbox)
}

pub fn test_config(storage: Storage) -> Config {
    let mut cfg = Config::in_memory("127.0.0.1:0".parse().unwrap());
    cfg.storage = storage;
    // The tests read passcodes from the mailbox.
    cfg.dev_mode = true;
    cfg.clients = vec![
        client("web", AuthMethod::ClientSecretBasic, &["authorization_code", "refresh_token"]),
        client("post", AuthMethod::ClientSecretPost, &["authorization_code", "refresh_token"]),
        client("public", AuthMethod::None, &["authorization_code", "refresh_token"]),
        ClientConfig {
            audiences: vec!["admin-api".into(), "api".into(), "provider-stats".into()],
            ..client("machine", AuthMethod::ClientSecretBasic, &["client_credentials"])
        },
        ClientConfig {
            audiences: vec!["api".into()],
            ..client("service", AuthMethod::ClientSecretPost, &["client_credentials"])
        },
    ];
    cfg.identities = vec![
        SeedIdentity {
            email: "admin@example.com".into(),
            first_name: Some("Ada".into()),
            last_name: Some("Admin".into()),
        },
        SeedIdentity { email: "user@example.com".into(), first_name: Some("Uma".into()), last_name: None },
    ];
    cfg
}

pub async fn spawn() -> TestIdp {
    spawn_with(test_config(Storage::Memory)).await
}

pub async fn spawn_with(mut cfg: Config) -> TestIdp {
    let (bc_url, logout_tokens) = receiver().await;
    if let Some(web) = cfg.clients.iter_mut().find(|c| c.id == "web") {
        web.backchannel_logout_uri = Some(bc_url);
    }
    let idp = Idp::build(cfg).await.unwrap();
    let issuer = idp.issuer().to_string();
    let provider = idp.provider_handle();
    let handle = tokio::spawn(async move {
        let _ = idp.run_until_stopped().await;
    });
    TestIdp { issuer, provider, logout_tokens, handle }
}

/// A browser-like client: cookie store, no automatic redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

/// The value of `<input name="{name}" value="…">` in an HTML page.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

pub fn b64url_json(part: &str) -> Value {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Decodes (without verifying) a JWT's header and claims.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    (b64url_json(it.next().unwrap()), b64url_json(it.next().unwrap()))
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce() -> Pkce {
    let verifier = format!("v{}", uuid::Uuid::new_v4().simple()) + &uuid::Uuid::new_v4().simple().to_string();
    let challenge = idp::util::s256(&verifier);
    Pkce { verifier, challenge }
}

impl TestIdp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path.trim_start_matches('/'))
    }

    /// An authorization URL for `client_id` with the given extra parameters.
    pub fn auth_url(&self, client_id: &str, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&self.url("oauth2/auth")).unwrap();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", client_id);
            q.append_pair("redirect_uri", REDIRECT);
            q.append_pair("response_type", "code");
            q.append_pair("scope", "openid email profile offline_access");
            q.append_pair("state", "st-123");
            q.append_pair("nonce", "n-456");
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        url.to_string()
    }

    /// The newest passcode mailed to `email`.
    pub async fn passcode(&self, email: &str) -> String {
        let msgs: Vec<Value> =
            reqwest::get(self.url(&format!("mailbox/messages?email={email}"))).await.unwrap().json().await.unwrap();
        msgs[0]["passcode"].as_str().unwrap().to_string()
    }

    /// Starts at `auth_url`, submits the email form; returns the page HTML after
    /// the email step and the hidden fields to continue with.
    pub async fn submit_email(
        &self,
        b: &reqwest::Client,
        auth_url: &str,
        email: &str,
    ) -> (reqwest::StatusCode, String, String, String) {
        let r = b.get(auth_url).send().await.unwrap();
        assert_eq!(r.status(), 303, "authorize should go to the login form");
        let login = location(&r);
        assert!(login.starts_with("/login?login_challenge="), "{login}");
        let page = b.get(self.url(&login)).send().await.unwrap().text().await.unwrap();
        let challenge = hidden_value(&page, "login_challenge").unwrap();
        let csrf = hidden_value(&page, "csrf").unwrap();
        let r = b
            .post(self.url("login"))
            .form(&[("login_challenge", challenge.as_str()), ("csrf", csrf.as_str()), ("email", email)])
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.text().await.unwrap(), challenge, csrf)
    }

    /// Posts a passcode; returns the response.
    pub async fn submit_passcode(
        &self,
        b: &reqwest::Client,
        challenge: &str,
        csrf: &str,
        code: &str,
    ) -> reqwest::Response {
        b.post(self.url("login/passcode"))
            .form(&[("login_challenge", challenge), ("csrf", csrf), ("passcode", code)])
            .send()
            .await
            .unwrap()
    }

    /// Runs the whole login for an existing identity and returns the redirect to the client.
    pub async fn login(&self, b: &reqwest::Client, auth_url: &str, email: &str) -> HashMap<String, String> {
        let (status, html, challenge, csrf) = self.submit_email(b, auth_url, email).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("Enter your passcode"), "{html}");
        let code = self.passcode(email).await;
        let r = self.submit_passcode(b, &challenge, &csrf, &code).await;
        assert_eq!(r.status(), 303);
        let loc = location(&r);
        assert!(loc.starts_with(REDIRECT), "{loc}");
        query_of(&loc)
    }

    /// Exchanges a code as client `web` (client_secret_basic).
    pub async fn exchange(&self, code: &str, verifier: Option<&str>) -> reqwest::Response {
        let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        reqwest::Client::new()
            .post(self.url("oauth2/token"))
            .basic_auth("web", Some(SECRET))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Signs in `email` with client `web` + PKCE and returns the token response.
    pub async fn tokens_for(&self, email: &str) -> Value {
        let b = browser();
        let p = pkce();
        let q = self
            .login(
                &b,
                &self.auth_url("web", &[("code_challenge", &p.challenge), ("code_challenge_method", "S256")]),
                email,
            )
            .await;
        let r = self.exchange(&q["code"], Some(&p.verifier)).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// A client-credentials token for `machine` with `audience`.
    pub async fn machine_token(&self, audience: &str) -> String {
        let r = reqwest::Client::new()
            .post(self.url("oauth2/token"))
            .basic_auth("machine", Some(SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", "openid"), ("audience", audience)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }
}
