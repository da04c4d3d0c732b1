//! What the reader tells a connection: the server's SETTINGS, WINDOW_UPDATE and GOAWAY, the
//! connection's death and its idleness. Each changes the state under the one lock and wakes
//! whoever waits on it (callers short of window, callers waiting for a free stream).

use std::net::Shutdown;
use std::sync::Arc;

use super::{Conn, End, Slot};
use crate::client::retry::Failure;
use crate::error::Error;
use crate::http2::frame::encode;
use crate::http2::{ErrorCode, MAX_WINDOW_SIZE};

impl Conn {
    /// Applies the server's SETTINGS; `false` when a stream's send window would overflow.
    pub fn peer_settings(
        &self,
        initial_window: u32,
        max_frame: u32,
        max_streams: Option<u32>,
        table: u32,
    ) -> bool {
        let mut state = self.lock();
        let delta = i64::from(initial_window) - state.initial_window;
        state.initial_window = i64::from(initial_window);
        state.max_frame = max_frame;
        state.max_streams = max_streams.unwrap_or(u32::MAX);
        state.encoder.set_header_table_size(table.min(4096) as usize);
        let mut ok = true;
        for open in state.streams.values_mut() {
            open.window += delta;
            ok &= open.window <= i64::from(MAX_WINDOW_SIZE);
        }
        self.changed.notify_all();
        self.notify.bump();
        ok
    }

    /// Grows a send window (0: the connection's); `false` when it would pass 2^31-1.
    pub fn window_update(&self, stream: u32, increment: u32) -> bool {
        let mut state = self.lock();
        let window = match stream {
            0 => &mut state.conn_window,
            id => match state.streams.get_mut(&id) {
                Some(open) => &mut open.window,
                None => return true,
            },
        };
        *window += i64::from(increment);
        let ok = *window <= i64::from(MAX_WINDOW_SIZE);
        self.changed.notify_all();
        ok
    }

    /// The server's GOAWAY: no new streams here; those above `last` were never processed and
    /// fail so (their calls are retried elsewhere); the rest finish. `true` when none is left.
    pub fn goaway(&self, last: u32) -> bool {
        let mut state = self.lock();
        state.goaway = Some(state.goaway.map_or(last, |l| l.min(last)));
        let above: Vec<u32> = state.streams.keys().copied().filter(|&id| id > last).collect();
        let mut refused = Vec::with_capacity(above.len());
        for id in above {
            refused.extend(self.remove_locked(&mut state, id));
        }
        let empty = state.streams.is_empty();
        self.notify.bump();
        drop(state);
        for slot in refused {
            let why = format!(
                "{}: stream above the server's GOAWAY, not processed",
                self.authority
            );
            slot.end(End::Failed(Failure::not_sent(Error::Unreachable(why))));
        }
        empty
    }

    /// Marks the connection dead, shuts its socket (the reader's read returns) and fails every
    /// open stream: they may have been processed.
    pub fn fail_all(&self, why: &str) {
        let mut state = self.lock();
        state.dead = true;
        let _ = self.sock.shutdown(Shutdown::Both);
        let slots: Vec<Arc<Slot>> = state.streams.drain().map(|(_, open)| open.slot).collect();
        self.changed.notify_all();
        self.notify.bump();
        drop(state);
        for slot in slots {
            let error = Error::Unreachable(format!("{}: {why}", self.authority));
            slot.end(End::Failed(Failure::sent(error)));
        }
    }

    /// Whether the connection has been idle (no streams) for the idle timeout; if so it is
    /// marked dead at once, so that no caller opens a stream on it meanwhile.
    pub fn close_if_idle(&self) -> bool {
        let mut state = self.lock();
        if state.dead || !state.streams.is_empty() || state.idle_since.elapsed() < self.config.idle_timeout {
            return false;
        }
        let _ = self.write_locked(&mut state, |s| {
            encode::goaway(&mut s.out, 0, ErrorCode::NoError, b"idle")
        });
        state.dead = true;
        self.notify.bump();
        true
    }

    /// Whether the server sent GOAWAY and no stream is left.
    pub fn drained(&self) -> bool {
        let state = self.lock();
        state.goaway.is_some() && state.streams.is_empty()
    }
}
