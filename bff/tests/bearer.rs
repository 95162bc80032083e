//! The bearer-token verifier against the real local provider: its own
//! client-credentials tokens verify; forged, expired, mistargeted and malformed
//! ones are refused with a typed error (never a panic); a key rotation costs one
//! JWKS refetch; made-up `kid`s cannot make it hammer the provider; cached keys
//! keep working when the provider is down.
#![expect(clippy::unwrap_used)]

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bff::bearer::{BearerConfig, BearerError, BearerVerifier};
use idp::config::{AuthMethod, ClientConfig, Config};
use serde_json::{json, Value};

const SECRET: &str = "bearer-test-secret-0123456789";

struct Provider {
    issuer: String,
    handle: idp::Provider,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn provider() -> Provider {
    let mut cfg = Config::in_memory("127.0.0.1:0".parse().unwrap());
    cfg.clients = vec![ClientConfig {
        id: "svc".into(),
        secret: Some(SECRET.into()),
        auth_method: AuthMethod::ClientSecretBasic,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["settings:read".into()],
        audiences: vec!["api".into()],
    }];
    let idp = idp::Idp::build(cfg).await.unwrap();
    let (issuer, handle) = (idp.issuer().to_string(), idp.provider_handle());
    let server = tokio::spawn(idp.run_until_stopped());
    Provider { issuer, handle, server }
}

fn verifier(p: &Provider, tweak: impl FnOnce(&mut BearerConfig)) -> BearerVerifier {
    let mut cfg = BearerConfig::new(p.issuer.clone(), format!("{}.well-known/jwks.json", p.issuer).parse().unwrap());
    cfg.audience = Some("api".into());
    tweak(&mut cfg);
    BearerVerifier::new(cfg).unwrap()
}

async fn service_token(p: &Provider) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}oauth2/token", p.issuer))
        .basic_auth("svc", Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("audience", "api"), ("scope", "settings:read")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

fn now() -> i64 {
    bff::unix_now()
}

fn claims(p: &Provider) -> serde_json::Map<String, Value> {
    let now = now();
    json!({"iss": p.issuer, "sub": "user-1", "aud": ["api"], "exp": now + 300, "iat": now, "jti": "j",
           "client_id": "app", "scope": "openid settings:read"})
    .as_object()
    .unwrap()
    .clone()
}

fn signed(p: &Provider, typ: &str, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut c = claims(p);
    f(&mut c);
    p.handle.keys.sign(typ, &Value::Object(c))
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[tokio::test]
async fn the_providers_own_tokens_verify_and_scopes_are_checked() {
    let p = provider().await;
    let v = verifier(&p, |_| {});
    let token = service_token(&p).await;
    let c = v.verify(&token, now()).await.unwrap();
    assert_eq!((c.sub.as_str(), c.is_service()), ("svc", true));
    assert!(c.require_scope("settings:read").is_ok());
    assert_eq!(c.require_scope("settings:write"), Err(BearerError::InsufficientScope("settings:write".into())));
    let user = v.verify(&signed(&p, "at+jwt", |_| {}), now()).await.unwrap();
    assert!(!user.is_service() && user.has_scope("settings:read"));
    assert_eq!(v.jwks_fetches(), 1, "keys are cached");
}

#[tokio::test]
async fn forged_expired_and_mistargeted_tokens_are_refused() {
    let p = provider().await;
    let v = verifier(&p, |_| {});
    let now = now();
    let good = signed(&p, "at+jwt", |_| {});
    let (h, rest) = good.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let header = |alg: &str| b64(&json!({"alg": alg, "typ": "at+jwt", "kid": p.handle.keys.active_kid()}));
    let mut bad_sig = sig.to_string();
    bad_sig.replace_range(..2, if bad_sig.starts_with("AA") { "BB" } else { "AA" });
    let cases: Vec<(&str, String, BearerError)> = vec![
        (
            "expired",
            signed(&p, "at+jwt", |c| {
                c.insert("exp".into(), json!(now - 100));
            }),
            BearerError::Expired,
        ),
        (
            "no exp",
            signed(&p, "at+jwt", |c| {
                c.remove("exp");
            }),
            BearerError::Expired,
        ),
        (
            "not yet valid",
            signed(&p, "at+jwt", |c| {
                c.insert("nbf".into(), json!(now + 600));
            }),
            BearerError::NotYetValid,
        ),
        (
            "wrong iss",
            signed(&p, "at+jwt", |c| {
                c.insert("iss".into(), json!("http://127.0.0.1:9/"));
            }),
            BearerError::Issuer,
        ),
        (
            "wrong aud",
            signed(&p, "at+jwt", |c| {
                c.insert("aud".into(), json!(["other"]));
            }),
            BearerError::Audience,
        ),
        ("an ID token", signed(&p, "JWT", |_| {}), BearerError::Type),
        ("alg none", format!("{}.{payload}.", header("none")), BearerError::Algorithm("none".into())),
        (
            "HS256 (key confusion)",
            format!("{}.{payload}.{sig}", header("HS256")),
            BearerError::Algorithm("HS256".into()),
        ),
        ("RS384", format!("{}.{payload}.{sig}", header("RS384")), BearerError::Algorithm("RS384".into())),
        ("bad signature", format!("{h}.{payload}.{bad_sig}"), BearerError::Signature),
        ("tampered claims", format!("{h}.{}.{sig}", b64(&json!({"sub": "admin"}))), BearerError::Signature),
    ];
    for (what, token, expected) in cases {
        assert_eq!(v.verify(&token, now).await.unwrap_err(), expected, "{what}");
    }
    // Within the leeway (30 s) a just-expired token still passes.
    assert!(v
        .verify(
            &signed(&p, "at+jwt", |c| {
                c.insert("exp".into(), json!(now - 10));
            }),
            now
        )
        .await
        .is_ok());
}

#[tokio::test]
async fn malformed_tokens_are_refused_without_panicking() {
    let p = provider().await;
    let v = verifier(&p, |_| {});
    let good = signed(&p, "at+jwt", |_| {});
    let huge_header = format!(
        "{}.{}",
        b64(&json!({"alg": "RS256", "typ": "at+jwt", "x": "y".repeat(2000)})),
        good.split_once('.').unwrap().1
    );
    for token in [
        String::new(),
        "a".into(),
        "a.b".into(),
        format!("{good}.extra"),
        good[..good.len() / 2].to_string(),
        good.replacen('.', "=.", 1),
        // A character outside base64url (the last one: always present, unlike a `-` to swap).
        format!("{}+", &good[..good.len() - 1]),
        "é.é.é".into(),
        huge_header,
        "x".repeat(20_000),
    ] {
        assert_ne!(token, good);
        let e = v.verify(&token, now()).await.unwrap_err();
        assert!(matches!(e, BearerError::Malformed(_) | BearerError::Signature), "{e:?} for {:.40}", token);
    }
}

#[tokio::test]
async fn a_rotated_key_costs_one_refetch_and_made_up_kids_cannot_hammer_the_provider() {
    let p = provider().await;
    let v = verifier(&p, |_| {});
    assert!(v.verify(&signed(&p, "at+jwt", |_| {}), now()).await.is_ok());
    assert_eq!(v.jwks_fetches(), 1);
    p.handle.keys.rotate().await.unwrap();
    assert!(v.verify(&signed(&p, "at+jwt", |_| {}), now()).await.is_ok(), "new kid accepted after one refetch");
    assert_eq!(v.jwks_fetches(), 2);

    // A flood of tokens with made-up key ids: at most one fetch per cooldown.
    let (_, rest) = signed(&p, "at+jwt", |_| {}).split_once('.').map(|(a, b)| (a.to_string(), b.to_string())).unwrap();
    for i in 0..50 {
        let forged =
            format!("{}.{rest}", b64(&json!({"alg": "RS256", "typ": "at+jwt", "kid": format!("made-up-{i}")})));
        assert_eq!(v.verify(&forged, now()).await.unwrap_err(), BearerError::UnknownKey);
    }
    assert_eq!(v.jwks_fetches(), 2, "no fetch: the rotation's refetch started the cooldown");
}

#[tokio::test]
async fn cached_keys_keep_working_when_the_provider_is_down() {
    let p = provider().await;
    // A zero cache lifetime: every verification wants fresh keys.
    let v = verifier(&p, |c| {
        c.min_cache = Duration::ZERO;
        c.max_cache = Duration::ZERO;
    });
    let token = signed(&p, "at+jwt", |_| {});
    assert!(v.verify(&token, now()).await.is_ok());
    p.server.abort();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(reqwest::get(format!("{}.well-known/jwks.json", p.issuer)).await.is_err(), "the provider is down");
    assert!(v.verify(&token, now()).await.is_ok(), "cached keys still verify");
    assert!(v.jwks_fetches() >= 2, "it did try to refresh");
}

#[tokio::test]
async fn a_concurrent_flood_of_unknown_kids_costs_one_fetch_per_cooldown() {
    let p = provider().await;
    let v = std::sync::Arc::new(verifier(&p, |c| c.refetch_cooldown = Duration::from_millis(300)));
    assert!(v.verify(&signed(&p, "at+jwt", |_| {}), now()).await.is_ok());
    let (_, rest) = signed(&p, "at+jwt", |_| {}).split_once('.').map(|(a, b)| (a.to_string(), b.to_string())).unwrap();
    for round in 1..=2u64 {
        let flood: Vec<_> = (0..100)
            .map(|i| {
                let (v, rest) = (v.clone(), rest.clone());
                tokio::spawn(async move {
                    let kid = format!("made-up-{round}-{i}");
                    let forged = format!("{}.{rest}", b64(&json!({"alg": "RS256", "typ": "at+jwt", "kid": kid})));
                    v.verify(&forged, now()).await.unwrap_err()
                })
            })
            .collect();
        for f in flood {
            assert_eq!(f.await.unwrap(), BearerError::UnknownKey);
        }
        assert_eq!(v.jwks_fetches(), 1 + round, "one fetch for 100 concurrent unknown kids (round {round})");
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
}

#[tokio::test]
async fn the_tower_layer_and_the_extractors_guard_axum_routes() {
    use axum::routing::get;
    use bff::bearer::{require_bearer, Bearer, SharedVerifier, UserBearer};
    let p = provider().await;
    let v: SharedVerifier = std::sync::Arc::new(verifier(&p, |_| {}));
    let layered = axum::Router::new()
        .route("/layer", get(|axum::Extension(c): axum::Extension<bff::bearer::AccessClaims>| async move { c.sub }))
        .route_layer(axum::middleware::from_fn_with_state(v.clone(), require_bearer));
    let extracted = axum::Router::new()
        .route("/any", get(|Bearer(c): Bearer| async move { c.sub }))
        .route("/user", get(|UserBearer(c): UserBearer| async move { c.sub }))
        .with_state(v.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, layered.merge(extracted)).await });

    let token = service_token(&p).await;
    let http = reqwest::Client::new();
    for path in ["/layer", "/any"] {
        let r = http.get(format!("{base}{path}")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.text().await.unwrap(), "svc");
        let r = http.get(format!("{base}{path}?access_token={token}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}: the query string is never read");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let r = http.get(format!("{base}{path}")).bearer_auth("a.b.c").send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer error=\"invalid_token\""));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
    let r = http.get(format!("{base}/user")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 403, "a service's token where a user is required");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "insufficient_scope");
}

#[tokio::test]
async fn a_remembered_token_is_still_checked_for_time() {
    let p = provider().await;
    let v = verifier(&p, |_| {});
    let t = signed(&p, "at+jwt", |c| {
        c.insert("exp".into(), json!(now() + 120));
        c.insert("nbf".into(), json!(now()));
    });
    assert!(v.verify(&t, now()).await.is_ok());
    assert!(v.verify(&t, now()).await.is_ok(), "the second time from memory");
    assert_eq!(v.verify(&t, now() + 3600).await.unwrap_err(), BearerError::Expired);
    assert_eq!(v.verify(&t, now() - 3600).await.unwrap_err(), BearerError::NotYetValid);
    let (rest, sig) = t.rsplit_once('.').unwrap();
    let other = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{rest}.{other}{}", &sig[1..]);
    assert_eq!(v.verify(&tampered, now()).await.unwrap_err(), BearerError::Signature, "a different token is verified");
    assert_eq!(v.jwks_fetches(), 1);
}

/// A JWKS endpoint under the test's control: serves `keys`, or hangs.
struct Jwks {
    url: url::Url,
    keys: std::sync::Arc<std::sync::Mutex<Value>>,
    hang: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

async fn jwks_server(initial: Value) -> Jwks {
    use axum::routing::get;
    let keys = std::sync::Arc::new(std::sync::Mutex::new(initial));
    let hang = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (k, h) = (keys.clone(), hang.clone());
    let app = axum::Router::new().route(
        "/jwks",
        get(move || {
            let (k, h) = (k.clone(), h.clone());
            async move {
                if h.load(std::sync::atomic::Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                let body = k.lock().unwrap().clone();
                ([("cache-control", "max-age=600")], axum::Json(body))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap()).parse().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Jwks { url, keys, hang }
}

async fn provider_jwks(p: &Provider) -> Value {
    reqwest::get(format!("{}.well-known/jwks.json", p.issuer)).await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn a_remembered_token_is_refused_once_its_key_is_withdrawn() {
    let p = provider().await;
    let jwks = jwks_server(provider_jwks(&p).await).await;
    let v = verifier(&p, |c| c.jwks_uri = jwks.url.clone());
    let token = signed(&p, "at+jwt", |_| {});
    assert!(v.verify(&token, now()).await.is_ok());
    assert!(v.verify(&token, now()).await.is_ok(), "remembered");
    // The provider withdraws the key; a token with an unknown kid makes the verifier look.
    *jwks.keys.lock().unwrap() = json!({ "keys": [] });
    let (_, rest) = token.split_once('.').unwrap();
    let forged = format!("{}.{rest}", b64(&json!({"alg": "RS256", "typ": "at+jwt", "kid": "made-up"})));
    assert_eq!(v.verify(&forged, now()).await.unwrap_err(), BearerError::UnknownKey);
    assert_eq!(v.jwks_fetches(), 2);
    assert_eq!(v.verify(&token, now()).await.unwrap_err(), BearerError::UnknownKey, "not from memory");
}

#[tokio::test]
async fn a_hanging_provider_costs_one_try_per_cooldown_and_cached_keys_keep_working() {
    let p = provider().await;
    let jwks = jwks_server(provider_jwks(&p).await).await;
    // Keys always stale, so every verification wants a refresh.
    let v = verifier(&p, |c| {
        c.jwks_uri = jwks.url.clone();
        c.min_cache = Duration::ZERO;
        c.max_cache = Duration::ZERO;
        c.fetch_timeout = Duration::from_millis(300);
    });
    let token = signed(&p, "at+jwt", |_| {});
    assert!(v.verify(&token, now()).await.is_ok());
    assert_eq!(v.jwks_fetches(), 1);
    jwks.hang.store(true, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..20 {
        assert!(v.verify(&token, now()).await.is_ok(), "the cached keys verify while the provider hangs");
    }
    assert_eq!(v.jwks_fetches(), 2, "one try, then the cooldown");
}

#[tokio::test]
async fn without_any_keys_an_unreachable_provider_gives_503_and_is_not_hammered() {
    let p = provider().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead: url::Url = format!("http://{}/jwks", listener.local_addr().unwrap()).parse().unwrap();
    drop(listener);
    let v = verifier(&p, |c| c.jwks_uri = dead);
    let token = signed(&p, "at+jwt", |_| {});
    for _ in 0..10 {
        let e = v.verify(&token, now()).await.unwrap_err();
        assert_eq!((e.clone(), e.status()), (BearerError::KeysUnavailable, 503));
    }
    assert_eq!(v.jwks_fetches(), 1);
}
