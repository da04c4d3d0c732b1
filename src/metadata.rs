//! Metadata: a small case-insensitive map of header names to values, and the one rule of which
//! headers a call forwards (protocol.md section 5), for every protocol.

/// Header-style key/value pairs, compared case-insensitively and stored with lowercase names.
///
/// A call sends each entry as a header; a server hands every incoming header to the handler
/// as metadata. Lookups are linear: requests carry a handful of headers, and a scan of a short
/// `Vec` beats hashing them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    entries: Vec<(String, String)>,
}

impl Metadata {
    /// An empty map.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Metadata {
        Metadata {
            entries: Vec::with_capacity(n),
        }
    }

    /// The first value stored under `key`, whatever its case.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value stored under `key`, in arrival order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`, replacing every earlier value.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.remove(key);
        self.append(key, value);
    }

    /// Adds a value under `key`, keeping earlier ones (repeated headers).
    pub fn append(&mut self, key: &str, value: impl Into<String>) {
        self.entries.push((key.to_ascii_lowercase(), value.into()));
    }

    /// Removes every value under `key`.
    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
    }

    /// The entries in arrival order, names lowercase.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: AsRef<str>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Metadata {
        let mut md = Metadata::new();
        for (k, v) in iter {
            md.append(k.as_ref(), v);
        }
        md
    }
}

/// Istio's trace headers: a context forwards these to its calls when present and non-empty
/// (protocol.md section 5).
pub const TRACE_HEADERS: [&str; 15] = [
    "x-request-id",
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-ot-span-context",
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "x-cloud-trace-context",
    "grpc-trace-bin",
];

/// Headers a context never forwards, even when a service opts in: recomputed or hop-by-hop.
pub const NEVER_FORWARDED: [&str; 10] = [
    "host",
    "content-length",
    "content-type",
    "timeout",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` may be forwarded at all (not in [`NEVER_FORWARDED`], not `proxy-*`).
pub fn forwardable(name: &str) -> bool {
    !NEVER_FORWARDED.iter().any(|n| n.eq_ignore_ascii_case(name))
        && !name.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("proxy-"))
}

/// Parses go-micro's `Timeout` (HTTP header or gRPC metadata): the caller's remaining budget
/// in decimal nanoseconds. Zero or negative means spent; a number too large for an `i64` is a
/// very long budget (a quarter of `u64::MAX` seconds, clear of any overflow); anything else is
/// a 400.
pub fn parse_timeout(value: &str) -> Result<std::time::Duration, crate::error::Error> {
    use std::time::Duration;
    let value = value.trim();
    match value.parse::<i64>() {
        Ok(ns) if ns <= 0 => Ok(Duration::ZERO),
        Ok(ns) => Ok(Duration::from_nanos(ns as u64)),
        Err(_) if value.parse::<u128>().is_ok() => Ok(Duration::from_secs(u64::MAX / 4)),
        Err(_) => Err(crate::error::Error::bad_request(format!(
            "malformed Timeout {value:?} (want nanoseconds)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::{Metadata, forwardable, parse_timeout};

    #[test]
    fn lookups_ignore_case() {
        let md: Metadata = [("X-Request-Id", "abc"), ("Content-Type", "application/json")]
            .into_iter()
            .collect();
        assert_eq!(md.get("x-request-id"), Some("abc"));
        assert_eq!(md.get("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(md.get("missing"), None);
        assert_eq!(md.iter().next(), Some(("x-request-id", "abc")));
    }

    #[test]
    fn insert_replaces_and_append_keeps() {
        let mut md = Metadata::new();
        md.append("B3", "1");
        md.append("b3", "2");
        assert_eq!(md.get_all("b3").collect::<Vec<_>>(), ["1", "2"]);
        md.insert("B3", "3");
        assert_eq!(md.get_all("b3").collect::<Vec<_>>(), ["3"]);
        md.remove("b3");
        assert!(md.is_empty());
    }

    #[test]
    fn timeout_is_nanoseconds_and_spent_at_zero() {
        use std::time::Duration;
        assert_eq!(
            parse_timeout("4980000000").unwrap(),
            Duration::from_nanos(4_980_000_000)
        );
        assert_eq!(parse_timeout(" 0 ").unwrap(), Duration::ZERO);
        assert_eq!(parse_timeout("-5").unwrap(), Duration::ZERO);
        assert!(parse_timeout("99999999999999999999999").unwrap() > Duration::from_secs(1 << 40));
        for bad in ["", "5s", "1.5", "0x10", "abc"] {
            assert_eq!(parse_timeout(bad).unwrap_err().status(), 400, "{bad:?}");
        }
    }

    #[test]
    fn hop_by_hop_and_recomputed_headers_are_never_forwarded() {
        assert!(forwardable("authorization") && forwardable("x-request-id"));
        for never in ["Host", "content-type", "TIMEOUT", "te", "Proxy-Authorization"] {
            assert!(!forwardable(never), "{never}");
        }
    }
}
