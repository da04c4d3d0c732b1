//! gRPC length-prefixed messages (protocol.md section 9): 1 flag byte, a 4-byte big-endian
//! length, the bytes. DATA frame boundaries mean nothing, so [`Deframer`] takes any slices.

use std::collections::VecDeque;

use crate::error::Error;

use super::status::{Code, Status};

/// The length prefix: a flag byte and a 4-byte big-endian length.
pub const PREFIX: usize = 5;

/// The default message size limit, the body limit (4 MiB).
pub const DEFAULT_MAX: usize = 4 * 1024 * 1024;

/// Appends `message` to `out`, not compressed: flag 0, its length, its bytes. A message over
/// `u32::MAX` bytes cannot be framed: `RESOURCE_EXHAUSTED`, and nothing is appended.
pub fn encode(message: &[u8], out: &mut Vec<u8>) -> Result<(), Status> {
    let Ok(len) = u32::try_from(message.len()) else {
        return Err(FrameError::TooLarge {
            announced: message.len() as u64,
            max: u32::MAX as usize,
        }
        .status());
    };
    out.reserve(PREFIX + message.len());
    out.push(0);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    Ok(())
}

/// Why a stream of messages is broken; kept (it is `Copy`) so that every later call repeats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameError {
    /// A prefix announced more than the limit.
    TooLarge {
        /// The length in the prefix.
        announced: u64,
        /// The limit.
        max: usize,
    },
    /// The compressed flag, and no encoding was negotiated.
    Compressed,
    /// A flag byte other than 0 or 1.
    BadFlag(u8),
    /// The stream ended inside a message: `have` of `want` bytes (prefix included).
    Truncated {
        /// Bytes received.
        have: u64,
        /// Bytes the message needed.
        want: u64,
    },
}

impl FrameError {
    /// The status a stream broken this way ends with.
    fn status(self) -> Status {
        match self {
            FrameError::TooLarge { announced, max } => Status::new(
                Code::ResourceExhausted,
                Error::new(
                    413,
                    format!("grpc message of {announced} bytes is over the limit of {max}"),
                ),
            ),
            FrameError::Compressed => Status::new(
                Code::Unimplemented,
                Error::new(
                    501,
                    "compressed grpc message, and no grpc-encoding was negotiated",
                ),
            ),
            FrameError::BadFlag(flag) => Status::new(
                Code::Internal,
                Error::internal(format!("grpc message with flag byte {flag} (want 0 or 1)")),
            ),
            FrameError::Truncated { have, want } => Status::new(
                Code::Internal,
                Error::internal(format!(
                    "stream ended inside a grpc message ({have} of {want} bytes)"
                )),
            ),
        }
    }
}

/// Cuts a stream of DATA payloads into messages, whatever the payload boundaries.
///
/// Memory is bounded: a message is buffered only after its prefix passed the checks, and never
/// beyond the length it announced (at most the limit); complete messages wait in a queue until
/// [`Deframer::next`] takes them, so a caller takes them after each [`Deframer::push`]. After
/// an error nothing more is buffered, and every later call reports the same error.
#[derive(Debug)]
pub struct Deframer {
    /// The message size limit.
    max: usize,
    /// The prefix being read, `head_len` bytes of it so far.
    head: [u8; PREFIX],
    /// How much of `head` has arrived.
    head_len: usize,
    /// The body of the message being read, once its prefix passed; its announced length.
    body: Option<(Vec<u8>, usize)>,
    /// Complete messages not yet taken.
    ready: VecDeque<Vec<u8>>,
    /// Why the stream is broken, once it is.
    failed: Option<FrameError>,
}

impl Default for Deframer {
    fn default() -> Deframer {
        Deframer::new()
    }
}

impl Deframer {
    /// A deframer with the default limit ([`DEFAULT_MAX`]).
    pub fn new() -> Deframer {
        Deframer::with_max(DEFAULT_MAX)
    }

    /// A deframer refusing messages over `max` bytes.
    pub fn with_max(max: usize) -> Deframer {
        Deframer {
            max,
            head: [0; PREFIX],
            head_len: 0,
            body: None,
            ready: VecDeque::new(),
            failed: None,
        }
    }

    /// Feeds the next bytes of the stream (a DATA frame's payload, or any part of it).
    pub fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.failed.is_none() {
            let Some((body, want)) = &mut self.body else {
                let take = (PREFIX - self.head_len).min(data.len());
                self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
                self.head_len += take;
                data = &data[take..];
                if self.head_len == PREFIX {
                    self.start_message();
                }
                continue;
            };
            let take = (*want - body.len()).min(data.len());
            // Grow to at most the announced length: an announcement alone allocates nothing,
            // and doubling never overshoots it.
            if body.capacity() - body.len() < take {
                let target = (body.capacity() * 2).max(body.len() + take).min(*want);
                body.reserve_exact(target - body.len());
            }
            body.extend_from_slice(&data[..take]);
            data = &data[take..];
            if body.len() == *want {
                self.finish_message();
            }
        }
    }

    /// Checks a complete prefix, then starts the body (or finishes an empty message).
    fn start_message(&mut self) {
        let [flag, len @ ..] = self.head;
        let announced = u32::from_be_bytes(len);
        self.failed = match flag {
            0 if announced as u64 > self.max as u64 => Some(FrameError::TooLarge {
                announced: announced.into(),
                max: self.max,
            }),
            0 => None,
            1 => Some(FrameError::Compressed),
            other => Some(FrameError::BadFlag(other)),
        };
        if self.failed.is_none() {
            self.body = Some((Vec::new(), announced as usize));
            if announced == 0 {
                self.finish_message();
            }
        }
    }

    /// Queues the message just completed and starts reading the next prefix.
    fn finish_message(&mut self) {
        if let Some((body, _)) = self.body.take() {
            self.ready.push_back(body);
        }
        self.head_len = 0;
    }

    /// The next complete message, in order; `None` until more bytes arrive. Once the stream is
    /// broken, the messages before the break come first, then its error (again on every call).
    pub fn next(&mut self) -> Result<Option<Vec<u8>>, Status> {
        match (self.ready.pop_front(), self.failed) {
            (Some(message), _) => Ok(Some(message)),
            (None, Some(err)) => Err(err.status()),
            (None, None) => Ok(None),
        }
    }

    /// At the end of the stream (END_STREAM): an error if it was broken or ended inside a
    /// message. Messages still queued stay for [`Deframer::next`].
    pub fn finish(&self) -> Result<(), Status> {
        if let Some(err) = self.failed {
            return Err(err.status());
        }
        let (have, want) = match &self.body {
            Some((body, want)) => (PREFIX + body.len(), PREFIX + want),
            None if self.head_len > 0 => (self.head_len, PREFIX),
            None => return Ok(()),
        };
        Err(FrameError::Truncated {
            have: have as u64,
            want: want as u64,
        }
        .status())
    }

    /// Bytes held: the message being read and the queued ones (for tests and accounting).
    pub fn buffered(&self) -> usize {
        let current = self
            .body
            .as_ref()
            .map_or(self.head_len, |(body, _)| PREFIX + body.len());
        current + self.ready.iter().map(Vec::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            encode(m, &mut out).unwrap();
        }
        out
    }

    fn drain(d: &mut Deframer) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        while let Some(m) = d.next().unwrap() {
            got.push(m);
        }
        got
    }

    #[test]
    fn encode_writes_flag_length_and_bytes() {
        let mut out = b"x".to_vec();
        encode(b"hi", &mut out).unwrap();
        assert_eq!(out, b"x\x00\x00\x00\x00\x02hi");
        assert_eq!(framed(&[b""]), [0, 0, 0, 0, 0]);
    }

    #[test]
    fn messages_split_across_one_byte_pushes() {
        let messages: [&[u8]; 4] = [b"first", b"", &[7u8; 300], b"last"];
        let stream = framed(&messages);
        let mut d = Deframer::new();
        let mut got = Vec::new();
        for byte in &stream {
            d.push(std::slice::from_ref(byte));
            got.extend(drain(&mut d));
        }
        assert_eq!(got, messages);
        d.finish().unwrap();
    }

    #[test]
    fn many_messages_in_one_push_come_out_in_order() {
        let mut d = Deframer::new();
        d.push(&framed(&[b"a", b"bb", b"ccc"]));
        assert_eq!(drain(&mut d), [&b"a"[..], b"bb", b"ccc"]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn an_announcement_over_the_limit_is_refused_before_its_body_arrives() {
        let mut d = Deframer::new();
        let len = (DEFAULT_MAX as u32 + 1).to_be_bytes();
        d.push(&[0, len[0], len[1]]);
        assert!(d.next().unwrap().is_none());
        d.push(&[len[2], len[3], b'x', b'y']);
        let status = d.next().unwrap_err();
        assert_eq!(
            (status.code, status.error.status()),
            (Code::ResourceExhausted, 413)
        );
        assert!(
            status.error.detail().contains("4194305 bytes"),
            "{}",
            status.error.detail()
        );
        d.push(&[0; 1000]);
        assert_eq!(d.buffered(), PREFIX, "nothing past the prefix is kept");
        assert_eq!(d.next().unwrap_err().code, Code::ResourceExhausted);
        assert_eq!(d.finish().unwrap_err().code, Code::ResourceExhausted);
    }

    #[test]
    fn a_message_of_exactly_the_limit_passes() {
        let mut d = Deframer::with_max(3);
        d.push(&framed(&[b"abc"]));
        assert_eq!(d.next().unwrap().unwrap(), b"abc");
    }

    #[test]
    fn a_large_announcement_allocates_only_what_arrives() {
        let mut d = Deframer::new();
        d.push(&[0, 0, 0x40, 0, 0, 1, 2, 3]);
        assert_eq!(d.buffered(), PREFIX + 3);
        let (body, want) = d.body.as_ref().unwrap();
        assert_eq!(*want, 0x40_0000);
        assert!(body.capacity() < 64, "{}", body.capacity());
    }

    #[test]
    fn messages_before_a_broken_prefix_come_first() {
        let mut d = Deframer::new();
        let mut stream = framed(&[b"ok"]);
        stream.extend_from_slice(&[1, 0, 0, 0, 1, b'z']);
        d.push(&stream);
        assert_eq!(d.next().unwrap().unwrap(), b"ok");
        let status = d.next().unwrap_err();
        assert_eq!((status.code, status.error.status()), (Code::Unimplemented, 501));
    }

    #[test]
    fn a_flag_other_than_zero_or_one_is_a_protocol_error() {
        for flag in [2u8, 0x80, 0xff] {
            let mut d = Deframer::new();
            d.push(&[flag, 0, 0, 0, 0]);
            let status = d.next().unwrap_err();
            assert_eq!(
                (status.code, status.error.status()),
                (Code::Internal, 500),
                "{flag}"
            );
        }
    }

    #[test]
    fn finish_reports_a_truncated_message_in_its_prefix_or_body() {
        let mut d = Deframer::new();
        d.push(&[0, 0, 0]);
        let status = d.finish().unwrap_err();
        assert_eq!(status.code, Code::Internal);
        assert!(
            status.error.detail().contains("3 of 5 bytes"),
            "{}",
            status.error.detail()
        );
        d.push(&[0, 4, b'a']);
        assert!(d.finish().unwrap_err().error.detail().contains("6 of 9 bytes"));
        d.push(b"bcd");
        d.finish().unwrap();
        assert_eq!(drain(&mut d), [b"abcd"]);
    }

    #[test]
    fn an_empty_stream_finishes_cleanly() {
        let mut d = Deframer::default();
        d.push(&[]);
        assert!(d.next().unwrap().is_none());
        d.finish().unwrap();
    }
}
