//! The `http` server: our own HTTP/1.1 core on httparse, one pooled thread per connection.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::Error;
use crate::router::Router;
use crate::server::{Limits, Server, ServerHandle};

mod body;
mod conn;
mod date;
mod head;
mod pool;

use pool::Pool;

/// The default server: HTTP/1.1 on httparse, a thread per connection from a growing pool.
///
/// Content-Length and chunked bodies, `Expect: 100-continue`, keep-alive for 1.0 and 1.1,
/// pipelining, HEAD, `Date`; limits on head size, header count and body size; head, body,
/// idle and write timeouts. See [`Limits`].
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

/// What every connection thread shares.
pub(crate) struct Shared {
    router: Arc<Router>,
    limits: Limits,
    stopping: AtomicBool,
    next_conn: AtomicU64,
    /// Clones of the open connections, so that stopping can wake threads blocked in `read`.
    conns: Mutex<HashMap<u64, TcpStream>>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Records an open connection; `None` when the server is stopping (then it is not served).
    fn register(&self, stream: &TcpStream) -> Option<u64> {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let clone = stream.try_clone().ok()?;
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, clone);
        // Checked after inserting: a stop that began meanwhile either sees this entry or is seen here.
        (!self.stopping()).then_some(id)
    }

    fn unregister(&self, id: u64) {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    /// Ends reads on every open connection: idle ones close, busy ones finish their response.
    fn wake_all(&self) {
        for stream in self.conns.lock().unwrap_or_else(|p| p.into_inner()).values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
    }
}

impl Server for HttpServer {
    fn name(&self) -> &'static str {
        "http"
    }

    fn serve(self: Box<Self>, listener: TcpListener, router: Arc<Router>) -> Result<ServerHandle, Error> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            router,
            limits: self.limits.clone(),
            stopping: AtomicBool::new(false),
            next_conn: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
        });
        let for_pool = shared.clone();
        let pool = Pool::new(
            self.limits.max_connections,
            self.limits.worker_idle,
            Box::new(move |(stream, peer): (TcpStream, SocketAddr)| conn::serve(&for_pool, stream, peer)),
        );
        let for_accept = shared.clone();
        let main = std::thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || accept_loop(listener, &for_accept, &pool))?;
        let stop = move || {
            if !shared.stopping.swap(true, Ordering::SeqCst) {
                // Wake the accept loop with a connection of our own; it sees the flag and ends.
                let _ = TcpStream::connect_timeout(&wake_addr(addr), Duration::from_secs(1));
            }
        };
        Ok(ServerHandle::new(addr, Arc::new(stop), main))
    }
}

/// Accepts until stopped, then wakes and joins every connection thread.
fn accept_loop(
    listener: TcpListener,
    shared: &Shared,
    pool: &Arc<Pool<(TcpStream, SocketAddr)>>,
) -> Result<(), Error> {
    let mut backoff = Duration::from_millis(5);
    while !shared.stopping() {
        match listener.accept() {
            Ok(job) => {
                backoff = Duration::from_millis(5);
                if shared.stopping() {
                    break;
                }
                pool.submit(job);
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
    drop(listener);
    shared.wake_all();
    pool.close();
    Ok(())
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
