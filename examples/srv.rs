//! `go.micro.srv.sample`: the seed's backend, serving `Example.Call`, `Example.Stream` and
//! `Example.PingPong` of the go-micro template service (protocol.md section 10) as JSON and
//! protobuf (over HTTP/1.1 and gRPC). PingPong is bidirectional over gRPC; over HTTP/1.1 it is
//! half duplex: NDJSON Pings in the body, NDJSON Pongs back.
//!
//! ```text
//! cargo run --example srv -- -server_address=127.0.0.1:9080
//! curl -s -XPOST -H 'Content-Type: application/json' -d '{"name":"Hobo"}' 127.0.0.1:9080/Example.Call
//! printf '\n\4Hobo' | curl -s -XPOST -H 'Content-Type: application/proto' --data-binary @- \
//!     127.0.0.1:9080/Example.Call | od -c
//! curl -sN -XPOST -H 'Content-Type: application/json' -d '{"count":3}' 127.0.0.1:9080/Example.Stream
//! printf '{"stroke":1}\n{"stroke":2}\n' | curl -sN -XPOST -H 'Content-Type: application/json' \
//!     --data-binary @- 127.0.0.1:9080/Example.PingPong
//! ```
//!
//! The messages are the template's `.proto`, written by hand (no build script, no protoc): each
//! derives `prost::Message` with the `.proto`'s field tags, and serde's traits for JSON, whose
//! names are the proto3 JSON names (the field names, here). `#[serde(default)]` makes `{}` (and
//! an empty body) decode, as an empty protobuf body does, to the default message.

use micro_mesh::{Context, Error, Incoming, Service, Stream};
use serde::{Deserialize, Serialize};

/// `message Request { string name = 1; }`: `Example.Call`'s request.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
struct Request {
    #[prost(string, tag = "1")]
    name: String,
}

/// `message Response { string msg = 1; }`: `Example.Call`'s reply.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
struct Response {
    #[prost(string, tag = "1")]
    msg: String,
}

/// `message StreamingRequest { int64 count = 1; }`: how many messages `Example.Stream` sends.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
struct StreamingRequest {
    #[prost(int64, tag = "1")]
    count: i64,
}

/// `message StreamingResponse { int64 count = 1; }`: one message of `Example.Stream`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
struct StreamingResponse {
    #[prost(int64, tag = "1")]
    count: i64,
}

/// `message Ping { int64 stroke = 1; }`: one message of `Example.PingPong`'s request stream.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
struct Ping {
    #[prost(int64, tag = "1")]
    stroke: i64,
}

/// `message Pong { int64 stroke = 1; }`: one message of `Example.PingPong`'s reply stream.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
struct Pong {
    #[prost(int64, tag = "1")]
    stroke: i64,
}

/// `rpc Call(Request) returns (Response)`: `Hello NAME`, or 400 for an empty name.
fn call(_: &Context, req: Request) -> Result<Response, Error> {
    if req.name.is_empty() {
        return Err(Error::bad_request("name must not be empty"));
    }
    Ok(Response {
        msg: format!("Hello {}", req.name),
    })
}

/// `rpc Stream(StreamingRequest) returns (stream StreamingResponse)`: `{"count":N}` sends N messages.
fn stream(_: &Context, req: StreamingRequest, out: &mut Stream<'_, StreamingResponse>) -> Result<(), Error> {
    for count in 0..req.count {
        out.send(&StreamingResponse { count })?;
    }
    Ok(())
}

/// `rpc PingPong(stream Ping) returns (stream Pong)`: each Ping's stroke back as a Pong, as it
/// comes.
fn ping_pong(_: &Context, pings: Incoming<Ping>, out: &mut Stream<'_, Pong>) -> Result<(), Error> {
    for ping in pings {
        out.send(&Pong { stroke: ping?.stroke })?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let srv = Service::new("go.micro.srv.sample");
    // Built without the protobuf codec (`--no-default-features`), the same handlers serve JSON
    // alone: the messages are serde types all the same.
    #[cfg(feature = "protobuf")]
    let srv = srv
        .rpc_proto("Example.Call", call)
        .stream_proto("Example.Stream", stream)
        .bidi_proto("Example.PingPong", ping_pong);
    #[cfg(not(feature = "protobuf"))]
    let srv = srv
        .rpc("Example.Call", call)
        .stream("Example.Stream", stream)
        .bidi("Example.PingPong", ping_pong);
    srv.main()
}
