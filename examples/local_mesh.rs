//! Both seed services in one process on loopback, wired like a mesh with no DNS: api calls srv
//! through the `:PORT` name rule, and the override map points `go-micro-srv-sample` at srv;
//! `/example/call` calls it over HTTP, `/example/grpc` the same endpoint over gRPC (h2c).
//!
//! ```text
//! cargo run --example local_mesh            # ports 8080 (api) and 9080 (srv)
//! cargo run --example local_mesh -- 18080 19080
//! ```

use std::sync::mpsc;

use micro_mesh::{CallOptions, Caller, ClientKind, Context, Error, Request, Response, Service};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Hello {
    #[serde(default)]
    name: String,
}

#[derive(Serialize, Deserialize)]
struct Reply {
    msg: String,
}

/// api's handler: the name from `?name=` or a JSON body, then srv's `Example.Call` with `options`
/// (over HTTP, or over gRPC when they say so).
fn call_srv(ctx: &Context, req: &Request, options: &CallOptions) -> Result<Response, Error> {
    let hello = match req.method.as_str() {
        "GET" => Hello {
            name: req.query_param("name").unwrap_or_default(),
        },
        _ => req.json()?,
    };
    let reply: Reply = ctx.call_with("go.micro.srv.sample", "Example.Call", &hello, options)?;
    Response::json(&reply)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut ports = std::env::args().skip(1).map(|p| p.parse::<u16>());
    let api_port = ports.next().transpose()?.unwrap_or(8080);
    let srv_port = ports.next().transpose()?.unwrap_or(9080);

    let srv = Service::new("go.micro.srv.sample")
        .address(&format!("127.0.0.1:{srv_port}"))
        .rpc("Example.Call", |_: &Context, req: Hello| {
            if req.name.is_empty() {
                return Err(Error::bad_request("name must not be empty"));
            }
            Ok(Reply {
                msg: format!("Hello {}", req.name),
            })
        })
        .start()?;

    let api = Service::new("go.micro.api.sample")
        .address(&format!("127.0.0.1:{api_port}"))
        .call_address(&format!(":{srv_port}"))
        .resolve(&format!("go-micro-srv-sample:{srv_port}={}", srv.addr()))
        .api(
            "/example/call",
            &["GET", "POST"],
            |ctx: &Context, req: Request| call_srv(ctx, &req, &CallOptions::default()),
        )
        .api(
            "/example/grpc",
            &["GET", "POST"],
            |ctx: &Context, req: Request| {
                call_srv(ctx, &req, &CallOptions::default().with_client(ClientKind::Grpc))
            },
        )
        .start()?;

    let (api_addr, srv_addr) = (api.addr(), srv.addr());
    println!("srv (go.micro.srv.sample) on {srv_addr}, api (go.micro.api.sample) on {api_addr}");
    println!("api reaches srv as go-micro-srv-sample:{srv_port} (override -> {srv_addr})\n");
    println!("try:");
    println!("  curl -s 'http://{api_addr}/example/call?name=Hobo'");
    println!("  curl -s 'http://{api_addr}/example/grpc?name=Hobo'      # api -> srv over gRPC");
    println!("  curl -s -XPOST -d '{{\"name\":\"Hobo\"}}' http://{api_addr}/example/call");
    println!(
        "  curl -s -XPOST -H 'Content-Type: application/json' -d '{{\"name\":\"Hobo\"}}' http://{srv_addr}/Example.Call"
    );
    println!("  curl -si 'http://{api_addr}/example/call?name='      # srv's 400 passed through");
    println!("\nCtrl-C stops both.");

    let (tx, rx) = mpsc::channel();
    let mut signals =
        signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])?;
    let handle = signals.handle();
    let watcher = std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = tx.send(());
        }
    });
    let _ = rx.recv();
    handle.close();
    let _ = watcher.join();
    api.stop()?;
    srv.stop()?;
    println!("stopped");
    Ok(())
}
