//! `Example.PingPong` (protocol.md section 10's `rpc PingPong(stream Ping) returns (stream
//! Pong)`) from the real gRPC clients: the server's duplex calls as grpcio and grpc-go open them.

use super::*;
use crate::pb::Stroke;

const PING_PONG: &str = "/go.micro.srv.sample.Example/PingPong";

/// A bidi call with the strokes' Pings.
fn bidi(strokes: impl IntoIterator<Item = i64>, lockstep: bool) -> Call {
    Call {
        path: PING_PONG.into(),
        kind: "bidi",
        hexes: strokes
            .into_iter()
            .map(|stroke| hex(&prost::Message::encode_to_vec(&Stroke { stroke })))
            .collect(),
        lockstep,
        ..Call::default()
    }
}

/// The strokes of an outcome's Pongs.
fn strokes(label: &str, outcome: &Outcome) -> Vec<i64> {
    check_code(label, outcome, OK);
    outcome
        .replies
        .iter()
        .map(|r| {
            <Stroke as prost::Message>::decode(&unhex(r)[..])
                .expect("a Pong")
                .stroke
        })
        .collect()
}

/// PingPong in lockstep (each Ping sent only once the Pong before it came back: the server
/// must answer while the client's side is open), all Pings at once, none at all, and in JSON:
/// every stroke echoed, in order, then OK.
pub(super) fn ping_pong(peer: Peer) {
    with_peer(peer, "ping_pong", |runner, srv| {
        let label = runner.label();
        let json = Call {
            hexes: vec![hex(br#"{"stroke":7}"#), hex(br#"{"stroke":8}"#)],
            ..bidi([], false)
        }
        .meta("x-content-type", "application/json");
        let calls = [bidi(1..=50, true), bidi(1..=200, false), bidi([], false), json];
        let outcomes = runner.run(srv.addr(), &calls);
        assert_eq!(
            strokes(&label, &outcomes[0]),
            (1..=50).collect::<Vec<_>>(),
            "[{label}] lockstep"
        );
        assert_eq!(
            strokes(&label, &outcomes[1]),
            (1..=200).collect::<Vec<_>>(),
            "[{label}] at once"
        );
        assert_eq!(strokes(&label, &outcomes[2]), Vec::<i64>::new(), "[{label}] none");
        check_code(&label, &outcomes[3], OK);
        let pongs: Vec<String> = outcomes[3]
            .replies
            .iter()
            .map(|r| String::from_utf8(unhex(r)).unwrap())
            .collect();
        assert_eq!(pongs, [r#"{"stroke":7}"#, r#"{"stroke":8}"#], "[{label}] JSON");
    });
}
