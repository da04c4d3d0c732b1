//! The pure pieces of gRPC that the server and the client share (protocol.md section 9): no
//! I/O, no threads, nothing about HTTP/2 itself.
//!
//! - [`framing`]: length-prefixed messages; the [`framing::Deframer`] cuts DATA payloads.
//! - [`status`]: status codes, the go-micro tables both ways, `grpc-message`.

pub mod framing;
pub mod status;
