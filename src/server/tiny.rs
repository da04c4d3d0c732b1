//! The `tiny_http` server: tiny_http 0.12 with N workers on `recv()` (feature `tiny-http`).
//!
//! tiny_http reads requests on threads of its own and queues them; our workers take them off the
//! queue, read the body within [`Limits::max_body`], call the [`Router`] and write the answer.
//! Only `max_body` and `workers` apply: the other limits need hooks tiny_http does not have.
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
//! - a declared body over the limit gets its 413 at once, but tiny_http then drains it on the
//!   worker into one buffer of the whole remaining length (`util/equal_reader.rs`): past RAM +
//!   swap the allocation aborts the process; past `isize::MAX` it panics (caught per request);
//! - kept-alive connections outlive a stop: a request sent on one afterwards is never answered.

use std::io::{self, Read};
use std::net::TcpListener;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak, mpsc};
use std::thread::{self, JoinHandle};

use crate::error::Error;
use crate::handler::{Request, Response, Sink, Streamer};
use crate::metadata::Metadata;
use crate::router::Router;
use crate::server::{Limits, Server, ServerHandle, worker_count};

/// Response headers tiny_http writes itself (framing); a handler's copies are dropped.
const FRAMING: [&str; 4] = ["content-length", "transfer-encoding", "connection", "date"];

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

    fn serve(self: Box<Self>, listener: TcpListener, router: Arc<Router>) -> Result<ServerHandle, Error> {
        // A non-blocking listener would make tiny_http's accept thread die on its first WouldBlock.
        listener.set_nonblocking(false)?;
        start(listener, router, &self.limits)
    }
}

/// What the workers share. The stop closure holds it weakly, so that the owner thread drops the
/// last strong reference, and with it the `tiny_http::Server`, once every worker has been joined.
struct Shared {
    server: tiny_http::Server,
    stopping: AtomicBool,
    workers: usize,
    router: Arc<Router>,
    max_body: usize,
}

impl Shared {
    /// Sets the stopping flag and, the first time only, wakes `n` workers' `recv()`.
    fn stop(&self, n: usize) -> bool {
        let first = !self.stopping.swap(true, Ordering::SeqCst);
        if first {
            (0..n).for_each(|_| self.server.unblock());
        }
        first
    }
}

fn start(listener: TcpListener, router: Arc<Router>, limits: &Limits) -> Result<ServerHandle, Error> {
    let addr = listener.local_addr()?;
    let server = tiny_http::Server::from_listener(listener, None).map_err(|err| match err.downcast() {
        Ok(io) => Error::Io(*io),
        Err(other) => Error::internal(format!("tiny_http: {other}")),
    })?;
    let workers = worker_count(limits);
    let shared = Arc::new(Shared {
        server,
        stopping: AtomicBool::new(false),
        workers,
        router,
        max_body: limits.max_body,
    });
    let (started, wait) = mpsc::channel::<()>();
    let shared2 = shared.clone();
    let owner = thread::Builder::new().name("tiny-owner".into()).spawn(move || {
        let mut threads = Vec::with_capacity(workers);
        for n in 0..workers {
            let shared3 = shared2.clone();
            match thread::Builder::new()
                .name(format!("tiny-worker-{n}"))
                .spawn(move || work(&shared3))
            {
                Ok(t) => threads.push(t),
                Err(err) => {
                    shared2.stop(threads.len());
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
            shared.stop(shared.workers);
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

/// A worker: serves requests until stopped; a `recv()` error nobody asked for is fatal.
fn work(shared: &Shared) -> Result<(), Error> {
    loop {
        match shared.server.recv() {
            Ok(rq) => {
                if catch_unwind(AssertUnwindSafe(|| handle(shared, rq))).is_err() {
                    log::error!("tiny_http: a request panicked; the worker goes on");
                }
            }
            Err(_) if shared.stopping.load(Ordering::SeqCst) => return Ok(()),
            Err(err) => {
                log::error!("tiny_http stopped accepting connections: {err}; shutting the server down");
                if shared.stop(shared.workers.saturating_sub(1)) {
                    let what = format!("tiny_http stopped accepting connections: {err}");
                    return Err(Error::Io(io::Error::new(err.kind(), what)));
                }
                return Ok(()); // a stop was requested at the same moment: not a failure
            }
        }
    }
}

/// Serves one request: metadata, body within the limit, the router, the answer.
fn handle(shared: &Shared, mut rq: tiny_http::Request) {
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
    let resp = match read_body(&mut rq, shared.max_body) {
        Ok(body) => {
            req.body = body;
            shared.router.dispatch(metadata, req)
        }
        Err(err) => shared.router.error(&err),
    };
    respond(rq, resp);
}

/// Reads the body, refusing one over `max` bytes: by its `Content-Length` before reading it,
/// or once `max + 1` bytes arrived (chunked; the rest is read and dropped to keep the framing).
fn read_body(rq: &mut tiny_http::Request, max: usize) -> Result<Vec<u8>, Error> {
    let too_big = || Error::new(413, format!("request body over the {max}-byte limit"));
    if rq.body_length().is_some_and(|n| n > max) {
        return Err(too_big());
    }
    let chunked = rq.headers().iter().any(|h| h.field.equiv("Transfer-Encoding"));
    if !chunked && rq.body_length().is_none() && rq.headers().iter().any(|h| h.field.equiv("Content-Length"))
    {
        // tiny_http ignores a Content-Length it cannot parse and reads no body at all.
        return Err(Error::bad_request("invalid Content-Length"));
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
    for (name, value) in &resp.headers {
        let framing = FRAMING.iter().any(|f| name.eq_ignore_ascii_case(f));
        if framing || !is_token(name) || !is_field_value(value) {
            continue;
        }
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

/// Whether `s` is a valid header name (an RFC 9110 token).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `s` is a header value tiny_http can write safely: printable ASCII, space and tab.
fn is_field_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
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
            .serve(listener, router())
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
        let srv = start(listener, router(), &limits()).unwrap();
        let stopper = srv.stopper();
        let err = srv.join().unwrap_err();
        assert!(matches!(err, Error::Io(_)), "{err:?}");
        assert!(err.to_string().contains("stopped accepting connections"), "{err}");
        stopper();
    }
}
