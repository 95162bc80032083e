//! The authorization code flow over real HTTP: discovery, the HTML login with
//! the mailbox passcode, PKCE, SSO, prompt handling and authorization errors.
#![expect(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn discovery_publishes_every_field() {
    let idp = spawn().await;
    let d: Value = reqwest::get(idp.url(".well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(d["issuer"], idp.issuer.as_str());
    assert!(idp.issuer.ends_with('/'));
    for (k, path) in [
        ("authorization_endpoint", "oauth2/auth"),
        ("token_endpoint", "oauth2/token"),
        ("userinfo_endpoint", "userinfo"),
        ("jwks_uri", ".well-known/jwks.json"),
        ("end_session_endpoint", "oauth2/sessions/logout"),
        ("revocation_endpoint", "oauth2/revoke"),
    ] {
        assert_eq!(d[k], idp.url(path), "{k}");
    }
    let has = |k: &str, v: &str| d[k].as_array().unwrap().iter().any(|x| x == v);
    assert!(has("response_types_supported", "code"));
    for s in ["openid", "offline_access", "email", "profile"] {
        assert!(has("scopes_supported", s), "{s}");
    }
    for g in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(has("grant_types_supported", g), "{g}");
    }
    for m in ["client_secret_basic", "client_secret_post", "none"] {
        assert!(has("token_endpoint_auth_methods_supported", m), "{m}");
    }
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert!(has("id_token_signing_alg_values_supported", "RS256"));
    assert!(has("subject_types_supported", "public"));
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);

    let jwks: Value = reqwest::get(idp.url(".well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["kid"], idp.provider.keys.active_kid());
}

#[tokio::test]
async fn full_code_flow_with_pkce_issues_valid_tokens() {
    let idp = spawn().await;
    let b = browser();
    let p = pkce();
    let q = idp
        .login(
            &b,
            &idp.auth_url("web", &[("code_challenge", &p.challenge), ("code_challenge_method", "S256")]),
            "user@example.com",
        )
        .await;
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], idp.issuer);
    let r = idp.exchange(&q["code"], Some(&p.verifier)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["expires_in"], 3600);
    assert!(t["refresh_token"].is_string(), "offline_access grants a refresh token");

    let (h, id) = jwt_parts(t["id_token"].as_str().unwrap());
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["kid"], idp.provider.keys.active_kid());
    assert_eq!(id["iss"], idp.issuer);
    assert_eq!(id["aud"], serde_json::json!(["web"]));
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["email"], "user@example.com");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["first_name"], "Uma");
    assert_eq!(id["user_id"], id["sub"]);
    for c in ["iat", "exp", "auth_time", "rat", "jti", "sid", "at_hash"] {
        assert!(!id[c].is_null(), "{c}");
    }
    assert_eq!(id["at_hash"], idp::util::at_hash(t["access_token"].as_str().unwrap()));
    assert_eq!(id["amr"], serde_json::json!(["otp"]), "a passcode is a one-time password (RFC 8176)");

    let (ah, at) = jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(ah["typ"], "at+jwt");
    for c in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"] {
        assert!(!at[c].is_null(), "{c}");
    }
    assert_eq!(at["client_id"], "web");

    // Userinfo with the access token.
    let u: Value = reqwest::Client::new()
        .get(idp.url("userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(u["sub"], id["sub"]);
    assert_eq!(u["email"], "user@example.com");
    for gone in ["nonce", "at_hash", "exp", "sid", "jti"] {
        assert!(u[gone].is_null(), "{gone} must not be in userinfo");
    }
}

#[tokio::test]
async fn unknown_email_registers_a_new_identity() {
    let idp = spawn().await;
    let b = browser();
    let (status, html, challenge, csrf) =
        idp.submit_email(&b, &idp.auth_url("web", &[]), "new.person@example.com").await;
    assert_eq!(status, 200);
    assert!(html.contains("Create your account"), "{html}");
    // First name is required.
    let r = b
        .post(idp.url("login/register"))
        .form(&[("login_challenge", challenge.as_str()), ("csrf", csrf.as_str()), ("first_name", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = b
        .post(idp.url("login/register"))
        .form(&[
            ("login_challenge", challenge.as_str()),
            ("csrf", csrf.as_str()),
            ("first_name", "Nia"),
            ("last_name", ""),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Enter your passcode"));
    let code = idp.passcode("new.person@example.com").await;
    let r = idp.submit_passcode(&b, &challenge, &csrf, &code).await;
    assert_eq!(r.status(), 303);
    let found = idp::identity::find_by_email(&idp.provider.db, "new.person@example.com").await.unwrap().unwrap();
    assert_eq!(found.first_name(), Some("Nia"));
    assert_eq!(found.last_name(), None);
}

#[tokio::test]
async fn provider_session_gives_sso_until_prompt_login() {
    let idp = spawn().await;
    let b = browser();
    idp.login(&b, &idp.auth_url("web", &[]), "user@example.com").await;
    // Second request: straight back to the client with a code.
    let r = b.get(idp.auth_url("web", &[])).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let q = query_of(&location(&r));
    assert!(q.contains_key("code"));
    // prompt=none works with a session.
    let r = b.get(idp.auth_url("web", &[("prompt", "none")])).send().await.unwrap();
    assert!(query_of(&location(&r)).contains_key("code"));
    // prompt=login forces the form.
    let r = b.get(idp.auth_url("web", &[("prompt", "login")])).send().await.unwrap();
    assert!(location(&r).starts_with("/login?"));
}

#[tokio::test]
async fn prompt_none_without_session_answers_login_required() {
    let idp = spawn().await;
    let r = browser().get(idp.auth_url("web", &[("prompt", "none")])).send().await.unwrap();
    let q = query_of(&location(&r));
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st-123");
}

#[tokio::test]
async fn bad_client_or_redirect_uri_shows_an_error_page_never_a_redirect() {
    let idp = spawn().await;
    let b = browser();
    let mut bad_redirect = url::Url::parse(&idp.auth_url("web", &[])).unwrap();
    let pairs: Vec<(String, String)> = bad_redirect
        .query_pairs()
        .into_owned()
        .map(|(k, v)| if k == "redirect_uri" { (k, "https://evil.example/cb".to_string()) } else { (k, v) })
        .collect();
    bad_redirect.query_pairs_mut().clear().extend_pairs(pairs);
    for url in [
        bad_redirect.to_string(),
        idp.auth_url("nobody", &[]),
        idp.url("oauth2/auth?client_id=web&response_type=code&scope=openid"),
        idp.url(&format!("oauth2/auth?client_id=web&redirect_uri={REDIRECT}/extra&response_type=code&scope=openid")),
    ] {
        let r = b.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 400, "{url}");
        assert!(r.headers().get("location").is_none(), "{url}");
        assert!(r.text().await.unwrap().contains("<h1>"));
    }
}

#[tokio::test]
async fn implicit_hybrid_and_plain_pkce_are_refused_with_redirect_errors() {
    let idp = spawn().await;
    let b = browser();
    for rt in ["token", "id_token", "code id_token", "code token", "id_token token"] {
        // auth_url already has response_type=code: a repeated parameter makes the
        // whole request untrustworthy, so it gets an error page, not a redirect.
        let r = b.get(idp.auth_url("web", &[("response_type", rt)])).send().await.unwrap();
        assert_eq!(r.status(), 400, "{rt}");
        assert!(r.headers().get("location").is_none());
    }
    for rt in ["token", "id_token", "code id_token"] {
        let url = idp.url(&format!(
            "oauth2/auth?client_id=web&redirect_uri={REDIRECT}&scope=openid&state=s1&response_type={}",
            rt.replace(' ', "+")
        ));
        let q = query_of(&location(&b.get(&url).send().await.unwrap()));
        assert_eq!(q["error"], "unsupported_response_type", "{rt}");
        assert_eq!(q["state"], "s1");
    }
    let p = pkce();
    let q = query_of(&location(
        &b.get(idp.auth_url("web", &[("code_challenge", &p.challenge), ("code_challenge_method", "plain")]))
            .send()
            .await
            .unwrap(),
    ));
    assert_eq!(q["error"], "invalid_request");
    let q = query_of(&location(&b.get(idp.auth_url("web", &[("code_challenge", &p.challenge)])).send().await.unwrap()));
    assert_eq!(q["error"], "invalid_request", "a challenge without method (plain by default) is refused");
    // Public clients must use PKCE.
    let q = query_of(&location(&b.get(idp.auth_url("public", &[])).send().await.unwrap()));
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("PKCE"));
    // Scopes are checked.
    let url = idp.url(&format!("oauth2/auth?client_id=web&redirect_uri={REDIRECT}&scope=email&response_type=code"));
    assert_eq!(query_of(&location(&b.get(&url).send().await.unwrap()))["error"], "invalid_scope");
}

#[tokio::test]
async fn inactive_identity_cannot_sign_in() {
    let idp = spawn().await;
    let user = idp::identity::find_by_email(&idp.provider.db, "user@example.com").await.unwrap().unwrap();
    let mut input = idp::identity::IdentityInput::new(user.traits.clone());
    input.state = idp::identity::State::Inactive;
    idp::identity::update(&idp.provider.db, &user.id, input).await.unwrap();
    let (status, html, _, _) = idp.submit_email(&browser(), &idp.auth_url("web", &[]), "user@example.com").await;
    assert_eq!(status, 422);
    assert!(html.contains("deactivated"), "{html}");
}

#[tokio::test]
async fn passcode_allows_three_attempts_and_is_single_use() {
    let idp = spawn().await;
    let b = browser();
    let (_, _, challenge, csrf) = idp.submit_email(&b, &idp.auth_url("web", &[]), "user@example.com").await;
    let good = idp.passcode("user@example.com").await;
    let wrong = if good == "000000" { "111111" } else { "000000" };
    for left in [2, 1] {
        let r = idp.submit_passcode(&b, &challenge, &csrf, wrong).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains(&format!("{left} attempt(s) left")));
    }
    let r = idp.submit_passcode(&b, &challenge, &csrf, wrong).await;
    assert!(r.text().await.unwrap().contains("Too many wrong passcodes"));
    // Now even the right code is refused until a new one is requested.
    let r = idp.submit_passcode(&b, &challenge, &csrf, &good).await;
    assert_eq!(r.status(), 422);
    let r = b
        .post(idp.url("login/resend"))
        .form(&[("login_challenge", challenge.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Enter your passcode"));
    let fresh = idp.passcode("user@example.com").await;
    let r = idp.submit_passcode(&b, &challenge, &csrf, &fresh).await;
    assert_eq!(r.status(), 303);
    // Used once: the request is gone.
    let r = idp.submit_passcode(&b, &challenge, &csrf, &fresh).await;
    assert_ne!(r.status(), 303);
}

#[tokio::test]
async fn expired_passcode_is_refused() {
    let mut cfg = test_config(idp::config::Storage::Memory);
    cfg.ttl.passcode = 1;
    let idp = spawn_with(cfg).await;
    let b = browser();
    let (_, _, challenge, csrf) = idp.submit_email(&b, &idp.auth_url("web", &[]), "user@example.com").await;
    let code = idp.passcode("user@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = idp.submit_passcode(&b, &challenge, &csrf, &code).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn login_forms_are_protected_against_csrf() {
    let idp = spawn().await;
    let b = browser();
    let (_, _, challenge, _csrf) = idp.submit_email(&b, &idp.auth_url("web", &[]), "user@example.com").await;
    // Wrong CSRF token.
    let r = b
        .post(idp.url("login"))
        .form(&[("login_challenge", challenge.as_str()), ("csrf", "forged"), ("email", "user@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Another browser (no login cookie) cannot continue this login.
    let r = browser()
        .post(idp.url("login"))
        .form(&[("login_challenge", challenge.as_str()), ("csrf", "x"), ("email", "user@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn signed_in_users_edit_their_profile_with_schema_validation() {
    let idp = spawn().await;
    let b = browser();
    // Without a provider session there is nothing to edit.
    assert_eq!(b.get(idp.url("profile")).send().await.unwrap().status(), 401);
    idp.login(&b, &idp.auth_url("web", &[]), "user@example.com").await;
    let page = b.get(idp.url("profile")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_value(&page, "csrf").unwrap();
    let r = b
        .post(idp.url("profile"))
        .form(&[("csrf", csrf.as_str()), ("first", "Umaa"), ("last", "Userson"), ("academic-degree", "Dr.")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Your profile was saved."));
    let u = idp::identity::find_by_email(&idp.provider.db, "user@example.com").await.unwrap().unwrap();
    assert_eq!(u.traits["name"], serde_json::json!({"first":"Umaa","last":"Userson","academic-degree":"Dr."}));
    // Schema limits apply.
    let long = "x".repeat(300);
    let r = b.post(idp.url("profile")).form(&[("csrf", csrf.as_str()), ("first", long.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("traits.name.first"));
    // CSRF is checked.
    let r = b.post(idp.url("profile")).form(&[("csrf", "forged"), ("first", "Eve")]).send().await.unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn a_taken_port_fails_with_a_clear_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = test_config(idp::config::Storage::Memory);
    cfg.listen = taken.local_addr().unwrap();
    let err = idp::Idp::build(cfg).await.err().expect("bind must fail").to_string();
    assert!(err.contains(&taken.local_addr().unwrap().to_string()) && err.contains("IDP_LISTEN"), "{err}");
}
