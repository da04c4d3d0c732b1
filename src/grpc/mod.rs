//! The pure pieces of gRPC that the server and the client share (protocol.md section 9): no
//! I/O, no threads, nothing about HTTP/2 itself.
//!
//! - [`framing`]: length-prefixed messages; the [`framing::Deframer`] cuts DATA payloads.
//! - [`status`]: status codes, the go-micro tables both ways, `grpc-message`.
//! - [`timeout`]: `grpc-timeout`, go-micro's `timeout`, the request's budget.
//! - [`path`]: `/<prefix.>Service/Method` to endpoint, and back for a client.
//! - [`content`]: gRPC content types and the codec choice.
//! - [`headers`]: which headers become metadata; `-bin` values through [`b64`] (base64).
//! - [`health`]: the `grpc.health.v1` messages.

pub mod b64;
pub mod content;
pub mod framing;
pub mod headers;
pub mod health;
pub mod path;
pub mod status;
pub mod timeout;

use framing::{Deframer, PREFIX};

/// Fuzzing entry: `bytes[0]` seeds the payload sizes, the rest is a message stream for a
/// deframer with a 1 KiB limit. It is cut twice, whole and in seeded slices, and checks that
/// both cuts agree, that the messages re-frame to the start of the stream, and that the
/// deframer never holds more than one message past its limit. It returns each message's length,
/// then the stream's error code (from `next` or `finish`) if it has one.
#[doc(hidden)]
pub fn fuzz_grpc_deframe(bytes: &[u8]) -> Vec<Result<usize, u32>> {
    const MAX: usize = 1024;
    let Some((&seed, stream)) = bytes.split_first() else {
        return Vec::new();
    };
    let (whole, messages) = deframe(stream, &[stream.len().max(1)], MAX);
    let sizes = [1 + usize::from(seed % 7), 1, 5 + usize::from(seed / 7 % 17), 4096];
    let (sliced, _) = deframe(stream, &sizes, MAX);
    assert_eq!(whole, sliced, "payload boundaries changed the messages");
    let mut reframed = Vec::new();
    for message in &messages {
        assert!(message.len() <= MAX);
        framing::encode(message, &mut reframed).expect("small messages frame");
    }
    assert!(
        stream.starts_with(&reframed),
        "messages do not re-frame to the stream"
    );
    whole
}

/// Feeds `stream` in slices cycling through `sizes`, taking messages after each one.
fn deframe(stream: &[u8], sizes: &[usize], max: usize) -> (Vec<Result<usize, u32>>, Vec<Vec<u8>>) {
    let mut deframer = Deframer::with_max(max);
    let (mut seen, mut messages) = (Vec::new(), Vec::new());
    let mut rest = stream;
    for &size in sizes.iter().cycle() {
        let (slice, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        deframer.push(slice);
        assert!(
            deframer.buffered() <= PREFIX + max + slice.len(),
            "held {}",
            deframer.buffered()
        );
        loop {
            match deframer.next() {
                Ok(Some(message)) => {
                    seen.push(Ok(message.len()));
                    messages.push(message);
                }
                Ok(None) => break,
                Err(status) => {
                    seen.push(Err(status.code.value()));
                    return (seen, messages);
                }
            }
        }
        if rest.is_empty() {
            break;
        }
    }
    if let Err(status) = deframer.finish() {
        seen.push(Err(status.code.value()));
    }
    (seen, messages)
}

#[cfg(test)]
mod tests {
    use super::fuzz_grpc_deframe;

    #[test]
    fn fuzz_entry_reports_messages_then_the_error() {
        assert_eq!(fuzz_grpc_deframe(b""), []);
        assert_eq!(fuzz_grpc_deframe(b"\x03"), []);
        assert_eq!(
            fuzz_grpc_deframe(b"\x03\x00\x00\x00\x00\x02hi\x00\x00\x00\x00\x00"),
            [Ok(2), Ok(0)]
        );
        assert_eq!(fuzz_grpc_deframe(b"\x09\x00\x00\x00\x00\x02h"), [Err(13)]);
        assert_eq!(fuzz_grpc_deframe(b"\x09\x00\x00\x00\x04\x01"), [Err(8)]);
        assert_eq!(
            fuzz_grpc_deframe(b"\x09\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01a"),
            [Ok(0), Err(12)]
        );
        assert_eq!(fuzz_grpc_deframe(b"\x09\x07"), [Err(13)]);
        assert_eq!(fuzz_grpc_deframe(b"\x09\x07\x00\x00\x00\x00"), [Err(13)]);
        assert_eq!(fuzz_grpc_deframe(b"\x09\x00\x00\x00\x00\x01"), [Err(13)]);
    }
}
