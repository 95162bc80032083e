//! Writes the results of one `scripts/bench` run into `docs/benchmarks.md`
//! (between `<!-- results:begin -->` and `<!-- results:end -->`; the rest of
//! the page is prose kept by hand) and draws `docs/benchmarks.svg`.
//!
//!   cargo run --release -p server --example bench_report -- <logs dir> <site pkg dir> <benchmarks.md> <chart.svg>
//!
//! The logs are each benchmark's output (`session.txt`, `signin.txt`,
//! `capacity.txt`, `hydration.txt`), whose `json:` lines carry the figures;
//! the bundle's sizes are read from the built files and their precompressed
//! `.gz` / `.br` copies. A benchmark that did not run leaves its rows out.
#![expect(clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Every `json:` value in `file` (an array's items one by one).
fn json_lines(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(raw) = line.trim().strip_prefix("json: ") else { continue };
        match serde_json::from_str::<Value>(raw) {
            Ok(Value::Array(items)) => out.extend(items),
            Ok(v) => out.push(v),
            Err(e) => eprintln!("bench_report: {}: an unreadable json line ({e}): {raw}", file.display()),
        }
    }
    out
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `12345.6` as `12,346`.
fn thousands(n: f64) -> String {
    if !n.is_finite() {
        return "–".into();
    }
    let digits = format!("{:.0}", n.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0.0 {
        out.insert(0, '-');
    }
    out
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

struct Row {
    figure: String,
    value: String,
    goal: String,
}

fn row(figure: impl Into<String>, value: impl Into<String>, goal: impl Into<String>) -> Row {
    Row { figure: figure.into(), value: value.into(), goal: goal.into() }
}

/// Raw, gzip and brotli bytes of the release bundle's `.wasm` and `.js` files
/// (the ones `target/release/hash.txt` names, when the site also holds a
/// debug build's bundle).
fn bundle(pkg: &Path) -> Option<[(u64, u64, u64); 2]> {
    let hashes = std::fs::read_to_string(pkg.join("../../release/hash.txt")).unwrap_or_default();
    let named: Vec<&str> = hashes.lines().filter_map(|l| l.split_once(':')).map(|(_, h)| h.trim()).collect();
    let mut sizes = [(0, 0, 0); 2];
    let mut found = false;
    for entry in std::fs::read_dir(pkg).ok()?.flatten() {
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !named.is_empty() && !named.iter().any(|h| name.contains(&format!(".{h}."))) {
            continue;
        }
        let slot = match path.extension().and_then(|e| e.to_str()) {
            Some("wasm") => 0,
            Some("js") => 1,
            _ => continue,
        };
        let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let with = |ext: &str| {
            let mut p = path.clone().into_os_string();
            p.push(ext);
            PathBuf::from(p)
        };
        sizes[slot].0 += size(path.clone());
        sizes[slot].1 += size(with(".gz"));
        sizes[slot].2 += size(with(".br"));
        found = true;
    }
    found.then_some(sizes)
}

/// A horizontal bar chart of requests/s, with a mark at half the ceiling.
fn chart(bars: &[(String, f64)], ceiling: f64, subtitle: &str) -> String {
    let (label_w, bar_w, row_h, top) = (330.0, 470.0, 28.0, 58.0);
    let width = label_w + bar_w + 110.0;
    let height = top + row_h * bars.len() as f64 + 40.0;
    let max = bars.iter().map(|(_, v)| *v).fold(ceiling, f64::max).max(1.0);
    let x = |v: f64| label_w + bar_w * v / max;
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="16" y="24" font-size="16" font-weight="600" fill="#111827">Requests per second, one run</text>
<text x="16" y="44" fill="#4b5563">{}</text>
"##,
        esc(subtitle)
    );
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = top + row_h * i as f64;
        let fill = if i == 0 { "#9ca3af" } else { "#2563eb" };
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end" fill="#111827">{}</text>
<rect x="{label_w}" y="{}" width="{:.1}" height="{}" fill="{fill}"/>
<text x="{:.1}" y="{}" fill="#111827">{}</text>
"##,
            label_w - 8.0,
            y + 17.0,
            esc(label),
            y + 4.0,
            (x(*value) - label_w).max(1.0),
            row_h - 8.0,
            x(*value) + 6.0,
            y + 17.0,
            thousands(*value)
        );
    }
    let half = x(ceiling / 2.0);
    let bottom = top + row_h * bars.len() as f64;
    let _ = write!(
        svg,
        r##"<line x1="{half:.1}" y1="{}" x2="{half:.1}" y2="{}" stroke="#dc2626" stroke-dasharray="4 3"/>
<text x="{half:.1}" y="{}" text-anchor="middle" fill="#dc2626">0.5 × bare axum</text>
</svg>
"##,
        top - 4.0,
        bottom,
        bottom + 18.0
    );
    svg
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [logs, pkg, doc, svg_path] = args.as_slice() else {
        eprintln!("usage: bench_report <logs dir> <site pkg dir> <benchmarks.md> <chart.svg>");
        std::process::exit(2);
    };
    let session = json_lines(&logs.join("session.txt"));
    let signin = json_lines(&logs.join("signin.txt"));
    let capacity = json_lines(&logs.join("capacity.txt"));
    let hydration = json_lines(&logs.join("hydration.txt"));
    let admin = json_lines(&logs.join("admin.txt"));
    let about = std::fs::read_to_string(logs.join("about.txt")).unwrap_or_default();

    let mut rows = Vec::new();
    let ceiling = session.first().map(|c| num(c, "rps")).unwrap_or(f64::NAN);
    for c in &session {
        let name = text(c, "case");
        // The goal is the Performance issue's (SQLite, Redis, the JSON API); PostgreSQL is shown beside them.
        let goal = if (name.starts_with("POST /api/current_user") && !name.contains("PostgreSQL"))
            || name.starts_with("GET /api/v1/me")
        {
            "≥ 0.5 × bare"
        } else {
            ""
        };
        rows.push(row(
            format!("{name}: req/s (p50, p99)"),
            format!(
                "{} ({:.2} ms, {:.2} ms) = {:.3} × bare ({} just before){}",
                thousands(num(c, "rps")),
                num(c, "p50_ms"),
                num(c, "p99_ms"),
                num(c, "ratio"),
                thousands(num(c, "ceiling_rps")),
                // The ceiling's own row has no range.
                if c.get("ratio_min").is_some_and(|r| r.is_number()) && num(c, "rounds") > 1.0 {
                    format!(
                        "; median of {} rounds, {:.3}–{:.3} ×",
                        num(c, "rounds"),
                        num(c, "ratio_min"),
                        num(c, "ratio_max")
                    )
                } else {
                    String::new()
                }
            ),
            goal,
        ));
    }
    for c in &admin {
        rows.push(row(
            format!(
                "admin list over {} identities, {}, app data in {}: p50, p99 of {}",
                thousands(num(c, "identities")),
                text(c, "case"),
                text(c, "store"),
                num(c, "samples")
            ),
            format!("{:.2} ms, {:.2} ms", num(c, "p50_ms"), num(c, "p99_ms")),
            "",
        ));
    }
    for c in &signin {
        rows.push(row(
            format!("{}: sign-ins/s (p50, p99)", text(c, "case")),
            format!("{} ({:.1} ms, {:.1} ms)", thousands(num(c, "rate")), num(c, "p50_ms"), num(c, "p99_ms")),
            "≥ 300/s",
        ));
    }
    if let Some([wasm, js]) = bundle(pkg) {
        let kb = |(raw, gz, br): (u64, u64, u64)| {
            format!("{} / {} / {} B", thousands(raw as f64), thousands(gz as f64), thousands(br as f64))
        };
        rows.push(row("bundle WASM raw / gzip / brotli", kb(wasm), ""));
        rows.push(row("bundle JS raw / gzip / brotli", kb(js), ""));
        rows.push(row(
            "bundle WASM + JS, brotli",
            format!("{} B", thousands((wasm.2 + js.2) as f64)),
            "≤ 200,000 B (checked by the tests)",
        ));
    }
    for c in &hydration {
        rows.push(row(
            format!("{} (p50, p95 of {})", text(c, "case"), num(c, "runs")),
            format!("{:.1} ms, {:.1} ms", num(c, "p50_ms"), num(c, "p95_ms")),
            "",
        ));
    }
    if let Some(c) = capacity.first() {
        let sessions = num(c, "sessions");
        rows.push(row("process RSS, idle (app + local provider + client)", mib(num(c, "rss_idle_bytes")), ""));
        rows.push(row(
            format!("process RSS after {} sign-ins (peak)", thousands(sessions)),
            format!("{} ({})", mib(num(c, "rss_after_bytes")), mib(num(c, "rss_peak_bytes"))),
            "",
        ));
        rows.push(row(
            "bytes per session, SQLite (record + token row)",
            format!("{} B", thousands(num(c, "sqlite_bytes_per_session"))),
            "",
        ));
        rows.push(row(
            format!("bytes per session, Redis ({:.1} keys each)", num(c, "redis_keys_per_session")),
            format!("{} B", thousands(num(c, "redis_bytes_per_session"))),
            "",
        ));
        let turns = num(c, "redis_rounds");
        for (what, small, large) in [
            ("", "redis_small_rps", "redis_large_rps"),
            (", no session cache", "redis_small_uncached_rps", "redis_large_uncached_rps"),
        ] {
            let (small, large) = (num(c, small), num(c, large));
            if small.is_nan() || small <= 0.0 {
                continue;
            }
            rows.push(row(
                format!(
                    "current_user req/s, {} vs {} sessions in Redis{what} (medians of {} turns)",
                    thousands(num(c, "redis_small_sessions")),
                    thousands(num(c, "redis_large_sessions")),
                    turns.max(1.0)
                ),
                format!("{} vs {} ({:+.1} %)", thousands(small), thousands(large), (large / small - 1.0) * 100.0),
                "within 10 %",
            ));
        }
    }

    let mut block =
        String::from("<!-- results:begin (written by scripts/bench; edit the prose around it, not this) -->\n");
    let _ = writeln!(block, "{}\n", about.trim());
    block.push_str("![Requests per second of each hot path, one run](benchmarks.svg)\n\n");
    block.push_str("| figure | value | goal |\n|---|---|---|\n");
    for r in &rows {
        let _ = writeln!(block, "| {} | {} | {} |", r.figure, r.value, r.goal);
    }
    block.push_str("<!-- results:end -->");

    let page = std::fs::read_to_string(doc).unwrap_or_default();
    let updated = match (page.find("<!-- results:begin"), page.find("<!-- results:end -->")) {
        (Some(b), Some(e)) if b < e => format!("{}{block}{}", &page[..b], &page[e + "<!-- results:end -->".len()..]),
        _ => {
            eprintln!("bench_report: {} has no results markers; nothing written", doc.display());
            std::process::exit(1);
        }
    };
    if let Err(e) = std::fs::write(doc, updated) {
        eprintln!("bench_report: cannot write {}: {e}", doc.display());
        std::process::exit(1);
    }
    let bars: Vec<(String, f64)> = session.iter().map(|c| (text(c, "case").to_string(), num(c, "rps"))).collect();
    if !bars.is_empty() {
        let subtitle = about.lines().next().unwrap_or("").trim_start_matches("Run: ").to_string();
        if let Err(e) = std::fs::write(svg_path, chart(&bars, ceiling, &subtitle)) {
            eprintln!("bench_report: cannot write {}: {e}", svg_path.display());
            std::process::exit(1);
        }
    }
    println!("bench_report: {} figures written to {} and {}", rows.len(), doc.display(), svg_path.display());
}
