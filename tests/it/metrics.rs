//! Prometheus metrics at `GET /metrics` (protocol.md section 11): counted from the pipeline's
//! records, answered outside every cap by both servers, accepted by Prometheus's own checker.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use micro_mesh::{Caller, Limits, Service};

use crate::support::{
    API, Hello, SRV, api, check, closed_addr, exchange, request, rpc, sample_with, servers, stop,
};

/// The value of the sample `name{labels...}` (every given label must match), if present.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let wanted = metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        wanted.then(|| value.parse().ok()).flatten()
    })
}

/// Reads `/metrics` of `addr` as text, asserting the Prometheus content type.
fn scrape(label: &str, addr: std::net::SocketAddr) -> String {
    let resp = exchange(label, addr, &request("GET", "/metrics", &[], ""));
    check(&resp, 200, "");
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "[{label}] {resp:?}");
    resp.text()
}

/// Polls `/metrics` until `name{labels}` reads `want` (5 s at most): the server's own account,
/// used instead of sleeping while a request is in a handler.
fn await_value(label: &str, addr: std::net::SocketAddr, name: &str, want: f64) -> String {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let text = scrape(label, addr);
        if value(&text, name, &[]) == Some(want) {
            return text;
        }
        assert!(
            Instant::now() < until,
            "[{label}] {name} never read {want}:\n{text}"
        );
        std::thread::yield_now();
    }
}

/// The sample service on `server` with one in-flight slot.
fn one_slot(server: &str) -> micro_mesh::ServiceHandle {
    sample_with(
        server,
        Limits {
            max_in_flight: 1,
            ..Limits::default()
        },
    )
}

/// Runs `f` while a 300 ms request holds the only in-flight slot (known from the server's own
/// in-flight gauge, not a sleep), then checks that request's answer.
fn with_the_slot_held(server: &str, addr: std::net::SocketAddr, f: impl FnOnce()) {
    let sleeper = std::thread::spawn(move || exchange("sleeper", addr, &rpc("Example.Sleep", "{}")));
    await_value(server, addr, "micro_server_requests_in_flight", 1.0);
    f();
    check(&sleeper.join().expect("sleeper"), 200, "slept");
}

/// Requests of each kind, an error of each kind and one shed request are counted exactly, by
/// route (an unknown path under `unmatched`, never its text), code and protocol.
#[test]
fn counters_match_the_requests_sent_on_both_servers() {
    for &server in servers() {
        let srv = one_slot(server);
        let addr = srv.addr();
        let call = |body: &str| exchange(server, addr, &rpc("Example.Call", body));
        for _ in 0..3 {
            check(&call(r#"{"name":"Hobo"}"#), 200, "Hello Hobo");
        }
        check(&call(r#"{"name":""}"#), 400, "must not be empty");
        let form = ["Content-Type: application/x-www-form-urlencoded"];
        check(
            &exchange(server, addr, &request("POST", "/Example.Call", &form, "a=b")),
            415,
            "",
        );
        check(
            &exchange(server, addr, &rpc("Example.Panic", "{}")),
            500,
            "panicked",
        );
        for path in ["/secret-one?token=x", "/secret-two"] {
            check(
                &exchange(server, addr, &request("GET", path, &[], "")),
                404,
                "unknown path",
            );
        }
        check(
            &exchange(server, addr, &request("GET", "/health", &[], "")),
            200,
            "ok",
        );
        // While one request holds the only in-flight slot, the next is shed with a 503.
        with_the_slot_held(server, addr, || {
            check(&call(r#"{"name":"Shed"}"#), 503, "server busy")
        });

        let text = await_value(server, addr, "micro_server_requests_in_flight", 0.0);
        let requests = |route: &str, code: &str| {
            let labels = [("route", route), ("code", code), ("protocol", "http1")];
            value(&text, "micro_server_requests_total", &labels).unwrap_or(0.0)
        };
        let want = [
            ("/Example.Call", "200", 3.0),
            ("/Example.Call", "400", 1.0),
            ("/Example.Call", "415", 1.0),
            ("/Example.Call", "503", 1.0),
            ("/Example.Panic", "500", 1.0),
            ("/Example.Sleep", "200", 1.0),
            ("unmatched", "404", 2.0),
            ("/health", "200", 1.0),
        ];
        for (route, code, n) in want {
            assert_eq!(requests(route, code), n, "[{server}] {route} {code}:\n{text}");
        }
        let shed = value(&text, "micro_server_shed_total", &[("reason", "in_flight")]);
        assert_eq!(shed, Some(1.0), "[{server}]\n{text}");
        let calls = [("route", "/Example.Call"), ("protocol", "http1")];
        let count = value(&text, "micro_server_request_duration_seconds_count", &calls);
        assert_eq!(
            count,
            Some(6.0),
            "[{server}] one observation per request:\n{text}"
        );
        assert!(
            !text.contains("secret"),
            "[{server}] a raw path became a label:\n{text}"
        );
        for process in [
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                value(&text, process, &[]).is_some_and(|v| v > 0.0),
                "[{server}] {process}:\n{text}"
            );
        }
        stop(server, srv);
    }
}

/// The metrics answer while every handler slot is taken, like health; `--metrics_path=` (empty)
/// turns them off, and then `/metrics` is an unknown path like any other.
#[test]
fn metrics_skip_the_caps_and_can_be_turned_off() {
    for &server in servers() {
        let srv = one_slot(server);
        let addr = srv.addr();
        // Scraped while the one slot is held (how the helper knows it is held), and again.
        with_the_slot_held(server, addr, || {
            let text = scrape(server, addr);
            assert_eq!(
                value(&text, "micro_server_requests_in_flight", &[]),
                Some(1.0),
                "{text}"
            );
            check(
                &exchange(server, addr, &request("GET", "/health", &[], "")),
                200,
                "ok",
            );
        });
        stop(server, srv);

        let off = Service::new(SRV)
            .server_name(server)
            .address("127.0.0.1:0")
            .metrics_path("")
            .start()
            .expect("start");
        let resp = exchange(server, off.addr(), &request("GET", "/metrics", &[], ""));
        check(&resp, 404, "unknown path /metrics");
        stop(server, off);
    }
}

/// The client counts its calls by target service, endpoint and code, and its retries.
#[test]
fn client_calls_and_retries_are_counted() {
    let srv = sample_with("http", Limits::default());
    let front = api("http", &srv);
    for name in ["Hobo", "Kit", ""] {
        let _ = exchange(
            "api",
            front.addr(),
            &request("GET", &format!("/example/call?name={name}"), &[], ""),
        );
    }
    let text = scrape("api", front.addr());
    let calls = |code: &str| {
        let labels = [("service", SRV), ("endpoint", "Example.Call"), ("code", code)];
        value(&text, "micro_client_calls_total", &labels)
    };
    assert_eq!((calls("200"), calls("400")), (Some(2.0), Some(1.0)), "{text}");
    let timed = [("service", SRV), ("endpoint", "Example.Call")];
    assert_eq!(
        value(&text, "micro_client_call_duration_seconds_count", &timed),
        Some(3.0),
        "{text}"
    );

    // A backend that refuses: one retry (the default), then a 503.
    let lonely = Service::new(API)
        .address("127.0.0.1:0")
        .call_address(&closed_addr().to_string())
        .api("/example/call", &["GET"], crate::support::api_example_call)
        .start()
        .expect("start");
    let resp = exchange(
        "lonely",
        lonely.addr(),
        &request("GET", "/example/call?name=x", &[], ""),
    );
    check(&resp, 503, "upstream unreachable");
    let text = scrape("lonely", lonely.addr());
    let labels = [("service", SRV), ("endpoint", "Example.Call")];
    assert_eq!(
        value(&text, "micro_client_retries_total", &labels),
        Some(1.0),
        "{text}"
    );
    let failed = [("service", SRV), ("endpoint", "Example.Call"), ("code", "503")];
    assert_eq!(
        value(&text, "micro_client_calls_total", &failed),
        Some(1.0),
        "{text}"
    );
    stop("lonely", lonely);
    stop("api", front);
    stop("srv", srv);
}

/// Prometheus's own checker accepts a live service's output (Debian's `prometheus` package
/// ships `promtool`; CI installs it, a machine without it skips visibly).
#[test]
fn promtool_accepts_the_exposition() {
    let Ok(version) = Command::new("promtool").arg("--version").output() else {
        eprintln!("SKIP promtool_accepts_the_exposition: promtool not found (apt-get install prometheus)");
        return;
    };
    assert!(version.status.success(), "promtool --version failed");
    let srv = sample_with("http", Limits::default());
    let client = crate::support::client_to(srv.addr());
    let _: crate::support::Reply = client
        .call(SRV, "Example.Call", &Hello { name: "Prom".into() })
        .expect("a call, so that every family has samples");
    let _ = exchange("404", srv.addr(), &request("GET", "/nope", &[], ""));
    let text = scrape("http", srv.addr());
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
    stop("http", srv);
}
