//! `go.micro.srv.sample`: the seed's backend, serving `Example.Call` and `Example.Stream` of the
//! go-micro template service (protocol.md section 10) as JSON and, over HTTP/1.1, protobuf.
//!
//! ```text
//! cargo run --example srv -- -server_address=127.0.0.1:9080
//! curl -s -XPOST -H 'Content-Type: application/json' -d '{"name":"Hobo"}' 127.0.0.1:9080/Example.Call
//! printf '\n\4Hobo' | curl -s -XPOST -H 'Content-Type: application/proto' --data-binary @- \
//!     127.0.0.1:9080/Example.Call | od -c
//! curl -sN -XPOST -H 'Content-Type: application/json' -d '{"count":3}' 127.0.0.1:9080/Example.Stream
//! ```
//!
//! The messages are the template's `.proto`, written by hand (no build script, no protoc): each
//! derives `prost::Message` with the `.proto`'s field tags, and serde's traits for JSON, whose
//! names are the proto3 JSON names (the field names, here). `#[serde(default)]` makes `{}` (and
//! an empty body) decode, as an empty protobuf body does, to the default message.

use micro_mesh::{Context, Error, Service, Stream};
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

/// `message Ping { int64 stroke = 1; }`: `Example.PingPong`'s request stream, served once a
/// bidirectional stream can be (over HTTP/2); written now so the messages match the `.proto`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
#[expect(dead_code, reason = "PingPong waits for bidirectional streams (HTTP/2)")]
struct Ping {
    #[prost(int64, tag = "1")]
    stroke: i64,
}

/// `message Pong { int64 stroke = 1; }`: `Example.PingPong`'s reply stream (see [`Ping`]).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
#[expect(dead_code, reason = "PingPong waits for bidirectional streams (HTTP/2)")]
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

fn main() -> std::process::ExitCode {
    let srv = Service::new("go.micro.srv.sample");
    // Built without the protobuf codec (`--no-default-features`), the same handlers serve JSON
    // alone: the messages are serde types all the same.
    #[cfg(feature = "protobuf")]
    let srv = srv
        .rpc_proto("Example.Call", call)
        .stream_proto("Example.Stream", stream);
    #[cfg(not(feature = "protobuf"))]
    let srv = srv.rpc("Example.Call", call).stream("Example.Stream", stream);
    srv.main()
}
