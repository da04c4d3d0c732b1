//! Hostile input: malformed, oversized, smuggling and version-confused requests get the error
//! JSON (and a closed connection where the framing is lost), never a crash, a hang, a smuggled
//! request executed, or a leaked thread; the server answers normally afterwards.
//!
//! The `http` server runs the whole battery and its thread count (threads named after its
//! port, read from `/proc/self/task`) must return to the baseline. tiny_http runs the cases it
//! survives (no `HTTP/2.0`, no huge declared body: see `server/tiny.rs`); its answers are
//! printed, and only "no request smuggled in a body is executed" and "still answers" are asserted.

use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use micro_mesh::{Context, Error, Limits, Request, Response, Service, ServiceHandle};

use crate::support::{Http, Resp, check, example_call, request, serial, stop};

/// Threads of the `http` server listening on `port` (its threads are named `http{port}-...`).
pub fn server_threads(port: u16) -> usize {
    let prefix = format!("http{port}-");
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.starts_with(&prefix))
        })
        .count()
}

/// The server's threads once started: its accept thread names itself as it starts.
pub fn baseline_threads(port: u16) -> usize {
    let until = Instant::now() + Duration::from_secs(2);
    while server_threads(port) == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    server_threads(port)
}

/// Waits up to `limit` for the server on `port` to be down to `want` threads; returns the count.
pub fn wait_threads(port: u16, want: usize, limit: Duration) -> usize {
    let until = Instant::now() + limit;
    loop {
        let n = server_threads(port);
        if n <= want || Instant::now() > until {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Limits small enough to test: 64 KiB heads, 1 MiB bodies, short timeouts, threads that retire.
fn battery_limits() -> Limits {
    Limits {
        max_body: 1 << 20,
        head_timeout: Duration::from_millis(800),
        body_timeout: Duration::from_millis(800),
        worker_idle: Duration::from_millis(50),
        ..Limits::default()
    }
}

/// A service with `Example.Call` (typed JSON), a `/hello` echo of the query, and a POST route
/// that never echoes its body, so that text inside a body cannot look like an answer.
fn target(server: &str, limits: Limits) -> ServiceHandle {
    Service::new("go.micro.srv.hostile")
        .server_name(server)
        .address("127.0.0.1:0")
        .limits(limits)
        .rpc("Example.Call", example_call)
        .rpc("Any.Echo", |_: &Context, v: serde_json::Value| Ok(v))
        .api("/hello", &["GET"], |_: &Context, req: Request| {
            Ok(Response::bytes(
                "text/plain",
                format!("hello {}", req.query_param("name").unwrap_or_default()),
            ))
        })
        .rpc_raw(
            "Sink.Take",
            |_: &Context, req: Request| -> Result<Response, Error> {
                Ok(Response::bytes("text/plain", format!("took {}", req.body.len())))
            },
        )
        .start()
        .unwrap_or_else(|e| panic!("[{server}] starting: {e}"))
}

/// What one case expects.
struct Case {
    name: &'static str,
    raw: Vec<u8>,
    /// Acceptable statuses; 0 means "closed without an answer".
    statuses: &'static [u16],
    /// The connection must close after the answer (the framing is lost).
    closes: bool,
    /// Text that must never be read back (the answer to a smuggled request).
    forbid: Option<&'static str>,
    /// Half-close after writing (a truncated body).
    eof: bool,
}

fn case(name: &'static str, raw: impl Into<Vec<u8>>, statuses: &'static [u16], closes: bool) -> Case {
    Case {
        name,
        raw: raw.into(),
        statuses,
        closes,
        forbid: None,
        eof: false,
    }
}

const SMUGGLED: &str = "GET /hello?name=smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/// The battery. `http` runs all of it; `tiny` marks the cases tiny_http survives.
fn battery() -> Vec<(Case, bool)> {
    let post =
        |headers: &str, body: &str| format!("POST /Sink.Take HTTP/1.1\r\nHost: x\r\n{headers}\r\n{body}");
    let nested = format!(
        r#"{{"name":"n","deep":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let json_to = |endpoint: &str, body: &str| {
        format!(
            "POST /{endpoint} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let json = |body: &str| json_to("Example.Call", body);
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let smuggle = |mut c: Case| {
        c.forbid = Some("hello smuggled");
        c
    };
    let truncated = |mut c: Case| {
        c.eof = true;
        c
    };
    vec![
        // Sizes and counts.
        (
            case(
                "request line over the head limit",
                format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)),
                &[431],
                true,
            ),
            false,
        ),
        (
            case(
                "header over the head limit",
                format!("GET /hello HTTP/1.1\r\nX-Big: {}\r\n\r\n", "b".repeat(70_000)),
                &[431],
                true,
            ),
            false,
        ),
        (
            case(
                "too many headers",
                format!("GET /hello HTTP/1.1\r\n{many}\r\n"),
                &[431],
                true,
            ),
            false,
        ),
        // Bad bytes.
        (
            case(
                "space in a header name",
                "GET /hello HTTP/1.1\r\nBad Header: x\r\n\r\n",
                &[400],
                true,
            ),
            true,
        ),
        (
            case(
                "control byte in a header value",
                "GET /hello HTTP/1.1\r\nX: a\x01b\r\n\r\n",
                &[400],
                true,
            ),
            true,
        ),
        (
            case("NUL in the path", "GET /hel\0lo HTTP/1.1\r\n\r\n", &[400], true),
            true,
        ),
        (
            case(
                "non-UTF-8 path",
                b"GET /\xff\xfe HTTP/1.1\r\n\r\n".to_vec(),
                &[400],
                true,
            ),
            false,
        ),
        (
            case(
                "non-UTF-8 header value (obs-text)",
                b"GET /hello?name=ok HTTP/1.1\r\nX-Name: \xff\xfe\r\n\r\n".to_vec(),
                &[200],
                false,
            ),
            true,
        ),
        (
            case(
                "obsolete line folding",
                "GET /hello HTTP/1.1\r\nX-A: a\r\n  folded\r\n\r\n",
                &[400],
                true,
            ),
            true,
        ),
        (
            case(
                "whitespace before a header colon",
                "POST /Sink.Take HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
                &[400],
                true,
            ),
            true,
        ),
        // Content-Length.
        (
            case(
                "conflicting Content-Length",
                post("Content-Length: 2\r\nContent-Length: 3\r\n", "{}x"),
                &[400],
                true,
            ),
            true,
        ),
        (
            case(
                "negative Content-Length",
                post("Content-Length: -1\r\n", ""),
                &[400],
                true,
            ),
            true,
        ),
        (
            case(
                "Content-Length list",
                post("Content-Length: 2, 2\r\n", "{}"),
                &[400],
                true,
            ),
            true,
        ),
        (
            case(
                "Content-Length past u64",
                post("Content-Length: 99999999999999999999999\r\n", ""),
                &[400],
                true,
            ),
            true,
        ),
        (
            case(
                "a 1 GB body declared up front",
                post("Content-Length: 1073741824\r\nExpect: 100-continue\r\n", ""),
                &[413],
                true,
            ),
            false,
        ),
        // Smuggling: Content-Length with Transfer-Encoding, either order.
        (
            smuggle(case(
                "CL.TE with a request in the body",
                post(
                    &format!(
                        "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
                        5 + SMUGGLED.len()
                    ),
                    &format!("0\r\n\r\n{SMUGGLED}"),
                ),
                &[400],
                true,
            )),
            true,
        ),
        (
            smuggle(case(
                "TE.CL with a request in the body",
                post(
                    "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                    &format!("0\r\n\r\n{SMUGGLED}"),
                ),
                &[400],
                true,
            )),
            true,
        ),
        (
            smuggle(case(
                "invalid Content-Length with a request as the body",
                post("Content-Length: 1x\r\n", SMUGGLED),
                &[400],
                true,
            )),
            true,
        ),
        // Transfer codings and chunks.
        (
            case(
                "unknown transfer coding",
                post("Transfer-Encoding: gzip\r\n", ""),
                &[501],
                true,
            ),
            true,
        ),
        (
            case(
                "chunked not last",
                post("Transfer-Encoding: chunked, identity\r\n", ""),
                &[400, 501],
                true,
            ),
            true,
        ),
        (
            case(
                "chunked in HTTP/1.0",
                "POST /Sink.Take HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                &[400],
                true,
            ),
            false,
        ),
        (
            case(
                "chunk size not hex",
                post("Transfer-Encoding: chunked\r\n", "zz\r\nab\r\n0\r\n\r\n"),
                &[400],
                true,
            ),
            true,
        ),
        (
            case(
                "negative chunk size",
                post("Transfer-Encoding: chunked\r\n", "-1\r\n"),
                &[400],
                true,
            ),
            true,
        ),
        (
            case(
                "chunk size past u64",
                post("Transfer-Encoding: chunked\r\n", "fffffffffffffffffffff\r\n"),
                &[400],
                true,
            ),
            true,
        ),
        (
            case(
                "chunk over the body limit",
                post("Transfer-Encoding: chunked\r\n", "10000000\r\n"),
                &[413],
                true,
            ),
            false,
        ),
        (
            case(
                "chunk data longer than its size",
                post("Transfer-Encoding: chunked\r\n", "2\r\nabcd\r\n0\r\n\r\n"),
                &[400],
                true,
            ),
            true,
        ),
        (
            case(
                "chunk extension over 4 KiB",
                post(
                    "Transfer-Encoding: chunked\r\n",
                    &format!("1;{}\r\na\r\n0\r\n\r\n", "e".repeat(5000)),
                ),
                &[400],
                true,
            ),
            false,
        ),
        (
            truncated(case(
                "truncated Content-Length body",
                post("Content-Length: 100\r\n", "only ten.."),
                &[0, 400],
                true,
            )),
            false,
        ),
        (
            truncated(case(
                "truncated chunked body",
                post("Transfer-Encoding: chunked\r\n", "a\r\nabc"),
                &[0, 400],
                true,
            )),
            false,
        ),
        // Versions.
        (
            case(
                "HTTP/2.0 request line",
                "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n",
                &[505],
                true,
            ),
            false,
        ),
        (
            // The whole preface selects HTTP/2 (tests/it/http2.rs); a preface-shaped HTTP/1.1
            // request line is HTTP/1.1.
            case(
                "preface-shaped HTTP/1.1 request line",
                "PRI * HTTP/1.1\r\nHost: x\r\n\r\nSM\r\n\r\n",
                &[400, 404, 405, 501],
                true,
            ),
            false,
        ),
        (
            case("HTTP/1.2", "GET /hello HTTP/1.2\r\n\r\n", &[505, 400], true),
            false,
        ),
        // Methods and targets.
        (
            case(
                "unknown method on a route",
                "BREW /hello HTTP/1.1\r\n\r\n",
                &[405],
                false,
            ),
            true,
        ),
        (
            case(
                "unknown method and path",
                "BREW /pot HTTP/1.1\r\n\r\n",
                &[404],
                false,
            ),
            true,
        ),
        (
            case(
                "absolute-form target",
                "GET http://example.com/hello?name=abs HTTP/1.1\r\n\r\n",
                &[200],
                false,
            ),
            false,
        ),
        (
            case("asterisk-form target", "OPTIONS * HTTP/1.1\r\n\r\n", &[400], true),
            false,
        ),
        // Bodies the JSON codec must survive.
        (
            // serde_json skips an unknown field without recursing: any depth is fine.
            case(
                "deeply nested JSON in an ignored field",
                json(&nested),
                &[200],
                false,
            ),
            true,
        ),
        (
            // Parsed: serde_json's recursion limit (128) turns it into a 400.
            case(
                "deeply nested JSON value",
                json_to(
                    "Any.Echo",
                    &format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
                ),
                &[400],
                false,
            ),
            true,
        ),
        (
            case(
                "number past f64",
                json_to("Any.Echo", r#"{"n":1e999999}"#),
                &[400],
                false,
            ),
            true,
        ),
        (
            case(
                "integer past u64 (becomes a float)",
                json_to("Any.Echo", r#"{"n":123456789012345678901234567890}"#),
                &[200],
                false,
            ),
            true,
        ),
        (
            case(
                "a number of 100,000 digits",
                json_to("Any.Echo", &format!(r#"{{"n":{}}}"#, "9".repeat(100_000))),
                &[200, 400],
                false,
            ),
            true,
        ),
        (
            case(
                "a huge number in an ignored field",
                json(&format!(r#"{{"name":"x","n":{}e99999}}"#, "9".repeat(100_000))),
                &[200, 400],
                false,
            ),
            true,
        ),
        (
            case(
                "non-UTF-8 JSON string",
                [
                    &b"POST /Example.Call HTTP/1.1\r\nContent-Length: 13\r\n\r\n"[..],
                    b"{\"name\":\"\xff\xfe\"}",
                ]
                .concat(),
                &[400],
                false,
            ),
            true,
        ),
    ]
}

/// Runs one case on a fresh connection: what it answered, whether it closed, what it sent.
/// `json`: error answers must be the error JSON (tiny_http writes its own bare 400s).
fn run_case(
    label: &str,
    addr: SocketAddr,
    case: &Case,
    read_for: Duration,
    json: bool,
) -> (u16, bool, Vec<u8>) {
    let mut conn = Http::connect(label, addr);
    let _ = conn.stream.set_read_timeout(Some(read_for));
    // The server may close before all is written (it refuses early): that is fine.
    let _ = conn.stream.write_all(&case.raw);
    if case.eof {
        let _ = conn.stream.shutdown(Shutdown::Write);
    }
    let status = match conn.try_read(false) {
        Ok(resp) => {
            if json {
                check_answer(label, case, &resp);
            }
            resp.status
        }
        Err(_) => 0,
    };
    // tiny_http keeps connections open after most errors: only wait for a close where it matters.
    let wait = case.forbid.is_some() || (json && case.closes);
    let closed = status == 0 || (wait && conn.closes_within(read_for));
    (status, closed, conn.unread().to_vec())
}

/// An error status comes with the error JSON, coded as the status.
fn check_answer(label: &str, case: &Case, resp: &Resp) {
    if resp.status >= 400 {
        let wire: micro_mesh::WireError = serde_json::from_slice(&resp.body)
            .unwrap_or_else(|e| panic!("[{label}] {}: not the error JSON ({e}):\n{resp:?}", case.name));
        assert_eq!(wire.code, resp.status, "[{label}] {}:\n{resp:?}", case.name);
    }
}

/// The `http` server: every case answered as expected, nothing smuggled, no thread leaked,
/// and the server still answers.
#[test]
fn http_only_hostile_battery() {
    let _serial = serial();
    let srv = target("http", battery_limits());
    let port = srv.addr().port();
    let baseline = baseline_threads(port);
    assert_eq!(baseline, 1, "the accept thread alone");
    for (case, _) in battery() {
        let label = format!("http: {}", case.name);
        let started = Instant::now();
        let (status, closed, rest) = run_case(&label, srv.addr(), &case, Duration::from_secs(3), true);
        assert!(
            case.statuses.contains(&status),
            "[{label}] status {status}, want one of {:?}",
            case.statuses
        );
        if case.closes {
            assert!(closed, "[{label}] the connection stayed open after {status}");
        }
        if let Some(forbidden) = case.forbid {
            let text = String::from_utf8_lossy(&rest);
            assert!(
                !text.contains(forbidden),
                "[{label}] a smuggled request was answered: {text}"
            );
        }
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "[{label}] took {took:?}");
    }
    // Still serving, and back to the accept thread alone once the connections' threads retire.
    let mut conn = Http::connect("http after", srv.addr());
    conn.send(request("GET", "/hello?name=after", &["Connection: close"], ""));
    check(&conn.read(), 200, "hello after");
    drop(conn);
    let left = wait_threads(port, baseline, Duration::from_secs(5));
    assert_eq!(
        left, baseline,
        "threads leaked: {left} vs {baseline} at the start"
    );
    stop("http", srv);
}

/// A request smuggled after a `0` chunk of a CL.TE request is never answered, on a connection
/// that stays open as long as the client likes (the server closes it).
#[test]
fn http_only_smuggled_request_is_never_answered() {
    let srv = target("http", battery_limits());
    let raw = format!(
        "POST /Sink.Take HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}",
        5 + SMUGGLED.len()
    );
    let mut conn = Http::connect("http smuggle", srv.addr());
    conn.send(raw);
    let resp = conn.read();
    check(&resp, 400, "both Content-Length and Transfer-Encoding");
    assert_eq!(resp.header("connection"), Some("close"), "{resp:?}");
    assert!(conn.closes_within(Duration::from_secs(2)), "left open");
    let rest = String::from_utf8_lossy(conn.unread()).into_owned();
    assert!(!rest.contains("smuggled"), "answered: {rest}");
    stop("http", srv);
}

/// tiny_http: the cases it survives. Its answers are printed; asserted are only that nothing
/// smuggled in a body is executed and that the server still answers afterwards.
#[test]
fn tiny_http_hostile_subset_executes_nothing_smuggled() {
    let _serial = serial();
    let srv = target("tiny_http", battery_limits());
    let mut seen = Vec::new();
    for (case, tiny) in battery() {
        if !tiny {
            continue;
        }
        let label = format!("tiny_http: {}", case.name);
        let (status, closed, rest) = run_case(&label, srv.addr(), &case, Duration::from_millis(500), false);
        let text = String::from_utf8_lossy(&rest);
        if case.forbid.is_some() {
            assert!(
                !text.contains("hello smuggled"),
                "[{label}] a smuggled request ran: {text}"
            );
        }
        seen.push(format!(
            "{}: {status}{}",
            case.name,
            if closed { ", closed" } else { "" }
        ));
    }
    eprintln!(
        "[tiny_http] hostile subset (not asserted):\n  {}",
        seen.join("\n  ")
    );
    let mut conn = Http::connect("tiny_http after", srv.addr());
    conn.send(request("GET", "/hello?name=after", &["Connection: close"], ""));
    check(&conn.read(), 200, "hello after");
    stop("tiny_http", srv);
}
