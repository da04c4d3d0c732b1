//! HTTP/1.1 behaviour over raw sockets: keep-alive, close, pipelining, chunked, 100-continue,
//! HEAD, Date, head timeouts, versions, and the client's connection reuse.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use micro_mesh::{Caller, Client, Limits};

use crate::support::{
    Http, SRV, check, check_error, client_to, exchange, request, rpc, sample, sample_with, serial, servers,
    stop,
};

/// `--server` really selects the plugin: tiny_http announces itself in `Server`, ours sends none.
#[test]
fn server_name_selects_the_server() {
    for &server in servers() {
        let srv = sample(server);
        let resp = exchange(server, srv.addr(), &request("GET", "/hello?name=x", &[], ""));
        check(&resp, 200, "hello x");
        let tiny = resp.header("server").is_some_and(|s| s.contains("tiny-http"));
        assert_eq!(tiny, server == "tiny_http", "{resp:?}");
        stop(server, srv);
    }
}

/// Several requests share one HTTP/1.1 connection.
#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    for &server in servers() {
        let srv = sample(server);
        let mut conn = Http::connect(server, srv.addr());
        for i in 0..5 {
            conn.send(rpc("Example.Call", &format!(r#"{{"name":"k{i}"}}"#)));
            let resp = conn.read();
            check(&resp, 200, &format!("Hello k{i}"));
            assert_ne!(resp.header("connection"), Some("close"), "{resp:?}");
        }
        // An error answer keeps the connection too.
        conn.send(rpc("Example.Nope", "{}"));
        check_error(&conn.read(), 404, SRV, "Example.Nope");
        conn.send(request("GET", "/hello?name=last", &[], ""));
        check(&conn.read(), 200, "hello last");
        drop(conn);
        stop(server, srv);
    }
}

/// HTTP/1.0 closes after the response unless the request says `Connection: keep-alive`; with it,
/// the connection serves another request.
#[test]
fn http10_closes_unless_keep_alive() {
    for &server in servers() {
        let srv = sample(server);
        let mut conn = Http::connect(server, srv.addr());
        conn.send("GET /hello?name=ten HTTP/1.0\r\n\r\n");
        check(&conn.read(), 200, "hello ten");
        assert!(
            conn.closes_within(Duration::from_secs(2)),
            "[{server}] 1.0 connection left open"
        );

        let mut conn = Http::connect(server, srv.addr());
        for i in 0..3 {
            conn.send(format!(
                "GET /hello?name=ka{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
            ));
            check(&conn.read(), 200, &format!("hello ka{i}"));
        }
        drop(conn);
        stop(server, srv);
    }
}

/// A kept-alive HTTP/1.0 reply says `Connection: keep-alive`, without which a 1.0 client must
/// assume a close (http only: tiny_http 0.12 drops a handler's `Connection` header and writes none).
#[test]
fn http_only_http10_keep_alive_reply_says_keep_alive() {
    let srv = sample("http");
    let mut conn = Http::connect("http", srv.addr());
    conn.send("GET /hello?name=ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let resp = conn.read();
    check(&resp, 200, "hello ka");
    let connection = resp.header("connection").map(str::to_ascii_lowercase);
    assert_eq!(connection.as_deref(), Some("keep-alive"), "{resp:?}");
    drop(conn);
    stop("http", srv);
}

/// `Connection: close` is honoured: the server closes after the response.
#[test]
fn connection_close_is_honoured() {
    for &server in servers() {
        let srv = sample(server);
        let mut conn = Http::connect(server, srv.addr());
        conn.send(request("GET", "/hello?name=c", &["Connection: close"], ""));
        check(&conn.read(), 200, "hello c");
        assert!(
            conn.closes_within(Duration::from_secs(2)),
            "[{server}] connection left open"
        );
        stop(server, srv);
    }
}

/// A response after which the server closes says `Connection: close` (http only: tiny_http 0.12
/// closes without saying so).
#[test]
fn http_only_closing_reply_says_connection_close() {
    let srv = sample("http");
    for raw in [
        request("GET", "/hello?name=c", &["Connection: close"], ""),
        "GET /hello?name=ten HTTP/1.0\r\n\r\n".to_string(),
    ] {
        let resp = exchange("http", srv.addr(), &raw);
        check(&resp, 200, "hello");
        assert_eq!(resp.header("connection"), Some("close"), "{resp:?}");
    }
    stop("http", srv);
}

/// Three requests in one write get three responses in order.
#[test]
fn pipelined_requests_answer_in_order() {
    for &server in servers() {
        let srv = sample(server);
        let mut conn = Http::connect(server, srv.addr());
        let mut raw = String::new();
        raw += &rpc("Example.Sleep", "");
        raw += &request("GET", "/hello?name=p2", &[], "");
        raw += &rpc("Example.Call", r#"{"name":"p3"}"#);
        conn.send(raw);
        check(&conn.read(), 200, "slept");
        check(&conn.read(), 200, "hello p2");
        check(&conn.read(), 200, "Hello p3");
        drop(conn);
        stop(server, srv);
    }
}

/// A chunked request body (with a chunk extension) is decoded, for JSON and raw endpoints, and
/// the connection stays in step.
#[test]
fn chunked_request_body_is_read() {
    for &server in servers() {
        let srv = sample(server);
        let mut conn = Http::connect(server, srv.addr());
        conn.send(
            "POST /Example.Call HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n4\r\n{\"na\r\nb;ext=1\r\nme\":\"Hobo\"}\r\n0\r\n\r\n",
        );
        check(&conn.read(), 200, r#"{"msg":"Hello Hobo"}"#);
        conn.send(
            "POST /hello HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
             2\r\nch\r\n5\r\nunked\r\n0\r\n\r\n",
        );
        check(&conn.read(), 200, "hello chunked");
        conn.send(request("GET", "/hello?name=after", &[], ""));
        check(&conn.read(), 200, "hello after");
        drop(conn);
        stop(server, srv);
    }
}

/// Trailer fields after a chunked body are read and dropped (http only: tiny_http 0.12's chunk
/// decoder, chunked_transfer 1.5, fails on any trailer, and the request gets 400).
#[test]
fn http_only_chunked_trailers_are_read_and_dropped() {
    let srv = sample("http");
    let mut conn = Http::connect("http", srv.addr());
    conn.send(
        "POST /hello HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
         2\r\nch\r\n5\r\nunked\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n",
    );
    check(&conn.read(), 200, "hello chunked");
    conn.send(request("GET", "/hello?name=after", &[], ""));
    check(&conn.read(), 200, "hello after");
    drop(conn);
    stop("http", srv);
}

/// `Expect: 100-continue` gets `100 Continue` before the body is sent, then the answer.
#[test]
fn expect_continue_gets_100_before_the_body() {
    for &server in servers() {
        let srv = sample(server);
        let mut conn = Http::connect(server, srv.addr());
        let body = r#"{"name":"Hobo"}"#;
        conn.send(format!(
            "POST /Example.Call HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ));
        let interim = conn.read();
        assert_eq!(
            (interim.version.as_str(), interim.status),
            ("HTTP/1.1", 100),
            "{interim:?}"
        );
        assert_eq!(interim.reason, "Continue", "{interim:?}");
        conn.send(body);
        check(&conn.read(), 200, "Hello Hobo");
        drop(conn);
        stop(server, srv);
    }
}

/// HEAD gets the GET headers, `Content-Length` included, and no body; so does a HEAD error.
#[test]
fn head_gets_headers_and_no_body() {
    for &server in servers() {
        let srv = sample(server);
        let mut conn = Http::connect(server, srv.addr());
        conn.send(request("HEAD", "/hello?name=abc", &[], ""));
        let resp = conn.read_head();
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_eq!(resp.header("content-length"), Some("9"), "{resp:?}");
        assert_eq!(resp.header("content-type"), Some("text/plain"), "{resp:?}");
        // No body bytes follow: the next response on the connection starts right away.
        conn.send(request("HEAD", "/nope", &[], ""));
        let resp = conn.read_head();
        assert_eq!(resp.status, 404, "{resp:?}");
        assert!(resp.header("content-length").is_some(), "{resp:?}");
        conn.send(request("GET", "/hello?name=abc", &[], ""));
        check(&conn.read(), 200, "hello abc");
        assert!(
            conn.unread().is_empty(),
            "[{server}] extra bytes: {:?}",
            conn.unread()
        );
        drop(conn);
        stop(server, srv);
    }
}

/// Every response carries a `Date` header in IMF-fixdate form, errors included.
#[test]
fn every_response_has_a_date() {
    for &server in servers() {
        let srv = sample(server);
        let mut conn = Http::connect(server, srv.addr());
        for raw in [
            request("GET", "/hello", &[], ""),
            rpc("Example.Call", r#"{"name":"d"}"#),
            rpc("Example.Nope", "{}"),
            request("GET", "/Example.Call", &[], ""),
            rpc("Example.Call", "{"),
            rpc("Example.Panic", "{}"),
        ] {
            conn.send(&raw);
            let resp = conn.read();
            let date = resp.header("date").unwrap_or_default();
            assert!(
                date.len() == 29 && date.ends_with(" GMT"),
                "date {date:?}:\n{resp:?}"
            );
        }
        drop(conn);
        stop(server, srv);
    }
}

fn short_head_timeout() -> Limits {
    Limits {
        head_timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

/// A connection that never sends a byte is closed after `head_timeout` (http only: tiny_http 0.12
/// has no read timeouts).
#[test]
fn http_only_silent_connection_closes_after_head_timeout() {
    let _serial = serial();
    let srv = sample_with("http", short_head_timeout());
    let mut conn = Http::connect("http", srv.addr());
    let started = Instant::now();
    assert!(
        conn.closes_within(Duration::from_secs(3)),
        "silent connection left open"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "closed after {took:?}, before head_timeout"
    );
    assert!(took < Duration::from_millis(1500), "closed after {took:?}");
    assert!(conn.unread().is_empty(), "unexpected bytes: {:?}", conn.unread());
    stop("http", srv);
}

/// A head trickling in a byte every 100 ms gets 408 or a close within head_timeout + a margin
/// (http only: tiny_http 0.12 has no read timeouts).
#[test]
fn http_only_trickling_head_gets_408_or_close() {
    let _serial = serial();
    let srv = sample_with("http", short_head_timeout());
    let mut conn = Http::connect("http", srv.addr());
    let head = format!(
        "GET /hello HTTP/1.1\r\nHost: test\r\nX-Slow: {}\r\n\r\n",
        "s".repeat(200)
    );
    let started = Instant::now();
    let mut closed = false;
    for byte in head.bytes() {
        if std::io::Write::write_all(&mut conn.stream, &[byte]).is_err()
            || conn.closes_within(Duration::from_millis(100))
        {
            closed = true;
            break;
        }
        if !conn.unread().is_empty() || started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    if !conn.unread().is_empty() {
        let _ = conn.stream.set_read_timeout(Some(Duration::from_secs(2)));
        check_error(&conn.read(), 408, SRV, "not received in time");
        closed = conn.closes_within(Duration::from_secs(2));
    }
    let took = started.elapsed();
    assert!(
        closed,
        "the trickling connection was neither answered nor closed in {took:?}"
    );
    assert!(
        took < Duration::from_millis(1300),
        "took {took:?} for a 300 ms head_timeout"
    );
    stop("http", srv);
}

/// An `HTTP/2.0` request line is 505 (http only: tiny_http 0.12 hangs that connection).
#[test]
fn http_only_http2_request_line_is_505() {
    let srv = sample("http");
    let resp = exchange("http", srv.addr(), "GET /hello HTTP/2.0\r\nHost: test\r\n\r\n");
    check_error(&resp, 505, SRV, "HTTP/1");
    assert_eq!(resp.reason, "HTTP Version Not Supported", "{resp:?}");
    stop("http", srv);
}

/// Sequential calls through one `HttpClient` reuse one TCP connection (one peer port seen).
#[test]
fn client_reuses_one_connection_for_sequential_calls() {
    for &server in servers() {
        let srv = sample(server);
        let client = client_to(srv.addr());
        let client: &dyn Client = &client;
        let mut ports = HashSet::new();
        for _ in 0..20 {
            let port: Option<u16> = client
                .call(SRV, "Echo.Peer", &serde_json::json!({}))
                .unwrap_or_else(|e| panic!("[{server}] {e}"));
            ports.insert(port.unwrap_or_else(|| panic!("[{server}] no peer address")));
        }
        assert_eq!(ports.len(), 1, "[{server}] peer ports {ports:?}");
        stop(server, srv);
    }
}
