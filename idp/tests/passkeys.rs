//! Passkey ceremonies against the real provider, answered by a software
//! authenticator (`idp::testkit::SoftAuthenticator`): registration after a
//! passcode and on the profile, sign-in with the passkey alone (discovered,
//! or for the email given), `amr`, and every refusal: expired, replayed,
//! wrong origin, other browser, deleted credential, another user's credential,
//! a sign count that went back.
#![expect(clippy::unwrap_used)]

mod common;

use common::*;
use idp::testkit::SoftAuthenticator;
use serde_json::Value;

/// The provider's origin (what a browser on its pages writes into client data).
fn origin(t: &TestIdp) -> String {
    t.issuer.trim_end_matches('/').to_string()
}

/// Signs in `email` with a passcode, telling the provider the browser can make
/// passkeys; returns the page that follows (the offer, or the redirect).
async fn passcode_sign_in(t: &TestIdp, b: &reqwest::Client, email: &str, capable: bool) -> reqwest::Response {
    let (status, html, challenge, csrf) = t.submit_email(b, &t.auth_url("web", &[]), email).await;
    assert_eq!(status, 200, "{html}");
    let code = t.passcode(email).await;
    let capable = if capable { "1" } else { "" };
    b.post(t.url("login/passcode"))
        .form(&[("login_challenge", &*challenge), ("csrf", &*csrf), ("passcode", &*code), ("passkey", capable)])
        .send()
        .await
        .unwrap()
}

fn attr(html: &str, name: &str) -> String {
    let marker = format!("{name}=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&")
}

/// Adds a passkey for the signed-in browser `b` through the profile's ceremony.
async fn add_passkey(t: &TestIdp, b: &reqwest::Client, csrf: &str, soft: &mut SoftAuthenticator) -> reqwest::Response {
    let started: Value =
        b.post(t.url("passkeys/register/start")).form(&[("csrf", csrf)]).send().await.unwrap().json().await.unwrap();
    assert_eq!(started["publicKey"]["authenticatorSelection"]["residentKey"], "required", "{started}");
    assert_eq!(started["publicKey"]["rp"]["id"], "localhost");
    let answer = soft.create(&started);
    b.post(t.url("passkeys/register/finish"))
        .form(&[
            ("csrf", csrf),
            ("ceremony", started["ceremony"].as_str().unwrap()),
            ("credential", &answer.to_string()),
        ])
        .send()
        .await
        .unwrap()
}

/// A user signed in with a passcode who then added a passkey; returns the authenticator.
async fn user_with_passkey(t: &TestIdp, email: &str, synced: bool) -> SoftAuthenticator {
    let b = browser();
    let r = passcode_sign_in(t, &b, email, false).await;
    assert_eq!(r.status(), 303);
    let profile = b.get(t.url("profile")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_value(&profile, "csrf").unwrap();
    let mut soft = SoftAuthenticator::new(&origin(t));
    soft.backup_eligible = synced;
    let r = add_passkey(t, &b, &csrf, &mut soft).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    soft
}

/// A fresh browser at the email form: its login challenge and CSRF token.
async fn login_form(t: &TestIdp, b: &reqwest::Client) -> (String, String) {
    let r = b.get(t.auth_url("web", &[])).send().await.unwrap();
    let page = b.get(t.url(&location(&r))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("data-passkey-signin") && page.contains("/assets/passkey.js"), "{page}");
    (hidden_value(&page, "login_challenge").unwrap(), hidden_value(&page, "csrf").unwrap())
}

/// Starts a passkey sign-in: `discover` as the email form's button does (any
/// passkey), else as the step after the email (that identity's passkeys).
async fn sign_in_start(t: &TestIdp, b: &reqwest::Client, challenge: &str, csrf: &str, discover: bool) -> Value {
    let mode = if discover { "discover" } else { "" };
    let mut form = vec![("login_challenge", challenge), ("csrf", csrf)];
    if discover {
        form.push(("mode", mode));
    }
    let r = b.post(t.url("login/passkey/start")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn sign_in_finish(
    t: &TestIdp,
    b: &reqwest::Client,
    challenge: &str,
    csrf: &str,
    started: &Value,
    answer: &Value,
) -> (u16, Value) {
    let r = b
        .post(t.url("login/passkey/finish"))
        .form(&[
            ("login_challenge", challenge),
            ("csrf", csrf),
            ("ceremony", started["ceremony"].as_str().unwrap()),
            ("credential", &answer.to_string()),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The ID token's `amr` after exchanging the code in `next`.
async fn amr_of(t: &TestIdp, next: &str) -> Value {
    assert!(next.starts_with(REDIRECT), "{next}");
    let r = t.exchange(&query_of(next)["code"], None).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    jwt_parts(tokens["id_token"].as_str().unwrap()).1["amr"].clone()
}

#[tokio::test]
async fn after_a_passcode_a_passkey_is_offered_and_then_signs_in_alone() {
    let t = spawn().await;
    assert!(t.issuer.starts_with("http://localhost:"), "a loopback provider is published as localhost: {}", t.issuer);
    let b = browser();
    let r = passcode_sign_in(&t, &b, "user@example.com", true).await;
    assert_eq!(r.status(), 303, "to the offer instead of the client");
    let to_offer = location(&r);
    assert!(to_offer.starts_with("/passkeys/offer?next=%2Foauth2%2Fauth%3F"), "{to_offer}");
    let offer = b.get(t.url(&to_offer)).send().await.unwrap().text().await.unwrap();
    // Only an authorization request of this provider is followed.
    for bad in [
        "/passkeys/offer?next=https%3A%2F%2Fevil.example%2F",
        "/passkeys/offer?next=%2F%2Fevil.example%2Foauth2%2Fauth%3F",
        "/passkeys/offer",
    ] {
        assert_eq!(b.get(t.url(bad)).send().await.unwrap().status(), 400, "{bad}");
    }
    assert!(offer.contains("Sign in faster next time") && offer.contains("data-passkey-register"), "{offer}");
    let next = attr(&offer, "data-next");
    assert!(next.starts_with("/oauth2/auth?"), "{next}");
    // "Not now" (or after creating one) finishes the sign-in through the session.
    let mut soft = SoftAuthenticator::new(&origin(&t));
    let r = add_passkey(&t, &b, &attr(&offer, "data-csrf"), &mut soft).await;
    assert_eq!(r.status(), 200);
    let added: Value = r.json().await.unwrap();
    assert_eq!(added["passkey"]["name"], "Passkey", "no browser named it");
    let r = b.get(t.url(&next)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(amr_of(&t, &location(&r)).await, serde_json::json!(["otp"]));

    // Signed in with a passcode again: no second offer to someone with a passkey.
    let r = passcode_sign_in(&t, &browser(), "user@example.com", true).await;
    assert_eq!(r.status(), 303);

    // A new browser signs in with the passkey alone (discovered: no email given).
    let b = browser();
    let (challenge, csrf) = login_form(&t, &b).await;
    let started = sign_in_start(&t, &b, &challenge, &csrf, true).await;
    assert!(started["publicKey"]["allowCredentials"].as_array().is_none_or(|a| a.is_empty()), "{started}");
    let answer = soft.get(&started);
    let (status, done) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &answer).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        amr_of(&t, done["next"].as_str().unwrap()).await,
        serde_json::json!(["hwk", "user"]),
        "a device-bound passkey with user verification"
    );
    // The browser now has a provider session: SSO.
    let r = b.get(t.auth_url("web", &[])).send().await.unwrap();
    assert!(location(&r).starts_with(REDIRECT), "{}", location(&r));

    // The email step of someone with passkeys asks for one (theirs only); a synced passkey says swk.
    let b = browser();
    let (challenge, csrf) = login_form(&t, &b).await;
    let r = b
        .post(t.url("login"))
        .form(&[("login_challenge", &*challenge), ("csrf", &*csrf), ("email", "user@example.com"), ("passkey", "1")])
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    assert!(page.contains("Use your passkey") && page.contains("Email me a passcode instead"), "{page}");
    let started = sign_in_start(&t, &b, &challenge, &csrf, false).await;
    let allowed = started["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "{started}");
    let answer = soft.get(&started);
    let (status, done) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &answer).await;
    assert_eq!(status, 200, "{done}");
    assert!(done["next"].as_str().unwrap().starts_with(REDIRECT));

    // The passcode stays the fallback: without the browser's word, the email step mails one.
    let (status, html, _, _) = t.submit_email(&browser(), &t.auth_url("web", &[]), "user@example.com").await;
    assert_eq!(status, 200);
    assert!(html.contains("Enter your passcode"), "{html}");
}

#[tokio::test]
async fn without_the_browsers_word_no_passkey_is_offered() {
    let t = spawn().await;
    let r = passcode_sign_in(&t, &browser(), "user@example.com", false).await;
    assert_eq!(r.status(), 303, "straight back to the client");
    assert!(location(&r).starts_with(REDIRECT));
}

#[tokio::test]
async fn expired_replayed_foreign_and_cross_browser_ceremonies_are_refused() {
    let t = spawn().await;
    let mut soft = user_with_passkey(&t, "user@example.com", false).await;

    // Expired: the challenge outlived ttl.passkey_challenge.
    let b = browser();
    let (challenge, csrf) = login_form(&t, &b).await;
    let started = sign_in_start(&t, &b, &challenge, &csrf, true).await;
    sqlx::query("UPDATE passkey_ceremonies SET expires_at = 0").execute(&t.provider.db).await.unwrap();
    let (status, body) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &soft.get(&started)).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "This passkey request has expired or was already used. Try again.")
    );

    // Replayed: the same answer twice (the ceremony is single-use), then to a new ceremony (its challenge differs).
    let started = sign_in_start(&t, &b, &challenge, &csrf, true).await;
    let answer = soft.get(&started);
    let (status, _) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &answer).await;
    assert_eq!(status, 200);
    let b = browser();
    let (challenge, csrf) = login_form(&t, &b).await;
    let (status, _) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &answer).await;
    assert_eq!(status, 400, "a ceremony of another browser's login");
    let fresh = sign_in_start(&t, &b, &challenge, &csrf, true).await;
    let (status, body) = sign_in_finish(&t, &b, &challenge, &csrf, &fresh, &answer).await;
    assert_eq!(status, 400, "an old assertion for a new challenge: {body}");
    assert!(body["error"].as_str().unwrap().contains("could not be verified"), "{body}");

    // Wrong origin: a page elsewhere relaying the provider's challenge.
    let started = sign_in_start(&t, &b, &challenge, &csrf, true).await;
    let real = soft.origin.clone();
    soft.origin = "http://evil.example:8080".into();
    let (status, body) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &soft.get(&started)).await;
    assert_eq!(status, 400, "{body}");
    soft.origin = real;

    // Two sign-ins open for one email (two browsers), answered with the same
    // sign count (a clone racing the original): the first wins, the second is
    // refused even though its ceremony began before the first answer raised the count.
    let mut open = Vec::new();
    for _ in 0..2 {
        let b = browser();
        let (challenge, csrf) = login_form(&t, &b).await;
        b.post(t.url("login"))
            .form(&[
                ("login_challenge", &*challenge),
                ("csrf", &*csrf),
                ("email", "user@example.com"),
                ("passkey", "1"),
            ])
            .send()
            .await
            .unwrap();
        let started = sign_in_start(&t, &b, &challenge, &csrf, false).await;
        open.push((b, challenge, csrf, started));
    }
    let count = soft.counter;
    let (ob, oc, os, ost) = &open[0];
    let (status, _) = sign_in_finish(&t, ob, oc, os, ost, &soft.get(ost)).await;
    assert_eq!(status, 200);
    soft.counter = count;
    let (ob, oc, os, ost) = &open[1];
    let (status, body) = sign_in_finish(&t, ob, oc, os, ost, &soft.get(ost)).await;
    assert_eq!(status, 400, "{body}");
    soft.counter = count + 10;

    // A cloned authenticator: its sign count went back.
    let started = sign_in_start(&t, &b, &challenge, &csrf, true).await;
    soft.counter = 1;
    let (status, body) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &soft.get(&started)).await;
    assert_eq!(status, 400, "a sign count that did not move forward: {body}");
    soft.counter = 100;

    // Another user's passkey, for the email of someone else.
    let mut other = user_with_passkey(&t, "admin@example.com", false).await;
    let b = browser();
    let (challenge, csrf) = login_form(&t, &b).await;
    b.post(t.url("login"))
        .form(&[("login_challenge", &*challenge), ("csrf", &*csrf), ("email", "user@example.com"), ("passkey", "1")])
        .send()
        .await
        .unwrap();
    let started = sign_in_start(&t, &b, &challenge, &csrf, false).await;
    let (status, body) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &other.get(&started)).await;
    assert_eq!(status, 400, "{body}");
    // …and discovered, but claiming the other user's handle.
    let b = browser();
    let (challenge, csrf) = login_form(&t, &b).await;
    let started = sign_in_start(&t, &b, &challenge, &csrf, true).await;
    other.user_handle = soft.user_handle.clone();
    let (status, body) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &other.get(&started)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not registered"), "{body}");

    // No email given and no `mode=discover`: nothing to start.
    let r = b
        .post(t.url("login/passkey/start"))
        .form(&[("login_challenge", &*challenge), ("csrf", &*csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Wrong CSRF token: refused before anything is started.
    let r = b
        .post(t.url("login/passkey/start"))
        .form(&[("login_challenge", &*challenge), ("csrf", "forged"), ("mode", "discover")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // A deactivated identity's passkey signs nobody in.
    let started = sign_in_start(&t, &b, &challenge, &csrf, true).await;
    sqlx::query("UPDATE identities SET state = 'inactive' WHERE email = 'user@example.com'")
        .execute(&t.provider.db)
        .await
        .unwrap();
    let (status, body) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &soft.get(&started)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("deactivated"), "{body}");
}

#[tokio::test]
async fn the_profile_lists_renames_and_deletes_passkeys_and_a_deleted_one_no_longer_signs_in() {
    let t = spawn().await;
    let b = browser();
    assert_eq!(passcode_sign_in(&t, &b, "user@example.com", false).await.status(), 303);
    let profile = b.get(t.url("profile")).send().await.unwrap().text().await.unwrap();
    assert!(profile.contains("You have no passkeys yet"), "{profile}");
    let csrf = hidden_value(&profile, "csrf").unwrap();
    let mut soft = SoftAuthenticator::new(&origin(&t));
    let r = b
        .post(t.url("passkeys/register/start"))
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0 Safari/537.36")
        .form(&[("csrf", &*csrf)])
        .send()
        .await
        .unwrap();
    let started: Value = r.json().await.unwrap();
    let answer = soft.create(&started);
    let r = b
        .post(t.url("passkeys/register/finish"))
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0 Safari/537.36")
        .form(&[
            ("csrf", &*csrf),
            ("ceremony", started["ceremony"].as_str().unwrap()),
            ("credential", &answer.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The same authenticator again: already registered (the browser is told to exclude it, too).
    let r = add_passkey(&t, &b, &csrf, &mut soft).await;
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "This passkey is already registered.");

    let profile = b.get(t.url("profile")).send().await.unwrap().text().await.unwrap();
    assert!(profile.contains("Chrome on Linux") && profile.contains("never used"), "{profile}");
    let at = profile.find("/profile/passkeys/").unwrap() + "/profile/passkeys/".len();
    let id = profile[at..].split('/').next().unwrap().to_string();

    // CSRF is checked; then renamed.
    let r = b
        .post(t.url(&format!("profile/passkeys/{id}/rename")))
        .form(&[("csrf", "x"), ("name", "Laptop")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = b
        .post(t.url(&format!("profile/passkeys/{id}/rename")))
        .form(&[("csrf", &*csrf), ("name", "  Work <laptop>  ")])
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    assert!(page.contains("Your passkey was renamed.") && page.contains("Work &lt;laptop&gt;"), "{page}");

    // Only rename and delete.
    let r = b.post(t.url(&format!("profile/passkeys/{id}/steal"))).form(&[("csrf", &*csrf)]).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Another browser cannot touch it.
    let other = browser();
    assert_eq!(passcode_sign_in(&t, &other, "admin@example.com", false).await.status(), 303);
    let other_csrf =
        hidden_value(&other.get(t.url("profile")).send().await.unwrap().text().await.unwrap(), "csrf").unwrap();
    let r = other
        .post(t.url(&format!("profile/passkeys/{id}/delete")))
        .form(&[("csrf", &*other_csrf)])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("does not exist"), "another identity's passkey");

    // Deleted: it no longer signs in.
    let r = b.post(t.url(&format!("profile/passkeys/{id}/delete"))).form(&[("csrf", &*csrf)]).send().await.unwrap();
    let page = r.text().await.unwrap();
    assert!(page.contains("Your passkey was deleted.") && page.contains("You have no passkeys yet"), "{page}");
    let b = browser();
    let (challenge, csrf) = login_form(&t, &b).await;
    let started = sign_in_start(&t, &b, &challenge, &csrf, true).await;
    let (status, body) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &soft.get(&started)).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("not registered here any more"), "{body}");
}

#[tokio::test]
async fn an_issuer_on_an_ip_address_has_no_passkeys_and_says_so() {
    let mut cfg = test_config(idp::config::Storage::Memory);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    cfg.listen = format!("127.0.0.1:{port}").parse().unwrap();
    cfg.issuer = Some(url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap());
    let t = spawn_with(cfg).await;
    assert!(t.provider.passkeys.is_none());
    let b = browser();
    let r = passcode_sign_in(&t, &b, "user@example.com", true).await;
    assert_eq!(r.status(), 303, "no offer");
    let profile = b.get(t.url("profile")).send().await.unwrap().text().await.unwrap();
    assert!(profile.contains("Passkeys need the provider to run on a domain name"), "{profile}");
    let r = b.post(t.url("passkeys/register/start")).form(&[("csrf", "x")]).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_passkey_that_may_be_synced_is_a_software_key() {
    let t = spawn().await;
    let mut soft = user_with_passkey(&t, "user@example.com", true).await;
    let b = browser();
    let (challenge, csrf) = login_form(&t, &b).await;
    let started = sign_in_start(&t, &b, &challenge, &csrf, true).await;
    let (status, done) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &soft.get(&started)).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(amr_of(&t, done["next"].as_str().unwrap()).await, serde_json::json!(["swk", "user"]));
}

/// An Admin API read with `token`.
async fn admin_get(t: &TestIdp, token: &str, path: &str) -> Value {
    reqwest::Client::new().get(t.url(path)).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn the_admin_api_lists_an_identitys_passkeys_like_kratos_and_deletes_them() {
    let t = spawn().await;
    let mut soft = user_with_passkey(&t, "user@example.com", false).await;
    let token = t.machine_token("admin-api").await;
    let api = reqwest::Client::new();
    let list = admin_get(&t, &token, "admin/identities").await;
    let list = list.as_array().unwrap();
    let id =
        list.iter().find(|i| i["traits"]["email"] == "user@example.com").unwrap()["id"].as_str().unwrap().to_string();
    // As in Kratos: the list of passkeys only when asked for.
    let plain = admin_get(&t, &token, &format!("admin/identities/{id}")).await;
    assert_eq!(plain["credentials"]["webauthn"]["type"], "webauthn");
    assert!(plain["credentials"]["webauthn"].get("config").is_none(), "{plain}");
    let identity = admin_get(&t, &token, &format!("admin/identities/{id}?include_credential=webauthn")).await;
    let webauthn = &identity["credentials"]["webauthn"];
    assert_eq!(webauthn["type"], "webauthn");
    assert_eq!(webauthn["identifiers"], serde_json::json!(["user@example.com"]));
    let creds = webauthn["config"]["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["display_name"], "Passkey");
    assert!(creds[0]["added_at"].as_str().unwrap().ends_with('Z'));
    let text = identity.to_string();
    assert!(!text.contains("public_key") && !text.contains("\"cred\""), "no key material: {text}");
    let cred_id = creds[0]["id"].as_str().unwrap().to_string();

    // An identity without passkeys has none listed.
    let admin =
        list.iter().find(|i| i["traits"]["email"] == "admin@example.com").unwrap()["id"].as_str().unwrap().to_string();
    let other = admin_get(&t, &token, &format!("admin/identities/{admin}")).await;
    assert_eq!(other["credentials"], serde_json::json!({}));

    let delete = |path: String| api.delete(t.url(&path)).bearer_auth(&token).send();
    assert_eq!(
        api.delete(t.url(&format!("admin/identities/{id}/credentials/webauthn?identifier={cred_id}")))
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "no token"
    );
    assert_eq!(delete(format!("admin/identities/{id}/credentials/password")).await.unwrap().status(), 400);
    assert_eq!(
        delete(format!("admin/identities/{admin}/credentials/webauthn?identifier={cred_id}")).await.unwrap().status(),
        404,
        "another identity's passkey"
    );
    assert_eq!(delete("admin/identities/nobody/credentials/webauthn".to_string()).await.unwrap().status(), 404);
    assert_eq!(
        delete(format!("admin/identities/{id}/credentials/webauthn?identifier={cred_id}")).await.unwrap().status(),
        204
    );
    assert_eq!(
        delete(format!("admin/identities/{id}/credentials/webauthn?identifier={cred_id}")).await.unwrap().status(),
        404
    );

    // Removed by an admin: it no longer signs in.
    let b = browser();
    let (challenge, csrf) = login_form(&t, &b).await;
    let started = sign_in_start(&t, &b, &challenge, &csrf, true).await;
    let (status, body) = sign_in_finish(&t, &b, &challenge, &csrf, &started, &soft.get(&started)).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn passkey_ceremonies_are_limited_per_ip_like_passcodes() {
    let mut cfg = test_config(idp::config::Storage::Memory);
    cfg.rate_limits.passkey_per_ip = 2;
    let t = spawn_with(cfg).await;
    let b = browser();
    let (challenge, csrf) = login_form(&t, &b).await;
    for _ in 0..2 {
        sign_in_start(&t, &b, &challenge, &csrf, true).await;
    }
    let r = b
        .post(t.url("login/passkey/start"))
        .header("accept", "application/json")
        .form(&[("login_challenge", &*challenge), ("csrf", &*csrf), ("mode", "discover")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests", "JSON for the page's script: {body}");
    // Registration and its finish count against the same budget; other steps do not.
    let r = b.post(t.url("passkeys/register/start")).form(&[("csrf", "x")]).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let r = b.get(t.auth_url("web", &[])).send().await.unwrap();
    assert_eq!(r.status(), 303, "the authorization endpoint has its own budget");
}
