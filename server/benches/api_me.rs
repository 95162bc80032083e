//! Requests/s and latency of Bearer-token verification, in one run on one
//! machine, with the same access token everywhere:
//!
//! - `GET /api/v1/me` of this app (JWKS cached, RS256 verified per request);
//! - seed 004's FastAPI example as the seed writes it (tools/python/seed004_fastapi.py:
//!   a new `PyJWKClient` and JWKS fetch per request), one uvicorn worker;
//! - the same example with its `PyJWKClient` created once (seed004_fastapi_cached.py);
//! - a bare axum route answering the same JSON, as the ceiling.
//!
//!   scripts/bench api                                  (or)
//!   cargo bench -p server --bench api_me --locked
//!
//! `BENCH_SECONDS` (default 10) and `BENCH_CONCURRENCY` (default 16) bound
//! each case; `BENCH_MAX_REQUESTS` (default 2000000) caps its count. The
//! Python cases run in a throwaway virtualenv (scripts/pyvenv). Prints a
//! table and the ratios; never asserts a time.
#![expect(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/common.rs"]
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use serde_json::{json, Value};

struct Result {
    name: &'static str,
    requests: u64,
    errors: u64,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
}

/// Keeps `concurrency` requests in flight against `url` for `secs` (after a
/// one-second warm-up) or until `max` answers.
async fn load(name: &'static str, url: &str, token: &str, concurrency: u64, secs: u64, max: u64) -> Result {
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency as usize).build().unwrap();
    let run = |secs: u64, record: bool| {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let lat = Arc::new(Mutex::new(Vec::<u32>::new()));
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (http, url, token) = (http.clone(), url.to_string(), token.to_string());
                let (stop, count, errors, lat) = (stop.clone(), count.clone(), errors.clone(), lat.clone());
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while !stop.load(Ordering::Relaxed) && count.fetch_add(1, Ordering::Relaxed) < max {
                        let t = Instant::now();
                        let ok = match http.get(&url).bearer_auth(&token).send().await {
                            Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                            Err(_) => false,
                        };
                        if !ok {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        mine.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                    if record {
                        lat.lock().unwrap().extend(mine);
                    }
                    Instant::now()
                })
            })
            .collect();
        async move {
            let start = Instant::now();
            // Until the time is up, or every worker stopped at the request cap.
            while start.elapsed() < Duration::from_secs(secs) && !workers.iter().all(|w| w.is_finished()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            stop.store(true, Ordering::Relaxed);
            let mut end = start;
            for w in workers {
                end = end.max(w.await.unwrap());
            }
            let elapsed = end - start;
            let mut lat = std::mem::take(&mut *lat.lock().unwrap());
            lat.sort_unstable();
            (lat, errors.load(Ordering::Relaxed), elapsed)
        }
    };
    run(1, false).await;
    let (lat, errors, elapsed) = run(secs, true).await;
    let pct =
        |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0);
    Result {
        name,
        requests: lat.len() as u64,
        errors,
        rps: lat.len() as f64 / elapsed.as_secs_f64(),
        p50_us: pct(0.50) as u64,
        p99_us: pct(0.99) as u64,
    }
}

/// uvicorn with one worker serving `module:app`; killed on drop.
struct Uvicorn(Child);

impl Drop for Uvicorn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn uvicorn(python: &Path, module: &str, port: u16, hanko_api_url: &str) -> Uvicorn {
    let child = Command::new(python)
        .args(["-m", "uvicorn", &format!("{module}:app"), "--app-dir"])
        .arg(common::repo_root().join("tools/python"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
        .args(["--log-level", "warning", "--no-access-log"])
        .env("HANKO_API_URL", hanko_api_url)
        .stdout(Stdio::null())
        .spawn()
        .expect("uvicorn starts");
    let server = Uvicorn(child);
    for _ in 0..200 {
        // Up once it answers at all (its middleware refuses `/` without a token).
        if reqwest::get(format!("http://127.0.0.1:{port}/")).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("uvicorn ({module}) did not come up on port {port}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs = common::env_u64("BENCH_SECONDS", 10);
    let concurrency = common::env_u64("BENCH_CONCURRENCY", 16);
    let max = common::env_u64("BENCH_MAX_REQUESTS", 2_000_000);

    // The Python side first (pip may take a while).
    let venv = common::temp_dir("bench-venv");
    let python = common::python_venv(&venv.join("venv"));

    // A local provider whose native-app client may also ask for the audience
    // the seed's example hard-codes (`localhost`), and this app against it.
    let mut cfg = idp::Config::from_toml(idp::config::DEV_CONFIG, "idp/dev.toml").unwrap();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.issuer = None;
    cfg.storage = idp::config::Storage::Memory;
    for c in cfg.clients.iter_mut().filter(|c| c.id == common::CLI) {
        c.audiences.push("localhost".into());
    }
    let provider = idp::Idp::build(cfg).await.unwrap();
    let issuer = provider.issuer().to_string();
    tokio::spawn(provider.run_until_stopped());
    // The app as deployed: its user table in a file (WAL), not in memory.
    let mut settings = common::external_to(common::test_settings(), &issuer);
    let data_dir = common::temp_dir("bench-data");
    settings.data_dir = Some(data_dir.clone());
    // The defences as deployed, with an API budget this one client cannot
    // exhaust, so the limiter's check is measured but never answers 429.
    settings.rate_limits = bff::rate_limit::Limits {
        api: Some(bff::rate_limit::Rate { count: 1_000_000, period: std::time::Duration::from_secs(1) }),
        ..bff::rate_limit::Limits::default()
    };
    let app = common::spawn_app_with(settings).await;
    let token = common::native_tokens(&issuer, "user@example.com", "openid settings:read", "gatehouse-api localhost")
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // The ceiling: a bare axum route with the same answer shape.
    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}/hello", bare.local_addr().unwrap());
    let hello = axum::Router::new().route("/hello", get(|| async { axum::Json(json!({ "message": "Hello World" })) }));
    tokio::spawn(async move { axum::serve(bare, hello).await });

    let (p1, p2) = (common::free_port(), common::free_port());
    let hanko_api_url = issuer.trim_end_matches('/');
    let seed = uvicorn(&python, "seed004_fastapi", p1, hanko_api_url).await;
    let cached = uvicorn(&python, "seed004_fastapi_cached", p2, hanko_api_url).await;

    // Every target accepts the token before anything is measured.
    for url in [
        format!("{}/api/v1/me", app.base),
        format!("http://127.0.0.1:{p1}/protected"),
        format!("http://127.0.0.1:{p2}/protected"),
    ] {
        let r = reqwest::Client::new().get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url} refused the token: {}", r.text().await.unwrap_or_default());
        let r =
            reqwest::Client::new().get(&url).bearer_auth(common::with_forged_signature(&token)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{url} accepted a forged signature");
    }

    println!(
        "bearer verification: {secs} s per case, {concurrency} requests in flight, {} CPUs",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let results = vec![
        load("bare axum route (ceiling)", &bare_url, &token, concurrency, secs, max).await,
        load("GET /api/v1/me (this app)", &format!("{}/api/v1/me", app.base), &token, concurrency, secs, max).await,
        load(
            "seed 004 FastAPI, PyJWKClient cached",
            &format!("http://127.0.0.1:{p2}/protected"),
            &token,
            concurrency,
            secs,
            max,
        )
        .await,
        load(
            "seed 004 FastAPI as written",
            &format!("http://127.0.0.1:{p1}/protected"),
            &token,
            concurrency,
            secs,
            max,
        )
        .await,
    ];
    drop((seed, cached));
    let _ = std::fs::remove_dir_all(&venv);
    let _ = std::fs::remove_dir_all(&data_dir);

    println!("{:<40} {:>10} {:>8} {:>12} {:>10} {:>10}", "case", "requests", "errors", "req/s", "p50 µs", "p99 µs");
    for r in &results {
        println!("{:<40} {:>10} {:>8} {:>12.0} {:>10} {:>10}", r.name, r.requests, r.errors, r.rps, r.p50_us, r.p99_us);
    }
    let ours = results[1].rps;
    let ratio = |r: &Result| ours / r.rps.max(f64::MIN_POSITIVE);
    println!("this app / bare route:              {:.2}×  (goal ≥ 0.5×)", ratio(&results[0]));
    println!("this app / seed 004 cached client:  {:.0}×  (goal ≥ 10×)", ratio(&results[2]));
    println!("this app / seed 004 as written:     {:.0}×  (goal ≥ 500×)", ratio(&results[3]));
    let summary: Value = json!(results
        .iter()
        .map(|r| json!({ "case": r.name, "rps": r.rps.round(), "p50_us": r.p50_us, "p99_us": r.p99_us, "errors": r.errors }))
        .collect::<Vec<_>>());
    println!("json: {summary}");
    assert!(results.iter().all(|r| r.errors == 0), "some requests failed: see the errors column");
}
