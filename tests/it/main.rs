//! Integration tests over real sockets, for both servers where they can pass.
//!
//! Every test goes through the public API, binds port 0, stops what it starts and puts a read
//! timeout on every socket. Tests named `http_only_*` exercise what only the `http` core does
//! (tiny_http 0.12 has no header limits, no read timeouts, no request trailers, writes no
//! `Connection` header, keeps its connections past `stop()` and starves connections opened in a
//! burst); each says why next to it.

mod chain;
mod cli;
mod client;
mod errors;
mod examples;
mod faults;
mod floors;
mod grpc;
#[cfg(feature = "protobuf")]
mod grpc_client;
#[cfg(feature = "protobuf")]
mod grpc_client_interop;
mod hostile;
mod hostile_h2;
mod http11;
mod http2;
mod kit;
mod lifecycle;
mod load;
mod mesh;
mod metrics;
mod pb;
mod peers;
#[cfg(feature = "protobuf")]
mod proto;
mod stop;
mod stream;
mod support;
mod wire;
