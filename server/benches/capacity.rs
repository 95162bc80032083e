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
//!   sessions in one Redis and 1,000,000 (`BENCH_REDIS_FILL`) in another: the
//!   second holds one real session and byte-for-byte copies of every key it
//!   left (its record, its token row and their indexes, each copy under its
//!   own name with the same expiry), so it holds as many keys of the same
//!   size as that many sign-ins would leave. The two are measured in turns
//!   (`BENCH_REDIS_ROUNDS`, default 3) and compared by their medians, with
//!   the session cache on (as deployed) and off (a Redis read per request).
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

/// Copies of one real sign-in's keys (`keys`: every key it left) until
/// Redis holds `target` sessions: DUMP/RESTORE in batches, each copy under
/// its own name with the original's expiry.
fn fill_redis(redis: &common::RedisServer, keys: &[String], have: u64, target: u64) {
    let script = r#"
local dumps, ttls = {}, {}
for k = 1, #KEYS do
  dumps[k] = redis.call('DUMP', KEYS[k])
  local ttl = redis.call('PTTL', KEYS[k])
  if ttl < 0 then ttl = 0 end
  ttls[k] = ttl
end
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  for k = 1, #KEYS do
    redis.call('RESTORE', KEYS[k] .. ':copy' .. i, ttls[k], dumps[k], 'REPLACE')
  end
end
return 1"#;
    let mut from = have;
    while from < target {
        let to = (from + 50_000).min(target);
        let mut args = vec!["EVAL".to_string(), script.to_string(), keys.len().to_string()];
        args.extend(keys.iter().cloned());
        args.extend([from.to_string(), (to - 1).to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = redis.cli(&args);
        assert_eq!(out.trim(), "1", "fill: {out}");
        from = to;
    }
}

/// The middle value (the upper one of an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
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
    let [redis_addr, large_addr, uncached_small_addr, uncached_large_addr] =
        std::array::from_fn(|_| std::net::SocketAddr::from(([127, 0, 0, 1], common::free_port())));
    let idp_dir = dir.join("idp");
    let issuer = common::bench_provider(
        idp::keys::SigningAlg::ES256,
        Some(&idp_dir),
        &[sqlite_addr, redis_addr, large_addr, uncached_small_addr, uncached_large_addr],
    )
    .await;
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

    // Redis: bytes per session over real sign-ins into one server; another
    // server holds 1,000,000 sessions. The two are measured in turns, each
    // turn right after the other, and compared by their medians: with the
    // session cache on (as deployed), and off (every request reads its
    // record and token row from Redis).
    let redis = common::RedisServer::start().await;
    // One set of keys: the apps without the cache read the others' sessions.
    let keys = bff::sealing::TokenKeys::parse(&bff::sealing::TokenKeys::generate_line("bench")).unwrap();
    let redis_settings = |addr, redis: &common::RedisServer, cache_ms: Option<u64>| {
        let mut s = common::bench_app_settings(&issuer, addr);
        s.redis_url = Some(redis.url.clone().into());
        s.token_keys = Some(keys.clone());
        if let Some(ms) = cache_ms {
            s.session_cache_ms = ms;
        }
        s
    };
    let redis_app = common::spawn_app_with(redis_settings(redis_addr, &redis, None)).await;
    let mem_before = redis_used_memory(&redis);
    let keys_before = redis_keys(&redis);
    let redis_cookie = sign_ins(&redis_app.base, redis_sessions, users).await;
    let redis_per_session = (redis_used_memory(&redis) - mem_before) as f64 / redis_sessions as f64;
    let keys_per_session = (redis_keys(&redis) - keys_before) as f64 / redis_sessions as f64;
    let large = common::RedisServer::start().await;
    let large_app = common::spawn_app_with(redis_settings(large_addr, &large, None)).await;
    let large_cookie = sign_ins(&large_app.base, 1, users).await;
    // Every key its one real session left (the record, the token row, its indexes).
    let session_keys: Vec<String> =
        large.cli(&["--scan"]).lines().filter(|k| !k.trim().is_empty()).map(str::to_string).collect();
    assert!(!session_keys.is_empty(), "the sign-in left no key in Redis");
    let t = Instant::now();
    fill_redis(&large, &session_keys, 1, redis_fill);
    let fill_secs = t.elapsed().as_secs_f64();
    // The same two servers, read by apps without the session cache.
    let uncached_small = common::spawn_app_with(redis_settings(uncached_small_addr, &redis, Some(0))).await;
    let uncached_large = common::spawn_app_with(redis_settings(uncached_large_addr, &large, Some(0))).await;
    let rounds = common::env_u64("BENCH_REDIS_ROUNDS", 3).max(1);
    let (mut small, mut big, mut small_uncached, mut big_uncached) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        small.push(current_user_rps(&redis_app.base, &redis_cookie, secs));
        big.push(current_user_rps(&large_app.base, &large_cookie, secs));
        small_uncached.push(current_user_rps(&uncached_small.base, &redis_cookie, secs));
        big_uncached.push(current_user_rps(&uncached_large.base, &large_cookie, secs));
    }
    let (rps_small, rps_large) = (median(&mut small), median(&mut big));
    let (rps_small_uncached, rps_large_uncached) = (median(&mut small_uncached), median(&mut big_uncached));
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
    let change = |large: f64, small: f64| (large / small.max(f64::MIN_POSITIVE) - 1.0) * 100.0;
    println!("{:<58} {:>10.0} /s", format!("current_user, {redis_sessions} sessions in Redis"), rps_small);
    println!(
        "{:<58} {:>10.0} /s   ({:+.1} %; filled in {fill_secs:.0} s)",
        format!("current_user, {redis_fill} sessions in Redis"),
        rps_large,
        change(rps_large, rps_small)
    );
    println!(
        "{:<58} {:>10.0} /s",
        format!("current_user, {redis_sessions} in Redis, no session cache"),
        rps_small_uncached
    );
    println!(
        "{:<58} {:>10.0} /s   ({:+.1} %)",
        format!("current_user, {redis_fill} in Redis, no session cache"),
        rps_large_uncached,
        change(rps_large_uncached, rps_small_uncached)
    );
    println!("medians of {rounds} turns of {secs} s each, taken in turn: {small:?} {big:?} {small_uncached:?} {big_uncached:?}");
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
            "redis_small_uncached_rps": rps_small_uncached.round(),
            "redis_large_uncached_rps": rps_large_uncached.round(),
            "redis_rounds": rounds,
        })
    );
}
