//! The app against a deliberately misbehaving OpenID provider: one defect per
//! case, each run through the real sign-in route (`/login` → the provider's
//! authorization endpoint → back to `/login` with a code). Every defect must
//! end with no session, the sign-in error page and a log event naming the
//! reason; a well-behaved case proves the fake provider itself signs people in.
//! The ID tokens are signed with the local provider's signing code.
#![expect(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{is_signed_in, location, spawn_app_with, test_settings, TestApp};
use serde_json::{json, Value};
use server::config::OidcSettings;

const CLIENT: &str = "rogue-app";
const SECRET: &str = "rogue-app-secret-0123456789abcdef";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Defect {
    None,
    /// `token_type` in lower case is still Bearer (RFC 6749 section 5.1).
    LowercaseBearer,
    /// Several audiences with `azp` naming the app: acceptable.
    SeveralAudiencesWithAzp,
    TokenTypeMac,
    AzpWrong,
    SeveralAudiencesWithoutAzp,
    IssOtherProvider,
    IssMissingThoughAdvertised,
    Hs256Advertised,
    CritHeader,
    NoKidSeveralKeys,
    EncryptionKey,
    /// The userinfo endpoint is plain http on another machine.
    CleartextUserinfo,
}

/// Which of the fake provider's two keys signs, and which ones its JWKS publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    A,
    B,
}

struct Rogue {
    issuer: String,
    defect: Defect,
    a: idp::keys::Keys,
    b: idp::keys::Keys,
    signer: Mutex<Key>,
    published: Mutex<Vec<Key>>,
    nonce: Mutex<Option<String>>,
    discovery_fetches: AtomicUsize,
    jwks_fetches: AtomicUsize,
    /// The JWKS answers 503 (the provider's key endpoint is down).
    jwks_down: AtomicBool,
}

impl Rogue {
    fn keys(&self, k: Key) -> &idp::keys::Keys {
        match k {
            Key::A => &self.a,
            Key::B => &self.b,
        }
    }

    fn jwks(&self) -> Value {
        let mut keys = Vec::new();
        for k in self.published.lock().unwrap().iter() {
            for mut jwk in self.keys(*k).jwks()["keys"].as_array().cloned().unwrap_or_default() {
                if self.defect == Defect::EncryptionKey {
                    jwk["use"] = json!("enc");
                }
                keys.push(jwk);
            }
        }
        json!({ "keys": keys })
    }

    fn id_token(&self) -> String {
        let now = bff::unix_now();
        let mut claims = json!({
            "iss": self.issuer, "sub": "rogue-user", "aud": CLIENT, "exp": now + 300, "iat": now,
            "nonce": self.nonce.lock().unwrap().clone().unwrap_or_default(),
            "email": "rogue-user@example.com", "email_verified": true,
        });
        match self.defect {
            Defect::AzpWrong => claims["azp"] = json!("someone-else"),
            Defect::SeveralAudiencesWithoutAzp => claims["aud"] = json!([CLIENT, "someone-else"]),
            Defect::SeveralAudiencesWithAzp => {
                claims["aud"] = json!([CLIENT, "someone-else"]);
                claims["azp"] = json!(CLIENT);
            }
            _ => {}
        }
        let keys = self.keys(*self.signer.lock().unwrap());
        let kid = keys.active_kid();
        match self.defect {
            Defect::Hs256Advertised => hs256(&claims),
            Defect::CritHeader => keys.sign_with_header(
                &json!({"alg": "RS256", "typ": "JWT", "kid": kid, "crit": ["exp"], "exp": now + 300}),
                &claims,
            ),
            Defect::NoKidSeveralKeys => keys.sign_with_header(&json!({"alg": "RS256", "typ": "JWT"}), &claims),
            _ => keys.sign("JWT", &claims),
        }
    }
}

/// An ID token MACed with the client secret, as a provider advertising HS256 would send.
fn hs256(claims: &Value) -> String {
    use hmac::Mac as _;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

async fn discovery(State(r): State<Arc<Rogue>>) -> Response {
    // Fetched once at startup, then only by the reachability probe (before a
    // sign-in starts, at most every 5 s), which reads no member of it.
    r.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let i = &r.issuer;
    let algs = if r.defect == Defect::Hs256Advertised { json!(["HS256", "RS256"]) } else { json!(["RS256"]) };
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}authorize"),
        "token_endpoint": format!("{i}token"),
        "jwks_uri": format!("{i}jwks"),
        "userinfo_endpoint": if r.defect == Defect::CleartextUserinfo {
            "http://login.example.net/userinfo".to_string()
        } else {
            format!("{i}userinfo")
        },
        "end_session_endpoint": format!("{i}logout"),
        "revocation_endpoint": format!("{i}revoke"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "authorization_response_iss_parameter_supported":
            matches!(r.defect, Defect::IssMissingThoughAdvertised | Defect::None),
    }))
    .into_response()
}

async fn authorize(State(r): State<Arc<Rogue>>, Query(q): Query<HashMap<String, String>>) -> Redirect {
    *r.nonce.lock().unwrap() = q.get("nonce").cloned();
    let mut back = url::Url::parse(&q["redirect_uri"]).unwrap();
    back.query_pairs_mut().append_pair("code", "rogue-code").append_pair("state", &q["state"]);
    match r.defect {
        Defect::IssOtherProvider => {
            back.query_pairs_mut().append_pair("iss", "https://other-provider.example/");
        }
        Defect::IssMissingThoughAdvertised => {}
        _ => {
            back.query_pairs_mut().append_pair("iss", &r.issuer);
        }
    }
    Redirect::to(back.as_str())
}

async fn token(State(r): State<Arc<Rogue>>) -> Json<Value> {
    let token_type = match r.defect {
        Defect::TokenTypeMac => "mac",
        Defect::LowercaseBearer => "bearer",
        _ => "Bearer",
    };
    Json(json!({
        "access_token": "rogue-access-token", "token_type": token_type, "expires_in": 300,
        "refresh_token": "rogue-refresh-token", "id_token": r.id_token(),
    }))
}

/// Starts the fake provider with `defect`, its keys A (published) and B (not yet).
async fn rogue(defect: Defect) -> Arc<Rogue> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/", listener.local_addr().unwrap());
    let key = || async {
        let idp = idp::Idp::build(idp::Config::in_memory("127.0.0.1:0".parse().unwrap())).await.unwrap();
        idp.provider_handle().keys
    };
    let published = if defect == Defect::NoKidSeveralKeys { vec![Key::A, Key::B] } else { vec![Key::A] };
    let state = Arc::new(Rogue {
        issuer,
        defect,
        a: key().await,
        b: key().await,
        signer: Mutex::new(Key::A),
        published: Mutex::new(published),
        nonce: Mutex::new(None),
        discovery_fetches: AtomicUsize::new(0),
        jwks_fetches: AtomicUsize::new(0),
        jwks_down: AtomicBool::new(false),
    });
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route(
            "/jwks",
            get(|State(r): State<Arc<Rogue>>| async move {
                r.jwks_fetches.fetch_add(1, Ordering::SeqCst);
                if r.jwks_down.load(Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                Json(r.jwks()).into_response()
            }),
        )
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/revoke", post(|| async { "" }))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    state
}

async fn app_for(rogue: &Rogue) -> TestApp {
    app_with_keys(rogue, bff::jwt::KeyCacheConfig::default()).await
}

async fn app_with_keys(rogue: &Rogue, keys: bff::jwt::KeyCacheConfig) -> TestApp {
    spawn_app_with(settings_for(rogue, keys)).await
}

fn settings_for(rogue: &Rogue, keys: bff::jwt::KeyCacheConfig) -> server::config::Settings {
    let mut settings = test_settings();
    settings.signing_keys = keys;
    settings.oidc = Some(OidcSettings {
        issuer: rogue.issuer.clone(),
        client_id: CLIENT.into(),
        client_secret: Some(SECRET.into()),
        auth: bff::oidc::ClientAuth::ClientSecretBasic,
        scopes: ["openid", "email", "profile"].map(String::from).to_vec(),
        account_url: None,
    });
    settings
}

/// Userinfo is not signed and decides who is an admin: production refuses a
/// provider endpoint reached in the clear, naming it; development warns.
#[tokio::test]
async fn production_refuses_a_provider_endpoint_reached_in_the_clear() {
    let provider = rogue(Defect::CleartextUserinfo).await;
    let mut settings = settings_for(&provider, bff::jwt::KeyCacheConfig::default());
    settings.leptos.env = leptos::config::Env::PROD;
    let err = server::startup::Application::build(settings).await.err().expect("refused").to_string();
    assert!(err.contains("userinfo_endpoint http://login.example.net/userinfo"), "{err}");
    assert!(err.contains("https"), "{err}");

    let provider = rogue(Defect::CleartextUserinfo).await;
    let app = app_for(&provider).await;
    assert!(!is_signed_in(&app).await, "development starts (with a warning)");
}

/// `/login` → the provider → back to `/login`: the app's answer to the callback.
async fn sign_in(app: &TestApp) -> reqwest::Response {
    let r = app.client.get(format!("{}/login?return_to=/profile", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let at_provider = app.client.get(location(&r)).send().await.unwrap();
    assert_eq!(at_provider.status(), 303);
    let back = location(&at_provider);
    assert!(back.starts_with(&format!("{}/login?", app.base)), "{back}");
    app.client.get(back).send().await.unwrap()
}

/// Log lines written while this test's runtime runs (the test runtime has one
/// thread, so every task of the app it started logs here).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.0.lock().unwrap())).into_owned()
    }
}

#[tokio::test]
async fn every_defect_of_the_provider_ends_in_no_session_an_error_page_and_a_logged_reason() {
    let (logs, _guard) = Logs::capture();
    let cases = [
        (Defect::TokenTypeMac, "token_type is \\\"mac\\\", not Bearer"),
        (Defect::AzpWrong, "azp is"),
        (Defect::SeveralAudiencesWithoutAzp, "several audiences and no azp"),
        (Defect::IssOtherProvider, "names the issuer \\\"https://other-provider.example/\\\""),
        (Defect::IssMissingThoughAdvertised, "carries no iss parameter"),
        (Defect::Hs256Advertised, "signing algorithm \\\"HS256\\\" not accepted"),
        (Defect::CritHeader, "critical extensions"),
        (Defect::NoKidSeveralKeys, "names no key id and the provider publishes several signing keys"),
        (Defect::EncryptionKey, "does not publish for signatures"),
    ];
    for (defect, reason) in cases {
        let provider = rogue(defect).await;
        let app = app_for(&provider).await;
        logs.take();
        let r = sign_in(&app).await;
        assert_eq!(r.status(), 502, "{defect:?}");
        let page = r.text().await.unwrap();
        assert!(page.contains("data-testid=\"signin-error\""), "{defect:?}: {page}");
        assert!(page.contains("We could not verify your sign-in"), "{defect:?}: {page}");
        assert!(!is_signed_in(&app).await, "{defect:?} must not sign anyone in");
        let logged = logs.take();
        let line = logged.lines().find(|l| l.contains("WARN") && l.contains(reason));
        assert!(line.is_some(), "{defect:?}: no WARN line naming {reason:?} in:\n{logged}");
    }
}

#[tokio::test]
async fn a_well_behaved_provider_signs_in_including_the_lenient_cases() {
    for defect in [Defect::None, Defect::LowercaseBearer, Defect::SeveralAudiencesWithAzp] {
        let provider = rogue(defect).await;
        let app = app_for(&provider).await;
        let r = sign_in(&app).await;
        assert_eq!(r.status(), 303, "{defect:?}: {}", r.text().await.unwrap_or_default());
        assert!(is_signed_in(&app).await, "{defect:?}");
        // Discovery was read once, at startup (the reachability probe before
        // sign-in reuses that answer for 5 s).
        assert_eq!(provider.discovery_fetches.load(Ordering::SeqCst), 1, "{defect:?}");
    }
}

/// A key the provider withdraws from its JWKS is refused once the app has
/// fetched the keys again, for ID tokens and logout tokens alike.
#[tokio::test]
async fn a_withdrawn_key_is_refused_after_the_refetch() {
    let (logs, _guard) = Logs::capture();
    let provider = rogue(Defect::None).await;
    let app = app_for(&provider).await;
    // Rotation: B replaces A in the JWKS and signs from now on.
    *provider.published.lock().unwrap() = vec![Key::B];
    *provider.signer.lock().unwrap() = Key::B;
    let r = sign_in(&app).await;
    assert_eq!(r.status(), 303, "a new key is accepted after one refetch");
    assert!(is_signed_in(&app).await);

    // A token signed with the withdrawn key A: refused.
    *provider.signer.lock().unwrap() = Key::A;
    let other = TestApp { base: app.base.clone(), client: common::browser() };
    logs.take();
    let r = sign_in(&other).await;
    assert_eq!(r.status(), 502);
    assert!(!is_signed_in(&other).await);
    assert!(logs.take().contains("does not publish for signatures"));

    // A logout token signed with A is refused too; signed with B it is accepted.
    let logout_token = |k: Key| {
        let now = bff::unix_now();
        provider.keys(k).sign(
            "logout+jwt",
            &json!({
                "iss": provider.issuer, "aud": CLIENT, "iat": now, "exp": now + 120, "jti": format!("jti-{k:?}"),
                "sub": "rogue-user",
                "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
            }),
        )
    };
    let post = |token: String| {
        reqwest::Client::new().post(format!("{}/backchannel-logout", app.base)).form(&[("logout_token", token)]).send()
    };
    assert_eq!(post(logout_token(Key::A)).await.unwrap().status(), 400);
    assert!(is_signed_in(&app).await, "a logout token by a withdrawn key ends nothing");
    assert_eq!(post(logout_token(Key::B)).await.unwrap().status(), 200);
    assert!(!is_signed_in(&app).await);
}

/// An RFC 9068 access token of the provider for the app's JSON API, signed
/// with `k` under key id `kid` (the key's own when `None`).
fn access_token(provider: &Rogue, k: Key, kid: Option<&str>) -> String {
    let now = bff::unix_now();
    let claims = json!({
        "iss": provider.issuer, "aud": "gatehouse-api", "sub": "rogue-user", "client_id": "native-app",
        "exp": now + 300, "iat": now, "scope": "openid",
    });
    let keys = provider.keys(k);
    let kid = kid.map(str::to_string).unwrap_or_else(|| keys.active_kid());
    keys.sign_with_header(&json!({ "alg": "RS256", "typ": "at+jwt", "kid": kid }), &claims)
}

/// A logout token of the provider for every sign-in of `rogue-user`.
fn logout_token(provider: &Rogue, k: Key, kid: Option<&str>, jti: &str) -> String {
    let now = bff::unix_now();
    let claims = json!({
        "iss": provider.issuer, "aud": CLIENT, "iat": now, "exp": now + 120, "jti": jti, "sub": "rogue-user",
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    let keys = provider.keys(k);
    let kid = kid.map(str::to_string).unwrap_or_else(|| keys.active_kid());
    keys.sign_with_header(&json!({ "alg": "RS256", "typ": "logout+jwt", "kid": kid }), &claims)
}

async fn api_me(app: &TestApp, token: &str) -> u16 {
    let r = reqwest::Client::new().get(format!("{}/api/v1/me", app.base)).bearer_auth(token).send().await.unwrap();
    r.status().as_u16()
}

async fn post_logout(app: &TestApp, token: String) -> u16 {
    let r = reqwest::Client::new()
        .post(format!("{}/backchannel-logout", app.base))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

/// ID, logout and access tokens are verified with one key cache: a rotation
/// seen through one kind serves the others without a fetch; a flood of made-up
/// key ids over every kind costs no fetch within the cooldown; with the
/// provider's key endpoint down, all three kinds go on verifying with the
/// cached keys after a single try.
#[tokio::test]
async fn one_key_cache_serves_id_logout_and_access_tokens_through_rotation_flood_and_outage() {
    let provider = rogue(Defect::None).await;
    let keys = bff::jwt::KeyCacheConfig {
        min_cache: Duration::from_secs(6),
        max_cache: Duration::from_secs(6),
        refetch_cooldown: Duration::from_secs(30),
        fetch_timeout: Duration::from_secs(1),
    };
    let app = app_with_keys(&provider, keys).await;
    let fetches = || provider.jwks_fetches.load(Ordering::SeqCst);
    assert_eq!(fetches(), 1, "fetched once at startup");
    assert_eq!(api_me(&app, &access_token(&provider, Key::A, None)).await, 200);

    // Rotation, first seen by an access token: one refetch.
    *provider.published.lock().unwrap() = vec![Key::B];
    *provider.signer.lock().unwrap() = Key::B;
    assert_eq!(api_me(&app, &access_token(&provider, Key::B, None)).await, 200);
    assert_eq!(fetches(), 2);
    // The ID token and the logout token signed by the new key need no fetch of their own.
    assert_eq!(sign_in(&app).await.status(), 303);
    assert!(is_signed_in(&app).await);
    assert_eq!(fetches(), 2, "the sign-in used the keys the access token fetched");
    // The withdrawn key is refused for every kind.
    assert_eq!(api_me(&app, &access_token(&provider, Key::A, None)).await, 401);
    assert_eq!(post_logout(&app, logout_token(&provider, Key::A, None, "withdrawn")).await, 400);

    // A flood of made-up key ids over every kind within the cooldown: all refused, no fetch.
    for i in 0..20 {
        let kid = format!("made-up-{i}");
        assert_eq!(api_me(&app, &access_token(&provider, Key::B, Some(&kid))).await, 401);
        assert_eq!(post_logout(&app, logout_token(&provider, Key::B, Some(&kid), &kid)).await, 400);
    }
    *provider.signer.lock().unwrap() = Key::A;
    let other = TestApp { base: app.base.clone(), client: common::browser() };
    assert_eq!(sign_in(&other).await.status(), 502, "an ID token by an unknown key");
    *provider.signer.lock().unwrap() = Key::B;
    assert_eq!(fetches(), 2, "no fetch for any of them: the rotation started the cooldown");
    assert!(is_signed_in(&app).await);

    // The key endpoint goes down and the cached keys go stale: every kind
    // still verifies with them, after one try to fetch.
    provider.jwks_down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(6100)).await;
    for _ in 0..5 {
        assert_eq!(api_me(&app, &access_token(&provider, Key::B, None)).await, 200);
    }
    let third = TestApp { base: app.base.clone(), client: common::browser() };
    assert_eq!(sign_in(&third).await.status(), 303);
    assert!(is_signed_in(&third).await);
    assert_eq!(post_logout(&app, logout_token(&provider, Key::B, None, "during-outage")).await, 200);
    assert!(!is_signed_in(&app).await, "the logout token verified with the cached keys");
    assert_eq!(fetches(), 3, "one try while the endpoint is down, then the cooldown, whatever the kind");
}
