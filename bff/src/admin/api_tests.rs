//! The Admin API client (its calls are crate-private, so these are unit tests)
//! against the real local provider (CRUD, paging, error mapping, the machine
//! token's cache and renewal) and against deliberately misbehaving fakes (a
//! provider that keeps refusing, fails or stalls).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::admin::api::{AdminApi, AdminError};
use crate::admin::machine::{MachineClient, TokenError};
use crate::admin::model::{IdentityState, ListQuery, Name, Traits};
use crate::oidc::ClientAuth;
use idp::config::{AuthMethod, ClientConfig, Config, SeedIdentity};

const SECRET: &str = "machine-test-secret-0123456789";

async fn provider(access_ttl: i64, method: AuthMethod) -> (String, idp::Provider) {
    let mut cfg = Config::in_memory("127.0.0.1:0".parse().unwrap());
    cfg.ttl.access_token = access_ttl;
    cfg.clients = vec![ClientConfig {
        id: "machine".into(),
        secret: Some(SECRET.into()),
        auth_method: method,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["openid".into()],
        audiences: vec![cfg.admin_audience.clone()],
    }];
    cfg.identities = vec![SeedIdentity { email: "seed@example.com".into(), first_name: None, last_name: None }];
    let idp = idp::Idp::build(cfg).await.unwrap();
    let issuer = idp.issuer().to_string();
    let handle = idp.provider_handle();
    tokio::spawn(idp.run_until_stopped());
    (issuer, handle)
}

fn api_for(issuer: &str, auth: ClientAuth, secret: &str, timeout: Duration) -> AdminApi {
    let base = url::Url::parse(&format!("{issuer}admin/")).unwrap();
    let client = MachineClient {
        token_url: url::Url::parse(&format!("{issuer}oauth2/token")).unwrap(),
        client_id: "machine".into(),
        client_secret: secret.into(),
        auth,
        audience: vec!["admin-api".into()],
        scope: String::new(),
    };
    AdminApi::new(&base, client, timeout).unwrap()
}

fn api(issuer: &str, auth: ClientAuth) -> AdminApi {
    api_for(issuer, auth, SECRET, Duration::from_secs(5))
}

fn traits(email: &str, first: Option<&str>) -> Traits {
    Traits { email: email.into(), name: Name { first: first.map(String::from), ..Default::default() } }
}

fn issued(p: &idp::Provider) -> u64 {
    p.stats.get("client_credentials", "machine")
}

#[tokio::test]
async fn identities_are_created_read_listed_updated_and_deleted() {
    let (issuer, p) = provider(3600, AuthMethod::ClientSecretBasic).await;
    let api = api(&issuer, ClientAuth::ClientSecretBasic);

    let created = api.create(&traits("new@example.com", Some("Nia")), IdentityState::Active).await.unwrap();
    assert_eq!((created.traits.email.as_str(), created.state), ("new@example.com", IdentityState::Active));
    assert_eq!(api.get(&created.id).await.unwrap(), created);

    let found = api.list(&ListQuery { page: 0, per_page: 25, email: Some("new@example.com".into()) }).await.unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.total, Some(1));

    let mut t = traits("new@example.com", Some("Nina"));
    t.name.academic_degree = Some("Dr.".into());
    let updated = api.update(&created.id, &t, IdentityState::Inactive).await.unwrap();
    assert_eq!(updated.traits, t);
    assert_eq!(updated.state, IdentityState::Inactive);

    api.delete(&created.id).await.unwrap();
    assert!(matches!(api.get(&created.id).await, Err(AdminError::NotFound)));
    assert_eq!(issued(&p), 1, "one machine token served every call");
}

#[tokio::test]
async fn provider_errors_are_typed() {
    let (issuer, _) = provider(3600, AuthMethod::ClientSecretBasic).await;
    let api = api(&issuer, ClientAuth::ClientSecretBasic);
    // 409: the email is taken.
    let dup = api.create(&traits("seed@example.com", None), IdentityState::Active).await;
    assert!(matches!(dup, Err(AdminError::Conflict)), "{dup:?}");
    // 400: the provider's schema validation, mapped to the field.
    match api.create(&traits("not-an-email", None), IdentityState::Active).await {
        Err(AdminError::Invalid(fields)) => {
            assert_eq!(fields.len(), 1, "{fields:?}");
            assert_eq!(fields[0].field, "email");
            assert_eq!(fields[0].message, "The provider says this is not a valid email address.");
        }
        other => panic!("expected a field error, got {other:?}"),
    }
    // 404 for every call on an unknown id, including one that tries to escape the path.
    for id in ["00000000-0000-0000-0000-000000000000", "../identities"] {
        assert!(matches!(api.get(id).await, Err(AdminError::NotFound)), "{id}");
        assert!(matches!(api.delete(id).await, Err(AdminError::NotFound)), "{id}");
        let r = api.update(id, &traits("x@example.com", None), IdentityState::Active).await;
        assert!(matches!(r, Err(AdminError::NotFound)), "{id}: {r:?}");
    }
}

#[tokio::test]
async fn pages_carry_total_and_neighbours() {
    let (issuer, _) = provider(3600, AuthMethod::ClientSecretBasic).await;
    let api = api(&issuer, ClientAuth::ClientSecretBasic);
    for i in 0..6 {
        api.create(&traits(&format!("p{i}@example.com"), None), IdentityState::Active).await.unwrap();
    }
    // 7 identities (with the seeded one) in pages of 3: 0, 1, 2.
    let first = api.list(&ListQuery { page: 0, per_page: 3, email: None }).await.unwrap();
    assert_eq!((first.items.len(), first.total, first.next, first.prev), (3, Some(7), Some(1), None));
    let middle = api.list(&ListQuery { page: 1, per_page: 3, email: None }).await.unwrap();
    assert_eq!((middle.next, middle.prev), (Some(2), Some(0)));
    let last = api.list(&ListQuery { page: 2, per_page: 3, email: None }).await.unwrap();
    assert_eq!((last.items.len(), last.next, last.prev), (1, None, Some(1)));
    let ids: std::collections::HashSet<String> =
        [&first, &middle, &last].iter().flat_map(|p| p.items.iter().map(|i| i.id.clone())).collect();
    assert_eq!(ids.len(), 7, "pages do not overlap");
    assert_eq!(crate::admin::model::page_count(7, 3), 3);

    // A search reads every page, and says when it stopped at its limit.
    let (all, truncated) = api.list_all(3, 100).await.unwrap();
    assert_eq!((all.len(), truncated), (7, false));
    let distinct: std::collections::HashSet<&str> = all.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(distinct.len(), 7, "every identity once");
    assert!(!api.list_all(3, 7).await.unwrap().1, "exactly the limit is all of them");
    let (some, truncated) = api.list_all(3, 5).await.unwrap();
    assert_eq!((some.len(), truncated), (5, true));
    let (some, truncated) = api.list_all(2, 3).await.unwrap();
    assert_eq!((some.len(), truncated), (3, true));
}

#[tokio::test]
async fn concurrent_callers_share_one_token_fetch() {
    let (issuer, p) = provider(3600, AuthMethod::ClientSecretPost).await;
    let api = Arc::new(api(&issuer, ClientAuth::ClientSecretPost));
    let calls = (0..20).map(|_| {
        let api = api.clone();
        tokio::spawn(async move { api.list(&ListQuery { page: 0, per_page: 5, email: None }).await })
    });
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(issued(&p), 1, "20 concurrent calls, one client-credentials token at the provider");
    assert_eq!(api.tokens().fetches(), 1);
}

#[tokio::test]
async fn a_token_about_to_expire_is_replaced_before_use() {
    let (issuer, p) = provider(2, AuthMethod::ClientSecretBasic).await;
    let api = api(&issuer, ClientAuth::ClientSecretBasic);
    let q = ListQuery { page: 0, per_page: 5, email: None };
    api.list(&q).await.unwrap();
    api.list(&q).await.unwrap();
    assert_eq!(issued(&p), 1);
    tokio::time::sleep(Duration::from_millis(1600)).await; // past the renewal point (¾ of 2 s)
    api.list(&q).await.unwrap();
    assert_eq!(issued(&p), 2, "renewed ahead of expiry");
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let (issuer, p) = provider(3600, AuthMethod::ClientSecretBasic).await;
    let api = api(&issuer, ClientAuth::ClientSecretBasic);
    let q = ListQuery { page: 0, per_page: 5, email: None };
    api.list(&q).await.unwrap();
    // The provider forgets every token of the machine client (Hydra: DELETE /oauth2/tokens).
    let r = reqwest::Client::new()
        .delete(format!("{issuer}oauth2/tokens?client_id=machine"))
        .basic_auth("machine", Some(SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let page = api.list(&q).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(issued(&p), 2, "one new token after the 401");
    api.list(&q).await.unwrap();
    assert_eq!(issued(&p), 2, "and that one is cached again");
}

#[tokio::test]
async fn a_wrong_client_secret_is_a_token_error() {
    let (issuer, _) = provider(3600, AuthMethod::ClientSecretBasic).await;
    let api = api_for(&issuer, ClientAuth::ClientSecretBasic, "wrong", Duration::from_secs(5));
    match api.list(&ListQuery { page: 0, per_page: 5, email: None }).await {
        Err(AdminError::Token(TokenError::Refused { status, error, .. })) => {
            assert_eq!((status, error.as_str()), (401, "invalid_client"));
        }
        other => panic!("expected a refused token request, got {other:?}"),
    }
}

// ------------------------------------------------------------ misbehaving fakes

/// A token endpoint that hands every client the same machine token.
async fn static_token() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"access_token": "t", "token_type": "bearer", "expires_in": 3600}))
}

/// A provider whose Admin API ignores `page`: every request gets the same two
/// identities and a `Link` that promises a next page.
async fn fake_ignoring_page() -> (String, Arc<AtomicU64>) {
    use axum::routing::{get, post};
    let reads = Arc::new(AtomicU64::new(0));
    let r = reads.clone();
    let app = axum::Router::new().route("/oauth2/token", post(static_token)).route(
        "/admin/identities",
        get(move || {
            r.fetch_add(1, Ordering::SeqCst);
            async move {
                let body = serde_json::json!([
                    {"id": "a", "state": "active", "traits": {"email": "a@example.com"}},
                    {"id": "b", "state": "active", "traits": {"email": "b@example.com"}},
                ]);
                ([("link", "<http://x/admin/identities?page=1&per_page=2>; rel=\"next\"")], axum::Json(body))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, reads)
}

#[tokio::test]
async fn a_search_over_a_provider_that_ignores_paging_reads_each_identity_once_and_stops() {
    let (base, reads) = fake_ignoring_page().await;
    let api = api(&base, ClientAuth::ClientSecretBasic);
    let (all, truncated) = api.list_all(2, 10_000).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
    assert_eq!((ids, truncated), (vec!["a", "b"], false), "no duplicates");
    assert_eq!(reads.load(Ordering::SeqCst), 2, "stopped at the first page with nothing new");
}

#[derive(Clone, Default)]
struct Counters {
    tokens: Arc<AtomicU64>,
    reads: Arc<AtomicU64>,
    writes: Arc<AtomicU64>,
}

/// A provider whose Admin API always answers `status` (after `delay`).
async fn fake(status: u16, delay: Duration) -> (String, Counters) {
    use axum::routing::{get, post};
    let c = Counters::default();
    let (t, r, w) = (c.tokens.clone(), c.reads.clone(), c.writes.clone());
    let app = axum::Router::new()
        .route(
            "/oauth2/token",
            post(move || {
                let n = t.fetch_add(1, Ordering::SeqCst);
                async move {
                    axum::Json(serde_json::json!({"access_token": format!("t{n}"), "token_type": "bearer", "expires_in": 3600}))
                }
            }),
        )
        .route(
            "/admin/identities",
            get(move || {
                r.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(delay).await;
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            })
            .post(move || {
                w.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(delay).await;
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, c)
}

#[tokio::test]
async fn an_api_that_keeps_refusing_fails_after_one_renewal() {
    let (base, c) = fake(401, Duration::ZERO).await;
    let api = api(&base, ClientAuth::ClientSecretBasic);
    let r = api.list(&ListQuery { page: 0, per_page: 5, email: None }).await;
    assert!(matches!(r, Err(AdminError::Refused(401))), "{r:?}");
    assert_eq!(c.tokens.load(Ordering::SeqCst), 2, "one renewal, no loop");
    assert_eq!(c.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn reads_are_retried_once_and_writes_never() {
    let (base, c) = fake(503, Duration::ZERO).await;
    let api = api(&base, ClientAuth::ClientSecretBasic);
    let r = api.list(&ListQuery { page: 0, per_page: 5, email: None }).await;
    assert!(matches!(r, Err(AdminError::Upstream { status: 503, .. })), "{r:?}");
    assert_eq!(c.reads.load(Ordering::SeqCst), 2, "a read is retried once");
    let r = api.create(&traits("x@example.com", None), IdentityState::Active).await;
    assert!(matches!(r, Err(AdminError::Upstream { status: 503, .. })), "{r:?}");
    assert_eq!(c.writes.load(Ordering::SeqCst), 1, "a write is never repeated");
}

#[tokio::test]
async fn a_stalled_api_times_out() {
    let (base, c) = fake(200, Duration::from_secs(30)).await;
    let api = api_for(&base, ClientAuth::ClientSecretBasic, SECRET, Duration::from_millis(500));
    let started = std::time::Instant::now();
    let r = api.create(&traits("x@example.com", None), IdentityState::Active).await;
    assert!(matches!(r, Err(AdminError::Timeout)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(c.writes.load(Ordering::SeqCst), 1);
}

/// A Kratos-like Admin API for one identity with one passwordless passkey:
/// with `old`, `include_credential` is refused (Kratos before 1.1 took `oidc`
/// only); otherwise the passkey is listed, and a delete answers 204 but keeps
/// it (Kratos deletes only second-factor `webauthn` keys, whatever `identifier` says).
async fn fake_kratos(old: bool) -> (String, Arc<AtomicU64>) {
    use axum::routing::{delete, get, post};
    let deletes = Arc::new(AtomicU64::new(0));
    let d = deletes.clone();
    let app = axum::Router::new()
        .route("/oauth2/token", post(static_token))
        .route(
            "/admin/identities/{id}",
            get(move |axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
                let asks = q.unwrap_or_default().contains("include_credential=webauthn");
                if asks && old {
                    let e = serde_json::json!({"error": {"code": 400, "reason": "only oidc", "message": "bad request"}});
                    return (axum::http::StatusCode::BAD_REQUEST, axum::Json(e));
                }
                let mut webauthn = serde_json::json!({"type": "webauthn", "identifiers": ["a@example.com"]});
                if asks {
                    webauthn["config"] = serde_json::json!({"credentials": [
                        {"id": "k1+/w==", "display_name": "Phone", "added_at": "2026-12-04T10:00:00Z", "is_passwordless": true}
                    ]});
                }
                let body = serde_json::json!({"id": "i", "state": "active", "traits": {"email": "a@example.com"},
                    "credentials": {"webauthn": webauthn}});
                (axum::http::StatusCode::OK, axum::Json(body))
            }),
        )
        .route(
            "/admin/identities/{id}/credentials/{kind}",
            delete(move || {
                d.fetch_add(1, Ordering::SeqCst);
                async { axum::http::StatusCode::NO_CONTENT }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, deletes)
}

#[tokio::test]
async fn a_passkey_the_provider_answers_deleted_but_still_lists_is_not_reported_removed() {
    let (base, deletes) = fake_kratos(false).await;
    let api = api(&base, ClientAuth::ClientSecretBasic);
    let (email, passkey, r) = api.remove_passkey("i", "k1+/w==").await;
    assert_eq!(email.as_deref(), Some("a@example.com"));
    assert_eq!(passkey.map(|p| (p.kind, p.display_name)), Some(("webauthn", "Phone".to_string())));
    assert!(matches!(r, Err(AdminError::NotRemoved)), "{r:?}");
    assert_eq!(deletes.load(Ordering::SeqCst), 1);
    let (_, passkey, r) = api.remove_passkey("i", "unknown").await;
    assert!(passkey.is_none() && matches!(r, Err(AdminError::NotFound)), "{r:?}");
    assert_eq!(deletes.load(Ordering::SeqCst), 1, "an unknown passkey is never asked for");
}

#[tokio::test]
async fn a_provider_that_refuses_include_credential_is_asked_without_it() {
    let (base, _) = fake_kratos(true).await;
    let api = api(&base, ClientAuth::ClientSecretBasic);
    let i = api.get_with_credentials("i").await.unwrap();
    assert_eq!(i.passkeys(), super::super::model::Passkeys::Unlisted, "it has passkeys, but they are not listed");
    let (_, _, r) = api.remove_passkey("i", "k1+/w==").await;
    assert!(matches!(r, Err(AdminError::NotFound)), "nothing listed, nothing removed: {r:?}");
}
