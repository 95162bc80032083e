//! The token, userinfo, revocation and logout endpoints: every rejection
//! returns the RFC error, replays revoke what they issued.
#![expect(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;

async fn code_for(idp: &TestIdp, client: &str, p: &Pkce) -> String {
    let q = idp
        .login(
            &browser(),
            &idp.auth_url(client, &[("code_challenge", &p.challenge), ("code_challenge_method", "S256")]),
            "user@example.com",
        )
        .await;
    q["code"].clone()
}

async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (status, v["error"].as_str().unwrap().to_string())
}

fn post(idp: &TestIdp, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().post(idp.url(path))
}

#[tokio::test]
async fn wrong_verifier_missing_verifier_and_wrong_redirect_uri_are_invalid_grant() {
    let idp = spawn().await;
    let p = pkce();
    let code = code_for(&idp, "web", &p).await;
    assert_eq!(error_of(idp.exchange(&code, Some(&pkce().verifier)).await).await, (400, "invalid_grant".into()));
    let code = code_for(&idp, "web", &p).await;
    assert_eq!(error_of(idp.exchange(&code, None).await).await, (400, "invalid_grant".into()));
    let code = code_for(&idp, "web", &p).await;
    let r = post(&idp, "oauth2/token")
        .basic_auth("web", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", &p.verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "invalid_grant".into()));
    assert_eq!(error_of(idp.exchange("made-up-code", Some(&p.verifier)).await).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn a_replayed_code_fails_and_revokes_what_it_issued() {
    let idp = spawn().await;
    let p = pkce();
    let code = code_for(&idp, "web", &p).await;
    let t: Value = idp.exchange(&code, Some(&p.verifier)).await.json().await.unwrap();
    let at = t["access_token"].as_str().unwrap();
    let userinfo = |tok: String| {
        let url = idp.url("userinfo");
        async move { reqwest::Client::new().get(url).bearer_auth(tok).send().await.unwrap().status() }
    };
    assert_eq!(userinfo(at.to_string()).await, 200);
    assert_eq!(error_of(idp.exchange(&code, Some(&p.verifier)).await).await, (400, "invalid_grant".into()));
    assert_eq!(userinfo(at.to_string()).await, 401, "the access token of the first redemption is revoked");
    let r = post(&idp, "oauth2/token")
        .basic_auth("web", Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn client_authentication_is_exactly_as_registered() {
    let idp = spawn().await;
    let p = pkce();
    let code = code_for(&idp, "web", &p).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", p.verifier.as_str()),
    ];
    // Unknown client.
    let r = post(&idp, "oauth2/token").basic_auth("nobody", Some(SECRET)).form(&form).send().await.unwrap();
    assert!(r.headers().get("www-authenticate").is_some());
    assert_eq!(error_of(r).await, (401, "invalid_client".into()));
    // Wrong secret.
    let r = post(&idp, "oauth2/token")
        .basic_auth("web", Some("wrong-secret-wrong-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (401, "invalid_client".into()));
    // Right secret, wrong method (client_secret_post for a client_secret_basic client).
    let mut f = form.to_vec();
    f.push(("client_id", "web"));
    f.push(("client_secret", SECRET));
    let r = post(&idp, "oauth2/token").form(&f).send().await.unwrap();
    assert_eq!(error_of(r).await, (401, "invalid_client".into()));
    // No authentication at all for a confidential client.
    let mut f = form.to_vec();
    f.push(("client_id", "web"));
    let r = post(&idp, "oauth2/token").form(&f).send().await.unwrap();
    assert_eq!(error_of(r).await, (401, "invalid_client".into()));
    // Both methods at once.
    let mut f = form.to_vec();
    f.push(("client_secret", SECRET));
    let r = post(&idp, "oauth2/token").basic_auth("web", Some(SECRET)).form(&f).send().await.unwrap();
    assert_eq!(error_of(r).await, (400, "invalid_request".into()));
    // The code still works with the right method: failed attempts did not consume it.
    assert_eq!(idp.exchange(&code, Some(&p.verifier)).await.status(), 200);
}

#[tokio::test]
async fn post_and_public_clients_use_their_methods() {
    let idp = spawn().await;
    let p = pkce();
    // Exchange with credentials in the body (client_secret_post / none).
    let exchange = |client: &'static str, secret: Option<&'static str>, code: String| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code),
            ("redirect_uri", REDIRECT.to_string()),
            ("code_verifier", p.verifier.clone()),
            ("client_id", client.to_string()),
        ];
        if let Some(s) = secret {
            form.push(("client_secret", s.to_string()));
        }
        post(&idp, "oauth2/token").form(&form).send()
    };
    let code = code_for(&idp, "post", &p).await;
    assert_eq!(exchange("post", Some(SECRET), code).await.unwrap().status(), 200);
    let code = code_for(&idp, "public", &p).await;
    // A public client sending a secret is refused; without one it works.
    assert_eq!(
        error_of(exchange("public", Some(SECRET), code.clone()).await.unwrap()).await,
        (401, "invalid_client".into())
    );
    assert_eq!(exchange("public", None, code).await.unwrap().status(), 200);
}

async fn refresh(idp: &TestIdp, token: &str) -> reqwest::Response {
    post(idp, "oauth2/token")
        .basic_auth("web", Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let idp = spawn().await;
    let t = idp.tokens_for("user@example.com").await;
    let r1 = t["refresh_token"].as_str().unwrap().to_string();
    let t2: Value = refresh(&idp, &r1).await.json().await.unwrap();
    let r2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2, "rotated on every use");
    let (_, id) = jwt_parts(t2["id_token"].as_str().unwrap());
    let (_, id1) = jwt_parts(t["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], id1["sub"]);
    assert_eq!(id["iss"], id1["iss"]);
    assert!(id["nonce"].is_null());
    let t3: Value = refresh(&idp, &r2).await.json().await.unwrap();
    let r3 = t3["refresh_token"].as_str().unwrap().to_string();
    // Reusing the spent r1 revokes the whole family, including r3.
    assert_eq!(error_of(refresh(&idp, &r1).await).await, (400, "invalid_grant".into()));
    assert_eq!(error_of(refresh(&idp, &r3).await).await, (400, "invalid_grant".into()));
    let status = reqwest::Client::new()
        .get(idp.url("userinfo"))
        .bearer_auth(t3["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let idp = spawn().await;
    let p = pkce();
    let q = idp
        .login(
            &browser(),
            &idp.auth_url(
                "web",
                &[("code_challenge", &p.challenge), ("code_challenge_method", "S256"), ("scope", "openid email")],
            )
            .replace("scope=openid+email+profile+offline_access&", ""),
            "user@example.com",
        )
        .await;
    let t: Value = idp.exchange(&q["code"], Some(&p.verifier)).await.json().await.unwrap();
    assert!(t["refresh_token"].is_null(), "{t}");
    assert_eq!(t["scope"], "openid email");
}

#[tokio::test]
async fn client_credentials_with_audience_and_scope() {
    let idp = spawn().await;
    let tok = idp.machine_token("admin-api").await;
    let (h, c) = jwt_parts(&tok);
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(c["sub"], "machine");
    assert_eq!(c["client_id"], "machine");
    assert_eq!(c["aud"], serde_json::json!(["admin-api"]));
    // client_secret_post client.
    let r = post(&idp, "oauth2/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "service"),
            ("client_secret", SECRET),
            ("audience", "api"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["refresh_token"].is_null() && v["id_token"].is_null());
    // Audience not allowed for the client.
    let r = post(&idp, "oauth2/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "service"),
            ("client_secret", SECRET),
            ("audience", "admin-api"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "invalid_request".into()));
    // Grant type not registered for the client.
    let r = post(&idp, "oauth2/token")
        .basic_auth("web", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "unauthorized_client".into()));
    let r = post(&idp, "oauth2/token")
        .basic_auth("web", Some(SECRET))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "unsupported_grant_type".into()));
}

#[tokio::test]
async fn userinfo_rejects_bad_tokens_with_www_authenticate() {
    let idp = spawn().await;
    let c = reqwest::Client::new();
    let r = c.get(idp.url("userinfo")).bearer_auth("not.a.token").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    let r = c.get(idp.url("userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Never from the query string.
    let t = idp.tokens_for("user@example.com").await;
    let at = t["access_token"].as_str().unwrap();
    let r = c.get(idp.url(&format!("userinfo?access_token={at}"))).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // A tampered token.
    let mut parts: Vec<String> = at.split('.').map(String::from).collect();
    parts[1] = parts[1].chars().rev().collect();
    let r = c.get(idp.url("userinfo")).bearer_auth(parts.join(".")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // An ID token is not an access token.
    let r = c.get(idp.url("userinfo")).bearer_auth(t["id_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn revocation_ends_a_refresh_token_family_and_access_tokens() {
    let idp = spawn().await;
    let t = idp.tokens_for("user@example.com").await;
    let rt = t["refresh_token"].as_str().unwrap();
    let r = post(&idp, "oauth2/revoke")
        .basic_auth("web", Some(SECRET))
        .form(&[("token", rt), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(error_of(refresh(&idp, rt).await).await, (400, "invalid_grant".into()));
    // Unknown tokens: 200 as well (RFC 7009 §2.2).
    let r =
        post(&idp, "oauth2/revoke").basic_auth("web", Some(SECRET)).form(&[("token", "unknown")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Bad client authentication is refused.
    let r = post(&idp, "oauth2/revoke")
        .basic_auth("web", Some("nope-nope-nope-nope"))
        .form(&[("token", rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Access token revocation.
    let t = idp.tokens_for("user@example.com").await;
    let at = t["access_token"].as_str().unwrap();
    post(&idp, "oauth2/revoke").basic_auth("web", Some(SECRET)).form(&[("token", at)]).send().await.unwrap();
    let status = reqwest::Client::new().get(idp.url("userinfo")).bearer_auth(at).send().await.unwrap().status();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn logout_redirects_only_to_registered_uris_and_notifies_back_channel() {
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
    let t: Value = idp.exchange(&q["code"], Some(&p.verifier)).await.json().await.unwrap();
    let id_token = t["id_token"].as_str().unwrap();
    let (_, claims) = jwt_parts(id_token);

    // Unregistered post_logout_redirect_uri: error page, no redirect.
    let mut u = url::Url::parse(&idp.url("oauth2/sessions/logout")).unwrap();
    u.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", "https://evil.example/")
        .append_pair("state", "s");
    let r = b.get(u.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // Without a hint, a redirect URI is refused too.
    let mut u = url::Url::parse(&idp.url("oauth2/sessions/logout")).unwrap();
    u.query_pairs_mut().append_pair("post_logout_redirect_uri", POST_LOGOUT);
    assert_eq!(b.get(u.as_str()).send().await.unwrap().status(), 400);

    // Registered: redirect with state, session ended, back-channel delivered.
    let mut u = url::Url::parse(&idp.url("oauth2/sessions/logout")).unwrap();
    u.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", POST_LOGOUT)
        .append_pair("state", "bye");
    let r = b.get(u.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), format!("{POST_LOGOUT}?state=bye"));
    let tokens = idp.logout_tokens.lock().unwrap().clone();
    assert_eq!(tokens.len(), 1, "one logout token for the one client");
    let (h, lt) = jwt_parts(&tokens[0]);
    assert_eq!(h["typ"], "logout+jwt");
    assert_eq!(lt["sid"], claims["sid"]);
    assert_eq!(lt["sub"], claims["sub"]);
    assert_eq!(lt["aud"], serde_json::json!(["web"]));
    assert!(lt["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(lt["nonce"].is_null());
    assert!(lt["jti"].is_string());
    // The provider session is gone: prompt=none now needs a login.
    let r = b.get(idp.auth_url("web", &[("prompt", "none")])).send().await.unwrap();
    assert_eq!(query_of(&location(&r))["error"], "login_required");
}

#[tokio::test]
async fn logout_without_redirect_shows_a_page() {
    let idp = spawn().await;
    let r = browser().get(idp.url("oauth2/sessions/logout")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are signed out"));
}

#[tokio::test]
async fn keys_rotate_and_old_tokens_stay_verifiable() {
    let idp = spawn().await;
    let old_kid = idp.provider.keys.active_kid();
    let t = idp.tokens_for("user@example.com").await;
    let new_kid = idp.provider.keys.rotate().await.unwrap();
    assert_ne!(old_kid, new_kid);
    let jwks: Value = reqwest::get(idp.url(".well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()));
    let r = reqwest::Client::new()
        .get(idp.url("userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a token signed by the previous key still verifies");
    let t2 = idp.tokens_for("user@example.com").await;
    assert_eq!(jwt_parts(t2["id_token"].as_str().unwrap()).0["kid"], new_kid);
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("idp-restart-{}", uuid::Uuid::new_v4()));
    let cfg = test_config(idp::config::Storage::Dir(dir.clone()));
    let (kid, rt) = {
        let idp = spawn_with(cfg.clone()).await;
        let t = idp.tokens_for("user@example.com").await;
        (idp.provider.keys.active_kid(), t["refresh_token"].as_str().unwrap().to_string())
    };
    let idp = spawn_with(cfg).await;
    assert_eq!(idp.provider.keys.active_kid(), kid, "the signing key is persisted");
    assert!(idp::identity::find_by_email(&idp.provider.db, "user@example.com").await.unwrap().is_some());
    assert_eq!(refresh(&idp, &rt).await.status(), 200, "refresh tokens survive");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn logout_without_a_hint_asks_the_user_first() {
    let idp = spawn().await;
    let b = browser();
    idp.login(&b, &idp.auth_url("web", &[]), "user@example.com").await;
    // A cross-site GET (no id_token_hint) only shows a confirmation.
    let page = b.get(idp.url("oauth2/sessions/logout")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign out?"), "{page}");
    let r = b.get(idp.auth_url("web", &[("prompt", "none")])).send().await.unwrap();
    assert!(query_of(&location(&r)).contains_key("code"), "still signed in");
    // A forged POST is refused the same way.
    let r = b.post(idp.url("oauth2/sessions/logout")).form(&[("csrf", "forged")]).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("Sign out?"));
    // The user's own confirmation ends the session.
    let csrf = hidden_value(&page, "csrf").unwrap();
    let r = b.post(idp.url("oauth2/sessions/logout")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("You are signed out"));
    let r = b.get(idp.auth_url("web", &[("prompt", "none")])).send().await.unwrap();
    assert_eq!(query_of(&location(&r))["error"], "login_required");
    // An access token is not an acceptable id_token_hint.
    let t = idp.tokens_for("user@example.com").await;
    let mut u = url::Url::parse(&idp.url("oauth2/sessions/logout")).unwrap();
    u.query_pairs_mut().append_pair("id_token_hint", t["access_token"].as_str().unwrap());
    assert_eq!(b.get(u.as_str()).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn parallel_wrong_passcodes_cannot_exceed_the_attempt_limit() {
    let idp = spawn().await;
    let b = browser();
    let (_, _, challenge, csrf) = idp.submit_email(&b, &idp.auth_url("web", &[]), "user@example.com").await;
    let good = idp.passcode("user@example.com").await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (b, url, challenge, csrf) = (b.clone(), idp.url("login/passcode"), challenge.clone(), csrf.clone());
        let guess = format!("{:06}", (good.parse::<u32>().unwrap() + 1 + i) % 1_000_000);
        tasks.push(tokio::spawn(async move {
            let r = b
                .post(url)
                .form(&[("login_challenge", challenge), ("csrf", csrf), ("passcode", guess)])
                .send()
                .await
                .unwrap();
            let _ = r.text().await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let attempts: (i64,) =
        sqlx::query_as("SELECT attempts FROM login_requests").fetch_one(&idp.provider.db).await.unwrap();
    assert_eq!(attempts.0, 3, "exactly three guesses were checked");
    let r = idp.submit_passcode(&b, &challenge, &csrf, &good).await;
    assert_eq!(r.status(), 422, "the right code is refused after the limit");
}

#[tokio::test]
async fn introspection_reports_live_tokens_only_to_authenticated_clients() {
    let idp = spawn().await;
    let t = idp.tokens_for("user@example.com").await;
    let (at, rt, id) =
        (t["access_token"].as_str().unwrap(), t["refresh_token"].as_str().unwrap(), t["id_token"].as_str().unwrap());
    let introspect = |token: String| {
        let idp_url = idp.url("oauth2/introspect");
        async move {
            let r = reqwest::Client::new()
                .post(idp_url)
                .basic_auth("web", Some(SECRET))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["cache-control"], "no-store");
            r.json::<Value>().await.unwrap()
        }
    };
    let v = introspect(at.to_string()).await;
    assert_eq!((v["active"].as_bool(), v["token_use"].as_str()), (Some(true), Some("access_token")), "{v}");
    assert_eq!(v["client_id"], "web");
    let v = introspect(rt.to_string()).await;
    assert_eq!((v["active"].as_bool(), v["token_use"].as_str()), (Some(true), Some("refresh_token")), "{v}");
    for dead in [id.to_string(), "unknown".to_string(), format!("{at}x")] {
        assert_eq!(introspect(dead).await, serde_json::json!({ "active": false }), "ID tokens and junk are not live");
    }
    // Spent and revoked tokens are not live.
    assert_eq!(refresh(&idp, rt).await.status(), 200);
    assert_eq!(introspect(rt.to_string()).await["active"], false, "a rotated refresh token");
    post(&idp, "oauth2/revoke").basic_auth("web", Some(SECRET)).form(&[("token", at)]).send().await.unwrap();
    assert_eq!(introspect(at.to_string()).await["active"], false, "a revoked access token");
    // Clients must authenticate.
    let r = post(&idp, "oauth2/introspect").form(&[("token", at)]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = post(&idp, "oauth2/introspect").basic_auth("web", Some("wrong-secret-wrong")).form(&[("token", at)]);
    assert_eq!(r.send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn a_client_deletes_only_its_own_tokens_and_the_stats_count_them() {
    let idp = spawn().await;
    let token = idp.machine_token("admin-api provider-stats").await;
    let _second = idp.machine_token("admin-api provider-stats").await;
    let stats: Value = reqwest::Client::new()
        .get(idp.url("stats/tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["client_credentials"]["machine"], 2, "{stats}");
    let identities = || reqwest::Client::new().get(idp.url("admin/identities")).bearer_auth(&token).send();
    assert_eq!(identities().await.unwrap().status(), 200);

    let delete = || reqwest::Client::new().delete(idp.url("oauth2/tokens?client_id=machine"));
    assert_eq!(delete().send().await.unwrap().status(), 401, "no client authentication");
    let r = delete().basic_auth("machine", Some("wrong")).send().await.unwrap();
    assert_eq!(r.status(), 401, "wrong secret");
    let r = delete().basic_auth("web", Some(SECRET)).send().await.unwrap();
    assert_eq!(error_of(r).await, (403, "access_denied".into()), "another client's tokens");
    assert_eq!(identities().await.unwrap().status(), 200, "nothing was revoked");
    let r = reqwest::Client::new().delete(idp.url("oauth2/tokens")).basic_auth("machine", Some(SECRET)).send();
    assert_eq!(r.await.unwrap().status(), 400, "client_id is required");

    assert_eq!(delete().basic_auth("machine", Some(SECRET)).send().await.unwrap().status(), 204);
    assert_eq!(identities().await.unwrap().status(), 401, "the client's token is revoked");
}
