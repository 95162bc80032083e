//! `/metrics` on its own listener: the counters move after a real sign-in
//! (at the embedded provider) and a refused cross-site post.
#![expect(clippy::unwrap_used)]

mod common;

use common::*;

/// The value of the sample whose line starts with `series` (0 when absent).
fn value(text: &str, series: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(series)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

async fn scrape(url: &str) -> String {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"),
        "{:?}",
        r.headers()
    );
    r.text().await.unwrap()
}

#[tokio::test]
async fn counters_move_after_a_sign_in_and_a_refused_cross_site_post() {
    let app = server::startup::Application::build(test_settings()).await.unwrap();
    let metrics = format!("http://{}/metrics", app.metrics_addr().expect("a metrics listener"));
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped());
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = TestApp { base: base.clone(), client: browser_with_jar(jar.clone()) };

    let before = scrape(&metrics).await;
    signed_in(&browser, "user@example.com").await;
    let refused = reqwest::Client::new()
        .post(format!("{base}/api/current_user"))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let after = scrape(&metrics).await;

    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(moved("gatehouse_sign_ins_started_total"), 1.0, "{after}");
    assert_eq!(moved("gatehouse_sign_ins_completed_total"), 1.0, "{after}");
    assert_eq!(moved("gatehouse_refusals_total{reason=\"csrf\"}"), 1.0, "{after}");
    assert!(moved("gatehouse_http_requests_total{method=\"GET\",route=\"/login\",status=\"303\"}") >= 2.0, "{after}");
    assert!(moved("gatehouse_http_request_duration_seconds_count{route=\"/login\"}") >= 2.0, "{after}");
    assert!(value(&after, "gatehouse_active_sessions") >= 1.0, "the signed-in session is counted: {after}");
    assert!(value(&after, "gatehouse_jwks_fetches_total{outcome=\"ok\"}") >= 1.0, "{after}");

    // Nothing about who signed in, and no session cookie, in the metrics.
    let cookie = reqwest::cookie::CookieStore::cookies(&*jar, &base.parse().unwrap()).unwrap();
    let cookie = cookie.to_str().unwrap();
    let session_value = cookie.split(';').find_map(|c| c.split_once('=').map(|(_, v)| v.trim())).unwrap();
    assert!(!after.contains("user@example.com") && !after.contains(session_value), "{after}");
    // The app's own port does not serve them.
    assert_eq!(reqwest::get(format!("{base}/metrics")).await.unwrap().status(), 404);
}
