//! The `http` server: our own HTTP/1.1 core on httparse, one pooled thread per connection.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::pipeline::Pipeline;
use crate::server::{Limits, Server, ServerHandle};
use crate::sync;

mod body;
mod conn;
mod head;

use crate::server::http2::StreamJob;
use crate::server::pool::Pool;
use crate::server::work::{self, WorkQueue};

/// The default server: HTTP/1.1 on httparse, a thread per connection from a growing pool.
///
/// Content-Length and chunked bodies, `Expect: 100-continue`, keep-alive for 1.0 and 1.1,
/// pipelining, HEAD, `Date`; limits on head size, header count and body size; head, body,
/// idle and write timeouts; caps on connections (evicting waiting ones to admit new ones) and
/// on requests in flight (503 beyond it); health answered before routing; a graceful drain on
/// stop. See [`Limits`].
pub struct HttpServer {
    limits: Limits,
}

impl HttpServer {
    /// A server with these limits.
    pub fn new(limits: Limits) -> HttpServer {
        HttpServer { limits }
    }
}

impl Default for HttpServer {
    fn default() -> HttpServer {
        HttpServer::new(Limits::default())
    }
}

/// A connection's state, published for the accept thread (eviction at the cap, drain).
pub(crate) const FRESH: u8 = 0;
/// Served at least one request; waiting for the next with no byte of it yet.
pub(crate) const IDLE: u8 = 1;
/// Part of a request head has arrived.
pub(crate) const HEAD: u8 = 2;
/// A whole head arrived: reading the body, in the handler, or writing the answer.
pub(crate) const BUSY: u8 = 3;
/// Closed by the accept thread; the connection's thread ends as soon as it looks.
pub(crate) const EVICTED: u8 = 4;

/// Connections beyond `max_connections` that are still read, one request each: a health probe
/// is answered, anything else gets a fast 503. Past this many, new connections wait in the backlog.
pub(crate) const OVERFLOW: usize = 16;

/// How long a kept-alive connection must have been idle before it may be evicted at the cap:
/// a client between two requests (microseconds idle) keeps its connection, even while a flood
/// of new ones churns through the cap.
const IDLE_GRACE: Duration = Duration::from_millis(100);

/// How long an overflow connection's request may wait for room before its 503.
const PROMOTE_WAIT: Duration = Duration::from_millis(250);

/// How long a connection may wait for its first byte (or a head may take) before it counts as
/// idle: at the cap it may then be evicted, and when draining a silent one is closed.
const GRACE: Duration = Duration::from_millis(500);

/// One open connection as the accept thread sees it; its thread updates `state` without a lock.
pub(crate) struct Slot {
    /// The connection's socket: its thread reads and writes it, the accept thread may shut it.
    pub stream: TcpStream,
    state: AtomicU8,
    /// When the state began, in milliseconds since the server started.
    since: AtomicU64,
    /// Admitted beyond the connection cap: one request, then closed, unless it makes room for
    /// itself once that request has arrived (see `Shared::promote`).
    overflow: AtomicBool,
}

impl Slot {
    /// Moves to `state` since `now`; false when the connection was evicted meanwhile.
    pub fn enter(&self, state: u8, now: u64) -> bool {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            if current == EVICTED {
                return false;
            }
            if current == state {
                return true;
            }
            self.since.store(now, Ordering::Relaxed);
            match self
                .state
                .compare_exchange(current, state, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// Whether the connection is beyond the cap (see [`Slot::overflow`]).
    pub fn is_overflow(&self) -> bool {
        self.overflow.load(Ordering::Relaxed)
    }

    /// Closes the connection if it is still in state `from`: its thread wakes and ends.
    fn evict(&self, from: u8) -> bool {
        let won = self
            .state
            .compare_exchange(from, EVICTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            let _ = self.stream.shutdown(Shutdown::Both);
        }
        won
    }
}

/// A connection handed to the pool.
pub(crate) struct Job {
    id: u64,
    peer: SocketAddr,
    slot: Arc<Slot>,
}

/// What every connection thread shares.
pub(crate) struct Shared {
    pipeline: Arc<Pipeline>,
    /// The threads of HTTP/2 request streams (a connection's own thread reads its frames).
    streams: Arc<WorkQueue<StreamJob>>,
    limits: Limits,
    /// Set when the server stops: the listener closes and the drain begins.
    closing: AtomicBool,
    next_conn: AtomicU64,
    /// The open connections, so that the accept thread can evict and drain them.
    conns: Mutex<HashMap<u64, Arc<Slot>>>,
    /// Signalled whenever a connection ends (the drain waits on it).
    ended: Condvar,
    epoch: Instant,
}

/// What the accept thread may do with a new connection.
enum Admission {
    /// Serve it (an idle or silent connection may have been evicted to make room).
    Serve,
    /// Read one request: a health probe is answered, anything else gets a 503.
    Overflow,
    /// No room at all: keep it waiting a moment and ask again.
    Full,
}

impl Shared {
    /// Whether the connection should close after the current response: draining or closing.
    fn stopping(&self) -> bool {
        self.pipeline.health().is_draining() || self.closing.load(Ordering::SeqCst)
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Milliseconds since the server started: the clock of [`Slot::since`].
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn grace_ms(&self) -> u64 {
        GRACE.min(self.limits.head_timeout).as_millis() as u64
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        sync::lock(&self.conns)
    }

    /// Counts regular and overflow connections, and closes the regular one that has waited
    /// longest for a request (silent or slow heads past [`GRACE`] first, then keep-alive ones
    /// idle past [`IDLE_GRACE`]) if there are `max` or more: `(regular left, overflow, whether
    /// one was closed)`.
    fn make_room(&self, conns: &HashMap<u64, Arc<Slot>>, max: usize) -> (usize, usize, bool) {
        let (now, grace) = (self.now_ms(), self.grace_ms());
        let (mut regular, mut overflow) = (0, 0);
        let mut victim: Option<((u8, u64), u8, &Arc<Slot>)> = None;
        for slot in conns.values() {
            let state = slot.state.load(Ordering::Acquire);
            if state == EVICTED {
                continue;
            }
            if slot.is_overflow() {
                overflow += 1;
                continue;
            }
            regular += 1;
            let since = slot.since.load(Ordering::Relaxed);
            let rank = match state {
                FRESH | HEAD if now.saturating_sub(since) >= grace => 0,
                IDLE if now.saturating_sub(since) >= IDLE_GRACE.as_millis() as u64 => 1,
                _ => continue,
            };
            if victim.is_none_or(|(best, _, _)| (rank, since) < best) {
                victim = Some(((rank, since), state, slot));
            }
        }
        if regular < max {
            return (regular, overflow, false);
        }
        match victim {
            Some((_, state, slot)) if slot.evict(state) => {
                log::debug!("at the {max}-connection cap: closed a waiting connection");
                (regular - 1, overflow, true)
            }
            _ => (regular, overflow, false),
        }
    }

    /// Decides on a new connection: serve it (making room at the cap), overflow, or wait.
    fn admission(&self) -> Admission {
        let conns = self.lock();
        let max = self.limits.max_connections.max(1);
        if conns.len() < max {
            return Admission::Serve;
        }
        match self.make_room(&conns, max) {
            (regular, _, _) if regular < max => Admission::Serve,
            (_, overflow, _) if overflow < OVERFLOW => Admission::Overflow,
            _ => Admission::Full,
        }
    }

    /// An overflow connection whose request has arrived becomes a regular one if room can be
    /// made within [`PROMOTE_WAIT`] (a connection that sends a request is worth more than one
    /// that waits); false means it gets the 503.
    pub fn promote(&self, slot: &Slot) -> bool {
        let until = Instant::now() + PROMOTE_WAIT;
        let max = self.limits.max_connections.max(1);
        loop {
            let (regular, _, _) = self.make_room(&self.lock(), max);
            if regular < max {
                slot.overflow.store(false, Ordering::Relaxed);
                return true;
            }
            if Instant::now() >= until || self.closing() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Records a connection the pool is about to serve.
    fn register(&self, stream: TcpStream, peer: SocketAddr, overflow: bool) -> Job {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            stream,
            state: AtomicU8::new(FRESH),
            since: AtomicU64::new(self.now_ms()),
            overflow: AtomicBool::new(overflow),
        });
        self.lock().insert(id, slot.clone());
        self.pipeline.connection_opened();
        Job { id, peer, slot }
    }

    fn unregister(&self, id: u64) {
        self.lock().remove(&id);
        self.pipeline.connection_closed();
        self.ended.notify_all();
    }
}

impl Server for HttpServer {
    fn name(&self) -> &'static str {
        "http"
    }

    fn serve(self: Box<Self>, listener: TcpListener, pipeline: Arc<Pipeline>) -> Result<ServerHandle, Error> {
        let addr = listener.local_addr()?;
        crate::server::prepare_listener(&listener)?;
        // Admitted streams are at most max_in_flight; health and metrics are not counted.
        let lanes = std::thread::available_parallelism().map_or(2, |n| n.get());
        let streams = WorkQueue::new(
            format!("h2s{}", addr.port()),
            lanes,
            self.limits.max_in_flight.max(1) + 2 * OVERFLOW,
            self.limits.worker_idle,
            work::STALL,
            Box::new(StreamJob::run),
        )?;
        let shared = Arc::new(Shared {
            pipeline,
            streams,
            limits: self.limits.clone(),
            closing: AtomicBool::new(false),
            next_conn: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
            ended: Condvar::new(),
            epoch: Instant::now(),
        });
        let for_pool = shared.clone();
        // Thread names carry the port, so `top -H` (and the tests) can tell servers apart.
        let pool = Pool::new(
            format!("http{}", addr.port()),
            self.limits.max_connections.max(1) + 2 * OVERFLOW,
            self.limits.worker_idle,
            Box::new(move |job: Job| {
                let id = job.id;
                conn::serve(&for_pool, job.peer, job.slot);
                for_pool.unregister(id);
            }),
        );
        let for_accept = shared.clone();
        let main = std::thread::Builder::new()
            .name(format!("http{}-accept", addr.port()))
            .spawn(move || accept_loop(listener, &for_accept, &pool))
            .inspect_err(|_| {
                // No accept loop to drain: the stream queue's watcher ends here.
                shared.streams.close(Instant::now());
            })?;
        let stop = move || {
            if !shared.closing.swap(true, Ordering::SeqCst) {
                // Wake the accept loop with a connection of our own; it sees the flag and ends.
                let _ = TcpStream::connect_timeout(&wake_addr(addr), Duration::from_secs(1));
            }
        };
        Ok(ServerHandle::new(addr, Arc::new(stop), main))
    }
}

/// Accepts until stopped, then drains: the backlog is served, the listener closed, idle
/// connections closed, and busy ones given until `shutdown_timeout` to finish.
fn accept_loop(listener: TcpListener, shared: &Shared, pool: &Arc<Pool<Job>>) -> Result<(), Error> {
    let mut backoff = Duration::from_millis(5);
    while !shared.closing() {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                admit(shared, pool, stream, peer);
            }
            Err(e) if is_transient(&e) => {}
            Err(e) => {
                // Out of file descriptors, say: back off and carry on rather than die.
                log::warn!("accept failed: {e}; retrying in {backoff:?}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    let deadline = Instant::now() + shared.limits.shutdown_timeout;
    // Connections the kernel completed before the listener closes are served, not reset.
    if listener.set_nonblocking(true).is_ok() {
        while let Ok((stream, peer)) = listener.accept() {
            if stream.set_nonblocking(false).is_ok() {
                admit(shared, pool, stream, peer);
            }
        }
    }
    drop(listener);
    let left = drain(shared, deadline);
    // Threads blocked on a socket end as soon as it is shut; a handler that does not return by
    // then is left running (the process is about to exit, or the caller moves on).
    let until = Instant::now().max(deadline) + Duration::from_millis(250);
    let stuck = pool.close(until) + shared.streams.close(until);
    if left > 0 || stuck > 0 {
        log::warn!(
            "shutdown timeout: closed {left} connections still busy; {stuck} handler threads left running"
        );
    }
    Ok(())
}

/// Serves a new connection, making room at the cap; waits (not accepting) while there is none.
fn admit(shared: &Shared, pool: &Arc<Pool<Job>>, stream: TcpStream, peer: SocketAddr) {
    let overflow = loop {
        match shared.admission() {
            Admission::Serve => break false,
            Admission::Overflow => break true,
            Admission::Full if shared.closing() => return,
            Admission::Full => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let job = shared.register(stream, peer, overflow);
    let id = job.id;
    if !pool.submit(job) {
        shared.unregister(id);
    }
}

/// Waits until every connection has ended or `deadline` passes, closing idle ones (and silent
/// ones after [`GRACE`]) as it goes; at the deadline every socket left is shut. Returns how
/// many connections were still open then.
fn drain(shared: &Shared, deadline: Instant) -> usize {
    let grace = shared.grace_ms();
    let mut conns = shared.lock();
    loop {
        let now = shared.now_ms();
        for slot in conns.values() {
            match slot.state.load(Ordering::Acquire) {
                IDLE => {
                    slot.evict(IDLE);
                }
                FRESH if now.saturating_sub(slot.since.load(Ordering::Relaxed)) >= grace => {
                    slot.evict(FRESH);
                }
                _ => {}
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if conns.is_empty() {
            return 0;
        }
        if left.is_zero() {
            for slot in conns.values() {
                slot.state.store(EVICTED, Ordering::Release);
                let _ = slot.stream.shutdown(Shutdown::Both);
            }
            return conns.len();
        }
        let step = left.min(Duration::from_millis(20));
        conns = sync::wait_timeout(&shared.ended, conns, step);
    }
}

fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
    )
}

/// Where to connect to reach a listener bound to `addr` (the unspecified address means loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Runs the request parser over `bytes` as a connection would see them: heads (httparse plus
/// our framing rules) and their bodies (Content-Length or chunked), pipelined one after another,
/// read through a buffer that starts at 16 bytes and grows to the 64 KiB head limit. Returns one
/// entry per request: the body's length, or the status it was refused with (the connection
/// would close there). For fuzzing (`fuzz/`): it must return, without panicking, for any input.
#[doc(hidden)]
pub fn fuzz_request(bytes: &[u8]) -> Vec<Result<usize, u16>> {
    const MAX_HEAD: usize = 64 * 1024;
    const MAX_BODY: usize = 64 * 1024;
    let mut src = bytes;
    let mut buf = body::Buf::new(16, MAX_HEAD + 1);
    let mut seen = Vec::new();
    while seen.len() < 16 {
        let head = loop {
            match head::parse(buf.unread(), 100) {
                Err(reject) => {
                    seen.push(Err(reject.status));
                    return seen;
                }
                Ok(Some(head)) => break head,
                Ok(None) if buf.unread().len() > MAX_HEAD => {
                    seen.push(Err(431));
                    return seen;
                }
                Ok(None) => match buf.fill(&mut src) {
                    Ok(0) | Err(_) => return seen,
                    Ok(_) => {}
                },
            }
        };
        buf.consume(head.len);
        let body = match head.framing {
            head::Framing::Empty => Ok(0),
            head::Framing::Length(n) if n > MAX_BODY as u64 => Err(413),
            head::Framing::Length(n) => body::read_length(&mut buf, &mut src, n as usize)
                .map(|b| b.len())
                .map_err(|_| 400),
            head::Framing::Chunked => body::read_chunked(&mut buf, &mut src, MAX_BODY)
                .map(|b| b.len())
                .map_err(|e| match e {
                    body::BodyError::TooLarge => 413,
                    _ => 400,
                }),
        };
        let stop = body.is_err();
        seen.push(body);
        if stop {
            break;
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::fuzz_request;

    #[test]
    fn fuzz_entry_reads_pipelined_requests_and_stops_at_a_refusal() {
        let two = b"GET / HTTP/1.1\r\n\r\nPOST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(fuzz_request(two), [Ok(0), Ok(3)]);
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET";
        assert_eq!(fuzz_request(chunked), [Ok(3)]);
        let smuggled = b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(fuzz_request(smuggled), [Err(400)]);
        assert_eq!(fuzz_request(b"GET / HTTP/2.0\r\n\r\n"), [Err(505)]);
        assert_eq!(fuzz_request(&[b'a'; 70_000]), [Err(431)]);
        assert_eq!(fuzz_request(b"\x01GET / HTTP/1.1\r\n\r\n"), [Err(400)]);
        let long = [&b"GET /"[..], &[b'a'; 70_000]].concat();
        assert_eq!(fuzz_request(&long), [Err(431)]);
        assert_eq!(fuzz_request(b""), []);
    }
}
