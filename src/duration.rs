//! Go duration syntax (`500ms`, `5s`, `1m30s`), as go-micro's flags spell durations.

use std::time::Duration;

/// The longest duration a flag takes: every timeout and delay a user can type is at most a day
/// (a longer one is a typo, and one near `u64::MAX` seconds would overflow `Instant` arithmetic).
pub const MAX: Duration = Duration::from_secs(24 * 3600);

/// Parses a Go duration: a sequence of decimal numbers with units `ns`, `us` (`µs`), `ms`, `s`,
/// `m`, `h`, such as `300ms`, `1.5s` or `1h2m`; a bare `0` is zero. Negative values, and values
/// over [`MAX`], are refused.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?} (want e.g. 500ms, 5s, 1m30s)");
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > MAX.as_secs_f64() {
        return Err(format!("duration {text:?} is over the 24h limit"));
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// Formats a duration the Go way for help texts: `5s`, `500ms`, `1m0s`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 if d.is_zero() => "0s".into(),
        0 => format!("{}us", d.as_micros()),
        ms if ms % 1000 != 0 => format!("{ms}ms"),
        ms if ms < 60_000 => format!("{}s", ms / 1000),
        ms => format!("{}m{}s", ms / 60_000, ms % 60_000 / 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_spellings() {
        for (text, ms) in [
            ("500ms", 500),
            ("5s", 5000),
            ("1m", 60_000),
            ("1m30s", 90_000),
            ("1.5s", 1500),
        ] {
            assert_eq!(parse(text).unwrap(), Duration::from_millis(ms), "{text}");
        }
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse("10ns").unwrap(), Duration::from_nanos(10));
    }

    #[test]
    fn bad_durations() {
        for bad in ["", "5", "s", "-5s", "5x", "1..5s", "5 s", "1e3s"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_past_a_day_are_refused() {
        assert_eq!(parse("24h").unwrap(), MAX);
        for long in [
            "24h1s",
            "25h",
            "3000000000000000h",
            "99999999999999999999999999999999s",
        ] {
            let err = parse(long).unwrap_err();
            assert!(err.contains("over the 24h limit"), "{long}: {err}");
        }
    }

    #[test]
    fn formats_for_help() {
        assert_eq!(format(Duration::from_secs(5)), "5s");
        assert_eq!(format(Duration::from_millis(500)), "500ms");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::ZERO), "0s");
    }
}
