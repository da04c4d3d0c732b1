//! Streams: a handler sends typed messages one at a time to a server-provided sink, and (for a
//! bidirectional or client-streaming endpoint) reads typed messages one at a time from a
//! server-provided source.
//!
//! The handler's end is a [`Stream`], which encodes each message with the request's codec; the
//! server's end a [`Sink`], which frames it as its wire does (an NDJSON line over HTTP/1.1) and
//! writes it before returning (that is the backpressure). A [`Streamer`] is the type-erased
//! rest of a streaming handler's work, carried in a response and run once its head is out.
//! Incoming messages go the other way: the server's end is a [`Source`] (gRPC's DATA frames as
//! they arrive, or an HTTP/1.1 body's NDJSON lines), the handler's an [`Incoming`] iterator,
//! which decodes each with the request's codec.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use serde::Serialize;

use crate::codec::{self, Codec};
use crate::error::{Error, WireError};

/// Where a server writes a stream: each message framed as its wire frames them, sent before
/// the call returns.
pub trait Sink {
    /// Writes one encoded message (an NDJSON line over HTTP/1.1); blocks while the peer does
    /// not read (that is the backpressure).
    fn write_message(&mut self, message: &[u8]) -> std::io::Result<()>;

    /// Ends a started stream with an error (over HTTP/1.1 a last `{"error":{...}}` line).
    fn write_error(&mut self, error: &WireError) -> std::io::Result<()>;
}

/// Where a server reads the messages a client streams to a handler: one encoded message at a
/// time, as they arrive (the receive window a gRPC stream grants back follows what is taken,
/// so a handler that stops reading stops its client; that is the backpressure).
pub trait Source: Send {
    /// The next encoded message, blocking until one arrives: `None` once the client closed its
    /// side cleanly; `Some(Err)` once the stream broke (reset by the client, past its deadline,
    /// connection lost, a malformed message). After either, it yields `None`.
    fn next_message(&mut self) -> Option<Result<Vec<u8>, Error>>;
}

/// Encodes one message of type `M` with a codec.
type Encode<M> = fn(Codec, &M) -> Result<Vec<u8>, Error>;

/// Decodes one message of type `M` with a codec.
pub(crate) type Decode<M> = fn(Codec, &[u8]) -> Result<M, Error>;

/// A handler's end of the messages its client streams: an iterator of `Result<M, Error>`,
/// each decoded with the request's codec as it arrives (never the whole stream at once).
///
/// It ends (`None`) when the client closes its side. An `Err` item ends it too: the client
/// reset the stream, the deadline passed, the connection was lost, or a message did not decode
/// (a 400). A handler usually returns that error (`?`); its [`Stream`] fails from then on anyway.
pub struct Incoming<M> {
    source: Box<dyn Source>,
    codec: Codec,
    decode: Decode<M>,
    done: bool,
}

impl<M> Incoming<M> {
    /// Messages read from `source`, decoded with `codec`.
    pub(crate) fn new(source: Box<dyn Source>, codec: Codec, decode: Decode<M>) -> Incoming<M> {
        Incoming {
            source,
            codec,
            decode,
            done: false,
        }
    }
}

impl<M> std::fmt::Debug for Incoming<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("codec", &self.codec)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<M> Iterator for Incoming<M> {
    type Item = Result<M, Error>;

    fn next(&mut self) -> Option<Result<M, Error>> {
        if self.done {
            return None;
        }
        // Waiting for the client's next message leaves the thread's lane to queued work.
        let item = match crate::blocking::blocking(|| self.source.next_message()) {
            None => None,
            Some(Ok(bytes)) => Some((self.decode)(self.codec, &bytes)),
            Some(Err(err)) => Some(Err(err)),
        };
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}

impl<M> std::iter::FusedIterator for Incoming<M> {}

/// A handler's end of a server stream of `M` messages: [`send`](Stream::send) them one at a time.
pub struct Stream<'a, M: ?Sized> {
    sink: &'a mut dyn Sink,
    deadline: Option<Instant>,
    broken: bool,
    codec: Codec,
    encode: Encode<M>,
}

impl<M: ?Sized> Stream<'_, M> {
    /// Sends one message. Fails once the request's deadline has passed (408) or the client has
    /// gone (503): stop then, and return the error.
    pub fn send(&mut self, message: &M) -> Result<(), Error> {
        if self.broken {
            return Err(Error::new(503, "the client closed the stream"));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::new(408, "deadline reached during the stream"));
        }
        let encoded = (self.encode)(self.codec, message)?;
        self.sink.write_message(&encoded).map_err(|e| {
            self.broken = true;
            Error::new(503, format!("the client closed the stream: {e}"))
        })
    }
}

/// What a stream's work ended with: its result, and whether a write failed.
type Ended = (std::thread::Result<Result<(), Error>>, bool);

type StreamFn = Box<dyn FnOnce(&mut dyn Sink) -> Ended + Send>;

/// The rest of a streaming handler's work, run by the server after the response head is out.
pub struct Streamer {
    id: String,
    f: StreamFn,
}

impl std::fmt::Debug for Streamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamer")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Streamer {
    /// Wraps the work of a JSON stream of `M`; `id` names its errors, `deadline` bounds it.
    pub fn new<M: Serialize + ?Sized + 'static>(
        id: &str,
        deadline: Option<Instant>,
        f: impl FnOnce(&mut Stream<'_, M>) -> Result<(), Error> + Send + 'static,
    ) -> Streamer {
        Streamer::encoded(id, deadline, Codec::Json, |_, m: &M| codec::encode(m), f)
    }

    /// Wraps the work of a stream whose messages `encode` writes with `codec`.
    pub(crate) fn encoded<M: ?Sized + 'static>(
        id: &str,
        deadline: Option<Instant>,
        codec: Codec,
        encode: Encode<M>,
        f: impl FnOnce(&mut Stream<'_, M>) -> Result<(), Error> + Send + 'static,
    ) -> Streamer {
        let run = move |sink: &mut dyn Sink| {
            let mut stream = Stream {
                sink,
                deadline,
                broken: false,
                codec,
                encode,
            };
            let result = catch_unwind(AssertUnwindSafe(|| f(&mut stream)));
            (result, stream.broken)
        };
        Streamer {
            id: id.to_string(),
            f: Box::new(run),
        }
    }

    /// Runs the handler against `sink`. A handler error or panic after the stream started goes
    /// to [`Sink::write_error`] (a panic's text never does). Returns whether the connection is
    /// still in step (false once a write failed).
    pub fn run(self, sink: &mut dyn Sink) -> bool {
        let (result, broken) = (self.f)(sink);
        let err = match result {
            Ok(Ok(())) => return !broken,
            Ok(Err(err)) => err,
            Err(_panic) => {
                log::error!("{}: stream handler panicked", self.id);
                Error::internal("handler panicked")
            }
        };
        !broken && sink.write_error(&err.wire(&self.id)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects messages (and an error as `!CODE`); fails every write after `.1` of them.
    struct Chunks(Vec<Vec<u8>>, usize);

    impl Sink for Chunks {
        fn write_message(&mut self, data: &[u8]) -> std::io::Result<()> {
            if self.0.len() >= self.1 {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.0.push(data.to_vec());
            Ok(())
        }

        fn write_error(&mut self, error: &WireError) -> std::io::Result<()> {
            self.write_message(format!("!{}:{}", error.code, error.id).as_bytes())
        }
    }

    #[test]
    fn messages_are_encoded_one_each_and_a_late_error_ends_the_stream() {
        let streamer = Streamer::new("svc", None, |out: &mut Stream<'_, u32>| {
            out.send(&1)?;
            out.send(&2)?;
            Err(Error::new(409, "late"))
        });
        let mut sink = Chunks(Vec::new(), usize::MAX);
        assert!(streamer.run(&mut sink));
        let sent: Vec<&[u8]> = sink.0.iter().map(Vec::as_slice).collect();
        assert_eq!(sent, [&b"1"[..], b"2", b"!409:svc"]);
    }

    /// A source of fixed items.
    struct Items(std::vec::IntoIter<Result<Vec<u8>, Error>>);

    impl Source for Items {
        fn next_message(&mut self) -> Option<Result<Vec<u8>, Error>> {
            self.0.next()
        }
    }

    fn incoming(items: Vec<Result<Vec<u8>, Error>>) -> Incoming<u32> {
        Incoming::new(Box::new(Items(items.into_iter())), Codec::Json, |_, b| {
            codec::decode(b)
        })
    }

    #[test]
    fn incoming_decodes_each_message_and_ends_for_good_at_the_first_error() {
        let items = vec![
            Ok(b"1".to_vec()),
            Ok(b"2".to_vec()),
            Err(Error::new(408, "late")),
            Ok(b"3".to_vec()),
        ];
        let got: Vec<Result<u32, u16>> = incoming(items).map(|r| r.map_err(|e| e.status())).collect();
        assert_eq!(got, [Ok(1), Ok(2), Err(408)]);
        let bad = vec![Ok(b"1".to_vec()), Ok(b"x".to_vec()), Ok(b"3".to_vec())];
        let got: Vec<Result<u32, u16>> = incoming(bad).map(|r| r.map_err(|e| e.status())).collect();
        assert_eq!(got, [Ok(1), Err(400)], "a message that does not decode ends it");
    }

    #[test]
    fn a_failed_write_breaks_the_stream_and_the_panic_text_stays_home() {
        let streamer = Streamer::new("svc", None, |out: &mut Stream<'_, str>| {
            out.send("a")?;
            let err = out.send("b").unwrap_err();
            assert_eq!(err.status(), 503);
            panic!("secret")
        });
        let mut sink = Chunks(Vec::new(), 1);
        assert!(!streamer.run(&mut sink), "out of step after a failed write");
        assert_eq!(sink.0, [b"\"a\"".to_vec()]);
    }
}
