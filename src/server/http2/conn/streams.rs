//! Request streams on the HTTP/2 reader: header blocks in, bodies in, requests out to the
//! pool (gRPC calls through `grpc.rs`), and the errors answered at once.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{Block, CONN_WINDOW, Conn, Incoming, MAX_EMPTY_DATA, STREAM_WINDOW, calm, compression};
use crate::error::Error;
use crate::handler::Request;
use crate::http2::frame::encode;
use crate::http2::hpack;
use crate::http2::{ConnectionError, ErrorCode};
use crate::metadata::Metadata;
use crate::record::Protocol;
use crate::server::http2::stream::{Grpc, StreamJob, respond};
use crate::server::http2::writer::Writer;
use crate::server::http2::{Host, grpc, request};

impl Conn<'_> {
    /// Collects a header block; once whole, decodes it and opens (or ends) its stream.
    pub(super) fn header_fragment(&mut self, block: Block, end_headers: bool) -> Result<(), ConnectionError> {
        let max = self.host.limits().max_head;
        if block.fragment.len() > max + 1024 {
            return Err(calm("a header block over the head limit"));
        }
        if !end_headers {
            self.block = Some(block);
            return Ok(());
        }
        let decoded = self.decoder.decode(&block.fragment);
        let id = block.stream;
        if self.duplex.contains_key(&id) {
            // A duplex call's trailers end its client side.
            decoded.map_err(compression)?;
            if !block.end_stream {
                return Err(ConnectionError::protocol("trailers without END_STREAM"));
            }
            self.duplex_trailers(id);
            return Ok(());
        }
        if self.incoming.contains_key(&id) {
            // Trailers: they end the request; their fields are not kept.
            decoded.map_err(compression)?;
            if !block.end_stream {
                return Err(ConnectionError::protocol("trailers without END_STREAM"));
            }
            return self.dispatch(id);
        }
        if id.is_multiple_of(2) || id <= self.last_stream {
            return Err(ConnectionError::protocol(
                "a stream id that is even or goes backwards",
            ));
        }
        self.last_stream = id;
        self.requests += 1;
        let headers = match decoded {
            Ok(headers) => headers,
            Err(hpack::Error::HeaderListTooLarge) => {
                return self.refuse_head(id, 431, "request headers over the limit");
            }
            Err(err) => return Err(compression(err)),
        };
        if block.self_dependent {
            self.reset(id, ErrorCode::ProtocolError);
            return Ok(());
        }
        let limits = self.host.limits();
        let open = self.incoming.len() + self.active.load(Ordering::Acquire);
        if self.final_goaway.is_some_and(|last| id > last) || open >= limits.max_concurrent_streams as usize {
            self.reset(id, ErrorCode::RefusedStream);
            return Ok(());
        }
        let head = match request::parse(headers) {
            Ok(head) => head,
            Err(why) => {
                log::debug!("http2 stream {id}: malformed request: {why}");
                self.reset(id, ErrorCode::ProtocolError);
                return Ok(());
            }
        };
        self.writer.open(id);
        let incoming = Incoming {
            head,
            body: Vec::new(),
            window: i64::from(STREAM_WINDOW),
            unacked: 0,
            answered: false,
            started: block.started,
            body_until: Instant::now() + limits.body_timeout,
        };
        if self.starts_at_head(&incoming.head) {
            return self.dispatch_duplex(id, incoming, block.end_stream);
        }
        self.incoming.insert(id, incoming);
        if block.end_stream {
            return self.dispatch(id);
        }
        Ok(())
    }

    /// Answers a stream at once with an error and forgets its request.
    fn refuse_head(&mut self, id: u32, status: u16, detail: &str) -> Result<(), ConnectionError> {
        self.writer.open(id);
        let response = self.host.pipeline().error(&Error::new(status, detail));
        let _ = respond(&self.writer, id, response, false);
        self.writer.close(id);
        Ok(())
    }

    pub(super) fn data(
        &mut self,
        id: u32,
        end_stream: bool,
        data: &[u8],
        flow_len: u32,
    ) -> Result<(), ConnectionError> {
        self.conn_unacked += flow_len;
        if self.conn_unacked >= CONN_WINDOW / 2 {
            let grant = std::mem::take(&mut self.conn_unacked);
            self.send(|out| encode::window_update(out, 0, grant))?;
        }
        if data.is_empty() && !end_stream {
            self.empty_data += 1;
            if self.empty_data > MAX_EMPTY_DATA {
                return Err(calm("empty DATA frames by the thousand"));
            }
        }
        if self.duplex_data(id, end_stream, data, flow_len) {
            return Ok(());
        }
        let max_body = self.host.limits().max_body;
        let Some(open) = self.incoming.get_mut(&id) else {
            self.idle_stream(id)?;
            let _ = self.writer.reset(id, ErrorCode::StreamClosed);
            return Ok(());
        };
        open.window -= i64::from(flow_len);
        if open.window < 0 {
            self.reset(id, ErrorCode::FlowControlError);
            return Ok(());
        }
        if !open.answered && open.body.len() + data.len() > max_body {
            open.answered = true;
            open.body = Vec::new();
            let err = Error::new(413, format!("request body over the {max_body}-byte limit"));
            refuse_body(self.host, &self.writer, id, &open.head.metadata, err);
        } else if !open.answered {
            open.body.extend_from_slice(data);
        }
        open.unacked += flow_len;
        if !end_stream && open.unacked >= STREAM_WINDOW / 2 {
            let grant = std::mem::take(&mut open.unacked);
            open.window += i64::from(grant);
            self.send(|out| encode::window_update(out, id, grant))?;
        }
        if end_stream {
            return self.dispatch(id);
        }
        Ok(())
    }

    /// A request has arrived whole: through the pipeline's admission to the stream queue.
    fn dispatch(&mut self, id: u32) -> Result<(), ConnectionError> {
        let Some(open) = self.incoming.remove(&id) else {
            return Ok(());
        };
        if open.answered {
            self.writer.close(id);
            return Ok(());
        }
        if grpc::is_call(&open.head.metadata) {
            return self.dispatch_grpc(id, open);
        }
        let pipeline = self.host.pipeline();
        let head = open.head;
        let ticket = pipeline.begin(
            Protocol::Http2,
            &head.method,
            &head.path,
            &head.metadata,
            open.started,
        );
        let in_flight = match pipeline.admit(&ticket) {
            Ok(guard) => guard,
            Err(busy) => {
                let status = busy.status;
                let bytes_out = busy.body.bytes().len();
                let _ = respond(&self.writer, id, busy, head.method == "HEAD");
                self.writer.close(id);
                pipeline.finish(ticket, status, open.body.len(), bytes_out);
                return Ok(());
            }
        };
        let request = Request {
            method: head.method,
            path: head.path,
            query: head.query,
            body: open.body,
            peer: self.peer_addr,
        };
        self.active.fetch_add(1, Ordering::AcqRel);
        let job = StreamJob {
            id,
            pipeline: pipeline.clone(),
            writer: self.writer.clone(),
            ticket,
            in_flight,
            metadata: head.metadata,
            request,
            active: self.active.clone(),
            grpc: None,
        };
        self.submit(id, job);
        Ok(())
    }

    /// Hands a stream to the stream queue.
    pub(super) fn submit(&mut self, id: u32, job: StreamJob) {
        if !self.host.streams().submit(job) {
            // The pool is closed (the server stops): the job and its guard are dropped.
            self.active.fetch_sub(1, Ordering::AcqRel);
            let _ = self.writer.reset(id, ErrorCode::RefusedStream);
        }
    }

    /// A gRPC call has arrived whole: health on this thread, a method on the stream queue, any
    /// error at once as Trailers-Only.
    fn dispatch_grpc(&mut self, id: u32, open: Incoming) -> Result<(), ConnectionError> {
        let pipeline = self.host.pipeline().clone();
        let service = pipeline.name();
        let writer = self.writer.clone();
        let bytes_in = open.body.len();
        let raw_path = open.head.path.clone();
        let end = |ticket, status: u16| {
            writer.close(id);
            pipeline.finish(ticket, status, bytes_in, 0);
        };
        let prepared = grpc::prepare(open.head, &open.body, self.host.limits().max_body);
        let (call, metadata, mut request) = match prepared {
            Ok(prepared) => prepared,
            Err((call, status)) => {
                let ticket =
                    pipeline.begin(Protocol::Grpc, "POST", &raw_path, &Metadata::new(), open.started);
                let _ = grpc::trailers_only(&writer, id, call, &status, service);
                end(ticket, status.error.status());
                return Ok(());
            }
        };
        if raw_path == grpc::HEALTH_CHECK {
            let ticket = pipeline.begin(Protocol::Grpc, "POST", "/health", &metadata, open.started);
            let reply = grpc::health_check(pipeline.health(), service, call, &request.body);
            let status = grpc::answer_health(&writer, id, call, reply, service).unwrap_or(500);
            end(ticket, status);
            return Ok(());
        }
        self.watch_deadline(&metadata, open.started, id, call);
        let ticket = pipeline.begin(Protocol::Grpc, "POST", &request.path, &metadata, open.started);
        if !ticket.is_routed() {
            let status = grpc::unimplemented(&raw_path);
            let _ = grpc::trailers_only(&writer, id, call, &status, service);
            end(ticket, 501);
            return Ok(());
        }
        let in_flight = match pipeline.admit(&ticket) {
            Ok(guard) => guard,
            Err(busy) => {
                let status = grpc::status_of(crate::codec::decode_error(busy.status, busy.body.bytes()));
                let _ = grpc::trailers_only(&writer, id, call, &status, service);
                end(ticket, busy.status);
                return Ok(());
            }
        };
        request.peer = self.peer_addr;
        self.active.fetch_add(1, Ordering::AcqRel);
        let job = StreamJob {
            id,
            pipeline: pipeline.clone(),
            writer: writer.clone(),
            ticket,
            in_flight,
            metadata,
            request,
            active: self.active.clone(),
            grpc: Some(Grpc { call, inbox: None }),
        };
        self.submit(id, job);
        Ok(())
    }
}

/// Answers a stream whose body will not be read with `err` (Trailers-Only for a gRPC call), then
/// resets it with NO_ERROR: the peer may stop sending (RFC 9113 section 8.1).
pub(super) fn refuse_body(host: &dyn Host, writer: &Writer, id: u32, metadata: &Metadata, err: Error) {
    if grpc::is_call(metadata) {
        let call = grpc::call_of(metadata);
        let _ = grpc::trailers_only(writer, id, call, &grpc::status_of(err), host.pipeline().name());
    } else {
        let _ = respond(writer, id, host.pipeline().error(&err), false);
    }
    let _ = writer.reset(id, ErrorCode::NoError);
}
