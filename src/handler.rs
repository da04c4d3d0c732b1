//! What a handler sees and returns: `Handler`, `Context`, `Request`, `Response`.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{self, Call, CallOptions, Client, Reply};
use crate::codec;
use crate::error::Error;
use crate::metadata::Metadata;
use crate::stream::{NDJSON, Streamer};

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

/// Adapts a typed closure `Fn(&Context, Q) -> Result<R, Error>` into a JSON [`Handler`].
pub(crate) struct JsonHandler<F, Q, R> {
    f: F,
    _types: PhantomData<fn(Q) -> R>,
}

impl<F, Q, R> JsonHandler<F, Q, R> {
    pub(crate) fn new(f: F) -> Self {
        JsonHandler {
            f,
            _types: PhantomData,
        }
    }
}

impl<F, Q, R> Handler for JsonHandler<F, Q, R>
where
    F: Fn(&Context, Q) -> Result<R, Error> + Send + Sync + 'static,
    Q: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    fn call(&self, ctx: &Context, req: Request) -> Result<Response, Error> {
        let request: Q = codec::decode(&req.body)?;
        Response::json(&(self.f)(ctx, request)?)
    }
}

/// Istio's trace headers: a context forwards these to its calls when present and non-empty
/// (protocol.md section 5).
pub const TRACE_HEADERS: [&str; 15] = [
    "x-request-id",
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-ot-span-context",
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "x-cloud-trace-context",
    "grpc-trace-bin",
];

/// Headers a context never forwards, even when a service opts in: recomputed or hop-by-hop.
pub const NEVER_FORWARDED: [&str; 10] = [
    "host",
    "content-length",
    "content-type",
    "timeout",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` may be forwarded at all (not in [`NEVER_FORWARDED`], not `proxy-*`).
pub fn forwardable(name: &str) -> bool {
    !NEVER_FORWARDED.iter().any(|n| n.eq_ignore_ascii_case(name))
        && !name.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("proxy-"))
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

    /// Calls `service`'s `endpoint` with a JSON request and decodes the JSON reply.
    pub fn call<Q: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        service: &str,
        endpoint: &str,
        request: &Q,
    ) -> Result<R, Error> {
        self.call_with(service, endpoint, request, &CallOptions::default())
    }

    /// [`call`](Self::call) with per-call options; their metadata is sent beside the forwarded headers.
    pub fn call_with<Q: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        service: &str,
        endpoint: &str,
        request: &Q,
        options: &CallOptions,
    ) -> Result<R, Error> {
        let metadata = self.outgoing(options);
        client::call_json(
            &*self.client,
            service,
            endpoint,
            request,
            &metadata,
            options,
            self.deadline,
        )
    }

    /// Calls a server-streaming endpoint: its messages decoded one at a time as they arrive.
    /// Drop the iterator to stop early; an error mid-stream is its last item.
    pub fn stream<Q: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        service: &str,
        endpoint: &str,
        request: &Q,
        options: &CallOptions,
    ) -> Result<impl Iterator<Item = Result<R, Error>> + use<R, Q>, Error> {
        let metadata = self.outgoing(options);
        client::stream_json(
            &*self.client,
            service,
            endpoint,
            request,
            &metadata,
            options,
            self.deadline,
        )
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
        let metadata = self.outgoing(options);
        let call = Call {
            service,
            endpoint,
            content_type,
            body,
            metadata: &metadata,
            options,
            deadline: self.deadline,
        };
        self.client.call_raw(&call)
    }

    fn outgoing(&self, options: &CallOptions) -> Metadata {
        let mut metadata = self.forwarded();
        for (name, value) in options.metadata.iter() {
            metadata.insert(name, value);
        }
        metadata
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
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }

    /// Decodes the body as JSON (an empty body as `{}`).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        codec::decode(&self.body)
    }
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte.
///
/// A `%` not followed by two hex digits is kept as it is; bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if hex(i + 1).is_some() && hex(i + 2).is_some() => {
                out.push((hex(i + 1).unwrap_or(0) * 16 + hex(i + 2).unwrap_or(0)) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a handler answers: status, headers and body, written as they are; or a stream.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Headers other than the framing ones (`Content-Length`, `Connection`, `Date` are the server's).
    pub headers: Vec<(String, String)>,
    /// The body (empty for a stream).
    pub body: Vec<u8>,
    /// For a server stream: what writes its messages once the head is sent.
    pub stream: Option<Streamer>,
}

impl Response {
    /// A response with `status`, no headers and an empty body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            stream: None,
        }
    }

    /// A 200 response with `value` as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Response, Error> {
        Ok(Response::bytes("application/json", codec::encode(value)?))
    }

    /// A 200 response with a body of the given content type.
    pub fn bytes(content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            stream: None,
        }
    }

    /// The error JSON for `err`, with its code as the status; `default_id` names id-less errors.
    pub fn error(err: &Error, default_id: &str) -> Response {
        let wire = err.wire(default_id);
        let mut resp = Response::bytes("application/json", codec::encode_error(&wire));
        resp.status = wire.code;
        resp
    }

    /// A 200 stream of NDJSON messages written by `streamer` (protocol.md section 8).
    pub fn stream(streamer: Streamer) -> Response {
        let mut resp = Response::bytes(NDJSON, Vec::new());
        resp.stream = Some(streamer);
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
    fn percent_decoding() {
        assert_eq!(percent_decode("Hobo"), "Hobo");
        assert_eq!(percent_decode("a+b%20c%2Fd"), "a b c/d");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "\u{e9}");
    }

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
        assert!(resp.body.starts_with(br#"{"id":"svc","code":415"#));
    }
}
