//! A duplex gRPC call (client or bidirectional streaming) as its caller drives it: messages
//! sent one at a time as the server's windows allow, the send side closed with END_STREAM, the
//! replies read as an iterator; dropped early, the stream is reset with CANCEL.

use super::exchange::Exchange;
use crate::error::{CLIENT_ID, Error};
use crate::grpc::framing;

/// The raw end of a duplex gRPC call (client or bidirectional streaming), from
/// [`Client::bidi_raw`](crate::Client::bidi_raw): [`send`](Duplex::send) encoded messages,
/// [`close_send`](Duplex::close_send) when done, and read the replies by iterating.
///
/// Both sides live within the call's deadline (its budget, as for any call). A send blocks
/// while the server's flow-control windows are full (its handler is not reading), at most
/// until the deadline; then it fails with a 408 and the call is cancelled. The replies come as
/// they arrive, each an `Ok(message)`; the call's error (the server's status, the deadline, a
/// lost connection) is the last item. Dropping it before its end resets the stream with CANCEL:
/// the server's handler sees its incoming messages end with an error and its sends fail.
/// [`Caller::bidi`](crate::Caller::bidi) and [`Caller::bidi_proto`](crate::Caller::bidi_proto)
/// wrap it for typed messages.
pub struct Duplex {
    exchange: Exchange,
    framed: Vec<u8>,
    head_read: bool,
    send_closed: bool,
    /// The server ended the stream (seen by a send): nothing more goes out.
    ended: bool,
    finished: bool,
}

impl std::fmt::Debug for Duplex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Duplex")
            .field("authority", &self.exchange.authority())
            .field("send_closed", &self.send_closed)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Duplex {
    /// The call on an opened stream.
    pub(super) fn new(exchange: Exchange) -> Duplex {
        Duplex {
            exchange,
            framed: Vec::new(),
            head_read: false,
            send_closed: false,
            ended: false,
            finished: false,
        }
    }

    /// Sends one encoded message (in the call's codec). Blocks while the server's windows are
    /// full, at most until the call's deadline (then a 408, and the call is cancelled). Fails
    /// after [`close_send`](Duplex::close_send), and once the server ended the call (its
    /// status is then the replies' last item).
    pub fn send(&mut self, message: &[u8]) -> Result<(), Error> {
        if self.send_closed {
            return Err(Error::with_id(CLIENT_ID, 400, "send after close_send"));
        }
        self.framed.clear();
        framing::encode(message, &mut self.framed).map_err(|status| status.error)?;
        self.send_framed(false)
    }

    /// Closes the send side (END_STREAM): the server's handler sees its incoming messages end.
    /// The replies are still read. Closing twice is a no-op.
    pub fn close_send(&mut self) -> Result<(), Error> {
        if self.send_closed || self.ended {
            self.send_closed = true;
            return Ok(());
        }
        self.send_closed = true;
        self.framed.clear();
        match self.send_framed(true) {
            // The server ended the call first: nothing to close, its end is the replies'.
            Err(_) if self.ended => Ok(()),
            other => other,
        }
    }

    fn send_framed(&mut self, end_stream: bool) -> Result<(), Error> {
        match self.exchange.send(&self.framed, end_stream) {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.ended = true;
                Err(Error::with_id(
                    CLIENT_ID,
                    503,
                    format!(
                        "{}: the server ended the call (its status is the replies' last item)",
                        self.exchange.authority()
                    ),
                ))
            }
            Err(failure) => {
                self.exchange.cancel();
                self.finished = true;
                Err(failure.error)
            }
        }
    }
}

impl Iterator for Duplex {
    type Item = Result<Vec<u8>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        if !self.head_read {
            self.head_read = true;
            if let Err(failure) = self.exchange.read_head() {
                self.finished = true;
                self.exchange.cancel();
                return Some(Err(failure.error));
            }
        }
        self.exchange.next_item(&mut self.finished)
    }
}
