//! `GrpcClient`'s duplex calls against the peers' `Example.PingPong` (a grpcio
//! `stream_stream` handler, a grpc-go `ServerStream` loop): each Ping's stroke back as a Pong.

use super::*;
use crate::pb::Stroke;

/// PingPong in lockstep (send one, read its Pong, 100 rounds), all at once (300 Pings, the
/// side closed, then 300 Pongs), with no Ping at all, and in JSON: every stroke back, in
/// order, then a clean end.
pub(super) fn ping_pong(peer: Peer) {
    let Some(srv) = peer.start("ping_pong") else {
        return;
    };
    let label = srv.label.clone();
    let client = srv.client();
    let open = || {
        client
            .bidi_proto::<Stroke, Stroke>(SRV, "Example.PingPong", &options())
            .unwrap_or_else(|e| panic!("[{label}] {e}"))
    };
    let mut call = open();
    for stroke in 1..=100 {
        call.send(&Stroke { stroke })
            .unwrap_or_else(|e| panic!("[{label}] send: {e}"));
        let pong = call
            .next()
            .unwrap_or_else(|| panic!("[{label}] no Pong for {stroke}"));
        assert_eq!(
            pong.unwrap_or_else(|e| panic!("[{label}] {e}")).stroke,
            stroke,
            "[{label}]"
        );
    }
    call.close_send().unwrap();
    assert!(call.next().is_none(), "[{label}] a clean end after lockstep");

    let mut call = open();
    for stroke in 1..=300 {
        call.send(&Stroke { stroke })
            .unwrap_or_else(|e| panic!("[{label}] send: {e}"));
    }
    call.close_send().unwrap();
    let strokes: Vec<i64> = call
        .map(|pong| pong.unwrap_or_else(|e| panic!("[{label}] {e}")).stroke)
        .collect();
    assert_eq!(strokes, (1..=300).collect::<Vec<_>>(), "[{label}] at once");

    let mut call = open();
    call.close_send().unwrap();
    assert!(call.next().is_none(), "[{label}] no Ping, no Pong, a clean end");

    let mut json = client
        .bidi::<serde_json::Value, serde_json::Value>(SRV, "Example.PingPong", &options())
        .unwrap();
    json.send(&serde_json::json!({"stroke": 9})).unwrap();
    let pong = json
        .next()
        .unwrap()
        .unwrap_or_else(|e| panic!("[{label}] JSON: {e}"));
    assert_eq!(pong["stroke"], 9, "[{label}] JSON");
    json.close_send().unwrap();
    assert!(json.next().is_none(), "[{label}] JSON end");
}
