//! Load: a burst of new connections, and many threads sharing one client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use micro_mesh::{Caller, Client, HttpClient};

use crate::support::{Hello, Http, Reply, SRV, check, request, sample, serial, servers, stop};

/// Opens `n` keep-alive connections, then writes one request on each; returns how many got their
/// 200 within `limit` of the writes.
fn burst(server: &str, n: usize, limit: Duration) -> usize {
    let srv = sample(server);
    let mut conns: Vec<Http> = (0..n).map(|_| Http::connect(server, srv.addr())).collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.send(request("GET", &format!("/hello?name=b{i}"), &[], ""));
    }
    let until = Instant::now() + limit;
    let mut answered = 0;
    for (i, conn) in conns.iter_mut().enumerate() {
        let left = until
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let _ = conn.stream.set_read_timeout(Some(left));
        if let Ok(resp) = conn.try_read(false) {
            check(&resp, 200, &format!("hello b{i}"));
            answered += 1;
        }
    }
    drop(conns);
    stop(server, srv);
    answered
}

/// 64 connections opened at once each get their 200 within 1 s (http only: tiny_http 0.12
/// strands connections opened in a burst; its count is printed, not asserted).
#[test]
fn http_only_burst_of_64_connections_all_answered_within_1s() {
    let _serial = serial();
    let answered = burst("http", 64, Duration::from_secs(1));
    assert_eq!(
        answered, 64,
        "[http] only {answered}/64 connections answered within 1 s"
    );
    let tiny = burst("tiny_http", 64, Duration::from_secs(1));
    eprintln!("[tiny_http] burst: {tiny}/64 connections answered within 1 s (not asserted)");
}

/// Leaves `n` idle threads in tiny_http's connection pool: opens `n` connections one after
/// another (each confirmed by a reply, so no burst), then closes them all.
///
/// tiny_http 0.12 queues a new connection whenever its idle-thread count is non-zero, and that
/// count lags behind threads that are about to pick up earlier connections: 64 clients connecting
/// at once strand some connections forever (here 15 of 64 calls timed out without this). The burst
/// test above measures that; this test is about replies under concurrency, so it starts from a
/// pool that has the threads, as a server that has been up for a while would.
fn warm_up_tiny_http(addr: std::net::SocketAddr, n: usize) {
    let conns: Vec<Http> = (0..n)
        .map(|i| {
            let mut conn = Http::connect("tiny_http warm-up", addr);
            conn.send(request("GET", &format!("/hello?name=w{i}"), &[], ""));
            check(&conn.read(), 200, &format!("hello w{i}"));
            conn
        })
        .collect();
    drop(conns);
    std::thread::sleep(Duration::from_millis(100));
}

/// 64 threads x 200 calls through one shared `HttpClient`, every reply the right one.
#[test]
fn concurrent_calls_through_one_client_all_correct() {
    let _serial = serial();
    for &server in servers() {
        let srv = sample(server);
        if server == "tiny_http" {
            warm_up_tiny_http(srv.addr(), 72);
        }
        let client = Arc::new(
            HttpClient::builder()
                .call_address(&srv.addr().to_string())
                .pool_per_host(64)
                .build(),
        );
        let started = Instant::now();
        let threads: Vec<_> = (0..64)
            .map(|t| {
                let client = client.clone();
                std::thread::spawn(move || -> Result<(), String> {
                    let client: &dyn Client = &*client;
                    for i in 0..200 {
                        let name = format!("{t}-{i}");
                        let reply: Reply = client
                            .call(SRV, "Example.Call", &Hello { name: name.clone() })
                            .map_err(|e| format!("call {name}: {e}"))?;
                        if reply.msg != format!("Hello {name}") {
                            return Err(format!("call {name} got {:?}", reply.msg));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let failures: Vec<String> = threads
            .into_iter()
            .filter_map(|t| t.join().unwrap_or_else(|_| Err("thread panicked".into())).err())
            .collect();
        eprintln!("[{server}] 12800 calls in {:?}", started.elapsed());
        assert!(
            failures.is_empty(),
            "[{server}] {} threads failed: {failures:?}",
            failures.len()
        );
        stop(server, srv);
    }
}
