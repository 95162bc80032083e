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

/// The current time in Unix seconds where pages are rendered: the server's
/// clock. The browser bundle has no use for it (its islands show no relative
/// times) and gets 0.
pub fn now() -> i64 {
    #[cfg(feature = "ssr")]
    return bff::unix_now();
    #[cfg(not(feature = "ssr"))]
    0
}

/// The civil date and time of a Unix timestamp in UTC: (year, month, day, hour, minute, second).
fn civil(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
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
    let secs = unix.rem_euclid(86_400);
    (y, m, d, secs / 3600, secs / 60 % 60, secs % 60)
}

/// A Unix timestamp as `YYYY-MM-DD HH:MM UTC` (`—` for none).
pub fn when(unix: i64) -> String {
    if unix <= 0 {
        return "—".into();
    }
    let (y, m, d, h, min, _) = civil(unix);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02} UTC")
}

/// A Unix timestamp as RFC 3339 (`2026-11-18T11:06:40Z`), for `<time datetime>`.
pub fn iso(unix: i64) -> String {
    let (y, m, d, h, min, s) = civil(unix.max(0));
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z")
}

/// How long ago `then` was, seen at `now` (both Unix seconds): "just now",
/// "2 minutes ago", "5 hours ago", "3 days ago"; a date after a month. A time
/// in the future (clock skew) reads "just now"; no time at all reads "never".
pub fn relative(then: i64, now: i64) -> String {
    if then <= 0 {
        return "never".into();
    }
    let ago = now.saturating_sub(then);
    let plural = |n: i64, unit: &str| if n == 1 { format!("1 {unit} ago") } else { format!("{n} {unit}s ago") };
    match ago {
        i64::MIN..=44 => "just now".into(),
        45..=89 => "a minute ago".into(),
        90..=3_569 => plural((ago + 30) / 60, "minute"),
        3_570..=84_599 => plural((ago + 1_800) / 3_600, "hour"),
        // Days, not "yesterday": the server does not know the reader's calendar day.
        84_600..=2_591_999 => plural((ago + 1_800) / 86_400, "day"),
        _ => {
            let (y, m, d, ..) = civil(then);
            let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
                [usize::try_from(m - 1).unwrap_or_default().min(11)];
            format!("on {d} {month} {y}")
        }
    }
}

/// Up to two initials for an avatar: "Nia Okafor" → "NO", "Dr. Ada Lovelace"
/// → "AL" (a word ending in a full stop is a title), "nia.okafor@example.com" → "NO".
pub fn initials(name: &str) -> String {
    let words: Vec<&str> = match name.split_once('@') {
        Some((local, _)) => local.split(['.', '-', '_', '+']).collect(),
        None => name.split_whitespace().filter(|w| !(w.ends_with('.') && w.chars().count() <= 5)).collect(),
    };
    let letters: String = words
        .iter()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .take(2)
        .collect();
    if letters.is_empty() {
        "?".into()
    } else {
        letters
    }
}

/// ID-token claims that hold Unix times.
const TIME_CLAIMS: [&str; 6] = ["exp", "iat", "auth_time", "nbf", "rat", "updated_at"];

/// A claim's value for people: times as dates, everything else as it is.
pub fn claim_value(name: &str, value: &str) -> String {
    match value.parse::<i64>() {
        Ok(unix) if TIME_CLAIMS.contains(&name) => when(unix),
        _ => value.to_string(),
    }
}

/// How the user signed in, from the ID token's `amr` values (RFC 8176).
pub fn sign_in_method(amr: &[String]) -> Option<&'static str> {
    let has = |v: &str| amr.iter().any(|a| a == v);
    if has("hwk") || has("swk") {
        Some("Signed in with a passkey")
    } else if has("otp") {
        Some("Signed in with a one-time passcode")
    } else if has("pwd") {
        Some("Signed in with a password")
    } else if has("fed") {
        Some("Signed in through another provider")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{claim_value, device, initials, iso, relative, sign_in_method, when};

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

    #[test]
    fn relative_times_read_like_speech() {
        let now = 1_795_000_000;
        assert_eq!(relative(0, now), "never");
        assert_eq!(relative(now + 30, now), "just now", "clock skew");
        assert_eq!(relative(now - 10, now), "just now");
        assert_eq!(relative(now - 60, now), "a minute ago");
        assert_eq!(relative(now - 120, now), "2 minutes ago");
        assert_eq!(relative(now - 3_600, now), "1 hour ago");
        assert_eq!(relative(now - 5 * 3_600, now), "5 hours ago");
        assert_eq!(relative(now - 84_599, now), "23 hours ago");
        assert_eq!(relative(now - 84_600, now), "1 day ago", "never \"24 hours ago\"");
        assert_eq!(relative(now - 86_400, now), "1 day ago");
        assert_eq!(relative(now - 3 * 86_400, now), "3 days ago");
        assert_eq!(relative(1_700_000_000, now), "on 14 Nov 2023");
    }

    #[test]
    fn iso_times_and_readable_claims() {
        assert_eq!(iso(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(claim_value("auth_time", "1795000000"), "2026-11-18 11:06 UTC");
        assert_eq!(claim_value("sub", "1795000000"), "1795000000", "only time claims are dates");
        assert_eq!(claim_value("exp", "soon"), "soon");
    }

    #[test]
    fn initials_and_sign_in_methods() {
        assert_eq!(initials("Nia Okafor"), "NO");
        assert_eq!(initials("nia.okafor@example.com"), "NO");
        assert_eq!(initials("zoë"), "Z");
        assert_eq!(initials("  "), "?");
        assert_eq!(initials("Ana Maria Lopez"), "AM");
        assert_eq!(initials("Dr. Ada Lovelace"), "AL", "titles are skipped");
        assert_eq!(initials("ßen Öz"), "SS", "never more than two letters");
        let amr = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(sign_in_method(&amr(&["otp"])), Some("Signed in with a one-time passcode"));
        assert_eq!(sign_in_method(&amr(&["hwk", "user"])), Some("Signed in with a passkey"));
        assert_eq!(sign_in_method(&amr(&[])), None);
    }
}
