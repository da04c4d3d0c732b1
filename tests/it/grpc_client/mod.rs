//! `GrpcClient` against our own HTTP/2 server, through the public API: unary calls in protobuf
//! and JSON, a long server stream with bounded memory, an early drop resetting the stream,
//! go-micro errors round-tripping, deadlines, concurrency over a small pool, a drain while
//! calls run, and the reader threads joined when the client drops.
//!
//! Every wait is bounded; nothing sleeps to synchronise. Tests that count the client's reader
//! threads take [`CLIENTS`] for writing, every other test for reading, so no other
//! `GrpcClient` of this module runs while threads are counted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use micro_mesh::{CallOptions, Caller, Context, Error, GrpcClient, Limits, Service, ServiceHandle, Stream};

use crate::pb::{Count, Hello, Reply as Answer};
use crate::support::{SRV, closed_addr, stop, within};

/// Held for reading by every test here, for writing while reader threads are counted.
static CLIENTS: RwLock<()> = RwLock::new(());

/// What the stream handler reports: messages sent so far, and each stream's outcome.
struct Probe {
    sent: Arc<AtomicUsize>,
    outcomes: Receiver<Result<usize, usize>>,
    /// Releases `Example.Slow`'s handler.
    release: Sender<()>,
}

/// `go.micro.srv.sample` over the `http` server (HTTP/2 on the same port): `Example.Call`
/// (protobuf and JSON), `Example.Stream` (counts, reporting each stream's outcome),
/// `Example.Fail` (a go-micro error), `Example.Slow` (waits to be released).
fn start(limits: Limits) -> (ServiceHandle, Probe) {
    let sent = Arc::new(AtomicUsize::new(0));
    let (report, outcomes) = mpsc::channel::<Result<usize, usize>>();
    let (release, released) = mpsc::channel::<()>();
    let report = Mutex::new(report);
    let released = Mutex::new(released);
    let counter = sent.clone();
    let handle = Service::new(SRV)
        .server_name("http")
        .address("127.0.0.1:0")
        .limits(limits)
        .rpc_proto("Example.Call", |_: &Context, req: Hello| {
            Ok(Answer {
                msg: format!("Hello {}", req.name),
            })
        })
        .stream_proto(
            "Example.Stream",
            move |_: &Context, req: Count, out: &mut Stream<'_, Count>| {
                let mut n = 0;
                for count in 0..req.count {
                    if let Err(e) = out.send(&Count { count }) {
                        let _ = report.lock().unwrap().send(Err(n));
                        return Err(e);
                    }
                    n += 1;
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                let _ = report.lock().unwrap().send(Ok(n));
                Ok(())
            },
        )
        .rpc_proto("Example.Fail", |_: &Context, _: Hello| -> Result<Answer, Error> {
            Err(Error::with_id("go.micro.srv.custom", 409, "already taken"))
        })
        .rpc_proto("Example.Slow", move |_: &Context, _: Hello| {
            let _ = released.lock().unwrap().recv_timeout(Duration::from_secs(20));
            Ok(Answer { msg: "late".into() })
        })
        .start()
        .expect("starting the gRPC sample");
    let probe = Probe {
        sent,
        outcomes,
        release,
    };
    (handle, probe)
}

/// A gRPC client sending every call to `addr`.
fn client(addr: SocketAddr) -> GrpcClient {
    GrpcClient::builder().call_address(&addr.to_string()).build()
}

fn options() -> CallOptions {
    CallOptions::default().with_timeout(Duration::from_secs(20))
}

#[test]
fn unary_calls_in_protobuf_and_json() {
    let _clients = CLIENTS.read();
    let (srv, _probe) = start(Limits::default());
    let client = client(srv.addr());
    let hello = Hello { name: "Hobo".into() };
    let reply: Answer = client
        .call_proto(SRV, "Example.Call", &hello, &options())
        .unwrap();
    assert_eq!(reply.msg, "Hello Hobo");
    let reply: serde_json::Value = client
        .call_with(
            SRV,
            "Example.Call",
            &serde_json::json!({"name": "Json"}),
            &options(),
        )
        .unwrap();
    assert_eq!(reply["msg"], "Hello Json");
    drop(client);
    stop("grpc unary", srv);
}

#[test]
fn errors_round_trip_and_unknown_methods_are_501() {
    let _clients = CLIENTS.read();
    let (srv, _probe) = start(Limits::default());
    let client = client(srv.addr());
    let hello = Hello { name: "x".into() };
    let err = client
        .call_proto::<_, Answer>(SRV, "Example.Fail", &hello, &options())
        .unwrap_err();
    assert_eq!(err.status(), 409, "{err}");
    assert_eq!(err.id(), "go.micro.srv.custom");
    assert_eq!(err.detail(), "already taken");
    let err = client
        .call_proto::<_, Answer>(SRV, "Example.Nothing", &hello, &options())
        .unwrap_err();
    assert_eq!(err.status(), 501, "UNIMPLEMENTED maps back to 501: {err}");
    let refused = GrpcClient::builder()
        .call_address(&closed_addr().to_string())
        .build();
    let err = refused
        .call_proto::<_, Answer>(SRV, "Example.Call", &hello, &options())
        .unwrap_err();
    assert_eq!(err.status(), 503, "a refused connection: {err}");
    drop(client);
    stop("grpc errors", srv);
}

#[test]
fn a_long_server_stream_flows_with_bounded_memory() {
    let _clients = CLIENTS.read();
    let (srv, probe) = start(Limits::default());
    let window = 64 * 1024;
    let client = GrpcClient::builder()
        .call_address(&srv.addr().to_string())
        .stream_window(window)
        .build();
    const N: i64 = 100_000;
    let mut messages = client
        .stream::<_, Count>(SRV, "Example.Stream", &Count { count: N }, &options())
        .unwrap();
    assert_eq!(messages.next().unwrap().unwrap().count, 0);
    // While we read nothing, the server can run ahead only as far as the stream's window: a
    // message is at least 7 bytes on the wire, so at most window / 7 of them (plus one).
    let ahead = window as usize / 7 + 2;
    assert!(within(Duration::from_secs(10), || probe
        .sent
        .load(Ordering::Relaxed)
        >= 1000));
    let ran_away = within(Duration::from_millis(500), || {
        probe.sent.load(Ordering::Relaxed) > ahead
    });
    assert!(
        !ran_away,
        "{} sent while 1 was read",
        probe.sent.load(Ordering::Relaxed)
    );
    let mut next = 1;
    for message in messages {
        assert_eq!(message.unwrap().count, next);
        next += 1;
        let sent = probe.sent.load(Ordering::Relaxed);
        assert!(sent <= next as usize + ahead, "{sent} sent, {next} read");
    }
    assert_eq!(next, N);
    let outcome = probe.outcomes.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(outcome, Ok(N as usize));
    drop(client);
    stop("grpc stream", srv);
}

#[test]
fn dropping_a_stream_early_resets_it_and_the_handler_stops() {
    let _clients = CLIENTS.read();
    let (srv, probe) = start(Limits::default());
    let client = client(srv.addr());
    let messages = client
        .stream::<_, Count>(SRV, "Example.Stream", &Count { count: 10_000_000 }, &options())
        .unwrap();
    let first: Vec<i64> = messages.take(10).map(|m| m.unwrap().count).collect();
    assert_eq!(first, (0..10).collect::<Vec<_>>());
    // `take` dropped the stream: RST_STREAM CANCEL, and the handler's next send fails.
    let outcome = probe.outcomes.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(matches!(outcome, Err(n) if n < 10_000_000), "{outcome:?}");
    let hello = Hello { name: "after".into() };
    let reply: Answer = client
        .call_proto(SRV, "Example.Call", &hello, &options())
        .unwrap();
    assert_eq!(reply.msg, "Hello after");
    drop(client);
    stop("grpc stream drop", srv);
}

#[test]
fn a_deadline_is_a_408_and_frees_the_stream_at_once() {
    let _clients = CLIENTS.read();
    // One stream per connection and one connection: the next call needs the freed place.
    let limits = Limits {
        max_concurrent_streams: 1,
        ..Limits::default()
    };
    let (srv, probe) = start(limits);
    // The server frees its stream's place only after its answer went out: a call right after
    // one may be refused (REFUSED_STREAM), which is retried.
    let client = GrpcClient::builder()
        .call_address(&srv.addr().to_string())
        .connections_per_target(1)
        .retries(10)
        .build();
    let hello = Hello { name: "x".into() };
    let warm: Answer = client
        .call_proto(SRV, "Example.Call", &hello, &options())
        .unwrap();
    assert_eq!(warm.msg, "Hello x");
    let started = Instant::now();
    let short = CallOptions::default().with_timeout(Duration::from_millis(300));
    let err = client
        .call_proto::<_, Answer>(SRV, "Example.Slow", &hello, &short)
        .unwrap_err();
    assert_eq!(err.status(), 408, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The server's handler still runs until released; its stream ended at the deadline.
    probe.release.send(()).unwrap();
    let reply: Answer = client
        .call_proto(SRV, "Example.Call", &hello, &options())
        .unwrap();
    assert_eq!(reply.msg, "Hello x");
    drop(client);
    stop("grpc deadline", srv);
}

#[test]
fn sixty_four_threads_share_two_connections() {
    let _clients = CLIENTS.read();
    let _serial = crate::support::serial();
    let (srv, _probe) = start(Limits::default());
    let client = Arc::new(client(srv.addr()));
    greet_from_threads(&client, 64, 100);
    drop(client);
    stop("grpc concurrency", srv);
}

#[test]
fn calls_wait_for_a_free_stream_within_their_budget() {
    let _clients = CLIENTS.read();
    let limits = Limits {
        max_concurrent_streams: 1,
        ..Limits::default()
    };
    let (srv, _probe) = start(limits);
    let client = Arc::new(
        GrpcClient::builder()
            .call_address(&srv.addr().to_string())
            .connections_per_target(1)
            .retries(10)
            .build(),
    );
    greet_from_threads(&client, 4, 10);
    drop(client);
    stop("grpc one stream", srv);
}

#[test]
fn a_drain_while_calls_run_loses_no_call() {
    let _clients = CLIENTS.read();
    let limits = Limits {
        shutdown_delay: Duration::from_millis(300),
        ..Limits::default()
    };
    let (srv, _probe) = start(limits);
    let client = Arc::new(client(srv.addr()));
    let done = Arc::new(AtomicBool::new(false));
    let (ok, unavailable) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let (client, done, ok) = (client.clone(), done.clone(), ok.clone());
            let unavailable = unavailable.clone();
            std::thread::spawn(move || {
                let mut i = 0;
                while !done.load(Ordering::Relaxed) {
                    let hello = Hello {
                        name: format!("{t}-{i}"),
                    };
                    match client.call_proto::<_, Answer>(SRV, "Example.Call", &hello, &options()) {
                        Ok(reply) => {
                            assert_eq!(reply.msg, format!("Hello {t}-{i}"));
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            assert_eq!(e.status(), 503, "call {t}-{i} lost: {e}");
                            unavailable.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    assert!(within(Duration::from_secs(20), || ok.load(Ordering::Relaxed) >= 50));
    srv.drain().expect("draining");
    done.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    let (ok, unavailable) = (ok.load(Ordering::Relaxed), unavailable.load(Ordering::Relaxed));
    eprintln!("drain: {ok} calls answered, {unavailable} unavailable (the listener closed)");
    assert!(ok >= 50);
}

/// Calls `Example.Call` from `threads` threads, `calls` times each, and checks every answer.
fn greet_from_threads(client: &Arc<GrpcClient>, threads: usize, calls: usize) {
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                for i in 0..calls {
                    let hello = Hello {
                        name: format!("{t}-{i}"),
                    };
                    let reply: Answer = client
                        .call_proto(SRV, "Example.Call", &hello, &options())
                        .unwrap_or_else(|e| panic!("call {t}-{i}: {e}"));
                    assert_eq!(reply.msg, format!("Hello {t}-{i}"));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

mod bidi;
mod threads;
mod wire;
