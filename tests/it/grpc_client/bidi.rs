//! Duplex calls (client and bidirectional streaming) between our `GrpcClient` and our server:
//! the template's `Example.PingPong` interleaved and at once, a client stream answered once,
//! the receive window bounding a client whose server stopped reading, a client's reset, the
//! server's deadline ending the handler's `Incoming`, a drain ending a call left open, a message
//! over the limit, and the same endpoint half duplex over HTTP/1.1 (NDJSON in, NDJSON out) and
//! refused by a client that cannot stream requests.

use super::*;
use micro_mesh::{HttpClient, Incoming};

use crate::pb::{Stroke, template};

/// What a duplex handler saw: the messages it took, and how its `Incoming` ended (the
/// error's status, or 0 for a clean end).
type Seen = (usize, u16);

/// The template (PingPong) plus:
/// - `Example.Sum`: reads every Ping, then sends one Pong with the strokes' sum;
/// - `Example.Stall`: takes one Ping, waits to be released, then reports how `Incoming` ends;
/// - `Example.Quit`: takes one Ping and returns (OK) while the client still sends;
/// - `Example.Watch`: echoes each Ping, reports how `Incoming` ended.
fn start_duplex() -> (ServiceHandle, Receiver<Seen>, Sender<()>) {
    start_duplex_with(Limits::default())
}

/// [`start_duplex`] with `limits`.
fn start_duplex_with(limits: Limits) -> (ServiceHandle, Receiver<Seen>, Sender<()>) {
    let (report, seen) = mpsc::channel::<Seen>();
    let (release, released) = mpsc::channel::<()>();
    let (stall_report, watch_report) = (Mutex::new(report.clone()), Mutex::new(report));
    let released = Mutex::new(released);
    let service = Service::new(SRV)
        .server_name("http")
        .address("127.0.0.1:0")
        .limits(limits);
    let handle = template(service)
        .bidi_proto::<Stroke, Stroke, _>("Example.Sum", |_, pings, out| {
            let mut sum = 0;
            for ping in pings {
                sum += ping?.stroke;
            }
            out.send(&Stroke { stroke: sum })
        })
        .bidi_proto::<Stroke, Stroke, _>("Example.Stall", move |_, mut pings, _| {
            let first = pings.next();
            let _ = released.lock().unwrap().recv_timeout(Duration::from_secs(20));
            let end = pings.find_map(Result::err).map_or(0, |e| e.status());
            let _ = stall_report
                .lock()
                .unwrap()
                .send((usize::from(first.is_some()), end));
            Ok(())
        })
        .bidi_proto::<Stroke, Stroke, _>("Example.Quit", |_, mut pings, _| {
            pings.next().transpose().map(drop)
        })
        .bidi_proto::<Stroke, Stroke, _>("Example.Watch", move |_, pings: Incoming<Stroke>, out| {
            let (mut n, mut end) = (0, 0);
            for ping in pings {
                match ping {
                    Ok(ping) => {
                        n += 1;
                        // A send may fail once the client is gone; the incoming side says why.
                        let _ = out.send(&ping);
                    }
                    Err(e) => end = e.status(),
                }
            }
            let _ = watch_report.lock().unwrap().send((n, end));
            Ok(())
        })
        .start()
        .expect("starting the duplex sample");
    (handle, seen, release)
}

/// Send one Ping, read its Pong, 500 rounds on one stream; then the end, with status OK.
#[test]
fn ping_pong_interleaves_send_one_receive_one_for_many_rounds() {
    let _clients = CLIENTS.read();
    let (srv, _, _) = start_duplex();
    let client = client(srv.addr());
    let mut call = client
        .bidi_proto::<Stroke, Stroke>(SRV, "Example.PingPong", &options())
        .unwrap();
    for stroke in 1..=500 {
        call.send(&Stroke { stroke }).unwrap();
        let pong = call.next().expect("a Pong before the end").unwrap();
        assert_eq!(pong.stroke, stroke);
    }
    call.close_send().unwrap();
    assert!(call.next().is_none(), "a clean end after the last Pong");
    // JSON too, through the typed JSON wrapper.
    let mut json = client
        .bidi::<serde_json::Value, serde_json::Value>(SRV, "Example.PingPong", &options())
        .unwrap();
    json.send(&serde_json::json!({"stroke": 7})).unwrap();
    assert_eq!(json.next().unwrap().unwrap()["stroke"], 7);
    json.close_send().unwrap();
    assert!(json.next().is_none());
    drop(client);
    stop("grpc bidi ping-pong", srv);
}

/// A client stream: 2000 Pings sent, the side closed, then exactly one reply (their sum).
#[test]
fn client_streaming_many_sends_then_one_reply() {
    let _clients = CLIENTS.read();
    let (srv, _, _) = start_duplex();
    let client = client(srv.addr());
    let mut call = client
        .bidi_proto::<Stroke, Stroke>(SRV, "Example.Sum", &options())
        .unwrap();
    for stroke in 1..=2000 {
        call.send(&Stroke { stroke }).unwrap();
    }
    call.close_send().unwrap();
    let replies: Vec<i64> = call.map(|r| r.unwrap().stroke).collect();
    assert_eq!(replies, [2000 * 2001 / 2]);
    drop(client);
    stop("grpc client stream", srv);
}

/// A handler that stops reading bounds its client by the stream's 1 MiB receive window: the
/// client's sends block once it is spent (no more than a window's worth went out), its
/// deadline then fails the send with a 408 and cancels the call, and the handler, released,
/// finds its `Incoming` ended by that reset.
#[test]
fn a_handler_that_stops_reading_blocks_its_client_within_the_window() {
    let _clients = CLIENTS.read();
    let (srv, seen, release) = start_duplex();
    let client = client(srv.addr());
    let budget = CallOptions::default().with_timeout(Duration::from_secs(1));
    let mut call = client
        .bidi_proto::<Stroke, Hello>(SRV, "Example.Stall", &budget)
        .unwrap();
    let _ = &mut call;
    let mut raw = call.into_raw();
    let message = vec![b'x'; 64 * 1024];
    let framed = message.len() + 5;
    let mut sent = 0usize;
    let started = Instant::now();
    let err = loop {
        match raw.send(&message) {
            Ok(()) => sent += 1,
            Err(err) => break err,
        }
        assert!(sent * framed <= 1 << 20, "{sent} messages went past the window");
    };
    assert_eq!(err.status(), 408, "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "failed before its deadline"
    );
    assert!(
        sent >= 8,
        "only {sent} messages flowed before the window was spent"
    );
    release.send(()).unwrap();
    let (took, end) = seen
        .recv_timeout(Duration::from_secs(10))
        .expect("the handler's report");
    assert_eq!(took, 1);
    assert_eq!(end, 503, "the client's reset ends the handler's Incoming");
    drop(raw);
    drop(client);
    stop("grpc bidi window", srv);
}

/// Dropping a call mid-stream resets it (CANCEL): the handler's `Incoming` ends with an
/// error after the messages it took.
#[test]
fn a_client_reset_mid_stream_ends_the_handlers_incoming() {
    let _clients = CLIENTS.read();
    let (srv, seen, _release) = start_duplex();
    let client = client(srv.addr());
    let mut call = client
        .bidi_proto::<Stroke, Stroke>(SRV, "Example.Watch", &options())
        .unwrap();
    for stroke in 1..=3 {
        call.send(&Stroke { stroke }).unwrap();
        assert_eq!(call.next().unwrap().unwrap().stroke, stroke);
    }
    drop(call);
    let report = seen
        .recv_timeout(Duration::from_secs(10))
        .expect("the handler's report");
    assert_eq!(report, (3, 503));
    drop(client);
    stop("grpc bidi reset", srv);
}

/// The call's deadline, kept by the server: a client that goes quiet past it sees
/// DEADLINE_EXCEEDED (408), and the handler's `Incoming` ends with a 408.
#[test]
fn the_servers_deadline_ends_the_handlers_incoming() {
    let _clients = CLIENTS.read();
    let (srv, seen, _release) = start_duplex();
    let client = client(srv.addr());
    let budget = CallOptions::default().with_timeout(Duration::from_millis(400));
    let mut call = client
        .bidi_proto::<Stroke, Stroke>(SRV, "Example.Watch", &budget)
        .unwrap();
    call.send(&Stroke { stroke: 1 }).unwrap();
    assert_eq!(call.next().unwrap().unwrap().stroke, 1);
    let report = seen
        .recv_timeout(Duration::from_secs(10))
        .expect("the handler's report");
    assert_eq!(report, (1, 408));
    let last = call.next().expect("the deadline as the last item").unwrap_err();
    assert_eq!(last.status(), 408, "{last}");
    drop(client);
    stop("grpc bidi deadline", srv);
}

/// Over HTTP/1.1 the endpoint is half duplex: NDJSON Pings in the body, NDJSON Pongs back; a
/// client that cannot stream requests says so (501) before sending anything; an unknown
/// duplex method over gRPC is a 501 as the first item.
#[test]
fn http11_is_half_duplex_ndjson_and_unknown_or_unstreamable_calls_are_501() {
    let _clients = CLIENTS.read();
    let (srv, _, _) = start_duplex();
    let body = "{\"stroke\":1}\n{\"stroke\":2}\n\n{\"stroke\":3}\n";
    let raw = format!(
        "POST /Example.PingPong HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let resp = crate::support::exchange("half duplex", srv.addr(), &raw);
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.header("content-type"), Some("application/x-ndjson"));
    let text = String::from_utf8_lossy(&resp.body);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, [r#"{"stroke":1}"#, r#"{"stroke":2}"#, r#"{"stroke":3}"#]);
    let http = HttpClient::builder()
        .call_address(&srv.addr().to_string())
        .build();
    let err = http
        .bidi_proto::<Stroke, Stroke>(SRV, "Example.PingPong", &options())
        .unwrap_err();
    assert_eq!(err.status(), 501, "{err}");
    let client = client(srv.addr());
    let mut call = client
        .bidi_proto::<Stroke, Stroke>(SRV, "Example.Nope", &options())
        .unwrap();
    let _ = call.send(&Stroke { stroke: 1 });
    let err = call.next().expect("the status").unwrap_err();
    assert_eq!(err.status(), 501, "{err}");
    assert!(call.next().is_none());
    drop(client);
    stop("bidi over http/1.1", srv);
}

/// A drain does not wait forever for a duplex call its client keeps open: past the shutdown
/// timeout the connection is shut, the handler's `Incoming` ends (503), the client's call
/// ends with an error, and `stop` returns.
#[test]
fn a_drain_ends_a_duplex_call_left_open() {
    let _clients = CLIENTS.read();
    let limits = Limits {
        shutdown_delay: Duration::ZERO,
        shutdown_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (srv, seen, _release) = start_duplex_with(limits);
    let client = client(srv.addr());
    let mut call = client
        .bidi_proto::<Stroke, Stroke>(SRV, "Example.Watch", &options())
        .unwrap();
    call.send(&Stroke { stroke: 1 }).unwrap();
    assert_eq!(call.next().unwrap().unwrap().stroke, 1);
    let started = Instant::now();
    srv.stop().expect("stopping");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );
    let report = seen
        .recv_timeout(Duration::from_secs(5))
        .expect("the handler's report");
    assert_eq!(report, (1, 503));
    let end = call.next().expect("the call's end").unwrap_err();
    assert_eq!(end.status(), 503, "{end}");
    assert!(call.next().is_none());
}

/// A streamed message over the body limit is refused as it is announced: the handler's
/// `Incoming` yields the 413, the call ends RESOURCE_EXHAUSTED (413 back), after the Pongs of
/// the messages before it.
#[test]
fn a_streamed_message_over_the_limit_ends_the_call_with_resource_exhausted() {
    let _clients = CLIENTS.read();
    let limits = Limits {
        max_body: 1024,
        ..Limits::default()
    };
    let (srv, _, _) = start_duplex_with(limits);
    let client = client(srv.addr());
    let mut call = client
        .bidi::<serde_json::Value, serde_json::Value>(SRV, "Example.PingPong", &options())
        .unwrap();
    call.send(&serde_json::json!({"stroke": 1})).unwrap();
    assert_eq!(call.next().unwrap().unwrap()["stroke"], 1);
    let _ = call.send(&serde_json::json!({"stroke": 2, "pad": "x".repeat(2048)}));
    let err = call.next().expect("the status").unwrap_err();
    assert_eq!(err.status(), 413, "{err}");
    assert!(call.next().is_none());
    drop(client);
    stop("grpc bidi over the limit", srv);
}

/// A service's two plugins: a duplex call that names no plugin goes over gRPC even when HTTP
/// is the default (HTTP/1.1 cannot stream a request); one that names HTTP gets its 501.
#[test]
fn plugins_send_duplex_calls_over_grpc_unless_told_otherwise() {
    let _clients = CLIENTS.read();
    let (srv, _, _) = start_duplex();
    let plugins = micro_mesh::Plugins {
        default: micro_mesh::ClientKind::Http,
        http: HttpClient::builder()
            .call_address(&srv.addr().to_string())
            .build(),
        grpc: client(srv.addr()),
    };
    let mut call = plugins
        .bidi_proto::<Stroke, Stroke>(SRV, "Example.PingPong", &options())
        .unwrap();
    call.send(&Stroke { stroke: 5 }).unwrap();
    assert_eq!(call.next().unwrap().unwrap().stroke, 5);
    drop(call);
    let http = options().with_client(micro_mesh::ClientKind::Http);
    let err = plugins
        .bidi_proto::<Stroke, Stroke>(SRV, "Example.PingPong", &http)
        .unwrap_err();
    assert_eq!(err.status(), 501, "{err}");
    drop(plugins);
    stop("plugins bidi", srv);
}

/// A handler that returns while its client still sends ends the call (OK, then a reset with
/// NO_ERROR): a send blocked on the spent window wakes at once with an error, long before its
/// deadline, and the replies end cleanly.
#[test]
fn a_handler_returning_early_wakes_a_blocked_sender() {
    let _clients = CLIENTS.read();
    let (srv, _, _) = start_duplex();
    let client = client(srv.addr());
    let budget = CallOptions::default().with_timeout(Duration::from_secs(20));
    let mut call = client
        .bidi_proto::<Stroke, Hello>(SRV, "Example.Quit", &budget)
        .unwrap();
    let _ = &mut call;
    let mut raw = call.into_raw();
    let message = vec![b'x'; 64 * 1024];
    let started = Instant::now();
    let err = loop {
        if let Err(err) = raw.send(&message) {
            break err;
        }
    };
    assert_eq!(err.status(), 503, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken after {:?}",
        started.elapsed()
    );
    assert!(raw.next().is_none(), "the handler's OK ends the replies");
    drop(raw);
    drop(client);
    stop("grpc bidi early end", srv);
}
