//! Duplex gRPC calls opened by the dozen and never ended: each connection holds at most
//! SETTINGS_MAX_CONCURRENT_STREAMS of them (the rest are refused), the service at most its
//! in-flight cap in handlers (the rest are shed with UNAVAILABLE), and once the peers go every
//! handler's `Incoming` ends, its thread and socket are freed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use micro_mesh::{Context, Incoming, Service, Stream};

use super::*;
use crate::pb::Stroke;
use crate::support::{SRV, within};

/// A gRPC call's head for `path`: `:method POST` (0x83), `:scheme http` (0x86), `:path`
/// by its index, `content-type: application/grpc`.
fn grpc_post(path: &str) -> Vec<u8> {
    let mut out = vec![0x83, 0x86];
    int(&mut out, 4, 4, 0x00);
    int(&mut out, path.len(), 7, 0);
    out.extend_from_slice(path.as_bytes());
    out.extend(lit("content-type", "application/grpc"));
    out.extend(lit("te", "trailers"));
    out
}

/// How the server treated each stream: held (response head, no end), shed (a Trailers-Only
/// answer), refused (RST_STREAM REFUSED_STREAM).
#[derive(Debug, Default, PartialEq, Eq)]
struct Fates {
    held: usize,
    shed: usize,
    refused: usize,
}

/// Opens `n` duplex calls on `peer` (HEADERS without END_STREAM) and reads until each has a
/// fate, at most 10 s.
fn open_many(peer: &mut Peer, n: u32) -> Fates {
    let block = grpc_post("/go.micro.srv.sample.Example/Hold");
    let heads: Vec<u8> = (0..n).flat_map(|i| request(2 * i + 1, &block, false)).collect();
    assert!(peer.send(&heads), "the server closed while streams opened");
    let mut fate: HashMap<u32, &str> = HashMap::new();
    let until = Instant::now() + Duration::from_secs(10);
    while fate.len() < n as usize {
        let Ok((kind, flags, stream, payload)) = peer.next(until) else {
            break;
        };
        let seen = match kind {
            HEADERS if flags & END_STREAM != 0 => "shed",
            HEADERS => "held",
            RST_STREAM if payload[..4] == 7u32.to_be_bytes() => "refused",
            _ => continue,
        };
        fate.entry(stream).or_insert(seen);
    }
    let count = |what| fate.values().filter(|f| **f == what).count();
    Fates {
        held: count("held"),
        shed: count("shed"),
        refused: count("refused"),
    }
}

#[test]
fn duplex_calls_by_the_dozen_are_bounded_by_max_concurrent_streams_and_the_in_flight_cap() {
    let _serial = serial();
    let (inside, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (count, peak) = (inside.clone(), most.clone());
    let limits = Limits {
        max_in_flight: 12,
        ..super::limits()
    };
    let srv = Service::new(SRV)
        .server_name("http")
        .address("127.0.0.1:0")
        .limits(limits)
        .bidi_proto(
            "Example.Hold",
            move |_: &Context, pings: Incoming<Stroke>, _: &mut Stream<'_, Stroke>| {
                peak.fetch_max(count.fetch_add(1, Ordering::AcqRel) + 1, Ordering::AcqRel);
                let end = pings.last();
                count.fetch_sub(1, Ordering::AcqRel);
                end.map_or(Ok(()), |e| e.map(drop))
            },
        )
        .start()
        .expect("starting the duplex service");
    let port = srv.addr().port();
    let base = baseline(port);
    // One connection: 8 streams at once (the limit), the other 22 refused.
    let mut first = Peer::h2(srv.addr(), &[]);
    let fates = open_many(&mut first, 30);
    assert_eq!(
        fates,
        Fates {
            held: 8,
            shed: 0,
            refused: 22
        }
    );
    // Another: 4 more reach handlers (12 in flight), the rest are shed at once.
    let mut second = Peer::h2(srv.addr(), &[]);
    let fates = open_many(&mut second, 10);
    assert_eq!(
        fates,
        Fates {
            held: 4,
            shed: 6,
            refused: 0
        }
    );
    assert!(within(Duration::from_secs(5), || inside.load(Ordering::Acquire) == 12));
    assert_eq!(
        most.load(Ordering::Acquire),
        12,
        "more handlers than the in-flight cap"
    );
    // The peers go: every handler's Incoming ends, threads and sockets are freed.
    drop((first, second));
    assert!(
        within(Duration::from_secs(10), || inside.load(Ordering::Acquire) == 0),
        "{} handlers still waiting on their Incoming",
        inside.load(Ordering::Acquire)
    );
    let now = settle(port, base, Duration::from_secs(10));
    assert!(
        now.0 <= base.0 && now.1 <= base.1,
        "threads and sockets {now:?}, at start {base:?}"
    );
    stop("duplex by the dozen", srv);
}
