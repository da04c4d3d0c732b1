//! Stopping a service: `stop()` returns promptly and cleanly, lets accepted requests finish, and
//! frees the port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{Http, check, request, rpc, sample, servers, stop};

/// `stop()` returns Ok within 2 s while kept-alive and silent connections are still open.
#[test]
fn stop_returns_promptly_with_connections_open() {
    for &server in servers() {
        let srv = sample(server);
        let mut open: Vec<Http> = (0..3)
            .map(|i| {
                let mut conn = Http::connect(server, srv.addr());
                conn.send(request("GET", &format!("/hello?name=i{i}"), &[], ""));
                check(&conn.read(), 200, &format!("hello i{i}"));
                conn
            })
            .collect();
        open.push(Http::connect(server, srv.addr()));
        let started = Instant::now();
        stop(server, srv);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "[{server}] stop took {took:?}");
        drop(open);
    }
}

/// Stopping closes kept-alive idle connections (http only: tiny_http 0.12's connection threads
/// are its own and outlive the server, so its idle connections stay open).
#[test]
fn http_only_stop_closes_idle_connections() {
    let srv = sample("http");
    let mut conn = Http::connect("http", srv.addr());
    conn.send(request("GET", "/hello?name=idle", &[], ""));
    check(&conn.read(), 200, "hello idle");
    stop("http", srv);
    assert!(
        conn.closes_within(Duration::from_secs(1)),
        "idle connection left open after stop"
    );
}

/// A request being handled when `stop()` is called still gets its whole response.
#[test]
fn stop_lets_an_in_flight_request_finish() {
    for &server in servers() {
        let srv = sample(server);
        let mut conn = Http::connect(server, srv.addr());
        conn.send(rpc("Example.Sleep", ""));
        std::thread::sleep(Duration::from_millis(100));
        let label = server.to_string();
        let stopper = std::thread::spawn(move || stop(&label, srv));
        check(&conn.read(), 200, "slept");
        stopper
            .join()
            .unwrap_or_else(|_| panic!("[{server}] stop failed"));
    }
}

/// After `stop()` the port takes no more requests: connecting is refused, or nothing answers.
#[test]
fn stopped_service_answers_no_more() {
    for &server in servers() {
        let srv = sample(server);
        let addr = srv.addr();
        stop(server, srv);
        let until = Instant::now() + Duration::from_secs(3);
        loop {
            let answered = match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Err(_) => false,
                Ok(mut s) => {
                    let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
                    let _ = s.write_all(request("GET", "/hello", &["Connection: close"], "").as_bytes());
                    matches!(s.read(&mut [0; 64]), Ok(n) if n > 0)
                }
            };
            if !answered {
                break;
            }
            assert!(
                Instant::now() < until,
                "[{server}] {addr} still answers after stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Dropping a `ServiceHandle` stops its service as `stop()` does: the port stops answering.
#[test]
fn a_dropped_handle_stops_its_service() {
    for &server in servers() {
        let srv = sample(server);
        let addr = srv.addr();
        check(
            &crate::support::exchange(server, addr, &request("GET", "/hello?name=x", &[], "")),
            200,
            "hello x",
        );
        drop(srv); // returns once every thread is joined
        let refused = match TcpStream::connect(addr) {
            Err(_) => true,
            // tiny_http's accept thread may still hold the socket a moment; nothing answers.
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
                let _ = s.write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
                matches!(s.read(&mut [0; 64]), Ok(0) | Err(_))
            }
        };
        assert!(
            refused,
            "[{server}] the port still answers after the handle was dropped"
        );
    }
}
