//! Identity management through the server functions, over real HTTP against
//! the embedded provider: every function refuses anonymous callers (401) and
//! signed-in non-admins (403); the machine token is fetched once and replaced
//! once when the provider revokes it; errors map to field messages; every
//! action lands in the audit trail; a deactivated identity cannot sign in.
#![expect(clippy::unwrap_used)]

mod common;

use common::*;

const ADMIN_CLIENT: &str = "gatehouse-admin";
const ADMIN_SECRET: &str = "gatehouse-admin-dev-secret-not-for-production";

/// Every admin server function with arguments it would accept.
const CALLS: &[(&str, &[(&str, &str)])] = &[
    ("admin_list_identities", &[]),
    ("admin_get_identity", &[("id", "00000000-0000-0000-0000-000000000000")]),
    (
        "admin_create_identity",
        &[("email", "x@example.com"), ("first_name", ""), ("last_name", ""), ("academic_degree", "")],
    ),
    (
        "admin_update_identity",
        &[("id", "x"), ("email", "x@example.com"), ("first_name", ""), ("last_name", ""), ("academic_degree", "")],
    ),
    ("admin_set_identity_state", &[("id", "x"), ("state", "inactive")]),
    ("admin_delete_identity", &[("id", "x"), ("confirm", "delete")]),
    ("admin_end_sessions", &[("id", "x")]),
    ("admin_remove_passkey", &[("id", "x"), ("passkey", "y")]),
    ("admin_audit", &[]),
];

fn as_browser(app: &TestApp) -> TestApp {
    TestApp { base: app.base.clone(), client: browser() }
}

async fn json(r: reqwest::Response) -> serde_json::Value {
    r.json().await.unwrap()
}

#[tokio::test]
async fn every_admin_function_refuses_anonymous_callers_and_non_admins() {
    let app = spawn_app().await;
    for (name, fields) in CALLS {
        let r = api_form(&app, name, fields).await;
        assert_eq!(r.status(), 401, "{name} without a session");
    }
    signed_in(&app, "user@example.com").await;
    for (name, fields) in CALLS {
        let r = api_form(&app, name, fields).await;
        assert_eq!(r.status(), 403, "{name} as a non-admin");
        assert_eq!(json(r).await, serde_json::json!("Forbidden"));
    }
    // Nothing was done on their behalf, and the UI says forbidden.
    let html = app.client.get(format!("{}/admin/identities", app.base)).send().await.unwrap();
    assert_eq!(html.status(), 403);
    let html = html.text().await.unwrap();
    assert!(html.contains("admin-forbidden") && !html.contains("admin-nav"), "no admin navigation");
    let provider = provider_base(&app).await;
    assert_eq!(machine_tokens_issued(&provider, ADMIN_CLIENT).await, 0, "no Admin API call was made");

    // A signed-out visitor of an admin page is sent to sign in.
    let r = browser().get(format!("{}/admin/identities", app.base)).send().await.unwrap();
    assert!(location(&r).starts_with("/login?return_to=%2Fadmin%2Fidentities"), "{}", location(&r));
}

#[tokio::test]
async fn admin_calls_share_one_machine_token_and_a_revoked_one_is_replaced_once() {
    let app = spawn_app().await;
    signed_in(&app, "admin@example.com").await;
    let html = app.client.get(format!("{}/", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("admin-nav"), "admins see the admin navigation");
    let provider = provider_base(&app).await;
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (client, url) = (app.client.clone(), format!("{}/api/admin_list_identities", app.base));
            tokio::spawn(async move {
                client.post(url).header("accept", "application/json").form(&[("per_page", "25")]).send().await
            })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(machine_tokens_issued(&provider, ADMIN_CLIENT).await, 1, "10 concurrent calls, one token");

    // The provider forgets the machine client's tokens: the next call gets a 401,
    // fetches one new token and succeeds.
    let r = reqwest::Client::new()
        .delete(format!("{provider}oauth2/tokens?client_id={ADMIN_CLIENT}"))
        .basic_auth(ADMIN_CLIENT, Some(ADMIN_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = api_form(&app, "admin_list_identities", &[]).await;
    assert_eq!(r.status(), 200);
    let list = json(r).await;
    assert!(list["total"].as_u64().unwrap() >= 2, "{list}");
    assert_eq!(machine_tokens_issued(&provider, ADMIN_CLIENT).await, 2);
}

#[tokio::test]
async fn an_admin_manages_an_identity_and_every_action_is_audited() {
    let app = spawn_app().await;
    signed_in(&app, "admin@example.com").await;
    let form = |email: &'static str, first: &'static str| {
        vec![("email", email), ("first_name", first), ("last_name", "Tester"), ("academic_degree", "")]
    };

    // The local parse refuses a bad email before the provider is asked.
    let r = api_form(&app, "admin_create_identity", &form("not-an-email", "Tia")).await;
    assert_eq!(r.status(), 422);
    assert_eq!(json(r).await["Fields"][0]["field"], "email");
    // A taken email: the provider's 409 becomes a message on the email field.
    let r = api_form(&app, "admin_create_identity", &form("user@example.com", "Tia")).await;
    assert_eq!(r.status(), 422);
    let body = json(r).await;
    assert_eq!(
        body["Fields"][0],
        serde_json::json!({"field": "email", "message": "An identity with this email already exists."})
    );

    let r = api_form(&app, "admin_create_identity", &form("tia@example.com", "Tia")).await;
    assert_eq!(r.status(), 200);
    let id = json(r).await.as_str().unwrap().to_string();
    let r = api_form(&app, "admin_get_identity", &[("id", &id)]).await;
    let row = json(r).await;
    assert_eq!(
        (row["email"].as_str(), row["first_name"].as_str(), row["state"].as_str()),
        (Some("tia@example.com"), Some("Tia"), Some("active"))
    );

    let mut edit = vec![("id", id.as_str())];
    edit.extend(form("tia@example.com", "Tiana"));
    assert_eq!(api_form(&app, "admin_update_identity", &edit).await.status(), 200);
    let filtered = json(api_form(&app, "admin_list_identities", &[("email", "tia@example.com")]).await).await;
    assert_eq!(filtered["total"], 1);
    assert_eq!(filtered["rows"][0]["first_name"], "Tiana");

    // Deactivated: the identity cannot sign in.
    let r = api_form(&app, "admin_set_identity_state", &[("id", &id), ("state", "inactive")]).await;
    assert_eq!(r.status(), 200);
    let other = as_browser(&app);
    let start = other.client.get(format!("{}/login", app.base)).send().await.unwrap();
    let refused = idp::testkit::sign_in(&other.client, &location(&start), "tia@example.com").await;
    assert!(refused.unwrap_err().contains("deactivated"), "an inactive identity is refused at the provider");
    // Reactivated: it can.
    assert_eq!(api_form(&app, "admin_set_identity_state", &[("id", &id), ("state", "active")]).await.status(), 200);
    let start = other.client.get(format!("{}/login", app.base)).send().await.unwrap();
    idp::testkit::sign_in(&other.client, &location(&start), "tia@example.com").await.unwrap();

    // Deleting needs the confirmation step's field.
    assert_eq!(api_form(&app, "admin_delete_identity", &[("id", &id), ("confirm", "")]).await.status(), 422);
    assert_eq!(api_form(&app, "admin_delete_identity", &[("id", &id), ("confirm", "delete")]).await.status(), 200);
    assert_eq!(api_form(&app, "admin_get_identity", &[("id", &id)]).await.status(), 404);
    assert_eq!(api_form(&app, "admin_delete_identity", &[("id", &id), ("confirm", "delete")]).await.status(), 404);

    let audit = json(api_form(&app, "admin_audit", &[]).await).await;
    let rows: Vec<(String, String)> = audit["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["action"].as_str().unwrap().to_string(), r["outcome"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        ("delete", "not found"),
        ("delete", "ok"),
        ("activate", "ok"),
        ("deactivate", "ok"),
        ("update", "ok"),
        ("create", "ok"),
        ("create", "conflict: email exists"),
    ];
    assert_eq!(
        rows,
        expected.map(|(a, o)| (a.to_string(), o.to_string())),
        "newest first; the refused parse never reached the provider"
    );
    assert!(audit["rows"].as_array().unwrap().iter().all(|r| r["actor"] == "admin@example.com"));
    assert_eq!(audit["rows"][1]["target"], "tia@example.com");
}

/// Creates an identity through the admin's server function; returns its id.
async fn create(app: &TestApp, email: &str, first: &str, last: &str) -> String {
    let fields = [("email", email), ("first_name", first), ("last_name", last), ("academic_degree", "")];
    let r = api_form(app, "admin_create_identity", &fields).await;
    assert_eq!(r.status(), 200, "{email} created");
    json(r).await.as_str().unwrap().to_string()
}

fn emails(list: &serde_json::Value) -> Vec<String> {
    list["rows"].as_array().unwrap().iter().map(|r| r["email"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn an_admin_searches_by_words_in_email_or_name_filters_by_state_and_sorts_by_creation() {
    let app = spawn_app().await;
    signed_in(&app, "admin@example.com").await;
    // Created a second apart, so their creation times differ.
    let older = create(&app, "grace@example.com", "Grace", "Hopper").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    create(&app, "hedy@example.org", "Hedy", "Lamarr").await;
    let r = api_form(&app, "admin_set_identity_state", &[("id", older.as_str()), ("state", "inactive")]).await;
    assert_eq!(r.status(), 200);

    // Words match the email or the name, in any case; every word must match.
    let list = json(api_form(&app, "admin_list_identities", &[("q", "HOPPER")]).await).await;
    assert_eq!(emails(&list), ["grace@example.com"]);
    let list = json(api_form(&app, "admin_list_identities", &[("q", "example.org")]).await).await;
    assert_eq!(emails(&list), ["hedy@example.org"]);
    let list = json(api_form(&app, "admin_list_identities", &[("q", "grace lamarr")]).await).await;
    assert_eq!(list["total"], 0, "no one has both words");
    assert_eq!(list["search"]["scanned"], 4, "the seeded two and the new two were read");

    // Counts by state of the word matches; the state filter narrows the rows.
    let list = json(api_form(&app, "admin_list_identities", &[("q", "@example."), ("sort", "newest")]).await).await;
    assert_eq!(emails(&list)[..2], ["hedy@example.org", "grace@example.com"], "newest first");
    assert_eq!((list["search"]["active"].as_u64(), list["search"]["inactive"].as_u64()), (Some(3), Some(1)));
    let list = json(api_form(&app, "admin_list_identities", &[("state", "inactive")]).await).await;
    assert_eq!(emails(&list), ["grace@example.com"]);
    assert_eq!(list["rows"][0]["state"], "inactive");
    let list = json(api_form(&app, "admin_list_identities", &[("sort", "oldest")]).await).await;
    assert_eq!(emails(&list)[2..], ["grace@example.com", "hedy@example.org"], "oldest first");
    assert_eq!(
        (list["page"].as_u64(), list["pages"].as_u64(), list["has_next"].as_bool()),
        (Some(1), Some(1), Some(false))
    );

    // Without JavaScript: the page shows the counts and an empty state with a way back.
    let page = |q: &str| app.client.get(format!("{}/admin/identities?{q}", app.base)).send();
    let html = page("q=hopper").await.unwrap().text().await.unwrap();
    assert!(html.contains("1 of 4 identities match · 0 active · 1 inactive"), "{html}");
    let html = page("q=nobody-at-all").await.unwrap().text().await.unwrap();
    assert!(html.contains("No identities match.") && html.contains("Clear the search"), "{html}");
    assert!(!html.contains("data-testid=\"admin-table\""), "no empty table");

    // A search is an admin call like any other: refused to non-admins.
    let user = as_browser(&app);
    signed_in(&user, "user@example.com").await;
    assert_eq!(api_form(&user, "admin_list_identities", &[("q", "grace")]).await.status(), 403);
}

#[tokio::test]
async fn an_admin_page_renders_the_table_without_javascript() {
    let app = spawn_app().await;
    signed_in(&app, "admin@example.com").await;
    let r = app.client.get(format!("{}/admin/identities?per_page=25", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("admin@example.com") && html.contains("user@example.com"), "the seeded identities");
    assert!(html.contains("2 identities · page 1 of 1"), "total and pages");
    let r = app.client.get(format!("{}/admin/audit", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("No admin actions yet"), "an empty trail says so: {html}");
    // Past the last page: an empty state with the way back, not "no identities".
    let html =
        app.client.get(format!("{}/admin/identities?page=9", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Nothing on this page") && html.contains("Back to the first page"), "{html}");
    assert!(!html.contains("No identities yet"), "{html}");
}

#[tokio::test]
async fn a_plain_form_post_with_bad_input_returns_to_the_form_with_field_errors() {
    let app = spawn_app().await;
    signed_in(&app, "admin@example.com").await;
    let form_page = format!("{}/admin/identities", app.base);
    let post = |email: &'static str| {
        app.client
            .post(format!("{}/api/admin_create_identity", app.base))
            .header("accept", "text/html,application/xhtml+xml")
            .header("referer", &form_page)
            .form(&[("email", email), ("first_name", "Eve"), ("last_name", "Example"), ("academic_degree", "")])
            .send()
    };
    for (email, message) in [
        ("not-an-email", "An email address needs an @, like name@example.com."),
        ("user@example.com", "An identity with this email already exists."),
    ] {
        let r = post(email).await.unwrap();
        assert_eq!(r.status(), 302, "a browser without JavaScript is sent back to the form");
        let back = location(&r);
        assert!(back.starts_with(&form_page) && back.contains("__err="), "{back}");
        let html = app.client.get(back).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(message), "the form shows {message:?}");
        assert!(!html.contains("\"Fields\""), "never the raw error");
    }
}

#[tokio::test]
async fn the_default_admin_list_can_be_replaced() {
    // With the list replaced, the embedded provider's admin is a normal user.
    let mut settings = common::test_settings();
    settings.admin.emails = Some(vec!["user@example.com".into()]);
    let app = common::spawn_app_with(settings).await;
    signed_in(&app, "admin@example.com").await;
    assert_eq!(api_form(&app, "admin_list_identities", &[]).await.status(), 403);
    let user = as_browser(&app);
    signed_in(&user, "user@example.com").await;
    assert_eq!(api_form(&user, "admin_list_identities", &[]).await.status(), 200);
}

/// The provider's email form reached from the app's `/login`: its login challenge and CSRF token.
async fn provider_login_form(app: &TestApp, b: &reqwest::Client) -> (String, String, String) {
    let r = b.get(format!("{}/login", app.base)).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let provider = provider_base(app).await;
    let page = b
        .get(format!("{provider}{}", location(&r).trim_start_matches('/')))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let field = |name: &str| idp::testkit::field(&page, name).unwrap();
    (provider, field("login_challenge"), field("csrf"))
}

#[tokio::test]
async fn an_admin_sees_and_removes_a_users_passkey_audited_and_it_no_longer_signs_in() {
    let app = spawn_app().await;
    signed_in(&app, "admin@example.com").await;
    let provider = provider_base(&app).await;
    assert!(provider.starts_with("http://localhost:"), "passkeys need a domain name: {provider}");

    // The user adds a passkey at the provider's profile.
    let user = as_browser(&app);
    signed_in(&user, "user@example.com").await;
    let profile = user.client.get(format!("{provider}profile")).send().await.unwrap().text().await.unwrap();
    let csrf = idp::testkit::field(&profile, "csrf").unwrap();
    let started: serde_json::Value = user
        .client
        .post(format!("{provider}passkeys/register/start"))
        .form(&[("csrf", &*csrf)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut soft = idp::testkit::SoftAuthenticator::new(provider.trim_end_matches('/'));
    let answer = soft.create(&started);
    let r = user
        .client
        .post(format!("{provider}passkeys/register/finish"))
        .form(&[
            ("csrf", &*csrf),
            ("ceremony", started["ceremony"].as_str().unwrap()),
            ("name", "Phone"),
            ("credential", &answer.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let list = json(api_form(&app, "admin_list_identities", &[("email", "user@example.com")]).await).await;
    let id = list["rows"][0]["id"].as_str().unwrap().to_string();
    let row = json(api_form(&app, "admin_get_identity", &[("id", &id)]).await).await;
    let passkeys = row["passkeys"].as_array().unwrap();
    assert_eq!(passkeys.len(), 1, "{row}");
    assert_eq!(passkeys[0]["name"], "Phone");
    assert!(passkeys[0]["added_unix"].as_i64().unwrap() > 1_700_000_000);
    let passkey = passkeys[0]["id"].as_str().unwrap().to_string();
    // The identity page shows it without JavaScript.
    let page =
        app.client.get(format!("{}/admin/identities/{id}", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Phone") && page.contains("admin-remove-passkey"), "the page lists the passkey");

    // Only admins; an unknown passkey is not found; then removed.
    assert_eq!(api_form(&user, "admin_remove_passkey", &[("id", &id), ("passkey", &passkey)]).await.status(), 403);
    assert_eq!(api_form(&app, "admin_remove_passkey", &[("id", &id), ("passkey", "nope")]).await.status(), 404);
    assert_eq!(api_form(&app, "admin_remove_passkey", &[("id", &id), ("passkey", &passkey)]).await.status(), 200);
    let row = json(api_form(&app, "admin_get_identity", &[("id", &id)]).await).await;
    assert_eq!(row["passkeys"], serde_json::json!([]));

    let audit = json(api_form(&app, "admin_audit", &[]).await).await;
    let rows = audit["rows"].as_array().unwrap();
    assert_eq!(
        (rows[0]["action"].as_str(), rows[0]["outcome"].as_str(), rows[0]["target"].as_str()),
        (Some("remove passkey"), Some("ok: \"Phone\""), Some("user@example.com"))
    );
    assert_eq!((rows[1]["action"].as_str(), rows[1]["outcome"].as_str()), (Some("remove passkey"), Some("not found")));

    // The passkey no longer signs in.
    let b = browser();
    let (provider, challenge, csrf) = provider_login_form(&app, &b).await;
    let started: serde_json::Value = b
        .post(format!("{provider}login/passkey/start"))
        .form(&[("login_challenge", &*challenge), ("csrf", &*csrf), ("mode", "discover")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = b
        .post(format!("{provider}login/passkey/finish"))
        .form(&[
            ("login_challenge", &*challenge),
            ("csrf", &*csrf),
            ("ceremony", started["ceremony"].as_str().unwrap()),
            ("credential", &soft.get(&started).to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
