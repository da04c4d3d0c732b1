//! The framework's errors of protocol.md section 3, over raw sockets: status = code, error JSON.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use micro_mesh::{Context, Error, Limits, Request, Response, Service, ServiceHandle};

use crate::support::{
    Http, SRV, check, check_error, exchange, request, rpc, sample, sample_with, servers, stop,
};

/// Malformed JSON to a typed endpoint is 400 Bad Request.
#[test]
fn malformed_json_is_400() {
    for &server in servers() {
        let srv = sample(server);
        let resp = exchange(server, srv.addr(), &rpc("Example.Call", r#"{"name":"#));
        check_error(&resp, 400, SRV, "");
        let resp = exchange(server, srv.addr(), &rpc("Example.Call", r#"{"name":7}"#));
        check_error(&resp, 400, SRV, "");
        stop(server, srv);
    }
}

/// An empty body is read as `{}`: `Example.Call` then answers its own 400 for the empty name.
#[test]
fn empty_body_is_an_empty_object() {
    for &server in servers() {
        let srv = sample(server);
        let resp = exchange(server, srv.addr(), &rpc("Example.Call", ""));
        check_error(&resp, 400, SRV, "name must not be empty");
        stop(server, srv);
    }
}

/// An unknown endpoint or path is 404 Not Found, naming what was asked for.
#[test]
fn unknown_endpoint_is_404() {
    for &server in servers() {
        let srv = sample(server);
        let resp = exchange(server, srv.addr(), &rpc("Example.Nope", "{}"));
        check_error(&resp, 404, SRV, "unknown endpoint Example.Nope");
        let resp = exchange(server, srv.addr(), &request("GET", "/nope?x=1", &[], ""));
        check_error(&resp, 404, SRV, "unknown path /nope");
        stop(server, srv);
    }
}

/// A wrong method on an RPC path is 405 Method Not Allowed with `Allow: POST`.
#[test]
fn wrong_method_is_405_with_allow_post() {
    for &server in servers() {
        let srv = sample(server);
        let resp = exchange(server, srv.addr(), &request("GET", "/Example.Call", &[], ""));
        check_error(&resp, 405, SRV, "GET");
        assert_eq!(resp.header("allow"), Some("POST"), "{resp:?}");
        let resp = exchange(server, srv.addr(), &request("PUT", "/hello", &[], "x"));
        check_error(&resp, 405, SRV, "PUT");
        assert_eq!(resp.header("allow"), Some("GET, POST"), "{resp:?}");
        stop(server, srv);
    }
}

/// A content type a JSON endpoint cannot read is 415 naming what it takes (curl -d's form type
/// too); JSON with parameters, or none, is fine.
#[test]
fn unsupported_content_type_is_415() {
    for &server in servers() {
        let srv = sample(server);
        let body = r#"{"name":"Hobo"}"#;
        let resp = exchange(
            server,
            srv.addr(),
            &request("POST", "/Example.Call", &["Content-Type: text/plain"], body),
        );
        check_error(&resp, 415, SRV, "text/plain");
        let resp = exchange(
            server,
            srv.addr(),
            &request(
                "POST",
                "/Example.Call",
                &["Content-Type: application/protobuf"],
                body,
            ),
        );
        check_error(&resp, 415, SRV, "application/protobuf");
        let form = "Content-Type: application/x-www-form-urlencoded";
        let resp = exchange(
            server,
            srv.addr(),
            &request("POST", "/Example.Call", &[form], body),
        );
        check_error(&resp, 415, SRV, "for /Example.Call (it takes application/json)");
        let json_utf8 = "Content-Type: application/json; charset=utf-8";
        let resp = exchange(
            server,
            srv.addr(),
            &request("POST", "/Example.Call", &[json_utf8], body),
        );
        check(&resp, 200, "Hello Hobo");
        let resp = exchange(server, srv.addr(), &request("POST", "/Example.Call", &[], body));
        check(&resp, 200, "Hello Hobo");
        // A raw endpoint takes any content type.
        let raw = request(
            "POST",
            "/Echo.Peer",
            &["Content-Type: application/octet-stream"],
            "x",
        );
        check(&exchange(server, srv.addr(), &raw), 200, "");
        stop(server, srv);
    }
}

fn small_body_limit(server: &str) -> ServiceHandle {
    sample_with(
        server,
        Limits {
            max_body: 1024,
            ..Limits::default()
        },
    )
}

/// A declared body over the limit gets 413 before the client sends any of it.
#[test]
fn declared_body_over_the_limit_is_413_unsent() {
    for &server in servers() {
        let srv = small_body_limit(server);
        let mut conn = Http::connect(server, srv.addr());
        let head = "POST /Example.Call HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                    Content-Length: 10485760\r\n\r\n";
        conn.send(head);
        let resp = conn.read();
        check_error(&resp, 413, SRV, "request body over the 1024-byte limit");
        assert_eq!(resp.reason, "Payload Too Large", "{resp:?}");
        drop(conn);
        // With `Expect: 100-continue` the answer is the 413, never a `100 Continue` first.
        let mut conn = Http::connect(server, srv.addr());
        conn.send(head.replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n"));
        check_error(&conn.read(), 413, SRV, "1024-byte limit");
        drop(conn);
        // A body exactly at the limit is read.
        let name = "n".repeat(1024 - r#"{"name":""}"#.len());
        let resp = exchange(
            server,
            srv.addr(),
            &rpc("Example.Call", &format!(r#"{{"name":"{name}"}}"#)),
        );
        check(&resp, 200, &name);
        stop(server, srv);
    }
}

/// A chunked body that grows over the limit gets 413 too.
#[test]
fn chunked_body_over_the_limit_is_413() {
    for &server in servers() {
        let srv = small_body_limit(server);
        let chunk = "a".repeat(600);
        let mut raw = "POST /Echo.Peer HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\
                       Connection: close\r\n\r\n"
            .to_string();
        for _ in 0..3 {
            raw += &format!("{:x}\r\n{chunk}\r\n", chunk.len());
        }
        raw += "0\r\n\r\n";
        let resp = exchange(server, srv.addr(), &raw);
        check_error(&resp, 413, SRV, "1024-byte limit");
        stop(server, srv);
    }
}

/// A head over 64 KiB is 431 (http only: tiny_http 0.12 has no limit on head size).
#[test]
fn http_only_oversized_head_is_431() {
    let srv = sample("http");
    let mut conn = Http::connect("http", srv.addr());
    let big = format!(
        "GET /hello HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    // The server may answer and stop reading before all of it is written.
    let _ = conn.stream.write_all(big.as_bytes());
    let resp = conn.read();
    check_error(&resp, 431, SRV, "65536-byte limit");
    assert_eq!(resp.reason, "Request Header Fields Too Large", "{resp:?}");
    drop(conn);
    stop("http", srv);
}

/// More than 100 header lines is 431 (http only: tiny_http 0.12 has no limit on header count).
#[test]
fn http_only_too_many_headers_is_431() {
    let srv = sample("http");
    let many: Vec<String> = (0..101).map(|i| format!("X-H{i}: v")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let resp = exchange("http", srv.addr(), &request("GET", "/hello", &many, ""));
    check_error(&resp, 431, SRV, "more than 100 header fields");
    let ok: Vec<&str> = many[..98].to_vec();
    check(
        &exchange("http", srv.addr(), &request("GET", "/hello?name=h", &ok, "")),
        200,
        "hello h",
    );
    stop("http", srv);
}

/// A malformed request head is 400 with the error JSON (http only: tiny_http sends an empty 400).
#[test]
fn http_only_malformed_head_is_400_json() {
    let srv = sample("http");
    let resp = exchange("http", srv.addr(), "GET /hello HTTP/1.1\r\nBad Header: x\r\n\r\n");
    check_error(&resp, 400, SRV, "malformed request head");
    let resp = exchange(
        "http",
        srv.addr(),
        "POST /hello HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    );
    check_error(&resp, 400, SRV, "Content-Length");
    stop("http", srv);
}

/// A handler panic is 500 without the panic text, and the server answers the next request.
#[test]
fn handler_panic_is_500_and_the_server_goes_on() {
    for &server in servers() {
        let srv = sample(server);
        for _ in 0..3 {
            let resp = exchange(server, srv.addr(), &rpc("Example.Panic", "{}"));
            check_error(&resp, 500, SRV, "");
            assert!(!resp.text().contains("secret"), "panic text leaked:\n{resp:?}");
            assert_eq!(resp.reason, "Internal Server Error", "{resp:?}");
        }
        let resp = exchange(server, srv.addr(), &rpc("Example.Call", r#"{"name":"after"}"#));
        check(&resp, 200, "Hello after");
        stop(server, srv);
    }
}

/// A service whose `Example.Call` records whether it ran and what deadline it saw.
fn deadline_probe(server: &str, ran: Arc<AtomicBool>) -> ServiceHandle {
    Service::new(SRV)
        .server_name(server)
        .address("127.0.0.1:0")
        .rpc_raw(
            "Example.Call",
            move |ctx: &Context, _: Request| -> Result<Response, Error> {
                ran.store(true, Ordering::SeqCst);
                let left = ctx
                    .deadline()
                    .map(|d| d.saturating_duration_since(Instant::now()));
                Response::json(&left.map(|d| d.as_millis() as u64))
            },
        )
        .start()
        .unwrap_or_else(|e| panic!("[{server}] start: {e}"))
}

/// A malformed `Timeout` header is 400 (protocol.md section 2).
#[test]
fn malformed_timeout_is_400() {
    for &server in servers() {
        let srv = deadline_probe(server, Arc::default());
        let raw = request("POST", "/Example.Call", &["Timeout: soon"], "{}");
        check_error(&exchange(server, srv.addr(), &raw), 400, SRV, "Timeout");
        stop(server, srv);
    }
}

/// A request whose budget is already spent is 408 without running the handler.
#[test]
fn spent_budget_is_408_without_running_the_handler() {
    for &server in servers() {
        let ran = Arc::new(AtomicBool::new(false));
        let srv = deadline_probe(server, ran.clone());
        let raw = request("POST", "/Example.Call", &["Timeout: 0"], "{}");
        check_error(&exchange(server, srv.addr(), &raw), 408, SRV, "");
        assert!(!ran.load(Ordering::SeqCst), "[{server}] the handler ran");
        stop(server, srv);
    }
}

/// The handler's deadline is now + `Timeout` (protocol.md section 2).
#[test]
fn handler_deadline_follows_the_timeout_header() {
    for &server in servers() {
        let srv = deadline_probe(server, Arc::default());
        let raw = request("POST", "/Example.Call", &["Timeout: 3000000000"], "{}");
        let resp = exchange(server, srv.addr(), &raw);
        check(&resp, 200, "");
        let left: Option<u64> = serde_json::from_slice(&resp.body).expect("json");
        assert!(
            left.is_some_and(|ms| (2000..=3000).contains(&ms)),
            "[{server}] deadline in {left:?} ms"
        );
        stop(server, srv);
    }
}
