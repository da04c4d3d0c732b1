//! The `Service` builder: name, flags, server, client and handlers, ending in `run()` or `start()`.
//!
//! This folder: `mod.rs` the builder and `start()`; `routes.rs` the endpoints and paths it
//! serves (`rpc`, `rpc_proto`, `stream`, `api`, ...); `run.rs` what a process's `main` runs
//! (flags, logger, signals, drain); `handle.rs` the running service.

use std::ffi::OsString;
use std::net::TcpListener;
use std::sync::Arc;

use crate::client::blocking::HttpClient;
use crate::client::grpc::GrpcClient;
use crate::client::{Client, ClientKind, Plugins};
use crate::error::Error;
use crate::flags::{self, Flag, Flags};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::name::Overrides;
use crate::pipeline::{self, Pipeline};
use crate::router::{Route, Router};
use crate::server::{Limits, Server, ServerKind};

mod handle;
mod routes;
mod run;

pub use handle::ServiceHandle;

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
    routes: Vec<(String, Route)>,
    server: Option<Box<dyn Server>>,
    client: Option<Arc<dyn Client>>,
    /// A `server_name` that named no server: reported by `start`.
    bad_server: Option<String>,
    forward: Vec<String>,
    listener: Option<TcpListener>,
    ready_check: Option<Box<dyn Fn() -> bool + Send + Sync>>,
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
            routes: Vec::new(),
            server: None,
            client: None,
            bad_server: None,
            forward: Vec::new(),
            listener: None,
            ready_check: None,
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
        self.flags = flags::from_process(&self.name, &self.version, &self.own_flags, &self.flags);
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

    /// Chooses the server plugin (`--server`).
    pub fn server_kind(mut self, kind: ServerKind) -> Service {
        self.flags.server = kind;
        self.bad_server = None;
        self
    }

    /// Chooses the server plugin by name (`--server`): `http` (default) or `tiny_http`; an
    /// unknown name makes [`start`](Service::start) fail.
    pub fn server_name(mut self, name: &str) -> Service {
        match name.parse() {
            Ok(kind) => self.server_kind(kind),
            Err(_) => {
                self.bad_server = Some(name.to_string());
                self
            }
        }
    }

    /// Uses this server instead of the one `--server` names.
    pub fn server(mut self, server: impl Server) -> Service {
        self.server = Some(Box::new(server));
        self
    }

    /// Chooses the client plugin (`--client`): HTTP (default) or gRPC.
    pub fn client_kind(mut self, kind: ClientKind) -> Service {
        self.flags.client = kind;
        self
    }

    /// Uses this client instead of the one the flags build (`--client`).
    pub fn client(mut self, client: Arc<dyn Client>) -> Service {
        self.client = Some(client);
        self
    }

    /// Forwards incoming header `name` (say `authorization`) on the calls handlers make, beside
    /// Istio's trace headers. Hop-by-hop headers, `Host`, `Content-*` and `Timeout` never are.
    pub fn forward_header(mut self, name: &str) -> Service {
        if crate::metadata::forwardable(name) {
            self.forward.push(name.to_ascii_lowercase());
        } else {
            log::warn!("{}: header {name:?} is never forwarded", self.name);
        }
        self
    }

    /// Sets the server limits and timeouts. Those that are flags too (`--server_max_connections`,
    /// `--server_max_in_flight`, `--server_idle_timeout`, `--shutdown_delay`,
    /// `--shutdown_timeout`) take these as defaults: a flag given later still wins.
    pub fn limits(mut self, limits: Limits) -> Service {
        self.flags.limits = limits;
        self
    }

    /// Sets the path of the Prometheus metrics (`--metrics_path`, default `/metrics`); empty
    /// turns them off.
    pub fn metrics_path(mut self, path: &str) -> Service {
        self.flags.metrics_path = path.into();
        self
    }

    /// Adds the service's own readiness: `/health/ready` (and `/health`) answer 503 while
    /// `check` returns false (or panics). It runs on every readiness probe, on the thread that
    /// serves the probe, so keep it cheap: read a flag, do not call out.
    pub fn ready_check(mut self, check: impl Fn() -> bool + Send + Sync + 'static) -> Service {
        self.ready_check = Some(Box::new(check));
        self
    }

    /// Binds, starts the server, and returns at once with a handle.
    pub fn start(self) -> Result<ServiceHandle, Error> {
        let limits = self.flags.limits.clone();
        if let Some(name) = &self.bad_server {
            return Err(name
                .parse::<ServerKind>()
                .err()
                .unwrap_or_else(|| Error::Flag(name.clone())));
        }
        let metrics_path = &self.flags.metrics_path;
        let metrics = (!metrics_path.is_empty()).then(|| {
            let labels = pipeline::metric_labels(self.routes.iter().map(|(p, _)| p.as_str()), metrics_path);
            Arc::new(Metrics::new(labels))
        });
        let client = match self.client {
            Some(client) => client,
            None => client_from(&self.flags, metrics.clone())?,
        };
        let server = match self.server {
            Some(server) => server,
            None => self.flags.server.build(&limits),
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
        let health = Health::new(self.ready_check);
        // Ready from the first request on: the server answers as soon as `serve` has started it.
        health.set_ready();
        let metrics = metrics.map(|m| (metrics_path.clone(), m));
        let pipeline = Pipeline::new(router, health.clone(), metrics, limits.max_in_flight);
        let handle = server.serve(listener, Arc::new(pipeline))?;
        log::info!(
            "{} {} listening on {} (server {server_name})",
            self.name,
            self.version,
            handle.addr()
        );
        Ok(ServiceHandle::new(
            self.name,
            handle,
            client,
            health,
            limits.shutdown_delay,
        ))
    }
}

/// Both client plugins configured by the client flags (both builders take the same), calls
/// going over `--client` unless their options name the other.
fn client_from(flags: &Flags, metrics: Option<Arc<Metrics>>) -> Result<Arc<dyn Client>, Error> {
    macro_rules! configured {
        ($builder:expr) => {
            $builder
                .call_address(&flags.client_call_address)
                .overrides(Overrides::parse(&flags.resolve)?)
                .timeout(flags.client_request_timeout)
                .retries(flags.client_retries)
                .namespace(Some(&flags.client_namespace))
                .cluster_domain(&flags.client_cluster_domain)
                .metrics(metrics.clone())
                .build()
        };
    }
    Ok(Arc::new(Plugins {
        default: flags.client,
        http: configured!(HttpClient::builder()),
        grpc: configured!(GrpcClient::builder()),
    }))
}
