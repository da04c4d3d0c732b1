//! A stream's DATA out: a request's body, or a duplex call's messages one at a time, as the
//! server's windows allow, waiting for window (woken by WINDOW_UPDATE, SETTINGS and death) at
//! most until the call's deadline.

use std::io;
use std::sync::MutexGuard;
use std::time::Instant;

use super::{Conn, State};
use crate::client::retry::Failure;
use crate::error::Error;
use crate::http2::frame::encode;
use crate::sync;

impl Conn {
    /// Sends `data` on open stream `id` (END_STREAM with its last frame when `end_stream`), as
    /// the windows allow, waiting for window until `deadline`. `Ok(false)` when the stream had
    /// ended already (the server answered or reset it: its end is in the slot).
    pub fn send(&self, id: u32, data: &[u8], end_stream: bool, deadline: Instant) -> Result<bool, Failure> {
        self.send_locked(self.lock(), id, data, end_stream, deadline)
    }

    /// [`send`](Conn::send) under the lock already taken (a request's body right after its
    /// HEADERS).
    pub(super) fn send_locked(
        &self,
        mut state: MutexGuard<'_, State>,
        id: u32,
        mut data: &[u8],
        end_stream: bool,
        deadline: Instant,
    ) -> Result<bool, Failure> {
        loop {
            if state.dead {
                return Err(self.lost(&io::ErrorKind::BrokenPipe.into()));
            }
            // The server answered (or reset the stream) before taking it all: its answer is
            // in the slot.
            let Some(open) = state.streams.get(&id) else {
                return Ok(false);
            };
            if data.is_empty() && !end_stream {
                return Ok(true);
            }
            let room = open.window.min(state.conn_window).min(i64::from(state.max_frame));
            // An empty last frame needs no window.
            if room <= 0 && !data.is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Failure::sent(Error::Timeout(format!(
                        "{}: no flow-control window to send on before the deadline",
                        self.authority
                    ))));
                }
                state = sync::wait_timeout(&self.changed, state, left);
                continue;
            }
            let n = data.len().min(room.max(0) as usize);
            let (chunk, rest) = data.split_at(n);
            state.conn_window -= n as i64;
            if let Some(open) = state.streams.get_mut(&id) {
                open.window -= n as i64;
            }
            let (last, max_frame) = (rest.is_empty() && end_stream, state.max_frame);
            if let Err(e) = self.write_locked(&mut state, |s| {
                encode::data(&mut s.out, id, chunk, last, max_frame)
            }) {
                return Err(self.lost(&e));
            }
            data = rest;
            if data.is_empty() {
                return Ok(true);
            }
        }
    }
}
