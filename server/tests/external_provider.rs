//! The server against a separately configured provider (`OIDC_ISSUER`), with
//! each token-endpoint authentication method the config offers.
#![expect(clippy::unwrap_used)]

mod common;

use bff::oidc::ClientAuth;
use common::{api, location, onboard, sign_in_as, spawn_app_with, test_settings};
use idp::config::{AuthMethod, ClientConfig, Config, SeedIdentity};
use server::config::OidcSettings;

const SECRET: &str = "external-test-secret-0123456789";

async fn provider(method: AuthMethod, app_base: &str) -> String {
    let mut cfg = Config::in_memory("127.0.0.1:0".parse().unwrap());
    cfg.dev_mode = true; // the tests read passcodes from its mailbox
    cfg.clients = vec![ClientConfig {
        id: "app".into(),
        secret: (method != AuthMethod::None).then(|| SECRET.into()),
        auth_method: method,
        redirect_uris: vec![format!("{app_base}/login")],
        post_logout_redirect_uris: vec![format!("{app_base}/logout")],
        backchannel_logout_uri: None,
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "email".into(), "profile".into(), "offline_access".into()],
        audiences: vec![],
    }];
    cfg.identities = vec![SeedIdentity { email: "user@example.com".into(), first_name: None, last_name: None }];
    let idp = idp::Idp::build(cfg).await.unwrap();
    let issuer = idp.issuer().to_string();
    tokio::spawn(idp.run_until_stopped());
    issuer
}

#[tokio::test]
async fn signs_in_and_out_with_client_secret_post_and_as_a_public_client() {
    for (method, auth) in
        [(AuthMethod::ClientSecretPost, ClientAuth::ClientSecretPost), (AuthMethod::None, ClientAuth::None)]
    {
        // The provider must know the app's redirect URI before the app starts.
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let issuer = provider(method, &format!("http://{addr}")).await;
        let mut settings = test_settings();
        settings.leptos.site_addr = addr;
        settings.oidc = Some(OidcSettings {
            issuer,
            client_id: "app".into(),
            client_secret: (auth != ClientAuth::None).then(|| SECRET.into()),
            auth,
            scopes: ["openid", "email", "profile", "offline_access"].map(String::from).to_vec(),
            account_url: None,
        });
        let app = spawn_app_with(settings).await;
        let r = sign_in_as(&app, "user@example.com", "/profile").await;
        assert_eq!(location(&r), "/onboarding?return_to=%2Fprofile", "{auth:?}");
        assert_eq!(location(&onboard(&app, "Ext", "/profile").await), "/profile");
        let r = api(&app, "userinfo").await;
        assert_eq!(r.status(), 200, "{auth:?}");
        let html = app.client.get(format!("{}/profile", app.base)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("user@example.com"), "{auth:?}");
    }
}
