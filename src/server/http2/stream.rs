//! One HTTP/2 request stream on a thread of the stream queue: the pipeline's answer, written
//! as HEADERS and DATA frames (a server stream's messages one DATA frame each, as they come); a
//! duplex gRPC call's messages read from its inbox meanwhile.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::grpc;
use super::inbox::{Inbox, InboxSource};
use super::writer::{SendError, Writer};
use crate::codec;
use crate::error::WireError;
use crate::handler::{Body, Request, Response};
use crate::http2::ErrorCode;
use crate::http2::hpack::Header;
use crate::metadata::Metadata;
use crate::pipeline::{InFlight, Pipeline, Ticket};
use crate::stream::Sink;

/// A stream whose request has arrived whole, handed to the stream queue.
pub(crate) struct StreamJob {
    pub(super) id: u32,
    pub(super) pipeline: Arc<Pipeline>,
    pub(super) writer: Arc<Writer>,
    pub(super) ticket: Ticket,
    pub(super) in_flight: Option<InFlight>,
    pub(super) metadata: Metadata,
    pub(super) request: Request,
    /// The connection's count of streams dispatched and not yet done.
    pub(super) active: Arc<AtomicUsize>,
    /// A gRPC call: its reply is messages and trailers.
    pub(super) grpc: Option<Grpc>,
}

/// What a stream job knows of its gRPC call.
pub(crate) struct Grpc {
    /// How its reply is encoded.
    pub(super) call: grpc::Call,
    /// A duplex call's incoming messages (its request has no body).
    pub(super) inbox: Option<Arc<Inbox>>,
}

impl StreamJob {
    /// Answers the request; a peer that reset the stream meanwhile is left alone.
    pub(crate) fn run(self) {
        let StreamJob {
            id,
            pipeline,
            writer,
            ticket,
            mut in_flight,
            metadata,
            request,
            active,
            grpc,
        } = self;
        let head_only = request.method == "HEAD";
        let mut bytes_in = request.body.len();
        let (grpc, inbox) = grpc.map_or((None, None), |g| (Some(g.call), g.inbox));
        let response = match &inbox {
            Some(inbox) => {
                let source = Box::new(InboxSource::new(inbox.clone()));
                pipeline.answer_duplex(&ticket, metadata, request, source)
            }
            None => pipeline.answer(&ticket, metadata, request),
        };
        if !response.body.is_stream() {
            in_flight = None; // the handler is done: its slot is free before the write
        }
        let mut status = response.status;
        let bytes_out = if head_only { 0 } else { response.body.bytes().len() };
        let sent = match grpc {
            Some(call) => grpc::respond(&writer, id, call, response, pipeline.name()).map(|s| status = s),
            None => respond(&writer, id, response, head_only),
        };
        if let Err(SendError::Io(err)) = sent {
            log::debug!("http2 stream {id}: {err}");
            writer.kill();
        }
        writer.close(id);
        if let Some(inbox) = inbox {
            // Answered while the client still sends: it may stop (RFC 9113 section 8.1).
            if inbox.close() {
                let _ = writer.reset(id, ErrorCode::NoError);
            }
            bytes_in = inbox.received();
        }
        drop(in_flight);
        pipeline.finish(ticket, status, bytes_in, bytes_out);
        active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The response head as HTTP/2 fields: `:status`, then the handler's headers, lowercase.
pub(super) fn response_head(response: &Response, extra: &[(&str, &str)]) -> Vec<Header> {
    let mut fields = vec![Header::new(":status", response.status.to_string())];
    for (name, value) in response.writable_headers() {
        fields.push(Header::new(name.to_ascii_lowercase(), value));
    }
    for (name, value) in extra {
        fields.push(Header::new(*name, *value));
    }
    fields
}

/// Writes `response` on stream `id`: HEADERS, then its body as DATA (none for HEAD, 1xx, 204,
/// 304), a stream's messages as they come.
pub(super) fn respond(
    writer: &Writer,
    id: u32,
    response: Response,
    head_only: bool,
) -> Result<(), SendError> {
    let bodiless = head_only || response.status < 200 || response.status == 204 || response.status == 304;
    let length = match &response.body {
        Body::Bytes(bytes) if !bodiless => Some(bytes.len().to_string()),
        _ => None,
    };
    let extra: Vec<(&str, &str)> = length
        .as_deref()
        .map(|l| ("content-length", l))
        .into_iter()
        .collect();
    let head = response_head(&response, &extra);
    match response.body {
        _ if bodiless => writer.headers(id, &head, true),
        Body::Bytes(bytes) if bytes.is_empty() => writer.headers(id, &head, true),
        Body::Bytes(bytes) => writer.whole(id, &head, &bytes, None),
        Body::Stream(streamer) => {
            writer.headers(id, &head, false)?;
            let mut sink = DataSink {
                writer,
                id,
                line: Vec::new(),
                failed: None,
            };
            let in_step = streamer.run(&mut sink);
            match sink.failed {
                Some(err) => Err(err),
                None if in_step => writer.data(id, &[], true),
                None => writer.reset(id, ErrorCode::InternalError).map_err(SendError::Io),
            }
        }
    }
}

/// Writes each NDJSON line of a stream as one DATA frame (or more, as the window allows).
struct DataSink<'a> {
    writer: &'a Writer,
    id: u32,
    line: Vec<u8>,
    /// Why a write failed, kept so the stream knows whether the connection is still good.
    failed: Option<SendError>,
}

impl DataSink<'_> {
    fn send(&mut self) -> io::Result<()> {
        match self.writer.data(self.id, &self.line, false) {
            Ok(()) => Ok(()),
            Err(err) => {
                let io = match &err {
                    SendError::Reset => io::ErrorKind::BrokenPipe.into(),
                    SendError::Io(e) => io::Error::new(e.kind(), e.to_string()),
                };
                self.failed = Some(err);
                Err(io)
            }
        }
    }
}

impl Sink for DataSink<'_> {
    fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        self.line.clear();
        codec::ndjson_line(message, &mut self.line);
        self.send()
    }

    fn write_error(&mut self, error: &WireError) -> io::Result<()> {
        self.line = codec::encode_stream_error(error);
        self.send()
    }
}
