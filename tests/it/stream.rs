//! Server streaming: NDJSON messages, backpressure, mid-stream errors, early drops and deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use micro_mesh::{CallOptions, Caller, Context, Error, HttpClient, Metadata, Service, ServiceHandle, Stream};
use serde::{Deserialize, Serialize};

use crate::support::{serial, servers, stop};

#[derive(Debug, Serialize, Deserialize)]
struct Count {
    count: u64,
    #[serde(default)]
    pad: String,
    #[serde(default)]
    trace: String,
}

/// A streaming service: `Example.Stream` sends `count` messages padded to `pad` bytes (0: forever,
/// one every `every_ms`), then fails with 409 if asked; it records when its handler stopped.
fn streamer(server: &str, stopped: &Arc<AtomicBool>) -> ServiceHandle {
    #[derive(Deserialize)]
    struct Ask {
        count: u64,
        #[serde(default)]
        pad: usize,
        #[serde(default)]
        every_ms: u64,
        #[serde(default)]
        fail: bool,
    }
    let stopped = stopped.clone();
    Service::new("go.micro.srv.sample")
        .server_name(server)
        .address("127.0.0.1:0")
        .stream(
            "Example.Stream",
            move |ctx: &Context, ask: Ask, out: &mut Stream<'_, Count>| {
                let pad = "x".repeat(ask.pad);
                let trace = ctx.metadata().get("x-request-id").unwrap_or_default().to_string();
                let result = (0..)
                    .take_while(|i| ask.count == 0 || *i < ask.count)
                    .try_for_each(|count| {
                        if ask.every_ms > 0 {
                            std::thread::sleep(Duration::from_millis(ask.every_ms));
                        }
                        out.send(&Count {
                            count,
                            pad: pad.clone(),
                            trace: trace.clone(),
                        })
                    });
                stopped.store(true, Ordering::SeqCst);
                result?;
                if ask.fail {
                    return Err(Error::new(409, "conflict after the stream started"));
                }
                Ok(())
            },
        )
        .start()
        .unwrap()
}

fn open(
    srv: &ServiceHandle,
    ask: serde_json::Value,
    options: &CallOptions,
) -> Result<impl Iterator<Item = Result<Count, Error>> + use<>, Error> {
    let client = HttpClient::builder()
        .call_address(&srv.addr().to_string())
        .build();
    let ctx = Context::background(Arc::new(client));
    ctx.stream("go.micro.srv.sample", "Example.Stream", &ask, options)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap_or("VmRSS: 0 kB");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn wait_for(flag: &AtomicBool, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while !flag.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    flag.load(Ordering::SeqCst)
}

/// 100,000 messages of 512 bytes (50 MB) arrive in order while memory on both sides stays flat.
#[test]
fn a_hundred_thousand_messages_with_flat_memory() {
    let _serial = serial();
    for &server in servers() {
        let stopped = Arc::new(AtomicBool::new(false));
        let srv = streamer(server, &stopped);
        let before = rss_kib();
        let mut peak = before;
        let mut next = 0;
        for message in open(
            &srv,
            serde_json::json!({"count": 100_000, "pad": 512}),
            // A stream's budget covers all of it: generous, so a loaded machine does not cut it off.
            &CallOptions::default().with_timeout(Duration::from_secs(60)),
        )
        .unwrap()
        {
            let message = message.unwrap_or_else(|e| panic!("[{server}] message {next}: {e}"));
            assert_eq!(message.count, next, "[{server}] out of order");
            next += 1;
            if next % 10_000 == 0 {
                peak = peak.max(rss_kib());
            }
        }
        assert_eq!(next, 100_000, "[{server}]");
        let grew = peak.saturating_sub(before);
        assert!(
            grew < 20 * 1024,
            "[{server}] RSS grew {grew} KiB while streaming 50 MB"
        );
        stop(server, srv);
    }
}

/// An error after the first messages arrives as the stream's last item, with its code and id.
#[test]
fn a_mid_stream_error_ends_the_stream() {
    for &server in servers() {
        let srv = streamer(server, &Arc::new(AtomicBool::new(false)));
        let items: Vec<_> = open(
            &srv,
            serde_json::json!({"count": 3, "fail": true}),
            &CallOptions::default(),
        )
        .unwrap()
        .collect();
        assert_eq!(items.len(), 4, "[{server}] three messages and the error");
        assert!(items[..3].iter().all(Result::is_ok));
        let err = items[3].as_ref().unwrap_err();
        let wire = err.wire("x");
        assert_eq!(
            (wire.code, wire.id.as_str()),
            (409, "go.micro.srv.sample"),
            "[{server}] {err}"
        );
        assert!(wire.detail.contains("conflict"), "[{server}] {wire:?}");
        stop(server, srv);
    }
}

/// Dropping the iterator closes the connection: the handler's writes fail and it stops.
#[test]
fn a_client_that_drops_the_stream_stops_the_handler() {
    for &server in servers() {
        let stopped = Arc::new(AtomicBool::new(false));
        let srv = streamer(server, &stopped);
        let stream = open(
            &srv,
            serde_json::json!({"count": 0, "pad": 64}),
            &CallOptions::default(),
        )
        .unwrap();
        assert_eq!(stream.take(5).filter(Result::is_ok).count(), 5);
        assert!(
            wait_for(&stopped, Duration::from_secs(5)),
            "[{server}] the handler kept streaming"
        );
        stop(server, srv);
    }
}

/// A slow stream past its deadline ends with 408 at about the deadline; the handler stops too.
#[test]
fn a_deadline_expiring_mid_stream() {
    let stopped = Arc::new(AtomicBool::new(false));
    let srv = streamer("http", &stopped);
    let started = Instant::now();
    let options = CallOptions::default().with_timeout(Duration::from_millis(300));
    let items: Vec<_> = open(&srv, serde_json::json!({"count": 0, "every_ms": 40}), &options)
        .unwrap()
        .collect();
    let took = started.elapsed();
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.status(), 408, "{err}");
    assert!(items.len() > 2, "some messages came first: {}", items.len());
    assert!(took < Duration::from_millis(300 + 400), "ended after {took:?}");
    assert!(
        wait_for(&stopped, Duration::from_secs(2)),
        "the handler kept streaming"
    );
    stop("http", srv);
}

/// A stream call through a request context carries the trace headers; a bad endpoint fails upfront.
#[test]
fn streams_carry_trace_headers_and_fail_fast_on_errors() {
    let srv = streamer("http", &Arc::new(AtomicBool::new(false)));
    let client = Arc::new(
        HttpClient::builder()
            .call_address(&srv.addr().to_string())
            .build(),
    );
    let incoming: Metadata = [("x-request-id", "stream-1")].into_iter().collect();
    let ctx = Context::background(client).with_metadata(incoming);
    let first: Count = ctx
        .stream(
            "go.micro.srv.sample",
            "Example.Stream",
            &serde_json::json!({"count": 1}),
            &CallOptions::default(),
        )
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(first.trace, "stream-1");
    let err = ctx
        .stream::<_, Count>(
            "go.micro.srv.sample",
            "Example.Nope",
            &serde_json::json!({}),
            &CallOptions::default(),
        )
        .err()
        .expect("unknown endpoint");
    assert_eq!(err.status(), 404);
    stop("http", srv);
}
