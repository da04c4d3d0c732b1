//! Client- and bidirectional-streaming endpoints: a closure over the typed messages its client
//! streams ([`Incoming`]) and a [`Stream`] for its own, adapted for both kinds of wire.
//!
//! Over gRPC the call starts when its head arrives and the messages come from the server's
//! [`Source`] as the client sends them ([`DuplexHandler`]). Over HTTP/1.1 (and HTTP/2 without gRPC),
//! which buffer a request whole, the same endpoint is half duplex: the body's NDJSON lines are
//! the incoming messages, and the reply is an NDJSON stream (protocol.md section 8), so `curl`
//! and HTTP gateways reach it too.

use std::sync::Arc;

use super::request_codec;
use crate::codec::Codecs;
use crate::error::Error;
use crate::handler::{Context, DuplexHandler, Handler, Request, Response};
use crate::stream::{Incoming, Source, Stream, Streamer};

/// Adapts `Fn(&Context, Incoming<I>, &mut Stream<O>) -> Result<(), Error>` into a [`DuplexHandler`]
/// (gRPC) and a half-duplex NDJSON [`Handler`] (the other wires).
pub(crate) struct Bidi<F, I, O> {
    f: Arc<F>,
    id: String,
    codecs: Codecs<I, O>,
}

impl<F, I, O> Clone for Bidi<F, I, O> {
    fn clone(&self) -> Self {
        Bidi {
            f: self.f.clone(),
            id: self.id.clone(),
            codecs: self.codecs,
        }
    }
}

impl<F, I, O> Bidi<F, I, O> {
    /// An endpoint whose messages `codecs` reads and writes; `id` names its errors.
    pub(crate) fn new(id: &str, f: F, codecs: Codecs<I, O>) -> Self {
        Bidi {
            f: Arc::new(f),
            id: id.to_string(),
            codecs,
        }
    }

    /// Every codec its types support: what it takes over gRPC.
    pub(crate) fn codecs(&self) -> &'static [crate::codec::Codec] {
        self.codecs.accepts
    }

    /// What it takes over HTTP/1.1, where both directions are NDJSON: JSON alone.
    pub(crate) fn ndjson_codecs(&self) -> &'static [crate::codec::Codec] {
        self.codecs.ndjson()
    }
}

impl<F, I, O> Bidi<F, I, O>
where
    F: Fn(&Context, Incoming<I>, &mut Stream<'_, O>) -> Result<(), Error> + Send + Sync + 'static,
    I: 'static,
    O: 'static,
{
    /// The stream that runs the handler once the reply's head is out, reading from `source`.
    fn start(&self, ctx: &Context, req: &Request, source: Box<dyn Source>) -> Result<Response, Error> {
        let codec = request_codec(&self.codecs, ctx, req)?;
        let (f, ctx, decode) = (self.f.clone(), ctx.clone(), self.codecs.decoder());
        let deadline = ctx.deadline();
        Ok(Response::stream(Streamer::encoded(
            &self.id,
            deadline,
            codec,
            self.codecs.encoder(),
            move |out: &mut Stream<'_, O>| f(&ctx, Incoming::new(source, codec, decode), out),
        )))
    }
}

/// Half duplex, for a wire that buffers the request: its body's NDJSON lines are the messages.
impl<F, I, O> Handler for Bidi<F, I, O>
where
    F: Fn(&Context, Incoming<I>, &mut Stream<'_, O>) -> Result<(), Error> + Send + Sync + 'static,
    I: 'static,
    O: 'static,
{
    fn call(&self, ctx: &Context, mut req: Request) -> Result<Response, Error> {
        let lines = Lines {
            body: std::mem::take(&mut req.body),
            at: 0,
        };
        self.start(ctx, &req, Box::new(lines))
    }
}

impl<F, I, O> DuplexHandler for Bidi<F, I, O>
where
    F: Fn(&Context, Incoming<I>, &mut Stream<'_, O>) -> Result<(), Error> + Send + Sync + 'static,
    I: 'static,
    O: 'static,
{
    fn open(&self, ctx: &Context, req: Request, source: Box<dyn Source>) -> Result<Response, Error> {
        self.start(ctx, &req, source)
    }
}

/// A buffered body's NDJSON lines, one message each (blank lines skipped, `\r\n` allowed).
struct Lines {
    body: Vec<u8>,
    at: usize,
}

impl Source for Lines {
    fn next_message(&mut self) -> Option<Result<Vec<u8>, Error>> {
        while self.at < self.body.len() {
            let rest = &self.body[self.at..];
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            self.at += end + 1;
            let line = rest[..end].trim_ascii();
            if !line.is_empty() {
                return Some(Ok(line.to_vec()));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bodys_ndjson_lines_are_its_messages() {
        let mut lines = Lines {
            body: b"{\"a\":1}\r\n\n  \n{\"a\":2}\n{\"a\":3}".to_vec(),
            at: 0,
        };
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| lines.next_message())
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, [&b"{\"a\":1}"[..], b"{\"a\":2}", b"{\"a\":3}"]);
    }
}
