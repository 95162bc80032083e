//! Full sign-ins per second: a scripted browser runs the whole journey — the
//! app's `/login`, the embedded provider's email and passcode steps (the
//! passcode read from its development mailbox), the callback with the code
//! exchange — `BENCH_SIGNINS` times (default 600), `BENCH_CONCURRENCY` at once
//! (default 8), each with fresh cookies, against the app and the local
//! provider (data in files; the provider's per-IP limits lifted, since every
//! sign-in comes from one address). Users exist beforehand, as returning users do.
//!
//!   scripts/bench signin                         (or)
//!   cargo bench -p server --bench signin --locked
//!
//! Prints the rate and p50/p99 per sign-in; never asserts a time.
#![expect(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/common.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One returning user's sign-in with fresh cookies; true when it ends signed in.
async fn one(base: &str, email: &str) -> bool {
    let app = common::TestApp { base: base.to_string(), client: common::browser() };
    let r = common::sign_in_as(&app, email, "/").await;
    r.status().is_redirection() && !common::location(&r).contains("error")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total = common::env_u64("BENCH_SIGNINS", 600);
    let concurrency = common::env_u64("BENCH_CONCURRENCY", 8);
    println!(
        "full sign-ins: {total} per signing algorithm, {concurrency} at once, {} CPUs",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    // `BENCH_SIGNING_ALGS=ES256` measures one algorithm only.
    let algs = std::env::var("BENCH_SIGNING_ALGS").unwrap_or_else(|_| "RS256,ES256".into());
    let mut failed = 0;
    for alg in [idp::keys::SigningAlg::RS256, idp::keys::SigningAlg::ES256] {
        if algs.split(',').any(|a| a.trim() == alg.as_str()) {
            failed += round(alg, total, concurrency).await;
        }
    }
    assert_eq!(failed, 0, "some sign-ins failed");
}

/// One measured round with the provider signing with `alg`; returns the failures.
async fn round(alg: idp::keys::SigningAlg, total: u64, concurrency: u64) -> u64 {
    let users = concurrency.max(1) * 4;

    let dir = common::temp_dir("bench-signin");
    // The local provider as in development, its data in a file, with per-IP
    // limits this one client cannot reach (every sign-in comes from 127.0.0.1).
    let app_addr = std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let idp_dir = dir.join("idp");
    let issuer = common::bench_provider(alg, Some(&idp_dir), &[app_addr]).await;
    let mut settings = common::external_to(common::test_settings(), &issuer);
    settings.data_dir = Some(dir.join("app"));
    settings.leptos.site_addr = app_addr;
    let app = common::spawn_app_with(settings).await;
    // Users exist at the provider and have finished onboarding in the app,
    // so each measured sign-in is a returning user's.
    common::seed_identities(&issuer, users as usize).await;
    for i in 0..users {
        let browser = common::TestApp { base: app.base.clone(), client: common::browser() };
        let r = common::sign_in_as(&browser, &common::bench_email(i), "/").await;
        if common::location(&r).starts_with("/onboarding") {
            assert!(common::onboard(&browser, "Bench", "/").await.status().is_redirection());
        }
    }
    // Warm-up.
    for i in 0..concurrency {
        assert!(one(&app.base, &common::bench_email(i)).await, "a sign-in before measuring");
    }

    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (base, next, failed) = (app.base.clone(), next.clone(), failed.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return lat;
                    }
                    let t = Instant::now();
                    if !one(&base, &common::bench_email(i % users)).await {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    lat.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut lat: Vec<Duration> = Vec::new();
    for w in workers {
        lat.extend(w.await.unwrap());
    }
    let elapsed = start.elapsed();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    let rate = lat.len() as f64 / elapsed.as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    let alg = alg.as_str();
    println!(
        "{alg}: {} in {:.1} s   rate {rate:.0}/s   p50 {:.1} ms   p99 {:.1} ms   failed {failed}   (goal ≥ 300/s)",
        lat.len(),
        elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
    println!(
        "json: {}",
        serde_json::json!({ "case": format!("full sign-in, provider {alg}"), "rate": rate.round(), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "failed": failed })
    );
    let _ = std::fs::remove_dir_all(&dir);
    failed
}
