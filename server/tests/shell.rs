//! The app shell over real HTTP: health check, server rendering, 404s and the
//! footer's server function.
#![expect(clippy::unwrap_used)]

mod common;

use common::spawn_app;

/// The flood of concurrent renders below runs alone: several test runtimes in
/// one process rendering Leptos pages at once can leave a render waiting on
/// another runtime (a request then never answers). The server has one runtime,
/// so this is the harness's concern, not the product's.
static FLOOD: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

#[tokio::test]
async fn healthz_answers_ok_with_version() {
    let _shared = FLOOD.read().await;
    let app = spawn_app().await;
    let resp = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn home_is_rendered_on_the_server() {
    let _shared = FLOOD.read().await;
    let app = spawn_app().await;
    // Several times: the server-function result must be in the HTML every
    // time (in-order streaming), not only when it happens to resolve first.
    for _ in 0..3 {
        let resp = app.client.get(&app.base).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = resp.text().await.unwrap();
        assert!(html.contains("Sign-in for Rust web apps"), "{html}");
        assert!(html.contains("data-testid=\"signin-link\""), "{html}");
        assert!(html.contains("<title>Gatehouse</title>"), "{html}");
        assert!(html.contains("data-testid=\"server-info\">Server v"), "{html}");
        assert!(!html.contains("Loading server status"), "{html}");
    }
}

#[tokio::test]
async fn unknown_paths_get_the_404_page_with_status_404() {
    let _shared = FLOOD.read().await;
    let app = spawn_app().await;
    for path in ["/nope", "/a/b/c", "/admin%2e%2e"] {
        let resp = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("Page not found"), "{path}: {html}");
        assert!(html.contains("Page not found · Gatehouse"), "{path}");
        assert!(html.contains("data-testid=\"server-info\">Server v"), "{path}: the footer works on error pages");
    }
}

#[tokio::test]
async fn server_info_function_reports_version_and_uptime() {
    let _shared = FLOOD.read().await;
    let app = spawn_app().await;
    let resp = app
        .client
        .post(format!("{}/api/server_info", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].as_u64().is_some());
}

#[tokio::test]
async fn a_taken_port_fails_with_an_actionable_message() {
    let _shared = FLOOD.read().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = server::startup::Application::build(server::config::Settings::for_addr(addr))
        .await
        .err()
        .expect("bind must fail");
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()), "{msg}");
    assert!(msg.contains("LEPTOS_SITE_ADDR"), "{msg}");
}

#[tokio::test]
async fn static_files_are_served_as_files_while_pages_redirect_around_them() {
    let _alone = FLOOD.write().await;
    // Signed-out visits to /profile answer redirects; the bundle fetched at the
    // same moment must still be the file, never another request's redirect.
    let site = common::temp_dir("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg").join("gatehouse.js"), "export default 1;").unwrap();
    std::fs::write(site.join("favicon.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    let mut settings = common::test_settings();
    settings.leptos.site_root = site.to_string_lossy().into_owned().into();
    let app = common::spawn_app_with(settings).await;
    // 600 requests, at most 100 in flight (more only tests the host's TCP backlog).
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
    let calls: Vec<_> = (0..600)
        .map(|i| {
            let (client, base, in_flight) = (common::browser(), app.base.clone(), in_flight.clone());
            tokio::spawn(async move {
                let _slot = in_flight.acquire().await.unwrap();
                let path = if i % 2 == 0 { "/profile" } else { "/pkg/gatehouse.js" };
                let r = client.get(format!("{base}{path}")).send().await.unwrap();
                (path, r.status().as_u16(), r.text().await.unwrap())
            })
        })
        .collect();
    for c in calls {
        let (path, status, body) = c.await.unwrap();
        if path == "/profile" {
            assert_eq!(status, 302, "signed out: sent to sign in");
        } else {
            assert_eq!((status, body.as_str()), (200, "export default 1;"));
        }
    }
    let r = common::browser().get(format!("{}/favicon.svg", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("cache-control").is_none(), "static files stay cacheable");
    std::fs::remove_dir_all(&site).ok();
}

/// Reads one HTTP/1.1 response (headers, then a chunked or sized body) from
/// `stream`, leaving the connection open for the next one.
async fn read_response(stream: &mut tokio::io::BufReader<tokio::net::TcpStream>) -> (String, Vec<u8>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(stream.read_line(&mut line).await.unwrap() > 0, "the connection closed mid-response");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if lower.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            stream.read_line(&mut size).await.unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            stream.read_exact(&mut chunk).await.unwrap();
            body.extend_from_slice(&chunk[..n]);
            if n == 0 {
                break;
            }
        }
    } else {
        let len = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map(|v| v.trim().parse::<usize>().unwrap())
            .expect("a chunked or sized body");
        body.resize(len, 0);
        stream.read_exact(&mut body).await.unwrap();
    }
    (head, body)
}

/// Browsers keep connections alive: one connection serves streamed pages one
/// after another, each complete (the benchmark measures how fast).
#[tokio::test]
async fn a_kept_alive_connection_serves_streamed_pages_one_after_another() {
    use tokio::io::AsyncWriteExt;
    let _shared = FLOOD.read().await;
    let app = spawn_app().await;
    let host = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::io::BufReader::new(tokio::net::TcpStream::connect(&host).await.unwrap());
    for path in ["/", "/", "/no-such-page"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\n\r\n");
        stream.get_mut().write_all(request.as_bytes()).await.unwrap();
        let (head, body) = read_response(&mut stream).await;
        let html = String::from_utf8(body).unwrap();
        assert!(head.to_ascii_lowercase().contains("content-type: text/html"), "{head}");
        assert!(!head.to_ascii_lowercase().contains("connection: close"), "kept alive: {head}");
        assert!(html.contains("</html>") && html.trim_end().ends_with("</script>"), "{path}: a complete page: {html}");
    }
}
