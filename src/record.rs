//! The record of one served request: what the access log and the metrics both consume.
//!
//! Every server hands its requests to the one pipeline (`pipeline.rs`), which emits one
//! [`Record`] per request once the answer is written. Plain data, no I/O.

use std::time::Duration;

/// The wire a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP/1.0 or HTTP/1.1.
    Http1,
    /// HTTP/2 without gRPC (JSON RPC, API paths, health over h2c).
    Http2,
    /// gRPC over HTTP/2.
    Grpc,
}

impl Protocol {
    /// Every protocol, in the order of their indexes.
    pub const ALL: [Protocol; 3] = [Protocol::Http1, Protocol::Http2, Protocol::Grpc];

    /// The label value: `http1`, `http2` or `grpc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
            Protocol::Grpc => "grpc",
        }
    }

    /// A dense index (0, 1, 2) for per-protocol arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One request, as the access log and the metrics see it: never its raw path or query.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The method as sent (`POST`, `GET`, ...).
    pub method: &'a str,
    /// The route pattern or endpoint path (`/Example.Call`, `/example/call`, `/health`), or
    /// `unmatched` when no route matched: a bounded set of values.
    pub route: &'a str,
    /// The route's index in the list the metrics were built with (see `Metrics::new`); any
    /// index past that list counts as `unmatched`.
    pub route_id: usize,
    /// The status sent (the HTTP status; for gRPC the HTTP status of its go-micro code).
    pub status: u16,
    /// The wire it arrived on.
    pub protocol: Protocol,
    /// From the request's head having arrived to the last byte of the answer written.
    pub duration: Duration,
    /// Request body bytes.
    pub bytes_in: usize,
    /// Response body bytes written (0 for HEAD).
    pub bytes_out: usize,
    /// The `x-request-id` header, if the request had one.
    pub request_id: Option<&'a str>,
    /// A health or metrics probe: logged at `debug`, not `info`.
    pub probe: bool,
}

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Why a request was answered 503 without reaching a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// `max_in_flight` requests were already in handlers (or every tiny_http worker was busy).
    InFlight,
    /// The connection arrived beyond `max_connections` and no room could be made for it.
    Connections,
    /// The server was draining (an HTTP/2 stream past the final GOAWAY, say).
    Draining,
}

impl Shed {
    /// Every reason, in the order of their label values.
    pub const ALL: [Shed; 3] = [Shed::Connections, Shed::Draining, Shed::InFlight];

    /// The label value: `in_flight`, `connections` or `draining`.
    pub fn as_str(self) -> &'static str {
        match self {
            Shed::InFlight => "in_flight",
            Shed::Connections => "connections",
            Shed::Draining => "draining",
        }
    }
}
