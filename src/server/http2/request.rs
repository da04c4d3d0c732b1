//! An HTTP/2 request's header block checked and turned into a method, path, query and
//! metadata (RFC 9113 section 8.2 and 8.3); no I/O.

use crate::http2::hpack::Header;
use crate::metadata::Metadata;

/// A request head from a decoded header block.
#[derive(Debug, Default)]
pub(super) struct Head {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Every regular header; `host` added from `:authority` when absent.
    pub metadata: Metadata,
}

/// Headers that are specific to one HTTP/1.1 connection and malformed in HTTP/2 (8.2.2).
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];

/// Checks a request's header block; `Err` is why it is malformed (the stream is reset with
/// PROTOCOL_ERROR).
pub(super) fn parse(headers: Vec<Header>) -> Result<Head, &'static str> {
    let mut head = Head {
        metadata: Metadata::with_capacity(headers.len()),
        ..Head::default()
    };
    let (mut method, mut scheme, mut path, mut authority) = (None, None, None, None);
    let mut regular = false;
    for Header { name, value, .. } in headers {
        if name.iter().any(|b| b.is_ascii_uppercase()) {
            return Err("an uppercase header name");
        }
        let value = String::from_utf8(value).map_err(|_| "a header value that is not UTF-8")?;
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err("a header value with CR, LF or NUL");
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular {
                return Err("a pseudo-header after a regular header");
            }
            let slot = match pseudo {
                b"method" => &mut method,
                b"scheme" => &mut scheme,
                b"path" => &mut path,
                b"authority" => &mut authority,
                _ => return Err("an unknown or response pseudo-header"),
            };
            if slot.replace(value).is_some() {
                return Err("a repeated pseudo-header");
            }
            continue;
        }
        regular = true;
        if CONNECTION_SPECIFIC.contains(&name.as_slice()) {
            return Err("a connection-specific header");
        }
        if name == b"te" && value != "trailers" {
            return Err("te other than trailers");
        }
        let name = String::from_utf8(name).map_err(|_| "a header name that is not UTF-8")?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a malformed header name");
        }
        head.metadata.append(&name, value);
    }
    head.method = method.ok_or("no :method")?;
    if head.method == "CONNECT" {
        return Err("CONNECT is not served");
    }
    let path = path.filter(|p| !p.is_empty()).ok_or("no :path")?;
    scheme.filter(|s| !s.is_empty()).ok_or("no :scheme")?;
    let (path, query) = path.split_once('?').unwrap_or((&path, ""));
    if !path.starts_with('/') {
        return Err(":path is not an absolute path");
    }
    (head.path, head.query) = (path.to_string(), query.to_string());
    if let Some(authority) = authority
        && !head.metadata.contains("host")
    {
        head.metadata.append("host", authority);
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(fields: &[(&str, &str)]) -> Vec<Header> {
        fields
            .iter()
            .map(|(n, v)| Header::new(n.as_bytes(), v.as_bytes()))
            .collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/Example.Call?x=1"),
            (":authority", "srv:9080"),
        ]
    }

    #[test]
    fn a_request_becomes_method_path_query_and_metadata_with_host() {
        let mut fields = base();
        fields.push(("content-type", "application/json"));
        fields.push(("te", "trailers"));
        let head = parse(block(&fields)).unwrap();
        assert_eq!(
            (head.method.as_str(), head.path.as_str(), head.query.as_str()),
            ("POST", "/Example.Call", "x=1")
        );
        assert_eq!(head.metadata.get("host"), Some("srv:9080"));
        assert_eq!(head.metadata.get("content-type"), Some("application/json"));
    }

    #[test]
    fn malformed_requests_are_refused_with_a_reason() {
        let cases: [(&[(&str, &str)], &str); 9] = [
            (&[("Content-Type", "x")], "uppercase"),
            (&[("connection", "keep-alive")], "connection-specific"),
            (&[("te", "gzip")], "te other"),
            (&[(":status", "200")], "unknown or response"),
            (&[(":path", "/again")], "repeated"),
            (&[("x-a", "1\r\nx-b: 2")], "CR, LF"),
            (&[("bad name", "v")], "malformed header name"),
            (&[("transfer-encoding", "chunked")], "connection-specific"),
            (&[("upgrade", "h2c")], "connection-specific"),
        ];
        for (extra, want) in cases {
            let mut fields = base();
            fields.extend_from_slice(extra);
            let err = parse(block(&fields)).unwrap_err();
            assert!(err.contains(want), "{extra:?}: {err}");
        }
        let late = [("x-a", "1"), (":method", "GET")];
        assert!(parse(block(&late)).unwrap_err().contains("after a regular"));
        assert!(
            parse(block(&[(":method", "GET"), (":scheme", "http")]))
                .unwrap_err()
                .contains(":path")
        );
        let connect = [(":method", "CONNECT"), (":authority", "x:1")];
        assert!(parse(block(&connect)).unwrap_err().contains("CONNECT"));
        let relative = [(":method", "GET"), (":scheme", "http"), (":path", "x")];
        assert!(parse(block(&relative)).unwrap_err().contains("absolute"));
    }
}
