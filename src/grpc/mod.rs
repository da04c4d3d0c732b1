//! The pure pieces of gRPC that the server and the client share (protocol.md section 9): no
//! I/O, no threads, nothing about HTTP/2 itself.
//!
//! - [`framing`]: length-prefixed messages; the [`framing::Deframer`] cuts DATA payloads.
//! - [`status`]: status codes, the go-micro tables both ways, `grpc-message`.
//! - [`timeout`]: `grpc-timeout`, go-micro's `timeout`, the request's budget.
//! - [`path`]: `/<prefix.>Service/Method` to endpoint, and back for a client.
//! - [`content`]: gRPC content types and the codec choice.
//! - [`headers`]: which headers become metadata; `-bin` values through [`b64`] (base64).
//! - [`health`]: the `grpc.health.v1` messages.

pub mod b64;
pub mod content;
pub mod framing;
pub mod headers;
pub mod health;
pub mod path;
pub mod status;
pub mod timeout;
