//! A call's reply as its calling thread reads it: the head, then messages deframed across DATA
//! boundaries, then the trailers' verdict; the stream's window granted back as bytes are taken.
//!
//! Dropped before the end (a deadline, an error, a stream iterator dropped early), it resets
//! the stream with CANCEL: the server's handler sees its writes fail, and the stream's place
//! on the connection is free at once.

use std::sync::Arc;
use std::time::Instant;

use super::call;
use super::conn::Conn;
use super::slot::{self, End, Slot};
use crate::client::retry::Failure;
use crate::error::Error;
use crate::grpc::framing::Deframer;

/// One open stream, read by its caller.
pub(super) struct Exchange {
    conn: Arc<Conn>,
    id: u32,
    slot: Arc<Slot>,
    deadline: Instant,
    deframer: Deframer,
    head: Vec<(String, String)>,
    /// Bytes taken and not yet granted back to the server.
    unacked: u32,
    /// The stream ended (read to its end, or failed): nothing to cancel.
    done: bool,
    /// The end's error, given once the messages before it are taken.
    pending: Option<Failure>,
}

impl Exchange {
    /// Waits for the reply's head: a head that is a proxy's error, or a stream that ends before
    /// one, is the call's failure.
    pub fn open(
        conn: Arc<Conn>,
        id: u32,
        slot: Arc<Slot>,
        deadline: Instant,
        max_message: usize,
    ) -> Result<Exchange, Failure> {
        let mut exchange = Exchange::started(conn, id, slot, deadline, max_message);
        exchange.read_head()?;
        Ok(exchange)
    }

    /// A stream whose reply's head is still to come (a duplex call's: servers answer it
    /// when they choose); [`read_head`](Exchange::read_head) waits for it.
    pub fn started(
        conn: Arc<Conn>,
        id: u32,
        slot: Arc<Slot>,
        deadline: Instant,
        max_message: usize,
    ) -> Exchange {
        Exchange {
            conn,
            id,
            slot,
            deadline,
            deframer: Deframer::with_max(max_message),
            head: Vec::new(),
            unacked: 0,
            done: false,
            pending: None,
        }
    }

    /// Waits for the reply's head: a head that is a proxy's error, or a stream that ends before
    /// one, is the call's failure (and the stream is over).
    pub fn read_head(&mut self) -> Result<(), Failure> {
        let exchange = self;
        let deadline = exchange.deadline;
        let head = exchange.slot.take(deadline, slot::has_head_or_end, |r, chunks| {
            r.chunks = chunks; // not ours to take yet
            match r.head.clone() {
                Some(head) => Ok(head),
                None => Err(r.end.take()),
            }
        });
        match head {
            None => Err(exchange.timed_out()),
            Some(Ok(head)) => {
                if let Some(err) = call::head_error(&head) {
                    return Err(Failure::sent(err));
                }
                exchange.head = head;
                Ok(())
            }
            Some(Err(end)) => {
                exchange.done = true;
                Err(match end {
                    Some(End::Failed(failure)) => failure,
                    _ => Failure::sent(Error::Unreachable(format!(
                        "{}: stream ended without a reply",
                        exchange.conn.authority
                    ))),
                })
            }
        }
    }

    /// Sends `data` on the stream (a duplex call's message, or its end with `end_stream`), as
    /// the server's windows allow, waiting for window until the deadline. `Ok(false)` when the
    /// server ended the stream already (its end is the receive side's).
    pub fn send(&self, data: &[u8], end_stream: bool) -> Result<bool, Failure> {
        self.conn.send(self.id, data, end_stream, self.deadline)
    }

    /// Ends the stream now: a reset with CANCEL unless it had ended (nothing more is read).
    pub fn cancel(&mut self) {
        if !self.done {
            self.done = true;
            self.conn.cancel(self.id);
        }
    }

    /// The target, for errors.
    pub fn authority(&self) -> &str {
        &self.conn.authority
    }

    /// The deadline passed: the stream is cancelled (by the drop) and the call times out.
    fn timed_out(&self) -> Failure {
        Failure::sent(Error::Timeout(format!(
            "{}: deadline reached",
            self.conn.authority
        )))
    }

    /// [`next_message`](Exchange::next_message) as an iterator's item: `finished` is set at
    /// the end, clean or not, and a failed read cancels the stream at once.
    pub fn next_item(&mut self, finished: &mut bool) -> Option<Result<Vec<u8>, Error>> {
        match self.next_message() {
            Ok(Some(message)) => Some(Ok(message)),
            Ok(None) => {
                *finished = true;
                None
            }
            Err(failure) => {
                *finished = true;
                // A failed read leaves nothing to read: cancel now rather than at the drop.
                self.cancel();
                Some(Err(failure.error))
            }
        }
    }

    /// The next message; `Ok(None)` at a clean end. After an error (the trailers' status, a
    /// broken message, the deadline, a lost connection) the stream is over.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, Failure> {
        loop {
            match self.deframer.next() {
                Ok(Some(message)) => return Ok(Some(message)),
                Ok(None) => {}
                Err(status) => return Err(self.pending.take().unwrap_or(Failure::sent(status.error))),
            }
            if self.done {
                return self.pending.take().map_or(Ok(None), Err);
            }
            let stream_window = self.conn.config.stream_window;
            let taken = self.slot.take(self.deadline, slot::has_data_or_end, |r, chunks| {
                let mut bytes = std::mem::take(&mut r.padding);
                for chunk in &chunks {
                    bytes += chunk.len() as u32;
                }
                // Granted in batches of half the window: one WINDOW_UPDATE per half window.
                let grant = if self.unacked + bytes >= stream_window / 2 && r.end.is_none() {
                    let grant = std::mem::take(&mut self.unacked) + bytes;
                    r.window += i64::from(grant);
                    grant
                } else {
                    self.unacked += bytes;
                    0
                };
                // The trailers belong to the end: both arrive under one lock (see `reader.rs`).
                let end = r.end.take();
                let trailers = if end.is_some() { r.trailers.take() } else { None };
                (chunks, grant, end, trailers)
            });
            let Some((chunks, grant, end, trailers)) = taken else {
                return Err(self.timed_out());
            };
            for chunk in &chunks {
                self.deframer.push(chunk);
            }
            if grant > 0 {
                self.conn.grant(self.id, grant);
            }
            match end {
                None => {}
                Some(End::Failed(failure)) => {
                    self.done = true;
                    return Err(failure);
                }
                Some(End::Done) => {
                    self.done = true;
                    // The status first: a server's error explains a broken last message. It
                    // comes after the messages queued before it.
                    self.pending = match call::verdict(&self.head, trailers.as_deref()) {
                        Err(err) => Some(Failure::sent(err)),
                        Ok(()) => self
                            .deframer
                            .finish()
                            .err()
                            .map(|status| Failure::sent(status.error)),
                    };
                }
            }
        }
    }

    /// A unary reply: its one message, read to the end so that the trailers' verdict counts.
    pub fn unary(mut self) -> Result<Vec<u8>, Failure> {
        let mut first = None;
        while let Some(message) = self.next_message()? {
            first.get_or_insert(message);
        }
        first.ok_or_else(|| {
            let detail = format!("{}: grpc reply without a message", self.conn.authority);
            Failure::sent(Error::with_id(crate::error::CLIENT_ID, 502, detail))
        })
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if !self.done {
            self.conn.cancel(self.id);
        }
    }
}

/// A server stream's messages, one at a time (the crate's `Messages`).
pub(super) struct Messages {
    pub exchange: Exchange,
    pub finished: bool,
}

impl Iterator for Messages {
    type Item = Result<Vec<u8>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        self.exchange.next_item(&mut self.finished)
    }
}
