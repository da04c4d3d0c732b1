//! Deadlines on a gRPC request (protocol.md section 9): `grpc-timeout` (at most 8 digits and a
//! unit), go-micro's `timeout` metadata (decimal nanoseconds), and the smaller of the two.

use std::time::Duration;

use crate::error::Error;

/// The largest `grpc-timeout` value: 8 digits.
const MAX_VALUE: u64 = 99_999_999;

/// The units, finest first: the character and its length in nanoseconds.
const UNITS: [(u8, u64); 6] = [
    (b'n', 1),
    (b'u', 1_000),
    (b'm', 1_000_000),
    (b'S', 1_000_000_000),
    (b'M', 60_000_000_000),
    (b'H', 3_600_000_000_000),
];

/// Parses a `grpc-timeout` value: 1 to 8 ASCII digits and one of `H M S m u n`, nothing else (no
/// sign, no space). `0n` (zero, as gRPC implementations send a spent budget) is zero. Anything
/// else is a 400 (`INVALID_ARGUMENT`).
pub fn parse(value: &str) -> Result<Duration, Error> {
    let bad = || {
        Error::bad_request(format!(
            "malformed grpc-timeout {value:?} (want 1-8 digits and H, M, S, m, u or n)"
        ))
    };
    let Some((&unit, digits)) = value.as_bytes().split_last() else {
        return Err(bad());
    };
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let nanos_per = UNITS.iter().find(|(u, _)| *u == unit).ok_or_else(bad)?.1;
    // At most 8 digits: the product (under 99,999,999 x 3.6e12 = 3.6e20) fits a u128, and the
    // seconds (at most 3.6e11) fit a Duration.
    let count = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    let nanos = u128::from(count) * u128::from(nanos_per);
    Ok(Duration::new(
        (nanos / 1_000_000_000) as u64,
        (nanos % 1_000_000_000) as u32,
    ))
}

/// Formats `budget` as a `grpc-timeout` value in the finest unit that fits 8 digits (as gRPC's
/// own clients do), rounding up: never to zero for a non-zero budget, and longer by less than
/// one unit, which is under 1e-5 of the budget. Zero is `0n`; budgets over `99999999H` (11,000
/// years) are sent as that.
pub fn format(budget: Duration) -> String {
    let nanos = budget.as_nanos();
    for (unit, nanos_per) in UNITS {
        let count = nanos.div_ceil(u128::from(nanos_per));
        if count <= u128::from(MAX_VALUE) {
            return format!("{count}{}", char::from(unit));
        }
    }
    format!("{MAX_VALUE}H")
}

/// Parses go-micro's `timeout` metadata (decimal nanoseconds): the same rule as the `Timeout`
/// header over HTTP, [`crate::metadata::parse_timeout`].
pub fn parse_micro(value: &str) -> Result<Duration, Error> {
    crate::metadata::parse_timeout(value)
}

/// The request's budget: the smaller of `grpc-timeout` and go-micro's `timeout` when both are
/// present, the one present otherwise, `None` with neither. A malformed value is an error even
/// when the other one is fine.
pub fn deadline(grpc_timeout: Option<&str>, timeout_ns: Option<&str>) -> Result<Option<Duration>, Error> {
    let grpc = grpc_timeout.map(parse).transpose()?;
    let micro = timeout_ns.map(parse_micro).transpose()?;
    Ok(match (grpc, micro) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses() {
        assert_eq!(parse("1H").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("2M").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("3S").unwrap(), Duration::from_secs(3));
        assert_eq!(parse("4m").unwrap(), Duration::from_millis(4));
        assert_eq!(parse("5u").unwrap(), Duration::from_micros(5));
        assert_eq!(parse("6n").unwrap(), Duration::from_nanos(6));
        assert_eq!(parse("00000100m").unwrap(), Duration::from_millis(100));
    }

    #[test]
    fn zero_is_a_spent_budget() {
        assert_eq!(parse("0n").unwrap(), Duration::ZERO);
        assert_eq!(parse("0H").unwrap(), Duration::ZERO);
    }

    #[test]
    fn the_largest_value_does_not_overflow() {
        assert_eq!(
            parse("99999999H").unwrap(),
            Duration::from_secs(99_999_999 * 3600)
        );
        assert_eq!(parse("99999999n").unwrap(), Duration::from_nanos(99_999_999));
    }

    #[test]
    fn malformed_values_are_refused_with_400() {
        for bad in [
            "",
            "S",
            "1",
            "123456789S",
            "1h",
            "1s",
            "1x",
            "-1S",
            "+1S",
            " 1S",
            "1S ",
            "1 S",
            "1.5S",
            "1SS",
            "１S",
            "0x1S",
        ] {
            assert_eq!(parse(bad).unwrap_err().status(), 400, "{bad:?}");
        }
    }

    #[test]
    fn format_picks_the_finest_unit_that_fits_eight_digits() {
        assert_eq!(format(Duration::ZERO), "0n");
        assert_eq!(format(Duration::from_nanos(1)), "1n");
        assert_eq!(format(Duration::from_nanos(99_999_999)), "99999999n");
        assert_eq!(format(Duration::from_millis(100)), "100000u");
        assert_eq!(format(Duration::from_secs(1)), "1000000u");
        assert_eq!(format(Duration::from_secs(100)), "100000m");
        assert_eq!(format(Duration::from_secs(3600 * 24)), "86400000m");
        assert_eq!(format(Duration::from_secs(200_000)), "200000S");
        assert_eq!(format(Duration::MAX), "99999999H");
    }

    #[test]
    fn format_rounds_up_and_never_to_zero() {
        assert_eq!(format(Duration::from_nanos(100_000_001)), "100001u");
        assert_eq!(format(Duration::from_nanos(100_000_000)), "100000u");
        let budget = Duration::new(123_456, 789);
        let sent = parse(&format(budget)).unwrap();
        assert_eq!(sent, Duration::from_secs(123_457));
        assert!(sent - budget < budget / 100_000, "{sent:?}");
    }

    #[test]
    fn format_then_parse_round_trips_what_fits() {
        for budget in [
            Duration::from_nanos(7),
            Duration::from_micros(4_980_000),
            Duration::from_secs(99_999_999),
        ] {
            assert_eq!(parse(&format(budget)).unwrap(), budget, "{budget:?}");
        }
    }

    #[test]
    fn deadline_is_the_smaller_of_those_present() {
        assert_eq!(deadline(None, None).unwrap(), None);
        assert_eq!(deadline(Some("2S"), None).unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(
            deadline(None, Some("1000")).unwrap(),
            Some(Duration::from_micros(1))
        );
        assert_eq!(
            deadline(Some("2S"), Some("1000000000")).unwrap(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            deadline(Some("1S"), Some("3000000000")).unwrap(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(deadline(Some("5S"), Some("0")).unwrap(), Some(Duration::ZERO));
    }

    #[test]
    fn deadline_refuses_either_malformed_value() {
        assert_eq!(deadline(Some("5s"), Some("1")).unwrap_err().status(), 400);
        assert_eq!(deadline(Some("5S"), Some("soon")).unwrap_err().status(), 400);
    }
}
