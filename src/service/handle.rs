//! A running service: its address, client and health, and `drain()` or `stop()` (or a drop).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::client::Client;
use crate::error::Error;
use crate::handler::Context;
use crate::health::Health;
use crate::server::ServerHandle;

/// A started service: its address, its client, its health, and `drain()` or `stop()`.
///
/// Dropping it stops the service as [`stop`](ServiceHandle::stop) does (and ignores the error).
#[must_use = "dropping the handle stops the service"]
pub struct ServiceHandle {
    name: String,
    /// `None` once stopped (by `drain`, `stop`, `join` or the drop).
    server: Option<ServerHandle>,
    client: Arc<dyn Client>,
    health: Health,
    shutdown_delay: Duration,
}

impl ServiceHandle {
    pub(super) fn new(
        name: String,
        server: ServerHandle,
        client: Arc<dyn Client>,
        health: Health,
        shutdown_delay: Duration,
    ) -> ServiceHandle {
        ServiceHandle {
            name,
            server: Some(server),
            client,
            health,
            shutdown_delay,
        }
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bound address (with the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.server().addr()
    }

    /// The service's client, for calls made outside any request.
    pub fn client(&self) -> Arc<dyn Client> {
        self.client.clone()
    }

    /// A context for calls made outside any request.
    pub fn context(&self) -> Context {
        Context::background(self.client.clone())
    }

    /// The service's health, as `/health/ready` reports it.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// How long a drain keeps readiness at 503 before the listener closes.
    pub fn shutdown_delay(&self) -> Duration {
        self.shutdown_delay
    }

    /// Whether the server has ended by itself (a fatal error, say) or been stopped.
    pub fn is_finished(&self) -> bool {
        self.server.as_ref().is_none_or(ServerHandle::is_finished)
    }

    /// Shuts down as SIGTERM does under [`Service::run`](crate::Service::run): readiness
    /// answers 503 at once; after [`Limits::shutdown_delay`](crate::Limits::shutdown_delay)
    /// the listener closes (new connections are refused), idle connections close, busy ones
    /// answer with `Connection: close`, and requests in flight get
    /// [`Limits::shutdown_timeout`](crate::Limits::shutdown_timeout) to finish; then every
    /// thread is joined.
    pub fn drain(mut self) -> Result<(), Error> {
        self.health.set_draining();
        std::thread::sleep(self.shutdown_delay);
        self.take_server().stop()
    }

    /// Like [`drain`](ServiceHandle::drain) without the delay: readiness 503 and the listener
    /// closed at once, requests in flight finished (within the shutdown timeout), every thread
    /// joined. For tests, and for programs that tell their load balancer themselves.
    pub fn stop(mut self) -> Result<(), Error> {
        self.health.set_draining();
        self.take_server().stop()
    }

    /// Waits until the server ends by itself (a fatal error); its result.
    pub fn join(mut self) -> Result<(), Error> {
        self.take_server().join()
    }

    fn server(&self) -> &ServerHandle {
        // Only `drain`, `stop`, `join` and the drop take it, and each consumes the handle.
        self.server.as_ref().expect("a live handle has its server")
    }

    fn take_server(&mut self) -> ServerHandle {
        self.server.take().expect("a live handle has its server")
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.health.set_draining();
            let _ = server.stop();
        }
    }
}
