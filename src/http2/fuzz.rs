//! The fuzzing entry points (`fuzz/`): each runs the codec over arbitrary bytes and asserts
//! what must hold for every input, so a fuzzer's crash is a broken invariant, not just a panic.

use super::frame::{self, Error, Frame, HEAD_LEN, Head, encode};
use super::hpack::{self, Decoder, Encoder, Header, huffman, table::entry_size};
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

/// Decodes `bytes[1..]` as the header blocks of one connection, each a 2-byte big-endian
/// length and its bytes, with `bytes[0]` choosing our SETTINGS_HEADER_TABLE_SIZE (0, 64, 256 or
/// 4096, so that the first block may owe a size update) and the header list limit (64 bytes to
/// 1 MiB). Checks that what reaches the caller never passes the limit, that the dynamic table
/// stays within its size, that an oversized list leaves the connection usable, and that every
/// decoded list goes through our encoder (Huffman or not) and back unchanged. Each block is also
/// tried as a Huffman string, which must re-encode to the same bytes.
/// For fuzzing (`fuzz/`): it must return, without panicking, for any input.
#[doc(hidden)]
pub fn fuzz_hpack(bytes: &[u8]) {
    let Some((&config, mut rest)) = bytes.split_first() else {
        return;
    };
    let table_size = [0, 64, 256, 4096][usize::from(config & 3)];
    let max_list = [64, 1024, 16 * 1024, 1 << 20][usize::from(config >> 2 & 3)];
    let mut decoder = Decoder::new(4096, max_list);
    decoder.set_header_table_size(table_size);
    // Our encoder talking to a peer that advertised the same table size, across blocks.
    let (mut encoder, mut peer) = (Encoder::new(), Decoder::new(4096, usize::MAX));
    encoder.set_header_table_size(table_size);
    peer.set_header_table_size(table_size);
    while !rest.is_empty() {
        let len = match rest {
            [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
            _ => 0,
        };
        let (block, tail) = rest[rest.len().min(2)..].split_at(len.min(rest.len().saturating_sub(2)));
        rest = tail;
        huffman_round_trip(block);
        let (mut fields, mut emitted) = (Vec::new(), 0usize);
        let result = decoder.decode_with(block, |name, value, sensitive| {
            emitted += entry_size(name, value);
            fields.push(Header {
                name: name.to_vec(),
                value: value.to_vec(),
                sensitive,
            });
        });
        assert!(
            emitted <= max_list,
            "{emitted} bytes of fields passed the {max_list} limit"
        );
        let table = decoder.table();
        assert!(table.size() <= table.max_size() && table.max_size() <= table_size.max(4096));
        match result {
            Ok(()) => {}
            // The block was decoded to its end: the next one decodes against the same table.
            Err(hpack::Error::HeaderListTooLarge) => continue,
            Err(hpack::Error::Compression(_)) => return,
        }
        let mut out = Vec::new();
        encoder.encode(&fields, &mut out);
        assert_eq!(peer.decode(&out).as_ref(), Ok(&fields));
        let mut plain = Encoder::new();
        plain.set_huffman(false);
        out.clear();
        plain.encode(&fields, &mut out);
        assert_eq!(Decoder::new(4096, usize::MAX).decode(&out), Ok(fields));
    }
}

/// Valid padding is unique (under 8 bits, all ones), so a string that decodes re-encodes to
/// exactly its bytes.
fn huffman_round_trip(coded: &[u8]) {
    let mut plain = Vec::new();
    if huffman::decode(coded, &mut plain).is_ok() {
        assert!(plain.len() <= coded.len() * 8 / 5);
        let mut again = Vec::new();
        huffman::encode(&plain, &mut again);
        assert_eq!(again, coded);
    }
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

    #[test]
    fn fuzz_hpack_entry_decodes_length_prefixed_blocks() {
        // Table 0, limit 16 KiB: the first block is the size update it owes.
        let mut bytes = vec![0b1000, 0, 1, 0x20];
        bytes.extend_from_slice(&[0, 3, 0x82, 0x86, 0x84]);
        bytes.extend_from_slice(&[0, 1, 0xbe]); // bad index: the connection ends here
        bytes.extend_from_slice(&[0, 1, 0x82]);
        fuzz_hpack(&bytes);
        fuzz_hpack(&[0b1111, 0, 2, 0x20, 0x82, 9]); // a block of 2, then a truncated length
        fuzz_hpack(&[0, 0xff, 0xff, 0x82]); // a length past the end
        fuzz_hpack(&[]);
    }
}
