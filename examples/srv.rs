//! `go.micro.srv.sample`: the seed's backend, serving `Example.Call`.
//!
//! ```text
//! cargo run --example srv -- -server_address=127.0.0.1:9080
//! curl -s -XPOST -H 'Content-Type: application/json' -d '{"name":"Hobo"}' 127.0.0.1:9080/Example.Call
//! curl -sN -XPOST -H 'Content-Type: application/json' -d '{"count":3}' 127.0.0.1:9080/Example.Stream
//! ```

use micro_mesh::{Context, Error, Service, Stream};
use serde::{Deserialize, Serialize};

/// `Example.Call`'s request.
#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    name: String,
}

/// `Example.Call`'s reply.
#[derive(Serialize)]
struct Response {
    msg: String,
}

fn call(_: &Context, req: Request) -> Result<Response, Error> {
    if req.name.is_empty() {
        return Err(Error::bad_request("name must not be empty"));
    }
    Ok(Response {
        msg: format!("Hello {}", req.name),
    })
}

/// `Example.Stream`'s request: how many messages to send.
#[derive(Deserialize)]
struct StreamingRequest {
    #[serde(default)]
    count: i64,
}

/// One message of `Example.Stream`.
#[derive(Serialize)]
struct StreamingResponse {
    count: i64,
}

/// `rpc Stream(StreamingRequest) returns (stream StreamingResponse)`: `{"count":N}` sends N messages.
fn stream(_: &Context, req: StreamingRequest, out: &mut Stream<'_, StreamingResponse>) -> Result<(), Error> {
    for count in 0..req.count {
        out.send(&StreamingResponse { count })?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    Service::new("go.micro.srv.sample")
        .rpc("Example.Call", call)
        .stream("Example.Stream", stream)
        .main()
}
