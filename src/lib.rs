//! micro-mesh: small synchronous services for a Kubernetes + Istio mesh, speaking go-micro's
//! HTTP/JSON wire format with no registry, selector or transport of their own.
//!
//! # Quickstart
//!
//! ```
//! use micro_mesh::{Context, Error, Service};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Hello { name: String }
//! #[derive(Serialize, Deserialize)]
//! struct Reply { msg: String }
//!
//! # fn main() -> Result<(), Error> {
//! let srv = Service::new("go.micro.srv.sample")
//!     .address("127.0.0.1:0")
//!     .rpc("Example.Call", |_: &Context, req: Hello| Ok(Reply { msg: format!("Hello {}", req.name) }))
//!     .start()?;
//!
//! // `:PORT` means "the service's name as a DNS label": go-micro-srv-sample:PORT.
//! // The override map points that name at the local server, as Kubernetes DNS would.
//! let port = srv.addr().port();
//! let client = micro_mesh::HttpClient::builder()
//!     .call_address(&format!(":{port}"))
//!     .resolve(&format!("go-micro-srv-sample:{port}={}", srv.addr()))?
//!     .build();
//! let client: &dyn micro_mesh::Client = &client;
//! let reply: Reply = client.call("go.micro.srv.sample", "Example.Call", &Hello { name: "Hobo".into() })?;
//! assert_eq!(reply.msg, "Hello Hobo");
//! srv.stop()
//! # }
//! ```
//!
//! # Codemap
//!
//! - [`Service`] ties name, flags, server, client and handlers together; `run()` or `start()`.
//! - [`Server`] is the server interface: [`HttpServer`] (our HTTP/1.1 core, the default) and
//!   `TinyHttpServer` (tiny_http, feature `tiny-http`).
//! - [`Client`] is the client interface: [`HttpClient`] (blocking, on ureq).
//! - [`Handler`], [`Context`], [`Request`], [`Response`]: what handlers see and return;
//!   [`ApiRequest`] and [`ApiResponse`] are go-api's shapes for ported API handlers.
//! - [`target`] is the name-to-DNS rule; [`Overrides`] the `--resolve` map.
//! - [`Error`] is the one error type; [`WireError`] its JSON form.
//! - [`testing`] starts several services in one process, wired by mesh name, for tests.
//! - [`Flags`] and [`Flag`] are the command line; [`cli_main`] is the `micro-mesh` command.
//! - [`Health`] answers `/health/live`, `/health/ready` and `/health` in both servers;
//!   [`Limits`] holds the caps and timeouts, and the drain's delay and timeout.

mod cli;
mod client;
mod codec;
mod duration;
mod error;
mod flags;
mod goapi;
mod handler;
mod health;
#[allow(dead_code)] // nothing uses the HTTP/2 codec yet: the gRPC server and client will
mod http2;
mod logger;
mod metadata;
mod name;
mod record;
mod resolve;
mod router;
mod server;
mod service;
mod status;
mod stream;
pub mod testing;

pub use cli::cli_main;
pub use client::blocking::{HttpClient, HttpClientBuilder};
pub use client::{Call, CallOptions, Client, Messages, Reply};
pub use error::{CLIENT_ID, Error, WireError};
pub use flags::{Flag, Flags};
pub use goapi::{ApiRequest, ApiResponse, Pair};
pub use handler::{
    Context, Handler, NEVER_FORWARDED, Request, Response, TRACE_HEADERS, forwardable, percent_decode,
};
pub use health::{HEALTH_PATHS, Health};
#[doc(hidden)]
pub use http2::{fuzz_h2_frames, fuzz_hpack};
pub use metadata::Metadata;
pub use name::{Overrides, Target, check_label, target, target_in};
pub use router::Router;
pub use server::http::HttpServer;
#[doc(hidden)]
pub use server::http::fuzz_request;
#[cfg(feature = "tiny-http")]
pub use server::tiny::TinyHttpServer;
pub use server::{Limits, Server, ServerHandle};
pub use service::{SERVERS, Service, ServiceHandle};
pub use status::reason;
pub use stream::{NDJSON, Sink, Stream, Streamer};
