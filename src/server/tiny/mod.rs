//! The `tiny_http` server: tiny_http 0.12 with N workers on `recv()` (feature `tiny-http`); the
//! only home of tiny_http.
//!
//! tiny_http reads requests on threads of its own and queues them; our workers take them off the
//! queue, read the body within [`Limits::max_body`], hand them to the [`Pipeline`] and write the
//! answer. Of the limits only `max_body`, `workers` and `shutdown_timeout` apply: the others need
//! hooks tiny_http does not have (its limits are listed in the README, "Two servers"). This
//! folder: `mod.rs` the plugin, its shared state and the drain; `workers.rs` the workers and the
//! shedder; `framing.rs` the requests tiny_http frames wrongly; `respond.rs` one request's
//! answer. What this adapter adds on top of tiny_http:
//! - the pipeline's health and metrics, answered by workers and by the shedder;
//! - load shedding on `recv()`: when every worker has been busy for [`SHED_AFTER`] with none
//!   coming free, one more thread takes requests off the queue and answers them at once (health
//!   and metrics as usual, anything else 503), so probes and callers get an answer, not a queue;
//! - a drain on stop: the listener is shut (so new connections are refused), and the workers
//!   serve what is queued until the queue stays empty for a moment or `shutdown_timeout` passes.
//!
//! HTTP/1.1 only: tiny_http cannot speak HTTP/2.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::pipeline::Pipeline;
use crate::server::{Limits, Server, ServerHandle, worker_count};

mod framing;
mod respond;
mod workers;

use framing::Poisoned;
use workers::{shed, work};

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

    fn serve(self: Box<Self>, listener: TcpListener, pipeline: Arc<Pipeline>) -> Result<ServerHandle, Error> {
        crate::server::prepare_listener(&listener)?;
        log::info!("server tiny_http speaks HTTP/1.1 only (no HTTP/2, no gRPC): use --server http for those");
        start(listener, pipeline, &self.limits)
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
    pipeline: Arc<Pipeline>,
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

fn start(listener: TcpListener, pipeline: Arc<Pipeline>, limits: &Limits) -> Result<ServerHandle, Error> {
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
        pipeline,
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

#[cfg(test)]
mod tests;
