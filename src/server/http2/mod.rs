//! The `http` server's HTTP/2: cleartext with prior knowledge (h2c), as the sidecar speaks it to
//! an app behind a `grpc` or `http2` port, on the same port as HTTP/1.1.
//!
//! The connection's thread reads frames (`conn.rs`); request streams run on the server's work
//! queue (`server/work/`: a thread that ends one takes the next; a handler that blocks on an
//! outbound call gives its lane up) as `stream.rs` says; every write goes
//! through the connection's one `Writer` (`writer.rs`), which owns the HPACK encoder and the
//! send windows. `request.rs` checks a request's header block. Requests go through the same
//! `Pipeline` as HTTP/1.1's: health, metrics, caps, routing, records. A duplex gRPC call
//! (client or bidirectional streaming) goes to the queue at its head, and its messages
//! follow through an `inbox.rs`, granted window as its handler takes them.

use std::sync::Arc;

use crate::pipeline::Pipeline;
use crate::server::Limits;
use crate::server::work::WorkQueue;

mod conn;
mod grpc;
mod inbox;
mod request;
mod stream;
mod writer;

pub(crate) use conn::serve;
pub(crate) use stream::StreamJob;

/// The connection preface a client sends first (RFC 9113 section 3.4).
pub(crate) use crate::http2::PREFACE;

/// What a connection needs from the server it runs in.
pub(crate) trait Host {
    /// The service's pipeline.
    fn pipeline(&self) -> &Arc<Pipeline>;
    /// The server's limits.
    fn limits(&self) -> &Limits;
    /// The pool that runs request streams.
    fn streams(&self) -> &Arc<WorkQueue<StreamJob>>;
    /// Whether the service drains (readiness 503): time for the first GOAWAY.
    fn draining(&self) -> bool;
    /// Whether the listener has closed: time for the final GOAWAY; no new streams.
    fn closing(&self) -> bool;
    /// Publishes whether the connection has streams open; `false` once the server evicted it.
    fn set_busy(&self, busy: bool) -> bool;
}

/// Whether `bytes` (a connection's first bytes) may still become the preface: `Some(true)` once
/// it is all there, `Some(false)` while a prefix of it, `None` when it is not HTTP/2.
pub(crate) fn sniff(bytes: &[u8]) -> Option<bool> {
    let n = bytes.len().min(PREFACE.len());
    (bytes[..n] == PREFACE[..n]).then_some(n == PREFACE.len())
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn only_the_whole_preface_selects_http2() {
        assert_eq!(sniff(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Some(true));
        assert_eq!(sniff(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04"), Some(true));
        assert_eq!(sniff(b"PRI * HTTP/2"), Some(false));
        assert_eq!(sniff(b""), Some(false));
        // A preface-shaped HTTP/1.1 request line is HTTP/1.1.
        assert_eq!(sniff(b"PRI * HTTP/1.1\r\n\r\n"), None);
        assert_eq!(sniff(b"PRI * HTTP/2.0\r\nHost: x\r\n\r\n"), None);
        assert_eq!(sniff(b"GET / HTTP/1.1\r\n"), None);
    }
}
