//! Typed endpoints: closures over decoded messages, adapted into [`Handler`]s through the
//! codec seam (the request's content type picks the codec among those the types support).
//! `bidi.rs`: client- and bidirectional-streaming ones.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, Codecs};
use crate::error::Error;
use crate::handler::{Context, Handler, Request, Response};
use crate::stream::{Stream, Streamer};

mod bidi;

pub(crate) use bidi::Bidi;

/// The request's codec among `codecs`, from its `Content-Type`; else the 415 naming what they take.
fn request_codec<Q, R>(codecs: &Codecs<Q, R>, ctx: &Context, req: &Request) -> Result<Codec, Error> {
    codecs.select(ctx.metadata().get("content-type"), &req.path)
}

/// Adapts `Fn(&Context, Q) -> Result<R, Error>` into a [`Handler`] that decodes `Q` and encodes
/// `R` with the request's codec, and answers in the same content type.
pub(crate) struct Unary<F, Q, R> {
    f: F,
    codecs: Codecs<Q, R>,
}

impl<F, Q, R> Unary<F, Q, R> {
    /// An endpoint whose types `codecs` reads and writes.
    pub(crate) fn new(f: F, codecs: Codecs<Q, R>) -> Self {
        Unary { f, codecs }
    }

    /// A JSON endpoint: serde types.
    pub(crate) fn json(f: F) -> Self
    where
        Q: DeserializeOwned,
        R: Serialize,
    {
        Unary::new(f, Codecs::json())
    }

    /// The codecs this endpoint's types support.
    pub(crate) fn codecs(&self) -> &'static [Codec] {
        self.codecs.accepts
    }
}

impl<F, Q, R> Handler for Unary<F, Q, R>
where
    F: Fn(&Context, Q) -> Result<R, Error> + Send + Sync + 'static,
    Q: 'static,
    R: 'static,
{
    fn call(&self, ctx: &Context, req: Request) -> Result<Response, Error> {
        let codec = request_codec(&self.codecs, ctx, &req)?;
        let request = self.codecs.decode(codec, &req.body)?;
        let reply = (self.f)(ctx, request)?;
        // The reply echoes the request's own type: asked in application/protobuf, answered so.
        let content_type = codec.reply_content_type(ctx.metadata().get("content-type"));
        Ok(Response::bytes(content_type, self.codecs.encode(codec, &reply)?))
    }
}

/// Adapts `Fn(&Context, Q, &mut Stream<M>) -> Result<(), Error>` into a streaming [`Handler`]:
/// the request is decoded before the head goes out (so a bad one still gets its own status),
/// then the messages are written by the server as the handler sends them.
pub(crate) struct ServerStream<F, Q, M> {
    f: Arc<F>,
    id: String,
    codecs: Codecs<Q, M>,
}

impl<F, Q, M> ServerStream<F, Q, M> {
    /// A stream whose request and messages `codecs` reads and writes; `id` names its errors.
    pub(crate) fn new(id: &str, f: F, codecs: Codecs<Q, M>) -> Self {
        ServerStream {
            f: Arc::new(f),
            id: id.to_string(),
            codecs,
        }
    }

    /// A JSON stream (NDJSON messages): serde types; `id` names its errors.
    pub(crate) fn json(id: &str, f: F) -> Self
    where
        Q: DeserializeOwned,
        M: Serialize,
    {
        ServerStream::new(id, f, Codecs::json())
    }

    /// Every codec this endpoint's types support: what it takes over gRPC, whose framing
    /// carries protobuf messages as well as JSON ones.
    pub(crate) fn codecs(&self) -> &'static [Codec] {
        self.codecs.accepts
    }

    /// The codecs this endpoint takes over HTTP/1.1, where a stream is NDJSON: JSON alone.
    /// The handler keeps all its types' codecs; the route's check is what keeps a protobuf
    /// request off an NDJSON stream.
    pub(crate) fn ndjson_codecs(&self) -> &'static [Codec] {
        self.codecs.ndjson()
    }
}

impl<F, Q, M> Handler for ServerStream<F, Q, M>
where
    F: Fn(&Context, Q, &mut Stream<'_, M>) -> Result<(), Error> + Send + Sync + 'static,
    Q: Send + 'static,
    M: 'static,
{
    fn call(&self, ctx: &Context, req: Request) -> Result<Response, Error> {
        let codec = request_codec(&self.codecs, ctx, &req)?;
        let request = self.codecs.decode(codec, &req.body)?;
        let (f, ctx) = (self.f.clone(), ctx.clone());
        let encode = self.codecs.encoder();
        Ok(Response::stream(Streamer::encoded(
            &self.id,
            ctx.deadline(),
            codec,
            encode,
            move |out: &mut Stream<'_, M>| f(&ctx, request, out),
        )))
    }
}
