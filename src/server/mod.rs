//! The `Server` interface, its running handle, and the limits every server enforces.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::Error;
use crate::router::Router;

pub mod http;
#[cfg(feature = "tiny-http")]
pub mod tiny;

/// A server plugin: serves a [`Router`] on a bound listener until stopped.
///
/// Like go-micro's `server.Server`, chosen by the `--server` flag. Both implementations,
/// [`HttpServer`](crate::HttpServer) and `TinyHttpServer`, pass the same functional tests.
pub trait Server: Send + 'static {
    /// The plugin's name, as `--server` spells it.
    fn name(&self) -> &'static str;

    /// Starts serving on `listener` and returns once requests are being accepted.
    fn serve(self: Box<Self>, listener: TcpListener, router: Arc<Router>) -> Result<ServerHandle, Error>;
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
    /// Most connections served at once (one thread each); more wait in the accept backlog.
    pub max_connections: usize,
    /// Time for a request head to arrive in full, counted from its first byte (or the accept).
    pub head_timeout: Duration,
    /// Time a body may go without a byte arriving.
    pub body_timeout: Duration,
    /// Time a kept-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// Time a response write may block on a peer that does not read.
    pub write_timeout: Duration,
    /// Time an idle worker thread waits for a new connection before it retires.
    pub worker_idle: Duration,
    /// Worker threads on `recv()`, for servers with a fixed pool (tiny_http); 0 means 2 x cores.
    pub workers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 64 * 1024,
            max_headers: 100,
            max_body: 4 * 1024 * 1024,
            max_connections: 1024,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            // Longer than Envoy's default upstream idle timeout (1 h), so the sidecar closes first.
            idle_timeout: Duration::from_secs(3610),
            write_timeout: Duration::from_secs(30),
            worker_idle: Duration::from_secs(30),
            workers: 0,
        }
    }
}

type StopFn = Arc<dyn Fn() + Send + Sync>;

/// A running server: its address, a way to stop it, and the thread that owns all its threads.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: StopFn,
    main: JoinHandle<Result<(), Error>>,
}

impl ServerHandle {
    /// Wraps a server's owner thread; `stop` must make that thread finish and may run twice.
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

    /// Stops the server and waits until every thread it started has been joined.
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

/// The number of worker threads for fixed pools: `workers`, or 2 x available cores.
#[cfg(feature = "tiny-http")]
pub(crate) fn worker_count(limits: &Limits) -> usize {
    if limits.workers > 0 {
        return limits.workers;
    }
    2 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}
