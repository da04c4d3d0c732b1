//! `go.micro.api.sample`: the seed's front, serving `/example/call` by calling srv's `Example.Call`.
//!
//! ```text
//! cargo run --example api -- -server_address=127.0.0.1:8080 -client_call_address=127.0.0.1:9080
//! curl -s '127.0.0.1:8080/example/call?name=Hobo'
//! ```

use micro_mesh::{Caller, Context, Error, Request, Response, Service};
use serde::{Deserialize, Serialize};

/// The backend this front calls; with `-client_call_address=:9080` it is `go-micro-srv-sample:9080`.
const SRV: &str = "go.micro.srv.sample";

#[derive(Serialize, Deserialize)]
struct Hello {
    #[serde(default)]
    name: String,
}

#[derive(Serialize, Deserialize)]
struct Reply {
    msg: String,
}

/// `GET /example/call?name=Hobo` or `POST /example/call` with `{"name":"Hobo"}`.
fn example_call(ctx: &Context, req: Request) -> Result<Response, Error> {
    let hello = match req.method.as_str() {
        "GET" => Hello {
            name: req.query_param("name").unwrap_or_default(),
        },
        _ => req.json()?,
    };
    let reply: Reply = ctx.call(SRV, "Example.Call", &hello)?;
    Response::json(&reply)
}

fn main() -> std::process::ExitCode {
    Service::new("go.micro.api.sample")
        .api("/example/call", &["GET", "POST"], example_call)
        .main()
}
