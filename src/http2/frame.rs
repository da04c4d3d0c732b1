//! HTTP/2 frames (RFC 9113 sections 4 and 6): parsing one frame from a byte slice, and encoders
//! that append frames to a `Vec<u8>`.
//!
//! The parser holds no state, so it checks what one frame alone can break: lengths, stream 0,
//! padding, setting values. What needs the connection's state (stream states, CONTINUATION
//! following HEADERS, flow-control windows, PUSH_PROMISE to a server) is the connection's.

use super::{ConnectionError, ErrorCode, MAX_STREAM_ID};

/// The frame header's length.
pub const HEAD_LEN: usize = 9;

/// Frame type codes (RFC 9113 section 6).
pub mod kind {
    /// DATA.
    pub const DATA: u8 = 0x0;
    /// HEADERS.
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY.
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM.
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS.
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE.
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING.
    pub const PING: u8 = 0x6;
    /// GOAWAY.
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags (RFC 9113 section 6); a flag a frame type does not define is ignored.
pub mod flag {
    /// END_STREAM on DATA and HEADERS.
    pub const END_STREAM: u8 = 0x1;
    /// ACK on SETTINGS and PING.
    pub const ACK: u8 = 0x1;
    /// END_HEADERS on HEADERS, PUSH_PROMISE and CONTINUATION.
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED on DATA, HEADERS and PUSH_PROMISE.
    pub const PADDED: u8 = 0x8;
    /// PRIORITY on HEADERS.
    pub const PRIORITY: u8 = 0x20;
}

/// A frame header: payload length, type, flags and stream id (reserved bit cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The payload's length (24 bits).
    pub length: u32,
    /// The frame type (see [`kind`]).
    pub kind: u8,
    /// The flags (see [`flag`]).
    pub flags: u8,
    /// The stream id, its reserved top bit ignored as RFC 9113 section 4.1 says.
    pub stream: u32,
}

impl Head {
    /// The header at the start of `bytes`, or `None` while fewer than 9 bytes are there.
    pub fn parse(bytes: &[u8]) -> Option<Head> {
        let b = bytes.get(..HEAD_LEN)?;
        Some(Head {
            length: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & MAX_STREAM_ID,
        })
    }

    pub(super) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// The (deprecated, RFC 9113 section 5.3.2) priority fields: parsed, then ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The stream this one depends on.
    pub dependency: u32,
    /// The exclusive bit.
    pub exclusive: bool,
    /// The weight minus one.
    pub weight: u8,
}

impl Priority {
    pub(super) fn parse(b: &[u8]) -> Priority {
        let word = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        Priority {
            dependency: word & MAX_STREAM_ID,
            exclusive: word >> 31 == 1,
            weight: b[4],
        }
    }
}

/// One parsed frame; slices borrow from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA, padding removed.
    Data {
        /// The stream (never 0).
        stream: u32,
        /// END_STREAM.
        end_stream: bool,
        /// The data, without padding.
        data: &'a [u8],
        /// The whole payload's length, padding included: what flow control counts (6.9.1).
        flow_len: u32,
    },
    /// HEADERS, padding removed.
    Headers {
        /// The stream (never 0).
        stream: u32,
        /// END_STREAM.
        end_stream: bool,
        /// END_HEADERS: false means CONTINUATION frames follow.
        end_headers: bool,
        /// The priority fields, when the PRIORITY flag is set. A dependency on the frame's own
        /// stream is a stream error (PROTOCOL_ERROR, RFC 9113 section 5.3.1) that the connection
        /// raises only after decoding the block, so that the HPACK state stays in step.
        priority: Option<Priority>,
        /// The header block fragment.
        fragment: &'a [u8],
    },
    /// PRIORITY: parsed and ignored.
    Priority {
        /// The stream (never 0).
        stream: u32,
        /// The fields.
        priority: Priority,
    },
    /// RST_STREAM.
    RstStream {
        /// The stream (never 0).
        stream: u32,
        /// Why.
        code: ErrorCode,
    },
    /// SETTINGS: values of known ids are valid (RFC 9113 section 6.5.2); unknown ids are kept.
    Settings {
        /// ACK (then `params` is empty).
        ack: bool,
        /// (id, value) pairs, in order.
        params: Vec<(u16, u32)>,
    },
    /// PUSH_PROMISE: a server receiving one must answer PROTOCOL_ERROR; so must a client that
    /// disabled push. The connection decides.
    PushPromise {
        /// The stream it arrived on (never 0).
        stream: u32,
        /// The promised stream.
        promised: u32,
        /// END_HEADERS.
        end_headers: bool,
        /// The header block fragment.
        fragment: &'a [u8],
    },
    /// PING.
    Ping {
        /// ACK: an answer to our PING.
        ack: bool,
        /// The opaque data, echoed in the answer.
        payload: [u8; 8],
    },
    /// GOAWAY.
    GoAway {
        /// The last stream the sender may have processed.
        last_stream: u32,
        /// Why.
        code: ErrorCode,
        /// Opaque debug data.
        debug: &'a [u8],
    },
    /// WINDOW_UPDATE with a non-zero increment (zero is an error, see [`Error`]).
    WindowUpdate {
        /// The stream, or 0 for the connection.
        stream: u32,
        /// The increment, 1..=2^31-1.
        increment: u32,
    },
    /// CONTINUATION.
    Continuation {
        /// The stream (never 0).
        stream: u32,
        /// END_HEADERS.
        end_headers: bool,
        /// The header block fragment.
        fragment: &'a [u8],
    },
    /// A frame of a type this codec does not know: to be ignored (RFC 9113 section 5.5).
    Unknown {
        /// Its type code.
        kind: u8,
    },
}

/// Why a frame was refused: the whole connection, or only one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A connection error: send GOAWAY with its code, then close.
    Connection(ConnectionError),
    /// A stream error (RFC 9113 section 5.4.2): send RST_STREAM on `stream` with `code`, skip
    /// `consumed` bytes (the whole frame), and keep reading the connection.
    Stream {
        /// The stream that fails.
        stream: u32,
        /// The code for RST_STREAM.
        code: ErrorCode,
        /// What was wrong, for logs.
        reason: &'static str,
        /// The frame's length, header included.
        consumed: usize,
    },
}

impl Error {
    /// The error code to send, in GOAWAY or RST_STREAM.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Connection(e) => e.code,
            Error::Stream { code, .. } => *code,
        }
    }
}

impl From<ConnectionError> for Error {
    fn from(e: ConnectionError) -> Error {
        Error::Connection(e)
    }
}

mod parse;
pub use parse::parse;

/// What reads a connection's frames: both ends of a connection (our server's reader, our
/// client's) hand them to [`each`] this way.
pub trait Dispatch {
    /// Handles one frame; an error ends the connection (GOAWAY with its code).
    fn frame(&mut self, frame: Frame<'_>) -> Result<(), ConnectionError>;
    /// A frame that fails only its stream (RFC 9113 section 5.4.2): reset it and go on.
    fn stream_error(&mut self, stream: u32, code: ErrorCode);
}

/// Parses the whole frames at the start of `buf` and hands each to `to`, until more bytes are
/// needed or a connection error: how many bytes were used, and the error if one ended it.
pub fn each(buf: &[u8], max_frame_size: u32, to: &mut impl Dispatch) -> (usize, Result<(), ConnectionError>) {
    let mut at = 0;
    loop {
        match parse(&buf[at..], max_frame_size) {
            Ok(None) => return (at, Ok(())),
            Ok(Some((frame, used))) => {
                at += used;
                if let Err(err) = to.frame(frame) {
                    return (at, Err(err));
                }
            }
            Err(Error::Connection(err)) => return (at, Err(err)),
            Err(Error::Stream {
                stream,
                code,
                consumed,
                ..
            }) => {
                at += consumed;
                to.stream_error(stream, code);
            }
        }
    }
}

pub mod encode;

#[cfg(test)]
mod tests;
