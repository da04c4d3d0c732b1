//! One stream's receive side: what the connection's reader delivers (headers, DATA payloads,
//! trailers, the end) and the one calling thread waits for, under the stream's own lock.
//!
//! The reader never blocks on a slot: it appends and wakes. Memory stays bounded because the
//! server may send only what the stream's window allows, and the window grows only as the
//! caller takes bytes out ([`Slot::take`] reports them, the caller grants them back in
//! batches). A server that sends beyond it is reset (FLOW_CONTROL_ERROR) by the reader.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::client::retry::Failure;
use crate::sync;

/// How a stream ended, as the reader saw it.
#[derive(Debug)]
pub(super) enum End {
    /// END_STREAM arrived (on trailers, a Trailers-Only block or DATA).
    Done,
    /// The stream or its connection failed; `not_sent` when the server cannot have processed it.
    Failed(Failure),
}

/// What has arrived on a stream and not yet been taken.
#[derive(Debug, Default)]
pub(super) struct Received {
    /// The response header block (for a Trailers-Only reply, also its trailers).
    pub head: Option<Vec<(String, String)>>,
    /// DATA payloads not yet taken.
    pub chunks: VecDeque<Vec<u8>>,
    /// The trailers, once they arrived.
    pub trailers: Option<Vec<(String, String)>>,
    /// The end, once it came.
    pub end: Option<End>,
    /// The receive window left: what the server may still send before we grant more.
    pub window: i64,
    /// Padding received and not yet granted back (it counts against the window, and no
    /// caller takes it).
    pub padding: u32,
}

/// A stream's mailbox between the reader and the calling thread.
#[derive(Debug)]
pub(super) struct Slot {
    state: Mutex<Received>,
    ready: Condvar,
}

impl Slot {
    /// An empty slot for a stream whose receive window starts at `window`.
    pub fn new(window: u32) -> Slot {
        Slot {
            state: Mutex::new(Received {
                window: i64::from(window),
                ..Received::default()
            }),
            ready: Condvar::new(),
        }
    }

    /// Runs `f` on the state, then wakes the waiting caller.
    pub fn deliver<T>(&self, f: impl FnOnce(&mut Received) -> T) -> T {
        let out = f(&mut sync::lock(&self.state));
        self.ready.notify_all();
        out
    }

    /// Ends the stream with `end`, unless it had ended already.
    pub fn end(&self, end: End) {
        self.deliver(|r| {
            r.end.get_or_insert(end);
        });
    }

    /// Waits until data, the head or the end is there (as `ready` says), or `deadline` passes;
    /// then takes the queued chunks and runs `f` on the rest. `None` when the deadline passed
    /// first.
    pub fn take<T>(
        &self,
        deadline: Instant,
        ready: impl Fn(&Received) -> bool,
        f: impl FnOnce(&mut Received, VecDeque<Vec<u8>>) -> T,
    ) -> Option<T> {
        let mut state = sync::lock(&self.state);
        while !ready(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = sync::wait_timeout(&self.ready, state, left);
        }
        let chunks = std::mem::take(&mut state.chunks);
        Some(f(&mut state, chunks))
    }
}

/// Whether anything a caller waits for is there: chunks or the end.
pub(super) fn has_data_or_end(r: &Received) -> bool {
    !r.chunks.is_empty() || r.end.is_some()
}

/// Whether the response head (or the end) is there.
pub(super) fn has_head_or_end(r: &Received) -> bool {
    r.head.is_some() || r.end.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_waiting_caller_is_woken_by_the_reader_and_takes_the_chunks() {
        let slot = Arc::new(Slot::new(10));
        let reader = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                slot.deliver(|r| {
                    r.window -= 3;
                    r.chunks.push_back(b"abc".to_vec());
                })
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let got = slot.take(deadline, has_data_or_end, |r, chunks| (r.window, chunks));
        reader.join().unwrap();
        let (window, chunks) = got.unwrap();
        assert_eq!((window, chunks.len()), (7, 1));
    }

    #[test]
    fn a_deadline_ends_the_wait_and_the_first_end_wins() {
        let slot = Slot::new(10);
        assert!(slot.take(Instant::now(), has_data_or_end, |_, _| ()).is_none());
        slot.end(End::Done);
        slot.end(End::Failed(Failure::sent(Error::Unreachable("late".into()))));
        let end = slot.take(Instant::now(), has_head_or_end, |r, _| r.end.take());
        assert!(matches!(end, Some(Some(End::Done))));
    }
}
