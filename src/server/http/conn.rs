//! One connection's life: read a head, read its body, dispatch, write, repeat while kept alive.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::body::{self, BodyError, Buf};
use super::head::{self, Framing, Head, Reject};
use super::{BUSY, FRESH, HEAD, IDLE, Shared, Slot};
use crate::codec;
use crate::error::{Error, WireError};
use crate::handler::{Body, Request, Response};
use crate::pipeline::Pipeline;
use crate::record::{Protocol, Shed};
use crate::server::Limits;
use crate::server::http2::{self, Host, StreamJob};
use crate::server::work::WorkQueue;
use crate::status::reason;
use crate::stream::{Sink, Streamer};

struct Conn<'a> {
    shared: &'a Shared,
    /// The socket, owned by the slot (so the accept thread can shut it down without a dup).
    stream: &'a TcpStream,
    peer: SocketAddr,
    /// The connection's published state (see `Slot`): false from `enter` means evicted.
    slot: Arc<Slot>,
    buf: Buf,
    out: Vec<u8>,
    read_timeout: Option<Duration>,
    served: u64,
}

/// Serves `stream` until the peer closes, a timeout fires, framing is lost, the connection is
/// evicted, or the server stops. An overflow connection (beyond the cap) gets one request.
pub(crate) fn serve(shared: &Shared, peer: SocketAddr, slot: Arc<Slot>) {
    let limits = &shared.limits;
    let stream = &slot.stream;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let mut conn = Conn {
        shared,
        stream,
        peer,
        slot: slot.clone(),
        buf: Buf::new(4096, limits.max_head + 1),
        out: Vec::with_capacity(512),
        read_timeout: None,
        served: 0,
    };
    conn.run();
}

impl Conn<'_> {
    fn run(&mut self) {
        if self.speaks_http2() {
            return;
        }
        let pipeline = &*self.shared.pipeline;
        loop {
            let head = match self.read_head() {
                Ok(Some(head)) => head,
                Ok(None) => return,
                Err(reject) => return self.refuse(reject.status, &reject.detail),
            };
            let started = Instant::now();
            self.buf.consume(head.len);
            let ticket = pipeline.begin(Protocol::Http1, &head.method, &head.path, &head.headers, started);
            let head_only = head.method == "HEAD";
            // Health and metrics skip the caps: they are cheap and must be answered when all else waits.
            if !ticket.is_exempt() && self.slot.is_overflow() && !self.shared.promote(&self.slot) {
                let busy = pipeline.shed(Shed::Connections, "server busy: at its connection limit");
                pipeline.finish(ticket, busy.status, 0, busy.body.bytes().len());
                return self.refuse_with(busy);
            }
            let mut in_flight = match pipeline.admit(&ticket) {
                Ok(guard) => guard,
                Err(busy) if head.framing == Framing::Empty => {
                    let keep_alive = head.keep_alive && !self.shared.stopping();
                    let (status, bytes_out) = (busy.status, busy.body.bytes().len());
                    let written = self.write(busy, head_only, keep_alive, head.http10);
                    pipeline.finish(ticket, status, 0, bytes_out);
                    if written.is_err() || !keep_alive {
                        return;
                    }
                    continue;
                }
                // A body follows that is not worth reading: answer and close.
                Err(busy) => {
                    pipeline.finish(ticket, busy.status, 0, busy.body.bytes().len());
                    return self.refuse_with(busy);
                }
            };
            let body = match self.read_body(&head) {
                Ok(body) => body,
                Err(Some(reject)) => {
                    let refused = pipeline.error(&Error::new(reject.status, reject.detail));
                    pipeline.finish(ticket, refused.status, 0, refused.body.bytes().len());
                    return self.refuse_with(refused);
                }
                Err(None) => return,
            };
            let bytes_in = body.len();
            let request = Request {
                method: head.method,
                path: head.path,
                query: head.query,
                body,
                peer: Some(self.peer),
            };
            let response = pipeline.answer(&ticket, head.headers, request);
            // The handler is done unless it streams: its slot is free before the answer is
            // written, so a client that sends its next request on reading this one finds it free.
            if !response.body.is_stream() {
                in_flight = None;
            }
            // A stream to an HTTP/1.0 peer has no chunked framing: it ends when the connection does.
            let unframed = head.http10 && response.body.is_stream();
            let keep_alive =
                head.keep_alive && !self.slot.is_overflow() && !self.shared.stopping() && !unframed;
            let bytes_out = if head_only { 0 } else { response.body.bytes().len() };
            let status = response.status;
            let written = self.write(response, head_only, keep_alive, head.http10);
            drop(in_flight);
            pipeline.finish(ticket, status, bytes_in, bytes_out);
            if written.is_err() || !keep_alive {
                return;
            }
            self.served += 1;
        }
    }

    /// Reads a new connection's first bytes: the HTTP/2 preface hands it to the HTTP/2 reader
    /// (true: it has ended), anything else is HTTP/1.1 (false: serve it here). Only bytes that
    /// match the preface so far are waited for, so an HTTP/1.1 request costs no extra read.
    fn speaks_http2(&mut self) -> bool {
        let until = Instant::now() + self.shared.limits.head_timeout;
        loop {
            match http2::sniff(self.buf.unread()) {
                None => return false,
                Some(true) => break,
                Some(false) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return true;
                    }
                    self.set_read_timeout(left);
                    match self.buf.fill(&mut self.stream) {
                        Ok(0) | Err(_) => return true,
                        Ok(_) => {}
                    }
                }
            }
        }
        self.buf.consume(http2::PREFACE.len());
        self.read_timeout = None; // the HTTP/2 reader sets its own
        let host = H2Host {
            shared: self.shared,
            slot: &self.slot,
        };
        http2::serve(&host, self.stream, self.buf.unread());
        true
    }

    /// Sets the socket's read timeout, skipping the system call when it is unchanged.
    fn set_read_timeout(&mut self, timeout: Duration) {
        let timeout = timeout.max(Duration::from_millis(1));
        if self.read_timeout != Some(timeout) {
            let _ = self.stream.set_read_timeout(Some(timeout));
            self.read_timeout = Some(timeout);
        }
    }

    /// Reads the next head: `Ok(None)` when the connection ends quietly (closed, idle, evicted).
    fn read_head(&mut self) -> Result<Option<Head>, Reject> {
        let shared = self.shared;
        let limits = &shared.limits;
        // One request on an overflow connection, and soon, or it makes room for the next one.
        let head_timeout = match self.slot.is_overflow() {
            true => limits.head_timeout.min(Duration::from_secs(1)),
            false => limits.head_timeout,
        };
        let waiting = match (self.buf.unread().is_empty(), self.served) {
            (false, _) => HEAD,
            (true, 0) => FRESH,
            (true, _) => IDLE,
        };
        if !self.slot.enter(waiting, shared.now_ms()) {
            return Ok(None);
        }
        let mut deadline: Option<Instant> = None;
        loop {
            if !self.buf.unread().is_empty() {
                if let Some(head) = head::parse(self.buf.unread(), limits.max_headers)? {
                    if !self.slot.enter(BUSY, shared.now_ms()) {
                        return Ok(None);
                    }
                    return Ok(Some(head));
                }
                if self.buf.unread().len() > limits.max_head {
                    return Err(too_large_head(limits.max_head));
                }
                let deadline = *deadline.get_or_insert_with(|| Instant::now() + head_timeout);
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Reject {
                        status: 408,
                        detail: "request head not received in time".into(),
                    });
                }
                self.set_read_timeout(left);
            } else if self.served == 0 {
                self.set_read_timeout(head_timeout);
            } else {
                self.set_read_timeout(limits.idle_timeout);
            }
            let waiting = self.buf.unread().is_empty();
            match self.buf.fill(&mut self.stream) {
                Ok(0) => return Ok(None),
                // The first bytes of a head: no longer idle (unless evicted meanwhile).
                Ok(_) if waiting && !self.slot.enter(HEAD, shared.now_ms()) => return Ok(None),
                Ok(_) => {}
                Err(e) if is_timeout(&e) && !waiting => {
                    return Err(Reject {
                        status: 408,
                        detail: "request head not received in time".into(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
                    return Err(too_large_head(limits.max_head));
                }
                Err(_) => return Ok(None),
            }
        }
    }

    /// Reads the body: `Err(Some)` to refuse with an error, `Err(None)` to just close.
    fn read_body(&mut self, head: &Head) -> Result<Vec<u8>, Option<Reject>> {
        let max = self.shared.limits.max_body;
        let too_large = || {
            Some(Reject {
                status: 413,
                detail: format!("request body over the {max}-byte limit"),
            })
        };
        if head.framing == Framing::Empty {
            return Ok(Vec::new());
        }
        if let Framing::Length(n) = head.framing
            && n > max as u64
        {
            return Err(too_large());
        }
        if head.expect_continue && self.buf.unread().is_empty() {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|_| None)?;
        }
        // Most bodies arrive with their head: only arm the body deadline when a read is needed.
        let buffered = matches!(head.framing, Framing::Length(n) if n as usize <= self.buf.unread().len());
        if !buffered {
            self.read_timeout = None; // the deadline reader sets its own
        }
        let mut src = DeadlineReader {
            stream: self.stream,
            until: Instant::now() + self.shared.limits.body_timeout,
        };
        let result = match head.framing {
            Framing::Length(n) => {
                body::read_length(&mut self.buf, &mut src, n as usize).map_err(BodyError::Io)
            }
            _ => body::read_chunked(&mut self.buf, &mut src, max),
        };
        result.map_err(|err| match err {
            BodyError::TooLarge => too_large(),
            BodyError::Malformed(what) => Some(Reject {
                status: 400,
                detail: format!("malformed chunked body: {what}"),
            }),
            BodyError::Io(e) if is_timeout(&e) => Some(Reject {
                status: 408,
                detail: "request body not received in time".into(),
            }),
            BodyError::Io(_) => None,
        })
    }

    /// Answers a request that never got a head with the error JSON, then closes.
    fn refuse(&mut self, status: u16, detail: &str) {
        let response = self.shared.pipeline.error(&Error::new(status, detail));
        self.refuse_with(response);
    }

    /// Writes `response`, then closes without resetting the peer's view of it.
    fn refuse_with(&mut self, response: Response) {
        if self.write(response, false, false, false).is_ok() {
            self.linger();
        }
    }

    /// Half-closes and drains what the peer still sends for a moment, so that closing with
    /// unread bytes does not turn into a reset that destroys the error response in flight.
    fn linger(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let _ = self.stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut sink = [0u8; 8192];
        let until = Instant::now() + Duration::from_secs(1);
        let mut drained = 0usize;
        while Instant::now() < until && drained < (4 << 20) {
            match self.stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }

    /// Writes a response in one `write` (two for large bodies); a stream's head, then its chunks.
    fn write(&mut self, resp: Response, head_only: bool, keep_alive: bool, http10: bool) -> io::Result<()> {
        let out = &mut self.out;
        out.clear();
        let status = resp.status;
        let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason(status));
        for (name, value) in resp.writable_headers() {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let bodiless = status < 200 || status == 204 || status == 304;
        let body = match resp.body {
            Body::Stream(streamer) if !bodiless => Err(streamer),
            Body::Stream(_) => Ok(Vec::new()),
            Body::Bytes(bytes) => Ok(bytes),
        };
        match &body {
            Err(_) if !http10 => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            Err(_) => {}
            Ok(_) if bodiless => {}
            Ok(bytes) => {
                let _ = write!(out, "Content-Length: {}\r\n", bytes.len());
            }
        }
        out.extend_from_slice(b"Date: ");
        crate::time::append_now(out);
        out.extend_from_slice(b"\r\n");
        if !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if head_only || bodiless {
            return self.stream.write_all(&self.out);
        }
        let body = match body {
            Ok(bytes) => bytes,
            Err(streamer) => return self.write_stream(streamer, http10),
        };
        if body.len() <= 32 * 1024 {
            out.extend_from_slice(&body);
            return self.stream.write_all(&self.out);
        }
        self.stream.write_all(&self.out)?;
        self.stream.write_all(&body)
    }

    /// Writes a stream's head (in `self.out`), then its messages as they come, then its end.
    fn write_stream(&mut self, streamer: Streamer, http10: bool) -> io::Result<()> {
        {
            self.stream.write_all(&self.out)?;
            let mut sink = ChunkSink {
                stream: self.stream,
                buf: std::mem::take(&mut self.out),
                chunked: !http10,
            };
            let in_step =
                streamer.run(&mut sink) && (!sink.chunked || sink.stream.write_all(b"0\r\n\r\n").is_ok());
            self.out = sink.buf;
            if in_step {
                Ok(())
            } else {
                Err(io::ErrorKind::BrokenPipe.into())
            }
        }
    }
}

/// Writes each message of a stream as an NDJSON line in one chunk (or raw, to an HTTP/1.0
/// peer), in one `write`.
struct ChunkSink<'a> {
    stream: &'a TcpStream,
    buf: Vec<u8>,
    chunked: bool,
}

impl ChunkSink<'_> {
    /// Writes one NDJSON line (`line` without its newline) as one chunk.
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.buf.clear();
        if self.chunked {
            let _ = write!(self.buf, "{:x}\r\n", line.len() + 1);
        }
        codec::ndjson_line(line, &mut self.buf);
        if self.chunked {
            self.buf.extend_from_slice(b"\r\n");
        }
        (&mut &*self.stream).write_all(&self.buf)
    }
}

impl Sink for ChunkSink<'_> {
    fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        self.write_line(message)
    }

    fn write_error(&mut self, error: &WireError) -> io::Result<()> {
        self.write_line(codec::encode_stream_error(error).trim_ascii_end())
    }
}

/// Reads from the socket with a deadline for the whole body rather than for each read, so that
/// a peer dripping a byte at a time cannot hold the connection past it.
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    until: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        (&mut &*self.stream).read(buf)
    }
}

fn too_large_head(max: usize) -> Reject {
    Reject {
        status: 431,
        detail: format!("request head over the {max}-byte limit"),
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// What an HTTP/2 connection sees of the `http` server it runs in.
struct H2Host<'a> {
    shared: &'a Shared,
    slot: &'a Slot,
}

impl Host for H2Host<'_> {
    fn pipeline(&self) -> &Arc<Pipeline> {
        &self.shared.pipeline
    }

    fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    fn streams(&self) -> &Arc<WorkQueue<StreamJob>> {
        &self.shared.streams
    }

    fn draining(&self) -> bool {
        self.shared.pipeline.health().is_draining()
    }

    fn closing(&self) -> bool {
        self.shared.closing()
    }

    fn set_busy(&self, busy: bool) -> bool {
        self.slot
            .enter(if busy { BUSY } else { IDLE }, self.shared.now_ms())
    }
}
