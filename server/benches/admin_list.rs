//! Latency of the identity list server function (`/api/admin_list_identities`)
//! over 10,000 identities, called over HTTP as the dashboard calls it: the app
//! checks the admin's session, fetches the page from the embedded provider's
//! Admin API with its machine token and answers JSON. Two apps share the
//! provider: one keeps its users and sessions in SQLite files, the other in a
//! throwaway PostgreSQL (`GATEHOUSE_DATABASE_URL`); each case runs on both.
//!
//!   scripts/bench                                  (or)
//!   cargo bench -p server --bench admin_list --locked
//!
//! `BENCH_IDENTITIES` (default 10000) and `BENCH_SAMPLES` (default 300) bound
//! the run. Prints p50 / p95 / p99 / max per case; never asserts a time.
#![expect(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{location, onboard, sign_in_as, spawn_app_with, TestApp};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn list(app: &TestApp, fields: &[(&str, &str)]) -> Duration {
    let t0 = Instant::now();
    let r = app
        .client
        .post(format!("{}/api/admin_list_identities", app.base))
        .header("accept", "application/json")
        .form(fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.bytes().await.unwrap();
    t0.elapsed()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run());
}

async fn signed_in_admin(app: &TestApp) {
    let r = sign_in_as(app, "admin@example.com", "/").await;
    if location(&r).starts_with("/onboarding") {
        onboard(app, "Bench Admin", "/").await;
    }
}

async fn run() {
    let identities = env_usize("BENCH_IDENTITIES", 10_000);
    let samples = env_usize("BENCH_SAMPLES", 300);
    let dir = common::temp_dir("bench-admin");
    let [sqlite_addr, pg_addr] =
        std::array::from_fn(|_| std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port())));
    let issuer = common::bench_provider(idp::keys::SigningAlg::RS256, None, &[sqlite_addr, pg_addr]).await;
    let provider = format!("{}/", issuer.trim_end_matches('/'));
    let admin = |mut s: server::config::Settings| {
        s.admin.emails = Some(vec!["admin@example.com".into()]);
        s.admin.api = Some(common::admin_api_at(&provider));
        s
    };
    let mut sqlite = admin(common::bench_app_settings(&issuer, sqlite_addr));
    sqlite.data_dir = Some(dir.clone());
    let app = spawn_app_with(sqlite).await;
    signed_in_admin(&app).await;
    let pg = bff::testing::PgServer::start();
    let mut on_pg = admin(common::bench_app_settings(&issuer, pg_addr));
    on_pg.database_url = Some(pg.create_database("bench").into());
    let pg_app = spawn_app_with(on_pg).await;
    signed_in_admin(&pg_app).await;
    let t0 = Instant::now();
    common::seed_identities(&provider, identities).await;
    println!("seeded {identities} identities in {:.1}s", t0.elapsed().as_secs_f64());

    let last_25 = (identities + 2).div_ceil(25).to_string();
    let last_100 = (identities + 2).div_ceil(100).to_string();
    let cases: [(&str, Vec<(&str, &str)>); 5] = [
        ("per_page=25, first page", vec![("per_page", "25")]),
        ("per_page=100, first page", vec![("per_page", "100")]),
        ("per_page=25, last page", vec![("per_page", "25"), ("page", &last_25)]),
        ("per_page=100, last page", vec![("per_page", "100"), ("page", &last_100)]),
        ("per_page=25, email filter", vec![("per_page", "25"), ("email", "bench-04242@example.com")]),
    ];
    println!("{samples} sequential calls per case and store, after 20 warm-up calls");
    println!("{:<28} {:<11} {:>9} {:>9} {:>9} {:>9}", "case", "app data", "p50 ms", "p95 ms", "p99 ms", "max ms");
    let mut json = Vec::new();
    for (name, fields) in &cases {
        for (store, app) in [("SQLite", &app), ("PostgreSQL", &pg_app)] {
            for _ in 0..20 {
                list(app, fields).await;
            }
            let mut times = Vec::with_capacity(samples);
            for _ in 0..samples {
                times.push(list(app, fields).await);
            }
            times.sort();
            let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
            println!(
                "{name:<28} {store:<11} {:>9} {:>9} {:>9} {:>9}",
                ms(at(0.5)),
                ms(at(0.95)),
                ms(at(0.99)),
                ms(at(1.0))
            );
            json.push(serde_json::json!({
                "case": name, "store": store, "samples": samples, "identities": identities,
                "p50_ms": at(0.5).as_secs_f64() * 1000.0, "p99_ms": at(0.99).as_secs_f64() * 1000.0,
            }));
        }
    }
    println!("json: {}", serde_json::Value::from(json));
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}
