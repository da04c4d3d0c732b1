//! A typed duplex call (client or bidirectional streaming): messages of `Q` sent and replies of
//! `R` read, in the codec of the types (JSON, or protobuf for prost messages), over a raw
//! [`Duplex`].

use super::grpc::Duplex;
use crate::codec::{Codec, Codecs};
use crate::error::Error;

/// A typed duplex call from [`Caller::bidi`](crate::Caller::bidi) or
/// [`Caller::bidi_proto`](crate::Caller::bidi_proto): [`send`](BidiCall::send) requests,
/// [`close_send`](BidiCall::close_send) when done, iterate for the replies (decoded one at a
/// time as they arrive; the call's error is the last item). Sends and reads may interleave
/// (send one, read one) or not (send all, close, read all). Dropping it before its end
/// resets the stream (CANCEL). See [`Duplex`] for the deadline and the backpressure.
///
/// ```no_run
/// use micro_mesh::{Caller, CallOptions, Error, GrpcClient};
///
/// /// `message Ping { int64 stroke = 1; }` (and `Pong`, the same shape).
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct Stroke {
///     #[prost(int64, tag = "1")]
///     stroke: i64,
/// }
///
/// let client = GrpcClient::builder().call_address("127.0.0.1:9080").build();
/// let mut call = client.bidi_proto::<Stroke, Stroke>(
///     "go.micro.srv.sample",
///     "Example.PingPong",
///     &CallOptions::default(),
/// )?;
/// for stroke in 1..=3 {
///     call.send(&Stroke { stroke })?;
///     let pong = call.next().expect("a Pong")?;
///     assert_eq!(pong.stroke, stroke);
/// }
/// call.close_send()?;
/// assert!(call.next().is_none(), "the end, with status OK");
/// # Ok::<(), Error>(())
/// ```
pub struct BidiCall<Q, R> {
    duplex: Duplex,
    codecs: Codecs<R, Q>,
    codec: Codec,
}

impl<Q, R> std::fmt::Debug for BidiCall<Q, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BidiCall")
            .field("duplex", &self.duplex)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl<Q, R> BidiCall<Q, R> {
    /// The call on `duplex`, its messages in `codec` (one of `codecs`').
    pub(crate) fn new(duplex: Duplex, codecs: Codecs<R, Q>, codec: Codec) -> Self {
        BidiCall {
            duplex,
            codecs,
            codec,
        }
    }

    /// Sends one request; blocks while the server's windows are full, at most until the
    /// call's deadline (see [`Duplex::send`]).
    pub fn send(&mut self, message: &Q) -> Result<(), Error> {
        let bytes = self.codecs.encode(self.codec, message)?;
        self.duplex.send(&bytes)
    }

    /// Closes the send side (END_STREAM); the replies are still read.
    pub fn close_send(&mut self) -> Result<(), Error> {
        self.duplex.close_send()
    }

    /// The raw call underneath.
    pub fn into_raw(self) -> Duplex {
        self.duplex
    }
}

impl<Q, R> Iterator for BidiCall<Q, R> {
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Result<R, Error>> {
        let (codecs, codec) = (self.codecs, self.codec);
        self.duplex
            .next()
            .map(|reply| reply.and_then(|bytes| codecs.decode(codec, &bytes)))
    }
}
