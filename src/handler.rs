//! What a handler sees and returns: `Handler`, `Context`, `Request`, `Response`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::blocking::blocking;
use crate::client::{Call, CallOptions, Caller, Client, Duplex, Messages, Reply};
use crate::codec::{self, JSON, NDJSON};
use crate::error::Error;
use crate::metadata::{Metadata, TRACE_HEADERS};
use crate::percent::form_decode;
use crate::stream::{Source, Streamer};

/// Serves one request. Any `Fn(&Context, Request) -> Result<Response, Error>` closure is one.
pub trait Handler: Send + Sync + 'static {
    /// Handles `req`; an `Err` is sent as the error JSON with its code as the HTTP status.
    fn call(&self, ctx: &Context, req: Request) -> Result<Response, Error>;
}

impl<F> Handler for F
where
    F: Fn(&Context, Request) -> Result<Response, Error> + Send + Sync + 'static,
{
    fn call(&self, ctx: &Context, req: Request) -> Result<Response, Error> {
        self(ctx, req)
    }
}

/// Serves a call whose client streams its messages (client streaming, bidirectional): opened
/// when its head arrives, its messages read from `source` as they come. Over a wire that
/// buffers the request whole (HTTP/1.1) the same endpoint is served by its [`Handler`].
pub(crate) trait DuplexHandler: Send + Sync + 'static {
    /// Opens the call: `req` has no body; the messages are `source`'s.
    fn open(&self, ctx: &Context, req: Request, source: Box<dyn Source>) -> Result<Response, Error>;
}

/// The request's surroundings: incoming metadata, deadline and the client for outbound calls.
///
/// Like go's `context.Context` in a go-micro handler: calls made through it carry the
/// request's trace headers (and the headers the service opted into) and only what remains of
/// its time budget.
#[derive(Clone)]
pub struct Context {
    metadata: Metadata,
    deadline: Option<Instant>,
    client: Arc<dyn Client>,
    forward: Arc<[String]>,
}

impl Context {
    /// A context outside any request: no metadata, no deadline (calls get the client's default).
    pub fn background(client: Arc<dyn Client>) -> Context {
        Context {
            metadata: Metadata::new(),
            deadline: None,
            client,
            forward: Arc::from([]),
        }
    }

    /// A context for a request that arrived with `metadata` (its headers) and `deadline`;
    /// `forward` names the headers, beyond the trace headers, that calls carry on.
    pub(crate) fn incoming(
        client: Arc<dyn Client>,
        metadata: Metadata,
        deadline: Option<Instant>,
        forward: Arc<[String]>,
    ) -> Context {
        Context {
            metadata,
            deadline,
            client,
            forward,
        }
    }

    /// The same context with `metadata` as its incoming headers (to continue a trace, say).
    pub fn with_metadata(mut self, metadata: Metadata) -> Context {
        self.metadata = metadata;
        self
    }

    /// The same context with a deadline (the earlier one wins).
    pub fn with_deadline(mut self, deadline: Instant) -> Context {
        self.deadline = Some(self.deadline.map_or(deadline, |d| d.min(deadline)));
        self
    }

    /// Every header of the incoming request, names compared case-insensitively.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// When the request's time budget runs out, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// What remains of the time budget (zero once spent), if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The client calls made through this context use.
    pub fn client(&self) -> &Arc<dyn Client> {
        &self.client
    }

    /// The headers calls made through this context forward: the trace headers and the opted-in
    /// ones that arrived with a non-empty value.
    pub fn forwarded(&self) -> Metadata {
        let mut out = Metadata::new();
        for (name, value) in self.metadata.iter() {
            let wanted = TRACE_HEADERS.contains(&name) || self.forward.iter().any(|f| f == name);
            if wanted && !value.is_empty() {
                out.append(name, value);
            }
        }
        out
    }

    /// Calls with a body of any content type and returns the raw 2xx reply.
    pub fn call_raw(
        &self,
        service: &str,
        endpoint: &str,
        content_type: &str,
        body: &[u8],
        options: &CallOptions,
    ) -> Result<Reply, Error> {
        self.send(&Call::new(service, endpoint, content_type, body, options))
    }

    /// `call` as it leaves this context: the forwarded headers under the call's own (which win
    /// on a clash), and the earlier of the two deadlines.
    fn outgoing<T>(&self, call: &Call<'_>, f: impl FnOnce(&Call<'_>) -> T) -> T {
        let mut metadata = self.forwarded();
        for (name, value) in call.metadata.iter() {
            metadata.insert(name, value);
        }
        let deadline = match (self.deadline, call.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        f(&Call {
            metadata: &metadata,
            deadline,
            ..*call
        })
    }
}

/// Calls made through a context carry its trace headers (and the opted-in ones) and only what
/// remains of its deadline: `ctx.call(service, endpoint, &request)`.
impl Caller for Context {
    fn send(&self, call: &Call<'_>) -> Result<Reply, Error> {
        self.outgoing(call, |call| blocking(|| self.client.call_raw(call)))
    }

    fn send_stream(&self, call: &Call<'_>) -> Result<Messages, Error> {
        self.outgoing(call, |call| blocking(|| self.client.stream_raw(call)))
    }

    fn send_bidi(&self, call: &Call<'_>) -> Result<Duplex, Error> {
        self.outgoing(call, |call| blocking(|| self.client.bidi_raw(call)))
    }
}

/// An incoming request: method, path, query and body; its headers are in [`Context::metadata`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The HTTP method, as sent (`GET`, `POST`, ...).
    pub method: String,
    /// The path without the query, such as `/Example.Call`.
    pub path: String,
    /// The raw query string without `?` (empty when there is none).
    pub query: String,
    /// The body, with any chunked framing removed.
    pub body: Vec<u8>,
    /// The peer's address, when the server knows it.
    pub peer: Option<SocketAddr>,
}

impl Request {
    /// The first value of query parameter `name`, percent-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k) == name).then(|| form_decode(v))
        })
    }

    /// Decodes the body as JSON (an empty body as `{}`).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        codec::decode(&self.body)
    }
}

/// What a handler answers: status, headers and a body (bytes or a stream), written as they are.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Headers other than the framing ones (`Content-Length`, `Connection`, `Date` are the server's).
    pub headers: Vec<(String, String)>,
    /// The body: bytes, or a server stream written once the head is sent.
    pub body: Body,
}

/// A response body: either whole bytes or a stream, never both.
#[derive(Debug)]
pub enum Body {
    /// The whole body.
    Bytes(Vec<u8>),
    /// A server stream: what writes its messages once the head is sent.
    Stream(Streamer),
}

impl Body {
    /// The bytes of a whole body; empty for a stream.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Body::Bytes(bytes) => bytes,
            Body::Stream(_) => &[],
        }
    }

    /// Whether this is a stream.
    pub fn is_stream(&self) -> bool {
        matches!(self, Body::Stream(_))
    }
}

impl Response {
    /// A response with `status`, no headers and an empty body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    /// A 200 response with `value` as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Response, Error> {
        Ok(Response::bytes(JSON, codec::encode(value)?))
    }

    /// A 200 response with a body of the given content type.
    pub fn bytes(content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Bytes(body.into()),
        }
    }

    /// The error JSON for `err`, with its code as the status; `default_id` names id-less errors.
    pub fn error(err: &Error, default_id: &str) -> Response {
        let wire = err.wire(default_id);
        let mut resp = Response::bytes(JSON, codec::encode_error(&wire));
        resp.status = wire.code;
        resp
    }

    /// A 200 stream of NDJSON messages written by `streamer` (protocol.md section 8).
    pub fn stream(streamer: Streamer) -> Response {
        let mut resp = Response::bytes(NDJSON, Vec::new());
        resp.body = Body::Stream(streamer);
        resp
    }

    /// Sets the status.
    pub fn with_status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The handler's headers a server may write: not the framing ones (`Content-Length`,
    /// `Transfer-Encoding`, `Connection`, `Keep-Alive`, `Date` are the server's), and only a token
    /// name with a field value free of control bytes (a CR or LF would split the response).
    pub fn writable_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(name, value)| {
                !FRAMING_HEADERS.iter().any(|own| name.eq_ignore_ascii_case(own)) && valid_header(name, value)
            })
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// The first value of header `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Headers a server writes itself; a handler's copies are dropped.
const FRAMING_HEADERS: [&str; 5] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "date",
];

/// A token name and a field value of visible bytes, spaces and tabs (RFC 9110 section 5).
fn valid_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && value.bytes().all(|b| b == b'\t' || b >= b' ' && b != 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        let req = Request {
            query: "x=1&name=Ho%20bo&flag".into(),
            ..Request::default()
        };
        assert_eq!(req.query_param("name").as_deref(), Some("Ho bo"));
        assert_eq!(req.query_param("flag").as_deref(), Some(""));
        assert_eq!(req.query_param("nope"), None);
    }

    #[test]
    fn handler_headers_cannot_split_responses() {
        assert!(valid_header("X-Ok", "fine value"));
        assert!(!valid_header("X-Bad", "a\r\nSet-Cookie: x"));
        assert!(!valid_header("Bad Name", "v"));
        assert!(!valid_header("", "v"));
        let resp = Response::new(200)
            .with_header("X-Test", "yes")
            .with_header("Content-Length", "999")
            .with_header("keep-alive", "timeout=5");
        assert_eq!(resp.writable_headers().collect::<Vec<_>>(), [("X-Test", "yes")]);
    }

    #[test]
    fn error_response_uses_the_code_as_status() {
        let resp = Response::error(&Error::new(415, "no"), "svc");
        assert_eq!(resp.status, 415);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert!(resp.body.bytes().starts_with(br#"{"id":"svc","code":415"#));
    }
}
