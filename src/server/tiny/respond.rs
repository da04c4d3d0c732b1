//! One tiny_http request through the pipeline: metadata, body within the limit, the answer.

use std::io::{self, Read};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use super::Shared;
use crate::codec;
use crate::error::{Error, WireError};
use crate::handler::{Body, Request, Response};
use crate::metadata::Metadata;
use crate::pipeline::{Pipeline, Ticket};
use crate::record::{Protocol, Shed};
use crate::stream::{Sink, Streamer};

/// A request's parts, copied out of tiny_http's: metadata, method, path, query.
fn parts(rq: &tiny_http::Request) -> (Metadata, Request) {
    let mut metadata = Metadata::with_capacity(rq.headers().len());
    for h in rq.headers() {
        metadata.append(h.field.as_str().as_str(), h.value.as_str());
    }
    let url = rq.url();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let request = Request {
        method: rq.method().as_str().to_string(),
        path: path.to_string(),
        query: query.to_string(),
        body: Vec::new(),
        peer: rq.remote_addr().copied(),
    };
    (metadata, request)
}

/// Serves one request: refused (framing), else its body within the limit through the pipeline.
pub(super) fn handle(shared: &Shared, mut rq: tiny_http::Request, refused: Option<Error>) {
    let started = Instant::now();
    let pipeline = &*shared.pipeline;
    let (metadata, mut request) = parts(&rq);
    let ticket = pipeline.begin(
        Protocol::Http1,
        &request.method,
        &request.path,
        &metadata,
        started,
    );
    // Nothing runs on a connection whose framing tiny_http got wrong (see `framing.rs`).
    if let Some(err) = refused {
        let resp = pipeline.error(&err);
        return respond(pipeline, ticket, rq, resp, 0);
    }
    let mut in_flight = match pipeline.admit(&ticket) {
        Ok(guard) => guard,
        Err(busy) => return respond(pipeline, ticket, rq, busy, 0),
    };
    match read_body(&mut rq, shared.max_body) {
        Ok(body) => {
            let bytes_in = body.len();
            request.body = body;
            let resp = pipeline.answer(&ticket, metadata, request);
            // The handler is done unless it streams: its slot is free before the answer is written.
            if !resp.body.is_stream() {
                in_flight = None;
            }
            respond(pipeline, ticket, rq, resp, bytes_in);
            drop(in_flight);
        }
        Err(err) => {
            let resp = pipeline.error(&err);
            respond(pipeline, ticket, rq, resp, 0);
        }
    }
}

/// The shedder's answer: health and metrics as usual, anything else a 503, without a body read.
pub(super) fn shed_one(shared: &Shared, rq: tiny_http::Request, refused: Option<Error>) {
    let pipeline = &*shared.pipeline;
    let (metadata, request) = parts(&rq);
    let ticket = pipeline.begin(
        Protocol::Http1,
        &request.method,
        &request.path,
        &metadata,
        Instant::now(),
    );
    let resp = match refused {
        Some(err) => pipeline.error(&err),
        None if ticket.is_exempt() => pipeline.answer(&ticket, metadata, request),
        None => {
            let detail = format!("server busy: all {} workers busy", shared.workers);
            pipeline.shed(Shed::InFlight, detail)
        }
    };
    respond(pipeline, ticket, rq, resp, 0);
}

/// Reads the body, refusing one over `max` bytes: by its `Content-Length` before reading it,
/// or once `max + 1` bytes arrived (chunked; the rest is read and dropped to keep the framing).
fn read_body(rq: &mut tiny_http::Request, max: usize) -> Result<Vec<u8>, Error> {
    let too_big = || Error::new(413, format!("request body over the {max}-byte limit"));
    if rq.body_length().is_some_and(|n| n > max) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    rq.as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .map_err(|err| Error::bad_request(format!("reading the request body: {err}")))?;
    if body.len() > max {
        let _ = io::copy(rq.as_reader(), &mut io::sink());
        return Err(too_big());
    }
    Ok(body)
}

/// Writes `resp` and finishes its ticket; tiny_http adds the framing and leaves the body out
/// for HEAD, 1xx, 204, 304.
fn respond(pipeline: &Pipeline, ticket: Ticket, rq: tiny_http::Request, resp: Response, bytes_in: usize) {
    let head_only = rq.method() == &tiny_http::Method::Head;
    let (status, bytes_out) = (resp.status, if head_only { 0 } else { resp.body.bytes().len() });
    write(rq, resp);
    pipeline.finish(ticket, status, bytes_in, bytes_out);
}

/// Writes `resp` to tiny_http.
fn write(rq: tiny_http::Request, resp: Response) {
    let mut headers = Vec::new();
    for (name, value) in resp.writable_headers() {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            headers.push(header);
        }
    }
    let status = tiny_http::StatusCode(resp.status);
    let result = match resp.body {
        // Bodies are whole in memory: always send Content-Length rather than chunks.
        Body::Bytes(body) => rq.respond(tiny_http::Response::new(
            status,
            headers,
            &body[..],
            Some(body.len()),
            None,
        )),
        Body::Stream(streamer) => respond_stream(rq, status, headers, streamer),
    };
    if let Err(err) = result {
        log::debug!("tiny_http: writing a response failed: {err}");
    }
}

/// tiny_http pulls a body from a `Read`, so the stream's handler runs on a thread of its own,
/// joined here, and hands its messages over a small bounded channel: a slow reader still
/// blocks the handler. (tiny_http's chunk encoder sends them in 8 KiB batches.)
fn respond_stream(
    rq: tiny_http::Request,
    status: tiny_http::StatusCode,
    headers: Vec<tiny_http::Header>,
    streamer: Streamer,
) -> io::Result<()> {
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(16);
    let producer = thread::Builder::new()
        .name("tiny-stream".into())
        .spawn(move || streamer.run(&mut ChannelSink(tx)))?;
    let reader = ChannelReader {
        rx,
        chunk: Vec::new(),
        at: 0,
    };
    let result = rq.respond(tiny_http::Response::new(status, headers, reader, None, None));
    // The reader is gone with the response: a producer still sending now fails and stops.
    let _ = producer.join();
    result
}

/// Hands each NDJSON line of a stream to tiny_http's reader thread.
struct ChannelSink(mpsc::SyncSender<Vec<u8>>);

impl ChannelSink {
    fn send(&mut self, line: Vec<u8>) -> io::Result<()> {
        self.0.send(line).map_err(|_| io::ErrorKind::BrokenPipe.into())
    }
}

impl Sink for ChannelSink {
    fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        let mut line = Vec::with_capacity(message.len() + 1);
        codec::ndjson_line(message, &mut line);
        self.send(line)
    }

    fn write_error(&mut self, error: &WireError) -> io::Result<()> {
        self.send(codec::encode_stream_error(error))
    }
}

struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => (self.chunk, self.at) = (chunk, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
