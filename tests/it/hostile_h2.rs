//! HTTP/2 hostile input (RFC 9113, CVE-2023-44487 and friends): every abuse ends in a
//! connection error (GOAWAY with the right code), a stream reset or an error answer within a
//! bounded time; the server goes on serving others, and its threads and sockets return to
//! where they were.
//!
//! Frames are built by hand here (a 9-byte header and a payload; HPACK blocks from static
//! indexes and literals without indexing), so nothing in the crate's own codec is trusted to
//! judge itself. The server's threads are counted by name (`http{port}-`, `h2s{port}-`) and
//! its sockets as this process's descriptors whose local port is the server's.

use std::collections::HashSet;
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use micro_mesh::Limits;

use crate::support::{IO_TIMEOUT, exchange, sample_with, serial, stop};

// Frame types, flags and error codes (RFC 9113 sections 6 and 7).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;
const CANCEL: u32 = 0x8;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[cfg(feature = "protobuf")]
mod bidi;

/// The battery's limits: small and short, so every case ends quickly and threads retire.
fn limits() -> Limits {
    Limits {
        max_head: 16 * 1024,
        head_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_millis(500),
        worker_idle: Duration::from_millis(50),
        max_connections: 64,
        max_concurrent_streams: 8,
        ..Limits::default()
    }
}

/// One frame: the 9-byte header, then the payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> = params
        .iter()
        .flat_map(|(id, v)| [&id.to_be_bytes()[..], &v.to_be_bytes()].concat())
        .collect();
    frame(SETTINGS, 0, 0, &payload)
}

fn rst(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

/// An HPACK integer with a `bits`-bit prefix (RFC 7541 section 5.1), `flags` in the first byte.
fn int(out: &mut Vec<u8>, value: usize, bits: u32, flags: u8) {
    let max = (1 << bits) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// A literal field without indexing, new name (`0x00 len name len value`); `0x40` adds it to
/// the dynamic table.
fn literal(first: u8, name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![first];
    int(&mut out, name.len(), 7, 0);
    out.extend_from_slice(name.as_bytes());
    int(&mut out, value.len(), 7, 0);
    out.extend_from_slice(value.as_bytes());
    out
}

fn lit(name: &str, value: &str) -> Vec<u8> {
    literal(0x00, name, value)
}

/// `GET path` over http: `:method GET` (0x82), `:scheme http` (0x86), `:path` by its index.
fn get(path: &str) -> Vec<u8> {
    let mut out = vec![0x82, 0x86];
    int(&mut out, 4, 4, 0x00);
    int(&mut out, path.len(), 7, 0);
    out.extend_from_slice(path.as_bytes());
    out
}

/// A whole request in one HEADERS frame.
fn request(stream: u32, block: &[u8], end_stream: bool) -> Vec<u8> {
    let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
    frame(HEADERS, flags, stream, block)
}

/// How a case ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    GoAway(u32),
    Reset(u32, u32),
    /// A response on a stream: status and body.
    Answer(u32, u16, String),
    /// An HTTP/1.1 status line (the bytes were not HTTP/2 after all).
    Http1(u16),
    Closed,
    Quiet,
}

fn code_name(code: u32) -> String {
    let names = [
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "COMPRESSION_ERROR",
        "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM",
    ];
    names
        .get(code as usize)
        .map_or_else(|| format!("0x{code:x}"), |n| n.to_string())
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::GoAway(code) => write!(f, "GOAWAY {}", code_name(*code)),
            Event::Reset(stream, code) => write!(f, "RST_STREAM {} on {stream}", code_name(*code)),
            Event::Answer(stream, status, _) => write!(f, "{status} on {stream}"),
            Event::Http1(status) => write!(f, "HTTP/1.1 {status}, closed"),
            Event::Closed => write!(f, "closed"),
            Event::Quiet => write!(f, "nothing"),
        }
    }
}

/// `:status` from a response block as our server encodes it: a static index (0x88..0x8e) or a
/// literal with the indexed name `:status` (0x08), its value raw or Huffman-coded digits.
fn status_of(block: &[u8]) -> u16 {
    const STATIC: [u16; 7] = [200, 204, 206, 304, 400, 404, 500];
    match block {
        [b @ 0x88..=0x8e, ..] => STATIC[usize::from(b - 0x88)],
        [0x08, len, rest @ ..] => {
            let value = &rest[..usize::from(len & 0x7f).min(rest.len())];
            let digits = if len & 0x80 == 0 {
                String::from_utf8_lossy(value).into_owned()
            } else {
                huffman_digits(value)
            };
            digits.parse().unwrap_or(0)
        }
        _ => 0,
    }
}

/// Decodes Huffman-coded digits (RFC 7541 Appendix B: '0'-'2' are 00000-00010, '3'-'9'
/// 011001-011111), up to the padding.
fn huffman_digits(bytes: &[u8]) -> String {
    let bit = |i: usize| bytes.get(i / 8).map(|b| b >> (7 - i % 8) & 1);
    let take = |at: usize, n: usize| (at..at + n).try_fold(0u8, |acc, i| Some(acc << 1 | bit(i)?));
    let (mut at, mut out) = (0, String::new());
    while let Some(five) = take(at, 5) {
        if five <= 2 {
            out.push(char::from(b'0' + five));
            at += 5;
            continue;
        }
        match take(at, 6) {
            Some(six @ 0b011001..=0b011111) => out.push(char::from(b'3' + six - 0b011001)),
            _ => break,
        }
        at += 6;
    }
    out
}

/// A raw client connection.
struct Peer {
    sock: TcpStream,
    buf: Vec<u8>,
    /// Header status of each stream answered so far, until its END_STREAM.
    status: Vec<(u32, u16, Vec<u8>)>,
}

impl Peer {
    fn connect(addr: SocketAddr) -> Peer {
        let sock = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        sock.set_write_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let _ = sock.set_nodelay(true);
        Peer {
            sock,
            buf: Vec::new(),
            status: Vec::new(),
        }
    }

    /// A client that has sent the preface and its SETTINGS.
    fn h2(addr: SocketAddr, params: &[(u16, u32)]) -> Peer {
        let mut peer = Peer::connect(addr);
        peer.send(&[PREFACE, &settings(params)].concat());
        peer
    }

    /// Writes `bytes`; false once the server has closed (it may refuse before reading all).
    fn send(&mut self, bytes: &[u8]) -> bool {
        self.sock.write_all(bytes).is_ok()
    }

    /// The next frame (type, flags, stream, payload), or how the connection ended by `until`.
    fn next(&mut self, until: Instant) -> Result<(u8, u8, u32, Vec<u8>), Event> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f: Vec<u8> = self.buf.drain(..9 + len).collect();
                    let stream = u32::from_be_bytes([f[5], f[6], f[7], f[8]]) & 0x7fff_ffff;
                    return Ok((f[3], f[4], stream, f[9..].to_vec()));
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Event::Quiet);
            }
            let _ = self.sock.set_read_timeout(Some(left));
            match self.sock.read(&mut chunk) {
                Ok(0) => return Err(Event::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(Event::Quiet);
                }
                Err(_) => return Err(Event::Closed),
            }
        }
    }

    /// Reads until something ends a stream or the connection: GOAWAY, RST_STREAM, a whole
    /// answer, the connection closing, or `within` passing.
    fn outcome(&mut self, within: Duration) -> Event {
        let until = Instant::now() + within;
        loop {
            let (kind, flags, stream, payload) = match self.next(until) {
                Ok(frame) => frame,
                Err(end) => return end,
            };
            match kind {
                GOAWAY => return Event::GoAway(u32::from_be_bytes(payload[4..8].try_into().unwrap())),
                RST_STREAM => {
                    return Event::Reset(stream, u32::from_be_bytes(payload[..4].try_into().unwrap()));
                }
                HEADERS => self.status.push((stream, status_of(&payload), Vec::new())),
                DATA => {
                    if let Some(s) = self.status.iter_mut().find(|s| s.0 == stream) {
                        s.2.extend_from_slice(&payload);
                    }
                }
                _ => continue,
            }
            if flags & END_STREAM != 0
                && let Some(i) = self.status.iter().position(|s| s.0 == stream)
            {
                let (stream, status, body) = self.status.remove(i);
                return Event::Answer(stream, status, String::from_utf8_lossy(&body).into_owned());
            }
        }
    }

    /// Asserts that `GET /hello?name=...` on `stream` of this connection is answered.
    #[track_caller]
    fn still_serves(&mut self, stream: u32) {
        let name = format!("s{stream}");
        self.send(&request(stream, &get(&format!("/hello?name={name}")), true));
        let until = Instant::now() + Duration::from_secs(5);
        // What still arrives on earlier streams (a reset after an error answer) is skipped.
        let seen = loop {
            match self.outcome(until.saturating_duration_since(Instant::now())) {
                Event::Reset(other, _) | Event::Answer(other, ..) if other != stream => {}
                seen => break seen,
            }
        };
        assert_eq!(
            seen,
            Event::Answer(stream, 200, format!("hello {name}")),
            "the connection is no longer usable"
        );
    }
}

/// A fresh HTTP/2 connection gets an answer.
#[track_caller]
fn h2_answers(addr: SocketAddr) {
    let mut peer = Peer::h2(addr, &[]);
    peer.still_serves(1);
}

/// Threads of the server on `port`: its connection pool, accept thread and stream pool.
fn threads(port: u16) -> usize {
    let prefixes = [format!("http{port}-"), format!("h2s{port}-")];
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|n| prefixes.iter().any(|p| n.starts_with(p)))
        })
        .count()
}

/// This process's descriptors of sockets whose local port is `port`: the listener and the
/// server's side of each connection (clients' sockets have `port` as their remote port).
fn sockets(port: u16) -> usize {
    held(port, None)
}

/// Descriptors of sockets with local port `port` (and remote port `peer`, when given).
fn held(port: u16, peer: Option<u16>) -> usize {
    let port_of = |addr: Option<&&str>| {
        addr.and_then(|a| a.rsplit(':').next())
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    let mut ours = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if port_of(cols.get(1)) == Some(port)
                && peer.is_none_or(|p| port_of(cols.get(2)) == Some(p))
                && let Some(inode) = cols.get(9).filter(|i| **i != "0")
            {
                ours.insert(format!("socket:[{inode}]"));
            }
        }
    }
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    fds.filter_map(Result::ok)
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| ours.contains(l.to_string_lossy().as_ref())))
        .count()
}

/// The server's (threads, sockets) once started: its accept thread names itself as it starts.
fn baseline(port: u16) -> (usize, usize) {
    // A new thread names itself once it runs: wait for both the accept thread and the watcher.
    let until = Instant::now() + Duration::from_secs(2);
    while threads(port) < 2 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    (threads(port), sockets(port))
}

/// Waits up to `limit` for threads and sockets to be back at `base`; returns what was seen.
fn settle(port: u16, base: (usize, usize), limit: Duration) -> (usize, usize) {
    let until = Instant::now() + limit;
    loop {
        let now = (threads(port), sockets(port));
        if (now.0 <= base.0 && now.1 <= base.1) || Instant::now() > until {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits up to `limit` for the server to have let go of `peer`'s connection (which it has
/// accepted): how a peer that never reads learns it was freed without reading.
fn released(peer: &Peer, limit: Duration) -> bool {
    let port = peer.sock.peer_addr().expect("peer").port();
    let local = peer.sock.local_addr().expect("local").port();
    let until = Instant::now() + limit;
    while held(port, Some(local)) > 0 {
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// What one case does and what it must see.
struct Case {
    /// One line of intent.
    name: &'static str,
    run: fn(SocketAddr) -> Event,
    /// Acceptable outcomes, as [`Event`] displays them.
    want: &'static [&'static str],
}

fn case(name: &'static str, run: fn(SocketAddr) -> Event, want: &'static [&'static str]) -> Case {
    Case { name, run, want }
}

/// One abuse on a fresh connection: the frames after the preface and SETTINGS, then the outcome.
fn abuse(addr: SocketAddr, frames: &[u8]) -> Event {
    let mut peer = Peer::h2(addr, &[]);
    peer.send(frames);
    peer.outcome(Duration::from_secs(5))
}

/// A request's header block split into HEADERS (with END_STREAM) and CONTINUATIONs of
/// `piece` bytes, END_HEADERS on the last.
fn split_block(stream: u32, block: &[u8], piece: usize) -> Vec<u8> {
    let parts: Vec<&[u8]> = block.chunks(piece).collect();
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let end = if i + 1 == parts.len() { END_HEADERS } else { 0 };
        let (kind, flags) = if i == 0 {
            (HEADERS, END_STREAM | end)
        } else {
            (CONTINUATION, end)
        };
        out.extend(frame(kind, flags, stream, part));
    }
    out
}

fn battery() -> Vec<Case> {
    vec![
        // The preface.
        case(
            "preface followed by PING, not SETTINGS",
            |a| {
                let mut peer = Peer::connect(a);
                peer.send(&[PREFACE, &frame(PING, 0, 0, &[0; 8])].concat());
                peer.outcome(Duration::from_secs(5))
            },
            &["GOAWAY PROTOCOL_ERROR"],
        ),
        case(
            "preface followed by a SETTINGS ACK",
            |a| {
                let mut peer = Peer::connect(a);
                peer.send(&[PREFACE, &frame(SETTINGS, ACK, 0, &[])].concat());
                peer.outcome(Duration::from_secs(5))
            },
            &["GOAWAY PROTOCOL_ERROR"],
        ),
        case(
            "a mangled preface is not HTTP/2: HTTP/1.1 refuses it",
            |a| {
                let mut peer = Peer::connect(a);
                peer.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n");
                let mut text = Vec::new();
                let _ = peer.sock.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = peer.sock.read_to_end(&mut text);
                let text = String::from_utf8_lossy(&text);
                match text.strip_prefix("HTTP/1.1 ") {
                    Some(rest) => Event::Http1(rest[..3].parse().unwrap_or(0)),
                    None => Event::Closed,
                }
            },
            &["HTTP/1.1 505, closed", "HTTP/1.1 400, closed"],
        ),
        case(
            "a preface cut short, then silence: closed within the head timeout",
            |a| {
                let mut peer = Peer::connect(a);
                peer.send(&PREFACE[..10]);
                peer.outcome(Duration::from_secs(5))
            },
            &["closed"],
        ),
        // Abuse counters.
        case(
            "rapid reset: 5,000 HEADERS + RST_STREAM (CVE-2023-44487)",
            |a| {
                let mut flood = Vec::new();
                for i in 0..5000u32 {
                    let id = 2 * i + 1;
                    flood.extend(request(id, &get("/hello?name=r"), true));
                    flood.extend(rst(id, CANCEL));
                }
                let mut peer = Peer::h2(a, &[]);
                peer.send(&flood);
                loop {
                    match peer.outcome(Duration::from_secs(5)) {
                        Event::Answer(..) | Event::Reset(..) => continue,
                        end => return end,
                    }
                }
            },
            &["GOAWAY ENHANCE_YOUR_CALM"],
        ),
        case(
            "CONTINUATION flood: 1 KiB fragments, never END_HEADERS",
            |a| {
                let mut flood = frame(HEADERS, 0, 1, &get("/hello"));
                for _ in 0..1000 {
                    flood.extend(frame(CONTINUATION, 0, 1, &[0x82; 1024]));
                }
                abuse(a, &flood)
            },
            &["GOAWAY ENHANCE_YOUR_CALM"],
        ),
        case(
            "CONTINUATION flood: empty fragments, never END_HEADERS",
            |a| {
                let mut flood = frame(HEADERS, 0, 1, &get("/hello"));
                for _ in 0..100_000 {
                    flood.extend(frame(CONTINUATION, 0, 1, &[]));
                }
                abuse(a, &flood)
            },
            &["GOAWAY ENHANCE_YOUR_CALM"],
        ),
        case(
            "empty DATA flood on an open stream",
            |a| {
                let mut flood = request(
                    1,
                    &[get("/hello").as_slice(), &lit("content-length", "1")].concat(),
                    false,
                );
                for _ in 0..5000 {
                    flood.extend(frame(DATA, 0, 1, &[]));
                }
                abuse(a, &flood)
            },
            &["GOAWAY ENHANCE_YOUR_CALM"],
        ),
        case(
            "SETTINGS flood from a peer that never reads",
            |a| {
                non_reader(
                    a,
                    &settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 65_535)]).repeat(50_000),
                )
            },
            &["GOAWAY ENHANCE_YOUR_CALM", "closed"],
        ),
        case(
            "PING flood from a peer that never reads",
            |a| non_reader(a, &frame(PING, 0, 0, &[7; 8]).repeat(50_000)),
            &["GOAWAY ENHANCE_YOUR_CALM", "closed"],
        ),
        case(
            "PING flood among requests from a peer that never reads: the write timeout frees it",
            |a| non_reader(a, &pings_with_requests()),
            &["closed", "GOAWAY ENHANCE_YOUR_CALM"],
        ),
        case(
            "zero-window reader: INITIAL_WINDOW_SIZE 0, never a WINDOW_UPDATE",
            |a| {
                let mut peer = Peer::h2(a, &[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]);
                peer.send(&request(1, &get("/hello?name=stuck"), true));
                // The response's HEADERS come (not flow-controlled), its DATA never can: the
                // stream waits the write timeout for window, then the connection ends.
                peer.outcome(Duration::from_secs(5))
            },
            &["GOAWAY ENHANCE_YOUR_CALM"],
        ),
        // Sizes.
        case(
            "HPACK bomb: a 4 KB entry referenced 8,000 times (32 MB decoded)",
            |a| {
                let mut block = get("/hello?name=bomb");
                block.extend(literal(0x40, "x-bomb", &"a".repeat(4000)));
                block.extend(std::iter::repeat_n(0xbe, 8000));
                let mut peer = Peer::h2(a, &[]);
                peer.send(&request(1, &block, true));
                let seen = peer.outcome(Duration::from_secs(5));
                if let Event::Answer(_, 431, body) = &seen {
                    assert!(body.contains(r#""code":431"#), "the error JSON: {body}");
                }
                peer.still_serves(3);
                seen
            },
            &["431 on 1", "RST_STREAM PROTOCOL_ERROR on 1"],
        ),
        case(
            "header list just over the limit (16.6 KB decoded, in a CONTINUATION)",
            |a| {
                let mut block = get("/hello?name=big");
                for i in 0..3 {
                    block.extend(lit(&format!("x-big-{i}"), &"b".repeat(5500)));
                }
                let mut peer = Peer::h2(a, &[]);
                peer.send(&split_block(1, &block, 16_384));
                let seen = peer.outcome(Duration::from_secs(5));
                peer.still_serves(3);
                seen
            },
            &["431 on 1"],
        ),
        case(
            "header block far over the limit (40 KB across CONTINUATIONs)",
            |a| {
                let mut block = get("/hello?name=huge");
                for i in 0..8 {
                    block.extend(lit(&format!("x-huge-{i}"), &"h".repeat(5000)));
                }
                abuse(a, &split_block(1, &block, 16_384))
            },
            &["GOAWAY ENHANCE_YOUR_CALM"],
        ),
        case(
            "frame over SETTINGS_MAX_FRAME_SIZE (16,385 bytes)",
            |a| abuse(a, &frame(HEADERS, END_HEADERS, 1, &[0x82; 16_385])),
            &["GOAWAY FRAME_SIZE_ERROR"],
        ),
        // Streams.
        case(
            "more concurrent streams than advertised (8): the 9th refused",
            |a| {
                let mut peer = Peer::h2(a, &[]);
                for id in (1..=17).step_by(2) {
                    peer.send(&request(id, &get("/hello"), false));
                }
                let seen = peer.outcome(Duration::from_secs(5));
                for id in (1..=15).step_by(2) {
                    peer.send(&rst(id, CANCEL));
                }
                peer.still_serves(19);
                seen
            },
            &["RST_STREAM REFUSED_STREAM on 17"],
        ),
        case(
            "stream ids going backwards (5, then 3)",
            |a| {
                let mut peer = Peer::h2(a, &[]);
                peer.still_serves(5);
                peer.send(&request(3, &get("/hello"), true));
                peer.outcome(Duration::from_secs(5))
            },
            &["GOAWAY PROTOCOL_ERROR"],
        ),
        case(
            "an even (server-initiated) stream id",
            |a| abuse(a, &request(2, &get("/hello"), true)),
            &["GOAWAY PROTOCOL_ERROR"],
        ),
        case(
            "DATA on an idle stream",
            |a| abuse(a, &frame(DATA, END_STREAM, 5, b"x")),
            &["GOAWAY PROTOCOL_ERROR"],
        ),
        case(
            "DATA on a closed stream",
            |a| {
                let mut peer = Peer::h2(a, &[]);
                peer.still_serves(1);
                peer.send(&frame(DATA, 0, 1, b"late"));
                let seen = peer.outcome(Duration::from_secs(5));
                peer.still_serves(3);
                seen
            },
            &["RST_STREAM STREAM_CLOSED on 1"],
        ),
        // Flow control.
        case(
            "WINDOW_UPDATE overflowing the connection's window",
            |a| abuse(a, &window_update(0, 0x7fff_ffff)),
            &["GOAWAY FLOW_CONTROL_ERROR"],
        ),
        case(
            "WINDOW_UPDATE overflowing a stream's window",
            |a| {
                let mut peer = Peer::h2(a, &[]);
                peer.send(&request(1, &get("/hello"), false));
                peer.send(&window_update(1, 0x7fff_ffff));
                let seen = peer.outcome(Duration::from_secs(5));
                peer.still_serves(3);
                seen
            },
            &["RST_STREAM FLOW_CONTROL_ERROR on 1"],
        ),
        // HPACK.
        case(
            "HPACK: index 62 with an empty dynamic table",
            |a| abuse(a, &request(1, &[0x82, 0x86, 0x84, 0xbe], true)),
            &["GOAWAY COMPRESSION_ERROR"],
        ),
        case(
            "HPACK: Huffman padding of zeros",
            |a| {
                abuse(
                    a,
                    &request(
                        1,
                        &[&get("/")[..], &[0x00, 0x01, b'x', 0x81, 0x00]].concat(),
                        true,
                    ),
                )
            },
            &["GOAWAY COMPRESSION_ERROR"],
        ),
        case(
            "HPACK: an integer past 2^32-1",
            |a| {
                abuse(
                    a,
                    &request(1, &[0x82, 0x86, 0x84, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f], true),
                )
            },
            &["GOAWAY COMPRESSION_ERROR"],
        ),
        // Malformed requests: the stream is reset, the connection goes on.
        case(
            "an uppercase header name",
            |a| malformed(a, &lit("X-Upper", "v")),
            &["RST_STREAM PROTOCOL_ERROR on 1"],
        ),
        case(
            "a connection-specific header (connection)",
            |a| malformed(a, &lit("connection", "keep-alive")),
            &["RST_STREAM PROTOCOL_ERROR on 1"],
        ),
        case(
            "a connection-specific header (transfer-encoding)",
            |a| malformed(a, &lit("transfer-encoding", "chunked")),
            &["RST_STREAM PROTOCOL_ERROR on 1"],
        ),
        // Time.
        case(
            "a header block trickled one CONTINUATION a second",
            |a| {
                let mut peer = Peer::h2(a, &[]);
                peer.send(&frame(HEADERS, END_STREAM, 1, &[0x82]));
                for _ in 0..10 {
                    if !peer.send(&frame(CONTINUATION, 0, 1, &[0x86])) {
                        break;
                    }
                    match peer.outcome(Duration::from_secs(1)) {
                        Event::Quiet => continue,
                        end => return end,
                    }
                }
                peer.outcome(Duration::from_secs(5))
            },
            &["GOAWAY ENHANCE_YOUR_CALM"],
        ),
        case(
            "a request body that never comes: 408 within the body timeout",
            |a| {
                let mut peer = Peer::h2(a, &[]);
                let post = [0x83, 0x86, 0x04, 0x06, b'/', b'h', b'e', b'l', b'l', b'o'];
                peer.send(&request(1, &post, false));
                let seen = peer.outcome(Duration::from_secs(5));
                peer.still_serves(3);
                seen
            },
            &["408 on 1"],
        ),
    ]
}

/// `GET /hello` with `field` added, on stream 1; then the connection must still serve.
fn malformed(addr: SocketAddr, field: &[u8]) -> Event {
    let mut peer = Peer::h2(addr, &[]);
    peer.send(&request(1, &[&get("/hello")[..], field].concat(), true));
    let seen = peer.outcome(Duration::from_secs(5));
    peer.still_serves(3);
    seen
}

/// Sends `flood` without reading an answer (from a socket with a small receive buffer, so
/// that the server's answers back up soon); once the server has let go of the connection,
/// reads what it sent last: GOAWAY when a counter tripped, the end alone when a write timed out.
fn non_reader(addr: SocketAddr, flood: &[u8]) -> Event {
    let small = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    small.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    small.connect_timeout(&addr.into(), IO_TIMEOUT).expect("connect");
    let mut peer = Peer {
        sock: TcpStream::from(small),
        buf: Vec::new(),
        status: Vec::new(),
    };
    peer.sock
        .set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    // A PING answered first: the server has accepted the connection and holds it.
    peer.send(&[PREFACE, &settings(&[]), &frame(PING, 0, 0, b"accepted")].concat());
    while !matches!(peer.next(Instant::now() + IO_TIMEOUT), Ok((PING, ACK, ..))) {}
    for chunk in flood.chunks(64 * 1024) {
        if !peer.send(chunk) {
            break;
        }
    }
    assert!(
        released(&peer, Duration::from_secs(5)),
        "the server still holds the connection"
    );
    loop {
        match peer.next(Instant::now() + Duration::from_secs(5)) {
            Ok((GOAWAY, _, _, p)) => return Event::GoAway(u32::from_be_bytes(p[4..8].try_into().unwrap())),
            Ok(_) => {}
            Err(end) => return end,
        }
    }
}

/// 20,000 requests, each followed by 9 PINGs: within the control-frame allowance, which grows
/// with the requests (10 each), so only the write timeout can free a server whose answers
/// nobody reads.
fn pings_with_requests() -> Vec<u8> {
    let mut flood = Vec::new();
    for i in 0..20_000u32 {
        flood.extend(request(2 * i + 1, &get("/hello?name=x"), true));
        for _ in 0..9 {
            flood.extend(frame(PING, 0, 0, &i.to_be_bytes().repeat(2)));
        }
    }
    flood
}

/// Every case ends as it must, in time; afterwards the server answers over HTTP/1.1 and
/// HTTP/2, and its threads and sockets are back at the baseline.
#[test]
fn http2_hostile_battery() {
    let _serial = serial();
    let srv = sample_with("http", limits());
    let (addr, port) = (srv.addr(), srv.addr().port());
    let base = baseline(port);
    assert_eq!(
        base,
        (2, 1),
        "the accept thread, the stream queue's watcher and the listener alone"
    );
    let mut report = Vec::new();
    for case in battery() {
        let started = Instant::now();
        let seen = (case.run)(addr);
        let took = started.elapsed();
        let line = format!("{}: {seen} in {} ms", case.name, took.as_millis());
        eprintln!("[hostile_h2] {line}");
        assert!(
            case.want.contains(&seen.to_string().as_str()),
            "{}: saw {seen}, want one of {:?}",
            case.name,
            case.want
        );
        assert!(took < Duration::from_secs(5), "{line}: too slow");
        h2_answers(addr);
        let after = settle(port, base, Duration::from_secs(5));
        assert_eq!(after, base, "{}: (threads, sockets) left behind", case.name);
        report.push(line);
    }
    eprintln!("[hostile_h2] battery:\n  {}", report.join("\n  "));
    stop("http", srv);
}

/// 1,000 idle HTTP/2 connections against a 64-connection cap: idle ones are closed to admit
/// new ones, and a new HTTP/1.1 and HTTP/2 request are answered; everything is let go after.
#[test]
fn http2_idle_connections_stay_within_the_caps() {
    let _serial = serial();
    let srv = sample_with("http", limits());
    let (addr, port) = (srv.addr(), srv.addr().port());
    let base = baseline(port);
    let started = Instant::now();
    let idle: Vec<Peer> = (0..1000).map(|_| Peer::h2(addr, &[])).collect();
    eprintln!(
        "[hostile_h2] 1,000 idle connections opened in {} ms",
        started.elapsed().as_millis()
    );
    let asked = Instant::now();
    let resp = exchange(
        "h1 among idle h2",
        addr,
        "GET /hello?name=h1 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    crate::support::check(&resp, 200, "hello h1");
    h2_answers(addr);
    let took = asked.elapsed();
    let (threads_now, sockets_now) = (threads(port), sockets(port));
    eprintln!(
        "[hostile_h2] HTTP/1.1 and HTTP/2 answered in {} ms; server threads {threads_now}, sockets {sockets_now}",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // Within the caps, not a thousand: the connection pool (the cap and twice the overflow of
    // 16, idle threads included), the accept thread, a few stream threads; the listener, and
    // two descriptors (the reader's and the writer's) per connection served.
    assert!(threads_now <= 64 + 32 + 1 + 8, "threads {threads_now}");
    assert!(sockets_now <= 1 + 2 * (64 + 32), "sockets {sockets_now}");
    drop(idle);
    let after = settle(port, base, Duration::from_secs(5));
    assert_eq!(after, base, "(threads, sockets) left behind");
    stop("http", srv);
}

#[test]
fn huffman_status_digits_decode() {
    // "431" Huffman-coded: 011010 011001 00001, padded with ones.
    assert_eq!(huffman_digits(&[0b0110_1001, 0b1001_0000, 0b1111_1111]), "431");
    assert_eq!(status_of(&[0x88]), 200);
    assert_eq!(status_of(&[0x08, 0x03, b'4', b'3', b'1']), 431);
}
