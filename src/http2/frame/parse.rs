//! Parsing one frame from a byte slice, with every RFC 9113 section 6 rule a lone frame can
//! break.

use super::{Error, Frame, HEAD_LEN, Head, Priority, flag, kind};
use crate::http2::{ConnectionError, ErrorCode, MAX_STREAM_ID, MAX_WINDOW_SIZE, check_setting};

fn protocol(reason: &'static str) -> Error {
    Error::Connection(ConnectionError::protocol(reason))
}

fn frame_size(reason: &'static str) -> Error {
    Error::Connection(ConnectionError::frame_size(reason))
}

/// Parses the frame at the start of `bytes`, whose payload may be at most `max_frame_size`
/// (our SETTINGS_MAX_FRAME_SIZE). Returns `Ok(None)` while more bytes are needed, else the
/// frame and how many bytes it took. A header announcing too long a payload fails at once,
/// before its payload arrives, so no one can make the caller buffer more than it allows.
pub fn parse(bytes: &[u8], max_frame_size: u32) -> Result<Option<(Frame<'_>, usize)>, Error> {
    let Some(head) = Head::parse(bytes) else {
        return Ok(None);
    };
    if head.length > max_frame_size {
        return Err(frame_size("frame larger than SETTINGS_MAX_FRAME_SIZE"));
    }
    let end = HEAD_LEN + head.length as usize;
    let Some(payload) = bytes.get(HEAD_LEN..end) else {
        return Ok(None);
    };
    let stream_error = |code, reason| Error::Stream {
        stream: head.stream,
        code,
        reason,
        consumed: end,
    };
    let frame = match head.kind {
        kind::DATA => Frame::Data {
            stream: on_stream(head)?,
            end_stream: head.has(flag::END_STREAM),
            data: unpad(head, payload, 0)?,
            flow_len: head.length,
        },
        kind::HEADERS => {
            let stream = on_stream(head)?;
            let fixed = if head.has(flag::PRIORITY) { 5 } else { 0 };
            let block = unpad(head, payload, fixed)?;
            Frame::Headers {
                stream,
                end_stream: head.has(flag::END_STREAM),
                end_headers: head.has(flag::END_HEADERS),
                priority: (fixed > 0).then(|| Priority::parse(block)),
                fragment: &block[fixed..],
            }
        }
        kind::PRIORITY => {
            let stream = on_stream(head)?;
            if payload.len() != 5 {
                return Err(stream_error(ErrorCode::FrameSizeError, "PRIORITY length not 5"));
            }
            let priority = Priority::parse(payload);
            if priority.dependency == stream {
                return Err(stream_error(ErrorCode::ProtocolError, "stream depends on itself"));
            }
            Frame::Priority { stream, priority }
        }
        kind::RST_STREAM => {
            let stream = on_stream(head)?;
            let code = word(payload, "RST_STREAM length not 4")?;
            Frame::RstStream {
                stream,
                code: ErrorCode::from_u32(code),
            }
        }
        kind::SETTINGS => settings(head, payload)?,
        kind::PUSH_PROMISE => {
            let stream = on_stream(head)?;
            let block = unpad(head, payload, 4)?;
            Frame::PushPromise {
                stream,
                promised: u32::from_be_bytes([block[0], block[1], block[2], block[3]]) & MAX_STREAM_ID,
                end_headers: head.has(flag::END_HEADERS),
                fragment: &block[4..],
            }
        }
        kind::PING => {
            on_connection(head, "PING on a stream")?;
            let payload: [u8; 8] = payload.try_into().map_err(|_| frame_size("PING length not 8"))?;
            Frame::Ping {
                ack: head.has(flag::ACK),
                payload,
            }
        }
        kind::GOAWAY => {
            on_connection(head, "GOAWAY on a stream")?;
            if payload.len() < 8 {
                return Err(frame_size("GOAWAY shorter than 8"));
            }
            let (fixed, debug) = payload.split_at(8);
            Frame::GoAway {
                last_stream: u32::from_be_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]) & MAX_STREAM_ID,
                code: ErrorCode::from_u32(u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]])),
                debug,
            }
        }
        kind::WINDOW_UPDATE => {
            let increment = word(payload, "WINDOW_UPDATE length not 4")? & MAX_WINDOW_SIZE;
            match (increment, head.stream) {
                (0, 0) => return Err(protocol("WINDOW_UPDATE of 0 on the connection")),
                (0, _) => return Err(stream_error(ErrorCode::ProtocolError, "WINDOW_UPDATE of 0")),
                _ => Frame::WindowUpdate {
                    stream: head.stream,
                    increment,
                },
            }
        }
        kind::CONTINUATION => Frame::Continuation {
            stream: on_stream(head)?,
            end_headers: head.has(flag::END_HEADERS),
            fragment: payload,
        },
        other => Frame::Unknown { kind: other },
    };
    Ok(Some((frame, end)))
}

/// The stream id of a frame that must be on a stream.
fn on_stream(head: Head) -> Result<u32, Error> {
    match head.stream {
        0 => Err(protocol("frame needs a stream but came on stream 0")),
        stream => Ok(stream),
    }
}

fn on_connection(head: Head, reason: &'static str) -> Result<(), Error> {
    if head.stream == 0 {
        Ok(())
    } else {
        Err(protocol(reason))
    }
}

/// A payload that must be exactly one 32-bit word (RST_STREAM, WINDOW_UPDATE).
fn word(payload: &[u8], reason: &'static str) -> Result<u32, Error> {
    let b: [u8; 4] = payload.try_into().map_err(|_| frame_size(reason))?;
    Ok(u32::from_be_bytes(b))
}

/// The payload without its Pad Length field and padding, when PADDED is set. `fixed` bytes of
/// fields that precede the fragment (priority, promised stream) must remain.
fn unpad(head: Head, payload: &[u8], fixed: usize) -> Result<&[u8], Error> {
    let (pad, body) = if head.has(flag::PADDED) {
        let (&pad, body) = payload
            .split_first()
            .ok_or(frame_size("PADDED frame without Pad Length"))?;
        (pad as usize, body)
    } else {
        (0, payload)
    };
    if body.len() < fixed {
        return Err(frame_size("frame too short for its fields"));
    }
    // RFC 9113 6.1/6.2: padding as long as the payload (or eating into the fields) is a
    // PROTOCOL_ERROR, not a FRAME_SIZE_ERROR.
    if pad > body.len() - fixed {
        return Err(protocol("padding longer than the payload"));
    }
    Ok(&body[..body.len() - pad])
}

fn settings(head: Head, payload: &[u8]) -> Result<Frame<'static>, Error> {
    on_connection(head, "SETTINGS on a stream")?;
    let ack = head.has(flag::ACK);
    if ack && !payload.is_empty() {
        return Err(frame_size("SETTINGS ACK with a payload"));
    }
    if !payload.len().is_multiple_of(6) {
        return Err(frame_size("SETTINGS length not a multiple of 6"));
    }
    let mut params = Vec::with_capacity(payload.len() / 6);
    for p in payload.chunks_exact(6) {
        let (id, value) = (
            u16::from_be_bytes([p[0], p[1]]),
            u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
        );
        check_setting(id, value)?;
        params.push((id, value));
    }
    Ok(Frame::Settings { ack, params })
}
