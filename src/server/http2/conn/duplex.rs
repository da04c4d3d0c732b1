//! Duplex gRPC calls on the HTTP/2 reader (client and bidirectional streaming): handed to
//! the stream queue when their head arrives, through the pipeline's admission as any call, their
//! DATA delivered to their inbox as it comes, their end (END_STREAM, a reset, the deadline, the
//! connection's end) told to their handler.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Conn, Incoming, STREAM_WINDOW};
use crate::error::Error;
use crate::grpc::status::Status;
use crate::http2::{ConnectionError, ErrorCode};
use crate::metadata::Metadata;
use crate::record::Protocol;
use crate::server::http2::grpc;
use crate::server::http2::inbox::Inbox;
use crate::server::http2::request::Head;
use crate::server::http2::stream::{Grpc, StreamJob};

impl Conn<'_> {
    /// Whether a new stream's head is a gRPC call to start now rather than once its request
    /// has arrived whole: a duplex endpoint's, or one whose answer the head decides already (a
    /// malformed path, an unknown method: its client may be waiting for a reply before it ends
    /// its side, as a bidirectional client does).
    pub(super) fn starts_at_head(&self, head: &Head) -> bool {
        if !grpc::is_call(&head.metadata) || head.path == grpc::HEALTH_CHECK {
            return false;
        }
        let pipeline = self.host.pipeline();
        grpc::endpoint_path(&head.path).is_none_or(|path| pipeline.duplex(&path) != Some(false))
    }

    /// Starts a call at its head (`ended`: the head ended the client's side): refused at once
    /// when malformed or unknown, else admitted or refused as any gRPC call, then on a
    /// thread of the stream queue with an inbox its DATA goes to.
    pub(super) fn dispatch_duplex(
        &mut self,
        id: u32,
        open: Incoming,
        ended: bool,
    ) -> Result<(), ConnectionError> {
        let pipeline = self.host.pipeline().clone();
        let service = pipeline.name();
        let writer = self.writer.clone();
        // A call refused at its head: its status now, and (if the client still sends) a
        // reset with NO_ERROR, as for a body that will not be read.
        let refuse = |ticket, call, status: &Status, record: u16| {
            let _ = grpc::trailers_only(&writer, id, call, status, service);
            if ended {
                writer.close(id);
            } else {
                let _ = writer.reset(id, ErrorCode::NoError);
            }
            pipeline.finish(ticket, record, 0, 0);
        };
        let raw_path = open.head.path.clone();
        let (call, metadata, mut request) = match grpc::prepare_head(open.head) {
            Ok(prepared) => prepared,
            Err((call, status)) => {
                let ticket =
                    pipeline.begin(Protocol::Grpc, "POST", &raw_path, &Metadata::new(), open.started);
                refuse(ticket, call, &status, status.error.status());
                return Ok(());
            }
        };
        let ticket = pipeline.begin(Protocol::Grpc, "POST", &request.path, &metadata, open.started);
        if !ticket.is_routed() {
            refuse(ticket, call, &grpc::unimplemented(&raw_path), 501);
            return Ok(());
        }
        let in_flight = match pipeline.admit(&ticket) {
            Ok(guard) => guard,
            Err(busy) => {
                let status = grpc::status_of(crate::codec::decode_error(busy.status, busy.body.bytes()));
                refuse(ticket, call, &status, busy.status);
                return Ok(());
            }
        };
        self.watch_deadline(&metadata, open.started, id, call);
        let max_message = self.host.limits().max_body;
        let inbox = Inbox::new(id, writer.clone(), STREAM_WINDOW, max_message, ended);
        if !ended {
            self.duplex.insert(id, inbox.clone());
        }
        request.peer = self.peer_addr;
        self.active.fetch_add(1, Ordering::AcqRel);
        let job = StreamJob {
            id,
            pipeline: pipeline.clone(),
            writer,
            ticket,
            in_flight,
            metadata,
            request,
            active: self.active.clone(),
            grpc: Some(Grpc {
                call,
                inbox: Some(inbox),
            }),
        };
        self.submit(id, job);
        Ok(())
    }

    /// DATA on duplex stream `id`, whose connection window is counted already; `false` when
    /// `id` is no duplex stream of ours.
    pub(super) fn duplex_data(&mut self, id: u32, end_stream: bool, data: &[u8], flow_len: u32) -> bool {
        let Some(inbox) = self.duplex.get(&id) else {
            return false;
        };
        if !inbox.deliver(data, flow_len, end_stream) {
            self.reset(id, ErrorCode::FlowControlError);
        } else if end_stream || inbox.is_closed() {
            self.duplex.remove(&id);
        }
        true
    }

    /// Trailers on duplex stream `id` (they end the client's side; their fields are not kept);
    /// `false` when `id` is no duplex stream of ours.
    pub(super) fn duplex_trailers(&mut self, id: u32) -> bool {
        let Some(inbox) = self.duplex.remove(&id) else {
            return false;
        };
        inbox.end(Ok(()));
        true
    }

    /// Ends duplex stream `id`'s incoming half with `why` (a reset, our reset): its handler's
    /// `Incoming` yields it once the messages before it are taken.
    pub(super) fn end_duplex(&mut self, id: u32, why: &str) {
        if let Some(inbox) = self.duplex.remove(&id) {
            inbox.end(Err(Error::new(503, why)));
        }
    }

    /// Duplex calls whose deadline passed (their status is out): their handlers' `Incoming`
    /// ends with a 408, and a client still sending is told to stop (reset with NO_ERROR).
    pub(super) fn expire_duplex(&mut self, ids: &[u32]) {
        for id in ids {
            if let Some(inbox) = self.duplex.remove(id) {
                inbox.end(Err(Error::new(408, "deadline exceeded")));
                let _ = self.writer.reset(*id, ErrorCode::NoError);
            }
        }
    }

    /// Between reads: forgets the duplex streams whose handlers are done.
    pub(super) fn prune_duplex(&mut self) {
        self.duplex.retain(|_, inbox| !inbox.is_closed());
    }

    /// The connection ends: every duplex call's handler sees its `Incoming` fail.
    pub(super) fn end_all_duplex(&mut self) {
        for (_, inbox) in self.duplex.drain() {
            inbox.end(Err(Error::new(503, "the connection was lost")));
        }
    }
}

/// The inboxes of duplex calls whose client side is still open, by stream.
pub(super) type Inboxes = std::collections::HashMap<u32, Arc<Inbox>>;
