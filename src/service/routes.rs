//! A service's routes: typed RPC endpoints (JSON, or JSON and protobuf), server streams,
//! client and bidirectional streams, raw handlers and API paths, each registered with the
//! methods and content types it takes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Service;
use crate::codec::Codec;
#[cfg(feature = "protobuf")]
use crate::codec::{Codecs, ProtoMessage};
use crate::error::Error;
use crate::goapi::{self, ApiRequest, ApiResponse};
use crate::handler::{Context, DuplexHandler, Handler, Request};
use crate::router::Route;
use crate::stream::{Incoming, Stream};
use crate::typed::{Bidi, ServerStream, Unary};

impl Service {
    /// Serves RPC endpoint `endpoint` (`POST /Service.Method`) with a typed JSON handler.
    pub fn rpc<Q, R, F>(self, endpoint: &str, f: F) -> Service
    where
        F: Fn(&Context, Q) -> Result<R, Error> + Send + Sync + 'static,
        Q: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        let handler = Unary::json(f);
        let accepts = (Some(handler.codecs()), Some(handler.codecs()));
        self.route(endpoint_path(endpoint), &["POST"], Box::new(handler), accepts)
    }

    /// Serves a server-streaming RPC endpoint: the handler gets the typed JSON request and a
    /// [`Stream`] to send its messages on, one NDJSON line each (protocol.md section 8).
    pub fn stream<Q, M, F>(self, endpoint: &str, f: F) -> Service
    where
        F: Fn(&Context, Q, &mut Stream<'_, M>) -> Result<(), Error> + Send + Sync + 'static,
        Q: DeserializeOwned + Send + 'static,
        M: Serialize + 'static,
    {
        let handler = ServerStream::json(&self.name, f);
        let accepts = (Some(handler.ndjson_codecs()), Some(handler.codecs()));
        self.route(endpoint_path(endpoint), &["POST"], Box::new(handler), accepts)
    }

    /// Serves RPC endpoint `endpoint` with a typed handler whose messages derive both serde's
    /// traits and `prost::Message` (feature `protobuf`): served as JSON and as protobuf over
    /// HTTP/1.1 (`Content-Type: application/proto`, `application/protobuf` or
    /// `application/octet-stream`, answered in the same type; protocol.md section 10), and as
    /// gRPC `+json` and `+proto` once HTTP/2 is served. Errors stay the error JSON. A missing
    /// content type means JSON, as for [`rpc`](Service::rpc).
    ///
    /// ```no_run
    /// use micro_mesh::{Context, Error, Service};
    /// use serde::{Deserialize, Serialize};
    ///
    /// /// `message Request { string name = 1; }`
    /// #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    /// #[serde(default)]
    /// struct Request {
    ///     #[prost(string, tag = "1")]
    ///     name: String,
    /// }
    /// /// `message Response { string msg = 1; }`
    /// #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    /// struct Response {
    ///     #[prost(string, tag = "1")]
    ///     msg: String,
    /// }
    ///
    /// fn main() -> Result<(), Error> {
    ///     Service::new("go.micro.srv.sample")
    ///         .rpc_proto("Example.Call", |_: &Context, req: Request| {
    ///             Ok(Response { msg: format!("Hello {}", req.name) })
    ///         })
    ///         .run()
    /// }
    /// ```
    #[cfg(feature = "protobuf")]
    pub fn rpc_proto<Q, R, F>(self, endpoint: &str, f: F) -> Service
    where
        F: Fn(&Context, Q) -> Result<R, Error> + Send + Sync + 'static,
        Q: DeserializeOwned + ProtoMessage + 'static,
        R: Serialize + ProtoMessage + 'static,
    {
        let handler = Unary::new(f, Codecs::proto_json());
        let accepts = (Some(handler.codecs()), Some(handler.codecs()));
        self.route(endpoint_path(endpoint), &["POST"], Box::new(handler), accepts)
    }

    /// Serves a server-streaming RPC endpoint whose request and messages derive both serde's
    /// traits and `prost::Message` (feature `protobuf`), as [`rpc_proto`](Service::rpc_proto)
    /// does a unary one. Over HTTP/1.1 a stream is NDJSON, one JSON message a line (protocol.md
    /// section 8), so there it takes JSON alone and answers a protobuf request 415 naming
    /// `application/json`; gRPC (`+json`, `+proto`) carries both once HTTP/2 is served.
    #[cfg(feature = "protobuf")]
    pub fn stream_proto<Q, M, F>(self, endpoint: &str, f: F) -> Service
    where
        F: Fn(&Context, Q, &mut Stream<'_, M>) -> Result<(), Error> + Send + Sync + 'static,
        Q: DeserializeOwned + ProtoMessage + Send + 'static,
        M: Serialize + ProtoMessage + 'static,
    {
        let handler = ServerStream::new(&self.name, f, Codecs::proto_json());
        let accepts = (Some(handler.ndjson_codecs()), Some(handler.codecs()));
        self.route(endpoint_path(endpoint), &["POST"], Box::new(handler), accepts)
    }

    /// Serves a bidirectional-streaming RPC endpoint (a client-streaming one too: read every
    /// message, then send one): the handler gets the client's messages as an [`Incoming`]
    /// iterator, decoded one at a time as they arrive, and a [`Stream`] to send its own on.
    ///
    /// Over gRPC the handler starts when the call's head arrives, and both directions flow at
    /// once; the client's messages wait in the stream's receive window (1 MiB), granted back
    /// only as the handler takes them, so a handler that stops reading stops its client. A reset
    /// by the client, the deadline or a lost connection ends `incoming` with an error and fails
    /// `out.send`. Over HTTP/1.1 (and HTTP/2 without gRPC), which buffer a request whole, the
    /// endpoint is half duplex: the request body's NDJSON lines (one JSON message each, within
    /// the body limit) are the incoming messages, the reply an NDJSON stream as for
    /// [`stream`](Service::stream).
    ///
    /// ```no_run
    /// use micro_mesh::{Context, Error, Incoming, Service, Stream};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Ping { stroke: i64 }
    /// #[derive(Serialize, Deserialize)]
    /// struct Pong { stroke: i64 }
    ///
    /// fn main() -> Result<(), Error> {
    ///     Service::new("go.micro.srv.sample")
    ///         .bidi("Example.PingPong", |_: &Context, pings: Incoming<Ping>, out: &mut Stream<'_, Pong>| {
    ///             pings.into_iter().try_for_each(|ping| out.send(&Pong { stroke: ping?.stroke }))
    ///         })
    ///         .run()
    /// }
    /// ```
    pub fn bidi<I, O, F>(self, endpoint: &str, f: F) -> Service
    where
        F: Fn(&Context, Incoming<I>, &mut Stream<'_, O>) -> Result<(), Error> + Send + Sync + 'static,
        I: DeserializeOwned + 'static,
        O: Serialize + 'static,
    {
        let handler = Bidi::new(&self.name, f, crate::codec::Codecs::json());
        let accepts = (Some(handler.ndjson_codecs()), Some(handler.codecs()));
        let duplex: Box<dyn DuplexHandler> = Box::new(handler.clone());
        self.route_with(
            endpoint_path(endpoint),
            &["POST"],
            Box::new(handler),
            accepts,
            Some(duplex),
        )
    }

    /// Serves a bidirectional-streaming RPC endpoint whose messages derive both serde's traits
    /// and `prost::Message` (feature `protobuf`), as [`bidi`](Service::bidi) does for JSON
    /// ones: gRPC `+proto` and `+json`; over HTTP/1.1 half-duplex NDJSON, JSON alone. The
    /// template service's `rpc PingPong(stream Ping) returns (stream Pong)`:
    ///
    /// ```no_run
    /// use micro_mesh::{Context, Error, Incoming, Service, Stream};
    /// use serde::{Deserialize, Serialize};
    ///
    /// /// `message Ping { int64 stroke = 1; }` (and `Pong`, the same shape).
    /// #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    /// #[serde(default)]
    /// struct Stroke {
    ///     #[prost(int64, tag = "1")]
    ///     stroke: i64,
    /// }
    ///
    /// fn main() -> Result<(), Error> {
    ///     Service::new("go.micro.srv.sample")
    ///         .bidi_proto::<Stroke, Stroke, _>("Example.PingPong", |_, pings, out| {
    ///             for ping in pings {
    ///                 out.send(&Stroke { stroke: ping?.stroke })?;
    ///             }
    ///             Ok(())
    ///         })
    ///         .run()
    /// }
    /// ```
    #[cfg(feature = "protobuf")]
    pub fn bidi_proto<I, O, F>(self, endpoint: &str, f: F) -> Service
    where
        F: Fn(&Context, Incoming<I>, &mut Stream<'_, O>) -> Result<(), Error> + Send + Sync + 'static,
        I: DeserializeOwned + ProtoMessage + 'static,
        O: Serialize + ProtoMessage + 'static,
    {
        let handler = Bidi::new(&self.name, f, Codecs::proto_json());
        let accepts = (Some(handler.ndjson_codecs()), Some(handler.codecs()));
        let duplex: Box<dyn DuplexHandler> = Box::new(handler.clone());
        self.route_with(
            endpoint_path(endpoint),
            &["POST"],
            Box::new(handler),
            accepts,
            Some(duplex),
        )
    }

    /// Serves RPC endpoint `endpoint` with a raw handler that takes any content type.
    pub fn rpc_raw(self, endpoint: &str, handler: impl Handler) -> Service {
        self.route(
            endpoint_path(endpoint),
            &["POST"],
            Box::new(handler),
            (None, None),
        )
    }

    /// Serves HTTP `path` for `methods` (API mode); the handler's status, headers and body are sent as they are.
    pub fn api(self, path: &str, methods: &[&str], handler: impl Handler) -> Service {
        self.route(path.to_string(), methods, Box::new(handler), (None, None))
    }

    /// Serves HTTP `path` with a handler ported from go-micro's API: it sees the request in
    /// go-api's `go.api.Request` shape and answers a `go.api.Response`, whose status (0 means
    /// 200), headers and body are applied to the reply.
    pub fn api_go<F>(self, path: &str, methods: &[&str], f: F) -> Service
    where
        F: Fn(&Context, ApiRequest) -> Result<ApiResponse, Error> + Send + Sync + 'static,
    {
        self.api(path, methods, move |ctx: &Context, req: Request| {
            let request = goapi::to_api_request(ctx.metadata(), &req);
            Ok(goapi::from_api_response(f(ctx, request)?))
        })
    }

    fn route(
        self,
        path: String,
        methods: &[&str],
        handler: Box<dyn Handler>,
        accepts: (Option<&'static [Codec]>, Option<&'static [Codec]>),
    ) -> Service {
        self.route_with(path, methods, handler, accepts, None)
    }

    /// [`route`](Service::route) with a duplex handler for the wires that stream a request.
    fn route_with(
        mut self,
        path: String,
        methods: &[&str],
        handler: Box<dyn Handler>,
        accepts: (Option<&'static [Codec]>, Option<&'static [Codec]>),
        duplex: Option<Box<dyn DuplexHandler>>,
    ) -> Service {
        let methods = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        let route = Route {
            methods,
            handler,
            accepts: accepts.0,
            grpc_accepts: accepts.1,
            duplex,
        };
        // Registering a path again replaces its handler (and keeps its place).
        match self.routes.iter_mut().find(|(p, _)| *p == path) {
            Some((_, old)) => *old = route,
            None => self.routes.push((path, route)),
        }
        self
    }
}

/// `Example.Call` -> `/Example.Call`.
fn endpoint_path(endpoint: &str) -> String {
    format!("/{}", endpoint.trim_start_matches('/'))
}
