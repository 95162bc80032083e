//! The relying party against the real local provider: discovery, code flow with
//! PKCE, ID-token validation, and refusal of a wrong nonce or a replayed code.
#![expect(clippy::unwrap_used)]

use bff::oidc::{ClientAuth, RelyingParty, RpConfig};
use bff::ReturnTo;
use idp::config::{AuthMethod, ClientConfig, Config, SeedIdentity};

const SECRET: &str = "rp-test-secret-0123456789";
const REDIRECT: &str = "http://127.0.0.1:9/login";

async fn provider(method: AuthMethod) -> String {
    provider_with_handle(method).await.0
}

async fn provider_with_handle(method: AuthMethod) -> (String, idp::Provider) {
    let mut cfg = Config::in_memory("127.0.0.1:0".parse().unwrap());
    cfg.dev_mode = true; // the tests read passcodes from its mailbox
    cfg.clients = vec![ClientConfig {
        id: "app".into(),
        secret: (method != AuthMethod::None).then(|| SECRET.into()),
        auth_method: method,
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "email".into(), "profile".into(), "offline_access".into()],
        audiences: vec![],
    }];
    cfg.identities = ["user@example.com", "other@example.com"]
        .map(|e| SeedIdentity { email: e.into(), first_name: Some("Ada".into()), last_name: None })
        .to_vec();
    let idp = idp::Idp::build(cfg).await.unwrap();
    let issuer = idp.issuer().to_string();
    let handle = idp.provider_handle();
    tokio::spawn(idp.run_until_stopped());
    (issuer, handle)
}

async fn sign_in(rp: &RelyingParty, email: &str) -> Result<(bff::oidc::VerifiedUser, bff::oidc::TokenSet), String> {
    let (url, _, pending) = rp.start(ReturnTo::root(), 0);
    let back = idp::testkit::sign_in(&browser(), url.as_str(), email).await.unwrap();
    rp.finish(&param(&back, "code"), &pending).await.map_err(|e| e.to_string())
}

fn rp_config(issuer: &str, auth: ClientAuth) -> RpConfig {
    RpConfig {
        issuer: issuer.into(),
        client_id: "app".into(),
        client_secret: (auth != ClientAuth::None).then(|| SECRET.into()),
        auth,
        redirect_url: REDIRECT.into(),
        scopes: ["openid", "email", "profile", "offline_access"].map(String::from).to_vec(),
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn param(url: &str, name: &str) -> String {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).unwrap().1.into_owned()
}

#[tokio::test]
async fn signs_in_with_each_client_authentication_method() {
    for (method, auth) in [
        (AuthMethod::ClientSecretBasic, ClientAuth::ClientSecretBasic),
        (AuthMethod::ClientSecretPost, ClientAuth::ClientSecretPost),
        (AuthMethod::None, ClientAuth::None),
    ] {
        let issuer = provider(method).await;
        let rp = RelyingParty::discover(&rp_config(&issuer, auth), 3).await.unwrap();
        assert!(rp.end_session_endpoint().is_some() && rp.revocation_endpoint().is_some());
        let (url, state, pending) = rp.start(ReturnTo::parse("/profile").unwrap(), 0);
        let back = idp::testkit::sign_in(&browser(), url.as_str(), "user@example.com").await.unwrap();
        assert_eq!(param(&back, "state"), state);
        let (user, tokens) = rp.finish(&param(&back, "code"), &pending).await.unwrap();
        assert_eq!(user.email.as_deref(), Some("user@example.com"));
        assert!(tokens.refresh_token.is_some());
        assert_eq!(format!("{tokens:?}"), "TokenSet { .. }", "tokens never show up in logs");
    }
}

#[tokio::test]
async fn a_wrong_nonce_or_a_replayed_code_is_refused() {
    let issuer = provider(AuthMethod::ClientSecretBasic).await;
    let rp = RelyingParty::discover(&rp_config(&issuer, ClientAuth::ClientSecretBasic), 3).await.unwrap();
    let b = browser();
    let (url, _, mut pending) = rp.start(ReturnTo::root(), 0);
    let back = idp::testkit::sign_in(&b, url.as_str(), "user@example.com").await.unwrap();
    pending.nonce = "someone-elses-nonce".into();
    let err = rp.finish(&param(&back, "code"), &pending).await.unwrap_err().to_string();
    assert!(err.contains("ID token"), "{err}");
    let (url, _, pending) = rp.start(ReturnTo::root(), 0);
    let back = idp::testkit::sign_in(&b, url.as_str(), "user@example.com").await.unwrap();
    rp.finish(&param(&back, "code"), &pending).await.unwrap();
    assert!(rp.finish(&param(&back, "code"), &pending).await.is_err(), "a code works once");
}

#[tokio::test]
async fn discovery_gives_up_with_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = rp_config(&format!("http://127.0.0.1:{port}/"), ClientAuth::ClientSecretBasic);
    let err = RelyingParty::discover(&cfg, 2).await.err().unwrap().to_string();
    assert!(err.contains("did not answer discovery after 2 attempts"), "{err}");
}

#[tokio::test]
async fn userinfo_must_be_about_the_signed_in_subject() {
    let issuer = provider(AuthMethod::ClientSecretBasic).await;
    let rp = RelyingParty::discover(&rp_config(&issuer, ClientAuth::ClientSecretBasic), 3).await.unwrap();
    let (me, my_tokens) = sign_in(&rp, "user@example.com").await.unwrap();
    assert_eq!(me.first_name.as_deref(), Some("Ada"), "Hanko's first_name claim is read");
    assert!(me.claims.iter().any(|(k, _)| k == "iss") && !me.claims.iter().any(|(k, _)| k == "nonce"));
    let claims = rp.userinfo(&my_tokens.access_token, &me.sub).await.unwrap();
    assert_eq!(claims["email"], "user@example.com", "{claims:?}");
    // A valid token of someone else (as a mixed-up or malicious provider could return) is refused.
    let (_, other_tokens) = sign_in(&rp, "other@example.com").await.unwrap();
    let err = rp.userinfo(&other_tokens.access_token, &me.sub).await.unwrap_err();
    assert!(matches!(err, bff::oidc::UserinfoError::SubjectMismatch { .. }), "{err}");
    let err = rp.userinfo("not-a-token", &me.sub).await.unwrap_err();
    assert!(matches!(err, bff::oidc::UserinfoError::Unauthorized), "{err}");
}

#[tokio::test]
async fn an_unknown_signing_key_refetches_the_jwks_once_per_cooldown() {
    let (issuer, idp) = provider_with_handle(AuthMethod::ClientSecretBasic).await;
    let rp = RelyingParty::discover(&rp_config(&issuer, ClientAuth::ClientSecretBasic), 3).await.unwrap();
    let fetches = || rp.key_cache().fetches();
    assert_eq!(fetches(), 1, "discovery fetched the keys once");
    sign_in(&rp, "user@example.com").await.unwrap();
    assert_eq!(fetches(), 1);
    // The provider rotates its key: the next ID token has a kid discovery never saw.
    idp.keys.rotate().await.unwrap();
    sign_in(&rp, "user@example.com").await.expect("the new key is fetched and the token verifies");
    assert_eq!(fetches(), 2);
    sign_in(&rp, "user@example.com").await.unwrap();
    assert_eq!(fetches(), 2, "known keys need no fetch");
    // Another rotation within the cooldown: no second fetch, the sign-in fails cleanly.
    idp.keys.rotate().await.unwrap();
    let err = sign_in(&rp, "user@example.com").await.unwrap_err();
    assert!(err.contains("a key the provider does not publish"), "{err}");
    assert_eq!(fetches(), 2, "the cooldown holds");
}
