//! The `Client` interface: one RPC call to a named service, and its options.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec;
use crate::error::Error;
use crate::metadata::Metadata;

pub mod blocking;

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
}

impl CallOptions {
    /// Options with a header added.
    pub fn with_metadata(mut self, key: &str, value: &str) -> CallOptions {
        self.metadata.insert(key, value);
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
/// cluster's DNS pick the target. [`HttpClient`](crate::HttpClient) is the implementation.
pub trait Client: Send + Sync + 'static {
    /// Makes one call and returns the 2xx reply, or the error the reply or the transport gave.
    fn call_raw(&self, call: &Call<'_>) -> Result<Reply, Error>;

    /// Calls a server-streaming endpoint and returns its messages, read one at a time.
    fn stream_raw(&self, call: &Call<'_>) -> Result<Messages, Error> {
        Err(Error::with_id(
            crate::error::CLIENT_ID,
            501,
            format!("{} cannot stream", call.endpoint),
        ))
    }
}

/// The raw messages of a server stream (one JSON document each), read as they arrive.
///
/// An error sent after the stream started ends it as an `Err` item. Dropping it early closes
/// the connection, so the server's handler sees its writes fail and stops.
pub type Messages = Box<dyn Iterator<Item = Result<Vec<u8>, Error>> + Send>;

impl dyn Client {
    /// Calls `service`'s `endpoint` with a JSON request and decodes the JSON reply.
    pub fn call<Q: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        service: &str,
        endpoint: &str,
        request: &Q,
    ) -> Result<R, Error> {
        self.call_with(service, endpoint, request, &CallOptions::default())
    }

    /// [`call`](Self::call) with options (metadata, timeout, namespace, ...).
    pub fn call_with<Q: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        service: &str,
        endpoint: &str,
        request: &Q,
        options: &CallOptions,
    ) -> Result<R, Error> {
        call_json(self, service, endpoint, request, &options.metadata, options, None)
    }
}

/// Encodes `request` as JSON and hands the call to `f`: what every typed call and stream shares.
fn with_json_call<Q: Serialize + ?Sized, T>(
    target: (&str, &str),
    request: &Q,
    metadata: &Metadata,
    options: &CallOptions,
    deadline: Option<Instant>,
    f: impl FnOnce(&Call<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let body = codec::encode(request)?;
    let (service, endpoint) = target;
    f(&Call {
        service,
        endpoint,
        content_type: "application/json",
        body: &body,
        metadata,
        options,
        deadline,
    })
}

/// Encodes, calls and decodes each message: the typed stream every `stream` method ends in.
pub(crate) fn stream_json<Q: Serialize + ?Sized, R: DeserializeOwned>(
    client: &dyn Client,
    service: &str,
    endpoint: &str,
    request: &Q,
    metadata: &Metadata,
    options: &CallOptions,
    deadline: Option<Instant>,
) -> Result<impl Iterator<Item = Result<R, Error>> + use<R, Q>, Error> {
    let messages = with_json_call(
        (service, endpoint),
        request,
        metadata,
        options,
        deadline,
        |call| client.stream_raw(call),
    )?;
    Ok(messages.map(|m| m.and_then(|bytes| codec::decode(&bytes))))
}

/// Encodes, calls and decodes: the typed call every `call` method ends in.
pub(crate) fn call_json<Q: Serialize + ?Sized, R: DeserializeOwned>(
    client: &dyn Client,
    service: &str,
    endpoint: &str,
    request: &Q,
    metadata: &Metadata,
    options: &CallOptions,
    deadline: Option<Instant>,
) -> Result<R, Error> {
    let reply = with_json_call(
        (service, endpoint),
        request,
        metadata,
        options,
        deadline,
        |call| client.call_raw(call),
    )?;
    codec::decode(&reply.body).map_err(|e| {
        Error::with_id(
            crate::error::CLIENT_ID,
            500,
            format!("bad reply from {service}: {e}"),
        )
    })
}
