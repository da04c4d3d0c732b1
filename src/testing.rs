//! The test kit: several services in one process, reaching each other by their mesh names.
//!
//! Each service listens on its own loopback port, and every client in the mesh (theirs and the
//! kit's) has the `:PORT` call address and an override for each service's mesh name, exactly as
//! Kubernetes DNS would route them. A two-service chain test:
//!
//! ```
//! use micro_mesh::testing::Mesh;
//! use micro_mesh::{Caller, Context, Error, Request, Response, Service};
//! use serde_json::{Value, json};
//!
//! let mesh = Mesh::new()
//!     .service(Service::new("go.micro.srv.sample").rpc("Example.Call", |_: &Context, req: Value| {
//!         Ok(json!({ "msg": format!("Hello {}", req["name"].as_str().unwrap_or("")) }))
//!     }))
//!     .service(Service::new("go.micro.api.sample").api("/example/call", &["GET"], |ctx: &Context, req: Request| {
//!         let reply: Value = ctx.call("go.micro.srv.sample", "Example.Call", &json!({ "name": req.query_param("name") }))?;
//!         Response::json(&reply)
//!     }))
//!     .start()?;
//! let reply = mesh.get("go.micro.api.sample", "/example/call?name=Hobo")?;
//! assert_eq!(reply.body, br#"{"msg":"Hello Hobo"}"#);
//! # Ok::<(), Error>(())
//! ```
//!
//! Dropping the mesh stops every service and joins its threads; [`RunningMesh::stop`] does the same and
//! reports the first error.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use crate::client::blocking::HttpClient;
use crate::client::{Call, Caller, Client, Messages, Reply};
use crate::error::Error;
use crate::handler::Context;
use crate::name::{self, Overrides};
use crate::service::{Service, ServiceHandle};

/// Services to start together; see the [module docs](self).
pub struct Mesh {
    services: Vec<Service>,
    port: u16,
}

/// A started mesh: call its services by name; dropping it stops them all.
#[must_use = "dropping the mesh stops its services"]
pub struct RunningMesh {
    handles: Vec<ServiceHandle>,
    client: Arc<HttpClient>,
}

impl Default for Mesh {
    fn default() -> Mesh {
        Mesh::new()
    }
}

impl Mesh {
    /// An empty mesh whose services reach each other at the `:9080` of their mesh names.
    pub fn new() -> Mesh {
        Mesh {
            services: Vec::new(),
            port: 9080,
        }
    }

    /// Adds a service; its listen and call addresses are set by the mesh.
    pub fn service(mut self, service: Service) -> Mesh {
        self.services.push(service);
        self
    }

    /// Sets the port of the `:PORT` rule (default 9080); no socket uses it.
    pub fn port(mut self, port: u16) -> Mesh {
        self.port = port;
        self
    }

    /// Binds every service to a loopback port, wires the override map, and starts them all.
    pub fn start(self) -> Result<RunningMesh, Error> {
        let call_address = format!(":{}", self.port);
        let mut listeners = Vec::new();
        let mut entries = Vec::new();
        for service in &self.services {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let target = name::target(service.name(), &call_address)?;
            entries.push(format!("{target}={}", listener.local_addr()?));
            listeners.push(listener);
        }
        let client = HttpClient::builder()
            .call_address(&call_address)
            .overrides(Overrides::parse(&entries)?)
            .build();
        let mut mesh = RunningMesh {
            handles: Vec::new(),
            client: Arc::new(client),
        };
        for (service, listener) in self.services.into_iter().zip(listeners) {
            let service = entries
                .iter()
                .fold(service.call_address(&call_address), |s, e| s.resolve(e));
            // On an error, `mesh` drops here and stops the services already started.
            mesh.handles.push(service.listener(listener).start()?);
        }
        Ok(mesh)
    }
}

/// Calls the mesh's services by name: `mesh.call(service, endpoint, &request)`.
impl Caller for RunningMesh {
    fn send(&self, call: &Call<'_>) -> Result<Reply, Error> {
        self.client.call_raw(call)
    }

    fn send_stream(&self, call: &Call<'_>) -> Result<Messages, Error> {
        self.client.stream_raw(call)
    }
}

impl RunningMesh {
    /// `GET` a path (with its query) of `service`, as a gateway or a person would. A non-2xx
    /// answer is an `Err` carrying its status and error JSON (as every call's is).
    pub fn get(&self, service: &str, path: &str) -> Result<Reply, Error> {
        let addr = self
            .addr(service)
            .ok_or_else(|| Error::not_found(format!("no service {service} in the mesh")))?;
        self.client.get(&addr.to_string(), path)
    }

    /// A client wired like the services' own.
    pub fn client(&self) -> Arc<dyn Client> {
        self.client.clone()
    }

    /// A context for calls, outside any request.
    pub fn context(&self) -> Context {
        Context::background(self.client.clone())
    }

    /// Where `service` listens.
    pub fn addr(&self, service: &str) -> Option<SocketAddr> {
        self.handles
            .iter()
            .find(|h| h.name() == service)
            .map(ServiceHandle::addr)
    }

    /// Stops every service, joining their threads; the first error is returned.
    pub fn stop(mut self) -> Result<(), Error> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<(), Error> {
        let mut first = Ok(());
        for handle in self.handles.drain(..).rev() {
            let result = handle.stop();
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}

impl Drop for RunningMesh {
    fn drop(&mut self) {
        let _ = self.stop_all();
    }
}
