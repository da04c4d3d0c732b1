//! The `tiny_http` server: tiny_http 0.12 with N workers on `recv()` (feature `tiny-http`).

use std::net::TcpListener;
use std::sync::Arc;

use crate::error::Error;
use crate::router::Router;
use crate::server::{Limits, Server, ServerHandle};

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

    fn serve(self: Box<Self>, _listener: TcpListener, _router: Arc<Router>) -> Result<ServerHandle, Error> {
        let _ = &self.limits;
        todo!("in progress")
    }
}
