//! The tiny_http adapter's own tests: framing, limits, panics, stop.

use super::*;
use crate::client::{Call, Client, Reply};
use crate::handler::{Context, Request, Response};
use crate::health::Health;
use crate::router::{Route, Router};
use crate::typed::Unary;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

struct NoClient;
impl Client for NoClient {
    fn call_raw(&self, _: &Call<'_>) -> Result<Reply, Error> {
        Err(Error::Unreachable("no client in tests".into()))
    }
}

fn pipeline() -> Arc<Pipeline> {
    let hello = Unary::json(|_: &Context, q: serde_json::Value| {
        Ok(serde_json::json!({ "msg": format!("Hello {}", q["name"].as_str().unwrap_or("")) }))
    });
    let get = |_: &Context, req: Request| {
        Ok(Response::bytes("text/plain", format!("hello {}", req.query))
            .with_header("X-Test", "yes")
            .with_header("Content-Length", "999")
            .with_header("Bad Name", "x")
            .with_header("X-Evil", "a\r\nInjected: 1"))
    };
    let (post, get_only) = (vec!["POST".to_string()], vec!["GET".to_string()]);
    let accepts = Some(hello.codecs());
    let routes = vec![
        (
            "/Example.Call".into(),
            Route {
                methods: post,
                handler: Box::new(hello),
                accepts,
                grpc_accepts: accepts,
                duplex: None,
            },
        ),
        (
            "/get".into(),
            Route {
                methods: get_only,
                handler: Box::new(get),
                accepts: None,
                grpc_accepts: None,
                duplex: None,
            },
        ),
    ];
    let router = Router::new("go.micro.srv.sample", routes, Arc::new(NoClient), Vec::new());
    Arc::new(Pipeline::new(Arc::new(router), Health::default(), None, 128))
}

fn limits() -> Limits {
    Limits {
        max_body: 1024,
        workers: 2,
        ..Limits::default()
    }
}

fn serve() -> ServerHandle {
    serve_with(limits())
}

fn serve_with(limits: Limits) -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // serve() must undo this; tiny_http's accept thread would die on it.
    listener.set_nonblocking(true).unwrap();
    Box::new(TinyHttpServer::new(limits))
        .serve(listener, pipeline())
        .unwrap()
}

/// Writes `raw` on a fresh connection and reads until the server closes it (or 5 s pass).
fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn post(addr: SocketAddr, path: &str, body: &str) -> String {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n",
        body.len()
    );
    exchange(addr, format!("{head}Connection: close\r\n\r\n{body}").as_bytes())
}

#[test]
fn post_gets_200_and_the_json_body() {
    let srv = serve();
    let resp = post(srv.addr(), "/Example.Call", r#"{"name":"Hobo"}"#);
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("Content-Type: application/json\r\n"), "{resp}");
    assert!(resp.ends_with("\r\n\r\n{\"msg\":\"Hello Hobo\"}"), "{resp}");
    srv.stop().unwrap();
}

#[test]
fn unknown_path_gets_the_404_error_json() {
    let srv = serve();
    let resp = post(srv.addr(), "/nope?x=1", "{}");
    assert!(resp.starts_with("HTTP/1.1 404 Not Found\r\n"), "{resp}");
    assert!(
        resp.contains(r#"{"id":"go.micro.srv.sample","code":404,"detail":"unknown path /nope""#),
        "{resp}"
    );
    srv.stop().unwrap();
}

#[test]
fn declared_body_over_the_limit_gets_413_unread() {
    let srv = serve();
    // No body follows and, with Expect, no "100 Continue" may be sent before the 413.
    let raw = "POST /Example.Call HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\
               Expect: 100-continue\r\nConnection: close\r\n\r\n";
    let resp = exchange(srv.addr(), raw.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 413 "), "{resp}");
    assert!(resp.contains("request body over the 1024-byte limit"), "{resp}");
    let resp = post(srv.addr(), "/Example.Call", &"x".repeat(1025));
    assert!(resp.starts_with("HTTP/1.1 413 "), "{resp}");
    let resp = exchange(
        srv.addr(),
        b"POST /Example.Call HTTP/1.1\r\nContent-Length: x1\r\nConnection: close\r\n\r\n{}",
    );
    assert!(
        resp.starts_with("HTTP/1.1 400 ") && resp.contains("invalid Content-Length"),
        "{resp}"
    );
    srv.stop().unwrap();
}

#[test]
fn a_panic_inside_tiny_http_does_not_cost_a_worker() {
    // tiny_http drains an unread body on drop into a buffer of the whole declared length:
    // past isize::MAX that panics (after the 413 went out); the worker must survive it.
    let srv = serve_with(Limits {
        workers: 1,
        ..limits()
    });
    let raw = "POST /Example.Call HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n";
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut head = [0; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    drop(s);
    assert!(post(srv.addr(), "/Example.Call", "{}").starts_with("HTTP/1.1 200 "));
    srv.stop().unwrap();
}

#[test]
fn chunked_body_over_the_limit_gets_413_and_the_connection_stays_in_step() {
    let srv = serve();
    let chunk = "a".repeat(600);
    let mut raw = "POST /Example.Call HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_string();
    for _ in 0..3 {
        raw += &format!("{:x}\r\n{chunk}\r\n", chunk.len());
    }
    raw += "0\r\n\r\nGET /get?second HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let resp = exchange(srv.addr(), raw.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 413 "), "{resp}");
    assert!(
        resp.contains("HTTP/1.1 200 OK\r\n") && resp.ends_with("hello second"),
        "{resp}"
    );
    let small = "POST /Example.Call HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                 4\r\n{\"na\r\nb\r\nme\":\"Hobo\"}\r\n0\r\n\r\n";
    let resp = exchange(srv.addr(), small.as_bytes());
    assert!(
        resp.starts_with("HTTP/1.1 200 ") && resp.ends_with("Hello Hobo\"}"),
        "{resp}"
    );
    srv.stop().unwrap();
}

#[test]
fn head_gets_the_headers_and_no_body() {
    let srv = serve();
    let resp = exchange(
        srv.addr(),
        b"HEAD /get?x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(
        resp.contains("\r\nContent-Length: 7\r\n") && resp.contains("\r\nX-Test: yes\r\n"),
        "{resp}"
    );
    assert!(resp.ends_with("\r\n\r\n"), "a body was sent: {resp:?}");
    let resp = exchange(
        srv.addr(),
        b"GET /get?x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.ends_with("\r\n\r\nhello x"), "{resp}");
    assert!(
        !resp.contains("999") && !resp.contains("Injected") && !resp.contains("Bad Name"),
        "{resp}"
    );
    srv.stop().unwrap();
}

#[test]
fn stop_joins_and_the_port_closes() {
    let srv = serve();
    let addr = srv.addr();
    assert!(post(addr, "/Example.Call", "{}").starts_with("HTTP/1.1 200 "));
    let stopper = srv.stopper();
    stopper();
    srv.stop().unwrap();
    stopper();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let closed = match TcpStream::connect(addr) {
            Err(_) => true,
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                let _ = s.write_all(b"GET /get HTTP/1.1\r\nConnection: close\r\n\r\n");
                matches!(s.read(&mut [0; 64]), Ok(0) | Err(_))
            }
        };
        if closed {
            break;
        }
        assert!(Instant::now() < deadline, "the port still answers after stop");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn accept_thread_death_ends_the_server_with_an_error() {
    // A non-blocking listener makes tiny_http's accept() fail at once (start() keeps it).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let srv = start(listener, pipeline(), &limits()).unwrap();
    let stopper = srv.stopper();
    let err = srv.join().unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(err.to_string().contains("stopped accepting connections"), "{err}");
    stopper();
}
