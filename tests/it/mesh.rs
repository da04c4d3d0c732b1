//! Mesh-native calls: trace headers, deadlines, retries and namespaces across real hops.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use micro_mesh::{
    CallOptions, Caller, Client, ClientKind, Context, Error, HttpClient, Request, Response, Service,
    ServiceHandle,
};

use crate::support::{Http, check, free_port, request, servers, stop};

type Seen = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

/// A service that records the headers of every request and answers them back.
fn last_hop(server: &str, seen: &Seen, delay: Duration) -> ServiceHandle {
    let seen = seen.clone();
    Service::new("test.last")
        .server_name(server)
        .address("127.0.0.1:0")
        .rpc("Last.Echo", move |ctx: &Context, _: serde_json::Value| {
            let headers: BTreeMap<String, String> = ctx
                .metadata()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            seen.lock().unwrap().push(headers.clone());
            std::thread::sleep(delay);
            Ok(headers)
        })
        .start()
        .unwrap()
}

/// A service that records what it saw and calls `next` (named `test.last`) through its context.
fn middle(
    server: &str,
    seen: &Seen,
    next: &ServiceHandle,
    forward: &[&str],
    client: ClientKind,
) -> ServiceHandle {
    let seen = seen.clone();
    let port = next.addr().port();
    let mut service = Service::new("test.middle")
        .server_name(server)
        .client_kind(client)
        .address("127.0.0.1:0")
        .call_address(&format!(":{port}"))
        .resolve(&format!("test-last:{port}={}", next.addr()));
    for name in forward {
        service = service.forward_header(name);
    }
    service
        .rpc("Middle.Call", move |ctx: &Context, req: serde_json::Value| {
            let headers = ctx
                .metadata()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            seen.lock().unwrap().push(headers);
            let options = CallOptions::default().with_metadata("x-explicit", "set-by-middle");
            ctx.call_with::<_, serde_json::Value>("test.last", "Last.Echo", &req, &options)
        })
        .start()
        .unwrap()
}

/// The front: an API path that calls `test.middle` through its context.
fn front(server: &str, next: &ServiceHandle, forward: &[&str], client: ClientKind) -> ServiceHandle {
    let port = next.addr().port();
    let mut service = Service::new("test.front")
        .server_name(server)
        .client_kind(client)
        .address("127.0.0.1:0")
        .call_address(&format!(":{port}"))
        .resolve(&format!("test-middle:{port}={}", next.addr()));
    for name in forward {
        service = service.forward_header(name);
    }
    service
        .api("/front", &["POST"], |ctx: &Context, _: Request| {
            let reply: serde_json::Value = ctx.call("test.middle", "Middle.Call", &serde_json::json!({}))?;
            Response::json(&reply)
        })
        .start()
        .unwrap()
}

struct Chain {
    front: ServiceHandle,
    middle: ServiceHandle,
    last: ServiceHandle,
    middle_seen: Seen,
    last_seen: Seen,
}

fn chain(server: &str, front_forward: &[&str], middle_forward: &[&str], delay: Duration) -> Chain {
    chain_over(ClientKind::Http, server, front_forward, middle_forward, delay)
}

/// The three services, calling each other with `client`.
fn chain_over(
    client: ClientKind,
    server: &str,
    front_forward: &[&str],
    middle_forward: &[&str],
    delay: Duration,
) -> Chain {
    let (middle_seen, last_seen) = (Seen::default(), Seen::default());
    let last = last_hop(server, &last_seen, delay);
    let middle = middle(server, &middle_seen, &last, middle_forward, client);
    let front = front(server, &middle, front_forward, client);
    Chain {
        front,
        middle,
        last,
        middle_seen,
        last_seen,
    }
}

impl Chain {
    fn post(&self, headers: &[&str]) -> crate::support::Resp {
        let mut conn = Http::connect("front", self.front.addr());
        conn.send(request("POST", "/front", headers, "{}"));
        conn.read()
    }

    fn stop(self, label: &str) {
        stop(label, self.front);
        stop(label, self.middle);
        stop(label, self.last);
    }
}

fn latest(seen: &Seen) -> BTreeMap<String, String> {
    seen.lock().unwrap().last().cloned().expect("the hop was reached")
}

/// Istio's trace headers travel across a three-service chain without user code; empty ones do not.
#[test]
fn trace_headers_cross_a_three_service_chain() {
    for &server in servers() {
        let c = chain(server, &[], &[], Duration::ZERO);
        let resp = c.post(&[
            "x-request-id: req-1",
            "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "x-b3-sampled: 1",
            "b3: ",
            "x-custom: not-a-trace-header",
        ]);
        check(&resp, 200, "req-1");
        for (hop, got) in [("middle", latest(&c.middle_seen)), ("last", latest(&c.last_seen))] {
            assert_eq!(
                got.get("x-request-id").map(String::as_str),
                Some("req-1"),
                "[{server}] {hop}: {got:?}"
            );
            assert!(
                got.contains_key("traceparent") && got.contains_key("x-b3-sampled"),
                "[{server}] {hop}: {got:?}"
            );
            assert!(
                !got.contains_key("b3"),
                "[{server}] {hop}: empty trace header forwarded: {got:?}"
            );
        }
        let last = latest(&c.last_seen);
        assert!(
            !last.contains_key("x-custom"),
            "[{server}] non-trace header forwarded: {last:?}"
        );
        assert_eq!(
            last.get("x-explicit").map(String::as_str),
            Some("set-by-middle"),
            "[{server}] {last:?}"
        );
        assert_eq!(
            last.get("host").map(String::as_str),
            Some(format!("test-last:{}", c.last.addr().port()).as_str())
        );
        c.stop(server);
    }
}

/// Over gRPC too, each hop forwards exactly the trace headers (and explicit metadata), and
/// gets only what remains of the first caller's budget.
#[test]
fn trace_headers_and_the_deadline_cross_a_grpc_chain() {
    let c = chain_over(ClientKind::Grpc, "http", &[], &[], Duration::ZERO);
    let resp = c.post(&[
        "x-request-id: req-g",
        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "x-custom: not-a-trace-header",
        "Timeout: 2000000000",
    ]);
    check(&resp, 200, "req-g");
    for (hop, got) in [("middle", latest(&c.middle_seen)), ("last", latest(&c.last_seen))] {
        assert_eq!(
            got.get("x-request-id").map(String::as_str),
            Some("req-g"),
            "{hop}: {got:?}"
        );
        assert!(got.contains_key("traceparent"), "{hop}: {got:?}");
        assert!(
            !got.contains_key("x-custom"),
            "{hop}: a non-trace header crossed: {got:?}"
        );
        assert!(
            got.get("content-type")
                .is_some_and(|ct| ct.starts_with("application/")),
            "{hop}: {got:?}"
        );
    }
    let last = latest(&c.last_seen);
    assert_eq!(
        last.get("x-explicit").map(String::as_str),
        Some("set-by-middle"),
        "{last:?}"
    );
    let budget = |seen: &Seen| -> u64 { latest(seen).get("timeout").expect("timeout").parse().unwrap() };
    let (middle, last) = (budget(&c.middle_seen), budget(&c.last_seen));
    assert!(
        middle < 2_000_000_000 && middle > 1_000_000_000,
        "middle got {middle}"
    );
    assert!(last < middle, "last got {last}, middle {middle}");
    c.stop("http");
}

/// Without trace headers on the way in, none appear on the way out.
#[test]
fn absent_trace_headers_are_not_invented() {
    let c = chain("http", &[], &[], Duration::ZERO);
    check(&c.post(&[]), 200, "");
    let last = latest(&c.last_seen);
    for name in micro_mesh::TRACE_HEADERS {
        assert!(!last.contains_key(name), "{name} appeared: {last:?}");
    }
    c.stop("http");
}

/// Headers a service opts into (authorization) are forwarded by that service only.
#[test]
fn opted_in_headers_are_forwarded_and_others_are_not() {
    let c = chain("http", &["authorization"], &[], Duration::ZERO);
    check(
        &c.post(&["authorization: Bearer t0k3n", "cookie: session=1"]),
        200,
        "",
    );
    let middle = latest(&c.middle_seen);
    assert_eq!(
        middle.get("authorization").map(String::as_str),
        Some("Bearer t0k3n"),
        "{middle:?}"
    );
    assert!(!middle.contains_key("cookie"), "{middle:?}");
    let last = latest(&c.last_seen);
    assert!(
        !last.contains_key("authorization"),
        "middle did not opt in: {last:?}"
    );
    c.stop("http");
}

/// Each hop gets only what remains of the budget the first caller sent.
#[test]
fn the_deadline_shrinks_across_hops() {
    for &server in servers() {
        let c = chain(server, &[], &[], Duration::ZERO);
        check(&c.post(&["Timeout: 2000000000"]), 200, "");
        let budget = |seen: &Seen| -> u64 {
            latest(seen)
                .get("timeout")
                .expect("Timeout sent")
                .parse()
                .unwrap()
        };
        let (middle, last) = (budget(&c.middle_seen), budget(&c.last_seen));
        assert!(
            middle < 2_000_000_000 && middle > 1_000_000_000,
            "[{server}] middle got {middle}"
        );
        assert!(last < middle, "[{server}] last got {last}, middle {middle}");
        c.stop(server);
    }
}

/// A slow last hop makes the first caller fail with 408 within its budget plus a small margin.
#[test]
fn a_slow_last_hop_times_out_within_the_budget() {
    let c = chain("http", &[], &[], Duration::from_millis(1500));
    let started = Instant::now();
    let resp = c.post(&["Timeout: 400000000"]);
    let took = started.elapsed();
    check(&resp, 408, "");
    assert!(took < Duration::from_millis(400 + 300), "408 after {took:?}");
    c.stop("http");
}

/// Calls outside any request use the client's default budget, sent as `Timeout`.
#[test]
fn calls_outside_requests_use_the_client_budget() {
    let seen = Seen::default();
    let last = last_hop("http", &seen, Duration::ZERO);
    let client = HttpClient::builder()
        .call_address(&last.addr().to_string())
        .timeout(Duration::from_millis(750))
        .build();
    let _: serde_json::Value = (&client as &dyn Client)
        .call("test.last", "Last.Echo", &serde_json::json!({}))
        .unwrap();
    assert_eq!(
        latest(&seen).get("timeout").map(String::as_str),
        Some("750000000")
    );
    stop("http", last);
}

/// A server that accepts, counts, reads one request head and hangs up without answering.
struct Dropper {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dropper {
    fn start() -> Dropper {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let (accepted, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let addr = listener.local_addr().unwrap();
        let (a, d) = (accepted.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            while !d.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        a.fetch_add(1, Ordering::SeqCst);
                        stream.set_nonblocking(false).unwrap();
                        stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        let _ = stream.read(&mut [0u8; 4096]);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Dropper {
            addr,
            accepted,
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Dropper {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A request that may have reached the server is not retried, unless the call is idempotent.
#[test]
fn maybe_processed_calls_are_retried_only_when_idempotent() {
    for (idempotent, want) in [(false, 1), (true, 2)] {
        let dropper = Dropper::start();
        let client = HttpClient::builder()
            .call_address(&dropper.addr.to_string())
            .retries(1)
            .build();
        let options = CallOptions {
            idempotent,
            ..CallOptions::default()
        };
        let result: Result<serde_json::Value, Error> =
            (&client as &dyn Client).call_with("svc", "A.B", &serde_json::json!({}), &options);
        assert!(result.is_err(), "a dropped connection is an error");
        assert_eq!(
            dropper.accepted.load(Ordering::SeqCst),
            want,
            "idempotent={idempotent}"
        );
    }
}

/// A refused connection never reached the server, so it is retried (and 0 retries turns that off).
#[test]
fn refused_connections_are_retried() {
    for (retries, succeeds) in [(0, false), (6, true)] {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // The server comes up a moment after the first attempt was refused.
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            Service::new("svc")
                .address(&addr.to_string())
                .rpc("A.B", |_: &Context, v: serde_json::Value| Ok(v))
                .start()
                .unwrap()
        });
        let client = HttpClient::builder()
            .call_address(&addr.to_string())
            .retries(retries)
            .build();
        let result: Result<serde_json::Value, Error> =
            (&client as &dyn Client).call("svc", "A.B", &serde_json::json!({"ok": 1}));
        stop("late", late.join().unwrap());
        match result {
            Ok(v) => assert!(succeeds, "retries={retries} succeeded: {v}"),
            Err(e) => {
                assert!(!succeeds, "retries={retries}: {e}");
                assert_eq!(e.status(), 503, "{e}");
            }
        }
    }
}

/// With a namespace, `:PORT` targets become `name.NS.svc.cluster.local` (through the override map),
/// and a call can name another namespace.
#[test]
fn namespaced_targets_go_through_the_override_map() {
    let seen = Seen::default();
    let last = last_hop("http", &seen, Duration::ZERO);
    let port = last.addr().port();
    let client = HttpClient::builder()
        .call_address(&format!(":{port}"))
        .namespace(Some("team-a"))
        .resolve(&format!(
            "test-last.team-a.svc.cluster.local:{port}={}",
            last.addr()
        ))
        .unwrap()
        .resolve(&format!(
            "test-last.team-b.svc.cluster.local:{port}={}",
            last.addr()
        ))
        .unwrap()
        .build();
    let client: &dyn Client = &client;
    let _: serde_json::Value = client
        .call("test.last", "Last.Echo", &serde_json::json!({}))
        .unwrap();
    let host = |seen: &Seen| latest(seen).get("host").cloned().unwrap_or_default();
    assert_eq!(
        host(&seen),
        format!("test-last.team-a.svc.cluster.local:{port}"),
        "Host has no trailing dot"
    );
    let other = CallOptions {
        namespace: Some("team-b".into()),
        ..CallOptions::default()
    };
    let _: serde_json::Value = client
        .call_with("test.last", "Last.Echo", &serde_json::json!({}), &other)
        .unwrap();
    assert_eq!(host(&seen), format!("test-last.team-b.svc.cluster.local:{port}"));
    stop("http", last);
}

/// A spent budget gets 408 and a malformed one 400, without running the handler (which would panic).
#[test]
fn spent_or_malformed_budgets_never_reach_the_handler() {
    for &server in servers() {
        let srv = crate::support::sample(server);
        for (timeout, status) in [("0", 408), ("-1", 408), ("5s", 400)] {
            let mut conn = Http::connect(server, srv.addr());
            let header = format!("Timeout: {timeout}");
            conn.send(request(
                "POST",
                "/Example.Panic",
                &[&header, "Content-Type: application/json"],
                "{}",
            ));
            check(&conn.read(), status, "");
        }
        stop(server, srv);
    }
}

/// A call can pick its client plugin in its options: the service's default stays HTTP, one
/// call goes over gRPC, and the backend counts one of each.
#[test]
fn a_call_chooses_grpc_in_its_options() {
    let srv = crate::support::sample("http");
    let port = srv.addr().port();
    let front = Service::new("test.front")
        .address("127.0.0.1:0")
        .call_address(&format!(":{port}"))
        .resolve(&format!("go-micro-srv-sample:{port}={}", srv.addr()))
        .api("/both", &["GET"], |ctx: &Context, _: Request| {
            let hello = serde_json::json!({ "name": "Both" });
            let over_http: serde_json::Value = ctx.call(crate::support::SRV, "Example.Call", &hello)?;
            let grpc = CallOptions::default().with_client(ClientKind::Grpc);
            let over_grpc: serde_json::Value =
                ctx.call_with(crate::support::SRV, "Example.Call", &hello, &grpc)?;
            Response::json(&[over_http, over_grpc])
        })
        .start()
        .unwrap();
    let resp = crate::support::exchange("front", front.addr(), &request("GET", "/both", &[], ""));
    check(&resp, 200, r#"[{"msg":"Hello Both"},{"msg":"Hello Both"}]"#);
    // A request is recorded once its answer is out, so the caller may be back first.
    let scrape = || crate::support::exchange("srv", srv.addr(), &request("GET", "/metrics", &[], "")).text();
    for protocol in ["http1", "grpc"] {
        let line = format!(
            r#"micro_server_requests_total{{route="/Example.Call",code="200",protocol="{protocol}"}} 1"#
        );
        crate::support::within(Duration::from_secs(5), || scrape().contains(&line));
        let metrics = scrape();
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
    stop("front", front);
    stop("srv", srv);
}
