//! What sessions cost at scale, every session made by a full scripted sign-in
//! (the app's `/login`, the local provider's email and passcode steps, the
//! callback), as in `signin.rs`:
//!
//! - the resident memory (RSS) of the process — the app, its embedded-style
//!   local provider and this benchmark's client — idle, and after
//!   `BENCH_CAPACITY_SESSIONS` sign-ins (default 100,000);
//! - bytes per session in SQLite (the session database's pages) and in Redis
//!   (`used_memory`), each from its growth over the sign-ins;
//! - `current_user` requests/s with `BENCH_REDIS_SESSIONS` (default 10,000)
//!   sessions in Redis and again with 1,000,000 (`BENCH_REDIS_FILL`): the
//!   missing ones are byte-for-byte copies of a real session's keys (its
//!   record and its token row, each copy under its own key with the same
//!   expiry), so Redis holds as many keys of the same size as that many
//!   sign-ins would leave.
//!
//!   scripts/bench capacity                       (or)
//!   cargo bench -p server --bench capacity --locked
//!
//! Prints a table and `json:` lines; never asserts a time.
#![expect(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/common.rs"]
mod common;

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// This process's resident and peak memory, in bytes.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

/// `n` full sign-ins against `base`, 8 at once, over `users` returning users;
/// returns the last one's `Cookie` header.
async fn sign_ins(base: &str, n: u64, users: u64) -> String {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (base, next) = (base.to_string(), next.clone());
            tokio::spawn(async move {
                let mut cookie = String::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return cookie;
                    }
                    let jar = Arc::new(reqwest::cookie::Jar::default());
                    let app = common::TestApp { base: base.clone(), client: common::browser_with_jar(jar.clone()) };
                    let r = common::sign_in_as(&app, &common::bench_email(i % users), "/").await;
                    assert!(r.status().is_redirection() && !common::location(&r).contains("error"), "sign-in {i}");
                    cookie = reqwest::cookie::CookieStore::cookies(&*jar, &base.parse().unwrap())
                        .and_then(|c| c.to_str().ok().map(str::to_string))
                        .unwrap_or_default();
                    if i > 0 && i % 10_000 == 0 {
                        eprintln!("  {i} sign-ins in {:.0} s", start.elapsed().as_secs_f64());
                    }
                }
            })
        })
        .collect();
    let mut last = String::new();
    for w in workers {
        let c = w.await.unwrap();
        if !c.is_empty() {
            last = c;
        }
    }
    last
}

/// The session database's size in bytes (pages in use, the WAL included).
async fn sqlite_bytes(path: &std::path::Path) -> i64 {
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    let (bytes,): (i64,) = sqlx::query_as(
        "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    bytes
}

fn redis_used_memory(redis: &common::RedisServer) -> i64 {
    redis
        .cli(&["INFO", "memory"])
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn redis_keys(redis: &common::RedisServer) -> u64 {
    redis.cli(&["DBSIZE"]).trim().parse().unwrap_or(0)
}

/// Copies of one real sign-in's keys until Redis holds `target` sessions:
/// its session record and its token row, each copied (`DUMP`/`RESTORE`, the
/// same bytes and expiry) under a new key, in batches.
fn fill_redis(redis: &common::RedisServer, record_key: &str, row_key: &str, have: u64, target: u64) {
    let script = r#"
local rec, row = redis.call('DUMP', KEYS[1]), redis.call('DUMP', KEYS[2])
local rec_ttl, row_ttl = redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2])
if rec_ttl < 0 then rec_ttl = 0 end
if row_ttl < 0 then row_ttl = 0 end
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  redis.call('RESTORE', 'copy:' .. i, rec_ttl, rec, 'REPLACE')
  redis.call('RESTORE', 'gatehouse:tok:copy' .. i, row_ttl, row, 'REPLACE')
end
return 1"#;
    let mut from = have;
    while from < target {
        let to = (from + 50_000).min(target);
        let out = redis.cli(&["EVAL", script, "2", record_key, row_key, &from.to_string(), &(to - 1).to_string()]);
        assert_eq!(out.trim(), "1", "fill: {out}");
        from = to;
    }
}

/// `current_user` with `cookie` under wrk: requests/s.
fn current_user_rps(base: &str, cookie: &str, secs: u64) -> f64 {
    let script = common::temp_dir("wrk-capacity").join("case.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = \"\"\nwrk.headers[\"Accept\"] = \"application/json\"\n\
wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\nwrk.headers[\"Origin\"] = \"{base}\"\n\
wrk.headers[\"Cookie\"] = \"{cookie}\"\n"
        ),
    )
    .unwrap();
    let out = Command::new("wrk")
        .args(["-t1", "-c16", &format!("-d{secs}s"), "-s"])
        .arg(&script)
        .arg(format!("{base}/api/current_user"))
        .output()
        .expect("wrk (Debian package `wrk`; scripts/bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("Non-2xx"), "current_user failed under load: {text}");
    text.lines().find_map(|l| l.trim().strip_prefix("Requests/sec:")?.trim().parse().ok()).unwrap_or(0.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sessions = common::env_u64("BENCH_CAPACITY_SESSIONS", 100_000);
    let redis_sessions = common::env_u64("BENCH_REDIS_SESSIONS", 10_000);
    let redis_fill = common::env_u64("BENCH_REDIS_FILL", 1_000_000);
    let secs = common::env_u64("BENCH_SECONDS", 8);
    let users = 1_000u64;
    println!(
        "capacity: {sessions} sign-ins into SQLite, {redis_sessions} into Redis then {redis_fill} sessions there; {} CPUs",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    let dir = common::temp_dir("bench-capacity");
    let sqlite_addr = std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let redis_addr = std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let idp_dir = dir.join("idp");
    let issuer = common::bench_provider(idp::keys::SigningAlg::ES256, Some(&idp_dir), &[sqlite_addr, redis_addr]).await;
    common::seed_identities(&issuer, users as usize).await;

    // SQLite: the process idle with one session, then after the sign-ins.
    let mut sqlite = common::bench_app_settings(&issuer, sqlite_addr);
    sqlite.data_dir = Some(dir.join("app"));
    let app = common::spawn_app_with(sqlite).await;
    let cookie = sign_ins(&app.base, 8, users).await;
    assert!(current_user_rps(&app.base, &cookie, 1) > 0.0);
    let db = dir.join("app/sessions.sqlite3");
    let (rss_idle, _) = rss();
    let db_before = sqlite_bytes(&db).await;
    let start = Instant::now();
    let cookie = sign_ins(&app.base, sessions, users).await;
    let signin_secs = start.elapsed().as_secs_f64();
    // Past the cache bound, with a request so the caches sweep what expired.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(current_user_rps(&app.base, &cookie, 1) > 0.0);
    let (rss_after, rss_peak) = rss();
    let sqlite_per_session = (sqlite_bytes(&db).await - db_before) as f64 / sessions as f64;

    // Redis: bytes per session over real sign-ins, then current_user at 10k and at 1M sessions.
    let redis = common::RedisServer::start().await;
    let mut with_redis = common::bench_app_settings(&issuer, redis_addr);
    with_redis.redis_url = Some(redis.url.clone());
    with_redis.token_keys =
        Some(bff::sealing::TokenKeys::parse(&bff::sealing::TokenKeys::generate_line("bench")).unwrap());
    let redis_app = common::spawn_app_with(with_redis).await;
    let mem_before = redis_used_memory(&redis);
    let keys_before = redis_keys(&redis);
    let redis_cookie = sign_ins(&redis_app.base, redis_sessions, users).await;
    let redis_per_session = (redis_used_memory(&redis) - mem_before) as f64 / redis_sessions as f64;
    let keys_per_session = (redis_keys(&redis) - keys_before) as f64 / redis_sessions as f64;
    let rps_small = current_user_rps(&redis_app.base, &redis_cookie, secs);
    // One real session's two keys: its record (the only key without our
    // prefix) and its token row.
    let all = redis.cli(&["--scan"]);
    let of_type = |kind: &str, prefix: &str| {
        all.lines()
            .filter(|k| !k.is_empty() && k.starts_with(prefix))
            .find(|k| redis.cli(&["TYPE", k]).trim() == kind)
            .map(str::to_string)
            .unwrap_or_else(|| {
                panic!("no {kind} key among {} keys: {}", all.lines().count(), &all[..all.len().min(500)])
            })
    };
    let record_key = of_type("string", "");
    let row_key = of_type("hash", "gatehouse:tok:");
    let t = Instant::now();
    fill_redis(&redis, &record_key, &row_key, redis_sessions, redis_fill);
    let fill_secs = t.elapsed().as_secs_f64();
    let rps_large = current_user_rps(&redis_app.base, &redis_cookie, secs);
    let _ = std::fs::remove_dir_all(&dir);

    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("{:<58} {:>14}", "figure", "value");
    println!("{:<58} {:>10.1} MiB", "process RSS idle (one session)", mib(rss_idle));
    println!(
        "{:<58} {:>10.1} MiB",
        format!("process RSS after {sessions} sign-ins ({signin_secs:.0} s)"),
        mib(rss_after)
    );
    println!("{:<58} {:>10.1} MiB", "process peak RSS", mib(rss_peak));
    println!("{:<58} {:>10.0} B", "SQLite bytes per session (record + token row)", sqlite_per_session);
    println!(
        "{:<58} {:>10.0} B",
        format!("Redis bytes per session ({keys_per_session:.1} keys each)"),
        redis_per_session
    );
    println!("{:<58} {:>10.0} /s", format!("current_user, {redis_sessions} sessions in Redis"), rps_small);
    println!(
        "{:<58} {:>10.0} /s   ({:+.1} %; filled in {fill_secs:.0} s)",
        format!("current_user, {redis_fill} sessions in Redis"),
        rps_large,
        (rps_large / rps_small.max(f64::MIN_POSITIVE) - 1.0) * 100.0
    );
    println!(
        "json: {}",
        serde_json::json!({
            "sessions": sessions,
            "rss_idle_bytes": rss_idle,
            "rss_after_bytes": rss_after,
            "rss_peak_bytes": rss_peak,
            "sqlite_bytes_per_session": sqlite_per_session.round(),
            "redis_bytes_per_session": redis_per_session.round(),
            "redis_keys_per_session": keys_per_session,
            "redis_small_sessions": redis_sessions,
            "redis_small_rps": rps_small.round(),
            "redis_large_sessions": redis_fill,
            "redis_large_rps": rps_large.round(),
        })
    );
}
