//! Frame encoders: each appends whole frames to a `Vec<u8>`, ready to write. DATA and header
//! blocks are split at the peer's SETTINGS_MAX_FRAME_SIZE; flow control is the caller's.

use super::{flag, kind};
use crate::http2::{ErrorCode, MAX_STREAM_ID, MAX_WINDOW_SIZE, MIN_MAX_FRAME_SIZE};

fn head(out: &mut Vec<u8>, length: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(length < 1 << 24 && stream <= MAX_STREAM_ID);
    out.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & MAX_STREAM_ID).to_be_bytes());
}

/// Appends DATA frames carrying `data` on `stream`, none longer than `max_frame_size` (the
/// peer's), END_STREAM on the last when `end_stream`. Empty `data` makes one empty frame.
/// Flow control is the caller's: it passes only what the windows allow.
pub fn data(out: &mut Vec<u8>, stream: u32, data: &[u8], end_stream: bool, max_frame_size: u32) {
    let mut chunks = data.chunks((max_frame_size as usize).max(1)).peekable();
    if chunks.peek().is_none() {
        head(
            out,
            0,
            kind::DATA,
            if end_stream { flag::END_STREAM } else { 0 },
            stream,
        );
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        head(
            out,
            chunk.len(),
            kind::DATA,
            if end_stream && last { flag::END_STREAM } else { 0 },
            stream,
        );
        out.extend_from_slice(chunk);
    }
}

/// Appends a header block on `stream`: one HEADERS frame, then CONTINUATION frames, none longer
/// than `max_frame_size`; END_HEADERS on the last, END_STREAM (if asked) on the HEADERS frame.
pub fn headers(out: &mut Vec<u8>, stream: u32, block: &[u8], end_stream: bool, max_frame_size: u32) {
    let max = (max_frame_size as usize).max(1);
    let (first, mut rest) = block.split_at(block.len().min(max));
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    if rest.is_empty() {
        flags |= flag::END_HEADERS;
    }
    head(out, first.len(), kind::HEADERS, flags, stream);
    out.extend_from_slice(first);
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(max));
        head(
            out,
            chunk.len(),
            kind::CONTINUATION,
            if tail.is_empty() { flag::END_HEADERS } else { 0 },
            stream,
        );
        out.extend_from_slice(chunk);
        rest = tail;
    }
}

/// Appends a SETTINGS frame with `params` (see [`Settings::params`](crate::http2::Settings::params)).
pub fn settings(out: &mut Vec<u8>, params: &[(u16, u32)]) {
    head(out, params.len() * 6, kind::SETTINGS, 0, 0);
    for (id, value) in params {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Appends a SETTINGS frame with ACK: the answer to the peer's SETTINGS, once applied.
pub fn settings_ack(out: &mut Vec<u8>) {
    head(out, 0, kind::SETTINGS, flag::ACK, 0);
}

/// Appends a PING frame with `payload` (a keepalive or round-trip probe).
pub fn ping(out: &mut Vec<u8>, payload: [u8; 8]) {
    head(out, 8, kind::PING, 0, 0);
    out.extend_from_slice(&payload);
}

/// Appends a PING frame with ACK echoing `payload`: the answer to the peer's PING.
pub fn ping_ack(out: &mut Vec<u8>, payload: [u8; 8]) {
    head(out, 8, kind::PING, flag::ACK, 0);
    out.extend_from_slice(&payload);
}

/// Appends a RST_STREAM frame ending `stream` with `code`.
pub fn rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    head(out, 4, kind::RST_STREAM, 0, stream);
    out.extend_from_slice(&code.to_u32().to_be_bytes());
}

/// Appends a GOAWAY frame: streams above `last_stream` were not processed. `debug` is cut to
/// what fits in the smallest frame size any peer accepts.
pub fn goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode, debug: &[u8]) {
    let debug = &debug[..debug.len().min(MIN_MAX_FRAME_SIZE as usize - 8)];
    head(out, 8 + debug.len(), kind::GOAWAY, 0, 0);
    out.extend_from_slice(&(last_stream & MAX_STREAM_ID).to_be_bytes());
    out.extend_from_slice(&code.to_u32().to_be_bytes());
    out.extend_from_slice(debug);
}

/// Appends a WINDOW_UPDATE frame for `stream` (0: the connection); `increment` must be in
/// 1..=2^31-1.
pub fn window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    debug_assert!(increment > 0 && increment <= MAX_WINDOW_SIZE);
    head(out, 4, kind::WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&(increment & MAX_WINDOW_SIZE).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http2::frame::{Frame, HEAD_LEN, parse};

    const MAX: u32 = MIN_MAX_FRAME_SIZE;

    /// Every frame in `bytes`, which must parse whole.
    fn all(bytes: &[u8], max: u32) -> Vec<Frame<'_>> {
        let mut frames = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (frame, used) = parse(rest, max).unwrap().unwrap();
            frames.push(frame);
            rest = &rest[used..];
        }
        frames
    }

    #[test]
    fn data_is_split_at_the_max_frame_size_with_end_stream_on_the_last() {
        let mut out = Vec::new();
        data(&mut out, 1, b"abcde", true, 2);
        let want = |data, end_stream| Frame::Data {
            stream: 1,
            end_stream,
            data,
            flow_len: data.len() as u32,
        };
        assert_eq!(
            all(&out, MAX),
            [want(b"ab", false), want(b"cd", false), want(b"e", true)]
        );
        out.clear();
        data(&mut out, 1, b"", true, MAX);
        assert_eq!(all(&out, MAX), [want(b"", true)]);
    }

    #[test]
    fn a_header_block_is_split_into_headers_and_continuation_frames() {
        let mut out = Vec::new();
        headers(&mut out, 3, b"abcde", true, 2);
        let cont = |fragment, end_headers| Frame::Continuation {
            stream: 3,
            end_headers,
            fragment,
        };
        let first = Frame::Headers {
            stream: 3,
            end_stream: true,
            end_headers: false,
            priority: None,
            fragment: b"ab",
        };
        assert_eq!(all(&out, MAX), [first, cont(b"cd", false), cont(b"e", true)]);
        out.clear();
        headers(&mut out, 3, b"ab", false, 2);
        let only = Frame::Headers {
            stream: 3,
            end_stream: false,
            end_headers: true,
            priority: None,
            fragment: b"ab",
        };
        assert_eq!(all(&out, MAX), [only]);
    }

    #[test]
    fn control_frames_round_trip() {
        let mut out = Vec::new();
        settings(&mut out, &[(3, 100), (4, 1 << 20)]);
        settings_ack(&mut out);
        ping(&mut out, *b"pingpong");
        ping_ack(&mut out, *b"pingpong");
        rst_stream(&mut out, 7, ErrorCode::RefusedStream);
        goaway(&mut out, 9, ErrorCode::NoError, b"bye");
        window_update(&mut out, 0, 1 << 20);
        let want = [
            Frame::Settings {
                ack: false,
                params: vec![(3, 100), (4, 1 << 20)],
            },
            Frame::Settings {
                ack: true,
                params: vec![],
            },
            Frame::Ping {
                ack: false,
                payload: *b"pingpong",
            },
            Frame::Ping {
                ack: true,
                payload: *b"pingpong",
            },
            Frame::RstStream {
                stream: 7,
                code: ErrorCode::RefusedStream,
            },
            Frame::GoAway {
                last_stream: 9,
                code: ErrorCode::NoError,
                debug: b"bye",
            },
            Frame::WindowUpdate {
                stream: 0,
                increment: 1 << 20,
            },
        ];
        assert_eq!(all(&out, MAX), want);
    }

    #[test]
    fn goaway_debug_data_is_cut_to_fit_any_peer() {
        let mut out = Vec::new();
        goaway(&mut out, 1, ErrorCode::InternalError, &[b'x'; 20_000]);
        assert_eq!(out.len(), HEAD_LEN + MAX as usize);
        assert!(
            matches!(all(&out, MAX)[..], [Frame::GoAway { debug, .. }] if debug.len() == MAX as usize - 8)
        );
    }
}
