//! A client connection's reader thread: frames in, each delivered to its stream's slot; the
//! connection's own business (SETTINGS, PING, WINDOW_UPDATE, GOAWAY, idleness) handled here.
//!
//! It never waits for a caller: a slot takes what arrives (bounded by the stream's window).
//! The connection's receive window is granted as data arrives, in batches of half of it, and
//! a stream's by its caller as it takes the data (see `exchange.rs`): at most one
//! WINDOW_UPDATE per half window each, never a flood (Envoy resets a peer that sends more than
//! 10 per DATA frame).

use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use super::conn::{CONN_WINDOW, Conn};
use super::slot::End;
use crate::client::retry::Failure;
use crate::error::Error;
use crate::http2::frame::{self, Frame, encode};
use crate::http2::hpack::{self, Decoder};
use crate::http2::{ConnectionError, ErrorCode, MIN_MAX_FRAME_SIZE, Settings};

/// How often an idle reader looks up (idle timeout).
const TICK: Duration = Duration::from_secs(1);
/// The largest response header list we decode (a reply's head or trailers).
const MAX_HEADER_LIST: usize = 64 * 1024;

/// A header block being received across CONTINUATION frames.
struct Block {
    stream: u32,
    end_stream: bool,
    fragment: Vec<u8>,
}

struct Reader<'a> {
    conn: &'a Conn,
    decoder: Decoder,
    peer: Settings,
    block: Option<Block>,
    /// Bytes received since we last granted the connection window.
    conn_unacked: u32,
}

/// Reads `sock` until the connection ends, then fails whatever streams are left.
pub(super) fn run(conn: &Arc<Conn>, mut sock: TcpStream) {
    let _ = sock.set_read_timeout(Some(TICK.min(conn.config.idle_timeout)));
    let mut reader = Reader {
        conn,
        decoder: Decoder::new(4096, MAX_HEADER_LIST),
        peer: Settings::default(),
        block: None,
        conn_unacked: 0,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(32 * 1024);
    let mut scratch = vec![0u8; 32 * 1024];
    let why = loop {
        let (at, handled) = frame::each(&buf, MIN_MAX_FRAME_SIZE, &mut reader);
        buf.drain(..at);
        if let Err(err) = handled {
            let _ = conn.frames(|out| encode::goaway(out, 0, err.code, err.reason.as_bytes()));
            break format!("protocol error: {}", err.reason);
        }
        if conn.drained() {
            break "closed after the server's GOAWAY".to_string();
        }
        match sock.read(&mut scratch) {
            Ok(0) => break "closed by the server".to_string(),
            Ok(n) => buf.extend_from_slice(&scratch[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if conn.close_if_idle() {
                    break "idle".to_string();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break format!("connection lost: {e}"),
        }
    };
    log::debug!("grpc client connection to {} ends: {why}", conn.authority);
    conn.fail_all(&why);
}

impl frame::Dispatch for Reader<'_> {
    fn frame(&mut self, frame: Frame<'_>) -> Result<(), ConnectionError> {
        self.handle(frame)
    }

    fn stream_error(&mut self, stream: u32, code: ErrorCode) {
        self.reset(stream, code, "a malformed frame");
    }
}

impl Reader<'_> {
    fn handle(&mut self, frame: Frame<'_>) -> Result<(), ConnectionError> {
        if self.block.is_some() && !matches!(frame, Frame::Continuation { .. }) {
            return Err(ConnectionError::protocol("a frame inside a header block"));
        }
        match frame {
            Frame::Settings { ack: true, .. } | Frame::Ping { ack: true, .. } => Ok(()),
            Frame::Settings { params, .. } => {
                self.peer.apply(&params)?;
                let p = &self.peer;
                let table = p.header_table_size;
                if !self.conn.peer_settings(
                    p.initial_window_size,
                    p.max_frame_size,
                    p.max_concurrent_streams,
                    table,
                ) {
                    return Err(ConnectionError::flow_control(
                        "SETTINGS_INITIAL_WINDOW_SIZE overflowed a stream's window",
                    ));
                }
                self.send(encode::settings_ack)
            }
            // grpc-go's BDP pings and keepalives: answered at once.
            Frame::Ping { payload, .. } => self.send(|out| encode::ping_ack(out, payload)),
            Frame::WindowUpdate { stream, increment } => {
                if self.conn.window_update(stream, increment) {
                    return Ok(());
                }
                if stream == 0 {
                    return Err(ConnectionError::flow_control(
                        "WINDOW_UPDATE overflowed the connection's window",
                    ));
                }
                self.reset(stream, ErrorCode::FlowControlError, "a window over 2^31-1");
                Ok(())
            }
            Frame::RstStream { stream, code } => {
                if let Some(slot) = self.conn.remove(stream) {
                    let detail = format!("{}: stream reset by the server ({code:?})", self.conn.authority);
                    let error = Error::Unreachable(detail);
                    // REFUSED_STREAM promises the stream was not processed (RFC 9113 8.7).
                    let failure = match code {
                        ErrorCode::RefusedStream => Failure::not_sent(error),
                        _ => Failure::sent(error),
                    };
                    slot.end(End::Failed(failure));
                }
                Ok(())
            }
            Frame::GoAway {
                last_stream, code, ..
            } => {
                log::debug!(
                    "grpc client: GOAWAY from {} ({code:?}, last stream {last_stream})",
                    self.conn.authority
                );
                self.conn.goaway(last_stream);
                Ok(())
            }
            Frame::PushPromise { .. } => Err(ConnectionError::protocol("PUSH_PROMISE, push disabled")),
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                fragment,
                ..
            } => {
                let block = Block {
                    stream,
                    end_stream,
                    fragment: fragment.to_vec(),
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
                if block.fragment.len() + fragment.len() > MAX_HEADER_LIST * 2 {
                    return Err(ConnectionError::protocol("a header block over the limit"));
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

    /// Collects a header block; once whole, decodes it (always: HPACK's table must stay in
    /// step) and delivers it as the stream's head or trailers.
    fn header_fragment(&mut self, block: Block, end_headers: bool) -> Result<(), ConnectionError> {
        if !end_headers {
            self.block = Some(block);
            return Ok(());
        }
        let decoded = match self.decoder.decode(&block.fragment) {
            Ok(headers) => headers,
            Err(hpack::Error::HeaderListTooLarge) => {
                self.reset(
                    block.stream,
                    ErrorCode::ProtocolError,
                    "response headers over the limit",
                );
                return Ok(());
            }
            Err(hpack::Error::Compression(reason)) => {
                return Err(ConnectionError {
                    code: ErrorCode::CompressionError,
                    reason,
                });
            }
        };
        let Some(slot) = self.conn.slot(block.stream) else {
            return Ok(()); // a stream we cancelled
        };
        let fields: Vec<(String, String)> = decoded
            .into_iter()
            .map(|h| {
                (
                    String::from_utf8_lossy(&h.name).into_owned(),
                    String::from_utf8_lossy(&h.value).into_owned(),
                )
            })
            .collect();
        // An informational head (1xx) is skipped; gRPC servers send none.
        if fields.iter().any(|(n, v)| n == ":status" && v.starts_with('1')) && !block.end_stream {
            return Ok(());
        }
        // Removed before the end is delivered, so that a caller woken by its end finds the
        // stream's place free already; trailers and end go in under one lock.
        if block.end_stream {
            self.conn.remove(block.stream);
        }
        slot.deliver(|r| {
            if r.head.is_none() {
                if block.end_stream {
                    r.trailers = Some(fields.clone()); // Trailers-Only
                }
                r.head = Some(fields);
            } else {
                r.trailers = Some(fields);
            }
            if block.end_stream {
                r.end.get_or_insert(End::Done);
            }
        });
        Ok(())
    }

    fn data(&mut self, id: u32, end_stream: bool, data: &[u8], flow_len: u32) -> Result<(), ConnectionError> {
        self.conn_unacked += flow_len;
        if self.conn_unacked >= CONN_WINDOW / 2 {
            let grant = std::mem::take(&mut self.conn_unacked);
            self.send(|out| encode::window_update(out, 0, grant))?;
        }
        let Some(slot) = self.conn.slot(id) else {
            return Ok(()); // cancelled, or ended: dropped (the connection window is granted)
        };
        let overflow = slot.deliver(|r| {
            r.window -= i64::from(flow_len);
            if r.window < 0 {
                return true;
            }
            if !data.is_empty() {
                r.chunks.push_back(data.to_vec());
            }
            r.padding += flow_len - data.len() as u32;
            if end_stream {
                r.end.get_or_insert(End::Done);
            }
            false
        });
        if overflow {
            self.reset(id, ErrorCode::FlowControlError, "DATA beyond the stream's window");
        } else if end_stream {
            self.conn.remove(id);
        }
        Ok(())
    }

    /// Resets stream `id` with `code` and fails its call (it may have been processed).
    fn reset(&mut self, id: u32, code: ErrorCode, why: &str) {
        if let Some(slot) = self.conn.slot(id) {
            self.conn.cancel_with(id, code);
            let detail = format!("{}: {why}", self.conn.authority);
            slot.end(End::Failed(Failure::sent(Error::Unreachable(detail))));
        }
    }

    fn send(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<(), ConnectionError> {
        self.conn
            .frames(encode)
            .map_err(|_| ConnectionError::protocol("the connection is gone"))
    }
}
