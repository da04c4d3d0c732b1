//! The `http` server: our own HTTP/1.1 core on httparse, one pooled thread per connection.

use std::net::TcpListener;
use std::sync::Arc;

use crate::error::Error;
use crate::router::Router;
use crate::server::{Limits, Server, ServerHandle};

/// The default server: HTTP/1.1 on httparse, a thread per connection from a growing pool.
pub struct HttpServer {
    limits: Limits,
}

impl HttpServer {
    /// A server with these limits.
    pub fn new(limits: Limits) -> HttpServer {
        HttpServer { limits }
    }
}

impl Server for HttpServer {
    fn name(&self) -> &'static str {
        "http"
    }

    fn serve(self: Box<Self>, _listener: TcpListener, _router: Arc<Router>) -> Result<ServerHandle, Error> {
        let _ = &self.limits;
        todo!("in progress")
    }
}
