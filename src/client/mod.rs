//! The `Client` interface: one RPC call to a named service, and its options.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::blocking::blocking;
#[cfg(feature = "protobuf")]
use crate::codec::ProtoMessage;
use crate::codec::{Codec, Codecs};
use crate::error::{CLIENT_ID, Error};
use crate::metadata::Metadata;

mod bidi;
pub mod blocking;
mod dial;
pub mod grpc;
mod plugins;
mod retry;

pub use bidi::BidiCall;
pub use grpc::Duplex;
pub use plugins::Plugins;

/// The client plugins `--client` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientKind {
    /// HTTP/1.1 on ureq ([`HttpClient`](crate::HttpClient)), the default.
    #[default]
    Http,
    /// gRPC over our own HTTP/2 ([`GrpcClient`](crate::GrpcClient)).
    Grpc,
}

impl ClientKind {
    /// Every client, the default first.
    pub const ALL: &'static [ClientKind] = &[ClientKind::Http, ClientKind::Grpc];

    /// The name `--client` spells it with: `http` or `grpc`.
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Http => "http",
            ClientKind::Grpc => "grpc",
        }
    }
}

impl std::fmt::Display for ClientKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ClientKind {
    type Err = Error;

    /// Parses a client's name; an unknown one is an [`Error::Flag`] naming the known ones.
    fn from_str(name: &str) -> Result<ClientKind, Error> {
        ClientKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| Error::Flag(format!("unknown client {name:?} (known: http, grpc)")))
    }
}

/// How one call is made; anything left `None` takes the client's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// The call address for this call (`:PORT` or `HOST:PORT`), like go-micro's `CallOptions.Address`.
    pub address: Option<String>,
    /// The time budget for this call; under a request's deadline, the smaller of the two.
    pub timeout: Option<Duration>,
    /// Headers to send, on top of those a context forwards (these win on a clash).
    pub metadata: Metadata,
    /// The target service's namespace, for a call across namespaces (`:PORT` addresses only).
    pub namespace: Option<String>,
    /// Retries of a call that never reached the server (connection refused, say).
    pub retries: Option<u32>,
    /// Whether the call may be repeated even after it may have reached the server.
    pub idempotent: bool,
    /// The client plugin for this call (HTTP or gRPC), when a service's default (`--client`)
    /// is not the one: only a [`Plugins`] client (what a `Service` builds) honours it.
    pub client: Option<ClientKind>,
}

impl CallOptions {
    /// Options with a header added.
    pub fn with_metadata(mut self, key: &str, value: &str) -> CallOptions {
        self.metadata.insert(key, value);
        self
    }

    /// Options with the client plugin for this call.
    pub fn with_client(mut self, client: ClientKind) -> CallOptions {
        self.client = Some(client);
        self
    }

    /// Options with a time budget.
    pub fn with_timeout(mut self, timeout: Duration) -> CallOptions {
        self.timeout = Some(timeout);
        self
    }
}

/// One outbound RPC: `POST /{endpoint}` to the target of `service`.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The service name, such as `go.micro.srv.sample`.
    pub service: &'a str,
    /// The endpoint, such as `Example.Call`.
    pub endpoint: &'a str,
    /// The request's content type.
    pub content_type: &'a str,
    /// The encoded request.
    pub body: &'a [u8],
    /// Headers to send with the request (forwarded ones merged with the options' own).
    pub metadata: &'a Metadata,
    /// Per-call options.
    pub options: &'a CallOptions,
    /// The deadline of the request this call is made for, if any: the call gets what remains.
    pub deadline: Option<Instant>,
}

impl<'a> Call<'a> {
    /// A call with `options`' metadata and no deadline of its own.
    pub fn new(
        service: &'a str,
        endpoint: &'a str,
        content_type: &'a str,
        body: &'a [u8],
        options: &'a CallOptions,
    ) -> Call<'a> {
        Call {
            service,
            endpoint,
            content_type,
            body,
            metadata: &options.metadata,
            options,
            deadline: None,
        }
    }
}

/// A successful (2xx) reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The reply's content type (empty when none was sent).
    pub content_type: String,
    /// The reply body.
    pub body: Vec<u8>,
}

/// A client makes calls to services by name; any non-2xx reply comes back as an [`Error`].
///
/// This is go-micro's `client.Client` without registry or selector: the name rule and the
/// cluster's DNS pick the target. [`HttpClient`](crate::HttpClient) and
/// [`GrpcClient`](crate::GrpcClient) implement it.
pub trait Client: Send + Sync + 'static {
    /// Makes one call and returns the 2xx reply, or the error the reply or the transport gave.
    fn call_raw(&self, call: &Call<'_>) -> Result<Reply, Error>;

    /// Calls a server-streaming endpoint and returns its messages, read one at a time.
    fn stream_raw(&self, call: &Call<'_>) -> Result<Messages, Error> {
        Err(Error::with_id(
            CLIENT_ID,
            501,
            format!("{} cannot stream", call.endpoint),
        ))
    }

    /// Opens a client- or bidirectional-streaming call: messages go out with
    /// [`Duplex::send`] (`call.body` is not sent) and replies are read by iterating. Only
    /// [`GrpcClient`](crate::GrpcClient) streams both ways; others answer 501.
    fn bidi_raw(&self, call: &Call<'_>) -> Result<Duplex, Error> {
        Err(Error::with_id(
            CLIENT_ID,
            501,
            format!("{}: this client cannot stream requests (gRPC can)", call.endpoint),
        ))
    }
}

/// The raw messages of a server stream (one JSON document each), read as they arrive.
///
/// An error sent after the stream started ends it as an `Err` item. Dropping it early closes
/// the connection (HTTP) or resets the stream (gRPC), so the server's handler sees its writes
/// fail and stops.
pub type Messages = Box<dyn Iterator<Item = Result<Vec<u8>, Error>> + Send>;

/// Anything that makes calls by service name: a [`Client`], a handler's
/// [`Context`](crate::Context), a [`RunningMesh`](crate::testing::RunningMesh). The typed calls
/// are written once, here, over [`send`](Caller::send) and [`send_stream`](Caller::send_stream).
///
/// ```no_run
/// use micro_mesh::{Caller, Error, HttpClient};
/// use serde_json::{Value, json};
///
/// let client = HttpClient::builder().call_address("127.0.0.1:9080").build();
/// let reply: Value = client.call("go.micro.srv.sample", "Example.Call", &json!({"name": "Hobo"}))?;
/// # Ok::<(), Error>(())
/// ```
pub trait Caller {
    /// Sends one encoded call and returns the 2xx reply (a context first adds its forwarded
    /// headers and deadline).
    fn send(&self, call: &Call<'_>) -> Result<Reply, Error>;

    /// Opens a server stream: its raw messages, read one at a time.
    fn send_stream(&self, call: &Call<'_>) -> Result<Messages, Error>;

    /// Opens a duplex call (client or bidirectional streaming); by default the 501 of a caller
    /// that cannot stream requests.
    fn send_bidi(&self, call: &Call<'_>) -> Result<Duplex, Error> {
        Err(Error::with_id(
            CLIENT_ID,
            501,
            format!("{}: this caller cannot stream requests (gRPC can)", call.endpoint),
        ))
    }

    /// Calls `service`'s `endpoint` with a typed request and decodes the typed reply (JSON).
    fn call<Q, R>(&self, service: &str, endpoint: &str, request: &Q) -> Result<R, Error>
    where
        Q: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call_with(service, endpoint, request, &CallOptions::default())
    }

    /// [`call`](Caller::call) with options (metadata, timeout, namespace, ...); the options'
    /// metadata is sent beside any forwarded headers.
    fn call_with<Q, R>(
        &self,
        service: &str,
        endpoint: &str,
        request: &Q,
        options: &CallOptions,
    ) -> Result<R, Error>
    where
        Q: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        typed_call(self, Codecs::json(), service, endpoint, request, options)
    }

    /// [`call_with`](Caller::call_with) for prost messages (feature `protobuf`): sends the
    /// request as `application/proto` and decodes the reply as protobuf. This is how to call a
    /// stock go-micro `istio_http` service, whose default codec is protobuf; a micro-mesh
    /// endpoint served with [`rpc_proto`](crate::Service::rpc_proto) answers it too.
    #[cfg(feature = "protobuf")]
    fn call_proto<Q, R>(
        &self,
        service: &str,
        endpoint: &str,
        request: &Q,
        options: &CallOptions,
    ) -> Result<R, Error>
    where
        Q: ProtoMessage,
        R: ProtoMessage,
    {
        typed_call(self, Codecs::proto(), service, endpoint, request, options)
    }

    /// Calls a server-streaming endpoint: its messages decoded one at a time as they arrive.
    /// Drop the iterator to stop early; an error mid-stream is its last item.
    fn stream<Q, R>(
        &self,
        service: &str,
        endpoint: &str,
        request: &Q,
        options: &CallOptions,
    ) -> Result<impl Iterator<Item = Result<R, Error>> + Send + use<Self, Q, R>, Error>
    where
        Q: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let (codecs, codec, body) = encode_request(Codecs::<R, Q>::json(), request)?;
        let messages = self.send_stream(&Call::new(
            service,
            endpoint,
            codec.content_type(),
            &body,
            options,
        ))?;
        Ok(messages.map(move |m| m.and_then(|bytes| codecs.decode(codec, &bytes))))
    }

    /// Opens a bidirectional-streaming call (a client-streaming one too) to `service`'s
    /// `endpoint` in JSON: send requests of `Q`, read replies of `R` (see [`BidiCall`]). Over
    /// gRPC only ([`GrpcClient`](crate::GrpcClient); a service's [`Plugins`] use it unless the
    /// call names HTTP); the
    /// name rule, metadata and deadline as for [`call_with`](Caller::call_with); a call that
    /// fails before its stream opened is retried as any call, never once it opened.
    fn bidi<Q, R>(
        &self,
        service: &str,
        endpoint: &str,
        options: &CallOptions,
    ) -> Result<BidiCall<Q, R>, Error>
    where
        Q: Serialize,
        R: DeserializeOwned,
    {
        open_bidi(self, Codecs::json(), service, endpoint, options)
    }

    /// [`bidi`](Caller::bidi) for prost messages (feature `protobuf`): gRPC `+proto`, as a
    /// go-micro service's `rpc PingPong(stream Ping) returns (stream Pong)` takes them.
    #[cfg(feature = "protobuf")]
    fn bidi_proto<Q, R>(
        &self,
        service: &str,
        endpoint: &str,
        options: &CallOptions,
    ) -> Result<BidiCall<Q, R>, Error>
    where
        Q: ProtoMessage,
        R: ProtoMessage,
    {
        open_bidi(self, Codecs::proto(), service, endpoint, options)
    }
}

/// Opens a typed duplex call through `caller` in the types' preferred codec.
fn open_bidi<C, Q, R>(
    caller: &C,
    codecs: Codecs<R, Q>,
    service: &str,
    endpoint: &str,
    options: &CallOptions,
) -> Result<BidiCall<Q, R>, Error>
where
    C: Caller + ?Sized,
{
    let codec = codecs.accepts[0];
    let duplex = caller.send_bidi(&Call::new(service, endpoint, codec.content_type(), &[], options))?;
    Ok(BidiCall::new(duplex, codecs, codec))
}

/// A typed call's codecs, the codec it sends with (their preferred one) and its encoded request.
type Encoded<Q, R> = (Codecs<R, Q>, Codec, Vec<u8>);

/// Encodes a typed call's request with its types' preferred codec.
fn encode_request<Q: ?Sized, R>(codecs: Codecs<R, Q>, request: &Q) -> Result<Encoded<Q, R>, Error> {
    let codec = codecs.accepts[0];
    let body = codecs.encode(codec, request)?;
    Ok((codecs, codec, body))
}

/// One typed unary call through `caller`: the request in the types' preferred codec, the reply
/// decoded in the same one (a reply that does not decode is the caller's 500, naming `service`).
fn typed_call<C, Q, R>(
    caller: &C,
    codecs: Codecs<R, Q>,
    service: &str,
    endpoint: &str,
    request: &Q,
    options: &CallOptions,
) -> Result<R, Error>
where
    C: Caller + ?Sized,
    Q: ?Sized,
{
    let (codecs, codec, body) = encode_request(codecs, request)?;
    let call = Call::new(service, endpoint, codec.content_type(), &body, options);
    let reply = caller.send(&call)?;
    codecs.decode(codec, &reply.body).map_err(|e| {
        let detail = e.detail();
        Error::with_id(CLIENT_ID, 500, format!("bad reply from {service}: {detail}"))
    })
}

/// Every client makes typed calls.
/// Each call tells the thread's blocking hint (`blocking.rs`) that it waits on the network.
impl<C: Client + ?Sized> Caller for C {
    fn send(&self, call: &Call<'_>) -> Result<Reply, Error> {
        blocking(|| self.call_raw(call))
    }

    fn send_stream(&self, call: &Call<'_>) -> Result<Messages, Error> {
        blocking(|| self.stream_raw(call))
    }

    fn send_bidi(&self, call: &Call<'_>) -> Result<Duplex, Error> {
        blocking(|| self.bidi_raw(call))
    }
}
