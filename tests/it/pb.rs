//! The go-micro template service's messages (protocol.md section 10) as prost + serde types,
//! and its three handlers, for the tests that speak protobuf and gRPC.

use micro_mesh::{Context, Error, Incoming, Service, Stream};
use serde::{Deserialize, Serialize};

/// `message Request { string name = 1; }`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Hello {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `message Response { string msg = 1; }`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Reply {
    #[prost(string, tag = "1")]
    pub msg: String,
}

/// `message StreamingRequest { int64 count = 1; }` (and `StreamingResponse`, the same shape).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Count {
    #[prost(int64, tag = "1")]
    pub count: i64,
}

/// `message Ping { int64 stroke = 1; }` (and `Pong`, the same shape).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Stroke {
    #[prost(int64, tag = "1")]
    pub stroke: i64,
}

/// `rpc PingPong(stream Ping) returns (stream Pong)`: each Ping's stroke back as a Pong, as
/// it comes.
pub fn ping_pong(_: &Context, pings: Incoming<Stroke>, out: &mut Stream<'_, Stroke>) -> Result<(), Error> {
    for ping in pings {
        out.send(&Stroke { stroke: ping?.stroke })?;
    }
    Ok(())
}

/// `service` with the template's `Example.Call` (a greeting; an empty name is a 400),
/// `Example.Stream` (`count` messages, 0 to count - 1) and `Example.PingPong` (each stroke
/// echoed), as the srv example serves them.
pub fn template(service: Service) -> Service {
    service
        .rpc_proto("Example.Call", |_: &Context, req: Hello| {
            if req.name.is_empty() {
                return Err(Error::bad_request("name must not be empty"));
            }
            Ok(Reply {
                msg: format!("Hello {}", req.name),
            })
        })
        .stream_proto(
            "Example.Stream",
            |_: &Context, req: Count, out: &mut Stream<'_, Count>| {
                (0..req.count).try_for_each(|count| out.send(&Count { count }))
            },
        )
        .bidi_proto("Example.PingPong", ping_pong)
}
