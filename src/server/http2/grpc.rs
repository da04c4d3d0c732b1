//! gRPC over the HTTP/2 server (protocol.md section 9): a call's headers and message turned
//! into a pipeline request, and the pipeline's answer turned into messages and trailers.
//!
//! A call becomes the same `Request` an HTTP/1.1 RPC would be: `POST /Service.Method`, the
//! message as its body, `content-type` the message codec's (`application/proto` or `json`),
//! and the deadline as go-micro's `timeout` header, so routing, codecs, deadlines and records
//! are the pipeline's, decided once. What is gRPC's alone lives here: framing, the status
//! table, Trailers-Only errors, and `grpc.health.v1.Health/Check`.

use std::io;

use super::request::Head;
use super::writer::{SendError, Writer};
use crate::codec;
use crate::error::{Error, WireError};
use crate::grpc::content::{self, GrpcCodec, Negotiated};
use crate::grpc::framing::{self, Deframer};
use crate::grpc::headers::Incoming;
use crate::grpc::health::{self, ServingStatus};
use crate::grpc::path::GrpcPath;
use crate::grpc::status::{Code, Status};
use crate::handler::{Body, Request, Response};
use crate::health::Health;
use crate::http2::hpack::Header;
use crate::metadata::Metadata;
use crate::stream::Sink;

/// The health service's path.
pub(super) const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

/// A gRPC call on its way: how its reply is encoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    negotiated: Negotiated,
}

/// Whether a request is a gRPC call (its `content-type` says so).
pub(super) fn is_call(metadata: &Metadata) -> bool {
    metadata.get("content-type").is_some_and(content::is_grpc)
}

/// The call's reply encoding, as far as its headers tell (bare `application/grpc` and proto
/// when they do not).
pub(super) fn call_of(metadata: &Metadata) -> Call {
    let negotiated = content::negotiate(
        metadata.get("content-type").unwrap_or(""),
        metadata.get("x-content-type"),
    )
    .unwrap_or(Negotiated {
        codec: GrpcCodec::Proto,
        bare: true,
    });
    Call { negotiated }
}

/// A call translated for the pipeline, or the status to end it with at once.
pub(super) fn prepare(
    head: Head,
    body: &[u8],
    max_body: usize,
) -> Result<(Call, Metadata, Request), (Call, Status)> {
    let (call, metadata, mut request) = prepare_head(head)?;
    request.body = one_message(body, max_body).map_err(|status| (call, status))?;
    Ok((call, metadata, request))
}

/// A call's head translated for the pipeline (the request without a body: a duplex call's
/// messages come later), or the status to end it with at once.
pub(super) fn prepare_head(head: Head) -> Result<(Call, Metadata, Request), (Call, Status)> {
    let call = call_of(&head.metadata);
    let incoming = Incoming::from_headers(head.metadata.iter()).map_err(|e| (call, Status::from(e)))?;
    let negotiated = incoming.negotiate().map_err(|e| (call, status_of(e)))?;
    let call = Call { negotiated };
    let fail = |status: Status| (call, status);
    let budget = incoming.deadline().map_err(|e| fail(Status::from(e)))?;
    let path = GrpcPath::parse(&head.path).map_err(|e| fail(Status::from(e)))?;
    let mut metadata = incoming.metadata;
    metadata.insert("content-type", negotiated.codec.message_content_type());
    if let Some(budget) = budget {
        // go-micro's header carries it to the router, which makes it the handler's deadline.
        metadata.insert(
            "timeout",
            budget
                .as_nanos()
                .max(if budget.is_zero() { 0 } else { 1 })
                .to_string(),
        );
    }
    let request = Request {
        method: "POST".into(),
        path: format!("/{}", path.endpoint()),
        query: String::new(),
        body: Vec::new(),
        peer: None,
    };
    Ok((call, metadata, request))
}

/// The endpoint path (`/Service.Method`) a gRPC call's path names, when well formed: what a
/// reader asks the pipeline about at the head (is it a duplex endpoint?).
pub(super) fn endpoint_path(path: &str) -> Option<String> {
    GrpcPath::parse(path).ok().map(|p| format!("/{}", p.endpoint()))
}

/// The one request message of a unary or server-streaming call.
fn one_message(body: &[u8], max_body: usize) -> Result<Vec<u8>, Status> {
    let mut deframer = Deframer::with_max(max_body);
    deframer.push(body);
    let message = deframer.next()?;
    deframer.finish()?;
    let unexpected =
        |what: &str| Status::new(Code::Internal, Error::internal(format!("{what} request message")));
    match (message, deframer.next()?) {
        (Some(message), None) => Ok(message),
        (None, _) => Err(unexpected("no")),
        (Some(_), Some(_)) => Err(unexpected("more than one")),
    }
}

/// The gRPC status of a framework or handler error: the table, but an unsupported codec is
/// UNIMPLEMENTED and a body over the limit RESOURCE_EXHAUSTED, as gRPC names them.
pub(super) fn status_of(err: Error) -> Status {
    match err.status() {
        415 => Status::new(Code::Unimplemented, err),
        413 => Status::new(Code::ResourceExhausted, err),
        _ => Status::from(err),
    }
}

/// The status for an unknown method (gRPC's UNIMPLEMENTED, not the table's NOT_FOUND).
pub(super) fn unimplemented(path: &str) -> Status {
    Status::new(
        Code::Unimplemented,
        Error::new(501, format!("unknown method {path}")),
    )
}

/// The error a non-2xx response carries, back from its error JSON.
fn response_status(response: &Response) -> Status {
    let err = codec::decode_error(response.status, response.body.bytes());
    status_of(err)
}

/// Ends a call at once: one HEADERS block with the status (Trailers-Only).
pub(super) fn trailers_only(
    writer: &Writer,
    id: u32,
    call: Call,
    status: &Status,
    service: &str,
) -> Result<(), SendError> {
    let mut fields = vec![
        Header::new(":status", "200"),
        Header::new("content-type", call.negotiated.content_type()),
    ];
    fields.extend(status_fields(status, service));
    writer.headers(id, &fields, true)
}

fn status_fields(status: &Status, service: &str) -> Vec<Header> {
    let mut fields = vec![Header::new("grpc-status", status.code.value().to_string())];
    if status.code != Code::Ok {
        fields.push(Header::new("grpc-message", status.grpc_message(service)));
    }
    fields
}

/// The blocks that end a call whose deadline passed: Trailers-Only before any response
/// HEADERS, else trailers; both DEADLINE_EXCEEDED.
pub(super) fn expired(call: Call, service: &str) -> (Vec<Header>, Vec<Header>) {
    let status = Status::new(Code::DeadlineExceeded, Error::new(408, "deadline exceeded"));
    let mut only = vec![
        Header::new(":status", "200"),
        Header::new("content-type", call.negotiated.content_type()),
    ];
    only.extend(status_fields(&status, service));
    (only, status_fields(&status, service))
}

fn ok_trailers() -> [Header; 1] {
    [Header::new("grpc-status", "0")]
}

/// Writes the pipeline's answer to a call: its message (or a stream's, one each) and the
/// status; an error before any message as Trailers-Only. Returns the record's status.
pub(super) fn respond(
    writer: &Writer,
    id: u32,
    call: Call,
    response: Response,
    service: &str,
) -> Result<u16, SendError> {
    if !(200..300).contains(&response.status) {
        let status = response_status(&response);
        trailers_only(writer, id, call, &status, service)?;
        return Ok(response.status);
    }
    let head = [
        Header::new(":status", "200"),
        Header::new("content-type", call.negotiated.content_type()),
    ];
    match response.body {
        Body::Bytes(message) => {
            let mut framed = Vec::with_capacity(message.len() + framing::PREFIX);
            if let Err(status) = framing::encode(&message, &mut framed) {
                trailers_only(writer, id, call, &status, service)?;
                return Ok(500);
            }
            writer.whole(id, &head, &framed, Some(&ok_trailers()))?;
            Ok(200)
        }
        Body::Stream(streamer) => {
            writer.headers(id, &head, false)?;
            let mut sink = MessageSink {
                writer,
                id,
                service,
                framed: Vec::new(),
                ended: false,
                failed: None,
            };
            let in_step = streamer.run(&mut sink);
            if let Some(err) = sink.failed {
                return Err(err);
            }
            if !sink.ended {
                if in_step {
                    writer.headers(id, &ok_trailers(), true)?;
                } else {
                    let status = Status::new(Code::Internal, Error::internal("the stream broke"));
                    writer.headers(id, &status_fields(&status, service), true)?;
                }
            }
            Ok(200)
        }
    }
}

/// Writes each message of a stream as one gRPC message; an error ends the stream with its
/// status in the trailers.
struct MessageSink<'a> {
    writer: &'a Writer,
    id: u32,
    service: &'a str,
    framed: Vec<u8>,
    /// The trailers went out (an error ended the stream).
    ended: bool,
    failed: Option<SendError>,
}

impl MessageSink<'_> {
    fn check(&mut self, result: Result<(), SendError>) -> io::Result<()> {
        result.map_err(|err| {
            let io = match &err {
                SendError::Reset => io::ErrorKind::BrokenPipe.into(),
                SendError::Io(e) => io::Error::new(e.kind(), e.to_string()),
            };
            self.failed = Some(err);
            io
        })
    }
}

impl Sink for MessageSink<'_> {
    fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        self.framed.clear();
        framing::encode(message, &mut self.framed)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        let result = self.writer.data(self.id, &self.framed, false);
        self.check(result)
    }

    fn write_error(&mut self, error: &WireError) -> io::Result<()> {
        let status = status_of(Error::from_wire(error.clone(), 500));
        self.ended = true;
        let result = self
            .writer
            .headers(self.id, &status_fields(&status, self.service), true);
        self.check(result)
    }
}

/// `grpc.health.v1.Health/Check`: SERVING while ready (the `/health/ready` rule), NOT_SERVING
/// while starting or draining; an unknown service name is NOT_FOUND.
pub(super) fn health_check(
    health: &Health,
    name: &str,
    call: Call,
    message: &[u8],
) -> Result<Vec<u8>, Status> {
    let codec = call.negotiated.codec;
    let asked = health::decode_request(codec, message).map_err(Status::from)?;
    if !asked.is_empty() && asked != name {
        return Err(Status::new(
            Code::NotFound,
            Error::not_found(format!("unknown service {asked}")),
        ));
    }
    let status = match health.readiness() {
        Ok(()) => ServingStatus::Serving,
        Err(_) => ServingStatus::NotServing,
    };
    Ok(health::encode_response(codec, status))
}

/// Answers a health check on the stream (the reader's thread: it is cheap and never blocks on
/// a handler).
pub(super) fn answer_health(
    writer: &Writer,
    id: u32,
    call: Call,
    reply: Result<Vec<u8>, Status>,
    service: &str,
) -> Result<u16, SendError> {
    match reply {
        Ok(message) => {
            let response = Response::bytes("application/proto", message);
            respond(writer, id, call, response, service)
        }
        Err(status) => {
            trailers_only(writer, id, call, &status, service)?;
            Ok(status.error.status())
        }
    }
}
