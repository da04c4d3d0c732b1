//! The `Service` builder: name, flags, server, client and handlers, ending in `run()` or `start()`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::client::blocking::HttpClient;
use crate::error::Error;
use crate::flags::{self, Flag, Flags};
use crate::goapi::{self, ApiRequest, ApiResponse};
use crate::handler::{Context, Handler, JsonHandler, Request, Stream, StreamHandler};
use crate::name::Overrides;
use crate::router::{Route, Router};
use crate::server::http::HttpServer;
use crate::server::{Limits, Server, ServerHandle};

/// The server plugins `--server` can name, the default first.
pub const SERVERS: &[&str] = &[
    "http",
    #[cfg(feature = "tiny-http")]
    "tiny_http",
];

/// A micro service: configure it, then [`run`](Service::run) it (or [`start`](Service::start) it in tests).
///
/// ```no_run
/// use micro_mesh::{Context, Error, Service};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct Hello { name: String }
/// #[derive(Serialize)]
/// struct Reply { msg: String }
///
/// fn main() -> Result<(), Error> {
///     Service::new("go.micro.srv.sample")
///         .rpc("Example.Call", |_: &Context, req: Hello| Ok(Reply { msg: format!("Hello {}", req.name) }))
///         .run()
/// }
/// ```
pub struct Service {
    name: String,
    version: String,
    own_flags: Vec<Flag>,
    flags: Flags,
    parsed: bool,
    routes: HashMap<String, Route>,
    server: Option<Box<dyn Server>>,
    client: Option<Arc<dyn Client>>,
    limits: Limits,
    forward: Vec<String>,
    listener: Option<TcpListener>,
}

impl Service {
    /// A service called `name` (such as `go.micro.srv.sample`) with default flags.
    pub fn new(name: &str) -> Service {
        Service {
            name: name.into(),
            version: "latest".into(),
            own_flags: Vec::new(),
            flags: Flags::default(),
            parsed: false,
            routes: HashMap::new(),
            server: None,
            client: None,
            limits: Limits::default(),
            forward: Vec::new(),
            listener: None,
        }
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version label (default `latest`), shown in `--help` and the start-up line.
    pub fn version(mut self, version: &str) -> Service {
        self.version = version.into();
        self
    }

    /// Declares a flag of the service's own; read its value with [`Service::flags`] after [`Service::init`].
    pub fn flag(mut self, flag: Flag) -> Service {
        self.flags.own.push((flag.name.clone(), flag.default.clone()));
        self.own_flags.push(flag);
        self
    }

    /// Parses the process's command line and environment; prints help and exits 0 on `-h`,
    /// prints a one-line error and exits 2 on a bad flag. Values set before are the defaults.
    pub fn init(mut self) -> Service {
        self.flags = flags::from_process(&self.name, &self.version, &self.own_flags, &self.flags, SERVERS);
        self.parsed = true;
        self
    }

    /// Parses `args` (without the program name) as the command line, with no environment.
    pub fn parse_args<I, S>(mut self, args: I) -> Result<Service, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let args = args.into_iter().map(Into::into).collect();
        match flags::parse(
            &self.name,
            &self.version,
            args,
            &|_| None,
            &self.own_flags,
            &self.flags,
            SERVERS,
        )? {
            flags::Parsed::Run(flags) => self.flags = flags,
            flags::Parsed::Help(text) => return Err(Error::Flag(text)),
        }
        self.parsed = true;
        Ok(self)
    }

    /// The flags in force: defaults and setters, then what [`init`](Service::init) parsed.
    pub fn flags(&self) -> &Flags {
        &self.flags
    }

    /// Sets the listen address (`--server_address`); use `127.0.0.1:0` in tests.
    pub fn address(mut self, addr: &str) -> Service {
        self.flags.server_address = addr.into();
        self
    }

    /// Serves on this already-bound listener instead of binding `--server_address`
    /// (socket activation, or a test kit that must know every address before starting).
    pub fn listener(mut self, listener: TcpListener) -> Service {
        self.listener = Some(listener);
        self
    }

    /// Sets the client's call address (`--client_call_address`): `:PORT` or `HOST:PORT`.
    pub fn call_address(mut self, addr: &str) -> Service {
        self.flags.client_call_address = addr.into();
        self
    }

    /// Adds a `HOST:PORT=ADDR:PORT` override (`--resolve`).
    pub fn resolve(mut self, entry: &str) -> Service {
        self.flags.resolve.push(entry.into());
        self
    }

    /// Chooses the server plugin by name (`--server`): `http` (default) or `tiny_http`.
    pub fn server_name(mut self, name: &str) -> Service {
        self.flags.server = name.into();
        self
    }

    /// Uses this server instead of the one `--server` names.
    pub fn server(mut self, server: impl Server) -> Service {
        self.server = Some(Box::new(server));
        self
    }

    /// Uses this client instead of an [`HttpClient`] built from the flags.
    pub fn client(mut self, client: Arc<dyn Client>) -> Service {
        self.client = Some(client);
        self
    }

    /// Forwards incoming header `name` (say `authorization`) on the calls handlers make, beside
    /// Istio's trace headers. Hop-by-hop headers, `Host`, `Content-*` and `Timeout` never are.
    pub fn forward_header(mut self, name: &str) -> Service {
        if crate::handler::forwardable(name) {
            self.forward.push(name.to_ascii_lowercase());
        } else {
            log::warn!("{}: header {name:?} is never forwarded", self.name);
        }
        self
    }

    /// Sets the server limits and timeouts.
    pub fn limits(mut self, limits: Limits) -> Service {
        self.limits = limits;
        self
    }

    /// Serves RPC endpoint `endpoint` (`POST /Service.Method`) with a typed JSON handler.
    pub fn rpc<Q, R, F>(self, endpoint: &str, f: F) -> Service
    where
        F: Fn(&Context, Q) -> Result<R, Error> + Send + Sync + 'static,
        Q: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        self.route(
            endpoint_path(endpoint),
            &["POST"],
            Box::new(JsonHandler::new(f)),
            true,
        )
    }

    /// Serves a server-streaming RPC endpoint: the handler gets the typed JSON request and a
    /// [`Stream`] to send messages on, one NDJSON line each (protocol.md section 8).
    pub fn stream<Q, F>(self, endpoint: &str, f: F) -> Service
    where
        F: Fn(&Context, Q, &mut Stream<'_>) -> Result<(), Error> + Send + Sync + 'static,
        Q: DeserializeOwned + Send + 'static,
    {
        let handler = StreamHandler::new(&self.name, f);
        self.route(endpoint_path(endpoint), &["POST"], Box::new(handler), true)
    }

    /// Serves RPC endpoint `endpoint` with a raw handler that takes any content type.
    pub fn rpc_raw(self, endpoint: &str, handler: impl Handler) -> Service {
        self.route(endpoint_path(endpoint), &["POST"], Box::new(handler), false)
    }

    /// Serves HTTP `path` for `methods` (API mode); the handler's status, headers and body are sent as they are.
    pub fn api(self, path: &str, methods: &[&str], handler: impl Handler) -> Service {
        self.route(path.to_string(), methods, Box::new(handler), false)
    }

    /// Serves HTTP `path` with a handler ported from go-micro's API: it sees the request in
    /// go-api's `go.api.Request` shape and answers a `go.api.Response`, whose status (0 means
    /// 200), headers and body are applied to the reply.
    pub fn api_go<F>(self, path: &str, methods: &[&str], f: F) -> Service
    where
        F: Fn(&Context, ApiRequest) -> Result<ApiResponse, Error> + Send + Sync + 'static,
    {
        self.api(path, methods, move |ctx: &Context, req: Request| {
            let request = goapi::to_api_request(ctx.metadata(), &req);
            Ok(goapi::from_api_response(f(ctx, request)?))
        })
    }

    fn route(mut self, path: String, methods: &[&str], handler: Box<dyn Handler>, json: bool) -> Service {
        let methods = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        self.routes.insert(
            path,
            Route {
                methods,
                handler,
                json,
            },
        );
        self
    }

    /// Binds, starts the server, and returns at once with a handle.
    pub fn start(self) -> Result<ServiceHandle, Error> {
        let client = match self.client {
            Some(client) => client,
            None => Arc::new(
                HttpClient::builder()
                    .call_address(&self.flags.client_call_address)
                    .overrides(Overrides::parse(&self.flags.resolve)?)
                    .timeout(self.flags.client_request_timeout)
                    .retries(self.flags.client_retries)
                    .namespace(Some(&self.flags.client_namespace))
                    .cluster_domain(&self.flags.client_cluster_domain)
                    .build(),
            ),
        };
        let server = match self.server {
            Some(server) => server,
            None => server_by_name(&self.flags.server, &self.limits)?,
        };
        let addr = &self.flags.server_address;
        let listener = match self.listener {
            Some(listener) => listener,
            None => TcpListener::bind(addr).map_err(|e| {
                Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot listen on {addr}: {e}"),
                ))
            })?,
        };
        let router = Arc::new(Router::new(&self.name, self.routes, client.clone(), self.forward));
        let server_name = server.name();
        let handle = server.serve(listener, router)?;
        log::info!(
            "{} {} listening on {} (server {server_name})",
            self.name,
            self.version,
            handle.addr()
        );
        Ok(ServiceHandle {
            name: self.name,
            server: handle,
            client,
        })
    }

    /// Parses flags (unless [`init`](Service::init) did), starts, and serves until SIGTERM or
    /// SIGINT, or until the server fails; then stops and joins every thread.
    pub fn run(self) -> Result<(), Error> {
        let service = if self.parsed { self } else { self.init() };
        let handle = service.start()?;
        eprintln!("{} listening on {}", handle.name, handle.addr());
        let mut signals =
            signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])?;
        let signals_handle = signals.handle();
        let stop = handle.server.stopper();
        let watcher = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if signals.forever().next().is_some() {
                    stop();
                }
            })?;
        let result = handle.server.join();
        signals_handle.close();
        let _ = watcher.join();
        result
    }
}

/// `Example.Call` -> `/Example.Call`.
fn endpoint_path(endpoint: &str) -> String {
    format!("/{}", endpoint.trim_start_matches('/'))
}

fn server_by_name(name: &str, limits: &Limits) -> Result<Box<dyn Server>, Error> {
    match name {
        "http" => Ok(Box::new(HttpServer::new(limits.clone()))),
        #[cfg(feature = "tiny-http")]
        "tiny_http" => Ok(Box::new(crate::server::tiny::TinyHttpServer::new(limits.clone()))),
        other => Err(Error::Flag(format!(
            "unknown server {other:?} (known: {})",
            SERVERS.join(", ")
        ))),
    }
}

/// A started service: its address, its client, and `stop()`.
pub struct ServiceHandle {
    name: String,
    server: ServerHandle,
    client: Arc<dyn Client>,
}

impl ServiceHandle {
    /// The service name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bound address (with the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The service's client, for calls made outside any request.
    pub fn client(&self) -> Arc<dyn Client> {
        self.client.clone()
    }

    /// A context for calls made outside any request.
    pub fn context(&self) -> Context {
        Context::background(self.client.clone())
    }

    /// Stops serving and joins every thread the service started.
    pub fn stop(self) -> Result<(), Error> {
        self.server.stop()
    }
}
