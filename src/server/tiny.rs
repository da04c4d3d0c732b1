//! The `tiny_http` server: tiny_http 0.12 with N workers on `recv()` (feature `tiny-http`).
//!
//! tiny_http reads requests on threads of its own and queues them; our workers take them off the
//! queue, read the body within [`Limits::max_body`], call the [`Router`] and write the answer.
//! Of the limits only `max_body`, `workers` and `shutdown_timeout` apply: the others need hooks
//! tiny_http does not have. What this adapter adds on top of tiny_http:
//! - health answered before routing, by workers and by the shedder;
//! - load shedding on `recv()`: when every worker has been busy for [`SHED_AFTER`] with none
//!   coming free, one more thread takes requests off the queue and answers them at once (health
//!   as usual, anything else 503), so probes and callers get an answer instead of a queue;
//! - a drain on stop: the listener is shut (so new connections are refused), and the workers
//!   serve what is queued until the queue stays empty for a moment or `shutdown_timeout` passes.
//!
//! tiny_http 0.12 limits this adapter cannot fix (`shared/bench/RESULTS.md`, tiny_http's source):
//! - connections opened in a burst can starve forever: `util/task_pool.rs` queues a connection
//!   when its stale idle count says a thread is free, and none is;
//! - no read, write or idle timeouts: a slow or idle peer pins a thread (and, mid-body, a worker);
//! - no limit on header count or size;
//! - a request line with `HTTP/2.0` hangs that connection's thread (505 and 500 writers deadlock);
//! - its accept thread dies on the first accept error (EMFILE) and closes the listener, so a
//!   `recv()` error we did not ask for is fatal here: the server ends with an error and the
//!   process should exit non-zero for Kubernetes to restart it;
//! - out of file descriptors just after an accept, its accept thread panics instead
//!   (`util/refined_tcp_stream.rs` unwraps a failed `try_clone`): no error reaches the workers,
//!   and as this adapter holds a clone of the listening socket (for the drain), new connections
//!   then wait in the backlog unanswered while the process stays up. Measured with the team's
//!   `micro/emfile_accept.py` (open-file limit 32): alive, not serving. The liveness probe is
//!   what restarts such a pod; `run()` raises the soft open-file limit to the hard one first.
//! - a declared body over the limit gets its 413 at once, but tiny_http then drains it on the
//!   worker into one buffer of the whole remaining length (`util/equal_reader.rs`): past RAM +
//!   swap the allocation aborts the process; past `isize::MAX` it panics (caught per request);
//! - kept-alive connections outlive a stop: a request sent on one afterwards is never answered;
//!   tiny_http decides whether to reuse a connection from the request alone, so a drain cannot
//!   send `Connection: close` or close idle connections (they end when the process does), and
//!   under steady keep-alive load the drain lasts until `shutdown_timeout`.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::handler::{Request, Response};
use crate::health::Health;
use crate::logger::{self, Access};
use crate::metadata::Metadata;
use crate::router::Router;
use crate::server::{Limits, Server, ServerHandle, worker_count};
use crate::stream::{Sink, Streamer};

/// How long every worker must have been busy, with none coming free, before the shedder
/// answers queued requests with 503.
pub const SHED_AFTER: Duration = Duration::from_millis(500);

/// A worker's or the shedder's loop.
type ThreadBody = fn(&Shared) -> Result<(), Error>;

/// When draining, a worker stops once the queue has stayed empty this long.
const QUIET: Duration = Duration::from_millis(100);

/// How often an idle worker looks up from the queue to see whether the server is stopping.
const TICK: Duration = Duration::from_millis(250);

/// The second server plugin, on tiny_http 0.12.
pub struct TinyHttpServer {
    limits: Limits,
}

impl TinyHttpServer {
    /// A server with these limits (body size and worker count apply).
    pub fn new(limits: Limits) -> TinyHttpServer {
        TinyHttpServer { limits }
    }
}

impl Server for TinyHttpServer {
    fn name(&self) -> &'static str {
        "tiny_http"
    }

    fn serve(
        self: Box<Self>,
        listener: TcpListener,
        router: Arc<Router>,
        health: Health,
    ) -> Result<ServerHandle, Error> {
        crate::server::prepare_listener(&listener)?;
        start(listener, router, health, &self.limits)
    }
}

/// What the workers share. The stop closure holds it weakly, so that the owner thread drops the
/// last strong reference, and with it the `tiny_http::Server`, once every worker has been joined.
struct Shared {
    server: tiny_http::Server,
    /// A clone of the listening socket: shutting it down closes tiny_http's listener (Linux)
    /// while the queue can still be drained.
    listener: Option<TcpListener>,
    stopping: AtomicBool,
    /// Once stopping, when workers stop taking requests (milliseconds since `epoch`).
    drain_until: AtomicU64,
    workers: usize,
    router: Arc<Router>,
    health: Health,
    max_body: usize,
    shutdown_timeout: Duration,
    /// Workers in a request, and when one last came free (milliseconds since `epoch`).
    busy: AtomicUsize,
    last_free: AtomicU64,
    /// Wakes the shedder when every worker is busy, or when stopping.
    saturated: (Mutex<()>, Condvar),
    poisoned: Poisoned,
    /// One taker at a time on tiny_http's queue (see [`take`]).
    taking: Mutex<()>,
    epoch: Instant,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Starts the drain, the first time only: the listener closes, the workers' `recv()` wakes,
    /// and they serve the queue until `timeout` passes or it stays empty. Returns whether this
    /// call started it.
    fn stop(&self, timeout: Duration) -> bool {
        let first = !self.stopping.swap(true, Ordering::SeqCst);
        if first {
            let until = self.now_ms().saturating_add(timeout.as_millis() as u64);
            self.drain_until.store(until, Ordering::SeqCst);
            if let Some(listener) = &self.listener {
                // tiny_http's accept() then fails and its accept thread ends; new connections
                // are refused. Elsewhere than Linux this may fail: the listener then closes
                // when the workers are done and the server is dropped.
                crate::server::shut_listener(listener);
            }
            (0..self.workers).for_each(|_| self.server.unblock());
            self.saturated.1.notify_all();
        }
        first
    }

    /// Whether a stopping worker should stop taking requests now.
    fn drained(&self) -> bool {
        self.now_ms() >= self.drain_until.load(Ordering::SeqCst)
    }
}

fn start(
    listener: TcpListener,
    router: Arc<Router>,
    health: Health,
    limits: &Limits,
) -> Result<ServerHandle, Error> {
    let addr = listener.local_addr()?;
    let clone = listener.try_clone().ok();
    let server = tiny_http::Server::from_listener(listener, None).map_err(|err| match err.downcast() {
        Ok(io) => Error::Io(*io),
        Err(other) => Error::internal(format!("tiny_http: {other}")),
    })?;
    let workers = worker_count(limits);
    let shared = Arc::new(Shared {
        server,
        listener: clone,
        stopping: AtomicBool::new(false),
        drain_until: AtomicU64::new(u64::MAX),
        workers,
        router,
        health,
        max_body: limits.max_body,
        shutdown_timeout: limits.shutdown_timeout,
        busy: AtomicUsize::new(0),
        last_free: AtomicU64::new(0),
        saturated: (Mutex::new(()), Condvar::new()),
        poisoned: Poisoned::new(),
        taking: Mutex::new(()),
        epoch: Instant::now(),
    });
    let (started, wait) = mpsc::channel::<()>();
    let shared2 = shared.clone();
    let owner = thread::Builder::new().name("tiny-owner".into()).spawn(move || {
        let mut threads = Vec::with_capacity(workers + 1);
        for n in 0..=workers {
            let shared3 = shared2.clone();
            let (name, body): (String, ThreadBody) = match n {
                n if n < workers => (format!("tiny-worker-{n}"), work),
                _ => ("tiny-shedder".into(), shed),
            };
            match thread::Builder::new().name(name).spawn(move || body(&shared3)) {
                Ok(t) => threads.push(t),
                Err(err) => {
                    shared2.stop(Duration::ZERO);
                    let _ = join_all(shared2, threads);
                    return Err(Error::Io(err));
                }
            }
        }
        let _ = started.send(());
        join_all(shared2, threads)
    })?;
    if wait.recv().is_err() {
        // The owner could not start every worker; it stopped and joined those it did start.
        return Err(match owner.join() {
            Ok(Err(err)) => err,
            _ => Error::internal("tiny_http: starting the workers failed"),
        });
    }
    let weak: Weak<Shared> = Arc::downgrade(&shared);
    drop(shared);
    let stop = move || {
        if let Some(shared) = weak.upgrade() {
            shared.stop(shared.shutdown_timeout);
        }
    };
    Ok(ServerHandle::new(addr, Arc::new(stop), owner))
}

/// The owner thread's body: joins every worker, then drops the `tiny_http::Server` (whose Drop
/// stops its accept thread). tiny_http's own threads (accept, per-connection pool) are not
/// ours to join: it offers no way to, and they end with their connections or the process.
fn join_all(shared: Arc<Shared>, threads: Vec<JoinHandle<Result<(), Error>>>) -> Result<(), Error> {
    let mut result = Ok(());
    for t in threads {
        let r = t
            .join()
            .unwrap_or_else(|_| Err(Error::internal("tiny_http worker panicked")));
        if result.is_ok() {
            result = r;
        }
    }
    drop(shared);
    result
}

/// A worker: serves requests until stopped, then drains the queue; a `recv()` error nobody
/// asked for is fatal.
fn work(shared: &Shared) -> Result<(), Error> {
    loop {
        let stopping = shared.stopping();
        if stopping && shared.drained() {
            return Ok(());
        }
        let asked = Instant::now();
        // Never an unbounded recv(): the stop's wake-ups may all go to other workers.
        let next = take(shared, if stopping { QUIET } else { TICK });
        match next {
            Ok(Some((rq, refused))) => {
                let busy = shared.busy.fetch_add(1, Ordering::SeqCst) + 1;
                if busy >= shared.workers {
                    shared.saturated.1.notify_one();
                }
                if catch_unwind(AssertUnwindSafe(|| handle(shared, rq, refused))).is_err() {
                    log::error!("tiny_http: a request panicked; the worker goes on");
                }
                shared.last_free.store(shared.now_ms(), Ordering::SeqCst);
                shared.busy.fetch_sub(1, Ordering::SeqCst);
            }
            // Quiet for QUIET: the queue is drained. (Sooner: one of the stop's wake-ups.)
            Ok(None) if stopping && asked.elapsed() >= QUIET => return Ok(()),
            Ok(None) => {}
            // A wake-up from the stop, or the accept thread's error once the listener is shut.
            Err(_) if shared.stopping() => {}
            Err(err) => {
                log::error!("tiny_http stopped accepting connections: {err}; shutting the server down");
                if shared.stop(Duration::ZERO) {
                    let what = format!("tiny_http stopped accepting connections: {err}");
                    return Err(Error::Io(io::Error::new(err.kind(), what)));
                }
                return Ok(()); // a stop was requested at the same moment: not a failure
            }
        }
    }
}

/// The shedder: while every worker has been busy for [`SHED_AFTER`] with none coming free,
/// takes requests off the queue and answers them at once: health as usual, the rest 503.
fn shed(shared: &Shared) -> Result<(), Error> {
    let (lock, cvar) = &shared.saturated;
    let shed_after = SHED_AFTER.as_millis() as u64;
    let stuck_for = || {
        let busy = shared.busy.load(Ordering::SeqCst) >= shared.workers;
        let since = shared
            .now_ms()
            .saturating_sub(shared.last_free.load(Ordering::SeqCst));
        (busy, since)
    };
    while !shared.stopping() {
        let (busy, stuck_for_ms) = stuck_for();
        if !busy || stuck_for_ms < shed_after {
            // Woken when the last worker turns busy; the timeout covers a missed wake-up.
            let wait = match busy {
                true => Duration::from_millis(shed_after - stuck_for_ms),
                false => Duration::from_secs(1),
            };
            let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            let _ = cvar.wait_timeout(guard, wait);
            continue;
        }
        if let Ok(Some((rq, refused))) = take(shared, Duration::from_millis(20)) {
            if !matches!(stuck_for(), (true, ms) if ms >= shed_after) {
                // A worker came free meanwhile: this one is served, not shed.
                let _ = catch_unwind(AssertUnwindSafe(|| handle(shared, rq, refused)));
                continue;
            }
            let started = Instant::now();
            let (method, path) = (rq.method().as_str().to_string(), rq.url().to_string());
            let path = path.split_once('?').map_or(path.as_str(), |(p, _)| p).to_string();
            let service = shared.router.name();
            let resp = match refused {
                Some(err) => shared.router.error(&err),
                None => shared.health.answer(&method, &path, service).unwrap_or_else(|| {
                    let detail = format!("server busy: all {} workers busy", shared.workers);
                    shared.router.error(&Error::new(503, detail))
                }),
            };
            log_access(&rq, &method, &path, started, &resp);
            let _ = catch_unwind(AssertUnwindSafe(|| respond(rq, resp)));
        }
    }
    Ok(())
}

/// What tiny_http frames differently from what was meant: Content-Length with
/// Transfer-Encoding (it goes by the coding and ignores the length), several Content-Length
/// values (it takes the first), one it cannot parse (it reads no body), a coding other than
/// chunked. Whatever the sender meant the body to be, tiny_http then reads it as the next
/// request: a request smuggled inside a body would run.
fn framing_error(rq: &tiny_http::Request) -> Option<Error> {
    let (mut lengths, mut codings) = (Vec::new(), Vec::new());
    for h in rq.headers() {
        if h.field.equiv("Content-Length") {
            lengths.push(h.value.as_str().trim());
        } else if h.field.equiv("Transfer-Encoding") {
            codings.push(h.value.as_str().trim());
        }
    }
    if !lengths.is_empty() && !codings.is_empty() {
        return Some(Error::bad_request("both Content-Length and Transfer-Encoding"));
    }
    if lengths.iter().any(|l| *l != lengths[0]) {
        return Some(Error::bad_request("conflicting Content-Length headers"));
    }
    if !lengths.is_empty() && (rq.body_length().is_none() || !lengths[0].bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(Error::bad_request("invalid Content-Length"));
    }
    if let Some(coding) = codings.iter().find(|c| !c.eq_ignore_ascii_case("chunked")) {
        return Some(Error::new(
            501,
            format!("transfer coding {coding:?} is not supported"),
        ));
    }
    None
}

/// Connections (by peer address) whose framing tiny_http got wrong. tiny_http cannot be told
/// to close them, so every later request on them is refused instead of run.
pub(crate) struct Poisoned {
    any: AtomicBool,
    peers: Mutex<HashMap<SocketAddr, Instant>>,
}

impl Poisoned {
    /// How long a peer address stays refused: its connection's lifetime, give or take; the
    /// same address on a new connection later is served again.
    const FOR: Duration = Duration::from_secs(60);
    /// The most addresses remembered; the oldest goes first.
    const MAX: usize = 1024;

    fn new() -> Poisoned {
        Poisoned {
            any: AtomicBool::new(false),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// The error to answer `rq` with instead of running it, if any: its own framing error
    /// (which poisons its connection) or an earlier one on the same connection.
    fn check(&self, rq: &tiny_http::Request) -> Option<Error> {
        let peer = rq.remote_addr().copied();
        if let Some(err) = framing_error(rq) {
            if let Some(peer) = peer {
                let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
                peers.retain(|_, at| at.elapsed() < Self::FOR);
                if peers.len() >= Self::MAX
                    && let Some(oldest) = peers.iter().min_by_key(|(_, at)| **at).map(|(p, _)| *p)
                {
                    peers.remove(&oldest);
                }
                peers.insert(peer, Instant::now());
                self.any.store(true, Ordering::SeqCst);
            }
            return Some(err);
        }
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let at = peers.get(&peer?)?;
        (at.elapsed() < Self::FOR)
            .then(|| Error::bad_request("request framing was lost earlier on this connection"))
    }
}

/// Logs one access line for `rq`, answered with `resp`.
fn log_access(rq: &tiny_http::Request, method: &str, path: &str, started: Instant, resp: &Response) {
    if !logger::access_enabled() {
        return;
    }
    let request_id = rq.headers().iter().find(|h| h.field.equiv("x-request-id"));
    logger::access(&Access {
        method,
        path,
        status: resp.status,
        duration: started.elapsed(),
        bytes: resp.body.len(),
        request_id: request_id.map(|h| h.value.as_str()),
        probe: Health::is_health_path(path),
    });
}

/// A request taken off tiny_http's queue, and the error to answer instead of running it.
type Taken = (tiny_http::Request, Option<Error>);

/// Takes the next request off tiny_http's queue, one taker at a time, and checks its framing
/// before the next can be taken: a request that poisons its connection (see [`Poisoned`])
/// has done so before anything sent after it on that connection reaches another worker.
fn take(shared: &Shared, timeout: Duration) -> io::Result<Option<Taken>> {
    let _turn = shared.taking.lock().unwrap_or_else(|p| p.into_inner());
    let taken = shared.server.recv_timeout(timeout)?;
    Ok(taken.map(|rq| {
        let refused = shared.poisoned.check(&rq);
        (rq, refused)
    }))
}

/// Serves one request: refused (framing), health, else metadata, body within the limit, the
/// router, the answer.
fn handle(shared: &Shared, mut rq: tiny_http::Request, refused: Option<Error>) {
    let started = Instant::now();
    let method = rq.method().as_str().to_string();
    let url = rq.url();
    let path = url.split_once('?').map_or(url, |(p, _)| p);
    // Nothing runs on a connection whose framing tiny_http got wrong (see `framing_error`).
    if let Some(err) = refused {
        let resp = shared.router.error(&err);
        let path = path.to_string();
        log_access(&rq, &method, &path, started, &resp);
        return respond(rq, resp);
    }
    if let Some(resp) = shared.health.answer(&method, path, shared.router.name()) {
        let path = path.to_string();
        log_access(&rq, &method, &path, started, &resp);
        return respond(rq, resp);
    }
    let mut metadata = Metadata::with_capacity(rq.headers().len());
    for h in rq.headers() {
        metadata.append(h.field.as_str().as_str(), h.value.as_str());
    }
    let url = rq.url();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut req = Request {
        method: rq.method().as_str().to_string(),
        path: path.to_string(),
        query: query.to_string(),
        body: Vec::new(),
        peer: rq.remote_addr().copied(),
    };
    let logged = logger::access_enabled().then(|| req.path.clone());
    let resp = match read_body(&mut rq, shared.max_body) {
        Ok(body) => {
            req.body = body;
            shared.router.dispatch(metadata, req)
        }
        Err(err) => shared.router.error(&err),
    };
    if let Some(path) = logged {
        log_access(&rq, &method, &path, started, &resp);
    }
    respond(rq, resp);
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

/// Writes `resp`; tiny_http adds the framing and leaves the body out for HEAD, 1xx, 204, 304.
fn respond(rq: tiny_http::Request, mut resp: Response) {
    let mut headers = Vec::new();
    for (name, value) in resp.writable_headers() {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            headers.push(header);
        }
    }
    let status = tiny_http::StatusCode(resp.status);
    let result = match resp.stream.take() {
        // Bodies are whole in memory: always send Content-Length rather than chunks.
        None => rq.respond(tiny_http::Response::new(
            status,
            headers,
            &resp.body[..],
            Some(resp.body.len()),
            None,
        )),
        Some(streamer) => respond_stream(rq, status, headers, streamer),
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

struct ChannelSink(mpsc::SyncSender<Vec<u8>>);

impl Sink for ChannelSink {
    fn write_chunk(&mut self, data: &[u8]) -> io::Result<()> {
        self.0
            .send(data.to_vec())
            .map_err(|_| io::ErrorKind::BrokenPipe.into())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Call, Client, Reply};
    use crate::handler::{Context, JsonHandler};
    use crate::router::Route;
    use std::collections::HashMap;
    use std::io::Write;
    use std::net::{SocketAddr, TcpStream};
    use std::time::{Duration, Instant};

    struct NoClient;
    impl Client for NoClient {
        fn call_raw(&self, _: &Call<'_>) -> Result<Reply, Error> {
            Err(Error::Unreachable("no client in tests".into()))
        }
    }

    fn router() -> Arc<Router> {
        let hello = JsonHandler::new(|_: &Context, q: serde_json::Value| {
            Ok(serde_json::json!({ "msg": format!("Hello {}", q["name"].as_str().unwrap_or("")) }))
        });
        let get = |_: &Context, req: Request| {
            Ok(Response::bytes("text/plain", format!("hello {}", req.query))
                .with_header("X-Test", "yes")
                .with_header("Content-Length", "999")
                .with_header("Bad Name", "x")
                .with_header("X-Evil", "a\r\nInjected: 1"))
        };
        let mut routes = HashMap::new();
        let (post, get_only) = (vec!["POST".to_string()], vec!["GET".to_string()]);
        routes.insert(
            "/Example.Call".into(),
            Route {
                methods: post,
                handler: Box::new(hello),
                json: true,
            },
        );
        routes.insert(
            "/get".into(),
            Route {
                methods: get_only,
                handler: Box::new(get),
                json: false,
            },
        );
        Arc::new(Router::new(
            "go.micro.srv.sample",
            routes,
            Arc::new(NoClient),
            Vec::new(),
        ))
    }

    fn limits() -> Limits {
        Limits {
            max_body: 1024,
            workers: 2,
            ..Limits::default()
        }
    }

    fn serve() -> ServerHandle {
        serve_with(limits())
    }

    fn serve_with(limits: Limits) -> ServerHandle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // serve() must undo this; tiny_http's accept thread would die on it.
        listener.set_nonblocking(true).unwrap();
        Box::new(TinyHttpServer::new(limits))
            .serve(listener, router(), Health::default())
            .unwrap()
    }

    /// Writes `raw` on a fresh connection and reads until the server closes it (or 5 s pass).
    fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(raw).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn post(addr: SocketAddr, path: &str, body: &str) -> String {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n",
            body.len()
        );
        exchange(addr, format!("{head}Connection: close\r\n\r\n{body}").as_bytes())
    }

    #[test]
    fn post_gets_200_and_the_json_body() {
        let srv = serve();
        let resp = post(srv.addr(), "/Example.Call", r#"{"name":"Hobo"}"#);
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.contains("Content-Type: application/json\r\n"), "{resp}");
        assert!(resp.ends_with("\r\n\r\n{\"msg\":\"Hello Hobo\"}"), "{resp}");
        srv.stop().unwrap();
    }

    #[test]
    fn unknown_path_gets_the_404_error_json() {
        let srv = serve();
        let resp = post(srv.addr(), "/nope?x=1", "{}");
        assert!(resp.starts_with("HTTP/1.1 404 Not Found\r\n"), "{resp}");
        assert!(
            resp.contains(r#"{"id":"go.micro.srv.sample","code":404,"detail":"unknown path /nope""#),
            "{resp}"
        );
        srv.stop().unwrap();
    }

    #[test]
    fn declared_body_over_the_limit_gets_413_unread() {
        let srv = serve();
        // No body follows and, with Expect, no "100 Continue" may be sent before the 413.
        let raw = "POST /Example.Call HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\
                   Expect: 100-continue\r\nConnection: close\r\n\r\n";
        let resp = exchange(srv.addr(), raw.as_bytes());
        assert!(resp.starts_with("HTTP/1.1 413 "), "{resp}");
        assert!(resp.contains("request body over the 1024-byte limit"), "{resp}");
        let resp = post(srv.addr(), "/Example.Call", &"x".repeat(1025));
        assert!(resp.starts_with("HTTP/1.1 413 "), "{resp}");
        let resp = exchange(
            srv.addr(),
            b"POST /Example.Call HTTP/1.1\r\nContent-Length: x1\r\nConnection: close\r\n\r\n{}",
        );
        assert!(
            resp.starts_with("HTTP/1.1 400 ") && resp.contains("invalid Content-Length"),
            "{resp}"
        );
        srv.stop().unwrap();
    }

    #[test]
    fn a_panic_inside_tiny_http_does_not_cost_a_worker() {
        // tiny_http drains an unread body on drop into a buffer of the whole declared length:
        // past isize::MAX that panics (after the 413 went out); the worker must survive it.
        let srv = serve_with(Limits {
            workers: 1,
            ..limits()
        });
        let raw = "POST /Example.Call HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n";
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut head = [0; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 413");
        drop(s);
        assert!(post(srv.addr(), "/Example.Call", "{}").starts_with("HTTP/1.1 200 "));
        srv.stop().unwrap();
    }

    #[test]
    fn chunked_body_over_the_limit_gets_413_and_the_connection_stays_in_step() {
        let srv = serve();
        let chunk = "a".repeat(600);
        let mut raw =
            "POST /Example.Call HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_string();
        for _ in 0..3 {
            raw += &format!("{:x}\r\n{chunk}\r\n", chunk.len());
        }
        raw += "0\r\n\r\nGET /get?second HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        let resp = exchange(srv.addr(), raw.as_bytes());
        assert!(resp.starts_with("HTTP/1.1 413 "), "{resp}");
        assert!(
            resp.contains("HTTP/1.1 200 OK\r\n") && resp.ends_with("hello second"),
            "{resp}"
        );
        let small = "POST /Example.Call HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                     4\r\n{\"na\r\nb\r\nme\":\"Hobo\"}\r\n0\r\n\r\n";
        let resp = exchange(srv.addr(), small.as_bytes());
        assert!(
            resp.starts_with("HTTP/1.1 200 ") && resp.ends_with("Hello Hobo\"}"),
            "{resp}"
        );
        srv.stop().unwrap();
    }

    #[test]
    fn head_gets_the_headers_and_no_body() {
        let srv = serve();
        let resp = exchange(
            srv.addr(),
            b"HEAD /get?x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(
            resp.contains("\r\nContent-Length: 7\r\n") && resp.contains("\r\nX-Test: yes\r\n"),
            "{resp}"
        );
        assert!(resp.ends_with("\r\n\r\n"), "a body was sent: {resp:?}");
        let resp = exchange(
            srv.addr(),
            b"GET /get?x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert!(resp.ends_with("\r\n\r\nhello x"), "{resp}");
        assert!(
            !resp.contains("999") && !resp.contains("Injected") && !resp.contains("Bad Name"),
            "{resp}"
        );
        srv.stop().unwrap();
    }

    #[test]
    fn stop_joins_and_the_port_closes() {
        let srv = serve();
        let addr = srv.addr();
        assert!(post(addr, "/Example.Call", "{}").starts_with("HTTP/1.1 200 "));
        let stopper = srv.stopper();
        stopper();
        srv.stop().unwrap();
        stopper();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let closed = match TcpStream::connect(addr) {
                Err(_) => true,
                Ok(mut s) => {
                    s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                    let _ = s.write_all(b"GET /get HTTP/1.1\r\nConnection: close\r\n\r\n");
                    matches!(s.read(&mut [0; 64]), Ok(0) | Err(_))
                }
            };
            if closed {
                break;
            }
            assert!(Instant::now() < deadline, "the port still answers after stop");
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn accept_thread_death_ends_the_server_with_an_error() {
        // A non-blocking listener makes tiny_http's accept() fail at once (start() keeps it).
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let srv = start(listener, router(), Health::default(), &limits()).unwrap();
        let stopper = srv.stopper();
        let err = srv.join().unwrap_err();
        assert!(matches!(err, Error::Io(_)), "{err:?}");
        assert!(err.to_string().contains("stopped accepting connections"), "{err}");
        stopper();
    }
}
