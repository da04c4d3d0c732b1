//! Request-head parsing: httparse plus the HTTP/1.1 framing rules (RFC 9112 section 6).

use crate::metadata::Metadata;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Head {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Metadata,
    pub framing: Framing,
    /// Whether the connection may serve another request after this one.
    pub keep_alive: bool,
    /// HTTP/1.0 (answers must say `Connection: keep-alive` to keep the connection).
    pub http10: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// Bytes of the buffer the head took.
    pub len: usize,
}

/// A head the server refuses; the connection is closed after the error is sent.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reject {
    pub status: u16,
    pub detail: String,
}

fn reject(status: u16, detail: impl Into<String>) -> Reject {
    Reject {
        status,
        detail: detail.into(),
    }
}

/// Parses a head from the start of `buf`: `Ok(None)` when more bytes are needed.
pub(crate) fn parse(buf: &[u8], max_headers: usize) -> Result<Option<Head>, Reject> {
    let mut stack = [httparse::EMPTY_HEADER; 100];
    let mut heap;
    let slots: &mut [httparse::Header<'_>] = if max_headers <= stack.len() {
        &mut stack[..max_headers]
    } else {
        heap = vec![httparse::EMPTY_HEADER; max_headers];
        &mut heap
    };
    let mut req = httparse::Request::new(slots);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(reject(431, format!("more than {max_headers} header fields")));
        }
        Err(httparse::Error::Version) => return Err(reject(505, "only HTTP/1.0 and HTTP/1.1 are served")),
        Err(e) => return Err(reject(400, format!("malformed request head: {e}"))),
    };
    let http10 = req.version == Some(0);
    let (method, target) = (req.method.unwrap_or(""), req.path.unwrap_or(""));
    let (path, query) = split_target(target)?;

    let mut headers = Metadata::with_capacity(req.headers.len());
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_length(&value)?;
            if length.is_some_and(|old| old != n) {
                return Err(reject(400, "conflicting Content-Length headers"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if chunked {
                    return Err(reject(400, "chunked must be the last transfer coding"));
                }
                if !coding.eq_ignore_ascii_case("chunked") {
                    return Err(reject(
                        501,
                        format!("transfer coding {coding:?} is not supported"),
                    ));
                }
                chunked = true;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive_token |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if !value.trim().eq_ignore_ascii_case("100-continue") {
                return Err(reject(417, format!("unsupported expectation {value:?}")));
            }
            expect_continue = !http10;
        }
        headers.append(name, value);
    }
    let framing = match (transfer_encoding, length) {
        (true, Some(_)) => return Err(reject(400, "both Content-Length and Transfer-Encoding")),
        (true, None) if http10 => return Err(reject(400, "Transfer-Encoding in an HTTP/1.0 request")),
        (true, None) if !chunked => return Err(reject(400, "empty Transfer-Encoding")),
        (true, None) => Framing::Chunked,
        (false, Some(0)) | (false, None) => Framing::Empty,
        (false, Some(n)) => Framing::Length(n),
    };
    let keep_alive = if http10 {
        keep_alive_token && !close
    } else {
        !close
    };
    Ok(Some(Head {
        method: method.to_string(),
        path,
        query,
        headers,
        framing,
        keep_alive,
        http10,
        expect_continue: expect_continue && framing != Framing::Empty,
        len,
    }))
}

/// `Content-Length`: digits only (no sign, no list, no spaces inside).
fn parse_length(value: &str) -> Result<u64, Reject> {
    let v = value.trim();
    if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(reject(400, format!("invalid Content-Length {value:?}")));
    }
    v.parse()
        .map_err(|_| reject(400, format!("invalid Content-Length {value:?}")))
}

/// Splits a request target into path and query; absolute-form loses its scheme and authority.
fn split_target(target: &str) -> Result<(String, String), Reject> {
    let origin = match target.find("://") {
        Some(i) if target[..i].eq_ignore_ascii_case("http") || target[..i].eq_ignore_ascii_case("https") => {
            let rest = &target[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        _ => target,
    };
    if !origin.starts_with('/') {
        return Err(reject(400, format!("request target {target:?} is not a path")));
    }
    let (path, query) = origin.split_once('?').unwrap_or((origin, ""));
    Ok((path.to_string(), query.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> Head {
        parse(raw.as_bytes(), 100).unwrap().expect("complete head")
    }

    fn rejected(raw: &str, status: u16, needle: &str) {
        let err = parse(raw.as_bytes(), 100).unwrap_err();
        assert_eq!(err.status, status, "{raw:?}: {err:?}");
        assert!(err.detail.contains(needle), "{err:?} lacks {needle:?}");
    }

    #[test]
    fn rpc_request_head() {
        let h = ok(
            "POST /Example.Call HTTP/1.1\r\nHost: a:1\r\nContent-Type: application/json\r\n\
                    Content-Length: 15\r\nTimeout: 5000\r\n\r\n{\"name\":\"Hobo\"}",
        );
        assert_eq!(
            (h.method.as_str(), h.path.as_str(), h.query.as_str()),
            ("POST", "/Example.Call", "")
        );
        assert_eq!(h.framing, Framing::Length(15));
        assert!(h.keep_alive && !h.http10 && !h.expect_continue);
        assert_eq!(h.headers.get("timeout"), Some("5000"));
        assert_eq!(h.len, h.len.min(200));
    }

    #[test]
    fn partial_heads_need_more() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n", 100).unwrap().is_none());
        assert!(parse(b"", 100).unwrap().is_none());
    }

    #[test]
    fn keep_alive_rules_for_both_versions() {
        assert!(!ok("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(ok("GET / HTTP/1.1\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        let h = ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(h.keep_alive && h.http10);
    }

    #[test]
    fn framing_rules() {
        assert_eq!(
            ok("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").framing,
            Framing::Chunked
        );
        assert_eq!(
            ok("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").framing,
            Framing::Empty
        );
        assert_eq!(
            ok("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").framing,
            Framing::Length(3)
        );
        rejected(
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "both",
        );
        rejected(
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            400,
            "conflicting",
        );
        for bad in ["-1", "+3", "1,1", "abc", "", "99999999999999999999"] {
            rejected(
                &format!("POST / HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n"),
                400,
                "Content-Length",
            );
        }
        rejected(
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            "gzip",
        );
        rejected(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            400,
            "last",
        );
        rejected(
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "HTTP/1.0",
        );
    }

    #[test]
    fn expect_continue_only_with_a_body() {
        assert!(ok("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").expect_continue);
        assert!(!ok("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expect_continue);
        rejected("POST / HTTP/1.1\r\nExpect: magic\r\n\r\n", 417, "expectation");
    }

    #[test]
    fn targets() {
        let h = ok("GET /example/call?name=Hobo&x=1 HTTP/1.1\r\n\r\n");
        assert_eq!(
            (h.path.as_str(), h.query.as_str()),
            ("/example/call", "name=Hobo&x=1")
        );
        let h = ok("GET http://host:80/a?b HTTP/1.1\r\n\r\n");
        assert_eq!((h.path.as_str(), h.query.as_str()), ("/a", "b"));
        assert_eq!(ok("GET http://host HTTP/1.1\r\n\r\n").path, "/");
        rejected("GET * HTTP/1.1\r\n\r\n", 400, "not a path");
        rejected("GET foo HTTP/1.1\r\n\r\n", 400, "not a path");
    }

    #[test]
    fn hostile_heads() {
        rejected("GET / HTTP/2.0\r\n\r\n", 505, "HTTP/1");
        rejected("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP/1");
        rejected("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400, "malformed");
        rejected("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 400, "malformed");
        rejected("G\u{1}T / HTTP/1.1\r\n\r\n", 400, "malformed");
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        rejected(&format!("GET / HTTP/1.1\r\n{many}\r\n"), 431, "more than 100");
        let h = parse(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes(), 200)
            .unwrap()
            .unwrap();
        assert_eq!(h.headers.len(), 101);
    }
}
