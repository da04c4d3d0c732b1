//! Client benchmark: `bench_client ADDR [CALLS] [THREADS] [--client http|grpc] [--codec json|proto]`
//! calls `Example.Call` at ADDR (`HOST:PORT`, or a URL like `http://HOST:PORT/Example.Call`, of
//! which only `HOST:PORT` is used) through a request context (deadline and trace headers on)
//! from THREADS threads sharing one client, and prints one JSON line like the bench peers'
//! clients (`calls_per_s`, `p50_us`, `p99_us`, ...).
//!
//! `--client grpc` calls over gRPC (h2c) with the `GrpcClient`'s defaults, as grpc-go's client
//! peer does with its own; `--codec` picks the message encoding (default: JSON over HTTP,
//! protobuf over gRPC, each client's usual).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use micro_mesh::{CallOptions, Caller, Client, Context, GrpcClient, HttpClient, Metadata};
use serde::{Deserialize, Serialize};

/// go.micro.srv.sample's `Request`, for both codecs.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
struct Hello {
    #[prost(string, tag = "1")]
    name: String,
}

/// go.micro.srv.sample's `Response`.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
struct Reply {
    #[prost(string, tag = "1")]
    msg: String,
}

const USAGE: &str =
    "usage: bench_client ADDR|URL [CALLS] [THREADS] [--client http|grpc] [--codec json|proto]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut grpc, mut proto) = (false, None);
    let mut positional = Vec::new();
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--client" => grpc = argv.next().ok_or(USAGE)? == "grpc",
            "--codec" => proto = Some(argv.next().ok_or(USAGE)? == "proto"),
            _ if arg.starts_with("--") => return Err(USAGE.into()),
            _ => positional.push(arg),
        }
    }
    let proto = proto.unwrap_or(grpc);
    let mut args = positional.into_iter();
    let addr = args.next().ok_or(USAGE)?;
    // Also take the peers' URL form, http://HOST:PORT/Example.Call: only HOST:PORT is used.
    let addr = match addr.strip_prefix("http://") {
        Some(rest) => rest.split('/').next().unwrap_or(rest).to_string(),
        None => addr,
    };
    let calls: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let threads: usize = args.next().map_or(Ok(1), |a| a.parse())?;
    let client: Arc<dyn Client> = if grpc {
        Arc::new(GrpcClient::builder().call_address(&addr).build())
    } else {
        Arc::new(
            HttpClient::builder()
                .call_address(&addr)
                .pool_per_host(threads)
                .build(),
        )
    };
    let incoming: Metadata = [
        ("x-request-id", "bench-1"),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
    ]
    .into_iter()
    .collect();
    let per_thread = calls.div_ceil(threads);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (client, incoming, barrier) = (client.clone(), incoming.clone(), barrier.clone());
            std::thread::spawn(move || {
                let call = || -> bool {
                    // A fresh context per call, as a handler would get per request.
                    let ctx = Context::background(client.clone())
                        .with_metadata(incoming.clone())
                        .with_deadline(Instant::now() + Duration::from_secs(5));
                    let hello = Hello { name: "Hobo".into() };
                    let (service, endpoint) = ("go.micro.srv.sample", "Example.Call");
                    let reply: Result<Reply, _> = if proto {
                        ctx.call_proto(service, endpoint, &hello, &CallOptions::default())
                    } else {
                        ctx.call(service, endpoint, &hello)
                    };
                    matches!(reply, Ok(r) if r.msg == "Hello Hobo")
                };
                for _ in 0..200 {
                    call();
                }
                barrier.wait();
                let (mut lat, mut errors) = (Vec::with_capacity(per_thread), 0usize);
                for _ in 0..per_thread {
                    let t = Instant::now();
                    errors += usize::from(!call());
                    lat.push(t.elapsed().as_nanos() as u64);
                }
                (lat, errors)
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for worker in workers {
        let (l, e) = worker.join().map_err(|_| "worker panicked")?;
        lat.extend(l);
        errors += e;
    }
    let wall = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat[((p / 100.0 * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1] as f64 / 1000.0
    };
    println!(
        r#"{{"client":"micro-mesh","wire":"{}","codec":"{}","calls":{},"threads":{threads},"wall_s":{wall:.3},"calls_per_s":{:.1},"p50_us":{:.1},"p99_us":{:.1},"errors":{errors}}}"#,
        if grpc { "grpc" } else { "http" },
        if proto { "proto" } else { "json" },
        lat.len(),
        lat.len() as f64 / wall,
        pct(50.0),
        pct(99.0)
    );
    Ok(())
}
