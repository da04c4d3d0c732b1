//! One HTTP/2 connection's writer: the only thing that writes its socket, owner of its HPACK
//! encoder and of the send side of flow control.
//!
//! Every thread that writes (the reader answering SETTINGS and PING, each stream's handler
//! thread) locks the writer, encodes its frames and writes them before unlocking, so frames
//! never interleave and header blocks reach the wire in the order they were encoded (HPACK's
//! dynamic table depends on it). A stream whose DATA has no window waits on a condvar that
//! WINDOW_UPDATE and SETTINGS wake, at most the write timeout; a socket write blocks at most
//! the write timeout too (set on the socket), so a peer that never reads frees the connection
//! within that time and never holds memory: nothing is queued beyond one frame batch. Either
//! way the connection ends there: a stream that waited out the write timeout for window sends
//! GOAWAY (ENHANCE_YOUR_CALM), and a dead writer shuts the socket so that the reader, blocked in
//! a read, ends at once rather than at the idle timeout.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::http2::frame::encode;
use crate::http2::hpack::{Encoder, Header};
use crate::http2::{DEFAULT_INITIAL_WINDOW_SIZE, ErrorCode, MAX_WINDOW_SIZE, MIN_MAX_FRAME_SIZE};
use crate::sync;

/// Why a stream can no longer be written.
#[derive(Debug)]
pub(super) enum SendError {
    /// The peer reset the stream (or we did): stop quietly.
    Reset,
    /// No window for the write timeout, or the socket failed: the connection is done.
    Io(io::Error),
}

impl From<SendError> for io::Error {
    fn from(err: SendError) -> io::Error {
        match err {
            SendError::Reset => io::ErrorKind::BrokenPipe.into(),
            SendError::Io(e) => e,
        }
    }
}

/// What the lock guards.
struct State {
    encoder: Encoder,
    out: Vec<u8>,
    /// The connection's send window and each open stream's (absent: closed or reset).
    conn_window: i64,
    streams: HashMap<u32, i64>,
    /// Open streams whose response HEADERS went out (their end is trailers, not Trailers-Only).
    started: HashSet<u32>,
    /// The peer's SETTINGS_INITIAL_WINDOW_SIZE and SETTINGS_MAX_FRAME_SIZE.
    initial_window: i64,
    max_frame: u32,
    /// The highest stream opened: the last stream of a GOAWAY we send on our own.
    last_opened: u32,
    /// Set once a write failed or the connection is closing: every send fails from then on.
    dead: bool,
}

impl State {
    /// Closes stream `id` for sending.
    fn forget(&mut self, id: u32) {
        self.streams.remove(&id);
        self.started.remove(&id);
    }
}

/// The writer of one connection, shared by its reader and its streams' threads.
pub(super) struct Writer {
    sock: TcpStream,
    state: Mutex<State>,
    /// Woken when windows grow or the connection dies.
    window: Condvar,
    write_timeout: Duration,
}

impl Writer {
    /// A writer on `sock` (a clone of the reader's socket; its write timeout is already set).
    pub fn new(sock: TcpStream, write_timeout: Duration) -> Writer {
        Writer {
            sock,
            state: Mutex::new(State {
                encoder: Encoder::new(),
                out: Vec::with_capacity(16 * 1024),
                conn_window: i64::from(DEFAULT_INITIAL_WINDOW_SIZE),
                streams: HashMap::new(),
                started: HashSet::new(),
                initial_window: i64::from(DEFAULT_INITIAL_WINDOW_SIZE),
                max_frame: MIN_MAX_FRAME_SIZE,
                last_opened: 0,
                dead: false,
            }),
            window: Condvar::new(),
            write_timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        sync::lock(&self.state)
    }

    /// Writes what `f` encodes, in one write, under the lock.
    fn with(&self, f: impl FnOnce(&mut State)) -> io::Result<()> {
        let mut state = self.lock();
        self.write_locked(&mut state, f)
    }

    fn write_locked(&self, state: &mut State, f: impl FnOnce(&mut State)) -> io::Result<()> {
        if state.dead {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        state.out.clear();
        f(state);
        let result = (&self.sock).write_all(&state.out);
        if result.is_err() {
            self.end(state);
        }
        result
    }

    /// Marks the connection dead (waiters wake, later sends fail) and shuts its socket: the
    /// reader's blocked read returns at once, so the connection, its thread and its socket are
    /// freed now rather than when the peer next sends something (or never, for a silent one).
    fn end(&self, state: &mut State) {
        state.dead = true;
        self.window.notify_all();
        let _ = self.sock.shutdown(Shutdown::Both);
    }

    /// Writes raw frames the reader encoded itself (SETTINGS, ACKs, GOAWAY, WINDOW_UPDATE).
    pub fn frames(&self, encode: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        self.with(|s| encode(&mut s.out))
    }

    /// Opens stream `id` for sending, with the peer's initial window.
    pub fn open(&self, id: u32) {
        let mut state = self.lock();
        let window = state.initial_window;
        state.streams.insert(id, window);
        state.last_opened = state.last_opened.max(id);
    }

    /// Forgets stream `id`: its sends fail with [`SendError::Reset`] from now on.
    pub fn close(&self, id: u32) {
        self.lock().forget(id);
        self.window.notify_all();
    }

    /// Resets stream `id` with `code` (and forgets it).
    pub fn reset(&self, id: u32, code: ErrorCode) -> io::Result<()> {
        let mut state = self.lock();
        state.forget(id);
        self.window.notify_all();
        self.write_locked(&mut state, |s| encode::rst_stream(&mut s.out, id, code))
    }

    /// Ends the connection: waiting and later sends fail at once, the socket is shut.
    pub fn kill(&self) {
        let mut state = self.lock();
        self.end(&mut state);
    }

    /// Applies the peer's SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113 section 6.9.2: every open
    /// stream's window moves by the difference) and SETTINGS_MAX_FRAME_SIZE; `false` when a
    /// window would pass 2^31-1 (a FLOW_CONTROL_ERROR).
    pub fn peer_settings(&self, initial_window: u32, max_frame: u32) -> bool {
        let mut state = self.lock();
        let delta = i64::from(initial_window) - state.initial_window;
        state.initial_window = i64::from(initial_window);
        state.max_frame = max_frame;
        let mut ok = true;
        for window in state.streams.values_mut() {
            *window += delta;
            ok &= *window <= i64::from(MAX_WINDOW_SIZE);
        }
        self.window.notify_all();
        ok
    }

    /// Applies the peer's SETTINGS_HEADER_TABLE_SIZE to our encoder.
    pub fn header_table_size(&self, size: u32) {
        self.lock().encoder.set_header_table_size(size as usize);
    }

    /// Grows a send window (stream 0: the connection's); `false` when it would pass 2^31-1.
    /// A window of a stream already closed is ignored.
    pub fn window_update(&self, stream: u32, increment: u32) -> bool {
        let mut state = self.lock();
        let window = match stream {
            0 => &mut state.conn_window,
            id => match state.streams.get_mut(&id) {
                Some(window) => window,
                None => return true,
            },
        };
        *window += i64::from(increment);
        let ok = *window <= i64::from(MAX_WINDOW_SIZE);
        self.window.notify_all();
        ok
    }

    /// Sends a header block (response headers, or trailers with `end_stream`).
    pub fn headers(&self, id: u32, headers: &[Header], end_stream: bool) -> Result<(), SendError> {
        let mut state = self.lock();
        if !state.streams.contains_key(&id) {
            return Err(SendError::Reset);
        }
        let mut block = Vec::with_capacity(128);
        state.encoder.encode(headers, &mut block);
        let max_frame = state.max_frame;
        self.write_locked(&mut state, |s| {
            encode::headers(&mut s.out, id, &block, end_stream, max_frame)
        })
        .map_err(SendError::Io)?;
        if end_stream {
            state.forget(id);
        } else {
            state.started.insert(id);
        }
        Ok(())
    }

    /// Whether stream `id` is still open for sending.
    pub fn is_open(&self, id: u32) -> bool {
        self.lock().streams.contains_key(&id)
    }

    /// Ends stream `id` now, whatever its handler is doing (its deadline passed): with
    /// `before_headers` when no response HEADERS went out yet (a Trailers-Only block), else with
    /// `trailers`. The handler's later writes fail quietly. False when the stream had ended.
    pub fn expire(&self, id: u32, before_headers: &[Header], trailers: &[Header]) -> bool {
        let mut state = self.lock();
        if !state.streams.contains_key(&id) {
            return false;
        }
        let fields = if state.started.contains(&id) {
            trailers
        } else {
            before_headers
        };
        let mut block = Vec::with_capacity(128);
        state.encoder.encode(fields, &mut block);
        let max_frame = state.max_frame;
        let _ = self.write_locked(&mut state, |s| {
            encode::headers(&mut s.out, id, &block, true, max_frame)
        });
        state.forget(id);
        self.window.notify_all();
        true
    }

    /// Sends a whole response: HEADERS, `data`, and `trailers` if any (else the DATA ends the
    /// stream), in ONE write when the windows and the frame size allow, as most answers do:
    /// one system call per request instead of three. Otherwise as separate sends, waiting for
    /// window like [`data`](Writer::data).
    pub fn whole(
        &self,
        id: u32,
        head: &[Header],
        data: &[u8],
        trailers: Option<&[Header]>,
    ) -> Result<(), SendError> {
        {
            let mut state = self.lock();
            let Some(&window) = state.streams.get(&id) else {
                return Err(SendError::Reset);
            };
            let fits = (data.len() as i64) <= window.min(state.conn_window)
                && data.len() <= state.max_frame as usize
                && !state.dead;
            if fits {
                let (mut head_block, mut tail_block) = (Vec::with_capacity(128), Vec::new());
                state.encoder.encode(head, &mut head_block);
                if let Some(trailers) = trailers {
                    state.encoder.encode(trailers, &mut tail_block);
                }
                let max_frame = state.max_frame;
                state.conn_window -= data.len() as i64;
                self.write_locked(&mut state, |s| {
                    encode::headers(&mut s.out, id, &head_block, false, max_frame);
                    encode::data(&mut s.out, id, data, trailers.is_none(), max_frame);
                    if trailers.is_some() {
                        encode::headers(&mut s.out, id, &tail_block, true, max_frame);
                    }
                })
                .map_err(SendError::Io)?;
                state.forget(id);
                return Ok(());
            }
        }
        self.headers(id, head, false)?;
        self.data(id, data, trailers.is_none())?;
        match trailers {
            Some(trailers) => self.headers(id, trailers, true),
            None => Ok(()),
        }
    }

    /// Sends `data` on stream `id` as the windows allow, waiting for window at most the write
    /// timeout; `end_stream` closes the stream with the last frame.
    pub fn data(&self, id: u32, mut data: &[u8], end_stream: bool) -> Result<(), SendError> {
        let mut state = self.lock();
        let mut waited_since: Option<Instant> = None;
        loop {
            if state.dead {
                return Err(SendError::Io(io::ErrorKind::BrokenPipe.into()));
            }
            let Some(&stream_window) = state.streams.get(&id) else {
                return Err(SendError::Reset);
            };
            let room = stream_window
                .min(state.conn_window)
                .min(i64::from(state.max_frame));
            // An empty last frame needs no window.
            if room <= 0 && !(data.is_empty() && end_stream) {
                let since = *waited_since.get_or_insert_with(Instant::now);
                let left = self.write_timeout.saturating_sub(since.elapsed());
                if left.is_zero() {
                    // A peer that grants no window for the write timeout holds the stream's
                    // thread as a non-reading one would (RFC 9113 section 10.5 leaves such
                    // abuse to us): the connection ends, with a GOAWAY saying why.
                    let last = state.last_opened;
                    let _ = self.write_locked(&mut state, |s| {
                        let why = b"no flow-control window within the write timeout";
                        encode::goaway(&mut s.out, last, ErrorCode::EnhanceYourCalm, why)
                    });
                    self.end(&mut state);
                    return Err(SendError::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no flow-control window within the write timeout",
                    )));
                }
                state = sync::wait_timeout(&self.window, state, left);
                continue;
            }
            waited_since = None;
            let n = data.len().min(room.max(0) as usize);
            let (chunk, rest) = data.split_at(n);
            let last = rest.is_empty() && end_stream;
            let max_frame = state.max_frame;
            state.conn_window -= n as i64;
            if let Some(window) = state.streams.get_mut(&id) {
                *window -= n as i64;
            }
            self.write_locked(&mut state, |s| {
                encode::data(&mut s.out, id, chunk, last, max_frame)
            })
            .map_err(SendError::Io)?;
            data = rest;
            if last {
                state.forget(id);
            }
            if data.is_empty() {
                return Ok(());
            }
        }
    }
}
