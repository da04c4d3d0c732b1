//! One client HTTP/2 connection: its shared state (streams, send windows, the peer's limits,
//! GOAWAY) and its one writer, under one lock, with the reader thread it owns (`reader.rs`).
//!
//! Every thread that writes (callers opening streams, granting windows or cancelling, the
//! reader answering SETTINGS and PING) locks the state, encodes and writes before unlocking:
//! frames never interleave, and stream ids reach the wire in increasing order because the id
//! is taken under the same lock that writes its HEADERS. A caller short of send window waits
//! on `changed` (woken by WINDOW_UPDATE, SETTINGS and death) at most until its deadline.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::pool::Notify;
use super::slot::{End, Slot};
use crate::client::retry::Failure;
use crate::error::Error;
use crate::http2::frame::encode;
use crate::http2::hpack::{Encoder, Header};
use crate::http2::{
    DEFAULT_INITIAL_WINDOW_SIZE, ErrorCode, MAX_STREAM_ID, MIN_MAX_FRAME_SIZE, PREFACE, SETTINGS_ENABLE_PUSH,
    SETTINGS_INITIAL_WINDOW_SIZE,
};
use crate::sync;

mod events;
mod send;

/// The connection's receive window: large, so that many streams flow at once; each stream's
/// own window (smaller) is what bounds a slow reader's memory.
pub(super) const CONN_WINDOW: u32 = 16 << 20;
/// Streams assumed allowed until the server's SETTINGS say (RFC 9113 says unlimited; the
/// server refuses extras with REFUSED_STREAM, which is retried, but few servers allow fewer).
const DEFAULT_MAX_STREAMS: u32 = 100;

/// What every connection of a client shares.
#[derive(Debug, Clone)]
pub(super) struct Config {
    /// The receive window of each stream (SETTINGS_INITIAL_WINDOW_SIZE).
    pub stream_window: u32,
    /// A connection without streams this long is closed.
    pub idle_timeout: Duration,
    /// A socket write blocks at most this long.
    pub write_timeout: Duration,
}

/// An open stream as the writer knows it.
struct Open {
    slot: Arc<Slot>,
    /// The send window left.
    window: i64,
}

/// What the lock guards.
pub(super) struct State {
    encoder: Encoder,
    out: Vec<u8>,
    conn_window: i64,
    /// The server's SETTINGS_INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE and MAX_CONCURRENT_STREAMS.
    initial_window: i64,
    max_frame: u32,
    max_streams: u32,
    next_id: u32,
    streams: HashMap<u32, Open>,
    /// The last stream id of the server's GOAWAY: no new streams from then on.
    goaway: Option<u32>,
    /// Set once the socket failed or the connection closed: every send fails.
    dead: bool,
    /// Since when no stream has been open.
    pub idle_since: Instant,
}

/// Why a stream could not be opened.
#[derive(Debug)]
pub(super) enum StartError {
    /// Dead, or GOAWAY'd: nothing was sent; another connection may take the call.
    Unusable,
    /// At the server's concurrency limit: nothing was sent.
    Full,
    /// The stream was opened and then failed.
    Failed(Failure),
}

/// One connection to a target.
pub(super) struct Conn {
    sock: TcpStream,
    state: Mutex<State>,
    /// Woken when send windows grow or the connection dies.
    changed: Condvar,
    /// The pool's signal: a stream ended or a connection changed (callers may be waiting).
    notify: Arc<Notify>,
    reader: Mutex<Option<JoinHandle<()>>>,
    /// The target, for errors and logs.
    pub authority: String,
    pub config: Config,
}

impl Conn {
    /// Connects to one of `addrs` within `deadline`, sends the preface and our SETTINGS, and
    /// starts the reader. Failing here, nothing of a call was sent.
    pub fn connect(
        addrs: &[SocketAddr],
        authority: &str,
        config: &Config,
        notify: &Arc<Notify>,
        deadline: Instant,
    ) -> Result<Arc<Conn>, Failure> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::sent(Error::Timeout(format!("{authority}: connect"))));
            }
            match TcpStream::connect_timeout(addr, left) {
                Ok(sock) => return Conn::start_on(sock, authority, config, notify),
                Err(e) => last = e,
            }
        }
        let error = if last.kind() == io::ErrorKind::TimedOut {
            Error::Timeout(format!("{authority}: connect: {last}"))
        } else {
            Error::Unreachable(format!("{authority}: {last}"))
        };
        Err(Failure::not_sent(error))
    }

    fn start_on(
        sock: TcpStream,
        authority: &str,
        config: &Config,
        notify: &Arc<Notify>,
    ) -> Result<Arc<Conn>, Failure> {
        let fail = |e: io::Error| Failure::not_sent(Error::Unreachable(format!("{authority}: {e}")));
        sock.set_nodelay(true).map_err(fail)?;
        sock.set_write_timeout(Some(config.write_timeout)).map_err(fail)?;
        let read_half = sock.try_clone().map_err(fail)?;
        let conn = Arc::new(Conn {
            sock,
            state: Mutex::new(State {
                encoder: Encoder::new(),
                out: Vec::with_capacity(16 * 1024),
                conn_window: i64::from(DEFAULT_INITIAL_WINDOW_SIZE),
                initial_window: i64::from(DEFAULT_INITIAL_WINDOW_SIZE),
                max_frame: MIN_MAX_FRAME_SIZE,
                max_streams: DEFAULT_MAX_STREAMS,
                next_id: 1,
                streams: HashMap::new(),
                goaway: None,
                dead: false,
                idle_since: Instant::now(),
            }),
            changed: Condvar::new(),
            notify: notify.clone(),
            reader: Mutex::new(None),
            authority: authority.to_string(),
            config: config.clone(),
        });
        let ours = [
            (SETTINGS_ENABLE_PUSH, 0),
            (SETTINGS_INITIAL_WINDOW_SIZE, config.stream_window),
        ];
        conn.frames(|out| {
            out.extend_from_slice(PREFACE);
            encode::settings(out, &ours);
            encode::window_update(out, 0, CONN_WINDOW - DEFAULT_INITIAL_WINDOW_SIZE);
        })
        .map_err(fail)?;
        let reader = {
            let conn = conn.clone();
            std::thread::Builder::new()
                .name("grpc-client".into())
                .spawn(move || super::reader::run(&conn, read_half))
                .map_err(fail)?
        };
        *sync::lock(&conn.reader) = Some(reader);
        Ok(conn)
    }

    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        sync::lock(&self.state)
    }

    /// Writes what `f` encodes, in one write, under the lock; a failed write kills the connection.
    fn write_locked(&self, state: &mut State, f: impl FnOnce(&mut State)) -> io::Result<()> {
        if state.dead {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        state.out.clear();
        f(state);
        let result = (&self.sock).write_all(&state.out);
        if result.is_err() {
            state.dead = true;
            let _ = self.sock.shutdown(Shutdown::Both);
            self.changed.notify_all();
        }
        result
    }

    /// Writes raw frames (the preface, SETTINGS, ACKs, WINDOW_UPDATE, GOAWAY).
    pub fn frames(&self, encode: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let mut state = self.lock();
        self.write_locked(&mut state, |s| encode(&mut s.out))
    }

    /// The streams open and the server's limit, or `None` when no new stream may open here.
    pub fn load(&self) -> Option<(usize, u32)> {
        let state = self.lock();
        (!state.dead && state.goaway.is_none()).then(|| (state.streams.len(), state.max_streams))
    }

    /// Whether the reader has ended (the connection is dead and its thread can be joined).
    pub fn finished(&self) -> bool {
        sync::lock(&self.reader)
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
    }

    /// Opens a stream: HEADERS with `headers`, then `body` as the windows allow (waiting for
    /// window until `deadline`), END_STREAM on the last DATA frame; with no body the stream
    /// stays open for [`send`](Conn::send) (a duplex call).
    pub fn start(
        &self,
        headers: &[Header],
        body: Option<&[u8]>,
        deadline: Instant,
    ) -> Result<(u32, Arc<Slot>), StartError> {
        let mut state = self.lock();
        if state.dead || state.goaway.is_some() {
            return Err(StartError::Unusable);
        }
        if state.streams.len() >= state.max_streams as usize {
            return Err(StartError::Full);
        }
        let id = state.next_id;
        if id > MAX_STREAM_ID - 2 {
            // Ids are spent: the connection is as good as GOAWAY'd; a new one takes over.
            state.goaway = Some(id - 2);
            return Err(StartError::Unusable);
        }
        state.next_id += 2;
        let slot = Arc::new(Slot::new(self.config.stream_window));
        let window = state.initial_window;
        state.streams.insert(
            id,
            Open {
                slot: slot.clone(),
                window,
            },
        );
        let mut block = Vec::with_capacity(256);
        state.encoder.encode(headers, &mut block);
        let max_frame = state.max_frame;
        // A body the windows take whole goes out with its HEADERS in one write (a unary call,
        // mostly): one send, and one wake of the server's reader instead of two.
        let whole = body.filter(|b| b.len() as i64 <= window.min(state.conn_window));
        if let Some(b) = whole {
            state.conn_window -= b.len() as i64;
            if let Some(open) = state.streams.get_mut(&id) {
                open.window -= b.len() as i64;
            }
        }
        if let Err(e) = self.write_locked(&mut state, |s| {
            encode::headers(&mut s.out, id, &block, false, max_frame);
            if let Some(b) = whole {
                encode::data(&mut s.out, id, b, true, max_frame);
            }
        }) {
            drop(state);
            self.fail_all(&format!("write failed: {e}"));
            return Err(StartError::Failed(self.lost(&e)));
        }
        let Some(body) = body.filter(|_| whole.is_none()) else {
            return Ok((id, slot));
        };
        match self.send_locked(state, id, body, true, deadline) {
            Ok(_) => Ok((id, slot)),
            Err(failure) => {
                self.cancel(id);
                Err(StartError::Failed(failure))
            }
        }
    }

    /// The failure of a stream whose connection broke: it may have been processed.
    pub(super) fn lost(&self, e: &io::Error) -> Failure {
        Failure::sent(Error::Unreachable(format!(
            "{}: connection lost: {e}",
            self.authority
        )))
    }

    /// Forgets stream `id` and, when it was still open, resets it with CANCEL: the server's
    /// handler sees its writes fail, and the stream's place is free at once.
    pub fn cancel(&self, id: u32) {
        self.cancel_with(id, ErrorCode::Cancel);
    }

    /// Forgets stream `id` and, when it was still open, resets it with `code`.
    pub fn cancel_with(&self, id: u32, code: ErrorCode) {
        let mut state = self.lock();
        if self.remove_locked(&mut state, id).is_some() {
            let _ = self.write_locked(&mut state, |s| encode::rst_stream(&mut s.out, id, code));
        }
    }

    /// Grants the server `increment` more bytes on stream `id`, if it is still open.
    pub fn grant(&self, id: u32, increment: u32) {
        let mut state = self.lock();
        if increment > 0 && state.streams.contains_key(&id) {
            let _ = self.write_locked(&mut state, |s| encode::window_update(&mut s.out, id, increment));
        }
    }

    /// Removes stream `id`; its place is free (callers waiting for one are woken, and a
    /// duplex call's sender waiting for its window learns it ended).
    fn remove_locked(&self, state: &mut State, id: u32) -> Option<Arc<Slot>> {
        let open = state.streams.remove(&id)?;
        if state.streams.is_empty() {
            state.idle_since = Instant::now();
        }
        self.changed.notify_all();
        self.notify.bump();
        Some(open.slot)
    }

    /// Removes stream `id` (it ended); the reader delivers its end.
    pub fn remove(&self, id: u32) -> Option<Arc<Slot>> {
        self.remove_locked(&mut self.lock(), id)
    }

    /// The slot of open stream `id`.
    pub fn slot(&self, id: u32) -> Option<Arc<Slot>> {
        self.lock().streams.get(&id).map(|open| open.slot.clone())
    }

    /// Closes the connection and joins its reader (the client is dropping it).
    pub fn close_and_join(&self) {
        self.fail_all("client closed");
        let reader = sync::lock(&self.reader).take();
        if let Some(reader) = reader {
            let _ = reader.join();
        }
    }
}
