//! How values are shown: dates and times.

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
    use super::when;

    #[test]
    fn timestamps_render_as_utc_dates() {
        assert_eq!(when(0), "—");
        assert_eq!(when(86_400 + 3_661), "1970-01-02 01:01 UTC");
        assert_eq!(when(1_795_000_000), "2026-11-18 11:06 UTC");
        assert_eq!(when(951_782_400), "2000-02-29 00:00 UTC");
    }
}
