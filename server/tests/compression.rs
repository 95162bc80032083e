//! What goes over the wire: the bundle precompressed (brotli, gzip) with the
//! right headers and bytes that decode to the file, pages and JSON compressed
//! on the fly above a threshold, and caching that matches the file names.
#![expect(clippy::unwrap_used)]

mod common;

use common::*;

/// A site root with a made-up bundle, precompressed as after a build.
fn site_with_bundle(tag: &str) -> (std::path::PathBuf, Vec<u8>) {
    let root = temp_dir(tag);
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    let wasm: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 97).to_le_bytes()).collect();
    std::fs::write(root.join("pkg/gatehouse.wasm"), &wasm).unwrap();
    std::fs::write(root.join(format!("pkg/{HASHED_WASM}")), &wasm).unwrap();
    std::fs::write(root.join("pkg/gatehouse.js"), "export function start() { return 42; }\n".repeat(100)).unwrap();
    std::fs::write(root.join("favicon.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>").unwrap();
    let done = server::assets::precompress(&root.join("pkg")).unwrap();
    assert_eq!(done.written, 3);
    (root, wasm)
}

/// A file name as a build with hashed names writes it.
const HASHED_WASM: &str = "gatehouse.gtsL5fi5ZRUiFMcshwtwhw_bg.wasm";

async fn get(app: &TestApp, path: &str, encoding: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new().get(format!("{}{path}", app.base));
    if let Some(e) = encoding {
        r = r.header("accept-encoding", e);
    }
    r.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get_all(name).iter().map(|v| v.to_str().unwrap().to_ascii_lowercase()).collect::<Vec<_>>().join(", ")
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &bytes[..], &mut out).unwrap();
    out
}

fn ungzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
    out
}

#[tokio::test]
async fn the_bundle_is_sent_precompressed_and_decodes_to_the_file() {
    let (root, wasm) = site_with_bundle("precompressed");
    let mut settings = test_settings();
    settings.leptos.site_root = root.to_string_lossy().into_owned().into();
    settings.leptos.hash_files = true;
    let app = spawn_app_with(settings).await;

    let r = get(&app, &format!("/pkg/{HASHED_WASM}"), Some("gzip, deflate, br")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-encoding"), "br");
    assert!(header(&r, "vary").contains("accept-encoding"), "{}", header(&r, "vary"));
    assert_eq!(header(&r, "cache-control"), "public, max-age=31536000, immutable", "hashed names are immutable");
    let modified = header(&r, "last-modified");
    assert!(!modified.is_empty(), "the bundle can be revalidated");

    // Revalidated: the 304 still says it varies with the encoding.
    let r = reqwest::Client::new()
        .get(format!("{}/pkg/{HASHED_WASM}", app.base))
        .header("accept-encoding", "br")
        .header("if-modified-since", r.headers().get("last-modified").unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert!(header(&r, "vary").contains("accept-encoding"), "a 304 varies too: {:?}", r.headers());

    // An unhashed name in a hashed build is revalidated: the next build may
    // fill it with other bytes.
    let r = get(&app, "/pkg/gatehouse.wasm", Some("br")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-cache", "unhashed names are never immutable");
    assert_eq!(header(&r, "content-type"), "application/wasm");
    let sent = r.bytes().await.unwrap();
    assert!(sent.len() * 5 < wasm.len(), "compressed: {} of {} bytes", sent.len(), wasm.len());
    assert_eq!(unbrotli(&sent), wasm, "the brotli bytes decode to the file");

    let r = get(&app, "/pkg/gatehouse.wasm", Some("gzip")).await;
    assert_eq!(header(&r, "content-encoding"), "gzip");
    assert_eq!(ungzip(&r.bytes().await.unwrap()), wasm);

    let r = get(&app, "/pkg/gatehouse.wasm", None).await;
    assert_eq!(header(&r, "content-encoding"), "", "identity when nothing is accepted");
    assert_eq!(r.bytes().await.unwrap().to_vec(), wasm);

    let r = get(&app, "/pkg/gatehouse.js", Some("br")).await;
    assert_eq!(header(&r, "content-encoding"), "br");
    assert!(header(&r, "content-type").starts_with("text/javascript"), "{}", header(&r, "content-type"));
    std::fs::remove_dir_all(&root).ok();
}

#[tokio::test]
async fn without_hashed_names_the_bundle_is_revalidated() {
    let (root, _) = site_with_bundle("revalidated");
    let mut settings = test_settings();
    settings.leptos.site_root = root.to_string_lossy().into_owned().into();
    settings.leptos.hash_files = false;
    let app = spawn_app_with(settings).await;
    let r = get(&app, "/pkg/gatehouse.wasm", Some("br")).await;
    assert_eq!(header(&r, "cache-control"), "no-cache", "the same name may hold a new build");
    assert_eq!(header(&r, "content-encoding"), "br");
    let r = get(&app, "/pkg/missing.wasm", Some("br")).await;
    assert_eq!(r.status(), 404);
    assert!(!header(&r, "cache-control").contains("immutable"));
    std::fs::remove_dir_all(&root).ok();
}

#[tokio::test]
async fn pages_and_large_json_are_compressed_small_answers_are_not() {
    let app = spawn_app().await;
    let r = get(&app, "/", Some("br")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-encoding"), "br");
    assert_eq!(header(&r, "cache-control"), "no-store", "pages are never cached");
    let html = String::from_utf8(unbrotli(&r.bytes().await.unwrap())).unwrap();
    assert!(html.contains("<title>Gatehouse</title>") && html.contains("</html>"), "{html}");

    let r = get(&app, "/", Some("gzip")).await;
    assert_eq!(header(&r, "content-encoding"), "gzip");
    assert!(String::from_utf8(ungzip(&r.bytes().await.unwrap())).unwrap().contains("<title>Gatehouse</title>"));

    let r = get(&app, "/", None).await;
    assert_eq!(header(&r, "content-encoding"), "");
    assert!(r.text().await.unwrap().contains("<title>Gatehouse</title>"));

    let r = get(&app, "/healthz", Some("br")).await;
    assert_eq!(header(&r, "content-encoding"), "", "a few bytes of JSON are not worth compressing");
    let openapi = get(&app, "/api/v1/openapi.json", Some("br")).await;
    assert_eq!(openapi.status(), 200);
    assert_eq!(header(&openapi, "content-encoding"), "br", "large JSON is");
    let doc: serde_json::Value = serde_json::from_slice(&unbrotli(&openapi.bytes().await.unwrap())).unwrap();
    assert!(doc.get("openapi").is_some(), "{doc}");
}

/// With a session, pages and answers hold secrets next to text a request can
/// choose: they are never compressed (BREACH), whatever the client accepts.
#[tokio::test]
async fn signed_in_pages_and_answers_are_not_compressed() {
    let app = spawn_app().await;
    signed_in(&app, "user@example.com").await;
    let r = app.client.get(format!("{}/profile", app.base)).header("accept-encoding", "br, gzip").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-encoding"), "", "a signed-in page is sent as is");
    assert!(r.text().await.unwrap().contains("user@example.com"));
    let r = app
        .client
        .post(format!("{}/api/current_user", app.base))
        .header("accept", "application/json")
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-encoding"), "");
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(me["email"], "user@example.com");
}
