//! The `Server` interface, its running handle, and the limits every server enforces.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::Error;
use crate::pipeline::Pipeline;

pub mod http;
mod http2;
mod pool;
#[cfg(feature = "tiny-http")]
pub mod tiny;
mod work;

/// A server plugin: turns bytes into requests for a service's [`Pipeline`] on a bound listener
/// until stopped.
///
/// Like go-micro's `server.Server`, chosen by the `--server` flag. Both implementations,
/// [`HttpServer`](crate::HttpServer) and `TinyHttpServer`, pass the same functional tests.
pub trait Server: Send + 'static {
    /// The plugin's name, as `--server` spells it.
    fn name(&self) -> &'static str;

    /// Starts serving on `listener` and returns once requests are being accepted.
    ///
    /// Every request goes through the pipeline ([`Pipeline::begin`], `admit`, `answer`,
    /// `finish`), which answers health and metrics before routing and outside every cap; a
    /// server closes connections after their response once the pipeline's health
    /// [`is_draining`](crate::Health::is_draining). Its [`ServerHandle`]'s stop drains: the
    /// listener closes, requests in flight finish within [`Limits::shutdown_timeout`], then
    /// every thread is joined.
    fn serve(self: Box<Self>, listener: TcpListener, pipeline: Arc<Pipeline>) -> Result<ServerHandle, Error>;
}

/// The server plugins `--server` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ServerKind {
    /// Our own HTTP/1.1 core on httparse ([`HttpServer`](crate::HttpServer)), the default.
    #[default]
    Http,
    /// tiny_http 0.12 (`TinyHttpServer`, feature `tiny-http`).
    #[cfg(feature = "tiny-http")]
    TinyHttp,
}

impl ServerKind {
    /// Every server this build has, the default first.
    pub const ALL: &'static [ServerKind] = &[
        ServerKind::Http,
        #[cfg(feature = "tiny-http")]
        ServerKind::TinyHttp,
    ];

    /// The name `--server` spells it with: `http` or `tiny_http`.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Http => "http",
            #[cfg(feature = "tiny-http")]
            ServerKind::TinyHttp => "tiny_http",
        }
    }

    /// A server of this kind with `limits`.
    pub fn build(self, limits: &Limits) -> Box<dyn Server> {
        match self {
            ServerKind::Http => Box::new(http::HttpServer::new(limits.clone())),
            #[cfg(feature = "tiny-http")]
            ServerKind::TinyHttp => Box::new(tiny::TinyHttpServer::new(limits.clone())),
        }
    }
}

impl std::fmt::Display for ServerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ServerKind {
    type Err = Error;

    /// Parses a server's name; an unknown one is an [`Error::Flag`] naming the known ones.
    fn from_str(name: &str) -> Result<ServerKind, Error> {
        ServerKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = ServerKind::ALL.iter().map(|k| k.name()).collect();
                Error::Flag(format!("unknown server {name:?} (known: {})", known.join(", ")))
            })
    }
}

/// Limits and timeouts a server enforces on every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line and headers) in bytes; over it: 431 and close.
    pub max_head: usize,
    /// Most header lines in a request; over it: 431 and close.
    pub max_headers: usize,
    /// Largest request body in bytes; over it: 413 without reading the body.
    pub max_body: usize,
    /// Most connections served at once (one thread each). At the cap the connection that has
    /// waited longest for a request is closed to admit a new one (silent or slow heads first,
    /// then idle keep-alive ones); with none to close, a few more are read for one request
    /// each (health is answered, the rest get 503), and beyond those new ones wait in the
    /// accept backlog. `http` only.
    pub max_connections: usize,
    /// Most requests in handlers at once; beyond it a request gets a fast 503 (health probes
    /// are not counted). HTTP/2 streams count one each.
    pub max_in_flight: usize,
    /// Most HTTP/2 streams open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS);
    /// beyond it a new stream is refused (REFUSED_STREAM, which clients retry). `http` only.
    pub max_concurrent_streams: u32,
    /// Time for a request head to arrive in full, counted from its first byte (or the accept).
    pub head_timeout: Duration,
    /// Time for a request body to arrive in full, counted from the end of its head.
    pub body_timeout: Duration,
    /// Time a kept-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// Time a response write may block on a peer that does not read.
    pub write_timeout: Duration,
    /// Time an idle worker thread waits for a new connection before it retires.
    pub worker_idle: Duration,
    /// Worker threads on `recv()`, for servers with a fixed pool (tiny_http); 0 means 2 x cores.
    pub workers: usize,
    /// How long readiness answers 503 before the listener closes, when a service drains
    /// (SIGTERM, or [`ServiceHandle::drain`](crate::ServiceHandle::drain)), so that the mesh
    /// stops sending new requests first.
    pub shutdown_delay: Duration,
    /// Once the listener closes, how long requests in flight may take to finish; then the
    /// connections left are closed.
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 64 * 1024,
            max_headers: 100,
            max_body: 4 * 1024 * 1024,
            // A 2-core pod: 256 threads at most (stacks of 512 KiB, mostly untouched).
            max_connections: 256,
            max_in_flight: 128,
            max_concurrent_streams: 100,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            // Longer than Envoy's default upstream idle timeout (1 h), so the sidecar closes first.
            idle_timeout: Duration::from_secs(3610),
            write_timeout: Duration::from_secs(30),
            worker_idle: Duration::from_secs(30),
            workers: 0,
            shutdown_delay: Duration::from_secs(2),
            // With the delay, below Kubernetes' default 30 s grace period.
            shutdown_timeout: Duration::from_secs(20),
        }
    }
}

type StopFn = Arc<dyn Fn() + Send + Sync>;

/// A running server: its address, a way to stop it, and the thread that owns all its threads.
#[must_use = "a server runs until its handle stops or joins it"]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: StopFn,
    main: JoinHandle<Result<(), Error>>,
}

impl ServerHandle {
    /// Wraps a server's owner thread; `stop` must make that thread drain and finish (see
    /// [`Server::serve`]), must not block, and may run more than once.
    pub fn new(addr: SocketAddr, stop: StopFn, main: JoinHandle<Result<(), Error>>) -> ServerHandle {
        ServerHandle { addr, stop, main }
    }

    /// The address the server is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A function that asks the server to stop, callable from any thread (a signal watcher).
    pub fn stopper(&self) -> StopFn {
        self.stop.clone()
    }

    /// Whether the server's owner thread has ended (stopped, or failed).
    pub fn is_finished(&self) -> bool {
        self.main.is_finished()
    }

    /// Stops the server, draining it (see [`Server::serve`]), and waits until every thread it
    /// started has been joined.
    pub fn stop(self) -> Result<(), Error> {
        (self.stop)();
        self.join()
    }

    /// Waits until the server ends by itself (a fatal error) or through its stopper.
    pub fn join(self) -> Result<(), Error> {
        self.main
            .join()
            .unwrap_or_else(|_| Err(Error::internal("server thread panicked")))
    }
}

/// The listen backlog asked for (the kernel caps it at `net.core.somaxconn`, 4096 by default).
/// std listens with 128: at the connection cap a burst beyond cap + backlog would be dropped
/// and retried by the clients' TCP after a second or more, instead of waiting its turn.
const BACKLOG: i32 = 4096;

/// Readies a listener for either server: blocking (a non-blocking one makes the `http` accept
/// loop spin and kills tiny_http's accept thread on its first `WouldBlock`), and its backlog
/// raised to [`BACKLOG`]: listening again only resizes it (Linux); where that fails, std's 128
/// it is. (socket2's one home: std cannot do either of these.)
pub(crate) fn prepare_listener(listener: &TcpListener) -> std::io::Result<()> {
    listener.set_nonblocking(false)?;
    let _ = socket2::SockRef::from(listener).listen(BACKLOG);
    Ok(())
}

/// Shuts a listening socket down: a blocked `accept()` fails and new connections are refused
/// (Linux), while the socket stays open in whoever owns it (tiny_http's accept thread).
#[cfg(feature = "tiny-http")]
pub(crate) fn shut_listener(listener: &TcpListener) {
    let _ = socket2::SockRef::from(listener).shutdown(std::net::Shutdown::Read);
}

/// The number of worker threads for fixed pools: `workers`, or 2 x available cores.
#[cfg(feature = "tiny-http")]
pub(crate) fn worker_count(limits: &Limits) -> usize {
    if limits.workers > 0 {
        return limits.workers;
    }
    2 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}
