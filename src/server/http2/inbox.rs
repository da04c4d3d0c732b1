//! A duplex call's incoming half (client or bidirectional streaming over gRPC): the DATA its
//! connection's reader delivers, taken by the handler's thread one message at a time.
//!
//! The reader never blocks on an inbox: it appends and wakes. Memory stays bounded because the
//! client may send only what the stream's receive window allows, and the window grows only as
//! the handler takes messages: [`InboxSource`] credits a message's bytes when it hands it over
//! (and a partial message's while the handler waits for the rest, so a message larger than the
//! window still arrives), granted back in batches of half the window (one WINDOW_UPDATE per
//! half window, as the reader does for buffered bodies). Whatever waits for the handler, in the
//! inbox or cut into messages, is within the window: a handler that stops reading stops its
//! client. The reader ends an inbox when the client ends its side
//! (END_STREAM), resets the stream, the deadline passes or the connection ends; the handler
//! closes it when it returns.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::writer::Writer;
use crate::error::Error;
use crate::grpc::framing::{self, Deframer};
use crate::http2::frame::encode;
use crate::stream::Source;
use crate::sync;

/// What has arrived and not yet been taken.
struct State {
    chunks: VecDeque<Vec<u8>>,
    /// How the client's side ended, until the handler takes it.
    end: Option<Result<(), Error>>,
    /// The client's side has ended (whether or not the handler took the end yet).
    ended: bool,
    /// The receive window left: what the client may still send before we grant more.
    window: i64,
    /// Bytes taken (and padding received) and not yet granted back.
    unacked: u32,
    /// Message bytes received in all, for the record.
    received: usize,
    /// The handler is done: what arrives is dropped.
    closed: bool,
}

/// One duplex stream's mailbox between the reader and the handler's thread.
pub(super) struct Inbox {
    id: u32,
    writer: Arc<Writer>,
    /// The stream's initial receive window: grants go out per half of it.
    initial_window: u32,
    /// The largest message the handler takes (the body limit).
    max_message: usize,
    state: Mutex<State>,
    ready: Condvar,
}

impl Inbox {
    /// The inbox of stream `id`, whose receive window starts at `window`; `ended` when the
    /// call's head already ended the client's side.
    pub fn new(id: u32, writer: Arc<Writer>, window: u32, max_message: usize, ended: bool) -> Arc<Inbox> {
        Arc::new(Inbox {
            id,
            writer,
            initial_window: window,
            max_message,
            state: Mutex::new(State {
                chunks: VecDeque::new(),
                end: ended.then_some(Ok(())),
                ended,
                window: i64::from(window),
                unacked: 0,
                received: 0,
                closed: false,
            }),
            ready: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        sync::lock(&self.state)
    }

    /// The reader's DATA (`flow_len` with padding); `false` when it overflows the stream's
    /// receive window (the reader resets the stream with FLOW_CONTROL_ERROR).
    pub fn deliver(&self, data: &[u8], flow_len: u32, end_stream: bool) -> bool {
        let mut state = self.lock();
        state.window -= i64::from(flow_len);
        if state.window < 0 {
            return false;
        }
        if state.closed || state.ended {
            return true;
        }
        state.received += data.len();
        state.unacked += flow_len - data.len() as u32;
        if !data.is_empty() {
            state.chunks.push_back(data.to_vec());
        }
        if end_stream {
            state.end = Some(Ok(()));
            state.ended = true;
        }
        self.ready.notify_all();
        true
    }

    /// Ends the client's side with `end` (the first end wins): the handler takes what arrived
    /// before it, then `end`.
    pub fn end(&self, end: Result<(), Error>) {
        let mut state = self.lock();
        if !state.ended {
            state.ended = true;
            state.end = Some(end);
        }
        self.ready.notify_all();
    }

    /// The handler is done: what is queued goes, and what arrives is dropped. `true` when the
    /// client's side was still open (it should be told to stop sending).
    pub fn close(&self) -> bool {
        let mut state = self.lock();
        state.closed = true;
        state.chunks.clear();
        !state.ended
    }

    /// Whether the handler is done with it (the reader may forget it).
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Message bytes received in all.
    pub fn received(&self) -> usize {
        self.lock().received
    }

    /// Waits for chunks or the end, and takes them.
    fn take(&self) -> (VecDeque<Vec<u8>>, Option<Result<(), Error>>) {
        let mut state = self.lock();
        while state.chunks.is_empty() && state.end.is_none() {
            state = sync::wait(&self.ready, state);
        }
        (std::mem::take(&mut state.chunks), state.end.take())
    }

    /// Credits `bytes` the handler consumed: granted back once half the window is due.
    fn credit(&self, bytes: u64) {
        let mut state = self.lock();
        state.unacked = state
            .unacked
            .saturating_add(u32::try_from(bytes).unwrap_or(u32::MAX));
        if !state.ended && state.unacked >= self.initial_window / 2 {
            let grant = std::mem::take(&mut state.unacked);
            // Grown before the update leaves: the reader never sees the client ahead of it.
            state.window += i64::from(grant);
            let id = self.id;
            let _ = self.writer.frames(|out| encode::window_update(out, id, grant));
        }
    }
}

/// The handler's end of an [`Inbox`]: its DATA cut into messages as they are taken.
pub(super) struct InboxSource {
    inbox: Arc<Inbox>,
    deframer: Deframer,
    /// The end, once taken, given after the messages before it.
    end: Option<Result<(), Error>>,
    done: bool,
    /// Bytes taken from the inbox, bytes of the messages handed over (their prefixes too), and
    /// bytes credited back so far.
    taken: u64,
    handed: u64,
    credited: u64,
}

impl InboxSource {
    /// The messages of `inbox`, each at most its `max_message` bytes.
    pub fn new(inbox: Arc<Inbox>) -> InboxSource {
        let deframer = Deframer::with_max(inbox.max_message);
        InboxSource {
            inbox,
            deframer,
            end: None,
            done: false,
            taken: 0,
            handed: 0,
            credited: 0,
        }
    }
}

impl Source for InboxSource {
    fn next_message(&mut self) -> Option<Result<Vec<u8>, Error>> {
        if self.done {
            return None;
        }
        loop {
            match self.deframer.next() {
                Ok(Some(message)) => {
                    // Messages still queued behind it are not the handler's yet: only this
                    // one's bytes are credited.
                    self.handed += (message.len() + framing::PREFIX) as u64;
                    self.credit_up_to(self.handed);
                    return Some(Ok(message));
                }
                // Nothing whole is queued: what was taken is handed over or a partial message
                // the handler waits for, all of it credited.
                Ok(None) => self.credit_up_to(self.taken),
                Err(status) => {
                    self.done = true;
                    return Some(Err(status.error));
                }
            }
            if let Some(end) = self.end.take() {
                self.done = true;
                return match end.and_then(|()| self.deframer.finish().map_err(|s| s.error)) {
                    Ok(()) => None,
                    Err(err) => Some(Err(err)),
                };
            }
            let (chunks, end) = self.inbox.take();
            for chunk in &chunks {
                self.taken += chunk.len() as u64;
                self.deframer.push(chunk);
            }
            self.end = end;
        }
    }
}

impl InboxSource {
    /// Credits the inbox up to `consumed` bytes in all.
    fn credit_up_to(&mut self, consumed: u64) {
        if consumed > self.credited {
            self.inbox.credit(consumed - self.credited);
            self.credited = consumed;
        }
    }
}
