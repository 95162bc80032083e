//! `/api/v1` over HTTP against the embedded provider: a native app's user
//! token (authorization code + PKCE, `audience=gatehouse-api`) and a service's
//! client-credentials token, each where it is allowed and where it is not;
//! missing scopes, wrong audiences, tokens in the query string or an unenabled
//! cookie; JSON errors with `WWW-Authenticate`; the OpenAPI document.
#![expect(clippy::unwrap_used)]

mod common;
#[path = "../examples/service_client.rs"]
mod service_client;

use common::*;
use serde_json::Value;

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new().get(format!("{}{path}", app.base));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

/// `GET /api/v1/me` with one raw header (`authorization` or `cookie`).
async fn me_with_header(app: &TestApp, name: &str, value: &str) -> reqwest::Response {
    reqwest::Client::new().get(format!("{}/api/v1/me", app.base)).header(name, value).send().await.unwrap()
}

async fn put_settings(app: &TestApp, token: &str, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .put(format!("{}/api/v1/settings", app.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// Status, `WWW-Authenticate` and the JSON `error` of a refusal.
async fn refusal(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let www = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers().get("set-cookie").is_none());
    let body: Value = r.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    (status, www, body["error"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_native_app_reads_and_changes_its_users_settings_which_the_web_app_shares() {
    let app = spawn_app().await;
    let provider = provider_base(&app).await;
    let token = user_token(&provider, "user@example.com", "openid email settings:read settings:write").await;

    let r = get(&app, "/api/v1/me", Some(&token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let me: Value = r.json().await.unwrap();
    let sub = me["sub"].as_str().unwrap().to_string();
    assert_eq!(me["client_id"], CLI);
    assert_eq!(me["settings"], serde_json::json!({ "display_name": null, "onboarded": false }));
    assert!(me["claims"]["aud"].as_array().unwrap().iter().any(|a| a == "gatehouse-api"), "{me}");

    let r = put_settings(&app, &token, r#"{"display_name": "  Uma   API "}"#).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), serde_json::json!({ "display_name": "Uma API", "onboarded": true }));
    let r = get(&app, "/api/v1/settings", Some(&token)).await;
    assert_eq!(r.json::<Value>().await.unwrap()["display_name"], "Uma API");
    let r = get(&app, &format!("/api/v1/users/{sub}/settings"), Some(&token)).await;
    assert_eq!(r.status(), 200, "a user may read their own settings by subject");

    // The web app sees the same settings: no onboarding, the API's name.
    let r = sign_in_as(&app, "user@example.com", "/profile").await;
    assert_eq!(location(&r), "/profile", "onboarding was done through the API");
    assert_eq!(current_user(&app).await["display_name"], "Uma API");

    // Bad input: a clear 422 in JSON, nothing saved.
    for body in
        [r#"{"display_name": "<b>"}"#, r#"{"display_name": ""}"#, "not json", r#"{"display_name": 5}"#, r#"{"x":1}"#]
    {
        let r = put_settings(&app, &token, body).await;
        assert_eq!(r.status(), 422, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "invalid_request", "{body}: {e}");
    }
    let r = get(&app, "/api/v1/settings", Some(&token)).await;
    assert_eq!(r.json::<Value>().await.unwrap()["display_name"], "Uma API");
}

#[tokio::test]
async fn scopes_and_token_kinds_are_enforced_per_route() {
    let app = spawn_app().await;
    let provider = provider_base(&app).await;
    let read_only = user_token(&provider, "user@example.com", "openid settings:read").await;
    let r = put_settings(&app, &read_only, r#"{"display_name": "X"}"#).await;
    let (status, www, error) = refusal(r).await;
    assert_eq!((status, error.as_str()), (403, "insufficient_scope"));
    assert!(www.contains("error=\"insufficient_scope\"") && www.contains("scope=\"settings:write\""), "{www}");
    let no_scope = user_token(&provider, "user@example.com", "openid").await;
    assert_eq!(refusal(get(&app, "/api/v1/settings", Some(&no_scope)).await).await.0, 403);
    assert_eq!(get(&app, "/api/v1/me", Some(&no_scope)).await.status(), 200, "/me needs a user, no scope");

    // A service's token: refused where a user is required, accepted where services are.
    let service = service_token(&provider, "settings:read").await;
    for path in ["/api/v1/me", "/api/v1/settings"] {
        let (status, www, error) = refusal(get(&app, path, Some(&service)).await).await;
        assert_eq!((status, error.as_str()), (403, "insufficient_scope"), "{path}");
        assert!(www.contains("user"), "{www}");
    }
    let r = put_settings(&app, &service, r#"{"display_name": "Bot"}"#).await;
    assert_eq!(r.status(), 403);
    let sub = get(&app, "/api/v1/me", Some(&read_only)).await.json::<Value>().await.unwrap()["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let r = get(&app, &format!("/api/v1/users/{sub}/settings"), Some(&service)).await;
    assert_eq!(r.status(), 404, "the app does not know the user yet");
    let r = get(&app, &format!("/api/v1/users/{}/settings", "a".repeat(300)), Some(&service)).await;
    assert_eq!(r.status(), 404, "an overlong subject is not looked up");
    signed_in(&app, "user@example.com").await;
    let r = get(&app, &format!("/api/v1/users/{sub}/settings"), Some(&service)).await;
    assert_eq!(r.status(), 200);
    // A user's token may not read another user's settings.
    let other = user_token(&provider, "admin@example.com", "openid settings:read").await;
    let r = get(&app, &format!("/api/v1/users/{sub}/settings"), Some(&other)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "forbidden");
}

#[tokio::test]
async fn tokens_without_the_api_audience_or_outside_the_header_are_refused() {
    let app = spawn_app().await;
    let provider = provider_base(&app).await;
    // The native app's token without `audience`: for the app only.
    let t = native_tokens(&provider, "user@example.com", "openid settings:read", "").await.unwrap();
    let own = t["access_token"].as_str().unwrap();
    let (status, www, error) = refusal(get(&app, "/api/v1/me", Some(own)).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_token"));
    assert_eq!(www, "Bearer error=\"invalid_token\", error_description=\"wrong audience\"");
    // The ID token is not an access token.
    let id_token = t["id_token"].as_str().unwrap();
    assert_eq!(refusal(get(&app, "/api/v1/me", Some(id_token)).await).await.0, 401);
    // An audience the client may not ask for is refused by the provider.
    let e = native_tokens(&provider, "user@example.com", "openid", "admin-api").await.unwrap_err();
    assert!(e.contains("error=invalid_request") && e.contains("audience"), "{e}");

    let token = user_token(&provider, "user@example.com", "openid settings:read").await;
    let (status, www, error) = refusal(get(&app, "/api/v1/me", None).await).await;
    assert_eq!((status, www.as_str(), error.as_str()), (401, "Bearer", "unauthorized"));
    let r = get(&app, &format!("/api/v1/me?access_token={token}"), None).await;
    assert_eq!(r.status(), 401, "a token in the query string is ignored");
    let r = me_with_header(&app, "cookie", &format!("hanko={token}")).await;
    assert_eq!(r.status(), 401, "the cookie is read only when configured");
    for auth in [format!("Basic {token}"), format!("Token {token}"), "Bearer".into(), format!("Bearer {token}x")] {
        let r = me_with_header(&app, "authorization", &auth).await;
        assert_eq!(r.status(), 401, "{auth:.20}");
    }

    // A refresh keeps the audience.
    let t = native_tokens(&provider, "user@example.com", "openid offline_access settings:read", "gatehouse-api")
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{provider}oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", CLI),
        ])
        .send()
        .await
        .unwrap();
    let refreshed: Value = r.json().await.unwrap();
    let r = get(&app, "/api/v1/settings", refreshed["access_token"].as_str()).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_hanko_cookie_is_accepted_when_configured() {
    let mut settings = test_settings();
    settings.api.cookie = Some("hanko".into());
    let app = spawn_app_with(settings).await;
    let provider = provider_base(&app).await;
    let token = user_token(&provider, "user@example.com", "openid").await;
    let r = me_with_header(&app, "cookie", &format!("theme=dark; hanko={token}")).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_unknown_routes_are_json_404s() {
    let app = spawn_app().await;
    let r = get(&app, "/api/v1/openapi.json", None).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    for (path, method) in [
        ("/api/v1/me", "get"),
        ("/api/v1/settings", "get"),
        ("/api/v1/settings", "put"),
        ("/api/v1/users/{sub}/settings", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is missing");
        assert!(op["responses"]["401"].is_object(), "{method} {path} documents its 401");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(doc["paths"]["/api/v1/settings"]["put"]["security"][0]["bearer"][0], "settings:write");

    let r = get(&app, "/api/v1/nope", None).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
}

#[tokio::test]
async fn the_service_client_example_reads_a_users_settings_and_is_refused_on_user_routes() {
    let app = spawn_app().await;
    let provider = provider_base(&app).await;
    signed_in(&app, "user@example.com").await;
    let sub = current_user(&app).await["sub"].as_str().unwrap().to_string();
    let cfg = service_client::Config {
        app: app.base.clone(),
        issuer: provider.clone(),
        client_id: SERVICE.into(),
        secret: SERVICE_SECRET.into(),
        audience: "gatehouse-api".into(),
        sub: Some(sub),
    };
    let report = service_client::run(&cfg).await.unwrap();
    assert_eq!(report.me.0, 403);
    assert_eq!(report.me.1["error"], "insufficient_scope");
    let (status, settings) = report.settings.unwrap();
    assert_eq!(status, 200);
    assert_eq!(settings["onboarded"], true);
    let wrong = service_client::Config { secret: "wrong".into(), ..cfg };
    let e = service_client::run(&wrong).await.err().unwrap();
    assert!(e.contains("invalid_client"), "{e}");
}
