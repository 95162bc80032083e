//! How values are shown: dates and times, devices.

/// A browser's `User-Agent` as "Firefox on Linux" (or "Unknown device").
pub fn device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|u| !u.trim().is_empty()) else { return "Unknown device".into() };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_string(),
        (None, Some(o)) => format!("A browser on {o}"),
        (None, None) => ua.chars().take(60).collect(),
    }
}

/// A Unix timestamp as `YYYY-MM-DD HH:MM UTC` (`—` for none).
pub fn when(unix: i64) -> String {
    if unix <= 0 {
        return "—".into();
    }
    let days = unix / 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let secs = unix % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, secs / 60 % 60)
}

#[cfg(test)]
mod tests {
    use super::{device, when};

    #[test]
    fn devices_are_named_from_the_user_agent() {
        let chrome_linux =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(device(Some(chrome_linux)), "Chrome on Linux");
        let firefox_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 Firefox/121.0";
        assert_eq!(device(Some(firefox_mac)), "Firefox on macOS");
        let safari_iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Version/17.1 Mobile/15E148 Safari/604.1";
        assert_eq!(device(Some(safari_iphone)), "Safari on iOS");
        assert_eq!(
            device(Some("Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36 Edg/120.0")),
            "Edge on Windows"
        );
        assert_eq!(device(Some("curl/8.5.0")), "curl");
        assert_eq!(device(None), "Unknown device");
        assert_eq!(device(Some("  ")), "Unknown device");
    }

    #[test]
    fn timestamps_render_as_utc_dates() {
        assert_eq!(when(0), "—");
        assert_eq!(when(86_400 + 3_661), "1970-01-02 01:01 UTC");
        assert_eq!(when(1_795_000_000), "2026-11-18 11:06 UTC");
        assert_eq!(when(951_782_400), "2000-02-29 00:00 UTC");
    }
}
