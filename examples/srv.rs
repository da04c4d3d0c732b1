//! `go.micro.srv.sample`: the seed's backend, serving `Example.Call`.
//!
//! ```text
//! cargo run --example srv -- -server_address=127.0.0.1:9080
//! curl -s -XPOST -H 'Content-Type: application/json' -d '{"name":"Hobo"}' 127.0.0.1:9080/Example.Call
//! ```

use micro_mesh::{Context, Error, Service};
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

fn main() {
    let result = Service::new("go.micro.srv.sample")
        .rpc("Example.Call", call)
        .run();
    if let Err(err) = result {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}
