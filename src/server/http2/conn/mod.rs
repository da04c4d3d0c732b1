//! One HTTP/2 connection's reader: frames in, streams out to the pool, the rules of RFC 9113
//! enforced on the way (a connection error is a GOAWAY and the end; a stream error a reset).
//!
//! Everything a peer can make us hold is bounded: header blocks by the head limit and the head
//! timeout, bodies by the body limit and our windows (granted as data arrives, in batches;
//! a duplex call's as its handler takes its messages, `duplex.rs`),
//! streams by SETTINGS_MAX_CONCURRENT_STREAMS, abuse (rapid resets, empty DATA, control
//! floods) by counters that end the connection with ENHANCE_YOUR_CALM.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::Host;
use super::writer::Writer;
use super::{grpc, request};
use crate::error::Error;
use crate::http2::frame::{self, Frame, encode};
use crate::http2::hpack::{self, Decoder};
use crate::http2::{
    ConnectionError, ErrorCode, MAX_STREAM_ID, MIN_MAX_FRAME_SIZE, SETTINGS_ENABLE_PUSH,
    SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_MAX_HEADER_LIST_SIZE, Settings,
};
use crate::metadata::Metadata;
mod duplex;
mod streams;

use streams::refuse_body;

/// The receive window we grant each stream, and the connection as a whole.
const STREAM_WINDOW: u32 = 1 << 20;
const CONN_WINDOW: u32 = 16 << 20;
/// How often an idle reader looks up (drain, idle timeout, eviction).
const TICK: Duration = Duration::from_secs(1);
/// Abuse limits per connection: resets of streams by the peer, empty DATA frames, and
/// SETTINGS/PING frames while fewer requests arrive.
const MAX_RESETS: u32 = 1000;
const MAX_EMPTY_DATA: u32 = 1000;
const MAX_CONTROL: u32 = 10_000;

/// A stream still receiving its request.
struct Incoming {
    head: request::Head,
    body: Vec<u8>,
    /// Receive window left, and what arrived since we last granted more.
    window: i64,
    unacked: u32,
    /// Answered already (its body went over the limit): what else arrives is dropped.
    answered: bool,
    started: Instant,
    /// When the body must have arrived whole (the body timeout, from the end of the head).
    body_until: Instant,
}

/// A header block being received across CONTINUATION frames.
struct Block {
    stream: u32,
    end_stream: bool,
    fragment: Vec<u8>,
    /// CONTINUATION frames so far: bounded, since empty ones grow nothing else.
    continuations: usize,
    /// The HEADERS frame named its own stream as its dependency: a stream error (5.3.1),
    /// raised once the block is decoded so the dynamic table stays in step.
    self_dependent: bool,
    started: Instant,
}

struct Conn<'a> {
    host: &'a dyn Host,
    sock: &'a TcpStream,
    writer: Arc<Writer>,
    decoder: Decoder,
    buf: Vec<u8>,
    peer: Settings,
    incoming: HashMap<u32, Incoming>,
    /// Duplex calls on the stream queue whose client side is still open.
    duplex: duplex::Inboxes,
    block: Option<Block>,
    /// The highest stream id the peer opened, and the final GOAWAY's last stream, once sent.
    last_stream: u32,
    final_goaway: Option<u32>,
    first_goaway: bool,
    /// Streams handed to the pool and not yet done.
    active: Arc<AtomicUsize>,
    conn_unacked: u32,
    last_frame: Instant,
    resets: u32,
    empty_data: u32,
    control: u32,
    requests: u32,
    /// gRPC calls with a deadline, ended by this reader once it passes (their handlers may
    /// still run; their writes then fail quietly).
    deadlines: Vec<(Instant, u32, grpc::Call)>,
    /// The socket's read timeout as last set.
    read_timeout: Duration,
    /// The peer's address, asked once.
    peer_addr: Option<std::net::SocketAddr>,
    /// The service was already draining when the connection opened.
    born_draining: bool,
    /// The peer's first frame, its SETTINGS (RFC 9113 section 3.4), has arrived.
    settled: bool,
}

/// Serves an HTTP/2 connection whose preface (and `rest`, bytes read after it) has arrived.
pub(crate) fn serve(host: &dyn Host, sock: &TcpStream, rest: &[u8]) {
    let limits = host.limits();
    let Ok(clone) = sock.try_clone() else { return };
    let writer = Arc::new(Writer::new(clone, limits.write_timeout));
    let ours = [
        (SETTINGS_ENABLE_PUSH, 0),
        (SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams),
        (SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW),
        (
            SETTINGS_MAX_HEADER_LIST_SIZE,
            u32::try_from(limits.max_head).unwrap_or(u32::MAX),
        ),
    ];
    let hello = writer.frames(|out| {
        encode::settings(out, &ours);
        encode::window_update(out, 0, CONN_WINDOW - 65_535);
    });
    if hello.is_err() {
        return;
    }
    let mut conn = Conn {
        host,
        sock,
        writer: writer.clone(),
        decoder: Decoder::new(4096, limits.max_head),
        buf: rest.to_vec(),
        peer: Settings::default(),
        incoming: HashMap::new(),
        duplex: HashMap::new(),
        block: None,
        last_stream: 0,
        final_goaway: None,
        first_goaway: false,
        active: Arc::new(AtomicUsize::new(0)),
        conn_unacked: 0,
        last_frame: Instant::now(),
        resets: 0,
        empty_data: 0,
        control: 0,
        requests: 0,
        deadlines: Vec::new(),
        read_timeout: TICK,
        peer_addr: sock.peer_addr().ok(),
        born_draining: host.draining(),
        settled: false,
    };
    let _ = sock.set_read_timeout(Some(TICK));
    let ended = conn.run();
    conn.end_all_duplex();
    if let Err(err) = ended {
        log::debug!("http2 connection error: {} ({:?})", err.reason, err.code);
        let last = conn.last_stream;
        if writer
            .frames(|out| encode::goaway(out, last, err.code, err.reason.as_bytes()))
            .is_ok()
        {
            linger(sock);
        }
    }
    writer.kill();
}

/// Half-closes after a GOAWAY and drains what the peer still sends, for a moment: closing with
/// bytes unread (a flood's tail) resets the connection, and the peer may lose the GOAWAY with it.
fn linger(sock: &TcpStream) {
    let _ = sock.shutdown(Shutdown::Write);
    let _ = sock.set_read_timeout(Some(Duration::from_millis(500)));
    let until = Instant::now() + Duration::from_secs(1);
    let (mut sink, mut drained) = ([0u8; 8192], 0usize);
    while Instant::now() < until && drained < (4 << 20) {
        match (&mut &*sock).read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// A connection error of type ENHANCE_YOUR_CALM.
fn calm(reason: &'static str) -> ConnectionError {
    ConnectionError {
        code: ErrorCode::EnhanceYourCalm,
        reason,
    }
}

impl frame::Dispatch for Conn<'_> {
    fn frame(&mut self, frame: Frame<'_>) -> Result<(), ConnectionError> {
        if !self.settled && !matches!(frame, Frame::Settings { ack: false, .. }) {
            return Err(ConnectionError::protocol(
                "the preface was not followed by SETTINGS",
            ));
        }
        self.settled = true;
        self.last_frame = Instant::now();
        self.handle(frame)
    }

    fn stream_error(&mut self, stream: u32, code: ErrorCode) {
        self.reset(stream, code);
    }
}

impl Conn<'_> {
    /// Reads and handles frames until the connection ends; `Err` is the GOAWAY to send.
    fn run(&mut self) -> Result<(), ConnectionError> {
        let mut scratch = vec![0u8; 16 * 1024];
        loop {
            // Frames borrow the buffer, so it is taken out while they are handled.
            let mut buf = std::mem::take(&mut self.buf);
            let (at, handled) = frame::each(&buf, MIN_MAX_FRAME_SIZE, self);
            buf.drain(..at);
            self.buf = buf;
            handled?;
            let settled = self.settled;
            if !self.tick(settled)? {
                return Ok(());
            }
            self.arm_read_timeout();
            match self.sock.read(&mut scratch) {
                Ok(0) => return Ok(()),
                Ok(n) => self.buf.extend_from_slice(&scratch[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Ok(()),
            }
        }
    }

    /// Between reads: drain, idle timeout, slow header blocks, eviction. `false` ends quietly.
    fn tick(&mut self, settled: bool) -> Result<bool, ConnectionError> {
        self.expire_calls();
        self.prune_duplex();
        let limits = self.host.limits();
        // A body late past the body timeout gets a 408 as over HTTP/1.1 (one answered already,
        // its 413, is forgotten): a stream open for good would keep the connection busy, so
        // never evicted at the connection cap.
        let now = Instant::now();
        let late: Vec<u32> = self
            .incoming
            .iter()
            .filter(|(_, s)| now >= s.body_until)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            if let Some(open) = self.incoming.remove(&id)
                && !open.answered
            {
                let err = Error::new(408, "request body not received in time");
                refuse_body(self.host, &self.writer, id, &open.head.metadata, err);
            }
        }
        let open = self.incoming.len() + self.active.load(Ordering::Acquire);
        if !settled && self.last_frame.elapsed() >= limits.head_timeout {
            return Err(ConnectionError::protocol("no SETTINGS in time after the preface"));
        }
        if let Some(block) = &self.block
            && block.started.elapsed() >= limits.head_timeout
        {
            return Err(calm("a header block not received in time"));
        }
        if self.host.draining() && !self.first_goaway {
            self.first_goaway = true;
            // A connection opened while draining (a probe, say) is not told to go away before
            // the final GOAWAY: a client told so before its first call cannot make it at all.
            if !self.born_draining {
                self.goaway(MAX_STREAM_ID);
            }
        }
        if self.host.closing() && self.final_goaway.is_none() {
            self.final_goaway = Some(self.last_stream);
            self.goaway(self.last_stream);
        }
        if self.final_goaway.is_some() && open == 0 {
            return Ok(false);
        }
        if open == 0 && self.last_frame.elapsed() >= limits.idle_timeout {
            self.goaway(self.last_stream);
            return Ok(false);
        }
        // Once draining, the connection counts as busy: the server's drain then leaves it to
        // this reader, which sends the final GOAWAY before it closes, instead of shutting it.
        Ok(self.host.set_busy(open > 0 || self.first_goaway))
    }

    /// Wakes the reader by the next deadline of a call, at the latest after a [`TICK`].
    fn arm_read_timeout(&mut self) {
        let now = Instant::now();
        let next = self
            .deadlines
            .iter()
            .map(|(at, _, _)| at.saturating_duration_since(now))
            .min();
        let timeout = next.map_or(TICK, |d| d.min(TICK)).max(Duration::from_millis(1));
        if timeout != self.read_timeout {
            let _ = self.sock.set_read_timeout(Some(timeout));
            self.read_timeout = timeout;
        }
    }

    /// Watches call `id`'s deadline when its metadata names one (`grpc::prepare` turned the
    /// call's `grpc-timeout` and `timeout` into go-micro's `timeout`).
    fn watch_deadline(&mut self, metadata: &Metadata, started: Instant, id: u32, call: grpc::Call) {
        if let Some(budget) = metadata
            .get("timeout")
            .and_then(|v| crate::metadata::parse_timeout(v).ok())
            && let Some(at) = started.checked_add(budget)
        {
            self.deadlines.push((at, id, call));
        }
    }

    /// Ends the calls whose deadline has passed with DEADLINE_EXCEEDED; forgets those done.
    fn expire_calls(&mut self) {
        let now = Instant::now();
        let service = self.host.pipeline().name();
        let writer = &self.writer;
        let mut expired = Vec::new();
        self.deadlines.retain(|(at, id, call)| {
            if now < *at {
                return writer.is_open(*id);
            }
            let (only, trailers) = grpc::expired(*call, service);
            writer.expire(*id, &only, &trailers);
            expired.push(*id);
            false
        });
        self.expire_duplex(&expired);
    }

    fn goaway(&self, last: u32) {
        let _ = self
            .writer
            .frames(|out| encode::goaway(out, last, ErrorCode::NoError, b""));
    }

    fn reset(&mut self, stream: u32, code: ErrorCode) {
        self.incoming.remove(&stream);
        self.end_duplex(stream, "the stream was reset");
        let _ = self.writer.reset(stream, code);
    }

    fn handle(&mut self, frame: Frame<'_>) -> Result<(), ConnectionError> {
        if self.block.is_some() && !matches!(frame, Frame::Continuation { .. }) {
            return Err(ConnectionError::protocol("a frame inside a header block"));
        }
        match frame {
            Frame::Settings { ack: true, .. } => Ok(()),
            Frame::Settings { params, .. } => {
                self.control_frame()?;
                self.peer.apply(&params)?;
                if !self
                    .writer
                    .peer_settings(self.peer.initial_window_size, self.peer.max_frame_size)
                {
                    return Err(ConnectionError::flow_control(
                        "SETTINGS_INITIAL_WINDOW_SIZE overflowed a stream's window",
                    ));
                }
                self.writer
                    .header_table_size(self.peer.header_table_size.min(4096));
                self.send(encode::settings_ack)
            }
            Frame::Ping { ack: true, .. } => Ok(()),
            Frame::Ping { payload, .. } => {
                self.control_frame()?;
                self.send(|out| encode::ping_ack(out, payload))
            }
            Frame::WindowUpdate { stream, increment } => {
                if self.writer.window_update(stream, increment) {
                    return Ok(());
                }
                if stream == 0 {
                    return Err(ConnectionError::flow_control(
                        "WINDOW_UPDATE overflowed the connection's window",
                    ));
                }
                self.reset(stream, ErrorCode::FlowControlError);
                Ok(())
            }
            Frame::RstStream { stream, .. } => {
                self.idle_stream(stream)?;
                self.resets += 1;
                if self.resets > MAX_RESETS && self.resets > self.requests / 2 {
                    return Err(calm("streams reset by the thousand"));
                }
                self.incoming.remove(&stream);
                self.end_duplex(stream, "the client reset the stream");
                self.writer.close(stream);
                Ok(())
            }
            Frame::GoAway { .. } => {
                // The peer opens no new streams; ours finish, then the connection ends.
                self.final_goaway.get_or_insert(self.last_stream);
                Ok(())
            }
            Frame::PushPromise { .. } => Err(ConnectionError::protocol("PUSH_PROMISE from a client")),
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                priority,
                fragment,
            } => {
                let block = Block {
                    stream,
                    end_stream,
                    fragment: fragment.to_vec(),
                    continuations: 0,
                    self_dependent: priority.is_some_and(|p| p.dependency == stream),
                    started: Instant::now(),
                };
                self.header_fragment(block, end_headers)
            }
            Frame::Continuation {
                stream,
                end_headers,
                fragment,
            } => {
                let Some(mut block) = self.block.take() else {
                    return Err(ConnectionError::protocol("CONTINUATION without HEADERS"));
                };
                if block.stream != stream {
                    return Err(ConnectionError::protocol("CONTINUATION on another stream"));
                }
                // Enough for a block at the head limit in whole frames, plus nghttp2's default
                // allowance (8): more is a flood (2024's CONTINUATION floods) that the size
                // check alone misses when the fragments are empty.
                block.continuations += 1;
                if block.continuations > self.host.limits().max_head / MIN_MAX_FRAME_SIZE as usize + 8 {
                    return Err(calm("CONTINUATION frames by the dozen"));
                }
                block.fragment.extend_from_slice(fragment);
                self.header_fragment(block, end_headers)
            }
            Frame::Data {
                stream,
                end_stream,
                data,
                flow_len,
            } => self.data(stream, end_stream, data, flow_len),
        }
    }

    /// A frame on a stream the peer never opened is a connection error (5.1).
    fn idle_stream(&self, stream: u32) -> Result<(), ConnectionError> {
        if stream > self.last_stream {
            return Err(ConnectionError::protocol("a frame on an idle stream"));
        }
        Ok(())
    }

    fn control_frame(&mut self) -> Result<(), ConnectionError> {
        self.control += 1;
        if self.control > MAX_CONTROL && self.control > self.requests.saturating_mul(10) {
            return Err(calm("SETTINGS or PING by the thousand"));
        }
        Ok(())
    }

    fn send(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<(), ConnectionError> {
        self.writer
            .frames(encode)
            .map_err(|_| ConnectionError::protocol("the peer does not read"))
    }
}

/// A decoding error that leaves the dynamic tables out of step: the connection ends.
fn compression(err: hpack::Error) -> ConnectionError {
    match err {
        hpack::Error::HeaderListTooLarge => calm("trailers over the head limit"),
        hpack::Error::Compression(reason) => ConnectionError {
            code: ErrorCode::CompressionError,
            reason,
        },
    }
}
