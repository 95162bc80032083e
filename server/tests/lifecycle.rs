//! Starting and stopping: shutdown driven by a future in-process (the
//! embedded provider stops with the app), the `server` binary on SIGTERM
//! with a slow request in flight (it finishes; the process exits 0), and
//! the binary's traces reaching an OTLP collector, the last of them sent
//! while it stops.
#![expect(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

#[tokio::test]
async fn a_shutdown_future_stops_the_app_and_its_embedded_provider() {
    let app = server::startup::Application::build(test_settings()).await.unwrap();
    let base = format!("http://{}", app.addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let test_app = TestApp { base: base.clone(), client: browser() };
    let provider = provider_base(&test_app).await;
    let discovery = format!("{provider}.well-known/openid-configuration");
    assert_eq!(reqwest::get(&discovery).await.unwrap().status(), 200);
    assert_eq!(reqwest::get(format!("{base}/healthz")).await.unwrap().status(), 200);

    stop.send(()).unwrap();
    let served = tokio::time::timeout(Duration::from_secs(10), running).await.expect("stops in time").unwrap();
    assert!(served.is_ok(), "{served:?}");
    // New connections find nobody, at the app or at its provider.
    let fresh = reqwest::Client::new();
    assert!(fresh.get(format!("{base}/healthz")).send().await.is_err(), "the app still answers");
    assert!(fresh.get(&discovery).send().await.is_err(), "the embedded provider still answers");
}

/// The server binary against a provider behind a relay that holds its
/// answers: a userinfo call is in flight when SIGTERM arrives.
#[tokio::test]
async fn sigterm_lets_a_slow_request_finish_and_the_process_exits_0() {
    let provider = provider_behind_relay().await;
    let dir = temp_dir("lifecycle");
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .env("LEPTOS_SITE_ADDR", provider.app_addr.to_string())
        .env("OIDC_ISSUER", &provider.issuer)
        .env("OIDC_CLIENT_ID", APP_CLIENT)
        .env("OIDC_CLIENT_SECRET", APP_SECRET)
        .env("GATEHOUSE_DATA_DIR", ":memory:")
        .env("GATEHOUSE_SHUTDOWN_SECONDS", "20")
        .env("GATEHOUSE_METRICS_ADDR", "127.0.0.1:0")
        .env("GATEHOUSE_RATE_LIMIT_SIGNIN", "off")
        .env("RUST_LOG", "info")
        .env_remove("GATEHOUSE_CONFIG")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let base = format!("http://{}", provider.app_addr);
    let started = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let app = TestApp { base: base.clone(), client: browser() };
    signed_in(&app, "user@example.com").await;

    provider.relay.set_answer_hold(2_000);
    let slow = {
        let app = TestApp { base: base.clone(), client: app.client.clone() };
        tokio::spawn(async move {
            let r = api_form(&app, "userinfo", &[]).await;
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!slow.is_finished(), "the call waits for the provider");
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        reqwest::Client::new().get(format!("{base}/healthz")).send().await.is_err(),
        "no new connections once shutdown has begun"
    );

    let (status, body) = slow.await.unwrap();
    assert_eq!(status, 200, "the request in flight finished: {body}");
    assert!(body.contains("user@example.com"), "{body}");
    let log = exits_0(&mut child, &dir.join("server.log"), Duration::from_secs(15)).await;
    assert!(log.contains("shutting down") && log.contains("stopped"), "{log}");
    let _ = std::fs::remove_dir_all(dir);
}

/// What a collector received: each export's headers and body.
type Exports = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A stand-in OTLP/HTTP collector on loopback: it keeps what is posted to
/// `/v1/traces` and answers as a collector does (an empty protobuf).
async fn collector() -> (String, Exports) {
    use axum::routing::post;
    let exports = Exports::default();
    let kept = exports.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push((headers, body.to_vec()));
                ([(axum::http::header::CONTENT_TYPE, "application/x-protobuf")], Vec::<u8>::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), exports)
}

#[tokio::test]
async fn traces_reach_an_otlp_collector_and_the_last_are_sent_at_shutdown() {
    let (endpoint, exports) = collector().await;
    let dir = temp_dir("otlp");
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .env("LEPTOS_SITE_ADDR", &addr)
        .env("GATEHOUSE_IDP_ADDR", "127.0.0.1:0")
        .env("GATEHOUSE_DATA_DIR", ":memory:")
        .env("GATEHOUSE_METRICS_ADDR", "127.0.0.1:0")
        .env("GATEHOUSE_OTLP_ENDPOINT", &endpoint)
        .env("GATEHOUSE_OTLP_HEADERS", "authorization=Bearer collector-key-0451")
        .env("GATEHOUSE_OTLP_SERVICE_NAME", "gatehouse-otlp-test")
        .env("RUST_LOG", "info")
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("OIDC_ISSUER")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let base = format!("http://{addr}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = reqwest::Client::new().get(format!("{base}/")).header("X-Request-Id", "otlp-probe-7f3a").send().await;
    assert_eq!(page.unwrap().status(), 200);
    // The batch is sent every few seconds: stopping now leaves it to shutdown.
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let log = exits_0(&mut child, &dir.join("server.log"), Duration::from_secs(20)).await;
    assert!(log.contains("exporting traces over OTLP"), "{log}");
    assert!(!log.contains("collector-key-0451"), "the collector's key is in the log:\n{log}");

    let exports = exports.lock().unwrap();
    assert!(!exports.is_empty(), "the collector received nothing:\n{log}");
    let contains = |body: &[u8], what: &[u8]| body.windows(what.len()).any(|w| w == what);
    for (headers, _) in exports.iter() {
        assert_eq!(headers.get("authorization").unwrap(), "Bearer collector-key-0451");
        assert_eq!(headers.get("content-type").unwrap(), "application/x-protobuf");
    }
    let request = exports
        .iter()
        .map(|(_, body)| body)
        .find(|body| contains(body, b"otlp-probe-7f3a"))
        .unwrap_or_else(|| panic!("no exported span carries the request id ({} exports):\n{log}", exports.len()));
    assert!(contains(request, b"gatehouse-otlp-test"), "the spans name their service");
    assert!(contains(request, b"request"), "the request span is exported");
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits up to `within` for `child` to exit, asserts it exited 0, and returns its log.
async fn exits_0(child: &mut std::process::Child, log: &std::path::Path, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(log).unwrap();
    assert!(exit.success(), "exit status {exit:?}:\n{log}");
    log
}
