//! The text exposition format 0.0.4: family headers, label escaping, exact decimals, histograms.
//!
//! Pure formatting into a `String`, shared by the server, client and process families. Every
//! number written is an integer or an exact decimal of one (microseconds, clock ticks): no float
//! formatting, so a given state renders to the same bytes everywhere.

use std::fmt::Write as _;
use std::time::Duration;

/// The histogram buckets' upper bounds in nanoseconds (0.5 ms to 10 s), `+Inf` excluded.
const BOUNDS_NS: [u64; 14] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// The number of histogram buckets, `+Inf` included (its index is `BUCKETS - 1`).
pub(super) const BUCKETS: usize = BOUNDS_NS.len() + 1;

/// The `le` label of each bucket, as the bounds above in seconds.
const LE: [&str; BUCKETS] = [
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "+Inf",
];

/// The bucket `d` falls in (its smallest bound >= `d`, as Prometheus' `le` says) and `d` in
/// whole microseconds, rounded to the nearest, for the histogram's sum.
///
/// The sum is kept in microseconds, not nanoseconds, so that a u64 cannot wrap: the sum grows by
/// the mean number of requests in flight per second (Little's law), and with a thousand long
/// streams open, nanoseconds would wrap within a year; microseconds take 500 years.
/// The bucket is chosen on the exact nanoseconds, so rounding never moves a request across a bound.
pub(super) fn measure(d: Duration) -> (usize, u64) {
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let bucket = BOUNDS_NS.partition_point(|&bound| bound < nanos);
    (bucket, nanos.saturating_add(500) / 1_000)
}

/// Writes the `# HELP` and `# TYPE` lines of a family. `help` is one of our constants: it holds
/// no backslash or newline, the two characters HELP text would need escaped.
pub(super) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    debug_assert!(!help.contains(['\\', '\n']), "HELP text needing escapes: {help}");
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Appends `value` as a label value: `\`, `"` and newline escaped, as the format requires.
pub(super) fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `name="value"` pairs joined by commas, values escaped: the inside of a sample's braces.
pub(super) fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape_into(&mut out, value);
        out.push('"');
    }
    out
}

/// Writes `value / 10^digits` as an exact decimal: `fixed(out, 1_234_567, 6)` is `1.234567`.
pub(super) fn fixed(out: &mut String, value: u64, digits: u32) {
    let scale = 10u64.pow(digits);
    let _ = write!(
        out,
        "{}.{:0width$}",
        value / scale,
        value % scale,
        width = digits as usize
    );
}

/// Writes one sample line: `name{labels} value`, or `name value` when `labels` is empty.
pub(super) fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// Writes one histogram series: its `_bucket` lines (cumulated here from the per-bucket counts),
/// then `_sum` (from microseconds) and `_count` (the `+Inf` bucket, so the two always agree).
pub(super) fn histogram(out: &mut String, name: &str, labels: &str, buckets: &[u64; BUCKETS], sum_us: u64) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0u64;
    for (le, count) in LE.iter().zip(buckets) {
        cumulative = cumulative.wrapping_add(*count);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
    }
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = write!(out, "{name}_sum{braces} ");
    fixed(out, sum_us, 6);
    let _ = writeln!(out, "\n{name}_count{braces} {cumulative}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_falls_in_the_smallest_bucket_at_or_above_it() {
        let ms = Duration::from_millis;
        assert_eq!(measure(Duration::ZERO), (0, 0));
        assert_eq!(measure(Duration::from_micros(500)), (0, 500), "le is inclusive");
        assert_eq!(
            measure(Duration::from_nanos(500_001)),
            (1, 500),
            "past the bound, not rounded back"
        );
        assert_eq!(measure(Duration::from_nanos(1_499)), (0, 1));
        assert_eq!(measure(Duration::from_nanos(1_500)), (0, 2));
        assert_eq!(measure(ms(7)), (4, 7_000));
        assert_eq!(measure(ms(10_000)), (13, 10_000_000));
        assert_eq!(measure(ms(10_001)), (14, 10_001_000));
        assert_eq!(measure(Duration::MAX).0, 14);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(labels(&[("a", "x"), ("b", r#"q"u\o"#)]), r#"a="x",b="q\"u\\o""#);
        assert_eq!(labels(&[("a", "two\nlines")]), r#"a="two\nlines""#);
        assert_eq!(labels(&[]), "");
    }

    #[test]
    fn decimals_are_exact() {
        let f = |v, d| {
            let mut s = String::new();
            fixed(&mut s, v, d);
            s
        };
        assert_eq!(f(0, 6), "0.000000");
        assert_eq!(f(1_234_567, 6), "1.234567");
        assert_eq!(f(12_345, 2), "123.45");
        assert_eq!(f(7, 2), "0.07");
    }

    #[test]
    fn a_histogram_is_cumulative_and_counts_its_inf_bucket() {
        let mut buckets = [0; BUCKETS];
        buckets[0] = 2;
        buckets[3] = 1;
        buckets[BUCKETS - 1] = 4;
        let mut out = String::new();
        histogram(&mut out, "h", "a=\"b\"", &buckets, 1_500_000);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "h_bucket{a=\"b\",le=\"0.0005\"} 2");
        assert_eq!(lines[2], "h_bucket{a=\"b\",le=\"0.0025\"} 2");
        assert_eq!(lines[3], "h_bucket{a=\"b\",le=\"0.005\"} 3");
        assert_eq!(lines[13], "h_bucket{a=\"b\",le=\"10\"} 3");
        assert_eq!(lines[14], "h_bucket{a=\"b\",le=\"+Inf\"} 7");
        assert_eq!(lines[15], "h_sum{a=\"b\"} 1.500000");
        assert_eq!(lines[16], "h_count{a=\"b\"} 7");
        assert_eq!(lines.len(), 17);

        let mut out = String::new();
        histogram(&mut out, "h", "", &[0; BUCKETS], 0);
        assert!(out.starts_with("h_bucket{le=\"0.0005\"} 0\n"), "{out}");
        assert!(out.ends_with("h_sum 0.000000\nh_count 0\n"), "{out}");
    }
}
