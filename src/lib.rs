//! micro-mesh: small synchronous services for a Kubernetes + Istio mesh, speaking go-micro's
//! HTTP/JSON, protobuf and gRPC (h2c) wire formats with no registry, selector or transport of
//! their own.
//!
//! # Quickstart
//!
//! ```
//! use micro_mesh::{Caller, Context, Error, Service};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Hello { name: String }
//! #[derive(Serialize, Deserialize)]
//! struct Reply { msg: String }
//!
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
//! let reply: Reply = client.call("go.micro.srv.sample", "Example.Call", &Hello { name: "Hobo".into() })?;
//! assert_eq!(reply.msg, "Hello Hobo");
//! srv.stop()?;
//! # Ok::<(), Error>(())
//! ```
//!
//! # Codemap
//!
//! - [`Service`] ties name, flags, server, client and handlers together; `run()` (or `main()`)
//!   for a process, `start()` for a test; [`ServiceHandle`] is the running service.
//! - [`Handler`], [`Context`], [`Request`], [`Response`] ([`Body`]): what handlers see and
//!   return; typed handlers and streams ([`Stream`] out, [`Incoming`] in for client and
//!   bidirectional streaming) decode and encode through the [`Codec`] the request's content
//!   type picks. [`ApiRequest`] and [`ApiResponse`] are go-api's shapes.
//! - [`Caller`] makes typed calls on anything that calls: a [`Client`] ([`HttpClient`],
//!   blocking, on ureq; [`GrpcClient`], blocking gRPC on the crate's own HTTP/2, which also
//!   streams requests: [`BidiCall`], [`Duplex`]), a handler's [`Context`] (forwarding its trace
//!   headers and deadline), a test mesh. [`target`] is the name-to-DNS rule; [`Overrides`] the `--resolve` map.
//! - [`Error`] is the one error type; [`WireError`] its JSON form.
//! - [`testing`] starts several services in one process, wired by mesh name, for tests.
//! - [`Flags`] and [`Flag`] are the command line; [`cli_main`] is the `micro-mesh` command.
//! - [`Health`] answers `/health/live`, `/health/ready` and `/health`; the metrics answer
//!   `/metrics` (Prometheus text); [`Limits`] holds the caps, timeouts and the drain's.
//!
//! Plug-in points, for writing a server: a [`Server`] ([`HttpServer`], our HTTP/1.1 core, the
//! default; `TinyHttpServer`, feature `tiny-http`) feeds every request through the service's
//! [`Pipeline`] (health, metrics, caps, routing by the [`Router`], one [`Record`] per request).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Floors, lowest first: a module imports only from modules above it in this list
// (ARCHITECTURE.md; `tests/it/floors.rs` checks it).
// Pure leaves: no I/O, no threads.
mod status;
mod duration;
mod percent;
mod sync;
mod blocking;
mod time;
mod record;
mod error;
mod metadata;
mod name;
mod codec;
#[allow(dead_code)] // a few helpers only tests and the fuzz entries call
mod http2;
#[allow(dead_code)] // a few helpers only tests and the fuzz entries call
mod grpc;
// Counting, resolving, streaming.
mod metrics;
mod resolve;
mod stream;
// Calls and handlers.
mod client;
mod handler;
mod goapi;
mod typed;
mod router;
mod health;
mod logger;
// One pipeline, and the servers that feed it.
mod pipeline;
mod server;
// What users touch first.
mod flags;
mod service;
pub mod testing;
mod cli;

pub use cli::cli_main;
pub use client::blocking::{HttpClient, HttpClientBuilder};
pub use client::grpc::{GrpcClient, GrpcClientBuilder};
pub use client::{BidiCall, Call, CallOptions, Caller, Client, ClientKind, Duplex, Messages, Plugins, Reply};
#[cfg(feature = "protobuf")]
pub use codec::ProtoMessage;
pub use codec::{Codec, JSON, NDJSON};
pub use error::{CLIENT_ID, Error, WireError};
pub use flags::{Flag, Flags};
pub use goapi::{ApiRequest, ApiResponse, Pair};
pub use handler::{Body, Context, Handler, Request, Response};
pub use health::{HEALTH_PATHS, Health};
pub use metadata::{Metadata, NEVER_FORWARDED, TRACE_HEADERS, forwardable};
pub use name::{Overrides, Target, check_label, target, target_in};
pub use service::{Service, ServiceHandle};
pub use status::reason;
pub use stream::{Incoming, Sink, Source, Stream, Streamer};

// Plug-in points: what a server (or a router-level test) is written against.
pub use pipeline::{InFlight, Pipeline, Ticket};
pub use record::{Protocol, Record, Shed};
pub use router::Router;
pub use server::http::HttpServer;
#[cfg(feature = "tiny-http")]
pub use server::tiny::TinyHttpServer;
pub use server::{Limits, Server, ServerHandle, ServerKind};

#[doc(hidden)]
pub use grpc::fuzz_grpc_deframe;
#[doc(hidden)]
pub use http2::{fuzz_h2_frames, fuzz_hpack};
#[doc(hidden)]
pub use server::http::fuzz_request;

/// The README's Rust examples, compiled by `cargo test` so that following them works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
