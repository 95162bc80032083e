//! Requests/s and latency of the app's hot paths, measured with `wrk` (one
//! thread, `BENCH_CONNECTIONS` kept-alive connections, `BENCH_SECONDS` per
//! case), each against the ceiling of a bare axum route measured just before
//! it, in `BENCH_SESSION_ROUNDS` rounds (default 3) over all the cases; each
//! row is the round with the median ratio, and the ceiling's row the median
//! of all the bare runs:
//!
//! - a bare axum 0.8 route answering `"Hello World"` JSON (the ceiling);
//! - `GET /healthz`;
//! - `POST /api/server_info`, a server function without a session;
//! - `POST /api/current_user` with a signed-in session, sessions in SQLite;
//! - the same with sessions in Redis (a throwaway `redis-server`);
//! - the same with users and sessions in PostgreSQL (a throwaway server,
//!   `GATEHOUSE_DATABASE_URL`);
//! - `GET /api/v1/me` with a Bearer access token (the JSON API);
//! - `GET /` signed in: the streamed home page over kept-alive connections.
//!
//! The apps sign in at the local provider running beside them (in memory).
//!
//!   scripts/bench session                        (or)
//!   cargo bench -p server --bench session --locked
//!
//! `BENCH_SESSION_CACHE_MS` overrides the session cache bound (0: off);
//! `BENCH_CASES=current_user,healthz` runs only the cases whose names
//! contain one of those words (for profiling one path).
//! Prints a table and one JSON line; never asserts a time (the benchmark
//! itself fails only when a case answers errors).
#![expect(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/common.rs"]
mod common;

use std::process::Command;
use std::sync::Arc;

use axum::routing::get;
use serde_json::{json, Value};

struct Case {
    name: &'static str,
    rps: f64,
    /// The bare route's requests/s measured just before this case.
    ceiling: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    errors: u64,
    /// The lowest and highest ratio over the rounds.
    range: (f64, f64),
    rounds: usize,
}

/// `12.5us`, `1.20ms`, `2.00s` in milliseconds.
fn millis(v: &str) -> f64 {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

/// Runs wrk against `url` with `lua` (method, headers, body) and reads its report.
fn wrk(name: &'static str, url: &str, lua: &str, secs: u64, connections: u64) -> Case {
    eprintln!("running: {name}");
    let script = common::temp_dir("wrk").join("case.lua");
    std::fs::write(&script, lua).unwrap();
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{secs}s"), "--latency", "-s"])
        .arg(&script)
        .arg(url)
        .output()
        .expect("wrk (Debian package `wrk`; scripts/bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    let field = |prefix: &str| {
        text.lines().find_map(|l| {
            l.trim().strip_prefix(prefix).map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
        })
    };
    let requests =
        text.lines().find_map(|l| l.split_once(" requests in ").and_then(|(n, _)| n.trim().parse().ok())).unwrap_or(0);
    let non_2xx: u64 = field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    let socket_errors: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .map(|l| l.split(',').filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    Case {
        name,
        ceiling: f64::NAN,
        rps: field("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or(0.0),
        p50_ms: field("50%").map(|v| millis(&v)).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(|v| millis(&v)).unwrap_or(f64::NAN),
        requests,
        errors: non_2xx + socket_errors,
        range: (f64::NAN, f64::NAN),
        rounds: 1,
    }
}

impl Case {
    fn ratio(&self) -> f64 {
        self.rps / self.ceiling.max(f64::MIN_POSITIVE)
    }
}

/// One case's turns as one row: the turn with the median ratio, the range of
/// all the ratios, and the errors of every turn (any error fails the run).
fn median_turn(mut turns: Vec<Case>) -> Case {
    turns.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    let range = (turns[0].ratio(), turns[turns.len() - 1].ratio());
    let errors = turns.iter().map(|t| t.errors).sum();
    let rounds = turns.len();
    // The lower middle for an even count: never the better of two.
    let mut median = turns.swap_remove((rounds - 1) / 2);
    median.range = range;
    median.errors = errors;
    median.rounds = rounds;
    median
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn lua(method: &str, headers: &[(&str, &str)]) -> String {
    let mut s = format!("wrk.method = \"{method}\"\nwrk.body = \"\"\n");
    for (k, v) in headers {
        s.push_str(&format!("wrk.headers[\"{k}\"] = \"{v}\"\n"));
    }
    s
}

/// An app signed in as `email`: its base URL and the session's `Cookie` header.
async fn signed_in_app(settings: server::config::Settings, email: &str) -> (String, String) {
    let app = common::spawn_app_with(settings).await;
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let browser = common::TestApp { base: app.base.clone(), client: common::browser_with_jar(jar.clone()) };
    common::signed_in(&browser, email).await;
    let cookie = reqwest::cookie::CookieStore::cookies(&*jar, &app.base.parse().unwrap())
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string();
    let me = common::current_user(&browser).await;
    assert_eq!(me["email"], email, "signed in before measuring: {me}");
    (app.base, cookie)
}

fn bench_settings(issuer: &str, addr: std::net::SocketAddr) -> server::config::Settings {
    let mut settings = common::bench_app_settings(issuer, addr);
    // `BENCH_SESSION_CACHE_MS=0` measures the store read on every request.
    settings.session_cache_ms = common::env_u64("BENCH_SESSION_CACHE_MS", settings.session_cache_ms);
    settings
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs = common::env_u64("BENCH_SECONDS", 8);
    let connections = common::env_u64("BENCH_CONNECTIONS", 16);

    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}/hello", bare.local_addr().unwrap());
    let hello = axum::Router::new().route("/hello", get(|| async { axum::Json(json!({ "message": "Hello World" })) }));
    tokio::spawn(async move { axum::serve(bare, hello).await });

    let sqlite_addr = std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let redis_addr = std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let pg_addr = std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let issuer = common::bench_provider(idp::keys::SigningAlg::RS256, None, &[sqlite_addr, redis_addr, pg_addr]).await;
    // SQLite sessions in a data directory, as deployed.
    let dir = common::temp_dir("bench-session");
    let mut sqlite = bench_settings(&issuer, sqlite_addr);
    sqlite.data_dir = Some(dir.clone());
    let (base, cookie) = signed_in_app(sqlite, "user@example.com").await;
    // An access token for the JSON API, as a native app gets one.
    let token = common::native_tokens(&issuer, "user@example.com", "openid settings:read", "gatehouse-api")
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Redis sessions against a throwaway redis-server.
    let redis = common::RedisServer::start().await;
    let mut with_redis = bench_settings(&issuer, redis_addr);
    with_redis.redis_url = Some(redis.url.clone().into());
    with_redis.token_keys =
        Some(bff::sealing::TokenKeys::parse(&bff::sealing::TokenKeys::generate_line("bench")).unwrap());
    let (redis_base, redis_cookie) = signed_in_app(with_redis, "user@example.com").await;
    // Users and sessions in a throwaway PostgreSQL.
    let pg = bff::testing::PgServer::start();
    let mut on_pg = bench_settings(&issuer, pg_addr);
    on_pg.database_url = Some(pg.create_database("bench").into());
    let (pg_base, pg_cookie) = signed_in_app(on_pg, "user@example.com").await;

    let server_fn = |cookie: Option<&str>, base: &str| {
        let mut h = vec![("Accept", "application/json"), ("Content-Type", "application/x-www-form-urlencoded")];
        h.push(("Origin", base));
        if let Some(c) = cookie {
            h.push(("Cookie", c));
        }
        lua("POST", &h)
    };
    println!(
        "hot paths: wrk -t1 -c{connections} -d{secs}s per case, {} CPUs (wrk and the server share them)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let get_json = lua("GET", &[("Accept", "application/json")]);
    // Each case right after a run of the bare route: the ceiling moves over
    // a run on a shared host (70k–95k req/s), so each ratio is to the
    // ceiling measured next to it.
    let targets: Vec<(&'static str, String, String)> = vec![
        ("GET /healthz", format!("{base}/healthz"), get_json.clone()),
        ("POST /api/server_info (no session)", format!("{base}/api/server_info"), server_fn(None, &base)),
        ("POST /api/current_user, SQLite session", format!("{base}/api/current_user"), server_fn(Some(&cookie), &base)),
        (
            "POST /api/current_user, Redis session",
            format!("{redis_base}/api/current_user"),
            server_fn(Some(&redis_cookie), &redis_base),
        ),
        (
            "POST /api/current_user, PostgreSQL session",
            format!("{pg_base}/api/current_user"),
            server_fn(Some(&pg_cookie), &pg_base),
        ),
        (
            "GET /api/v1/me (Bearer)",
            format!("{base}/api/v1/me"),
            lua("GET", &[("Accept", "application/json"), ("Authorization", &format!("Bearer {token}"))]),
        ),
        (
            "GET / signed in, kept alive (SQLite)",
            format!("{base}/"),
            lua("GET", &[("Accept", "text/html"), ("Cookie", &cookie)]),
        ),
    ];
    let only = std::env::var("BENCH_CASES").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|w| !w.is_empty() && name.contains(w.trim()));
    let targets: Vec<_> = targets.into_iter().filter(|(name, _, _)| wanted(name)).collect();
    assert!(!targets.is_empty(), "BENCH_CASES={only} matched no case");
    // Rounds over all the cases, so a slow minute of the shared host touches
    // one turn of each case, not all of one case's turns.
    let rounds = common::env_u64("BENCH_SESSION_ROUNDS", 3).max(1) as usize;
    let mut turns: Vec<Vec<Case>> = targets.iter().map(|_| Vec::new()).collect();
    let mut ceilings = Vec::new();
    for round in 1..=rounds {
        eprintln!("round {round} of {rounds}");
        for ((name, url, script), turns) in targets.iter().zip(&mut turns) {
            let bare = wrk("bare axum route (ceiling)", &bare_url, &get_json, secs, connections);
            let mut case = wrk(name, url, script, secs, connections);
            case.ceiling = bare.rps;
            ceilings.push(bare);
            turns.push(case);
        }
    }
    let measured = turns.into_iter().map(median_turn);
    // The ceiling's row: its median run (its ratio is 1 by definition).
    ceilings.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    let mut bare = ceilings.swap_remove(ceilings.len() / 2);
    bare.ceiling = bare.rps;
    bare.rounds = rounds;
    let cases: Vec<Case> = std::iter::once(bare).chain(measured).collect();
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "{:<42} {:>10} {:>8} {:>10} {:>9} {:>9} {:>8} {:>15}",
        "case", "requests", "errors", "req/s", "p50 ms", "p99 ms", "/ bare", "range"
    );
    for c in &cases {
        println!(
            "{:<42} {:>10} {:>8} {:>10.0} {:>9.2} {:>9.2} {:>7.3}× {:>15}",
            c.name,
            c.requests,
            c.errors,
            c.rps,
            c.p50_ms,
            c.p99_ms,
            c.ratio(),
            if c.range.0.is_nan() { String::new() } else { format!("{:.3}–{:.3}×", c.range.0, c.range.1) }
        );
    }
    let summary: Value = json!(cases
        .iter()
        .map(|c| json!({ "case": c.name, "rps": c.rps.round(), "p50_ms": c.p50_ms, "p99_ms": c.p99_ms,
            "errors": c.errors, "ceiling_rps": c.ceiling.round(), "ratio": round3(c.ratio()),
            "ratio_min": round3(c.range.0), "ratio_max": round3(c.range.1), "rounds": c.rounds }))
        .collect::<Vec<_>>());
    println!("json: {summary}");
    assert!(cases.iter().all(|c| c.errors == 0), "some requests failed: see the errors column");
}
