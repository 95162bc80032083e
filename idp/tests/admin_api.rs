//! The Identity Admin API in Kratos shapes, called with client-credentials tokens.
#![expect(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};

struct Admin {
    idp: TestIdp,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    async fn new() -> Self {
        let idp = spawn().await;
        let token = idp.machine_token("admin-api").await;
        Self { idp, token, http: reqwest::Client::new() }
    }
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.idp.url(path)).bearer_auth(&self.token)
    }
    async fn create(&self, body: Value) -> reqwest::Response {
        self.req(reqwest::Method::POST, "admin/identities").json(&body).send().await.unwrap()
    }
}

async fn kratos_error(r: reqwest::Response, code: u16) -> Value {
    assert_eq!(r.status().as_u16(), code);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], code);
    assert!(v["error"]["message"].is_string());
    assert!(v["error"]["status"].is_string());
    v
}

#[tokio::test]
async fn requires_an_admin_api_token() {
    let a = Admin::new().await;
    let url = a.idp.url("admin/identities");
    kratos_error(a.http.get(&url).send().await.unwrap(), 401).await;
    kratos_error(a.http.get(&url).bearer_auth("garbage").send().await.unwrap(), 401).await;
    // A valid token for another audience is forbidden.
    let other = a.idp.machine_token("api").await;
    kratos_error(a.http.get(&url).bearer_auth(other).send().await.unwrap(), 403).await;
    // A user's access token is not an Admin API token either.
    let t = a.idp.tokens_for("admin@example.com").await;
    kratos_error(a.http.get(&url).bearer_auth(t["access_token"].as_str().unwrap()).send().await.unwrap(), 403).await;
    kratos_error(a.http.delete(a.idp.url("admin/identities/x")).send().await.unwrap(), 401).await;
}

#[tokio::test]
async fn create_get_update_delete_in_kratos_shapes() {
    let a = Admin::new().await;
    let r = a
        .create(json!({"schema_id":"default","traits":{"email":"john.doe@example.com","name":{"first":"John","last":"Doe"}}}))
        .await;
    assert_eq!(r.status(), 201);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(loc, a.idp.url(&format!("admin/identities/{id}")));
    assert_eq!(created["schema_id"], "default");
    assert_eq!(created["schema_url"], a.idp.url("schemas/ZGVmYXVsdA"));
    assert_eq!(created["state"], "active");
    assert_eq!(created["verifiable_addresses"][0]["value"], "john.doe@example.com");
    assert_eq!(created["verifiable_addresses"][0]["verified"], false);
    assert_eq!(created["verifiable_addresses"][0]["via"], "email");
    assert_eq!(created["verifiable_addresses"][0]["status"], "pending");
    assert_eq!(created["recovery_addresses"][0]["value"], "john.doe@example.com");
    for k in ["state_changed_at", "created_at", "updated_at"] {
        assert!(created[k].as_str().unwrap().ends_with('Z'), "{k}");
    }
    assert!(created["metadata_public"].is_null());

    let got: Value =
        a.req(reqwest::Method::GET, &format!("admin/identities/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["traits"], created["traits"]);

    // Full replace, as in seed 003's example.
    let r = a
        .req(reqwest::Method::PUT, &format!("admin/identities/{id}"))
        .json(&json!({"schema_id":"default","state":"inactive","traits":{"email":"john.doe@example.com","name":{"first":"John","last":"Doe","academic-degree":"Dr."}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["state"], "inactive");
    assert_eq!(updated["traits"]["name"]["academic-degree"], "Dr.");

    let r = a.req(reqwest::Method::DELETE, &format!("admin/identities/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    kratos_error(a.req(reqwest::Method::GET, &format!("admin/identities/{id}")).send().await.unwrap(), 404).await;
    kratos_error(a.req(reqwest::Method::DELETE, &format!("admin/identities/{id}")).send().await.unwrap(), 404).await;
    let v = kratos_error(
        a.req(reqwest::Method::PUT, &format!("admin/identities/{id}"))
            .json(&json!({"schema_id":"default","state":"active","traits":{"email":"x@example.com"}}))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(v["error"]["message"], "Unable to locate the resource");
}

#[tokio::test]
async fn schema_violations_and_strict_bodies_are_400_with_the_field() {
    let a = Admin::new().await;
    let v = kratos_error(a.create(json!({"schema_id":"default","traits":{"email":"not-an-email"}})).await, 400).await;
    assert!(v["error"]["reason"].as_str().unwrap().contains("traits.email"), "{v}");
    assert_eq!(v["error"]["message"], "The request was malformed or contained invalid parameters");
    let v = kratos_error(a.create(json!({"schema_id":"default","traits":{"name":{"first":"A"}}})).await, 400).await;
    assert!(v["error"]["reason"].as_str().unwrap().contains("email"), "{v}");
    let v = kratos_error(
        a.create(json!({"schema_id":"default","traits":{"email":"a@example.com","name":{"nick":"A"}}})).await,
        400,
    )
    .await;
    assert!(v["error"]["reason"].as_str().unwrap().contains("traits.name"), "{v}");
    let v =
        kratos_error(a.create(json!({"schema_id":"default","traits":{"email":"a@example.com"},"bogus":1})).await, 400)
            .await;
    assert!(v["error"]["reason"].as_str().unwrap().contains("bogus"), "{v}");
    kratos_error(a.create(json!({"schema_id":"other","traits":{"email":"a@example.com"}})).await, 400).await;
    kratos_error(
        a.create(json!({"schema_id":"default","traits":{"email":"a@example.com"},"state":"sleeping"})).await,
        400,
    )
    .await;
    let r = a.req(reqwest::Method::POST, "admin/identities").body("{not json").send().await.unwrap();
    kratos_error(r, 400).await;
    // PUT requires state (full replace).
    let list: Vec<Value> = a.req(reqwest::Method::GET, "admin/identities").send().await.unwrap().json().await.unwrap();
    let id = list[0]["id"].as_str().unwrap();
    let v = kratos_error(
        a.req(reqwest::Method::PUT, &format!("admin/identities/{id}"))
            .json(&json!({"schema_id":"default","traits":{"email":"admin@example.com"}}))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(v["error"]["reason"].as_str().unwrap().contains("state"));
}

#[tokio::test]
async fn duplicate_email_is_409() {
    let a = Admin::new().await;
    let v =
        kratos_error(a.create(json!({"schema_id":"default","traits":{"email":"user@example.com"}})).await, 409).await;
    assert_eq!(
        v["error"]["message"],
        "Unable to insert or update resource because a resource with that value exists already"
    );
    // Case-insensitive, and on update too.
    kratos_error(a.create(json!({"schema_id":"default","traits":{"email":"USER@example.com"}})).await, 409).await;
    let created: Value =
        a.create(json!({"schema_id":"default","traits":{"email":"third@example.com"}})).await.json().await.unwrap();
    let r = a
        .req(reqwest::Method::PUT, &format!("admin/identities/{}", created["id"].as_str().unwrap()))
        .json(&json!({"schema_id":"default","state":"active","traits":{"email":"admin@example.com"}}))
        .send()
        .await
        .unwrap();
    kratos_error(r, 409).await;
}

#[tokio::test]
async fn list_pages_with_link_and_total_count() {
    let a = Admin::new().await;
    for i in 0..5 {
        assert_eq!(
            a.create(json!({"schema_id":"default","traits":{"email":format!("p{i}@example.com")}})).await.status(),
            201
        );
    }
    // 2 seeded + 5 created.
    let r = a.req(reqwest::Method::GET, "admin/identities?page=1&per_page=3").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-total-count"], "7");
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert!(link.contains("page=0&per_page=3>; rel=\"first\""), "{link}");
    assert!(link.contains("page=2&per_page=3>; rel=\"next\""), "{link}");
    assert!(link.contains("page=0&per_page=3>; rel=\"prev\""), "{link}");
    assert!(link.contains("page=2&per_page=3>; rel=\"last\""), "{link}");
    let page: Vec<Value> = r.json().await.unwrap();
    assert_eq!(page.len(), 3);
    let last: Vec<Value> =
        a.req(reqwest::Method::GET, "admin/identities?page=2&per_page=3").send().await.unwrap().json().await.unwrap();
    assert_eq!(last.len(), 1);
    // Defaults and clamping.
    let r = a.req(reqwest::Method::GET, "admin/identities").send().await.unwrap();
    assert!(r.headers()["link"].to_str().unwrap().contains("per_page=250"));
    let r = a.req(reqwest::Method::GET, "admin/identities?per_page=5000").send().await.unwrap();
    assert!(r.headers()["link"].to_str().unwrap().contains("per_page=1000"));
    // Bad paging.
    for q in ["page=-1", "page=x", "per_page=0", "per_page=abc"] {
        kratos_error(a.req(reqwest::Method::GET, &format!("admin/identities?{q}")).send().await.unwrap(), 400).await;
    }
    // Email filter.
    let found: Vec<Value> = a
        .req(reqwest::Method::GET, "admin/identities?credentials_identifier=p3@example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["traits"]["email"], "p3@example.com");
}

#[tokio::test]
async fn deactivation_through_the_api_blocks_sign_in() {
    let a = Admin::new().await;
    let before = a.idp.tokens_for("user@example.com").await;
    let list: Vec<Value> = a
        .req(reqwest::Method::GET, "admin/identities?credentials_identifier=user@example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user = &list[0];
    let r = a
        .req(reqwest::Method::PUT, &format!("admin/identities/{}", user["id"].as_str().unwrap()))
        .json(&json!({"schema_id":"default","state":"inactive","traits":user["traits"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, html, _, _) = a.idp.submit_email(&browser(), &a.idp.auth_url("web", &[]), "user@example.com").await;
    assert_eq!(status, 422);
    assert!(html.contains("deactivated"));
    // Deactivation also revokes what was issued and tells the clients.
    let r = a
        .http
        .post(a.idp.url("oauth2/token"))
        .basic_auth("web", Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", before["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(a.idp.logout_tokens.lock().unwrap().len(), 1, "back-channel logout sent");
}

#[tokio::test]
async fn schema_is_served() {
    let a = Admin::new().await;
    let s: Value = reqwest::get(a.idp.url("schemas/ZGVmYXVsdA")).await.unwrap().json().await.unwrap();
    assert_eq!(s["properties"]["traits"]["required"], json!(["email"]));
    assert_eq!(reqwest::get(a.idp.url("schemas/nope")).await.unwrap().status(), 404);
}
