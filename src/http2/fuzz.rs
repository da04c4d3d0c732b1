//! The fuzzing entry points (`fuzz/`): each runs the codec over arbitrary bytes and asserts
//! what must hold for every input, so a fuzzer's crash is a broken invariant, not just a panic.

use super::frame::{self, Error, Frame, HEAD_LEN, Head, encode};
use super::{MAX_MAX_FRAME_SIZE, MAX_STREAM_ID, MIN_MAX_FRAME_SIZE, Settings};

/// Reads `bytes[1..]` as a connection reads frames, one after another, with our max frame size
/// 16384 or 2^24-1 (`bytes[0]`'s low bit), until more bytes are needed or a connection error.
/// Checks that no frame takes more than it was given, that a stream error skips exactly its
/// frame, and that every frame with an encoder re-encodes to bytes that parse back to it.
/// For fuzzing (`fuzz/`): it must return, without panicking, for any input.
#[doc(hidden)]
pub fn fuzz_h2_frames(bytes: &[u8]) {
    let Some((&first, mut rest)) = bytes.split_first() else {
        return;
    };
    let max = if first & 1 == 0 {
        MIN_MAX_FRAME_SIZE
    } else {
        MAX_MAX_FRAME_SIZE
    };
    loop {
        match frame::parse(rest, max) {
            Ok(None) => {
                let whole = Head::parse(rest).map(|h| HEAD_LEN + h.length as usize);
                assert!(
                    whole.is_none_or(|n| n > rest.len()),
                    "more bytes asked with a frame there"
                );
                return;
            }
            Ok(Some((frame, used))) => {
                let head = Head::parse(rest).expect("a frame has a header");
                assert_eq!(used, HEAD_LEN + head.length as usize);
                assert!(used <= rest.len() && head.length <= max);
                round_trip(&frame, max);
                rest = &rest[used..];
            }
            Err(Error::Stream { stream, consumed, .. }) => {
                assert!(stream != 0 && (HEAD_LEN..=rest.len()).contains(&consumed));
                rest = &rest[consumed..];
            }
            Err(Error::Connection(_)) => return,
        }
    }
}

/// Encodes what `frame` says with our encoders and checks it parses back the same.
fn round_trip(frame: &Frame, max: u32) {
    let mut out = Vec::new();
    let want = match *frame {
        Frame::Data {
            stream,
            end_stream,
            data,
            flow_len,
        } => {
            assert!(data.len() <= flow_len as usize);
            encode::data(&mut out, stream, data, end_stream, max);
            Frame::Data {
                stream,
                end_stream,
                data,
                flow_len: data.len() as u32,
            }
        }
        Frame::Headers {
            stream,
            end_stream,
            fragment,
            ..
        } => {
            encode::headers(&mut out, stream, fragment, end_stream, max);
            Frame::Headers {
                stream,
                end_stream,
                end_headers: true,
                priority: None,
                fragment,
            }
        }
        Frame::Settings { ack, ref params } => {
            assert!(
                Settings::default().apply(params).is_ok(),
                "parsed settings are valid"
            );
            match ack {
                true => encode::settings_ack(&mut out),
                false => encode::settings(&mut out, params),
            }
            frame.clone()
        }
        Frame::Ping { ack, payload } => {
            match ack {
                true => encode::ping_ack(&mut out, payload),
                false => encode::ping(&mut out, payload),
            }
            frame.clone()
        }
        Frame::RstStream { stream, code } => {
            encode::rst_stream(&mut out, stream, code);
            frame.clone()
        }
        Frame::GoAway {
            last_stream,
            code,
            debug,
        } => {
            encode::goaway(&mut out, last_stream, code, debug);
            let debug = &debug[..debug.len().min(MIN_MAX_FRAME_SIZE as usize - 8)];
            Frame::GoAway {
                last_stream,
                code,
                debug,
            }
        }
        Frame::WindowUpdate { stream, increment } => {
            assert!(increment != 0 && increment <= MAX_STREAM_ID);
            encode::window_update(&mut out, stream, increment);
            frame.clone()
        }
        Frame::Priority { stream, .. }
        | Frame::PushPromise { stream, .. }
        | Frame::Continuation { stream, .. } => {
            assert!(stream != 0 && stream <= MAX_STREAM_ID);
            return;
        }
        Frame::Unknown { .. } => return,
    };
    assert_eq!(frame::parse(&out, max), Ok(Some((want, out.len()))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_frames_entry_reads_frames_until_an_error_or_the_end() {
        let mut bytes = vec![0];
        encode::settings(&mut bytes, &[(4, 1 << 20)]);
        encode::headers(&mut bytes, 1, b"\x82\x86", false, 16_384);
        encode::data(&mut bytes, 1, b"hello", true, 16_384);
        encode::goaway(&mut bytes, 1, super::super::ErrorCode::NoError, b"bye");
        bytes.extend_from_slice(&[0, 0, 4, 8, 0, 0, 0, 0, 1, 0, 0, 0, 0]); // WINDOW_UPDATE 0: stream error
        encode::ping(&mut bytes, *b"12345678");
        bytes.extend_from_slice(b"\0\0\x05\x00"); // a partial frame
        fuzz_h2_frames(&bytes);
        fuzz_h2_frames(&[1, 0, 0, 0, 4, 0, 0, 0, 0, 1]); // SETTINGS on a stream
        fuzz_h2_frames(&[]);
    }
}
