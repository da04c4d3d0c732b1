//! Server streams: a handler sends NDJSON messages one at a time to a server-provided sink.

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec;
use crate::error::Error;
use crate::handler::{Context, Handler, Request, Response};

/// The content type of a server stream: one JSON message per line.
pub const NDJSON: &str = "application/x-ndjson";

/// Where a server writes a stream's bytes: each call is one chunk, sent before it returns.
pub trait Sink {
    /// Writes one chunk; blocks while the peer does not read (that is the backpressure).
    fn write_chunk(&mut self, data: &[u8]) -> std::io::Result<()>;
}

/// A handler's end of a server stream: [`send`](Stream::send) messages one at a time.
pub struct Stream<'a> {
    sink: &'a mut dyn Sink,
    deadline: Option<Instant>,
    line: Vec<u8>,
    broken: bool,
}

impl Stream<'_> {
    /// Sends one message as a line of JSON. Fails once the request's deadline has passed (408)
    /// or the client has gone (503): stop then, and return the error.
    pub fn send<T: Serialize + ?Sized>(&mut self, message: &T) -> Result<(), Error> {
        if self.broken {
            return Err(Error::new(503, "the client closed the stream"));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::new(408, "deadline reached during the stream"));
        }
        self.line.clear();
        self.line.extend_from_slice(&codec::encode(message)?);
        self.line.push(b'\n');
        self.sink.write_chunk(&self.line).map_err(|e| {
            self.broken = true;
            Error::new(503, format!("the client closed the stream: {e}"))
        })
    }
}

type StreamFn = Box<dyn FnOnce(&mut Stream<'_>) -> Result<(), Error> + Send>;

/// The rest of a streaming handler's work, run by the server after the response head is out.
pub struct Streamer {
    id: String,
    deadline: Option<Instant>,
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
    /// Wraps the work of a stream; `id` names its errors, `deadline` bounds it.
    pub fn new(
        id: &str,
        deadline: Option<Instant>,
        f: impl FnOnce(&mut Stream<'_>) -> Result<(), Error> + Send + 'static,
    ) -> Streamer {
        Streamer {
            id: id.to_string(),
            deadline,
            f: Box::new(f),
        }
    }

    /// Runs the handler against `sink`. A handler error or panic after the stream started is
    /// sent as a last line `{"error":{...}}` (a panic's text never is). Returns whether the
    /// connection is still in step (false once a write failed).
    pub fn run(self, sink: &mut dyn Sink) -> bool {
        let mut stream = Stream {
            sink,
            deadline: self.deadline,
            line: Vec::new(),
            broken: false,
        };
        let result = catch_unwind(AssertUnwindSafe(|| (self.f)(&mut stream)));
        let err = match result {
            Ok(Ok(())) => return !stream.broken,
            Ok(Err(err)) => err,
            Err(_panic) => {
                log::error!("{}: stream handler panicked", self.id);
                Error::internal("handler panicked")
            }
        };
        !stream.broken
            && stream
                .sink
                .write_chunk(&codec::encode_stream_error(&err.wire(&self.id)))
                .is_ok()
    }
}

/// Adapts `Fn(&Context, Q, &mut Stream) -> Result<(), Error>` into a streaming [`Handler`].
pub(crate) struct StreamHandler<F, Q> {
    f: Arc<F>,
    id: String,
    _types: PhantomData<fn(Q)>,
}

impl<F, Q> StreamHandler<F, Q> {
    pub(crate) fn new(id: &str, f: F) -> Self {
        StreamHandler {
            f: Arc::new(f),
            id: id.to_string(),
            _types: PhantomData,
        }
    }
}

impl<F, Q> Handler for StreamHandler<F, Q>
where
    F: Fn(&Context, Q, &mut Stream<'_>) -> Result<(), Error> + Send + Sync + 'static,
    Q: DeserializeOwned + Send + 'static,
{
    fn call(&self, ctx: &Context, req: Request) -> Result<Response, Error> {
        // Decoded before the head goes out, so a bad request still gets its own status.
        let request: Q = codec::decode(&req.body)?;
        let (f, ctx) = (self.f.clone(), ctx.clone());
        Ok(Response::stream(Streamer::new(
            &self.id,
            ctx.deadline(),
            move |out| f(&ctx, request, out),
        )))
    }
}
