//! Unit tests of the frame codec: one per RFC 9113 rule, then the encoders' round trips.

use super::*;
use crate::http2::{MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE, MIN_MAX_FRAME_SIZE};

const MAX: u32 = MIN_MAX_FRAME_SIZE;

/// The bytes of one frame.
fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Checks that `bytes` parse whole as `want`.
fn is(bytes: &[u8], want: Frame) {
    let (frame, used) = parse(bytes, MAX).unwrap().unwrap();
    assert_eq!((frame, used), (want, bytes.len()));
}

fn conn_err(bytes: &[u8]) -> ErrorCode {
    match parse(bytes, MAX) {
        Err(Error::Connection(e)) => e.code,
        other => panic!("want a connection error, got {other:?}"),
    }
}

/// The stream error's (stream, code), checking that it skips the whole frame.
fn stream_err(bytes: &[u8]) -> (u32, ErrorCode) {
    match parse(bytes, MAX) {
        Err(Error::Stream {
            stream,
            code,
            consumed,
            ..
        }) => {
            assert_eq!(consumed, bytes.len());
            (stream, code)
        }
        other => panic!("want a stream error, got {other:?}"),
    }
}

use ErrorCode::{FlowControlError as FLOW, FrameSizeError as SIZE, ProtocolError as PROTO};

#[test]
fn the_header_is_parsed_and_the_reserved_bit_ignored() {
    let head = Head::parse(&[0, 1, 2, 7, 0x25, 0x80, 0, 0, 3]).unwrap();
    assert_eq!(
        head,
        Head {
            length: 258,
            kind: 7,
            flags: 0x25,
            stream: 3
        }
    );
}

#[test]
fn a_partial_header_or_payload_needs_more_bytes() {
    let bytes = raw(kind::PING, 0, 0, &[1; 8]);
    for cut in 0..bytes.len() {
        assert_eq!(parse(&bytes[..cut], MAX), Ok(None), "{cut}");
    }
}

#[test]
fn a_frame_over_the_max_size_fails_before_its_payload_arrives() {
    let mut bytes = raw(kind::DATA, 0, 1, &vec![0; MAX as usize + 1]);
    assert_eq!(conn_err(&bytes[..HEAD_LEN]), SIZE);
    assert_eq!(conn_err(&bytes), SIZE);
    assert!(
        parse(&bytes, MAX + 1).unwrap().is_some(),
        "a larger advertised max allows it"
    );
    bytes.truncate(HEAD_LEN + MAX as usize);
    bytes[..3].copy_from_slice(&MAX.to_be_bytes()[1..]);
    assert!(parse(&bytes, MAX).unwrap().is_some(), "exactly the max is fine");
}

#[test]
fn frames_follow_each_other_by_their_consumed_length() {
    let mut bytes = raw(kind::PING, 0, 0, &[1; 8]);
    bytes.extend(raw(kind::SETTINGS, flag::ACK, 0, &[]));
    let (_, used) = parse(&bytes, MAX).unwrap().unwrap();
    is(
        &bytes[used..],
        Frame::Settings {
            ack: true,
            params: vec![],
        },
    );
}

#[test]
fn data_loses_its_padding_but_flow_control_counts_it() {
    is(
        &raw(kind::DATA, flag::PADDED | flag::END_STREAM, 1, b"\x03abc\0\0\0"),
        Frame::Data {
            stream: 1,
            end_stream: true,
            data: b"abc",
            flow_len: 7,
        },
    );
    is(
        &raw(kind::DATA, flag::PADDED, 1, b"\x02\0\0"),
        Frame::Data {
            stream: 1,
            end_stream: false,
            data: b"",
            flow_len: 3,
        },
    );
}

#[test]
fn data_on_stream_0_is_a_protocol_error() {
    assert_eq!(conn_err(&raw(kind::DATA, 0, 0, b"x")), PROTO);
}

#[test]
fn padding_as_long_as_the_payload_is_a_protocol_error() {
    assert_eq!(conn_err(&raw(kind::DATA, flag::PADDED, 1, b"\x03\0\0")), PROTO);
    assert_eq!(conn_err(&raw(kind::HEADERS, flag::PADDED, 1, b"\x02\0")), PROTO);
    assert_eq!(
        conn_err(&raw(kind::PUSH_PROMISE, flag::PADDED, 1, b"\x01\0\0\0\x02")),
        PROTO
    );
}

#[test]
fn a_padded_frame_without_a_pad_length_is_a_frame_size_error() {
    assert_eq!(conn_err(&raw(kind::DATA, flag::PADDED, 1, b"")), SIZE);
}

#[test]
fn headers_keep_flags_priority_and_fragment_without_padding() {
    let payload = b"\x01\x80\0\0\x05\x0fhpack\0";
    let priority = Some(Priority {
        dependency: 5,
        exclusive: true,
        weight: 15,
    });
    let want = Frame::Headers {
        stream: 3,
        end_stream: false,
        end_headers: true,
        priority,
        fragment: b"hpack",
    };
    is(
        &raw(
            kind::HEADERS,
            flag::PADDED | flag::PRIORITY | flag::END_HEADERS,
            3,
            payload,
        ),
        want,
    );
    let want = Frame::Headers {
        stream: 3,
        end_stream: true,
        end_headers: false,
        priority: None,
        fragment: b"hp",
    };
    is(&raw(kind::HEADERS, flag::END_STREAM, 3, b"hp"), want);
}

#[test]
fn headers_too_short_for_priority_fields_is_a_frame_size_error() {
    assert_eq!(conn_err(&raw(kind::HEADERS, flag::PRIORITY, 1, b"\0\0\0")), SIZE);
}

#[test]
fn padding_that_eats_into_the_priority_fields_is_a_protocol_error() {
    assert_eq!(
        conn_err(&raw(
            kind::HEADERS,
            flag::PADDED | flag::PRIORITY,
            1,
            b"\x01\0\0\0\0\0"
        )),
        PROTO
    );
}

#[test]
fn headers_on_stream_0_is_a_protocol_error() {
    assert_eq!(
        conn_err(&raw(kind::HEADERS, flag::END_HEADERS, 0, b"\x82")),
        PROTO
    );
}

#[test]
fn priority_is_parsed_and_needs_a_stream() {
    let priority = Priority {
        dependency: 1,
        exclusive: false,
        weight: 16,
    };
    is(
        &raw(kind::PRIORITY, 0, 3, b"\0\0\0\x01\x10"),
        Frame::Priority { stream: 3, priority },
    );
    assert_eq!(conn_err(&raw(kind::PRIORITY, 0, 0, b"\0\0\0\x01\x10")), PROTO);
}

#[test]
fn priority_of_a_length_other_than_5_is_a_stream_frame_size_error() {
    assert_eq!(stream_err(&raw(kind::PRIORITY, 0, 3, b"\0\0\0\x01")), (3, SIZE));
    assert_eq!(
        stream_err(&raw(kind::PRIORITY, 0, 3, b"\0\0\0\x01\0\0")),
        (3, SIZE)
    );
}

#[test]
fn a_stream_depending_on_itself_is_a_stream_protocol_error() {
    assert_eq!(
        stream_err(&raw(kind::PRIORITY, 0, 3, b"\x80\0\0\x03\x10")),
        (3, PROTO)
    );
}

#[test]
fn rst_stream_keeps_unknown_codes_needs_a_stream_and_4_bytes() {
    is(
        &raw(kind::RST_STREAM, 0, 5, &0x99u32.to_be_bytes()),
        Frame::RstStream {
            stream: 5,
            code: ErrorCode::Unknown(0x99),
        },
    );
    assert_eq!(conn_err(&raw(kind::RST_STREAM, 0, 0, &[0; 4])), PROTO);
    assert_eq!(conn_err(&raw(kind::RST_STREAM, 0, 5, &[0; 5])), SIZE);
    assert_eq!(conn_err(&raw(kind::RST_STREAM, 0, 5, &[0; 3])), SIZE);
}

#[test]
fn settings_keep_their_parameters_in_order_unknown_ids_included() {
    let payload = [0, 4, 0, 1, 0, 0, 0, 0x33, 0, 0, 0, 7, 0, 4, 0, 0, 0, 9];
    is(
        &raw(kind::SETTINGS, 0, 0, &payload),
        Frame::Settings {
            ack: false,
            params: vec![(4, 65536), (0x33, 7), (4, 9)],
        },
    );
}

#[test]
fn settings_on_a_stream_is_a_protocol_error() {
    assert_eq!(conn_err(&raw(kind::SETTINGS, 0, 1, &[])), PROTO);
}

#[test]
fn a_settings_ack_with_a_payload_is_a_frame_size_error() {
    assert_eq!(
        conn_err(&raw(kind::SETTINGS, flag::ACK, 0, &[0, 3, 0, 0, 0, 1])),
        SIZE
    );
}

#[test]
fn settings_of_a_length_not_a_multiple_of_6_is_a_frame_size_error() {
    assert_eq!(conn_err(&raw(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0])), SIZE);
}

#[test]
fn settings_values_are_checked_as_section_6_5_2_says() {
    assert_eq!(conn_err(&raw(kind::SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0])), FLOW);
    assert_eq!(
        conn_err(&raw(kind::SETTINGS, 0, 0, &[0, 5, 0, 0, 0x3f, 0xff])),
        PROTO
    );
    assert_eq!(conn_err(&raw(kind::SETTINGS, 0, 0, &[0, 5, 1, 0, 0, 0])), PROTO);
    assert_eq!(conn_err(&raw(kind::SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 2])), PROTO);
    let max = MAX_MAX_FRAME_SIZE.to_be_bytes();
    assert!(
        parse(
            &raw(kind::SETTINGS, 0, 0, &[0, 5, max[0], max[1], max[2], max[3]]),
            MAX
        )
        .is_ok()
    );
}

#[test]
fn push_promise_is_parsed_for_the_connection_to_refuse() {
    is(
        &raw(
            kind::PUSH_PROMISE,
            flag::END_HEADERS | flag::PADDED,
            1,
            b"\x01\x80\0\0\x02\x82\0",
        ),
        Frame::PushPromise {
            stream: 1,
            promised: 2,
            end_headers: true,
            fragment: b"\x82",
        },
    );
    assert_eq!(conn_err(&raw(kind::PUSH_PROMISE, 0, 0, b"\0\0\0\x02")), PROTO);
    assert_eq!(conn_err(&raw(kind::PUSH_PROMISE, 0, 1, b"\0\0\0")), SIZE);
}

#[test]
fn ping_is_8_bytes_on_stream_0() {
    is(
        &raw(kind::PING, flag::ACK, 0, b"12345678"),
        Frame::Ping {
            ack: true,
            payload: *b"12345678",
        },
    );
    assert_eq!(conn_err(&raw(kind::PING, 0, 1, b"12345678")), PROTO);
    assert_eq!(conn_err(&raw(kind::PING, 0, 0, b"1234567")), SIZE);
    assert_eq!(conn_err(&raw(kind::PING, 0, 0, b"123456789")), SIZE);
}

#[test]
fn goaway_keeps_its_debug_data_and_needs_8_bytes_on_stream_0() {
    let want = Frame::GoAway {
        last_stream: 7,
        code: ErrorCode::EnhanceYourCalm,
        debug: b"calm",
    };
    is(&raw(kind::GOAWAY, 0, 0, b"\x80\0\0\x07\0\0\0\x0bcalm"), want);
    assert_eq!(conn_err(&raw(kind::GOAWAY, 0, 1, &[0; 8])), PROTO);
    assert_eq!(conn_err(&raw(kind::GOAWAY, 0, 0, &[0; 7])), SIZE);
}

#[test]
fn window_update_ignores_the_reserved_bit_and_needs_4_bytes() {
    is(
        &raw(kind::WINDOW_UPDATE, 0, 0, &[0xff, 0xff, 0xff, 0xff]),
        Frame::WindowUpdate {
            stream: 0,
            increment: MAX_WINDOW_SIZE,
        },
    );
    assert_eq!(conn_err(&raw(kind::WINDOW_UPDATE, 0, 1, &[0, 0, 1])), SIZE);
    assert_eq!(conn_err(&raw(kind::WINDOW_UPDATE, 0, 1, &[0, 0, 0, 1, 0])), SIZE);
}

#[test]
fn a_zero_window_update_fails_the_connection_on_stream_0_and_only_the_stream_elsewhere() {
    assert_eq!(conn_err(&raw(kind::WINDOW_UPDATE, 0, 0, &[0x80, 0, 0, 0])), PROTO);
    assert_eq!(
        stream_err(&raw(kind::WINDOW_UPDATE, 0, 9, &[0, 0, 0, 0])),
        (9, PROTO)
    );
}

#[test]
fn continuation_needs_a_stream() {
    is(
        &raw(kind::CONTINUATION, flag::END_HEADERS, 1, b"\x82"),
        Frame::Continuation {
            stream: 1,
            end_headers: true,
            fragment: b"\x82",
        },
    );
    assert_eq!(conn_err(&raw(kind::CONTINUATION, 0, 0, b"\x82")), PROTO);
}

#[test]
fn unknown_frame_types_and_flags_are_ignored() {
    is(&raw(0xfa, 0xff, 0, b"anything"), Frame::Unknown { kind: 0xfa });
    is(
        &raw(kind::PING, 0xfe, 0, b"12345678"),
        Frame::Ping {
            ack: false,
            payload: *b"12345678",
        },
    );
}

/// What `each` saw: frame kinds handed on, streams reset.
#[derive(Default)]
struct Seen {
    frames: Vec<u8>,
    resets: Vec<(u32, ErrorCode)>,
}

impl Dispatch for Seen {
    fn frame(&mut self, frame: Frame<'_>) -> Result<(), ConnectionError> {
        self.frames.push(match frame {
            Frame::Ping { .. } => kind::PING,
            Frame::WindowUpdate { .. } => kind::WINDOW_UPDATE,
            _ => 0xff,
        });
        Ok(())
    }

    fn stream_error(&mut self, stream: u32, code: ErrorCode) {
        self.resets.push((stream, code));
    }
}

#[test]
fn each_hands_on_whole_frames_resets_bad_streams_and_stops_at_a_partial_one() {
    let mut buf = Vec::new();
    encode::ping(&mut buf, [1; 8]);
    buf.extend(raw(kind::WINDOW_UPDATE, 0, 3, &0u32.to_be_bytes())); // stream 3's error only
    encode::window_update(&mut buf, 0, 10);
    let whole = buf.len();
    encode::ping(&mut buf, [2; 8]);
    buf.truncate(buf.len() - 3); // the last PING has not all arrived
    let mut seen = Seen::default();
    let (used, result) = each(&buf, 16_384, &mut seen);
    assert!(result.is_ok());
    assert_eq!(used, whole);
    assert_eq!(seen.frames, [kind::PING, kind::WINDOW_UPDATE]);
    assert_eq!(seen.resets, [(3, ErrorCode::ProtocolError)]);
    let bad = raw(kind::WINDOW_UPDATE, 0, 0, &0u32.to_be_bytes()); // the connection's: fatal
    let (_, result) = each(&bad, 16_384, &mut Seen::default());
    assert_eq!(result.unwrap_err().code, ErrorCode::ProtocolError);
}
