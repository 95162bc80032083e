//! The back-channel logout receiver, over HTTP with the real server: logout
//! tokens signed with the embedded provider's own key. A valid one ends the
//! sign-in; every broken or replayed one is a 400 and touches no session; the
//! provider's own logout (deactivating the identity) reaches it too.
#![expect(clippy::unwrap_used)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::TestApp;
use common::*;
use serde_json::{json, Value};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

async fn claim(app: &TestApp, name: &str) -> String {
    let p: Value = api(app, "profile").await.json().await.unwrap();
    let pairs = p["id_claims"].as_array().unwrap();
    pairs.iter().find(|kv| kv[0] == name).map(|kv| kv[1].as_str().unwrap().to_string()).unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

async fn post_logout_token(app: &TestApp, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/backchannel-logout", app.base))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn logout_tokens_are_verified_and_a_valid_one_ends_the_sign_in_once() {
    let dir = temp_dir("bcl");
    let mut settings = test_settings();
    settings.data_dir = Some(dir.clone());
    let app = spawn_app_with(settings).await;
    signed_in(&app, "user@example.com").await;
    let (sub, sid) = (claim(&app, "sub").await, claim(&app, "sid").await);
    let issuer = provider_base(&app).await;

    // The provider's own signing key, from its database in the data directory.
    let db = idp::db::open(&idp::config::Storage::Dir(dir.join("idp"))).await.unwrap();
    let keys = idp::keys::Keys::load(db, 3600, idp::keys::SigningAlg::RS256).await.unwrap();
    let now = bff::unix_now();
    let valid = json!({
        "iss": issuer, "aud": ["gatehouse"], "iat": now, "exp": now + 120, "jti": format!("jti-{now}"),
        "events": { EVENT: {} }, "sub": sub, "sid": sid,
    });
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = valid.as_object().unwrap().clone();
        f(&mut c);
        keys.sign("logout+jwt", &Value::Object(c))
    };
    let signed = keys.sign("logout+jwt", &valid);
    let (h, p) = {
        let mut it = signed.split('.');
        (it.next().unwrap().to_string(), it.next().unwrap().to_string())
    };
    let header = |alg: &str| b64(&json!({"alg": alg, "typ": "logout+jwt", "kid": keys.active_kid()}));
    let sig = signed.rsplit('.').next().unwrap().to_string();
    let refused: Vec<(&str, String)> = vec![
        ("garbage", "not-a-jwt".into()),
        ("alg none", format!("{}.{p}.", header("none"))),
        ("alg HS256", format!("{}.{p}.{sig}", header("HS256"))),
        ("alg RS384 over an RS256 signature", format!("{}.{p}.{sig}", header("RS384"))),
        ("tampered payload", format!("{h}.{}.{sig}", b64(&json!({"sub": "someone-else"})))),
        ("typ JWT", keys.sign("JWT", &valid)),
        (
            "wrong iss",
            with(&|c| {
                c.insert("iss".into(), json!("http://127.0.0.1:9/"));
            }),
        ),
        (
            "wrong aud",
            with(&|c| {
                c.insert("aud".into(), json!(["another-app"]));
            }),
        ),
        (
            "missing events",
            with(&|c| {
                c.remove("events");
            }),
        ),
        (
            "wrong event",
            with(&|c| {
                c.insert("events".into(), json!({"http://schemas.openid.net/event/other": {}}));
            }),
        ),
        (
            "with nonce",
            with(&|c| {
                c.insert("nonce".into(), json!("n"));
            }),
        ),
        (
            "neither sid nor sub",
            with(&|c| {
                c.remove("sid");
                c.remove("sub");
            }),
        ),
        (
            "no jti",
            with(&|c| {
                c.remove("jti");
            }),
        ),
        (
            "stale iat",
            with(&|c| {
                c.insert("iat".into(), json!(now - 3600));
                c.insert("exp".into(), json!(now + 60));
            }),
        ),
        (
            "iat in the future",
            with(&|c| {
                c.insert("iat".into(), json!(now + 3600));
            }),
        ),
    ];
    for (what, token) in &refused {
        let r = post_logout_token(&app, token).await;
        assert_eq!(r.status(), 400, "{what}");
        assert!(is_signed_in(&app).await, "{what}: no session touched");
    }
    assert_eq!(
        reqwest::Client::new()
            .post(format!("{}/backchannel-logout", app.base))
            .form(&[("x", "y")])
            .send()
            .await
            .unwrap()
            .status(),
        400,
        "no token"
    );

    // Another user's sign-in is not ended by this user's logout token.
    let other = TestApp { base: app.base.clone(), client: browser() };
    signed_in(&other, "admin@example.com").await;

    let r = post_logout_token(&app, &signed).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(!is_signed_in(&app).await, "the sign-in ended");
    assert!(is_signed_in(&other).await, "only that one");
    let r = post_logout_token(&app, &signed).await;
    assert_eq!(r.status(), 400, "a replayed jti is refused");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn deactivating_an_identity_at_the_provider_ends_its_sessions_here() {
    let app = spawn_app_with(test_settings()).await;
    let user = TestApp { base: app.base.clone(), client: browser() };
    signed_in(&user, "user@example.com").await;
    signed_in(&app, "admin@example.com").await;
    let list: Value =
        api_form(&app, "admin_list_identities", &[("email", "user@example.com")]).await.json().await.unwrap();
    let id = list["rows"][0]["id"].as_str().unwrap().to_string();
    assert!(is_signed_in(&user).await);
    let r = api_form(&app, "admin_set_identity_state", &[("id", &id), ("state", "inactive")]).await;
    assert_eq!(r.status(), 200);
    // The provider's back-channel logout is delivered before its Admin API answers.
    assert!(!is_signed_in(&user).await, "the deactivated user's session ended");
    assert!(is_signed_in(&app).await, "the admin's did not");
}
